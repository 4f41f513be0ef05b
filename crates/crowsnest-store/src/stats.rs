//! Self-metrics: counters the store keeps with atomics, and [`StoreStats`], the plain
//! snapshot a caller reads (and renders on its `/metrics`).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Why samples were dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dropped {
    /// Older than the newest sample of its series.
    pub out_of_order: u64,
    /// At the same time as the newest sample of its series.
    pub duplicate: u64,
    /// Older than the retention.
    pub too_old: u64,
    /// More than 10 minutes ahead of the store's clock.
    pub too_far_in_future: u64,
    /// A value that cannot be stored exactly in its series' kind (integer or float).
    pub kind_mismatch: u64,
    /// In the write-ahead log, but of a series whose definition was lost (replay only).
    pub unknown_series: u64,
}

impl Dropped {
    /// All drops.
    pub fn total(&self) -> u64 {
        self.out_of_order
            + self.duplicate
            + self.too_old
            + self.too_far_in_future
            + self.kind_mismatch
            + self.unknown_series
    }
}

/// A snapshot of the store's self-metrics.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoreStats {
    /// Series known.
    pub series: u64,
    /// Samples accepted since open (replayed ones included).
    pub samples_ingested: u64,
    /// Samples dropped since open, by reason.
    pub dropped: Dropped,
    /// Bytes of segment files, write-ahead logs and the series log.
    pub bytes_on_disk: u64,
    /// Of which raw segments.
    pub bytes_on_disk_raw: u64,
    /// Of which rollup segments.
    pub bytes_on_disk_rollups: u64,
    /// Approximate heap bytes: head, frozen heads, series index.
    pub bytes_in_memory: u64,
    /// Of which the head and frozen heads (samples not yet in a segment).
    pub head_bytes: u64,
    /// Samples in the head and frozen heads.
    pub head_samples: u64,
    /// Blocks written from the head.
    pub blocks_flushed: u64,
    /// Of which written early because the memory budget was reached.
    pub budget_flushes: u64,
    /// Times the series index alone exceeded the memory budget (it cannot be shed).
    pub budget_exceeded_by_index: u64,
    /// Segments compacted (raw and rollup).
    pub compactions: u64,
    /// Time spent compacting and rolling up, in total.
    pub compaction_time: Duration,
    /// Time the last compaction took.
    pub compaction_last: Duration,
    /// Retention passes.
    pub retention_runs: u64,
    /// Time the last retention pass took.
    pub retention_last: Duration,
    /// Segments deleted by retention.
    pub segments_deleted: u64,
    /// Series removed because retention deleted all their data.
    pub series_removed: u64,
    /// Times the series log was rewritten without removed series.
    pub series_log_rewrites: u64,
    /// Time the last removal of empty series took (included in `retention_last`).
    pub series_sweep_last: Duration,
    /// Bytes of the series log.
    pub series_log_bytes: u64,
    /// Damaged records found (on open, on read, or by compaction).
    pub corrupt_records: u64,
    /// Torn tails cut on open.
    pub torn_tails_cut: u64,
    /// Write-ahead log syncs.
    pub syncs: u64,
    /// Queries refused because they would return more points than the limit.
    pub queries_refused: u64,
}

/// The live counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) samples: AtomicU64,
    pub(crate) out_of_order: AtomicU64,
    pub(crate) duplicate: AtomicU64,
    pub(crate) too_old: AtomicU64,
    pub(crate) too_far_in_future: AtomicU64,
    pub(crate) kind_mismatch: AtomicU64,
    pub(crate) unknown_series: AtomicU64,
    pub(crate) blocks_flushed: AtomicU64,
    pub(crate) budget_flushes: AtomicU64,
    pub(crate) budget_exceeded_by_index: AtomicU64,
    pub(crate) compactions: AtomicU64,
    pub(crate) compaction_ns: AtomicU64,
    pub(crate) compaction_last_ns: AtomicU64,
    pub(crate) retention_runs: AtomicU64,
    pub(crate) retention_last_ns: AtomicU64,
    pub(crate) segments_deleted: AtomicU64,
    pub(crate) series_removed: AtomicU64,
    pub(crate) series_log_rewrites: AtomicU64,
    pub(crate) series_sweep_last_ns: AtomicU64,
    pub(crate) queries_refused: AtomicU64,
    pub(crate) corrupt_records: AtomicU64,
    pub(crate) torn_tails_cut: AtomicU64,
    pub(crate) syncs: AtomicU64,
}

impl Counters {
    pub(crate) fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Relaxed);
    }

    pub(crate) fn timed(total: Option<&AtomicU64>, last: &AtomicU64, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        last.store(ns, Relaxed);
        if let Some(t) = total {
            t.fetch_add(ns, Relaxed);
        }
    }

    /// The counter parts of a snapshot.
    pub(crate) fn snapshot(&self) -> StoreStats {
        let g = |c: &AtomicU64| c.load(Relaxed);
        StoreStats {
            samples_ingested: g(&self.samples),
            dropped: Dropped {
                out_of_order: g(&self.out_of_order),
                duplicate: g(&self.duplicate),
                too_old: g(&self.too_old),
                too_far_in_future: g(&self.too_far_in_future),
                kind_mismatch: g(&self.kind_mismatch),
                unknown_series: g(&self.unknown_series),
            },
            blocks_flushed: g(&self.blocks_flushed),
            budget_flushes: g(&self.budget_flushes),
            budget_exceeded_by_index: g(&self.budget_exceeded_by_index),
            compactions: g(&self.compactions),
            compaction_time: Duration::from_nanos(g(&self.compaction_ns)),
            compaction_last: Duration::from_nanos(g(&self.compaction_last_ns)),
            retention_runs: g(&self.retention_runs),
            retention_last: Duration::from_nanos(g(&self.retention_last_ns)),
            segments_deleted: g(&self.segments_deleted),
            series_removed: g(&self.series_removed),
            series_log_rewrites: g(&self.series_log_rewrites),
            series_sweep_last: Duration::from_nanos(g(&self.series_sweep_last_ns)),
            queries_refused: g(&self.queries_refused),
            corrupt_records: g(&self.corrupt_records),
            torn_tails_cut: g(&self.torn_tails_cut),
            syncs: g(&self.syncs),
            ..StoreStats::default()
        }
    }
}
