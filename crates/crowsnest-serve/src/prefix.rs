//! Serving a router under a URL path prefix (`--url-base-prefix`): `/monitor/healthz` is the
//! router's `/healthz`; outside the prefix every path is 404 with a JSON body naming the prefix. For a reverse proxy that forwards
//! a path such as `/monitor/` without stripping it.

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::uri::PathAndQuery;
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use tower::ServiceExt;

/// `/prefix` from a configured prefix (slashes around and doubled inside it are ignored),
/// `None` when it is empty or only slashes.
pub fn normalize(prefix: &str) -> Option<String> {
    let parts: Vec<&str> = prefix.split('/').filter(|p| !p.is_empty()).collect();
    (!parts.is_empty()).then(|| format!("/{}", parts.join("/")))
}

/// `inner` served under `prefix` (see [`normalize`]); `inner` itself when the prefix is empty.
pub fn under(inner: Router, prefix: &str) -> Router {
    let Some(prefix) = normalize(prefix) else {
        return inner;
    };
    let prefix: Arc<str> = prefix.into();
    Router::new().fallback(move |req: Request| {
        let (prefix, inner) = (prefix.clone(), inner.clone());
        async move {
            let path = req.uri().path().to_owned();
            match strip(&prefix, req) {
                Some(req) => inner
                    .oneshot(req)
                    .await
                    .unwrap_or_else(|never| match never {}),
                None => (
                    StatusCode::NOT_FOUND,
                    axum::Json(serde_json::json!({
                        "error": format!("{path} is not under the URL base prefix {prefix}")
                    })),
                )
                    .into_response(),
            }
        }
    })
}

/// The request with `prefix` taken off its path, or `None` when the path is not under it.
fn strip(prefix: &str, mut req: Request) -> Option<Request> {
    let uri = req.uri();
    let rest = uri.path().strip_prefix(prefix)?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    let path = if rest.is_empty() { "/" } else { rest };
    let path_and_query = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(path_and_query).ok()?);
    *req.uri_mut() = Uri::from_parts(parts).ok()?;
    Some(req)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;

    #[test]
    fn prefixes_normalize() {
        assert_eq!(normalize(""), None);
        assert_eq!(normalize("//"), None);
        assert_eq!(normalize("monitor/"), Some("/monitor".into()));
        assert_eq!(normalize("/a//{b}/"), Some("/a/{b}".into()));
    }

    async fn status(app: &Router, path: &str) -> (StatusCode, String) {
        let resp = app
            .clone()
            .oneshot(Request::builder().uri(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn only_paths_under_the_prefix_reach_the_router() {
        let inner = Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/", get(|uri: Uri| async move { format!("root {uri}") }));
        let app = under(inner, "/monitor/");
        assert_eq!(
            status(&app, "/monitor/healthz").await,
            (StatusCode::OK, "ok".into())
        );
        assert_eq!(
            status(&app, "/monitor?x=1").await,
            (StatusCode::OK, "root /?x=1".into())
        );
        assert_eq!(
            status(&app, "/healthz").await,
            (
                StatusCode::NOT_FOUND,
                r#"{"error":"/healthz is not under the URL base prefix /monitor"}"#.into()
            )
        );
        assert_eq!(
            status(&app, "/monitoring/healthz").await.0,
            StatusCode::NOT_FOUND
        );
        let plain = under(Router::new().route("/healthz", get(|| async { "ok" })), "/");
        assert_eq!(status(&plain, "/healthz").await.0, StatusCode::OK);
    }
}
