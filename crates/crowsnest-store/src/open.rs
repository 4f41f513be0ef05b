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
use crate::series::{Interner, convert};
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
    let mut interner = Interner::new();
    let mut index = Index::new();
    for d in loaded.defs {
        let meta = meta_of(&mut interner, d);
        interner.add(&meta);
        index.push(meta);
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

    // Ids used by stored data but not defined (a damaged series log): placeholders, so that
    // no new series takes an id that has data.
    let mut max_id: Option<u32> = None;
    for seg in catalog.segs.values() {
        for b in &seg.blocks {
            if let Ok(r) = BlockReader::new(seg, b)
                && r.ix.len() > 0
            {
                let last = r.ix.entry_at(r.ix.len() - 1).series;
                max_id = Some(max_id.map_or(last, |m| m.max(last)));
            }
        }
    }
    pad(&mut interner, &mut index, max_id);

    // Newest stored time per series: from raw blocks; series with none may not go back
    // before what the rollups cover.
    let mut head = Head::new();
    head.grow(interner.len());
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

/// Adds placeholder series up to `max_id`.
fn pad(interner: &mut Interner, index: &mut Index, max_id: Option<u32>) {
    let Some(max_id) = max_id else { return };
    let have = interner.len() as u32;
    if max_id < have {
        return;
    }
    if max_id - have > 1 << 20 {
        tracing::error!("series id {max_id} in stored data is implausible; not padded");
        return;
    }
    tracing::error!(
        "series {have}..={max_id} have data but no definition (damaged series log); kept as _lost_series_<id>"
    );
    for id in have..=max_id {
        let meta = meta_of(interner, placeholder(id));
        interner.add(&meta);
        index.push(meta);
    }
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
            let wal_max = r
                .batches
                .iter()
                .flat_map(|b| b.samples.iter().map(|s| s.0))
                .max();
            if wal_max.is_some_and(|m| m as usize >= w.interner.len()) {
                let mut ix = crate::store::write(&store.index);
                pad(&mut w.interner, &mut ix, wal_max);
                drop(ix);
                let n = w.interner.len();
                w.head.grow(n);
            }
            for b in &r.batches {
                let mut batch_tl = None;
                for &(id, v) in &b.samples {
                    if id as usize >= w.interner.len() {
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
