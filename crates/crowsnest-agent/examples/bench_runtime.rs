//! `scripts/bench.sh agent` (second part): the cost of runtime metadata with N real Docker
//! containers (default 50, from a local busybox image, removed at the end). Two managers
//! watch the same cgroups, one with Docker metadata on and one with it off; their
//! housekeeping passes alternate, and the CPU of each pass is measured on the housekeeping
//! thread. The one-off cost of naming the containers (inspect over the socket, JSON decode,
//! applying to the state: the worker and housekeeping threads together) is the process CPU
//! of starting the manager with metadata on and waiting for every answer, less that of
//! starting it with metadata off. Both run without the filesystem usage walker; a third
//! manager then walks every container's writable layer and logs once (each container wrote
//! 200 small files at start), and the walker thread's CPU per container walk is reported
//! apart, next to the CPU of `du -sx` over the same directories (cAdvisor's way). Prints one
//! figure per line as `name value unit`.
//!
//! Usage: bench_runtime [--containers N] [--rounds R]

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crowsnest_agent::AgentConfig;
use crowsnest_agent::manager::Manager;
use crowsnest_agent::state::Shared;
use crowsnest_collect::{Roots, runtime};
use crowsnest_core::{ManualClock, Timestamp};
use crowsnest_testkit::cgroup_root;
use crowsnest_testkit::docker::{self, Container, Image};

fn thread_cpu_ns() -> u128 {
    cpu_ns(libc::CLOCK_THREAD_CPUTIME_ID)
}

fn process_cpu_ns() -> u128 {
    cpu_ns(libc::CLOCK_PROCESS_CPUTIME_ID)
}

fn cpu_ns(clock: libc::clockid_t) -> u128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to fill.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128
}

/// CPU of the waited-for children of this process, in nanoseconds.
fn children_cpu_ns() -> u128 {
    // SAFETY: an all-zero rusage is a valid value for the call to overwrite.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid rusage to fill.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as u128 * 1_000_000_000 + t.tv_usec as u128 * 1_000;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.windows(2)
        .find(|w| w[0] == name)
        .and_then(|w| w[1].parse().ok())
        .unwrap_or(default)
}

fn manager(docker_on: bool, clock: &ManualClock) -> (Manager, Shared) {
    manager_with(docker_on, Duration::ZERO, clock)
}

fn manager_with(
    docker_on: bool,
    disk_usage_interval: Duration,
    clock: &ManualClock,
) -> (Manager, Shared) {
    let config = AgentConfig {
        roots: Roots {
            cgroup: cgroup_root(),
            ..Roots::default()
        },
        inotify: false,
        runtime: runtime::Config {
            docker: docker_on.then(|| docker::SOCKET.into()),
            ..runtime::Config::default()
        },
        disk_usage_interval,
        ..AgentConfig::default()
    };
    let shared = Shared::default();
    let m = Manager::new(config, Arc::new(clock.clone()), shared.clone()).expect("manager starts");
    (m, shared)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n = arg(&args, "--containers", 50);
    let rounds = arg(&args, "--rounds", 10).max(1);
    if !docker::available() {
        eprintln!("bench_runtime needs a Docker Engine with the cgroupfs driver (skipped)");
        std::process::exit(2);
    }
    crowsnest_agent::manager::raise_fd_limit();
    let image = Image::busybox();
    let containers: Vec<Container> = (0..n)
        .map(|i| {
            let team = format!("--label=team=t{}", i % 5);
            Container::run(
                &["--label=app=bench", &team, "--label=tier=backend"],
                &image,
                &[
                    "sh",
                    "-c",
                    "mkdir /data; i=0; while [ $i -lt 200 ]; do echo $i > /data/f$i; i=$((i+1)); done; exec sleep 900",
                ],
            )
        })
        .collect();

    let clock = ManualClock::new(Timestamp::from_secs(1_700_000_000));
    // Starting a manager costs the same with or without metadata (machine info, cgroup scan);
    // the difference is the naming.
    let cpu0 = process_cpu_ns();
    let (mut off, _) = manager(false, &clock);
    let start_cpu = process_cpu_ns() - cpu0;
    let cpu0 = process_cpu_ns();
    let wall0 = Instant::now();
    let (mut on, shared_on) = manager(true, &clock);
    let named_all = on.wait_for_runtime(std::time::Duration::from_secs(60));
    let naming_wall = wall0.elapsed();
    let naming_cpu = (process_cpu_ns() - cpu0).saturating_sub(start_cpu);
    let named = shared_on
        .read()
        .containers
        .values()
        .filter(|c| c.reference.namespace == "docker")
        .count();
    for m in [&mut off, &mut on] {
        m.rescan();
        m.housekeep_all();
    }
    let tracked = on.container_count();

    let (mut off_ns, mut on_ns) = (0u128, 0u128);
    for round in 0..rounds {
        clock.advance_nanos(1_000_000_000);
        // Alternate which goes first, so neither always finds the caches warm.
        for on_turn in [round % 2 == 1, round % 2 == 0] {
            let t = thread_cpu_ns();
            if on_turn {
                on.housekeep_all();
                on_ns += thread_cpu_ns() - t;
            } else {
                off.housekeep_all();
                off_ns += thread_cpu_ns() - t;
            }
        }
    }
    let per = |ns: u128| ns as f64 / 1e3 / (rounds * tracked) as f64;
    let (off_us, on_us) = (per(off_ns), per(on_ns));

    println!("runtime_docker_containers {n} count");
    println!("runtime_docker_named {named} count");
    println!(
        "runtime_all_named {} bool",
        u8::from(named_all && named >= n)
    );
    println!("runtime_containers_per_pass {tracked} count");
    println!("runtime_off_us_per_container_pass {off_us:.2} us");
    println!("runtime_on_us_per_container_pass {on_us:.2} us");
    println!("runtime_on_over_off {:.3} ratio", on_us / off_us.max(1e-9));
    println!(
        "runtime_naming_ms {:.1} ms",
        naming_wall.as_secs_f64() * 1e3
    );
    println!(
        "runtime_naming_cpu_us_per_container {:.1} us",
        naming_cpu as f64 / 1e3 / n.max(1) as f64
    );
    drop(on);
    drop(off);

    // The filesystem usage walker: every container's layer and logs walked once.
    let (mut fs, shared_fs) = manager_with(true, Duration::from_secs(3600), &clock);
    let started = Instant::now();
    let walks = |s: &Shared| s.self_metrics().disk_usage.walks.load(Ordering::Relaxed);
    while walks(&shared_fs) < n as u64 && started.elapsed() < Duration::from_secs(300) {
        fs.wait_for_runtime(Duration::from_millis(200));
        std::thread::sleep(Duration::from_millis(100));
    }
    let m = &shared_fs.self_metrics().disk_usage;
    let (done, cpu, entries) = (
        walks(&shared_fs),
        m.cpu_ns.load(Ordering::Relaxed),
        m.entries.load(Ordering::Relaxed),
    );
    let per_walk = |x: u64| x as f64 / done.max(1) as f64;
    println!("agent_fs_walks {done} count");
    println!(
        "agent_fs_walker_entries_per_walk {:.0} count",
        per_walk(entries)
    );
    println!(
        "agent_fs_walker_cpu_ms_per_container_walk {:.3} ms",
        per_walk(cpu) / 1e6
    );
    drop(fs);
    // cAdvisor's way, for comparison: `du -sx` over the same directories.
    let cpu0 = children_cpu_ns();
    for c in &containers {
        let upper = c.inspect("{{.GraphDriver.Data.UpperDir}}");
        let dir = format!("/var/lib/docker/containers/{}", c.id());
        let _ = std::process::Command::new("du")
            .args(["-sx", &upper, &dir])
            .output();
    }
    println!(
        "du_cpu_ms_per_container {:.3} ms",
        (children_cpu_ns() - cpu0) as f64 / 1e6 / n.max(1) as f64
    );
    drop(containers);
    drop(image);
}
