//! Churn: 10,000 real cgroups made and removed in batches of 500 (in the cpu, cpuacct and
//! memory v1 hierarchies, below one test cgroup) while the real agent watches them with a
//! store of the shortest retention. Its open files and RSS go back to their baseline, the
//! API forgets every removed cgroup, and once retention has passed the store keeps no series
//! of them.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crowsnest_testkit::RealCgroup;
use crowsnest_testkit::servers::{free_port, urlencode};

use crate::faults::{Proc, get, get_json, metric, wait_for};

const TOTAL: usize = 10_000;
const BATCH: usize = 500;

/// The cgroup directories made (one per hierarchy per cgroup), removed on drop even when
/// the test fails.
struct Children {
    live: Vec<PathBuf>,
}

impl Children {
    fn make(&mut self, parents: &[PathBuf], from: usize, n: usize) {
        for i in from..from + n {
            for p in parents {
                let d = p.join(format!("c{i}"));
                std::fs::create_dir(&d).unwrap_or_else(|e| panic!("mkdir {}: {e}", d.display()));
                self.live.push(d);
            }
        }
    }

    fn remove_all(&mut self) {
        for d in self.live.drain(..) {
            for _ in 0..50 {
                match std::fs::remove_dir(&d) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        self.remove_all();
    }
}

/// (open fds, RSS in KiB) of process `pid`.
fn usage(pid: i32) -> (usize, u64) {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(Iterator::count)
        .unwrap_or(0);
    let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    (fds, rss)
}

/// Open fds of `pid` on files of the churned cgroups: `<parent>/c<number>/<file>` (the
/// parent's own files, `<parent>/cgroup.procs` or `<parent>/cpu.stat`, are the parent's,
/// which the agent rightly keeps open).
fn churned_fds(pid: i32, parent: &str) -> Vec<String> {
    let under = format!("{parent}/c");
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .map(|t| t.to_string_lossy().into_owned())
                .filter(|t| {
                    t.split_once(under.as_str()).is_some_and(|(_, rest)| {
                        rest.split_once('/').is_some_and(|(n, _)| {
                            !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
                        })
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Containers the agent knows on the whole machine (other tests come and go meanwhile; the
/// agent keeps a few files open per container).
fn all_containers(port: u16) -> usize {
    get_json(port, "/api/v1.3/subcontainers/")
        .as_array()
        .map_or(0, Vec::len)
}

fn subcontainers(port: u16, parent: &str) -> usize {
    let v = get_json(port, &format!("/api/v1.3/containers{parent}"));
    v["subcontainers"].as_array().map_or(0, Vec::len)
}

/// How many of the store's `cpu/usage` series belong to churned cgroups (below `parent`).
fn stored_churn_series(port: u16, parent: &str) -> usize {
    let v = get_json(
        port,
        "/api/v1/query?metric=cpu/usage&start=0&agg=last&step=1h",
    );
    let prefix = format!("{parent}/c");
    v["series"].as_array().map_or(0, |all| {
        all.iter()
            .filter(|s| {
                s["labels"]["id"]
                    .as_str()
                    .is_some_and(|id| id.starts_with(&prefix))
            })
            .count()
    })
}

fn store_series(port: u16) -> f64 {
    metric(&get(port, "/metrics").1, "crowsnest_store_series").unwrap_or(-1.0)
}

/// What the store says it holds in memory (index, head, per-series tables).
fn store_memory(port: u16) -> f64 {
    metric(&get(port, "/metrics").1, "crowsnest_store_bytes_in_memory").unwrap_or(-1.0)
}

#[test]
fn ten_thousand_cgroups_come_and_go_and_the_agent_returns_to_its_baseline() {
    let Some(parent) = RealCgroup::create("/", &["cpu", "cpuacct", "memory"], false) else {
        return;
    };
    let parents: Vec<PathBuf> = parent.dirs().to_vec();
    let mut children = Children { live: Vec::new() };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let agent = Proc::start(
        &[
            "agent".to_owned(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--housekeeping-interval=1s".into(),
            "--global-housekeeping-interval=2s".into(),
            "--storage-duration=1m".into(),
            format!("--store-dir={}", dir.path().join("store").display()),
            "--retention=1m".into(),
        ],
        port,
        &dir.path().join("agent.log"),
    );
    let pid = agent.pid();
    let name = parent.name().to_owned();

    // One batch: made, seen by the agent, removed, forgotten by it. Returns its time and the
    // highest (fds, RSS) seen.
    let batch = |children: &mut Children, from: usize| {
        let t = Instant::now();
        children.make(&parents, from, BATCH);
        wait_for("the agent to see the batch", 60, || {
            subcontainers(port, &name) == BATCH
        });
        let full = usage(pid);
        children.remove_all();
        wait_for("the agent to forget the batch", 60, || {
            subcontainers(port, &name) == 0
        });
        let empty = usage(pid);
        (t.elapsed(), (full.0.max(empty.0), full.1.max(empty.1)))
    };
    // Warm-up: one batch (not counted), then the baseline once the agent settled.
    let (warm, _) = batch(&mut children, TOTAL);
    std::thread::sleep(Duration::from_secs(3));
    let base = usage(pid);
    let base_containers = all_containers(port);
    let base_series = store_series(port);
    let base_store_memory = store_memory(port);
    let started = Instant::now();
    let mut peak = base;
    let mut times = Vec::new();
    for b in 0..TOTAL / BATCH {
        let (took, u) = batch(&mut children, b * BATCH);
        peak = (peak.0.max(u.0), peak.1.max(u.1));
        times.push(took);
    }
    let churned = started.elapsed();
    let peak_series = store_series(port);
    let peak_store_memory = store_memory(port);
    let slowest = times.iter().max().copied().unwrap_or_default();
    let mean = times.iter().sum::<Duration>() / u32::try_from(times.len()).unwrap();

    // Settled: fds back at once; RSS within the bound; the store forgets after retention.
    let rss_bound = (base.1 + (20 << 10)).max(base.1 * 3 / 2);
    let mut last = usage(pid);
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_secs(30) {
        last = usage(pid);
        if last.0 <= base.0 + 32 && last.1 <= rss_bound {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let after_churn = last;
    // The exact check is `leaked` below (no file of a removed cgroup open). The process's
    // total also counts what other tests do meanwhile: their containers (8 files each at
    // most), the runtime-socket and HTTP connections they cause; so a margin of 32.
    let others = all_containers(port).saturating_sub(base_containers);
    let fd_bound = base.0 + 32 + 8 * others;
    let leaked_files = churned_fds(pid, &name);
    let leaked = leaked_files.len();
    // Retention is 1 minute of 1-minute raw segments: a series' last segment goes at most
    // 2 minutes after its last sample, then maintenance (every 10 s) removes the series.
    let stored = stored_churn_series(port, &name);
    let t = Instant::now();
    let mut left = stored;
    while t.elapsed() < Duration::from_secs(150) && left > 0 {
        std::thread::sleep(Duration::from_secs(2));
        left = stored_churn_series(port, &name);
    }
    let series = store_series(port);
    let final_store_memory = store_memory(port);
    let forgot = t.elapsed();
    let final_usage = usage(pid);
    eprintln!(
        "churn: {TOTAL} cgroups in batches of {BATCH} (3 hierarchies each) in {churned:?} \
         (warm-up batch {warm:?}, mean {mean:?}, slowest {slowest:?}); \
         fds baseline {} peak {} after {} ({leaked} of churned cgroups); RSS KiB baseline {} peak {} after churn {} after retention {}; \
         store series baseline {base_series} peak {peak_series} final {series}; \
         churned cgroups in the store {stored} after the churn, {left} {forgot:?} later; \
         store bytes in memory baseline {base_store_memory} peak {peak_store_memory} final {final_store_memory}",
        base.0, peak.0, final_usage.0, base.1, peak.1, after_churn.1, final_usage.1
    );
    assert_eq!(
        leaked, 0,
        "files of removed cgroups still open: {leaked_files:?}"
    );
    assert!(
        after_churn.0 <= fd_bound,
        "fds: baseline {}, bound {fd_bound} ({others} more containers), after {after_churn:?} / {final_usage:?}",
        base.0
    );
    // Until retention the store rightly keeps the churned cgroups' series (about 20 MB of
    // them); once they are gone, RSS is back near the baseline.
    assert!(
        final_usage.1 <= rss_bound,
        "RSS KiB: baseline {}, bound {rss_bound}, after the churn {}, after retention {}",
        base.1,
        after_churn.1,
        final_usage.1
    );
    assert_eq!(subcontainers(port, &name), 0);
    let listed = get(port, &format!("/api/v1.3/subcontainers{name}")).1;
    assert!(!listed.contains(&format!("{name}/c")), "{listed}");
    assert!(stored > 0, "the churned cgroups were stored");
    assert_eq!(left, 0, "stale series of churned cgroups after retention");
    // The store's per-series tables shrink back with the series (to the highest id still
    // live: other tests' containers that came meanwhile may hold ids above the baseline's).
    assert!(
        final_store_memory > 0.0 && final_store_memory * 3.0 < peak_store_memory,
        "store bytes in memory: baseline {base_store_memory}, peak {peak_store_memory}, final {final_store_memory}"
    );
    for i in [0, TOTAL / 2, TOTAL - 1] {
        let v = get_json(
            port,
            &format!(
                "/api/v1/query?metric=cpu/usage&container={}&start={}",
                urlencode(&format!("{name}/c{i}")),
                0
            ),
        );
        assert_eq!(v["series"], serde_json::json!([]), "c{i}: {v}");
    }
    let log = std::fs::read_to_string(dir.path().join("agent.log")).unwrap_or_default();
    assert!(!log.contains("panicked"), "{log}");
    drop(agent);
    drop(children);
    drop(parent);
}
