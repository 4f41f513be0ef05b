//! Helpers: batches of canonical samples, stores on a manual clock in temporary directories.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use crowsnest_core::batch::{Batch, Kind, Labels, Sample, Unit, Value};
use crowsnest_core::{ManualClock, Timestamp};
use crowsnest_store::{Agg, Query, Selector, Store, StoreConfig, SyncPolicy};

/// A time aligned to an hour.
pub(crate) const T0: i64 = 1_699_999_200;
pub(crate) const SEC: i64 = 1_000_000_000;

pub(crate) fn ts(secs: i64) -> Timestamp {
    Timestamp::from_secs(T0 + secs)
}

pub(crate) fn labels(id: &str) -> Arc<Labels> {
    Arc::new(Labels::new([("id", id), ("nodename", "n1")]))
}

pub(crate) fn sample(metric: &'static str, kind: Kind, l: &Arc<Labels>, v: Value) -> Sample {
    Sample {
        metric: Cow::Borrowed(metric),
        kind,
        unit: Unit::Count,
        labels: l.clone(),
        value: v,
    }
}

pub(crate) fn batch(t: Timestamp, samples: Vec<Sample>) -> Batch {
    Batch {
        timestamp: t,
        samples,
    }
}

pub(crate) fn config(dir: &std::path::Path) -> StoreConfig {
    let mut c = StoreConfig::new(dir);
    c.sync = SyncPolicy::Interval(Duration::from_secs(1));
    c
}

pub(crate) fn open(c: StoreConfig, clock: &ManualClock) -> Store {
    Store::open(c, Arc::new(clock.clone())).expect("store opens")
}

/// All points of one series, raw.
pub(crate) fn raw(store: &Store, metric: &str, id: &str) -> Vec<(Timestamp, Value)> {
    let r = store
        .query(&Query {
            selector: Selector::metric(metric).with("id", id),
            start: Timestamp(0),
            end: Timestamp(i64::MAX),
            step: None,
            agg: Agg::Raw,
        })
        .expect("query");
    assert!(r.len() <= 1, "one series");
    r.into_iter().next().map(|s| s.points).unwrap_or_default()
}

/// A deterministic pseudo-random sequence.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 11
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Asserts two point lists are equal, printing only where they first differ.
#[track_caller]
pub(crate) fn same(got: &[(Timestamp, Value)], want: &[(Timestamp, Value)], what: &str) {
    if got == want {
        return;
    }
    let i = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    panic!(
        "{what}: {} points, expected {}; first difference at {i}: got {:?}, expected {:?}",
        got.len(),
        want.len(),
        got.get(i),
        want.get(i)
    );
}
