//! Reading one series' chunk out of a block: locate it by the block index, read and verify its
//! page, decode its timeline and columns. [`BlockReader`] keeps the last page and the last
//! timeline decoded, since the series of one container sit next to each other and share both.

use std::sync::Arc;

use crowsnest_core::batch::Value;

use crate::block::{BlockIndex, decode_chunk, decode_timeline};
use crate::codec::{DecodeError, floats, ints, timestamps};
use crate::error::{Error, Result};
use crate::head::HeadChunk;
use crate::record::kind;
use crate::rollup::{self, Partial};
use crate::segment::{BlockRef, Segment};
use crate::series::{SeriesId, ValueKind};

/// Decoded values of one kind.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Values {
    Int(Vec<i64>),
    Float(Vec<f64>),
}

impl Values {
    pub(crate) fn new(k: ValueKind) -> Self {
        match k {
            ValueKind::Int => Values::Int(Vec::new()),
            ValueKind::Float => Values::Float(Vec::new()),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Values::Int(v) => v.len(),
            Values::Float(v) => v.len(),
        }
    }

    pub(crate) fn get(&self, i: usize) -> Value {
        match self {
            Values::Int(v) => Value::Int(v[i]),
            Values::Float(v) => Value::Float(v[i]),
        }
    }

    pub(crate) fn kind(&self) -> ValueKind {
        match self {
            Values::Int(_) => ValueKind::Int,
            Values::Float(_) => ValueKind::Float,
        }
    }

    /// Decodes a column of `n` values of kind `k`.
    pub(crate) fn decode(k: ValueKind, col: &[u8], n: usize) -> Result<Values, DecodeError> {
        Ok(match k {
            ValueKind::Int => {
                let mut v = Vec::new();
                ints::decode(col, n, &mut v)?;
                Values::Int(v)
            }
            ValueKind::Float => {
                let mut v = Vec::new();
                floats::decode(col, n, &mut v)?;
                Values::Float(v)
            }
        })
    }

    /// Encodes with the best choice of the integer codec (or XOR for floats).
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Values::Int(v) => ints::encode(v, out),
            Values::Float(v) => floats::encode(v, out),
        }
    }

    /// Appends `o[from..]`.
    pub(crate) fn extend_from(&mut self, o: &Values, from: usize) {
        match (self, o) {
            (Values::Int(a), Values::Int(b)) => a.extend_from_slice(&b[from..]),
            (Values::Float(a), Values::Float(b)) => a.extend_from_slice(&b[from..]),
            (Values::Int(a), Values::Float(b)) => a.extend(b[from..].iter().map(|&f| f as i64)),
            (Values::Float(a), Values::Int(b)) => a.extend(b[from..].iter().map(|&i| i as f64)),
        }
    }
}

/// One series' data from one block.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SeriesData {
    Raw { ts: Vec<i64>, values: Values },
    Rollup(Vec<Partial>),
}

/// Decodes a head (or frozen head) chunk.
pub(crate) fn decode_head(c: &HeadChunk, ts: &[i64]) -> Result<SeriesData, DecodeError> {
    if ts.len() != c.n as usize {
        return Err(DecodeError::new(
            "head chunk",
            "timeline shorter than its chunk",
        ));
    }
    let values = Values::decode(c.vkind, &c.values, c.n as usize)?;
    Ok(SeriesData::Raw {
        ts: ts.to_vec(),
        values,
    })
}

/// Reads series from one block of a segment.
pub(crate) struct BlockReader<'a> {
    seg: &'a Segment,
    pub(crate) ix: Arc<BlockIndex>,
    page: Option<(u64, Vec<u8>)>,
    tl_page: Option<(u64, Vec<u8>)>,
    tl: Option<(u32, Arc<Vec<Vec<i64>>>)>,
}

impl<'a> BlockReader<'a> {
    pub(crate) fn new(seg: &'a Segment, b: &BlockRef) -> Result<Self> {
        Ok(BlockReader {
            seg,
            ix: seg.index(b)?,
            page: None,
            tl_page: None,
            tl: None,
        })
    }

    fn page(&mut self, off: u64, len: u32, ty: u8) -> Result<&[u8]> {
        let slot = if ty == kind::CHUNK_PAGE {
            &mut self.page
        } else {
            &mut self.tl_page
        };
        if slot.as_ref().is_none_or(|(o, _)| *o != off) {
            *slot = None;
            let p = self.seg.read_record(off, len, ty)?;
            *slot = Some((off, p));
        }
        Ok(slot.as_ref().map_or(&[][..], |(_, p)| p.as_slice()))
    }

    fn malformed(&self, off: u64, part: &'static str, e: DecodeError) -> Error {
        Error::malformed(&self.seg.path, off, part, e)
    }

    fn timeline(&mut self, tl: u32) -> Result<Arc<Vec<Vec<i64>>>> {
        if let Some((i, ts)) = &self.tl
            && *i == tl
        {
            return Ok(ts.clone());
        }
        let Some((loc, count)) = self.ix.timeline(tl) else {
            return Err(self.malformed(
                0,
                "chunk",
                DecodeError::new("chunk timeline", "no such timeline in the block"),
            ));
        };
        let page = self.page(loc.page_off, loc.page_len, kind::TIMELINE_PAGE)?;
        let item = slice(page, loc.off, loc.len);
        let parsed = item
            .ok_or(DecodeError::new("timeline location", "outside its page"))
            .and_then(|b| {
                let (i, n, cols) = decode_timeline(b)?;
                if i != tl || n != count {
                    return Err(DecodeError::new(
                        "timeline",
                        "index or count differs from the block index",
                    ));
                }
                timeline_columns(&cols, n as usize)
            });
        let ts = Arc::new(parsed.map_err(|e| self.malformed(loc.page_off, "timeline page", e))?);
        self.tl = Some((tl, ts.clone()));
        Ok(ts)
    }

    /// The data of `series` in this block, if it has any.
    pub(crate) fn read(&mut self, series: SeriesId) -> Result<Option<SeriesData>> {
        let Some(e) = self.ix.find(series) else {
            return Ok(None);
        };
        let level = self.ix.header.level;
        let page = self.page(e.loc.page_off, e.loc.page_len, kind::CHUNK_PAGE)?;
        let item = slice(page, e.loc.off, e.loc.len)
            .ok_or(DecodeError::new("chunk location", "outside its page"))
            .and_then(decode_chunk)
            .and_then(|c| {
                if c.series != series || c.count != e.count {
                    return Err(DecodeError::new(
                        "chunk",
                        "series or count differs from the block index",
                    ));
                }
                Ok((
                    c.tl,
                    c.start,
                    c.count,
                    c.vkind,
                    c.columns.iter().map(|c| c.to_vec()).collect::<Vec<_>>(),
                ))
            });
        let (tl, start, count, vkind, cols) =
            item.map_err(|err| self.malformed(e.loc.page_off, "chunk page", err))?;
        let tcols = self.timeline(tl)?;
        let refs: Vec<&[u8]> = cols.iter().map(Vec::as_slice).collect();
        let decoded = decode_series(level, &tcols, start, count, vkind, &refs);
        decoded
            .map(Some)
            .map_err(|err| self.malformed(e.loc.page_off, "chunk page", err))
    }
}

/// Decodes a timeline's columns: timestamps (or bucket starts), strictly increasing, then for
/// rollups three integer columns.
pub(crate) fn timeline_columns(cols: &[&[u8]], n: usize) -> Result<Vec<Vec<i64>>, DecodeError> {
    if cols.len() != 1 && cols.len() != 4 {
        return Err(DecodeError::new("timeline", "expected 1 or 4 columns"));
    }
    let mut out = Vec::with_capacity(cols.len());
    for (i, c) in cols.iter().enumerate() {
        let mut v = Vec::new();
        if i == 0 {
            timestamps::decode(c, n, true, &mut v)?;
        } else {
            ints::decode(c, n, &mut v)?;
        }
        out.push(v);
    }
    Ok(out)
}

/// Decodes a chunk of `count` entries at `start..` of its timeline `tl`.
pub(crate) fn decode_series(
    level: u8,
    tl: &[Vec<i64>],
    start: u32,
    count: u32,
    vkind: ValueKind,
    cols: &[&[u8]],
) -> Result<SeriesData, DecodeError> {
    let range = (start as usize)..(start as usize).saturating_add(count as usize);
    let part = |i: usize| {
        tl.get(i)
            .and_then(|c| c.get(range.clone()))
            .ok_or(DecodeError::new("chunk", "range outside its timeline"))
    };
    if level == 0 {
        let ts = part(0)?;
        if tl.len() != 1 {
            return Err(DecodeError::new("raw chunk", "timeline of a rollup"));
        }
        let [col] = cols else {
            return Err(DecodeError::new("raw chunk", "expected one column"));
        };
        let values = Values::decode(vkind, col, count as usize)?;
        Ok(SeriesData::Raw {
            ts: ts.to_vec(),
            values,
        })
    } else {
        if tl.len() != 4 {
            return Err(DecodeError::new(
                "rollup chunk",
                "timeline without counts and offsets",
            ));
        }
        let mut ps = Vec::new();
        rollup::decode(
            [part(0)?, part(1)?, part(2)?, part(3)?],
            cols,
            vkind,
            &mut ps,
        )?;
        Ok(SeriesData::Rollup(ps))
    }
}

fn slice(page: &[u8], off: u32, len: u32) -> Option<&[u8]> {
    page.get(off as usize..(off as usize).checked_add(len as usize)?)
}
