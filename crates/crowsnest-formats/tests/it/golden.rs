//! Byte-for-byte comparison with cAdvisor's own test output (`lib/metrics/testdata/`): for
//! every family we emit that the golden file has, our block (HELP, TYPE and every sample
//! line) must equal cAdvisor's. The golden families we do not emit, or emit differently, are
//! listed with the reason; the lists must stay exact.

use std::collections::{BTreeMap, BTreeSet};

use crowsnest_core::metrics::MetricSet;
use crowsnest_formats::prometheus::{
    ContainerLabels, ContainerView, Exposition, encode, encode_machine_families,
};

use crate::fixtures::{blocks, cadvisor_container, cadvisor_machine, cadvisor_version};

const GOLDEN_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/testdata/cadvisor/"
);

/// The golden file, or `None` after a loud message (a failure under `CI=true`).
fn golden(name: &str) -> Option<String> {
    let path = format!("{GOLDEN_DIR}{name}");
    match std::fs::read_to_string(&path) {
        Ok(s) => Some(s),
        Err(e) => {
            crowsnest_testkit::missing(&format!("cAdvisor's golden file {path} ({e})"));
            None
        }
    }
}

/// Golden families we do not emit, and why.
const NOT_EMITTED: &[(&str, &str)] = &[
    (
        "container_cpu_load_average_10s",
        "cpuLoad: the model has no load average (netlink taskstats)",
    ),
    (
        "container_cpu_load_d_average_10s",
        "cpuLoad: the model has no load average",
    ),
    (
        "container_tasks_state",
        "cpuLoad: the model has no task state counts",
    ),
    (
        "container_cpu_schedstat_run_periods_total",
        "sched: the model has no schedstat",
    ),
    (
        "container_cpu_schedstat_run_seconds_total",
        "sched: the model has no schedstat",
    ),
    (
        "container_cpu_schedstat_runqueue_seconds_total",
        "sched: the model has no schedstat",
    ),
    (
        "container_custom_app_metric_1",
        "app: no application metrics collector",
    ),
    (
        "container_custom_app_metric_2",
        "app: no application metrics collector",
    ),
    (
        "container_custom_app_metric_3",
        "app: no application metrics collector",
    ),
    (
        "container_fs_io_current",
        "FsStats has no /proc/diskstats counters",
    ),
    (
        "container_fs_io_time_seconds_total",
        "FsStats has no /proc/diskstats counters",
    ),
    (
        "container_fs_io_time_weighted_seconds_total",
        "FsStats has no /proc/diskstats counters",
    ),
    (
        "container_fs_read_seconds_total",
        "FsStats has no /proc/diskstats counters",
    ),
    (
        "container_fs_reads_merged_total",
        "FsStats has no /proc/diskstats counters",
    ),
    (
        "container_fs_sector_reads_total",
        "FsStats has no /proc/diskstats counters",
    ),
    (
        "container_fs_sector_writes_total",
        "FsStats has no /proc/diskstats counters",
    ),
    (
        "container_fs_write_seconds_total",
        "FsStats has no /proc/diskstats counters",
    ),
    (
        "container_fs_writes_merged_total",
        "FsStats has no /proc/diskstats counters",
    ),
    (
        "container_fs_reads_total",
        "we emit it from io_serviced only; the golden series come from FsStats diskstats counters \
         the model lacks (cAdvisor's test container has no io_serviced)",
    ),
    ("container_fs_writes_total", "as container_fs_reads_total"),
    (
        "container_fs_io_cost_usage_seconds_total",
        "diskIO: the model has no io.cost stats",
    ),
    (
        "container_fs_io_cost_wait_seconds_total",
        "diskIO: the model has no io.cost stats",
    ),
    (
        "container_fs_io_cost_indebt_seconds_total",
        "diskIO: the model has no io.cost stats",
    ),
    (
        "container_fs_io_cost_indelay_seconds_total",
        "diskIO: the model has no io.cost stats",
    ),
    (
        "container_hugetlb_failcnt",
        "hugetlb: the model has no hugetlb stats",
    ),
    (
        "container_hugetlb_max_usage_bytes",
        "hugetlb: the model has no hugetlb stats",
    ),
    (
        "container_hugetlb_usage_bytes",
        "hugetlb: the model has no hugetlb stats",
    ),
    (
        "container_memory_file_dirty_bytes",
        "v0.60-only; the model has no file_dirty",
    ),
    (
        "container_memory_file_writeback_bytes",
        "v0.60-only; the model has no file_writeback",
    ),
    (
        "container_memory_pgscan_total",
        "v0.60-only; the model has no pgscan",
    ),
    (
        "container_memory_pgsteal_total",
        "v0.60-only; the model has no pgsteal",
    ),
    (
        "container_memory_workingset_refault_anon_total",
        "v0.60-only; the model has no refaults",
    ),
    (
        "container_memory_workingset_refault_file_total",
        "v0.60-only; the model has no refaults",
    ),
    (
        "container_memory_migrate",
        "cpuset: the model has no cpuset stats",
    ),
    (
        "container_memory_numa_pages",
        "memory_numa: the model has no per-node memory stats",
    ),
    (
        "container_network_advance_tcp_stats_total",
        "advtcp: the model has no TCP counters",
    ),
    (
        "container_network_tcp_usage_total",
        "tcp: the model has no connection states",
    ),
    (
        "container_network_tcp6_usage_total",
        "tcp: the model has no connection states",
    ),
    (
        "container_network_udp_usage_total",
        "udp: the model has no UDP stats",
    ),
    (
        "container_network_udp6_usage_total",
        "udp: the model has no UDP stats",
    ),
    ("container_perf_events_total", "perf_event: no perf support"),
    (
        "container_perf_events_scaling_ratio",
        "perf_event: no perf support",
    ),
    (
        "container_perf_uncore_events_total",
        "perf_event: no perf support",
    ),
    (
        "container_perf_uncore_events_scaling_ratio",
        "perf_event: no perf support",
    ),
    (
        "container_referenced_bytes",
        "referenced_memory: not collected",
    ),
    (
        "container_memory_bandwidth_bytes",
        "resctrl: no Intel RDT support",
    ),
    (
        "container_memory_bandwidth_local_bytes",
        "resctrl: no Intel RDT support",
    ),
    (
        "container_llc_occupancy_bytes",
        "resctrl: no Intel RDT support",
    ),
    (
        "container_ulimits_soft",
        "process: the model has no ulimits",
    ),
];

/// Golden families we emit with different bytes, and why.
const DIFFERENT: &[(&str, &str)] = &[(
    "container_start_time_seconds",
    "the model has no spec start time, so we show the creation time (cAdvisor's fallback); \
     the golden container starts 1000 s after its creation",
)];

/// Compares our blocks with the golden ones and checks the lists are exact.
fn compare(ours: &str, golden: &str, not_emitted: &[(&str, &str)], different: &[(&str, &str)]) {
    let ours = blocks(ours);
    let want = blocks(golden);
    let not_emitted: BTreeMap<&str, &str> = not_emitted.iter().copied().collect();
    let different: BTreeMap<&str, &str> = different.iter().copied().collect();
    let mut matched = BTreeSet::new();
    let mut problems = Vec::new();
    for (name, block) in &ours {
        let Some(golden_block) = want.get(name) else {
            continue;
        };
        if let Some(why) = different.get(name.as_str()) {
            if block == golden_block {
                problems.push(format!(
                    "{name} now matches: remove it from DIFFERENT ({why})"
                ));
            }
        } else if block == golden_block {
            matched.insert(name.as_str());
        } else {
            problems.push(format!(
                "{name} differs\n--- ours\n{block}--- cAdvisor\n{golden_block}"
            ));
        }
    }
    for name in want.keys() {
        let listed = not_emitted.contains_key(name.as_str());
        match (ours.contains_key(name), listed) {
            (true, true) => {
                problems.push(format!("{name} is emitted now: remove it from NOT_EMITTED"))
            }
            (false, false) => {
                problems.push(format!("{name} is in the golden file but not emitted"))
            }
            _ => {}
        }
    }
    for name in not_emitted.keys().chain(different.keys()) {
        if !want.contains_key(*name) {
            problems.push(format!("{name} is listed but not in the golden file"));
        }
    }
    eprintln!(
        "{} families match cAdvisor byte for byte: {matched:?}",
        matched.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(!matched.is_empty());
}

fn all_groups() -> MetricSet {
    MetricSet::all_except(&[])
}

fn encode_cadvisor_test(labels: ContainerLabels<'_>) -> String {
    let c = cadvisor_container();
    let machine = cadvisor_machine();
    let version = cadvisor_version();
    let extra = [("zone.name", "hello")];
    let views = [ContainerView {
        extra_labels: &extra,
        ..ContainerView::new(&c.reference, &c.spec, &c.stats)
    }];
    let input = Exposition {
        containers: &views,
        machine: &machine,
        version: &version,
        metrics: all_groups(),
        container_labels: labels,
    };
    let mut out = String::new();
    encode(&mut out, &input);
    out
}

#[test]
fn container_families_match_cadvisor_byte_for_byte() {
    let Some(golden) = golden("prometheus_metrics") else {
        return;
    };
    compare(
        &encode_cadvisor_test(ContainerLabels::All),
        &golden,
        NOT_EMITTED,
        DIFFERENT,
    );
}

#[test]
fn whitelisted_labels_match_cadvisor_byte_for_byte() {
    let Some(golden) = golden("prometheus_metrics_whitelist_filtered") else {
        return;
    };
    let only = ["no_one_match".to_owned()];
    compare(
        &encode_cadvisor_test(ContainerLabels::Only(&only)),
        &golden,
        NOT_EMITTED,
        DIFFERENT,
    );
}

#[test]
fn machine_families_match_cadvisor_byte_for_byte() {
    let Some(golden) = golden("prometheus_machine_metrics") else {
        return;
    };
    let mut out = String::new();
    encode_machine_families(&mut out, &cadvisor_machine(), all_groups());
    compare(&out, &golden, &[], &[]);
    assert_eq!(
        blocks(&out).len(),
        blocks(&golden).len(),
        "every machine family is emitted"
    );
}

#[test]
fn families_come_sorted_by_name() {
    let out = encode_cadvisor_test(ContainerLabels::All);
    let names: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .collect();
    assert!(names.is_sorted(), "{names:?}");
    assert_eq!(
        names.len(),
        names.iter().collect::<BTreeSet<_>>().len(),
        "no family twice"
    );
}
