//! The node autoscaling enricher (Heapster's `NodeAutoscalingEnricher`): `cpu/node_capacity`
//! (millicores) and `memory/node_capacity` (bytes) and their `*/node_allocatable` from the node
//! object when a Kubernetes source put them on the node set, otherwise from the agent's
//! machine description (cores × 1000, bytes; allocatable then equals capacity: without
//! Kubernetes nothing is reserved for the system); `*/node_utilization` = usage /
//! allocatable and `*/node_reservation` = requests / allocatable, when both are known.

use crowsnest_core::batch::Value;
use crowsnest_core::batch::names as core;
use crowsnest_core::batch::names::Metric;

use crate::batch::{DataBatch, SetType};
use crate::names;
use crate::process::Processor;

/// One resource's capacity and the metrics derived from it.
struct Resource {
    capacity: Option<f64>,
    capacity_metric: Metric,
    allocatable: Metric,
    usage: Metric,
    utilization: Metric,
    request: Metric,
    reservation: Metric,
}

/// Heapster's `NodeAutoscalingEnricher`.
#[derive(Debug, Default)]
pub struct NodeAutoscalingEnricher;

impl Processor for NodeAutoscalingEnricher {
    fn name(&self) -> &'static str {
        "node_autoscaling_enricher"
    }

    fn process(&mut self, batch: &mut DataBatch) {
        for (k, set) in batch.sets.iter_mut() {
            if set.set_type != SetType::Node {
                continue;
            }
            let node = k.strip_prefix("node:").unwrap_or(k);
            let m = batch.machines.get(node).copied().unwrap_or_default();
            let resources = [
                Resource {
                    capacity: m.cores.map(|c| c as f64 * 1000.0),
                    capacity_metric: names::CPU_NODE_CAPACITY,
                    allocatable: names::CPU_NODE_ALLOCATABLE,
                    usage: names::CPU_USAGE_RATE,
                    utilization: names::CPU_NODE_UTILIZATION,
                    request: names::CPU_REQUEST,
                    reservation: names::CPU_NODE_RESERVATION,
                },
                Resource {
                    capacity: m.memory_capacity.map(|c| c as f64),
                    capacity_metric: names::MEMORY_NODE_CAPACITY,
                    allocatable: names::MEMORY_NODE_ALLOCATABLE,
                    usage: core::MEMORY_USAGE,
                    utilization: names::MEMORY_NODE_UTILIZATION,
                    request: names::MEMORY_REQUEST,
                    reservation: names::MEMORY_NODE_RESERVATION,
                },
            ];
            for r in resources {
                // The Kubernetes enricher may have put the node's own capacity and
                // allocatable; otherwise both are the machine's size.
                let cap = set
                    .value(r.capacity_metric.name)
                    .map(Value::as_f64)
                    .or(r.capacity)
                    .filter(|c| *c > 0.0);
                let Some(cap) = cap else {
                    continue;
                };
                let alloc = set
                    .value(r.allocatable.name)
                    .map(Value::as_f64)
                    .filter(|a| *a > 0.0)
                    .unwrap_or(cap);
                set.put(r.capacity_metric, Value::Float(cap));
                set.put(r.allocatable, Value::Float(alloc));
                if let Some(u) = set.value(r.usage.name) {
                    set.put(r.utilization, Value::Float(u.as_f64() / alloc));
                }
                if let Some(q) = set.value(r.request.name) {
                    set.put(r.reservation, Value::Float(q.as_f64() / alloc));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::key;
    use crate::batch::{MetricSet, NodeMachine};
    use crowsnest_core::batch::Labels;

    #[test]
    fn utilization_is_usage_over_capacity() {
        let mut b = DataBatch::default();
        let mut n = MetricSet::new(SetType::Node, Labels::new([("type", "node")]));
        n.put(names::CPU_USAGE_RATE, Value::Float(500.0));
        n.put(core::MEMORY_USAGE, Value::Int(1 << 29));
        n.put(names::CPU_REQUEST, Value::Int(1000));
        b.sets.insert(key::node("a"), n);
        b.machines.insert(
            "a".into(),
            NodeMachine {
                cores: Some(2),
                memory_capacity: Some(1 << 30),
            },
        );
        b.machines.insert("gone".into(), NodeMachine::default());
        NodeAutoscalingEnricher.process(&mut b);
        let n = &b.sets["node:a"];
        assert_eq!(n.value("cpu/node_capacity"), Some(Value::Float(2000.0)));
        assert_eq!(n.value("cpu/node_utilization"), Some(Value::Float(0.25)));
        assert_eq!(n.value("cpu/node_reservation"), Some(Value::Float(0.5)));
        assert_eq!(n.value("memory/node_utilization"), Some(Value::Float(0.5)));
        assert_eq!(
            n.value("memory/node_reservation"),
            None,
            "no memory request"
        );
    }
}
