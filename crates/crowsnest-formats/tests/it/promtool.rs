//! A realistic `/metrics` response through `promtool check metrics`: it must parse, and the
//! only lint findings allowed are the ones cAdvisor's own output has (its metric names are a
//! compatibility promise, lint or not).

use crowsnest_core::metrics::MetricSet;
use crowsnest_formats::prometheus::{
    ContainerLabels, ContainerView, Exposition, HistogramView, SelfMetricsView, encode_scrape,
};

use crate::fixtures::{cadvisor_machine, cadvisor_version, realistic_host};

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
    let Some(names) = crowsnest_testkit::promtool::check_metrics(&text) else {
        return;
    };
    assert_eq!(names, EXPECTED);
}
