//! `/metrics`: the hub's own metrics (`crowsnest_hub_*`) and the newest value of every gauge
//! of the aggregated sets (node, pod, namespace, cluster) in Prometheus text 0.0.4, so that
//! Prometheus scrapes one target instead of every node. `?containers=true` adds the pod and
//! free containers.
//!
//! A canonical name maps to `crowsnest_` + the name with `/` as `_` + the unit
//! (`cpu/usage_rate` → `crowsnest_cpu_usage_rate_millicores`, `memory/working_set` →
//! `crowsnest_memory_working_set_bytes`); the set's labels become labels (not `labels`, the
//! runtime label list), plus `resource_id` for a labeled metric. Counters are left out: their
//! rates are there.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{Uri, header};
use axum::response::{IntoResponse, Response};
use crowsnest_core::batch::{Kind, Unit, label};
use crowsnest_formats::prometheus::text::{write_header, write_sample};
use crowsnest_formats::prometheus::{CONTENT_TYPE, HistogramView, MetricType, encode_histogram};

use crate::batch::SetType;
use crate::config::query_pairs;
use crate::names;
use crate::state::{Shared, lock};

/// The Prometheus family of a canonical gauge.
pub(crate) fn family_name(metric: &str, unit: Unit) -> String {
    let suffix = match unit {
        Unit::Count => "",
        Unit::Bytes => "_bytes",
        Unit::Nanoseconds => "_nanoseconds",
        Unit::Microseconds => "_microseconds",
        Unit::Milliseconds => "_milliseconds",
        Unit::Millicores => "_millicores",
        Unit::PerSecond => "_per_second",
        Unit::BytesPerSecond => "_bytes_per_second",
    };
    let mut s = String::with_capacity(metric.len() + 20);
    s.push_str("crowsnest_");
    s.extend(
        metric
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
    );
    s.push_str(suffix);
    s
}

/// `GET /metrics`.
pub(crate) async fn handler(State(shared): State<Shared>, uri: Uri) -> Response {
    let containers = query_pairs(uri.query().unwrap_or_default())
        .unwrap_or_default()
        .iter()
        .any(|(k, v)| k == "containers" && v == "true");
    let mut out = String::with_capacity(64 << 10);
    encode_self(&shared, &mut out);
    encode_sets(&shared, containers, &mut out);
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], out).into_response()
}

type Series = Vec<(Vec<(String, String)>, f64)>;

fn family(out: &mut String, name: &str, help: &str, ty: MetricType, series: &Series) {
    write_header(out, name, help, ty);
    for (labels, v) in series {
        let l: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        write_sample(out, name, &l, *v, None);
    }
}

fn one(v: f64) -> Series {
    vec![(Vec::new(), v)]
}

fn encode_self(shared: &Shared, out: &mut String) {
    let m = lock(&shared.metrics).clone();
    let nodes = shared.node_statuses();
    let sources = lock(&shared.sources).clone();
    let per_node = |f: &dyn Fn(&crate::status::NodeStatus) -> Option<f64>| -> Series {
        nodes
            .iter()
            .filter_map(|n| Some((vec![("node".to_owned(), n.name.clone())], f(n)?)))
            .collect()
    };
    let hist = |out: &mut String, name: &str, help: &str, h: &crate::status::Histogram| {
        encode_histogram(
            out,
            name,
            help,
            &[],
            &HistogramView {
                bounds: h.bounds,
                cumulative_counts: &h.cumulative,
                sum: h.sum,
                count: h.count,
            },
        );
    };
    use MetricType::{Counter, Gauge};
    family(
        out,
        "crowsnest_hub_batches_total",
        "Batches made.",
        Counter,
        &one(m.batches as f64),
    );
    family(
        out,
        "crowsnest_hub_container_restarts_total",
        "Containers whose creation time changed (no rate for that interval).",
        Counter,
        &one(m.rates.restarts as f64),
    );
    family(
        out,
        "crowsnest_hub_rate_resets_total",
        "Counters that went down (no rate for that interval).",
        Counter,
        &one(m.rates.counter_resets as f64),
    );
    hist(
        out,
        "crowsnest_hub_cycle_duration_seconds",
        "Time from a cycle's start to the model holding its batch.",
        &m.cycle_seconds,
    );
    family(
        out,
        "crowsnest_hub_late_results_total",
        "Scrape answers that came after their batch was made (used in the next).",
        Counter,
        &one(m.late_results as f64),
    );
    family(
        out,
        "crowsnest_hub_model_batches",
        "Batches the model keeps.",
        Gauge,
        &one(m.model.batches as f64),
    );
    family(
        out,
        "crowsnest_hub_model_budget_bytes",
        "The model's memory budget.",
        Gauge,
        &one(m.model.budget as f64),
    );
    family(
        out,
        "crowsnest_hub_model_budget_evictions_total",
        "Batches dropped before their retention to stay within the budget.",
        Counter,
        &one(m.model.budget_evictions as f64),
    );
    family(
        out,
        "crowsnest_hub_model_bytes",
        "Heap bytes the model holds.",
        Gauge,
        &one(m.model.bytes as f64),
    );
    family(
        out,
        "crowsnest_hub_model_refused_sets_total",
        "Sets refused because one batch did not fit the budget.",
        Counter,
        &one(m.model.refused_sets as f64),
    );
    family(
        out,
        "crowsnest_hub_model_series",
        "Series the model keeps.",
        Gauge,
        &one(m.model.series as f64),
    );
    family(
        out,
        "crowsnest_hub_model_sets",
        "Sets the model keeps.",
        Gauge,
        &one(m.model.sets as f64),
    );
    family(
        out,
        "crowsnest_hub_node_healthy",
        "1 when the node's scrape succeeded within three resolutions.",
        Gauge,
        &per_node(&|n| Some(f64::from(u8::from(n.healthy)))),
    );
    family(
        out,
        "crowsnest_hub_node_last_success_timestamp_seconds",
        "When the node's last scrape succeeded.",
        Gauge,
        &per_node(&|n| n.last_success.map(|t| t.secs_f64())),
    );
    family(
        out,
        "crowsnest_hub_node_scrape_duration_seconds",
        "How long the node's last scrape took.",
        Gauge,
        &per_node(&|n| n.last_duration_seconds),
    );
    family(
        out,
        "crowsnest_hub_node_scrape_failures_total",
        "Failed scrapes of the node.",
        Counter,
        &per_node(&|n| Some(n.failures as f64)),
    );
    family(
        out,
        "crowsnest_hub_node_scrapes_skipped_total",
        "Scrapes not started because the previous one was still running.",
        Counter,
        &per_node(&|n| Some(n.skipped as f64)),
    );
    family(
        out,
        "crowsnest_hub_node_scrapes_total",
        "Scrapes of the node.",
        Counter,
        &per_node(&|n| Some(n.scrapes as f64)),
    );
    family(
        out,
        "crowsnest_hub_nodes",
        "Nodes named by the sources.",
        Gauge,
        &one(nodes.len() as f64),
    );
    let procs: Series = m
        .processor_seconds
        .iter()
        .map(|(p, s)| (vec![("processor".to_owned(), (*p).to_owned())], *s))
        .collect();
    family(
        out,
        "crowsnest_hub_processor_duration_seconds",
        "How long each processor took on the last batch.",
        Gauge,
        &procs,
    );
    family(
        out,
        "crowsnest_hub_rate_tracked_containers",
        "Containers the rate calculators remember.",
        Gauge,
        &one(nodes.iter().map(|n| n.tracked).sum::<u64>() as f64),
    );
    hist(
        out,
        "crowsnest_hub_scrape_duration_seconds",
        "Time of each node scrape.",
        &m.scrape_seconds,
    );
    let sets: Series = m
        .sets_by_type
        .iter()
        .map(|(t, n)| (vec![("type".to_owned(), (*t).to_owned())], *n as f64))
        .collect();
    family(
        out,
        "crowsnest_hub_sets",
        "Sets in the newest batch, by type.",
        Gauge,
        &sets,
    );
    let src: Series = sources
        .iter()
        .map(|s| {
            (
                vec![("source".to_owned(), s.source.clone())],
                f64::from(u8::from(s.last_error.is_none())),
            )
        })
        .collect();
    family(
        out,
        "crowsnest_hub_source_ok",
        "1 when the source was last read without error.",
        Gauge,
        &src,
    );
    if let Some(sinks) = &shared.sinks {
        crowsnest_sinks::encode_metrics(out, &sinks.stats());
    }
}

fn encode_sets(shared: &Shared, containers: bool, out: &mut String) {
    let model = shared.model.read().unwrap_or_else(|p| p.into_inner());
    let keep = |s: &crate::model::SetInfo| {
        containers || !matches!(s.set_type, SetType::PodContainer | SetType::SysContainer)
    };
    let mut families: BTreeMap<String, (&'static str, Series)> = BTreeMap::new();
    for s in model.current_sets(&keep) {
        for l in model.latest(&s.key) {
            let Some(m) = names::lookup(&l.metric) else {
                continue;
            };
            if m.kind != Kind::Gauge {
                continue;
            }
            let mut labels: Vec<(String, String)> = s
                .labels
                .iter()
                .filter(|(k, _)| *k != label::LABELS)
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            if let Some(r) = &l.resource {
                labels.push((label::RESOURCE_ID.to_owned(), r.to_string()));
                labels.sort();
            }
            families
                .entry(family_name(m.name, m.unit))
                .or_insert_with(|| (m.name, Vec::new()))
                .1
                .push((labels, l.value.as_f64()));
        }
    }
    for (name, (metric, series)) in families {
        let help = format!("Heapster's {metric}: newest value per set (type label).");
        family(out, &name, &help, MetricType::Gauge, &series);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_names() {
        assert_eq!(
            family_name("cpu/usage_rate", Unit::Millicores),
            "crowsnest_cpu_usage_rate_millicores"
        );
        assert_eq!(
            family_name("network/rx_rate", Unit::BytesPerSecond),
            "crowsnest_network_rx_rate_bytes_per_second"
        );
        assert_eq!(
            family_name("cpu/node_utilization", Unit::Count),
            "crowsnest_cpu_node_utilization"
        );
    }
}
