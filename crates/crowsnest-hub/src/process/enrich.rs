//! The pod-based enricher (Heapster's `PodBasedEnricher`, from what the agents report rather
//! than from the API server): it gives every container set its Heapster key and labels.
//!
//! * The root container `/` is the node: `node:{n}`, labels `type`, `nodename`, `hostname`.
//!   Its `cpu/limit` and `memory/limit` (the machine's size, as the agent reports them) are
//!   dropped: the node's size is `*/node_capacity`, and its limits are its pods' (node
//!   aggregator).
//! * A container with the `io.kubernetes.pod.*` runtime labels (the core's mapping already
//!   set `pod_name`, `namespace_name`, `pod_id` and `container_name` from them) is a
//!   `pod_container`: `namespace:{ns}/pod:{pod}/container:{c}`. Its `cpu/request` is read back
//!   from `cpu.shares` (Kubernetes sets `shares = millicores * 1024 / 1000`, 2 for none).
//!   Network figures move to the pod (every container of a pod shares its network namespace).
//! * The pod's infrastructure container (`POD`, the sandbox) is not a container of the pod: its
//!   network figures are the pod's, and its runtime labels (minus `io.kubernetes.*` and
//!   `annotation.*`) are the pod's labels, written as `labels` (`k:v,k:v`, sorted) on the pod
//!   and its containers.
//! * Anything else is a `sys_container`: `node:{n}/container:{c}`, with the leading `/` of a
//!   cgroup name dropped (Heapster's `docker-daemon`, `system.slice/sshd.service`). Its `id`
//!   (the cgroup) is kept only when the name is a runtime's (a Docker container's name).
//!
//! Pod containers lose `id` too (Heapster's labels: the pod, namespace and container name say
//! which it is); the labels kept per set are most of the model's memory.
//!
//! Two containers with one key (a container restarted while the agent still reports the old
//! one) keep the newer by creation time (Heapster's fix #1790).

use std::collections::BTreeMap;

use crowsnest_core::batch::{Labels, Sample, Value, label};

use crate::batch::{DataBatch, MetricSet, SetType, key};
use crate::names;
use crate::process::Processor;

/// Kubernetes' name for a pod's sandbox container.
pub const INFRA_CONTAINER: &str = "POD";

/// Heapster's `PodBasedEnricher`, reading what the agents report.
#[derive(Debug, Default)]
pub struct PodBasedEnricher;

/// The pod labels of a sandbox's runtime labels, as `k:v,k:v`.
fn pod_labels(runtime_labels: &str) -> String {
    let mut pairs: Vec<&str> = runtime_labels
        .split(',')
        .filter(|kv| !kv.is_empty())
        .filter(|kv| !kv.starts_with("io.kubernetes.") && !kv.starts_with("annotation."))
        .collect();
    pairs.sort_unstable();
    pairs.join(",")
}

/// The CPU request (millicores) Kubernetes wrote as `cpu.shares`; none for its minimum 2.
pub fn cpu_request_from_shares(shares: u64) -> Option<i64> {
    (shares > 2).then(|| i64::try_from(shares.saturating_mul(1000).div_ceil(1024)).ok())?
}

fn node_labels(l: &Labels) -> Labels {
    let node = l.get(label::NODENAME).unwrap_or_default();
    Labels::new([
        (label::TYPE, SetType::Node.as_str()),
        (label::NODENAME, node),
        (label::HOSTNAME, l.get(label::HOSTNAME).unwrap_or(node)),
    ])
}

/// Labels of a pod or pod container, from a container's.
pub(crate) fn pod_set_labels(l: &Labels, t: SetType, pod_labels: Option<&str>) -> Labels {
    let mut pairs: Vec<(&str, &str)> = vec![(label::TYPE, t.as_str())];
    let mut keep = vec![
        label::NODENAME,
        label::HOSTNAME,
        label::POD_NAME,
        label::POD_ID,
        label::NAMESPACE_NAME,
    ];
    if t == SetType::PodContainer {
        keep.extend([label::CONTAINER_NAME, label::CONTAINER_BASE_IMAGE]);
    }
    for k in keep {
        if let Some(v) = l.get(k) {
            pairs.push((k, v));
        }
    }
    if let Some(pl) = pod_labels.filter(|p| !p.is_empty()) {
        pairs.push((label::LABELS, pl));
    }
    Labels::new(pairs)
}

fn insert_newer(out: &mut BTreeMap<String, MetricSet>, k: String, set: MetricSet) {
    match out.get(&k) {
        Some(old) if old.create_time > set.create_time => {}
        _ => {
            out.insert(k, set);
        }
    }
}

impl Processor for PodBasedEnricher {
    fn name(&self) -> &'static str {
        "pod_based_enricher"
    }

    fn process(&mut self, batch: &mut DataBatch) {
        let sets = std::mem::take(&mut batch.sets);
        let mut out: BTreeMap<String, MetricSet> = BTreeMap::new();
        // Pod key -> (pod labels, network samples, from the sandbox?).
        let mut pods: BTreeMap<String, (Option<String>, Vec<Sample>, bool)> = BTreeMap::new();
        let mut pod_containers: Vec<(String, String, MetricSet)> = Vec::new();
        for (k, mut set) in sets {
            match set.set_type {
                SetType::Node => {
                    if set.labels.get(label::ID).is_none() {
                        // Already enriched (an aggregate or a set from elsewhere).
                        out.insert(k, set);
                        continue;
                    }
                    set.remove(names::CPU_LIMIT.name);
                    set.remove(names::MEMORY_LIMIT.name);
                    let l = node_labels(&set.labels);
                    set.relabel(l);
                    let node = set
                        .labels
                        .get(label::NODENAME)
                        .unwrap_or_default()
                        .to_owned();
                    insert_newer(&mut out, key::node(&node), set);
                }
                SetType::PodContainer => {
                    let l = set.labels.clone();
                    let (Some(ns), Some(pod), Some(c)) = (
                        l.get(label::NAMESPACE_NAME),
                        l.get(label::POD_NAME),
                        l.get(label::CONTAINER_NAME),
                    ) else {
                        // A pod container missing its namespace: keep it as it came.
                        out.insert(k, set);
                        continue;
                    };
                    let pod_key = key::pod(ns, pod);
                    let is_infra = c == INFRA_CONTAINER;
                    let mut network: Vec<Sample> = Vec::new();
                    set.samples.retain(|s| {
                        let net = names::NETWORK.iter().any(|m| m.name == s.metric);
                        if net {
                            network.push(s.clone());
                        }
                        !net
                    });
                    let entry = pods.entry(pod_key.clone()).or_default();
                    if is_infra || (!entry.2 && entry.1.is_empty()) {
                        entry.1 = network;
                        entry.2 = is_infra;
                    }
                    if is_infra {
                        entry.0 = Some(pod_labels(l.get(label::LABELS).unwrap_or_default()));
                        continue;
                    }
                    if let Some(req) = set.cpu_shares.and_then(cpu_request_from_shares) {
                        set.put(names::CPU_REQUEST, Value::Int(req));
                    }
                    pod_containers.push((pod_key, key::pod_container(ns, pod, c), set));
                }
                SetType::SysContainer => {
                    if set.labels.get(label::ID).is_none() {
                        out.insert(k, set);
                        continue;
                    }
                    let l = set.labels.clone();
                    let node = l.get(label::NODENAME).unwrap_or_default();
                    let raw = l.get(label::CONTAINER_NAME).unwrap_or_default();
                    let name = raw.strip_prefix('/').unwrap_or(raw);
                    // `id` (the cgroup) only when the name is not the cgroup's (a runtime's
                    // name for it): otherwise it says the same thing again.
                    let id_says_more = l.get(label::ID) != Some(raw);
                    set.relabel(Labels::new(l.iter().filter_map(|(k, v)| match k {
                        label::CONTAINER_NAME => Some((k, name)),
                        label::ID if !id_says_more => None,
                        _ => Some((k, v)),
                    })));
                    insert_newer(&mut out, key::sys_container(node, name), set);
                }
                _ => {
                    out.insert(k, set);
                }
            }
        }
        for (pod_key, k, mut set) in pod_containers {
            let pl = pods.get(&pod_key).and_then(|p| p.0.clone()).or_else(|| {
                set.labels
                    .get(label::LABELS)
                    .map(pod_labels)
                    .filter(|p| !p.is_empty())
            });
            let l = pod_set_labels(&set.labels, SetType::PodContainer, pl.as_deref());
            set.relabel(l);
            insert_newer(&mut out, k, set);
        }
        // Pods whose sandbox or first container brought network figures: a pod set now, the
        // pod aggregator fills in the rest.
        for (pod_key, (pl, network, _)) in pods {
            if network.is_empty() && pl.is_none() {
                continue;
            }
            let Some(first) = network.first() else {
                continue;
            };
            let base = first.labels.clone();
            let mut pod = MetricSet::new(
                SetType::Pod,
                pod_set_labels(&base, SetType::Pod, pl.as_deref()),
            );
            for s in &network {
                if let Some(m) = names::lookup(&s.metric) {
                    pod.put(m, s.value);
                }
            }
            out.insert(pod_key, pod);
        }
        batch.sets = out;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crowsnest_core::batch::names as core;

    pub(crate) fn container(node: &str, id: &str, labels: &[(&str, &str)]) -> MetricSet {
        let mut l: Vec<(&str, &str)> = vec![
            (label::ID, id),
            (label::NODENAME, node),
            (label::HOSTNAME, node),
            (label::CONTAINER_NAME, id),
        ];
        l.extend_from_slice(labels);
        let t = if id == "/" {
            SetType::Node
        } else if labels.iter().any(|(k, _)| *k == label::POD_NAME) {
            SetType::PodContainer
        } else {
            SetType::SysContainer
        };
        l.push((label::TYPE, t.as_str()));
        MetricSet::new(t, Labels::new(l))
    }

    #[test]
    fn keys_and_labels_as_heapster() {
        let mut b = DataBatch::default();
        let mut root = container("n1", "/", &[]);
        root.put(core::MEMORY_LIMIT, Value::Int(1 << 30));
        root.put(core::MEMORY_USAGE, Value::Int(100));
        b.sets.insert("node:n1".into(), root);
        b.sets.insert(
            "node:n1/container:/system.slice/sshd.service".into(),
            container("n1", "/system.slice/sshd.service", &[]),
        );
        let pod = [
            (label::POD_NAME, "web-1"),
            (label::NAMESPACE_NAME, "prod"),
            (label::POD_ID, "uid-1"),
        ];
        let mut infra = container("n1", "/kubepods/pod1/aaa", &pod);
        infra.relabel(infra.labels.with(label::CONTAINER_NAME, "POD").with(
            label::LABELS,
            "app:web,io.kubernetes.pod.name:web-1,tier:front",
        ));
        infra.put(core::NETWORK_RX, Value::Int(1000));
        infra.put(names::NETWORK_RX_RATE, Value::Float(10.0));
        b.sets
            .insert("node:n1/container:/kubepods/pod1/aaa".into(), infra);
        let mut app = container("n1", "/kubepods/pod1/bbb", &pod);
        app.relabel(app.labels.with(label::CONTAINER_NAME, "nginx"));
        app.put(core::NETWORK_RX, Value::Int(1000));
        app.put(names::CPU_USAGE_RATE, Value::Float(5.0));
        app.cpu_shares = Some(102);
        b.sets
            .insert("node:n1/container:/kubepods/pod1/bbb".into(), app);

        PodBasedEnricher.process(&mut b);
        let keys: Vec<&str> = b.sets.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "namespace:prod/pod:web-1",
                "namespace:prod/pod:web-1/container:nginx",
                "node:n1",
                "node:n1/container:system.slice/sshd.service",
            ]
        );
        let node = &b.sets["node:n1"];
        assert_eq!(node.labels.get("type"), Some("node"));
        assert_eq!(node.labels.get("id"), None);
        assert_eq!(node.value("memory/limit"), None);
        assert_eq!(node.value("memory/usage"), Some(Value::Int(100)));
        let c = &b.sets["namespace:prod/pod:web-1/container:nginx"];
        assert_eq!(c.labels.get("labels"), Some("app:web,tier:front"));
        assert_eq!(c.labels.get("type"), Some("pod_container"));
        assert_eq!(c.value("network/rx"), None, "network moves to the pod");
        assert_eq!(c.value("cpu/request"), Some(Value::Int(100)));
        let p = &b.sets["namespace:prod/pod:web-1"];
        assert_eq!(p.set_type, SetType::Pod);
        assert_eq!(p.value("network/rx_rate"), Some(Value::Float(10.0)));
        assert_eq!(p.labels.get("container_name"), None);
        assert_eq!(p.labels.get("labels"), Some("app:web,tier:front"));
        let s = &b.sets["node:n1/container:system.slice/sshd.service"];
        assert_eq!(
            s.labels.get("container_name"),
            Some("system.slice/sshd.service")
        );
        assert_eq!(s.labels.get("id"), None, "the name says it");
    }

    #[test]
    fn shares_read_back_to_millicores() {
        for m in [1i64, 10, 100, 250, 333, 500, 999, 1000, 1500, 4000] {
            let shares = (m as u64 * 1024 / 1000).max(2);
            if shares > 2 {
                assert_eq!(cpu_request_from_shares(shares), Some(m), "{m}m");
            }
        }
        assert_eq!(cpu_request_from_shares(2), None);
        assert_eq!(cpu_request_from_shares(0), None);
    }

    #[test]
    fn the_newer_of_two_containers_with_one_key_wins() {
        let mut b = DataBatch::default();
        let mut old = container("n", "/a", &[]);
        old.create_time = crowsnest_core::Timestamp(5);
        old.put(core::MEMORY_USAGE, Value::Int(1));
        let mut new = container("n", "a", &[]);
        new.create_time = crowsnest_core::Timestamp(9);
        new.put(core::MEMORY_USAGE, Value::Int(2));
        b.sets.insert("x1".into(), new);
        b.sets.insert("x2".into(), old);
        PodBasedEnricher.process(&mut b);
        assert_eq!(b.sets.len(), 1);
        assert_eq!(
            b.sets["node:n/container:a"].value("memory/usage"),
            Some(Value::Int(2))
        );
    }
}
