//! Integration tests of the hub: a real hub (its scheduler, processors, model and HTTP API)
//! scraping fake agents on 127.0.0.1 whose counters grow at known rates. The real agent binary
//! is exercised in `crates/crowsnest/tests/it/hub.rs`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    unreachable_pub,
    reason = "test helpers fail loudly by design"
)]

mod fake;
mod kubernetes;
mod pipeline;
