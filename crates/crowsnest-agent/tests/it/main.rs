//! The crowsnest agent's integration tests, one binary.

mod api;
mod real_cgroups;
