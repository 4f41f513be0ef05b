//! The kubelet's Summary API (`GET /stats/summary`, `stats/v1alpha1`) as the hub's sets, the
//! way Heapster's `kubernetes.summary_api` source decoded it (`metrics/sources/summary`):
//!
//! * the node (`node:{n}`): uptime, `cpu/usage` (`usageCoreNanoSeconds`), memory (`usageBytes`,
//!   `workingSetBytes`, `rssBytes`, `pageFaults`, `majorPageFaults`), network (the default
//!   interface's `rxBytes`, `txBytes`, `rxErrors`, `txErrors`), the node filesystem as
//!   `filesystem/*` with `resource_id="/"`;
//! * system containers (`node:{n}/container:{c}`) with Heapster's names: `runtime` is
//!   `docker-daemon`, `misc` is `system`, `kubelet` and `pods` keep theirs;
//! * pods (`namespace:{ns}/pod:{p}`): uptime, network, their own CPU and memory when the
//!   kubelet reports them (newer kubelets), volumes as `filesystem/*` with
//!   `resource_id="Volume:<name>"`;
//! * pod containers (`namespace:{ns}/pod:{p}/container:{c}`): uptime, CPU, memory, `rootfs` and
//!   `logs` as `filesystem/*` with `resource_id` `/` and `logs`. Of two containers with one
//!   name (a restart the kubelet still reports), the newer by start time is kept (#1790).
//!
//! Counters carry their own sample times (`cpu.time`, `memory.time`, `network.time`), so the
//! same rate calculator as for agents turns them into `cpu/usage_rate` and the other rates. A
//! field the kubelet leaves out stays absent.

use std::collections::BTreeMap;

use crowsnest_core::Timestamp;
use crowsnest_core::batch::names::{self as core, Metric};
use crowsnest_core::batch::{Labels, Value, label};
use serde::Deserialize;

use crate::batch::{CounterWindow, MetricSet, SetType, key};
use crate::config::NodeAddr;
use crate::error::{Error, Result};
use crate::names;
use crate::scrape::{NodeScrapeState, Scraped};

use super::cluster::Cluster;

/// `stats/v1alpha1.Summary`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Summary {
    /// The node.
    pub node: NodeStats,
    /// Its pods.
    #[serde(deserialize_with = "null_vec")]
    pub pods: Vec<PodStats>,
}

fn null_vec<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> std::result::Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// The node's figures.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NodeStats {
    /// Its name.
    pub node_name: String,
    /// `kubelet`, `runtime`, `misc`, `pods`.
    #[serde(deserialize_with = "null_vec")]
    pub system_containers: Vec<ContainerStats>,
    /// When it booted.
    pub start_time: Option<Timestamp>,
    /// CPU.
    pub cpu: Option<CpuStats>,
    /// Memory.
    pub memory: Option<MemoryStats>,
    /// Network.
    pub network: Option<NetworkStats>,
    /// The node's root filesystem.
    pub fs: Option<FsStats>,
}

/// A pod's figures.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PodStats {
    /// Which pod.
    pub pod_ref: PodRef,
    /// When it started.
    pub start_time: Option<Timestamp>,
    /// Its containers.
    #[serde(deserialize_with = "null_vec")]
    pub containers: Vec<ContainerStats>,
    /// The pod's CPU (newer kubelets).
    pub cpu: Option<CpuStats>,
    /// The pod's memory (newer kubelets).
    pub memory: Option<MemoryStats>,
    /// The pod's network (its sandbox's).
    pub network: Option<NetworkStats>,
    /// Its volumes.
    #[serde(deserialize_with = "null_vec")]
    pub volume: Vec<VolumeStats>,
}

/// `podRef`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PodRef {
    /// Name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// UID.
    pub uid: String,
}

/// A container's figures.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerStats {
    /// Its name.
    pub name: String,
    /// When it started.
    pub start_time: Option<Timestamp>,
    /// CPU.
    pub cpu: Option<CpuStats>,
    /// Memory.
    pub memory: Option<MemoryStats>,
    /// Its writable layer.
    pub rootfs: Option<FsStats>,
    /// Its logs.
    pub logs: Option<FsStats>,
}

/// `cpu`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CpuStats {
    /// When it was read.
    pub time: Option<Timestamp>,
    /// The kubelet's own rate (not used: the hub computes its rates from the counter).
    pub usage_nano_cores: Option<u64>,
    /// CPU used since start, ns.
    pub usage_core_nano_seconds: Option<u64>,
}

/// `memory`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MemoryStats {
    /// When it was read.
    pub time: Option<Timestamp>,
    /// Memory in use.
    pub usage_bytes: Option<u64>,
    /// The working set.
    pub working_set_bytes: Option<u64>,
    /// RSS.
    pub rss_bytes: Option<u64>,
    /// Page faults since start.
    pub page_faults: Option<u64>,
    /// Major page faults since start.
    pub major_page_faults: Option<u64>,
}

/// `network` (the default interface, inline).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NetworkStats {
    /// When it was read.
    pub time: Option<Timestamp>,
    /// Bytes received.
    pub rx_bytes: Option<u64>,
    /// Receive errors.
    pub rx_errors: Option<u64>,
    /// Bytes sent.
    pub tx_bytes: Option<u64>,
    /// Transmit errors.
    pub tx_errors: Option<u64>,
}

/// `FsStats`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FsStats {
    /// Free for use.
    pub available_bytes: Option<u64>,
    /// Size.
    pub capacity_bytes: Option<u64>,
    /// Used.
    pub used_bytes: Option<u64>,
    /// Free inodes.
    pub inodes_free: Option<u64>,
    /// Inodes.
    pub inodes: Option<u64>,
}

/// A volume's figures.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct VolumeStats {
    /// The volume's name in the pod.
    pub name: String,
    /// Its filesystem.
    #[serde(flatten)]
    pub fs: FsStats,
}

/// What the decoder knows of the node besides its summary.
#[derive(Debug, Clone, Copy)]
pub struct NodeLabels<'a> {
    /// The node's name (`nodename`).
    pub name: &'a str,
    /// Its `hostname`.
    pub hostname: &'a str,
    /// Its `host_id` (empty: none).
    pub host_id: &'a str,
}

/// Heapster's names of the kubelet's system containers.
pub fn system_container_name(name: &str) -> &str {
    match name {
        "runtime" => "docker-daemon",
        "misc" => "system",
        other => other,
    }
}

/// A set being built.
struct Builder {
    set: MetricSet,
}

fn v(x: u64) -> Value {
    Value::Int(i64::try_from(x).unwrap_or(i64::MAX))
}

impl Builder {
    fn new(t: SetType, labels: Vec<(&str, &str)>, start: Option<Timestamp>) -> Builder {
        let mut set = MetricSet::new(t, Labels::new(labels));
        set.create_time = start.unwrap_or_default();
        Builder { set }
    }

    fn gauge(&mut self, m: Metric, x: Option<u64>) {
        if let Some(x) = x {
            self.set.put(m, v(x));
        }
    }

    fn labeled(&mut self, m: Metric, resource: &str, x: Option<u64>) {
        if let Some(x) = x {
            self.set.put_labeled(m, resource, v(x));
        }
    }

    /// A counter: its value, and a one-sample window for the rate calculator.
    fn counter(&mut self, m: Metric, t: Option<Timestamp>, x: Option<u64>) {
        let (Some(t), Some(x)) = (t, x) else { return };
        self.set.put(m, v(x));
        self.set.scrape_time = self.set.scrape_time.max(t);
        if let Some(rate) = names::rate_index(m.name) {
            let Value::Int(i) = v(x) else { return };
            self.set.counters.push(CounterWindow::new(rate, None, t, i));
        }
    }

    fn cpu(&mut self, c: Option<&CpuStats>) {
        if let Some(c) = c {
            self.counter(core::CPU_USAGE, c.time, c.usage_core_nano_seconds);
        }
    }

    fn memory(&mut self, m: Option<&MemoryStats>) {
        let Some(m) = m else { return };
        self.gauge(core::MEMORY_USAGE, m.usage_bytes);
        self.gauge(core::MEMORY_WORKING_SET, m.working_set_bytes);
        self.gauge(core::MEMORY_RSS, m.rss_bytes);
        self.counter(core::MEMORY_PAGE_FAULTS, m.time, m.page_faults);
        self.counter(core::MEMORY_MAJOR_PAGE_FAULTS, m.time, m.major_page_faults);
        if let Some(t) = m.time {
            self.set.scrape_time = self.set.scrape_time.max(t);
        }
    }

    fn network(&mut self, n: Option<&NetworkStats>) {
        let Some(n) = n else { return };
        self.counter(core::NETWORK_RX, n.time, n.rx_bytes);
        self.counter(core::NETWORK_RX_ERRORS, n.time, n.rx_errors);
        self.counter(core::NETWORK_TX, n.time, n.tx_bytes);
        self.counter(core::NETWORK_TX_ERRORS, n.time, n.tx_errors);
    }

    fn fs(&mut self, resource: &str, f: Option<&FsStats>) {
        let Some(f) = f else { return };
        self.labeled(core::FILESYSTEM_USAGE, resource, f.used_bytes);
        self.labeled(core::FILESYSTEM_LIMIT, resource, f.capacity_bytes);
        self.labeled(core::FILESYSTEM_AVAILABLE, resource, f.available_bytes);
        self.labeled(core::FILESYSTEM_INODES, resource, f.inodes);
        self.labeled(core::FILESYSTEM_INODES_FREE, resource, f.inodes_free);
    }

    /// Uptime at the set's newest sample, and the set.
    fn finish(mut self) -> MetricSet {
        let (start, now) = (self.set.create_time, self.set.scrape_time);
        if start != Timestamp::default() && now > start {
            self.set.put(
                core::UPTIME,
                Value::Int((now.nanos() - start.nanos()) / 1_000_000),
            );
        }
        self.set
    }
}

fn with<'a>(base: &[(&'a str, &'a str)], extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut l = base.to_vec();
    l.extend_from_slice(extra);
    l
}

/// The sets of one node's summary, by key.
pub fn decode(s: &Summary, node: NodeLabels<'_>) -> BTreeMap<String, MetricSet> {
    let mut out = BTreeMap::new();
    let mut base: Vec<(&str, &str)> = vec![
        (label::NODENAME, node.name),
        (label::HOSTNAME, node.hostname),
    ];
    if !node.host_id.is_empty() {
        base.push((super::HOST_ID, node.host_id));
    }
    let n = &s.node;
    let mut b = Builder::new(
        SetType::Node,
        with(&base, &[(label::TYPE, label::TYPE_NODE)]),
        n.start_time,
    );
    b.cpu(n.cpu.as_ref());
    b.memory(n.memory.as_ref());
    b.network(n.network.as_ref());
    b.fs("/", n.fs.as_ref());
    out.insert(key::node(node.name), b.finish());
    for c in &n.system_containers {
        let name = system_container_name(&c.name);
        let mut b = Builder::new(
            SetType::SysContainer,
            with(
                &base,
                &[
                    (label::TYPE, label::TYPE_SYS_CONTAINER),
                    (label::CONTAINER_NAME, name),
                ],
            ),
            c.start_time,
        );
        b.cpu(c.cpu.as_ref());
        b.memory(c.memory.as_ref());
        out.insert(key::sys_container(node.name, name), b.finish());
    }
    for p in &s.pods {
        let r = &p.pod_ref;
        let pod_labels = [
            (label::POD_ID, r.uid.as_str()),
            (label::POD_NAME, r.name.as_str()),
            (label::NAMESPACE_NAME, r.namespace.as_str()),
        ];
        let mut pl = pod_labels.to_vec();
        pl.push((label::TYPE, SetType::Pod.as_str()));
        let mut b = Builder::new(SetType::Pod, with(&base, &pl), p.start_time);
        b.network(p.network.as_ref());
        b.cpu(p.cpu.as_ref());
        b.memory(p.memory.as_ref());
        for vol in &p.volume {
            b.fs(&format!("Volume:{}", vol.name), Some(&vol.fs));
        }
        out.insert(key::pod(&r.namespace, &r.name), b.finish());
        for c in &p.containers {
            let mut cl = pod_labels.to_vec();
            cl.push((label::TYPE, label::TYPE_POD_CONTAINER));
            cl.push((label::CONTAINER_NAME, c.name.as_str()));
            let mut b = Builder::new(SetType::PodContainer, with(&base, &cl), c.start_time);
            b.cpu(c.cpu.as_ref());
            b.memory(c.memory.as_ref());
            b.fs("/", c.rootfs.as_ref());
            b.fs("logs", c.logs.as_ref());
            let set = b.finish();
            let k = key::pod_container(&r.namespace, &r.name, &c.name);
            match out.get(&k) {
                Some(old) if old.create_time > set.create_time => {}
                _ => {
                    out.insert(k, set);
                }
            }
        }
    }
    out
}

/// Scrapes one node's kubelet.
pub async fn scrape(
    cluster: &Cluster,
    addr: &NodeAddr,
    state: &mut NodeScrapeState,
) -> Result<Scraped> {
    let kubelet = cluster.kubelet();
    let url = kubelet.summary_url(&addr.host);
    let err = |reason: String| Error::Scrape {
        node: addr.name.clone(),
        url: url.clone(),
        reason,
    };
    let body = kubelet
        .summary(&addr.host)
        .await
        .map_err(|e| err(e.to_string()))?;
    let summary: Summary = serde_json::from_slice(&body)
        .map_err(|e| err(format!("the answer is not a kubelet summary: {e}")))?;
    drop(body);
    let (hostname, host_id) = {
        let st = cluster.state();
        st.nodes
            .get(&addr.name)
            .map(|n| (n.hostname.clone(), n.host_id.clone()))
            .unwrap_or_else(|| (addr.name.clone(), String::new()))
    };
    let sets = decode(
        &summary,
        NodeLabels {
            name: &addr.name,
            hostname: &hostname,
            host_id: &host_id,
        },
    );
    let samples = sets.len();
    let newest = sets.values().map(|s| s.scrape_time).max();
    state.empty_scrapes = if newest.is_some_and(|t| Some(t) > state.last_seen) {
        0
    } else {
        state.empty_scrapes.saturating_add(1)
    };
    state.last_seen = state.last_seen.max(newest);
    Ok(Scraped {
        node: addr.name.clone(),
        sets: sets.into_iter().collect(),
        machine: None,
        samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUMMARY: &str = r#"{
      "node": {"nodeName": "n1", "startTime": "2024-05-01T08:00:00Z",
        "systemContainers": [
          {"name": "kubelet", "startTime": "2024-05-01T08:00:05Z",
           "cpu": {"time": "2024-05-01T10:00:00Z", "usageCoreNanoSeconds": 5000000000},
           "memory": {"time": "2024-05-01T10:00:00Z", "workingSetBytes": 52428800}},
          {"name": "runtime", "startTime": "2024-05-01T08:00:02Z",
           "memory": {"time": "2024-05-01T10:00:00Z", "usageBytes": 1000}}],
        "cpu": {"time": "2024-05-01T10:00:00Z", "usageNanoCores": 1200000000,
                "usageCoreNanoSeconds": 8640000000000},
        "memory": {"time": "2024-05-01T10:00:00Z", "usageBytes": 4000000000,
                   "workingSetBytes": 3000000000, "rssBytes": 2000000000,
                   "pageFaults": 100, "majorPageFaults": 1},
        "network": {"time": "2024-05-01T10:00:00Z", "name": "eth0", "rxBytes": 10, "txBytes": 20,
                    "rxErrors": 0, "txErrors": 0},
        "fs": {"availableBytes": 70, "capacityBytes": 100, "usedBytes": 30, "inodes": 9,
               "inodesFree": 8}},
      "pods": [{"podRef": {"name": "web", "namespace": "prod", "uid": "u1"},
        "startTime": "2024-05-01T09:00:00Z",
        "containers": [
          {"name": "nginx", "startTime": "2024-05-01T09:00:01Z",
           "cpu": {"time": "2024-05-01T10:00:00Z", "usageCoreNanoSeconds": 900000000},
           "memory": {"time": "2024-05-01T10:00:00Z", "workingSetBytes": 4096},
           "rootfs": {"usedBytes": 61440}, "logs": {"usedBytes": 28672}},
          {"name": "nginx", "startTime": "2024-05-01T08:30:00Z",
           "cpu": {"time": "2024-05-01T10:00:00Z", "usageCoreNanoSeconds": 1}}],
        "network": {"time": "2024-05-01T10:00:00Z", "rxBytes": 5, "txBytes": 6},
        "volume": [{"name": "data", "usedBytes": 12288, "capacityBytes": 1000000}]}]
    }"#;

    #[test]
    fn a_summary_becomes_heapster_sets() {
        let s: Summary = serde_json::from_str(SUMMARY).unwrap();
        let sets = decode(
            &s,
            NodeLabels {
                name: "n1",
                hostname: "n1.local",
                host_id: "",
            },
        );
        let keys: Vec<&str> = sets.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "namespace:prod/pod:web",
                "namespace:prod/pod:web/container:nginx",
                "node:n1",
                "node:n1/container:docker-daemon",
                "node:n1/container:kubelet",
            ]
        );
        let n = &sets["node:n1"];
        assert_eq!(n.labels.get("type"), Some("node"));
        assert_eq!(n.labels.get("hostname"), Some("n1.local"));
        assert_eq!(n.value("cpu/usage"), Some(Value::Int(8_640_000_000_000)));
        assert_eq!(n.value("uptime"), Some(Value::Int(7_200_000)));
        assert_eq!(n.labeled("filesystem/usage", "/"), Some(Value::Int(30)));
        assert_eq!(
            n.counters.len(),
            7,
            "cpu, 2 page fault and 4 network counters"
        );
        let c = &sets["namespace:prod/pod:web/container:nginx"];
        assert_eq!(
            c.value("cpu/usage"),
            Some(Value::Int(900_000_000)),
            "the newer one"
        );
        assert_eq!(c.labels.get("container_name"), Some("nginx"));
        assert_eq!(c.labels.get("pod_id"), Some("u1"));
        assert_eq!(
            c.labeled("filesystem/usage", "logs"),
            Some(Value::Int(28672))
        );
        assert_eq!(c.value("memory/usage"), None, "absent, not 0");
        let p = &sets["namespace:prod/pod:web"];
        assert_eq!(p.set_type, SetType::Pod);
        assert_eq!(p.value("network/rx"), Some(Value::Int(5)));
        assert_eq!(
            p.labeled("filesystem/usage", "Volume:data"),
            Some(Value::Int(12288))
        );
        assert_eq!(
            sets["node:n1/container:docker-daemon"]
                .labels
                .get("container_name"),
            Some("docker-daemon")
        );
    }
}
