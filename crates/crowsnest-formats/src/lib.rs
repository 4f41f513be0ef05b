//! Pure encoders and decoders of crowsnest's wire formats.
//!
//! This crate owns the mapping from the core model to each output format: Prometheus text
//! exposition 0.0.4 with cAdvisor's metric names, labels and per-sample timestamps, and the
//! cAdvisor v2 API shapes derived from v1 samples. Functions here take values and return
//! text or values; they do no I/O. It must never import `crowsnest-collect`,
//! `crowsnest-store` or anything async.

pub mod influx;
pub mod prometheus;
pub mod remote_write;
pub mod v2;
