//! cAdvisor's container model (`info/v1/container.go`): one [`ContainerInfo`] per container,
//! its [`ContainerSpec`] and a series of [`ContainerStats`] samples.
//!
//! JSON field names are cAdvisor's. Every statistic read from the kernel is an `Option`: a value
//! the kernel does not provide is left out of the JSON (the shape cAdvisor v0.60 uses for
//! uncollected subsystems), never written as 0.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Timestamp;

pub mod v2;

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Who a container is: its absolute name and the names its runtime gives it.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ContainerReference {
    /// Runtime id (64 hex digits for Docker); empty for raw cgroups.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Absolute cgroup-style name: `/`, `/system.slice/sshd.service`, `/docker/<id>`.
    pub name: String,
    /// Other names: Docker's `[<name>, <id>]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// The runtime namespace (`docker`, `podman`, ...); empty for raw cgroups.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

/// One container with its spec and recent samples, oldest first (`/api/v1.x/containers`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerInfo {
    /// The container's name and aliases, inlined.
    #[serde(flatten)]
    pub reference: ContainerReference,
    /// Direct children.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subcontainers: Vec<ContainerReference>,
    /// Limits and metadata.
    pub spec: ContainerSpec,
    /// Samples, oldest to newest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stats: Vec<ContainerStats>,
}

/// Limits and metadata of a container (cAdvisor's `ContainerSpec`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerSpec {
    /// When the container was created (cgroup directory time for raw cgroups).
    pub creation_time: Timestamp,
    /// Runtime labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Allow-listed environment variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub envs: BTreeMap<String, String>,
    /// Whether CPU is accounted.
    #[serde(default)]
    pub has_cpu: bool,
    /// CPU limits.
    #[serde(default)]
    pub cpu: CpuSpec,
    /// Whether memory is accounted.
    #[serde(default)]
    pub has_memory: bool,
    /// Memory limits.
    #[serde(default)]
    pub memory: MemorySpec,
    /// Whether hugetlb is accounted.
    #[serde(default)]
    pub has_hugetlb: bool,
    /// Whether the container has network statistics.
    #[serde(default)]
    pub has_network: bool,
    /// Whether the container has process statistics.
    #[serde(default)]
    pub has_processes: bool,
    /// Process limits.
    #[serde(default)]
    pub processes: ProcessSpec,
    /// Whether the container has filesystem statistics.
    #[serde(default)]
    pub has_filesystem: bool,
    /// Whether the container has block I/O statistics.
    #[serde(default)]
    pub has_diskio: bool,
    /// Whether the container exports custom metrics.
    #[serde(default)]
    pub has_custom_metrics: bool,
    /// Image the container runs.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image: String,
}

/// CPU limits. `limit` is the share weight (v1 `cpu.shares`; v2 `cpu.weight` converted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuSpec {
    /// CPU shares.
    #[serde(default)]
    pub limit: u64,
    /// Always 0 (cAdvisor never fills it).
    #[serde(default)]
    pub max_limit: u64,
    /// Allowed CPUs, e.g. `0-3`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mask: String,
    /// CFS quota in µs; 0 for no quota.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub quota: u64,
    /// CFS period in µs.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub period: u64,
}

/// Memory limits in bytes. Unlimited is 2^64−1 on v2 and the kernel's page-counter maximum
/// on v1, as the kernel writes them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemorySpec {
    /// Hard limit.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limit: u64,
    /// Soft limit (v1) or `memory.min` (v2).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reservation: u64,
    /// Memory+swap (v1) or swap (v2) limit.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub swap_limit: u64,
}

/// Process limits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessSpec {
    /// `pids.max`; 0 means unlimited.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limit: u64,
}

/// One sample of a container's usage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerStats {
    /// When the sample was taken.
    pub timestamp: Timestamp,
    /// CPU time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuStats>,
    /// Block I/O.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diskio: Option<DiskIoStats>,
    /// Memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryStats>,
    /// Network interfaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkStats>,
    /// Filesystems.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filesystem: Vec<FsStats>,
    /// Processes and threads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processes: Option<ProcessStats>,
    /// OOM kills seen in the container (cumulative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_events: Option<u64>,
    /// The runtime's health check result (Docker, Podman); absent without a check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

/// A container's health check result, as the runtime reports it (cAdvisor's `Health`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `healthy`, `unhealthy` or `starting`.
    #[serde(default)]
    pub status: String,
}

/// CPU statistics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuStats {
    /// Cumulative CPU time.
    pub usage: CpuUsage,
    /// CFS bandwidth statistics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cfs: Option<CpuCfs>,
    /// CPU pressure (PSI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psi: Option<PsiStats>,
}

/// Cumulative CPU time in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuUsage {
    /// Total, all CPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Per CPU, indexed by CPU number (v1 only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_cpu_usage: Vec<u64>,
    /// User mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<u64>,
    /// Kernel mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<u64>,
}

/// CFS bandwidth statistics (cumulative).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuCfs {
    /// Elapsed enforcement periods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub periods: Option<u64>,
    /// Periods in which the group was throttled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttled_periods: Option<u64>,
    /// Time throttled, ns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttled_time: Option<u64>,
    /// Periods with bursts (v2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bursts_periods: Option<u64>,
    /// Time bursted, ns (v2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst_time: Option<u64>,
}

/// Pressure stall information of one resource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PsiStats {
    /// Time all non-idle tasks were stalled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full: Option<PsiData>,
    /// Time at least one task was stalled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub some: Option<PsiData>,
}

/// One line of a `*.pressure` file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PsiData {
    /// Cumulative stall time in µs, as the kernel gives it.
    pub total: u64,
    /// Percent of the last 10 s.
    pub avg10: f64,
    /// Percent of the last 60 s.
    pub avg60: f64,
    /// Percent of the last 300 s.
    pub avg300: f64,
}

/// Memory statistics in bytes (gauges) and counts (cumulative).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryStats {
    /// Current usage, including page cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<u64>,
    /// Highest usage seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_usage: Option<u64>,
    /// Page cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<u64>,
    /// Anonymous memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss: Option<u64>,
    /// Swap in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swap: Option<u64>,
    /// Memory-mapped files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapped_file: Option<u64>,
    /// Usage minus inactive file cache, clamped at 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_set: Option<u64>,
    /// Active file cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_active_file: Option<u64>,
    /// Inactive file cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_inactive_file: Option<u64>,
    /// Kernel memory (v1 `memory.kmem.usage_in_bytes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<u64>,
    /// Times the limit was hit (v1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failcnt: Option<u64>,
    /// Page faults of this cgroup.
    #[serde(default)]
    pub container_data: MemoryFaults,
    /// Page faults of this cgroup and its children.
    #[serde(default)]
    pub hierarchical_data: MemoryFaults,
    /// `memory.events` (v2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<MemoryEvents>,
    /// Memory pressure (PSI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psi: Option<PsiStats>,
}

/// Page fault counts (cumulative).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryFaults {
    /// All page faults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pgfault: Option<u64>,
    /// Major page faults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pgmajfault: Option<u64>,
}

/// cgroup v2 `memory.events` counts (cumulative).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryEvents {
    /// Reclaims below `memory.low`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low: Option<u64>,
    /// Throttles over `memory.high`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high: Option<u64>,
    /// Hits of `memory.max`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
    /// OOM conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom: Option<u64>,
    /// Processes killed by the OOM killer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_kill: Option<u64>,
}

/// Block I/O per device (cumulative).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiskIoStats {
    /// Bytes per operation (`Read`, `Write`, `Sync`, `Async`, `Discard`, `Total`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes: Vec<PerDiskStats>,
    /// Operations per operation kind.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_serviced: Vec<PerDiskStats>,
    /// I/O pressure (PSI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psi: Option<PsiStats>,
}

/// Counters of one block device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PerDiskStats {
    /// Device path, e.g. `/dev/vda`, when it could be resolved.
    #[serde(default)]
    pub device: String,
    /// Major number.
    pub major: u64,
    /// Minor number.
    pub minor: u64,
    /// Operation kind to value.
    pub stats: BTreeMap<String, u64>,
}

/// Network statistics. In JSON the first interface's fields are inlined at the top level, as
/// cAdvisor does, and `interfaces` lists all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "NetworkStatsJson", into = "NetworkStatsJson")]
pub struct NetworkStats {
    /// Every interface, in the order of `/proc/<pid>/net/dev`.
    pub interfaces: Vec<InterfaceStats>,
}

#[derive(Serialize, Deserialize)]
struct NetworkStatsJson {
    #[serde(flatten)]
    first: InterfaceStats,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    interfaces: Vec<InterfaceStats>,
}

impl From<NetworkStats> for NetworkStatsJson {
    fn from(n: NetworkStats) -> Self {
        NetworkStatsJson {
            first: n.interfaces.first().cloned().unwrap_or_default(),
            interfaces: n.interfaces,
        }
    }
}

impl From<NetworkStatsJson> for NetworkStats {
    fn from(j: NetworkStatsJson) -> Self {
        NetworkStats {
            interfaces: j.interfaces,
        }
    }
}

/// Counters of one network interface (cumulative).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceStats {
    /// Interface name.
    #[serde(default)]
    pub name: String,
    /// Bytes received.
    #[serde(default)]
    pub rx_bytes: u64,
    /// Packets received.
    #[serde(default)]
    pub rx_packets: u64,
    /// Receive errors.
    #[serde(default)]
    pub rx_errors: u64,
    /// Packets dropped on receive.
    #[serde(default)]
    pub rx_dropped: u64,
    /// Bytes sent.
    #[serde(default)]
    pub tx_bytes: u64,
    /// Packets sent.
    #[serde(default)]
    pub tx_packets: u64,
    /// Transmit errors.
    #[serde(default)]
    pub tx_errors: u64,
    /// Packets dropped on transmit.
    #[serde(default)]
    pub tx_dropped: u64,
}

/// Usage of one filesystem (bytes; gauges).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsStats {
    /// Block device, e.g. `/dev/vda`.
    pub device: String,
    /// Filesystem type, e.g. `ext4`.
    #[serde(rename = "type")]
    pub fs_type: String,
    /// Size.
    pub capacity: u64,
    /// Bytes in use. For a runtime container: its writable layer and its logs.
    pub usage: u64,
    /// Of [`FsStats::usage`], the bytes of the container's writable layer alone (cAdvisor's
    /// `base_usage`); absent for whole filesystems.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_usage: Option<u64>,
    /// Bytes available to unprivileged users.
    pub available: u64,
    /// Whether inode counts are known.
    #[serde(default, skip_serializing_if = "is_false")]
    pub has_inodes: bool,
    /// Inodes in all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inodes: Option<u64>,
    /// Free inodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inodes_free: Option<u64>,
}

/// Process and thread counts (gauges).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessStats {
    /// Processes in the cgroup (`cgroup.procs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_count: Option<u64>,
    /// Open file descriptors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fd_count: Option<u64>,
    /// Open sockets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket_count: Option<u64>,
    /// Tasks (`pids.current`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads_current: Option<u64>,
    /// Task limit (`pids.max`); 0 means unlimited, as in cAdvisor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads_max: Option<u64>,
}

/// Versions of the pieces (`/api/v1.3/version` style, and `cadvisor_version_info`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// `uname -r`.
    pub kernel_version: String,
    /// PRETTY_NAME of os-release.
    pub container_os_version: String,
    /// Docker's version, when known.
    pub docker_version: String,
    /// Docker's API version, when known.
    pub docker_api_version: String,
    /// crowsnest's version.
    pub cadvisor_version: String,
    /// crowsnest's revision.
    pub cadvisor_revision: String,
}
