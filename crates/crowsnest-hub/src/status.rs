//! What the hub tells about its own work: each node's last scrape (success, error, duration),
//! each source's state (a hosts file's last error), and the counters and histograms of
//! `/metrics`. Written by the scheduler, read by the HTTP handlers.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use crowsnest_core::Timestamp;
use serde::Serialize;

use crate::model::ModelStats;
use crate::process::rate::RateStats;

/// One node's scrapes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NodeStatus {
    /// The node's name.
    pub name: String,
    /// Its agent's base URL.
    pub url: String,
    /// Which source names it.
    pub source: String,
    /// When its last scrape succeeded (the hub's clock).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_success: Option<Timestamp>,
    /// When its last scrape ended, either way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_attempt: Option<Timestamp>,
    /// Why its last failed scrape failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When that was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error_time: Option<Timestamp>,
    /// How long its last scrape took, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_duration_seconds: Option<f64>,
    /// Failures in a row.
    pub consecutive_failures: u64,
    /// Scrapes since the node was added.
    pub scrapes: u64,
    /// Failed scrapes since the node was added.
    pub failures: u64,
    /// Scrapes not started because the previous one was still running.
    pub skipped: u64,
    /// Containers in its last answer that brought new samples.
    pub containers: u64,
    /// Container samples in its last answer.
    pub samples: u64,
    /// Containers its rate calculator remembers.
    pub tracked: u64,
    /// Heap bytes the hub keeps for it between scrapes (rate state, names).
    pub state_bytes: u64,
    /// Whether a scrape succeeded within the last three resolutions.
    pub healthy: bool,
}

impl NodeStatus {
    /// Whether a scrape succeeded within three resolutions of `now`.
    pub fn is_healthy(&self, now: Timestamp, resolution: Duration) -> bool {
        let window = i64::try_from((resolution * 3).as_nanos()).unwrap_or(i64::MAX);
        self.last_success
            .is_some_and(|t| now.nanos().saturating_sub(t.nanos()) <= window)
    }
}

/// One source's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SourceStatus {
    /// What the source is (`hosts file /var/run/heapster/hosts`, `--node`).
    pub source: String,
    /// Nodes it names now.
    pub nodes: u64,
    /// When its node list last changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_change: Option<Timestamp>,
    /// What was wrong the last time it was read (the last good list is kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// A histogram with fixed bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// Upper bounds.
    pub bounds: &'static [f64],
    /// Observations `<=` each bound (cumulative).
    pub cumulative: Vec<u64>,
    /// Sum of observations.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

/// Bounds in seconds for cycle and scrape durations.
pub const SECONDS_BOUNDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0,
];

impl Histogram {
    /// An empty histogram.
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            cumulative: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    /// Adds one observation.
    pub fn observe(&mut self, v: f64) {
        for (b, c) in self.bounds.iter().zip(self.cumulative.iter_mut()) {
            if v <= *b {
                *c += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }
}

/// The hub's own counters, for `/metrics`.
#[derive(Debug, Clone)]
pub struct HubMetrics {
    /// Time from a batch's start to the model holding it.
    pub cycle_seconds: Histogram,
    /// Time of each node scrape.
    pub scrape_seconds: Histogram,
    /// Each processor's time on the last batch, in seconds (the node processors' summed over
    /// the nodes' answers in it).
    pub processor_seconds: Vec<(&'static str, f64)>,
    /// The node processors' time summed since the last batch.
    pub node_processor_seconds: Vec<(&'static str, f64)>,
    /// Batches made.
    pub batches: u64,
    /// Scrape answers that came after their batch was made (they go into the next one).
    pub late_results: u64,
    /// The rate calculator's counts.
    pub rates: RateStats,
    /// The model's sizes.
    pub model: ModelStats,
    /// Sets in the newest batch, by type.
    pub sets_by_type: BTreeMap<&'static str, u64>,
    /// The last cycles (at most [`RECENT_CYCLES`]): seconds from the cycle's start to the model
    /// holding its batch, and seconds of that spent processing and storing.
    pub recent_cycles: VecDeque<(f64, f64)>,
    /// Heap bytes kept per node between scrapes (rate state, names), summed.
    pub processor_bytes: u64,
}

/// How many cycles [`HubMetrics::recent_cycles`] keeps.
pub const RECENT_CYCLES: usize = 1024;

impl Default for HubMetrics {
    fn default() -> Self {
        HubMetrics {
            cycle_seconds: Histogram::new(SECONDS_BOUNDS),
            scrape_seconds: Histogram::new(SECONDS_BOUNDS),
            processor_seconds: Vec::new(),
            node_processor_seconds: Vec::new(),
            batches: 0,
            late_results: 0,
            rates: RateStats::default(),
            model: ModelStats::default(),
            sets_by_type: BTreeMap::new(),
            recent_cycles: VecDeque::new(),
            processor_bytes: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_is_a_success_within_three_resolutions() {
        let mut n = NodeStatus::default();
        let res = Duration::from_secs(10);
        assert!(!n.is_healthy(Timestamp::from_secs(100), res));
        n.last_success = Some(Timestamp::from_secs(100));
        assert!(n.is_healthy(Timestamp::from_secs(130), res));
        assert!(!n.is_healthy(Timestamp::from_secs(131), res));
        let mut h = Histogram::new(&[1.0, 2.0]);
        h.observe(1.5);
        h.observe(0.5);
        assert_eq!(h.cumulative, [1, 2]);
        assert_eq!(h.count, 2);
    }
}
