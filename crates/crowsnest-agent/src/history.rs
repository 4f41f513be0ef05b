//! Per-container history: the last `--storage-duration` of samples, oldest first.

use std::collections::VecDeque;

use crowsnest_core::Timestamp;
use crowsnest_core::model::ContainerStats;

/// The recent samples of one container, bounded by age.
#[derive(Debug, Clone)]
pub struct History {
    max_age_ns: i64,
    samples: VecDeque<ContainerStats>,
}

impl History {
    /// A history that keeps samples no older than `max_age_ns` before the newest one.
    pub fn new(max_age_ns: i64) -> Self {
        History { max_age_ns, samples: VecDeque::new() }
    }

    /// Appends a sample. A sample not newer than the last one is dropped (returns false).
    pub fn push(&mut self, s: &ContainerStats) -> bool {
        if self.samples.back().is_some_and(|last| last.timestamp >= s.timestamp) {
            return false;
        }
        self.samples.push_back(s.clone());
        let horizon = s.timestamp.add_nanos(-self.max_age_ns);
        while self.samples.front().is_some_and(|f| f.timestamp < horizon) {
            self.samples.pop_front();
        }
        true
    }

    /// The newest sample.
    pub fn latest(&self) -> Option<ContainerStats> {
        self.samples.back().cloned()
    }

    /// Samples within `[start, end]` (either bound optional), at most the newest `max`,
    /// oldest first.
    pub fn query(
        &self,
        start: Option<Timestamp>,
        end: Option<Timestamp>,
        max: Option<usize>,
    ) -> Vec<ContainerStats> {
        let in_range: Vec<&ContainerStats> = self
            .samples
            .iter()
            .filter(|s| start.is_none_or(|t| s.timestamp >= t) && end.is_none_or(|t| s.timestamp <= t))
            .collect();
        let skip = max.map_or(0, |m| in_range.len().saturating_sub(m));
        in_range.into_iter().skip(skip).cloned().collect()
    }

    /// Number of samples held.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether no sample is held.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
}
