//! Container churn on a manual clock: series whose data retention deleted leave the index,
//! the series log is rewritten without them and their ids are taken by new series, so neither
//! memory nor the series log grows with containers that come and go; the series that stay
//! keep every sample, across a reopen. Also the query bound.

use std::time::Duration;

use crowsnest_core::batch::{Kind, Value};
use crowsnest_core::{ManualClock, Timestamp};
use crowsnest_store::{Agg, Error, Query, Selector, Store, StoreConfig};

use crate::support::*;

const STEP: i64 = 10;
/// A short-lived container lives this long.
const LIFE: i64 = 120;
/// One starts every this often.
const EVERY: i64 = 15;

fn churn_config(dir: &std::path::Path) -> StoreConfig {
    let mut c = config(dir);
    c.raw_retention = Duration::from_secs(600);
    c.retention = Duration::from_secs(3600);
    c
}

fn series_log_len(dir: &std::path::Path) -> u64 {
    std::fs::metadata(dir.join("series.log")).unwrap().len()
}

/// Three series per container: a counter, an integer gauge, a float gauge.
fn container_samples(id: &str, t: i64, out: &mut Vec<crowsnest_core::batch::Sample>) {
    let l = labels(id);
    out.push(sample("c", Kind::Cumulative, &l, Value::Int(t * 7)));
    out.push(sample("g", Kind::Gauge, &l, Value::Int(t % 11)));
    out.push(sample("f", Kind::Gauge, &l, Value::Float(t as f64 / 4.0)));
}

/// From 8.5 h on, a container that stays (it takes ids in the middle of the second wave's).
const MID_FROM: i64 = 8 * 3600 + 1800;

/// Runs from `from` to `to` (seconds): the keepers every step, `/mid` from `MID_FROM`, and,
/// during the first hour of `churn_from`, a short-lived container starting every `EVERY`
/// seconds named `<prefix><n>`.
fn run(store: &Store, clock: &ManualClock, from: i64, to: i64, churn_from: i64, prefix: &str) {
    let mut t = from;
    while t < to {
        clock.set(ts(t));
        let mut s = Vec::new();
        for k in ["/keep1", "/keep2"] {
            container_samples(k, t, &mut s);
        }
        if t >= MID_FROM {
            container_samples("/mid", t, &mut s);
        }
        let rel = t - churn_from;
        if (0..3600).contains(&rel) {
            let first = (rel - LIFE).max(0) / EVERY;
            for n in first..=rel / EVERY {
                if (n * EVERY..n * EVERY + LIFE).contains(&rel) {
                    container_samples(&format!("{prefix}{n}"), t, &mut s);
                }
            }
        }
        store.append(&batch(ts(t), s)).unwrap();
        if t % 300 == 0 {
            store.maintain().unwrap();
        }
        t += STEP;
    }
}

fn keeper_points(store: &Store) -> Vec<Vec<(Timestamp, Value)>> {
    ["/keep1", "/keep2"]
        .iter()
        .flat_map(|k| ["c", "g", "f"].map(|m| raw(store, m, k)))
        .collect()
}

#[test]
fn series_whose_data_retention_deleted_leave_the_index_and_the_series_log() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(ts(0));
    let store = open(churn_config(dir.path()), &clock);
    let churners = 3600 / EVERY;

    // First hour: 240 short-lived containers (3 series each) and two that stay.
    run(&store, &clock, 0, 3600, 0, "/short-a/");
    let st = store.stats();
    assert_eq!(st.series, 3 * (churners as u64 + 2), "{st:?}");
    let log_full = series_log_len(dir.path());
    assert_eq!(st.series_log_bytes, log_full);
    assert_eq!(raw(&store, "c", "/short-a/5").len() as i64, LIFE / STEP);

    // Eight hours on: the 6 h rollup window of the first hour has passed the 1 h retention.
    run(&store, &clock, 3600, 8 * 3600, -1_000_000, "");
    store.maintain().unwrap();
    let st = store.stats();
    assert_eq!(st.series, 6, "only the keepers are left: {st:?}");
    assert_eq!(st.series_removed, 3 * churners as u64, "{st:?}");
    assert!(st.series_log_rewrites >= 1, "{st:?}");
    let log_after = series_log_len(dir.path());
    assert!(
        log_after * 20 < log_full,
        "the series log shrank: {log_full} -> {log_after} bytes"
    );
    assert_eq!(st.series_log_bytes, log_after);
    assert!(store.series_for("id", "/short-a/5").is_empty());
    assert!(raw(&store, "c", "/short-a/5").is_empty());
    assert_eq!(store.series(&Selector::metric("c")).len(), 2);
    assert!(store.verify().unwrap().is_empty());

    // A second wave takes the free ids: the log grows back to about the same size, not more.
    run(&store, &clock, 8 * 3600, 9 * 3600, 8 * 3600, "/short-b/");
    let st = store.stats();
    assert_eq!(st.series, 3 * (churners as u64 + 3), "{st:?}");
    let log_second = series_log_len(dir.path());
    assert!(
        log_second <= log_full * 101 / 100,
        "{log_second} bytes after the second wave, {log_full} after the first"
    );
    let wave_b = raw(&store, "f", "/short-b/8");
    assert_eq!(wave_b.len() as i64, LIFE / STEP);
    assert_eq!(
        wave_b[0],
        (
            ts(8 * 3600 + 8 * EVERY),
            Value::Float((8 * 3600 + 8 * EVERY) as f64 / 4.0)
        )
    );
    run(&store, &clock, 9 * 3600, 17 * 3600, -1_000_000, "");
    store.maintain().unwrap();
    let st = store.stats();
    assert_eq!(st.series, 9, "the keepers and /mid: {st:?}");
    assert_eq!(st.series_removed, 6 * churners as u64, "{st:?}");
    let log_twice = series_log_len(dir.path());
    assert!(
        log_twice < log_after * 2,
        "the log is as small after each wave: {log_after}, then {log_twice} bytes"
    );

    // A new container after the removals (it takes the lowest free ids, below /mid's), then a
    // reopen: the free ids below /mid's stay free (no placeholders), the keepers are whole,
    // the removed series stay removed, the new one is there with its samples.
    clock.set(ts(17 * 3600));
    let mut s = Vec::new();
    container_samples("/new", 17 * 3600, &mut s);
    store.append(&batch(ts(17 * 3600), s)).unwrap();
    let keepers = keeper_points(&store);
    let mid = raw(&store, "c", "/mid");
    // Raw for the last 10 minutes, rollups before (one sample per bucket, as written).
    assert!(mid.len() > 60, "{}", mid.len());
    assert!(
        mid.iter()
            .all(|(t, v)| *v == Value::Int((t.nanos() / SEC - T0) * 7))
    );
    assert!(keepers.iter().all(|p| !p.is_empty()));
    // Raw samples of the last 10 minutes, one per step; every value as written.
    let c1 = &keepers[0];
    assert!(
        c1.iter()
            .all(|(t, v)| *v == Value::Int((t.nanos() / SEC - T0) * 7)),
        "keeper values"
    );
    drop(store);
    let store = open(churn_config(dir.path()), &clock);
    let st = store.stats();
    assert_eq!(st.series, 12, "{st:?}");
    assert_eq!(
        keeper_points(&store),
        keepers,
        "the keepers survive the reopen"
    );
    assert_eq!(raw(&store, "c", "/mid"), mid);
    let all = store.series(&Selector::default());
    assert_eq!(all.len(), 12);
    assert!(
        all.iter().all(|s| !s.metric.starts_with("_lost_series_")),
        "free ids are not mistaken for lost definitions"
    );
    // New series after the reopen take free ids and are found.
    let mut s = Vec::new();
    container_samples("/newer", 17 * 3600 + 10, &mut s);
    clock.set(ts(17 * 3600 + 10));
    store.append(&batch(ts(17 * 3600 + 10), s)).unwrap();
    assert_eq!(store.stats().series, 15);
    assert_eq!(raw(&store, "c", "/newer").len(), 1);
    assert_eq!(raw(&store, "c", "/mid"), mid);
    assert_eq!(
        raw(&store, "g", "/new"),
        [(ts(17 * 3600), Value::Int(17 * 3600 % 11))]
    );
    assert!(store.series_for("id", "/short-b/7").is_empty());
    assert!(series_log_len(dir.path()) < log_full / 10);
    assert!(store.verify().unwrap().is_empty());
}

#[test]
fn a_query_past_the_point_bound_is_refused_with_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(ts(0));
    let store = open(config(dir.path()), &clock);
    for t in 0..500 {
        clock.set(ts(t));
        let mut s = Vec::new();
        for k in 0..4 {
            container_samples(&format!("/c{k}"), t, &mut s);
        }
        store.append(&batch(ts(t), s)).unwrap();
    }
    let q = |metric: &str, step| Query {
        selector: Selector::metric(metric),
        start: ts(0),
        end: ts(1000),
        step,
        agg: if step.is_some() { Agg::Avg } else { Agg::Raw },
    };
    // 4 series x 500 samples.
    store.set_query_max_points(2000);
    assert_eq!(store.query_max_points(), 2000);
    let r = store.query(&q("c", None)).unwrap();
    assert_eq!(r.iter().map(|s| s.points.len()).sum::<usize>(), 2000);
    store.set_query_max_points(1999);
    let e = store.query(&q("c", None)).unwrap_err();
    assert!(matches!(e, Error::QueryTooLarge { limit: 1999 }), "{e:?}");
    assert!(e.to_string().contains("1999 points"), "{e}");
    // A coarser step fits.
    let r = store.query(&q("c", Some(Duration::from_secs(60)))).unwrap();
    assert_eq!(r.iter().map(|s| s.points.len()).sum::<usize>(), 4 * 9);
    // A tighter bound for one call.
    let e = store
        .query_limited(&q("g", Some(Duration::from_secs(60))), 10)
        .unwrap_err();
    assert!(matches!(e, Error::QueryTooLarge { limit: 10 }), "{e:?}");
    assert_eq!(store.stats().queries_refused, 2);
    // The bound holds with data on disk too.
    store.close().unwrap();
    let store = open(config(dir.path()), &clock);
    store.set_query_max_points(100);
    assert!(matches!(
        store.query(&q("f", None)),
        Err(Error::QueryTooLarge { limit: 100 })
    ));
    assert_eq!(
        store
            .query(&Query {
                start: ts(490),
                ..q("f", None)
            })
            .unwrap()
            .iter()
            .map(|s| s.points.len())
            .sum::<usize>(),
        40
    );
    assert_eq!(store.oldest(), Some(ts(0)));
}
