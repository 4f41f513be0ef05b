//! A realistic `/metrics` response through `promtool check metrics`: it must parse, and the
//! only lint findings allowed are the ones cAdvisor's own output has (its metric names are a
//! compatibility promise, lint or not).

use std::io::Write;
use std::process::{Command, Stdio};

use crowsnest_core::metrics::MetricSet;
use crowsnest_formats::prometheus::{
    ContainerLabels, ContainerView, Exposition, HistogramView, SelfMetricsView, encode_scrape,
};

use crate::fixtures::{cadvisor_machine, cadvisor_version, realistic_host};

/// The lint findings cAdvisor's own output gets from promtool, by metric name. Each is a
/// name cAdvisor chose and dashboards depend on.
const CADVISOR_LINTS: &[(&str, &str)] = &[
    (
        "cadvisor_version_info",
        "label names should be written in 'snake_case' not 'camelCase'",
    ),
    (
        "container_cpu_load_d_average_10s",
        "metric names should not contain abbreviated units",
    ),
    (
        "container_fs_inodes_total",
        "non-counter metrics should not have \"_total\" suffix",
    ),
    (
        "container_hugetlb_failcnt",
        "counter metrics should have \"_total\" suffix",
    ),
    (
        "container_memory_failcnt",
        "counter metrics should have \"_total\" suffix",
    ),
    (
        "container_network_advance_tcp_stats_total",
        "non-counter metrics should not have \"_total\" suffix",
    ),
    (
        "container_network_tcp6_usage_total",
        "non-counter metrics should not have \"_total\" suffix",
    ),
    (
        "container_network_tcp_usage_total",
        "non-counter metrics should not have \"_total\" suffix",
    ),
    (
        "container_network_udp6_usage_total",
        "non-counter metrics should not have \"_total\" suffix",
    ),
    (
        "container_network_udp_usage_total",
        "non-counter metrics should not have \"_total\" suffix",
    ),
    (
        "machine_dimm_count",
        "non-histogram and non-summary metrics should not have \"_count\" suffix",
    ),
    (
        "machine_node_hugepages_count",
        "non-histogram and non-summary metrics should not have \"_count\" suffix",
    ),
    (
        "machine_thread_siblings_count",
        "non-histogram and non-summary metrics should not have \"_count\" suffix",
    ),
];

/// The findings our realistic response must get: the subset of cAdvisor's for the families
/// we emit.
const EXPECTED: &[&str] = &[
    "cadvisor_version_info",
    "container_fs_inodes_total",
    "container_memory_failcnt",
    "machine_dimm_count",
    "machine_node_hugepages_count",
    "machine_thread_siblings_count",
];

fn realistic_response() -> String {
    let host = realistic_host();
    let extra = [("zone.name", "hello"), ("cpu", "ignored: a family label")];
    let views: Vec<ContainerView<'_>> = host
        .iter()
        .enumerate()
        .map(|(i, c)| ContainerView {
            extra_labels: if i == 0 { &extra } else { &[] },
            ..ContainerView::new(&c.reference, &c.spec, &c.stats)
        })
        .collect();
    let machine = cadvisor_machine();
    let version = cadvisor_version();
    let input = Exposition {
        containers: &views,
        machine: &machine,
        version: &version,
        metrics: MetricSet::all_except(&[]),
        container_labels: ContainerLabels::All,
    };
    let bounds = [
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0,
    ];
    let counts = [0, 1, 4, 9, 20, 30, 31, 31, 32, 32];
    let h = HistogramView {
        bounds: &bounds,
        cumulative_counts: &counts,
        sum: 0.1234,
        count: 33,
    };
    let self_metrics = SelfMetricsView {
        container_housekeeping: h,
        housekeeping_pass: h,
        collection_errors: 2,
        containers: 4,
        containers_added: 5,
        containers_removed: 1,
        housekeeping_late: 0,
    };
    let mut out = String::new();
    encode_scrape(&mut out, &input, &self_metrics);
    out
}

#[test]
fn promtool_accepts_a_realistic_response() {
    let text = realistic_response();
    if let Some(path) = std::env::var_os("CROWSNEST_DUMP_METRICS") {
        std::fs::write(path, &text).expect("dump");
    }
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            crowsnest_testkit::missing(&format!(
                "promtool on PATH ({e}); apt-get install prometheus"
            ));
            return;
        }
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match out.status.code() {
        Some(0) => {}
        Some(3) => {
            let mut names = Vec::new();
            for line in said.lines().filter(|l| !l.trim().is_empty()) {
                let known = CADVISOR_LINTS
                    .iter()
                    .find(|(name, msg)| line == format!("{name} {msg}"));
                assert!(
                    known.is_some(),
                    "promtool lint not in cAdvisor's own list: {line}\n{said}"
                );
                names.extend(known.map(|k| k.0));
            }
            names.dedup();
            assert_eq!(names, EXPECTED, "{said}");
        }
        code => panic!("promtool check metrics failed ({code:?}):\n{said}\n--- input\n{text}"),
    }
}
