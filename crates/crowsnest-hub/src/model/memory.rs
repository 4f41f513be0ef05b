//! The in-memory model: every set's gauges (usage, rates, limits, requests, utilization) for
//! the whole retention, its counters (`cpu/usage`, `network/rx`, ...) newest value only (their
//! history is what the rates are for), in a compact row encoding ([`super::rows`]).
//!
//! Memory is counted as it is used (capacities of every buffer and string held). Past the
//! budget the oldest batch goes first, for every set at once; if even the newest batch alone
//! does not fit, container sets are refused (counted) until it does.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crowsnest_core::Timestamp;
use crowsnest_core::batch::{Kind, Sample, Unit, Value};

use super::rows::{cell, get_varint, put_varint, value_of};
use super::{CompactLabels, LatestValue, ModelStats, ModelStore, Point, SetInfo};
use crate::batch::{DataBatch, MetricSet, SetType};

/// At most this many gauges per set are kept over time; more are kept newest-only.
const MAX_COLUMNS: usize = 64;

/// Series ids of each `resource_id` of a metric.
type ByResource = Vec<(Option<Arc<str>>, u32)>;

/// A row's header: the slots since the previous row, the columns present and those whose
/// value changed (a cell follows for each, in column order).
struct RowHead {
    gap: u64,
    present: u64,
    changed: u64,
}

/// Reads a row's header; `previous` is the previous row's present columns.
fn read_row(it: &mut impl Iterator<Item = u8>, previous: u64) -> Option<RowHead> {
    let h = get_varint(it)?;
    let present = if h & 1 == 1 {
        previous
    } else {
        get_varint(it)?
    };
    let changed = get_varint(it)?;
    Some(RowHead {
        gap: h >> 1,
        present,
        changed: changed & present,
    })
}

/// Interned (metric, resource_id) pairs.
#[derive(Debug, Default)]
struct SeriesTable {
    entries: Vec<(Cow<'static, str>, Option<Arc<str>>)>,
    index: HashMap<Cow<'static, str>, ByResource>,
}

impl SeriesTable {
    fn find(&self, metric: &str, resource: Option<&str>) -> Option<u32> {
        self.index
            .get(metric)?
            .iter()
            .find(|(r, _)| r.as_deref() == resource)
            .map(|(_, id)| *id)
    }

    #[allow(clippy::ptr_arg, reason = "a borrowed name is kept without copying it")]
    fn intern(&mut self, metric: &Cow<'static, str>, resource: Option<&str>) -> u32 {
        if let Some(id) = self.find(metric, resource) {
            return id;
        }
        let id = u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
        let r: Option<Arc<str>> = resource.map(Arc::from);
        self.entries.push((metric.clone(), r.clone()));
        self.index.entry(metric.clone()).or_default().push((r, id));
        id
    }

    fn get(&self, id: u32) -> Option<&(Cow<'static, str>, Option<Arc<str>>)> {
        self.entries.get(id as usize)
    }
}

/// A column: one gauge of a set, kept over time. Floats are kept as integers of
/// 10^-`scale` (see [`scale_for`]).
#[derive(Debug, Clone, Copy)]
struct Col {
    series: u32,
    scale: u8,
}

impl Col {
    fn encode(self, v: Value) -> i64 {
        match (v, self.scale) {
            (Value::Int(i), 0) => i,
            (Value::Int(i), s) => i.saturating_mul(10i64.pow(u32::from(s))),
            (Value::Float(f), s) => (f * 10f64.powi(i32::from(s))).round() as i64,
        }
    }

    fn decode(self, i: i64) -> Value {
        if self.scale == 0 {
            Value::Int(i)
        } else {
            Value::Float(i as f64 / 10f64.powi(i32::from(self.scale)))
        }
    }
}

/// The decimals kept of a float: a tenth of a millicore (100 nanocores), a byte per second,
/// a hundredth of an event per second, a ten-thousandth of a ratio. Finer digits are noise
/// in a rate over seconds, and cost a byte or two per point.
fn scale_for(s: &Sample) -> u8 {
    match (s.value, s.unit) {
        (Value::Int(_), _) => 0,
        (Value::Float(_), Unit::Millicores) => 1,
        (Value::Float(_), Unit::PerSecond) => 2,
        (Value::Float(_), Unit::Count) => 4,
        (Value::Float(_), _) => 0,
    }
}

/// One set: its description, its gauges over time and its counters' newest values.
#[derive(Debug)]
struct SetEntry {
    set_type: SetType,
    labels: CompactLabels,
    create_time: Timestamp,
    scrape_time: Timestamp,
    window: Option<i64>,
    first_slot: u64,
    last_slot: u64,
    cols: Vec<Col>,
    /// Each column's value as of the first row (its last value if absent there).
    base: Vec<i64>,
    base_present: u64,
    /// Each column's last value, for the next row's deltas.
    cur: Vec<i64>,
    last_present: u64,
    /// The rows after the first.
    data: VecDeque<u8>,
    /// Counters and overflow gauges, newest value only.
    latest: Vec<(u32, Value)>,
}

impl SetEntry {
    fn new(set: &MetricSet, slot: u64) -> SetEntry {
        // Allocated once at their size: vectors that grow leave holes in the heap.
        let gauges = set
            .samples
            .iter()
            .filter(|s| s.kind != Kind::Cumulative)
            .count()
            .min(MAX_COLUMNS);
        SetEntry {
            set_type: set.set_type,
            labels: CompactLabels::new(&set.labels),
            create_time: set.create_time,
            scrape_time: set.scrape_time,
            window: set.window,
            first_slot: slot,
            last_slot: slot,
            cols: Vec::with_capacity(gauges),
            base: Vec::with_capacity(gauges),
            base_present: 0,
            cur: Vec::with_capacity(gauges),
            last_present: 0,
            data: VecDeque::new(),
            latest: Vec::with_capacity(set.samples.len() - gauges.min(set.samples.len())),
        }
    }

    fn bytes(&self, key: &str) -> usize {
        std::mem::size_of::<(String, Box<SetEntry>)>()
            + std::mem::size_of::<SetEntry>()
            + 16
            + key.len()
            + self.labels.heap_bytes()
            + self.cols.capacity() * std::mem::size_of::<Col>()
            + (self.base.capacity() + self.cur.capacity()) * 8
            + self.data.capacity()
            + self.latest.capacity() * std::mem::size_of::<(u32, Value)>()
    }

    /// Adds the set's values as the row of `slot`. `first` is true for a new entry.
    fn append(&mut self, set: &MetricSet, slot: u64, first: bool, table: &mut SeriesTable) {
        self.set_type = set.set_type;
        if !self.labels.matches(&set.labels) {
            self.labels = CompactLabels::new(&set.labels);
        }
        self.create_time = set.create_time;
        self.scrape_time = set.scrape_time;
        self.window = set.window;
        self.latest.clear();
        let mut row: [Option<i64>; MAX_COLUMNS] = [None; MAX_COLUMNS];
        for s in &set.samples {
            let sid = table.intern(&s.metric, set.resource_of(s));
            if s.kind == Kind::Cumulative {
                self.latest.push((sid, s.value));
                continue;
            }
            let c = match self.cols.iter().position(|c| c.series == sid) {
                Some(c) => c,
                None if self.cols.len() < MAX_COLUMNS => {
                    self.cols.push(Col {
                        series: sid,
                        scale: scale_for(s),
                    });
                    self.base.push(0);
                    self.cur.push(0);
                    self.cols.len() - 1
                }
                None => {
                    self.latest.push((sid, s.value));
                    continue;
                }
            };
            row[c] = Some(self.cols[c].encode(s.value));
        }
        self.latest.shrink_to_fit();
        let mut mask = 0u64;
        if first {
            for (c, v) in row.iter().enumerate().take(self.cols.len()) {
                if let Some(v) = *v {
                    self.base[c] = v;
                    self.cur[c] = v;
                    mask |= 1 << c;
                }
            }
            self.base_present = mask;
        } else {
            let mut changed = 0u64;
            let mut cells: [u64; MAX_COLUMNS] = [0; MAX_COLUMNS];
            let mut ncells = 0;
            for (c, v) in row.iter().enumerate().take(self.cols.len()) {
                let Some(v) = *v else { continue };
                if v == self.cur[c] {
                    mask |= 1 << c;
                    continue;
                }
                // A delta that has no cell (exactly 2^63) is stored as absent.
                if let Some(cl) = cell(v, self.cur[c]) {
                    self.cur[c] = v;
                    mask |= 1 << c;
                    changed |= 1 << c;
                    cells[ncells] = cl - 2;
                    ncells += 1;
                }
            }
            // Grow by an eighth, not double: the budget sees capacities.
            let need = 16 + 10 * ncells;
            if self.data.capacity() - self.data.len() < need {
                self.data.reserve_exact(self.data.len() / 8 + need);
            }
            let same = mask == self.last_present;
            put_varint(
                &mut self.data,
                (slot - self.last_slot) << 1 | u64::from(same),
            );
            if !same {
                put_varint(&mut self.data, mask);
            }
            put_varint(&mut self.data, changed);
            for cl in &cells[..ncells] {
                put_varint(&mut self.data, *cl);
            }
        }
        self.last_present = mask;
        self.last_slot = slot;
    }

    /// Drops the rows before `min_slot`. Returns false when no row is left.
    fn evict(&mut self, min_slot: u64) -> bool {
        if self.first_slot >= min_slot {
            return true;
        }
        if self.last_slot < min_slot {
            return false;
        }
        let before = self.data.len();
        while self.first_slot < min_slot {
            let mut it = self.data.iter().copied();
            let Some(row) = read_row(&mut it, self.base_present) else {
                return false;
            };
            let mut changed = row.changed;
            while changed != 0 {
                let c = changed.trailing_zeros() as usize;
                changed &= changed - 1;
                let Some(cl) = get_varint(&mut it) else {
                    return false;
                };
                if let Some(b) = self.base.get_mut(c) {
                    *b = value_of(cl + 2, *b);
                }
            }
            let used = self.data.len() - it.count();
            self.data.drain(..used);
            self.base_present = row.present;
            self.first_slot += row.gap;
        }
        if before != self.data.len() && self.data.capacity() > self.data.len() * 3 / 2 + 64 {
            self.data
                .shrink_to(self.data.len() + self.data.len() / 8 + 16);
        }
        true
    }

    /// Every (slot, value) of column `c`, oldest first.
    fn column(&self, c: usize) -> Vec<(u64, i64)> {
        let mut out = Vec::new();
        let mut v = self.base[c];
        let mut slot = self.first_slot;
        if self.base_present & (1 << c) != 0 {
            out.push((slot, v));
        }
        let mut present = self.base_present;
        let mut it = self.data.iter().copied();
        while let Some(row) = read_row(&mut it, present) {
            let mut changed = row.changed;
            while changed != 0 {
                let i = changed.trailing_zeros() as usize;
                changed &= changed - 1;
                let Some(cl) = get_varint(&mut it) else {
                    return out;
                };
                if i == c {
                    v = value_of(cl + 2, v);
                }
            }
            slot += row.gap;
            present = row.present;
            if present & (1 << c) != 0 {
                out.push((slot, v));
            }
        }
        out
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

/// The in-memory [`ModelStore`].
#[derive(Debug)]
pub struct MemoryModel {
    retention_nanos: i64,
    budget: u64,
    /// Batch times; `slots[0]` is slot `first_slot`.
    slots: VecDeque<Timestamp>,
    first_slot: u64,
    next_slot: u64,
    table: SeriesTable,
    sets: HashMap<String, Box<SetEntry>>,
    bytes: u64,
    budget_evictions: u64,
    refused_sets: u64,
}

impl MemoryModel {
    /// A model keeping `retention` of batches within `budget` bytes.
    pub fn new(retention: std::time::Duration, budget: u64) -> MemoryModel {
        MemoryModel {
            retention_nanos: i64::try_from(retention.as_nanos()).unwrap_or(i64::MAX),
            budget,
            slots: VecDeque::new(),
            first_slot: 0,
            next_slot: 0,
            table: SeriesTable::default(),
            sets: HashMap::new(),
            bytes: 0,
            budget_evictions: 0,
            refused_sets: 0,
        }
    }

    fn slot_time(&self, slot: u64) -> Option<Timestamp> {
        let i = usize::try_from(slot.checked_sub(self.first_slot)?).ok()?;
        self.slots.get(i).copied()
    }

    /// Drops slots before `self.first_slot` from every set, and sets left with none.
    fn evict_all(&mut self) {
        let min = self.first_slot;
        let mut freed = 0u64;
        self.sets.retain(|k, e| {
            let before = e.bytes(k) as u64;
            let keep = e.evict(min);
            let after = if keep { e.bytes(k) as u64 } else { 0 };
            freed += before.saturating_sub(after);
            keep
        });
        self.bytes = self.bytes.saturating_sub(freed);
    }

    fn drop_oldest_slot(&mut self) -> bool {
        if self.slots.len() <= 1 {
            return false;
        }
        self.slots.pop_front();
        self.first_slot += 1;
        true
    }
}

impl ModelStore for MemoryModel {
    fn insert(&mut self, batch: &DataBatch) {
        let slot = self.next_slot;
        self.next_slot += 1;
        if self.slots.is_empty() {
            self.first_slot = slot;
        }
        self.slots.push_back(batch.timestamp);
        let cutoff = batch.timestamp.add_nanos(-self.retention_nanos);
        while self.slots.front().is_some_and(|t| *t < cutoff) && self.drop_oldest_slot() {}
        self.evict_all();
        for (key, set) in &batch.sets {
            let (before, entry, first) = match self.sets.get_mut(key) {
                Some(e) => (e.bytes(key) as u64, e, false),
                None => {
                    let e = self
                        .sets
                        .entry(key.clone())
                        .or_insert_with(|| Box::new(SetEntry::new(set, slot)));
                    (0, e, true)
                }
            };
            entry.append(set, slot, first, &mut self.table);
            let after = entry.bytes(key) as u64;
            self.bytes = self.bytes.saturating_add(after).saturating_sub(before);
        }
        while self.bytes > self.budget && self.drop_oldest_slot() {
            self.budget_evictions += 1;
            self.evict_all();
        }
        if self.bytes > self.budget {
            // The newest batch alone is too big: refuse container sets until it fits.
            let mut victims: Vec<String> = self
                .sets
                .iter()
                .filter(|(_, e)| {
                    matches!(e.set_type, SetType::SysContainer | SetType::PodContainer)
                })
                .map(|(k, _)| k.clone())
                .collect();
            victims.sort_unstable();
            while self.bytes > self.budget {
                let Some(k) = victims.pop() else { break };
                if let Some(e) = self.sets.remove(&k) {
                    self.bytes = self.bytes.saturating_sub(e.bytes(&k) as u64);
                    self.refused_sets += 1;
                }
            }
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
            .filter(|(_, e)| e.last_slot + 1 >= newest)
            .filter_map(|(k, e)| Some(e.info(k, self.slot_time(e.last_slot)?)))
            .filter(|i| keep(i))
            .collect();
        out.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        out
    }

    fn set(&self, key: &str) -> Option<SetInfo> {
        let e = self.sets.get(key)?;
        Some(e.info(key, self.slot_time(e.last_slot)?))
    }

    fn metric_names(&self, key: &str) -> Vec<String> {
        let Some(e) = self.sets.get(key) else {
            return Vec::new();
        };
        let mut names: Vec<String> = e
            .cols
            .iter()
            .map(|c| c.series)
            .chain(e.latest.iter().map(|(s, _)| *s))
            .filter_map(|s| self.table.get(s).map(|(m, _)| m.to_string()))
            .collect();
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
        let (Some(e), Some(sid)) = (self.sets.get(key), self.table.find(metric, resource)) else {
            return Vec::new();
        };
        let within = |t: Timestamp| start.is_none_or(|s| t >= s) && end.is_none_or(|e| t <= e);
        if let Some(c) = e.cols.iter().position(|c| c.series == sid) {
            let col = e.cols[c];
            return e
                .column(c)
                .into_iter()
                .filter_map(|(slot, v)| {
                    let t = self.slot_time(slot)?;
                    within(t).then(|| Point {
                        timestamp: t,
                        value: col.decode(v),
                    })
                })
                .collect();
        }
        match (
            e.latest.iter().find(|(s, _)| *s == sid),
            self.slot_time(e.last_slot),
        ) {
            (Some((_, v)), Some(t)) if within(t) => vec![Point {
                timestamp: t,
                value: *v,
            }],
            _ => Vec::new(),
        }
    }

    fn latest(&self, key: &str) -> Vec<LatestValue> {
        let Some(e) = self.sets.get(key) else {
            return Vec::new();
        };
        let named = |sid: u32, value: Value| {
            let (m, r) = self.table.get(sid)?;
            Some(LatestValue {
                metric: m.clone(),
                resource: r.clone(),
                value,
            })
        };
        e.cols
            .iter()
            .enumerate()
            .filter(|(c, _)| e.last_present & (1 << c) != 0)
            .filter_map(|(c, col)| named(col.series, col.decode(e.cur[c])))
            .chain(e.latest.iter().filter_map(|(s, v)| named(*s, *v)))
            .collect()
    }

    fn stats(&self) -> ModelStats {
        ModelStats {
            sets: self.sets.len() as u64,
            series: self
                .sets
                .values()
                .map(|e| (e.cols.len() + e.latest.len()) as u64)
                .sum(),
            batches: self.slots.len() as u64,
            bytes: self.bytes + (self.slots.capacity() * 8) as u64,
            budget: self.budget,
            budget_evictions: self.budget_evictions,
            refused_sets: self.refused_sets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::key;
    use crate::names;
    use crowsnest_core::batch::Labels;
    use crowsnest_core::batch::names as core;
    use std::time::Duration;

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

    #[test]
    fn points_come_back_exactly_and_counters_newest_only() {
        let mut m = MemoryModel::new(Duration::from_secs(60), 1 << 30);
        m.insert(&batch(10, &[("a", 100.2, 4096), ("b", 1.0, 1)]));
        m.insert(&batch(20, &[("a", 99.125, 8192)]));
        m.insert(&batch(30, &[("a", 0.0, 4096 * 1000), ("b", 3.5, 2)]));
        let p = m.points("node:a", "cpu/usage_rate", None, None, None);
        let v: Vec<(i64, f64)> = p
            .iter()
            .map(|p| (p.timestamp.0 / S, p.value.as_f64()))
            .collect();
        assert_eq!(
            v,
            [(10, 100.2), (20, 99.1), (30, 0.0)],
            "a tenth of a millicore is kept"
        );
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
        let p = m.points("node:a", "cpu/usage", None, None, None);
        assert_eq!(
            p,
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
        let latest = m.latest("node:b");
        assert!(
            latest
                .iter()
                .any(|l| l.metric == "memory/usage" && l.value == Value::Int(2))
        );
        assert_eq!(m.current_sets(&|_| true).len(), 2);
    }

    #[test]
    fn columns_that_come_go_and_stay_the_same_round_trip() {
        // (memory/usage, memory/rss, memory/cache) per batch; None: absent.
        let rows: [[Option<i64>; 3]; 6] = [
            [Some(10), Some(5), None],
            [Some(10), None, None],
            [Some(12), Some(5), Some(7)],
            [None, Some(5), Some(7)],
            [Some(12), Some(-3), Some(i64::MAX)],
            [Some(12), Some(-3), Some(i64::MIN)],
        ];
        let mut m = MemoryModel::new(Duration::from_secs(3600), 1 << 30);
        for (t, r) in rows.iter().enumerate() {
            let mut s = MetricSet::new(SetType::Node, Labels::new([("type", "node")]));
            for (m, v) in [core::MEMORY_USAGE, core::MEMORY_RSS, core::MEMORY_CACHE]
                .into_iter()
                .zip(r)
            {
                if let Some(v) = v {
                    s.put(m, Value::Int(*v));
                }
            }
            let mut b = DataBatch {
                timestamp: Timestamp(t as i64 * S),
                ..Default::default()
            };
            b.sets.insert(key::node("a"), s);
            m.insert(&b);
        }
        let want = |c: usize, from: usize| -> Vec<(i64, Value)> {
            rows.iter()
                .enumerate()
                .skip(from)
                .filter_map(|(t, r)| r[c].map(|v| (t as i64, Value::Int(v))))
                .collect()
        };
        let got = |m: &MemoryModel, metric: &str| -> Vec<(i64, Value)> {
            m.points("node:a", metric, None, None, None)
                .iter()
                .map(|p| (p.timestamp.0 / S, p.value))
                .collect()
        };
        let names = ["memory/usage", "memory/rss", "memory/cache"];
        for (c, n) in names.iter().enumerate() {
            assert_eq!(got(&m, n), want(c, 0), "{n}");
        }
        assert!(
            m.latest("node:a")
                .iter()
                .any(|l| l.metric == "memory/rss" && l.value == Value::Int(-3))
        );
        // Evicting rebuilds the first row from the dropped ones.
        let e = m.sets.get_mut("node:a").unwrap();
        assert!(e.evict(3));
        assert_eq!(got(&m, "memory/rss"), want(1, 3));
        assert_eq!(got(&m, "memory/usage"), want(0, 3));
    }

    #[test]
    fn retention_drops_old_batches_and_gone_sets() {
        let mut m = MemoryModel::new(Duration::from_secs(25), 1 << 30);
        m.insert(&batch(10, &[("a", 1.0, 1), ("gone", 1.0, 1)]));
        for t in [20, 30, 40, 50] {
            m.insert(&batch(t, &[("a", t as f64, t)]));
        }
        let p = m.points("node:a", "memory/usage", None, None, None);
        let ts: Vec<i64> = p.iter().map(|p| p.timestamp.0 / S).collect();
        assert_eq!(ts, [30, 40, 50]);
        assert_eq!(
            p[0].value,
            Value::Int(30),
            "the base is rebuilt on eviction"
        );
        assert!(m.set("node:gone").is_none());
        assert_eq!(m.stats().batches, 3);
        assert_eq!(m.current_sets(&|_| true).len(), 1);
    }

    #[test]
    fn the_budget_drops_the_oldest_batches_first() {
        let nodes: Vec<String> = (0..50).map(|i| format!("n{i}")).collect();
        let sets = |t: i64| -> Vec<(&str, f64, i64)> {
            nodes
                .iter()
                .map(|n| (n.as_str(), t as f64 * 1.5, t * 4096))
                .collect()
        };
        let mut big = MemoryModel::new(Duration::from_secs(3600), 1 << 30);
        big.insert(&batch(0, &sets(0)));
        let one = big.stats().bytes;
        for t in 1..20 {
            big.insert(&batch(t * 10, &sets(t)));
        }
        let full = big.stats().bytes;
        assert!(full > one, "{one} {full}");
        let mut m = MemoryModel::new(Duration::from_secs(3600), (one + full) / 2);
        for t in 0..20 {
            m.insert(&batch(t * 10, &sets(t)));
        }
        let st = m.stats();
        assert!(st.bytes <= st.budget, "{st:?}");
        assert!(st.batches < 20 && st.batches > 1, "{st:?}");
        assert!(st.budget_evictions > 0);
        assert_eq!(st.refused_sets, 0);
        let p = m.points("node:n7", "memory/usage", None, None, None);
        assert_eq!(p.last().unwrap().value, Value::Int(19 * 4096));
        assert_eq!(p.len() as u64, st.batches);
    }

    #[test]
    fn a_budget_below_one_batch_refuses_container_sets() {
        let mut b = batch(0, &[("a", 1.0, 1)]);
        for i in 0..100 {
            let mut s = MetricSet::new(
                SetType::SysContainer,
                Labels::new([
                    ("type", "sys_container"),
                    ("container_name", &*format!("c{i}")),
                ]),
            );
            s.put(core::MEMORY_USAGE, Value::Int(i));
            b.sets.insert(key::sys_container("a", &format!("c{i}")), s);
        }
        let mut m = MemoryModel::new(Duration::from_secs(3600), 20_000);
        m.insert(&b);
        let st = m.stats();
        assert!(st.bytes <= 20_000, "{st:?}");
        assert!(st.refused_sets > 0, "{st:?}");
        assert!(m.set("node:a").is_some(), "the node is never refused");
    }
}
