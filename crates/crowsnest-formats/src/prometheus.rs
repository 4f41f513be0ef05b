//! Prometheus text exposition 0.0.4 with cAdvisor's metric names, help texts, types, labels
//! and per-sample millisecond timestamps, written by hand so that the bytes match what
//! cAdvisor's Go client writes.
//!
//! * [`encode`] writes `cadvisor_version_info`, every `container_*` family the model has data
//!   for, and the `machine_*` families, sorted by family name. Every container series carries
//!   the union of base label names over all containers of the response (`""` where a
//!   container lacks one); a value the kernel did not give (`None`) produces no series.
//! * [`encode_scrape`] is what `/metrics` serves: the same plus the agent's own
//!   `crowsnest_*` metrics, still sorted by family name.
//! * [`text`] has the pieces (float formatting identical to Go's `strconv.FormatFloat(v, 'g',
//!   -1, 64)`, escaping, headers) and [`selfm`] small encoders for counters, gauges and
//!   histograms.

mod container;
mod family;
mod machine;
pub mod selfm;
pub mod text;

use crowsnest_core::machine::MachineInfo;
use crowsnest_core::metrics::MetricSet;
use crowsnest_core::model::{ContainerReference, ContainerSpec, ContainerStats, VersionInfo};

pub use selfm::{
    HistogramView, SelfMetricsView, encode_counter, encode_gauge, encode_histogram,
    encode_self_metrics,
};
pub use text::{MetricType, write_float};

/// The `Content-Type` of the text format 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One container's newest sample, as the encoder reads it.
#[derive(Debug, Clone, Copy)]
pub struct ContainerView<'a> {
    /// Name, aliases, namespace.
    pub reference: &'a ContainerReference,
    /// Limits, labels, image.
    pub spec: &'a ContainerSpec,
    /// The newest sample.
    pub stats: &'a ContainerStats,
    /// Base labels added to cAdvisor's default ones for this container (what a custom
    /// `ContainerLabelsFunc` adds in cAdvisor, e.g. kubelet's). Names are sanitised like the
    /// others (`zone.name` → `zone_name`); a name that one of the families uses for its own
    /// labels (`cpu`, `device`, `interface`, ...) is ignored.
    pub extra_labels: &'a [(&'a str, &'a str)],
}

impl<'a> ContainerView<'a> {
    /// A view with no extra labels.
    pub fn new(
        reference: &'a ContainerReference,
        spec: &'a ContainerSpec,
        stats: &'a ContainerStats,
    ) -> Self {
        ContainerView {
            reference,
            spec,
            stats,
            extra_labels: &[],
        }
    }
}

/// Which runtime labels become `container_label_<key>` labels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ContainerLabels<'a> {
    /// All of them (cAdvisor's default, `--store_container_labels=true`).
    #[default]
    All,
    /// Only these keys (`--store_container_labels=false` with
    /// `--whitelisted_container_labels`). Environment variables are still all exported.
    Only(&'a [String]),
}

impl ContainerLabels<'_> {
    /// Whether the runtime label `key` is exported.
    pub fn allows(&self, key: &str) -> bool {
        match self {
            ContainerLabels::All => true,
            ContainerLabels::Only(keys) => keys.iter().any(|k| k == key),
        }
    }
}

/// Everything one `/metrics` response shows of containers and the machine.
#[derive(Debug, Clone, Copy)]
pub struct Exposition<'a> {
    /// Containers, in any order (the encoder sorts).
    pub containers: &'a [ContainerView<'a>],
    /// The machine.
    pub machine: &'a MachineInfo,
    /// Versions for `cadvisor_version_info`.
    pub version: &'a VersionInfo,
    /// Enabled metric groups.
    pub metrics: MetricSet,
    /// Which runtime labels are exported.
    pub container_labels: ContainerLabels<'a>,
}

/// Appends the container and machine metric families to `out`, sorted by family name.
pub fn encode(out: &mut String, input: &Exposition<'_>) {
    encode_container_families(out, input);
    encode_machine_families(out, input.machine, input.metrics);
}

/// Appends `cadvisor_version_info` and the `container_*` families.
pub fn encode_container_families(out: &mut String, input: &Exposition<'_>) {
    container::encode(out, input);
}

/// Appends the `machine_*` families (the `cpu_topology` ones when that group is enabled).
pub fn encode_machine_families(out: &mut String, machine: &MachineInfo, metrics: MetricSet) {
    machine::encode(out, machine, metrics);
}

/// Appends a whole `/metrics` response: [`encode`] with the agent's own `crowsnest_*`
/// families in their sorted place between the container and the machine families.
pub fn encode_scrape(out: &mut String, input: &Exposition<'_>, self_metrics: &SelfMetricsView<'_>) {
    encode_container_families(out, input);
    encode_self_metrics(out, self_metrics);
    encode_machine_families(out, input.machine, input.metrics);
}
