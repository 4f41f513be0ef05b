//! The resource metrics API, `/apis/metrics.k8s.io/v1beta1`, in metrics-server's JSON, so that
//! `kubectl top` style clients can read the hub: `nodes`, `nodes/{n}`, `pods`,
//! `namespaces/{ns}/pods`, `namespaces/{ns}/pods/{p}`, with `labelSelector` on the lists, plus
//! the discovery documents (`/apis`, the group, the resource list).
//!
//! CPU is `cpu/usage_rate` as nanocores (`n`), memory is `memory/working_set` (`Ki`), both the
//! newest values; `timestamp` is the newest sample's time and `window` the span the CPU rate
//! covers. A node or pod without both values (the first scrape, before a rate exists) is left
//! out, and so is a pod one of whose containers lacks them, as metrics-server does.
//! Unknown objects answer a Kubernetes `Status` with code 404.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use crowsnest_core::batch::label;
use serde::Serialize;
use serde_json::json as j;

use crate::batch::SetType;
use crate::config::{percent_decode, query_pairs};
use crate::http::quantity::{cpu, go_duration, memory};
use crate::http::{json, json_status};
use crate::model::{ModelStore, SetInfo};
use crate::names;
use crate::state::Shared;

const GROUP_VERSION: &str = "metrics.k8s.io/v1beta1";

/// `GET /apis`: the API group list.
pub(crate) async fn api_groups() -> Response {
    json(&j!({
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [group()],
    }))
}

/// `GET /apis/metrics.k8s.io`: the group.
pub(crate) async fn api_group() -> Response {
    let mut g = group();
    g["kind"] = j!("APIGroup");
    g["apiVersion"] = j!("v1");
    json(&g)
}

fn group() -> serde_json::Value {
    let v = j!({"groupVersion": GROUP_VERSION, "version": "v1beta1"});
    j!({"name": "metrics.k8s.io", "versions": [v.clone()], "preferredVersion": v})
}

/// Usage of a node or a container.
#[derive(Debug, Serialize)]
struct Usage {
    cpu: String,
    memory: String,
}

/// A Kubernetes selector requirement.
#[derive(Debug, PartialEq)]
pub(crate) enum Req {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// Parses a `labelSelector` (`a=b,c!=d,e in (x,y),!f`).
pub(crate) fn parse_selector(text: &str) -> Result<Vec<Req>, String> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => return Err(format!("unbalanced ')' in labelSelector {text:?}")),
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("unbalanced '(' in labelSelector {text:?}"));
    }
    parts.push(&text[start..]);
    let list = |s: &str| -> Result<Vec<String>, String> {
        let inner = s
            .trim()
            .strip_prefix('(')
            .and_then(|s| s.strip_suffix(')'))
            .ok_or_else(|| format!("expected (values) in {text:?}"))?;
        Ok(inner.split(',').map(|v| v.trim().to_owned()).collect())
    };
    let mut out = Vec::new();
    for p in parts.into_iter().map(str::trim).filter(|p| !p.is_empty()) {
        let req = if let Some((k, v)) = p.split_once("!=") {
            Req::Ne(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = p.split_once("==").or_else(|| p.split_once('=')) {
            Req::Eq(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = p.split_once(" notin ") {
            Req::NotIn(k.trim().into(), list(v)?)
        } else if let Some((k, v)) = p.split_once(" in ") {
            Req::In(k.trim().into(), list(v)?)
        } else if let Some(k) = p.strip_prefix('!') {
            Req::NotExists(k.trim().into())
        } else if p
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        {
            Req::Exists(p.into())
        } else {
            return Err(format!("cannot read {p:?} in labelSelector {text:?}"));
        };
        let (key, values): (&str, &[String]) = match &req {
            Req::Eq(k, v) | Req::Ne(k, v) => (k, std::slice::from_ref(v)),
            Req::In(k, vs) | Req::NotIn(k, vs) => (k, vs),
            Req::Exists(k) | Req::NotExists(k) => (k, &[]),
        };
        let label_char = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
        if key.is_empty() || !key.chars().all(|c| label_char(c) || c == '/') {
            return Err(format!(
                "invalid label key {key:?} in labelSelector {text:?} (letters, digits, -, _, . and /)"
            ));
        }
        if let Some(v) = values.iter().find(|v| !v.chars().all(label_char)) {
            return Err(format!(
                "invalid label value {v:?} in labelSelector {text:?} (letters, digits, -, _ and .)"
            ));
        }
        out.push(req);
    }
    Ok(out)
}

fn matches(reqs: &[Req], labels: &BTreeMap<String, String>) -> bool {
    reqs.iter().all(|r| match r {
        Req::Eq(k, v) => labels.get(k) == Some(v),
        Req::Ne(k, v) => labels.get(k) != Some(v),
        Req::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
        Req::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
        Req::Exists(k) => labels.contains_key(k),
        Req::NotExists(k) => !labels.contains_key(k),
    })
}

/// The `labels` label (`k:v,k:v`) as a map.
fn label_map(s: &SetInfo) -> BTreeMap<String, String> {
    s.labels
        .get(label::LABELS)
        .unwrap_or_default()
        .split(',')
        .filter_map(|kv| kv.split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// CPU and memory of a set from its newest values.
fn usage(model: &dyn ModelStore, s: &SetInfo) -> Option<Usage> {
    let latest = model.latest(&s.key);
    let get = |m: &str| {
        latest
            .iter()
            .find(|l| l.metric == m && l.resource.is_none())
            .map(|l| l.value.as_f64())
    };
    let millicores = get(names::CPU_USAGE_RATE.name)?;
    let ws = get(crowsnest_core::batch::names::MEMORY_WORKING_SET.name)?;
    Some(Usage {
        cpu: cpu((millicores.max(0.0) * 1e6).round() as u64),
        memory: memory(ws.max(0.0) as u64),
    })
}

fn window(s: &SetInfo) -> String {
    go_duration(s.window.unwrap_or(0))
}

fn status(code: StatusCode, reason: &str, message: String) -> Response {
    json_status(
        code,
        &j!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code.as_u16(),
        }),
    )
}

fn not_found(kind: &str, name: &str) -> Response {
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!("{kind}.metrics.k8s.io {name:?} not found"),
    )
}

/// Every `/apis/metrics.k8s.io/v1beta1` request.
pub(crate) async fn handler(State(shared): State<Shared>, uri: Uri) -> Response {
    let rest = uri
        .path()
        .strip_prefix("/apis/metrics.k8s.io/v1beta1")
        .unwrap_or_default();
    let segs: Result<Vec<String>, String> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let selector = query_pairs(uri.query().unwrap_or_default()).and_then(|pairs| {
        pairs
            .iter()
            .find(|(k, _)| k == "labelSelector")
            .map_or(Ok(Vec::new()), |(_, v)| parse_selector(v))
    });
    let (segs, selector) = match (segs, selector) {
        (Ok(s), Ok(sel)) => (s, sel),
        (Err(e), _) | (_, Err(e)) => return status(StatusCode::BAD_REQUEST, "BadRequest", e),
    };
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let model = shared.model.read().unwrap_or_else(|p| p.into_inner());
    let now = shared.clock.now().to_string();
    match segs.as_slice() {
        [] => json(&j!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": GROUP_VERSION,
            "resources": [
                {"name": "nodes", "singularName": "", "namespaced": false, "kind": "NodeMetrics", "verbs": ["get", "list"]},
                {"name": "pods", "singularName": "", "namespaced": true, "kind": "PodMetrics", "verbs": ["get", "list"]},
            ],
        })),
        ["nodes"] => {
            let items: Vec<_> = model
                .current_sets(&|s| s.set_type == SetType::Node)
                .iter()
                .filter(|s| matches(&selector, &label_map(s)))
                .filter_map(|s| node_item(&**model, s, &now))
                .collect();
            json(
                &j!({"kind": "NodeMetricsList", "apiVersion": GROUP_VERSION, "metadata": {}, "items": items}),
            )
        }
        ["nodes", n] => {
            let found = model.current_sets(&|s| {
                s.set_type == SetType::Node && s.labels.get(label::NODENAME) == Some(*n)
            });
            match found.first().and_then(|s| node_item(&**model, s, &now)) {
                Some(mut item) => {
                    item["kind"] = j!("NodeMetrics");
                    item["apiVersion"] = j!(GROUP_VERSION);
                    json(&item)
                }
                None => not_found("nodemetrics", n),
            }
        }
        ["pods"] => pod_list(&**model, None, &selector, &now),
        ["namespaces", ns, "pods"] => pod_list(&**model, Some(ns), &selector, &now),
        ["namespaces", ns, "pods", p] => {
            let pods = pods(&**model, Some(ns), &[], &now);
            match pods.into_iter().find(|i| i["metadata"]["name"] == *p) {
                Some(mut item) => {
                    item["kind"] = j!("PodMetrics");
                    item["apiVersion"] = j!(GROUP_VERSION);
                    json(&item)
                }
                None => not_found("podmetrics", p),
            }
        }
        _ => status(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("no such path {:?}", uri.path()),
        ),
    }
}

fn node_item(model: &dyn ModelStore, s: &SetInfo, now: &str) -> Option<serde_json::Value> {
    let u = usage(model, s)?;
    Some(j!({
        "metadata": {
            "name": s.labels.get(label::NODENAME).unwrap_or_default(),
            "creationTimestamp": now,
            "labels": label_map(s),
        },
        "timestamp": s.scrape_time.to_string(),
        "window": window(s),
        "usage": u,
    }))
}

fn pod_list(model: &dyn ModelStore, ns: Option<&str>, sel: &[Req], now: &str) -> Response {
    json(&j!({
        "kind": "PodMetricsList",
        "apiVersion": GROUP_VERSION,
        "metadata": {},
        "items": pods(model, ns, sel, now),
    }))
}

/// The pods (of `ns`, or all) matching `sel` that have every container's usage.
fn pods(
    model: &dyn ModelStore,
    ns: Option<&str>,
    sel: &[Req],
    now: &str,
) -> Vec<serde_json::Value> {
    let in_ns = |s: &SetInfo| ns.is_none_or(|n| s.labels.get(label::NAMESPACE_NAME) == Some(n));
    let containers = model.current_sets(&|s| s.set_type == SetType::PodContainer && in_ns(s));
    let mut by_pod: BTreeMap<(&str, &str), Vec<&SetInfo>> = BTreeMap::new();
    for c in &containers {
        if let (Some(n), Some(p)) = (
            c.labels.get(label::NAMESPACE_NAME),
            c.labels.get(label::POD_NAME),
        ) {
            by_pod.entry((n, p)).or_default().push(c);
        }
    }
    let mut out = Vec::new();
    for ((n, p), cs) in by_pod {
        let Some(first) = cs.first() else { continue };
        let labels = label_map(first);
        if !matches(sel, &labels) {
            continue;
        }
        let mut items = Vec::with_capacity(cs.len());
        for c in &cs {
            let Some(u) = usage(model, c) else {
                items.clear();
                break;
            };
            items.push(
                j!({"name": c.labels.get(label::CONTAINER_NAME).unwrap_or_default(), "usage": u}),
            );
        }
        if items.len() != cs.len() {
            continue;
        }
        let earliest = cs.iter().min_by_key(|c| c.scrape_time).unwrap_or(first);
        out.push(j!({
            "metadata": {"name": p, "namespace": n, "creationTimestamp": now, "labels": labels},
            "timestamp": earliest.scrape_time.to_string(),
            "window": window(earliest),
            "containers": items,
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn label_selectors() {
        let l = labels(&[("app", "web"), ("tier", "front")]);
        for (sel, want) in [
            ("app=web", true),
            ("app==web,tier=front", true),
            ("app!=web", false),
            ("app in (web,api)", true),
            ("app notin (web, api)", false),
            ("tier,!canary", true),
            ("canary", false),
            ("app in (api),tier=front", false),
            ("", true),
        ] {
            let reqs = parse_selector(sel).unwrap();
            assert_eq!(matches(&reqs, &l), want, "{sel}");
        }
        assert!(parse_selector("app in web").is_err());
        assert!(parse_selector("a b").is_err());
        for (sel, names) in [
            ("=web", "\"\""),
            ("app=we b", "\"we b\""),
            ("app in (web", "'('"),
            ("app)", "')'"),
            ("!", "\"\""),
            ("app!=<x>", "\"<x>\""),
        ] {
            let e = parse_selector(sel).unwrap_err();
            assert!(
                e.contains(names) && e.contains("labelSelector"),
                "{sel}: {e}"
            );
        }
    }
}
