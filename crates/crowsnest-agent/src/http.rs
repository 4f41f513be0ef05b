//! The agent's HTTP API: cAdvisor's REST API (v1.0–v1.3 and v2.0/v2.1), Prometheus
//! `/metrics` and `/healthz`, every route optionally under a URL prefix
//! (`--url-base-prefix`).
//!
//! Handlers only read [`Shared`]: they take the read lock, copy what they answer with, and let
//! go before encoding. They never touch `/sys` or `/proc`.
//!
//! `/api/...` is parsed as cAdvisor's handler does (`/api/<version>/<request type>/<name...>`,
//! any HTTP method): the path is percent-decoded, and the container name is the rest of it
//! cleaned like Go's `path.Join("/", ...)` (so `/api/v1.3/containers` is `/` and `..` cannot
//! climb above `/`). Where cAdvisor answers 500 to any failure, crowsnest answers 404 for an
//! unknown container and 400 for a bad option, with a JSON body `{"error": "..."}` (see
//! [`error`]; every other error answer, the router's own 404 and 405 included, is JSON too).
//! Options are described in [`options`]; the v1 and v2 request types in [`v1`] and
//! [`v2`].

pub(crate) mod error;
pub(crate) mod metrics;
pub(crate) mod options;
pub(crate) mod query;
pub(crate) mod v1;
pub(crate) mod v2;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde::Serialize;

use crate::state::{AgentState, Shared};

use self::error::ApiError;

/// The router serving the API, `/metrics` and `/healthz` from `shared`, under
/// `url_base_prefix` when it is not empty (`"/monitor"` serves `/monitor/healthz`; slashes
/// around and doubled inside the prefix are ignored). Outside the prefix every path is 404.
pub fn router(shared: Shared, url_base_prefix: &str) -> Router {
    let inner = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics::handler))
        .route("/api/v1/query", get(query::handler))
        .route("/api", any(api))
        .route("/api/", any(api))
        .route("/api/{*rest}", any(api))
        .merge(crowsnest_ui::agent_routes())
        .with_state(shared);
    crowsnest_serve::prefix::under(inner, url_base_prefix)
        .layer(axum::middleware::from_fn(error::json_errors))
}

/// `GET /healthz`: `ok`.
async fn healthz() -> &'static str {
    "ok"
}

/// Every `/api` request: on a blocking thread, since older samples are read from the store.
/// A body that cannot be read (over axum's 2 MiB limit, or cut short) is refused with its
/// reason.
async fn api(
    State(shared): State<Shared>,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(e) => {
            let limit = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                " (at most 2 MiB)"
            } else {
                ""
            };
            let message = format!("request body: {}{limit}", e.body_text());
            return error::json_error(e.status(), &message);
        }
    };
    tokio::task::spawn_blocking(move || handle_api(&shared, &uri, &body))
        .await
        .unwrap_or_else(|e| Err(ApiError::Panicked(e.to_string())))
        .unwrap_or_else(IntoResponse::into_response)
}

/// An API version and what it serves. Versions inherit: v1.0 ⊂ v1.1 ⊂ v1.2 ⊂ v1.3 and
/// v2.0 ⊂ v2.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Version {
    /// `containers`, `machine`.
    V1_0,
    /// v1.0 and `subcontainers`.
    V1_1,
    /// v1.1 and `docker`.
    V1_2,
    /// v1.2 (cAdvisor's `events` is not served).
    V1_3,
    /// `attributes`, `machine`, `spec`, `stats` (deprecated shape), `summary`, `version`.
    V2_0,
    /// v2.0 with the v2.1 `stats` shape, and `machinestats`.
    V2_1,
}

impl Version {
    const ALL: [Version; 6] = [
        Version::V1_0,
        Version::V1_1,
        Version::V1_2,
        Version::V1_3,
        Version::V2_0,
        Version::V2_1,
    ];

    fn parse(text: &str) -> Option<Version> {
        Version::ALL.into_iter().find(|v| v.as_str() == text)
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Version::V1_0 => "v1.0",
            Version::V1_1 => "v1.1",
            Version::V1_2 => "v1.2",
            Version::V1_3 => "v1.3",
            Version::V2_0 => "v2.0",
            Version::V2_1 => "v2.1",
        }
    }

    /// The request types served, sorted.
    pub(crate) fn request_types(self) -> &'static [&'static str] {
        match self {
            Version::V1_0 => &["containers", "machine"],
            Version::V1_1 => &["containers", "machine", "subcontainers"],
            Version::V1_2 | Version::V1_3 => &["containers", "docker", "machine", "subcontainers"],
            Version::V2_0 => &[
                "attributes",
                "machine",
                "spec",
                "stats",
                "summary",
                "version",
            ],
            Version::V2_1 => &[
                "attributes",
                "machine",
                "machinestats",
                "spec",
                "stats",
                "summary",
                "version",
            ],
        }
    }

    /// The error for a request type this version does not serve.
    pub(crate) fn unknown_type(self, kind: &str) -> ApiError {
        ApiError::UnknownRequestType {
            version: self.as_str(),
            kind: kind.to_owned(),
            supported: self.request_types().join(","),
        }
    }
}

/// One parsed API request.
#[derive(Debug)]
pub(crate) struct ApiRequest<'a> {
    /// The API version.
    pub(crate) version: Version,
    /// The request type (`containers`, `stats`, ...).
    pub(crate) kind: &'a str,
    /// The decoded path after the request type (`/system.slice/sshd.service`, or empty).
    pub(crate) args: &'a str,
    /// The container name the arguments make (see [`container_name`]).
    pub(crate) name: String,
    /// The raw query string.
    pub(crate) query: Option<&'a str>,
    /// The request body.
    pub(crate) body: &'a [u8],
}

fn handle_api(shared: &Shared, uri: &Uri, body: &[u8]) -> Result<Response, ApiError> {
    let raw = uri.path();
    let bad_path = |reason| ApiError::BadPath {
        path: raw.to_owned(),
        reason,
    };
    let decoded = options::percent_decode(raw, false).ok_or_else(|| bad_path("bad %-escape"))?;
    let path = String::from_utf8(decoded).map_err(|_| bad_path("not UTF-8"))?;
    let rest = path
        .strip_prefix("/api")
        .ok_or_else(|| bad_path("not under /api"))?;
    if rest.is_empty() || rest == "/" {
        let versions: Vec<&str> = Version::ALL.iter().map(|v| v.as_str()).collect();
        return Err(ApiError::ListVersions(versions.join(",")));
    }
    // cAdvisor's `/api/([^/]+)/?([^/]+)?(.*)`.
    let rest = rest
        .strip_prefix('/')
        .ok_or_else(|| bad_path("not under /api"))?;
    let (version, rest) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let version =
        Version::parse(version).ok_or_else(|| ApiError::UnknownVersion(version.into()))?;
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    let (kind, args) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if kind.is_empty() {
        return Err(ApiError::ListRequestTypes(
            version.request_types().join(","),
        ));
    }
    let req = ApiRequest {
        version,
        kind,
        args,
        name: container_name(args),
        query: uri.query(),
        body,
    };
    match version {
        Version::V1_0 | Version::V1_1 | Version::V1_2 | Version::V1_3 => v1::handle(shared, &req),
        Version::V2_0 | Version::V2_1 => v2::handle(shared, &req),
    }
}

/// The container name of the path after the request type, as Go's `path.Join("/", args)`:
/// empty and `.` parts are dropped, `..` drops the part before it (never above `/`).
pub(crate) fn container_name(args: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in args.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// A `200 OK` JSON answer, written as Go's `encoding/json` writes it (`<`, `>`, `&`, U+2028
/// and U+2029 escaped).
pub(crate) fn json<T: Serialize + ?Sized>(value: &T) -> Result<Response, ApiError> {
    let body = go_escape(serde_json::to_vec(value)?);
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// Escapes what Go's JSON encoder escapes and serde_json does not. In JSON text these bytes
/// only occur inside strings, where the `\u` escapes mean the same.
fn go_escape(body: Vec<u8>) -> Vec<u8> {
    let needs = |w: &[u8]| matches!(w, [b'<' | b'>' | b'&', ..] | [0xE2, 0x80, 0xA8 | 0xA9, ..]);
    if !(0..body.len()).any(|i| needs(&body[i..])) {
        return body;
    }
    let mut out = Vec::with_capacity(body.len() + 16);
    let mut i = 0;
    while let Some(&b) = body.get(i) {
        match (b, body.get(i + 1..i + 3)) {
            (b'<', _) => out.extend_from_slice(br"\u003c"),
            (b'>', _) => out.extend_from_slice(br"\u003e"),
            (b'&', _) => out.extend_from_slice(br"\u0026"),
            (0xE2, Some([0x80, 0xA8])) => out.extend_from_slice(br"\u2028"),
            (0xE2, Some([0x80, 0xA9])) => out.extend_from_slice(br"\u2029"),
            _ => {
                out.push(b);
                i += 1;
                continue;
            }
        }
        i += if b == 0xE2 { 3 } else { 1 };
    }
    out
}

/// Names of the containers of a runtime namespace (`docker`, `podman`), in name order.
pub(crate) fn runtime_names(state: &AgentState, namespace: &str) -> Vec<String> {
    state
        .containers
        .iter()
        .filter(|(_, c)| c.reference.namespace == namespace)
        .map(|(name, _)| name.clone())
        .collect()
}

/// The name of the container of a runtime namespace known as `id`: an exact id or alias
/// first, then a unique prefix of one (cAdvisor's Docker lookup).
pub(crate) fn runtime_lookup(
    state: &AgentState,
    namespace: &str,
    id: &str,
) -> Result<String, ApiError> {
    let in_ns = || {
        state
            .containers
            .iter()
            .filter(|(_, c)| c.reference.namespace == namespace)
    };
    let known_as = |c: &crate::state::Container, is: &dyn Fn(&str) -> bool| {
        is(&c.reference.id) || c.reference.aliases.iter().any(|a| is(a))
    };
    if let Some((name, _)) = in_ns().find(|(_, c)| known_as(c, &|a| a == id)) {
        return Ok(name.clone());
    }
    let mut matches =
        in_ns().filter(|(_, c)| !id.is_empty() && known_as(c, &|a| a.starts_with(id)));
    match (matches.next(), matches.next()) {
        (Some((name, _)), None) => Ok(name.clone()),
        (Some(_), Some(_)) => Err(ApiError::Ambiguous(id.to_owned())),
        (None, _) => Err(ApiError::UnknownContainer(id.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_clean_like_go_path_join() {
        assert_eq!(container_name(""), "/");
        assert_eq!(container_name("/"), "/");
        assert_eq!(
            container_name("/system.slice/sshd.service"),
            "/system.slice/sshd.service"
        );
        assert_eq!(container_name("//a/./b/"), "/a/b");
        assert_eq!(container_name("/a/../../../b"), "/b");
    }

    #[test]
    fn escapes_like_go() {
        let out = go_escape(br#"{"a":"<&>","b":"x\u2028y"}"#.to_vec());
        assert_eq!(out, br#"{"a":"\u003c\u0026\u003e","b":"x\u2028y"}"#);
        let raw = serde_json::to_vec("p\u{2029}q\u{e9}").unwrap();
        assert_eq!(go_escape(raw), "\"p\\u2029q\u{e9}\"".as_bytes());
    }
}
