//! Integration tests of the `crowsnest` binary: it is started for real on 127.0.0.1 and
//! queried over HTTP, and the workspace's dependency arrows are checked.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly by design"
)]

mod agent_container;
mod architecture;
mod badinput;
mod churn;
mod config;
mod dashboards;
mod deploy;
mod docker;
mod e2e;
mod faults;
mod hub;
mod multihost;
mod podman;
mod security;
mod sinks;
mod top;
mod ui;
