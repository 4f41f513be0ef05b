//! A full check of the store's files (`Store::verify`), and of segment bytes given whole
//! ([`check_segment_bytes`], the fuzz target's entry): every record's crc, every page's items,
//! every timeline and column decoded. Problems come back as errors naming the file, the
//! offset and the part; nothing here panics on any input.

use std::path::Path;
use std::sync::Arc;

use crate::block::{BlockIndex, decode_chunk, decode_timeline, page_items};
use crate::chunk::{decode_series, timeline_columns};
use crate::codec::DecodeError;
use crate::error::{Error, Result};
use crate::record::{self, Scanned, kind};
use crate::segment::{self, HEADER_LEN, VERSION};
use crate::store::{Store, read};
use crate::wal;

/// Decoded timelines by (block seq, index).
type Timelines = std::collections::HashMap<(u64, u32), Vec<Vec<i64>>>;

/// Checks a segment file's bytes: header, every record, every page item, every column.
/// Returns the problems found (empty: the segment is sound). `name` is used in errors.
pub fn check_segment_bytes(name: &Path, data: &[u8]) -> Vec<Error> {
    let mut out = Vec::new();
    let fields = match record::read_file_header(data, b"CROWSSEG", VERSION, HEADER_LEN - 14) {
        Ok(f) => f,
        Err(e) => {
            out.push(segment::header_error(name, "segment", e));
            return out;
        }
    };
    let level = fields[0];
    let compacted = fields.get(1).is_some_and(|f| f & 1 != 0);
    let end = if compacted {
        let t = data.len().saturating_sub(24).max(HEADER_LEN);
        let tr = &data[t..];
        let ok = tr.len() == 24
            && &tr[16..] == b"CROWSEND"
            && crc32fast::hash(&tr[..12]) == u32::from_le_bytes([tr[12], tr[13], tr[14], tr[15]]);
        if !ok {
            out.push(Error::Malformed {
                path: name.to_owned(),
                offset: t as u64,
                part: "segment trailer",
                field: "trailer",
                reason: "missing, damaged or truncated",
            });
        }
        t
    } else {
        data.len()
    };
    // Timelines per (block seq, index): decoded, to check chunks against.
    let mut timelines = Timelines::default();
    let mut chunks: Vec<(u64, u64, Vec<u8>)> = Vec::new();
    for s in record::scan(&data[HEADER_LEN..end]) {
        match s {
            Scanned::Record {
                offset,
                ty,
                payload,
            } => {
                let off = (HEADER_LEN + offset) as u64;
                let r = match ty {
                    kind::BLOCK_INDEX => BlockIndex::parse(Arc::from(payload)).map(|_| ()),
                    kind::TIMELINE_PAGE => page_items(payload).and_then(|(seq, items)| {
                        for (_, b) in items {
                            let (tl, n, cols) = decode_timeline(b)?;
                            timelines.insert((seq, tl), timeline_columns(&cols, n as usize)?);
                        }
                        Ok(())
                    }),
                    kind::CHUNK_PAGE => page_items(payload).map(|(seq, items)| {
                        for (_, b) in items {
                            chunks.push((seq, off, b.to_vec()));
                        }
                    }),
                    _ => Err(DecodeError::new("type", "not a segment record type")),
                };
                if let Err(e) = r {
                    out.push(Error::malformed(name, off, kind::name(ty), e));
                }
            }
            Scanned::Damaged { offset, why, .. } => out.push(Error::Malformed {
                path: name.to_owned(),
                offset: (HEADER_LEN + offset) as u64,
                part: "segment record",
                field: "record",
                reason: why.reason(),
            }),
        }
    }
    for (seq, off, b) in chunks {
        if let Err(e) = check_chunk(level, seq, &b, &timelines) {
            out.push(Error::malformed(name, off, "chunk page", e));
        }
    }
    out
}

fn check_chunk(level: u8, seq: u64, b: &[u8], timelines: &Timelines) -> Result<(), DecodeError> {
    let c = decode_chunk(b)?;
    let tl = timelines.get(&(seq, c.tl)).ok_or(DecodeError::new(
        "chunk timeline",
        "no such timeline in the block",
    ))?;
    decode_series(level, tl, c.start, c.count, c.vkind, &c.columns).map(|_| ())
}

impl Store {
    /// Checks every file of the store (segments whole, the series log, the write-ahead
    /// logs); returns the problems found. Reads everything: for tests and `fsck`-like use,
    /// not for a hot path.
    pub fn verify(&self) -> Result<Vec<Error>> {
        let paths: Vec<_> = {
            let cat = read(&self.catalog);
            cat.segs
                .values()
                .map(|s| s.path.clone())
                .chain(cat.unreadable.iter().cloned())
                .collect()
        };
        let mut out = Vec::new();
        for p in paths {
            let data = std::fs::read(&p).map_err(|e| Error::io(&p, "read", e))?;
            out.extend(check_segment_bytes(&p, &data));
        }
        for (_, p) in wal::list(&self.dir)? {
            let data = std::fs::read(&p).map_err(|e| Error::io(&p, "read", e))?;
            let hl = record::header_len(16);
            if data.len() < hl {
                out.push(Error::Malformed {
                    path: p.clone(),
                    offset: 0,
                    part: "wal",
                    field: "header",
                    reason: "file shorter than its header",
                });
                continue;
            }
            for s in record::scan(&data[hl..]) {
                if let Scanned::Damaged { offset, why, .. } = s {
                    out.push(Error::Malformed {
                        path: p.clone(),
                        offset: (hl + offset) as u64,
                        part: "wal batch",
                        field: "record",
                        reason: why.reason(),
                    });
                }
            }
        }
        let sl = self.dir.join("series.log");
        let data = std::fs::read(&sl).map_err(|e| Error::io(&sl, "read", e))?;
        let hl = record::header_len(0);
        for s in record::scan(data.get(hl..).unwrap_or(&[])) {
            if let Scanned::Damaged { offset, why, .. } = s {
                out.push(Error::Malformed {
                    path: sl.clone(),
                    offset: (hl + offset) as u64,
                    part: "series definition",
                    field: "record",
                    reason: why.reason(),
                });
            }
        }
        Ok(out)
    }
}
