//! Canonical names to Prometheus names for remote write: cAdvisor's metric names where
//! cAdvisor has one (so its dashboards and alerts work on remote-written data), a
//! `crowsnest_` name by rule otherwise.
//!
//! | canonical                  | Prometheus                                      | value      |
//! |----------------------------|-------------------------------------------------|------------|
//! | `uptime`                   | `container_start_time_seconds`                  | t − uptime |
//! | `cpu/usage`                | `container_cpu_usage_seconds_total`             | ns → s     |
//! | `cpu/usage_user`           | `container_cpu_user_seconds_total`              | ns → s     |
//! | `cpu/usage_system`         | `container_cpu_system_seconds_total`            | ns → s     |
//! | `cpu/cfs_periods`          | `container_cpu_cfs_periods_total`               |            |
//! | `cpu/cfs_throttled_periods`| `container_cpu_cfs_throttled_periods_total`     |            |
//! | `cpu/cfs_throttled_time`   | `container_cpu_cfs_throttled_seconds_total`     | ns → s     |
//! | `memory/usage`             | `container_memory_usage_bytes`                  |            |
//! | `memory/max_usage`         | `container_memory_max_usage_bytes`              |            |
//! | `memory/working_set`       | `container_memory_working_set_bytes`            |            |
//! | `memory/rss`               | `container_memory_rss`                          |            |
//! | `memory/cache`             | `container_memory_cache`                        |            |
//! | `memory/swap`              | `container_memory_swap`                         |            |
//! | `memory/mapped_file`       | `container_memory_mapped_file`                  |            |
//! | `memory/failcnt`           | `container_memory_failcnt`                      |            |
//! | `memory/page_faults`       | `container_memory_failures_total{failure_type="pgfault",scope="container"}` | |
//! | `memory/major_page_faults` | `container_memory_failures_total{failure_type="pgmajfault",scope="container"}` | |
//! | `memory/oom_kills`         | `container_oom_events_total`                    |            |
//! | `memory/limit`             | `container_spec_memory_limit_bytes`             |            |
//! | `network/rx`               | `container_network_receive_bytes_total`         | all interfaces |
//! | `network/tx`               | `container_network_transmit_bytes_total`        | all interfaces |
//! | `network/rx_errors`        | `container_network_receive_errors_total`        | all interfaces |
//! | `network/tx_errors`        | `container_network_transmit_errors_total`       | all interfaces |
//! | `filesystem/usage`         | `container_fs_usage_bytes`                      |            |
//! | `filesystem/limit`         | `container_fs_limit_bytes`                      |            |
//! | `filesystem/inodes`        | `container_fs_inodes_total`                     |            |
//! | `filesystem/inodes_free`   | `container_fs_inodes_free`                      |            |
//! | `disk/io_read_bytes`       | `container_fs_reads_bytes_total`                |            |
//! | `disk/io_write_bytes`      | `container_fs_writes_bytes_total`               |            |
//! | `process/count`            | `container_processes`                           |            |
//! | `process/threads`          | `container_threads`                             |            |
//! | `cpu/pressure_waiting`     | `container_pressure_cpu_waiting_seconds_total`  | µs → s     |
//! | `cpu/pressure_stalled`     | `container_pressure_cpu_stalled_seconds_total`  | µs → s     |
//! | `memory/pressure_waiting`  | `container_pressure_memory_waiting_seconds_total` | µs → s   |
//! | `memory/pressure_stalled`  | `container_pressure_memory_stalled_seconds_total` | µs → s   |
//! | `disk/pressure_waiting`    | `container_pressure_io_waiting_seconds_total`   | µs → s     |
//! | `disk/pressure_stalled`    | `container_pressure_io_stalled_seconds_total`   | µs → s     |
//!
//! Any other metric (`cpu/limit`, `cpu/usage_rate`, `filesystem/available`, the hub's rates):
//! `crowsnest_` + the name with `/` as `_` + the base unit (`_seconds` from ns/µs/ms,
//! `_cores` from millicores, `_bytes`, `_per_second`, `_bytes_per_second`; nothing for counts)
//! + `_total` for counters: `cpu/usage_rate` is `crowsnest_cpu_usage_rate_cores`.
//!
//! Labels: `id` → `id`, `container_name` → `name`, `container_base_image` → `image`,
//! `pod_name` → `pod`, `namespace_name` → `namespace`, `pod_id` → `pod_uid`, `nodename` →
//! `node`, `resource_id` → `device`, `type` → `type`, `hostname` → `hostname` only when it
//! differs from `nodename`, the runtime labels in `labels` (`k:v,k:v`) →
//! `container_label_<k>` (sanitised as cAdvisor does), anything else → its name sanitised.
//! Empty values are left out (Prometheus treats them as absent). cAdvisor's per-interface
//! `interface` and per-CPU `cpu` labels have no canonical source: network counters are summed
//! over interfaces and CPU is the total.

use crowsnest_core::batch::{Kind, Unit, label};

/// How a canonical value becomes the Prometheus value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    /// As it is.
    One,
    /// Multiplied by this factor.
    Factor(f64),
    /// `uptime` (ms) as the start time in seconds: sample time minus uptime.
    StartTime,
}

/// A Prometheus metric for a canonical one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PromMetric {
    /// Metric name (`__name__`).
    pub name: &'static str,
    /// Value conversion.
    pub scale: Scale,
    /// Fixed labels the metric adds.
    pub labels: &'static [(&'static str, &'static str)],
}

const NS: Scale = Scale::Factor(1e-9);
const US: Scale = Scale::Factor(1e-6);

const fn p(name: &'static str, scale: Scale) -> PromMetric {
    PromMetric {
        name,
        scale,
        labels: &[],
    }
}

/// The table of cAdvisor names, by canonical name.
#[rustfmt::skip]
pub const TABLE: &[(&str, PromMetric)] = &[
    ("uptime", p("container_start_time_seconds", Scale::StartTime)),
    ("cpu/usage", p("container_cpu_usage_seconds_total", NS)),
    ("cpu/usage_user", p("container_cpu_user_seconds_total", NS)),
    ("cpu/usage_system", p("container_cpu_system_seconds_total", NS)),
    ("cpu/cfs_periods", p("container_cpu_cfs_periods_total", Scale::One)),
    ("cpu/cfs_throttled_periods", p("container_cpu_cfs_throttled_periods_total", Scale::One)),
    ("cpu/cfs_throttled_time", p("container_cpu_cfs_throttled_seconds_total", NS)),
    ("memory/usage", p("container_memory_usage_bytes", Scale::One)),
    ("memory/max_usage", p("container_memory_max_usage_bytes", Scale::One)),
    ("memory/working_set", p("container_memory_working_set_bytes", Scale::One)),
    ("memory/rss", p("container_memory_rss", Scale::One)),
    ("memory/cache", p("container_memory_cache", Scale::One)),
    ("memory/swap", p("container_memory_swap", Scale::One)),
    ("memory/mapped_file", p("container_memory_mapped_file", Scale::One)),
    ("memory/failcnt", p("container_memory_failcnt", Scale::One)),
    ("memory/page_faults", PromMetric { name: "container_memory_failures_total", scale: Scale::One, labels: &[("failure_type", "pgfault"), ("scope", "container")] }),
    ("memory/major_page_faults", PromMetric { name: "container_memory_failures_total", scale: Scale::One, labels: &[("failure_type", "pgmajfault"), ("scope", "container")] }),
    ("memory/oom_kills", p("container_oom_events_total", Scale::One)),
    ("memory/limit", p("container_spec_memory_limit_bytes", Scale::One)),
    ("network/rx", p("container_network_receive_bytes_total", Scale::One)),
    ("network/tx", p("container_network_transmit_bytes_total", Scale::One)),
    ("network/rx_errors", p("container_network_receive_errors_total", Scale::One)),
    ("network/tx_errors", p("container_network_transmit_errors_total", Scale::One)),
    ("filesystem/usage", p("container_fs_usage_bytes", Scale::One)),
    ("filesystem/limit", p("container_fs_limit_bytes", Scale::One)),
    ("filesystem/inodes", p("container_fs_inodes_total", Scale::One)),
    ("filesystem/inodes_free", p("container_fs_inodes_free", Scale::One)),
    ("disk/io_read_bytes", p("container_fs_reads_bytes_total", Scale::One)),
    ("disk/io_write_bytes", p("container_fs_writes_bytes_total", Scale::One)),
    ("process/count", p("container_processes", Scale::One)),
    ("process/threads", p("container_threads", Scale::One)),
    ("cpu/pressure_waiting", p("container_pressure_cpu_waiting_seconds_total", US)),
    ("cpu/pressure_stalled", p("container_pressure_cpu_stalled_seconds_total", US)),
    ("memory/pressure_waiting", p("container_pressure_memory_waiting_seconds_total", US)),
    ("memory/pressure_stalled", p("container_pressure_memory_stalled_seconds_total", US)),
    ("disk/pressure_waiting", p("container_pressure_io_waiting_seconds_total", US)),
    ("disk/pressure_stalled", p("container_pressure_io_stalled_seconds_total", US)),
];

/// The table entry of canonical metric `metric`.
pub fn lookup(metric: &str) -> Option<&'static PromMetric> {
    TABLE.iter().find(|(n, _)| *n == metric).map(|(_, m)| m)
}

/// The name and value conversion of a canonical metric the table does not have.
pub fn by_rule(metric: &str, kind: Kind, unit: Unit) -> (String, Scale) {
    let (suffix, scale) = match unit {
        Unit::Count => ("", Scale::One),
        Unit::Bytes => ("bytes", Scale::One),
        Unit::Nanoseconds => ("seconds", NS),
        Unit::Microseconds => ("seconds", US),
        Unit::Milliseconds => ("seconds", Scale::Factor(1e-3)),
        Unit::Millicores => ("cores", Scale::Factor(1e-3)),
        Unit::PerSecond => ("per_second", Scale::One),
        Unit::BytesPerSecond => ("bytes_per_second", Scale::One),
    };
    let mut name = sanitize("crowsnest_", metric);
    if !suffix.is_empty() && !name.ends_with(suffix) {
        name.push('_');
        name.push_str(suffix);
    }
    if kind == Kind::Cumulative && !name.ends_with("_total") {
        name.push_str("_total");
    }
    (name, scale)
}

/// `prefix + s` with every character outside `[a-zA-Z0-9_]` as `_` (cAdvisor's
/// `sanitizeLabelName`; also a valid metric name), `_` before a leading digit.
pub fn sanitize(prefix: &str, s: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + s.len() + 1);
    out.push_str(prefix);
    if out.is_empty() && !s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        out.push('_');
    }
    out.extend(s.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
    out
}

/// The Prometheus label name of a canonical label (`None`: written another way or not at
/// all, see the module documentation).
pub fn label_name(canonical: &str) -> Option<&'static str> {
    Some(match canonical {
        label::ID => "id",
        label::CONTAINER_NAME => "name",
        label::CONTAINER_BASE_IMAGE => "image",
        label::POD_NAME => "pod",
        label::NAMESPACE_NAME => "namespace",
        label::POD_ID => "pod_uid",
        label::NODENAME => "node",
        label::RESOURCE_ID => "device",
        label::TYPE => "type",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crowsnest_core::batch::names;

    #[test]
    fn every_canonical_metric_has_a_valid_name() {
        for m in names::ALL {
            let name = match lookup(m.name) {
                Some(p) => p.name.to_owned(),
                None => by_rule(m.name, m.kind, m.unit).0,
            };
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !name.starts_with(|c: char| c.is_ascii_digit()),
                "{name}"
            );
            assert_eq!(
                // cAdvisor's own names: uptime is a start time, failcnt has no `_total`, the
                // inode count (a gauge) has one.
                (m.kind == Kind::Cumulative && !["uptime", "memory/failcnt"].contains(&m.name))
                    || m.name == "filesystem/inodes",
                name.ends_with("_total"),
                "{} -> {name}",
                m.name
            );
        }
        assert_eq!(
            by_rule("cpu/usage_rate", Kind::Gauge, Unit::Millicores).0,
            "crowsnest_cpu_usage_rate_cores"
        );
        assert_eq!(
            by_rule("filesystem/available", Kind::Gauge, Unit::Bytes).0,
            "crowsnest_filesystem_available_bytes"
        );
        assert_eq!(sanitize("", "9a.b"), "_9a_b");
        assert_eq!(
            sanitize("container_label_", "io.k8s/name"),
            "container_label_io_k8s_name"
        );
    }
}
