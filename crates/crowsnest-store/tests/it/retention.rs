//! Retention on a manual clock: raw segments go after `raw_retention` (once rolled up),
//! rollups after `retention`, whole files at a time; what is left answers queries.

use std::time::Duration;

use crowsnest_core::batch::{Kind, Value};
use crowsnest_core::{ManualClock, Timestamp};
use crowsnest_store::{Agg, Query, Selector};

use crate::support::*;

#[test]
fn old_segments_are_deleted_whole_and_the_rest_still_answers() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(ts(0));
    let mut c = config(dir.path());
    c.raw_retention = Duration::from_secs(2 * 3600);
    c.retention = Duration::from_secs(24 * 3600);
    let store = open(c, &clock);
    let l = labels("/a");
    let hours = 40i64;
    let mut files_max = 0usize;
    let count_files = || {
        ["raw", "10s", "1m"]
            .iter()
            .map(|d| std::fs::read_dir(dir.path().join(d)).map_or(0, |r| r.count()))
            .sum::<usize>()
    };
    for i in 0..hours * 360 {
        let t = ts(i * 10);
        clock.set(t);
        let s = vec![
            sample("c", Kind::Cumulative, &l, Value::Int(i * 100)),
            sample("g", Kind::Gauge, &l, Value::Int(i % 13)),
        ];
        store.append(&batch(t, s)).unwrap();
        if i % 360 == 359 {
            store.maintain().unwrap();
            files_max = files_max.max(count_files());
        }
    }
    clock.set(ts(hours * 3600 + 300));
    store.maintain().unwrap();
    let st = store.stats();
    assert!(st.segments_deleted > 20, "{st:?}");
    assert!(st.retention_runs >= hours as u64);
    // Bounded: a day and a window of rollups (5 files of 6 h at 1 m, 13 of 2 h at 10 s),
    // 2-3 raw hours.
    assert!(files_max <= 24, "{files_max} files at most");
    let now = hours * 3600;
    // Raw samples for the last 2 h; before, the last sample of each 10 s bucket (here: all of
    // them, one sample per 10 s); nothing older than the rollups keep.
    let pts = raw(&store, "c", "/a");
    let recent: Vec<_> = pts.iter().filter(|p| p.0 >= ts(now - 2 * 3600)).collect();
    assert_eq!(recent.len(), 720);
    assert!(
        pts.iter()
            .all(|p| p.1 == Value::Int((p.0.nanos() / SEC - T0) * 10))
    );
    assert!(st.bytes_on_disk_raw < st.bytes_on_disk_rollups, "{st:?}");
    // Rollups reach back a day (plus up to one 6 h window), and the counter's rate is right
    // everywhere.
    let r = store
        .query(&Query {
            selector: Selector::metric("c"),
            start: Timestamp(0),
            end: ts(now),
            step: Some(Duration::from_secs(600)),
            agg: Agg::Rate,
        })
        .unwrap()
        .remove(0);
    let first = r.points.first().unwrap().0;
    assert!(
        first >= ts(now - 30 * 3600) && first <= ts(now - 24 * 3600),
        "{first:?}"
    );
    assert!(
        r.points.iter().all(|p| (p.1.as_f64() - 10.0).abs() < 1e-9),
        "100 per 10 s"
    );
    // Too old to store at all.
    let st = store
        .append(&batch(
            ts(now - 30 * 3600),
            vec![sample("g", Kind::Gauge, &l, Value::Int(1))],
        ))
        .unwrap();
    assert_eq!(st.dropped.too_old, 1);
    assert!(store.verify().unwrap().is_empty());
}
