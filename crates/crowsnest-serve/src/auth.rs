//! Authentication of every request: `Authorization: Bearer TOKEN` against the token file,
//! `Authorization: Basic ...` against the htpasswd file. A refused request gets 401 with
//! `WWW-Authenticate` naming the schemes accepted and a JSON body naming the problem; the
//! refusals are logged at most once per 10 s, with the count of those left out.

pub mod htpasswd;
pub mod tokens;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use tokio::sync::Semaphore;

use crate::AuthFiles;
use crate::error::Result;
use crate::log_limit::RateLimitedLog;
use crate::watch::Watched;

use self::htpasswd::Htpasswd;
use self::tokens::TokenSet;

/// How often the token and htpasswd files are looked at for changes, at most.
const RELOAD_EVERY: Duration = Duration::from_secs(1);
/// At most one log line of refused requests per this long.
const LOG_EVERY: Duration = Duration::from_secs(10);
/// bcrypt verifications run at once, at most (each takes a core for ~50-250 ms).
const BCRYPT_AT_ONCE: usize = 2;

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// No `Authorization` header.
    Missing,
    /// A scheme other than the ones configured.
    Scheme,
    /// A bearer token that is not in the token file.
    BadToken,
    /// Basic credentials that are not base64 of `user:password`.
    Malformed,
    /// A user or password that the htpasswd file does not accept.
    BadCredentials,
}

impl Problem {
    /// What the JSON body says.
    pub fn message(self) -> &'static str {
        match self {
            Problem::Missing => "missing Authorization header",
            Problem::Scheme => "unsupported Authorization scheme",
            Problem::BadToken => "bad token",
            Problem::Malformed => "malformed Basic credentials",
            Problem::BadCredentials => "bad user or password",
        }
    }
}

/// The checks a listener's requests go through.
pub struct Gate {
    tokens: Option<Watched<TokenSet>>,
    htpasswd: Option<Watched<Htpasswd>>,
    open_paths: Vec<String>,
    refusals: RateLimitedLog,
    bcrypt_turns: Semaphore,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("tokens", &self.tokens.is_some())
            .field("htpasswd", &self.htpasswd.is_some())
            .field("open_paths", &self.open_paths)
            .finish()
    }
}

impl Gate {
    /// Reads the files of `files`; `open_paths` are served to anyone.
    pub fn new(files: &AuthFiles, open_paths: Vec<String>) -> Result<Gate> {
        let tokens = files
            .token_file
            .clone()
            .map(|p| {
                let path = p.clone();
                Watched::open("--auth-token-file", vec![p], RELOAD_EVERY, move || {
                    TokenSet::load("--auth-token-file", &path)
                })
            })
            .transpose()?;
        let htpasswd = files
            .htpasswd
            .clone()
            .map(|p| {
                let path = p.clone();
                Watched::open("--auth-htpasswd", vec![p], RELOAD_EVERY, move || {
                    Htpasswd::load("--auth-htpasswd", &path)
                })
            })
            .transpose()?;
        Ok(Gate {
            tokens,
            htpasswd,
            open_paths,
            refusals: RateLimitedLog::new(LOG_EVERY),
            bcrypt_turns: Semaphore::new(BCRYPT_AT_ONCE),
        })
    }

    /// Whether `path` is served without authentication.
    pub fn is_open(&self, path: &str) -> bool {
        self.open_paths.iter().any(|p| p == path)
    }

    /// Checks a request's headers.
    pub async fn check(&self, headers: &HeaderMap) -> Result<(), Problem> {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(Problem::Missing);
        };
        let value = value.to_str().map_err(|_| Problem::Scheme)?.trim();
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            let Some(tokens) = &self.tokens else {
                return Err(Problem::Scheme);
            };
            return if tokens.get().contains(rest.as_bytes()) {
                Ok(())
            } else {
                Err(Problem::BadToken)
            };
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let Some(htpasswd) = &self.htpasswd else {
                return Err(Problem::Scheme);
            };
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .map_err(|_| Problem::Malformed)?;
            let text = String::from_utf8(decoded).map_err(|_| Problem::Malformed)?;
            let (user, password) = text.split_once(':').ok_or(Problem::Malformed)?;
            let users = htpasswd.get();
            if users.remembered(user, password) {
                return Ok(());
            }
            let _turn = self
                .bcrypt_turns
                .acquire()
                .await
                .map_err(|_| Problem::BadCredentials)?;
            let (user, password) = (user.to_owned(), password.to_owned());
            let ok = tokio::task::spawn_blocking(move || users.verify(&user, &password))
                .await
                .unwrap_or(false);
            return if ok {
                Ok(())
            } else {
                Err(Problem::BadCredentials)
            };
        }
        Err(Problem::Scheme)
    }

    /// The 401 answer for `problem`.
    pub fn refusal(&self, problem: Problem) -> Response {
        let body = serde_json::json!({ "error": format!("unauthorized: {}", problem.message()) });
        let mut resp = (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response();
        let h = resp.headers_mut();
        if self.tokens.is_some() {
            h.append(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"crowsnest\""),
            );
        }
        if self.htpasswd.is_some() {
            h.append(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"crowsnest\", charset=\"UTF-8\""),
            );
        }
        resp
    }
}

/// The middleware: open paths pass, others are checked.
pub(crate) async fn guard(State(gate): State<Arc<Gate>>, req: Request, next: Next) -> Response {
    if gate.is_open(req.uri().path()) {
        return next.run(req).await;
    }
    match gate.check(req.headers()).await {
        Ok(()) => next.run(req).await,
        Err(problem) => {
            if let Some(suppressed) = gate.refusals.hit(Instant::now()) {
                tracing::warn!(
                    path = %req.uri().path(),
                    reason = problem.message(),
                    suppressed,
                    "refused a request that did not authenticate \
                     (at most one line per 10 s; `suppressed` counts those left out since)"
                );
            }
            gate.refusal(problem)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    /// A request through `router`: (status, WWW-Authenticate values, body).
    async fn oneshot(
        router: axum::Router,
        path: &str,
        auth: Option<&str>,
    ) -> (u16, Vec<String>, String) {
        let mut b = axum::http::Request::builder().uri(path);
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        let resp = router
            .oneshot(b.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let www = resp
            .headers()
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, www, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn tokens_basic_and_open_paths() {
        let dir = tempfile::tempdir().unwrap();
        let tok = dir.path().join("tokens");
        std::fs::write(&tok, "# ours\nt0ken-one\nt0ken-two\n").unwrap();
        let htp = dir.path().join("htpasswd");
        let hash = bcrypt::hash("pw", 4).unwrap();
        std::fs::write(&htp, format!("alice:{hash}\n")).unwrap();
        let files = AuthFiles {
            token_file: Some(tok),
            htpasswd: Some(htp),
        };
        let gate = Arc::new(Gate::new(&files, vec!["/healthz".into()]).unwrap());
        let router = axum::Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/data", get(|| async { "data" }))
            .layer(axum::middleware::from_fn_with_state(gate, guard));
        let (s, www, body) = oneshot(router.clone(), "/data", None).await;
        assert_eq!(s, 401);
        assert_eq!(
            www,
            [
                "Bearer realm=\"crowsnest\"",
                "Basic realm=\"crowsnest\", charset=\"UTF-8\""
            ]
        );
        assert_eq!(
            body,
            r#"{"error":"unauthorized: missing Authorization header"}"#
        );
        assert_eq!(oneshot(router.clone(), "/healthz", None).await.0, 200);
        assert_eq!(
            oneshot(router.clone(), "/data", Some("Bearer t0ken-two"))
                .await
                .2,
            "data"
        );
        assert_eq!(
            oneshot(router.clone(), "/data", Some("bearer  t0ken-one"))
                .await
                .0,
            200
        );
        let (s, _, body) = oneshot(router.clone(), "/data", Some("Bearer t0ken")).await;
        assert_eq!((s, body.contains("bad token")), (401, true));
        let basic = |u: &str, p: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        };
        assert_eq!(
            oneshot(router.clone(), "/data", Some(&basic("alice", "pw")))
                .await
                .0,
            200
        );
        assert_eq!(
            oneshot(router.clone(), "/data", Some(&basic("alice", "pw")))
                .await
                .0,
            200
        );
        let (s, _, body) = oneshot(router.clone(), "/data", Some(&basic("alice", "no"))).await;
        assert_eq!((s, body.contains("bad user or password")), (401, true));
        let (s, _, body) = oneshot(router.clone(), "/data", Some("Basic !!!")).await;
        assert_eq!((s, body.contains("malformed")), (401, true));
        let (s, _, body) = oneshot(router, "/data", Some("Digest x")).await;
        assert_eq!((s, body.contains("unsupported")), (401, true));
    }
}
