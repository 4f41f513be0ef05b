//! The compact encoding of [`ContainerStats`] that [`super::History`] keeps.
//!
//! A sample is written as the change from a *base*: the previous sample, or
//! `ContainerStats::default()` for the oldest one (the head frame). Every value, at every level
//! of the model, starts with one flag bit "changed from the base"; an unchanged struct, vector,
//! map or number costs that one bit and nothing more. A changed value is written as:
//!
//! - `u64`: the wrapping difference from the base as a zigzag LEB128 varint;
//! - `f64`: a flag, then either the difference in hundredths from the base (a value that is a
//!   whole number of hundredths, as PSI averages are) or the XOR of its bits with the base's,
//!   as a varint; bit-exact either way, `-0.0` and NaN included;
//! - `bool`: nothing (changed means flipped);
//! - `String`: an index into [`KNOWN`] or its length and UTF-8 bytes;
//! - `Option<T>`: a presence bit, then `T` against the base's value (or `T::default()`);
//! - `Vec<T>`: the length, then each element against the base's element at the same index;
//! - `BTreeMap<String, u64>`: a bit "same keys as the base", then the values in key order, or
//!   the length and each key with its value against the base's value for that key;
//! - a struct: each field in declaration order.
//!
//! Flag bits are packed eight to a byte, interleaved with the varints: the writer opens a flag
//! byte in the output when it needs a bit and the last one is full, and the reader, reading in
//! the same order, finds it at the same place.
//!
//! Each model struct's encoder and decoder come from one field list (`codec_structs!`) that
//! destructures the struct without `..`, so a field added to the model and not to the list is a
//! compile error, and encoder and decoder cannot disagree on the order.
//!
//! A frame is `varint(body length)` then the body: the timestamp part (head frame: zigzag
//! timestamp and zigzag delta from the sample before it; other frames: zigzag delta-of-delta),
//! then the fields. Decoding never panics: a short or malformed buffer yields `None`.

use std::collections::BTreeMap;

use crowsnest_core::Timestamp;
use crowsnest_core::model::{
    ContainerStats, CpuCfs, CpuStats, CpuUsage, DiskIoStats, FsStats, Health, InterfaceStats,
    MemoryEvents, MemoryFaults, MemoryStats, NetworkStats, PerDiskStats, ProcessStats, PsiData,
    PsiStats,
};

/// Strings common enough to be written as a one-byte index (blkio operation kinds, the usual
/// interface). Index `KNOWN.len() + n` means a literal string of `n` bytes follows.
const KNOWN: [&str; 9] = [
    "", "Read", "Write", "Sync", "Async", "Discard", "Total", "eth0", "lo",
];

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

/// Appends varints, bytes and packed flag bits to a byte vector.
struct Writer<'a> {
    out: &'a mut Vec<u8>,
    /// Index in `out` of the flag byte being filled.
    flags_at: usize,
    /// Bits used in that byte; 8 means none is open.
    used: u8,
}

impl<'a> Writer<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        Writer {
            out,
            flags_at: 0,
            used: 8,
        }
    }

    fn bit(&mut self, b: bool) {
        if self.used == 8 {
            self.flags_at = self.out.len();
            self.out.push(0);
            self.used = 0;
        }
        if b && let Some(flags) = self.out.get_mut(self.flags_at) {
            *flags |= 1 << self.used;
        }
        self.used += 1;
    }

    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.out.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.out.push(v as u8);
    }

    fn signed(&mut self, v: i64) {
        self.varint(zigzag(v));
    }
}

/// Reads what a [`Writer`] wrote, in the same order. Every method returns `None` at the end of
/// the input or on a malformed value.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    flags: u8,
    used: u8,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            flags: 0,
            used: 8,
        }
    }

    /// Bytes consumed so far.
    fn pos(&self) -> usize {
        self.pos
    }

    fn byte(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.buf.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }

    fn bit(&mut self) -> Option<bool> {
        if self.used == 8 {
            self.flags = self.byte()?;
            self.used = 0;
        }
        let b = (self.flags >> self.used) & 1 == 1;
        self.used += 1;
        Some(b)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    fn signed(&mut self) -> Option<i64> {
        self.varint().map(unzigzag)
    }

    /// A length or count that must fit in what is left (each item takes at least one bit).
    fn count(&mut self) -> Option<usize> {
        let n = usize::try_from(self.varint()?).ok()?;
        let left_bits = (self.buf.len() - self.pos).saturating_mul(8) + usize::from(8 - self.used);
        (n <= left_bits).then_some(n)
    }
}

/// A value written as its change from a base value.
trait Codec: Default {
    /// Whether `self` is bit-for-bit `base` (so only the "unchanged" flag is written).
    fn same_as(&self, base: &Self) -> bool;
    /// Writes what turns `base` into `self`; `self` differs from `base`.
    fn encode(&self, base: &Self, w: &mut Writer<'_>);
    /// Turns `self`, which holds the base, into the encoded value.
    fn decode(&mut self, r: &mut Reader<'_>) -> Option<()>;
}

/// The "changed" flag, then the change.
fn put<T: Codec>(w: &mut Writer<'_>, cur: &T, base: &T) {
    let changed = !cur.same_as(base);
    w.bit(changed);
    if changed {
        cur.encode(base, w);
    }
}

/// Reads what [`put`] wrote into `cur`, which holds the base.
fn get<T: Codec>(r: &mut Reader<'_>, cur: &mut T) -> Option<()> {
    if r.bit()? {
        cur.decode(r)?;
    }
    Some(())
}

impl Codec for u64 {
    fn same_as(&self, base: &Self) -> bool {
        self == base
    }
    fn encode(&self, base: &Self, w: &mut Writer<'_>) {
        w.signed(self.wrapping_sub(*base) as i64);
    }
    fn decode(&mut self, r: &mut Reader<'_>) -> Option<()> {
        *self = self.wrapping_add(r.signed()? as u64);
        Some(())
    }
}

/// `v` as a whole number of hundredths, when `hundredths / 100` gives back `v` bit for bit
/// (PSI averages: the kernel prints two decimals).
fn hundredths(v: f64) -> Option<i64> {
    let k = (v * 100.0).round();
    // Below 2^53 every whole f64 is exact as i64 and back.
    let k = (k.abs() < 9_007_199_254_740_992.0).then_some(k as i64)?;
    (from_hundredths(k).to_bits() == v.to_bits()).then_some(k)
}

fn from_hundredths(k: i64) -> f64 {
    k as f64 / 100.0
}

impl Codec for f64 {
    fn same_as(&self, base: &Self) -> bool {
        self.to_bits() == base.to_bits()
    }
    fn encode(&self, base: &Self, w: &mut Writer<'_>) {
        match hundredths(*self) {
            Some(k) => {
                w.bit(true);
                w.signed(k.wrapping_sub(hundredths(*base).unwrap_or(0)));
            }
            None => {
                w.bit(false);
                w.varint(self.to_bits() ^ base.to_bits());
            }
        }
    }
    fn decode(&mut self, r: &mut Reader<'_>) -> Option<()> {
        *self = if r.bit()? {
            let base = hundredths(*self).unwrap_or(0);
            from_hundredths(base.wrapping_add(r.signed()?))
        } else {
            f64::from_bits(self.to_bits() ^ r.varint()?)
        };
        Some(())
    }
}

impl Codec for bool {
    fn same_as(&self, base: &Self) -> bool {
        self == base
    }
    fn encode(&self, _base: &Self, _w: &mut Writer<'_>) {}
    fn decode(&mut self, _r: &mut Reader<'_>) -> Option<()> {
        *self = !*self;
        Some(())
    }
}

impl Codec for String {
    fn same_as(&self, base: &Self) -> bool {
        self == base
    }
    fn encode(&self, _base: &Self, w: &mut Writer<'_>) {
        match KNOWN.iter().position(|k| k == self) {
            Some(i) => w.varint(i as u64),
            None => {
                w.varint((KNOWN.len() + self.len()) as u64);
                w.out.extend_from_slice(self.as_bytes());
            }
        }
    }
    fn decode(&mut self, r: &mut Reader<'_>) -> Option<()> {
        let tag = usize::try_from(r.varint()?).ok()?;
        match KNOWN.get(tag) {
            Some(k) => (*k).clone_into(self),
            None => {
                let bytes = r.take(tag - KNOWN.len())?;
                std::str::from_utf8(bytes).ok()?.clone_into(self);
            }
        }
        Some(())
    }
}

impl<T: Codec> Codec for Option<T> {
    fn same_as(&self, base: &Self) -> bool {
        match (self, base) {
            (Some(a), Some(b)) => a.same_as(b),
            (None, None) => true,
            _ => false,
        }
    }
    fn encode(&self, base: &Self, w: &mut Writer<'_>) {
        w.bit(self.is_some());
        if let Some(v) = self {
            match base {
                Some(b) => v.encode(b, w),
                None => v.encode(&T::default(), w),
            }
        }
    }
    fn decode(&mut self, r: &mut Reader<'_>) -> Option<()> {
        if r.bit()? {
            self.get_or_insert_with(T::default).decode(r)
        } else {
            *self = None;
            Some(())
        }
    }
}

impl<T: Codec> Codec for Vec<T> {
    fn same_as(&self, base: &Self) -> bool {
        self.len() == base.len() && self.iter().zip(base).all(|(a, b)| a.same_as(b))
    }
    fn encode(&self, base: &Self, w: &mut Writer<'_>) {
        w.varint(self.len() as u64);
        let empty = T::default();
        for (i, v) in self.iter().enumerate() {
            put(w, v, base.get(i).unwrap_or(&empty));
        }
    }
    fn decode(&mut self, r: &mut Reader<'_>) -> Option<()> {
        let n = r.count()?;
        self.truncate(n);
        self.resize_with(n, T::default);
        self.iter_mut().try_for_each(|v| get(r, v))
    }
}

impl Codec for BTreeMap<String, u64> {
    fn same_as(&self, base: &Self) -> bool {
        self == base
    }
    fn encode(&self, base: &Self, w: &mut Writer<'_>) {
        let same_keys = self.len() == base.len() && self.keys().eq(base.keys());
        w.bit(same_keys);
        if same_keys {
            for (v, b) in self.values().zip(base.values()) {
                put(w, v, b);
            }
        } else {
            w.varint(self.len() as u64);
            let empty = String::new();
            for (k, v) in self {
                k.encode(&empty, w);
                put(w, v, base.get(k).unwrap_or(&0));
            }
        }
    }
    fn decode(&mut self, r: &mut Reader<'_>) -> Option<()> {
        if r.bit()? {
            return self.values_mut().try_for_each(|v| get(r, v));
        }
        let n = r.count()?;
        let mut map = BTreeMap::new();
        for _ in 0..n {
            let mut k = String::new();
            k.decode(r)?;
            let mut v = self.get(&k).copied().unwrap_or(0);
            get(r, &mut v)?;
            map.insert(k, v);
        }
        *self = map;
        Some(())
    }
}

/// Implements [`Codec`] for model structs, each from its complete field list in declaration
/// order. Fields listed after `skip` are handled elsewhere (the timestamp, in the frame header).
/// The patterns have no `..`: a field missing from a list does not compile.
macro_rules! codec_structs {
    ($($ty:ident { $($f:ident),* $(,)? } $(skip { $($s:ident),* })?;)*) => {$(
        impl Codec for $ty {
            fn same_as(&self, base: &Self) -> bool {
                let $ty { $($f,)* $($($s: _,)*)? } = self;
                true $(&& $f.same_as(&base.$f))*
            }
            fn encode(&self, base: &Self, w: &mut Writer<'_>) {
                let $ty { $($f,)* $($($s: _,)*)? } = self;
                $(put(w, $f, &base.$f);)*
            }
            fn decode(&mut self, r: &mut Reader<'_>) -> Option<()> {
                let $ty { $($f,)* $($($s: _,)*)? } = self;
                $(get(r, $f)?;)*
                Some(())
            }
        }
    )*};
}

codec_structs! {
    ContainerStats {
        cpu, diskio, memory, network, filesystem, processes, oom_events, health
    } skip { timestamp };
    Health { status };
    CpuStats { usage, cfs, psi };
    CpuUsage { total, per_cpu_usage, user, system };
    CpuCfs { periods, throttled_periods, throttled_time, bursts_periods, burst_time };
    PsiStats { full, some };
    PsiData { total, avg10, avg60, avg300 };
    MemoryStats {
        usage, max_usage, cache, rss, swap, mapped_file, working_set, total_active_file,
        total_inactive_file, kernel, failcnt, container_data, hierarchical_data, events, psi,
    };
    MemoryFaults { pgfault, pgmajfault };
    MemoryEvents { low, high, max, oom, oom_kill };
    DiskIoStats { io_service_bytes, io_serviced, psi };
    PerDiskStats { device, major, minor, stats };
    NetworkStats { interfaces };
    InterfaceStats {
        name, rx_bytes, rx_packets, rx_errors, rx_dropped,
        tx_bytes, tx_packets, tx_errors, tx_dropped,
    };
    FsStats {
        device, fs_type, capacity, usage, base_usage, available, has_inodes, inodes, inodes_free,
    };
    ProcessStats { process_count, fd_count, socket_count, threads_current, threads_max };
}

/// Appends `varint(body length)` and the body that `body` writes.
fn write_frame(out: &mut Vec<u8>, body: impl FnOnce(&mut Writer<'_>)) {
    let at = out.len();
    out.push(0);
    body(&mut Writer::new(out));
    let len = out.len() - at - 1;
    match (u8::try_from(len), out.get_mut(at)) {
        (Ok(n @ 0..0x80), Some(b)) => *b = n,
        _ => {
            let mut prefix = Vec::with_capacity(4);
            Writer::new(&mut prefix).varint(len as u64);
            out.splice(at..=at, prefix);
        }
    }
}

/// Appends the head frame: `cur` in full, and `delta`, the timestamp step that led to it (the
/// next frame's delta-of-delta is taken from it).
pub(crate) fn encode_head(out: &mut Vec<u8>, cur: &ContainerStats, delta: i64) {
    write_frame(out, |w| {
        w.signed(cur.timestamp.nanos());
        w.signed(delta);
        cur.encode(&ContainerStats::default(), w);
    });
}

/// Appends a frame holding `cur` as its change from `prev`, whose own timestamp step was
/// `prev_delta`. Returns `cur`'s timestamp step.
pub(crate) fn encode_next(
    out: &mut Vec<u8>,
    cur: &ContainerStats,
    prev: &ContainerStats,
    prev_delta: i64,
) -> i64 {
    let delta = cur.timestamp.nanos().wrapping_sub(prev.timestamp.nanos());
    write_frame(out, |w| {
        w.signed(delta.wrapping_sub(prev_delta));
        cur.encode(prev, w);
    });
    delta
}

/// One frame found by [`Frames`].
pub(crate) struct Frame<'a> {
    /// The sample's timestamp, in nanoseconds.
    pub(crate) ts: i64,
    /// The step from the previous sample's timestamp (as stored, for the head).
    pub(crate) delta: i64,
    /// The encoded fields.
    pub(crate) fields: &'a [u8],
    /// Offset just past this frame in the buffer.
    pub(crate) end: usize,
}

impl Frame<'_> {
    /// Turns `stats` (the previous sample, or the default for the head) into this sample.
    /// `None` if the fields are malformed or do not fill the frame exactly.
    pub(crate) fn decode_into(&self, stats: &mut ContainerStats) -> Option<()> {
        let mut r = Reader::new(self.fields);
        stats.decode(&mut r)?;
        stats.timestamp = Timestamp(self.ts);
        (r.pos() == self.fields.len()).then_some(())
    }
}

/// Walks the frames of a buffer, oldest first, keeping track of timestamps without decoding
/// the fields. Stops (yields `None`) at the end or at a malformed frame header; check
/// [`Frames::at_end`] to tell the two apart.
pub(crate) struct Frames<'a> {
    buf: &'a [u8],
    pos: usize,
    ts: i64,
    delta: i64,
    broken: bool,
}

impl<'a> Frames<'a> {
    /// The frames of `buf`, which starts with a head frame.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Frames {
            buf,
            pos: 0,
            ts: 0,
            delta: 0,
            broken: false,
        }
    }

    /// Whether every byte was walked without finding a malformed frame.
    pub(crate) fn at_end(&self) -> bool {
        !self.broken && self.pos == self.buf.len()
    }

    fn frame(&mut self) -> Option<Frame<'a>> {
        let rest = self.buf.get(self.pos..)?;
        let mut r = Reader::new(rest);
        let len = usize::try_from(r.varint()?).ok()?;
        let body = r.take(len)?;
        let end = self.pos + r.pos();
        let mut r = Reader::new(body);
        if self.pos == 0 {
            self.ts = r.signed()?;
            self.delta = r.signed()?;
        } else {
            self.delta = self.delta.wrapping_add(r.signed()?);
            self.ts = self.ts.wrapping_add(self.delta);
        }
        let fields = body.get(r.pos()..)?;
        self.pos = end;
        Some(Frame {
            ts: self.ts,
            delta: self.delta,
            fields,
            end,
        })
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Frame<'a>;

    fn next(&mut self) -> Option<Frame<'a>> {
        if self.broken || self.pos == self.buf.len() {
            return None;
        }
        let f = self.frame();
        self.broken = f.is_none();
        f
    }
}

/// Approximate heap bytes owned by a decoded sample (not counting the struct itself).
pub(crate) fn heap_bytes(s: &ContainerStats) -> usize {
    use std::mem::size_of;
    let map = |m: &BTreeMap<String, u64>| {
        // A B-tree leaf holds up to 11 entries; count a share of it per entry plus the keys.
        m.keys()
            .map(|k| size_of::<(String, u64)>() + 8 + k.capacity())
            .sum::<usize>()
    };
    let disks = |v: &Vec<PerDiskStats>| {
        v.capacity() * size_of::<PerDiskStats>()
            + v.iter()
                .map(|d| d.device.capacity() + map(&d.stats))
                .sum::<usize>()
    };
    let cpu = s
        .cpu
        .as_ref()
        .map_or(0, |c| c.usage.per_cpu_usage.capacity() * 8);
    let diskio = s
        .diskio
        .as_ref()
        .map_or(0, |d| disks(&d.io_service_bytes) + disks(&d.io_serviced));
    let network = s.network.as_ref().map_or(0, |n| {
        n.interfaces.capacity() * size_of::<InterfaceStats>()
            + n.interfaces
                .iter()
                .map(|i| i.name.capacity())
                .sum::<usize>()
    });
    let fs = s.filesystem.capacity() * size_of::<FsStats>()
        + s.filesystem
            .iter()
            .map(|f| f.device.capacity() + f.fs_type.capacity())
            .sum::<usize>();
    cpu + diskio + network + fs
}
