//! The store: open, append, flush, stats, close. Queries are in `query.rs`, maintenance
//! (compaction, rollups, retention) in `maintain.rs`.
//!
//! Locks, always taken in this order: `writer` (the head, the interner, the logs; held by
//! `append` for one batch), then `index` or `catalog` (segments and frozen heads; held briefly
//! to read or to publish). `flush` serialises writing frozen heads; `maintain` serialises
//! maintenance. A query holds `writer` only while it selects its series and copies their head
//! chunks and the catalog (series ids are reused once retention removed a series).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crowsnest_core::batch::{Batch, Value};
use crowsnest_core::{Clock, Timestamp};

use crate::block::{BlockHeader, BlockWriter, ChunkSpec};
use crate::codec::timestamps;
use crate::config::{StoreConfig, SyncPolicy, Windows};
use crate::error::{Error, Result};
use crate::hash::{FxHashMap, map};
use crate::head::{FrozenHead, Head};
use crate::index::{Index, SeriesInfo};
use crate::segment::{self, SegHeader, Segment};
use crate::series::{Interner, Resolved, SeriesId, SeriesMeta, ValueKind, convert};
use crate::serieslog::SeriesLog;
use crate::stats::{Counters, Dropped, StoreStats};
use crate::wal::{self, Wal};

/// Samples further ahead of the clock than this are dropped.
pub(crate) const MAX_FUTURE: i64 = 600_000_000_000;

/// What one `append` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppendStats {
    /// Samples stored.
    pub accepted: u64,
    /// Samples dropped, by reason.
    pub dropped: Dropped,
    /// Series seen for the first time.
    pub new_series: u64,
}

/// The writer's state, behind one mutex.
pub(crate) struct Writer {
    pub(crate) head: Head,
    pub(crate) interner: Interner,
    pub(crate) series_log: SeriesLog,
    pub(crate) wal: Option<Wal>,
    /// Ids of removed series, for new series to take; highest first (`pop` takes the lowest).
    pub(crate) free: Vec<SeriesId>,
    /// Generation of the next log (and of `wal` while one is open, minus one).
    pub(crate) next_gen: u64,
    /// Time of the first sample of this head generation.
    pub(crate) head_start: i64,
    pub(crate) last_sync: i64,
    /// A raw window the head may not go back before (the newest raw segment's).
    pub(crate) min_window: i64,
}

/// Segments and frozen heads.
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    /// By (level, window, file seq).
    pub(crate) segs: BTreeMap<(u8, i64, u64), Arc<Segment>>,
    /// Heads frozen and not yet written, oldest first.
    pub(crate) frozen: Vec<Arc<FrozenHead>>,
    /// Files that could not be opened (kept for inspection; deleted by retention).
    pub(crate) unreadable: Vec<PathBuf>,
}

impl Catalog {
    /// End of the raw windows rolled up into `level` (the highest source end), or i64::MIN.
    pub(crate) fn coverage(&self, level: u8) -> i64 {
        self.segs
            .range((level, i64::MIN, 0)..(level + 1, i64::MIN, 0))
            .flat_map(|(_, s)| s.blocks.iter())
            .map(|b| b.header.source.1)
            .max()
            .unwrap_or(i64::MIN)
    }

    /// Whether raw window `w` has rollups in both levels.
    pub(crate) fn rolled_up(&self, w: i64) -> bool {
        (1..=2u8).all(|l| self.has_rollup(l, w))
    }

    pub(crate) fn has_rollup(&self, level: u8, w: i64) -> bool {
        self.segs
            .range((level, i64::MIN, 0)..(level + 1, i64::MIN, 0))
            .flat_map(|(_, s)| s.blocks.iter())
            .any(|b| b.header.source.0 <= w && w < b.header.source.1)
    }
}

/// The embedded time-series store. Shared by reference between the writer and readers.
pub struct Store {
    pub(crate) dir: PathBuf,
    pub(crate) win: Windows,
    pub(crate) sync: SyncPolicy,
    pub(crate) memory_limit: u64,
    pub(crate) clock: Arc<dyn Clock>,
    _lock: File,
    pub(crate) writer: Mutex<Writer>,
    pub(crate) index: RwLock<Index>,
    pub(crate) catalog: RwLock<Catalog>,
    pub(crate) flush: Mutex<()>,
    pub(crate) maintain_lock: Mutex<()>,
    pub(crate) counters: Counters,
    pub(crate) next_seq: AtomicU64,
    /// The clock minute the index was last found over the budget (to count once a minute).
    index_over_budget: AtomicU64,
    /// The clock minute an early (budget) flush was last logged.
    budget_reported: AtomicU64,
    /// The most points a query may return ([`Store::set_query_max_points`]).
    pub(crate) query_max_points: AtomicU64,
}

/// The default bound of the points one query may return: about 24 MB of points in memory.
pub const DEFAULT_QUERY_MAX_POINTS: u64 = 1_000_000;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(PoisonError::into_inner)
}

impl Store {
    /// Opens (or creates) the store in `config.dir`: loads the series log and the segments,
    /// cuts torn tails (one log line each), replays the write-ahead logs into blocks.
    pub fn open(config: StoreConfig, clock: Arc<dyn Clock>) -> Result<Store> {
        crate::open::open(config, clock)
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_parts(
        config: &StoreConfig,
        win: Windows,
        clock: Arc<dyn Clock>,
        lock_file: File,
        writer: Writer,
        index: Index,
        catalog: Catalog,
        next_seq: u64,
    ) -> Store {
        Store {
            dir: config.dir.clone(),
            win,
            sync: config.sync,
            memory_limit: config.memory_limit,
            clock,
            _lock: lock_file,
            writer: Mutex::new(writer),
            index: RwLock::new(index),
            catalog: RwLock::new(catalog),
            flush: Mutex::new(()),
            maintain_lock: Mutex::new(()),
            counters: Counters::default(),
            next_seq: AtomicU64::new(next_seq),
            index_over_budget: AtomicU64::new(u64::MAX),
            budget_reported: AtomicU64::new(u64::MAX),
            query_max_points: AtomicU64::new(DEFAULT_QUERY_MAX_POINTS),
        }
    }

    pub(crate) fn window_of(&self, t: i64) -> i64 {
        t.div_euclid(self.win.raw) * self.win.raw
    }

    pub(crate) fn seq(&self) -> u64 {
        self.next_seq.fetch_add(1, Relaxed)
    }

    /// Appends a batch: every sample at `batch.timestamp`. Samples not newer than their
    /// series' newest are dropped (`out_of_order`, `duplicate`), as are samples older than
    /// the retention or more than 10 minutes ahead of the clock, and values that cannot be
    /// stored exactly in their series' kind; the returned stats count them. With
    /// [`SyncPolicy::EveryBatch`] the batch is on disk when this returns.
    pub fn append(&self, batch: &Batch) -> Result<AppendStats> {
        let now = self.clock.now().nanos();
        let t = batch.timestamp.nanos();
        let mut st = AppendStats::default();
        let n = batch.samples.len() as u64;
        if t < now.saturating_sub(self.win.retention) {
            st.dropped.too_old = n;
            Counters::add(&self.counters.too_old, n);
            return Ok(st);
        }
        if t > now.saturating_add(MAX_FUTURE) {
            st.dropped.too_far_in_future = n;
            Counters::add(&self.counters.too_far_in_future, n);
            return Ok(st);
        }
        let mut froze = false;
        let sync_file;
        {
            let mut w = lock(&self.writer);
            let w = &mut *w;
            froze |= self.roll_head(w, t, now);
            if w.wal.is_none() {
                let gen_ = w.next_gen;
                w.wal = Some(Wal::create(&self.dir, gen_, w.head.window)?);
                w.next_gen += 1;
            }
            if let Some(wal) = w.wal.as_mut() {
                wal.begin(t);
            }
            let mut batch_tl = None;
            for s in &batch.samples {
                let id = match w.interner.resolve(s) {
                    Resolved::Known(id) => id,
                    Resolved::New(meta) => {
                        st.new_series += 1;
                        self.define(w, meta)?
                    }
                };
                if let Some(v) = self.check(w, id, t, s.value, &mut st.dropped) {
                    w.head
                        .push(id, w.interner.vkinds[id as usize], t, v, &mut batch_tl);
                    if let Some(wal) = w.wal.as_mut() {
                        wal.push(id, v);
                    }
                    st.accepted += 1;
                }
            }
            if st.accepted > 0
                && let Some(wal) = w.wal.as_mut()
            {
                wal.end()?;
            }
            sync_file = self.sync_due(w, now)?;
        }
        Counters::add(&self.counters.samples, st.accepted);
        self.count_drops(&st.dropped);
        if let Some((f, path)) = sync_file {
            f.sync_data().map_err(|e| Error::io(path, "fsync", e))?;
            Counters::add(&self.counters.syncs, 1);
        }
        if froze {
            self.flush_pending()?;
        }
        Ok(st)
    }

    fn count_drops(&self, d: &Dropped) {
        let c = &self.counters;
        for (a, n) in [
            (&c.out_of_order, d.out_of_order),
            (&c.duplicate, d.duplicate),
            (&c.kind_mismatch, d.kind_mismatch),
            (&c.unknown_series, d.unknown_series),
        ] {
            if n > 0 {
                Counters::add(a, n);
            }
        }
    }

    /// Freezes the head before a sample at `t` if its window ends, it spans its head window,
    /// or memory is short. Returns whether it froze.
    fn roll_head(&self, w: &mut Writer, t: i64, now: i64) -> bool {
        let mut froze = false;
        if w.head.window == i64::MIN {
            w.head.window = self.window_of(t).max(w.min_window);
        } else if t >= w.head.window + self.win.raw {
            if !w.head.is_empty() {
                self.freeze(w);
                froze = true;
            }
            w.head.window = self.window_of(t);
        } else if !w.head.is_empty() && t >= w.head_start.saturating_add(self.win.head) {
            self.freeze(w);
            froze = true;
        }
        if !froze && !w.head.is_empty() && self.over_budget(w, now) {
            Counters::add(&self.counters.budget_flushes, 1);
            let minute = (now / 60_000_000_000) as u64;
            if self.budget_reported.swap(minute, Relaxed) != minute {
                tracing::warn!(
                    memory_limit = self.memory_limit,
                    head_bytes = w.head.heap_bytes(),
                    "store: memory budget reached; writing the head out early (logged once a minute, counted in budget_flushes)"
                );
            }
            self.freeze(w);
            froze = true;
        }
        if w.head.is_empty() {
            w.head_start = t;
        }
        froze
    }

    /// Whether the head (and heads being written) exceed what the budget leaves them: half of
    /// the limit less the index, so that while a frozen head is written out the next one can
    /// fill without the two passing the limit.
    fn over_budget(&self, w: &Writer, now: i64) -> bool {
        let index = w.interner.heap_bytes() + read(&self.index).heap_bytes();
        let limit = self.memory_limit as usize;
        if index >= limit {
            // The index cannot be shed; count it (once per minute of clock) and keep the
            // head as small as possible.
            let minute = (now / 60_000_000_000) as u64;
            if self.index_over_budget.swap(minute, Relaxed) != minute {
                Counters::add(&self.counters.budget_exceeded_by_index, 1);
                tracing::warn!(
                    index_bytes = index,
                    memory_limit = limit,
                    "store: the series index alone exceeds the memory limit"
                );
            }
            return true;
        }
        let frozen: usize = read(&self.catalog)
            .frozen
            .iter()
            .map(|f| f.heap_bytes())
            .sum();
        // Half of what is left: a frozen head being written and the next head fit together.
        w.head.heap_bytes() + frozen > (limit - index) / 2
    }

    /// Checks a sample against its series: newer than its newest, exact in its kind.
    #[inline]
    pub(crate) fn check(
        &self,
        w: &Writer,
        id: SeriesId,
        t: i64,
        v: Value,
        d: &mut Dropped,
    ) -> Option<Value> {
        let last = w.head.last_ts[id as usize];
        if t <= last {
            if t == last {
                d.duplicate += 1;
            } else {
                d.out_of_order += 1;
            }
            return None;
        }
        let k = w.interner.vkinds[id as usize];
        let v = match (v, k) {
            (Value::Int(_), ValueKind::Int) | (Value::Float(_), ValueKind::Float) => Some(v),
            _ => convert(v, k),
        };
        if v.is_none() {
            d.kind_mismatch += 1;
        }
        v
    }

    /// Defines a new series (taking the lowest free id, if any): series log, interner, index.
    pub(crate) fn define(&self, w: &mut Writer, meta: SeriesMeta) -> Result<SeriesId> {
        let id = match w.free.last() {
            Some(&id) => id,
            None => w.interner.slots() as SeriesId,
        };
        w.series_log.append(id, &meta)?;
        if w.free.last() == Some(&id) {
            w.free.pop();
        }
        w.interner.add_at(id, &meta);
        write(&self.index).insert(id, meta);
        w.head.grow(id as usize + 1);
        // A reused id starts afresh (its old series' data is all gone).
        w.head.last_ts[id as usize] = i64::MIN;
        Ok(id)
    }

    /// Whether to sync now; if so, syncs the series log and returns a handle to fsync the
    /// write-ahead log outside the lock.
    fn sync_due(&self, w: &mut Writer, now: i64) -> Result<Option<(File, PathBuf)>> {
        let due = match self.sync {
            SyncPolicy::EveryBatch => true,
            SyncPolicy::Interval(d) => {
                now.saturating_sub(w.last_sync) >= i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
            }
        };
        let Some(wal) = w.wal.as_mut() else {
            return Ok(None);
        };
        if !due || wal.unsynced == 0 {
            return Ok(None);
        }
        w.series_log.sync()?;
        wal.unsynced = 0;
        w.last_sync = now;
        Ok(Some(wal.sync_handle()?))
    }

    /// Takes the head whole into the catalog's frozen heads (readable at once).
    pub(crate) fn freeze(&self, w: &mut Writer) {
        let gen_ = w.next_gen.saturating_sub(1);
        let f = w.head.freeze(gen_);
        // The log goes with the frozen head; the next sample starts a new generation.
        w.wal = None;
        write(&self.catalog).frozen.push(Arc::new(f));
    }

    /// Writes every frozen head as a block, oldest first, and deletes their logs.
    pub(crate) fn flush_pending(&self) -> Result<()> {
        let _g = lock(&self.flush);
        for _ in 0..1_000_000 {
            let Some(f) = read(&self.catalog).frozen.first().cloned() else {
                return Ok(());
            };
            self.write_frozen(&f)?;
        }
        Ok(())
    }

    fn write_frozen(&self, f: &Arc<FrozenHead>) -> Result<()> {
        if f.samples > 0 {
            let seg = self.appendable(0, f.window, self.win.raw)?;
            let header = BlockHeader {
                seq: self.seq(),
                level: 0,
                wal_gen: f.wal_gen,
                source: (f.window, f.window + self.win.raw),
                min_t: 0,
                max_t: 0,
                samples: 0,
            };
            let mut bw = BlockWriter::new(Vec::new(), seg.len, header);
            let io = |e| Error::io(&seg.path, "encode block", e);
            // Timelines used by chunks, deduplicated by content.
            let mut remap: Vec<Option<u32>> = vec![None; f.timelines.len()];
            let mut by_content: FxHashMap<&[i64], u32> = map();
            let mut col = Vec::new();
            for c in &f.chunks {
                let i = c.tl as usize;
                if remap.get(i).copied().flatten().is_none() && i < remap.len() {
                    let ts: &[i64] = &f.timelines[i];
                    let tl = match by_content.get(ts) {
                        Some(&tl) => tl,
                        None => {
                            col.clear();
                            timestamps::encode(ts, &mut col);
                            let tl = bw.timeline(ts.len() as u32, &[&col]).map_err(io)?;
                            by_content.insert(ts, tl);
                            tl
                        }
                    };
                    remap[i] = Some(tl);
                }
                let ts = f.timestamps(c);
                let (Some(&lo), Some(&hi)) = (ts.first(), ts.last()) else {
                    continue;
                };
                let tl = remap.get(i).copied().flatten().unwrap_or(0);
                bw.chunk(
                    ChunkSpec {
                        series: c.series,
                        tl,
                        start: c.start,
                        count: c.n,
                        vkind: c.vkind,
                        min_t: lo,
                        max_t: hi,
                    },
                    &[&c.values],
                )
                .map_err(io)?;
            }
            let (bytes, header, ix_off, ix_len) = bw.finish().map_err(io)?;
            let seg = seg.append(&bytes, header, (ix_off, ix_len))?;
            let key = (0, seg.header.window, seg.header.seq);
            let mut cat = write(&self.catalog);
            cat.segs.insert(key, Arc::new(seg));
            cat.frozen.retain(|x| !Arc::ptr_eq(x, f));
        } else {
            write(&self.catalog).frozen.retain(|x| !Arc::ptr_eq(x, f));
        }
        Counters::add(&self.counters.blocks_flushed, 1);
        for (g, path) in wal::list(&self.dir)? {
            if g <= f.wal_gen && !self.wal_in_use(g) {
                fs::remove_file(&path).map_err(|e| Error::io(&path, "delete", e))?;
            }
        }
        Ok(())
    }

    fn wal_in_use(&self, g: u64) -> bool {
        lock(&self.writer)
            .wal
            .as_ref()
            .is_some_and(|w| w.generation == g)
    }

    /// The newest appendable (not compacted) segment of `level` and `window`, created if
    /// there is none.
    pub(crate) fn appendable(&self, level: u8, window: i64, window_len: i64) -> Result<Segment> {
        let found = read(&self.catalog)
            .segs
            .range((level, window, 0)..=(level, window, u64::MAX))
            .next_back()
            .filter(|(_, s)| !s.header.compacted)
            .map(|(_, s)| (**s).clone());
        if let Some(s) = found {
            return Ok(s);
        }
        let s = Segment::create(
            &self.dir,
            SegHeader {
                level,
                compacted: false,
                window,
                window_len,
                seq: self.seq(),
                replaces: 0,
            },
        )?;
        write(&self.catalog)
            .segs
            .insert((level, window, s.header.seq), Arc::new(s.clone()));
        Ok(s)
    }

    /// Syncs the write-ahead log and the series log now.
    pub fn sync(&self) -> Result<()> {
        let h = {
            let mut w = lock(&self.writer);
            w.series_log.sync()?;
            w.last_sync = self.clock.now().nanos();
            match w.wal.as_mut() {
                Some(wal) => {
                    wal.unsynced = 0;
                    Some(wal.sync_handle()?)
                }
                None => None,
            }
        };
        if let Some((f, path)) = h {
            f.sync_data().map_err(|e| Error::io(path, "fsync", e))?;
            Counters::add(&self.counters.syncs, 1);
        }
        Ok(())
    }

    /// The series with label `name` = `value`.
    pub fn series_for(&self, name: &str, value: &str) -> Vec<SeriesInfo> {
        let ix = read(&self.index);
        ix.with_label(name, value)
            .iter()
            .filter_map(|&id| ix.get(id).map(SeriesInfo::from))
            .collect()
    }

    /// The series a selector matches.
    pub fn series(&self, sel: &crate::Selector) -> Vec<SeriesInfo> {
        let ix = read(&self.index);
        ix.select(sel)
            .into_iter()
            .filter_map(|id| ix.get(id).map(SeriesInfo::from))
            .collect()
    }

    /// A snapshot of the self-metrics.
    pub fn stats(&self) -> StoreStats {
        let mut s = self.counters.snapshot();
        let (head_bytes, head_samples, writer_bytes, logs) = {
            let w = lock(&self.writer);
            s.series_log_bytes = w.series_log.len();
            (
                w.head.heap_bytes(),
                w.head.samples(),
                w.interner.heap_bytes() + w.free.capacity() * 4,
                w.series_log.len() + w.wal.as_ref().map_or(0, Wal::len),
            )
        };
        let index_bytes = read(&self.index).heap_bytes();
        s.series = read(&self.index).len() as u64;
        let cat = read(&self.catalog);
        let frozen_bytes: usize = cat.frozen.iter().map(|f| f.heap_bytes()).sum();
        let frozen_samples: u64 = cat.frozen.iter().map(|f| f.samples).sum();
        for ((level, _, _), seg) in &cat.segs {
            if *level == 0 {
                s.bytes_on_disk_raw += seg.len;
            } else {
                s.bytes_on_disk_rollups += seg.len;
            }
        }
        s.bytes_on_disk = s.bytes_on_disk_raw + s.bytes_on_disk_rollups + logs;
        s.head_bytes = (head_bytes + frozen_bytes) as u64;
        s.head_samples = head_samples + frozen_samples;
        s.bytes_in_memory = (head_bytes + frozen_bytes + writer_bytes + index_bytes) as u64;
        s
    }

    /// Bounds the points one [`Store::query`] may return (default
    /// [`DEFAULT_QUERY_MAX_POINTS`]); a query that would return more fails with
    /// [`Error::QueryTooLarge`] instead of growing without bound. At least 1.
    pub fn set_query_max_points(&self, max: u64) {
        self.query_max_points.store(max.max(1), Relaxed);
    }

    /// The bound of the points one query may return.
    pub fn query_max_points(&self) -> u64 {
        self.query_max_points.load(Relaxed)
    }

    /// The time of the oldest sample stored (any level, the heads included), if any.
    pub fn oldest(&self) -> Option<Timestamp> {
        let w = lock(&self.writer);
        let head = w.head.min_t();
        let cat = read(&self.catalog);
        let blocks = cat
            .segs
            .values()
            .flat_map(|s| s.blocks.iter())
            .filter(|b| b.header.samples > 0)
            .map(|b| b.header.min_t);
        let frozen = cat.frozen.iter().filter(|f| f.samples > 0).map(|f| f.min_t);
        blocks.chain(frozen).chain(head).min().map(Timestamp)
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The store's clock's time.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Writes the head out as a block, syncs, and closes. (Dropping the store without this
    /// loses nothing synced: the next open replays the write-ahead log.)
    pub fn close(self) -> Result<()> {
        {
            let mut w = lock(&self.writer);
            if !w.head.is_empty() {
                self.freeze(&mut w);
            }
            w.series_log.sync()?;
        }
        self.flush_pending()
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // Best effort: an orderly drop should not lose the last interval's batches.
        let w = self
            .writer
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        let _ = w.series_log.sync();
        if let Some(h) = w.wal.as_ref().and_then(|wal| wal.sync_handle().ok()) {
            let _ = h.0.sync_data();
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.dir)
            .field("win", &self.win)
            .finish_non_exhaustive()
    }
}

/// Shared by the open path: a series definition as a meta with the interner's shared Arcs.
pub(crate) fn meta_of(interner: &mut Interner, d: crate::series::SeriesDef) -> SeriesMeta {
    let (metric, labels) = interner.shared(&d.metric, d.labels);
    SeriesMeta {
        metric,
        labels,
        kind: d.kind,
        unit: d.unit,
        vkind: d.vkind,
    }
}

/// Deletes a file and reports it (used by retention and compaction).
pub(crate) fn remove(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, "delete", e)),
    }?;
    if let Some(p) = path.parent() {
        segment::sync_dir(p)?;
    }
    Ok(())
}
