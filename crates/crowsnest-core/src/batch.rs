//! The pipeline's vocabulary: a [`Batch`] is, at one timestamp, a set of [`Sample`]s, each a
//! canonical metric name (Heapster's: `cpu/usage`, `memory/working_set`, ...), a sorted
//! [`Labels`] set, a [`Kind`] (cumulative or gauge), a [`Unit`] and a [`Value`].
//!
//! Sources produce batches, processors derive from them, sinks and the store keep or send them.
//! Every output format maps these canonical names to its own (cAdvisor's Prometheus names,
//! Heapster's InfluxDB schema, the legacy `cpu/usage_ns_cumulative` series); nothing inside the
//! program uses a second name for the same quantity.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::Timestamp;

mod container;
pub mod label;
pub mod names;
pub mod restore;

pub use container::{ContainerContext, container_samples};

/// Whether a value only grows (between resets) or goes up and down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A counter: grows, except that it starts again from 0 when its source restarts.
    Cumulative,
    /// A level that goes up and down.
    Gauge,
}

impl Kind {
    /// Heapster's spelling (`cumulative`, `gauge`), used in legacy InfluxDB series names.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Cumulative => "cumulative",
            Kind::Gauge => "gauge",
        }
    }
}

/// The unit of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// A plain count.
    Count,
    /// Bytes.
    Bytes,
    /// Nanoseconds.
    Nanoseconds,
    /// Microseconds.
    Microseconds,
    /// Milliseconds.
    Milliseconds,
    /// Thousandths of a CPU core.
    Millicores,
    /// Events per second (rates of counts).
    PerSecond,
    /// Bytes per second.
    BytesPerSecond,
}

impl Unit {
    /// Heapster's unit suffix (`""` for counts), used in legacy series names such as
    /// `cpu/usage_ns_cumulative`.
    pub fn heapster_suffix(self) -> &'static str {
        match self {
            Unit::Count => "",
            Unit::Bytes => "bytes",
            Unit::Nanoseconds => "ns",
            Unit::Microseconds => "us",
            Unit::Milliseconds => "ms",
            Unit::Millicores => "millicores",
            Unit::PerSecond => "per_second",
            Unit::BytesPerSecond => "bytes_per_second",
        }
    }
}

/// A sample's value: integers stay integers (nanosecond counters exceed f64's 2^53 within
/// days on a big host), rates and ratios are floats.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// An integer; unsigned kernel counters above `i64::MAX` are clamped to it.
    Int(i64),
    /// A float.
    Float(f64),
}

impl Value {
    /// From an unsigned kernel counter (clamped at `i64::MAX`, as cAdvisor's drivers do).
    pub fn from_u64(v: u64) -> Self {
        Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }

    /// The value as a float.
    pub fn as_f64(self) -> f64 {
        match self {
            Value::Int(i) => i as f64,
            Value::Float(f) => f,
        }
    }
}

/// A set of labels, sorted by name, names unique. Serialised as a JSON object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Vec<(String, String)>);

impl Labels {
    /// Labels from pairs in any order; for a repeated name the last value wins. Empty values
    /// are kept (Prometheus treats them as absent; Heapster as present).
    pub fn new<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        let mut v: Vec<(String, String)> = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        // Stable sort keeps insertion order among equal names; keep the last of each.
        v.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(String, String)> = Vec::with_capacity(v.len());
        for (k, val) in v {
            match out.last_mut() {
                Some(last) if last.0 == k => last.1 = val,
                _ => out.push((k, val)),
            }
        }
        Labels(out)
    }

    /// The value of label `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].1.as_str())
    }

    /// These labels plus (or with a new value for) `name`.
    pub fn with(&self, name: &str, value: &str) -> Labels {
        let mut v = self.0.clone();
        match v.binary_search_by(|(k, _)| k.as_str().cmp(name)) {
            Ok(i) => v[i].1 = value.to_owned(),
            Err(i) => v.insert(i, (name.to_owned(), value.to_owned())),
        }
        Labels(v)
    }

    /// The pairs, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Labels {
    /// `{a="1",b="2"}`, for logs and errors.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (k, v)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{k}={v:?}")?;
        }
        f.write_str("}")
    }
}

impl Serialize for Labels {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Labels {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let m = std::collections::BTreeMap::<String, String>::deserialize(d)?;
        Ok(Labels(m.into_iter().collect()))
    }
}

/// One value of one series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Canonical metric name, e.g. `cpu/usage` (see [`names`]).
    pub metric: Cow<'static, str>,
    /// Cumulative or gauge.
    pub kind: Kind,
    /// Unit of the value.
    pub unit: Unit,
    /// The series' labels, shared by every sample of one container.
    pub labels: Arc<Labels>,
    /// The value.
    pub value: Value,
}

/// Samples taken at one time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    /// When the samples were taken.
    pub timestamp: Timestamp,
    /// The samples.
    pub samples: Vec<Sample>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_sort_dedup_and_look_up() {
        let l = Labels::new([("b", "2"), ("a", "1"), ("b", "3")]);
        assert_eq!(l.iter().collect::<Vec<_>>(), [("a", "1"), ("b", "3")]);
        assert_eq!(l.get("b"), Some("3"));
        assert_eq!(l.get("c"), None);
        let m = l.with("c", "4").with("a", "0");
        assert_eq!(m.to_string(), r#"{a="0",b="3",c="4"}"#);
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, r#"{"a":"0","b":"3","c":"4"}"#);
        assert_eq!(serde_json::from_str::<Labels>(&json).unwrap(), m);
    }

    #[test]
    fn values_keep_integers_and_clamp() {
        assert_eq!(Value::from_u64(5), Value::Int(5));
        assert_eq!(Value::from_u64(u64::MAX), Value::Int(i64::MAX));
        assert_eq!(serde_json::to_string(&Value::Int(7)).unwrap(), "7");
        assert_eq!(serde_json::to_string(&Value::Float(0.5)).unwrap(), "0.5");
        assert_eq!(serde_json::from_str::<Value>("7").unwrap(), Value::Int(7));
        assert_eq!(
            serde_json::from_str::<Value>("7.5").unwrap(),
            Value::Float(7.5)
        );
    }
}
