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

/// Definitions and postings.
#[derive(Debug, Default)]
pub(crate) struct Index {
    metas: Vec<SeriesMeta>,
    postings: FxHashMap<Arc<str>, FxHashMap<Arc<str>, Vec<SeriesId>>>,
    by_metric: FxHashMap<Arc<str>, Vec<SeriesId>>,
    bytes: usize,
}

impl Index {
    pub(crate) fn new() -> Self {
        Index {
            postings: map(),
            by_metric: map(),
            ..Default::default()
        }
    }

    /// Adds the next series (ids are dense and in order).
    pub(crate) fn push(&mut self, meta: SeriesMeta) -> SeriesId {
        let id = self.metas.len() as SeriesId;
        for (k, v) in meta.labels.iter() {
            let values = match self.postings.get_mut(k) {
                Some(v) => v,
                None => {
                    self.bytes += 64 + k.len();
                    self.postings.entry(Arc::from(k)).or_insert_with(map)
                }
            };
            match values.get_mut(v) {
                Some(ids) => ids.push(id),
                None => {
                    self.bytes += 64 + v.len();
                    values.insert(Arc::from(v), vec![id]);
                }
            }
            self.bytes += 4;
        }
        self.by_metric
            .entry(meta.metric.clone())
            .or_default()
            .push(id);
        self.bytes += 4 + std::mem::size_of::<SeriesMeta>();
        self.metas.push(meta);
        id
    }

    pub(crate) fn len(&self) -> usize {
        self.metas.len()
    }

    pub(crate) fn get(&self, id: SeriesId) -> Option<&SeriesMeta> {
        self.metas.get(id as usize)
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
            return (0..self.metas.len() as SeriesId).collect();
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
        for l in [&a, &b] {
            ix.push(meta("cpu/usage", l));
            ix.push(meta("memory/usage", l));
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
}
