//! Maintenance, run by the caller every few seconds (`Store::maintain`): sync when due, write
//! out a head that stopped growing, compact closed raw windows and roll them up, compact
//! closed rollup windows, and apply retention by deleting whole segments.
//!
//! Retention: a raw segment goes when its whole window is older than `raw_retention` and its
//! rollups exist (or when older than `retention`, rolled up or not); a rollup segment goes
//! when its whole window is older than `retention`. Compaction stops at the first window it
//! cannot finish, so rollups are always written in time order.
//!
//! Series: when retention has deleted a segment that may have held the last data of a series
//! (a rollup segment, or a raw one past `retention`), the series no segment, head or head
//! being written still has data for are removed: they leave the index, their ids become free
//! for new series, and the series log is rewritten without them (atomically: temporary file,
//! fsync, rename), so that neither memory nor the log grows with container churn.

use std::time::Instant;

use crate::chunk::BlockReader;
use crate::config::SyncPolicy;
use crate::error::Result;
use crate::segment::{self, LEVELS};
use crate::series::{Interner, SeriesId};
use crate::stats::Counters;
use crate::store::{Store, lock, read, remove, write};

/// What one `maintain` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaintainReport {
    /// Whether a stale head was written out.
    pub flushed: bool,
    /// Segments compacted (raw windows rolled up included).
    pub compacted: u32,
    /// Segments deleted by retention.
    pub deleted: u32,
    /// Series removed because retention deleted their last data.
    pub series_removed: u64,
}

impl Store {
    /// Runs maintenance once. Safe to call from any thread; calls are serialised.
    pub fn maintain(&self) -> Result<MaintainReport> {
        let _m = lock(&self.maintain_lock);
        let mut rep = MaintainReport::default();
        let now = self.clock.now().nanos();
        if let SyncPolicy::Interval(d) = self.sync {
            let due = {
                let w = lock(&self.writer);
                now.saturating_sub(w.last_sync) >= i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
            };
            if due {
                self.sync()?;
            }
        }
        // A head that stopped growing (or whose window passed) is written out, and a window
        // nothing arrives for any more is closed, so that it can be compacted.
        let boundary = {
            let mut w = lock(&self.writer);
            let head_end = w.head.window.saturating_add(self.win.raw);
            let stale = now >= w.head.max_t().saturating_add(self.win.head)
                || now >= head_end.saturating_add(self.win.head);
            if !w.head.is_empty() && stale {
                self.freeze(&mut w);
                rep.flushed = true;
            }
            if w.head.is_empty() {
                let target = self.window_of(now.saturating_sub(self.win.head));
                if target > w.head.window.max(w.min_window) {
                    w.head.window = target;
                }
            }
            if w.head.window == i64::MIN {
                w.min_window
            } else {
                w.head.window
            }
        };
        self.flush_pending()?;
        // Raw windows before the head's (and before any head still being written) are closed.
        let (raw_windows, pending) = {
            let cat = read(&self.catalog);
            let mut ws: Vec<i64> = cat
                .segs
                .keys()
                .filter(|(l, _, _)| *l == 0)
                .map(|(_, w, _)| *w)
                .collect();
            ws.dedup();
            let pending = cat
                .frozen
                .iter()
                .map(|f| f.window)
                .min()
                .unwrap_or(i64::MAX);
            (ws, pending)
        };
        for w in raw_windows {
            if w >= boundary || w >= pending {
                break;
            }
            if self.compact_raw(w)? {
                rep.compacted += 1;
            }
        }
        // Rollup windows wholly covered by rolled-up raw windows are closed.
        for level in 1..=2u8 {
            let len = self.win.rollup[usize::from(level) - 1];
            let (windows, cov) = {
                let cat = read(&self.catalog);
                let mut ws: Vec<i64> = cat
                    .segs
                    .keys()
                    .filter(|(l, _, _)| *l == level)
                    .map(|(_, w, _)| *w)
                    .collect();
                ws.dedup();
                (ws, cat.coverage(level))
            };
            for w in windows {
                if w.saturating_add(len) > cov.min(boundary) {
                    break;
                }
                if self.compact_rollup(level, w)? {
                    rep.compacted += 1;
                }
            }
        }
        (rep.deleted, rep.series_removed) = self.retention(now)?;
        Ok(rep)
    }

    /// Deletes segments past retention, then removes the series left without data; returns
    /// how many of each.
    fn retention(&self, now: i64) -> Result<(u32, u64)> {
        let t0 = Instant::now();
        let raw_h = now.saturating_sub(self.win.raw_retention);
        let all_h = now.saturating_sub(self.win.retention);
        let (victims, lost) = {
            let cat = read(&self.catalog);
            let victims: Vec<_> = cat
                .segs
                .iter()
                .filter(|((l, w, _), s)| {
                    let end = w.saturating_add(s.header.window_len);
                    end <= all_h || (*l == 0 && end <= raw_h && cat.rolled_up(*w))
                })
                .map(|(k, s)| (*k, s.path.clone()))
                .collect();
            let lost: Vec<_> = cat
                .unreadable
                .iter()
                .filter(|p| {
                    let level = p
                        .parent()
                        .and_then(|d| d.file_name())
                        .and_then(|n| LEVELS.iter().position(|l| n == *l));
                    let w = p
                        .file_name()
                        .and_then(|n| n.to_str())
                        .and_then(segment::parse_name)
                        .map(|(w, _)| w);
                    let len = match level {
                        Some(0) => self.win.raw,
                        Some(l) => self.win.rollup[l - 1],
                        None => return false,
                    };
                    w.is_some_and(|w| w.saturating_add(len) <= all_h)
                })
                .cloned()
                .collect();
            (victims, lost)
        };
        let mut n = 0;
        // Whether a series may have lost its last data: rollups outlive raw samples, so only
        // a rollup segment, or a raw one deleted without rollups, can have held it.
        let mut may_empty = false;
        for ((level, w, seq), path) in victims {
            may_empty |= level > 0 || w.saturating_add(self.win.raw) <= all_h;
            write(&self.catalog).segs.remove(&(level, w, seq));
            remove(&path)?;
            n += 1;
        }
        for p in lost {
            write(&self.catalog).unreadable.retain(|x| *x != p);
            remove(&p)?;
            n += 1;
        }
        Counters::add(&self.counters.segments_deleted, u64::from(n));
        let removed = if may_empty {
            self.remove_empty_series()?
        } else {
            0
        };
        Counters::add(&self.counters.retention_runs, 1);
        Counters::timed(None, &self.counters.retention_last_ns, t0.elapsed());
        Ok((n, removed))
    }

    /// Removes the series that have no data left anywhere (segments, heads being written,
    /// the head): index, interner, series log (rewritten), and frees their ids. Holds the
    /// writer lock throughout, so no sample can come for a series while it is judged empty.
    /// Returns how many were removed.
    pub(crate) fn remove_empty_series(&self) -> Result<u64> {
        let t0 = Instant::now();
        let mut guard = lock(&self.writer);
        let w = &mut *guard;
        let mut used = vec![false; w.interner.slots()];
        let mut mark = |id: SeriesId| {
            if let Some(u) = used.get_mut(id as usize) {
                *u = true;
            }
        };
        w.head.active().for_each(&mut mark);
        let (segs, frozen) = {
            let cat = read(&self.catalog);
            let segs: Vec<_> = cat.segs.values().cloned().collect();
            (segs, cat.frozen.clone())
        };
        for f in &frozen {
            f.chunks.iter().for_each(|c| mark(c.series));
        }
        for seg in &segs {
            for b in &seg.blocks {
                match BlockReader::new(seg, b) {
                    Ok(r) => (0..r.ix.len()).for_each(|i| mark(r.ix.entry_at(i).series)),
                    Err(e) => {
                        // Which series it holds is unknown: remove none this time.
                        tracing::warn!("{e}; no series are removed until it can be read");
                        return Ok(0);
                    }
                }
            }
        }
        let gone: Vec<SeriesId> = read(&self.index)
            .iter()
            .map(|(id, _)| id)
            .filter(|&id| !used.get(id as usize).copied().unwrap_or(true))
            .collect();
        if gone.is_empty() {
            return Ok(0);
        }
        let ix = read(&self.index).without(|id| gone.binary_search(&id).is_ok());
        // The log first: if it cannot be rewritten, nothing changes.
        let before = w.series_log.len();
        let after = w.series_log.rewrite(ix.iter())?;
        w.interner = Interner::rebuilt(&ix);
        // Ids above the last live series are forgotten (the next new series takes the lowest
        // free id, else the first id past the slots), the others become free.
        let slots = ix.slots();
        *write(&self.index) = ix;
        for &id in &gone {
            if let Some(t) = w.head.last_ts.get_mut(id as usize) {
                *t = i64::MIN;
            }
        }
        w.head.truncate(slots);
        w.free.extend_from_slice(&gone);
        w.free.retain(|&id| (id as usize) < slots);
        w.free.sort_unstable_by(|a, b| b.cmp(a));
        w.free.dedup();
        w.free.shrink_to_fit();
        drop(guard);
        let n = gone.len() as u64;
        Counters::add(&self.counters.series_removed, n);
        Counters::add(&self.counters.series_log_rewrites, 1);
        Counters::timed(None, &self.counters.series_sweep_last_ns, t0.elapsed());
        tracing::info!(
            series = n,
            series_log_bytes_before = before,
            series_log_bytes_after = after,
            "store: removed series whose data retention deleted; series log rewritten"
        );
        Ok(n)
    }
}
