//! Append, read back, restart; the drop rules; the series index; sharing between threads.

use std::sync::Arc;

use crowsnest_core::batch::{Kind, Value};
use crowsnest_core::{ManualClock, Timestamp};
use crowsnest_store::{Error, Selector, Store};

use crate::support::*;

fn three_metrics(t: i64, ids: &[&str]) -> crowsnest_core::batch::Batch {
    let mut s = Vec::new();
    for (k, id) in ids.iter().enumerate() {
        let l = labels(id);
        let k = k as i64;
        s.push(sample(
            "cpu/usage",
            Kind::Cumulative,
            &l,
            Value::Int(t * 1_000_003 + k),
        ));
        s.push(sample(
            "memory/usage",
            Kind::Gauge,
            &l,
            Value::Int((t % 7) * 4096 + k),
        ));
        s.push(sample(
            "cpu/usage_rate",
            Kind::Gauge,
            &l,
            Value::Float(t as f64 / 3.0 - k as f64),
        ));
    }
    batch(ts(t), s)
}

fn expect(n: i64, id_k: i64) -> [Vec<(Timestamp, Value)>; 3] {
    let t = 0..n;
    [
        t.clone()
            .map(|t| (ts(t), Value::Int(t * 1_000_003 + id_k)))
            .collect(),
        t.clone()
            .map(|t| (ts(t), Value::Int((t % 7) * 4096 + id_k)))
            .collect(),
        t.map(|t| (ts(t), Value::Float(t as f64 / 3.0 - id_k as f64)))
            .collect(),
    ]
}

fn check_all(store: &Store, n: i64) {
    for (k, id) in ["/a", "/b"].iter().enumerate() {
        let [cpu, mem, rate] = expect(n, k as i64);
        same(&raw(store, "cpu/usage", id), &cpu, "cpu");
        same(&raw(store, "memory/usage", id), &mem, "mem");
        same(&raw(store, "cpu/usage_rate", id), &rate, "rate");
    }
}

#[test]
fn samples_round_trip_through_head_wal_and_segments() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(ts(0));
    let n = 500;
    {
        let store = open(config(dir.path()), &clock);
        for t in 0..n {
            clock.set(ts(t));
            let st = store.append(&three_metrics(t, &["/a", "/b"])).unwrap();
            assert_eq!(st.accepted, 6);
        }
        check_all(&store, n);
        let s = store.stats();
        assert_eq!((s.series, s.samples_ingested), (6, 6 * n as u64));
        assert!(
            s.blocks_flushed >= 3,
            "the 2 min head was written out: {s:?}"
        );
        // Dropped without close: the head comes back from the write-ahead log.
    }
    {
        let store = open(config(dir.path()), &clock);
        check_all(&store, n);
        store.close().unwrap();
    }
    let store = open(config(dir.path()), &clock);
    check_all(&store, n);
    assert!(store.verify().unwrap().is_empty());
    // Compaction and rollups keep every sample (the window has closed; raw samples are
    // kept for 2 h).
    clock.set(ts(3600 + 300));
    let rep = store.maintain().unwrap();
    assert!(rep.compacted >= 1, "{rep:?}");
    check_all(&store, n);
    assert!(store.verify().unwrap().is_empty());
}

#[test]
fn out_of_order_duplicate_old_and_future_samples_are_dropped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(ts(100));
    let store = open(config(dir.path()), &clock);
    let l = labels("/a");
    let one = |t: i64, v: i64| batch(ts(t), vec![sample("m", Kind::Gauge, &l, Value::Int(v))]);
    assert_eq!(store.append(&one(50, 1)).unwrap().accepted, 1);
    let st = store.append(&one(50, 2)).unwrap();
    assert_eq!((st.accepted, st.dropped.duplicate), (0, 1));
    let st = store.append(&one(40, 3)).unwrap();
    assert_eq!(st.dropped.out_of_order, 1);
    let st = store.append(&one(-8 * 86400, 3)).unwrap();
    assert_eq!(st.dropped.too_old, 1);
    let st = store.append(&one(100 + 3600, 3)).unwrap();
    assert_eq!(st.dropped.too_far_in_future, 1);
    assert_eq!(store.append(&one(60, 4)).unwrap().accepted, 1);
    assert_eq!(
        raw(&store, "m", "/a"),
        [(ts(50), Value::Int(1)), (ts(60), Value::Int(4))]
    );
    let d = store.stats().dropped;
    assert_eq!(
        (d.duplicate, d.out_of_order, d.too_old, d.too_far_in_future),
        (1, 1, 1, 1)
    );
    // The rule holds across a restart: the newest time comes back from the segments.
    store.close().unwrap();
    let store = open(config(dir.path()), &clock);
    assert_eq!(store.append(&one(60, 9)).unwrap().dropped.duplicate, 1);
    assert_eq!(store.append(&one(61, 9)).unwrap().accepted, 1);
}

#[test]
fn values_keep_their_series_kind_or_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(ts(10));
    let store = open(config(dir.path()), &clock);
    let l = labels("/a");
    let one = |t: i64, v: Value| batch(ts(t), vec![sample("m", Kind::Gauge, &l, v)]);
    store.append(&one(1, Value::Int(5))).unwrap();
    assert_eq!(
        store.append(&one(2, Value::Float(6.0))).unwrap().accepted,
        1
    );
    assert_eq!(
        store
            .append(&one(3, Value::Float(6.5)))
            .unwrap()
            .dropped
            .kind_mismatch,
        1
    );
    let pts = raw(&store, "m", "/a");
    assert_eq!(pts, [(ts(1), Value::Int(5)), (ts(2), Value::Int(6))]);
}

#[test]
fn the_index_finds_series_by_label_and_metric() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(ts(0));
    let store = open(config(dir.path()), &clock);
    store
        .append(&three_metrics(0, &["/a", "/b", "/c"]))
        .unwrap();
    assert_eq!(store.series_for("id", "/b").len(), 3);
    assert_eq!(store.series_for("nodename", "n1").len(), 9);
    assert!(store.series_for("id", "/zzz").is_empty());
    let s = store.series(&Selector::metric("memory/usage").with("id", "/c"));
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].labels.get("id"), Some("/c"));
    assert_eq!(s[0].kind, Kind::Gauge);
}

#[test]
fn a_directory_is_opened_by_one_store_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(ts(0));
    let _a = open(config(dir.path()), &clock);
    let b = Store::open(config(dir.path()), Arc::new(clock.clone()));
    assert!(matches!(b, Err(Error::Locked { .. })), "{b:?}");
}

#[test]
fn readers_and_the_writer_share_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(ts(0));
    let store = Arc::new(open(config(dir.path()), &clock));
    let n = 2000;
    let reader = {
        let store = store.clone();
        std::thread::spawn(move || {
            let mut seen = 0;
            for _ in 0..200 {
                let pts = raw(&store, "cpu/usage", "/a");
                assert!(pts.len() >= seen, "points never disappear");
                assert!(pts.windows(2).all(|w| w[0].0 < w[1].0), "ordered");
                seen = pts.len();
            }
        })
    };
    for t in 0..n {
        clock.set(ts(t));
        store.append(&three_metrics(t, &["/a", "/b"])).unwrap();
        if t % 500 == 0 {
            store.maintain().unwrap();
        }
    }
    reader.join().unwrap();
    check_all(&store, n);
}
