//! cAdvisor's container metric families (`metrics/prometheus.go`): names, help texts, types,
//! own labels, the group that gates each, and how each value is derived from the model.
//! A `None` in the model produces no series; cAdvisor's quirks are kept (per-CPU series
//! without a `total`, `cfs_*` only with a quota, memory limits above 2^62 shown as 0).

use std::collections::{BTreeSet, HashSet};

use crowsnest_core::metrics::MetricKind::{
    Cpu, Disk, DiskIo, Memory, Network, OomEvent, PerCpu, Pressure, Process,
};
use crowsnest_core::metrics::{MetricKind, MetricSet};
use crowsnest_core::model::{MemoryStats, PsiStats};

use super::family::{Desc, LabelTable, Lv, Num, Sink, write_family};
use super::text::{MetricType, write_header, write_sample};
use super::{ContainerLabels, ContainerView, Exposition};

const C: MetricType = MetricType::Counter;
const G: MetricType = MetricType::Gauge;

/// Appends what a sample of one container contributes to a family.
type Collect = for<'a> fn(&ContainerView<'a>, MetricSet, &mut Sink<'a>);

/// One container family.
struct Family {
    desc: Desc,
    /// The group that must be enabled; `None` for always.
    group: Option<MetricKind>,
    /// Whether samples carry the sample's timestamp (the spec families do not).
    stamped: bool,
    /// `None` for `container_scrape_error`, which has no labels and is always 0 here.
    collect: Option<Collect>,
}

const fn fam(
    name: &'static str,
    help: &'static str,
    ty: MetricType,
    extra: &'static [&'static str],
    group: Option<MetricKind>,
    stamped: bool,
    collect: Collect,
) -> Family {
    Family {
        desc: Desc {
            name,
            help,
            ty,
            extra,
        },
        group,
        stamped,
        collect: Some(collect),
    }
}

/// Every family, sorted by name (a test checks).
#[rustfmt::skip]
static FAMILIES: &[Family] = &[
    fam("container_blkio_device_usage_total", "Blkio Device bytes usage", C, &["device", "major", "minor", "operation"], Some(DiskIo), true, blkio_device_usage),
    fam("container_cpu_cfs_burst_periods_total", "Number of periods when burst occurs.", C, &[], Some(Cpu), true, |v, _, s| cfs(v, s, |c| c.bursts_periods.map(|n| n as f64))),
    fam("container_cpu_cfs_burst_seconds_total", "Total time duration the container has been bursted.", C, &[], Some(Cpu), true, |v, _, s| cfs(v, s, |c| c.burst_time.map(ns_to_s))),
    fam("container_cpu_cfs_periods_total", "Number of elapsed enforcement period intervals.", C, &[], Some(Cpu), true, |v, _, s| cfs(v, s, |c| c.periods.map(|n| n as f64))),
    fam("container_cpu_cfs_throttled_periods_total", "Number of throttled period intervals.", C, &[], Some(Cpu), true, |v, _, s| cfs(v, s, |c| c.throttled_periods.map(|n| n as f64))),
    fam("container_cpu_cfs_throttled_seconds_total", "Total time duration the container has been throttled.", C, &[], Some(Cpu), true, |v, _, s| cfs(v, s, |c| c.throttled_time.map(ns_to_s))),
    fam("container_cpu_system_seconds_total", "Cumulative system cpu time consumed in seconds.", C, &[], Some(Cpu), true, |v, _, s| if let Some(c) = &v.stats.cpu { s.opt_f(c.usage.system.map(ns_to_s)) }),
    fam("container_cpu_usage_seconds_total", "Cumulative cpu time consumed in seconds.", C, &["cpu"], Some(Cpu), true, cpu_usage),
    fam("container_cpu_user_seconds_total", "Cumulative user cpu time consumed in seconds.", C, &[], Some(Cpu), true, |v, _, s| if let Some(c) = &v.stats.cpu { s.opt_f(c.usage.user.map(ns_to_s)) }),
    fam("container_creation_time_seconds", "Container creation time since unix epoch in seconds.", G, &[], None, false, creation_time),
    fam("container_file_descriptors", "Number of open file descriptors for the container.", G, &[], Some(Process), true, |v, _, s| if let Some(p) = &v.stats.processes { s.opt(p.fd_count) }),
    fam("container_fs_inodes_free", "Number of available Inodes", G, &["device"], Some(Disk), true, |v, _, s| fs(v, s, |f| f.inodes_free)),
    fam("container_fs_inodes_total", "Number of Inodes", G, &["device"], Some(Disk), true, |v, _, s| fs(v, s, |f| f.inodes)),
    fam("container_fs_limit_bytes", "Number of bytes that can be consumed by the container on this filesystem.", G, &["device"], Some(Disk), true, |v, _, s| fs(v, s, |f| Some(f.capacity))),
    fam("container_fs_reads_bytes_total", "Cumulative count of bytes read", C, &["device"], Some(DiskIo), true, |v, _, s| io(v, s, true, "Read")),
    fam("container_fs_reads_total", "Cumulative count of reads completed", C, &["device"], Some(DiskIo), true, |v, _, s| io(v, s, false, "Read")),
    fam("container_fs_usage_bytes", "Number of bytes that are consumed by the container on this filesystem.", G, &["device"], Some(Disk), true, |v, _, s| fs(v, s, |f| Some(f.usage))),
    fam("container_fs_writes_bytes_total", "Cumulative count of bytes written", C, &["device"], Some(DiskIo), true, |v, _, s| io(v, s, true, "Write")),
    fam("container_fs_writes_total", "Cumulative count of writes completed", C, &["device"], Some(DiskIo), true, |v, _, s| io(v, s, false, "Write")),
    fam("container_health_state", "The result of the container's health check", G, &[], None, true, health_state),
    fam("container_last_seen", "Last time a container was seen by the exporter", G, &[], None, true, |v, _, s| s.put(v.stats.timestamp.nanos().div_euclid(1_000_000_000) as f64)),
    fam("container_memory_cache", "Number of bytes of page cache memory.", G, &[], Some(Memory), true, |v, _, s| mem(v, s, |m| m.cache)),
    fam("container_memory_events_high_total", "Cumulative count of memory.high throttle events for the container", C, &[], Some(Memory), true, |v, _, s| mem(v, s, |m| m.events.as_ref().and_then(|e| e.high))),
    fam("container_memory_events_max_total", "Cumulative count of memory.max limit hit events for the container", C, &[], Some(Memory), true, |v, _, s| mem(v, s, |m| m.events.as_ref().and_then(|e| e.max))),
    fam("container_memory_failcnt", "Number of memory usage hits limits", C, &[], Some(Memory), true, |v, _, s| mem(v, s, |m| m.failcnt)),
    fam("container_memory_failures_total", "Cumulative count of memory allocation failures.", C, &["failure_type", "scope"], Some(Memory), true, memory_failures),
    fam("container_memory_kernel_usage", "Size of kernel memory allocated in bytes.", G, &[], Some(Memory), true, |v, _, s| mem(v, s, |m| m.kernel)),
    fam("container_memory_mapped_file", "Size of memory mapped files in bytes.", G, &[], Some(Memory), true, |v, _, s| mem(v, s, |m| m.mapped_file)),
    fam("container_memory_max_usage_bytes", "Maximum memory usage recorded in bytes", G, &[], Some(Memory), true, |v, _, s| mem(v, s, |m| m.max_usage)),
    fam("container_memory_rss", "Size of RSS in bytes.", G, &[], Some(Memory), true, |v, _, s| mem(v, s, |m| m.rss)),
    fam("container_memory_swap", "Container swap usage in bytes.", G, &[], Some(Memory), true, |v, _, s| mem(v, s, |m| m.swap)),
    fam("container_memory_total_active_file_bytes", "Current total active file in bytes.", G, &[], Some(Memory), true, |v, _, s| mem(v, s, |m| m.total_active_file)),
    fam("container_memory_total_inactive_file_bytes", "Current total inactive file in bytes.", G, &[], Some(Memory), true, |v, _, s| mem(v, s, |m| m.total_inactive_file)),
    fam("container_memory_usage_bytes", "Current memory usage in bytes, including all memory regardless of when it was accessed", G, &[], Some(Memory), true, |v, _, s| mem(v, s, |m| m.usage)),
    fam("container_memory_working_set_bytes", "Current working set in bytes.", G, &[], Some(Memory), true, |v, _, s| mem(v, s, |m| m.working_set)),
    fam("container_network_receive_bytes_total", "Cumulative count of bytes received", C, &["interface"], Some(Network), true, |v, _, s| net(v, s, |i| i.rx_bytes)),
    fam("container_network_receive_errors_total", "Cumulative count of errors encountered while receiving", C, &["interface"], Some(Network), true, |v, _, s| net(v, s, |i| i.rx_errors)),
    fam("container_network_receive_packets_dropped_total", "Cumulative count of packets dropped while receiving", C, &["interface"], Some(Network), true, |v, _, s| net(v, s, |i| i.rx_dropped)),
    fam("container_network_receive_packets_total", "Cumulative count of packets received", C, &["interface"], Some(Network), true, |v, _, s| net(v, s, |i| i.rx_packets)),
    fam("container_network_transmit_bytes_total", "Cumulative count of bytes transmitted", C, &["interface"], Some(Network), true, |v, _, s| net(v, s, |i| i.tx_bytes)),
    fam("container_network_transmit_errors_total", "Cumulative count of errors encountered while transmitting", C, &["interface"], Some(Network), true, |v, _, s| net(v, s, |i| i.tx_errors)),
    fam("container_network_transmit_packets_dropped_total", "Cumulative count of packets dropped while transmitting", C, &["interface"], Some(Network), true, |v, _, s| net(v, s, |i| i.tx_dropped)),
    fam("container_network_transmit_packets_total", "Cumulative count of packets transmitted", C, &["interface"], Some(Network), true, |v, _, s| net(v, s, |i| i.tx_packets)),
    fam("container_oom_events_total", "Count of out of memory events observed for the container", C, &[], Some(OomEvent), true, |v, _, s| s.opt(v.stats.oom_events)),
    fam("container_pressure_cpu_stalled_seconds_total", "Total time duration no tasks in the container could make progress due to CPU congestion.", C, &[], Some(Pressure), true, |v, _, s| psi(s, v.stats.cpu.as_ref().and_then(|c| c.psi.as_ref()), true)),
    fam("container_pressure_cpu_waiting_seconds_total", "Total time duration tasks in the container have waited due to CPU congestion.", C, &[], Some(Pressure), true, |v, _, s| psi(s, v.stats.cpu.as_ref().and_then(|c| c.psi.as_ref()), false)),
    fam("container_pressure_io_stalled_seconds_total", "Total time duration no tasks in the container could make progress due to IO congestion.", C, &[], Some(Pressure), true, |v, _, s| psi(s, v.stats.diskio.as_ref().and_then(|d| d.psi.as_ref()), true)),
    fam("container_pressure_io_waiting_seconds_total", "Total time duration tasks in the container have waited due to IO congestion.", C, &[], Some(Pressure), true, |v, _, s| psi(s, v.stats.diskio.as_ref().and_then(|d| d.psi.as_ref()), false)),
    fam("container_pressure_memory_stalled_seconds_total", "Total time duration no tasks in the container could make progress due to memory congestion.", C, &[], Some(Pressure), true, |v, _, s| psi(s, v.stats.memory.as_ref().and_then(|m| m.psi.as_ref()), true)),
    fam("container_pressure_memory_waiting_seconds_total", "Total time duration tasks in the container have waited due to memory congestion.", C, &[], Some(Pressure), true, |v, _, s| psi(s, v.stats.memory.as_ref().and_then(|m| m.psi.as_ref()), false)),
    fam("container_processes", "Number of processes running inside the container.", G, &[], Some(Process), true, |v, _, s| if let Some(p) = &v.stats.processes { s.opt(p.process_count) }),
    Family { desc: Desc { name: "container_scrape_error", help: "1 if there was an error while getting container metrics, 0 otherwise", ty: G, extra: &[] }, group: None, stamped: false, collect: None },
    fam("container_sockets", "Number of open sockets for the container.", G, &[], Some(Process), true, |v, _, s| if let Some(p) = &v.stats.processes { s.opt(p.socket_count) }),
    fam("container_spec_cpu_period", "CPU period of the container.", G, &[], None, false, |v, _, s| if v.spec.has_cpu { s.put(v.spec.cpu.period as f64) }),
    fam("container_spec_cpu_quota", "CPU quota of the container.", G, &[], None, false, |v, _, s| if v.spec.has_cpu && v.spec.cpu.quota != 0 { s.put(v.spec.cpu.quota as f64) }),
    fam("container_spec_cpu_shares", "CPU share of the container.", G, &[], None, false, |v, _, s| if v.spec.has_cpu { s.put(v.spec.cpu.limit as f64) }),
    fam("container_spec_memory_limit_bytes", "Memory limit for the container.", G, &[], None, false, |v, _, s| if v.spec.has_memory { s.put(spec_memory(v.spec.memory.limit)) }),
    fam("container_spec_memory_reservation_limit_bytes", "Memory reservation limit for the container.", G, &[], None, false, |v, _, s| if v.spec.has_memory { s.put(spec_memory(v.spec.memory.reservation)) }),
    fam("container_spec_memory_swap_limit_bytes", "Memory swap limit for the container.", G, &[], None, false, |v, _, s| if v.spec.has_memory { s.put(spec_memory(v.spec.memory.swap_limit)) }),
    fam("container_start_time_seconds", "Start time of the container since unix epoch in seconds.", G, &[], None, false, creation_time),
    fam("container_threads", "Number of threads running inside the container", G, &[], Some(Process), true, |v, _, s| if let Some(p) = &v.stats.processes { s.opt(p.threads_current) }),
    fam("container_threads_max", "Maximum number of threads allowed inside the container, infinity if value is zero", G, &[], Some(Process), true, |v, _, s| if let Some(p) = &v.stats.processes { s.opt(p.threads_max) }),
];

/// cAdvisor's encoding of the runtime's health check: 1 `healthy`, -1 no check (no status, or
/// `none`), 0 anything else (`unhealthy`, `starting`).
fn health_state<'a>(v: &ContainerView<'a>, _: MetricSet, s: &mut Sink<'a>) {
    let status = v.stats.health.as_ref().map_or("", |h| h.status.as_str());
    s.put(match status {
        "healthy" => 1.0,
        "" | "none" => -1.0,
        _ => 0.0,
    });
}

fn ns_to_s(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// Memory limits above 2^62 mean "unlimited" and are shown as 0, as cAdvisor does.
fn spec_memory(v: u64) -> f64 {
    if v > 1 << 62 { 0.0 } else { v as f64 }
}

/// Creation time in whole seconds (Go's `time.Unix()`), for both the creation and the
/// start time: the model has no separate start time, and cAdvisor falls back to the
/// creation time when it has none.
fn creation_time<'a>(v: &ContainerView<'a>, _: MetricSet, s: &mut Sink<'a>) {
    s.put(v.spec.creation_time.nanos().div_euclid(1_000_000_000) as f64);
}

/// Per-CPU series (`cpu00`, ... skipping zeros, no total) when per-CPU data is there and the
/// `percpu` group is on; otherwise one `cpu="total"` series when the total is above 0.
fn cpu_usage<'a>(v: &ContainerView<'a>, metrics: MetricSet, s: &mut Sink<'a>) {
    let Some(cpu) = &v.stats.cpu else { return };
    let per = &cpu.usage.per_cpu_usage;
    if metrics.has(PerCpu) && !per.is_empty() {
        for (i, &ns) in per.iter().enumerate() {
            if ns > 0 {
                s.put_ex(ns_to_s(ns), &[Lv::N(Num::cpu(i))]);
            }
        }
    } else if let Some(total) = cpu.usage.total.filter(|&t| t > 0) {
        s.put_ex(ns_to_s(total), &[Lv::S("total")]);
    }
}

/// The `cfs_*` families: only when the spec has a CFS quota.
fn cfs<'a>(
    v: &ContainerView<'a>,
    s: &mut Sink<'a>,
    f: fn(&crowsnest_core::model::CpuCfs) -> Option<f64>,
) {
    if v.spec.cpu.quota == 0 {
        return;
    }
    if let Some(cfs) = v.stats.cpu.as_ref().and_then(|c| c.cfs.as_ref()) {
        s.opt_f(f(cfs));
    }
}

fn mem<'a>(v: &ContainerView<'a>, s: &mut Sink<'a>, f: fn(&MemoryStats) -> Option<u64>) {
    if let Some(m) = &v.stats.memory {
        s.opt(f(m));
    }
}

fn memory_failures<'a>(v: &ContainerView<'a>, _: MetricSet, s: &mut Sink<'a>) {
    let Some(m) = &v.stats.memory else { return };
    for (data, scope) in [
        (&m.container_data, "container"),
        (&m.hierarchical_data, "hierarchy"),
    ] {
        for (value, kind) in [(data.pgfault, "pgfault"), (data.pgmajfault, "pgmajfault")] {
            if let Some(n) = value {
                s.put_ex(n as f64, &[Lv::S(kind), Lv::S(scope)]);
            }
        }
    }
}

fn fs<'a>(
    v: &ContainerView<'a>,
    s: &mut Sink<'a>,
    f: fn(&crowsnest_core::model::FsStats) -> Option<u64>,
) {
    let stats = v.stats;
    for fs in &stats.filesystem {
        if let Some(n) = f(fs) {
            s.put_ex(n as f64, &[Lv::S(&fs.device)]);
        }
    }
}

/// `io_service_bytes` (`bytes`) or `io_serviced` entries for one operation, per device.
fn io<'a>(v: &ContainerView<'a>, s: &mut Sink<'a>, bytes: bool, op: &str) {
    let stats = v.stats;
    let Some(d) = &stats.diskio else { return };
    for disk in if bytes {
        &d.io_service_bytes
    } else {
        &d.io_serviced
    } {
        if let Some(&n) = disk.stats.get(op) {
            s.put_ex(n as f64, &[Lv::S(&disk.device)]);
        }
    }
}

fn blkio_device_usage<'a>(v: &ContainerView<'a>, _: MetricSet, s: &mut Sink<'a>) {
    let stats = v.stats;
    let Some(d) = &stats.diskio else { return };
    for disk in &d.io_service_bytes {
        let (major, minor) = (Lv::N(Num::uint(disk.major)), Lv::N(Num::uint(disk.minor)));
        for (op, &n) in &disk.stats {
            s.put_ex(n as f64, &[Lv::S(&disk.device), major, minor, Lv::S(op)]);
        }
    }
}

fn net<'a>(
    v: &ContainerView<'a>,
    s: &mut Sink<'a>,
    f: fn(&crowsnest_core::model::InterfaceStats) -> u64,
) {
    let stats = v.stats;
    let Some(n) = &stats.network else { return };
    for iface in &n.interfaces {
        s.put_ex(f(iface) as f64, &[Lv::S(&iface.name)]);
    }
}

/// PSI totals in µs as seconds: `full` (stalled) or `some` (waiting).
fn psi(s: &mut Sink<'_>, p: Option<&PsiStats>, full: bool) {
    let data = p.and_then(|p| {
        if full {
            p.full.as_ref()
        } else {
            p.some.as_ref()
        }
    });
    if let Some(d) = data {
        s.put(d.total as f64 / 1e6);
    }
}

/// One base label source, in the order that decides which wins when two sanitise to the
/// same name (cAdvisor's order is Go map order, i.e. random; ours is fixed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Key<'a> {
    Id,
    Name,
    Image,
    Label(&'a str),
    Env(&'a str),
    Extra(&'a str),
}

/// `prefix + key` with every character outside `[a-zA-Z0-9_]` replaced by `_` (cAdvisor's
/// `sanitizeLabelName`), and `_` put before a leading digit.
fn sanitize(prefix: &str, key: &str) -> String {
    let mut s = String::with_capacity(prefix.len() + key.len() + 1);
    s.push_str(prefix);
    if s.is_empty() && key.starts_with(|c: char| c.is_ascii_digit()) {
        s.push('_');
    }
    s.extend(key.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
    s
}

/// The base label table: the union of label names over all containers, sorted, and one row
/// of values per container (`""` where it has none).
fn label_table<'a>(views: &[ContainerView<'a>], policy: ContainerLabels<'_>) -> LabelTable<'a> {
    let mut keys = BTreeSet::new();
    for v in views {
        keys.insert(Key::Id);
        if !v.reference.aliases.is_empty() {
            keys.insert(Key::Name);
        }
        if !v.spec.image.is_empty() {
            keys.insert(Key::Image);
        }
        keys.extend(
            v.spec
                .labels
                .keys()
                .filter(|k| policy.allows(k))
                .map(|k| Key::Label(k)),
        );
        keys.extend(v.spec.envs.keys().map(|k| Key::Env(k)));
        keys.extend(v.extra_labels.iter().map(|&(k, _)| Key::Extra(k)));
    }
    let reserved: HashSet<&str> = FAMILIES
        .iter()
        .flat_map(|f| f.desc.extra.iter().copied())
        .collect();
    let mut seen = HashSet::new();
    let mut slots: Vec<(String, Key<'a>)> = Vec::with_capacity(keys.len());
    for key in keys {
        let name = match key {
            Key::Id => "id".to_owned(),
            Key::Name => "name".to_owned(),
            Key::Image => "image".to_owned(),
            Key::Label(k) => sanitize("container_label_", k),
            Key::Env(k) => sanitize("container_env_", k),
            Key::Extra("") => continue,
            Key::Extra(k) => sanitize("", k),
        };
        if matches!(key, Key::Extra(_)) && reserved.contains(name.as_str()) {
            continue;
        }
        if seen.insert(name.clone()) {
            slots.push((name, key));
        }
    }
    slots.sort_by(|a, b| a.0.cmp(&b.0));
    let mut table = LabelTable::new(slots.iter().map(|(n, _)| n.clone()).collect());
    for v in views {
        table.push_row(slots.iter().map(|&(_, key)| -> &'a str {
            match key {
                Key::Id => &v.reference.name,
                Key::Name => v.reference.aliases.first().map_or("", String::as_str),
                Key::Image => &v.spec.image,
                Key::Label(k) => v.spec.labels.get(k).map_or("", String::as_str),
                Key::Env(k) => v.spec.envs.get(k).map_or("", String::as_str),
                Key::Extra(k) => v
                    .extra_labels
                    .iter()
                    .find(|&&(n, _)| n == k)
                    .map_or("", |&(_, val)| val),
            }
        }));
    }
    table
}

/// Writes `cadvisor_version_info` and every enabled container family that has samples.
pub(super) fn encode(out: &mut String, input: &Exposition<'_>) {
    let ver = input.version;
    let mut none = LabelTable::new(Vec::new());
    none.push_row([]);
    let desc = Desc {
        name: "cadvisor_version_info",
        help: "A metric with a constant '1' value labeled by kernel version, OS version, docker version, cadvisor version & cadvisor revision.",
        ty: G,
        extra: &[
            "kernelVersion",
            "osVersion",
            "dockerVersion",
            "cadvisorVersion",
            "cadvisorRevision",
        ],
    };
    let mut sink = Sink::default();
    sink.put_ex(
        1.0,
        &[
            Lv::S(&ver.kernel_version),
            Lv::S(&ver.container_os_version),
            Lv::S(&ver.docker_version),
            Lv::S(&ver.cadvisor_version),
            Lv::S(&ver.cadvisor_revision),
        ],
    );
    write_family(out, &desc, &mut none, &mut sink.samples);

    let views = input.containers;
    let mut table = label_table(views, input.container_labels);
    let mut sink = Sink::default();
    for f in FAMILIES {
        if f.group.is_some_and(|g| !input.metrics.has(g)) {
            continue;
        }
        let Some(collect) = f.collect else {
            write_header(out, f.desc.name, f.desc.help, f.desc.ty);
            write_sample(out, f.desc.name, &[], 0.0, None);
            continue;
        };
        sink.samples.clear();
        for (i, v) in views.iter().enumerate() {
            sink.row = i as u32;
            sink.ts = f.stamped.then(|| v.stats.timestamp.millis());
            collect(v, input.metrics, &mut sink);
        }
        write_family(out, &f.desc, &mut table, &mut sink.samples);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_sorted_and_unique() {
        for w in FAMILIES.windows(2) {
            assert!(
                w[0].desc.name < w[1].desc.name,
                "{} before {}",
                w[0].desc.name,
                w[1].desc.name
            );
        }
    }

    #[test]
    fn sanitizes_like_cadvisor() {
        assert_eq!(
            sanitize("container_label_", "io.k8s/pod-name"),
            "container_label_io_k8s_pod_name"
        );
        assert_eq!(
            sanitize("container_env_", "foo+env"),
            "container_env_foo_env"
        );
        assert_eq!(sanitize("", "zone.name"), "zone_name");
        assert_eq!(sanitize("", "9lives"), "_9lives");
        assert_eq!(sanitize("", "é"), "_");
    }

    #[test]
    fn memory_limits_above_2_pow_62_are_zero() {
        assert_eq!(spec_memory(1 << 62), (1u64 << 62) as f64);
        assert_eq!(spec_memory((1 << 62) + 1), 0.0);
        assert_eq!(spec_memory(u64::MAX), 0.0);
        assert_eq!(spec_memory(2048), 2048.0);
    }
}
