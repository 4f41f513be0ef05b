//! The model: the processed series the hub keeps for `--retention` (Heapster's metric sink),
//! behind the small [`ModelStore`] trait, with two implementations: [`store::StoreModel`] in
//! the embedded store (`crowsnest-store`, the default: the gauges' history on disk, in memory
//! only the store's index and head and each set's newest values) and
//! [`memory::MemoryModel`] (everything in memory, compactly). Both have a hard memory budget.
//!
//! A set is *current* when it was in one of the two newest batches: a node whose answer came
//! after one batch was made does not blink out of the lists.

pub mod memory;
mod rows;
pub mod store;

use std::borrow::Cow;
use std::sync::Arc;

use crowsnest_core::Timestamp;
use crowsnest_core::batch::{Labels, Value};

use crate::batch::{DataBatch, SetType};

/// A label set in one allocation: each name and value as `varint(length) bytes`, in order.
/// A [`Labels`] holds two strings per pair and a vector of pairs (about twenty allocations
/// for a container's labels); the models keep this instead, and make a [`Labels`] when asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CompactLabels(Box<[u8]>);

impl CompactLabels {
    /// The compact form of `l`.
    pub(crate) fn new(l: &Labels) -> CompactLabels {
        let mut out = Vec::with_capacity(l.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
        for (k, v) in l.iter() {
            for part in [k, v] {
                let mut n = part.len();
                while n >= 0x80 {
                    out.push((n as u8) | 0x80);
                    n >>= 7;
                }
                out.push(n as u8);
                out.extend_from_slice(part.as_bytes());
            }
        }
        CompactLabels(out.into_boxed_slice())
    }

    /// The names and values, in order.
    fn parts(&self) -> impl Iterator<Item = &str> {
        let b = &self.0;
        let mut i = 0;
        std::iter::from_fn(move || {
            let (mut n, mut shift) = (0usize, 0);
            loop {
                let byte = *b.get(i)?;
                i += 1;
                n |= usize::from(byte & 0x7f) << shift;
                shift += 7;
                if byte & 0x80 == 0 {
                    break;
                }
            }
            let part = b.get(i..i + n)?;
            i += n;
            std::str::from_utf8(part).ok()
        })
    }

    /// Whether these are `l`'s labels (without making a [`Labels`]).
    pub(crate) fn matches(&self, l: &Labels) -> bool {
        let mut parts = self.parts();
        for (k, v) in l.iter() {
            if parts.next() != Some(k) || parts.next() != Some(v) {
                return false;
            }
        }
        parts.next().is_none()
    }

    /// The labels.
    pub(crate) fn to_labels(&self) -> Labels {
        let mut parts = self.parts();
        Labels::new(std::iter::from_fn(|| Some((parts.next()?, parts.next()?))))
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.0.len()
    }
}

/// One stored point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// The batch's time.
    pub timestamp: Timestamp,
    /// The value.
    pub value: Value,
}

/// What the model knows of a set besides its series.
#[derive(Debug, Clone, PartialEq)]
pub struct SetInfo {
    /// The set's key (`node:{n}`, ...).
    pub key: String,
    /// What it describes.
    pub set_type: SetType,
    /// Its labels in the newest batch that had it.
    pub labels: Arc<Labels>,
    /// When the entity started.
    pub create_time: Timestamp,
    /// When its newest sample was taken (the node's clock).
    pub scrape_time: Timestamp,
    /// The span its CPU rate covers, in nanoseconds.
    pub window: Option<i64>,
    /// The time of the newest batch that had it.
    pub last_batch: Timestamp,
}

/// The newest value of one metric of a set.
#[derive(Debug, Clone, PartialEq)]
pub struct LatestValue {
    /// The metric.
    pub metric: Cow<'static, str>,
    /// The `resource_id` of a labeled metric.
    pub resource: Option<Arc<str>>,
    /// The value.
    pub value: Value,
}

/// Sizes, for self-metrics and the bench.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ModelStats {
    /// Sets kept.
    pub sets: u64,
    /// Series kept (one per metric and `resource_id` of each set).
    pub series: u64,
    /// Batches (time slots) kept.
    pub batches: u64,
    /// Heap bytes held, as the store counts them.
    pub bytes: u64,
    /// The budget.
    pub budget: u64,
    /// Batches dropped early to stay within the budget.
    pub budget_evictions: u64,
    /// Sets refused because even one batch did not fit the budget.
    pub refused_sets: u64,
}

/// Where the processed series live.
pub trait ModelStore: Send + Sync {
    /// Adds a processed batch; drops what is older than the retention, and what the memory
    /// budget requires (oldest first).
    fn insert(&mut self, batch: &DataBatch);
    /// The time of the newest batch.
    fn newest(&self) -> Option<Timestamp>;
    /// The current sets (in one of the two newest batches) that `keep` accepts, by key.
    fn current_sets(&self, keep: &dyn Fn(&SetInfo) -> bool) -> Vec<SetInfo>;
    /// One set, current or not, while any of its points is kept.
    fn set(&self, key: &str) -> Option<SetInfo>;
    /// The names of the metrics a set has, sorted.
    fn metric_names(&self, key: &str) -> Vec<String>;
    /// The points of one series within `[start, end]`, oldest first. `resource` selects a
    /// labeled metric's `resource_id`.
    fn points(
        &self,
        key: &str,
        metric: &str,
        resource: Option<&str>,
        start: Option<Timestamp>,
        end: Option<Timestamp>,
    ) -> Vec<Point>;
    /// The newest value of every metric of a set (at [`SetInfo::last_batch`]).
    fn latest(&self, key: &str) -> Vec<LatestValue>;
    /// Sizes.
    fn stats(&self) -> ModelStats;
    /// Work to run every few seconds outside the model's lock (the store's compaction and
    /// retention), if the model has any.
    fn maintenance(&self) -> Option<Box<dyn Fn() + Send + Sync>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_labels_round_trip() {
        let long = "x".repeat(300);
        for l in [
            Labels::default(),
            Labels::new([("type", "pod_container"), ("labels", "app:web,tier:front")]),
            Labels::new([("a", ""), ("ü", "é"), ("long", long.as_str())]),
        ] {
            let c = CompactLabels::new(&l);
            assert_eq!(c.to_labels(), l);
            assert!(c.matches(&l));
            assert!(!c.matches(&l.with("z", "1")));
        }
        let c = CompactLabels::new(&Labels::new([("a", "1")]));
        assert!(!c.matches(&Labels::new([("a", "2")])));
        assert!(!c.matches(&Labels::default()));
    }
}
