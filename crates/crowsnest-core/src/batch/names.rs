//! Canonical metric names (Heapster's where Heapster has one) with their kind and unit. Each
//! output format maps these to its own names; nothing else invents a second name.

use super::{Kind, Unit};

/// A canonical metric: its name, kind and unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    /// Canonical name, e.g. `cpu/usage`.
    pub name: &'static str,
    /// Cumulative or gauge.
    pub kind: Kind,
    /// Unit.
    pub unit: Unit,
}

const fn c(name: &'static str, unit: Unit) -> Metric {
    Metric {
        name,
        kind: Kind::Cumulative,
        unit,
    }
}

const fn g(name: &'static str, unit: Unit) -> Metric {
    Metric {
        name,
        kind: Kind::Gauge,
        unit,
    }
}

/// Time since the container was created.
pub const UPTIME: Metric = c("uptime", Unit::Milliseconds);
/// CPU time, all cores.
pub const CPU_USAGE: Metric = c("cpu/usage", Unit::Nanoseconds);
/// CPU time in user mode.
pub const CPU_USAGE_USER: Metric = c("cpu/usage_user", Unit::Nanoseconds);
/// CPU time in kernel mode.
pub const CPU_USAGE_SYSTEM: Metric = c("cpu/usage_system", Unit::Nanoseconds);
/// CFS enforcement periods.
pub const CPU_CFS_PERIODS: Metric = c("cpu/cfs_periods", Unit::Count);
/// CFS periods in which the container was throttled.
pub const CPU_CFS_THROTTLED_PERIODS: Metric = c("cpu/cfs_throttled_periods", Unit::Count);
/// Time the container was throttled.
pub const CPU_CFS_THROTTLED_TIME: Metric = c("cpu/cfs_throttled_time", Unit::Nanoseconds);
/// CPU limit (CFS quota over period), when one is set.
pub const CPU_LIMIT: Metric = g("cpu/limit", Unit::Millicores);
/// CPU usage rate (derived by the hub).
pub const CPU_USAGE_RATE: Metric = g("cpu/usage_rate", Unit::Millicores);
/// Memory in use, page cache included.
pub const MEMORY_USAGE: Metric = g("memory/usage", Unit::Bytes);
/// Highest memory use seen.
pub const MEMORY_MAX_USAGE: Metric = g("memory/max_usage", Unit::Bytes);
/// Memory in use that the kernel cannot easily drop.
pub const MEMORY_WORKING_SET: Metric = g("memory/working_set", Unit::Bytes);
/// Anonymous memory.
pub const MEMORY_RSS: Metric = g("memory/rss", Unit::Bytes);
/// Page cache.
pub const MEMORY_CACHE: Metric = g("memory/cache", Unit::Bytes);
/// Swap in use.
pub const MEMORY_SWAP: Metric = g("memory/swap", Unit::Bytes);
/// Memory-mapped files.
pub const MEMORY_MAPPED_FILE: Metric = g("memory/mapped_file", Unit::Bytes);
/// Page faults.
pub const MEMORY_PAGE_FAULTS: Metric = c("memory/page_faults", Unit::Count);
/// Major page faults.
pub const MEMORY_MAJOR_PAGE_FAULTS: Metric = c("memory/major_page_faults", Unit::Count);
/// Times the memory limit was hit.
pub const MEMORY_FAILCNT: Metric = c("memory/failcnt", Unit::Count);
/// Processes killed by the OOM killer.
pub const MEMORY_OOM_KILLS: Metric = c("memory/oom_kills", Unit::Count);
/// Memory limit, when one is set.
pub const MEMORY_LIMIT: Metric = g("memory/limit", Unit::Bytes);
/// Bytes received, all interfaces.
pub const NETWORK_RX: Metric = c("network/rx", Unit::Bytes);
/// Bytes sent, all interfaces.
pub const NETWORK_TX: Metric = c("network/tx", Unit::Bytes);
/// Receive errors, all interfaces.
pub const NETWORK_RX_ERRORS: Metric = c("network/rx_errors", Unit::Count);
/// Transmit errors, all interfaces.
pub const NETWORK_TX_ERRORS: Metric = c("network/tx_errors", Unit::Count);
/// Filesystem bytes in use (label `resource_id`).
pub const FILESYSTEM_USAGE: Metric = g("filesystem/usage", Unit::Bytes);
/// Filesystem size (label `resource_id`).
pub const FILESYSTEM_LIMIT: Metric = g("filesystem/limit", Unit::Bytes);
/// Filesystem bytes available (label `resource_id`).
pub const FILESYSTEM_AVAILABLE: Metric = g("filesystem/available", Unit::Bytes);
/// Inodes (label `resource_id`).
pub const FILESYSTEM_INODES: Metric = g("filesystem/inodes", Unit::Count);
/// Free inodes (label `resource_id`).
pub const FILESYSTEM_INODES_FREE: Metric = g("filesystem/inodes_free", Unit::Count);
/// Bytes read from a block device (label `resource_id`).
pub const DISK_IO_READ_BYTES: Metric = c("disk/io_read_bytes", Unit::Bytes);
/// Bytes written to a block device (label `resource_id`).
pub const DISK_IO_WRITE_BYTES: Metric = c("disk/io_write_bytes", Unit::Bytes);
/// Processes in the container.
pub const PROCESS_COUNT: Metric = g("process/count", Unit::Count);
/// Tasks (threads) in the container.
pub const PROCESS_THREADS: Metric = g("process/threads", Unit::Count);
/// Time some task waited for CPU (PSI `some`).
pub const CPU_PRESSURE_WAITING: Metric = c("cpu/pressure_waiting", Unit::Microseconds);
/// Time all tasks were stalled on CPU (PSI `full`).
pub const CPU_PRESSURE_STALLED: Metric = c("cpu/pressure_stalled", Unit::Microseconds);
/// Time some task waited for memory (PSI `some`).
pub const MEMORY_PRESSURE_WAITING: Metric = c("memory/pressure_waiting", Unit::Microseconds);
/// Time all tasks were stalled on memory (PSI `full`).
pub const MEMORY_PRESSURE_STALLED: Metric = c("memory/pressure_stalled", Unit::Microseconds);
/// Time some task waited for I/O (PSI `some`).
pub const IO_PRESSURE_WAITING: Metric = c("disk/pressure_waiting", Unit::Microseconds);
/// Time all tasks were stalled on I/O (PSI `full`).
pub const IO_PRESSURE_STALLED: Metric = c("disk/pressure_stalled", Unit::Microseconds);

/// Every canonical metric a container can produce.
pub const ALL: &[Metric] = &[
    UPTIME,
    CPU_USAGE,
    CPU_USAGE_USER,
    CPU_USAGE_SYSTEM,
    CPU_CFS_PERIODS,
    CPU_CFS_THROTTLED_PERIODS,
    CPU_CFS_THROTTLED_TIME,
    CPU_LIMIT,
    CPU_USAGE_RATE,
    MEMORY_USAGE,
    MEMORY_MAX_USAGE,
    MEMORY_WORKING_SET,
    MEMORY_RSS,
    MEMORY_CACHE,
    MEMORY_SWAP,
    MEMORY_MAPPED_FILE,
    MEMORY_PAGE_FAULTS,
    MEMORY_MAJOR_PAGE_FAULTS,
    MEMORY_FAILCNT,
    MEMORY_OOM_KILLS,
    MEMORY_LIMIT,
    NETWORK_RX,
    NETWORK_TX,
    NETWORK_RX_ERRORS,
    NETWORK_TX_ERRORS,
    FILESYSTEM_USAGE,
    FILESYSTEM_LIMIT,
    FILESYSTEM_AVAILABLE,
    FILESYSTEM_INODES,
    FILESYSTEM_INODES_FREE,
    DISK_IO_READ_BYTES,
    DISK_IO_WRITE_BYTES,
    PROCESS_COUNT,
    PROCESS_THREADS,
    CPU_PRESSURE_WAITING,
    CPU_PRESSURE_STALLED,
    MEMORY_PRESSURE_WAITING,
    MEMORY_PRESSURE_STALLED,
    IO_PRESSURE_WAITING,
    IO_PRESSURE_STALLED,
];

/// The canonical metric called `name`.
pub fn lookup(name: &str) -> Option<Metric> {
    ALL.iter().copied().find(|m| m.name == name)
}
