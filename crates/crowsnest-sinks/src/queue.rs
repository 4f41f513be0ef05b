//! The durable on-disk queue between the pipeline and one sink.
//!
//! A directory of segment files named by the sequence number of their first record
//! (`00000000000000000042.seg`). Each segment starts with [`SEGMENT_MAGIC`] and a version;
//! each record is `len u32 | crc32 u32 | items u32 | payload`, little-endian, the crc over
//! `items` and `payload`. Records are appended to the last segment; a new segment starts when
//! the last one would pass the segment size. `cursor` holds the sequence number of the next
//! record to deliver (magic, version, `u64`, crc), rewritten (write + rename) after every
//! delivery.
//!
//! * Bounded: the segments never hold more than `max_bytes`. An append that would pass it
//!   drops the oldest segment first (the next oldest while the oldest is being sent), and its
//!   undelivered records are counted ([`Drops::disk_full`]), never silently.
//! * Crash-safe: on open every record's crc is checked; a torn tail (a record cut short or
//!   with a bad crc) is cut off with one log line and counted ([`Drops::corrupt`]).
//! * Ordered: records are delivered in append order. Delivery is at least once: a record
//!   delivered just before a crash, with the cursor not yet rewritten, is delivered again
//!   after the restart (InfluxDB and Prometheus keep one value per series and timestamp, so
//!   nothing is stored twice).

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// First bytes of every segment file.
pub const SEGMENT_MAGIC: &[u8; 4] = b"CNSQ";
/// First bytes of the cursor file.
pub const CURSOR_MAGIC: &[u8; 4] = b"CNSC";
/// Format version of both files.
pub const VERSION: u16 = 1;
const HEADER_LEN: u64 = 8;
const RECORD_HEADER_LEN: u64 = 12;
const CURSOR_LEN: usize = 20;

/// A queue operation that failed, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// A file or directory could not be read or written.
    #[error("sink queue: {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A record larger than the whole budget.
    #[error("sink queue {dir}: a record of {len} bytes exceeds the queue's {max} bytes")]
    TooLarge {
        /// The queue directory.
        dir: PathBuf,
        /// Record size.
        len: u64,
        /// The budget.
        max: u64,
    },
}

type Result<T, E = QueueError> = std::result::Result<T, E>;

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> QueueError + '_ {
    move |source| QueueError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Records and items dropped by the queue, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drops {
    /// Records dropped because the disk budget was full (oldest first).
    pub disk_full: u64,
    /// Items (points, series) in those records.
    pub disk_full_items: u64,
    /// Records lost to a torn or corrupt file (found on open or on read).
    pub corrupt: u64,
}

#[derive(Debug)]
struct Segment {
    base: u64,
    path: PathBuf,
    /// Records in the file.
    records: u64,
    /// Size of the file.
    bytes: u64,
    /// Items of the records not yet delivered.
    unread_items: u64,
    /// Payload bytes of the records not yet delivered.
    unread_bytes: u64,
}

/// Where the next undelivered record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ReadPos {
    seq: u64,
    offset: u64,
}

/// Records read for delivery, to be [`Queue::commit`]ted once delivered (or dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peeked {
    segment: u64,
    first_seq: u64,
    end: ReadPos,
    /// Number of records.
    pub records: u64,
    /// Sum of their items.
    pub items: u64,
    /// Payload bytes.
    pub bytes: u64,
}

/// The queue. Not thread-safe by itself: the sink keeps it behind a mutex.
#[derive(Debug)]
pub struct Queue {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    segments: VecDeque<Segment>,
    /// Append handle of the last segment.
    active: Option<File>,
    read: ReadPos,
    next_seq: u64,
    total_bytes: u64,
    drops: Drops,
    buf: Vec<u8>,
    /// The segment whose records are being delivered (peeked, not yet committed or
    /// abandoned): the budget drops the next oldest segment instead of this one.
    inflight: Option<u64>,
}

fn segment_name(base: u64) -> String {
    format!("{base:020}.seg")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn segment_header() -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[..4].copy_from_slice(SEGMENT_MAGIC);
    h[4..6].copy_from_slice(&VERSION.to_le_bytes());
    h
}

fn record_crc(items: u32, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&items.to_le_bytes());
    h.update(payload);
    h.finalize()
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

/// What a scan of one segment found.
struct Scan {
    records: u64,
    items_from: Vec<u64>,
    lens: Vec<u64>,
    offsets: Vec<u64>,
    valid_len: u64,
    file_len: u64,
}

/// Reads every record of a segment, checking crcs; stops at the first bad or short record.
fn scan(path: &Path) -> io::Result<Option<Scan>> {
    let file = File::open(path)?;
    let file_len = file.metadata()?.len();
    let mut r = BufReader::with_capacity(1 << 16, file);
    let mut header = [0u8; HEADER_LEN as usize];
    if r.read_exact(&mut header).is_err() || header != segment_header() {
        return Ok(None);
    }
    let mut s = Scan {
        records: 0,
        items_from: Vec::new(),
        lens: Vec::new(),
        offsets: Vec::new(),
        valid_len: HEADER_LEN,
        file_len,
    };
    let mut payload = Vec::new();
    loop {
        let mut rh = [0u8; RECORD_HEADER_LEN as usize];
        if r.read_exact(&mut rh).is_err() {
            break;
        }
        let len = u64::from(u32_at(&rh, 0));
        if s.valid_len + RECORD_HEADER_LEN + len > file_len {
            break;
        }
        payload.resize(len as usize, 0);
        if r.read_exact(&mut payload).is_err() {
            break;
        }
        let items = u32_at(&rh, 8);
        if record_crc(items, &payload) != u32_at(&rh, 4) {
            break;
        }
        s.offsets.push(s.valid_len);
        s.items_from.push(u64::from(items));
        s.lens.push(len);
        s.records += 1;
        s.valid_len += RECORD_HEADER_LEN + len;
    }
    Ok(Some(s))
}

impl Queue {
    /// Opens (or creates) the queue in `dir`, holding at most `max_bytes`. Checks every
    /// record, cuts torn tails (logged once each) and finds where delivery stopped.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Queue> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut bases: Vec<u64> = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_err(dir))? {
            let entry = entry.map_err(io_err(dir))?;
            if let Some(base) = entry.file_name().to_str().and_then(parse_segment_name) {
                bases.push(base);
            }
        }
        bases.sort_unstable();
        let cursor = read_cursor(&dir.join("cursor"));
        let mut q = Queue {
            dir: dir.to_owned(),
            max_bytes,
            segment_bytes: (max_bytes / 16).clamp(64 << 10, 64 << 20),
            segments: VecDeque::new(),
            active: None,
            read: ReadPos { seq: 0, offset: 0 },
            next_seq: cursor.unwrap_or(0),
            total_bytes: 0,
            drops: Drops::default(),
            buf: Vec::new(),
            inflight: None,
        };
        let mut read: Option<ReadPos> = None;
        for base in bases {
            let path = dir.join(segment_name(base));
            let Some(s) = scan(&path).map_err(io_err(&path))? else {
                let aside = path.with_extension("corrupt");
                tracing::error!(
                    file = %path.display(),
                    "sink queue: not a crowsnest queue segment (bad magic or version); moved to {}",
                    aside.display()
                );
                fs::rename(&path, &aside).map_err(io_err(&path))?;
                continue;
            };
            if s.valid_len < s.file_len {
                tracing::warn!(
                    file = %path.display(),
                    offset = s.valid_len,
                    bytes = s.file_len - s.valid_len,
                    "sink queue: cut a torn tail (a record cut short or with a bad crc)"
                );
                q.drops.corrupt += 1;
                let f = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(io_err(&path))?;
                f.set_len(s.valid_len).map_err(io_err(&path))?;
            }
            // Records before the cursor were delivered.
            let start = cursor.map_or(0, |c| c.saturating_sub(base)).min(s.records);
            if read.is_none() && start < s.records {
                read = Some(ReadPos {
                    seq: base + start,
                    offset: s.offsets[start as usize],
                });
            }
            q.total_bytes += s.valid_len;
            q.next_seq = q.next_seq.max(base + s.records);
            q.segments.push_back(Segment {
                base,
                path,
                records: s.records,
                bytes: s.valid_len,
                unread_items: s.items_from[start as usize..].iter().sum(),
                unread_bytes: s.lens[start as usize..].iter().sum(),
            });
        }
        q.read = match read {
            Some(r) => r,
            None => q.end_pos(),
        };
        // Fully delivered segments are not needed.
        q.release_delivered()?;
        Ok(q)
    }

    /// The position after the last record.
    fn end_pos(&self) -> ReadPos {
        match self.segments.back() {
            Some(s) => ReadPos {
                seq: s.base + s.records,
                offset: s.bytes,
            },
            None => ReadPos {
                seq: self.next_seq,
                offset: HEADER_LEN,
            },
        }
    }

    /// The queue directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Drops so far.
    pub fn drops(&self) -> Drops {
        self.drops
    }

    /// Undelivered records.
    pub fn pending_records(&self) -> u64 {
        self.segments
            .iter()
            .map(|s| (s.base + s.records).saturating_sub(self.read.seq.max(s.base)))
            .sum()
    }

    /// Undelivered items.
    pub fn pending_items(&self) -> u64 {
        self.segments.iter().map(|s| s.unread_items).sum()
    }

    /// Payload bytes of the undelivered records.
    pub fn pending_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.unread_bytes).sum()
    }

    /// Bytes on disk.
    pub fn bytes(&self) -> u64 {
        self.total_bytes
    }

    /// Appends one record holding `items` items. Drops the oldest records first when the
    /// budget would be passed. Returns the records dropped to make room.
    pub fn append(&mut self, payload: &[u8], items: u32) -> Result<u64> {
        let len = RECORD_HEADER_LEN + payload.len() as u64;
        if len + HEADER_LEN > self.max_bytes || payload.len() > u32::MAX as usize {
            return Err(QueueError::TooLarge {
                dir: self.dir.clone(),
                len,
                max: self.max_bytes,
            });
        }
        let mut dropped = 0;
        // Each round either makes room or deletes a segment: at most one round per segment.
        loop {
            let needs_new = self.active.is_none()
                || self
                    .segments
                    .back()
                    .is_none_or(|s| s.records > 0 && s.bytes + len > self.segment_bytes);
            let extra = if needs_new { HEADER_LEN } else { 0 };
            if self.total_bytes + len + extra <= self.max_bytes || self.segments.is_empty() {
                if needs_new {
                    self.start_segment()?;
                }
                break;
            }
            dropped += self.drop_oldest()?;
        }
        self.buf.clear();
        self.buf
            .extend_from_slice(&(payload.len() as u32).to_le_bytes());
        self.buf
            .extend_from_slice(&record_crc(items, payload).to_le_bytes());
        self.buf.extend_from_slice(&items.to_le_bytes());
        self.buf.extend_from_slice(payload);
        let seg = self
            .segments
            .back_mut()
            .expect("a segment was just ensured");
        let file = self.active.as_mut().expect("the last segment is open");
        if let Err(e) = file.write_all(&self.buf) {
            // Leave no partial record behind: the next open would cut it anyway.
            let _ = file.set_len(seg.bytes);
            return Err(QueueError::Io {
                path: seg.path.clone(),
                source: e,
            });
        }
        seg.records += 1;
        seg.bytes += len;
        seg.unread_items += u64::from(items);
        seg.unread_bytes += payload.len() as u64;
        self.total_bytes += len;
        self.next_seq += 1;
        Ok(dropped)
    }

    fn start_segment(&mut self) -> Result<()> {
        let base = self.next_seq;
        let path = self.dir.join(segment_name(base));
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        f.write_all(&segment_header()).map_err(io_err(&path))?;
        if self.segments.is_empty() {
            self.read = ReadPos {
                seq: base,
                offset: HEADER_LEN,
            };
        }
        self.segments.push_back(Segment {
            base,
            path,
            records: 0,
            bytes: HEADER_LEN,
            unread_items: 0,
            unread_bytes: 0,
        });
        self.total_bytes += HEADER_LEN;
        self.active = Some(f);
        Ok(())
    }

    /// Deletes the oldest segment (the next oldest when the oldest is being delivered);
    /// returns the undelivered records it held (counted).
    fn drop_oldest(&mut self) -> Result<u64> {
        let skip_inflight =
            self.segments.len() > 1 && self.segments.front().map(|s| s.base) == self.inflight;
        let Some(seg) = self.segments.remove(usize::from(skip_inflight)) else {
            return Ok(0);
        };
        if self.segments.back().is_none_or(|b| b.base < seg.base) {
            // It was the segment being appended to.
            self.active = None;
        }
        let end = seg.base + seg.records;
        let lost = end.saturating_sub(self.read.seq.max(seg.base));
        self.drops.disk_full += lost;
        self.drops.disk_full_items += seg.unread_items;
        self.total_bytes -= seg.bytes;
        if self.inflight == Some(seg.base) {
            self.inflight = None;
        }
        if self.read.seq < end && !skip_inflight {
            self.read = match self.segments.front() {
                Some(next) => ReadPos {
                    seq: next.base,
                    offset: HEADER_LEN,
                },
                None => ReadPos {
                    seq: end,
                    offset: HEADER_LEN,
                },
            };
        }
        if lost > 0 {
            tracing::warn!(
                dir = %self.dir.display(),
                records = lost,
                items = seg.unread_items,
                "sink queue full: dropped the oldest undelivered records"
            );
        }
        fs::remove_file(&seg.path).map_err(io_err(&seg.path))?;
        Ok(lost)
    }

    /// Reads the next undelivered records of one segment, up to `max_bytes` of payload (at
    /// least one record), appending their payloads to `out`. `None` when there are none.
    pub fn peek(&mut self, max_bytes: u64, out: &mut Vec<u8>) -> Result<Option<Peeked>> {
        loop {
            let Some(idx) = self
                .segments
                .iter()
                .position(|s| self.read.seq < s.base + s.records)
            else {
                return Ok(None);
            };
            let seg = &self.segments[idx];
            if self.read.seq <= seg.base {
                self.read = ReadPos {
                    seq: seg.base,
                    offset: HEADER_LEN,
                };
            }
            let (base, path, seg_bytes) = (seg.base, seg.path.clone(), seg.bytes);
            let f = File::open(&path).map_err(io_err(&path))?;
            let mut p = Peeked {
                segment: base,
                first_seq: self.read.seq,
                end: self.read,
                records: 0,
                items: 0,
                bytes: 0,
            };
            let mut rh = [0u8; RECORD_HEADER_LEN as usize];
            let mut corrupt = false;
            while p.end.offset < seg_bytes {
                f.read_exact_at(&mut rh, p.end.offset)
                    .map_err(io_err(&path))?;
                let len = u64::from(u32_at(&rh, 0));
                if p.end.offset + RECORD_HEADER_LEN + len > seg_bytes {
                    corrupt = true;
                    break;
                }
                if p.records > 0 && p.bytes + len > max_bytes {
                    break;
                }
                let at = out.len();
                out.resize(at + len as usize, 0);
                f.read_exact_at(&mut out[at..], p.end.offset + RECORD_HEADER_LEN)
                    .map_err(io_err(&path))?;
                let items = u32_at(&rh, 8);
                if record_crc(items, &out[at..]) != u32_at(&rh, 4) {
                    out.truncate(at);
                    corrupt = true;
                    break;
                }
                p.records += 1;
                p.items += u64::from(items);
                p.bytes += len;
                p.end = ReadPos {
                    seq: p.end.seq + 1,
                    offset: p.end.offset + RECORD_HEADER_LEN + len,
                };
            }
            if corrupt && p.records == 0 {
                // Changed on disk since it was opened: skip the rest of this segment.
                let seg = &mut self.segments[idx];
                let lost = seg.base + seg.records - self.read.seq;
                tracing::error!(
                    file = %path.display(),
                    offset = self.read.offset,
                    records = lost,
                    "sink queue: a record's crc does not match; skipped the rest of the segment"
                );
                self.drops.corrupt += lost;
                seg.unread_items = 0;
                seg.unread_bytes = 0;
                self.read = ReadPos {
                    seq: seg.base + seg.records,
                    offset: seg.bytes,
                };
                continue;
            }
            self.inflight = Some(base);
            return Ok(Some(p));
        }
    }

    /// Gives up on delivering peeked records for now (they stay, to be peeked again).
    pub fn abandon(&mut self) {
        self.inflight = None;
    }

    /// Marks peeked records delivered (or given up on). A no-op when they were dropped for
    /// room meanwhile.
    pub fn commit(&mut self, p: &Peeked) -> Result<()> {
        self.inflight = None;
        if self.read.seq != p.first_seq {
            return Ok(());
        }
        let Some(seg) = self.segments.iter_mut().find(|s| s.base == p.segment) else {
            return Ok(());
        };
        seg.unread_items = seg.unread_items.saturating_sub(p.items);
        seg.unread_bytes = seg.unread_bytes.saturating_sub(p.bytes);
        self.read = p.end;
        write_cursor(&self.dir.join("cursor"), self.read.seq)?;
        self.release_delivered()
    }

    /// Deletes segments whose records are all delivered, except the one being appended to
    /// unless it is large enough to start a new one.
    fn release_delivered(&mut self) -> Result<()> {
        while let Some(front) = self.segments.front() {
            let done = front.base + front.records <= self.read.seq;
            let last = self.segments.len() == 1;
            if !done || (last && front.bytes + RECORD_HEADER_LEN < self.segment_bytes / 2) {
                break;
            }
            let seg = self.segments.pop_front().expect("front exists");
            if last {
                self.active = None;
            }
            self.total_bytes -= seg.bytes;
            fs::remove_file(&seg.path).map_err(io_err(&seg.path))?;
        }
        if self.segments.is_empty() {
            self.read = self.end_pos();
        } else if self.active.is_none() {
            let back = self.segments.back().expect("not empty");
            let f = OpenOptions::new()
                .append(true)
                .open(&back.path)
                .map_err(io_err(&back.path))?;
            self.active = Some(f);
        }
        Ok(())
    }

    /// Writes every segment through to the disk (`fdatasync`), at shutdown.
    pub fn sync(&self) -> Result<()> {
        let last = self.segments.len().saturating_sub(1);
        for (i, seg) in self.segments.iter().enumerate() {
            match &self.active {
                Some(f) if i == last => f.sync_data(),
                _ => File::open(&seg.path).and_then(|f| f.sync_data()),
            }
            .map_err(io_err(&seg.path))?;
        }
        Ok(())
    }

    /// A handle of the segment being appended to, so that the caller can `fdatasync` it
    /// without holding its lock on the queue.
    pub fn sync_handle(&self) -> Option<File> {
        self.active.as_ref().and_then(|f| f.try_clone().ok())
    }
}

fn read_cursor(path: &Path) -> Option<u64> {
    let b = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::error!(file = %path.display(), error = %e, "sink queue: cannot read the cursor; delivering from the oldest record");
            return None;
        }
    };
    let ok = b.len() == CURSOR_LEN
        && &b[..4] == CURSOR_MAGIC
        && b[4..6] == VERSION.to_le_bytes()
        && crc32fast::hash(&b[8..16]) == u32_at(&b, 16);
    if !ok {
        tracing::error!(file = %path.display(), "sink queue: the cursor is corrupt; delivering from the oldest record");
        return None;
    }
    let mut s = [0u8; 8];
    s.copy_from_slice(&b[8..16]);
    Some(u64::from_le_bytes(s))
}

fn write_cursor(path: &Path, seq: u64) -> Result<()> {
    let mut b = [0u8; CURSOR_LEN];
    b[..4].copy_from_slice(CURSOR_MAGIC);
    b[4..6].copy_from_slice(&VERSION.to_le_bytes());
    b[8..16].copy_from_slice(&seq.to_le_bytes());
    let crc = crc32fast::hash(&b[8..16]);
    b[16..20].copy_from_slice(&crc.to_le_bytes());
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, b).map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))
}
