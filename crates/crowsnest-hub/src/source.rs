//! Where the nodes come from: static lists (`--node`, `cadvisor:external?standalone=true`),
//! Heapster hosts files (re-read when they change) and Kubernetes clusters (nodes listed and
//! watched from the API server, see [`crate::kubernetes`]). [`Sources::nodes`] merges them; a
//! node named by two sources is taken from the first, with a warning. Each node says how it
//! is scraped ([`Scraper`]): through its agent, or through its kubelet's Summary API.

pub mod hosts_file;

use std::collections::BTreeMap;
use std::sync::Arc;

use crowsnest_core::Timestamp;

use crate::config::{AgentAccess, NodeAddr, SourceSpec};
use crate::error::{Error, Result};
use crate::kubernetes::Cluster;
use crate::scrape::{HttpClient, NodeScrapeState, Scraped, scrape_agent};
use crate::status::SourceStatus;

use self::hosts_file::HostsFile;

enum Source {
    Static(Vec<NodeAddr>),
    Hosts(HostsFile),
    Kubernetes(Arc<Cluster>),
}

/// How a node is scraped.
#[derive(Debug, Clone)]
pub enum Scraper {
    /// Its crowsnest agent (`POST /api/v1.3/subcontainers/`), with the node's own scheme and
    /// token when its source gives them.
    Agent(AgentAccess),
    /// Its kubelet's Summary API, with the cluster's credentials.
    KubeletSummary(Arc<Cluster>),
}

impl Default for Scraper {
    fn default() -> Scraper {
        Scraper::Agent(AgentAccess::default())
    }
}

impl PartialEq for Scraper {
    fn eq(&self, other: &Scraper) -> bool {
        match (self, other) {
            (Scraper::Agent(a), Scraper::Agent(b)) => a == b,
            (Scraper::KubeletSummary(a), Scraper::KubeletSummary(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for Scraper {}

/// Scrapes one node the way its source says.
pub async fn scrape(
    client: &HttpClient,
    scraper: &Scraper,
    addr: &NodeAddr,
    state: &mut NodeScrapeState,
) -> Result<Scraped> {
    match scraper {
        Scraper::Agent(access) => scrape_agent(client, addr, access, state).await,
        Scraper::KubeletSummary(c) => crate::kubernetes::summary::scrape(c, addr, state).await,
    }
}

/// Every configured source.
pub struct Sources {
    sources: Vec<Source>,
    warned: Vec<String>,
}

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources")
            .field("count", &self.sources.len())
            .finish()
    }
}

/// A node and the source that names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcedNode {
    /// The node.
    pub addr: NodeAddr,
    /// The source (`--node`, `hosts file /path`, `kubernetes https://...`).
    pub source: String,
    /// How it is scraped.
    pub scraper: Scraper,
}

impl Sources {
    /// The sources of `specs`; hosts files are read at once, Kubernetes clients are made (their
    /// kubeconfig, token and CA files read: an error names the source and the file). A
    /// cluster's nodes come once [`Cluster::run`] follows it.
    pub fn new(specs: &[SourceSpec], now: Timestamp) -> Result<Sources> {
        let sources = specs
            .iter()
            .map(|spec| {
                Ok(match spec {
                    SourceSpec::Static(n) => Source::Static(n.clone()),
                    SourceSpec::HostsFile { path, port } => {
                        Source::Hosts(HostsFile::new(path.clone(), *port))
                    }
                    SourceSpec::Kubernetes(k) => Source::Kubernetes(Arc::new(
                        Cluster::new((**k).clone()).map_err(|reason| Error::SourceUri {
                            uri: k.uri.clone(),
                            reason,
                        })?,
                    )),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut s = Sources {
            sources,
            warned: Vec::new(),
        };
        s.poll(now);
        Ok(s)
    }

    /// The Kubernetes clusters among the sources.
    pub fn clusters(&self) -> Vec<Arc<Cluster>> {
        self.sources
            .iter()
            .filter_map(|s| match s {
                Source::Kubernetes(c) => Some(c.clone()),
                _ => None,
            })
            .collect()
    }

    /// Re-checks every hosts file; true when a node list changed.
    pub fn poll(&mut self, now: Timestamp) -> bool {
        let mut changed = false;
        for s in &mut self.sources {
            if let Source::Hosts(h) = s {
                changed |= h.poll(now);
            }
        }
        changed
    }

    fn name(s: &Source) -> String {
        match s {
            Source::Static(_) => "--node".to_owned(),
            Source::Hosts(h) => format!("hosts file {}", h.path().display()),
            Source::Kubernetes(c) => c.spec.name(),
        }
    }

    /// Every node, each name once (the first source naming it wins), in name order.
    pub fn nodes(&mut self) -> Vec<SourcedNode> {
        let mut out: BTreeMap<String, SourcedNode> = BTreeMap::new();
        let mut dups = Vec::new();
        for s in &self.sources {
            let (targets, scraper);
            let list = match s {
                Source::Static(n) => {
                    scraper = Scraper::default();
                    n.as_slice()
                }
                Source::Hosts(h) => {
                    scraper = Scraper::default();
                    h.nodes()
                }
                Source::Kubernetes(c) => {
                    targets = c.targets();
                    scraper = if c.spec.summary {
                        Scraper::KubeletSummary(c.clone())
                    } else {
                        Scraper::default()
                    };
                    targets.as_slice()
                }
            };
            for n in list {
                if let Some(first) = out.get(&n.name) {
                    dups.push(format!(
                        "node {:?} is named by {} and by {}; using {}",
                        n.name,
                        first.source,
                        Self::name(s),
                        first.source
                    ));
                    continue;
                }
                out.insert(
                    n.name.clone(),
                    SourcedNode {
                        addr: n.clone(),
                        source: Self::name(s),
                        scraper: match s {
                            Source::Hosts(h) => Scraper::Agent(h.access(&n.name)),
                            _ => scraper.clone(),
                        },
                    },
                );
            }
        }
        for d in dups {
            if !self.warned.contains(&d) {
                tracing::warn!("{d}");
                self.warned.push(d);
            }
        }
        out.into_values().collect()
    }

    /// Each source's state.
    pub fn status(&self) -> Vec<SourceStatus> {
        self.sources
            .iter()
            .map(|s| match s {
                Source::Static(n) => SourceStatus {
                    source: Self::name(s),
                    nodes: n.len() as u64,
                    ..Default::default()
                },
                Source::Hosts(h) => SourceStatus {
                    source: Self::name(s),
                    nodes: h.nodes().len() as u64,
                    last_change: h.last_change(),
                    last_error: h.last_error().map(str::to_owned),
                },
                Source::Kubernetes(c) => {
                    let targets = c.targets().len() as u64;
                    let st = c.state();
                    let errors: Vec<&str> = st.errors.values().map(String::as_str).collect();
                    SourceStatus {
                        source: Self::name(s),
                        nodes: targets,
                        last_change: st.last_change,
                        last_error: (!errors.is_empty()).then(|| errors.join("; ")),
                    }
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_and_hosts_file_nodes_merge_first_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts");
        std::fs::write(
            &path,
            r#"{"items":[{"name":"b","ip":"10.0.0.2"},{"name":"a","ip":"10.0.0.9"}]}"#,
        )
        .unwrap();
        let a = NodeAddr::parse_entry("a=127.0.0.1:1", 8080).unwrap();
        let mut s = Sources::new(
            &[
                SourceSpec::Static(vec![a.clone()]),
                SourceSpec::HostsFile {
                    path: path.clone(),
                    port: 4194,
                },
            ],
            Timestamp::from_secs(1),
        )
        .unwrap();
        let nodes = s.nodes();
        assert_eq!(nodes.len(), 2);
        assert_eq!(nodes[0].addr, a);
        assert_eq!(nodes[0].source, "--node");
        assert_eq!(nodes[1].addr.port, 4194);
        assert!(nodes[1].source.starts_with("hosts file "));
        let st = s.status();
        assert_eq!((st[0].nodes, st[1].nodes), (1, 2));
        assert!(st[1].last_error.is_none());
    }
}
