//! What the scheduler writes and the HTTP handlers read: the configuration, the clock, the
//! model, each node's and source's status, and the hub's own counters. Locks are held only to
//! copy in or out, never across an `.await`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use crowsnest_core::{Clock, Timestamp};

use crate::config::HubConfig;
use crate::model::ModelStore;
use crate::status::{HubMetrics, NodeStatus, SourceStatus};

/// The hub's shared state.
pub struct HubState {
    /// The configuration.
    pub config: HubConfig,
    /// Where "now" comes from (batch times, health).
    pub clock: Arc<dyn Clock>,
    /// The processed series.
    pub model: RwLock<Box<dyn ModelStore>>,
    /// Each node's scrapes, by name.
    pub nodes: Mutex<BTreeMap<String, NodeStatus>>,
    /// Each source's state.
    pub sources: Mutex<Vec<SourceStatus>>,
    /// The hub's own counters.
    pub metrics: Mutex<HubMetrics>,
    /// When the hub started.
    pub started: Timestamp,
    /// The sinks every processed batch goes to (queued on disk; never waits for the network).
    pub sinks: Option<Arc<crowsnest_sinks::Sinks>>,
}

impl std::fmt::Debug for HubState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The state, shared.
pub type Shared = Arc<HubState>;

/// Locks a mutex, going on with the data if a holder panicked (every writer leaves it
/// consistent between statements).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl HubState {
    /// Node statuses with `healthy` filled in for now.
    pub fn node_statuses(&self) -> Vec<NodeStatus> {
        let now = self.clock.now();
        lock(&self.nodes)
            .values()
            .map(|n| NodeStatus {
                healthy: n.is_healthy(now, self.config.resolution),
                ..n.clone()
            })
            .collect()
    }
}
