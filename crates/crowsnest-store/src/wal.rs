//! The write-ahead log: every accepted batch, appended before `append` returns, so that the
//! head (which lives in memory) survives a kill -9 up to the last sync.
//!
//! ```text
//! wal/<generation>.wal
//! header  "CROWSWAL", u16 version, generation u64, head window i64, crc32
//! records type 4 (wal batch): timestamp i64 LE, then per sample
//!         varint(series << 1 | is_float), value (zigzag varint, or f64 LE)
//! ```
//!
//! One file per head generation: when the head is written out as a block (whose index records
//! the generation), the file is deleted. On open, files of generations already in a block are
//! deleted, the rest are replayed; a torn tail is cut with one log line.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crowsnest_core::batch::Value;

use crate::codec::DecodeError;
use crate::codec::varint::{Cursor, put_i64, put_u64};
use crate::error::{Error, Result};
use crate::record::{self, HeaderError, Scanned, kind};
use crate::segment::{header_error, sync_dir};
use crate::series::SeriesId;

const MAGIC: &[u8; 8] = b"CROWSWAL";
const VERSION: u16 = 1;
const FIELDS: usize = 16;

/// The path of generation `gen`'s log.
pub(crate) fn path_of(dir: &Path, generation: u64) -> PathBuf {
    dir.join("wal").join(format!("{generation:020}.wal"))
}

/// An open log being appended.
#[derive(Debug)]
pub(crate) struct Wal {
    pub(crate) path: PathBuf,
    file: File,
    pub(crate) generation: u64,
    len: u64,
    buf: Vec<u8>,
    start: usize,
    /// Bytes written since the last sync.
    pub(crate) unsynced: u64,
}

impl Wal {
    /// Creates generation `gen`'s log for a head in `window`.
    pub(crate) fn create(dir: &Path, generation: u64, window: i64) -> Result<Wal> {
        let path = path_of(dir, generation);
        let parent = dir.join("wal");
        fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, "create directory", e))?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| Error::io(&path, "create", e))?;
        let mut f = Vec::with_capacity(FIELDS);
        f.extend_from_slice(&generation.to_le_bytes());
        f.extend_from_slice(&window.to_le_bytes());
        let h = record::file_header(MAGIC, VERSION, &f);
        file.write_all_at(&h, 0)
            .map_err(|e| Error::io(&path, "write header", e))?;
        file.sync_all().map_err(|e| Error::io(&path, "fsync", e))?;
        sync_dir(&parent)?;
        Ok(Wal {
            path,
            file,
            generation,
            len: h.len() as u64,
            buf: Vec::with_capacity(64 << 10),
            start: 0,
            unsynced: 0,
        })
    }

    /// Starts a batch record at time `ts`.
    pub(crate) fn begin(&mut self, ts: i64) {
        self.buf.clear();
        self.start = record::begin(&mut self.buf, kind::WAL_BATCH);
        self.buf.extend_from_slice(&ts.to_le_bytes());
    }

    /// Adds a sample to the batch record.
    #[inline]
    pub(crate) fn push(&mut self, series: SeriesId, v: Value) {
        match v {
            Value::Int(i) => {
                put_u64(&mut self.buf, u64::from(series) << 1);
                put_i64(&mut self.buf, i);
            }
            Value::Float(f) => {
                put_u64(&mut self.buf, u64::from(series) << 1 | 1);
                self.buf.extend_from_slice(&f.to_le_bytes());
            }
        }
    }

    /// Writes the batch record (not synced).
    pub(crate) fn end(&mut self) -> Result<()> {
        record::end(&mut self.buf, self.start);
        self.file
            .write_all_at(&self.buf, self.len)
            .map_err(|e| Error::io(&self.path, "write", e))?;
        self.len += self.buf.len() as u64;
        self.unsynced += self.buf.len() as u64;
        Ok(())
    }

    /// A handle to sync outside the store's locks.
    pub(crate) fn sync_handle(&self) -> Result<(File, PathBuf)> {
        let f = self
            .file
            .try_clone()
            .map_err(|e| Error::io(&self.path, "dup", e))?;
        Ok((f, self.path.clone()))
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }
}

/// A replayed batch.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WalBatch {
    pub(crate) ts: i64,
    pub(crate) samples: Vec<(SeriesId, Value)>,
}

pub(crate) fn decode_batch(payload: &[u8]) -> Result<WalBatch, DecodeError> {
    let mut c = Cursor::new(payload);
    let ts = c.i64_le("batch timestamp")?;
    let mut samples = Vec::new();
    while !c.is_empty() {
        let tag = c.varint("sample series")?;
        let series = u32::try_from(tag >> 1)
            .map_err(|_| DecodeError::new("sample series", "exceeds u32"))?;
        let v = if tag & 1 == 0 {
            Value::Int(c.varint_i64("sample value")?)
        } else {
            Value::Float(f64::from_bits(c.u64_le("sample value")?))
        };
        samples.push((series, v));
    }
    Ok(WalBatch { ts, samples })
}

/// What replaying a log found.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    pub(crate) generation: u64,
    pub(crate) window: i64,
    pub(crate) batches: Vec<WalBatch>,
    pub(crate) problems: Vec<Error>,
    /// A torn tail cut: (offset, bytes dropped).
    pub(crate) cut: Option<(u64, u64)>,
}

/// Reads a log, cutting a torn tail (the file is truncated there). A log torn inside its
/// header (killed just after creating it) holds nothing: it is cut to nothing. A damaged
/// header does not stop the records (each has its crc) from being read.
pub(crate) fn replay(path: &Path, generation: u64) -> Result<Replay> {
    let data = fs::read(path).map_err(|e| Error::io(path, "read", e))?;
    let hl = record::header_len(FIELDS);
    let mut r = Replay {
        generation,
        window: i64::MIN,
        ..Default::default()
    };
    match record::read_file_header(&data, MAGIC, VERSION, FIELDS) {
        Ok(f) => {
            let mut a = [0u8; 8];
            a.copy_from_slice(&f[..8]);
            r.generation = u64::from_le_bytes(a);
            a.copy_from_slice(&f[8..16]);
            r.window = i64::from_le_bytes(a);
        }
        Err(HeaderError::Short) => {
            r.cut = Some((0, data.len() as u64));
            fs::write(path, []).map_err(|e| Error::io(path, "truncate", e))?;
            return Ok(r);
        }
        Err(e @ HeaderError::Version(_)) => return Err(header_error(path, "wal", e)),
        Err(e) => r.problems.push(header_error(path, "wal", e)),
    }
    let data = if data.len() >= hl { data } else { Vec::new() };
    for s in record::scan(data.get(hl..).unwrap_or(&[])) {
        match s {
            Scanned::Record {
                offset,
                ty,
                payload,
            } => {
                let off = (hl + offset) as u64;
                if ty != kind::WAL_BATCH {
                    r.problems.push(Error::Malformed {
                        path: path.to_owned(),
                        offset: off,
                        part: "wal record",
                        field: "type",
                        reason: "not a wal batch",
                    });
                    continue;
                }
                match decode_batch(payload) {
                    Ok(b) => r.batches.push(b),
                    Err(e) => r.problems.push(Error::malformed(path, off, "wal batch", e)),
                }
            }
            Scanned::Damaged {
                offset, why, tail, ..
            } => {
                let off = (hl + offset) as u64;
                if tail {
                    r.cut = Some((off, data.len() as u64 - off));
                } else {
                    r.problems.push(Error::Malformed {
                        path: path.to_owned(),
                        offset: off,
                        part: "wal batch",
                        field: "record",
                        reason: why.reason(),
                    });
                }
            }
        }
    }
    if let Some((off, _)) = r.cut {
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| Error::io(path, "open", e))?;
        file.set_len(off)
            .map_err(|e| Error::io(path, "truncate", e))?;
        file.sync_all().map_err(|e| Error::io(path, "fsync", e))?;
    }
    Ok(r)
}

/// The generations of the logs present, sorted.
pub(crate) fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let wdir = dir.join("wal");
    let mut out = Vec::new();
    let rd = match fs::read_dir(&wdir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io(&wdir, "list", e)),
    };
    for e in rd {
        let e = e.map_err(|e| Error::io(&wdir, "list", e))?;
        let name = e.file_name();
        let Some(g) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".wal"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        out.push((g, e.path()));
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_round_trip_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Wal::create(dir.path(), 3, 600).unwrap();
        for i in 0..5i64 {
            w.begin(i * 10);
            w.push(1, Value::Int(i));
            w.push(700, Value::Float(f64::NAN));
            w.end().unwrap();
        }
        let full = w.len();
        drop(w);
        let p = path_of(dir.path(), 3);
        let r = replay(&p, 3).unwrap();
        assert_eq!((r.generation, r.window, r.batches.len()), (3, 600, 5));
        assert_eq!(r.batches[4].samples[0], (1, Value::Int(4)));
        assert!(matches!(r.batches[4].samples[1].1, Value::Float(f) if f.is_nan()));
        // Tear the last record.
        let f = OpenOptions::new().write(true).open(&p).unwrap();
        f.set_len(full - 3).unwrap();
        let r = replay(&p, 3).unwrap();
        assert_eq!(r.batches.len(), 4);
        let (off, _) = r.cut.unwrap();
        assert_eq!(fs::metadata(&p).unwrap().len(), off);
        assert_eq!(list(dir.path()).unwrap(), [(3, p.clone())]);
        // Torn inside its header: nothing in it, cut to nothing.
        f.set_len(7).unwrap();
        let r = replay(&p, 3).unwrap();
        assert_eq!((r.batches.len(), r.cut), (0, Some((0, 7))));
    }
}
