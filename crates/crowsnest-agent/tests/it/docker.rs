//! The agent against the real Docker Engine of this machine (cgroupfs driver, cgroup v1):
//! containers made from a local busybox image, named, labelled, limited, restarted, health
//! checked and loaded with known work. What the agent reports is checked against Docker's
//! own answers, the cgroup files and `docker stats --no-stream`.
//!
//! Tolerances: CPU rate within 0.1 core of the 0.5-core quota and 15 points of `docker
//! stats`' percentage (its sample is a different second); memory within 1 MiB of
//! `memory.usage_in_bytes` and 5 % + 2 MiB of `docker stats` (its 3-digit rounding and a
//! different instant).

use std::net::UdpSocket;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crowsnest_agent::AgentConfig;
use crowsnest_agent::manager::Manager;
use crowsnest_agent::state::{Container as Stored, Shared, StatsQuery};
use crowsnest_collect::{Roots, runtime};
use crowsnest_core::model::ContainerStats;
use crowsnest_core::{SystemClock, Timestamp};
use crowsnest_testkit::docker::{self, Container, Image, SOCKET};
use crowsnest_testkit::{cgroup_root, read_u64};

fn manager() -> (Manager, Shared) {
    let config = AgentConfig {
        roots: Roots {
            cgroup: cgroup_root(),
            ..Roots::default()
        },
        runtime: runtime::Config {
            docker: Some(SOCKET.into()),
            env_allowlist: vec!["APP_".into()],
            ..runtime::Config::default()
        },
        ..AgentConfig::default()
    };
    let shared = Shared::default();
    let m = Manager::new(config, Arc::new(SystemClock), shared.clone()).expect("manager starts");
    (m, shared)
}

/// Lets the manager follow inotify and the runtime until `done` holds (at most `wait`).
fn settle(
    m: &mut Manager,
    shared: &Shared,
    wait: Duration,
    what: &str,
    done: impl Fn(&Manager, &Shared) -> bool,
) {
    let started = Instant::now();
    while started.elapsed() < wait {
        m.wait_for_events(Duration::from_millis(100));
        m.wait_for_runtime(Duration::from_millis(300));
        if done(m, shared) {
            return;
        }
    }
    panic!("timed out after {wait:?} waiting for {what}");
}

fn stored(shared: &Shared, name: &str) -> Option<Stored> {
    shared.read().containers.get(name).cloned()
}

fn named(shared: &Shared, c: &Container) -> bool {
    stored(shared, &c.cgroup()).is_some_and(|s| s.reference.namespace == "docker")
}

fn latest(shared: &Shared, name: &str) -> ContainerStats {
    let q = StatsQuery {
        max: Some(1),
        ..Default::default()
    };
    let info = shared.read().info(name, &q);
    let stats = info.unwrap_or_else(|| panic!("{name} unknown")).stats;
    stats.last().cloned().expect("a sample")
}

#[test]
fn docker_containers_are_named_with_image_labels_env_limits_and_health() {
    if !docker::available() {
        return;
    }
    let image = Image::busybox();
    let c = Container::run(
        &[
            "--label=app=web",
            "--label=com.example.team=blue",
            "-e",
            "APP_MODE=prod",
            "-e",
            "SECRET_TOKEN=hunter2",
            "--memory=64m",
            "--health-cmd=test -f /tmp/healthy",
            "--health-interval=1s",
            "--health-retries=1",
        ],
        &image,
        &["sh", "-c", "touch /tmp/healthy; exec sleep 600"],
    );
    let (mut m, shared) = manager();
    let name = c.cgroup();
    settle(
        &mut m,
        &shared,
        Duration::from_secs(30),
        "healthy",
        |m, s| {
            named(s, &c)
                && m.runtime_metadata(&name).and_then(|x| x.health.as_deref()) == Some("healthy")
        },
    );
    let s = stored(&shared, &name).unwrap();
    assert_eq!(s.reference.id, c.id());
    assert_eq!(s.reference.aliases, [c.name(), c.id()]);
    assert_eq!(s.spec.image, image.tag());
    assert_eq!(s.spec.labels["app"], "web");
    assert_eq!(s.spec.labels["com.example.team"], "blue");
    assert!(
        !s.spec.labels.contains_key("restartcount"),
        "never restarted"
    );
    assert_eq!(
        s.spec.envs.len(),
        1,
        "allow-listed env only: {:?}",
        s.spec.envs
    );
    assert_eq!(s.spec.envs["app_mode"], "prod");
    assert_eq!(s.spec.memory.limit, 64 << 20);
    let created = Timestamp::parse_rfc3339(&c.inspect("{{.Created}}")).unwrap();
    assert_eq!(s.spec.creation_time, created);
    let meta = m.runtime_metadata(&name).unwrap();
    assert_eq!(meta.pid, Some(c.pid()));
    assert_eq!(meta.restart_count, Some(0));
    // The parent cgroup and the root are not Docker's.
    assert_eq!(stored(&shared, "/docker").unwrap().reference.namespace, "");

    // Health changes reach the agent through Docker's event stream, without a rescan.
    c.exec(&["rm", "/tmp/healthy"]);
    settle(
        &mut m,
        &shared,
        Duration::from_secs(30),
        "unhealthy",
        |m, _| m.runtime_metadata(&name).and_then(|x| x.health.as_deref()) == Some("unhealthy"),
    );

    // Removal takes it out of the state (inotify sees the cgroup go).
    c.remove();
    settle(
        &mut m,
        &shared,
        Duration::from_secs(30),
        "removal",
        |_, s| stored(s, &name).is_none(),
    );
    assert!(
        !shared
            .read()
            .containers
            .values()
            .any(|x| x.reference.id == c.id())
    );
}

#[test]
fn a_restarted_container_carries_its_restart_count() {
    if !docker::available() {
        return;
    }
    let image = Image::busybox();
    let c = Container::run(
        &["--restart=on-failure:1"],
        &image,
        &[
            "sh",
            "-c",
            "if [ -f /tmp/ran ]; then exec sleep 600; fi; touch /tmp/ran; exit 1",
        ],
    );
    assert!(
        c.wait_for(
            "{{.RestartCount}} {{.State.Running}}",
            "1 true",
            Duration::from_secs(30)
        ),
        "Docker restarted it once"
    );
    let (mut m, shared) = manager();
    let name = c.cgroup();
    settle(
        &mut m,
        &shared,
        Duration::from_secs(30),
        "restartcount",
        |_, s| {
            stored(s, &name)
                .is_some_and(|x| x.spec.labels.get("restartcount").map(String::as_str) == Some("1"))
        },
    );
    assert_eq!(m.runtime_metadata(&name).unwrap().restart_count, Some(1));
}

#[test]
fn cpu_and_memory_agree_with_the_cgroup_files_and_docker_stats() {
    if !docker::available() {
        return;
    }
    let image = Image::busybox();
    // Half a core of busy loop, and 64 MiB held by dd (its buffer, blocked on a full pipe).
    let c = Container::run(
        &["--cpus=0.5", "--memory=256m"],
        &image,
        &[
            "sh",
            "-c",
            "dd if=/dev/zero bs=64M count=1 2>/dev/null | sleep 600 & while :; do :; done",
        ],
    );
    let (mut m, shared) = manager();
    let name = c.cgroup();
    settle(
        &mut m,
        &shared,
        Duration::from_secs(30),
        "naming",
        |_, s| named(s, &c),
    );
    std::thread::sleep(Duration::from_secs(2));
    let cpuacct = cgroup_root()
        .join("cpuacct")
        .join(name.trim_start_matches('/'));
    let memory = cgroup_root()
        .join("memory")
        .join(name.trim_start_matches('/'));

    let t0 = Instant::now();
    m.housekeep_all();
    let a = latest(&shared, &name);
    let direct = read_u64(&cpuacct.join("cpuacct.usage")).unwrap();
    let reads_apart = t0.elapsed();
    let total_a = a.cpu.as_ref().unwrap().usage.total.unwrap();
    // Read after the agent: ahead by at most what the one busy thread burns meanwhile (a
    // whole core within a CFS period, until the quota runs out), plus the kernel's lag in
    // charging a running task (up to a scheduler tick, 4 ms at HZ=250; 10 ms allowed).
    let slack = u64::try_from(reads_apart.as_nanos()).unwrap() + 10_000_000;
    assert!(
        direct >= total_a && direct - total_a <= slack,
        "agent {total_a} ns vs cpuacct.usage {direct} ns ({reads_apart:?} apart)"
    );
    let mem = a.memory.as_ref().unwrap();
    let direct = read_u64(&memory.join("memory.usage_in_bytes")).unwrap();
    let usage = mem.usage.unwrap();
    assert!(
        usage.abs_diff(direct) <= 1 << 20,
        "usage {usage} vs memory.usage_in_bytes {direct}"
    );
    let ws = mem.working_set.unwrap();
    assert!(ws >= 60 << 20, "dd's 64 MiB buffer: working set {ws}");

    // docker stats samples inside this window: compare with the agent's rate over it. The
    // quota caps the rate at 0.5 core; a busy machine may give less.
    let (cpu_pct, used, limit) = docker::stats(&c);
    std::thread::sleep(Duration::from_millis(500));
    m.housekeep_all();
    let b = latest(&shared, &name);
    let total_b = b.cpu.as_ref().unwrap().usage.total.unwrap();
    let secs = (b.timestamp.nanos() - a.timestamp.nanos()) as f64 / 1e9;
    let cores = (total_b - total_a) as f64 / 1e9 / secs;
    assert!(
        cores > 0.2 && cores < 0.55,
        "{cores} cores under a 0.5 quota"
    );
    assert!(
        (cpu_pct - cores * 100.0).abs() < 15.0,
        "docker stats {cpu_pct}% vs the agent's {:.1}%",
        cores * 100.0
    );
    let spec = &stored(&shared, &name).unwrap().spec;
    assert_eq!(spec.cpu.quota, 50_000);
    assert_eq!(spec.memory.limit, 256 << 20);

    assert_eq!(limit, (256u64 << 20) as f64);
    let ws = latest(&shared, &name).memory.unwrap().working_set.unwrap() as f64;
    assert!(
        (used - ws).abs() <= ws * 0.05 + (2 << 20) as f64,
        "docker stats {used} B vs working set {ws} B"
    );
}

#[test]
fn network_is_read_from_the_containers_own_namespace_once() {
    if !docker::available() {
        return;
    }
    let image = Image::busybox();
    let owner = Container::run(&[], &image, &["sleep", "600"]);
    let joined = Container::run(
        &[&format!("--net=container:{}", owner.id())],
        &image,
        &["sleep", "600"],
    );
    let host = Container::run(&["--net=host"], &image, &["sleep", "600"]);
    let (mut m, shared) = manager();
    settle(
        &mut m,
        &shared,
        Duration::from_secs(30),
        "naming",
        |_, s| [&owner, &joined, &host].iter().all(|c| named(s, c)),
    );
    // One datagram first, so the bridge's ARP is resolved before the counted ones.
    let ip = owner.inspect("{{.NetworkSettings.IPAddress}}");
    let sock = UdpSocket::bind("0.0.0.0:0").unwrap();
    sock.send_to(&[7u8; 10], (ip.as_str(), 9)).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    m.housekeep_all();
    let before = latest(&shared, &owner.cgroup());
    let eth0 = |s: &ContainerStats| {
        s.network
            .as_ref()
            .and_then(|n| n.interfaces.iter().find(|i| i.name == "eth0").cloned())
            .expect("eth0 in the container's namespace")
    };
    let rx0 = eth0(&before).rx_bytes;
    // 200 datagrams of 1000 bytes from the host to the container.
    for _ in 0..200 {
        sock.send_to(&[7u8; 1000], (ip.as_str(), 9)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    m.housekeep_all();
    let after = eth0(&latest(&shared, &owner.cgroup()));
    assert!(
        after.rx_bytes - rx0 >= 200 * 1000,
        "eth0 rx grew by {} bytes",
        after.rx_bytes - rx0
    );
    let direct = std::fs::read_to_string(
        Path::new("/proc")
            .join(owner.pid().to_string())
            .join("net/dev"),
    )
    .unwrap();
    let line = direct
        .lines()
        .find(|l| l.trim_start().starts_with("eth0:"))
        .unwrap();
    let rx: u64 = line
        .split(':')
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        rx >= after.rx_bytes && rx - after.rx_bytes < 10_000,
        "{rx} vs {}",
        after.rx_bytes
    );
    assert!(stored(&shared, &owner.cgroup()).unwrap().spec.has_network);
    // The one that joined it reports nothing (no double count), nor does the host's.
    for c in [&joined, &host] {
        assert!(
            latest(&shared, &c.cgroup()).network.is_none(),
            "{}",
            c.name()
        );
        assert!(!stored(&shared, &c.cgroup()).unwrap().spec.has_network);
    }
}
