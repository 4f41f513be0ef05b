//! Integration tests of the `crowsnest` binary: it is started for real on 127.0.0.1 and
//! queried over HTTP, and the workspace's dependency arrows are checked.

mod architecture;
mod e2e;
