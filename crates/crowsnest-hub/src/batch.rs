//! What flows through the hub's processors: a [`DataBatch`] (Heapster's), at one time, of
//! [`MetricSet`]s keyed as Heapster keys them (`node:{n}`, `namespace:{ns}/pod:{p}`, ...; see
//! [`key`]). A set holds canonical [`Sample`]s (one per metric, labeled metrics once per
//! `resource_id`) under the set's labels, so a batch flattens into the core's
//! [`crowsnest_core::batch::Batch`] for sinks without renaming anything.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use crowsnest_core::Timestamp;
use crowsnest_core::batch::names::Metric;
use crowsnest_core::batch::{Batch, Labels, Sample, Value, label};

/// What a set describes (Heapster's `type` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SetType {
    /// A node (its root container `/`).
    Node,
    /// A pod (aggregated from its containers).
    Pod,
    /// A container of a Kubernetes pod.
    PodContainer,
    /// A container outside any pod (a cgroup, a plain Docker container).
    SysContainer,
    /// A namespace (aggregated from its pods).
    Namespace,
    /// The cluster.
    Cluster,
}

impl SetType {
    /// Heapster's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SetType::Node => "node",
            SetType::Pod => "pod",
            SetType::PodContainer => "pod_container",
            SetType::SysContainer => "sys_container",
            SetType::Namespace => "ns",
            SetType::Cluster => "cluster",
        }
    }

    /// From Heapster's spelling.
    pub fn parse(s: &str) -> Option<SetType> {
        [
            SetType::Node,
            SetType::Pod,
            SetType::PodContainer,
            SetType::SysContainer,
            SetType::Namespace,
            SetType::Cluster,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// Heapster's set keys (`metrics/core/ms_keys.go`), exposed by `/api/v1/model/debug/allkeys`.
pub mod key {
    /// `namespace:{ns}/pod:{pod}/container:{c}`.
    pub fn pod_container(ns: &str, pod: &str, c: &str) -> String {
        format!("namespace:{ns}/pod:{pod}/container:{c}")
    }
    /// `namespace:{ns}/pod:{pod}`.
    pub fn pod(ns: &str, pod: &str) -> String {
        format!("namespace:{ns}/pod:{pod}")
    }
    /// `namespace:{ns}`.
    pub fn namespace(ns: &str) -> String {
        format!("namespace:{ns}")
    }
    /// `node:{node}`.
    pub fn node(node: &str) -> String {
        format!("node:{node}")
    }
    /// `node:{node}/container:{c}`.
    pub fn sys_container(node: &str, c: &str) -> String {
        format!("node:{node}/container:{c}")
    }
    /// `cluster`.
    pub const CLUSTER: &str = "cluster";
}

/// One counter that has a rate, over the samples one scrape brought: its first and last
/// values and what its consecutive pairs add up to (see [`crate::process::rate`], whose rules
/// [`CounterWindow::push`] applies). A window stays the same size however many samples a
/// scrape brings.
#[derive(Debug, Clone, PartialEq)]
pub struct CounterWindow {
    /// Index of the counter in [`crate::names::RATES`].
    pub rate: u8,
    /// The device, for per-device counters.
    pub resource: Option<Arc<str>>,
    /// The first sample's time (the node's clock) and value.
    pub first: (Timestamp, i64),
    /// The last sample's time and value.
    pub last: (Timestamp, i64),
    /// The increase summed over the valid pairs.
    pub delta: u64,
    /// The nanoseconds summed over the valid pairs.
    pub nanos: i64,
    /// Pairs where the counter went down.
    pub resets: u32,
    /// Pairs where the time went back.
    pub out_of_order: u32,
}

/// The metrics of one entity at the batch's time (Heapster's `MetricSet`).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSet {
    /// What the set describes.
    pub set_type: SetType,
    /// The set's labels (`type`, `nodename`, `container_name`, `pod_name`, ...).
    pub labels: Arc<Labels>,
    /// When the entity started: a rate is only computed between samples with the same one
    /// (Heapster's `CollectionStartTime`).
    pub create_time: Timestamp,
    /// When the newest sample was taken, by the node's clock.
    pub scrape_time: Timestamp,
    /// The newest value of each metric; labeled metrics once per `resource_id`. An unlabeled
    /// sample's labels are the set's (the same `Arc`); a labeled sample's labels are its
    /// `resource_id` alone (the set's labels apply to it too, see [`MetricSet::full_labels`]):
    /// a full copy per device would double a container's memory.
    pub samples: Vec<Sample>,
    /// The span of samples the CPU rate was computed over, in nanoseconds.
    pub window: Option<i64>,
    /// The counters of the samples the scrape brought, one window per counter (and device):
    /// the rate calculator's input, emptied by it.
    pub counters: Vec<CounterWindow>,
    /// `cpu.shares` of a container, from which the enricher reads back a pod's CPU request.
    pub cpu_shares: Option<u64>,
}

impl MetricSet {
    /// An empty set.
    pub fn new(set_type: SetType, labels: Labels) -> MetricSet {
        MetricSet {
            set_type,
            labels: Arc::new(labels),
            create_time: Timestamp::default(),
            scrape_time: Timestamp::default(),
            samples: Vec::new(),
            window: None,
            counters: Vec::new(),
            cpu_shares: None,
        }
    }

    /// The `resource_id` of a sample: none for one under the set's own labels (the common
    /// case, told without looking at the labels).
    pub fn resource_of<'s>(&self, s: &'s Sample) -> Option<&'s str> {
        if Arc::ptr_eq(&s.labels, &self.labels) {
            None
        } else {
            s.labels.get(label::RESOURCE_ID)
        }
    }

    fn position(&self, metric: &str, resource: Option<&str>) -> Option<usize> {
        self.samples
            .iter()
            .position(|s| s.metric == metric && self.resource_of(s) == resource)
    }

    /// The value of an unlabeled metric.
    pub fn value(&self, metric: &str) -> Option<Value> {
        self.position(metric, None).map(|i| self.samples[i].value)
    }

    /// The value of a labeled metric for one `resource_id`.
    pub fn labeled(&self, metric: &str, resource: &str) -> Option<Value> {
        self.position(metric, Some(resource))
            .map(|i| self.samples[i].value)
    }

    /// Sets an unlabeled metric (replacing its value if present).
    pub fn put(&mut self, m: Metric, value: Value) {
        self.put_sample(m, None, value);
    }

    /// Sets a labeled metric for one `resource_id`.
    pub fn put_labeled(&mut self, m: Metric, resource: &str, value: Value) {
        self.put_sample(m, Some(resource), value);
    }

    fn put_sample(&mut self, m: Metric, resource: Option<&str>, value: Value) {
        if let Some(i) = self.position(m.name, resource) {
            self.samples[i].value = value;
            return;
        }
        let labels = match resource {
            // Samples of one device share their labels.
            Some(r) => self
                .samples
                .iter()
                .find(|s| self.resource_of(s) == Some(r))
                .map_or_else(
                    || Arc::new(Labels::new([(label::RESOURCE_ID, r)])),
                    |s| s.labels.clone(),
                ),
            None => self.labels.clone(),
        };
        self.samples.push(Sample {
            metric: Cow::Borrowed(m.name),
            kind: m.kind,
            unit: m.unit,
            labels,
            value,
        });
    }

    /// Removes every sample of `metric` (labeled or not).
    pub fn remove(&mut self, metric: &str) {
        self.samples.retain(|s| s.metric != metric);
    }

    /// Gives the set (and its unlabeled samples) new labels; labeled samples keep theirs
    /// (only their `resource_id`).
    pub fn relabel(&mut self, labels: Labels) {
        let labels = Arc::new(labels);
        for s in &mut self.samples {
            if Arc::ptr_eq(&s.labels, &self.labels) {
                s.labels = labels.clone();
            }
        }
        self.labels = labels;
    }

    /// Puts `labels` (equal to the set's, shared with an earlier batch) in place of the set's
    /// own copy.
    pub fn share_labels(&mut self, labels: &Arc<Labels>) {
        if Arc::ptr_eq(labels, &self.labels) || *labels != self.labels {
            return;
        }
        for s in &mut self.samples {
            if Arc::ptr_eq(&s.labels, &self.labels) {
                s.labels = labels.clone();
            }
        }
        self.labels = labels.clone();
    }

    /// Makes a labeled sample's labels its `resource_id` alone, shared by the samples of one
    /// device (see [`MetricSet::samples`]). Samples under the set's labels are left alone.
    pub fn compact_labeled(&mut self) {
        let mut per_resource: Vec<Arc<Labels>> = Vec::new();
        for s in &mut self.samples {
            if Arc::ptr_eq(&s.labels, &self.labels) || s.labels.len() == 1 {
                continue;
            }
            let Some(r) = s.labels.get(label::RESOURCE_ID) else {
                s.labels = self.labels.clone();
                continue;
            };
            s.labels = match per_resource
                .iter()
                .find(|l| l.get(label::RESOURCE_ID) == Some(r))
            {
                Some(l) => l.clone(),
                None => {
                    let l = Arc::new(Labels::new([(label::RESOURCE_ID, r)]));
                    per_resource.push(l.clone());
                    l
                }
            };
        }
    }

    /// A sample's full labels: the set's, plus its `resource_id` for a labeled one.
    pub fn full_labels(&self, s: &Sample) -> Arc<Labels> {
        match self.resource_of(s) {
            Some(r) => Arc::new(self.labels.with(label::RESOURCE_ID, r)),
            None => self.labels.clone(),
        }
    }
}

/// What the hub knows of a node's machine (from the agent's `/api/v1.3/machine`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeMachine {
    /// CPU cores.
    pub cores: Option<u64>,
    /// Memory in bytes.
    pub memory_capacity: Option<u64>,
}

/// Metric sets at one time (Heapster's `DataBatch`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataBatch {
    /// The batch's time: the end of the scrape window, by the hub's clock.
    pub timestamp: Timestamp,
    /// The sets by key.
    pub sets: BTreeMap<String, MetricSet>,
    /// The machines of the nodes scraped, by node name.
    pub machines: BTreeMap<String, NodeMachine>,
}

impl DataBatch {
    /// The sets of one type.
    pub fn of_type(&self, t: SetType) -> impl Iterator<Item = (&String, &MetricSet)> {
        self.sets.iter().filter(move |(_, s)| s.set_type == t)
    }

    /// Every sample of every set, at the batch's time: what sinks take.
    pub fn to_core_batch(&self) -> Batch {
        Batch {
            timestamp: self.timestamp,
            samples: self
                .sets
                .values()
                .flat_map(|set| {
                    set.samples.iter().map(|s| Sample {
                        labels: set.full_labels(s),
                        ..s.clone()
                    })
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crowsnest_core::batch::names;

    #[test]
    fn sets_put_replace_and_relabel() {
        let mut s = MetricSet::new(SetType::Node, Labels::new([("type", "node")]));
        s.put(names::MEMORY_USAGE, Value::Int(5));
        s.put(names::MEMORY_USAGE, Value::Int(6));
        s.put_labeled(names::FILESYSTEM_USAGE, "/dev/vda", Value::Int(7));
        assert_eq!(s.samples.len(), 2);
        assert_eq!(s.value("memory/usage"), Some(Value::Int(6)));
        assert_eq!(s.value("filesystem/usage"), None);
        assert_eq!(
            s.labeled("filesystem/usage", "/dev/vda"),
            Some(Value::Int(7))
        );
        s.relabel(Labels::new([("type", "node"), ("nodename", "a")]));
        assert_eq!(s.samples[1].labels.get("resource_id"), Some("/dev/vda"));
        assert_eq!(s.samples[1].labels.len(), 1);
        assert_eq!(s.samples[0].labels.get("nodename"), Some("a"));
        assert_eq!(s.full_labels(&s.samples[1]).get("nodename"), Some("a"));
        let b = DataBatch {
            sets: BTreeMap::from([(key::node("a"), s)]),
            ..Default::default()
        };
        let core = b.to_core_batch();
        assert_eq!(core.samples.len(), 2);
        assert_eq!(core.samples[1].labels.get("resource_id"), Some("/dev/vda"));
        assert_eq!(core.samples[1].labels.get("type"), Some("node"));
        assert_eq!(SetType::parse("ns"), Some(SetType::Namespace));
    }
}
