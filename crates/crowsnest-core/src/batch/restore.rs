//! The inverse of [`super::container_samples`]: a [`ContainerStats`] rebuilt from the
//! canonical samples of one container at one time, as a store keeps them.
//!
//! It is exact for every field a sample carries, and leaves every other field absent (`None`,
//! an empty list or map), never 0:
//!
//! - `cpu/usage`, `cpu/usage_user`, `cpu/usage_system`: `cpu.usage.total`, `.user`, `.system`;
//! - `cpu/cfs_periods`, `cpu/cfs_throttled_periods`, `cpu/cfs_throttled_time`: `cpu.cfs.*`;
//! - `memory/usage`, `max_usage`, `working_set`, `rss`, `cache`, `swap`, `mapped_file`,
//!   `failcnt`: the `memory` fields of those names; `memory/page_faults`,
//!   `memory/major_page_faults`: `memory.container_data.pgfault`, `.pgmajfault`;
//! - `memory/oom_kills`: `oom_events`;
//! - `filesystem/*` by `resource_id`: `filesystem[]` with `device`, `capacity`, `usage`,
//!   `available`, `inodes`, `inodes_free`;
//! - `disk/io_read_bytes`, `disk/io_write_bytes` by `resource_id`:
//!   `diskio.io_service_bytes[]` with `Read`, `Write`;
//! - `process/count`, `process/threads`: `processes.process_count`, `.threads_current`.
//!
//! Not restored, because the samples do not carry them whole: per-interface network counters
//! (the samples are sums over interfaces, and an interface's other counters have no absent
//! form), pressure (the samples keep the stall totals, not the averages a `PsiData` must
//! have), per-CPU usage, `io_serviced`, and what comes from the spec (`uptime`, the limits).
//! A filesystem's type comes from the machine's filesystems (empty when unknown); a block
//! device named by path gets its major and minor numbers from the machine's disks, and is
//! left out when they are unknown. Values above `i64::MAX` were clamped to it when sampled.

use std::collections::BTreeMap;

use super::Value;
use super::names;
use crate::Timestamp;
use crate::machine::MachineInfo;
use crate::model::{
    ContainerStats, CpuCfs, CpuStats, DiskIoStats, FsStats, MemoryStats, PerDiskStats, ProcessStats,
};

type MemoryField = fn(&mut MemoryStats) -> &mut Option<u64>;

/// The memory samples and their fields.
const MEMORY: [(&str, MemoryField); 10] = [
    (names::MEMORY_USAGE.name, |m| &mut m.usage),
    (names::MEMORY_MAX_USAGE.name, |m| &mut m.max_usage),
    (names::MEMORY_WORKING_SET.name, |m| &mut m.working_set),
    (names::MEMORY_RSS.name, |m| &mut m.rss),
    (names::MEMORY_CACHE.name, |m| &mut m.cache),
    (names::MEMORY_SWAP.name, |m| &mut m.swap),
    (names::MEMORY_MAPPED_FILE.name, |m| &mut m.mapped_file),
    (names::MEMORY_FAILCNT.name, |m| &mut m.failcnt),
    (names::MEMORY_PAGE_FAULTS.name, |m| {
        &mut m.container_data.pgfault
    }),
    (names::MEMORY_MAJOR_PAGE_FAULTS.name, |m| {
        &mut m.container_data.pgmajfault
    }),
];

fn cfs(s: &mut ContainerStats) -> &mut CpuCfs {
    s.cpu
        .get_or_insert_with(CpuStats::default)
        .cfs
        .get_or_insert_with(CpuCfs::default)
}

fn processes(s: &mut ContainerStats) -> &mut ProcessStats {
    s.processes.get_or_insert_with(ProcessStats::default)
}

fn memory_field(metric: &str) -> Option<MemoryField> {
    MEMORY.iter().find(|(n, _)| *n == metric).map(|(_, f)| *f)
}

/// One stored value of a container: its canonical metric name, its `resource_id` label (a
/// filesystem or block device) if it has one, and the value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StoredSample<'a> {
    /// Canonical metric name, e.g. `cpu/usage`.
    pub metric: &'a str,
    /// The `resource_id` label.
    pub resource_id: Option<&'a str>,
    /// The value.
    pub value: Value,
}

/// A counter or gauge as the model's `u64`: integers from 0 on, and whole non-negative
/// floats below 2^64 (a series stored as floats); anything else is absent.
fn to_u64(v: Value) -> Option<u64> {
    match v {
        Value::Int(i) => u64::try_from(i).ok(),
        Value::Float(f) if f >= 0.0 && f.fract() == 0.0 && f < 18_446_744_073_709_551_616.0 => {
            Some(f as u64)
        }
        Value::Float(_) => None,
    }
}

#[derive(Default)]
struct Fs {
    usage: Option<u64>,
    capacity: Option<u64>,
    available: Option<u64>,
    inodes: Option<u64>,
    inodes_free: Option<u64>,
}

/// `major:minor`, as [`super::container_samples`] names a block device without a path.
fn major_minor(id: &str) -> Option<(u64, u64)> {
    let (a, b) = id.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// The major and minor numbers of a block device named by path (`/dev/vda`) or kernel name
/// (`vda`), from the machine's disks.
fn disk_numbers(machine: &MachineInfo, device: &str) -> Option<(u64, u64)> {
    let name = device.strip_prefix("/dev/").unwrap_or(device);
    machine
        .disk_map
        .values()
        .find(|d| d.name == name)
        .map(|d| (d.major, d.minor))
}

/// The container sample at `timestamp` that `samples` (the container's canonical samples at
/// that time) describe; see the module docs for what is restored.
pub fn container_stats<'a>(
    timestamp: Timestamp,
    samples: impl IntoIterator<Item = StoredSample<'a>>,
    machine: &MachineInfo,
) -> ContainerStats {
    let mut s = ContainerStats {
        timestamp,
        ..ContainerStats::default()
    };
    let mut fs: BTreeMap<&str, Fs> = BTreeMap::new();
    let mut disks: BTreeMap<&str, BTreeMap<String, u64>> = BTreeMap::new();
    for x in samples {
        let Some(v) = to_u64(x.value) else { continue };
        match (x.metric, x.resource_id) {
            (m, None) if m == names::CPU_USAGE.name => {
                s.cpu.get_or_insert_with(CpuStats::default).usage.total = Some(v);
            }
            (m, None) if m == names::CPU_USAGE_USER.name => {
                s.cpu.get_or_insert_with(CpuStats::default).usage.user = Some(v);
            }
            (m, None) if m == names::CPU_USAGE_SYSTEM.name => {
                s.cpu.get_or_insert_with(CpuStats::default).usage.system = Some(v);
            }
            (m, None) if m == names::CPU_CFS_PERIODS.name => cfs(&mut s).periods = Some(v),
            (m, None) if m == names::CPU_CFS_THROTTLED_PERIODS.name => {
                cfs(&mut s).throttled_periods = Some(v);
            }
            (m, None) if m == names::CPU_CFS_THROTTLED_TIME.name => {
                cfs(&mut s).throttled_time = Some(v);
            }
            (m, None) if m == names::MEMORY_OOM_KILLS.name => s.oom_events = Some(v),
            (m, None) if memory_field(m).is_some() => {
                if let Some(field) = memory_field(m) {
                    *field(s.memory.get_or_insert_with(MemoryStats::default)) = Some(v);
                }
            }
            (m, None) if m == names::PROCESS_COUNT.name => {
                processes(&mut s).process_count = Some(v)
            }
            (m, None) if m == names::PROCESS_THREADS.name => {
                processes(&mut s).threads_current = Some(v);
            }
            (m, Some(r)) if m.starts_with("filesystem/") => {
                let f = fs.entry(r).or_default();
                let slot = match m {
                    _ if m == names::FILESYSTEM_USAGE.name => &mut f.usage,
                    _ if m == names::FILESYSTEM_LIMIT.name => &mut f.capacity,
                    _ if m == names::FILESYSTEM_AVAILABLE.name => &mut f.available,
                    _ if m == names::FILESYSTEM_INODES.name => &mut f.inodes,
                    _ if m == names::FILESYSTEM_INODES_FREE.name => &mut f.inodes_free,
                    _ => continue,
                };
                *slot = Some(v);
            }
            (m, Some(r)) if m == names::DISK_IO_READ_BYTES.name => {
                disks.entry(r).or_default().insert("Read".to_owned(), v);
            }
            (m, Some(r)) if m == names::DISK_IO_WRITE_BYTES.name => {
                disks.entry(r).or_default().insert("Write".to_owned(), v);
            }
            _ => {}
        }
    }
    for (device, f) in fs {
        // Size, usage and availability are always sampled together; without all three the
        // entry would need a 0 somewhere.
        let (Some(capacity), Some(usage), Some(available)) = (f.capacity, f.usage, f.available)
        else {
            continue;
        };
        let fs_type = machine
            .filesystems
            .iter()
            .find(|m| m.device == device)
            .map(|m| m.fs_type.clone())
            .unwrap_or_default();
        s.filesystem.push(FsStats {
            device: device.to_owned(),
            fs_type,
            capacity,
            usage,
            available,
            has_inodes: f.inodes.is_some(),
            inodes: f.inodes,
            inodes_free: f.inodes_free,
            ..FsStats::default()
        });
    }
    let mut io: Vec<PerDiskStats> = disks
        .into_iter()
        .filter_map(|(id, stats)| {
            let (device, (major, minor)) = match major_minor(id) {
                Some(n) => (String::new(), n),
                None => (id.to_owned(), disk_numbers(machine, id)?),
            };
            Some(PerDiskStats {
                device,
                major,
                minor,
                stats,
            })
        })
        .collect();
    if !io.is_empty() {
        io.sort_by(|a, b| (a.major, a.minor, &a.device).cmp(&(b.major, b.minor, &b.device)));
        s.diskio = Some(DiskIoStats {
            io_service_bytes: io,
            ..DiskIoStats::default()
        });
    }
    s
}

#[cfg(test)]
mod tests;
