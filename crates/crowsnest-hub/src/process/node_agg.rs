//! The node aggregator (Heapster's `NodeAggregator`): a node's requests and limits are the
//! sums of its pods' (limits only when every pod has one). A node's usage is never a sum: it
//! is its root container's, which also counts what runs outside any container (Heapster's
//! PR #1035). Only nodes that were scraped get values; a pod whose node is unknown adds
//! nothing.

use std::collections::BTreeMap;

use crowsnest_core::batch::label;

use crate::batch::{DataBatch, MetricSet, SetType, key};
use crate::names;
use crate::process::namespace_agg::is_limit;
use crate::process::{Processor, sum_over};

/// What a node gets from its pods.
const NODE_SUMS: &[crowsnest_core::batch::names::Metric] = &[
    names::CPU_REQUEST,
    names::CPU_LIMIT,
    names::MEMORY_REQUEST,
    names::MEMORY_LIMIT,
];

/// Heapster's `NodeAggregator`.
#[derive(Debug, Default)]
pub struct NodeAggregator;

impl Processor for NodeAggregator {
    fn name(&self) -> &'static str {
        "node_aggregator"
    }

    fn process(&mut self, batch: &mut DataBatch) {
        let mut by_node: BTreeMap<String, Vec<&MetricSet>> = BTreeMap::new();
        for (_, s) in batch.of_type(SetType::Pod) {
            if let Some(n) = s.labels.get(label::NODENAME) {
                by_node.entry(key::node(n)).or_default().push(s);
            }
        }
        let mut updates = Vec::new();
        for (node_key, pods) in by_node {
            for m in NODE_SUMS {
                if let Some(v) = sum_over(pods.iter().copied(), m.name, is_limit(m.name)) {
                    updates.push((node_key.clone(), *m, v));
                }
            }
        }
        for (k, m, v) in updates {
            if let Some(node) = batch.sets.get_mut(&k) {
                node.put(m, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crowsnest_core::batch::{Labels, Value};

    #[test]
    fn nodes_sum_their_pods_requests_but_not_usage() {
        let mut b = DataBatch::default();
        let mut node = MetricSet::new(SetType::Node, Labels::new([("type", "node")]));
        node.put(names::CPU_USAGE_RATE, Value::Float(900.0));
        b.sets.insert(key::node("n"), node);
        for (p, req) in [("p1", 100), ("p2", 250)] {
            let mut pod = MetricSet::new(
                SetType::Pod,
                Labels::new([
                    ("type", "pod"),
                    ("nodename", "n"),
                    ("pod_name", p),
                    ("namespace_name", "a"),
                ]),
            );
            pod.put(names::CPU_REQUEST, Value::Int(req));
            pod.put(names::CPU_USAGE_RATE, Value::Float(10.0));
            b.sets.insert(key::pod("a", p), pod);
        }
        let mut orphan = MetricSet::new(SetType::Pod, Labels::new([("nodename", "gone")]));
        orphan.put(names::CPU_REQUEST, Value::Int(1));
        b.sets.insert(key::pod("a", "orphan"), orphan);
        NodeAggregator.process(&mut b);
        let n = &b.sets["node:n"];
        assert_eq!(n.value("cpu/request"), Some(Value::Int(350)));
        assert_eq!(n.value("cpu/usage_rate"), Some(Value::Float(900.0)));
        assert_eq!(n.value("cpu/limit"), None);
        assert!(!b.sets.contains_key("node:gone"));
    }
}
