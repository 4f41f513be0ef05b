//! The readers' side of the series model: every series' definition, and postings lists
//! (label name -> value -> ids, metric -> ids), sorted because ids are handed out in order.
//! "All series of container X" and "all series of metric M with label L=v" are intersections
//! of a few lists, never a scan of every series.

use std::sync::Arc;

use crowsnest_core::batch::{Kind, Labels, Unit};

use crate::hash::{FxHashMap, map};
use crate::series::{SeriesId, SeriesMeta};

/// Which series a query reads: those of `metric` (any, if `None`) whose labels include every
/// pair of `labels`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    /// The metric name, e.g. `cpu/usage`.
    pub metric: Option<String>,
    /// Label equality matchers, e.g. `("id", "/docker/abc")`.
    pub labels: Vec<(String, String)>,
}

impl Selector {
    /// Series of one metric.
    pub fn metric(name: impl Into<String>) -> Self {
        Selector {
            metric: Some(name.into()),
            labels: Vec::new(),
        }
    }

    /// Adds a label matcher.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.push((name.into(), value.into()));
        self
    }
}

/// A series as the store knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesInfo {
    /// Metric name.
    pub metric: Arc<str>,
    /// Labels, shared by the series of one container.
    pub labels: Arc<Labels>,
    /// Counter or gauge.
    pub kind: Kind,
    /// Unit.
    pub unit: Unit,
}

impl From<&SeriesMeta> for SeriesInfo {
    fn from(m: &SeriesMeta) -> Self {
        SeriesInfo {
            metric: m.metric.clone(),
            labels: m.labels.clone(),
            kind: m.kind,
            unit: m.unit,
        }
    }
}

/// Definitions and postings. Ids are slots: a slot is empty when its series was removed (all
/// its data gone by retention) until a new series takes the id.
#[derive(Debug, Default)]
pub(crate) struct Index {
    /// Boxed: a free id costs one pointer, not a whole definition.
    metas: Vec<Option<Box<SeriesMeta>>>,
    live: usize,
    postings: FxHashMap<Arc<str>, FxHashMap<Arc<str>, Vec<SeriesId>>>,
    by_metric: FxHashMap<Arc<str>, Vec<SeriesId>>,
    bytes: usize,
}

/// Adds `id` to a sorted postings list (at the end, usually; in place when an id is reused).
fn add_sorted(ids: &mut Vec<SeriesId>, id: SeriesId) {
    match ids.last() {
        Some(&l) if l >= id => {
            if let Err(i) = ids.binary_search(&id) {
                ids.insert(i, id);
            }
        }
        _ => ids.push(id),
    }
}

impl Index {
    pub(crate) fn new() -> Self {
        Index {
            postings: map(),
            by_metric: map(),
            ..Default::default()
        }
    }

    /// Adds series `id` (a new id, or the slot of a removed series).
    pub(crate) fn insert(&mut self, id: SeriesId, meta: SeriesMeta) {
        for (k, v) in meta.labels.iter() {
            let values = match self.postings.get_mut(k) {
                Some(v) => v,
                None => {
                    self.bytes += 64 + k.len();
                    self.postings.entry(Arc::from(k)).or_insert_with(map)
                }
            };
            match values.get_mut(v) {
                Some(ids) => add_sorted(ids, id),
                None => {
                    self.bytes += 64 + v.len();
                    values.insert(Arc::from(v), vec![id]);
                }
            }
            self.bytes += 4;
        }
        add_sorted(self.by_metric.entry(meta.metric.clone()).or_default(), id);
        let i = id as usize;
        if self.metas.len() <= i {
            self.bytes +=
                (i + 1 - self.metas.len()) * std::mem::size_of::<Option<Box<SeriesMeta>>>();
            self.metas.resize_with(i + 1, || None);
        }
        self.bytes += 4 + std::mem::size_of::<SeriesMeta>();
        if self.metas[i].replace(Box::new(meta)).is_none() {
            self.live += 1;
        }
    }

    /// The same index without the series `gone` says are gone (rebuilt: removal is rare, after
    /// retention, and a rebuild gives back the postings' memory). Its slots end at the last
    /// live series: ids above it are forgotten, not kept free, so that after a wave of
    /// short-lived containers the per-id tables shrink back with the series.
    pub(crate) fn without(&self, gone: impl Fn(SeriesId) -> bool) -> Index {
        let mut ix = Index::new();
        let last_live = self
            .metas
            .iter()
            .enumerate()
            .rev()
            .find(|(i, m)| m.is_some() && !gone(*i as SeriesId))
            .map_or(0, |(i, _)| i + 1);
        ix.metas.reserve_exact(last_live);
        for (i, m) in self.metas.iter().enumerate().take(last_live) {
            if let Some(m) = m
                && !gone(i as SeriesId)
            {
                ix.insert(i as SeriesId, (**m).clone());
            }
        }
        ix
    }

    /// Series known (live).
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Id slots (live or free): ids are below this.
    pub(crate) fn slots(&self) -> usize {
        self.metas.len()
    }

    /// The live series, by id.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (SeriesId, &SeriesMeta)> {
        self.metas
            .iter()
            .enumerate()
            .filter_map(|(i, m)| Some((i as SeriesId, m.as_deref()?)))
    }

    pub(crate) fn get(&self, id: SeriesId) -> Option<&SeriesMeta> {
        self.metas.get(id as usize)?.as_deref()
    }

    /// Approximate heap bytes (label strings are counted once per distinct pair; the label
    /// sets themselves are counted by the writer's interner that shares them).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.bytes
    }

    /// The ids of series with label `name` = `value`, sorted.
    pub(crate) fn with_label(&self, name: &str, value: &str) -> &[SeriesId] {
        self.postings
            .get(name)
            .and_then(|v| v.get(value))
            .map_or(&[], Vec::as_slice)
    }

    /// The ids the selector matches, sorted.
    pub(crate) fn select(&self, sel: &Selector) -> Vec<SeriesId> {
        let mut lists: Vec<&[SeriesId]> = Vec::with_capacity(sel.labels.len() + 1);
        if let Some(m) = &sel.metric {
            lists.push(self.by_metric.get(m.as_str()).map_or(&[], Vec::as_slice));
        }
        for (k, v) in &sel.labels {
            lists.push(self.with_label(k, v));
        }
        if lists.is_empty() {
            return self.iter().map(|(id, _)| id).collect();
        }
        lists.sort_by_key(|l| l.len());
        let mut out: Vec<SeriesId> = lists[0].to_vec();
        for l in &lists[1..] {
            out.retain(|id| l.binary_search(id).is_ok());
            if out.is_empty() {
                break;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::ValueKind;

    fn meta(metric: &str, labels: &Arc<Labels>) -> SeriesMeta {
        SeriesMeta {
            metric: Arc::from(metric),
            labels: labels.clone(),
            kind: Kind::Gauge,
            unit: Unit::Bytes,
            vkind: ValueKind::Int,
        }
    }

    #[test]
    fn selectors_intersect_postings() {
        let mut ix = Index::new();
        let a = Arc::new(Labels::new([("id", "/a"), ("nodename", "n1")]));
        let b = Arc::new(Labels::new([("id", "/b"), ("nodename", "n1")]));
        for (i, l) in [&a, &b].into_iter().enumerate() {
            ix.insert(2 * i as u32, meta("cpu/usage", l));
            ix.insert(2 * i as u32 + 1, meta("memory/usage", l));
        }
        assert_eq!(ix.with_label("id", "/b"), [2, 3]);
        assert_eq!(ix.select(&Selector::metric("memory/usage")), [1, 3]);
        assert_eq!(
            ix.select(&Selector::metric("memory/usage").with("id", "/a")),
            [1]
        );
        assert_eq!(
            ix.select(&Selector::default().with("nodename", "n1")),
            [0, 1, 2, 3]
        );
        assert!(ix.select(&Selector::metric("nope")).is_empty());
        assert_eq!(ix.select(&Selector::default()).len(), 4);
    }

    #[test]
    fn removed_series_leave_the_postings_and_their_ids_can_be_reused() {
        let mut ix = Index::new();
        let a = Arc::new(Labels::new([("id", "/a")]));
        let b = Arc::new(Labels::new([("id", "/b")]));
        ix.insert(0, meta("cpu/usage", &a));
        ix.insert(1, meta("cpu/usage", &b));
        ix.insert(2, meta("memory/usage", &b));
        let mut ix = ix.without(|id| id == 0);
        assert_eq!((ix.len(), ix.slots()), (2, 3));
        assert!(ix.get(0).is_none());
        assert!(ix.with_label("id", "/a").is_empty());
        assert_eq!(ix.select(&Selector::metric("cpu/usage")), [1]);
        assert_eq!(ix.select(&Selector::default()), [1, 2]);
        // A new series takes the free slot; postings stay sorted.
        let c = Arc::new(Labels::new([("id", "/c")]));
        ix.insert(0, meta("cpu/usage", &c));
        assert_eq!(ix.select(&Selector::metric("cpu/usage")), [0, 1]);
        assert_eq!(ix.len(), 3);
        // Removing the highest ids forgets their slots: the per-id tables shrink back.
        let ix = ix.without(|id| id >= 1);
        assert_eq!((ix.len(), ix.slots()), (1, 1));
        assert!(ix.without(|_| true).slots() == 0);
    }
}
