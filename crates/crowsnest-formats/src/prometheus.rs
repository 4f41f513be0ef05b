//! Prometheus text exposition 0.0.4 with cAdvisor's metric names, help texts, types, labels
//! and per-sample millisecond timestamps. (Being written; the signatures below are the
//! contract the agent calls.)

use crowsnest_core::machine::MachineInfo;
use crowsnest_core::metrics::MetricSet;
use crowsnest_core::model::{ContainerReference, ContainerSpec, ContainerStats, VersionInfo};

/// One container's newest sample, as the encoder reads it.
#[derive(Debug, Clone, Copy)]
pub struct ContainerView<'a> {
    /// Name, aliases, namespace.
    pub reference: &'a ContainerReference,
    /// Limits, labels, image.
    pub spec: &'a ContainerSpec,
    /// The newest sample.
    pub stats: &'a ContainerStats,
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
}

/// Appends the container and machine metric families to `out`.
pub fn encode(out: &mut String, input: &Exposition<'_>) {
    let _ = (out, input);
}
