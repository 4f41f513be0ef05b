//! The pod aggregator (Heapster's `PodAggregator`): every pod's gauges are the sums of its
//! containers' (`cpu/usage_rate`, `memory/usage`, `memory/working_set`, requests, ...).
//! Counters are never summed. A limit is the sum only when every container has one (one
//! unlimited container makes the pod unlimited); a request is the sum of those given. What
//! the pod set already has (its network figures, from the enricher) is kept.

use std::collections::BTreeMap;

use crowsnest_core::Timestamp;
use crowsnest_core::batch::label;

use crate::batch::{DataBatch, MetricSet, SetType, key};
use crate::names;
use crate::process::enrich::pod_set_labels;
use crate::process::{Processor, is_gauge, sum_over};

/// Gauges that are not summed: a peak is not the sum of peaks.
const NOT_SUMMED: &[&str] = &["memory/max_usage"];

/// Heapster's `PodAggregator`.
#[derive(Debug, Default)]
pub struct PodAggregator;

impl Processor for PodAggregator {
    fn name(&self) -> &'static str {
        "pod_aggregator"
    }

    fn process(&mut self, batch: &mut DataBatch) {
        let mut by_pod: BTreeMap<String, Vec<&MetricSet>> = BTreeMap::new();
        for (_, s) in batch.of_type(SetType::PodContainer) {
            if let (Some(ns), Some(pod)) = (
                s.labels.get(label::NAMESPACE_NAME),
                s.labels.get(label::POD_NAME),
            ) {
                by_pod.entry(key::pod(ns, pod)).or_default().push(s);
            }
        }
        let mut pods: Vec<(String, MetricSet)> = Vec::with_capacity(by_pod.len());
        for (pod_key, containers) in by_pod {
            let Some(first) = containers.first() else {
                continue;
            };
            let mut pod = batch.sets.get(&pod_key).cloned().unwrap_or_else(|| {
                MetricSet::new(
                    SetType::Pod,
                    pod_set_labels(&first.labels, SetType::Pod, first.labels.get(label::LABELS)),
                )
            });
            // Every gauge any container has, in first-seen order.
            let mut metrics: Vec<&crowsnest_core::batch::Sample> = Vec::new();
            for c in &containers {
                for s in &c.samples {
                    let unlabeled = s.labels.get(label::RESOURCE_ID).is_none();
                    if unlabeled
                        && is_gauge(s.kind)
                        && !NOT_SUMMED.contains(&s.metric.as_ref())
                        && !metrics.iter().any(|m| m.metric == s.metric)
                    {
                        metrics.push(s);
                    }
                }
            }
            for m in metrics {
                if pod.value(&m.metric).is_some() {
                    continue;
                }
                let limit =
                    m.metric == names::CPU_LIMIT.name || m.metric == names::MEMORY_LIMIT.name;
                if let Some(v) = sum_over(containers.iter().copied(), &m.metric, limit) {
                    let Some(metric) = names::lookup(&m.metric) else {
                        continue;
                    };
                    pod.put(metric, v);
                }
            }
            pod.create_time = containers
                .iter()
                .map(|c| c.create_time)
                .min()
                .unwrap_or(Timestamp::default());
            pod.scrape_time = containers
                .iter()
                .map(|c| c.scrape_time)
                .max()
                .unwrap_or(Timestamp::default());
            pod.window = containers.iter().filter_map(|c| c.window).min();
            pods.push((pod_key, pod));
        }
        batch.sets.extend(pods);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::Processor;
    use crate::process::enrich::PodBasedEnricher;
    use crowsnest_core::batch::names as core;
    use crowsnest_core::batch::{Labels, Value};

    pub(crate) fn pod_container(node: &str, ns: &str, pod: &str, c: &str) -> MetricSet {
        let l = Labels::new([
            (label::TYPE, "pod_container"),
            (label::ID, "/kubepods/x"),
            (label::NODENAME, node),
            (label::HOSTNAME, node),
            (label::NAMESPACE_NAME, ns),
            (label::POD_NAME, pod),
            (label::CONTAINER_NAME, c),
        ]);
        MetricSet::new(SetType::PodContainer, l)
    }

    #[test]
    fn pods_are_the_sums_of_their_containers() {
        let mut b = DataBatch::default();
        let mut a = pod_container("n", "prod", "web", "a");
        a.put(names::CPU_USAGE_RATE, Value::Float(100.5));
        a.put(core::MEMORY_USAGE, Value::Int(1000));
        a.put(core::CPU_USAGE, Value::Int(5_000_000));
        a.put(core::MEMORY_LIMIT, Value::Int(4000));
        a.put(names::CPU_REQUEST, Value::Int(100));
        a.window = Some(9);
        let mut c = pod_container("n", "prod", "web", "c");
        c.put(names::CPU_USAGE_RATE, Value::Float(50.0));
        c.put(core::MEMORY_USAGE, Value::Int(24));
        c.put(core::CPU_USAGE, Value::Int(1));
        c.window = Some(5);
        b.sets.insert("x/a".into(), a);
        b.sets.insert("x/c".into(), c);
        PodBasedEnricher.process(&mut b);
        PodAggregator.process(&mut b);
        let p = &b.sets["namespace:prod/pod:web"];
        assert_eq!(p.labels.get("type"), Some("pod"));
        assert_eq!(p.value("cpu/usage_rate"), Some(Value::Float(150.5)));
        assert_eq!(p.value("memory/usage"), Some(Value::Int(1024)));
        assert_eq!(p.value("cpu/usage"), None, "counters are not summed");
        assert_eq!(
            p.value("memory/limit"),
            None,
            "c has no limit: the pod has none"
        );
        assert_eq!(p.value("cpu/request"), Some(Value::Int(100)));
        assert_eq!(p.window, Some(5));
    }
}
