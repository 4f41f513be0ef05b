//! Serving an axum [`Router`] safely: plain HTTP or TLS (rustls with the ring provider; the
//! certificate and key re-read when their files change; optional mutual TLS), behind optional
//! authentication (bearer tokens from a file, HTTP basic auth from a bcrypt htpasswd file,
//! both re-read when they change). Paths in [`ServeConfig::open_paths`] (`/healthz`) stay
//! open, so that liveness probes need no secret.
//!
//! The agent and the hub serve every listener through [`Server`]; the hub also builds the
//! trust store for its client side toward agents with [`tls::root_store`]. This crate owns
//! what guards a listener and nothing else: it must never import another crowsnest crate.

pub mod auth;
mod error;
pub mod errors;
pub mod log_limit;
pub mod prefix;
pub mod tls;
mod watch;

pub use error::{Error, Result};

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;

/// The files that turn authentication on; neither set: every request is served.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthFiles {
    /// Bearer tokens, one per line (`--auth-token-file`).
    pub token_file: Option<PathBuf>,
    /// An htpasswd file of bcrypt hashes (`--auth-htpasswd`, cAdvisor's `--http_auth_file`).
    pub htpasswd: Option<PathBuf>,
}

impl AuthFiles {
    /// Whether any authentication is asked for.
    pub fn enabled(&self) -> bool {
        self.token_file.is_some() || self.htpasswd.is_some()
    }
}

/// The files that turn TLS on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, PEM, leaf first (`--tls-cert`).
    pub cert: PathBuf,
    /// The private key, PEM (PKCS#8, PKCS#1 or SEC1) (`--tls-key`).
    pub key: PathBuf,
    /// CA certificates that client certificates must chain to (`--tls-client-ca`): when set,
    /// every client must present a valid certificate (mutual TLS).
    pub client_ca: Option<PathBuf>,
}

/// How a listener is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    /// Authentication (none by default).
    pub auth: AuthFiles,
    /// TLS (none by default).
    pub tls: Option<TlsFiles>,
    /// Exact request paths served without authentication (default `/healthz`).
    pub open_paths: Vec<String>,
}

impl Default for ServeConfig {
    fn default() -> ServeConfig {
        ServeConfig {
            auth: AuthFiles::default(),
            tls: None,
            open_paths: vec!["/healthz".to_owned()],
        }
    }
}

impl ServeConfig {
    /// The configuration the flags give: `--tls-cert` and `--tls-key` go together, and
    /// `--tls-client-ca` needs them.
    pub fn from_flags(
        token_file: Option<PathBuf>,
        htpasswd: Option<PathBuf>,
        cert: Option<PathBuf>,
        key: Option<PathBuf>,
        client_ca: Option<PathBuf>,
    ) -> Result<ServeConfig> {
        let tls = match (cert, key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert,
                key,
                client_ca,
            }),
            (None, None) if client_ca.is_some() => {
                return Err(Error::Flags(
                    "--tls-client-ca needs --tls-cert and --tls-key (mutual TLS is TLS)".into(),
                ));
            }
            (None, None) => None,
            (Some(_), None) => {
                return Err(Error::Flags(
                    "--tls-cert needs --tls-key (give both or neither)".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(Error::Flags(
                    "--tls-key needs --tls-cert (give both or neither)".into(),
                ));
            }
        };
        Ok(ServeConfig {
            auth: AuthFiles {
                token_file,
                htpasswd,
            },
            tls,
            ..ServeConfig::default()
        })
    }

    /// Reads and checks every file (what [`Server::new`] does), so that a mistake is found
    /// at start-up with the flag and the file named.
    pub fn check(&self) -> Result<()> {
        Server::new(self).map(drop)
    }
}

/// A listener's guard, every file read and checked: serve a router with [`Server::serve`].
pub struct Server {
    gate: Option<Arc<auth::Gate>>,
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("auth", &self.gate.is_some())
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Server {
    /// Reads the token file, the htpasswd file, the certificate, the key and the client CA
    /// named by `config`; an error names the flag, the file and (for a bad line) the line.
    pub fn new(config: &ServeConfig) -> Result<Server> {
        let gate = if config.auth.enabled() {
            Some(Arc::new(auth::Gate::new(
                &config.auth,
                config.open_paths.clone(),
            )?))
        } else {
            None
        };
        let tls = config.tls.as_ref().map(tls::server_config).transpose()?;
        Ok(Server { gate, tls })
    }

    /// `https` or `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// Whether requests must authenticate.
    pub fn authenticates(&self) -> bool {
        self.gate.is_some()
    }

    /// Serves `router` on `listener` until `shutdown` completes, then lets the requests under
    /// way finish (axum's graceful shutdown). A client whose TLS handshake fails is dropped;
    /// the accept loop goes on.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        router: Router,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let router = match self.gate {
            Some(gate) => router.layer(axum::middleware::from_fn_with_state(gate, auth::guard)),
            None => router,
        };
        match self.tls {
            Some(config) => {
                let listener = tls::TlsListener::new(listener, config);
                axum::serve(listener, router)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
            None => {
                axum::serve(listener, router)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_flags_go_together() {
        let p = |s: &str| Some(PathBuf::from(s));
        let e = ServeConfig::from_flags(None, None, p("c"), None, None).unwrap_err();
        assert!(e.to_string().contains("--tls-cert needs --tls-key"), "{e}");
        let e = ServeConfig::from_flags(None, None, None, p("k"), None).unwrap_err();
        assert!(e.to_string().contains("--tls-key needs --tls-cert"), "{e}");
        let e = ServeConfig::from_flags(None, None, None, None, p("ca")).unwrap_err();
        assert!(e.to_string().contains("--tls-client-ca needs"), "{e}");
        let c = ServeConfig::from_flags(None, p("h"), p("c"), p("k"), None).unwrap();
        assert_eq!(c.tls.unwrap().cert, PathBuf::from("c"));
        assert!(c.auth.enabled());
        assert_eq!(c.open_paths, ["/healthz"]);
        assert!(!ServeConfig::default().auth.enabled());
    }
}
