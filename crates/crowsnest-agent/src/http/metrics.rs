//! `/metrics`: the Prometheus text format 0.0.4, as cAdvisor serves it, plus the agent's own
//! `crowsnest_*` metrics.
//!
//! Under the read lock the handler takes each container's reference, spec and newest sample
//! (shared, not copied); it encodes after letting go, so the housekeeping thread never waits
//! for an encoder. Encoding a busy host takes milliseconds of CPU, so it runs on the blocking pool.
//! The text itself is [`crowsnest_formats::prometheus::encode_scrape`]'s.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use crowsnest_formats::prometheus::{
    self, ContainerLabels, ContainerView, Exposition, HistogramView, SelfMetricsView,
};

use crate::self_metrics::{DURATION_BUCKETS, HistogramData, SelfMetrics};
use crate::state::Shared;

/// `GET /metrics`.
pub(crate) async fn handler(State(shared): State<Shared>) -> Response {
    match tokio::task::spawn_blocking(move || render(&shared)).await {
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

/// The response body: every container's newest sample, the machine, and the self-metrics.
/// The read lock is held only while the inputs are gathered.
pub(crate) fn render(shared: &Shared) -> String {
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
        .filter_map(|c| {
            Some((
                c.reference.clone(),
                c.spec.clone(),
                c.history.latest_shared()?,
            ))
        })
        .collect();
    let (machine, version, metrics) = (state.machine.clone(), state.version.clone(), state.metrics);
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
        container_labels: ContainerLabels::All,
    };
    let own = self_view(own, &per_container, &pass, containers);
    let mut out = String::new();
    prometheus::encode_scrape(&mut out, &input, &own);
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
        let body = render(&shared());
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
        let response = handler(State(shared.clone())).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        // The lock was let go: a writer gets it at once.
        drop(shared.write());
    }
}
