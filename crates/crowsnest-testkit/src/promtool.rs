//! `promtool check metrics` as a test oracle: the text must parse, and the only lint findings
//! allowed are the ones cAdvisor's own output has (its metric names are a compatibility
//! promise, lint or not).

use std::io::Write;
use std::process::{Command, Stdio};

/// The lint findings cAdvisor's own output gets from promtool, by metric name. Each is a
/// name cAdvisor chose and dashboards depend on.
pub const CADVISOR_LINTS: &[(&str, &str)] = &[
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

/// Pipes `text` through `promtool check metrics`. Panics when promtool reports a parse error
/// or a lint finding that is not one of [`CADVISOR_LINTS`]; returns the metric names of the
/// allowed findings, sorted and deduplicated. Returns `None` (after [`crate::missing`]) when
/// promtool is not installed.
pub fn check_metrics(text: &str) -> Option<Vec<&'static str>> {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            crate::missing(&format!(
                "promtool on PATH ({e}); apt-get install prometheus"
            ));
            return None;
        }
    };
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names = Vec::new();
    match out.status.code() {
        Some(0) => {}
        Some(3) => {
            for line in said.lines().filter(|l| !l.trim().is_empty()) {
                let known = CADVISOR_LINTS
                    .iter()
                    .find(|(name, msg)| line == format!("{name} {msg}"));
                let Some(known) = known else {
                    panic!("promtool lint not in cAdvisor's own list: {line}\n{said}");
                };
                names.push(known.0);
            }
        }
        code => panic!("promtool check metrics failed ({code:?}):\n{said}\n--- input\n{text}"),
    }
    names.sort_unstable();
    names.dedup();
    Some(names)
}
