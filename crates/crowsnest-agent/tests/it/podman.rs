//! The agent against a real rootful Podman (its API service on a unix socket in a temp dir):
//! containers from a local busybox image, named, labelled, limited and loaded with known
//! work, with traffic over a veth pair the test moves into the container's namespace. What the
//! agent reports is checked against Podman's answers, the cgroup files and `podman stats
//! --no-stream`.
//!
//! Tolerances: CPU rate within 0.1 core of the 0.5-core quota, and 15 points of `podman
//! stats`' percentage; memory within 1 MiB of `memory.usage_in_bytes` and 5 % + 2 MiB of
//! `podman stats` (which shows the cgroup's usage, rounded to 4 digits). Podman 4.3's
//! compatible stats endpoint miscounts `system_cpu_usage` (shared/peers.md), so CPU is also
//! checked as CPU time over wall time.

use std::net::UdpSocket;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crowsnest_agent::AgentConfig;
use crowsnest_agent::manager::Manager;
use crowsnest_agent::state::{Shared, StatsQuery};
use crowsnest_collect::{Roots, runtime};
use crowsnest_core::SystemClock;
use crowsnest_core::model::ContainerStats;
use crowsnest_testkit::podman::Podman;
use crowsnest_testkit::{cgroup_root, read_u64};

/// The host end of a veth pair, deleted on drop (the other end goes with the container).
struct Veth(String);

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).output();
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A veth pair between the host and the namespace of `pid`, with 10.98.<n>.1 on the host
/// and 10.98.<n>.2 on `inner` inside.
fn veth_into(pid: u32) -> (Veth, String, String) {
    let n = (std::process::id() + NEXT.fetch_add(1, Ordering::SeqCst)) % 200 + 20;
    let (host, inner) = (format!("cnh{n}"), format!("cnc{n}"));
    let _ = Command::new("ip").args(["link", "del", &host]).output();
    ip(&["link", "add", &host, "type", "veth", "peer", "name", &inner]);
    let guard = Veth(host.clone());
    ip(&["link", "set", &inner, "netns", &pid.to_string()]);
    ip(&["addr", "add", &format!("10.98.{n}.1/24"), "dev", &host]);
    ip(&["link", "set", &host, "up"]);
    let ns = format!("/proc/{pid}/ns/net");
    let inside = |args: &[&str]| {
        let out = Command::new("nsenter")
            .arg(format!("--net={ns}"))
            .arg("ip")
            .args(args)
            .output()
            .expect("nsenter ip");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    inside(&["addr", "add", &format!("10.98.{n}.2/24"), "dev", &inner]);
    inside(&["link", "set", &inner, "up"]);
    // A static neighbour entry: no ARP round trip to wait for, no datagram queued and dropped.
    let link = Command::new("nsenter")
        .arg(format!("--net={ns}"))
        .args(["ip", "-o", "link", "show", &inner])
        .output()
        .expect("read the inner MAC");
    let link = String::from_utf8_lossy(&link.stdout).into_owned();
    let mac = link
        .split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .unwrap_or_else(|| panic!("no MAC in {link:?}"))
        .to_owned();
    let addr = format!("10.98.{n}.2");
    ip(&[
        "neigh",
        "replace",
        &addr,
        "lladdr",
        &mac,
        "dev",
        &host,
        "nud",
        "permanent",
    ]);
    (guard, inner, addr)
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

fn settle(m: &mut Manager, wait: Duration, what: &str, done: impl Fn(&Manager) -> bool) {
    let started = Instant::now();
    while started.elapsed() < wait {
        m.wait_for_events(Duration::from_millis(100));
        m.wait_for_runtime(Duration::from_millis(300));
        if done(m) {
            return;
        }
    }
    panic!("timed out after {wait:?} waiting for {what}");
}

#[test]
fn podman_containers_are_named_measured_and_removed() {
    let Some(podman) = Podman::start() else {
        return;
    };
    let image = podman.import_busybox();
    let (id, name) = podman.run(
        &[
            "--label=app=web",
            "-e",
            "APP_MODE=prod",
            "--memory=128m",
            "--cpus=0.5",
        ],
        &image,
        &[
            "sh",
            "-c",
            "dd if=/dev/zero bs=32M count=1 2>/dev/null | sleep 600 & while :; do :; done",
        ],
    );
    let cgroup = Podman::cgroup(&id);
    let config = AgentConfig {
        roots: Roots {
            cgroup: cgroup_root(),
            ..Roots::default()
        },
        runtime: runtime::Config {
            podman: Some(podman.socket()),
            env_allowlist: vec!["APP_".into()],
            ..runtime::Config::default()
        },
        ..AgentConfig::default()
    };
    let shared = Shared::default();
    let mut m = Manager::new(config, Arc::new(SystemClock), shared.clone()).unwrap();
    let named = |s: &Shared| {
        s.read()
            .containers
            .get(&cgroup)
            .is_some_and(|c| c.reference.namespace == "podman")
    };
    settle(&mut m, Duration::from_secs(30), "the Podman name", |_| {
        named(&shared)
    });
    let c = shared.read().containers[&cgroup].clone();
    assert_eq!(c.reference.id, id);
    assert_eq!(c.reference.aliases, [name.clone(), id.clone()]);
    assert_eq!(c.spec.image, image);
    assert_eq!(c.spec.labels["app"], "web");
    assert_eq!(c.spec.envs.len(), 1, "{:?}", c.spec.envs);
    assert_eq!(c.spec.envs["app_mode"], "prod");
    assert_eq!(c.spec.memory.limit, 128 << 20);
    assert_eq!(c.spec.cpu.quota, 50_000);
    let pid: u32 = podman
        .ok(&["inspect", "-f", "{{.State.Pid}}", &id])
        .parse()
        .unwrap();
    assert_eq!(m.runtime_metadata(&cgroup).unwrap().pid, Some(pid));

    // CPU and memory against the cgroup files, over wall time, and against podman stats.
    std::thread::sleep(Duration::from_secs(1));
    m.housekeep_all();
    let a = latest(&shared, &cgroup);
    let dir = |ctrl: &str| {
        cgroup_root()
            .join(ctrl)
            .join(cgroup.trim_start_matches('/'))
    };
    let direct = read_u64(&dir("memory").join("memory.usage_in_bytes")).unwrap();
    let usage = a.memory.as_ref().unwrap().usage.unwrap();
    assert!(
        usage.abs_diff(direct) <= 1 << 20,
        "usage {usage} vs {direct}"
    );
    assert!(usage >= 30 << 20, "dd's 32 MiB buffer: {usage}");
    let cpu_a = a.cpu.as_ref().unwrap().usage.total.unwrap();
    assert!(read_u64(&dir("cpuacct").join("cpuacct.usage")).unwrap() >= cpu_a);
    // podman stats samples inside this window: compare with the agent's rate over it. The
    // quota caps the rate at 0.5 core; a busy machine may give less.
    let (cpu_pct, used, limit) = podman.stats(&id);
    std::thread::sleep(Duration::from_millis(500));
    m.housekeep_all();
    let b = latest(&shared, &cgroup);
    let secs = (b.timestamp.nanos() - a.timestamp.nanos()) as f64 / 1e9;
    let cores = (b.cpu.unwrap().usage.total.unwrap() - cpu_a) as f64 / 1e9 / secs;
    assert!(
        cores > 0.2 && cores < 0.55,
        "{cores} cores under a 0.5 quota"
    );
    assert!(
        (cpu_pct - cores * 100.0).abs() < 15.0,
        "podman stats {cpu_pct}% vs the agent's {:.1}%",
        cores * 100.0
    );
    assert!((limit - (128u64 << 20) as f64).abs() < 1e5, "limit {limit}");
    let usage = latest(&shared, &cgroup).memory.unwrap().usage.unwrap() as f64;
    assert!(
        (used - usage).abs() <= usage * 0.05 + (2 << 20) as f64,
        "podman stats {used} B vs usage {usage} B"
    );

    // Network: 100 datagrams of 1000 bytes over a veth pair into its namespace.
    let (_veth, inner, addr) = veth_into(pid);
    m.housekeep_all();
    let rx = |s: &ContainerStats| {
        s.network
            .as_ref()
            .and_then(|n| n.interfaces.iter().find(|i| i.name == inner))
            .map(|i| i.rx_bytes)
            .expect("the veth end in the container's namespace")
    };
    let before = rx(&latest(&shared, &cgroup));
    let sock = UdpSocket::bind("0.0.0.0:0").unwrap();
    for _ in 0..100 {
        sock.send_to(&[1u8; 1000], (addr.as_str(), 9)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    m.housekeep_all();
    let grew = rx(&latest(&shared, &cgroup)) - before;
    assert!(grew >= 100 * 1000, "rx grew by {grew} bytes");
    assert!(
        grew < 100 * 1100 + 10_000,
        "rx grew by {grew} bytes, more than sent"
    );

    // Removal.
    podman.ok(&["rm", "-f", "-t", "0", &id]);
    settle(&mut m, Duration::from_secs(30), "removal", |_| {
        !shared.read().containers.contains_key(&cgroup)
    });
}
