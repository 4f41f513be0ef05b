//! What the agent knows, as the HTTP API and `/metrics` read it: every container's reference,
//! spec and history, the machine, and the agent's own metrics. The housekeeping thread is the
//! only writer; readers take a read lock, copy what they need and let go.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crowsnest_core::Timestamp;
use crowsnest_core::machine::MachineInfo;
use crowsnest_core::metrics::MetricSet;
use crowsnest_core::model::{
    ContainerInfo, ContainerReference, ContainerSpec, ContainerStats, VersionInfo,
};

use crate::history::History;
use crate::self_metrics::SelfMetrics;

/// One container as stored.
#[derive(Debug, Clone)]
pub struct Container {
    /// Name, aliases, namespace.
    pub reference: ContainerReference,
    /// Limits and metadata.
    pub spec: ContainerSpec,
    /// Recent samples.
    pub history: History,
}

/// Which samples a request wants (cAdvisor's `num_stats`/`start`/`end`, v2's `count`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsQuery {
    /// At most this many of the newest samples; `None` for all.
    pub max: Option<usize>,
    /// Only samples at or after this time.
    pub start: Option<Timestamp>,
    /// Only samples at or before this time.
    pub end: Option<Timestamp>,
}

/// Everything the agent serves.
#[derive(Debug, Default)]
pub struct AgentState {
    /// Containers by absolute name (`/`, `/docker/<id>`).
    pub containers: BTreeMap<String, Container>,
    /// The machine.
    pub machine: MachineInfo,
    /// Versions.
    pub version: VersionInfo,
    /// Metric groups that are enabled.
    pub metrics: MetricSet,
    /// Runtime labels `/metrics` exports: `None` for all, `Some(keys)` for only these.
    pub container_labels: Option<Vec<String>>,
}

impl AgentState {
    /// Whether `ancestor` is `name` or one of its ancestors (`/` is everyone's).
    pub fn is_within(ancestor: &str, name: &str) -> bool {
        ancestor == "/"
            || name == ancestor
            || (name.starts_with(ancestor) && name.as_bytes().get(ancestor.len()) == Some(&b'/'))
    }

    /// The names of `name` and, if `recursive`, all its descendants, in name order.
    pub fn names_under(&self, name: &str, recursive: bool) -> Vec<&str> {
        if !recursive {
            return self
                .containers
                .get_key_value(name)
                .map(|(k, _)| k.as_str())
                .into_iter()
                .collect();
        }
        self.containers
            .keys()
            .filter(|k| Self::is_within(name, k))
            .map(String::as_str)
            .collect()
    }

    /// References of the direct children of `name`.
    pub fn children(&self, name: &str) -> Vec<ContainerReference> {
        self.containers
            .iter()
            .filter(|(k, _)| k.as_str() != name && Self::is_within(name, k) && parent_of(k) == name)
            .map(|(_, c)| c.reference.clone())
            .collect()
    }

    /// cAdvisor's `ContainerInfo` for `name`, with the samples `query` selects.
    pub fn info(&self, name: &str, query: &StatsQuery) -> Option<ContainerInfo> {
        let c = self.containers.get(name)?;
        Some(ContainerInfo {
            reference: c.reference.clone(),
            subcontainers: self.children(name),
            spec: c.spec.clone(),
            stats: c.history.query(query.start, query.end, query.max),
        })
    }

    /// The newest sample of every container that has one, with its reference and spec.
    pub fn latest(&self) -> Vec<(ContainerReference, ContainerSpec, ContainerStats)> {
        self.containers
            .values()
            .filter_map(|c| Some((c.reference.clone(), c.spec.clone(), c.history.latest()?)))
            .collect()
    }
}

/// The parent's name of a container name (`/a/b` → `/a`, `/a` → `/`).
pub fn parent_of(name: &str) -> &str {
    match name.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &name[..i],
    }
}

/// The state shared between the housekeeping thread and the HTTP handlers.
#[derive(Debug, Clone, Default)]
pub struct Shared {
    state: Arc<RwLock<AgentState>>,
    self_metrics: Arc<SelfMetrics>,
    sinks: Arc<std::sync::OnceLock<Arc<crowsnest_sinks::Sinks>>>,
    store: Arc<std::sync::OnceLock<Arc<crowsnest_store::Store>>>,
}

impl Shared {
    /// Shared state around `state`.
    pub fn new(state: AgentState) -> Self {
        Shared {
            state: Arc::new(RwLock::new(state)),
            self_metrics: Arc::default(),
            sinks: Arc::default(),
            store: Arc::default(),
        }
    }

    /// Read access. A poisoned lock (a panicking writer) still gives the last written state.
    pub fn read(&self) -> RwLockReadGuard<'_, AgentState> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Write access (housekeeping only).
    pub fn write(&self) -> RwLockWriteGuard<'_, AgentState> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The agent's own metrics.
    pub fn self_metrics(&self) -> &SelfMetrics {
        &self.self_metrics
    }

    /// Makes the sinks' counters visible on `/metrics` (once, at start).
    pub fn set_sinks(&self, sinks: Arc<crowsnest_sinks::Sinks>) {
        let _ = self.sinks.set(sinks);
    }

    /// The sinks, when configured.
    pub fn sinks(&self) -> Option<&Arc<crowsnest_sinks::Sinks>> {
        self.sinks.get()
    }

    /// Makes the store queryable (`/api/v1/query`) and its counters visible on `/metrics`
    /// (once, at start).
    pub fn set_store(&self, store: Arc<crowsnest_store::Store>) {
        let _ = self.store.set(store);
    }

    /// The store, when configured.
    pub fn store(&self) -> Option<&Arc<crowsnest_store::Store>> {
        self.store.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_nest_by_path_components() {
        assert!(AgentState::is_within("/", "/a"));
        assert!(AgentState::is_within("/a", "/a/b"));
        assert!(!AgentState::is_within("/a", "/ab"));
        assert_eq!(parent_of("/a/b"), "/a");
        assert_eq!(parent_of("/a"), "/");
    }
}
