//! cAdvisor's metric groups (`--enable_metrics` / `--disable_metrics` kinds).

use std::fmt;
use std::str::FromStr;

/// One group of metrics that can be turned on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MetricKind {
    /// CPU usage and CFS.
    Cpu,
    /// Scheduler statistics.
    Sched,
    /// Per-CPU usage.
    PerCpu,
    /// Memory.
    Memory,
    /// Memory per NUMA node.
    MemoryNuma,
    /// Load average.
    CpuLoad,
    /// Block I/O.
    DiskIo,
    /// Filesystem usage.
    Disk,
    /// Network interfaces.
    Network,
    /// TCP connection states.
    Tcp,
    /// Advanced TCP counters.
    AdvTcp,
    /// UDP.
    Udp,
    /// Application metrics.
    App,
    /// Processes, threads, fds.
    Process,
    /// Huge pages.
    Hugetlb,
    /// perf events.
    PerfEvent,
    /// Referenced memory.
    ReferencedMemory,
    /// Machine CPU topology.
    CpuTopology,
    /// Intel RDT.
    Resctrl,
    /// cpuset.
    CpuSet,
    /// OOM events.
    OomEvent,
    /// PSI pressure.
    Pressure,
}

impl MetricKind {
    /// Every kind, in cAdvisor's order.
    pub const ALL: [MetricKind; 22] = [
        MetricKind::Cpu,
        MetricKind::Sched,
        MetricKind::PerCpu,
        MetricKind::Memory,
        MetricKind::MemoryNuma,
        MetricKind::CpuLoad,
        MetricKind::DiskIo,
        MetricKind::Disk,
        MetricKind::Network,
        MetricKind::Tcp,
        MetricKind::AdvTcp,
        MetricKind::Udp,
        MetricKind::App,
        MetricKind::Process,
        MetricKind::Hugetlb,
        MetricKind::PerfEvent,
        MetricKind::ReferencedMemory,
        MetricKind::CpuTopology,
        MetricKind::Resctrl,
        MetricKind::CpuSet,
        MetricKind::OomEvent,
        MetricKind::Pressure,
    ];

    /// The kinds cAdvisor disables unless told otherwise.
    pub const DEFAULT_DISABLED: [MetricKind; 11] = [
        MetricKind::MemoryNuma,
        MetricKind::Tcp,
        MetricKind::Udp,
        MetricKind::AdvTcp,
        MetricKind::Sched,
        MetricKind::Process,
        MetricKind::Hugetlb,
        MetricKind::ReferencedMemory,
        MetricKind::CpuTopology,
        MetricKind::Resctrl,
        MetricKind::CpuSet,
    ];

    /// cAdvisor's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Cpu => "cpu",
            MetricKind::Sched => "sched",
            MetricKind::PerCpu => "percpu",
            MetricKind::Memory => "memory",
            MetricKind::MemoryNuma => "memory_numa",
            MetricKind::CpuLoad => "cpuLoad",
            MetricKind::DiskIo => "diskIO",
            MetricKind::Disk => "disk",
            MetricKind::Network => "network",
            MetricKind::Tcp => "tcp",
            MetricKind::AdvTcp => "advtcp",
            MetricKind::Udp => "udp",
            MetricKind::App => "app",
            MetricKind::Process => "process",
            MetricKind::Hugetlb => "hugetlb",
            MetricKind::PerfEvent => "perf_event",
            MetricKind::ReferencedMemory => "referenced_memory",
            MetricKind::CpuTopology => "cpu_topology",
            MetricKind::Resctrl => "resctrl",
            MetricKind::CpuSet => "cpuset",
            MetricKind::OomEvent => "oom_event",
            MetricKind::Pressure => "pressure",
        }
    }
}

impl fmt::Display for MetricKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A metric group name that cAdvisor does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown metric group {name:?}; known groups: {known}")]
pub struct UnknownMetricKind {
    /// What was given.
    pub name: String,
    /// The valid names, comma-separated.
    pub known: String,
}

impl FromStr for MetricKind {
    type Err = UnknownMetricKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MetricKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownMetricKind {
                name: s.to_owned(),
                known: MetricKind::ALL.map(MetricKind::as_str).join(","),
            })
    }
}

/// The set of enabled metric groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricSet(u32);

impl MetricSet {
    /// cAdvisor's default: everything but [`MetricKind::DEFAULT_DISABLED`].
    pub fn cadvisor_default() -> Self {
        Self::all_except(&MetricKind::DEFAULT_DISABLED)
    }

    /// Every kind but the ones given (`--disable_metrics` replaces the default list).
    pub fn all_except(disabled: &[MetricKind]) -> Self {
        let mut s = MetricSet(0);
        for k in MetricKind::ALL {
            if !disabled.contains(&k) {
                s.0 |= 1 << k as u32;
            }
        }
        s
    }

    /// Exactly the kinds given (`--enable_metrics`).
    pub fn only(enabled: &[MetricKind]) -> Self {
        MetricSet(enabled.iter().fold(0, |acc, k| acc | 1 << *k as u32))
    }

    /// Whether `kind` is enabled.
    pub fn has(self, kind: MetricKind) -> bool {
        self.0 & (1 << kind as u32) != 0
    }

    /// Parses a comma-separated list of kinds; empty items are ignored.
    pub fn parse_list(list: &str) -> Result<Vec<MetricKind>, UnknownMetricKind> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::parse)
            .collect()
    }
}

impl Default for MetricSet {
    fn default() -> Self {
        Self::cadvisor_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_set_matches_cadvisor() {
        let s = MetricSet::default();
        for k in [
            "cpu",
            "percpu",
            "memory",
            "cpuLoad",
            "diskIO",
            "disk",
            "network",
            "app",
            "perf_event",
            "oom_event",
            "pressure",
        ] {
            assert!(s.has(k.parse().unwrap()), "{k} should be on by default");
        }
        for k in MetricKind::DEFAULT_DISABLED {
            assert!(!s.has(k), "{k} should be off by default");
        }
    }

    #[test]
    fn parses_lists_and_names_unknown_kinds() {
        assert_eq!(
            MetricSet::parse_list("cpu, diskIO,,").unwrap(),
            vec![MetricKind::Cpu, MetricKind::DiskIo]
        );
        let e = MetricSet::parse_list("cpu,diskio").unwrap_err();
        assert_eq!(e.name, "diskio");
        assert!(e.to_string().contains("diskIO"));
        let only = MetricSet::only(&[MetricKind::Memory]);
        assert!(only.has(MetricKind::Memory) && !only.has(MetricKind::Cpu));
    }
}
