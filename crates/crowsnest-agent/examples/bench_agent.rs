//! `scripts/bench.sh agent`: the agent's housekeeping cost and memory against N real cgroups
//! (each with a sleeping process), side by side with a bare `pread` loop over the very files
//! the agent holds open. Prints one figure per line as `name value unit`.
//!
//! Usage: bench_agent [--containers N] [--passes P] [--history-passes H]

use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use crowsnest_agent::AgentConfig;
use crowsnest_agent::manager::Manager;
use crowsnest_agent::state::Shared;
use crowsnest_collect::Roots;
use crowsnest_core::{ManualClock, Timestamp};
use crowsnest_testkit::{RealCgroup, cgroup_root};

const CONTROLLERS: &[&str] = &["cpu", "cpuacct", "memory", "pids", "blkio"];

fn thread_cpu_ns() -> u128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or_default()
}

/// Paths of every file this process holds open below the cgroup root or /proc (the agent's
/// working set of files).
fn held_files() -> Vec<PathBuf> {
    let root = cgroup_root();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
    {
        if let Ok(target) = std::fs::read_link(e.path())
            && (target.starts_with(&root)
                || (target.starts_with("/proc") && target.ends_with("net/dev")))
        {
            out.push(target);
        }
    }
    out
}

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.windows(2)
        .find(|w| w[0] == name)
        .and_then(|w| w[1].parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n = arg(&args, "--containers", 500);
    let passes = arg(&args, "--passes", 20).max(1);
    let history_passes = arg(&args, "--history-passes", 120);
    crowsnest_agent::manager::raise_fd_limit();

    let Some(parent) = RealCgroup::create("/", CONTROLLERS, false) else {
        eprintln!("bench_agent needs root and writable cgroup v1 controllers");
        std::process::exit(2);
    };
    let mut children = Vec::with_capacity(n);
    for _ in 0..n {
        let mut cg =
            RealCgroup::create(parent.name(), CONTROLLERS, false).expect("make a bench cgroup");
        cg.spawn_sleeper();
        children.push(cg);
    }

    let clock = ManualClock::new(Timestamp::from_secs(1_700_000_000));
    let shared = Shared::default();
    let config = AgentConfig {
        roots: Roots {
            cgroup: cgroup_root(),
            ..Roots::default()
        },
        inotify: false,
        ..AgentConfig::default()
    };
    let rss_before = rss_kib();
    let mut m =
        Manager::new(config, Arc::new(clock.clone()), shared.clone()).expect("manager starts");
    let containers = m.container_count();
    for _ in 0..2 {
        clock.advance_nanos(1_000_000_000);
        m.housekeep_all();
    }
    // Steady state: the periodic rescan lets containers that started without held
    // descriptors (open-file budget) hold them once the first passes showed the real need.
    m.rescan();
    clock.advance_nanos(1_000_000_000);
    m.housekeep_all();

    // The agent: full passes (all files, network, statfs, history push).
    let t0 = thread_cpu_ns();
    for _ in 0..passes {
        clock.advance_nanos(1_000_000_000);
        m.housekeep_all();
    }
    let agent_ns = thread_cpu_ns() - t0;
    let agent_us = agent_ns as f64 / 1e3 / (passes * containers) as f64;

    // Memory: fill the history (one sample per second of the storage duration).
    for _ in 0..history_passes {
        clock.advance_nanos(1_000_000_000);
        m.housekeep_all();
    }
    let rss_after = rss_kib();
    let (samples, history_bytes) = {
        let st = shared.read();
        st.containers.values().fold((0usize, 0usize), |(s, b), c| {
            (s + c.history.len(), b + c.history.heap_bytes())
        })
    };

    // The floor: the same files, held open, read with pread at offset 0 and nothing else.
    let paths = held_files();
    drop(m);
    let files: Vec<std::fs::File> = paths
        .iter()
        .filter_map(|p| std::fs::File::open(p).ok())
        .collect();
    let mut buf = vec![0u8; 64 * 1024];
    for f in &files {
        let _ = f.read_at(&mut buf, 0);
    }
    let t0 = thread_cpu_ns();
    let mut bytes = 0usize;
    for _ in 0..passes {
        for f in &files {
            bytes += f.read_at(&mut buf, 0).unwrap_or(0);
        }
    }
    let floor_ns = thread_cpu_ns() - t0;
    let floor_us = floor_ns as f64 / 1e3 / (passes * containers) as f64;
    std::hint::black_box(bytes);
    let files_read = files.len();
    drop(files);

    println!("agent_containers {containers} count");
    println!("agent_files_held {} count", paths.len());
    println!("floor_files_read {} count", files_read);
    println!("agent_us_per_container_pass {agent_us:.2} us");
    println!("floor_us_per_container_pass {floor_us:.2} us");
    println!(
        "agent_over_floor {:.2} ratio",
        agent_us / floor_us.max(1e-9)
    );
    println!("agent_rss_mib {:.1} MiB", rss_after as f64 / 1024.0);
    println!(
        "agent_rss_growth_mib {:.1} MiB",
        rss_after.saturating_sub(rss_before) as f64 / 1024.0
    );
    println!("history_samples {samples} count");
    println!(
        "history_bytes_per_sample {:.1} B",
        history_bytes as f64 / samples.max(1) as f64
    );

    drop(children);
    drop(parent);
}
