//! `GET /api/v1/query`: a container's history from the embedded store (`--store-dir`).
//!
//! ```text
//! /api/v1/query?metric=cpu/usage&container=/docker/abc&start=...&end=...&step=60s&agg=rate
//! ```
//!
//! - `metric` (required): a canonical metric name (`cpu/usage`, `memory/working_set`, ...).
//! - `container`: only the series whose `id` label (the cgroup name) is this; all otherwise.
//! - `start`, `end`: RFC 3339 or unix seconds (fractions allowed); `end` defaults to now and
//!   `start` to one hour before `end`.
//! - `step`: a duration (`10s`, `1m`, `1h30m`, or seconds); windows are aligned to it.
//! - `agg`: `raw`, `avg`, `min`, `max`, `last` or `rate`; `raw` without a step, `avg` with one.
//!
//! The answer is `{"metric", "kind", "unit", "start", "end", "step", "agg", "series":
//! [{"labels": {...}, "points": [[unix_ms, value], ...]}]}`, times in unix milliseconds and
//! `step` in seconds (`null` without one); a series whose data could not all be read also
//! lists `warnings` naming the damaged parts. A bad parameter is a 400 naming it; a query that
//! would return more than `--query-max-points` points (default 1,000,000) is a 422 naming that
//! bound (the store stops reading there, so memory stays bounded); without a store every
//! request is a 404 saying so. The query runs on the blocking pool.
//!
//! This module also renders the store's self-metrics for `/metrics` ([`encode_store_metrics`]).

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use crowsnest_core::Timestamp;
use crowsnest_core::batch::Value;
use crowsnest_formats::prometheus::MetricType;
use crowsnest_formats::prometheus::text::{write_header, write_sample};
use crowsnest_store::{Agg, Query, Selector, StoreStats};
use serde_json::json;

use crate::state::Shared;

/// The default range when `start` is not given: one hour before `end`.
const DEFAULT_RANGE: Duration = Duration::from_secs(3600);

/// `GET /api/v1/query`.
pub(crate) async fn handler(State(shared): State<Shared>, uri: Uri) -> Response {
    let params = match query_params(uri.query()) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let Some(store) = shared.store().cloned() else {
        return error(
            StatusCode::NOT_FOUND,
            "the store is off (start the agent with --store-dir to keep history)".to_owned(),
        );
    };
    let query = match parse(&params, store.now()) {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let q = query.clone();
    let result = tokio::task::spawn_blocking(move || store.query(&q)).await;
    let series = match result {
        Ok(Ok(series)) => series,
        Ok(Err(crowsnest_store::Error::QueryTooLarge { limit })) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "the query would return more than {limit} points (--query-max-points); ask for a shorter start/end range, a coarser step or one container"
                ),
            );
        }
        Ok(Err(e)) => return error(StatusCode::INTERNAL_SERVER_ERROR, format!("query: {e}")),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, format!("query: {e}")),
    };
    let first = series.first();
    let body = json!({
        "metric": query.selector.metric,
        "kind": first.map(|s| s.kind.as_str()),
        "unit": first.map(|s| s.unit),
        "start": query.start.millis(),
        "end": query.end.millis(),
        "step": query.step.map(|d| d.as_secs_f64()),
        "agg": agg_name(query.agg),
        "series": series.iter().map(|s| json!({
            "labels": &*s.labels,
            "points": s.points.iter().map(|(t, v)| json!([t.millis(), value(*v)])).collect::<Vec<_>>(),
            "warnings": &s.warnings,
        })).collect::<Vec<_>>(),
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The decoded parameters of a query string (the first of a repeated one counts), or a
/// message naming the one that does not decode to UTF-8.
fn query_params(query: Option<&str>) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            let bytes = super::options::percent_decode(s, true)
                .ok_or_else(|| format!("invalid parameter {pair:?}: bad %-escape"))?;
            String::from_utf8(bytes)
                .map_err(|_| format!("invalid parameter {pair:?}: not UTF-8 once %-decoded"))
        };
        let (k, v) = (decode(k)?, decode(v)?);
        out.entry(k).or_insert(v);
    }
    Ok(out)
}

fn error(status: StatusCode, message: String) -> Response {
    let body = json!({ "error": message }).to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn value(v: Value) -> serde_json::Value {
    match v {
        Value::Int(i) => json!(i),
        // NaN and infinities have no JSON number: null.
        Value::Float(f) => json!(f),
    }
}

fn agg_name(agg: Agg) -> &'static str {
    match agg {
        Agg::Raw => "raw",
        Agg::Avg => "avg",
        Agg::Min => "min",
        Agg::Max => "max",
        Agg::Last => "last",
        Agg::Rate => "rate",
    }
}

/// The store query the parameters ask for, or a message naming the bad parameter.
pub(crate) fn parse(params: &HashMap<String, String>, now: Timestamp) -> Result<Query, String> {
    let bad = |name: &str, value: &str, reason: &str| {
        format!("invalid parameter {name}={value:?}: {reason}")
    };
    let metric = params
        .get("metric")
        .filter(|m| !m.is_empty())
        .ok_or_else(|| "missing parameter metric (e.g. metric=cpu/usage)".to_owned())?;
    let time = |name: &str| -> Result<Option<Timestamp>, String> {
        match params.get(name).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => parse_time(v)
                .map(Some)
                .ok_or_else(|| bad(name, v, "expected RFC 3339 or unix seconds")),
        }
    };
    let end = time("end")?.unwrap_or(now);
    let start = time("start")?
        .unwrap_or_else(|| end.add_nanos(-i64::try_from(DEFAULT_RANGE.as_nanos()).unwrap_or(0)));
    if start > end {
        return Err(bad(
            "start",
            params.get("start").map_or("", String::as_str),
            "after end",
        ));
    }
    let step = match params.get("step").filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => match parse_duration(v) {
            Some(d) if !d.is_zero() => Some(d),
            _ => return Err(bad("step", v, "expected a duration such as 10s, 1m or 1h")),
        },
    };
    let agg = match params.get("agg").filter(|v| !v.is_empty()) {
        None if step.is_some() => Agg::Avg,
        None => Agg::Raw,
        Some(v) => v.parse::<Agg>().map_err(|e| bad("agg", v, &e))?,
    };
    let mut selector = Selector::metric(metric.as_str());
    if let Some(c) = params.get("container").filter(|c| !c.is_empty()) {
        selector = selector.with("id", c.as_str());
    }
    Ok(Query {
        selector,
        start,
        end,
        step,
        agg,
    })
}

/// RFC 3339, or unix seconds with an optional fraction.
fn parse_time(text: &str) -> Option<Timestamp> {
    if let Ok(t) = Timestamp::parse_rfc3339(text) {
        return Some(t);
    }
    let secs: f64 = text.parse().ok()?;
    let ns = secs * 1e9;
    (ns.is_finite() && ns.abs() < i64::MAX as f64).then(|| Timestamp(ns.round() as i64))
}

/// A Go-style duration (`500ms`, `10s`, `1m30s`, `2h`, `1d`) or plain seconds.
fn parse_duration(text: &str) -> Option<Duration> {
    if let Ok(secs) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let mut rest = text;
    let mut total = 0f64;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            _ => return None,
        };
        rest = &rest[u..];
        total += number * unit;
    }
    Duration::try_from_secs_f64(total).ok()
}

/// The store's self-metrics: `crowsnest_store_*` (series, samples ingested and dropped by
/// reason, bytes on disk by kind and in memory, compaction and retention counts and timings,
/// series removed, queries refused, damage found).
pub(crate) fn encode_store_metrics(out: &mut String, s: &StoreStats) {
    use MetricType::{Counter, Gauge};
    let secs = |d: Duration| d.as_secs_f64();
    let metrics: [(&str, &str, MetricType, f64); 21] = [
        (
            "crowsnest_store_series",
            "Series known to the store.",
            Gauge,
            s.series as f64,
        ),
        (
            "crowsnest_store_bytes_on_disk",
            "Bytes of the store's segments and logs.",
            Gauge,
            s.bytes_on_disk as f64,
        ),
        (
            "crowsnest_store_samples_ingested_total",
            "Samples the store accepted since it was opened.",
            Counter,
            s.samples_ingested as f64,
        ),
        (
            "crowsnest_store_bytes_in_memory",
            "Approximate heap bytes of the store (head and index).",
            Gauge,
            s.bytes_in_memory as f64,
        ),
        (
            "crowsnest_store_head_bytes",
            "Heap bytes of samples not yet written to a segment.",
            Gauge,
            s.head_bytes as f64,
        ),
        (
            "crowsnest_store_head_samples",
            "Samples not yet written to a segment.",
            Gauge,
            s.head_samples as f64,
        ),
        (
            "crowsnest_store_blocks_flushed_total",
            "Blocks the store wrote from its head.",
            Counter,
            s.blocks_flushed as f64,
        ),
        (
            "crowsnest_store_budget_flushes_total",
            "Heads written out early because the memory limit was reached.",
            Counter,
            s.budget_flushes as f64,
        ),
        (
            "crowsnest_store_compactions_total",
            "Segments compacted (raw windows rolled up included).",
            Counter,
            s.compactions as f64,
        ),
        (
            "crowsnest_store_compaction_seconds_total",
            "Time spent compacting and rolling up.",
            Counter,
            secs(s.compaction_time),
        ),
        (
            "crowsnest_store_compaction_last_seconds",
            "Time the last compaction took.",
            Gauge,
            secs(s.compaction_last),
        ),
        (
            "crowsnest_store_retention_runs_total",
            "Retention passes.",
            Counter,
            s.retention_runs as f64,
        ),
        (
            "crowsnest_store_retention_last_seconds",
            "Time the last retention pass took (removing empty series included).",
            Gauge,
            secs(s.retention_last),
        ),
        (
            "crowsnest_store_segments_deleted_total",
            "Segment files deleted by retention.",
            Counter,
            s.segments_deleted as f64,
        ),
        (
            "crowsnest_store_series_removed_total",
            "Series removed because retention deleted all their data.",
            Counter,
            s.series_removed as f64,
        ),
        (
            "crowsnest_store_series_log_rewrites_total",
            "Times the series log was rewritten without removed series.",
            Counter,
            s.series_log_rewrites as f64,
        ),
        (
            "crowsnest_store_queries_refused_total",
            "Queries refused because they would return more points than --query-max-points.",
            Counter,
            s.queries_refused as f64,
        ),
        (
            "crowsnest_store_corrupt_records_total",
            "Damaged records the store found.",
            Counter,
            s.corrupt_records as f64,
        ),
        (
            "crowsnest_store_torn_tails_cut_total",
            "Torn file tails cut when the store was opened.",
            Counter,
            s.torn_tails_cut as f64,
        ),
        (
            "crowsnest_store_syncs_total",
            "Write-ahead log syncs.",
            Counter,
            s.syncs as f64,
        ),
        (
            "crowsnest_store_budget_exceeded_by_index_total",
            "Times the series index alone exceeded the memory limit.",
            Counter,
            s.budget_exceeded_by_index as f64,
        ),
    ];
    for (name, help, ty, value) in metrics {
        write_header(out, name, help, ty);
        write_sample(out, name, &[], value, None);
    }
    let name = "crowsnest_store_file_bytes";
    write_header(
        out,
        name,
        "Bytes of the store's files by kind (they add up to crowsnest_store_bytes_on_disk).",
        Gauge,
    );
    let wal = s
        .bytes_on_disk
        .saturating_sub(s.bytes_on_disk_raw + s.bytes_on_disk_rollups + s.series_log_bytes);
    for (kind, n) in [
        ("raw", s.bytes_on_disk_raw),
        ("rollups", s.bytes_on_disk_rollups),
        ("series_log", s.series_log_bytes),
        ("wal", wal),
    ] {
        write_sample(out, name, &[("kind", kind)], n as f64, None);
    }
    let name = "crowsnest_store_dropped_samples_total";
    write_header(out, name, "Samples the store dropped, by reason.", Counter);
    let d = &s.dropped;
    for (reason, n) in [
        ("out_of_order", d.out_of_order),
        ("duplicate", d.duplicate),
        ("too_old", d.too_old),
        ("too_far_in_future", d.too_far_in_future),
        ("kind_mismatch", d.kind_mismatch),
        ("unknown_series", d.unknown_series),
    ] {
        write_sample(out, name, &[("reason", reason)], n as f64, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn query_strings_decode_strictly() {
        let p = query_params(Some("metric=cpu%2Fusage&metric=x&step=1+m")).unwrap();
        assert_eq!(p["metric"], "cpu/usage");
        assert_eq!(p["step"], "1 m");
        let e = query_params(Some("metric=%ff%fe")).unwrap_err();
        assert!(
            e.contains("metric=%ff%fe") && e.contains("not UTF-8"),
            "{e}"
        );
        let e = query_params(Some("start=%zz")).unwrap_err();
        assert!(e.contains("start=%zz") && e.contains("%-escape"), "{e}");
    }

    #[test]
    fn defaults_and_bad_parameters() {
        let now = Timestamp::from_secs(10_000);
        let q = parse(&params(&[("metric", "cpu/usage")]), now).unwrap();
        assert_eq!((q.start, q.end), (Timestamp::from_secs(6_400), now));
        assert_eq!((q.step, q.agg), (None, Agg::Raw));
        let q = parse(
            &params(&[
                ("metric", "cpu/usage"),
                ("container", "/docker/abc"),
                ("start", "2023-11-14T22:13:20Z"),
                ("end", "1700000100.5"),
                ("step", "1m"),
            ]),
            now,
        )
        .unwrap();
        assert_eq!(q.start, Timestamp::from_secs(1_700_000_000));
        assert_eq!(q.end, Timestamp::from_millis(1_700_000_100_500));
        assert_eq!((q.step, q.agg), (Some(Duration::from_secs(60)), Agg::Avg));
        assert_eq!(
            q.selector,
            Selector::metric("cpu/usage").with("id", "/docker/abc")
        );
        for (name, value) in [
            ("agg", "median"),
            ("step", "soon"),
            ("step", "0s"),
            ("start", "yesterday"),
            ("end", "x"),
        ] {
            let e = parse(&params(&[("metric", "m"), (name, value)]), now).unwrap_err();
            assert!(e.contains(name) && e.contains(value), "{e}");
        }
        assert!(parse(&params(&[]), now).unwrap_err().contains("metric"));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
    }
}
