//! kill -9: a child process (this test binary, re-run on `crash_child`) appends batches with
//! a sync per batch and prints each acknowledged one; the parent kills it with SIGKILL at a
//! random point, reopens the store and finds every acknowledged batch, exactly, and nothing
//! damaged. Ten rounds on the same directory, so recovery also recovers from recoveries; the
//! child runs maintenance often, so kills land in flushes, compactions and rollups too.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use crowsnest_core::batch::{Batch, Kind, Value};
use crowsnest_core::{ManualClock, Timestamp};
use crowsnest_store::{Store, StoreConfig, SyncPolicy};

use crate::support::*;

const ENV_DIR: &str = "CROWSNEST_STORE_CRASH_DIR";
const ENV_START: &str = "CROWSNEST_STORE_CRASH_START";
const CONTAINERS: i64 = 4;
const METRICS: [&str; 5] = ["a", "b", "c", "d", "e"];

fn crash_config(dir: &std::path::Path) -> StoreConfig {
    let mut c = StoreConfig::new(dir);
    c.raw_retention = Duration::from_secs(30 * 86400);
    c.retention = Duration::from_secs(60 * 86400);
    c.head_window = Duration::from_secs(60);
    c.sync = SyncPolicy::EveryBatch;
    c
}

fn at(i: u64) -> Timestamp {
    ts(i as i64 * 15)
}

fn value(i: u64, k: i64, m: usize) -> Value {
    let i = i as i64;
    match m {
        0 => Value::Int(i * 1_000_000_007 + k),
        1 => Value::Int((i % 17) * 4096 + k),
        2 => Value::Float(i as f64 * 0.1 + k as f64),
        3 => Value::Int(k),
        _ => Value::Int((i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) as i64 >> 3),
    }
}

fn the_batch(i: u64) -> Batch {
    let mut s = Vec::new();
    for k in 0..CONTAINERS {
        let l = labels(&format!("/c{k}"));
        for (m, name) in METRICS.iter().enumerate() {
            s.push(sample(name, Kind::Gauge, &l, value(i, k, m)));
        }
    }
    batch(at(i), s)
}

/// The child: appends from `START` on until killed.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(ENV_DIR) else {
        return;
    };
    let start: u64 = std::env::var(ENV_START).unwrap().parse().unwrap();
    let clock = ManualClock::new(at(start));
    let store = Store::open(crash_config(dir.as_ref()), Arc::new(clock.clone())).unwrap();
    let mut out = std::io::stdout().lock();
    for i in start..start + 1_000_000 {
        clock.set(at(i));
        store.append(&the_batch(i)).unwrap();
        writeln!(out, "acked {i}").unwrap();
        out.flush().unwrap();
        if i % 7 == 0 {
            store.maintain().unwrap();
        }
    }
}

/// Kills the child if the test ends early.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn kill_9_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng(0x5eed);
    let mut next = 0u64;
    let mut acked: Option<u64> = None;
    for round in 0..10 {
        let target = 20 + rng.below(250);
        let child = Command::new(&exe)
            .args([
                "crash::crash_child",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ENV_DIR, dir.path())
            .env(ENV_START, next.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut child = Killed(child);
        let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
        let mut n = 0;
        for line in lines.by_ref() {
            if let Some(i) = line.unwrap().strip_prefix("acked ") {
                acked = Some(i.parse().unwrap());
                n += 1;
                if n >= target {
                    break;
                }
            }
        }
        assert_eq!(n, target, "round {round}: the child stopped early");
        // SIGKILL, while the child is somewhere in its next append or maintenance.
        child.0.kill().unwrap();
        child.0.wait().unwrap();
        // Acknowledgements still in the pipe count too.
        for line in lines {
            if let Some(i) = line.unwrap().strip_prefix("acked ") {
                acked = Some(i.parse().unwrap());
            }
        }
        drop(child);
        let last = acked.unwrap();
        let clock = ManualClock::new(at(last + 1));
        let store = Store::open(crash_config(dir.path()), Arc::new(clock)).unwrap();
        let problems = store.verify().unwrap();
        assert!(problems.is_empty(), "round {round}: {problems:?}");
        for k in 0..CONTAINERS {
            for (m, name) in METRICS.iter().enumerate() {
                let got = raw(&store, name, &format!("/c{k}"));
                // Every acknowledged batch; perhaps the one in flight at the kill.
                let want: Vec<_> = (0..=last).map(|i| (at(i), value(i, k, m))).collect();
                let extra = got.len() == want.len() + 1
                    && got[want.len()] == (at(last + 1), value(last + 1, k, m));
                assert!(
                    got.len() == want.len() || extra,
                    "round {round}: {name} /c{k}: {} points for {} acked",
                    got.len(),
                    want.len()
                );
                same(
                    &got[..want.len()],
                    &want,
                    &format!("round {round}: {name} /c{k}"),
                );
            }
        }
        drop(store);
        next = last + 1;
    }
    assert!(
        acked.unwrap() > 240,
        "the rounds spanned a raw window, so compaction ran"
    );
}
