//! What the API server adds to a batch (Heapster's `PodBasedEnricher` and
//! `NamespaceBasedEnricher` reading the informers, and the node part of its
//! `NodeAutoscalingEnricher`):
//!
//! * pod containers: the pod's labels (`labels`, `k:v,k:v`), `pod_id`, `namespace_id`,
//!   `container_base_image` (the spec's image), `cpu/request` and `cpu/limit` (millicores),
//!   `memory/request` and `memory/limit` (bytes), `restart_count`. A request or limit the spec
//!   does not give stays absent (Heapster wrote 0; absent is not zero here), and what the spec
//!   gives replaces what the agent read back from the cgroup;
//! * pods: `labels`, `pod_id`, `namespace_id`;
//! * nodes: the node's `labels`, `hostname`, `host_id`, `schedulable`, and
//!   `cpu/node_capacity`, `cpu/node_allocatable` (millicores), `memory/node_capacity`,
//!   `memory/node_allocatable` (bytes), from which the node autoscaling enricher computes
//!   utilization and reservation against allocatable rather than the machine's size;
//! * namespaces (after the namespace aggregator): `namespace_id`.

use std::sync::Arc;

use crowsnest_core::batch::{Labels, Value, label};

use super::cluster::{Cluster, ClusterState, PodInfo};
use super::{HOST_ID, NAMESPACE_ID, SCHEDULABLE};
use crate::batch::{DataBatch, MetricSet, SetType};
use crate::names;
use crate::process::Processor;

/// Gives a set new labels (shared), as [`MetricSet::relabel`] does with an owned set.
fn use_labels(set: &mut MetricSet, labels: &Arc<Labels>) {
    if Arc::ptr_eq(&set.labels, labels) {
        return;
    }
    for s in &mut set.samples {
        if Arc::ptr_eq(&s.labels, &set.labels) {
            s.labels = labels.clone();
        }
    }
    set.labels = labels.clone();
}

/// `labels` with `extra` set (replacing a value already there).
fn with_all(labels: &Labels, extra: &[(&str, &str)]) -> Labels {
    Labels::new(
        labels
            .iter()
            .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
            .chain(extra.iter().copied())
            .filter(|(_, v)| !v.is_empty()),
    )
}

/// The enricher from the API server, run before the aggregators.
pub struct KubernetesEnricher {
    clusters: Vec<Arc<Cluster>>,
}

impl std::fmt::Debug for KubernetesEnricher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KubernetesEnricher")
    }
}

impl KubernetesEnricher {
    /// An enricher reading `clusters`.
    pub fn new(clusters: Vec<Arc<Cluster>>) -> KubernetesEnricher {
        KubernetesEnricher { clusters }
    }
}

fn pod_of<'s>(st: &'s ClusterState, set: &MetricSet) -> Option<&'s Arc<PodInfo>> {
    let ns = set.labels.get(label::NAMESPACE_NAME)?;
    let pod = set.labels.get(label::POD_NAME)?;
    st.pods.get(&(ns.to_owned(), pod.to_owned()))
}

impl Processor for KubernetesEnricher {
    fn name(&self) -> &'static str {
        "kubernetes_enricher"
    }

    fn process(&mut self, batch: &mut DataBatch) {
        for cluster in &self.clusters {
            let st = cluster.state();
            for set in batch.sets.values_mut() {
                match set.set_type {
                    SetType::PodContainer | SetType::Pod => {
                        let Some(pod) = pod_of(&st, set) else {
                            continue;
                        };
                        let ns_uid = set
                            .labels
                            .get(label::NAMESPACE_NAME)
                            .and_then(|ns| st.namespaces.get(ns));
                        let cname = set.labels.get(label::CONTAINER_NAME).map(str::to_owned);
                        let spec = cname
                            .as_deref()
                            .and_then(|c| pod.containers.iter().find(|pc| pc.name == c));
                        let labels = {
                            let mut extra = vec![
                                (label::LABELS, pod.labels.as_str()),
                                (label::POD_ID, pod.uid.as_str()),
                            ];
                            if let Some(u) = ns_uid {
                                extra.push((NAMESPACE_ID, u.as_str()));
                            }
                            if let Some(c) = spec {
                                extra.push((label::CONTAINER_BASE_IMAGE, c.image.as_str()));
                            }
                            Arc::new(with_all(&set.labels, &extra))
                        };
                        use_labels(set, &labels);
                        if let Some(c) = spec {
                            let put = |set: &mut MetricSet, m, v: Option<i64>| {
                                if let Some(v) = v {
                                    set.put(m, Value::Int(v));
                                }
                            };
                            put(set, names::CPU_REQUEST, c.cpu.0);
                            put(set, names::CPU_LIMIT, c.cpu.1);
                            put(set, names::MEMORY_REQUEST, c.memory.0);
                            put(set, names::MEMORY_LIMIT, c.memory.1);
                            put(set, names::RESTART_COUNT, c.restarts);
                        }
                    }
                    SetType::Node => {
                        let Some(name) = set.labels.get(label::NODENAME) else {
                            continue;
                        };
                        let Some(node) = st.nodes.get(name) else {
                            continue;
                        };
                        let schedulable = if node.unschedulable { "false" } else { "true" };
                        let labels = Arc::new(with_all(
                            &set.labels,
                            &[
                                (label::LABELS, node.labels.as_str()),
                                (label::HOSTNAME, node.hostname.as_str()),
                                (HOST_ID, node.host_id.as_str()),
                                (SCHEDULABLE, schedulable),
                            ],
                        ));
                        use_labels(set, &labels);
                        for (m, v) in [
                            (names::CPU_NODE_CAPACITY, node.cpu.0),
                            (names::CPU_NODE_ALLOCATABLE, node.cpu.1),
                            (names::MEMORY_NODE_CAPACITY, node.memory.0),
                            (names::MEMORY_NODE_ALLOCATABLE, node.memory.1),
                        ] {
                            if let Some(v) = v {
                                set.put(m, Value::Float(v));
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

/// Heapster's `NamespaceBasedEnricher` for the sets the aggregators made: `namespace_id` on
/// namespaces and pods that lack it.
pub struct NamespaceEnricher {
    clusters: Vec<Arc<Cluster>>,
}

impl std::fmt::Debug for NamespaceEnricher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NamespaceEnricher")
    }
}

impl NamespaceEnricher {
    /// An enricher reading `clusters`.
    pub fn new(clusters: Vec<Arc<Cluster>>) -> NamespaceEnricher {
        NamespaceEnricher { clusters }
    }
}

impl Processor for NamespaceEnricher {
    fn name(&self) -> &'static str {
        "namespace_based_enricher"
    }

    fn process(&mut self, batch: &mut DataBatch) {
        for cluster in &self.clusters {
            let st = cluster.state();
            for set in batch.sets.values_mut() {
                if !matches!(set.set_type, SetType::Namespace | SetType::Pod)
                    || set.labels.get(NAMESPACE_ID).is_some()
                {
                    continue;
                }
                let Some(uid) = set
                    .labels
                    .get(label::NAMESPACE_NAME)
                    .and_then(|ns| st.namespaces.get(ns))
                else {
                    continue;
                };
                let l = set.labels.with(NAMESPACE_ID, uid);
                set.relabel(l);
            }
        }
    }
}

/// The batch processors for a hub with these clusters: Heapster's order with the API's
/// enrichment first and the namespace UIDs after the namespace aggregator.
pub fn batch_pipeline(clusters: &[Arc<Cluster>]) -> Vec<Box<dyn Processor>> {
    if clusters.is_empty() {
        return crate::process::batch_pipeline();
    }
    crate::process::batch_pipeline_with(
        vec![Box::new(KubernetesEnricher::new(clusters.to_vec()))],
        vec![Box::new(NamespaceEnricher::new(clusters.to_vec()))],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::key;
    use crate::kubernetes::KubernetesSpec;
    use crate::kubernetes::cluster::{NodeInfo, PodContainerInfo};
    use crowsnest_core::batch::names as core;

    fn cluster() -> Arc<Cluster> {
        let spec = KubernetesSpec::parse(
            "kubernetes:http://127.0.0.1:1?inClusterConfig=false",
            "kubernetes",
            "http://127.0.0.1:1",
            "inClusterConfig=false",
            8080,
        )
        .unwrap();
        let c = Arc::new(Cluster::new(spec).unwrap());
        {
            let mut st = c.state();
            st.nodes.insert(
                "n1".into(),
                NodeInfo {
                    name: "n1".into(),
                    ready: true,
                    ip: Some("10.0.0.1".into()),
                    hostname: "n1.local".into(),
                    host_id: "i-1".into(),
                    labels: "pool:batch,zone:b".into(),
                    unschedulable: true,
                    cpu: (Some(4000.0), Some(3500.0)),
                    memory: (Some(8e9), Some(7e9)),
                },
            );
            st.pods.insert(
                ("prod".into(), "web".into()),
                Arc::new(PodInfo {
                    uid: "u-web".into(),
                    labels: "app:web".into(),
                    node: "n1".into(),
                    containers: vec![PodContainerInfo {
                        name: "nginx".into(),
                        image: "nginx:1.25".into(),
                        cpu: (Some(250), None),
                        memory: (Some(64 << 20), Some(128 << 20)),
                        restarts: Some(1),
                    }],
                    version: "7".into(),
                }),
            );
            st.namespaces.insert("prod".into(), "u-prod".into());
        }
        c
    }

    #[test]
    fn the_api_enriches_containers_pods_nodes_and_namespaces() {
        let mut b = DataBatch::default();
        let mut node = MetricSet::new(
            SetType::Node,
            Labels::new([("type", "node"), ("nodename", "n1"), ("hostname", "n1")]),
        );
        node.put(names::CPU_USAGE_RATE, Value::Float(700.0));
        b.sets.insert(key::node("n1"), node);
        let mut c = MetricSet::new(
            SetType::PodContainer,
            Labels::new([
                ("type", "pod_container"),
                ("nodename", "n1"),
                ("namespace_name", "prod"),
                ("pod_name", "web"),
                ("container_name", "nginx"),
                ("labels", "stale:1"),
            ]),
        );
        c.put(core::MEMORY_USAGE, Value::Int(10));
        c.put(names::CPU_REQUEST, Value::Int(1000));
        b.sets.insert(key::pod_container("prod", "web", "nginx"), c);
        let mut procs = batch_pipeline(&[cluster()]);
        crate::process::run(&mut procs, &mut b);

        let c = &b.sets["namespace:prod/pod:web/container:nginx"];
        assert_eq!(
            c.labels.get("labels"),
            Some("app:web"),
            "the API's, not the runtime's"
        );
        assert_eq!(c.labels.get("pod_id"), Some("u-web"));
        assert_eq!(c.labels.get("namespace_id"), Some("u-prod"));
        assert_eq!(c.labels.get("container_base_image"), Some("nginx:1.25"));
        assert_eq!(
            c.samples[0].labels.get("pod_id"),
            Some("u-web"),
            "samples follow"
        );
        assert_eq!(c.value("cpu/request"), Some(Value::Int(250)));
        assert_eq!(c.value("cpu/limit"), None, "no limit: absent");
        assert_eq!(c.value("memory/limit"), Some(Value::Int(128 << 20)));
        assert_eq!(c.value("restart_count"), Some(Value::Int(1)));
        let p = &b.sets["namespace:prod/pod:web"];
        assert_eq!(p.labels.get("labels"), Some("app:web"));
        assert_eq!(p.value("cpu/request"), Some(Value::Int(250)));
        let ns = &b.sets["namespace:prod"];
        assert_eq!(ns.labels.get("namespace_id"), Some("u-prod"));
        let n = &b.sets["node:n1"];
        assert_eq!(n.labels.get("labels"), Some("pool:batch,zone:b"));
        assert_eq!(n.labels.get("hostname"), Some("n1.local"));
        assert_eq!(n.labels.get("host_id"), Some("i-1"));
        assert_eq!(n.labels.get("schedulable"), Some("false"));
        assert_eq!(n.value("cpu/node_allocatable"), Some(Value::Float(3500.0)));
        assert_eq!(n.value("cpu/node_capacity"), Some(Value::Float(4000.0)));
        assert_eq!(n.value("cpu/node_utilization"), Some(Value::Float(0.2)));
        assert_eq!(n.value("cpu/request"), Some(Value::Int(250)));
    }
}
