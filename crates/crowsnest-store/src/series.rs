//! The series model: a series is a metric name plus a sorted label set, with the kind, unit and
//! value kind of its first sample, interned to a dense `u32` id in order of first appearance.
//!
//! [`Interner`] is the writer's side (sample -> id, on the hot path: a label set shared by a
//! container's samples is found by its `Arc` pointer first, then by content); the readers'
//! side (label -> ids) is in `index.rs`. Definitions are persisted in the series log
//! (`serieslog.rs`) in the record format of [`encode_def`].

use std::borrow::Cow;
use std::sync::Arc;

use crowsnest_core::batch::{Kind, Labels, Sample, Unit, Value};

use crate::codec::DecodeError;
use crate::codec::varint::{Cursor, put_bytes, put_u64};
use crate::hash::{FxHashMap, map};

/// A series' id: dense, from 0, in order of first appearance.
pub(crate) type SeriesId = u32;

/// How a series' values are stored, fixed by its first sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ValueKind {
    Int,
    Float,
}

impl ValueKind {
    pub(crate) fn of(v: Value) -> Self {
        match v {
            Value::Int(_) => ValueKind::Int,
            Value::Float(_) => ValueKind::Float,
        }
    }
}

/// A value converted to a series' kind, or `None` when that would lose information: an
/// integer beyond 2^53 into a float series, a float that is not a whole i64 into an integer
/// series. The store drops such samples (reason `kind_mismatch`).
pub(crate) fn convert(v: Value, to: ValueKind) -> Option<Value> {
    match (v, to) {
        (Value::Int(_), ValueKind::Int) | (Value::Float(_), ValueKind::Float) => Some(v),
        (Value::Int(i), ValueKind::Float) => {
            (i.unsigned_abs() <= 1 << 53).then_some(Value::Float(i as f64))
        }
        (Value::Float(f), ValueKind::Int) => {
            let ok = f.fract() == 0.0 && f >= -(2f64.powi(63)) && f < 2f64.powi(63);
            ok.then_some(Value::Int(f as i64))
        }
    }
}

/// What a series is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SeriesMeta {
    pub(crate) metric: Arc<str>,
    pub(crate) labels: Arc<Labels>,
    pub(crate) kind: Kind,
    pub(crate) unit: Unit,
    pub(crate) vkind: ValueKind,
}

fn kind_code(k: Kind) -> u8 {
    match k {
        Kind::Cumulative => 0,
        Kind::Gauge => 1,
    }
}

fn kind_from(c: u8) -> Option<Kind> {
    Some(match c {
        0 => Kind::Cumulative,
        1 => Kind::Gauge,
        _ => return None,
    })
}

fn unit_code(u: Unit) -> u8 {
    match u {
        Unit::Count => 0,
        Unit::Bytes => 1,
        Unit::Nanoseconds => 2,
        Unit::Microseconds => 3,
        Unit::Milliseconds => 4,
        Unit::Millicores => 5,
        Unit::PerSecond => 6,
        Unit::BytesPerSecond => 7,
    }
}

fn unit_from(c: u8) -> Option<Unit> {
    Some(match c {
        0 => Unit::Count,
        1 => Unit::Bytes,
        2 => Unit::Nanoseconds,
        3 => Unit::Microseconds,
        4 => Unit::Milliseconds,
        5 => Unit::Millicores,
        6 => Unit::PerSecond,
        7 => Unit::BytesPerSecond,
        _ => return None,
    })
}

/// A series definition record's payload: id, metric, kind, unit, value kind, labels.
pub(crate) fn encode_def(id: SeriesId, m: &SeriesMeta, out: &mut Vec<u8>) {
    put_u64(out, u64::from(id));
    put_bytes(out, m.metric.as_bytes());
    out.push(kind_code(m.kind));
    out.push(unit_code(m.unit));
    out.push(match m.vkind {
        ValueKind::Int => 0,
        ValueKind::Float => 1,
    });
    put_u64(out, m.labels.len() as u64);
    for (k, v) in m.labels.iter() {
        put_bytes(out, k.as_bytes());
        put_bytes(out, v.as_bytes());
    }
}

/// A decoded series definition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SeriesDef {
    pub(crate) id: SeriesId,
    pub(crate) metric: String,
    pub(crate) labels: Labels,
    pub(crate) kind: Kind,
    pub(crate) unit: Unit,
    pub(crate) vkind: ValueKind,
}

pub(crate) fn decode_def(payload: &[u8]) -> Result<SeriesDef, DecodeError> {
    let mut c = Cursor::new(payload);
    let id = c.varint_u32("series id")?;
    let metric = c.str_prefixed("metric")?.to_owned();
    let kind = kind_from(c.u8("kind")?).ok_or(DecodeError::new("kind", "unknown code"))?;
    let unit = unit_from(c.u8("unit")?).ok_or(DecodeError::new("unit", "unknown code"))?;
    let vkind = match c.u8("value kind")? {
        0 => ValueKind::Int,
        1 => ValueKind::Float,
        _ => return Err(DecodeError::new("value kind", "unknown code")),
    };
    let n = c.len(c.remaining() / 2, "label count")?;
    let mut pairs = Vec::with_capacity(n);
    for _ in 0..n {
        let k = c.str_prefixed("label name")?;
        let v = c.str_prefixed("label value")?;
        pairs.push((k.to_owned(), v.to_owned()));
    }
    crate::record::expect_end(&c, "series definition")?;
    let labels = Labels::new(pairs);
    if labels.len() != n {
        return Err(DecodeError::new("labels", "repeated label name"));
    }
    Ok(SeriesDef {
        id,
        metric,
        labels,
        kind,
        unit,
        vkind,
    })
}

/// The writer's map from samples to series ids.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    metrics: FxHashMap<Arc<str>, u32>,
    label_sets: FxHashMap<Arc<Labels>, u32>,
    label_list: Vec<Arc<Labels>>,
    /// (label set id << 32 | metric id) -> series.
    by_key: FxHashMap<u64, SeriesId>,
    /// `Arc<Labels>` pointer -> (the Arc, kept alive so the pointer is not reused; its id).
    by_ptr: FxHashMap<usize, (Arc<Labels>, u32)>,
    last_ptr: Option<(usize, u32)>,
    /// Per label set: its series with `'static` metric names, by name address, in the order
    /// they first came; and where the last lookup ended. A container's samples come in the
    /// same order every time, so the next one is usually the next entry: no hashing.
    by_set: Vec<Vec<(usize, usize, SeriesId)>>,
    cursor: (u32, usize),
    /// Approximate heap bytes of the maps above (kept as they grow).
    bytes: usize,
    /// Per series: its value kind.
    pub(crate) vkinds: Vec<ValueKind>,
}

/// A sample's series: known, or new (to be defined with this meta).
pub(crate) enum Resolved {
    Known(SeriesId),
    New(SeriesMeta),
}

impl Interner {
    pub(crate) fn new() -> Self {
        Self {
            metrics: map(),
            label_sets: map(),
            by_key: map(),
            by_ptr: map(),
            ..Default::default()
        }
    }

    /// Id slots (live series and free ids): ids are below this.
    pub(crate) fn slots(&self) -> usize {
        self.vkinds.len()
    }

    fn label_set(&mut self, labels: &Arc<Labels>) -> u32 {
        let ptr = Arc::as_ptr(labels) as usize;
        if let Some((p, id)) = self.last_ptr
            && p == ptr
        {
            return id;
        }
        let id = if let Some((_, id)) = self.by_ptr.get(&ptr) {
            *id
        } else {
            let id = self.intern_labels(labels);
            // Bounded: forget pointers (containers come and go) rather than grow.
            if self.by_ptr.len() >= 4 * self.label_list.len() + 4096 {
                self.by_ptr.clear();
            }
            self.by_ptr.insert(ptr, (labels.clone(), id));
            id
        };
        self.last_ptr = Some((ptr, id));
        id
    }

    fn intern_labels(&mut self, labels: &Arc<Labels>) -> u32 {
        if let Some(&id) = self.label_sets.get(&**labels) {
            return id;
        }
        let id = self.label_list.len() as u32;
        self.label_list.push(labels.clone());
        self.label_sets.insert(labels.clone(), id);
        self.bytes += 96
            + labels
                .iter()
                .map(|(k, v)| 48 + k.len() + v.len())
                .sum::<usize>();
        id
    }

    fn metric(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.metrics.get(name) {
            return id;
        }
        let id = self.metrics.len() as u32;
        self.metrics.insert(Arc::from(name), id);
        self.bytes += 56 + name.len();
        id
    }

    /// The series of `s`.
    #[inline]
    pub(crate) fn resolve(&mut self, s: &Sample) -> Resolved {
        let ls = self.label_set(&s.labels);
        // A `'static` name's address stands for its content (static memory never changes);
        // an owned name's address may be reused by another string, so it is hashed.
        let stat = match &s.metric {
            Cow::Borrowed(b) => Some((b.as_ptr() as usize, b.len())),
            Cow::Owned(_) => None,
        };
        if let (Some((p, l)), Some(list)) = (stat, self.by_set.get(ls as usize)) {
            let next = if self.cursor.0 == ls {
                self.cursor.1 + 1
            } else {
                0
            };
            for i in [next, 0] {
                if let Some(&(ep, el, id)) = list.get(i)
                    && ep == p
                    && el == l
                {
                    self.cursor = (ls, i);
                    return Resolved::Known(id);
                }
            }
        }
        let m = self.metric(&s.metric);
        let key = u64::from(ls) << 32 | u64::from(m);
        match self.by_key.get(&key) {
            Some(&id) => {
                if let Some((p, l)) = stat {
                    self.remember(ls, p, l, id);
                }
                Resolved::Known(id)
            }
            None => Resolved::New(SeriesMeta {
                metric: self.metric_arc(&s.metric),
                labels: self.label_list[ls as usize].clone(),
                kind: s.kind,
                unit: s.unit,
                vkind: ValueKind::of(s.value),
            }),
        }
    }

    fn remember(&mut self, ls: u32, p: usize, l: usize, id: SeriesId) {
        let i = ls as usize;
        if self.by_set.len() <= i {
            self.by_set.resize_with(i + 1, Vec::new);
        }
        let list = &mut self.by_set[i];
        // Bounded: a label set has a few dozen metrics.
        if list.len() < 256 && !list.iter().any(|e| e.0 == p && e.1 == l) {
            list.push((p, l, id));
            self.bytes += 24;
        }
        self.cursor = (ls, list.iter().position(|e| e.2 == id).unwrap_or(0));
    }

    fn metric_arc(&self, name: &str) -> Arc<str> {
        self.metrics
            .get_key_value(name)
            .map_or_else(|| Arc::from(name), |(k, _)| k.clone())
    }

    /// Records series `id` (new, reusing a free id, or loaded from the series log).
    pub(crate) fn add_at(&mut self, id: SeriesId, meta: &SeriesMeta) {
        let ls = self.intern_labels(&meta.labels);
        let m = self.metric(&meta.metric);
        self.by_key.insert(u64::from(ls) << 32 | u64::from(m), id);
        let i = id as usize;
        if self.vkinds.len() <= i {
            self.bytes += i + 1 - self.vkinds.len();
            self.vkinds.resize(i + 1, ValueKind::Float);
        }
        self.vkinds[i] = meta.vkind;
        self.bytes += 24;
    }

    /// An interner of the index's live series (after series were removed: what the removed
    /// ones held is given back), with as many id slots as the index.
    pub(crate) fn rebuilt(ix: &crate::index::Index) -> Self {
        let mut i = Interner::new();
        for (id, m) in ix.iter() {
            i.add_at(id, m);
        }
        if i.vkinds.len() < ix.slots() {
            i.bytes += ix.slots() - i.vkinds.len();
            i.vkinds.resize(ix.slots(), ValueKind::Float);
        }
        i
    }

    /// The shared copies of a definition's metric and labels (so every series of a container
    /// points to one `Labels`).
    pub(crate) fn shared(&mut self, metric: &str, labels: Labels) -> (Arc<str>, Arc<Labels>) {
        self.metric(metric);
        let m = self.metric_arc(metric);
        let l = match self.label_sets.get_key_value(&labels) {
            Some((k, _)) => k.clone(),
            None => Arc::new(labels),
        };
        (m, l)
    }

    /// Approximate heap bytes (the label sets are counted here, once).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.bytes + self.by_ptr.len() * 32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(metric: &'static str, labels: &Arc<Labels>, v: Value) -> Sample {
        Sample {
            metric: Cow::Borrowed(metric),
            kind: Kind::Gauge,
            unit: Unit::Bytes,
            labels: labels.clone(),
            value: v,
        }
    }

    #[test]
    fn interning_finds_series_by_pointer_and_by_content() {
        let mut i = Interner::new();
        let a = Arc::new(Labels::new([("id", "/a")]));
        let a2 = Arc::new(Labels::new([("id", "/a")]));
        let s = sample("memory/usage", &a, Value::Int(1));
        let Resolved::New(meta) = i.resolve(&s) else {
            panic!("new")
        };
        i.add_at(0, &meta);
        assert!(matches!(i.resolve(&s), Resolved::Known(0)));
        assert!(matches!(
            i.resolve(&sample("memory/usage", &a2, Value::Int(2))),
            Resolved::Known(0)
        ));
        let Resolved::New(m2) = i.resolve(&sample("memory/rss", &a2, Value::Float(1.0))) else {
            panic!("new")
        };
        assert!(Arc::ptr_eq(&m2.labels, &a), "label sets are shared");
        i.add_at(1, &m2);
        assert_eq!(i.vkinds, [ValueKind::Int, ValueKind::Float]);
    }

    #[test]
    fn definitions_round_trip_and_bad_codes_are_errors() {
        let meta = SeriesMeta {
            metric: Arc::from("cpu/usage"),
            labels: Arc::new(Labels::new([("b", "2"), ("a", "ü")])),
            kind: Kind::Cumulative,
            unit: Unit::Nanoseconds,
            vkind: ValueKind::Int,
        };
        let mut buf = Vec::new();
        encode_def(7, &meta, &mut buf);
        let d = decode_def(&buf).unwrap();
        assert_eq!(d.id, 7);
        assert_eq!(d.metric, "cpu/usage");
        assert_eq!(d.labels, *meta.labels);
        assert_eq!(
            (d.kind, d.unit, d.vkind),
            (meta.kind, meta.unit, meta.vkind)
        );
        for i in 0..buf.len() {
            let _ = decode_def(&buf[..i]).unwrap_err();
        }
    }

    #[test]
    fn conversion_keeps_only_exact_values() {
        assert_eq!(
            convert(Value::Int(3), ValueKind::Float),
            Some(Value::Float(3.0))
        );
        assert_eq!(convert(Value::Int(i64::MAX), ValueKind::Float), None);
        assert_eq!(
            convert(Value::Float(4.0), ValueKind::Int),
            Some(Value::Int(4))
        );
        assert_eq!(convert(Value::Float(4.5), ValueKind::Int), None);
        assert_eq!(convert(Value::Float(f64::NAN), ValueKind::Int), None);
        assert_eq!(convert(Value::Float(9.3e18), ValueKind::Int), None);
    }
}
