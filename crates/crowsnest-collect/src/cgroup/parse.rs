//! Parsers of cgroup file contents, in the formats of the kernel's `cgroup-v1` and
//! `cgroup-v2.rst` documentation.
//!
//! Pure: no I/O, and no allocation on success. Keyed files are walked as borrowed `(key, value)`
//! pairs so the caller picks what it needs; only an error allocates (its [`ParseError`] text).
//! The reader adds the file's path with [`ParseError::at`].
//!
//! Two policies for bad input, and no panic on any input (a property test feeds arbitrary text to
//! every parser):
//!
//! - files of one value or one list (`memory.current`, `cpu.max`, `cpuacct.usage_percpu`,
//!   `cgroup.procs`, the `some`/`full` lines of `*.pressure`) are reported as a [`ParseError`];
//! - keyed files (`memory.stat`, `cpu.stat`, `io.stat`, `blkio.*`) gain keys across kernel
//!   versions, so a line that does not have the expected shape is skipped.
//!
//! The second half maps keyed files into the model the way cAdvisor does
//! (shared/reference/cadvisor.md §5.3): which key becomes which field, and in which unit.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crowsnest_core::model::{
    CpuCfs, CpuUsage, MemoryEvents, MemoryStats, PerDiskStats, PsiData, PsiStats,
};

use super::DeviceNames;

/// What is wrong with the text of a cgroup file. It does not know the file;
/// [`ParseError::at`] names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct ParseError {
    reason: String,
}

/// Result of a parser.
pub type ParseResult<T> = Result<T, ParseError>;

impl ParseError {
    fn new(what: &str, text: &str) -> Self {
        ParseError {
            reason: format!("expected {what}, found {:?}", clip(text)),
        }
    }

    /// What is wrong, with the offending text.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The collector's error for this problem in file `path`.
    pub fn at(self, path: impl Into<PathBuf>) -> crate::Error {
        crate::Error::parse(path, self.reason)
    }
}

/// At most 60 characters of `text`, cut on a character boundary, for error messages.
fn clip(text: &str) -> &str {
    match text.char_indices().nth(60) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

/// A file holding one unsigned integer (`memory.current`, `cpuacct.usage`, `pids.current`).
pub fn single_u64(text: &str) -> ParseResult<u64> {
    let t = text.trim();
    t.parse()
        .map_err(|_| ParseError::new("an unsigned integer", t))
}

/// A limit that may be `max` (v2 `memory.max`, `memory.swap.max`, `memory.min`): `max` is
/// `u64::MAX`, as cAdvisor reports it.
pub fn limit(text: &str) -> ParseResult<u64> {
    match text.trim() {
        "max" => Ok(u64::MAX),
        t => t
            .parse()
            .map_err(|_| ParseError::new("an unsigned integer or \"max\"", t)),
    }
}

/// `pids.max`: `max` (no limit) is 0, as cAdvisor reports `threads_max`.
pub fn pids_max(text: &str) -> ParseResult<u64> {
    match text.trim() {
        "max" => Ok(0),
        t => t
            .parse()
            .map_err(|_| ParseError::new("an unsigned integer or \"max\"", t)),
    }
}

/// v1 `cpu.cfs_quota_us` in µs: `-1` (no quota) is 0. Other negative values are errors.
pub fn cfs_quota_us(text: &str) -> ParseResult<u64> {
    let t = text.trim();
    match t.parse::<i64>() {
        Ok(-1) => Ok(0),
        Ok(v) => u64::try_from(v).map_err(|_| ParseError::new("a quota >= 0 or -1", t)),
        Err(_) => Err(ParseError::new("an integer", t)),
    }
}

/// v2 `cpu.max`: the CFS quota and period in µs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuMax {
    /// The quota; `None` for `max` (no quota).
    pub quota: Option<u64>,
    /// The period.
    pub period: u64,
}

/// v2 `cpu.max`: `max 100000` or `50000 100000`.
pub fn cpu_max(text: &str) -> ParseResult<CpuMax> {
    let t = text.trim();
    let err = || ParseError::new("\"<quota|max> <period>\"", t);
    let mut fields = t.split_ascii_whitespace();
    let (Some(q), Some(p), None) = (fields.next(), fields.next(), fields.next()) else {
        return Err(err());
    };
    let quota = if q == "max" {
        None
    } else {
        Some(q.parse().map_err(|_| err())?)
    };
    let period = p.parse().map_err(|_| err())?;
    Ok(CpuMax { quota, period })
}

/// v2 `cpu.weight` (1..=10000) as v1 shares (2..=262144), cAdvisor's conversion
/// `2 + ((w - 1) * 262142) / 9999`. `None` for a weight out of range.
pub fn cpu_weight_to_shares(weight: u64) -> Option<u64> {
    (1..=10_000)
        .contains(&weight)
        .then(|| 2 + ((weight - 1) * 262_142) / 9_999)
}

/// A cpuset list (`cpuset.cpus`, `cpuset.cpus.effective`) kept as text, e.g. `0-3,8`.
pub fn cpuset(text: &str) -> &str {
    text.trim()
}

/// The `key value` lines of a flat keyed file, as borrowed text. Lines without a value are
/// skipped.
pub fn flat_keyed(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.lines().filter_map(|line| {
        let mut fields = line.split_ascii_whitespace();
        Some((fields.next()?, fields.next()?))
    })
}

/// The `key value` lines of a flat keyed file whose value is an unsigned integer
/// (`memory.stat`, `cpu.stat`, `memory.events`, `cpuacct.stat`, `memory.oom_control`). Other
/// lines are skipped.
pub fn flat_keyed_u64(text: &str) -> impl Iterator<Item = (&str, u64)> {
    flat_keyed(text).filter_map(|(k, v)| Some((k, v.parse().ok()?)))
}

/// `major:minor` of a block device.
fn device(field: &str) -> Option<(u64, u64)> {
    let (major, minor) = field.split_once(':')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// One line of a nested keyed file (v2 `io.stat`): `254:0 rbytes=1 wbytes=2 rios=3 ...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NestedLine<'a> {
    /// Major device number.
    pub major: u64,
    /// Minor device number.
    pub minor: u64,
    rest: &'a str,
}

impl<'a> NestedLine<'a> {
    /// The `key=value` fields whose value is an unsigned integer; others are skipped.
    pub fn fields(&self) -> impl Iterator<Item = (&'a str, u64)> + use<'a> {
        self.rest.split_ascii_whitespace().filter_map(|f| {
            let (k, v) = f.split_once('=')?;
            Some((k, v.parse().ok()?))
        })
    }
}

/// The lines of a nested keyed file (v2 `io.stat`). Lines that do not start with
/// `major:minor` are skipped.
pub fn nested_keyed(text: &str) -> impl Iterator<Item = NestedLine<'_>> {
    text.lines().filter_map(|line| {
        let line = line.trim_start();
        let (dev, rest) = line
            .split_once(|c: char| c.is_ascii_whitespace())
            .unwrap_or((line, ""));
        let (major, minor) = device(dev)?;
        Some(NestedLine { major, minor, rest })
    })
}

/// One line of a v1 blkio file: `8:0 Read 4096`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlkioEntry<'a> {
    /// Major device number.
    pub major: u64,
    /// Minor device number.
    pub minor: u64,
    /// The operation as the kernel spells it: `Read`, `Write`, `Sync`, `Async`, `Discard`,
    /// `Total`.
    pub op: &'a str,
    /// The count or byte total.
    pub value: u64,
}

/// The device lines of a v1 blkio file (`blkio.io_service_bytes_recursive`,
/// `blkio.throttle.io_serviced_recursive`, ...). The final `Total N` line (the sum over
/// devices) and lines of any other shape are skipped.
pub fn blkio(text: &str) -> impl Iterator<Item = BlkioEntry<'_>> {
    text.lines().filter_map(|line| {
        let mut fields = line.split_ascii_whitespace();
        let (major, minor) = device(fields.next()?)?;
        let op = fields.next()?;
        let value = fields.next()?.parse().ok()?;
        fields.next().is_none().then_some(BlkioEntry {
            major,
            minor,
            op,
            value,
        })
    })
}

/// A list of unsigned integers separated by white space (v1 `cpuacct.usage_percpu`) into `out`,
/// which is cleared first and keeps its allocation.
pub fn u64_list(text: &str, out: &mut Vec<u64>) -> ParseResult<()> {
    out.clear();
    for field in text.split_ascii_whitespace() {
        out.push(
            field
                .parse()
                .map_err(|_| ParseError::new("unsigned integers", field))?,
        );
    }
    Ok(())
}

/// `cgroup.procs`: one pid per line, into `out`, which is cleared first and keeps its
/// allocation.
pub fn pid_list(text: &str, out: &mut Vec<u32>) -> ParseResult<()> {
    out.clear();
    for line in text.lines() {
        let line = line.trim();
        if !line.is_empty() {
            out.push(line.parse().map_err(|_| ParseError::new("a pid", line))?);
        }
    }
    Ok(())
}

/// A pressure file (`cpu.pressure`, `/proc/pressure/io`):
///
/// ```text
/// some avg10=0.00 avg60=0.00 avg300=0.00 total=0
/// full avg10=0.00 avg60=0.00 avg300=0.00 total=0
/// ```
///
/// A line that starts with neither `some` nor `full` is skipped; a `some` or `full` line
/// without all four fields, or with a value that is not a finite number, is an error.
pub fn psi(text: &str) -> ParseResult<PsiStats> {
    let mut out = PsiStats::default();
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let slot = match fields.next() {
            Some("some") => &mut out.some,
            Some("full") => &mut out.full,
            _ => continue,
        };
        *slot = Some(psi_line(fields).ok_or_else(|| {
            ParseError::new("\"avg10=<f> avg60=<f> avg300=<f> total=<n>\"", line)
        })?);
    }
    Ok(out)
}

fn psi_line<'a>(fields: impl Iterator<Item = &'a str>) -> Option<PsiData> {
    let (mut avg10, mut avg60, mut avg300, mut total) = (None, None, None, None);
    for field in fields {
        let (k, v) = field.split_once('=')?;
        let avg = || v.parse::<f64>().ok().filter(|f| f.is_finite());
        match k {
            "avg10" => avg10 = Some(avg()?),
            "avg60" => avg60 = Some(avg()?),
            "avg300" => avg300 = Some(avg()?),
            "total" => total = Some(v.parse().ok()?),
            _ => {}
        }
    }
    Some(PsiData {
        total: total?,
        avg10: avg10?,
        avg60: avg60?,
        avg300: avg300?,
    })
}

/// Nanoseconds per USER_HZ tick of `cpuacct.stat` (USER_HZ is 100 on every Linux ABI).
pub const NS_PER_TICK: u64 = 10_000_000;

fn usec(v: u64) -> u64 {
    v.saturating_mul(1000)
}

/// v1 `cpu.stat`: the CFS statistics (times in ns), when `nr_periods` is there.
pub fn cpu_stat_v1(text: &str) -> Option<CpuCfs> {
    let mut cfs = CpuCfs::default();
    for (k, v) in flat_keyed_u64(text) {
        match k {
            "nr_periods" => cfs.periods = Some(v),
            "nr_throttled" => cfs.throttled_periods = Some(v),
            "throttled_time" => cfs.throttled_time = Some(v),
            "nr_bursts" => cfs.bursts_periods = Some(v),
            "burst_time" => cfs.burst_time = Some(v),
            _ => {}
        }
    }
    cfs.periods.is_some().then_some(cfs)
}

/// v2 `cpu.stat`: total, user and system time into `usage` (µs → ns), and the CFS statistics
/// when `nr_periods` is there (the `cpu` controller is enabled).
pub fn cpu_stat_v2(text: &str, usage: &mut CpuUsage) -> Option<CpuCfs> {
    let mut cfs = CpuCfs::default();
    for (k, v) in flat_keyed_u64(text) {
        match k {
            "usage_usec" => usage.total = Some(usec(v)),
            "user_usec" => usage.user = Some(usec(v)),
            "system_usec" => usage.system = Some(usec(v)),
            "nr_periods" => cfs.periods = Some(v),
            "nr_throttled" => cfs.throttled_periods = Some(v),
            "throttled_usec" => cfs.throttled_time = Some(usec(v)),
            "nr_bursts" => cfs.bursts_periods = Some(v),
            "burst_usec" => cfs.burst_time = Some(usec(v)),
            _ => {}
        }
    }
    cfs.periods.is_some().then_some(cfs)
}

/// v1 `cpuacct.stat`: `user` and `system` USER_HZ ticks into `usage` as ns.
pub fn cpuacct_stat(text: &str, usage: &mut CpuUsage) {
    for (k, v) in flat_keyed_u64(text) {
        match k {
            "user" => usage.user = Some(v.saturating_mul(NS_PER_TICK)),
            "system" => usage.system = Some(v.saturating_mul(NS_PER_TICK)),
            _ => {}
        }
    }
}

/// The `memory.stat` keys cAdvisor uses, v1 and v2.
#[derive(Default)]
struct MemStat {
    cache: Option<u64>,
    rss: Option<u64>,
    swap: Option<u64>,
    mapped_file: Option<u64>,
    active_file: Option<u64>,
    inactive_file: Option<u64>,
    pgfault: Option<u64>,
    pgmajfault: Option<u64>,
    total_cache: Option<u64>,
    total_rss: Option<u64>,
    total_swap: Option<u64>,
    total_mapped_file: Option<u64>,
    total_active_file: Option<u64>,
    total_inactive_file: Option<u64>,
    total_pgfault: Option<u64>,
    total_pgmajfault: Option<u64>,
    anon: Option<u64>,
    file: Option<u64>,
    file_mapped: Option<u64>,
}

impl MemStat {
    fn parse(text: &str) -> Self {
        let mut s = MemStat::default();
        for (k, v) in flat_keyed_u64(text) {
            let field = match k {
                "cache" => &mut s.cache,
                "rss" => &mut s.rss,
                "swap" => &mut s.swap,
                "mapped_file" => &mut s.mapped_file,
                "active_file" => &mut s.active_file,
                "inactive_file" => &mut s.inactive_file,
                "pgfault" => &mut s.pgfault,
                "pgmajfault" => &mut s.pgmajfault,
                "total_cache" => &mut s.total_cache,
                "total_rss" => &mut s.total_rss,
                "total_swap" => &mut s.total_swap,
                "total_mapped_file" => &mut s.total_mapped_file,
                "total_active_file" => &mut s.total_active_file,
                "total_inactive_file" => &mut s.total_inactive_file,
                "total_pgfault" => &mut s.total_pgfault,
                "total_pgmajfault" => &mut s.total_pgmajfault,
                "anon" => &mut s.anon,
                "file" => &mut s.file,
                "file_mapped" => &mut s.file_mapped,
                _ => continue,
            };
            *field = Some(v);
        }
        s
    }
}

/// v1 `memory.stat` into `mem`: the hierarchical `total_*` keys when there, else the plain
/// ones; `pgfault`/`pgmajfault` into `container_data`, `total_pgfault`/`total_pgmajfault`
/// (else the plain ones) into `hierarchical_data`.
pub fn memory_stat_v1(text: &str, mem: &mut MemoryStats) {
    let s = MemStat::parse(text);
    mem.cache = s.total_cache.or(s.cache);
    mem.rss = s.total_rss.or(s.rss);
    mem.swap = s.total_swap.or(s.swap);
    mem.mapped_file = s.total_mapped_file.or(s.mapped_file);
    mem.total_active_file = s.total_active_file.or(s.active_file);
    mem.total_inactive_file = s.total_inactive_file.or(s.inactive_file);
    mem.container_data.pgfault = s.pgfault;
    mem.container_data.pgmajfault = s.pgmajfault;
    mem.hierarchical_data.pgfault = s.total_pgfault.or(s.pgfault);
    mem.hierarchical_data.pgmajfault = s.total_pgmajfault.or(s.pgmajfault);
}

/// v2 `memory.stat` into `mem`: `file` → cache, `anon` → rss, `file_mapped` → mapped_file,
/// `active_file`, `inactive_file`, and the fault counts into both `container_data` and
/// `hierarchical_data`. Swap is `memory.swap.current`, not here.
pub fn memory_stat_v2(text: &str, mem: &mut MemoryStats) {
    let s = MemStat::parse(text);
    mem.cache = s.file;
    mem.rss = s.anon;
    mem.mapped_file = s.file_mapped;
    mem.total_active_file = s.active_file;
    mem.total_inactive_file = s.inactive_file;
    mem.container_data.pgfault = s.pgfault;
    mem.container_data.pgmajfault = s.pgmajfault;
    mem.hierarchical_data = mem.container_data.clone();
}

/// Usage minus inactive file cache, clamped at 0, when both are known.
pub fn working_set(mem: &MemoryStats) -> Option<u64> {
    Some(mem.usage?.saturating_sub(mem.total_inactive_file?))
}

/// v2 `memory.events`.
pub fn memory_events(text: &str) -> MemoryEvents {
    let mut ev = MemoryEvents::default();
    for (k, v) in flat_keyed_u64(text) {
        match k {
            "low" => ev.low = Some(v),
            "high" => ev.high = Some(v),
            "max" => ev.max = Some(v),
            "oom" => ev.oom = Some(v),
            "oom_kill" => ev.oom_kill = Some(v),
            _ => {}
        }
    }
    ev
}

/// The `oom_kill` count of v1 `memory.oom_control` or v2 `memory.events`.
pub fn oom_kill(text: &str) -> Option<u64> {
    flat_keyed_u64(text)
        .find(|(k, _)| *k == "oom_kill")
        .map(|(_, v)| v)
}

/// cAdvisor's blkio operations; the index is the bit in a device's mask of seen operations.
const OPS: [&str; 6] = ["Read", "Write", "Sync", "Async", "Discard", "Total"];

/// v1 blkio lines into `list` (see [`DiskFill`]). Operations other than cAdvisor's six are
/// left out.
pub(crate) fn blkio_into(
    text: Option<&str>,
    list: &mut Vec<PerDiskStats>,
    masks: &mut Vec<u8>,
    devices: &DeviceNames,
) {
    let mut fill = DiskFill::begin(list, masks, devices);
    for e in text.into_iter().flat_map(blkio) {
        if let Some(op) = OPS.iter().position(|o| *o == e.op) {
            fill.set(e.major, e.minor, op, e.value);
        }
    }
    fill.finish();
}

/// v2 `io.stat` into bytes (`rbytes`/`wbytes`) and operations (`rios`/`wios`) as `Read` and
/// `Write`; cAdvisor adds no `Total` on v2.
pub(crate) fn io_stat_into(
    text: &str,
    bytes: &mut Vec<PerDiskStats>,
    ops: &mut Vec<PerDiskStats>,
    masks: &mut Vec<u8>,
    devices: &DeviceNames,
) {
    for (list, read, write) in [(bytes, "rbytes", "wbytes"), (ops, "rios", "wios")] {
        let mut fill = DiskFill::begin(list, masks, devices);
        for line in nested_keyed(text) {
            for (k, v) in line.fields() {
                if k == read {
                    fill.set(line.major, line.minor, 0, v);
                } else if k == write {
                    fill.set(line.major, line.minor, 1, v);
                }
            }
        }
        fill.finish();
    }
}

/// Fills a per-device list in place, so that a list kept from the previous pass is updated
/// without allocating: entries and operation keys already there get the new values; devices
/// and operations not seen this time are dropped by `finish`. `masks` is scratch space.
struct DiskFill<'a> {
    list: &'a mut Vec<PerDiskStats>,
    masks: &'a mut Vec<u8>,
    devices: &'a DeviceNames,
}

impl<'a> DiskFill<'a> {
    fn begin(
        list: &'a mut Vec<PerDiskStats>,
        masks: &'a mut Vec<u8>,
        devices: &'a DeviceNames,
    ) -> Self {
        masks.clear();
        masks.resize(list.len(), 0);
        DiskFill {
            list,
            masks,
            devices,
        }
    }

    fn set(&mut self, major: u64, minor: u64, op: usize, value: u64) {
        let i = match self
            .list
            .iter()
            .position(|d| d.major == major && d.minor == minor)
        {
            Some(i) => i,
            None => {
                let stats = BTreeMap::new();
                self.list.push(PerDiskStats {
                    device: String::new(),
                    major,
                    minor,
                    stats,
                });
                self.masks.push(0);
                self.list.len() - 1
            }
        };
        let disk = &mut self.list[i];
        if self.masks[i] == 0 {
            let name = self.devices.get(&(major, minor)).map_or("", String::as_str);
            if disk.device != name {
                name.clone_into(&mut disk.device);
            }
        }
        self.masks[i] |= 1 << op;
        match disk.stats.get_mut(OPS[op]) {
            Some(v) => *v = value,
            None => {
                disk.stats.insert(OPS[op].to_owned(), value);
            }
        }
    }

    fn finish(self) {
        let mut masks = self.masks.iter();
        self.list.retain_mut(|disk| {
            let mask = masks.next().copied().unwrap_or_default();
            disk.stats.retain(|k, _| {
                OPS.iter()
                    .position(|o| o == k)
                    .is_some_and(|bit| mask & (1 << bit) != 0)
            });
            mask != 0
        });
    }
}

#[cfg(test)]
mod tests;
