//! The memory budget: under any number of series the store writes its head out early rather
//! than grow, counts it, and loses nothing.

use std::sync::Arc;

use crowsnest_core::ManualClock;
use crowsnest_core::batch::{Kind, Labels, Value};

use crate::support::*;

const METRICS: [&str; 25] = [
    "m00", "m01", "m02", "m03", "m04", "m05", "m06", "m07", "m08", "m09", "m10", "m11", "m12",
    "m13", "m14", "m15", "m16", "m17", "m18", "m19", "m20", "m21", "m22", "m23", "m24",
];

/// Appends `secs` seconds of `containers` x 25 series; returns the largest memory seen.
fn run(
    limit: u64,
    containers: usize,
    secs: i64,
) -> (crowsnest_store::StoreStats, u64, Vec<(i64, i64)>) {
    run_with(limit, containers, secs, 120)
}

fn run_with(
    limit: u64,
    containers: usize,
    secs: i64,
    head_window: u64,
) -> (crowsnest_store::StoreStats, u64, Vec<(i64, i64)>) {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(ts(0));
    let mut c = config(dir.path());
    c.memory_limit = limit;
    c.head_window = std::time::Duration::from_secs(head_window);
    let store = open(c, &clock);
    let ls: Vec<Arc<Labels>> = (0..containers).map(|i| labels(&format!("/c{i}"))).collect();
    let mut max_mem = 0;
    let mut rng = Rng(1);
    for t in 0..secs {
        clock.set(ts(t));
        for (k, l) in ls.iter().enumerate() {
            let s = METRICS
                .iter()
                .enumerate()
                .map(|(m, name)| {
                    // Noisy low bits: a few bytes per sample, as busy counters cost.
                    let v = t * 1_000_000_000
                        + ((k * 25 + m) as i64) * 1_000_000
                        + (rng.below(1_000_000) as i64);
                    sample(name, Kind::Gauge, l, Value::Int(v))
                })
                .collect();
            store.append(&batch(ts(t), s)).unwrap();
        }
        max_mem = max_mem.max(store.stats().bytes_in_memory);
    }
    let got: Vec<(i64, i64)> = raw(&store, "m07", &format!("/c{}", containers - 1))
        .into_iter()
        .map(|(t, v)| (t.nanos() / SEC - T0, v.as_f64() as i64 / 1_000_000))
        .collect();
    (store.stats(), max_mem, got)
}

#[test]
fn the_head_is_shed_early_to_stay_within_the_budget() {
    // 1,000 noisy series for 10 minutes with a 20 minute head: ~2 MB of head without a
    // budget.
    let limit = 1 << 20;
    let (st, max_mem, got) = run_with(limit, 40, 600, 1200);
    assert!(st.budget_flushes >= 2, "{st:?}");
    assert!(
        max_mem <= limit,
        "at most {max_mem} bytes for a limit of {limit}"
    );
    assert_eq!(st.samples_ingested, 40 * 25 * 600);
    let want: Vec<(i64, i64)> = (0..600).map(|t| (t, t * 1000 + 39 * 25 + 7)).collect();
    assert_eq!(got, want, "nothing lost");
    // The same load with room to spare is not shed; the head holds more than the limit was.
    let (st, max_mem, _) = run_with(64 << 20, 40, 600, 1200);
    assert_eq!(st.budget_flushes, 0);
    assert!(max_mem > limit, "{max_mem}");
}

#[test]
fn an_index_larger_than_the_budget_is_reported_and_the_store_keeps_working() {
    let (st, _, got) = run(64 << 10, 100, 30);
    assert!(st.budget_exceeded_by_index > 0, "{st:?}");
    assert!(st.budget_flushes > 0);
    assert_eq!(got.len(), 30);
}
