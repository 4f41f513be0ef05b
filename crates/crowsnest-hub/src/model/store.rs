//! The model in the embedded store (`crowsnest-store`): every set's gauges go into the store
//! as one series per set and metric (the store compresses them, keeps them in a bounded head
//! and then on disk, and drops them after the retention); the hub keeps in memory only what the
//! API lists and the newest values: each set's description and the newest value of each of
//! its metrics (counters included, which are kept newest-only as in [`super::memory`]).
//!
//! What the store holds is private to the model, so it is shaped for memory: a series' labels
//! are the set's key alone (`k`), a labeled metric's `resource_id` is part of its stored name
//! (`filesystem/usage|/dev/vda`), and floats are kept as integers of a fixed precision (a
//! tenth of a millicore, a hundredth per second, a ten-thousandth of a ratio, as in
//! [`super::memory`]) so that the store's integer coding takes them.
//!
//! The budget covers both: the store flushes its head to disk early rather than grow past its
//! share, and when the descriptions alone would pass the rest, new container sets are refused
//! (counted). Without `--model-dir` the store lives in a directory of its own under the
//! system's temporary directory, removed when the hub stops.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crowsnest_core::batch::{Batch, Kind, Labels, Sample, Unit, Value};
use crowsnest_core::{Clock, Timestamp};
use crowsnest_store::{Agg, Query, Selector, Store, StoreConfig, SyncPolicy};

use super::{CompactLabels, LatestValue, ModelStats, ModelStore, Point, SetInfo};
use crate::batch::{DataBatch, SetType};

/// The label that names a set in the store.
const KEY: &str = "k";
/// Samples appended to the store at once (at set boundaries): a bounded buffer.
const APPEND_CHUNK: usize = 4096;
/// Stored names made for labeled metrics that are kept for the process's life (a few per
/// device and metric); past it they are made per sample.
const MAX_STATIC_NAMES: usize = 4096;
/// How much time the store's head spans before it is written out: what is kept in memory.
const HEAD_WINDOW: Duration = Duration::from_secs(60);

/// The decimals kept of a float (see [`super::memory`]).
fn scale_for(unit: Unit) -> u8 {
    match unit {
        Unit::Millicores => 1,
        Unit::PerSecond | Unit::BytesPerSecond => 2,
        Unit::Count => 4,
        _ => 0,
    }
}

/// One metric (and `resource_id`) as the model stores it.
#[derive(Debug)]
struct MetricEntry {
    name: Cow<'static, str>,
    resource: Option<Arc<str>>,
    /// The series name in the store.
    stored: Cow<'static, str>,
    /// `None`: integers; `Some(s)`: floats kept as integers of 10^-s.
    scale: Option<u8>,
    gauge: bool,
    unit: Unit,
}

impl MetricEntry {
    fn encode(&self, v: Value) -> Option<i64> {
        match (v, self.scale) {
            (Value::Int(i), None) => Some(i),
            (Value::Int(i), Some(s)) => Some(i.saturating_mul(10i64.pow(u32::from(s)))),
            (Value::Float(f), s) if f.is_finite() => {
                Some((f * 10f64.powi(i32::from(s.unwrap_or(0)))).round() as i64)
            }
            (Value::Float(_), _) => None,
        }
    }

    fn decode(&self, i: i64) -> Value {
        match self.scale {
            None => Value::Int(i),
            Some(s) => Value::Float(i as f64 / 10f64.powi(i32::from(s))),
        }
    }
}

/// The ids of one metric name, one per resource id (`None`: no resource).
type IdsByResource = Vec<(Option<Arc<str>>, u16)>;

/// Metrics by id (`u16`: a set's newest values name their metrics by id).
#[derive(Debug, Default)]
struct MetricTable {
    entries: Vec<MetricEntry>,
    by_name: HashMap<Cow<'static, str>, IdsByResource>,
    by_stored: HashMap<String, u16>,
    static_names: usize,
}

impl MetricTable {
    fn find(&self, name: &str, resource: Option<&str>) -> Option<u16> {
        self.by_name
            .get(name)?
            .iter()
            .find(|(r, _)| r.as_deref() == resource)
            .map(|(_, id)| *id)
    }

    fn intern(&mut self, s: &Sample, resource: Option<&str>) -> Option<u16> {
        if let Some(id) = self.find(&s.metric, resource) {
            return Some(id);
        }
        let id = u16::try_from(self.entries.len()).ok()?;
        let stored: Cow<'static, str> = match resource {
            None => s.metric.clone(),
            Some(r) => {
                let name = format!("{}|{r}", s.metric);
                if self.static_names < MAX_STATIC_NAMES {
                    self.static_names += 1;
                    // A bounded set of names (metrics x devices), kept for the process's life
                    // so that the store finds their series by address, without hashing.
                    Cow::Borrowed(Box::leak(name.into_boxed_str()))
                } else {
                    Cow::Owned(name)
                }
            }
        };
        let gauge = s.kind == Kind::Gauge;
        let scale = match s.value {
            Value::Float(_) => Some(scale_for(s.unit)),
            Value::Int(_) => None,
        };
        let r: Option<Arc<str>> = resource.map(Arc::from);
        self.by_stored.insert(stored.to_string(), id);
        self.by_name
            .entry(s.metric.clone())
            .or_default()
            .push((r.clone(), id));
        self.entries.push(MetricEntry {
            name: s.metric.clone(),
            resource: r,
            stored,
            scale,
            gauge,
            unit: s.unit,
        });
        Some(id)
    }

    fn get(&self, id: u16) -> Option<&MetricEntry> {
        self.entries.get(usize::from(id))
    }
}

/// What the model keeps in memory of a set.
#[derive(Debug)]
struct SetMeta {
    set_type: SetType,
    labels: CompactLabels,
    store_labels: Arc<Labels>,
    create_time: Timestamp,
    scrape_time: Timestamp,
    window: Option<i64>,
    last_slot: u64,
    /// The metric ids of `values` (shared by the sets with the same metrics).
    layout: Arc<[u16]>,
    /// The newest value of each metric, encoded as stored.
    values: Box<[i64]>,
}

impl SetMeta {
    fn bytes(&self, key: &str) -> usize {
        // The map entry (key box, meta), the key, the store labels (Arc, Vec, one pair of
        // strings), the values.
        std::mem::size_of::<(Box<str>, SetMeta)>()
            + 8
            + key.len()
            + 16
            + 24
            + 48
            + 1
            + key.len()
            + self.values.len() * 8
            + self.labels.heap_bytes()
    }

    fn info(&self, key: &str, last_batch: Timestamp) -> SetInfo {
        SetInfo {
            key: key.to_owned(),
            set_type: self.set_type,
            labels: Arc::new(self.labels.to_labels()),
            create_time: self.create_time,
            scrape_time: self.scrape_time,
            window: self.window,
            last_batch,
        }
    }
}

/// The store, and the directory to remove after it is closed (a temporary one).
struct Owned {
    store: Option<Store>,
    remove: Option<PathBuf>,
}

impl Drop for Owned {
    fn drop(&mut self) {
        if let Some(s) = self.store.take()
            && let Err(e) = s.close()
        {
            tracing::warn!(error = %e, "closing the model's store");
        }
        if let Some(d) = &self.remove {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

impl Owned {
    fn store(&self) -> Option<&Store> {
        self.store.as_ref()
    }
}

/// The [`ModelStore`] in `crowsnest-store`.
pub struct StoreModel {
    owned: Arc<Owned>,
    dir: PathBuf,
    retention_nanos: i64,
    budget: u64,
    store_budget: u64,
    slots: VecDeque<Timestamp>,
    first_slot: u64,
    next_slot: u64,
    metrics: MetricTable,
    layouts: HashMap<Arc<[u16]>, ()>,
    sets: HashMap<Box<str>, SetMeta>,
    meta_bytes: u64,
    refused_sets: u64,
}

impl std::fmt::Debug for StoreModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreModel")
            .field("dir", &self.dir)
            .field("sets", &self.sets.len())
            .finish_non_exhaustive()
    }
}

/// The prefix of the model's temporary directories (`<prefix><pid>-<n>`).
const TEMP_PREFIX: &str = "crowsnest-hub-model-";

/// Removes the temporary directories of hubs that are gone (killed before they could remove
/// their own): those whose process id names no running process.
fn sweep_temp_dirs(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(TEMP_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            match std::fs::remove_dir_all(e.path()) {
                Ok(()) => tracing::info!(dir = %e.path().display(), "removed a gone hub's model"),
                Err(err) => {
                    tracing::debug!(dir = %e.path().display(), error = %err, "cannot remove")
                }
            }
        }
    }
}

/// A fresh directory under the system's temporary directory.
fn temp_dir() -> std::io::Result<PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let base = std::env::temp_dir();
    sweep_temp_dirs(&base);
    for _ in 0..100 {
        let d = base.join(format!(
            "{TEMP_PREFIX}{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        match std::fs::create_dir(&d) {
            Ok(()) => return Ok(d),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other(
        "no free name for the model's directory",
    ))
}

impl StoreModel {
    /// A model in `dir` (a temporary directory when `None`) keeping `retention` within
    /// `budget` bytes; the store's times come from `clock`.
    pub fn open(
        dir: Option<&Path>,
        retention: Duration,
        budget: u64,
        clock: Arc<dyn Clock>,
    ) -> Result<StoreModel, (PathBuf, String)> {
        let (dir, remove) = match dir {
            Some(d) => (d.to_owned(), None),
            None => {
                let d = temp_dir().map_err(|e| (std::env::temp_dir(), e.to_string()))?;
                (d.clone(), Some(d))
            }
        };
        // Three quarters for the store (head and index), the rest for the sets' descriptions.
        let store_budget = (budget / 4 * 3).max(64 << 10);
        let raw = retention.max(Duration::from_secs(60));
        let mut cfg = StoreConfig::new(&dir);
        cfg.raw_retention = raw;
        cfg.retention = raw;
        cfg.memory_limit = store_budget;
        cfg.sync = SyncPolicy::Interval(Duration::from_secs(10));
        cfg.head_window = HEAD_WINDOW;
        // Points are read back raw, within a short retention: rollups would only hold blocks
        // (and their indexes in memory) for hours.
        cfg.rollups = false;
        let store = Store::open(cfg, clock).map_err(|e| {
            if let Some(d) = &remove {
                let _ = std::fs::remove_dir_all(d);
            }
            (dir.clone(), e.to_string())
        })?;
        Ok(StoreModel {
            owned: Arc::new(Owned {
                store: Some(store),
                remove,
            }),
            dir,
            retention_nanos: i64::try_from(retention.as_nanos()).unwrap_or(i64::MAX),
            budget,
            store_budget,
            slots: VecDeque::new(),
            first_slot: 0,
            next_slot: 0,
            metrics: MetricTable::default(),
            layouts: HashMap::new(),
            sets: HashMap::new(),
            meta_bytes: 0,
            refused_sets: 0,
        })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn store(&self) -> Option<&Store> {
        self.owned.store()
    }

    fn slot_time(&self, slot: u64) -> Option<Timestamp> {
        let i = usize::try_from(slot.checked_sub(self.first_slot)?).ok()?;
        self.slots.get(i).copied()
    }

    fn layout(&mut self, ids: &[u16]) -> Arc<[u16]> {
        if let Some((l, ())) = self.layouts.get_key_value(ids) {
            return l.clone();
        }
        let l: Arc<[u16]> = Arc::from(ids);
        self.layouts.insert(l.clone(), ());
        l
    }

    fn append(&self, batch: &mut Batch) {
        if batch.samples.is_empty() {
            return;
        }
        if let Some(s) = self.store()
            && let Err(e) = s.append(batch)
        {
            tracing::warn!(error = %e, "the model's store refused a batch");
        }
        batch.samples.clear();
    }

    fn decode_latest(&self, meta: &SetMeta, id: u16) -> Option<Value> {
        let i = meta.layout.iter().position(|x| *x == id)?;
        Some(self.metrics.get(id)?.decode(*meta.values.get(i)?))
    }
}

impl ModelStore for StoreModel {
    fn insert(&mut self, batch: &DataBatch) {
        let slot = self.next_slot;
        self.next_slot += 1;
        if self.slots.is_empty() {
            self.first_slot = slot;
        }
        self.slots.push_back(batch.timestamp);
        let cutoff = batch.timestamp.add_nanos(-self.retention_nanos);
        while self.slots.len() > 1 && self.slots.front().is_some_and(|t| *t < cutoff) {
            self.slots.pop_front();
            self.first_slot += 1;
        }
        let first = self.first_slot;
        let mut freed = 0u64;
        self.sets.retain(|k, m| {
            let keep = m.last_slot >= first;
            if !keep {
                freed += m.bytes(k) as u64;
            }
            keep
        });
        self.meta_bytes = self.meta_bytes.saturating_sub(freed);
        let over =
            self.store().map_or(0, |s| s.stats().bytes_in_memory) + self.meta_bytes > self.budget;
        let mut out = Batch {
            timestamp: batch.timestamp,
            samples: Vec::with_capacity(APPEND_CHUNK.min(batch.sets.len() * 16 + 16)),
        };
        let (mut ids, mut vals): (Vec<u16>, Vec<i64>) = (Vec::new(), Vec::new());
        for (key, set) in &batch.sets {
            ids.clear();
            vals.clear();
            for s in &set.samples {
                let Some(id) = self.metrics.intern(s, set.resource_of(s)) else {
                    continue;
                };
                let Some(e) = self.metrics.get(id) else {
                    continue;
                };
                let Some(v) = e.encode(s.value) else {
                    continue;
                };
                if ids.contains(&id) {
                    continue;
                }
                ids.push(id);
                vals.push(v);
            }
            let layout = self.layout(&ids);
            let meta = match self.sets.get_mut(key.as_str()) {
                Some(m) => m,
                None => {
                    if over && matches!(set.set_type, SetType::PodContainer | SetType::SysContainer)
                    {
                        self.refused_sets += 1;
                        continue;
                    }
                    let m = SetMeta {
                        set_type: set.set_type,
                        labels: CompactLabels::new(&set.labels),
                        store_labels: Arc::new(Labels::new([(KEY, key.as_str())])),
                        create_time: set.create_time,
                        scrape_time: set.scrape_time,
                        window: set.window,
                        last_slot: slot,
                        layout: layout.clone(),
                        values: Box::default(),
                    };
                    self.meta_bytes += m.bytes(key) as u64;
                    self.sets.entry(key.as_str().into()).or_insert(m)
                }
            };
            meta.set_type = set.set_type;
            if !meta.labels.matches(&set.labels) {
                let before = meta.labels.heap_bytes() as u64;
                meta.labels = CompactLabels::new(&set.labels);
                self.meta_bytes =
                    (self.meta_bytes + meta.labels.heap_bytes() as u64).saturating_sub(before);
            }
            meta.create_time = set.create_time;
            meta.scrape_time = set.scrape_time;
            meta.window = set.window;
            meta.last_slot = slot;
            let before = meta.values.len();
            if before == vals.len() {
                meta.values.copy_from_slice(&vals);
            } else {
                meta.values = vals.as_slice().into();
            }
            self.meta_bytes =
                (self.meta_bytes + vals.len() as u64 * 8).saturating_sub(before as u64 * 8);
            meta.layout = layout;
            let store_labels = meta.store_labels.clone();
            for (id, v) in ids.iter().zip(&vals) {
                let Some(e) = self.metrics.get(*id) else {
                    continue;
                };
                if !e.gauge {
                    continue;
                }
                out.samples.push(Sample {
                    metric: e.stored.clone(),
                    kind: Kind::Gauge,
                    unit: e.unit,
                    labels: store_labels.clone(),
                    value: Value::Int(*v),
                });
            }
            if out.samples.len() >= APPEND_CHUNK {
                self.append(&mut out);
            }
        }
        self.append(&mut out);
        // Layouts no set uses any more.
        if self.layouts.len() > 64 {
            self.layouts.retain(|l, ()| Arc::strong_count(l) > 1);
        }
    }

    fn newest(&self) -> Option<Timestamp> {
        self.slots.back().copied()
    }

    fn current_sets(&self, keep: &dyn Fn(&SetInfo) -> bool) -> Vec<SetInfo> {
        let newest = self.next_slot.saturating_sub(1);
        let mut out: Vec<SetInfo> = self
            .sets
            .iter()
            .filter(|(_, m)| m.last_slot + 1 >= newest)
            .filter_map(|(k, m)| Some(m.info(k, self.slot_time(m.last_slot)?)))
            .filter(|i| keep(i))
            .collect();
        out.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        out
    }

    fn set(&self, key: &str) -> Option<SetInfo> {
        let m = self.sets.get(key)?;
        Some(m.info(key, self.slot_time(m.last_slot)?))
    }

    fn metric_names(&self, key: &str) -> Vec<String> {
        let Some(m) = self.sets.get(key) else {
            return Vec::new();
        };
        let mut names: Vec<String> = m
            .layout
            .iter()
            .filter_map(|id| self.metrics.get(*id).map(|e| e.name.to_string()))
            .collect();
        if let Some(s) = self.store() {
            for info in s.series(&Selector::default().with(KEY, key)) {
                if let Some(e) = self
                    .metrics
                    .by_stored
                    .get(&*info.metric)
                    .and_then(|id| self.metrics.get(*id))
                {
                    names.push(e.name.to_string());
                }
            }
        }
        names.sort_unstable();
        names.dedup();
        names
    }

    fn points(
        &self,
        key: &str,
        metric: &str,
        resource: Option<&str>,
        start: Option<Timestamp>,
        end: Option<Timestamp>,
    ) -> Vec<Point> {
        let (Some(m), Some(id)) = (self.sets.get(key), self.metrics.find(metric, resource)) else {
            return Vec::new();
        };
        let Some(e) = self.metrics.get(id) else {
            return Vec::new();
        };
        let (Some(oldest), Some(newest)) = (self.slots.front(), self.slots.back()) else {
            return Vec::new();
        };
        let from = start.map_or(*oldest, |s| s.max(*oldest));
        let to = end.map_or(*newest, |e| e.min(*newest));
        if from > to {
            return Vec::new();
        }
        if !e.gauge {
            // Counters: the newest value only (their history is what the rates are for).
            return match (self.decode_latest(m, id), self.slot_time(m.last_slot)) {
                (Some(value), Some(t)) if t >= from && t <= to => vec![Point {
                    timestamp: t,
                    value,
                }],
                _ => Vec::new(),
            };
        }
        let Some(s) = self.store() else {
            return Vec::new();
        };
        let q = Query {
            selector: Selector::metric(e.stored.as_ref()).with(KEY, key),
            start: from,
            end: to,
            step: None,
            agg: Agg::Raw,
        };
        match s.query(&q) {
            Ok(series) => {
                let mut points: Vec<Point> = series
                    .into_iter()
                    .flat_map(|r| r.points)
                    .map(|(t, v)| Point {
                        timestamp: t,
                        value: match v {
                            Value::Int(i) => e.decode(i),
                            Value::Float(f) => e.decode(f as i64),
                        },
                    })
                    .collect();
                points.sort_by_key(|p| p.timestamp);
                points
            }
            Err(err) => {
                tracing::warn!(error = %err, key, metric, "reading the model's store");
                Vec::new()
            }
        }
    }

    fn latest(&self, key: &str) -> Vec<LatestValue> {
        let Some(m) = self.sets.get(key) else {
            return Vec::new();
        };
        m.layout
            .iter()
            .zip(m.values.iter())
            .filter_map(|(id, v)| {
                let e = self.metrics.get(*id)?;
                Some(LatestValue {
                    metric: e.name.clone(),
                    resource: e.resource.clone(),
                    value: e.decode(*v),
                })
            })
            .collect()
    }

    fn stats(&self) -> ModelStats {
        let st = self.store().map(Store::stats).unwrap_or_default();
        ModelStats {
            sets: self.sets.len() as u64,
            series: st.series,
            batches: self.slots.len() as u64,
            bytes: st.bytes_in_memory
                + self.meta_bytes
                + (self.slots.capacity() * 8) as u64
                + (self.layouts.len() * 64) as u64,
            budget: self.budget,
            budget_evictions: st.budget_flushes,
            refused_sets: self.refused_sets,
        }
    }

    fn maintenance(&self) -> Option<Box<dyn Fn() + Send + Sync>> {
        let owned = self.owned.clone();
        let store_budget = self.store_budget;
        Some(Box::new(move || {
            if let Some(s) = owned.store()
                && let Err(e) = s.maintain()
            {
                tracing::warn!(error = %e, budget = store_budget, "maintaining the model's store");
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{MetricSet, key};
    use crate::names;
    use crowsnest_core::ManualClock;
    use crowsnest_core::batch::names as core;

    const S: i64 = 1_000_000_000;

    fn batch(t: i64, sets: &[(&str, f64, i64)]) -> DataBatch {
        let mut b = DataBatch {
            timestamp: Timestamp(t * S),
            ..Default::default()
        };
        for (node, cpu, mem) in sets {
            let mut s = MetricSet::new(
                SetType::Node,
                Labels::new([("type", "node"), ("nodename", *node)]),
            );
            s.put(names::CPU_USAGE_RATE, Value::Float(*cpu));
            s.put(core::MEMORY_USAGE, Value::Int(*mem));
            s.put(core::CPU_USAGE, Value::Int(t * 1000));
            s.put_labeled(core::FILESYSTEM_USAGE, "/dev/vda", Value::Int(mem / 2));
            b.sets.insert(key::node(node), s);
        }
        b
    }

    fn model(retention: u64, clock: &Arc<ManualClock>) -> StoreModel {
        StoreModel::open(
            None,
            Duration::from_secs(retention),
            64 << 20,
            clock.clone(),
        )
        .unwrap()
    }

    #[test]
    fn points_come_back_from_the_store_and_counters_newest_only() {
        let clock = Arc::new(ManualClock::new(Timestamp(30 * S)));
        let mut m = model(60, &clock);
        let dir = m.dir().to_owned();
        m.insert(&batch(10, &[("a", 100.2, 4096), ("b", 1.0, 1)]));
        m.insert(&batch(20, &[("a", 99.125, 8192)]));
        m.insert(&batch(30, &[("a", 0.0, 4096 * 1000), ("b", 3.5, 2)]));
        let v: Vec<(i64, f64)> = m
            .points("node:a", "cpu/usage_rate", None, None, None)
            .iter()
            .map(|p| (p.timestamp.0 / S, p.value.as_f64()))
            .collect();
        assert_eq!(v, [(10, 100.2), (20, 99.1), (30, 0.0)]);
        let p = m.points("node:b", "memory/usage", None, None, None);
        let v: Vec<(i64, Value)> = p.iter().map(|p| (p.timestamp.0 / S, p.value)).collect();
        assert_eq!(v, [(10, Value::Int(1)), (30, Value::Int(2))]);
        let p = m.points("node:a", "filesystem/usage", Some("/dev/vda"), None, None);
        assert_eq!(p.len(), 3);
        assert_eq!(p[2].value, Value::Int(4096 * 500));
        assert!(
            m.points("node:a", "filesystem/usage", None, None, None)
                .is_empty()
        );
        assert_eq!(
            m.points("node:a", "cpu/usage", None, None, None),
            [Point {
                timestamp: Timestamp(30 * S),
                value: Value::Int(30_000)
            }]
        );
        let p = m.points(
            "node:a",
            "memory/usage",
            None,
            Some(Timestamp(15 * S)),
            Some(Timestamp(20 * S)),
        );
        assert_eq!(p.len(), 1);
        assert_eq!(
            m.metric_names("node:a"),
            [
                "cpu/usage",
                "cpu/usage_rate",
                "filesystem/usage",
                "memory/usage"
            ]
        );
        assert!(
            m.latest("node:b")
                .iter()
                .any(|l| l.metric == "memory/usage" && l.value == Value::Int(2))
        );
        assert_eq!(m.current_sets(&|_| true).len(), 2);
        assert!(m.stats().bytes > 0);
        let maintain = m.maintenance().unwrap();
        maintain();
        assert!(dir.exists());
        drop(maintain);
        drop(m);
        assert!(!dir.exists(), "the temporary directory goes with the model");
    }

    #[test]
    fn retention_drops_old_batches_and_gone_sets() {
        let clock = Arc::new(ManualClock::new(Timestamp(50 * S)));
        let mut m = model(25, &clock);
        m.insert(&batch(10, &[("a", 1.0, 1), ("gone", 1.0, 1)]));
        for t in [20, 30, 40, 50] {
            m.insert(&batch(t, &[("a", t as f64, t)]));
        }
        let p = m.points("node:a", "memory/usage", None, None, None);
        let ts: Vec<i64> = p.iter().map(|p| p.timestamp.0 / S).collect();
        assert_eq!(ts, [30, 40, 50]);
        assert!(m.set("node:gone").is_none());
        assert_eq!(m.stats().batches, 3);
        assert_eq!(m.current_sets(&|_| true).len(), 1);
    }

    #[test]
    fn a_gone_hubs_directory_is_swept_and_rollups_are_not_made() {
        let base = tempfile::tempdir().unwrap();
        // Process ids are below 2^22 on Linux: this one runs nowhere.
        let gone = base.path().join(format!("{TEMP_PREFIX}4294967-0"));
        let mine = base
            .path()
            .join(format!("{TEMP_PREFIX}{}-9", std::process::id()));
        let other = base.path().join("crowsnest-hub-model-notapid");
        for d in [&gone, &mine, &other] {
            std::fs::create_dir(d).unwrap();
        }
        sweep_temp_dirs(base.path());
        assert!(!gone.exists() && mine.exists() && other.exists());

        let clock = Arc::new(ManualClock::new(Timestamp(0)));
        let mut m = model(60, &clock);
        for t in 0..400 {
            clock.set(Timestamp(t * S));
            m.insert(&batch(t, &[("a", 1.0, t)]));
            if t % 10 == 0 {
                m.maintenance().unwrap()();
            }
        }
        let files = |level: &str| std::fs::read_dir(m.dir().join(level)).map_or(0, |d| d.count());
        assert!(files("raw") > 0);
        assert_eq!((files("10s"), files("1m")), (0, 0), "no rollups");
        let p = m.points("node:a", "memory/usage", None, None, None);
        assert_eq!(
            p.len(),
            61,
            "the retention's points (both ends), from segments and head"
        );
        assert_eq!(p.last().unwrap().value, Value::Int(399));
    }

    #[test]
    fn a_given_directory_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(Timestamp(10 * S)));
        let mut m = StoreModel::open(
            Some(dir.path()),
            Duration::from_secs(60),
            1 << 20,
            clock.clone(),
        )
        .unwrap();
        m.insert(&batch(10, &[("a", 1.0, 1)]));
        drop(m);
        assert!(dir.path().join("series.log").exists());
    }
}
