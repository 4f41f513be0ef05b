//! The series log: every series definition, in id order, so ids mean the same after a
//! restart.
//!
//! ```text
//! series.log
//! header  "CROWSSER", u16 version, crc32
//! records type 5 (series definition), see `series::encode_def`
//! ```
//!
//! A definition is written (and, with the write-ahead log, synced) before any sample that
//! uses it. On open a torn tail is cut with one log line; a definition lost to damage in the
//! middle is reported, and if stored data uses its id the store keeps that id as a
//! placeholder (metric `_lost_series_<id>`, no labels) so no new series takes it.
//!
//! Ids need not be dense: when retention has deleted every sample of a series, the series
//! leaves the index and the log is rewritten without it ([`SeriesLog::rewrite`]: a temporary
//! file written whole, synced, renamed over the log), so the log does not grow with container
//! churn; a later series may take the free id. When an id is defined more than once (a reused
//! id whose old definition a crash kept), the last definition is the one in force.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crowsnest_core::batch::{Kind, Labels, Unit};

use crate::error::{Error, Result};
use crate::record::{self, HeaderError, Scanned, kind};
use crate::segment::{header_error, sync_dir};
use crate::series::{SeriesDef, SeriesId, SeriesMeta, ValueKind, decode_def, encode_def};

const MAGIC: &[u8; 8] = b"CROWSSER";
const VERSION: u16 = 1;

/// The open series log.
#[derive(Debug)]
pub(crate) struct SeriesLog {
    pub(crate) path: PathBuf,
    file: File,
    len: u64,
    buf: Vec<u8>,
    /// Whether definitions were written since the last sync.
    pub(crate) dirty: bool,
}

/// What opening the log found.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    pub(crate) defs: Vec<SeriesDef>,
    pub(crate) problems: Vec<Error>,
    pub(crate) cut: Option<(u64, u64)>,
}

impl SeriesLog {
    /// Opens (or creates) `dir/series.log`, returning the definitions in id order.
    pub(crate) fn open(dir: &Path) -> Result<(SeriesLog, Loaded)> {
        let path = dir.join("series.log");
        // A rewrite that stopped before its rename: the log itself is whole.
        let tmp = dir.join("series.log.tmp");
        if tmp.exists() {
            crate::store::remove(&tmp)?;
        }
        let hl = record::header_len(0);
        let mut loaded = Loaded::default();
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::io(&path, "read", e)),
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(&path, "open", e))?;
        let mut len = data.len() as u64;
        if data.len() < hl {
            // New, or torn before its header was whole.
            if !data.is_empty() {
                loaded.cut = Some((0, len));
            }
            let h = record::file_header(MAGIC, VERSION, &[]);
            file.set_len(0)
                .map_err(|e| Error::io(&path, "truncate", e))?;
            file.write_all_at(&h, 0)
                .map_err(|e| Error::io(&path, "write header", e))?;
            file.sync_all().map_err(|e| Error::io(&path, "fsync", e))?;
            sync_dir(dir)?;
            len = h.len() as u64;
        } else {
            match record::read_file_header(&data, MAGIC, VERSION, 0) {
                Ok(_) => {}
                // Written by another version: not ours to touch.
                Err(e @ HeaderError::Version(_)) => {
                    return Err(header_error(&path, "series log", e));
                }
                // Damaged: every record carries its own crc, so read them anyway and write a
                // good header back.
                Err(e) => {
                    loaded.problems.push(header_error(&path, "series log", e));
                    let h = record::file_header(MAGIC, VERSION, &[]);
                    file.write_all_at(&h, 0)
                        .map_err(|e| Error::io(&path, "write header", e))?;
                    file.sync_all().map_err(|e| Error::io(&path, "fsync", e))?;
                }
            }
            for s in record::scan(&data[hl..]) {
                match s {
                    Scanned::Record {
                        offset,
                        ty,
                        payload,
                    } => {
                        let off = (hl + offset) as u64;
                        let def = (ty == kind::SERIES_DEF)
                            .then(|| decode_def(payload))
                            .transpose();
                        match def {
                            Ok(Some(d)) => loaded.defs.push(d),
                            Ok(None) => loaded.problems.push(Error::Malformed {
                                path: path.clone(),
                                offset: off,
                                part: "series log record",
                                field: "type",
                                reason: "not a series definition",
                            }),
                            Err(e) => loaded.problems.push(Error::malformed(
                                &path,
                                off,
                                "series definition",
                                e,
                            )),
                        }
                    }
                    Scanned::Damaged {
                        offset, why, tail, ..
                    } => {
                        let off = (hl + offset) as u64;
                        if tail {
                            loaded.cut = Some((off, len - off));
                        } else {
                            loaded.problems.push(Error::Malformed {
                                path: path.clone(),
                                offset: off,
                                part: "series definition",
                                field: "record",
                                reason: why.reason(),
                            });
                        }
                    }
                }
            }
            if let Some((off, _)) = loaded.cut {
                file.set_len(off)
                    .map_err(|e| Error::io(&path, "truncate", e))?;
                file.sync_all().map_err(|e| Error::io(&path, "fsync", e))?;
                len = off;
            }
        }
        loaded.defs = last_of_each(loaded.defs);
        Ok((
            SeriesLog {
                path,
                file,
                len,
                buf: Vec::new(),
                dirty: false,
            },
            loaded,
        ))
    }

    /// Appends a definition (not synced).
    pub(crate) fn append(&mut self, id: SeriesId, meta: &SeriesMeta) -> Result<()> {
        self.buf.clear();
        let s = record::begin(&mut self.buf, kind::SERIES_DEF);
        encode_def(id, meta, &mut self.buf);
        record::end(&mut self.buf, s);
        self.file
            .write_all_at(&self.buf, self.len)
            .map_err(|e| Error::io(&self.path, "write", e))?;
        self.len += self.buf.len() as u64;
        self.dirty = true;
        Ok(())
    }

    /// Fsyncs if anything was written since the last sync.
    pub(crate) fn sync(&mut self) -> Result<()> {
        if self.dirty {
            self.file
                .sync_data()
                .map_err(|e| Error::io(&self.path, "fsync", e))?;
            self.dirty = false;
        }
        Ok(())
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Replaces the log by one holding `defs` only: written to `series.log.tmp`, synced,
    /// renamed over `series.log`, the directory synced. A crash leaves the old log or the new
    /// one, whole. Returns the new length.
    pub(crate) fn rewrite<'a>(
        &mut self,
        defs: impl Iterator<Item = (SeriesId, &'a SeriesMeta)>,
    ) -> Result<u64> {
        let dir = self.path.parent().unwrap_or(Path::new(".")).to_owned();
        let tmp = dir.join("series.log.tmp");
        let mut data = record::file_header(MAGIC, VERSION, &[]);
        for (id, meta) in defs {
            let s = record::begin(&mut data, kind::SERIES_DEF);
            encode_def(id, meta, &mut data);
            record::end(&mut data, s);
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(|e| Error::io(&tmp, "create", e))?;
        let written = file
            .write_all_at(&data, 0)
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::io(&tmp, "write", e))
            .and_then(|()| {
                fs::rename(&tmp, &self.path).map_err(|e| Error::io(&self.path, "rename", e))
            });
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        sync_dir(&dir)?;
        // The renamed file is the log now (same inode); the old one is gone.
        self.file = file;
        self.len = data.len() as u64;
        self.dirty = false;
        Ok(self.len)
    }
}

/// Definitions sorted by id, one per id: the last one written (a reused id's new series).
fn last_of_each(mut defs: Vec<SeriesDef>) -> Vec<SeriesDef> {
    // Stable: definitions of one id stay in file order.
    defs.sort_by_key(|d| d.id);
    let mut out: Vec<SeriesDef> = Vec::with_capacity(defs.len());
    for d in defs {
        match out.last_mut() {
            Some(last) if last.id == d.id => *last = d,
            _ => out.push(d),
        }
    }
    out
}

/// The stand-in for a series whose definition was lost: its data stays where it is, under
/// its id, reachable by the metric `_lost_series_<id>`; no new series takes the id.
pub(crate) fn placeholder(id: SeriesId) -> SeriesDef {
    SeriesDef {
        id,
        metric: format!("_lost_series_{id}"),
        labels: Labels::default(),
        kind: Kind::Gauge,
        unit: Unit::Count,
        vkind: ValueKind::Float,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn meta(i: usize) -> SeriesMeta {
        SeriesMeta {
            metric: Arc::from(format!("m{i}")),
            labels: Arc::new(Labels::new([("id", format!("/c{i}"))])),
            kind: Kind::Gauge,
            unit: Unit::Bytes,
            vkind: ValueKind::Int,
        }
    }

    #[test]
    fn definitions_persist_and_damage_is_reported_and_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, l) = SeriesLog::open(dir.path()).unwrap();
        assert!(l.defs.is_empty());
        let mut ends = Vec::new();
        for i in 0..4 {
            log.append(i as u32, &meta(i)).unwrap();
            ends.push(log.len());
        }
        drop(log);
        let (_, l) = SeriesLog::open(dir.path()).unwrap();
        assert_eq!(l.defs.len(), 4);
        assert_eq!(l.defs[2].metric, "m2");
        // Damage the second definition's payload: it is reported and left out, the rest stay.
        let p = dir.path().join("series.log");
        let mut data = fs::read(&p).unwrap();
        data[ends[0] as usize + 14] ^= 0xff;
        fs::write(&p, &data).unwrap();
        let (_, l) = SeriesLog::open(dir.path()).unwrap();
        assert_eq!(l.problems.len(), 1, "{:?}", l.problems);
        let ids: Vec<u32> = l.defs.iter().map(|d| d.id).collect();
        assert_eq!(
            ids,
            [0, 2, 3],
            "the damaged definition is missing (the store decides)"
        );
        assert_eq!(l.defs[2].metric, "m3");
        // Tear the tail.
        data[ends[0] as usize + 14] ^= 0xff;
        data.truncate(ends[3] as usize - 2);
        fs::write(&p, &data).unwrap();
        let (_, l) = SeriesLog::open(dir.path()).unwrap();
        assert_eq!((l.defs.len(), l.cut.map(|c| c.0)), (3, Some(ends[2])));
    }

    #[test]
    fn a_rewrite_keeps_only_the_given_definitions_and_later_ones_win() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = SeriesLog::open(dir.path()).unwrap();
        let metas: Vec<SeriesMeta> = (0..50).map(meta).collect();
        for (i, m) in metas.iter().enumerate() {
            log.append(i as u32, m).unwrap();
        }
        let before = log.len();
        let kept = [3usize, 17, 40];
        let after = log
            .rewrite(kept.iter().map(|&i| (i as u32, &metas[i])))
            .unwrap();
        assert!(after < before / 10, "{after} < {before}");
        assert_eq!(
            fs::metadata(dir.path().join("series.log")).unwrap().len(),
            after
        );
        // Appends go on after the rewrite; a reused id's new definition wins.
        log.append(17, &meta(99)).unwrap();
        log.append(5, &meta(5)).unwrap();
        drop(log);
        // A rewrite that stopped before its rename left a temporary file: removed on open.
        fs::write(dir.path().join("series.log.tmp"), b"partial").unwrap();
        let (_, l) = SeriesLog::open(dir.path()).unwrap();
        assert!(l.problems.is_empty() && l.cut.is_none(), "{l:?}");
        let got: Vec<(u32, String)> = l.defs.iter().map(|d| (d.id, d.metric.clone())).collect();
        assert_eq!(
            got,
            [
                (3, "m3".to_owned()),
                (5, "m5".to_owned()),
                (17, "m99".to_owned()),
                (40, "m40".to_owned())
            ]
        );
        assert!(!dir.path().join("series.log.tmp").exists());
    }
}
