//! cAdvisor's v2 API types (`info/v2/container.go`, `info/v2/machine.go`): the shapes of
//! `/api/v2.0/{spec,stats,summary,attributes}` and `/api/v2.1/{stats,machinestats}`.
//!
//! They are derived from the v1 model (see `crowsnest-formats::v2` for the conversions). As in
//! the v1 model, a value crowsnest does not have is left out of the JSON rather than written
//! as 0; where that differs from cAdvisor's Go output (which writes zero values) the field
//! says so.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::machine::{DiskInfo, FsInfo, HugePagesInfo, NetInfo, Node};
use crate::model::{
    CpuSpec, CpuStats, DiskIoStats, FsStats, InterfaceStats, MemorySpec, MemoryStats, ProcessSpec,
    ProcessStats,
};

/// A container's spec as v2 shows it: the v1 spec with `aliases` and `namespace` moved inside.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerSpecV2 {
    /// When the container was created.
    pub creation_time: Timestamp,
    /// Other names of the container within its namespace (Docker: `[<name>, <id>]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// The namespace the aliases are unique in (`docker`, `podman`, ...).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Runtime labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Allow-listed environment variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub envs: BTreeMap<String, String>,
    /// Whether CPU is accounted.
    #[serde(default)]
    pub has_cpu: bool,
    /// CPU limits (zero unless `has_cpu`).
    #[serde(default)]
    pub cpu: CpuSpec,
    /// Whether memory is accounted.
    #[serde(default)]
    pub has_memory: bool,
    /// Memory limits (zero unless `has_memory`).
    #[serde(default)]
    pub memory: MemorySpec,
    /// Whether hugetlb is accounted.
    #[serde(default)]
    pub has_hugetlb: bool,
    /// Whether the container exports custom metrics.
    #[serde(default)]
    pub has_custom_metrics: bool,
    /// Whether the container has process statistics.
    #[serde(default)]
    pub has_processes: bool,
    /// Process limits.
    #[serde(default)]
    pub processes: ProcessSpec,
    /// Whether the container has network statistics.
    #[serde(default)]
    pub has_network: bool,
    /// Whether the container has filesystem statistics.
    #[serde(default)]
    pub has_filesystem: bool,
    /// Whether the container has block I/O statistics.
    #[serde(default)]
    pub has_diskio: bool,
    /// Image the container runs.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image: String,
}

/// CPU usage rates between two consecutive samples (`cpu_inst`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuInstStats {
    /// The rates.
    pub usage: CpuInstUsage,
}

/// CPU usage rates in nanocores (CPU nanoseconds per second of wall time). A rate is absent
/// when either sample lacks the counter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuInstUsage {
    /// All CPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Per CPU (cgroup v1 only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_cpu_usage: Vec<u64>,
    /// User mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<u64>,
    /// Kernel mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<u64>,
}

/// v2 network statistics: the interfaces, not inlined (unlike v1). cAdvisor also writes
/// `tcp`, `tcp6`, `udp`, `udp6` and `tcp_advanced`; crowsnest does not collect those, so they
/// are absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkStatsV2 {
    /// Every interface.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<InterfaceStats>,
}

/// v2 filesystem statistics of a container with exactly one filesystem. The camelCase keys
/// and the `containter` typo are cAdvisor's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilesystemStatsV2 {
    /// Bytes used by the container.
    #[serde(
        rename = "totalUsageBytes",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub total_usage_bytes: Option<u64>,
    /// Bytes used through the container's root filesystem.
    #[serde(
        rename = "baseUsageBytes",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub base_usage_bytes: Option<u64>,
    /// Inodes used.
    #[serde(
        rename = "containter_inode_usage",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub inode_usage: Option<u64>,
}

/// One v2 sample (`/api/v2.1/stats`). A subsystem is present only when the spec's `has_*`
/// says it is accounted and the sample has it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerStatsV2 {
    /// When the sample was taken.
    pub timestamp: Timestamp,
    /// Cumulative CPU time (ns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuStats>,
    /// CPU rate since the previous sample (nanocores); absent on the first sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_inst: Option<CpuInstStats>,
    /// Block I/O.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diskio: Option<DiskIoStats>,
    /// Memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryStats>,
    /// Network interfaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkStatsV2>,
    /// Processes and threads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processes: Option<ProcessStats>,
    /// Filesystem usage (only with exactly one filesystem).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filesystem: Option<FilesystemStatsV2>,
}

/// A container as `/api/v2.1/stats` shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerInfoV2 {
    /// Limits and metadata.
    pub spec: ContainerSpecV2,
    /// Samples, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stats: Vec<ContainerStatsV2>,
}

/// One sample as `/api/v2.0/stats` shows it: the v1 fields with the spec's `has_*` flags and
/// `cpu_inst`. Subsystems not accounted are absent (cAdvisor writes zeros).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeprecatedContainerStats {
    /// When the sample was taken.
    pub timestamp: Timestamp,
    /// Whether CPU is accounted.
    #[serde(default)]
    pub has_cpu: bool,
    /// Cumulative CPU time (ns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuStats>,
    /// CPU rate since the previous sample (nanocores).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_inst: Option<CpuInstStats>,
    /// Whether block I/O is accounted.
    #[serde(default)]
    pub has_diskio: bool,
    /// Block I/O.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diskio: Option<DiskIoStats>,
    /// Whether memory is accounted.
    #[serde(default)]
    pub has_memory: bool,
    /// Memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryStats>,
    /// Whether hugetlb is accounted.
    #[serde(default)]
    pub has_hugetlb: bool,
    /// Whether there are network statistics.
    #[serde(default)]
    pub has_network: bool,
    /// Network interfaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkStatsV2>,
    /// Whether there are process statistics.
    #[serde(default)]
    pub has_processes: bool,
    /// Processes and threads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processes: Option<ProcessStats>,
    /// Whether there are filesystem statistics.
    #[serde(default)]
    pub has_filesystem: bool,
    /// Filesystems.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filesystem: Vec<FsStats>,
    /// Whether there are load statistics (crowsnest has none: always false).
    #[serde(default)]
    pub has_load: bool,
    /// Whether the container exports custom metrics.
    #[serde(default)]
    pub has_custom_metrics: bool,
}

/// Summary statistics of a set of values (`/api/v2.0/summary`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Whether there were values; when false the numbers are meaningless zeros.
    pub present: bool,
    /// Arithmetic mean (rounded down).
    pub mean: u64,
    /// Population standard deviation (rounded down).
    pub std: u64,
    /// Largest value.
    pub max: u64,
    /// Median.
    pub fifty: u64,
    /// 90th percentile.
    pub ninety: u64,
    /// 95th percentile.
    pub ninetyfive: u64,
    /// Number of values.
    pub count: u64,
}

/// Usage over one window (a minute, an hour, a day).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// How much of the window the samples cover, 0 to 100.
    pub percent_complete: i32,
    /// CPU rate in millicores.
    pub cpu: Percentiles,
    /// Memory working set in bytes.
    pub memory: Percentiles,
}

/// The newest usage of a container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstantUsage {
    /// CPU rate in millicores between the two newest samples; absent with fewer than two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<u64>,
    /// Memory working set in bytes of the newest sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<u64>,
}

/// Derived usage statistics of a container (`/api/v2.0/summary`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DerivedStats {
    /// Time of the newest sample the statistics use.
    pub timestamp: Timestamp,
    /// The newest usage.
    pub latest_usage: InstantUsage,
    /// Over the last minute.
    pub minute_usage: Usage,
    /// Over the last hour.
    pub hour_usage: Usage,
    /// Over the last day.
    pub day_usage: Usage,
}

/// What the host is and runs (`/api/v2.0/attributes`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Attributes {
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
    /// Logical CPUs.
    pub num_cores: u32,
    /// Maximum CPU frequency in kHz.
    pub cpu_frequency_khz: u64,
    /// `MemTotal` in bytes.
    pub memory_capacity: u64,
    /// `/etc/machine-id`.
    pub machine_id: String,
    /// DMI product UUID.
    pub system_uuid: String,
    /// Huge page pools.
    pub hugepages: Vec<HugePagesInfo>,
    /// Mounted block-device filesystems.
    pub filesystems: Vec<FsInfo>,
    /// Block devices by `major:minor`.
    pub disk_map: BTreeMap<String, DiskInfo>,
    /// Network devices.
    pub network_devices: Vec<NetInfo>,
    /// NUMA nodes with their cores.
    pub topology: Vec<Node>,
    /// `GCE`, `AWS`, `Azure` or `Unknown`.
    pub cloud_provider: String,
    /// Instance type.
    pub instance_type: String,
}

/// One sample of the whole machine (`/api/v2.1/machinestats`): the root container's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MachineStats {
    /// When the sample was taken.
    pub timestamp: Timestamp,
    /// Cumulative CPU time (ns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuStats>,
    /// CPU rate since the previous sample (nanocores).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_inst: Option<CpuInstStats>,
    /// Memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryStats>,
    /// Network interfaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkStatsV2>,
    /// Filesystems.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filesystem: Vec<MachineFsStats>,
}

/// One filesystem of the machine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineFsStats {
    /// Block device.
    pub device: String,
    /// Filesystem type.
    #[serde(rename = "type")]
    pub fs_type: String,
    /// Size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u64>,
    /// Bytes in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<u64>,
    /// Bytes available to unprivileged users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available: Option<u64>,
    /// Free inodes, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inodes_free: Option<u64>,
    /// Disk counters, under cAdvisor's literal key `inline`.
    #[serde(rename = "inline", default)]
    pub disk_stats: MachineDiskStats,
}

/// Disk counters of one filesystem's device (`/proc/diskstats`). crowsnest does not collect
/// them yet, so every field is absent and the object is `{}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineDiskStats {
    /// Reads completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reads_completed: Option<u64>,
    /// Reads merged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reads_merged: Option<u64>,
    /// Sectors read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sectors_read: Option<u64>,
    /// Time reading, ns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_duration: Option<u64>,
    /// Writes completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writes_completed: Option<u64>,
    /// Writes merged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writes_merged: Option<u64>,
    /// Sectors written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sectors_written: Option<u64>,
    /// Time writing, ns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_duration: Option<u64>,
    /// I/Os in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub io_in_progress: Option<u64>,
    /// Time doing I/O, ns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub io_duration: Option<u64>,
    /// Weighted time doing I/O, ns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weighted_io_duration: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filesystem_keys_are_cadvisors() {
        let fs = FilesystemStatsV2 {
            total_usage_bytes: Some(1),
            base_usage_bytes: None,
            inode_usage: Some(3),
        };
        assert_eq!(
            serde_json::to_value(&fs).unwrap(),
            json!({"totalUsageBytes": 1, "containter_inode_usage": 3})
        );
    }

    #[test]
    fn machine_fs_nests_disk_stats_under_inline() {
        let fs = MachineFsStats {
            device: "/dev/vda1".into(),
            fs_type: "ext4".into(),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&fs).unwrap(),
            json!({"device": "/dev/vda1", "type": "ext4", "inline": {}})
        );
    }

    #[test]
    fn percentiles_write_every_key() {
        let v = serde_json::to_value(Percentiles::default()).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut want = [
            "present",
            "mean",
            "std",
            "max",
            "fifty",
            "ninety",
            "ninetyfive",
            "count",
        ];
        want.sort_unstable();
        assert_eq!(keys, want);
    }
}
