//! Per-container history: the last `--storage-duration` of samples, oldest first, kept
//! compact.
//!
//! The agent keeps two minutes of 1 s samples for every container; a decoded
//! [`ContainerStats`] is several hundred bytes plus its vectors and maps, so [`History`] keeps
//! samples encoded (see `history/codec.rs`) in one byte buffer per container: the oldest
//! sample whole (the *head frame*), every later one as its change from the one before, which
//! for a quiet container is a few bytes. The newest sample is also kept decoded, since
//! `/metrics` asks for it on every scrape.
//!
//! Evicting the oldest samples decodes them and the new oldest one, and re-encodes that one as
//! the head frame, so the buffer never holds a sample older than the horizon. A query decodes
//! from the head up to the newest sample it returns. A malformed buffer (which only a bug could
//! produce) is never a panic: a query returns the samples decoded before the damage, and the
//! next push starts the buffer afresh from the newest sample.
//!
//! # Older samples: the store
//!
//! With a store (`--store-dir`) every sample is also kept on disk (as canonical samples; see
//! `older.rs`), and the cAdvisor API's `num_stats`, `start`/`end` and v2 `count` reach past
//! the ring, across restarts. [`crate::state::Shared::infos`] merges the two by this rule:
//!
//! - The ring answers for the time it covers, from its oldest sample on; the store answers
//!   only for times strictly before that sample (for all times when the ring is empty, as
//!   right after a restart). The two parts never overlap, so no sample comes twice, and the
//!   newest samples always come whole from the ring.
//! - Both parts are cut to `[start, end]`, put oldest first (cAdvisor's order), and then
//!   `num_stats`/`count` keeps the newest N.
//! - The store is read only when the ring cannot answer alone: when the request wants more
//!   samples than the ring has in range (or all of them) and its range reaches before the
//!   ring's oldest sample. The default `num_stats` (60) and `count` (64) are within the
//!   two-minute ring and never read the store.
//! - A sample read from the store carries exactly the fields its canonical samples carry
//!   (`crowsnest_core::batch::restore`); the others (per-interface network counters,
//!   pressure, per-CPU usage, ...) are absent, never 0. Past the full-resolution window the
//!   store keeps the last sample of each 10 s (then 1 m) bucket, so older history is sparser.
//! - What one request reads from the store is bounded (`--query-max-points`, in points of
//!   one series): past it the request fails with a 422 naming the bound, never growing.

mod codec;
mod older;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use crowsnest_core::Timestamp;
use crowsnest_core::model::ContainerStats;

use self::codec::{Frames, encode_head, encode_next};
pub use self::older::HistoryError;
pub(crate) use self::older::{Budget, Older, Reach, read as read_older};

/// Spare capacity to leave when the buffer grows or shrinks, for `live` bytes in use.
fn spare(live: usize) -> usize {
    live / 8 + 64
}

/// The recent samples of one container, bounded by age.
#[derive(Debug, Clone)]
pub struct History {
    max_age_ns: i64,
    /// Encoded samples from `start` on, oldest first: the head frame, then one delta frame per
    /// later sample. Bytes before `start` are dead and dropped on the next compaction.
    buf: Vec<u8>,
    start: usize,
    /// Number of samples in `buf`.
    len: usize,
    /// The newest sample, decoded (also the last frame of `buf`).
    latest: Option<Arc<ContainerStats>>,
    /// The step from the sample before `latest` to it, in nanoseconds (0 if none).
    latest_delta: i64,
}

impl History {
    /// A history that keeps samples no older than `max_age_ns` before the newest one.
    pub fn new(max_age_ns: i64) -> Self {
        History {
            max_age_ns,
            buf: Vec::new(),
            start: 0,
            len: 0,
            latest: None,
            latest_delta: 0,
        }
    }

    /// Appends a sample. A sample not newer than the last one is dropped (returns false).
    pub fn push(&mut self, s: &ContainerStats) -> bool {
        let mut frame = Vec::new();
        match &self.latest {
            Some(last) if last.timestamp >= s.timestamp => return false,
            Some(last) => {
                self.latest_delta = encode_next(&mut frame, s, last, self.latest_delta);
                self.append(&frame);
                self.len += 1;
            }
            None => {
                self.clear();
                encode_head(&mut frame, s, 0);
                self.append(&frame);
                self.len = 1;
            }
        }
        // A fresh allocation, so that readers holding the previous one keep it unchanged.
        self.latest = Some(Arc::new(s.clone()));
        self.evict(s.timestamp.add_nanos(self.max_age_ns.saturating_neg()));
        true
    }

    /// The newest sample.
    pub fn latest(&self) -> Option<ContainerStats> {
        self.latest.as_deref().cloned()
    }

    /// The newest sample, shared (no copy): for readers that encode it after letting go of
    /// the state lock.
    pub fn latest_shared(&self) -> Option<Arc<ContainerStats>> {
        self.latest.clone()
    }

    /// Samples within `[start, end]` (either bound optional), at most the newest `max`,
    /// oldest first.
    pub fn query(
        &self,
        start: Option<Timestamp>,
        end: Option<Timestamp>,
        max: Option<usize>,
    ) -> Vec<ContainerStats> {
        let in_range =
            |ts: i64| start.is_none_or(|t| ts >= t.nanos()) && end.is_none_or(|t| ts <= t.nanos());
        // Timestamps are increasing, so the samples in range are one run [lo, hi).
        let (mut lo, mut hi) = (usize::MAX, 0);
        for (i, f) in Frames::new(self.live()).enumerate() {
            if in_range(f.ts) {
                lo = lo.min(i);
                hi = i + 1;
            }
        }
        if let Some(m) = max {
            lo = lo.max(hi.saturating_sub(m));
        }
        if lo >= hi {
            return Vec::new();
        }
        if lo + 1 == hi && hi == self.len {
            return self.latest.iter().map(|s| (**s).clone()).collect();
        }
        let mut out = Vec::with_capacity(hi - lo);
        let mut stats = ContainerStats::default();
        for (i, f) in Frames::new(self.live()).enumerate().take(hi) {
            if f.decode_into(&mut stats).is_none() {
                tracing::warn!(sample = i, "history buffer is malformed; query cut short");
                break;
            }
            if i >= lo {
                out.push(stats.clone());
            }
        }
        out
    }

    /// The time of the oldest sample held.
    pub fn oldest(&self) -> Option<Timestamp> {
        Frames::new(self.live()).next().map(|f| Timestamp(f.ts))
    }

    /// The time between the two newest samples, in nanoseconds (0 with fewer than two).
    pub fn step_ns(&self) -> i64 {
        self.latest_delta
    }

    /// Number of samples held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no sample is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Approximate heap bytes this history holds: the buffer's capacity and the allocations of
    /// the decoded newest sample (not `size_of::<History>()` itself).
    pub fn heap_bytes(&self) -> usize {
        self.buf.capacity() + self.latest.as_deref().map_or(0, codec::heap_bytes)
    }

    /// The live encoded bytes.
    fn live(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or_default()
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
        self.len = 0;
        self.latest = None;
        self.latest_delta = 0;
    }

    /// Appends a frame. When the buffer is full, the dead prefix is dropped first; if that is
    /// not room enough it grows by an eighth (not double), to keep spare capacity small.
    fn append(&mut self, frame: &[u8]) {
        if self.buf.len() + frame.len() > self.buf.capacity() {
            self.compact();
            let live = self.buf.len();
            if live + frame.len() > self.buf.capacity() {
                self.buf.reserve_exact(frame.len() + spare(live));
            }
        }
        self.buf.extend_from_slice(frame);
    }

    /// Whether far more capacity is held than the live bytes need.
    fn oversized(&self) -> bool {
        self.buf.capacity() > 2 * self.live().len() + 256
    }

    /// Drops the dead prefix, and gives back capacity when far more than needed is held.
    fn compact(&mut self) {
        self.buf.drain(..self.start);
        self.start = 0;
        if self.oversized() {
            let live = self.buf.len();
            self.buf.shrink_to(live + spare(live));
        }
    }

    /// Drops samples older than `horizon` and re-encodes the new oldest one as the head.
    fn evict(&mut self, horizon: Timestamp) {
        // Walk every header: the count and the newest timestamp check the buffer is sound.
        let (mut old, mut seen, mut last) = (0, 0, None);
        let mut frames = Frames::new(self.live());
        for f in frames.by_ref() {
            seen += 1;
            old += usize::from(f.ts < horizon.nanos());
            last = Some(f.ts);
        }
        let whole = frames.at_end()
            && seen == self.len
            && last == self.latest.as_ref().map(|s| s.timestamp.nanos());
        if old == 0 && whole {
            return;
        }
        let newest_stays = self.latest.as_ref().is_some_and(|s| s.timestamp >= horizon);
        if !newest_stays {
            self.clear();
        } else if !whole {
            self.malformed();
        } else if old + 1 >= self.len {
            // Only the newest is left, and it is at hand decoded.
            self.restart_from_latest();
        } else if self.rebase(old).is_none() {
            self.malformed();
        }
    }

    /// Gives up on a buffer that does not decode (only a bug could cause it): keeps the newest
    /// sample alone.
    fn malformed(&mut self) {
        tracing::warn!(
            len = self.len,
            "history buffer is malformed; keeping only the newest"
        );
        self.restart_from_latest();
    }

    /// Makes the newest sample the only one.
    fn restart_from_latest(&mut self) {
        let (latest, delta) = (self.latest.take(), self.latest_delta);
        self.clear();
        if let Some(s) = latest {
            encode_head(&mut self.buf, &s, delta);
            self.len = 1;
            self.latest = Some(s);
            self.latest_delta = delta;
        }
        self.compact();
    }

    /// Replaces the first `old + 1` frames by the head frame of the sample at index `old`.
    fn rebase(&mut self, old: usize) -> Option<()> {
        let mut stats = ContainerStats::default();
        let mut frames = Frames::new(self.live());
        let mut step = (0, 0);
        for _ in 0..=old {
            let f = frames.next()?;
            f.decode_into(&mut stats)?;
            step = (f.delta, f.end);
        }
        let (delta, end) = step;
        let mut head = Vec::new();
        encode_head(&mut head, &stats, delta);
        let end = self.start + end;
        match end.checked_sub(head.len()) {
            Some(at) if at >= self.start => {
                self.buf.get_mut(at..end)?.copy_from_slice(&head);
                self.start = at;
            }
            _ => {
                self.buf.splice(..end, head);
                self.start = 0;
            }
        }
        self.len -= old;
        if self.oversized() {
            self.compact();
        }
        Some(())
    }
}
