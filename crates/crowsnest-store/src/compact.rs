//! Compaction: a closed raw window's blocks (one per head flush) become one block with one
//! chunk per series, re-encoded with the best integer coding; in the same pass its 10 s and
//! 1 m rollups are appended to the rollup segments. A closed rollup window's blocks are
//! merged the same way.
//!
//! The work streams series by series (a block reader per source block, one series' samples
//! in memory at a time), writes the new segment to a temporary file, fsyncs and renames it
//! into place, and only then publishes it and deletes the old files. Either half (raw or
//! rollups) may be redone after a crash: a window whose rollups exist is not rolled up again,
//! and a compacted file replaces the sequence numbers it names.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::Instant;

use crowsnest_core::batch::Kind;

use crate::block::{BlockHeader, BlockWriter, ChunkSpec};
use crate::chunk::{BlockReader, SeriesData, Values};
use crate::codec::{ints, timestamps};
use crate::error::{Error, Result};
use crate::rollup::{self, BUCKETS, Partial};
use crate::segment::{CompactedWriter, SegHeader, Segment};
use crate::series::{SeriesId, ValueKind};
use crate::stats::Counters;
use crate::store::{Store, read, remove, write};

/// `Write` at a position of a file (appending to a segment whose end we track).
struct PosWriter<'a> {
    file: &'a File,
    pos: u64,
}

impl Write for PosWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Timelines recently written to a block, to share identical ones (the series of a
/// container come one after the other).
#[derive(Default)]
struct Timelines {
    recent: Vec<(Vec<Vec<i64>>, u32)>,
}

impl Timelines {
    /// The index of a timeline with these columns (timestamps; or bucket starts, counts,
    /// first and last offsets), written if new.
    fn get<W: Write>(&mut self, bw: &mut BlockWriter<W>, cols: &[Vec<i64>]) -> io::Result<u32> {
        if let Some((_, tl)) = self.recent.iter().find(|(t, _)| t.as_slice() == cols) {
            return Ok(*tl);
        }
        let mut enc: Vec<Vec<u8>> = Vec::with_capacity(cols.len());
        for (i, c) in cols.iter().enumerate() {
            let mut b = Vec::new();
            if i == 0 {
                timestamps::encode(c, &mut b);
            } else {
                ints::encode(c, &mut b);
            }
            enc.push(b);
        }
        let refs: Vec<&[u8]> = enc.iter().map(Vec::as_slice).collect();
        let n = cols.first().map_or(0, Vec::len) as u32;
        let tl = bw.timeline(n, &refs)?;
        if self.recent.len() >= 16 {
            self.recent.remove(0);
        }
        self.recent.push((cols.to_vec(), tl));
        Ok(tl)
    }
}

/// The series present in any of the readers' blocks, sorted.
fn series_of(readers: &[BlockReader<'_>]) -> Vec<SeriesId> {
    let mut ids: Vec<SeriesId> = readers
        .iter()
        .flat_map(|r| (0..r.ix.len()).map(|i| r.ix.entry_at(i).series))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Per series: whether it is a counter, and its value kind (from the index).
fn kinds(store: &Store, ids: &[SeriesId]) -> Vec<(bool, ValueKind)> {
    let ix = read(&store.index);
    ids.iter()
        .map(|&id| {
            ix.get(id).map_or((false, ValueKind::Float), |m| {
                (m.kind == Kind::Cumulative, m.vkind)
            })
        })
        .collect()
}

fn readers(segs: &[Arc<Segment>]) -> Result<Vec<BlockReader<'_>>> {
    let mut out = Vec::new();
    for s in segs {
        for b in &s.blocks {
            out.push(BlockReader::new(s, b)?);
        }
    }
    Ok(out)
}

/// A rollup block being appended to a rollup segment.
struct RollupOut<'a> {
    level: u8,
    seg: &'a Segment,
    bw: BlockWriter<BufWriter<PosWriter<'a>>>,
    tls: Timelines,
}

impl Store {
    /// Compacts raw window `window` and rolls it up, as far as not done yet. Returns whether
    /// there was anything to do.
    pub(crate) fn compact_raw(&self, window: i64) -> Result<bool> {
        let (segs, need) = {
            let cat = read(&self.catalog);
            let segs: Vec<Arc<Segment>> = cat
                .segs
                .range((0, window, 0)..=(0, window, u64::MAX))
                .map(|(_, s)| s.clone())
                .collect();
            let roll = self.win.rollups;
            (
                segs,
                [
                    roll && !cat.has_rollup(1, window),
                    roll && !cat.has_rollup(2, window),
                ],
            )
        };
        let done = segs.len() == 1 && segs[0].header.compacted;
        if segs.is_empty() || (done && !need[0] && !need[1]) {
            return Ok(false);
        }
        let t0 = Instant::now();
        let rs = readers(&segs)?;
        let ids = series_of(&rs);
        let kinds = kinds(self, &ids);
        let mut rs = rs;
        let source = (window, window + self.win.raw);
        let wal_gen = segs
            .iter()
            .flat_map(|s| s.blocks.iter())
            .map(|b| b.header.wal_gen)
            .max()
            .unwrap_or(0);
        let header = |seq| BlockHeader {
            seq,
            level: 0,
            wal_gen,
            source,
            min_t: 0,
            max_t: 0,
            samples: 0,
        };
        // Outputs: the compacted raw segment, and a block per rollup level still missing.
        let mut raw = if done {
            None
        } else {
            let sh = SegHeader {
                level: 0,
                compacted: true,
                window,
                window_len: self.win.raw,
                seq: self.seq(),
                replaces: segs.iter().map(|s| s.header.seq).max().unwrap_or(0),
            };
            let (cw, w, off) = CompactedWriter::start(&self.dir, sh)?;
            Some((
                cw,
                BlockWriter::new(w, off, header(self.seq())),
                Timelines::default(),
            ))
        };
        let rseg: Vec<Option<Segment>> = (1..=2u8)
            .map(|l| {
                if !need[usize::from(l) - 1] {
                    return Ok(None);
                }
                let len = self.win.rollup[usize::from(l) - 1];
                self.appendable(l, window.div_euclid(len) * len, len)
                    .map(Some)
            })
            .collect::<Result<_>>()?;
        let mut rolls: Vec<RollupOut<'_>> = rseg
            .iter()
            .zip(1..=2u8)
            .filter_map(|(s, level)| s.as_ref().map(|s| (s, level)))
            .map(|(seg, level)| {
                let pw = PosWriter {
                    file: &seg.file,
                    pos: seg.len,
                };
                RollupOut {
                    level,
                    seg,
                    bw: BlockWriter::new(
                        BufWriter::with_capacity(1 << 20, pw),
                        seg.len,
                        BlockHeader {
                            level,
                            wal_gen: 0,
                            ..header(self.seq())
                        },
                    ),
                    tls: Timelines::default(),
                }
            })
            .collect();
        let io_raw = |e| Error::io(&self.dir, "write compacted segment", e);
        let mut col = Vec::new();
        let mut ps: Vec<Partial> = Vec::new();
        for (&id, &(counter, vk)) in ids.iter().zip(&kinds) {
            let mut ts: Vec<i64> = Vec::new();
            let mut vals = Values::new(vk);
            for r in rs.iter_mut() {
                match r.read(id) {
                    Ok(Some(SeriesData::Raw { ts: t, values: v })) => {
                        let from = ts.last().map_or(0, |&l| t.partition_point(|&x| x <= l));
                        ts.extend_from_slice(&t[from..]);
                        vals.extend_from(&v, from);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        Counters::add(&self.counters.corrupt_records, 1);
                        tracing::error!("{e}; compaction leaves this chunk out");
                    }
                }
            }
            let (Some(&lo), Some(&hi)) = (ts.first(), ts.last()) else {
                continue;
            };
            let vk = vals.kind();
            if let Some((_, bw, tls)) = raw.as_mut() {
                let tl = tls.get(bw, std::slice::from_ref(&ts)).map_err(io_raw)?;
                col.clear();
                vals.encode(&mut col);
                bw.chunk(
                    ChunkSpec {
                        series: id,
                        tl,
                        start: 0,
                        count: ts.len() as u32,
                        vkind: vk,
                        min_t: lo,
                        max_t: hi,
                    },
                    &[&col],
                )
                .map_err(io_raw)?;
            }
            for ro in rolls.iter_mut() {
                ps.clear();
                let vs = (0..vals.len()).map(|i| vals.get(i));
                rollup::summarise(&ts, vs, BUCKETS[usize::from(ro.level) - 1], &mut ps);
                let cols = rollup::encode(&ps, vk, counter);
                let io_r = |e| Error::io(&ro.seg.path, "write rollup block", e);
                let tcols = rollup::timeline_columns(&ps);
                let tl = ro.tls.get(&mut ro.bw, &tcols).map_err(io_r)?;
                let refs: Vec<&[u8]> = cols.iter().map(Vec::as_slice).collect();
                let span = (tcols[0][0], ps.last().map_or(lo, |p| p.last_t));
                ro.bw
                    .chunk(
                        ChunkSpec {
                            series: id,
                            tl,
                            start: 0,
                            count: ps.len() as u32,
                            vkind: vk,
                            min_t: span.0,
                            max_t: span.1,
                        },
                        &refs,
                    )
                    .map_err(io_r)?;
            }
        }
        drop(rs);
        // Rollups first (appended and synced), then the raw file is renamed into place.
        let mut new_rollups = Vec::new();
        for ro in rolls {
            let path = ro.seg.path.clone();
            let (w, h, ix_off, ix_len) = ro
                .bw
                .finish()
                .map_err(|e| Error::io(&path, "write rollup block", e))?;
            let pw = w
                .into_inner()
                .map_err(|e| Error::io(&path, "write rollup block", e.into_error()))?;
            let end = pw.pos;
            ro.seg
                .file
                .sync_data()
                .map_err(|e| Error::io(&path, "fsync", e))?;
            new_rollups.push(ro.seg.with_block(end, h, (ix_off, ix_len)));
        }
        let new_raw = match raw {
            Some((cw, bw, _)) => {
                let (w, _, ix_off, ix_len) = bw.finish().map_err(io_raw)?;
                Some(cw.finish(w, (ix_off, ix_len))?)
            }
            None => None,
        };
        {
            let mut cat = write(&self.catalog);
            for s in new_rollups {
                cat.segs
                    .insert((s.header.level, s.header.window, s.header.seq), Arc::new(s));
            }
            if let Some(s) = &new_raw {
                for old in &segs {
                    cat.segs.remove(&(0, window, old.header.seq));
                }
                cat.segs
                    .insert((0, window, s.header.seq), Arc::new(s.clone()));
            }
        }
        if new_raw.is_some() {
            for old in &segs {
                remove(&old.path)?;
            }
        }
        self.compaction_done(t0);
        Ok(true)
    }

    fn compaction_done(&self, t0: Instant) {
        let d = t0.elapsed();
        Counters::add(&self.counters.compactions, 1);
        Counters::timed(
            Some(&self.counters.compaction_ns),
            &self.counters.compaction_last_ns,
            d,
        );
    }

    /// Merges the blocks of rollup window `window` of `level` into one compacted segment.
    pub(crate) fn compact_rollup(&self, level: u8, window: i64) -> Result<bool> {
        let segs: Vec<Arc<Segment>> = read(&self.catalog)
            .segs
            .range((level, window, 0)..=(level, window, u64::MAX))
            .map(|(_, s)| s.clone())
            .collect();
        if segs.is_empty() || (segs.len() == 1 && segs[0].header.compacted) {
            return Ok(false);
        }
        let t0 = Instant::now();
        let mut rs = readers(&segs)?;
        let ids = series_of(&rs);
        let kinds = kinds(self, &ids);
        let blocks = segs.iter().flat_map(|s| s.blocks.iter());
        let source = blocks.fold((i64::MAX, i64::MIN), |(a, b), blk| {
            (a.min(blk.header.source.0), b.max(blk.header.source.1))
        });
        let sh = SegHeader {
            level,
            compacted: true,
            window,
            window_len: self.win.rollup[usize::from(level) - 1],
            seq: self.seq(),
            replaces: segs.iter().map(|s| s.header.seq).max().unwrap_or(0),
        };
        let (cw, w, off) = CompactedWriter::start(&self.dir, sh)?;
        let mut bw = BlockWriter::new(
            w,
            off,
            BlockHeader {
                seq: self.seq(),
                level,
                wal_gen: 0,
                source,
                min_t: 0,
                max_t: 0,
                samples: 0,
            },
        );
        let io_e = |e| Error::io(&cw.tmp, "write compacted segment", e);
        let mut tls = Timelines::default();
        for (&id, &(counter, vk)) in ids.iter().zip(&kinds) {
            let mut ps: Vec<Partial> = Vec::new();
            for r in rs.iter_mut() {
                match r.read(id) {
                    Ok(Some(SeriesData::Rollup(p))) => {
                        let last = ps.last().map(|l: &Partial| l.last_t);
                        ps.extend(p.into_iter().filter(|x| last.is_none_or(|l| x.first_t > l)));
                    }
                    Ok(_) => {}
                    Err(e) => {
                        Counters::add(&self.counters.corrupt_records, 1);
                        tracing::error!("{e}; compaction leaves this chunk out");
                    }
                }
            }
            rollup::coalesce(&mut ps);
            let (Some(first), Some(last)) = (ps.first(), ps.last()) else {
                continue;
            };
            let span = (first.t, last.last_t);
            let cols = rollup::encode(&ps, vk, counter);
            let tl = tls
                .get(&mut bw, &rollup::timeline_columns(&ps))
                .map_err(io_e)?;
            let refs: Vec<&[u8]> = cols.iter().map(Vec::as_slice).collect();
            bw.chunk(
                ChunkSpec {
                    series: id,
                    tl,
                    start: 0,
                    count: ps.len() as u32,
                    vkind: vk,
                    min_t: span.0,
                    max_t: span.1,
                },
                &refs,
            )
            .map_err(io_e)?;
        }
        drop(rs);
        let (w, _, ix_off, ix_len) = bw.finish().map_err(io_e)?;
        let new = cw.finish(w, (ix_off, ix_len))?;
        {
            let mut cat = write(&self.catalog);
            for old in &segs {
                cat.segs.remove(&(level, window, old.header.seq));
            }
            cat.segs
                .insert((level, window, new.header.seq), Arc::new(new));
        }
        for old in &segs {
            remove(&old.path)?;
        }
        self.compaction_done(t0);
        Ok(true)
    }
}
