//! Blocks: the unit the store writes. A block holds, for one time range and one level (raw,
//! 10 s or 1 m), one chunk per series and the timelines those chunks share, as records (see
//! `record.rs`) of three types:
//!
//! ```text
//! timeline page  block seq, then timelines: [len][tl index, count, column count,
//!                                                 column lengths, columns] (raw: the
//!                                                 timestamps; rollups: bucket starts,
//!                                                 counts, first and last sample offsets)
//! chunk page     block seq, then chunks:    [len][series, tl, start, count, value kind,
//!                                                 max_t, column count, column lengths,
//!                                                 columns]
//! block index    seq, level, wal gen, source window, min_t, max_t, samples,
//!                timelines (24 bytes each), entries (36 bytes each, sorted by series)
//! ```
//!
//! Pages are cut at about 4 KiB, so a crc covers a few dozen chunks at most: a damaged byte
//! costs those chunks, and a reader verifies only what it reads. The index is written last and
//! commits the block; fixed-size entries are binary-searched in place. Chunks and timelines
//! describe themselves, so an index that is lost can be rebuilt by a scan of the pages.

use std::io::{self, Write};
use std::sync::Arc;

use crate::codec::DecodeError;
use crate::codec::varint::{Cursor, put_i64, put_u64};
use crate::record::{self, kind};
use crate::series::{SeriesId, ValueKind};

/// Pages close once their payload reaches this size.
const PAGE: usize = 4096;
const TL_ENTRY: usize = 24;
const ENTRY: usize = 36;

/// Where something sits in a segment file: a page record and a slice of its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Loc {
    pub(crate) page_off: u64,
    pub(crate) page_len: u32,
    pub(crate) off: u32,
    pub(crate) len: u32,
}

/// An index entry: one series' chunk in a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) series: SeriesId,
    pub(crate) count: u32,
    pub(crate) max_t: i64,
    pub(crate) loc: Loc,
}

/// A block's header fields (the start of its index record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlockHeader {
    pub(crate) seq: u64,
    pub(crate) level: u8,
    pub(crate) wal_gen: u64,
    /// Raw windows whose samples are in here: [start, end).
    pub(crate) source: (i64, i64),
    pub(crate) min_t: i64,
    pub(crate) max_t: i64,
    pub(crate) samples: u64,
}

/// A chunk as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChunkBody<'a> {
    pub(crate) series: SeriesId,
    pub(crate) tl: u32,
    pub(crate) start: u32,
    pub(crate) count: u32,
    pub(crate) vkind: ValueKind,
    pub(crate) max_t: i64,
    pub(crate) columns: Vec<&'a [u8]>,
}

pub(crate) fn decode_chunk(b: &[u8]) -> Result<ChunkBody<'_>, DecodeError> {
    let mut c = Cursor::new(b);
    let series = c.varint_u32("chunk series")?;
    let tl = c.varint_u32("chunk timeline")?;
    let start = c.varint_u32("chunk start")?;
    let count = c.varint_u32("chunk count")?;
    let vkind = match c.u8("chunk value kind")? {
        0 => ValueKind::Int,
        1 => ValueKind::Float,
        _ => return Err(DecodeError::new("chunk value kind", "unknown code")),
    };
    let max_t = c.varint_i64("chunk max_t")?;
    let ncols = usize::from(c.u8("chunk column count")?);
    let mut lens = Vec::with_capacity(ncols);
    for _ in 0..ncols {
        lens.push(c.len(b.len(), "chunk column length")?);
    }
    let mut columns = Vec::with_capacity(ncols);
    for n in lens {
        columns.push(c.bytes(n, "chunk column")?);
    }
    record::expect_end(&c, "chunk")?;
    Ok(ChunkBody {
        series,
        tl,
        start,
        count,
        vkind,
        max_t,
        columns,
    })
}

/// A timeline as stored: its index in the block, its count and its encoded columns.
pub(crate) fn decode_timeline(b: &[u8]) -> Result<(u32, u32, Vec<&[u8]>), DecodeError> {
    let mut c = Cursor::new(b);
    let tl = c.varint_u32("timeline index")?;
    let count = c.varint_u32("timeline count")?;
    let ncols = usize::from(c.u8("timeline column count")?);
    let mut lens = Vec::with_capacity(ncols);
    for _ in 0..ncols {
        lens.push(c.len(b.len(), "timeline column length")?);
    }
    let mut cols = Vec::with_capacity(ncols);
    for n in lens {
        cols.push(c.bytes(n, "timeline column")?);
    }
    record::expect_end(&c, "timeline")?;
    Ok((tl, count, cols))
}

/// The items of a page payload: its block seq and each item's offset and bytes.
/// A page's block seq and its items (offset in the payload, bytes).
pub(crate) type PageItems<'a> = (u64, Vec<(u32, &'a [u8])>);

pub(crate) fn page_items(payload: &[u8]) -> Result<PageItems<'_>, DecodeError> {
    let mut c = Cursor::new(payload);
    let seq = c.varint("page block seq")?;
    let mut items = Vec::new();
    while !c.is_empty() {
        let n = c.len(c.remaining(), "page item length")?;
        let off = c.pos() as u32;
        items.push((off, c.bytes(n, "page item")?));
    }
    Ok((seq, items))
}

struct Page {
    ty: u8,
    buf: Vec<u8>,
    /// Items not yet located: (timeline index or entry index, offset, length).
    pending: Vec<(usize, u32, u32)>,
}

impl Page {
    fn new(ty: u8, seq: u64) -> Self {
        let mut buf = Vec::with_capacity(PAGE + 512);
        record::begin(&mut buf, ty);
        put_u64(&mut buf, seq);
        Page {
            ty,
            buf,
            pending: Vec::new(),
        }
    }

    fn add(&mut self, slot: usize, item: &[u8]) {
        put_u64(&mut self.buf, item.len() as u64);
        let off = (self.buf.len() - record::HEADER_LEN) as u32;
        self.buf.extend_from_slice(item);
        self.pending.push((slot, off, item.len() as u32));
    }
}

/// What a chunk is: `count` samples of `series` at `start..` of timeline `tl`, spanning
/// `min_t..=max_t`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChunkSpec {
    pub(crate) series: SeriesId,
    pub(crate) tl: u32,
    pub(crate) start: u32,
    pub(crate) count: u32,
    pub(crate) vkind: ValueKind,
    pub(crate) min_t: i64,
    pub(crate) max_t: i64,
}

/// Writes one block's records to `out`, page by page.
pub(crate) struct BlockWriter<W: Write> {
    out: W,
    offset: u64,
    header: BlockHeader,
    chunks: Page,
    timelines: Page,
    tl_locs: Vec<(Loc, u32)>,
    entries: Vec<Entry>,
    item: Vec<u8>,
}

impl<W: Write> BlockWriter<W> {
    /// A block starting at file offset `offset`. `header.min_t`, `max_t` and `samples` are
    /// computed from the chunks added.
    pub(crate) fn new(out: W, offset: u64, mut header: BlockHeader) -> Self {
        header.min_t = i64::MAX;
        header.max_t = i64::MIN;
        header.samples = 0;
        BlockWriter {
            out,
            offset,
            chunks: Page::new(kind::CHUNK_PAGE, header.seq),
            timelines: Page::new(kind::TIMELINE_PAGE, header.seq),
            header,
            tl_locs: Vec::new(),
            entries: Vec::new(),
            item: Vec::new(),
        }
    }

    /// Adds a timeline (encoded columns of `count` entries); returns its index.
    pub(crate) fn timeline(&mut self, count: u32, columns: &[&[u8]]) -> io::Result<u32> {
        let tl = self.tl_locs.len() as u32;
        self.item.clear();
        put_u64(&mut self.item, u64::from(tl));
        put_u64(&mut self.item, u64::from(count));
        self.item.push(columns.len() as u8);
        for c in columns {
            put_u64(&mut self.item, c.len() as u64);
        }
        for c in columns {
            self.item.extend_from_slice(c);
        }
        self.tl_locs.push((
            Loc {
                page_off: 0,
                page_len: 0,
                off: 0,
                len: 0,
            },
            count,
        ));
        let item = std::mem::take(&mut self.item);
        self.timelines.add(tl as usize, &item);
        self.item = item;
        if self.timelines.buf.len() >= PAGE {
            self.close_page(kind::TIMELINE_PAGE)?;
        }
        Ok(tl)
    }

    /// Adds a series' chunk (see [`ChunkSpec`]) with its columns. Series must come in
    /// increasing order.
    pub(crate) fn chunk(&mut self, spec: ChunkSpec, columns: &[&[u8]]) -> io::Result<()> {
        let ChunkSpec {
            series,
            tl,
            start,
            count,
            vkind,
            min_t,
            max_t,
        } = spec;
        debug_assert!(self.entries.last().is_none_or(|e| e.series < series));
        self.item.clear();
        put_u64(&mut self.item, u64::from(series));
        put_u64(&mut self.item, u64::from(tl));
        put_u64(&mut self.item, u64::from(start));
        put_u64(&mut self.item, u64::from(count));
        self.item.push(match vkind {
            ValueKind::Int => 0,
            ValueKind::Float => 1,
        });
        put_i64(&mut self.item, max_t);
        self.item.push(columns.len() as u8);
        for c in columns {
            put_u64(&mut self.item, c.len() as u64);
        }
        for c in columns {
            self.item.extend_from_slice(c);
        }
        let slot = self.entries.len();
        self.entries.push(Entry {
            series,
            count,
            max_t,
            loc: Loc {
                page_off: 0,
                page_len: 0,
                off: 0,
                len: 0,
            },
        });
        let item = std::mem::take(&mut self.item);
        self.chunks.add(slot, &item);
        self.item = item;
        self.header.min_t = self.header.min_t.min(min_t);
        self.header.max_t = self.header.max_t.max(max_t);
        self.header.samples += u64::from(count);
        if self.chunks.buf.len() >= PAGE {
            self.close_page(kind::CHUNK_PAGE)?;
        }
        Ok(())
    }

    fn close_page(&mut self, ty: u8) -> io::Result<()> {
        let seq = self.header.seq;
        let page = if ty == kind::CHUNK_PAGE {
            &mut self.chunks
        } else {
            &mut self.timelines
        };
        if page.pending.is_empty() {
            return Ok(());
        }
        let mut done = std::mem::replace(page, Page::new(page.ty, seq));
        record::end(&mut done.buf, 0);
        let page_len = done.buf.len() as u32;
        for &(slot, off, len) in &done.pending {
            let loc = Loc {
                page_off: self.offset,
                page_len,
                off,
                len,
            };
            if ty == kind::CHUNK_PAGE {
                self.entries[slot].loc = loc;
            } else {
                self.tl_locs[slot].0 = loc;
            }
        }
        self.out.write_all(&done.buf)?;
        self.offset += u64::from(page_len);
        Ok(())
    }

    /// Writes the open pages and the index; returns the sink, the header and where the index
    /// record is (offset, length).
    pub(crate) fn finish(mut self) -> io::Result<(W, BlockHeader, u64, u32)> {
        self.close_page(kind::TIMELINE_PAGE)?;
        self.close_page(kind::CHUNK_PAGE)?;
        if self.header.samples == 0 {
            self.header.min_t = 0;
            self.header.max_t = 0;
        }
        let mut buf =
            Vec::with_capacity(64 + self.tl_locs.len() * TL_ENTRY + self.entries.len() * ENTRY);
        let start = record::begin(&mut buf, kind::BLOCK_INDEX);
        encode_header(&self.header, &mut buf);
        put_u64(&mut buf, self.tl_locs.len() as u64);
        for (loc, count) in &self.tl_locs {
            put_loc(&mut buf, loc);
            buf.extend_from_slice(&count.to_le_bytes());
        }
        put_u64(&mut buf, self.entries.len() as u64);
        for e in &self.entries {
            buf.extend_from_slice(&e.series.to_le_bytes());
            buf.extend_from_slice(&e.count.to_le_bytes());
            buf.extend_from_slice(&e.max_t.to_le_bytes());
            put_loc(&mut buf, &e.loc);
        }
        record::end(&mut buf, start);
        self.out.write_all(&buf)?;
        Ok((self.out, self.header, self.offset, buf.len() as u32))
    }
}

fn put_loc(buf: &mut Vec<u8>, l: &Loc) {
    buf.extend_from_slice(&l.page_off.to_le_bytes());
    buf.extend_from_slice(&l.page_len.to_le_bytes());
    buf.extend_from_slice(&l.off.to_le_bytes());
    buf.extend_from_slice(&l.len.to_le_bytes());
}

fn encode_header(h: &BlockHeader, buf: &mut Vec<u8>) {
    put_u64(buf, h.seq);
    buf.push(h.level);
    put_u64(buf, h.wal_gen);
    put_i64(buf, h.source.0);
    put_i64(buf, h.source.1);
    put_i64(buf, h.min_t);
    put_i64(buf, h.max_t);
    put_u64(buf, h.samples);
}

fn loc_at(b: &[u8]) -> Loc {
    let u64_at = |i: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[i..i + 8]);
        u64::from_le_bytes(a)
    };
    let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    Loc {
        page_off: u64_at(0),
        page_len: u32_at(8),
        off: u32_at(12),
        len: u32_at(16),
    }
}

/// A block index record, parsed enough to look series up in place.
#[derive(Debug, Clone)]
pub(crate) struct BlockIndex {
    pub(crate) header: BlockHeader,
    payload: Arc<[u8]>,
    timelines: (usize, usize),
    entries: (usize, usize),
}

impl BlockIndex {
    /// Parses an index record's payload.
    pub(crate) fn parse(payload: Arc<[u8]>) -> Result<Self, DecodeError> {
        let mut c = Cursor::new(&payload);
        let header = BlockHeader {
            seq: c.varint("block seq")?,
            level: c.u8("block level")?,
            wal_gen: c.varint("block wal gen")?,
            source: (
                c.varint_i64("block source start")?,
                c.varint_i64("block source end")?,
            ),
            min_t: c.varint_i64("block min_t")?,
            max_t: c.varint_i64("block max_t")?,
            samples: c.varint("block samples")?,
        };
        let ntl = c.len(c.remaining() / TL_ENTRY, "timeline count")?;
        let tl_at = c.pos();
        c.bytes(ntl * TL_ENTRY, "timelines")?;
        let nen = c.len(c.remaining() / ENTRY, "entry count")?;
        let en_at = c.pos();
        c.bytes(nen * ENTRY, "entries")?;
        record::expect_end(&c, "block index")?;
        let ix = BlockIndex {
            header,
            timelines: (tl_at, ntl),
            entries: (en_at, nen),
            payload,
        };
        let mut prev: Option<SeriesId> = None;
        for i in 0..nen {
            let e = ix.entry_at(i);
            if prev.is_some_and(|p| p >= e.series) {
                return Err(DecodeError::new("entries", "not sorted by series"));
            }
            prev = Some(e.series);
        }
        Ok(ix)
    }

    /// The same index built from parts (when rebuilding from a scan).
    pub(crate) fn build(header: BlockHeader, timelines: &[(Loc, u32)], entries: &[Entry]) -> Self {
        let mut buf = Vec::new();
        encode_header(&header, &mut buf);
        put_u64(&mut buf, timelines.len() as u64);
        for (loc, count) in timelines {
            put_loc(&mut buf, loc);
            buf.extend_from_slice(&count.to_le_bytes());
        }
        put_u64(&mut buf, entries.len() as u64);
        for e in entries {
            buf.extend_from_slice(&e.series.to_le_bytes());
            buf.extend_from_slice(&e.count.to_le_bytes());
            buf.extend_from_slice(&e.max_t.to_le_bytes());
            put_loc(&mut buf, &e.loc);
        }
        // Our own encoding of valid parts: parsing it cannot fail unless entries are unsorted,
        // which the caller guarantees.
        let payload: Arc<[u8]> = Arc::from(buf);
        BlockIndex::parse(payload.clone()).unwrap_or(BlockIndex {
            header,
            payload,
            timelines: (0, 0),
            entries: (0, 0),
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.1
    }

    pub(crate) fn entry_at(&self, i: usize) -> Entry {
        let b = &self.payload[self.entries.0 + i * ENTRY..self.entries.0 + (i + 1) * ENTRY];
        let mut t = [0u8; 8];
        t.copy_from_slice(&b[8..16]);
        Entry {
            series: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            count: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            max_t: i64::from_le_bytes(t),
            loc: loc_at(&b[16..]),
        }
    }

    /// The entry of `series`.
    pub(crate) fn find(&self, series: SeriesId) -> Option<Entry> {
        let (mut lo, mut hi) = (0, self.entries.1);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let e = self.entry_at(mid);
            match e.series.cmp(&series) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(e),
            }
        }
        None
    }

    /// Timeline `tl`: where it is and how many timestamps it has.
    pub(crate) fn timeline(&self, tl: u32) -> Option<(Loc, u32)> {
        let i = tl as usize;
        if i >= self.timelines.1 {
            return None;
        }
        let b =
            &self.payload[self.timelines.0 + i * TL_ENTRY..self.timelines.0 + (i + 1) * TL_ENTRY];
        Some((loc_at(b), u32::from_le_bytes([b[20], b[21], b[22], b[23]])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_indexes_its_pages() {
        let header = BlockHeader {
            seq: 9,
            level: 0,
            wal_gen: 3,
            source: (0, 60),
            min_t: 0,
            max_t: 0,
            samples: 0,
        };
        let mut w = BlockWriter::new(Vec::new(), 100, header);
        let tl = w.timeline(3, &[b"tcol"]).unwrap();
        let big = vec![7u8; 5000];
        for s in [2u32, 5, 9] {
            let col: &[u8] = if s == 5 { &big } else { b"vals" };
            w.chunk(
                ChunkSpec {
                    series: s,
                    tl,
                    start: 0,
                    count: 3,
                    vkind: ValueKind::Int,
                    min_t: 10,
                    max_t: 30 + i64::from(s),
                },
                &[col],
            )
            .unwrap();
        }
        let (buf, h, ix_off, ix_len) = w.finish().unwrap();
        assert_eq!((h.min_t, h.max_t, h.samples), (10, 39, 9));
        let at = |off: u64| (off - 100) as usize;
        let (ty, payload) = record::parse_at(&buf, at(ix_off)).unwrap();
        assert_eq!(
            (ty, payload.len() + record::HEADER_LEN),
            (kind::BLOCK_INDEX, ix_len as usize)
        );
        let ix = BlockIndex::parse(Arc::from(payload)).unwrap();
        assert_eq!(ix.header, h);
        assert_eq!(ix.len(), 3);
        assert!(ix.find(3).is_none());
        let e = ix.find(5).unwrap();
        let (_, page) = record::parse_at(&buf, at(e.loc.page_off)).unwrap();
        let body = &page[e.loc.off as usize..(e.loc.off + e.loc.len) as usize];
        let c = decode_chunk(body).unwrap();
        assert_eq!((c.series, c.count, c.max_t), (5, 3, 35));
        assert_eq!(c.columns, [&big[..]]);
        let (loc, n) = ix.timeline(0).unwrap();
        let (_, page) = record::parse_at(&buf, at(loc.page_off)).unwrap();
        let (tl, count, col) =
            decode_timeline(&page[loc.off as usize..(loc.off + loc.len) as usize]).unwrap();
        assert_eq!((tl, count, n, col), (0, 3, 3, vec![&b"tcol"[..]]));
        let rebuilt = BlockIndex::build(h, &[(loc, n)], &[ix.entry_at(0), e, ix.entry_at(2)]);
        assert_eq!(rebuilt.find(5), Some(e));
    }
}
