//! What the agent knows, as the HTTP API and `/metrics` read it: every container's reference,
//! spec and history, the machine, and the agent's own metrics. The housekeeping thread is the
//! only writer; readers take a read lock, copy what they need and let go.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crowsnest_core::Timestamp;
use crowsnest_core::machine::MachineInfo;
use crowsnest_core::metrics::MetricSet;
use crowsnest_core::model::{
    ContainerInfo, ContainerReference, ContainerSpec, ContainerStats, VersionInfo,
};

use crate::history::{Budget, History, HistoryError, Older, Reach, read_older};
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

/// Containers [`Shared`] remembers the store has nothing old for.
const NONE_STORED_MAX: usize = 16_384;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How far ahead of the clock a stored sample may be (the store drops samples further
/// ahead than this).
const MAX_AHEAD_NS: i64 = 600_000_000_000;

/// One container's answer from the ring, before the store is asked.
struct Pending {
    name: String,
    info: ContainerInfo,
    /// The ring's oldest sample.
    oldest: Option<Timestamp>,
    step_ns: i64,
}

impl Pending {
    /// What the store must add (see `crate::history` for the rule), if anything.
    fn reach(
        &self,
        q: &StatsQuery,
        store_from: Option<Timestamp>,
        now: Timestamp,
    ) -> Option<Reach> {
        let got = self.info.stats.len();
        if q.max.is_some_and(|m| got >= m) {
            return None;
        }
        let before_ring = self.oldest.map_or(Timestamp(i64::MAX), |o| o.add_nanos(-1));
        let to = q
            .end
            .map_or(before_ring, |e| e.min(before_ring))
            .min(now.add_nanos(MAX_AHEAD_NS));
        let from = match (q.start, store_from) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        if from.is_some_and(|f| f > to) {
            return None;
        }
        Some(Reach {
            from,
            to,
            want: q.max.map(|m| m - got),
            step_ns: self.step_ns,
        })
    }
}

/// The state shared between the housekeeping thread and the HTTP handlers.
#[derive(Debug, Clone, Default)]
pub struct Shared {
    state: Arc<RwLock<AgentState>>,
    self_metrics: Arc<SelfMetrics>,
    sinks: Arc<std::sync::OnceLock<Arc<crowsnest_sinks::Sinks>>>,
    store: Arc<std::sync::OnceLock<Arc<crowsnest_store::Store>>>,
    /// Per container: a time up to which the store holds none of its samples (learnt by a
    /// read that found none), so that a young container's requests do not search the store
    /// again and again. Bounded (cleared when large).
    none_stored: Arc<Mutex<HashMap<String, Timestamp>>>,
}

impl Shared {
    /// Shared state around `state`.
    pub fn new(state: AgentState) -> Self {
        Shared {
            state: Arc::new(RwLock::new(state)),
            self_metrics: Arc::default(),
            sinks: Arc::default(),
            store: Arc::default(),
            none_stored: Arc::default(),
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

    /// cAdvisor's `ContainerInfo` for `name`, with the samples `query` selects from the ring
    /// and, for older times, the store.
    pub fn info(
        &self,
        name: &str,
        query: &StatsQuery,
    ) -> Result<Option<ContainerInfo>, HistoryError> {
        let mut infos = self.infos(&[name.to_owned()], query, true)?;
        Ok(infos.pop().map(|(_, i)| i))
    }

    /// `(name, ContainerInfo)` of each of `names` that is known, in the order given, with the
    /// samples `query` selects: the ring for the time it covers, the store for older times
    /// (the rule is in [`crate::history`]). `children` fills in `subcontainers`. The state
    /// lock is let go before the store is read.
    pub fn infos(
        &self,
        names: &[String],
        query: &StatsQuery,
        children: bool,
    ) -> Result<Vec<(String, ContainerInfo)>, HistoryError> {
        self.infos_reaching(names, query, children, None)
    }

    /// [`Shared::infos`], with the store read no further back than `store_from`.
    pub(crate) fn infos_reaching(
        &self,
        names: &[String],
        query: &StatsQuery,
        children: bool,
        store_from: Option<Timestamp>,
    ) -> Result<Vec<(String, ContainerInfo)>, HistoryError> {
        let store = self.store();
        let now = store.map_or(Timestamp(i64::MAX), |s| s.now());
        let (mut pending, machine) = {
            let st = self.read();
            let pending: Vec<Pending> = names
                .iter()
                .filter_map(|n| {
                    let c = st.containers.get(n)?;
                    Some(Pending {
                        name: n.clone(),
                        info: ContainerInfo {
                            reference: c.reference.clone(),
                            subcontainers: if children { st.children(n) } else { Vec::new() },
                            spec: c.spec.clone(),
                            stats: c.history.query(query.start, query.end, query.max),
                        },
                        oldest: c.history.oldest(),
                        step_ns: c.history.step_ns(),
                    })
                })
                .collect();
            let needed = store.is_some()
                && pending
                    .iter()
                    .any(|p| p.reach(query, store_from, now).is_some());
            (pending, needed.then(|| st.machine.clone()))
        };
        if let (Some(store), Some(machine)) = (store, machine) {
            let mut budget = Budget::of(store);
            for p in &mut pending {
                let Some(reach) = p.reach(query, store_from, now) else {
                    continue;
                };
                let known_empty = lock(&self.none_stored)
                    .get(&p.name)
                    .is_some_and(|&t| reach.to <= t);
                if known_empty {
                    continue;
                }
                let Older {
                    stats: mut older,
                    none_up_to,
                } = read_older(store, &machine, &p.name, reach, &mut budget)?;
                if let Some(t) = none_up_to {
                    let mut cache = lock(&self.none_stored);
                    if cache.len() >= NONE_STORED_MAX {
                        cache.clear();
                    }
                    cache.insert(p.name.clone(), t);
                }
                older.append(&mut p.info.stats);
                p.info.stats = older;
            }
        }
        Ok(pending.into_iter().map(|p| (p.name, p.info)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(ring: &[i64], oldest: Option<i64>) -> Pending {
        Pending {
            name: "/a".into(),
            info: ContainerInfo {
                stats: ring
                    .iter()
                    .map(|&t| ContainerStats {
                        timestamp: Timestamp(t),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            },
            oldest: oldest.map(Timestamp),
            step_ns: 1,
        }
    }

    #[test]
    fn the_store_is_asked_only_for_what_the_ring_cannot_give() {
        let now = Timestamp(1_000);
        let q = |max, start: Option<i64>, end: Option<i64>| StatsQuery {
            max,
            start: start.map(Timestamp),
            end: end.map(Timestamp),
        };
        let ring = pending(&[100, 110, 120], Some(100));
        // Enough in the ring: no store.
        assert!(ring.reach(&q(Some(3), None, None), None, now).is_none());
        // More wanted: the rest, strictly before the ring's oldest sample.
        let r = ring.reach(&q(Some(5), None, None), None, now).unwrap();
        assert_eq!((r.from, r.to, r.want), (None, Timestamp(99), Some(2)));
        // A range within the ring: no store; one reaching before it: up to the ring.
        assert!(ring.reach(&q(None, Some(100), None), None, now).is_none());
        let r = ring.reach(&q(None, Some(50), None), None, now).unwrap();
        assert_eq!(
            (r.from, r.to, r.want),
            (Some(Timestamp(50)), Timestamp(99), None)
        );
        // A range ending before the ring: all from the store.
        let none = pending(&[], Some(100));
        let r = none.reach(&q(None, Some(10), Some(60)), None, now).unwrap();
        assert_eq!((r.from, r.to), (Some(Timestamp(10)), Timestamp(60)));
        // An empty ring (after a restart): everything up to the clock (and what the store
        // takes ahead of it).
        let empty = pending(&[], None);
        let r = empty.reach(&q(Some(4), None, None), None, now).unwrap();
        assert_eq!((r.to, r.want), (now.add_nanos(MAX_AHEAD_NS), Some(4)));
        // The summary's bound on how far back the store is read.
        let r = ring.reach(&q(None, Some(10), None), Some(Timestamp(40)), now);
        assert_eq!(r.unwrap().from, Some(Timestamp(40)));
        assert!(
            ring.reach(&q(None, None, None), Some(Timestamp(100)), now)
                .is_none()
        );
    }

    #[test]
    fn names_nest_by_path_components() {
        assert!(AgentState::is_within("/", "/a"));
        assert!(AgentState::is_within("/a", "/a/b"));
        assert!(!AgentState::is_within("/a", "/ab"));
        assert_eq!(parent_of("/a/b"), "/a");
        assert_eq!(parent_of("/a"), "/");
    }
}
