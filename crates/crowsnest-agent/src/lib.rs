//! The crowsnest agent: the cAdvisor role on one host.
//!
//! It owns the container manager (discovery and the housekeeping loop that collects every
//! container's statistics on one thread), the per-container history, and the HTTP API
//! (cAdvisor's REST API v1.x/v2.x and Prometheus `/metrics`). Collection runs apart from
//! serving: the housekeeping thread writes samples into [`state::AgentState`]; HTTP handlers
//! only read what is stored, and never touch `/sys` or `/proc`.
//!
//! It must never import `crowsnest-hub`.

pub mod config;
pub mod history;
pub mod http;
pub mod manager;
pub mod self_metrics;
pub mod state;

pub use config::AgentConfig;
