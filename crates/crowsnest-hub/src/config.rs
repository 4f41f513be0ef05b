//! The hub's validated configuration, and the parsing of what names nodes: Heapster's
//! `--source` URIs (`cadvisor:external?hostsFile=/var/run/heapster/hosts&cadvisorPort=8080`)
//! and `--node NAME=HOST:PORT` entries.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

/// Heapster's default hosts file (`--external_hosts_file`).
pub const DEFAULT_HOSTS_FILE: &str = "/var/run/heapster/hosts";

/// Everything the hub needs to run; built by the binary from the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct HubConfig {
    /// Where the HTTP API listens (default `0.0.0.0:8082`).
    pub listen: SocketAddr,
    /// Where the nodes come from; their lists are merged (the first source naming a node wins).
    pub sources: Vec<SourceSpec>,
    /// How often every node is scraped and a batch is made (`--resolution`, default 10 s).
    pub resolution: Duration,
    /// How long one node's scrape may take before it is given up (less than `resolution`).
    pub scrape_timeout: Duration,
    /// How long the model keeps the processed series (`--retention`, default 15 min).
    pub retention: Duration,
    /// The model's hard memory budget in bytes: past it the oldest points go first.
    pub model_memory_limit: u64,
    /// How often a hosts file is checked for changes.
    pub hosts_poll_interval: Duration,
    /// Where the model keeps its series (`--model-store`).
    pub model_store: ModelBackend,
    /// The embedded store's directory (`--model-dir`); `None`: a temporary directory removed
    /// when the hub stops.
    pub model_dir: Option<PathBuf>,
    /// Where every processed batch is also sent (`--sink`).
    pub sinks: Vec<crowsnest_sinks::SinkSpec>,
    /// Root of the sinks' on-disk queues.
    pub sink_queue_dir: std::path::PathBuf,
    /// TLS and authentication of the hub's listener (`--tls-cert`, `--auth-token-file`, ...).
    pub serve: crowsnest_serve::ServeConfig,
    /// Prefix of every HTTP route (`--url-base-prefix`, e.g. `/monitor`); empty: none.
    pub url_base_prefix: String,
    /// How the hub reaches agents: scheme, bearer token, CA (`--agent-scheme`,
    /// `--agent-token-file`, `--agent-ca`).
    pub agents: AgentClientConfig,
}

/// How the hub reaches agents, for nodes whose source says nothing else.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentClientConfig {
    /// A token file whose first token the hub sends to every agent as
    /// `Authorization: Bearer` (`--agent-token-file`); re-read when it changes.
    pub token_file: Option<PathBuf>,
    /// CA certificates (PEM) that agents' certificates must chain to (`--agent-ca`); without
    /// it, the system's roots.
    pub ca_file: Option<PathBuf>,
    /// The scheme of agents whose source gives none (`--agent-scheme`).
    pub scheme: Scheme,
    /// The certificate and key (PEM) the hub presents to agents that ask for one (mutual
    /// TLS: `--agent-tls-cert`, `--agent-tls-key`).
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

/// How an agent is spoken to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scheme {
    /// Plain HTTP.
    #[default]
    Http,
    /// HTTP over TLS, the agent's certificate verified.
    Https,
}

impl Scheme {
    /// `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

impl std::str::FromStr for Scheme {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Scheme, String> {
        match s {
            "http" => Ok(Scheme::Http),
            "https" => Ok(Scheme::Https),
            other => Err(format!("{other:?} is not a scheme (http, https)")),
        }
    }
}

/// How one node's agent is reached when its source says so (a hosts file item's `scheme`,
/// `token` or `tokenFile`); what it leaves out comes from [`AgentClientConfig`].
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct AgentAccess {
    /// The scheme.
    pub scheme: Option<Scheme>,
    /// The bearer token.
    pub token: Option<std::sync::Arc<str>>,
}

impl std::fmt::Debug for AgentAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentAccess")
            .field("scheme", &self.scheme)
            .field("token", &self.token.as_ref().map(|_| "(set)"))
            .finish()
    }
}

impl HubConfig {
    /// A configuration with the defaults for `sources`: 10 s resolution, 15 min retention,
    /// a 256 MiB model.
    pub fn new(listen: SocketAddr, sources: Vec<SourceSpec>) -> HubConfig {
        let resolution = Duration::from_secs(10);
        HubConfig {
            listen,
            sources,
            resolution,
            scrape_timeout: default_scrape_timeout(resolution),
            retention: Duration::from_secs(15 * 60),
            model_memory_limit: 256 << 20,
            hosts_poll_interval: Duration::from_secs(2),
            model_store: ModelBackend::default(),
            model_dir: None,
            sinks: Vec::new(),
            sink_queue_dir: std::path::PathBuf::from("/var/lib/crowsnest/hub-sinks"),
            serve: crowsnest_serve::ServeConfig::default(),
            url_base_prefix: String::new(),
            agents: AgentClientConfig::default(),
        }
    }
}

/// Where the model keeps its series.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ModelBackend {
    /// Everything in memory ([`crate::model::memory::MemoryModel`]): the default, as it
    /// takes less memory per container than the store (see `scripts/bench.sh hub`).
    #[default]
    Memory,
    /// The embedded store (`crowsnest-store`): history on disk, its index and head in memory.
    Store,
}

impl std::str::FromStr for ModelBackend {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<ModelBackend, String> {
        match s {
            "store" => Ok(ModelBackend::Store),
            "memory" => Ok(ModelBackend::Memory),
            other => Err(format!("{other:?} is not a model store (store, memory)")),
        }
    }
}

/// Three quarters of the resolution, at most 20 s (Heapster's scrape timeout): a scrape always
/// ends before the next one of the same node starts.
pub fn default_scrape_timeout(resolution: Duration) -> Duration {
    (resolution * 3 / 4).min(Duration::from_secs(20))
}

/// One node to scrape: its name (the `nodename` label) and the agent's address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeAddr {
    /// The node's name.
    pub name: String,
    /// Host name or IP address of its agent.
    pub host: String,
    /// Port of its agent.
    pub port: u16,
}

impl NodeAddr {
    /// `http://host:port` (IPv6 addresses in brackets).
    pub fn base_url(&self) -> String {
        self.url_with(Scheme::Http)
    }

    /// `scheme://host:port` (IPv6 addresses in brackets).
    pub fn url_with(&self, scheme: Scheme) -> String {
        let scheme = scheme.as_str();
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("{scheme}://[{}]:{}", self.host, self.port)
        } else {
            format!("{scheme}://{}:{}", self.host, self.port)
        }
    }

    /// Parses a `--node` entry: `NAME=HOST:PORT`, or `NAME=HOST` with `default_port`.
    pub fn parse_entry(entry: &str, default_port: u16) -> Result<NodeAddr> {
        let bad = |reason: &str| Error::NodeEntry {
            entry: entry.to_owned(),
            reason: reason.to_owned(),
        };
        let (name, addr) = entry
            .split_once('=')
            .ok_or_else(|| bad("expected NAME=HOST:PORT"))?;
        let name = name.trim();
        if name.is_empty() {
            return Err(bad("the node name is empty"));
        }
        let (host, port) = split_host_port(addr.trim(), default_port).map_err(|r| bad(&r))?;
        check_host(&host).map_err(|r| bad(&r))?;
        Ok(NodeAddr {
            name: name.to_owned(),
            host,
            port,
        })
    }
}

/// `host:port`, `[v6]:port`, `host` or `v6` into host and port.
fn split_host_port(addr: &str, default_port: u16) -> std::result::Result<(String, u16), String> {
    let parse_port = |p: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("port {p:?} is not a number from 1 to 65535"))
    };
    if let Some(rest) = addr.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| "missing ] after an IPv6 address".to_owned())?;
        return match after.strip_prefix(':') {
            Some(p) => Ok((host.to_owned(), parse_port(p)?)),
            None if after.is_empty() => Ok((host.to_owned(), default_port)),
            None => Err(format!("unexpected {after:?} after ]")),
        };
    }
    match addr.matches(':').count() {
        0 => Ok((addr.to_owned(), default_port)),
        1 => {
            let (h, p) = addr.split_once(':').unwrap_or((addr, ""));
            Ok((h.to_owned(), parse_port(p)?))
        }
        // A bare IPv6 address.
        _ => Ok((addr.to_owned(), default_port)),
    }
}

/// Whether `host` can be a host name or an IP address.
pub(crate) fn check_host(host: &str) -> std::result::Result<(), String> {
    if host.is_empty() {
        return Err("the host is empty".into());
    }
    if host.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    let ok = host.len() <= 253
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!("{host:?} is neither an IP address nor a host name"))
    }
}

/// Where nodes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// Heapster's hosts file, re-read when it changes; `port` is used for items without one.
    HostsFile {
        /// The file.
        path: PathBuf,
        /// The agent port of items that give none.
        port: u16,
    },
    /// A fixed list (`--node`, or `cadvisor:external?standalone=true`).
    Static(Vec<NodeAddr>),
    /// A Kubernetes cluster (`kubernetes:https://apiserver?...`): its nodes, scraped through
    /// their agents or their kubelets' Summary API, and its pods and namespaces for enrichment.
    Kubernetes(Box<crate::kubernetes::KubernetesSpec>),
}

impl SourceSpec {
    /// Parses a Heapster `--source` URI: `cadvisor:external` (options `hostsFile`,
    /// `cadvisorPort`, `standalone`), `kubernetes:` and `kubernetes.summary_api:` (see
    /// [`crate::kubernetes::config`]); `cadvisor:coreos` is refused with a message saying so.
    pub fn parse_uri(uri: &str, default_port: u16) -> Result<SourceSpec> {
        let bad = |reason: String| Error::SourceUri {
            uri: uri.to_owned(),
            reason,
        };
        let (kind, rest) = uri
            .split_once(':')
            .ok_or_else(|| bad("expected KIND:CONFIG[?OPTIONS], e.g. cadvisor:external".into()))?;
        let (config, query) = rest.split_once('?').unwrap_or((rest, ""));
        match kind {
            "cadvisor" => {}
            "kubernetes" | "kubernetes.summary_api" => {
                return crate::kubernetes::KubernetesSpec::parse(
                    uri,
                    kind,
                    config,
                    query,
                    default_port,
                )
                .map(|s| SourceSpec::Kubernetes(Box::new(s)))
                .map_err(bad);
            }
            other => {
                return Err(bad(format!(
                    "unknown source kind {other:?} (supported: cadvisor, kubernetes, \
                     kubernetes.summary_api)"
                )));
            }
        }
        match config {
            "external" | "" => {}
            "coreos" | "fleet" => {
                return Err(bad("the CoreOS fleet source is not supported".into()));
            }
            other => {
                return Err(bad(format!(
                    "unknown cadvisor source {other:?} (supported: external)"
                )));
            }
        }
        let mut path = PathBuf::from(DEFAULT_HOSTS_FILE);
        let mut port = default_port;
        let mut standalone = false;
        for (key, value) in query_pairs(query).map_err(&bad)? {
            match key.as_str() {
                "hostsFile" => {
                    if value.is_empty() {
                        return Err(bad("hostsFile is empty".into()));
                    }
                    path = PathBuf::from(value);
                }
                "cadvisorPort" => {
                    port = value
                        .parse::<u16>()
                        .ok()
                        .filter(|p| *p != 0)
                        .ok_or_else(|| bad(format!("cadvisorPort {value:?} is not a port")))?;
                }
                "standalone" => {
                    standalone = parse_bool(&value)
                        .ok_or_else(|| bad(format!("standalone {value:?} is not true or false")))?;
                }
                other => return Err(bad(format!("unknown option {other:?}"))),
            }
        }
        if standalone {
            return Ok(SourceSpec::Static(vec![NodeAddr {
                name: "localhost".into(),
                host: "127.0.0.1".into(),
                port,
            }]));
        }
        Ok(SourceSpec::HostsFile { path, port })
    }
}

/// Go's `strconv.ParseBool`.
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// The decoded `key=value` pairs of a query string.
pub(crate) fn query_pairs(query: &str) -> std::result::Result<Vec<(String, String)>, String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Ok((percent_decode(k)?, percent_decode(v)?))
        })
        .collect()
}

/// Decodes `%XX` escapes and `+` (a space) of a query string component.
pub(crate) fn percent_decode(text: &str) -> std::result::Result<String, String> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'%' => {
                let hex = |j: usize| b.get(j).and_then(|h| (*h as char).to_digit(16));
                let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) else {
                    return Err(format!("bad %-escape in {text:?}"));
                };
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| format!("{text:?} is not UTF-8 once decoded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heapster_source_uris() {
        assert_eq!(
            SourceSpec::parse_uri("cadvisor:external?hostsFile=/etc/h&cadvisorPort=4194", 8080)
                .unwrap(),
            SourceSpec::HostsFile {
                path: "/etc/h".into(),
                port: 4194
            }
        );
        assert_eq!(
            SourceSpec::parse_uri("cadvisor:external", 8080).unwrap(),
            SourceSpec::HostsFile {
                path: DEFAULT_HOSTS_FILE.into(),
                port: 8080
            }
        );
        let SourceSpec::Static(n) =
            SourceSpec::parse_uri("cadvisor:external?standalone=true", 9000).unwrap()
        else {
            panic!("standalone is a static list")
        };
        assert_eq!(n[0].base_url(), "http://127.0.0.1:9000");
        for (uri, want) in [
            (
                "kubernetes:https://k8s?inClusterConfig=false&bogus=1",
                "unknown option \"bogus\"",
            ),
            ("cadvisor:coreos", "fleet"),
            ("influxdb:http://x", "unknown source kind"),
            ("cadvisor:external?cadvisorPort=0", "cadvisorPort"),
            ("cadvisor:external?bogus=1", "unknown option \"bogus\""),
            ("nothing", "KIND:CONFIG"),
        ] {
            let e = SourceSpec::parse_uri(uri, 8080).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains(uri), "{uri}: {e}");
        }
    }

    #[test]
    fn node_entries() {
        let n = NodeAddr::parse_entry("hostA=10.0.0.4:8081", 8080).unwrap();
        assert_eq!(
            (n.name.as_str(), n.host.as_str(), n.port),
            ("hostA", "10.0.0.4", 8081)
        );
        let n = NodeAddr::parse_entry("b=node-b.local", 8080).unwrap();
        assert_eq!(n.base_url(), "http://node-b.local:8080");
        let n = NodeAddr::parse_entry("c=[::1]:9", 8080).unwrap();
        assert_eq!(n.base_url(), "http://[::1]:9");
        for (e, want) in [
            ("nohost", "NAME=HOST:PORT"),
            ("=1.2.3.4:5", "name is empty"),
            ("a=1.2.3.4:0", "port"),
            ("a=1.2.3.4:x", "port"),
            ("a=bad host:80", "neither an IP"),
        ] {
            let err = NodeAddr::parse_entry(e, 8080).unwrap_err().to_string();
            assert!(err.contains(want), "{e}: {err}");
        }
    }
}
