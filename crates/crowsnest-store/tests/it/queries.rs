//! Queries: steps and aggregations against an independent computation from the samples
//! themselves, read from raw samples, from rollups after the raw samples are gone, and across
//! both; counter resets.

use std::time::Duration;

use crowsnest_core::batch::{Kind, Value};
use crowsnest_core::{ManualClock, Timestamp};
use crowsnest_store::{Agg, Query, Selector, Store};

use crate::support::*;

struct Series {
    metric: &'static str,
    kind: Kind,
    points: Vec<(i64, Value)>,
}

/// Three hours of 1 s samples with scheduler-like jitter: a counter with resets, an integer
/// gauge in 4 KiB pages, a float gauge.
fn generate(from: i64, n: i64, rng: &mut Rng) -> Vec<Series> {
    let mut cpu = Vec::new();
    let mut mem = Vec::new();
    let mut pct = Vec::new();
    let mut c = 1_000_000_000_000i64;
    for i in 0..n {
        let t = (T0 + from + i) * SEC + rng.below(100_000_000) as i64;
        c = if i % 1777 == 1000 {
            rng.below(100) as i64
        } else {
            c + rng.below(2_000_000) as i64
        };
        cpu.push((t, Value::Int(c)));
        mem.push((t, Value::Int((1000 + rng.below(50) as i64) * 4096)));
        pct.push((t, Value::Float(rng.below(1_000_000) as f64 / 7.0)));
    }
    vec![
        Series {
            metric: "cpu/usage",
            kind: Kind::Cumulative,
            points: cpu,
        },
        Series {
            metric: "memory/usage",
            kind: Kind::Gauge,
            points: mem,
        },
        Series {
            metric: "cpu/usage_rate",
            kind: Kind::Gauge,
            points: pct,
        },
    ]
}

fn ingest(store: &Store, clock: &ManualClock, series: &[Series]) {
    let l = labels("/a");
    for i in 0..series[0].points.len() {
        let t = series[0].points[i].0;
        clock.set(Timestamp(t));
        let s = series
            .iter()
            .map(|s| sample(s.metric, s.kind, &l, s.points[i].1))
            .collect();
        let st = store.append(&batch(Timestamp(t), s)).unwrap();
        assert_eq!(st.accepted, 3);
    }
}

/// The answer computed from the samples directly: windows aligned to the step, a rate pair
/// belongs to the window of its later sample and is left out when the counter went down.
fn reference(pts: &[(i64, Value)], step: i64, agg: Agg) -> Vec<(Timestamp, Value)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < pts.len() {
        let w = pts[i].0.div_euclid(step) * step;
        let mut j = i;
        while j < pts.len() && pts[j].0.div_euclid(step) * step == w {
            j += 1;
        }
        let win = &pts[i..j];
        let v = match agg {
            Agg::Avg => match win[0].1 {
                Value::Int(_) => {
                    let s: i128 = win.iter().map(|p| i128::from(int(p.1))).sum();
                    Some(Value::Float(s as f64 / win.len() as f64))
                }
                Value::Float(_) => {
                    let s: f64 = win.iter().map(|p| p.1.as_f64()).sum();
                    Some(Value::Float(s / win.len() as f64))
                }
            },
            Agg::Min => win
                .iter()
                .map(|p| p.1)
                .reduce(|a, b| if b.as_f64() < a.as_f64() { b } else { a }),
            Agg::Max => win
                .iter()
                .map(|p| p.1)
                .reduce(|a, b| if b.as_f64() > a.as_f64() { b } else { a }),
            Agg::Last => Some(win[win.len() - 1].1),
            Agg::Rate => {
                let (mut inc, mut dur) = (0i128, 0i64);
                for k in i.max(1)..j {
                    let (a, b) = (int(pts[k - 1].1), int(pts[k].1));
                    if b >= a {
                        inc += i128::from(b - a);
                        dur += pts[k].0 - pts[k - 1].0;
                    }
                }
                (dur > 0).then(|| Value::Float(inc as f64 / (dur as f64 / 1e9)))
            }
            Agg::Raw => unreachable!(),
        };
        if let Some(v) = v {
            out.push((Timestamp(w), v));
        }
        i = j;
    }
    out
}

fn int(v: Value) -> i64 {
    match v {
        Value::Int(i) => i,
        Value::Float(f) => f as i64,
    }
}

fn query(
    store: &Store,
    metric: &str,
    from: i64,
    to: i64,
    step: i64,
    agg: Agg,
) -> Vec<(Timestamp, Value)> {
    let r = store
        .query(&Query {
            selector: Selector::metric(metric).with("id", "/a"),
            start: Timestamp(from),
            end: Timestamp(to),
            step: Some(Duration::from_nanos(step as u64)),
            agg,
        })
        .unwrap();
    assert_eq!(r.len(), 1);
    assert!(r[0].warnings.is_empty(), "{:?}", r[0].warnings);
    r.into_iter().next().map(|s| s.points).unwrap_or_default()
}

/// Equal, exactly for integers and within rounding for float sums.
#[track_caller]
fn close(got: &[(Timestamp, Value)], want: &[(Timestamp, Value)], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: point count");
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.0, w.0, "{what}: time of point {k}");
        let ok = match (g.1, w.1) {
            (Value::Float(a), Value::Float(b)) => {
                a == b || (a - b).abs() <= 1e-9 * b.abs().max(1.0)
            }
            (a, b) => a == b,
        };
        assert!(ok, "{what}: point {k}: got {:?}, expected {:?}", g.1, w.1);
    }
}

const AGGS: [Agg; 5] = [Agg::Avg, Agg::Min, Agg::Max, Agg::Last, Agg::Rate];

fn check(store: &Store, series: &[Series], from: i64, to: i64, steps: &[i64], exact_floats: bool) {
    for s in series {
        let pts: Vec<_> = s
            .points
            .iter()
            .copied()
            .filter(|p| p.0 >= from && p.0 <= to)
            .collect();
        for &step in steps {
            for agg in AGGS {
                if agg == Agg::Rate && s.kind != Kind::Cumulative {
                    continue;
                }
                let got = query(store, s.metric, from, to, step, agg);
                let want = reference(&pts, step, agg);
                let what = format!("{} step {}s {agg:?}", s.metric, step / SEC);
                if exact_floats {
                    same(&got, &want, &what);
                } else {
                    close(&got, &want, &what);
                }
            }
        }
    }
}

#[test]
fn rollups_answer_like_raw_samples_and_rates_skip_resets() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(ts(0));
    let store = open(config(dir.path()), &clock);
    let mut rng = Rng(7);
    let hours = generate(0, 3 * 3600, &mut rng);
    ingest(&store, &clock, &hours);
    let (from, to) = (T0 * SEC, (T0 + 3 * 3600) * SEC);
    // From raw samples (a 90 s step is not a multiple of a rollup bucket): exact.
    check(&store, &hours, from, to, &[90 * SEC], true);
    // Close the windows: compaction and rollups (the first hour's raw samples are already
    // past the 2 h raw retention and go).
    clock.set(ts(3 * 3600 + 300));
    let rep = store.maintain().unwrap();
    assert!(rep.compacted >= 3, "{rep:?}");
    check(
        &store,
        &hours,
        from,
        to,
        &[10 * SEC, 60 * SEC, 120 * SEC],
        false,
    );
    // Past raw retention: only rollups are left, and they give the same answers.
    clock.set(ts(3 * 3600 + 2 * 3600 + 600));
    let rep = store.maintain().unwrap();
    assert!(rep.deleted >= 2, "{rep:?}");
    assert_eq!(store.stats().bytes_on_disk_raw, 0);
    check(
        &store,
        &hours,
        from,
        to,
        &[10 * SEC, 60 * SEC, 300 * SEC],
        false,
    );
    // Without a step, old data comes from the finest rollup: the last sample of each 10 s.
    let raw_pts = raw(&store, "cpu/usage", "/a");
    assert_eq!(raw_pts.len(), 3 * 360, "one per 10 s bucket");
    let want_last = reference(&hours[0].points, 10 * SEC, Agg::Last);
    let last: Vec<Value> = want_last.iter().map(|p| p.1).collect();
    let got: Vec<Value> = raw_pts.iter().map(|p| p.1).collect();
    assert_eq!(got, last);
    // New samples after the gap: a query spanning rollups and the head is still right.
    let more = generate(5 * 3600 + 600, 600, &mut rng);
    ingest(&store, &clock, &more);
    let all: Vec<Series> = hours
        .into_iter()
        .zip(more)
        .map(|(mut a, b)| {
            a.points.extend(b.points);
            a
        })
        .collect();
    let end = (T0 + 6 * 3600) * SEC;
    check(&store, &all, from, end, &[60 * SEC], false);
}

#[test]
fn a_counter_reset_starts_a_new_run() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(ts(0));
    let store = open(config(dir.path()), &clock);
    let l = labels("/a");
    // 10/s, a restart to 0 at t=5, then 20/s.
    let vals = [0i64, 10, 20, 30, 40, 0, 20, 40, 60, 80, 100, 120];
    for (i, &v) in vals.iter().enumerate() {
        let t = ts(i as i64);
        clock.set(t);
        store
            .append(&batch(
                t,
                vec![sample("c", Kind::Cumulative, &l, Value::Int(v))],
            ))
            .unwrap();
    }
    let q = |step: Option<u64>| {
        store
            .query(&Query {
                selector: Selector::metric("c"),
                start: ts(0),
                end: ts(100),
                step: step.map(Duration::from_secs),
                agg: Agg::Rate,
            })
            .unwrap()
            .remove(0)
            .points
    };
    let per_pair: Vec<f64> = q(None).iter().map(|p| p.1.as_f64()).collect();
    assert_eq!(
        per_pair,
        [10.0, 10.0, 10.0, 10.0, 20.0, 20.0, 20.0, 20.0, 20.0, 20.0]
    );
    // Window [0,10): pairs 1-4 (40 over 4 s) and 6-9 (80 over 4 s); the reset pair is out.
    let w = q(Some(10));
    assert_eq!(w[0], (ts(0), Value::Float(15.0)));
    assert_eq!(w[1], (ts(10), Value::Float(20.0)));
    assert!(w.iter().all(|p| p.1.as_f64() >= 0.0));
}
