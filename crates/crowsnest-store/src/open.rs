//! Opening a store directory:
//!
//! 1. take the directory lock (`LOCK`, an advisory file lock);
//! 2. load the series log (cutting a torn tail);
//! 3. open every segment (cutting torn tails of appendable ones, deleting files a compacted
//!    one replaces and leftover `.tmp` files);
//! 4. learn each series' newest stored time from the raw blocks (so the out-of-order rule
//!    holds across restarts);
//! 5. replay the write-ahead logs not yet in a block, write them out as blocks, delete them.
//!
//! Each torn tail cut is one `warn` line naming the file, the offset and the bytes dropped.

use std::fs::{self, OpenOptions};
use std::sync::Arc;

use crowsnest_core::Clock;

use crate::chunk::BlockReader;
use crate::config::StoreConfig;
use crate::error::{Error, Result};
use crate::head::Head;
use crate::index::Index;
use crate::segment::{self, LEVELS, Segment};
use crate::series::{Interner, SeriesId, convert};
use crate::serieslog::{SeriesLog, placeholder};
use crate::stats::{Counters, Dropped};
use crate::store::{Catalog, Store, Writer, lock, meta_of, remove};
use crate::wal;

pub(crate) fn open(config: StoreConfig, clock: Arc<dyn Clock>) -> Result<Store> {
    let win = config.validate()?;
    let dir = config.dir.clone();
    fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, "create directory", e))?;
    let lock_path = dir.join("LOCK");
    let lock_file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| Error::io(&lock_path, "open", e))?;
    match lock_file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => return Err(Error::Locked { path: lock_path }),
        Err(fs::TryLockError::Error(e)) => return Err(Error::io(&lock_path, "lock", e)),
    }
    let mut torn = 0u64;
    let mut corrupt = 0u64;

    // Series.
    let (series_log, loaded) = SeriesLog::open(&dir)?;
    if let Some((off, n)) = loaded.cut {
        torn += 1;
        tracing::warn!(
            "{}: cut torn tail at offset {off} ({n} bytes dropped); everything before is kept",
            series_log.path.display()
        );
    }
    for e in &loaded.problems {
        corrupt += 1;
        tracing::error!("{e}; skipped");
    }

    // Segments.
    let mut catalog = Catalog::default();
    let mut max_seq = 0u64;
    for (level, name) in LEVELS.iter().enumerate() {
        let ldir = dir.join(name);
        let rd = match fs::read_dir(&ldir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(&ldir, "list", e)),
        };
        for entry in rd {
            let entry = entry.map_err(|e| Error::io(&ldir, "list", e))?;
            let path = entry.path();
            let fname = entry.file_name().to_string_lossy().into_owned();
            if fname.ends_with(".tmp") {
                remove(&path)?;
                continue;
            }
            let Some((_, seq)) = segment::parse_name(&fname) else {
                continue;
            };
            max_seq = max_seq.max(seq);
            match Segment::open(&path) {
                Ok((seg, report)) => {
                    if let Some((off, n, why)) = report.cut {
                        torn += 1;
                        tracing::warn!(
                            "{}: cut torn tail at offset {off} ({n} bytes dropped: {why}); everything before is kept",
                            path.display()
                        );
                    }
                    for e in &report.problems {
                        corrupt += 1;
                        tracing::error!("{e}; skipped, the rest of the file is read");
                    }
                    if usize::from(seg.header.level) != level {
                        tracing::error!("{}: segment of another level; skipped", path.display());
                        catalog.unreadable.push(path);
                        continue;
                    }
                    for b in &seg.blocks {
                        max_seq = max_seq.max(b.header.seq);
                    }
                    catalog.segs.insert(
                        (seg.header.level, seg.header.window, seg.header.seq),
                        Arc::new(seg),
                    );
                }
                Err(e) => {
                    corrupt += 1;
                    tracing::error!("{e}; the file is kept but not read");
                    catalog.unreadable.push(path);
                }
            }
        }
    }
    // Files a compacted file replaces (a compaction that stopped before deleting them).
    let replaced: Vec<(u8, i64, u64)> = catalog
        .segs
        .iter()
        .filter(|(_, s)| s.header.compacted)
        .flat_map(|((l, w, seq), s)| {
            let r = s.header.replaces;
            catalog
                .segs
                .range((*l, *w, 0)..(*l, *w, *seq))
                .filter(move |(_, o)| o.header.seq <= r)
                .map(|(k, _)| *k)
        })
        .collect();
    for k in replaced {
        if let Some(s) = catalog.segs.remove(&k) {
            remove(&s.path)?;
        }
    }

    // Series: the definitions, and placeholders for ids that stored data uses but that have
    // no definition (a damaged series log), so that no new series takes an id that has data.
    // Other ids without a definition are free (their series were removed by retention).
    let used = used_ids(&catalog, loaded.defs.last().map(|d| d.id));
    let mut interner = Interner::new();
    let mut index = Index::new();
    let slots = loaded
        .defs
        .last()
        .map_or(0, |d| d.id as usize + 1)
        .max(used.len());
    let mut defs = loaded.defs.into_iter().peekable();
    let (mut free, mut lost) = (Vec::new(), Vec::new());
    for id in 0..slots as SeriesId {
        let def = match defs.next_if(|d| d.id == id) {
            Some(d) => d,
            None if used.get(id as usize).copied().unwrap_or(false) => {
                lost.push(id);
                placeholder(id)
            }
            None => {
                free.push(id);
                continue;
            }
        };
        let meta = meta_of(&mut interner, def);
        interner.add_at(id, &meta);
        index.insert(id, meta);
    }
    if !lost.is_empty() {
        tracing::error!(
            "{} series have data but no definition (damaged series log; ids {}..={}); kept as _lost_series_<id>",
            lost.len(),
            lost[0],
            lost[lost.len() - 1]
        );
    }
    // The lowest free id is taken first.
    free.reverse();

    // Newest stored time per series: from raw blocks; series with none may not go back
    // before what the rollups cover.
    let mut head = Head::new();
    head.grow(interner.slots());
    let floor = catalog.coverage(2).min(catalog.coverage(1));
    if floor > i64::MIN {
        head.last_ts.iter_mut().for_each(|t| *t = floor - 1);
    }
    let mut persisted_gen = 0u64;
    let mut min_window = i64::MIN;
    for ((level, window, _), seg) in &catalog.segs {
        if *level != 0 {
            continue;
        }
        min_window = min_window.max(*window);
        for b in &seg.blocks {
            persisted_gen = persisted_gen.max(b.header.wal_gen);
            let ix = match BlockReader::new(seg, b) {
                Ok(r) => r.ix,
                Err(e) => {
                    corrupt += 1;
                    tracing::error!("{e}; block skipped");
                    continue;
                }
            };
            for i in 0..ix.len() {
                let e = ix.entry_at(i);
                if let Some(t) = head.last_ts.get_mut(e.series as usize) {
                    *t = (*t).max(e.max_t);
                }
            }
        }
    }

    let wals = wal::list(&dir)?;
    let next_gen = wals
        .iter()
        .map(|(g, _)| g + 1)
        .max()
        .unwrap_or(1)
        .max(persisted_gen + 1);
    let writer = Writer {
        head,
        interner,
        series_log,
        wal: None,
        free,
        next_gen,
        head_start: i64::MIN,
        last_sync: clock.now().nanos(),
        min_window,
    };
    let store = Store::from_parts(
        &config,
        win,
        clock,
        lock_file,
        writer,
        index,
        catalog,
        max_seq + 1,
    );
    Counters::add(&store.counters.torn_tails_cut, torn);
    Counters::add(&store.counters.corrupt_records, corrupt);
    replay_wals(&store, wals, persisted_gen)?;
    Ok(store)
}

/// Which ids the blocks of the catalog use (every entry of every block index that can be
/// read), as a bitmap. Ids far above the highest defined one are implausible (damage) and left
/// out, with an error.
pub(crate) fn used_ids(catalog: &Catalog, max_defined: Option<SeriesId>) -> Vec<bool> {
    let limit = max_defined.map_or(0, |m| m as usize + 1) + (1 << 20);
    let mut used: Vec<bool> = Vec::new();
    let mut implausible = None;
    for seg in catalog.segs.values() {
        for b in &seg.blocks {
            let Ok(r) = BlockReader::new(seg, b) else {
                continue;
            };
            for i in 0..r.ix.len() {
                let id = r.ix.entry_at(i).series as usize;
                if id >= limit {
                    implausible = Some(id);
                    continue;
                }
                if used.len() <= id {
                    used.resize(id + 1, false);
                }
                used[id] = true;
            }
        }
    }
    if let Some(id) = implausible {
        tracing::error!("series id {id} in stored data is implausible; not padded");
    }
    used
}

/// Makes every id of `ids` a series: those without one (beyond the slots, or free) become
/// placeholders.
fn pad(w: &mut Writer, index: &mut Index, ids: impl Iterator<Item = SeriesId>) {
    let mut n = 0u64;
    for id in ids {
        if index.get(id).is_some() {
            continue;
        }
        if id as usize >= index.slots() + (1 << 20) {
            continue;
        }
        for f in index.slots() as SeriesId..id {
            // Ids skipped on the way are free.
            if !w.free.contains(&f) {
                w.free.insert(0, f);
            }
        }
        w.free.retain(|&f| f != id);
        let meta = meta_of(&mut w.interner, placeholder(id));
        w.interner.add_at(id, &meta);
        index.insert(id, meta);
        n += 1;
    }
    if n > 0 {
        tracing::error!(
            "{n} series have data in a write-ahead log but no definition (damaged series log); kept as _lost_series_<id>"
        );
    }
    let slots = w.interner.slots();
    w.head.grow(slots);
    w.free.sort_unstable_by(|a, b| b.cmp(a));
}

/// Replays logs newer than `persisted_gen` into the head, writing each out as a block.
fn replay_wals(
    store: &Store,
    wals: Vec<(u64, std::path::PathBuf)>,
    persisted_gen: u64,
) -> Result<()> {
    for (g, path) in wals {
        if g <= persisted_gen {
            remove(&path)?;
            continue;
        }
        let r = match wal::replay(&path, g) {
            Ok(r) => r,
            Err(e) => {
                Counters::add(&store.counters.corrupt_records, 1);
                tracing::error!("{e}; this write-ahead log is not replayed");
                continue;
            }
        };
        if r.generation != g {
            tracing::warn!(
                "{}: header says generation {}; replayed as {g}",
                path.display(),
                r.generation
            );
        }
        if let Some((off, n)) = r.cut {
            Counters::add(&store.counters.torn_tails_cut, 1);
            tracing::warn!(
                "{}: cut torn tail at offset {off} ({n} bytes dropped); everything before is kept",
                path.display()
            );
        }
        for e in &r.problems {
            Counters::add(&store.counters.corrupt_records, 1);
            tracing::error!("{e}; skipped");
        }
        let mut d = Dropped::default();
        let mut accepted = 0u64;
        {
            let mut w = lock(&store.writer);
            let w = &mut *w;
            w.head.window = if r.window == i64::MIN {
                r.batches
                    .first()
                    .map_or(w.min_window, |b| store.window_of(b.ts).max(w.min_window))
            } else {
                r.window.max(w.min_window)
            };
            let unknown: Vec<SeriesId> = {
                let ix = crate::store::read(&store.index);
                let mut ids: Vec<SeriesId> = r
                    .batches
                    .iter()
                    .flat_map(|b| b.samples.iter().map(|s| s.0))
                    .filter(|&id| ix.get(id).is_none())
                    .collect();
                ids.sort_unstable();
                ids.dedup();
                ids
            };
            if !unknown.is_empty() {
                let mut ix = crate::store::write(&store.index);
                pad(w, &mut ix, unknown.into_iter());
            }
            let ix = crate::store::read(&store.index);
            for b in &r.batches {
                let mut batch_tl = None;
                for &(id, v) in &b.samples {
                    if ix.get(id).is_none() {
                        d.unknown_series += 1;
                        continue;
                    }
                    let k = w.interner.vkinds[id as usize];
                    let Some(v) = convert(v, k) else {
                        d.kind_mismatch += 1;
                        continue;
                    };
                    if let Some(v) = store.check(w, id, b.ts, v, &mut d) {
                        w.head.push(id, k, b.ts, v, &mut batch_tl);
                        accepted += 1;
                    }
                }
            }
            drop(ix);
            w.next_gen = w.next_gen.max(g + 1);
            // The frozen head takes generation g (the log being replayed).
            let saved = w.next_gen;
            w.next_gen = g + 1;
            store.freeze(w);
            w.next_gen = saved;
            w.head.window = i64::MIN;
            w.min_window = w.min_window.max(r.window);
        }
        if d.unknown_series > 0 {
            tracing::warn!(
                "{}: {} samples of series whose definition was lost; dropped",
                path.display(),
                d.unknown_series
            );
        }
        Counters::add(&store.counters.samples, accepted);
        Counters::add(&store.counters.unknown_series, d.unknown_series);
        Counters::add(&store.counters.kind_mismatch, d.kind_mismatch);
        store.flush_pending()?;
        remove(&path)?;
    }
    Ok(())
}
