//! Heapster v1.x's schema (`metrics/sinks/influxdb/influxdb.go`, `ExportData`).

use std::collections::HashMap;

use crowsnest_core::batch::{Batch, Labels, label};

use super::{Encoded, TagCache, field_value, line, value_line};

/// Labels Heapster never writes as tags (cardinality), plus our `id` (the absolute cgroup
/// name, which Heapster does not have and which changes when a container is made again).
const LEFT_OUT: &[&str] = &["hostname", "host_id", "namespace_id", "pod_id", label::ID];

/// The tag `cluster_name` that Heapster adds to every point.
const CLUSTER_NAME: &str = "cluster_name";

/// Appends the escaped tags of `labels` (sorted, with `cluster_name`) to `out`.
fn tags(labels: &Labels, cluster_name: &str, out: &mut String) {
    let mut cluster_written = false;
    for (k, v) in labels.iter() {
        if !cluster_written && k > CLUSTER_NAME {
            line::tag(out, CLUSTER_NAME, cluster_name);
            cluster_written = true;
        }
        if k == CLUSTER_NAME {
            // Our own cluster name wins over a label of that name.
            continue;
        }
        if !LEFT_OUT.contains(&k) {
            line::tag(out, k, v);
        }
    }
    if !cluster_written {
        line::tag(out, CLUSTER_NAME, cluster_name);
    }
}

/// One line per sample: `cpu/usage,<tags> value=<v> <ts>`.
pub(super) fn encode(
    cache: &mut TagCache,
    cluster_name: &str,
    batch: &Batch,
    ts: i64,
    out: &mut String,
) -> Encoded {
    let mut e = Encoded::default();
    let mut prefix = String::with_capacity(256);
    for s in &batch.samples {
        prefix.clear();
        line::measurement(&mut prefix, &s.metric);
        prefix.push_str(cache.get(&s.labels, |l, o| tags(l, cluster_name, o)));
        if value_line(out, &prefix, s.value, ts) {
            e.lines += 1;
        } else {
            e.unwritable += 1;
        }
    }
    e
}

/// The measurement and field of a canonical name in `withfields` mode: split on the first
/// `/` (`cpu/usage` is `cpu` + `usage`); a name without `/` is its own measurement with the
/// field `value`.
pub(super) fn split_family(metric: &str) -> (&str, &str) {
    metric.split_once('/').unwrap_or((metric, "value"))
}

/// `withfields=true`: one line per (family, label set), fields in the order first seen.
pub(super) fn encode_with_fields(
    cluster_name: &str,
    batch: &Batch,
    ts: i64,
    out: &mut String,
) -> Encoded {
    let mut e = Encoded::default();
    // Lines in order of first appearance: (series text, fields text).
    let mut lines: Vec<(String, String)> = Vec::new();
    let mut index: HashMap<(&str, &Labels), usize> = HashMap::new();
    for s in &batch.samples {
        let (family, field) = split_family(&s.metric);
        let i = *index.entry((family, &*s.labels)).or_insert_with(|| {
            let mut series = String::with_capacity(128);
            line::measurement(&mut series, family);
            tags(&s.labels, cluster_name, &mut series);
            lines.push((series, String::new()));
            lines.len() - 1
        });
        let fields = &mut lines[i].1;
        let mark = fields.len();
        if !fields.is_empty() {
            fields.push(',');
        }
        line::key(fields, field);
        fields.push('=');
        if !field_value(fields, s.value) {
            fields.truncate(mark);
            e.unwritable += 1;
        }
    }
    for (series, fields) in lines {
        if fields.is_empty() {
            continue;
        }
        out.push_str(&series);
        out.push(' ');
        out.push_str(&fields);
        out.push(' ');
        line::itoa(out, ts);
        out.push('\n');
        e.lines += 1;
    }
    e
}
