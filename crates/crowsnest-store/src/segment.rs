//! Segment files: one per level and time window, under `raw/`, `10s/` and `1m/`.
//!
//! ```text
//! header   "CROWSSEG", u16 version, level u8, flags u8 (1 = compacted), window start i64,
//!          window length i64, file seq u64, replaces seq u64, crc32
//! blocks   records (see block.rs), appended by head flushes
//! trailer  (compacted files only) index offset u64, index length u32, crc32, "CROWSEND"
//! ```
//!
//! A segment that is still being appended is scanned on open, record by record: damage in the
//! middle is reported and skipped (a block whose index was damaged is rebuilt from its
//! pages), and everything after the last committed block (a torn write) is cut with one log
//! line. A compacted segment was written whole and renamed into place; opening it reads the
//! header, the trailer and the index only, and falls back to a scan if those are damaged.
//! Compaction writes a new file that `replaces` the old sequence numbers; on open, files a
//! newer one replaces are deleted.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::block::{
    BlockHeader, BlockIndex, Entry, Loc, decode_chunk, decode_timeline, page_items,
};
use crate::codec::DecodeError;
use crate::error::{Error, Result};
use crate::record::{self, HeaderError, Scanned, kind};

const MAGIC: &[u8; 8] = b"CROWSSEG";
const END_MAGIC: &[u8; 8] = b"CROWSEND";
pub(crate) const VERSION: u16 = 1;
const FIELDS: usize = 1 + 1 + 8 + 8 + 8 + 8;
pub(crate) const HEADER_LEN: usize = record::header_len(FIELDS);
const TRAILER_LEN: usize = 24;

/// Levels: raw samples, 10 s rollups, 1 m rollups.
pub(crate) const LEVELS: [&str; 3] = ["raw", "10s", "1m"];

/// A segment's identity, from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegHeader {
    pub(crate) level: u8,
    pub(crate) compacted: bool,
    pub(crate) window: i64,
    pub(crate) window_len: i64,
    pub(crate) seq: u64,
    pub(crate) replaces: u64,
}

impl SegHeader {
    fn encode(&self) -> Vec<u8> {
        let mut f = Vec::with_capacity(FIELDS);
        f.push(self.level);
        f.push(u8::from(self.compacted));
        f.extend_from_slice(&self.window.to_le_bytes());
        f.extend_from_slice(&self.window_len.to_le_bytes());
        f.extend_from_slice(&self.seq.to_le_bytes());
        f.extend_from_slice(&self.replaces.to_le_bytes());
        record::file_header(MAGIC, VERSION, &f)
    }

    fn decode(path: &Path, data: &[u8]) -> Result<Self> {
        let f = record::read_file_header(data, MAGIC, VERSION, FIELDS)
            .map_err(|e| header_error(path, "segment", e))?;
        let i64_at = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&f[i..i + 8]);
            i64::from_le_bytes(a)
        };
        let h = SegHeader {
            level: f[0],
            compacted: f[1] & 1 != 0,
            window: i64_at(2),
            window_len: i64_at(10),
            seq: i64_at(18) as u64,
            replaces: i64_at(26) as u64,
        };
        if usize::from(h.level) >= LEVELS.len() || f[1] > 1 || h.window_len <= 0 {
            return Err(Error::Malformed {
                path: path.to_owned(),
                offset: 0,
                part: "segment header",
                field: "level, flags or window",
                reason: "out of range",
            });
        }
        Ok(h)
    }
}

/// Maps a header problem to an error naming the file.
pub(crate) fn header_error(path: &Path, what: &'static str, e: HeaderError) -> Error {
    match e {
        HeaderError::Magic => Error::BadMagic {
            path: path.to_owned(),
            expected: what,
        },
        HeaderError::Version(found) => Error::Version {
            path: path.to_owned(),
            found,
            supported: VERSION,
        },
        HeaderError::Short => Error::Malformed {
            path: path.to_owned(),
            offset: 0,
            part: "file header",
            field: "header",
            reason: "file shorter than its header",
        },
        HeaderError::Crc { stored, computed } => Error::Crc {
            path: path.to_owned(),
            offset: 0,
            part: "file header",
            stored,
            computed,
        },
    }
}

/// A block in a segment: its header and where its index is.
#[derive(Debug, Clone)]
pub(crate) struct BlockRef {
    pub(crate) header: BlockHeader,
    pub(crate) index: IndexSrc,
}

#[derive(Debug, Clone)]
pub(crate) enum IndexSrc {
    /// The index record at this offset and length.
    Disk(u64, u32),
    /// Rebuilt from the pages by a scan (the index record was damaged).
    Memory(Arc<BlockIndex>),
}

/// An open segment. Immutable once published; appending a block publishes a new value that
/// shares the file.
#[derive(Debug, Clone)]
pub(crate) struct Segment {
    pub(crate) path: PathBuf,
    pub(crate) file: Arc<File>,
    pub(crate) header: SegHeader,
    pub(crate) blocks: Vec<BlockRef>,
    /// Length of the valid file.
    pub(crate) len: u64,
}

/// The path of a segment.
pub(crate) fn path_of(dir: &Path, h: &SegHeader) -> PathBuf {
    dir.join(LEVELS[usize::from(h.level)])
        .join(format!("{}_{}.seg", h.window, h.seq))
}

/// Parses `<window>_<seq>.seg`.
pub(crate) fn parse_name(name: &str) -> Option<(i64, u64)> {
    let stem = name.strip_suffix(".seg")?;
    let (w, s) = stem.split_once('_')?;
    Some((w.parse().ok()?, s.parse().ok()?))
}

fn io<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |e| Error::io(path, op, e)
}

/// Fsyncs a directory (after creating, renaming or deleting a file in it).
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir, "fsync directory"))
}

/// What opening a segment found besides its blocks.
#[derive(Debug, Default)]
pub(crate) struct OpenReport {
    /// Damage reported and skipped.
    pub(crate) problems: Vec<Error>,
    /// A torn tail cut: (offset, bytes dropped, why).
    pub(crate) cut: Option<(u64, u64, &'static str)>,
}

impl Segment {
    /// Creates an empty (appendable) segment.
    pub(crate) fn create(dir: &Path, header: SegHeader) -> Result<Segment> {
        let path = path_of(dir, &header);
        let parent = path.parent().unwrap_or(dir).to_owned();
        fs::create_dir_all(&parent).map_err(io(&parent, "create directory"))?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io(&path, "create"))?;
        let h = header.encode();
        file.write_all_at(&h, 0)
            .map_err(io(&path, "write header"))?;
        file.sync_all().map_err(io(&path, "fsync"))?;
        sync_dir(&parent)?;
        Ok(Segment {
            path,
            file: Arc::new(file),
            header,
            blocks: Vec::new(),
            len: h.len() as u64,
        })
    }

    /// Opens a segment, cutting a torn tail of an appendable one.
    pub(crate) fn open(path: &Path) -> Result<(Segment, OpenReport)> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(io(path, "open"))?;
        let len = file.metadata().map_err(io(path, "stat"))?.len();
        let mut head = vec![0u8; HEADER_LEN.min(len as usize)];
        file.read_exact_at(&mut head, 0)
            .map_err(io(path, "read header"))?;
        let header = SegHeader::decode(path, &head)?;
        let mut seg = Segment {
            path: path.to_owned(),
            file: Arc::new(file),
            header,
            blocks: Vec::new(),
            len,
        };
        let mut report = OpenReport::default();
        if header.compacted {
            match seg.read_trailer() {
                Ok(b) => {
                    seg.blocks.push(b);
                    return Ok((seg, report));
                }
                Err(e) => report.problems.push(e),
            }
        }
        let end = if header.compacted {
            len.saturating_sub(TRAILER_LEN as u64)
                .max(HEADER_LEN as u64)
        } else {
            len
        };
        let mut data = vec![0u8; end as usize];
        seg.file
            .read_exact_at(&mut data, 0)
            .map_err(io(path, "read"))?;
        let (blocks, valid_end, problems) = scan_blocks(path, &header, &data);
        seg.blocks = blocks;
        report.problems.extend(problems);
        if !header.compacted && valid_end < end {
            seg.file.set_len(valid_end).map_err(io(path, "truncate"))?;
            seg.file.sync_all().map_err(io(path, "fsync"))?;
            seg.len = valid_end;
            report.cut = Some((valid_end, end - valid_end, "damaged or incomplete record"));
            // Damage inside the cut region is the torn tail itself, not separate corruption.
            report.problems.retain(|e| {
                !matches!(e, Error::Malformed { offset, .. } | Error::Crc { offset, .. } if *offset >= valid_end)
            });
        }
        Ok((seg, report))
    }

    fn read_trailer(&self) -> Result<BlockRef> {
        let bad = |reason| Error::Malformed {
            path: self.path.clone(),
            offset: self.len.saturating_sub(TRAILER_LEN as u64),
            part: "segment trailer",
            field: "trailer",
            reason,
        };
        if self.len < (HEADER_LEN + TRAILER_LEN) as u64 {
            return Err(bad("file too short for a trailer"));
        }
        let mut t = [0u8; TRAILER_LEN];
        self.file
            .read_exact_at(&mut t, self.len - TRAILER_LEN as u64)
            .map_err(io(&self.path, "read trailer"))?;
        if &t[16..] != END_MAGIC {
            return Err(bad("missing end magic"));
        }
        let stored = u32::from_le_bytes([t[12], t[13], t[14], t[15]]);
        if crc32fast::hash(&t[..12]) != stored {
            return Err(bad("crc mismatch"));
        }
        let mut o = [0u8; 8];
        o.copy_from_slice(&t[..8]);
        let off = u64::from_le_bytes(o);
        let ix_len = u32::from_le_bytes([t[8], t[9], t[10], t[11]]);
        let index = self.load_index_at(off, ix_len)?;
        Ok(BlockRef {
            header: index.header,
            index: IndexSrc::Disk(off, ix_len),
        })
    }

    /// Reads a record of `len` bytes at `off` and checks its type; returns its payload.
    pub(crate) fn read_record(&self, off: u64, len: u32, ty: u8) -> Result<Vec<u8>> {
        let part = kind::name(ty);
        let bad = |reason| Error::Malformed {
            path: self.path.clone(),
            offset: off,
            part,
            field: "record",
            reason,
        };
        if (len as usize) < record::HEADER_LEN || off.saturating_add(u64::from(len)) > self.len {
            return Err(bad("location outside the file"));
        }
        let mut buf = vec![0u8; len as usize];
        self.file
            .read_exact_at(&mut buf, off)
            .map_err(io(&self.path, "read"))?;
        match record::parse_at(&buf, 0) {
            Ok((t, p)) if t == ty && p.len() + record::HEADER_LEN == buf.len() => {
                buf.drain(..record::HEADER_LEN);
                Ok(buf)
            }
            Ok(_) => Err(bad("record of another type or length here")),
            Err(record::Bad::Crc { stored, computed }) => Err(Error::Crc {
                path: self.path.clone(),
                offset: off,
                part,
                stored,
                computed,
            }),
            Err(b) => Err(bad(b.reason())),
        }
    }

    fn load_index_at(&self, off: u64, len: u32) -> Result<Arc<BlockIndex>> {
        let payload = self.read_record(off, len, kind::BLOCK_INDEX)?;
        BlockIndex::parse(Arc::from(payload))
            .map(Arc::new)
            .map_err(|e| Error::malformed(&self.path, off, "block index", e))
    }

    /// A block's index.
    pub(crate) fn index(&self, b: &BlockRef) -> Result<Arc<BlockIndex>> {
        match &b.index {
            IndexSrc::Disk(off, len) => self.load_index_at(*off, *len),
            IndexSrc::Memory(ix) => Ok(ix.clone()),
        }
    }

    /// Appends an encoded block (records starting at offset `self.len`, as `BlockWriter`
    /// wrote them) and fsyncs; returns the segment with the block added.
    pub(crate) fn append(
        &self,
        bytes: &[u8],
        header: BlockHeader,
        ix: (u64, u32),
    ) -> Result<Segment> {
        self.file
            .write_all_at(bytes, self.len)
            .map_err(io(&self.path, "write block"))?;
        self.file.sync_data().map_err(io(&self.path, "fsync"))?;
        Ok(self.with_block(self.len + bytes.len() as u64, header, ix))
    }

    /// This segment with a block written (and synced) by the caller, ending at `end`.
    pub(crate) fn with_block(&self, end: u64, header: BlockHeader, ix: (u64, u32)) -> Segment {
        let mut s = self.clone();
        s.len = end;
        s.blocks.push(BlockRef {
            header,
            index: IndexSrc::Disk(ix.0, ix.1),
        });
        s
    }
}

/// A compacted segment being written to a temporary file.
pub(crate) struct CompactedWriter {
    pub(crate) tmp: PathBuf,
    pub(crate) header: SegHeader,
    dir: PathBuf,
}

impl CompactedWriter {
    /// Starts `<name>.tmp` with the header; returns the writer, the sink for a
    /// `BlockWriter` and the offset where the block starts.
    pub(crate) fn start(dir: &Path, header: SegHeader) -> Result<(Self, BufWriter<File>, u64)> {
        let final_path = path_of(dir, &header);
        let tmp = final_path.with_extension("seg.tmp");
        let parent = final_path.parent().unwrap_or(dir).to_owned();
        fs::create_dir_all(&parent).map_err(io(&parent, "create directory"))?;
        let file = File::create(&tmp).map_err(io(&tmp, "create"))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        let h = header.encode();
        w.write_all(&h).map_err(io(&tmp, "write header"))?;
        Ok((
            CompactedWriter {
                tmp,
                header,
                dir: dir.to_owned(),
            },
            w,
            h.len() as u64,
        ))
    }

    /// Writes the trailer, fsyncs, renames into place and opens the result.
    pub(crate) fn finish(self, mut w: BufWriter<File>, ix: (u64, u32)) -> Result<Segment> {
        let mut t = Vec::with_capacity(TRAILER_LEN);
        t.extend_from_slice(&ix.0.to_le_bytes());
        t.extend_from_slice(&ix.1.to_le_bytes());
        let crc = crc32fast::hash(&t);
        t.extend_from_slice(&crc.to_le_bytes());
        t.extend_from_slice(END_MAGIC);
        w.write_all(&t).map_err(io(&self.tmp, "write trailer"))?;
        let file = w
            .into_inner()
            .map_err(|e| Error::io(&self.tmp, "write", e.into_error()))?;
        file.sync_all().map_err(io(&self.tmp, "fsync"))?;
        drop(file);
        let final_path = path_of(&self.dir, &self.header);
        fs::rename(&self.tmp, &final_path).map_err(io(&final_path, "rename"))?;
        let parent = final_path.parent().unwrap_or(&self.dir).to_owned();
        sync_dir(&parent)?;
        let (seg, report) = Segment::open(&final_path)?;
        match report.problems.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(seg),
        }
    }
}

/// Scans `data` (a whole segment file): the blocks found (rebuilding from their pages those
/// whose index is damaged or was never written), the end of the last good record, and the
/// damage found. Rebuilding a torn block is safe: its write-ahead log still exists and its
/// replay drops what the rebuilt block already has.
fn scan_blocks(path: &Path, seg: &SegHeader, data: &[u8]) -> (Vec<BlockRef>, u64, Vec<Error>) {
    let mut problems = Vec::new();
    let mut blocks: Vec<BlockRef> = Vec::new();
    let mut valid_end = HEADER_LEN as u64;
    // Pages seen per block seq, for rebuilding: (timelines, entries).
    let mut pages = PagesBySeq::new();
    let body = data.get(HEADER_LEN..).unwrap_or(&[]);
    let at = |o: usize| (HEADER_LEN + o) as u64;
    for s in record::scan(body) {
        match s {
            Scanned::Record {
                offset,
                ty,
                payload,
            } => {
                let off = at(offset);
                let rec_len = (record::HEADER_LEN + payload.len()) as u32;
                valid_end = off + u64::from(rec_len);
                match ty {
                    kind::BLOCK_INDEX => match BlockIndex::parse(Arc::from(payload)) {
                        Ok(ix) => {
                            pages.remove(&ix.header.seq);
                            blocks.push(BlockRef {
                                header: ix.header,
                                index: IndexSrc::Disk(off, rec_len),
                            });
                        }
                        Err(e) => problems.push(Error::malformed(path, off, "block index", e)),
                    },
                    kind::CHUNK_PAGE | kind::TIMELINE_PAGE => {
                        if let Err(e) = collect_page(ty, off, rec_len, payload, &mut pages) {
                            problems.push(Error::malformed(path, off, kind::name(ty), e));
                        }
                    }
                    _ => problems.push(Error::Malformed {
                        path: path.to_owned(),
                        offset: off,
                        part: "segment record",
                        field: "type",
                        reason: "not a segment record type",
                    }),
                }
            }
            Scanned::Damaged {
                offset, end, why, ..
            } => problems.push(match why {
                record::Bad::Crc { stored, computed } => Error::Crc {
                    path: path.to_owned(),
                    offset: at(offset),
                    part: "segment record",
                    stored,
                    computed,
                },
                _ => Error::Malformed {
                    path: path.to_owned(),
                    offset: at(offset),
                    part: "segment record",
                    field: if end > offset { "record" } else { "bytes" },
                    reason: why.reason(),
                },
            }),
        }
    }
    // Blocks with pages but no good index: rebuild.
    for (seq, (tls, mut entries)) in pages {
        entries.sort_by_key(|e| e.series);
        entries.dedup_by_key(|e| e.series);
        // What the lost index said is unknown: a raw block came from its segment's window; a
        // rollup block's source is left empty (its data is read, its coverage not assumed).
        let source = if seg.level == 0 {
            (seg.window, seg.window.saturating_add(seg.window_len))
        } else {
            (seg.window, seg.window)
        };
        let header = BlockHeader {
            seq,
            level: seg.level,
            wal_gen: 0,
            source,
            min_t: i64::MIN,
            max_t: entries.iter().map(|e| e.max_t).max().unwrap_or(i64::MIN),
            samples: entries.iter().map(|e| u64::from(e.count)).sum(),
        };
        let ix = BlockIndex::build(header, &tls, &entries);
        blocks.push(BlockRef {
            header,
            index: IndexSrc::Memory(Arc::new(ix)),
        });
    }
    blocks.sort_by_key(|b| b.header.seq);
    (blocks, valid_end, problems)
}

type PagesBySeq = std::collections::BTreeMap<u64, (Vec<(Loc, u32)>, Vec<Entry>)>;

fn collect_page(
    ty: u8,
    off: u64,
    len: u32,
    payload: &[u8],
    pages: &mut PagesBySeq,
) -> Result<(), DecodeError> {
    let (seq, items) = page_items(payload)?;
    let slot = pages.entry(seq).or_default();
    for (item_off, bytes) in items {
        let loc = Loc {
            page_off: off,
            page_len: len,
            off: item_off,
            len: bytes.len() as u32,
        };
        if ty == kind::CHUNK_PAGE {
            let c = decode_chunk(bytes)?;
            slot.1.push(Entry {
                series: c.series,
                count: c.count,
                max_t: c.max_t,
                loc,
            });
        } else {
            let (tl, count, _) = decode_timeline(bytes)?;
            let i = tl as usize;
            if i > 1 << 24 {
                return Err(DecodeError::new("timeline index", "out of range"));
            }
            if slot.0.len() <= i {
                slot.0.resize(
                    i + 1,
                    (
                        Loc {
                            page_off: 0,
                            page_len: 0,
                            off: 0,
                            len: 0,
                        },
                        0,
                    ),
                );
            }
            slot.0[i] = (loc, count);
        }
    }
    Ok(())
}
