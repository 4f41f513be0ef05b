//! `crowsnest hub` flags as typed (Heapster's spellings accepted as aliases), and their
//! validation into the hub's [`HubConfig`].

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use crowsnest_hub::config::default_scrape_timeout;
use crowsnest_hub::{HubConfig, ModelBackend, NodeAddr, SourceSpec};

use crate::duration;

/// `crowsnest hub` flags, as typed.
#[derive(Debug, Args)]
pub(crate) struct HubArgs {
    /// Address and port to listen on.
    #[arg(long, default_value = "0.0.0.0:8082", value_name = "ADDR:PORT")]
    listen: String,
    /// Port to listen on (Heapster's flag; overrides the port of --listen).
    #[arg(long = "heapster-port", alias = "heapster_port", value_name = "PORT")]
    heapster_port: Option<u16>,
    /// IP to listen on (Heapster's flag; overrides the address of --listen).
    #[arg(long = "listen-ip", alias = "listen_ip", value_name = "IP")]
    listen_ip: Option<String>,
    /// Where nodes come from, Heapster's syntax (repeatable), e.g.
    /// cadvisor:external?hostsFile=/var/run/heapster/hosts&cadvisorPort=8080, or
    /// kubernetes:https://apiserver?inClusterConfig=false&auth=KUBECONFIG (the agents on the
    /// nodes; useKubeletSummary=true or kubernetes.summary_api: for the kubelets' Summary API).
    #[arg(long, value_name = "URI")]
    source: Vec<String>,
    /// Heapster's hosts file, {"items":[{"name":"hostA","ip":"10.0.0.4"}]} (the old flag;
    /// the same as --source=cadvisor:external?hostsFile=PATH). Re-read when it changes.
    #[arg(
        long = "external-hosts-file",
        alias = "external_hosts_file",
        value_name = "PATH"
    )]
    external_hosts_file: Option<PathBuf>,
    /// A node to scrape, NAME=HOST:PORT or NAME=HOST (repeatable).
    #[arg(long, value_name = "NAME=HOST:PORT")]
    node: Vec<String>,
    /// How often every node is scraped and a batch is made.
    #[arg(long, alias = "metric_resolution", alias = "metric-resolution", default_value = "10s", value_parser = duration::parse)]
    resolution: Duration,
    /// The agents' port, for nodes that give none.
    #[arg(
        long,
        alias = "cadvisor_port",
        alias = "cadvisor-port",
        default_value = "8080"
    )]
    agent_port: u16,
    /// How long the model keeps the processed series.
    #[arg(long, default_value = "15m", value_parser = duration::parse)]
    retention: Duration,
    /// How long one node's scrape may take (default: 3/4 of the resolution, at most 20s).
    #[arg(long, value_parser = duration::parse)]
    scrape_timeout: Option<Duration>,
    /// The model's hard memory budget (bytes, or with K, M, G, Ki, Mi, Gi).
    #[arg(long, default_value = "256Mi", value_parser = parse_bytes)]
    model_memory_limit: u64,
    /// Where the model keeps its series: store (the embedded store: history on disk, a bounded
    /// head in memory) or memory (everything in memory).
    #[arg(long, default_value = "store", value_name = "store|memory")]
    model_store: ModelBackend,
    /// The embedded store's directory for the model (default: a temporary directory removed
    /// when the hub stops; a directory given here keeps the model across restarts).
    #[arg(long, value_name = "DIR")]
    model_dir: Option<PathBuf>,
    /// How often hosts files are checked for changes.
    #[arg(long, default_value = "2s", value_parser = duration::parse)]
    hosts_poll_interval: Duration,
    #[command(flatten)]
    sinks: crate::sink_args::SinkArgs,
    #[command(flatten)]
    serve: crate::cli::ServeArgs,
    /// Prefix for every HTTP route, for running behind a proxy (e.g. /monitor).
    #[arg(long, alias = "url_base_prefix", default_value = "")]
    url_base_prefix: String,
    /// A token file (one per line, # starts a comment) whose first token the hub sends to
    /// every agent as `Authorization: Bearer`, unless a hosts file item gives its own
    /// (`token` or `tokenFile`). Re-read when it changes.
    #[arg(long, value_name = "FILE")]
    agent_token_file: Option<PathBuf>,
    /// CA certificates (PEM) that HTTPS agents' certificates must chain to (default: the
    /// system's roots).
    #[arg(long, value_name = "FILE")]
    agent_ca: Option<PathBuf>,
    /// The scheme of agents whose source gives none (a hosts file item may say
    /// "scheme": "https").
    #[arg(long, default_value = "http", value_name = "http|https")]
    agent_scheme: crowsnest_hub::Scheme,
    /// The certificate (PEM) the hub presents to agents that ask for one
    /// (their --tls-client-ca), with --agent-tls-key.
    #[arg(long, value_name = "FILE")]
    agent_tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --agent-tls-cert.
    #[arg(long, value_name = "FILE")]
    agent_tls_key: Option<PathBuf>,
}

/// `1000`, `64K`, `256Mi`, `2G`, `1Gi` as bytes.
fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let n: u64 = t[..digits]
        .parse()
        .map_err(|_| format!("{text:?}: expected a number of bytes, e.g. 256Mi"))?;
    let mult: u64 = match &t[digits..] {
        "" | "B" => 1,
        "K" | "k" | "KB" => 1000,
        "M" | "MB" => 1000 * 1000,
        "G" | "GB" => 1000 * 1000 * 1000,
        "Ki" | "KiB" => 1 << 10,
        "Mi" | "MiB" => 1 << 20,
        "Gi" | "GiB" => 1 << 30,
        other => {
            return Err(format!(
                "{text:?}: unknown unit {other:?} (K, M, G, Ki, Mi, Gi)"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{text:?} is too large"))
}

impl HubArgs {
    /// Checks the flags and builds the hub's configuration.
    pub(crate) fn into_config(self) -> anyhow::Result<HubConfig> {
        let mut listen: SocketAddr = self.listen.parse().with_context(|| {
            format!(
                "--listen {:?} is not ADDR:PORT (e.g. 0.0.0.0:8082)",
                self.listen
            )
        })?;
        if let Some(port) = self.heapster_port {
            listen.set_port(port);
        }
        if let Some(ip) = self.listen_ip.as_deref().filter(|s| !s.is_empty()) {
            let ip: IpAddr = ip
                .parse()
                .with_context(|| format!("--listen-ip {ip:?} is not an IP address"))?;
            listen.set_ip(ip);
        }
        if self.agent_port == 0 {
            bail!("--agent-port must be from 1 to 65535");
        }
        if self.resolution < Duration::from_millis(100) {
            bail!(
                "--resolution {:?} is too short (at least 100ms)",
                self.resolution
            );
        }
        if self.retention < self.resolution {
            bail!(
                "--retention ({:?}) must be at least --resolution ({:?})",
                self.retention,
                self.resolution
            );
        }
        let scrape_timeout = self
            .scrape_timeout
            .unwrap_or_else(|| default_scrape_timeout(self.resolution));
        if scrape_timeout.is_zero() || scrape_timeout >= self.resolution {
            bail!(
                "--scrape-timeout ({scrape_timeout:?}) must be more than 0 and less than --resolution ({:?})",
                self.resolution
            );
        }
        if self.hosts_poll_interval.is_zero() {
            bail!("--hosts-poll-interval must be more than 0");
        }
        let mut sources = Vec::new();
        if !self.node.is_empty() {
            let nodes = self
                .node
                .iter()
                .map(|e| NodeAddr::parse_entry(e, self.agent_port))
                .collect::<Result<Vec<_>, _>>()?;
            sources.push(SourceSpec::Static(nodes));
        }
        for uri in &self.source {
            sources.push(SourceSpec::parse_uri(uri, self.agent_port)?);
        }
        if let Some(path) = self.external_hosts_file {
            sources.push(SourceSpec::HostsFile {
                path,
                port: self.agent_port,
            });
        }
        if sources.is_empty() {
            bail!(
                "no nodes to scrape: give --node NAME=HOST:PORT, \
                 --source=cadvisor:external?hostsFile=PATH, --external-hosts-file PATH \
                 or --source=kubernetes:https://APISERVER"
            );
        }
        let mut config = HubConfig::new(listen, sources);
        config.resolution = self.resolution;
        config.scrape_timeout = scrape_timeout;
        config.retention = self.retention;
        config.model_memory_limit = self.model_memory_limit;
        if self.model_dir.is_some() && self.model_store == ModelBackend::Memory {
            bail!("--model-dir is for --model-store=store");
        }
        config.model_store = self.model_store;
        config.model_dir = self.model_dir;
        let (sinks, sink_queue_dir) = self.sinks.into_specs()?;
        config.sinks = sinks;
        config.sink_queue_dir = sink_queue_dir;
        config.hosts_poll_interval = self.hosts_poll_interval;
        config.serve = self.serve.into_config()?;
        let prefix = self.url_base_prefix.trim_end_matches('/').to_owned();
        if !prefix.is_empty() && !prefix.starts_with('/') {
            bail!(
                "--url-base-prefix {:?} must start with /",
                self.url_base_prefix
            );
        }
        config.serve.open_paths = vec![format!("{prefix}/healthz")];
        config.url_base_prefix = prefix;
        if let Some(p) = &self.agent_token_file {
            crowsnest_serve::auth::tokens::TokenSet::load("--agent-token-file", p)?;
        }
        let roots = match &self.agent_ca {
            Some(p) => crowsnest_serve::tls::root_store("--agent-ca", p)?,
            None => crowsnest_serve::tls::RootCertStore::empty(),
        };
        let client_cert = match (self.agent_tls_cert, self.agent_tls_key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            (Some(_), None) => {
                bail!("--agent-tls-cert needs --agent-tls-key (give both or neither)")
            }
            (None, Some(_)) => {
                bail!("--agent-tls-key needs --agent-tls-cert (give both or neither)")
            }
        };
        if let Some((c, k)) = &client_cert {
            crowsnest_serve::tls::client_config(
                roots,
                Some(("--agent-tls-cert", c, "--agent-tls-key", k)),
            )?;
        }
        config.agents = crowsnest_hub::AgentClientConfig {
            token_file: self.agent_token_file,
            ca_file: self.agent_ca,
            scheme: self.agent_scheme,
            client_cert,
        };
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct T {
        #[command(flatten)]
        args: HubArgs,
    }

    fn parse(args: &[&str]) -> anyhow::Result<HubConfig> {
        let mut v = vec!["hub"];
        v.extend_from_slice(args);
        T::try_parse_from(v)?.args.into_config()
    }

    #[test]
    fn defaults_match_heapster() {
        let c = parse(&["--node", "a=10.0.0.1"]).unwrap();
        assert_eq!(c.listen, "0.0.0.0:8082".parse().unwrap());
        assert_eq!(c.resolution, Duration::from_secs(10));
        assert_eq!(c.retention, Duration::from_secs(900));
        assert_eq!(c.scrape_timeout, Duration::from_millis(7500));
        assert_eq!(c.model_memory_limit, 256 << 20);
        assert_eq!(c.model_store, ModelBackend::Store);
        assert_eq!(c.model_dir, None);
        let SourceSpec::Static(n) = &c.sources[0] else {
            panic!("a static list")
        };
        assert_eq!(n[0].port, 8080);
    }

    #[test]
    fn accepts_heapster_spellings() {
        let c = parse(&[
            "--source=cadvisor:external?hostsFile=/etc/hosts.json",
            "--external_hosts_file=/var/run/heapster/hosts",
            "--metric_resolution=30s",
            "--cadvisor_port=4194",
            "--heapster_port=9000",
            "--listen_ip=127.0.0.1",
        ])
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(c.resolution, Duration::from_secs(30));
        assert_eq!(
            c.sources,
            [
                SourceSpec::HostsFile {
                    path: "/etc/hosts.json".into(),
                    port: 4194
                },
                SourceSpec::HostsFile {
                    path: "/var/run/heapster/hosts".into(),
                    port: 4194
                },
            ]
        );
        assert_eq!(parse_bytes("1Gi"), Ok(1 << 30));
        assert_eq!(parse_bytes("64K"), Ok(64_000));
    }

    #[test]
    fn kubernetes_sources_and_the_model_store() {
        let c = parse(&[
            "--source=kubernetes.summary_api:https://k8s:6443?kubeletPort=10250&kubeletHttps=true",
            "--model-store=memory",
            "--agent-port=9100",
        ])
        .unwrap();
        let SourceSpec::Kubernetes(k) = &c.sources[0] else {
            panic!("a Kubernetes source")
        };
        assert!(k.summary && k.kubelet_https && k.in_cluster);
        assert_eq!((k.kubelet_port, k.agent_port), (10250, 9100));
        assert_eq!(k.server.as_deref(), Some("https://k8s:6443"));
        assert_eq!(c.model_store, ModelBackend::Memory);
        let c = parse(&["--node", "a=b", "--model-dir=/var/lib/crowsnest/model"]).unwrap();
        assert_eq!(c.model_dir, Some(PathBuf::from("/var/lib/crowsnest/model")));
    }

    #[test]
    fn rejects_bad_input_with_the_flag_named() {
        for (args, want) in [
            (&[][..], "no nodes to scrape"),
            (&["--node", "nohost"][..], "--node \"nohost\""),
            (&["--node", "a=b", "--resolution=10ms"][..], "--resolution"),
            (&["--node", "a=b", "--retention=5s"][..], "--retention"),
            (
                &["--node", "a=b", "--scrape-timeout=10s"][..],
                "--scrape-timeout",
            ),
            (
                &["--source=kubernetes:https://k8s?kubeletPrt=1"][..],
                "unknown option \"kubeletPrt\"",
            ),
            (
                &["--node", "a=b", "--model-store=disk"][..],
                "--model-store",
            ),
            (
                &["--node", "a=b", "--model-store=memory", "--model-dir=/x"][..],
                "--model-dir",
            ),
            (&["--node", "a=b", "--listen=x"][..], "--listen"),
        ] {
            let e = format!("{:#}", parse(args).unwrap_err());
            assert!(e.contains(want), "{args:?}: {e}");
        }
        assert!(parse_bytes("5X").is_err());
    }
}
