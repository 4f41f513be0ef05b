//! The hub's HTTP API (axum): Heapster's model API ([`model_api`]), `metrics.k8s.io`
//! ([`metrics_api`]), `/metrics` ([`prom`]), `/healthz`, and the hub's own status
//! (`/api/v1/hub/nodes`, `/api/v1/hub/sources`). Handlers read the model and the status under
//! short read locks; they never scrape.

pub(crate) mod metrics_api;
pub(crate) mod model_api;
pub(crate) mod prom;
pub(crate) mod quantity;

use std::fmt::Write as _;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use crate::state::{Shared, lock};

/// The router of every route. Every error answer is JSON (see [`json_errors`]) but
/// `/healthz`'s 503, which stays the same text as its 200.
pub fn router(shared: Shared) -> Router {
    Router::new()
        .route("/metrics", get(prom::handler))
        .route("/api/v1/hub/nodes", get(nodes))
        .route("/api/v1/hub/sources", get(sources))
        .route("/api/v1/model", get(model_api::handler))
        .route("/api/v1/model/", get(model_api::handler))
        .route("/api/v1/model/{*rest}", get(model_api::handler))
        .route("/apis", get(metrics_api::api_groups))
        .route("/apis/metrics.k8s.io", get(metrics_api::api_group))
        .route("/apis/metrics.k8s.io/v1beta1", get(metrics_api::handler))
        .route("/apis/metrics.k8s.io/v1beta1/", get(metrics_api::handler))
        .route(
            "/apis/metrics.k8s.io/v1beta1/{*rest}",
            get(metrics_api::handler),
        )
        .merge(crowsnest_ui::hub_routes())
        .layer(axum::middleware::from_fn(
            crowsnest_serve::errors::json_errors,
        ))
        .route("/healthz", get(healthz))
        .with_state(shared)
}

/// A `200 OK` JSON answer.
pub(crate) fn json<T: Serialize + ?Sized>(value: &T) -> Response {
    json_status(StatusCode::OK, value)
}

/// A JSON answer with `status`.
pub(crate) fn json_status<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode the answer: {e}"),
        )
            .into_response(),
    }
}

/// `{"error": "..."}` with `status`.
pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    #[derive(Serialize)]
    struct E {
        error: String,
    }
    json_status(
        status,
        &E {
            error: message.into(),
        },
    )
}

/// `GET /healthz`: 200 while some node's scrape succeeded within three resolutions, 503
/// otherwise; the body lists every node, up or down, with its last error.
async fn healthz(State(shared): State<Shared>) -> Response {
    let nodes = shared.node_statuses();
    let now = shared.clock.now();
    let mut body = String::new();
    let up = nodes.iter().filter(|n| n.healthy).count();
    let ok = up > 0;
    let _ = writeln!(
        body,
        "{}: {up} of {} nodes scraped within {:?}",
        if ok { "ok" } else { "unhealthy" },
        nodes.len(),
        shared.config.resolution * 3
    );
    for n in &nodes {
        let ago = n
            .last_success
            .map(|t| format!("{:.1}s ago", (now.nanos() - t.nanos()) as f64 / 1e9))
            .unwrap_or_else(|| "never".into());
        let _ = write!(
            body,
            "node {} ({}): {}, last success {ago}",
            n.name,
            n.url,
            if n.healthy { "up" } else { "down" }
        );
        if !n.healthy
            && let Some(e) = &n.last_error
        {
            let _ = write!(body, ", last error: {e}");
        }
        body.push('\n');
    }
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// `GET /api/v1/hub/nodes`: every node's scrape status.
async fn nodes(State(shared): State<Shared>) -> Response {
    json(&shared.node_statuses())
}

/// `GET /api/v1/hub/sources`: every source's state.
async fn sources(State(shared): State<Shared>) -> Response {
    let s = lock(&shared.sources).clone();
    json(&s)
}
