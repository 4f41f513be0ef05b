//! cAdvisor's `MachineInfo` (`info/v1/machine.go`): what the host is.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// The host: CPUs, memory, disks, network devices and identity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MachineInfo {
    /// When this was read.
    pub timestamp: Timestamp,
    /// CPU vendor from `/proc/cpuinfo`.
    #[serde(default)]
    pub vendor_id: String,
    /// Logical CPUs.
    pub num_cores: u32,
    /// Physical cores.
    pub num_physical_cores: u32,
    /// Sockets.
    pub num_sockets: u32,
    /// Maximum CPU frequency in kHz (`cpuinfo_max_freq`, else `cpu MHz` of `/proc/cpuinfo`).
    pub cpu_frequency_khz: u64,
    /// `MemTotal` in bytes.
    pub memory_capacity: u64,
    /// `SwapTotal` in bytes.
    pub swap_capacity: u64,
    /// Memory by DIMM type (EDAC); empty when the kernel has no EDAC data.
    #[serde(default)]
    pub memory_by_type: BTreeMap<String, MemoryInfo>,
    /// Non-volatile memory.
    #[serde(default)]
    pub nvm: NvmInfo,
    /// Huge page pools.
    #[serde(default)]
    pub hugepages: Vec<HugePagesInfo>,
    /// `/etc/machine-id`.
    #[serde(default)]
    pub machine_id: String,
    /// DMI product UUID.
    #[serde(default)]
    pub system_uuid: String,
    /// `/proc/sys/kernel/random/boot_id`.
    #[serde(default)]
    pub boot_id: String,
    /// Mounted block-device filesystems.
    #[serde(default)]
    pub filesystems: Vec<FsInfo>,
    /// Block devices by `major:minor`.
    #[serde(default)]
    pub disk_map: BTreeMap<String, DiskInfo>,
    /// Network devices.
    #[serde(default)]
    pub network_devices: Vec<NetInfo>,
    /// NUMA nodes with their cores.
    #[serde(default)]
    pub topology: Vec<Node>,
    /// `GCE`, `AWS`, `Azure` or `Unknown`.
    #[serde(default)]
    pub cloud_provider: String,
    /// Instance type, `Unknown` off cloud.
    #[serde(default)]
    pub instance_type: String,
    /// Instance id, `None` off cloud.
    #[serde(default)]
    pub instance_id: String,
}

/// Memory of one DIMM type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryInfo {
    /// Bytes.
    pub capacity: u64,
    /// DIMMs.
    pub dimm_count: u32,
}

/// Non-volatile memory (the odd key with a space is cAdvisor's).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NvmInfo {
    /// Memory-mode capacity.
    pub memory_mode_capacity: u64,
    /// App-direct capacity.
    #[serde(rename = "app direct_mode_capacity")]
    pub app_direct_mode_capacity: u64,
    /// Power budget.
    pub avg_power_budget: u64,
}

/// One huge page pool.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HugePagesInfo {
    /// Page size in kB.
    pub page_size: u64,
    /// Pages in the pool.
    pub num_pages: u64,
}

/// A mounted filesystem.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsInfo {
    /// Block device.
    pub device: String,
    /// Size in bytes.
    pub capacity: u64,
    /// Filesystem type.
    #[serde(rename = "type")]
    pub fs_type: String,
    /// Inodes in all.
    pub inodes: u64,
    /// Whether `inodes` is known.
    pub has_inodes: bool,
}

/// A block device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskInfo {
    /// Kernel name, e.g. `vda`.
    pub name: String,
    /// Major number.
    pub major: u64,
    /// Minor number.
    pub minor: u64,
    /// Size in bytes.
    pub size: u64,
    /// I/O scheduler.
    pub scheduler: String,
}

/// A network device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetInfo {
    /// Interface name.
    pub name: String,
    /// MAC address.
    pub mac_address: String,
    /// Link speed in Mbit/s (0 when unknown).
    pub speed: i64,
    /// MTU.
    pub mtu: i64,
}

/// A NUMA node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// Node number.
    pub node_id: i32,
    /// Memory of the node in bytes.
    pub memory: u64,
    /// Huge pages of the node.
    #[serde(default)]
    pub hugepages: Vec<HugePagesInfo>,
    /// Cores of the node.
    pub cores: Vec<Core>,
    /// Caches shared by the node.
    #[serde(default)]
    pub caches: Vec<Cache>,
    /// Distances to other nodes.
    #[serde(default)]
    pub distances: Vec<u64>,
}

/// A physical core.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Core {
    /// Core id.
    pub core_id: i32,
    /// Logical CPUs (hyperthreads) of the core.
    pub thread_ids: Vec<i32>,
    /// Caches private to the core.
    #[serde(default)]
    pub caches: Vec<Cache>,
    /// Uncore caches.
    #[serde(default)]
    pub uncore_caches: Vec<Cache>,
    /// Socket id.
    pub socket_id: i32,
}

/// A CPU cache.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cache {
    /// Cache id.
    #[serde(default)]
    pub id: i32,
    /// Size in bytes.
    pub size: u64,
    /// `Data`, `Instruction` or `Unified`.
    #[serde(rename = "type")]
    pub cache_type: String,
    /// Level.
    pub level: i32,
}
