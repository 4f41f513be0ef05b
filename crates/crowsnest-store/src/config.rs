//! What the store is told: where it lives, how long it keeps what, how much memory it may use,
//! and how often it syncs. [`StoreConfig::validate`] turns it into the windows the store works
//! with.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

/// When appended batches are made durable (fsync of the write-ahead log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// After every batch, before `append` returns: a kill -9 loses nothing acknowledged.
    EveryBatch,
    /// When at least this long (by the store's clock) has passed since the last sync, checked
    /// on each append and on `maintain`: a kill -9 loses at most this much.
    Interval(Duration),
}

/// The store's configuration.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The directory (created if missing). The agent's default is `/var/lib/crowsnest`.
    pub dir: PathBuf,
    /// How long full-resolution samples are kept (rounded up to whole raw segments).
    pub raw_retention: Duration,
    /// How long the 10 s and 1 m rollups are kept; at least `raw_retention`.
    pub retention: Duration,
    /// Memory the store may use for samples not yet on disk and its index, in bytes. Past it
    /// the store writes its head to disk early (and counts that) rather than grow.
    pub memory_limit: u64,
    /// When appends are synced.
    pub sync: SyncPolicy,
    /// How much data time the in-memory head spans before it is written out as a block.
    pub head_window: Duration,
    /// Whether closed raw windows are rolled up into 10 s and 1 m buckets (default true).
    /// Without rollups, raw segments are kept for `retention` and queries read raw samples
    /// only: for a store that keeps a short window (the hub's model), where rollup segments
    /// (2 h and 6 h windows) would hold blocks, and their indexes, long after the data.
    pub rollups: bool,
}

impl StoreConfig {
    /// Defaults: 2 h of raw samples, 7 d of rollups, 64 MiB, sync every second, a 2 min head.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        StoreConfig {
            dir: dir.into(),
            raw_retention: Duration::from_secs(2 * 3600),
            retention: Duration::from_secs(7 * 24 * 3600),
            memory_limit: 64 << 20,
            sync: SyncPolicy::Interval(Duration::from_secs(1)),
            head_window: Duration::from_secs(120),
            rollups: true,
        }
    }

    /// Checks the configuration and derives the windows.
    pub(crate) fn validate(&self) -> Result<Windows> {
        let bad = |field, reason: &str| Error::Config {
            field,
            reason: reason.to_owned(),
        };
        let ns = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        if self.raw_retention < Duration::from_secs(60) {
            return Err(bad("raw_retention", "must be at least 1 minute"));
        }
        if self.retention < self.raw_retention {
            return Err(bad("retention", "must be at least raw_retention"));
        }
        if self.memory_limit < 64 << 10 {
            return Err(bad("memory_limit", "must be at least 64 KiB"));
        }
        if self.head_window < Duration::from_secs(1) {
            return Err(bad("head_window", "must be at least 1 second"));
        }
        if let SyncPolicy::Interval(d) = self.sync
            && d.is_zero()
        {
            return Err(bad(
                "sync",
                "an interval must be longer than 0 (or use EveryBatch)",
            ));
        }
        // Raw segments: the largest divisor of an hour that is at most half the raw retention,
        // so that retention deletes whole segments without keeping much more than asked.
        const MIN: i64 = 60_000_000_000;
        let half = ns(self.raw_retention) / 2;
        let raw = [60, 30, 15, 10, 5, 2, 1]
            .into_iter()
            .map(|m| m * MIN)
            .find(|&w| w <= half)
            .unwrap_or(MIN);
        Ok(Windows {
            raw,
            head: ns(self.head_window).min(raw),
            rollup: [2 * 60 * MIN, 6 * 60 * MIN],
            raw_retention: ns(self.raw_retention),
            retention: ns(self.retention),
            rollups: self.rollups,
        })
    }
}

/// Window lengths in nanoseconds, derived from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Windows {
    /// A raw segment's window; divides an hour.
    pub(crate) raw: i64,
    /// The head's span before it is written out; at most `raw`.
    pub(crate) head: i64,
    /// Segment windows of the 10 s and 1 m rollup levels (2 h and 6 h: retention deletes
    /// whole segments, so rollups are kept up to one window longer than asked).
    pub(crate) rollup: [i64; 2],
    pub(crate) raw_retention: i64,
    pub(crate) retention: i64,
    /// Whether raw windows are rolled up ([`StoreConfig::rollups`]).
    pub(crate) rollups: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_follow_raw_retention() {
        let mut c = StoreConfig::new("/x");
        assert_eq!(c.validate().unwrap().raw, 3_600_000_000_000);
        c.raw_retention = Duration::from_secs(120);
        let w = c.validate().unwrap();
        assert_eq!((w.raw, w.head), (60_000_000_000, 60_000_000_000));
        c.raw_retention = Duration::from_secs(1200);
        assert_eq!(c.validate().unwrap().raw, 600_000_000_000);
        c.retention = Duration::from_secs(60);
        assert!(c.validate().is_err());
    }
}
