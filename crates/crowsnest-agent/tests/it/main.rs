//! The crowsnest agent's integration tests, one binary.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly by design"
)]

mod api;
mod docker;
mod netns;
mod podman;
mod real_cgroups;
mod store;
mod store_history;
