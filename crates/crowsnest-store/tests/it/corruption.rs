//! Damage: flipped bytes and truncation in every part of every file (segment headers,
//! pages, indexes, trailers; the write-ahead log; the series log). Opening never fails, the
//! damage is reported (on open, by `verify`, or as a query warning, naming the file), nothing
//! invented is ever returned, and data in other files and other parts stays readable.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crowsnest_core::batch::{Kind, Value};
use crowsnest_core::{ManualClock, Timestamp};
use crowsnest_store::{Agg, Query, Selector, Store};

use crate::support::*;

const CONTAINERS: usize = 20;
const METRICS: [(&str, Kind); 3] = [
    ("cpu/usage", Kind::Cumulative),
    ("memory/usage", Kind::Gauge),
    ("cpu/usage_rate", Kind::Gauge),
];
/// Seconds of data: a compacted hour, most of an appendable hour, a head in the log.
const SECS: i64 = 3600 + 700;

type Points = BTreeMap<(String, String), Vec<(Timestamp, Value)>>;

/// Builds the pristine store; returns its directory and every series' points.
fn pristine() -> (tempfile::TempDir, Points) {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(ts(0));
    let store = open(config(dir.path()), &clock);
    let mut rng = Rng(3);
    let ls: Vec<_> = (0..CONTAINERS).map(|i| labels(&format!("/c{i}"))).collect();
    for t in 0..SECS {
        clock.set(ts(t));
        let mut s = Vec::new();
        for (k, l) in ls.iter().enumerate() {
            let k = k as i64;
            s.push(sample(
                METRICS[0].0,
                METRICS[0].1,
                l,
                Value::Int(t * 10_000_000 + rng.below(1000) as i64 + k),
            ));
            s.push(sample(
                METRICS[1].0,
                METRICS[1].1,
                l,
                Value::Int((1000 + rng.below(9) as i64) * 4096 + k),
            ));
            s.push(sample(
                METRICS[2].0,
                METRICS[2].1,
                l,
                Value::Float(rng.below(10_000) as f64 / 100.0),
            ));
        }
        store.append(&batch(ts(t), s)).unwrap();
        if t == 3600 + 300 {
            store.maintain().unwrap();
        }
    }
    let pts = all_points(&store);
    assert!(store.verify().unwrap().is_empty());
    let st = store.stats();
    assert!(st.compactions >= 1 && st.head_samples > 0, "{st:?}");
    drop(store);
    (dir, pts)
}

fn all_points(store: &Store) -> Points {
    store
        .query(&Query {
            selector: Selector::default(),
            start: Timestamp(0),
            end: Timestamp(i64::MAX),
            step: None,
            agg: Agg::Raw,
        })
        .unwrap()
        .into_iter()
        .filter(|r| !r.metric.starts_with("_lost"))
        .map(|r| {
            let id = r.labels.get("id").unwrap_or_default().to_owned();
            ((r.metric.to_string(), id), r.points)
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &p);
        } else if e.file_name() != "LOCK" {
            fs::copy(e.path(), p).unwrap();
        }
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for sub in ["raw", "10s", "1m", "wal"] {
        if let Ok(rd) = fs::read_dir(dir.join(sub)) {
            out.extend(rd.map(|e| e.unwrap().path()));
        }
    }
    out.push(dir.join("series.log"));
    out.sort();
    out
}

/// The times a file's samples may come from (raw segments: their window; the log: the head).
fn span(path: &Path) -> Option<(Timestamp, Timestamp)> {
    let level = path.parent()?.file_name()?.to_str()?;
    let name = path.file_name()?.to_str()?;
    match level {
        "raw" => {
            let w: i64 = name.split('_').next()?.parse().ok()?;
            Some((Timestamp(w), Timestamp(w + 3600 * SEC)))
        }
        "wal" => Some((ts(SECS - 130), ts(SECS))),
        _ => None,
    }
}

/// Opens the damaged copy and checks the rules; `what` describes the damage. A cut at a
/// record boundary looks exactly like records never written: nothing can report it, so for
/// `cut` the rule is that what is kept of the file is a prefix of what it had.
fn check(dir: &Path, damaged: &Path, orig: &Points, what: &str, cut: bool) {
    let clock = ManualClock::new(ts(SECS));
    let store = Store::open(config(dir), std::sync::Arc::new(clock))
        .unwrap_or_else(|e| panic!("{what}: open failed: {e}"));
    let st = store.stats();
    let found_on_open = st.corrupt_records + st.torn_tails_cut > 0;
    let problems = store.verify().unwrap();
    let name = damaged.file_name().unwrap().to_string_lossy().into_owned();
    let named = problems.iter().any(|e| e.to_string().contains(&name));
    let results = store
        .query(&Query {
            selector: Selector::default(),
            start: Timestamp(0),
            end: Timestamp(i64::MAX),
            step: None,
            agg: Agg::Raw,
        })
        .unwrap();
    let mut inexact = 0;
    let mut warned = false;
    for r in &results {
        if r.metric.starts_with("_lost") {
            continue;
        }
        let key = (
            r.metric.to_string(),
            r.labels.get("id").unwrap_or_default().to_owned(),
        );
        let want = &orig[&key];
        warned |= !r.warnings.is_empty();
        if r.points == *want {
            continue;
        }
        inexact += 1;
        // Nothing invented: every point returned is an original one.
        let mut it = want.iter();
        for p in &r.points {
            assert!(
                it.any(|w| w == p),
                "{what}: {key:?}: point {p:?} is not an original"
            );
        }
        // Data from elsewhere is all there.
        if let Some((lo, hi)) = span(damaged) {
            let outside: Vec<_> = want.iter().filter(|p| p.0 < lo || p.0 >= hi).collect();
            let got: Vec<_> = r.points.iter().filter(|p| p.0 < lo || p.0 >= hi).collect();
            assert_eq!(
                got, outside,
                "{what}: {key:?}: data outside the damaged file"
            );
        }
        // What is kept of the file is a prefix of what it had (a cut at a record boundary
        // looks like records never written); anything else is reported.
        let prefix = span(damaged).is_none_or(|(lo, hi)| {
            let inside: Vec<_> = want.iter().filter(|p| p.0 >= lo && p.0 < hi).collect();
            let got: Vec<_> = r.points.iter().filter(|p| p.0 >= lo && p.0 < hi).collect();
            got.len() <= inside.len() && got == inside[..got.len()]
        });
        assert!(
            (cut && prefix) || !r.warnings.is_empty() || found_on_open,
            "{what}: {key:?} lost points with no warning and nothing found on open"
        );
    }
    if name == "series.log" {
        assert!(
            inexact == 0,
            "{what}: a lost definition hides its series, others are whole"
        );
        assert!(results.len() >= orig.len(), "{what}: ids still line up");
    }
    // The damage was noticed somewhere, unless it changed nothing at all.
    assert!(
        cut || named || found_on_open || warned || inexact == 0,
        "{what}: damage went unnoticed: {problems:?}"
    );
    if span(damaged).is_none() && name != "series.log" {
        assert_eq!(inexact, 0, "{what}: rollup damage does not touch raw reads");
    }
}

/// Offsets to damage in a file of `len` bytes: the whole header, the end, and a spread.
fn offsets(len: usize, spread: usize) -> Vec<usize> {
    let mut o: Vec<usize> = (0..len.min(56)).step_by(5).collect();
    o.extend((len.saturating_sub(30)..len).step_by(4));
    o.extend((0..spread).map(|i| i * len / spread));
    o.sort_unstable();
    o.dedup();
    o
}

#[test]
fn flipped_bytes_anywhere_are_reported_and_the_rest_stays_readable() {
    let (dir, orig) = pristine();
    let mut tried = 0;
    for f in files(dir.path()) {
        let rel = f.strip_prefix(dir.path()).unwrap().to_owned();
        let data = fs::read(&f).unwrap();
        for off in offsets(data.len(), 24) {
            let copy = tempfile::tempdir().unwrap();
            copy_dir(dir.path(), copy.path());
            let mut d = data.clone();
            d[off] ^= 0x5a;
            fs::write(copy.path().join(&rel), &d).unwrap();
            let what = format!("{} byte {off} flipped", rel.display());
            check(copy.path(), &copy.path().join(&rel), &orig, &what, false);
            tried += 1;
        }
    }
    assert!(tried > 200, "{tried}");
}

#[test]
fn truncated_files_keep_everything_before_the_cut() {
    let (dir, orig) = pristine();
    for f in files(dir.path()) {
        let rel = f.strip_prefix(dir.path()).unwrap().to_owned();
        let data = fs::read(&f).unwrap();
        let mut cuts = offsets(data.len(), 12);
        cuts.push(0);
        for cut in cuts {
            let copy = tempfile::tempdir().unwrap();
            copy_dir(dir.path(), copy.path());
            fs::write(copy.path().join(&rel), &data[..cut]).unwrap();
            let what = format!("{} cut at {cut}", rel.display());
            check(copy.path(), &copy.path().join(&rel), &orig, &what, true);
        }
    }
}
