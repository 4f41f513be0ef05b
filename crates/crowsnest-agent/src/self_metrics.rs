//! The agent's own metrics (housekeeping durations, containers, errors), kept in atomics and
//! rendered on `/metrics` next to the container metrics.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (seconds) of the housekeeping duration histogram buckets.
pub const DURATION_BUCKETS: [f64; 10] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0,
];

/// A histogram with fixed buckets.
#[derive(Debug, Default)]
pub struct Histogram {
    inner: Mutex<HistogramData>,
}

/// A copy of a histogram's counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistogramData {
    /// Cumulative counts per bucket of [`DURATION_BUCKETS`].
    pub buckets: [u64; 10],
    /// Sum of observations.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

impl Histogram {
    /// Records one observation in seconds.
    pub fn observe(&self, secs: f64) {
        let mut d = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for (i, b) in DURATION_BUCKETS.iter().enumerate() {
            if secs <= *b {
                d.buckets[i] += 1;
            }
        }
        d.sum += secs;
        d.count += 1;
    }

    /// A copy of the counts.
    pub fn snapshot(&self) -> HistogramData {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Counters and histograms of the agent itself.
#[derive(Debug, Default)]
pub struct SelfMetrics {
    /// Duration of one container's housekeeping (all its files).
    pub container_housekeeping: Histogram,
    /// Duration of one scheduler pass over every container that was due.
    pub housekeeping_pass: Histogram,
    /// Collection errors (other than a container going away).
    pub collection_errors: AtomicU64,
    /// Containers added since start.
    pub containers_added: AtomicU64,
    /// Containers removed since start.
    pub containers_removed: AtomicU64,
    /// Housekeeping rounds that started late by more than one interval.
    pub housekeeping_late: AtomicU64,
}

impl SelfMetrics {
    /// Adds one to a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
