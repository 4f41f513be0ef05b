//! The vocabulary of crowsnest.
//!
//! This crate owns the data model every other crate speaks: the pipeline's batches of samples
//! with their canonical metric and label names ([`batch`]), cAdvisor's container and machine
//! types (field names and JSON shapes exactly as cAdvisor's `info/v1`), the [`Timestamp`] with
//! Go-compatible RFC 3339 text, and the injected [`Clock`]. Values the kernel does not provide
//! are `Option::None` and are left out of the JSON, never reported as 0.
//!
//! It must never import another crowsnest crate, and never do I/O.

pub mod batch;
pub mod clock;
pub mod machine;
pub mod metrics;
pub mod model;
pub mod time;

pub use clock::{Clock, ManualClock, SystemClock};
pub use time::{Timestamp, TimestampError};
