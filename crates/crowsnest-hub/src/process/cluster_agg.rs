//! The cluster aggregator (Heapster's `ClusterAggregator`), with one deliberate change.
//!
//! Requests and limits are the sums over namespaces, as in Heapster. Usage
//! (`cpu/usage_rate`, `memory/usage`) is the sum over **nodes** (their root containers), not
//! over namespaces: Heapster's cluster usage counted pods only, so it never equalled the sum of
//! the nodes (issues #1593, #1897) and was absent without Kubernetes. Root containers count
//! every process once, so nothing is counted twice (Heapster's #1516 came from adding system
//! containers on top of pods). The cluster set exists once a node does.

use crowsnest_core::batch::names as core;
use crowsnest_core::batch::{Labels, label};

use crate::batch::{DataBatch, MetricSet, SetType, key};
use crate::names;
use crate::process::namespace_agg::is_limit;
use crate::process::{Processor, sum_over};

/// Heapster's `ClusterAggregator`, with usage summed over nodes.
#[derive(Debug, Default)]
pub struct ClusterAggregator;

/// Summed over nodes.
const FROM_NODES: &[core::Metric] = &[names::CPU_USAGE_RATE, core::MEMORY_USAGE];
/// Summed over namespaces.
const FROM_NAMESPACES: &[core::Metric] = &[
    names::CPU_REQUEST,
    names::CPU_LIMIT,
    names::MEMORY_REQUEST,
    names::MEMORY_LIMIT,
];

impl Processor for ClusterAggregator {
    fn name(&self) -> &'static str {
        "cluster_aggregator"
    }

    fn process(&mut self, batch: &mut DataBatch) {
        let nodes: Vec<&MetricSet> = batch.of_type(SetType::Node).map(|(_, s)| s).collect();
        if nodes.is_empty() {
            return;
        }
        let namespaces: Vec<&MetricSet> =
            batch.of_type(SetType::Namespace).map(|(_, s)| s).collect();
        let mut cluster = MetricSet::new(
            SetType::Cluster,
            Labels::new([(label::TYPE, SetType::Cluster.as_str())]),
        );
        for m in FROM_NODES {
            if let Some(v) = sum_over(nodes.iter().copied(), m.name, false) {
                cluster.put(*m, v);
            }
        }
        if !namespaces.is_empty() {
            for m in FROM_NAMESPACES {
                if let Some(v) = sum_over(namespaces.iter().copied(), m.name, is_limit(m.name)) {
                    cluster.put(*m, v);
                }
            }
        }
        cluster.scrape_time = nodes
            .iter()
            .map(|n| n.scrape_time)
            .max()
            .unwrap_or_default();
        batch.sets.insert(key::CLUSTER.to_owned(), cluster);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crowsnest_core::batch::Value;

    #[test]
    fn cluster_usage_is_the_sum_of_nodes_and_requests_of_namespaces() {
        let mut b = DataBatch::default();
        ClusterAggregator.process(&mut b);
        assert!(b.sets.is_empty(), "no node, no cluster");
        for (n, cpu, mem) in [("a", 100.0, 10), ("b", 250.5, 20)] {
            let mut s = MetricSet::new(SetType::Node, Labels::new([("type", "node")]));
            s.put(names::CPU_USAGE_RATE, Value::Float(cpu));
            s.put(core::MEMORY_USAGE, Value::Int(mem));
            b.sets.insert(key::node(n), s);
        }
        let mut ns = MetricSet::new(SetType::Namespace, Labels::new([("type", "ns")]));
        ns.put(names::CPU_USAGE_RATE, Value::Float(1.0));
        ns.put(names::CPU_REQUEST, Value::Int(300));
        b.sets.insert(key::namespace("x"), ns);
        ClusterAggregator.process(&mut b);
        let c = &b.sets["cluster"];
        assert_eq!(c.labels.get("type"), Some("cluster"));
        assert_eq!(c.value("cpu/usage_rate"), Some(Value::Float(350.5)));
        assert_eq!(c.value("memory/usage"), Some(Value::Int(30)));
        assert_eq!(c.value("cpu/request"), Some(Value::Int(300)));
    }
}
