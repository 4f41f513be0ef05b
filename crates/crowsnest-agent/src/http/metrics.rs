//! `/metrics`: the Prometheus text format 0.0.4, as cAdvisor serves it, plus the agent's own
//! `crowsnest_*` metrics.
//!
//! Under the read lock the handler takes each container's reference, spec and newest sample
//! (shared, not copied); it encodes after letting go, so the housekeeping thread never waits
//! for an encoder. Encoding a busy host takes milliseconds of CPU, so it runs on the blocking pool.
//! The text itself is [`crowsnest_formats::prometheus::encode_scrape`]'s.
//!
//! As in cAdvisor, the query string is read like a v2 request's: `?type=docker` (or
//! `podman`) exports only that runtime's containers.

use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use crowsnest_formats::prometheus::{
    self, ContainerLabels, ContainerView, Exposition, HistogramView, SelfMetricsView,
};

use crate::self_metrics::{DURATION_BUCKETS, HistogramData, SelfMetrics};
use crate::state::Shared;

/// `GET /metrics`.
pub(crate) async fn handler(State(shared): State<Shared>, uri: Uri) -> Response {
    let namespace = match super::options::v2_options(uri.query()) {
        Ok(opts) => opts.id_type.namespace(),
        Err(e) => return e.into_response(),
    };
    match tokio::task::spawn_blocking(move || render(&shared, namespace)).await {
        Ok(body) => ([(header::CONTENT_TYPE, prometheus::CONTENT_TYPE)], body).into_response(),
        Err(e) => {
            tracing::error!("encoding /metrics failed: {e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "encoding metrics failed\n",
            )
                .into_response()
        }
    }
}

/// The response body: every container's newest sample (only those of runtime `namespace`
/// when given), the machine, and the self-metrics. The read lock is held only while the
/// inputs are gathered.
pub(crate) fn render(shared: &Shared, namespace: Option<&str>) -> String {
    let own = shared.self_metrics();
    let (per_container, pass) = (
        own.container_housekeeping.snapshot(),
        own.housekeeping_pass.snapshot(),
    );
    // Copy what is needed under the read lock (the newest samples are shared, not copied),
    // then encode without it: the housekeeping thread never waits for an encoder.
    let state = shared.read();
    let latest: Vec<_> = state
        .containers
        .values()
        .filter(|c| namespace.is_none_or(|ns| c.reference.namespace == ns))
        .filter_map(|c| {
            Some((
                c.reference.clone(),
                c.spec.clone(),
                c.history.latest_shared()?,
            ))
        })
        .collect();
    let (machine, version, metrics) = (state.machine.clone(), state.version.clone(), state.metrics);
    let label_allowlist = state.container_labels.clone();
    let containers = state.containers.len();
    drop(state);
    let views: Vec<ContainerView<'_>> = latest
        .iter()
        .map(|(reference, spec, stats)| ContainerView::new(reference, spec, stats))
        .collect();
    let input = Exposition {
        containers: &views,
        machine: &machine,
        version: &version,
        metrics,
        container_labels: match &label_allowlist {
            None => ContainerLabels::All,
            Some(keys) => ContainerLabels::Only(keys),
        },
    };
    let own = self_view(own, &per_container, &pass, containers);
    let mut out = String::new();
    prometheus::encode_scrape(&mut out, &input, &own);
    shared.self_metrics().disk_usage.encode(&mut out);
    if let Some(sinks) = shared.sinks() {
        crowsnest_sinks::encode_metrics(&mut out, &sinks.stats());
    }
    if let Some(store) = shared.store() {
        super::query::encode_store_metrics(&mut out, &store.stats());
    }
    out
}

/// The self-metrics as the encoder reads them.
fn self_view<'a>(
    m: &SelfMetrics,
    per_container: &'a HistogramData,
    pass: &'a HistogramData,
    containers: usize,
) -> SelfMetricsView<'a> {
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    let hist = |h: &'a HistogramData| HistogramView {
        bounds: &DURATION_BUCKETS,
        cumulative_counts: &h.buckets,
        sum: h.sum,
        count: h.count,
    };
    SelfMetricsView {
        container_housekeeping: hist(per_container),
        housekeeping_pass: hist(pass),
        collection_errors: load(&m.collection_errors),
        containers: containers as u64,
        containers_added: load(&m.containers_added),
        containers_removed: load(&m.containers_removed),
        housekeeping_late: load(&m.housekeeping_late),
    }
}

#[cfg(test)]
mod tests {
    use crowsnest_core::Timestamp;
    use crowsnest_core::model::{ContainerReference, ContainerStats, MemoryStats};

    use super::*;
    use crate::history::History;
    use crate::state::{AgentState, Container};

    fn shared() -> Shared {
        let mut state = AgentState::default();
        for (name, with_sample) in [("/", true), ("/docker/abc", true), ("/new", false)] {
            let mut history = History::new(60_000_000_000);
            if with_sample {
                let stats = ContainerStats {
                    timestamp: Timestamp::from_millis(1_700_000_000_250),
                    memory: Some(MemoryStats {
                        rss: Some(4096),
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                history.push(&stats);
            }
            let reference = ContainerReference {
                name: name.into(),
                ..Default::default()
            };
            let c = Container {
                reference,
                spec: Default::default(),
                history,
            };
            state.containers.insert(name.into(), c);
        }
        let shared = Shared::new(state);
        shared.self_metrics().container_housekeeping.observe(0.0003);
        SelfMetrics::inc(&shared.self_metrics().containers_added);
        shared
    }

    #[test]
    fn renders_containers_machine_and_self_metrics() {
        let body = render(&shared(), None);
        assert!(
            body.contains("\ncontainer_memory_rss{id=\"/\"} 4096 1700000000250\n"),
            "{body}"
        );
        assert!(body.contains("\ncontainer_memory_rss{id=\"/docker/abc\"} 4096 1700000000250\n"));
        assert!(!body.contains("id=\"/new\""), "no sample, no series");
        assert!(body.contains("\ncrowsnest_containers 3\n"));
        assert!(body.contains("\ncrowsnest_containers_added_total 1\n"));
        assert!(
            body.contains("\ncrowsnest_housekeeping_duration_seconds_bucket{le=\"0.0005\"} 1\n")
        );
        assert!(body.contains("\nmachine_cpu_cores{"));
        let names: Vec<&str> = body
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .collect();
        assert!(names.is_sorted(), "{names:?}");
    }

    #[tokio::test]
    async fn serves_text_format_0_0_4() {
        let shared = shared();
        let response = handler(State(shared.clone()), Uri::from_static("/metrics")).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        // The lock was let go: a writer gets it at once.
        drop(shared.write());
    }

    #[test]
    fn type_docker_exports_only_docker_containers() {
        let shared = shared();
        if let Some(c) = shared.write().containers.get_mut("/docker/abc") {
            c.reference.namespace = "docker".into();
            c.reference.aliases = vec!["web".into(), "abc".into()];
        }
        let body = render(&shared, Some("docker"));
        assert!(body.contains("id=\"/docker/abc\""), "{body}");
        assert!(!body.contains("id=\"/\""), "{body}");
        assert!(render(&shared, Some("podman")).contains("machine_cpu_cores"));
        assert!(render(&shared, None).contains("id=\"/\""));
    }

    #[tokio::test]
    async fn a_bad_type_is_refused() {
        let uri = Uri::from_static("/metrics?type=lxc");
        let response = handler(State(shared()), uri).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }
}
