//! The namespace aggregator (Heapster's `NamespaceAggregator`): every namespace that has pods
//! gets the sums of its pods' `cpu/usage_rate`, `memory/usage`, `cpu/request`, `cpu/limit`,
//! `memory/request` and `memory/limit` (limits only when every pod has one).

use std::collections::BTreeMap;

use crowsnest_core::batch::{Labels, label};

use crate::batch::{DataBatch, MetricSet, SetType, key};
use crate::names::{self, NAMESPACE_SUMS};
use crate::process::{Processor, sum_over};

/// Heapster's `NamespaceAggregator`.
#[derive(Debug, Default)]
pub struct NamespaceAggregator;

/// Whether a metric is a limit (summed only when every part has one).
pub(crate) fn is_limit(metric: &str) -> bool {
    metric == names::CPU_LIMIT.name || metric == names::MEMORY_LIMIT.name
}

impl Processor for NamespaceAggregator {
    fn name(&self) -> &'static str {
        "namespace_aggregator"
    }

    fn process(&mut self, batch: &mut DataBatch) {
        let mut by_ns: BTreeMap<&str, Vec<&MetricSet>> = BTreeMap::new();
        for (_, s) in batch.of_type(SetType::Pod) {
            if let Some(ns) = s.labels.get(label::NAMESPACE_NAME) {
                by_ns.entry(ns).or_default().push(s);
            }
        }
        let mut out = Vec::with_capacity(by_ns.len());
        for (ns, pods) in by_ns {
            let mut set = MetricSet::new(
                SetType::Namespace,
                Labels::new([
                    (label::TYPE, SetType::Namespace.as_str()),
                    (label::NAMESPACE_NAME, ns),
                ]),
            );
            for m in NAMESPACE_SUMS {
                if let Some(v) = sum_over(pods.iter().copied(), m.name, is_limit(m.name)) {
                    set.put(*m, v);
                }
            }
            set.scrape_time = pods.iter().map(|p| p.scrape_time).max().unwrap_or_default();
            out.push((key::namespace(ns), set));
        }
        batch.sets.extend(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crowsnest_core::batch::Value;
    use crowsnest_core::batch::names as core;

    pub(crate) fn pod(ns: &str, name: &str, cpu: f64, mem: i64) -> MetricSet {
        let mut p = MetricSet::new(
            SetType::Pod,
            Labels::new([
                (label::TYPE, "pod"),
                (label::NAMESPACE_NAME, ns),
                (label::POD_NAME, name),
            ]),
        );
        p.put(names::CPU_USAGE_RATE, Value::Float(cpu));
        p.put(core::MEMORY_USAGE, Value::Int(mem));
        p
    }

    #[test]
    fn namespaces_sum_their_pods() {
        let mut b = DataBatch::default();
        b.sets.insert(key::pod("a", "p1"), pod("a", "p1", 1.5, 10));
        b.sets.insert(key::pod("a", "p2"), pod("a", "p2", 2.0, 20));
        b.sets.insert(key::pod("b", "p3"), pod("b", "p3", 7.0, 5));
        b.sets
            .get_mut(&key::pod("a", "p1"))
            .unwrap()
            .put(names::CPU_REQUEST, Value::Int(100));
        NamespaceAggregator.process(&mut b);
        let a = &b.sets["namespace:a"];
        assert_eq!(a.labels.get("type"), Some("ns"));
        assert_eq!(a.value("cpu/usage_rate"), Some(Value::Float(3.5)));
        assert_eq!(a.value("memory/usage"), Some(Value::Int(30)));
        assert_eq!(a.value("cpu/request"), Some(Value::Int(100)));
        assert_eq!(a.value("memory/limit"), None);
        assert_eq!(
            b.sets["namespace:b"].value("memory/usage"),
            Some(Value::Int(5))
        );
    }
}
