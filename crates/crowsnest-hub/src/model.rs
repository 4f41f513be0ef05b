//! The model: the processed series the hub keeps for `--retention` (Heapster's metric sink),
//! behind the small [`ModelStore`] trait so that the embedded store (`crowsnest-store`) can
//! take its place. [`memory::MemoryModel`] is the in-memory implementation, with a hard
//! memory budget.
//!
//! A set is *current* when it was in one of the two newest batches: a node whose answer came
//! after one batch was made does not blink out of the lists.

pub mod memory;
mod rows;

use std::borrow::Cow;
use std::sync::Arc;

use crowsnest_core::Timestamp;
use crowsnest_core::batch::{Labels, Value};

use crate::batch::{DataBatch, SetType};

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
}
