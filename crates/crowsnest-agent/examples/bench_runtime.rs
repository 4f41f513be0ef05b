//! `scripts/bench.sh agent` (second part): the cost of runtime metadata with N real Docker
//! containers (default 50, from a local busybox image, removed at the end). Two managers
//! watch the same cgroups, one with Docker metadata on and one with it off; their
//! housekeeping passes alternate, and the CPU of each pass is measured on the housekeeping
//! thread. The one-off cost of naming the containers (inspect over the socket, JSON decode,
//! applying to the state: the worker and housekeeping threads together) is the process CPU
//! of starting the manager with metadata on and waiting for every answer, less that of
//! starting it with metadata off. Prints one figure per line
//! as `name value unit`.
//!
//! Usage: bench_runtime [--containers N] [--rounds R]

use std::sync::Arc;
use std::time::Instant;

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

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.windows(2)
        .find(|w| w[0] == name)
        .and_then(|w| w[1].parse().ok())
        .unwrap_or(default)
}

fn manager(docker_on: bool, clock: &ManualClock) -> (Manager, Shared) {
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
                &["sleep", "900"],
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
    drop(containers);
    drop(image);
}
