//! Where the nodes come from: static lists (`--node`, `cadvisor:external?standalone=true`) and
//! Heapster hosts files (re-read when they change). [`Sources::nodes`] merges them; a node
//! named by two sources is taken from the first, with a warning.

pub mod hosts_file;

use std::collections::BTreeMap;

use crowsnest_core::Timestamp;

use crate::config::{NodeAddr, SourceSpec};
use crate::status::SourceStatus;

use self::hosts_file::HostsFile;

enum Source {
    Static(Vec<NodeAddr>),
    Hosts(HostsFile),
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
    /// The source (`--node`, `hosts file /path`).
    pub source: String,
}

impl Sources {
    /// The sources of `specs`; hosts files are read at once.
    pub fn new(specs: &[SourceSpec], now: Timestamp) -> Sources {
        let mut s = Sources {
            sources: specs
                .iter()
                .map(|spec| match spec {
                    SourceSpec::Static(n) => Source::Static(n.clone()),
                    SourceSpec::HostsFile { path, port } => {
                        Source::Hosts(HostsFile::new(path.clone(), *port))
                    }
                })
                .collect(),
            warned: Vec::new(),
        };
        s.poll(now);
        s
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
        }
    }

    /// Every node, each name once (the first source naming it wins), in name order.
    pub fn nodes(&mut self) -> Vec<SourcedNode> {
        let mut out: BTreeMap<String, SourcedNode> = BTreeMap::new();
        let mut dups = Vec::new();
        for s in &self.sources {
            let list = match s {
                Source::Static(n) => n.as_slice(),
                Source::Hosts(h) => h.nodes(),
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
        );
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
