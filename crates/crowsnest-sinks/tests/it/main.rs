//! Sinks against real servers (influxd 1.x, Prometheus, VictoriaMetrics) started on
//! 127.0.0.1 by `crowsnest_testkit::servers`. No mocks.

// clippy's allow-unwrap-in-tests covers `#[test]` functions only, not their helpers.
#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod common;
mod grafana;
mod influxdb;
mod outage;
mod remote_write;
