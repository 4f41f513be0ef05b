//! Maintenance, run by the caller every few seconds (`Store::maintain`): sync when due, write
//! out a head that stopped growing, compact closed raw windows and roll them up, compact
//! closed rollup windows, and apply retention by deleting whole segments.
//!
//! Retention: a raw segment goes when its whole window is older than `raw_retention` and its
//! rollups exist (or when older than `retention`, rolled up or not); a rollup segment goes
//! when its whole window is older than `retention`. Compaction stops at the first window it
//! cannot finish, so rollups are always written in time order.

use std::time::Instant;

use crate::config::SyncPolicy;
use crate::error::Result;
use crate::segment::{self, LEVELS};
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
        rep.deleted = self.retention(now)?;
        Ok(rep)
    }

    /// Deletes segments past retention; returns how many.
    fn retention(&self, now: i64) -> Result<u32> {
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
        for (k, path) in victims {
            write(&self.catalog).segs.remove(&k);
            remove(&path)?;
            n += 1;
        }
        for p in lost {
            write(&self.catalog).unreadable.retain(|x| *x != p);
            remove(&p)?;
            n += 1;
        }
        Counters::add(&self.counters.segments_deleted, u64::from(n));
        Counters::add(&self.counters.retention_runs, 1);
        Counters::timed(None, &self.counters.retention_last_ns, t0.elapsed());
        Ok(n)
    }
}
