//! Framing shared by every file the store writes: a file header (8-byte magic, u16 version,
//! fields, crc32) and records:
//!
//! ```text
//! marker  2 bytes  C5 7E
//! type    u8
//! zero    u8
//! len     u32 LE   payload length
//! crc     u32 LE   crc32 of type, zero, len and payload
//! payload len bytes
//! ```
//!
//! The marker lets a scan find the next record after a damaged one; the crc decides whether a
//! candidate is a record. A scan reports each damaged region, and whether it runs to the end
//! of the file (a torn tail, cut on open) or is followed by good records (corruption, reported
//! and skipped).

use crate::codec::DecodeError;
use crate::codec::varint::Cursor;

pub(crate) const MARKER: [u8; 2] = [0xC5, 0x7E];
pub(crate) const HEADER_LEN: usize = 12;
/// No record is larger than this (a chunk page holds one series' chunk at most, and compacted
/// chunks of a week of 1 s samples stay far below it).
pub(crate) const MAX_PAYLOAD: usize = 256 << 20;

/// Record types.
pub(crate) mod kind {
    pub(crate) const CHUNK_PAGE: u8 = 1;
    pub(crate) const TIMELINE_PAGE: u8 = 2;
    pub(crate) const BLOCK_INDEX: u8 = 3;
    pub(crate) const WAL_BATCH: u8 = 4;
    pub(crate) const SERIES_DEF: u8 = 5;

    /// A name for errors and logs.
    pub(crate) fn name(t: u8) -> &'static str {
        match t {
            CHUNK_PAGE => "chunk page",
            TIMELINE_PAGE => "timeline page",
            BLOCK_INDEX => "block index",
            WAL_BATCH => "wal batch",
            SERIES_DEF => "series definition",
            _ => "record",
        }
    }
}

/// Starts a record of type `ty` at the end of `out`; returns where it starts, for [`end`].
pub(crate) fn begin(out: &mut Vec<u8>, ty: u8) -> usize {
    let start = out.len();
    out.extend_from_slice(&MARKER);
    out.extend_from_slice(&[ty, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    start
}

/// Finishes the record begun at `start`: fills in its length and crc.
pub(crate) fn end(out: &mut [u8], start: usize) {
    let len = (out.len() - start - HEADER_LEN) as u32;
    out[start + 4..start + 8].copy_from_slice(&len.to_le_bytes());
    let crc = crc_of(&out[start + 2..start + 8], &out[start + HEADER_LEN..]);
    out[start + 8..start + 12].copy_from_slice(&crc.to_le_bytes());
}

fn crc_of(head: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(head);
    h.update(payload);
    h.finalize()
}

/// Why bytes at an offset are not a good record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bad {
    /// Fewer bytes than a record header.
    ShortHeader,
    /// No marker where a record should start.
    NoMarker,
    /// The length runs past the end of the data.
    PastEnd,
    /// The crc does not match.
    Crc { stored: u32, computed: u32 },
}

impl Bad {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Bad::ShortHeader => "truncated record header",
            Bad::NoMarker => "no record marker",
            Bad::PastEnd => "record runs past the end of the file",
            Bad::Crc { .. } => "crc mismatch",
        }
    }
}

/// Parses the record at `pos` of `data`: its type and payload, or why not.
pub(crate) fn parse_at(data: &[u8], pos: usize) -> Result<(u8, &[u8]), Bad> {
    let Some(h) = data.get(pos..pos + HEADER_LEN) else {
        return Err(Bad::ShortHeader);
    };
    if h[..2] != MARKER {
        return Err(Bad::NoMarker);
    }
    let len = u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as usize;
    let stored = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
    let start = pos + HEADER_LEN;
    if len > MAX_PAYLOAD || len > data.len() - start {
        return Err(Bad::PastEnd);
    }
    let payload = &data[start..start + len];
    let computed = crc_of(&h[2..8], payload);
    if computed != stored {
        return Err(Bad::Crc { stored, computed });
    }
    Ok((h[2], payload))
}

/// One step of a scan.
#[derive(Debug)]
pub(crate) enum Scanned<'a> {
    /// A good record at `offset` (relative to the scanned data).
    Record {
        offset: usize,
        ty: u8,
        payload: &'a [u8],
    },
    /// Damaged bytes from `offset` to `end`; `tail` when no good record follows.
    Damaged {
        offset: usize,
        end: usize,
        why: Bad,
        tail: bool,
    },
}

/// Scans records from the start of `data` to its end.
pub(crate) fn scan(data: &[u8]) -> impl Iterator<Item = Scanned<'_>> {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        if pos >= data.len() {
            return None;
        }
        match parse_at(data, pos) {
            Ok((ty, payload)) => {
                let offset = pos;
                pos += HEADER_LEN + payload.len();
                Some(Scanned::Record {
                    offset,
                    ty,
                    payload,
                })
            }
            Err(why) => {
                let offset = pos;
                let next = resync(data, pos + 1);
                pos = next.unwrap_or(data.len());
                Some(Scanned::Damaged {
                    offset,
                    end: pos,
                    why,
                    tail: next.is_none(),
                })
            }
        }
    })
}

/// The offset of the next good record at or after `from`.
fn resync(data: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + HEADER_LEN <= data.len() {
        let rel = data[i..].windows(2).position(|w| w == MARKER)?;
        i += rel;
        if parse_at(data, i).is_ok() {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Writes a file header: magic, version, `fields`, crc32 of all of it.
pub(crate) fn file_header(magic: &[u8; 8], version: u16, fields: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(14 + fields.len());
    out.extend_from_slice(magic);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(fields);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// What is wrong with a file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderError {
    Magic,
    Version(u16),
    Short,
    Crc { stored: u32, computed: u32 },
}

/// Reads a header of `fields_len` field bytes written by [`file_header`]; returns the fields.
pub(crate) fn read_file_header<'a>(
    data: &'a [u8],
    magic: &[u8; 8],
    version: u16,
    fields_len: usize,
) -> Result<&'a [u8], HeaderError> {
    let total = 10 + fields_len + 4;
    if data.len() < 8 || &data[..8] != magic {
        return Err(if data.len() < 8 && magic.starts_with(data) {
            HeaderError::Short
        } else {
            HeaderError::Magic
        });
    }
    if data.len() < total {
        return Err(HeaderError::Short);
    }
    let found = u16::from_le_bytes([data[8], data[9]]);
    let body = &data[..10 + fields_len];
    let stored = u32::from_le_bytes([
        data[total - 4],
        data[total - 3],
        data[total - 2],
        data[total - 1],
    ]);
    let computed = crc32fast::hash(body);
    if stored != computed {
        return Err(HeaderError::Crc { stored, computed });
    }
    if found != version {
        return Err(HeaderError::Version(found));
    }
    Ok(&data[10..10 + fields_len])
}

/// Length of a header with `fields_len` field bytes.
pub(crate) const fn header_len(fields_len: usize) -> usize {
    10 + fields_len + 4
}

/// A payload cursor that must be consumed exactly.
pub(crate) fn expect_end(c: &Cursor<'_>, field: &'static str) -> Result<(), DecodeError> {
    if c.is_empty() {
        Ok(())
    } else {
        Err(DecodeError::new(field, "trailing bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three() -> Vec<u8> {
        let mut out = Vec::new();
        for (ty, p) in [(1u8, &b"alpha"[..]), (2, b"beta-beta"), (3, b"")] {
            let s = begin(&mut out, ty);
            out.extend_from_slice(p);
            end(&mut out, s);
        }
        out
    }

    fn kinds(data: &[u8]) -> Vec<String> {
        scan(data)
            .map(|s| match s {
                Scanned::Record { ty, .. } => format!("r{ty}"),
                Scanned::Damaged { tail, .. } => format!("bad{}", if tail { "-tail" } else { "" }),
            })
            .collect()
    }

    #[test]
    fn records_scan_and_damage_is_located() {
        let data = three();
        assert_eq!(kinds(&data), ["r1", "r2", "r3"]);
        // A flipped payload byte in the first record: it is damaged, the rest is found.
        let mut d = data.clone();
        d[HEADER_LEN + 1] ^= 0x40;
        assert_eq!(kinds(&d), ["bad", "r2", "r3"]);
        // A flipped length: same.
        let mut d = data.clone();
        d[5] ^= 0x01;
        assert_eq!(kinds(&d), ["bad", "r2", "r3"]);
        // Truncated inside the last record: a torn tail.
        let d = &data[..data.len() - 3];
        assert_eq!(kinds(d), ["r1", "r2", "bad-tail"]);
        // Truncated inside the middle record: the tail is damaged from there on.
        let d = &data[..HEADER_LEN + 5 + 4];
        assert_eq!(kinds(d), ["r1", "bad-tail"]);
    }

    #[test]
    fn headers_check_magic_version_and_crc() {
        let h = file_header(b"CNTEST\0\0", 1, &[1, 2, 3]);
        assert_eq!(
            read_file_header(&h, b"CNTEST\0\0", 1, 3),
            Ok(&[1u8, 2, 3][..])
        );
        assert_eq!(
            read_file_header(&h, b"CNOTHER\0", 1, 3),
            Err(HeaderError::Magic)
        );
        assert_eq!(
            read_file_header(&h[..10], b"CNTEST\0\0", 1, 3),
            Err(HeaderError::Short)
        );
        let mut bad = h.clone();
        bad[11] ^= 1;
        assert!(matches!(
            read_file_header(&bad, b"CNTEST\0\0", 1, 3),
            Err(HeaderError::Crc { .. })
        ));
        let h2 = file_header(b"CNTEST\0\0", 2, &[1, 2, 3]);
        assert_eq!(
            read_file_header(&h2, b"CNTEST\0\0", 1, 3),
            Err(HeaderError::Version(2))
        );
    }
}
