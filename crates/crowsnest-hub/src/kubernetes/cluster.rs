//! What the hub knows of a cluster, kept current from the API server: its nodes (scrape
//! targets, labels, capacity and allocatable), its pods (labels, UID, images, requests,
//! limits, restarts) and its namespaces (UIDs).
//!
//! Each kind is followed the way client-go's reflector does: list (`GET /api/v1/nodes`), then
//! watch from the list's `resourceVersion` (`?watch=1&resourceVersion=...`, a stream of JSON
//! events `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK`, `ERROR`), applying each event as it
//! comes. A watch that ends normally (its `timeoutSeconds`) is started again from the newest
//! version seen; `410 Gone` (an `ERROR` event with code 410, or the answer's status: the
//! version is too old) or any error leads to a new list, after a backoff for errors (1 s,
//! doubling, at most 30 s). Every wait is bounded and ends when the hub stops.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crowsnest_core::{Clock, Timestamp};
use rand::Rng;
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use super::client::{ApiClient, HttpError, KubeletClient, MAX_BODY, connect};
use super::config::KubernetesSpec;
use super::quantity;
use super::types::{List, Namespace, Node, ObjectMeta, Pod, Status, WatchEvent};
use crate::config::NodeAddr;

/// A node as the hub uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeInfo {
    /// The node's name (the `nodename` label).
    pub name: String,
    /// Whether its `Ready` condition is not false (a node that is not ready is not scraped).
    pub ready: bool,
    /// The address scraped: `InternalIP` (IPv4 first), else `LegacyHostIP`, else `ExternalIP`.
    pub ip: Option<String>,
    /// The `Hostname` address, else the name.
    pub hostname: String,
    /// `spec.externalID`, else the `host_id_annotation`, else `spec.providerID`.
    pub host_id: String,
    /// Its labels as Heapster writes them (`k:v,k:v`, sorted).
    pub labels: String,
    /// Cordoned.
    pub unschedulable: bool,
    /// CPU capacity and allocatable, millicores.
    pub cpu: (Option<f64>, Option<f64>),
    /// Memory capacity and allocatable, bytes.
    pub memory: (Option<f64>, Option<f64>),
}

/// A container of a pod as the hub uses it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodContainerInfo {
    /// Its name.
    pub name: String,
    /// Its image.
    pub image: String,
    /// `requests.cpu` and `limits.cpu`, millicores.
    pub cpu: (Option<i64>, Option<i64>),
    /// `requests.memory` and `limits.memory`, bytes.
    pub memory: (Option<i64>, Option<i64>),
    /// `restartCount` from the pod's status.
    pub restarts: Option<i64>,
}

/// A pod as the hub uses it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodInfo {
    /// Its UID.
    pub uid: String,
    /// Its labels, `k:v,k:v` sorted.
    pub labels: String,
    /// The node it runs on.
    pub node: String,
    /// Its containers.
    pub containers: Vec<PodContainerInfo>,
    /// Its `resourceVersion` (a change says the enrichment must be done again).
    pub version: String,
}

/// The cluster's objects.
#[derive(Debug, Default)]
pub struct ClusterState {
    /// Nodes by name.
    pub nodes: BTreeMap<String, NodeInfo>,
    /// Pods by (namespace, name).
    pub pods: HashMap<(String, String), Arc<PodInfo>>,
    /// Namespace UIDs by name.
    pub namespaces: HashMap<String, String>,
    /// When the node list last changed.
    pub last_change: Option<Timestamp>,
    /// The last error of a list or watch, until the next successful list of that kind.
    pub errors: BTreeMap<&'static str, String>,
    /// Lists made, by kind (the first, and one per relist).
    pub lists: BTreeMap<&'static str, u64>,
}

/// One Kubernetes source: its clients and what it knows.
pub struct Cluster {
    /// The configuration.
    pub spec: KubernetesSpec,
    api: ApiClient,
    kubelet: KubeletClient,
    state: Mutex<ClusterState>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("api", &self.api.base())
            .finish_non_exhaustive()
    }
}

/// Heapster's label format: `k:v` pairs sorted by key, joined by `,`.
pub fn join_labels(labels: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for (k, v) in labels {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(k);
        out.push(':');
        out.push_str(v);
    }
    out
}

impl NodeInfo {
    /// From a node object (`host_id_annotation` names an annotation for `host_id`).
    pub fn from_node(n: &Node, host_id_annotation: Option<&str>) -> NodeInfo {
        let addr = |kind: &str| {
            n.status
                .addresses
                .iter()
                .filter(|a| a.kind == kind && !a.address.is_empty())
                .map(|a| a.address.clone())
                .collect::<Vec<_>>()
        };
        let internal = addr("InternalIP");
        let ip = internal
            .iter()
            .find(|a| a.parse::<std::net::Ipv4Addr>().is_ok())
            .or(internal.first())
            .or(addr("LegacyHostIP").first())
            .or(addr("ExternalIP").first())
            .cloned();
        let ready = !n
            .status
            .conditions
            .iter()
            .any(|c| c.kind == "Ready" && c.status != "True");
        let q = |m: &BTreeMap<String, String>, k: &str, milli: bool| {
            m.get(k)
                .and_then(|v| quantity::parse(v))
                .map(|v| if milli { v * 1000.0 } else { v })
        };
        let annotated = host_id_annotation.and_then(|a| n.metadata.annotations.get(a));
        let host_id = [
            Some(&n.spec.external_id),
            annotated,
            Some(&n.spec.provider_id),
        ]
        .into_iter()
        .flatten()
        .find(|s| !s.is_empty())
        .cloned()
        .unwrap_or_default();
        NodeInfo {
            name: n.metadata.name.clone(),
            ready,
            ip,
            hostname: addr("Hostname")
                .first()
                .cloned()
                .unwrap_or_else(|| n.metadata.name.clone()),
            host_id,
            labels: join_labels(&n.metadata.labels),
            unschedulable: n.spec.unschedulable,
            cpu: (
                q(&n.status.capacity, "cpu", true),
                q(&n.status.allocatable, "cpu", true),
            ),
            memory: (
                q(&n.status.capacity, "memory", false),
                q(&n.status.allocatable, "memory", false),
            ),
        }
    }
}

impl PodInfo {
    /// From a pod object.
    pub fn from_pod(p: &Pod) -> PodInfo {
        PodInfo {
            uid: p.metadata.uid.clone(),
            labels: join_labels(&p.metadata.labels),
            node: p.spec.node_name.clone(),
            containers: p
                .spec
                .containers
                .iter()
                .map(|c| {
                    let r = &c.resources;
                    PodContainerInfo {
                        name: c.name.clone(),
                        image: c.image.clone(),
                        cpu: (
                            r.requests.get("cpu").and_then(|v| quantity::millicores(v)),
                            r.limits.get("cpu").and_then(|v| quantity::millicores(v)),
                        ),
                        memory: (
                            r.requests.get("memory").and_then(|v| quantity::whole(v)),
                            r.limits.get("memory").and_then(|v| quantity::whole(v)),
                        ),
                        restarts: p
                            .status
                            .container_statuses
                            .iter()
                            .find(|s| s.name == c.name)
                            .map(|s| s.restart_count),
                    }
                })
                .collect(),
            version: p.metadata.resource_version.clone(),
        }
    }
}

/// One kind the cluster follows.
trait Kind: DeserializeOwned + Send + 'static {
    const NAME: &'static str;
    const PATH: &'static str;
    fn meta(&self) -> &ObjectMeta;
    fn replace(state: &mut ClusterState, items: Vec<Self>, cluster: &KubernetesSpec) -> bool;
    fn upsert(state: &mut ClusterState, item: Self, cluster: &KubernetesSpec) -> bool;
    fn delete(state: &mut ClusterState, item: &Self) -> bool;
}

impl Kind for Node {
    const NAME: &'static str = "nodes";
    const PATH: &'static str = "/api/v1/nodes";
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn replace(state: &mut ClusterState, items: Vec<Self>, spec: &KubernetesSpec) -> bool {
        let nodes: BTreeMap<String, NodeInfo> = items
            .iter()
            .map(|n| {
                let i = NodeInfo::from_node(n, spec.host_id_annotation.as_deref());
                (i.name.clone(), i)
            })
            .collect();
        let changed = nodes != state.nodes;
        state.nodes = nodes;
        changed
    }
    fn upsert(state: &mut ClusterState, item: Self, spec: &KubernetesSpec) -> bool {
        let i = NodeInfo::from_node(&item, spec.host_id_annotation.as_deref());
        state.nodes.insert(i.name.clone(), i.clone()) != Some(i)
    }
    fn delete(state: &mut ClusterState, item: &Self) -> bool {
        state.nodes.remove(&item.metadata.name).is_some()
    }
}

impl Kind for Pod {
    const NAME: &'static str = "pods";
    const PATH: &'static str = "/api/v1/pods";
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn replace(state: &mut ClusterState, items: Vec<Self>, _: &KubernetesSpec) -> bool {
        state.pods = items
            .iter()
            .map(|p| {
                (
                    (p.metadata.namespace.clone(), p.metadata.name.clone()),
                    Arc::new(PodInfo::from_pod(p)),
                )
            })
            .collect();
        false
    }
    fn upsert(state: &mut ClusterState, item: Self, _: &KubernetesSpec) -> bool {
        state.pods.insert(
            (item.metadata.namespace.clone(), item.metadata.name.clone()),
            Arc::new(PodInfo::from_pod(&item)),
        );
        false
    }
    fn delete(state: &mut ClusterState, item: &Self) -> bool {
        state
            .pods
            .remove(&(item.metadata.namespace.clone(), item.metadata.name.clone()));
        false
    }
}

impl Kind for Namespace {
    const NAME: &'static str = "namespaces";
    const PATH: &'static str = "/api/v1/namespaces";
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn replace(state: &mut ClusterState, items: Vec<Self>, _: &KubernetesSpec) -> bool {
        state.namespaces = items
            .into_iter()
            .map(|n| (n.metadata.name, n.metadata.uid))
            .collect();
        false
    }
    fn upsert(state: &mut ClusterState, item: Self, _: &KubernetesSpec) -> bool {
        state
            .namespaces
            .insert(item.metadata.name, item.metadata.uid);
        false
    }
    fn delete(state: &mut ClusterState, item: &Self) -> bool {
        state.namespaces.remove(&item.metadata.name);
        false
    }
}

/// How a watch ended.
enum WatchEnd {
    /// Normally (its timeout, or the server closed it): watch again from the version.
    Closed { events: u64 },
    /// 410 Gone: list again.
    Expired(String),
    /// The hub is stopping.
    Stopped,
}

impl Cluster {
    /// The clients of `spec` (reading its kubeconfig, token and CA files now).
    pub fn new(spec: KubernetesSpec) -> Result<Cluster, String> {
        let (api, kubelet) = connect(&spec)?;
        Ok(Cluster {
            spec,
            api,
            kubelet,
            state: Mutex::new(ClusterState::default()),
        })
    }

    /// What it knows (held briefly: every writer leaves it consistent).
    pub fn state(&self) -> MutexGuard<'_, ClusterState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The kubelets' client.
    pub fn kubelet(&self) -> &KubeletClient {
        &self.kubelet
    }

    /// The nodes to scrape: ready ones with an address, at the agent's port (or the
    /// kubelet's for the Summary API), in name order.
    pub fn targets(&self) -> Vec<NodeAddr> {
        let port = if self.spec.summary {
            self.kubelet.port()
        } else {
            self.spec.agent_port
        };
        self.state()
            .nodes
            .values()
            .filter(|n| n.ready)
            .filter_map(|n| {
                Some(NodeAddr {
                    name: n.name.clone(),
                    host: n.ip.clone()?,
                    port,
                })
            })
            .collect()
    }

    /// Follows nodes, pods and namespaces until `stop` turns true.
    pub async fn run(self: Arc<Self>, clock: Arc<dyn Clock>, stop: watch::Receiver<bool>) {
        tracing::info!(server = %self.api.base(), summary = self.spec.summary, "following the Kubernetes API");
        tokio::join!(
            self.reflect::<Node>(clock.clone(), stop.clone()),
            self.reflect::<Pod>(clock.clone(), stop.clone()),
            self.reflect::<Namespace>(clock, stop),
        );
    }

    async fn reflect<K: Kind>(&self, clock: Arc<dyn Clock>, mut stop: watch::Receiver<bool>) {
        let mut backoff = Duration::from_secs(1);
        while !*stop.borrow() {
            let rv = match self.list::<K>(&clock).await {
                Ok(rv) => {
                    backoff = Duration::from_secs(1);
                    rv
                }
                Err(e) => {
                    self.failed(K::NAME, format!("list {}: {e}", K::PATH));
                    if sleep_or_stop(backoff, &mut stop).await {
                        return;
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    continue;
                }
            };
            let mut rv = rv;
            // Watch until the version expires or an error says to list again.
            loop {
                let started = std::time::Instant::now();
                match self.watch::<K>(&clock, &mut rv, &mut stop).await {
                    Ok(WatchEnd::Stopped) => return,
                    Ok(WatchEnd::Expired(why)) => {
                        tracing::info!(kind = K::NAME, reason = %why, "watch expired; listing again");
                        break;
                    }
                    Ok(WatchEnd::Closed { events }) => {
                        // A watch closed at once with nothing in it: do not spin.
                        if events == 0
                            && started.elapsed() < Duration::from_secs(1)
                            && sleep_or_stop(Duration::from_secs(1), &mut stop).await
                        {
                            return;
                        }
                    }
                    Err(e) => {
                        self.failed(K::NAME, format!("watch {}: {e}", K::PATH));
                        if sleep_or_stop(backoff, &mut stop).await {
                            return;
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(30));
                        break;
                    }
                }
            }
        }
    }

    fn failed(&self, kind: &'static str, e: String) {
        let mut st = self.state();
        if st.errors.get(kind) != Some(&e) {
            tracing::warn!(error = %e, "Kubernetes API");
        }
        st.errors.insert(kind, e);
    }

    /// Lists one kind; returns the list's resource version.
    async fn list<K: Kind>(&self, clock: &Arc<dyn Clock>) -> Result<String, HttpError> {
        let body = self.api.get(K::PATH).await?;
        let list: List<K> = serde_json::from_slice(&body).map_err(|e| HttpError {
            status: 0,
            message: format!("the answer is not a {} list: {e}", K::NAME),
        })?;
        let rv = list.metadata.resource_version.clone();
        let mut st = self.state();
        *st.lists.entry(K::NAME).or_default() += 1;
        st.errors.remove(K::NAME);
        if K::replace(&mut st, list.items, &self.spec) {
            st.last_change = Some(clock.now());
        }
        tracing::debug!(kind = K::NAME, version = %rv, "listed");
        Ok(rv)
    }

    /// One watch from `rv`, applying its events; `rv` follows them.
    async fn watch<K: Kind>(
        &self,
        clock: &Arc<dyn Clock>,
        rv: &mut String,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<WatchEnd, HttpError> {
        let secs = rand::rng().random_range(300..600u64);
        let path = format!(
            "{}?watch=1&resourceVersion={}&allowWatchBookmarks=true&timeoutSeconds={secs}",
            K::PATH,
            crate::kubernetes::url_encode(rv)
        );
        let deadline = Duration::from_secs(secs + 30);
        let resp = tokio::select! {
            r = self.api.watch(&path, deadline) => r,
            _ = stop.changed() => return Ok(WatchEnd::Stopped),
        };
        let mut resp = match resp {
            Ok(r) => r,
            Err(e) if e.status == 410 => return Ok(WatchEnd::Expired(e.message)),
            Err(e) => return Err(e),
        };
        let mut buf: Vec<u8> = Vec::new();
        let mut events = 0u64;
        loop {
            let chunk = tokio::select! {
                c = resp.chunk() => c,
                _ = stop.changed() => return Ok(WatchEnd::Stopped),
            };
            let chunk = match chunk {
                Ok(Some(c)) => c,
                Ok(None) => return Ok(WatchEnd::Closed { events }),
                // A timeout ends a watch like the server's own `timeoutSeconds`.
                Err(e) if e.is_timeout() => return Ok(WatchEnd::Closed { events }),
                Err(e) => {
                    return Err(HttpError {
                        status: 0,
                        message: format!("reading the watch: {e}"),
                    });
                }
            };
            buf.extend_from_slice(&chunk);
            while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=nl).collect();
                let line = line.trim_ascii();
                if line.is_empty() {
                    continue;
                }
                events += 1;
                if let Some(end) = self.apply::<K>(clock, line, rv)? {
                    return Ok(end);
                }
            }
            if buf.len() > MAX_BODY {
                return Err(HttpError {
                    status: 0,
                    message: format!("a watch event larger than {MAX_BODY} bytes"),
                });
            }
        }
    }

    /// Applies one watch event; `Some` ends the watch.
    fn apply<K: Kind>(
        &self,
        clock: &Arc<dyn Clock>,
        line: &[u8],
        rv: &mut String,
    ) -> Result<Option<WatchEnd>, HttpError> {
        let bad = |e: serde_json::Error| HttpError {
            status: 0,
            message: format!("a watch event that is not JSON the hub reads: {e}"),
        };
        let ev: WatchEvent = serde_json::from_slice(line).map_err(bad)?;
        match ev.kind.as_str() {
            "ERROR" => {
                let s: Status = serde_json::from_value(ev.object).unwrap_or_default();
                if s.code == 410 {
                    return Ok(Some(WatchEnd::Expired(s.message)));
                }
                Err(HttpError {
                    status: s.code,
                    message: format!("watch error {}: {}", s.reason, s.message),
                })
            }
            "BOOKMARK" => {
                let m: K = serde_json::from_value(ev.object).map_err(bad)?;
                *rv = m.meta().resource_version.clone();
                Ok(None)
            }
            kind @ ("ADDED" | "MODIFIED" | "DELETED") => {
                let obj: K = serde_json::from_value(ev.object).map_err(bad)?;
                *rv = obj.meta().resource_version.clone();
                let name = obj.meta().name.clone();
                let mut st = self.state();
                let changed = if kind == "DELETED" {
                    K::delete(&mut st, &obj)
                } else {
                    K::upsert(&mut st, obj, &self.spec)
                };
                if changed {
                    st.last_change = Some(clock.now());
                    if K::NAME == "nodes" {
                        tracing::info!(node = %name, event = kind, "node changed");
                    }
                }
                Ok(None)
            }
            other => {
                tracing::debug!(event = other, "unknown watch event skipped");
                Ok(None)
            }
        }
    }
}

/// Sleeps `d`; true when the hub stops meanwhile.
async fn sleep_or_stop(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = tokio::time::sleep(d) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(json: &str) -> NodeInfo {
        NodeInfo::from_node(&serde_json::from_str(json).unwrap(), Some("cloud/id"))
    }

    #[test]
    fn addresses_readiness_and_resources_as_heapster() {
        let n = node(
            r#"{"metadata":{"name":"n1","labels":{"b":"2","a":"1"},
                "annotations":{"cloud/id":"i-123"}},
                "status":{"addresses":[{"type":"ExternalIP","address":"34.1.2.3"},
                {"type":"InternalIP","address":"fd00::1"},{"type":"InternalIP","address":"10.0.0.1"},
                {"type":"Hostname","address":"n1.local"}],
                "conditions":[{"type":"MemoryPressure","status":"False"},{"type":"Ready","status":"True"}],
                "capacity":{"cpu":"4","memory":"16Gi"},"allocatable":{"cpu":"3920m","memory":"15Gi"}}}"#,
        );
        assert_eq!(n.ip.as_deref(), Some("10.0.0.1"), "InternalIP, IPv4 first");
        assert_eq!(n.hostname, "n1.local");
        assert_eq!(n.labels, "a:1,b:2");
        assert_eq!(n.host_id, "i-123");
        assert!(n.ready);
        assert_eq!(n.cpu, (Some(4000.0), Some(3920.0)));
        assert_eq!(n.memory.1, Some(15.0 * 1024.0 * 1024.0 * 1024.0));
        let n = node(
            r#"{"metadata":{"name":"n2"},"status":{"addresses":[{"type":"ExternalIP","address":"34.1.2.3"}],
                "conditions":[{"type":"Ready","status":"Unknown"}]}}"#,
        );
        assert_eq!(
            n.ip.as_deref(),
            Some("34.1.2.3"),
            "ExternalIP as the last resort"
        );
        assert_eq!(n.hostname, "n2");
        assert!(!n.ready);
    }

    #[test]
    fn pods_keep_requests_limits_and_restarts() {
        let p: Pod = serde_json::from_str(
            r#"{"metadata":{"name":"web","namespace":"prod","uid":"u1","labels":{"app":"web"}},
                "spec":{"nodeName":"n1","containers":[{"name":"nginx","image":"nginx:1.25",
                "resources":{"requests":{"cpu":"250m","memory":"64Mi"},"limits":{"cpu":"1"}}}]},
                "status":{"containerStatuses":[{"name":"nginx","restartCount":3}]}}"#,
        )
        .unwrap();
        let i = PodInfo::from_pod(&p);
        assert_eq!(i.labels, "app:web");
        let c = &i.containers[0];
        assert_eq!(c.cpu, (Some(250), Some(1000)));
        assert_eq!(
            c.memory,
            (Some(64 << 20), None),
            "no memory limit: absent, not 0"
        );
        assert_eq!(c.restarts, Some(3));
    }
}
