//! The web UI of the agent and the hub: HTML pages and the scripts, stylesheet and SVG chart
//! code they load, embedded in the binary at build time. Nothing is fetched from outside the
//! server that serves a page.
//!
//! The pages are static shells; the browser reads every figure from the JSON APIs the agent
//! and the hub already serve. Every link and request a page makes is relative to a `<base
//! href>` of `../`s leading back to the root it was served from, so the UI works under any
//! path prefix (the agent's `--url-base-prefix`, a proxy's path).
//!
//! This crate owns presentation only: it must never import a crate of ours (no collector, no
//! store, neither the agent nor the hub), so that both roles can mount it.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// Which server a page belongs to: it chooses the script that draws the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Agent,
    Hub,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Hub => "hub",
        }
    }
}

/// The agent's pages: `/` (machine overview, top containers, the container tree),
/// `/containers/` and `/containers/<container name>` (cAdvisor's URL scheme), and the assets
/// under `/ui/`. Generic over the router's state, so the agent merges it into its own router.
pub fn agent_routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(agent_page))
        .route("/containers", get(agent_page))
        .route("/containers/", get(agent_page))
        .route("/containers/{*name}", get(agent_page))
        .route("/ui/{file}", get(asset))
}

/// The hub's pages: `/` (nodes, namespaces, pods), `/nodes/<node>` (and its free
/// containers), `/namespaces/<ns>`, `/namespaces/<ns>/pods/<pod>` (and its containers), and
/// the assets under `/ui/`.
pub fn hub_routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(hub_page))
        .route("/nodes/{*rest}", get(hub_page))
        .route("/namespaces/{*rest}", get(hub_page))
        .route("/ui/{file}", get(asset))
}

async fn agent_page(uri: Uri) -> Response {
    page(Role::Agent, uri.path())
}

async fn hub_page(uri: Uri) -> Response {
    page(Role::Hub, uri.path())
}

/// The `<base href>` that leads from a page at `path` (as the router sees it, without a
/// prefix) back to the root: one `../` per directory below the root.
fn base_href(path: &str) -> String {
    let depth = path.matches('/').count().saturating_sub(1);
    if depth == 0 {
        "./".to_owned()
    } else {
        "../".repeat(depth)
    }
}

/// The HTML shell of every page.
fn page(role: Role, path: &str) -> Response {
    let base = base_href(path);
    let role = role.as_str();
    let v = asset_version();
    let scripts = ["common", "chart", role];
    let (head, tail) = if path == "/" {
        // The root under a prefix may be asked for without its trailing slash (`/monitor`):
        // relative URLs would then resolve above the prefix. A script makes the page itself
        // the base in that case, and only then adds the stylesheet and the scripts (tags in
        // the HTML would be fetched early, against the wrong base).
        let list = scripts.map(|s| format!("\"{s}\"")).join(",");
        let loader = format!(
            "<script>(function(){{var b=document.querySelector(\"base\");\
             if(!location.pathname.endsWith(\"/\"))b.href=location.pathname+\"/\";\
             var l=document.createElement(\"link\");l.rel=\"stylesheet\";\
             l.href=\"ui/style.css?v={v}\";document.head.appendChild(l);\
             [{list}].forEach(function(n){{var s=document.createElement(\"script\");\
             s.src=\"ui/\"+n+\".js?v={v}\";s.async=false;document.head.appendChild(s);}});}})();\
             </script>\n"
        );
        (loader, String::new())
    } else {
        let tags: String = scripts
            .iter()
            .map(|s| format!("<script src=\"ui/{s}.js?v={v}\"></script>\n"))
            .collect();
        (
            format!("<link rel=\"stylesheet\" href=\"ui/style.css?v={v}\">\n"),
            tags,
        )
    };
    let body = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <base href=\"{base}\">\n\
         <link rel=\"icon\" href=\"data:,\">\n{head}\
         <title>crowsnest</title>\n</head>\n\
         <body data-role=\"{role}\">\n\
         <header id=\"top\"></header>\n\
         <main id=\"main\"><noscript>This page draws its content with JavaScript.</noscript></main>\n\
         {tail}</body>\n</html>\n"
    );
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The embedded assets: (file name, content type, content).
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../assets/style.css"),
    ),
    (
        "common.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/common.js"),
    ),
    (
        "chart.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/chart.js"),
    ),
    (
        "agent.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/agent.js"),
    ),
    (
        "hub.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/hub.js"),
    ),
];

/// A version of the assets (an FNV-1a hash of all of them), for cache-busting URLs and ETags.
fn asset_version() -> &'static str {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for (_, _, content) in ASSETS {
            for b in content.bytes() {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        format!("{h:016x}")
    })
}

/// `GET /ui/<file>`: an embedded asset, `304` when the browser has this version.
async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let Some((_, content_type, content)) = ASSETS.iter().find(|(name, _, _)| *name == file) else {
        return (StatusCode::NOT_FOUND, format!("no asset {file:?}")).into_response();
    };
    let etag = format!("\"{}\"", asset_version());
    let cached = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let etag = HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"\""));
    if cached {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::ETAG, etag),
        ],
        *content,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    async fn get(router: Router, path: &str, etag: Option<&str>) -> (StatusCode, String) {
        let mut req = Request::get(path);
        if let Some(e) = etag {
            req = req.header(header::IF_NONE_MATCH, e);
        }
        let resp = router
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[test]
    fn the_base_leads_back_to_the_root() {
        assert_eq!(base_href("/"), "./");
        assert_eq!(base_href("/containers"), "./");
        assert_eq!(base_href("/containers/"), "../");
        assert_eq!(base_href("/containers/system.slice/sshd.service"), "../../");
        assert_eq!(base_href("/containers/system.slice/"), "../../");
        assert_eq!(base_href("/namespaces/kube-system/pods/dns"), "../../../");
    }

    #[tokio::test]
    async fn pages_load_only_relative_embedded_assets() {
        let (status, html) = get(
            agent_routes(),
            "/containers/system.slice/sshd.service",
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("<base href=\"../../\">"), "{html}");
        assert!(html.contains("src=\"ui/agent.js?v="), "{html}");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{html}"
        );
        assert!(
            !html.contains("location.pathname"),
            "only the root fixes its base"
        );
        let (_, root) = get(agent_routes(), "/", None).await;
        assert!(root.contains("<base href=\"./\">") && root.contains("location.pathname"));
        assert!(
            !root.contains("<script src") && root.contains("\"common\",\"chart\",\"agent\""),
            "the root loads its assets only once its base is right: {root}"
        );
        let (status, html) = get(hub_routes(), "/namespaces/default/pods/web", None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("ui/hub.js") && html.contains("<base href=\"../../../\">"));
    }

    #[tokio::test]
    async fn assets_are_embedded_versioned_and_self_contained() {
        for (name, _, content) in ASSETS {
            let (status, body) = get(agent_routes(), &format!("/ui/{name}"), None).await;
            assert_eq!(status, StatusCode::OK, "{name}");
            assert_eq!(body, *content);
            // No script or stylesheet reaches outside the server it came from (the SVG
            // namespace is a name, never fetched).
            let content = content.replace("\"http://www.w3.org/2000/svg\"", "");
            for outside in ["http://", "https://", "//cdn", "@import", "url("] {
                assert!(!content.contains(outside), "{name} contains {outside:?}");
            }
        }
        let etag = format!("\"{}\"", asset_version());
        let (status, _) = get(hub_routes(), "/ui/chart.js", Some(&etag)).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
        let (status, _) = get(hub_routes(), "/ui/nope.js", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}
