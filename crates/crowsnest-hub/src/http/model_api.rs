//! Heapster's model API, `/api/v1/model/...` (`metrics/api/v1/model_handlers.go`), in its
//! shapes, with one deliberate difference: a point's `value` stays an unsigned integer for
//! Heapster's clients (floats truncated, never a wrapped negative), and `floatValue` carries
//! the exact value.
//!
//! Metric names may contain `/` (`cpu/usage_rate`) and so may free container names
//! (`system.slice/sshd.service`): in `freecontainers/{c}/metrics/{m}` the container name is
//! everything up to the last `metrics` segment. Query parameters: `start` and `end` (RFC 3339,
//! inclusive; default all kept; `end` before `start` is a 400), `labels=k:v,...` (a labeled
//! metric's `resource_id`; a part without `:` is a 400).
//! Deprecated aliases (`cpu-usage`, `memory-working`, ...) are accepted. An unknown entity or
//! metric answers `{"metrics":[],"latestTimestamp":"0001-01-01T00:00:00Z"}`, as Heapster does.

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use crowsnest_core::Timestamp;
use crowsnest_core::batch::{Value, label};
use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};

use crate::batch::{SetType, key};
use crate::config::{percent_decode, query_pairs};
use crate::http::{error, json};
use crate::model::{Point, SetInfo};
use crate::names;
use crate::state::Shared;

/// Go's zero `time.Time`, Heapster's `latestTimestamp` of an empty result.
const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// One point of a `MetricResult`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct MetricPoint {
    timestamp: Timestamp,
    value: Value,
}

impl Serialize for MetricPoint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("MetricPoint", 3)?;
        st.serialize_field("timestamp", &self.timestamp)?;
        let int: u64 = match self.value {
            Value::Int(i) => u64::try_from(i).unwrap_or(0),
            Value::Float(f) if f.is_finite() && f > 0.0 => f.trunc() as u64,
            Value::Float(_) => 0,
        };
        st.serialize_field("value", &int)?;
        st.serialize_field("floatValue", &self.value.as_f64())?;
        st.end()
    }
}

/// Heapster's `MetricResult`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct MetricResult {
    metrics: Vec<MetricPoint>,
    #[serde(rename = "latestTimestamp")]
    latest_timestamp: String,
}

impl MetricResult {
    fn from_points(points: Vec<Point>) -> MetricResult {
        let latest = points
            .last()
            .map_or_else(|| GO_ZERO_TIME.to_owned(), |p| p.timestamp.to_string());
        MetricResult {
            metrics: points
                .into_iter()
                .map(|p| MetricPoint {
                    timestamp: p.timestamp,
                    value: p.value,
                })
                .collect(),
            latest_timestamp: latest,
        }
    }
}

/// `start`, `end` and the `resource_id` of `labels`.
#[derive(Debug)]
pub(crate) struct Query {
    start: Option<Timestamp>,
    end: Option<Timestamp>,
    /// `None`: unlabeled; `Some(None)`: labels that select nothing; `Some(Some(r))`.
    labels: Option<Option<String>>,
}

pub(crate) fn parse_query(q: Option<&str>) -> Result<Query, String> {
    let pairs = query_pairs(q.unwrap_or_default())?;
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let time = |k: &str| -> Result<Option<Timestamp>, String> {
        get(k)
            .map(|v| Timestamp::parse_rfc3339(v).map_err(|e| format!("{k}: {e}")))
            .transpose()
    };
    let labels = get("labels")
        .map(|l| {
            let mut resource = Some(None);
            for kv in l.split(',').filter(|kv| !kv.is_empty()) {
                match kv.split_once(':') {
                    None => {
                        return Err(format!("labels={l:?}: {kv:?} is not key:value"));
                    }
                    Some((label::RESOURCE_ID, v)) if resource == Some(None) => {
                        resource = Some(Some(v.to_owned()))
                    }
                    Some(_) => resource = None,
                }
            }
            Ok(resource.flatten())
        })
        .transpose()?;
    let (start, end) = (time("start")?, time("end")?);
    if let (Some(s), Some(e)) = (start, end)
        && s > e
    {
        return Err(format!("end {e} is before start {s}"));
    }
    Ok(Query { start, end, labels })
}

/// Every `/api/v1/model` request.
pub(crate) async fn handler(State(shared): State<Shared>, uri: Uri) -> Response {
    let rest = uri.path().strip_prefix("/api/v1/model").unwrap_or_default();
    let segs: Result<Vec<String>, String> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let segs = match segs {
        Ok(s) => s,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let query = match parse_query(uri.query()) {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    route(&shared, &segs, &query).unwrap_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            format!("no model route {:?}", uri.path()),
        )
    })
}

fn route(shared: &Shared, segs: &[&str], q: &Query) -> Option<Response> {
    let metrics = |k: &str, rest: &[&str]| -> Response {
        if rest.is_empty() {
            json(
                &shared
                    .model
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .metric_names(k),
            )
        } else {
            json(&result(shared, k, &rest.join("/"), q))
        }
    };
    Some(match segs {
        [] => json(&["metrics/", "nodes/", "namespaces/", "debug/allkeys"]),
        ["metrics", rest @ ..] => metrics(key::CLUSTER, rest),
        ["nodes"] => json(&names_of(shared, SetType::Node, &[], label::NODENAME)),
        ["nodes", n, "metrics", rest @ ..] => metrics(&key::node(n), rest),
        ["nodes", n, "freecontainers"] => json(&names_of(
            shared,
            SetType::SysContainer,
            &[(label::NODENAME, n)],
            label::CONTAINER_NAME,
        )),
        ["nodes", n, "freecontainers", rest @ ..] => {
            let k = rest.iter().rposition(|s| *s == "metrics")?;
            if k == 0 {
                return None;
            }
            metrics(&key::sys_container(n, &rest[..k].join("/")), &rest[k + 1..])
        }
        ["namespaces"] => json(&names_of(
            shared,
            SetType::Namespace,
            &[],
            label::NAMESPACE_NAME,
        )),
        ["namespaces", ns, "metrics", rest @ ..] => metrics(&key::namespace(ns), rest),
        ["namespaces", ns, "pods"] => json(&names_of(
            shared,
            SetType::Pod,
            &[(label::NAMESPACE_NAME, ns)],
            label::POD_NAME,
        )),
        ["namespaces", ns, "pods", p, "metrics", rest @ ..] => metrics(&key::pod(ns, p), rest),
        ["namespaces", ns, "pods", p, "containers"] => json(&names_of(
            shared,
            SetType::PodContainer,
            &[(label::NAMESPACE_NAME, ns), (label::POD_NAME, p)],
            label::CONTAINER_NAME,
        )),
        [
            "namespaces",
            ns,
            "pods",
            p,
            "containers",
            c,
            "metrics",
            rest @ ..,
        ] => metrics(&key::pod_container(ns, p, c), rest),
        ["namespaces", ns, "pod-list", list, "metrics", rest @ ..] if !rest.is_empty() => {
            #[derive(Serialize)]
            struct Items {
                items: Vec<MetricResult>,
            }
            let m = rest.join("/");
            json(&Items {
                items: list
                    .split(',')
                    .map(|p| result(shared, &key::pod(ns, p), &m, q))
                    .collect(),
            })
        }
        ["debug", "allkeys"] => {
            let sets = shared
                .model
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .current_sets(&|_| true);
            json(&sets.into_iter().map(|s| s.key).collect::<Vec<_>>())
        }
        _ => return None,
    })
}

/// The points of `metric` (or its deprecated alias) of set `k`.
fn result(shared: &Shared, k: &str, metric: &str, q: &Query) -> MetricResult {
    let metric = names::resolve_alias(metric);
    let resource = match &q.labels {
        None => None,
        Some(None) => return MetricResult::from_points(Vec::new()),
        Some(Some(r)) => Some(r.as_str()),
    };
    let model = shared.model.read().unwrap_or_else(|p| p.into_inner());
    MetricResult::from_points(model.points(k, metric, resource, q.start, q.end))
}

/// The `name_label` values of the current sets of type `t` whose labels match `filter`,
/// sorted and unique.
fn names_of(shared: &Shared, t: SetType, filter: &[(&str, &str)], name_label: &str) -> Vec<String> {
    let keep =
        |s: &SetInfo| s.set_type == t && filter.iter().all(|(k, v)| s.labels.get(k) == Some(*v));
    let sets = shared
        .model
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .current_sets(&keep);
    let mut out: Vec<String> = sets
        .iter()
        .filter_map(|s| s.labels.get(name_label).map(str::to_owned))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_keep_an_integer_value_and_add_the_float() {
        let p = MetricPoint {
            timestamp: Timestamp::from_secs(1_472_751_780),
            value: Value::Float(33.7),
        };
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"timestamp":"2016-09-01T17:43:00Z","value":33,"floatValue":33.7}"#
        );
        let neg = MetricPoint {
            timestamp: Timestamp(0),
            value: Value::Float(-25.0),
        };
        assert!(
            serde_json::to_string(&neg)
                .unwrap()
                .contains(r#""value":0,"#)
        );
        let empty = MetricResult::from_points(Vec::new());
        assert_eq!(
            serde_json::to_string(&empty).unwrap(),
            r#"{"metrics":[],"latestTimestamp":"0001-01-01T00:00:00Z"}"#
        );
    }

    #[test]
    fn queries() {
        let q = parse_query(Some(
            "start=2016-09-01T17:43:00Z&labels=resource_id:/dev/vda",
        ))
        .unwrap();
        assert_eq!(q.start, Some(Timestamp::from_secs(1_472_751_780)));
        assert_eq!(q.labels, Some(Some("/dev/vda".into())));
        let q = parse_query(Some("labels=make:nvidia")).unwrap();
        assert_eq!(q.labels, Some(None));
        assert!(
            parse_query(Some("end=yesterday"))
                .unwrap_err()
                .contains("end")
        );
        let e = parse_query(Some("labels=resource_id")).unwrap_err();
        assert!(e.contains("labels") && e.contains("key:value"), "{e}");
        let e =
            parse_query(Some("start=2016-09-01T17:43:00Z&end=2016-09-01T17:00:00Z")).unwrap_err();
        assert!(e.contains("before start"), "{e}");
    }
}
