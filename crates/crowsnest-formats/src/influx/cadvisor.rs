//! cAdvisor's InfluxDB storage driver schema (`cmd/internal/storage/influxdb/influxdb.go`),
//! for people moving from `--storage_driver=influxdb`: one measurement per metric, field
//! `value` (integers as `123i`), tags `machine`, `container_name` and every runtime label of
//! the container under its own key.
//!
//! | canonical                   | measurement          | extra tags                                  |
//! |-----------------------------|----------------------|---------------------------------------------|
//! | `cpu/usage`                 | `cpu_usage_total`    |                                             |
//! | `cpu/usage_user`            | `cpu_usage_user`     |                                             |
//! | `cpu/usage_system`          | `cpu_usage_system`   |                                             |
//! | `memory/usage`              | `memory_usage`       |                                             |
//! | `memory/max_usage`          | `memory_max_usage`   |                                             |
//! | `memory/cache`              | `memory_cache`       |                                             |
//! | `memory/rss`                | `memory_rss`         |                                             |
//! | `memory/swap`               | `memory_swap`        |                                             |
//! | `memory/mapped_file`        | `memory_mapped_file` |                                             |
//! | `memory/working_set`        | `memory_working_set` |                                             |
//! | `memory/failcnt`            | `memory_failcnt`     |                                             |
//! | `memory/page_faults`        | `memory_failure`     | `failure_type=pgfault`, `scope=container`   |
//! | `memory/major_page_faults`  | `memory_failure`     | `failure_type=pgmajfault`, `scope=container`|
//! | `network/rx`                | `rx_bytes`           |                                             |
//! | `network/rx_errors`         | `rx_errors`          |                                             |
//! | `network/tx`                | `tx_bytes`           |                                             |
//! | `network/tx_errors`         | `tx_errors`          |                                             |
//! | `filesystem/usage`          | `fs_usage`           | `device` (= `resource_id`), `type=usage`    |
//! | `filesystem/limit`          | `fs_limit`           | `device` (= `resource_id`), `type=limit`    |
//!
//! `machine` is the `hostname` label (cAdvisor: `os.Hostname()`), `container_name` the
//! canonical `container_name`. The runtime labels come back from the canonical `labels`
//! label (`k:v,k:v`); a tag of ours wins over a runtime label of the same key.
//!
//! What a canonical batch cannot give (gaps against cAdvisor's driver):
//! * `cpu_usage_per_cpu` (per-CPU counters) and `load_average`: not in the canonical set;
//! * `rx_*`/`tx_*`: cAdvisor wrote the first interface only; the canonical value is the sum
//!   over the container's interfaces (the same when it has one);
//! * `memory_failure` with `scope=hierarchical`, `memory_total_{active,inactive}_file`,
//!   `referenced_memory`, `hugetlb_*`, `perf_stat`, `resctrl_*`: not in the canonical set;
//! * `container_name` of a Kubernetes container is the Kubernetes container name (cAdvisor:
//!   the runtime's first alias, `k8s_<container>_<pod>_...`);
//! * a runtime label whose value contains `,` comes back cut at the `,` (the canonical
//!   `labels` joins them with `,`), and one named `time` is left out (InfluxDB rejects it).
//!
//! Canonical metrics with no cAdvisor measurement are not written (counted as `unmapped`).

use crowsnest_core::batch::{Batch, Labels, label};

use super::{Encoded, TagCache, line, value_line};

/// A canonical metric's cAdvisor measurement and the tags it adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    /// The measurement.
    pub measurement: &'static str,
    /// Fixed extra tags.
    pub tags: &'static [(&'static str, &'static str)],
    /// Whether the `resource_id` label becomes the `device` tag.
    pub device: bool,
}

const fn m(measurement: &'static str) -> Mapping {
    Mapping {
        measurement,
        tags: &[],
        device: false,
    }
}

/// The mapping table, by canonical name.
pub const TABLE: &[(&str, Mapping)] = &[
    ("cpu/usage", m("cpu_usage_total")),
    ("cpu/usage_user", m("cpu_usage_user")),
    ("cpu/usage_system", m("cpu_usage_system")),
    ("memory/usage", m("memory_usage")),
    ("memory/max_usage", m("memory_max_usage")),
    ("memory/cache", m("memory_cache")),
    ("memory/rss", m("memory_rss")),
    ("memory/swap", m("memory_swap")),
    ("memory/mapped_file", m("memory_mapped_file")),
    ("memory/working_set", m("memory_working_set")),
    ("memory/failcnt", m("memory_failcnt")),
    (
        "memory/page_faults",
        Mapping {
            measurement: "memory_failure",
            tags: &[("failure_type", "pgfault"), ("scope", "container")],
            device: false,
        },
    ),
    (
        "memory/major_page_faults",
        Mapping {
            measurement: "memory_failure",
            tags: &[("failure_type", "pgmajfault"), ("scope", "container")],
            device: false,
        },
    ),
    ("network/rx", m("rx_bytes")),
    ("network/rx_errors", m("rx_errors")),
    ("network/tx", m("tx_bytes")),
    ("network/tx_errors", m("tx_errors")),
    (
        "filesystem/usage",
        Mapping {
            measurement: "fs_usage",
            tags: &[("type", "usage")],
            device: true,
        },
    ),
    (
        "filesystem/limit",
        Mapping {
            measurement: "fs_limit",
            tags: &[("type", "limit")],
            device: true,
        },
    ),
];

/// The cAdvisor mapping of canonical metric `metric`.
pub fn mapping(metric: &str) -> Option<&'static Mapping> {
    TABLE.iter().find(|(n, _)| *n == metric).map(|(_, m)| m)
}

/// The runtime labels in the canonical `labels` label (`k:v,k:v`).
pub fn runtime_labels(labels: &Labels) -> impl Iterator<Item = (&str, &str)> {
    labels
        .get(label::LABELS)
        .unwrap_or("")
        .split(',')
        .filter_map(|kv| kv.split_once(':'))
}

/// The tags of a point: ours (`machine`, `container_name`, the mapping's) over the runtime
/// labels, sorted by key.
fn point_tags<'a>(labels: &'a Labels, m: &Mapping) -> Vec<(&'a str, &'a str)> {
    let mut ours: Vec<(&str, &str)> = Vec::with_capacity(4 + m.tags.len());
    if let Some(h) = labels
        .get(label::HOSTNAME)
        .or_else(|| labels.get(label::NODENAME))
    {
        ours.push(("machine", h));
    }
    if let Some(c) = labels.get(label::CONTAINER_NAME) {
        ours.push(("container_name", c));
    }
    if m.device
        && let Some(d) = labels.get(label::RESOURCE_ID)
    {
        ours.push(("device", d));
    }
    ours.extend(m.tags.iter().copied());
    let mut all: Vec<(&str, &str)> = runtime_labels(labels)
        .filter(|(k, _)| !ours.iter().any(|(o, _)| o == k))
        .collect();
    all.extend(ours);
    all.sort_unstable();
    all.dedup_by(|a, b| a.0 == b.0);
    all
}

fn write_tags(tags: &[(&str, &str)], out: &mut String) {
    for (k, v) in tags {
        line::tag(out, k, v);
    }
}

pub(super) fn encode(cache: &mut TagCache, batch: &Batch, ts: i64, out: &mut String) -> Encoded {
    let mut e = Encoded::default();
    let mut prefix = String::with_capacity(256);
    for s in &batch.samples {
        let Some(m) = mapping(&s.metric) else {
            e.unmapped += 1;
            continue;
        };
        prefix.clear();
        line::measurement(&mut prefix, m.measurement);
        if m.tags.is_empty() && !m.device {
            prefix.push_str(cache.get(&s.labels, |l, o| write_tags(&point_tags(l, m), o)));
        } else {
            write_tags(&point_tags(&s.labels, m), &mut prefix);
        }
        if value_line(out, &prefix, s.value, ts) {
            e.lines += 1;
        } else {
            e.unwritable += 1;
        }
    }
    e
}
