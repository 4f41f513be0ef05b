//! The processors, one module each, run in Heapster's order (`metrics/heapster.go`): rates,
//! then enrichment, then aggregation to pods, namespaces, nodes and the cluster, then node
//! capacity and utilization.
//!
//! The first two only ever look at one node's containers, so they run on each node's answer
//! as soon as it comes ([`node_pipeline`], with that node's own rate state); the aggregators
//! run on the whole batch ([`batch_pipeline`]). The order is Heapster's; what changes is that
//! a batch never holds every container's raw counters and unshared labels at once, which would
//! be most of the hub's memory.
//!
//! With a Kubernetes source, the API server's enrichment (`crate::kubernetes::enrich`) runs
//! first and Heapster's `NamespaceBasedEnricher` (namespace UIDs) after the namespace
//! aggregator ([`batch_pipeline_with`]).

pub mod cluster_agg;
pub mod enrich;
pub mod namespace_agg;
pub mod node_agg;
pub mod node_autoscaling;
pub mod pod_agg;
pub mod rate;

use std::time::{Duration, Instant};

use crowsnest_core::batch::{Kind, Value};

use crate::batch::{DataBatch, MetricSet};

/// One step of the pipeline (Heapster's `DataProcessor`).
pub trait Processor: Send {
    /// Its name, for self-metrics and logs.
    fn name(&self) -> &'static str;
    /// Changes the batch in place.
    fn process(&mut self, batch: &mut DataBatch);
    /// The rate calculator's counts (other processors have none).
    fn rate_stats(&self) -> Option<rate::RateStats> {
        None
    }
    /// Heap bytes the processor keeps between batches.
    fn heap_bytes(&self) -> usize {
        0
    }
}

/// The processors of one node's answer: rates (with that node's state, forgetting a
/// container not seen for `stale_after_scrapes` scrapes), then enrichment.
pub fn node_pipeline(stale_after_scrapes: u64) -> Vec<Box<dyn Processor>> {
    vec![
        Box::new(rate::RateCalculator::new(stale_after_scrapes)),
        Box::new(enrich::PodBasedEnricher),
    ]
}

/// The processors of a batch, after every node's [`node_pipeline`].
pub fn batch_pipeline() -> Vec<Box<dyn Processor>> {
    vec![
        Box::new(pod_agg::PodAggregator),
        Box::new(namespace_agg::NamespaceAggregator),
        Box::new(node_agg::NodeAggregator),
        Box::new(cluster_agg::ClusterAggregator),
        Box::new(node_autoscaling::NodeAutoscalingEnricher),
    ]
}

/// [`batch_pipeline`] with `enrich` first (enrichment from the Kubernetes API) and
/// `namespaces` after the namespace aggregator (namespace UIDs), Heapster's order.
pub fn batch_pipeline_with(
    enrich: Vec<Box<dyn Processor>>,
    namespaces: Vec<Box<dyn Processor>>,
) -> Vec<Box<dyn Processor>> {
    let mut out = enrich;
    out.push(Box::new(pod_agg::PodAggregator));
    out.push(Box::new(namespace_agg::NamespaceAggregator));
    out.extend(namespaces);
    out.push(Box::new(node_agg::NodeAggregator));
    out.push(Box::new(cluster_agg::ClusterAggregator));
    out.push(Box::new(node_autoscaling::NodeAutoscalingEnricher));
    out
}

/// Runs every processor on `batch`, returning how long each took.
pub fn run(
    processors: &mut [Box<dyn Processor>],
    batch: &mut DataBatch,
) -> Vec<(&'static str, Duration)> {
    processors
        .iter_mut()
        .map(|p| {
            let started = Instant::now();
            p.process(batch);
            (p.name(), started.elapsed())
        })
        .collect()
}

/// A sum of values: integers stay integers (saturating), a float makes the sum a float.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Sum(Option<Value>);

impl Sum {
    pub(crate) fn add(&mut self, v: Value) {
        self.0 = Some(match (self.0, v) {
            (None, v) => v,
            (Some(Value::Int(a)), Value::Int(b)) => Value::Int(a.saturating_add(b)),
            (Some(a), b) => Value::Float(a.as_f64() + b.as_f64()),
        });
    }

    pub(crate) fn get(self) -> Option<Value> {
        self.0
    }
}

/// Sums `metric` over `sets`. With `all_or_none`, the sum is absent as soon as one set lacks
/// the metric (a pod with one unlimited container has no limit); otherwise it sums the sets
/// that have it, and is absent when none has.
pub(crate) fn sum_over<'a>(
    sets: impl IntoIterator<Item = &'a MetricSet>,
    metric: &str,
    all_or_none: bool,
) -> Option<Value> {
    let mut sum = Sum::default();
    for s in sets {
        match s.value(metric) {
            Some(v) => sum.add(v),
            None if all_or_none => return None,
            None => {}
        }
    }
    sum.get()
}

/// Whether a sample is a gauge (counters are never summed across sets).
pub(crate) fn is_gauge(kind: Kind) -> bool {
    kind == Kind::Gauge
}
