//! The canonical metrics the hub derives (Heapster's names): rates of the agents' counters,
//! requests, and node capacity, utilization and reservation. What the agents send is named in
//! `crowsnest_core::batch::names`; this is the rest of Heapster's list, with no second name
//! for anything there.

use crowsnest_core::batch::names::{self as core, Metric};
use crowsnest_core::batch::{Kind, Unit};

const fn g(name: &'static str, unit: Unit) -> Metric {
    Metric {
        name,
        kind: Kind::Gauge,
        unit,
    }
}

/// CPU usage rate in millicores (the core's name).
pub const CPU_USAGE_RATE: Metric = core::CPU_USAGE_RATE;
/// Page faults per second.
pub const MEMORY_PAGE_FAULTS_RATE: Metric = g("memory/page_faults_rate", Unit::PerSecond);
/// Major page faults per second.
pub const MEMORY_MAJOR_PAGE_FAULTS_RATE: Metric =
    g("memory/major_page_faults_rate", Unit::PerSecond);
/// Bytes received per second.
pub const NETWORK_RX_RATE: Metric = g("network/rx_rate", Unit::BytesPerSecond);
/// Bytes sent per second.
pub const NETWORK_TX_RATE: Metric = g("network/tx_rate", Unit::BytesPerSecond);
/// Receive errors per second.
pub const NETWORK_RX_ERRORS_RATE: Metric = g("network/rx_errors_rate", Unit::PerSecond);
/// Transmit errors per second.
pub const NETWORK_TX_ERRORS_RATE: Metric = g("network/tx_errors_rate", Unit::PerSecond);
/// Bytes read per second from one device (label `resource_id`).
pub const DISK_IO_READ_BYTES_RATE: Metric = g("disk/io_read_bytes_rate", Unit::BytesPerSecond);
/// Bytes written per second to one device (label `resource_id`).
pub const DISK_IO_WRITE_BYTES_RATE: Metric = g("disk/io_write_bytes_rate", Unit::BytesPerSecond);
/// CPU requested, millicores (Kubernetes `requests.cpu`, read back from `cpu.shares`).
pub const CPU_REQUEST: Metric = g("cpu/request", Unit::Millicores);
/// Memory requested, bytes.
pub const MEMORY_REQUEST: Metric = g("memory/request", Unit::Bytes);
/// The node's CPU, millicores.
pub const CPU_NODE_CAPACITY: Metric = g("cpu/node_capacity", Unit::Millicores);
/// The node's CPU that pods may use, millicores.
pub const CPU_NODE_ALLOCATABLE: Metric = g("cpu/node_allocatable", Unit::Millicores);
/// CPU usage over allocatable (a ratio).
pub const CPU_NODE_UTILIZATION: Metric = g("cpu/node_utilization", Unit::Count);
/// CPU requests over allocatable (a ratio).
pub const CPU_NODE_RESERVATION: Metric = g("cpu/node_reservation", Unit::Count);
/// The node's memory, bytes.
pub const MEMORY_NODE_CAPACITY: Metric = g("memory/node_capacity", Unit::Bytes);
/// The node's memory that pods may use, bytes.
pub const MEMORY_NODE_ALLOCATABLE: Metric = g("memory/node_allocatable", Unit::Bytes);
/// Memory usage over allocatable (a ratio).
pub const MEMORY_NODE_UTILIZATION: Metric = g("memory/node_utilization", Unit::Count);
/// Memory requests over allocatable (a ratio).
pub const MEMORY_NODE_RESERVATION: Metric = g("memory/node_reservation", Unit::Count);

/// How often a pod's container restarted (Kubernetes' `restartCount`; Heapster's enricher).
pub const RESTART_COUNT: Metric = g("restart_count", Unit::Count);

/// A counter and the rate derived from it (Heapster's `RateMetricsMapping`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateMapping {
    /// The cumulative counter.
    pub counter: Metric,
    /// The rate (a gauge).
    pub rate: Metric,
    /// What one unit of counter per nanosecond is in the rate's unit: 1e12 for nanoseconds of
    /// CPU to millicores, 1e9 for events or bytes to per second.
    pub per_nano: f64,
}

/// Every counter that has a rate, in Heapster's order.
pub const RATES: &[RateMapping] = &[
    RateMapping {
        counter: core::CPU_USAGE,
        rate: CPU_USAGE_RATE,
        per_nano: 1e12 / 1e9,
    },
    RateMapping {
        counter: core::MEMORY_PAGE_FAULTS,
        rate: MEMORY_PAGE_FAULTS_RATE,
        per_nano: 1e9,
    },
    RateMapping {
        counter: core::MEMORY_MAJOR_PAGE_FAULTS,
        rate: MEMORY_MAJOR_PAGE_FAULTS_RATE,
        per_nano: 1e9,
    },
    RateMapping {
        counter: core::NETWORK_RX,
        rate: NETWORK_RX_RATE,
        per_nano: 1e9,
    },
    RateMapping {
        counter: core::NETWORK_RX_ERRORS,
        rate: NETWORK_RX_ERRORS_RATE,
        per_nano: 1e9,
    },
    RateMapping {
        counter: core::NETWORK_TX,
        rate: NETWORK_TX_RATE,
        per_nano: 1e9,
    },
    RateMapping {
        counter: core::NETWORK_TX_ERRORS,
        rate: NETWORK_TX_ERRORS_RATE,
        per_nano: 1e9,
    },
    RateMapping {
        counter: core::DISK_IO_READ_BYTES,
        rate: DISK_IO_READ_BYTES_RATE,
        per_nano: 1e9,
    },
    RateMapping {
        counter: core::DISK_IO_WRITE_BYTES,
        rate: DISK_IO_WRITE_BYTES_RATE,
        per_nano: 1e9,
    },
];

/// The index in [`RATES`] of the counter called `name`.
pub fn rate_index(name: &str) -> Option<u8> {
    RATES
        .iter()
        .position(|r| r.counter.name == name)
        .and_then(|i| u8::try_from(i).ok())
}

/// Network metrics: kept at pod and node level, not on a pod's containers (they share the
/// pod's network namespace, so each would repeat the pod's figures).
pub const NETWORK: &[Metric] = &[
    core::NETWORK_RX,
    core::NETWORK_TX,
    core::NETWORK_RX_ERRORS,
    core::NETWORK_TX_ERRORS,
    NETWORK_RX_RATE,
    NETWORK_TX_RATE,
    NETWORK_RX_ERRORS_RATE,
    NETWORK_TX_ERRORS_RATE,
];

/// What a namespace and the cluster carry (Heapster's namespace and cluster aggregators).
pub const NAMESPACE_SUMS: &[Metric] = &[
    CPU_USAGE_RATE,
    core::MEMORY_USAGE,
    CPU_REQUEST,
    CPU_LIMIT,
    MEMORY_REQUEST,
    MEMORY_LIMIT,
];

/// The CPU limit (the core's name).
pub const CPU_LIMIT: Metric = core::CPU_LIMIT;
/// The memory limit (the core's name).
pub const MEMORY_LIMIT: Metric = core::MEMORY_LIMIT;

/// Every metric the hub knows: the core's and the derived ones. The model API resolves
/// names (and Heapster's deprecated aliases) against this list.
pub fn lookup(name: &str) -> Option<Metric> {
    core::lookup(name).or_else(|| DERIVED.iter().copied().find(|m| m.name == name))
}

/// The derived metrics.
pub const DERIVED: &[Metric] = &[
    MEMORY_PAGE_FAULTS_RATE,
    MEMORY_MAJOR_PAGE_FAULTS_RATE,
    NETWORK_RX_RATE,
    NETWORK_TX_RATE,
    NETWORK_RX_ERRORS_RATE,
    NETWORK_TX_ERRORS_RATE,
    DISK_IO_READ_BYTES_RATE,
    DISK_IO_WRITE_BYTES_RATE,
    CPU_REQUEST,
    MEMORY_REQUEST,
    CPU_NODE_CAPACITY,
    CPU_NODE_ALLOCATABLE,
    CPU_NODE_UTILIZATION,
    CPU_NODE_RESERVATION,
    MEMORY_NODE_CAPACITY,
    MEMORY_NODE_ALLOCATABLE,
    MEMORY_NODE_UTILIZATION,
    MEMORY_NODE_RESERVATION,
    RESTART_COUNT,
];

/// The agents' metrics the hub keeps: Heapster's list (`metrics/core/metrics.go`
/// `StandardMetrics` and `LabeledMetrics`). The rest (pressure, CFS periods, user and system
/// CPU, swap, process counts, ...) stays with the agents, which serve it; keeping it in the hub
/// would double the hub's memory per container for figures nobody aggregates.
pub fn is_hub_metric(name: &str) -> bool {
    const KEPT: &[Metric] = &[
        core::UPTIME,
        core::CPU_USAGE,
        core::CPU_LIMIT,
        core::MEMORY_USAGE,
        core::MEMORY_WORKING_SET,
        core::MEMORY_RSS,
        core::MEMORY_CACHE,
        core::MEMORY_PAGE_FAULTS,
        core::MEMORY_MAJOR_PAGE_FAULTS,
        core::MEMORY_LIMIT,
        core::NETWORK_RX,
        core::NETWORK_TX,
        core::NETWORK_RX_ERRORS,
        core::NETWORK_TX_ERRORS,
        core::FILESYSTEM_USAGE,
        core::FILESYSTEM_LIMIT,
        core::FILESYSTEM_AVAILABLE,
        core::FILESYSTEM_INODES,
        core::FILESYSTEM_INODES_FREE,
        core::DISK_IO_READ_BYTES,
        core::DISK_IO_WRITE_BYTES,
    ];
    KEPT.iter().any(|m| m.name == name)
}

/// Heapster's deprecated metric aliases (`cpu-usage`, ...) to canonical names.
pub fn resolve_alias(name: &str) -> &str {
    match name {
        "cpu-usage" => CPU_USAGE_RATE.name,
        "cpu-limit" => CPU_LIMIT.name,
        "memory-limit" => MEMORY_LIMIT.name,
        "memory-usage" => core::MEMORY_USAGE.name,
        "memory-working" => core::MEMORY_WORKING_SET.name,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_known() {
        let mut all: Vec<&str> = core::ALL.iter().chain(DERIVED).map(|m| m.name).collect();
        all.sort_unstable();
        let n = all.len();
        all.dedup();
        assert_eq!(all.len(), n, "a name is defined twice");
        for r in RATES {
            assert_eq!(r.counter.kind, Kind::Cumulative, "{}", r.counter.name);
            assert_eq!(lookup(r.rate.name), Some(r.rate));
        }
        assert_eq!(resolve_alias("cpu-usage"), "cpu/usage_rate");
        assert_eq!(resolve_alias("memory-working"), "memory/working_set");
        assert_eq!(rate_index("network/tx"), Some(5));
    }
}
