//! HTTP to the API server and the kubelets: reqwest on rustls (the client the sinks already
//! use), with the credentials Heapster's options name: in-cluster (the service account's token
//! and CA, `KUBERNETES_SERVICE_HOST`), a kubeconfig, or a bare URL; `useServiceAccount` adds the
//! token; `insecure` skips certificate checks. The kubelets get the same CA, client
//! certificate and token (Heapster's `KubeletClientConfig`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::config::KubernetesSpec;
use super::kubeconfig;

/// How long one list, or one kubelet answer, may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest answer read (a list or a summary).
pub const MAX_BODY: usize = 256 << 20;

/// How a request is authenticated.
#[derive(Debug, Clone, Default)]
enum Auth {
    #[default]
    None,
    Token(String),
    /// A token file re-read every minute (projected service account tokens rotate).
    TokenFile(PathBuf),
    Basic(String, String),
}

/// An authenticated client of one API server.
#[derive(Clone)]
pub struct ApiClient {
    base: String,
    http: reqwest::Client,
    watch_http: reqwest::Client,
    auth: Auth,
    token_cache: std::sync::Arc<std::sync::Mutex<Option<(Instant, String)>>>,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// An answer other than 2xx: its status and the start of its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    /// The HTTP status (0 when there was no answer).
    pub status: u16,
    /// What happened.
    pub message: String,
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.status == 0 {
            f.write_str(&self.message)
        } else {
            write!(f, "HTTP {}: {}", self.status, self.message)
        }
    }
}

fn chain(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

fn no_answer(e: &reqwest::Error) -> HttpError {
    HttpError {
        status: 0,
        message: chain(e),
    }
}

/// TLS and credentials shared by the API client and the kubelet client.
#[derive(Debug, Clone, Default)]
struct Tls {
    ca_pem: Option<Vec<u8>>,
    identity_pem: Option<Vec<u8>>,
    insecure: bool,
}

fn builder(tls: &Tls) -> Result<reqwest::ClientBuilder, String> {
    // One process-wide provider; installing it twice is a harmless error.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut b = reqwest::Client::builder()
        .user_agent(concat!("crowsnest-hub/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .tls_danger_accept_invalid_certs(tls.insecure);
    if let Some(ca) = &tls.ca_pem {
        for c in reqwest::Certificate::from_pem_bundle(ca)
            .map_err(|e| format!("the CA certificate is not PEM: {}", chain(&e)))?
        {
            b = b.add_root_certificate(c);
        }
    }
    if let Some(id) = &tls.identity_pem {
        b = b.identity(
            reqwest::Identity::from_pem(id)
                .map_err(|e| format!("the client certificate or key: {}", chain(&e)))?,
        );
    }
    Ok(b)
}

/// The API client and, for the Summary API, the kubelet client of a spec. Reads the
/// kubeconfig, service account and CA files now; the error names what is missing.
pub fn connect(spec: &KubernetesSpec) -> Result<(ApiClient, KubeletClient), String> {
    let sa = &spec.service_account_dir;
    let mut tls = Tls {
        insecure: spec.insecure,
        ..Default::default()
    };
    let mut auth = Auth::None;
    let base = if spec.in_cluster {
        let server = match &spec.server {
            Some(s) => s.clone(),
            None => {
                let host = std::env::var("KUBERNETES_SERVICE_HOST").map_err(|_| {
                    "inClusterConfig=true but KUBERNETES_SERVICE_HOST is not set (not in a pod?); \
                     give inClusterConfig=false with a server URL or auth=KUBECONFIG"
                        .to_owned()
                })?;
                let port =
                    std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
                if host.contains(':') {
                    format!("https://[{host}]:{port}")
                } else {
                    format!("https://{host}:{port}")
                }
            }
        };
        let token = sa.join("token");
        if !token.exists() {
            return Err(format!(
                "inClusterConfig=true but {} is missing",
                token.display()
            ));
        }
        auth = Auth::TokenFile(token);
        if !spec.insecure {
            let ca = sa.join("ca.crt");
            tls.ca_pem = Some(std::fs::read(&ca).map_err(|e| format!("{}: {e}", ca.display()))?);
        }
        server
    } else if let Some(path) = &spec.kubeconfig {
        let k = kubeconfig::load(path)?;
        tls.ca_pem = k.ca_pem;
        tls.identity_pem = k.identity_pem;
        tls.insecure |= k.insecure;
        if let Some(t) = k.token {
            auth = Auth::Token(t);
        } else if let Some((u, p)) = k.basic_auth {
            auth = Auth::Basic(u, p);
        }
        spec.server.clone().unwrap_or(k.server)
    } else {
        spec.server
            .clone()
            .ok_or_else(|| "no API server URL".to_owned())?
    };
    if let Some((u, p)) = &spec.basic_auth {
        auth = Auth::Basic(u.clone(), p.clone());
    }
    if spec.use_service_account && sa.join("token").exists() {
        auth = Auth::TokenFile(sa.join("token"));
    }
    if base.is_empty() {
        return Err("the kubeconfig names no server".into());
    }
    let http = builder(&tls)?
        .timeout(REQUEST_TIMEOUT)
        .pool_idle_timeout(Duration::from_secs(90))
        .build()
        .map_err(|e| chain(&e))?;
    // A watch lasts as long as the server keeps it open: its own deadline is set per call.
    let watch_http = builder(&tls)?
        .pool_idle_timeout(Duration::from_secs(90))
        .build()
        .map_err(|e| chain(&e))?;
    let kubelet_http = builder(&tls)?
        .timeout(REQUEST_TIMEOUT)
        // One connection per scrape, as for agents: an idle pool per node costs memory.
        .pool_max_idle_per_host(0)
        .build()
        .map_err(|e| chain(&e))?;
    let api = ApiClient {
        base: base.trim_end_matches('/').to_owned(),
        http,
        watch_http,
        auth: auth.clone(),
        token_cache: Default::default(),
    };
    let kubelet = KubeletClient {
        http: kubelet_http,
        https: spec.kubelet_https,
        port: spec.kubelet_port,
        api: api.clone(),
    };
    Ok((api, kubelet))
}

impl ApiClient {
    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn authorize(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, HttpError> {
        Ok(match &self.auth {
            Auth::None => req,
            Auth::Token(t) => req.bearer_auth(t),
            Auth::Basic(u, p) => req.basic_auth(u, Some(p)),
            Auth::TokenFile(path) => {
                let mut cache = self.token_cache.lock().unwrap_or_else(|p| p.into_inner());
                let fresh = cache
                    .as_ref()
                    .filter(|(at, _)| at.elapsed() < Duration::from_secs(60))
                    .map(|(_, t)| t.clone());
                let token = match fresh {
                    Some(t) => t,
                    None => {
                        let t = std::fs::read_to_string(path)
                            .map_err(|e| HttpError {
                                status: 0,
                                message: format!("token {}: {e}", path.display()),
                            })?
                            .trim()
                            .to_owned();
                        *cache = Some((Instant::now(), t.clone()));
                        t
                    }
                };
                req.bearer_auth(token)
            }
        })
    }

    /// `GET {base}{path}`: the whole body of a 2xx answer.
    pub async fn get(&self, path: &str) -> Result<Vec<u8>, HttpError> {
        let req = self.authorize(
            self.http
                .get(format!("{}{path}", self.base))
                .header("Accept", "application/json"),
        )?;
        let resp = req.send().await.map_err(|e| no_answer(&e))?;
        read_body(resp).await
    }

    /// `GET {base}{path}` for a watch: the answer, to be read chunk by chunk, once it is 2xx;
    /// it ends by itself after `timeout`.
    pub async fn watch(
        &self,
        path: &str,
        timeout: Duration,
    ) -> Result<reqwest::Response, HttpError> {
        let req = self.authorize(
            self.watch_http
                .get(format!("{}{path}", self.base))
                .header("Accept", "application/json")
                .timeout(timeout),
        )?;
        let resp = req.send().await.map_err(|e| no_answer(&e))?;
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(read_body(resp).await.err().unwrap_or(HttpError {
                status: 0,
                message: "an answer that is neither success nor error".into(),
            }))
        }
    }
}

/// Reads a body (at most [`MAX_BODY`]); an answer other than 2xx is an [`HttpError`] with the
/// `Status` message when there is one.
async fn read_body(mut resp: reqwest::Response) -> Result<Vec<u8>, HttpError> {
    let status = resp.status();
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                if body.len() + c.len() > MAX_BODY {
                    return Err(HttpError {
                        status: 0,
                        message: format!("the answer is larger than {MAX_BODY} bytes"),
                    });
                }
                body.extend_from_slice(&c);
            }
            Ok(None) => break,
            Err(e) => return Err(no_answer(&e)),
        }
    }
    if status.is_success() {
        return Ok(body);
    }
    let message = serde_json::from_slice::<super::types::Status>(&body)
        .ok()
        .map(|s| s.message)
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned());
    Err(HttpError {
        status: status.as_u16(),
        message,
    })
}

/// A client of the kubelets' Summary API.
#[derive(Clone)]
pub struct KubeletClient {
    http: reqwest::Client,
    https: bool,
    port: u16,
    api: ApiClient,
}

impl std::fmt::Debug for KubeletClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeletClient")
            .field("https", &self.https)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl KubeletClient {
    /// The kubelets' port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http[s]://host:port/stats/summary`.
    pub fn summary_url(&self, host: &str) -> String {
        let scheme = if self.https { "https" } else { "http" };
        if host.contains(':') {
            format!("{scheme}://[{host}]:{}/stats/summary", self.port)
        } else {
            format!("{scheme}://{host}:{}/stats/summary", self.port)
        }
    }

    /// The summary of the kubelet at `host`, as bytes.
    pub async fn summary(&self, host: &str) -> Result<Vec<u8>, HttpError> {
        let req = self.api.authorize(self.http.get(self.summary_url(host)))?;
        let resp = req.send().await.map_err(|e| no_answer(&e))?;
        read_body(resp).await
    }
}
