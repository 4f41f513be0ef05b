//! JSON error answers for both roles: every 4xx or 5xx a router gives that is not JSON already
//! (axum's own 404, 405 and 413, a UI asset that does not exist) becomes `{"error": "..."}`.

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The longest error body [`json_errors`] reads to put into its JSON (error texts are short).
const ERROR_TEXT_LIMIT: usize = 64 << 10;

/// `{"error": message}` with `status`.
pub fn json_error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Middleware (`axum::middleware::from_fn(json_errors)`): every 4xx or 5xx answer that is not
/// JSON already becomes `{"error": "..."}` naming the problem: its text when it has one, else
/// the status and the request's method and path. The status is kept.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let text = axum::body::to_bytes(resp.into_body(), ERROR_TEXT_LIMIT)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = if text.is_empty() {
        let reason = status.canonical_reason().unwrap_or("error").to_lowercase();
        format!("{reason}: {method} {path:?}")
    } else {
        text
    };
    json_error(status, &message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    async fn answer(app: &Router, path: &str) -> (StatusCode, String, String) {
        let resp = app
            .clone()
            .oneshot(Request::builder().uri(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let ctype = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, ctype, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn non_json_errors_become_json_and_the_rest_is_untouched() {
        let app = Router::new()
            .route("/ok", get(|| async { "fine" }))
            .route(
                "/text",
                get(|| async { (StatusCode::BAD_REQUEST, "bad thing") }),
            )
            .route(
                "/json",
                get(|| async { json_error(StatusCode::CONFLICT, "as is") }),
            )
            .layer(axum::middleware::from_fn(json_errors));
        assert_eq!(
            answer(&app, "/ok").await,
            (
                StatusCode::OK,
                "text/plain; charset=utf-8".into(),
                "fine".into()
            )
        );
        let (status, ctype, body) = answer(&app, "/text").await;
        assert_eq!(
            (status, ctype.as_str()),
            (StatusCode::BAD_REQUEST, "application/json")
        );
        assert_eq!(body, r#"{"error":"bad thing"}"#);
        let (status, _, body) = answer(&app, "/json").await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::CONFLICT, r#"{"error":"as is"}"#)
        );
        let (status, _, body) = answer(&app, "/nowhere").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body, r#"{"error":"not found: GET \"/nowhere\""}"#);
    }
}
