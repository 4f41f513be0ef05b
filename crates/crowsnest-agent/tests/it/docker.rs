//! The agent against the real Docker Engine of this machine (cgroupfs driver, cgroup v1):
//! containers made from a local busybox image, named, labelled, limited, restarted, health
//! checked and loaded with known work. What the agent reports is checked against Docker's
//! own answers, the cgroup files and `docker stats --no-stream`.
//!
//! Tolerances: CPU rate within 0.1 core of the 0.5-core quota and 15 points of `docker
//! stats`' percentage (its sample is a different second); memory within 1 MiB of
//! `memory.usage_in_bytes` and 5 % + 2 MiB of `docker stats` (its 3-digit rounding and a
//! different instant); filesystem usage within 8 KiB of `du -sxB1` over the writable layer
//! and the container's directory, and growing by 20 MiB to 20 MiB + 64 KiB when the
//! container writes 20 MiB (the file's blocks, plus a directory block or two).

use std::net::UdpSocket;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use crowsnest_agent::AgentConfig;
use crowsnest_agent::manager::Manager;
use crowsnest_agent::state::{Container as Stored, Shared, StatsQuery};
use crowsnest_collect::{Roots, runtime};
use crowsnest_core::model::ContainerStats;
use crowsnest_core::{SystemClock, Timestamp};
use crowsnest_testkit::docker::{self, Container, Image, SOCKET};
use crowsnest_testkit::{cgroup_root, read_u64};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

fn manager() -> (Manager, Shared) {
    manager_with(AgentConfig::default())
}

fn manager_with(base: AgentConfig) -> (Manager, Shared) {
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
        ..base
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

/// GET `uri` from the agent's HTTP API over `shared`, in process: status and body.
fn api_get(shared: &Shared, uri: &str) -> (u16, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let app = crowsnest_agent::http::router(shared.clone(), "");
        let req = Request::builder().uri(uri).body(Body::empty()).unwrap();
        let resp = app.oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    })
}

/// The value of `family`'s series for container `id` in a `/metrics` body, and the line.
fn series(metrics: &str, family: &str, id: &str) -> Option<(f64, String)> {
    let id = format!("id=\"{id}\"");
    let line = metrics
        .lines()
        .find(|l| l.starts_with(&format!("{family}{{")) && l.contains(&id))?;
    let mut words = line.rsplitn(3, ' ');
    let _timestamp = words.next();
    let value = words.next()?.parse().ok()?;
    Some((value, line.to_owned()))
}

/// Collects until `done` holds for the newest sample of `name` (at most `wait`).
fn collect_until(
    m: &mut Manager,
    shared: &Shared,
    name: &str,
    wait: Duration,
    what: &str,
    done: impl Fn(&ContainerStats) -> bool,
) -> ContainerStats {
    let started = Instant::now();
    while started.elapsed() < wait {
        m.wait_for_runtime(Duration::from_millis(200));
        m.housekeep_all();
        if let Some(s) = shared.read().containers.get(name).and_then(|_| {
            let q = StatsQuery {
                max: Some(1),
                ..Default::default()
            };
            shared.read().info(name, &q)?.stats.pop()
        }) && done(&s)
        {
            return s;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out after {wait:?} waiting for {what}");
}

/// `du -sxB1` over `paths` together (hard links once): the bytes it prints, summed.
fn du_bytes(paths: &[&str]) -> u64 {
    let mut args = vec!["-sxB1"];
    args.extend_from_slice(paths);
    let out = std::process::Command::new("du")
        .args(&args)
        .output()
        .unwrap();
    assert!(out.status.success(), "du {args:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().parse::<u64>().unwrap())
        .sum()
}

#[test]
fn filesystem_usage_follows_what_the_container_writes_to_its_layer() {
    if !docker::available() {
        return;
    }
    let image = Image::busybox();
    let c = Container::run(&[], &image, &["sleep", "600"]);
    let (mut m, shared) = manager_with(AgentConfig {
        disk_usage_interval: Duration::from_secs(1),
        ..AgentConfig::default()
    });
    let name = c.cgroup();
    let has_fs = |s: &ContainerStats| s.filesystem.len() == 1;
    let first = collect_until(
        &mut m,
        &shared,
        &name,
        Duration::from_secs(30),
        "a walk",
        has_fs,
    );
    // What Docker says the container's trees are; fuse-overlayfs gives an upper dir too.
    let upper = c.inspect("{{.GraphDriver.Data.UpperDir}}");
    let log = c.inspect("{{.LogPath}}");
    let dir = Path::new(&log)
        .parent()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(dir.ends_with(c.id()), "{dir}");
    let fs = &first.filesystem[0];
    let du_all = du_bytes(&[&upper, &dir]);
    assert!(
        fs.usage.abs_diff(du_all) <= 8 << 10,
        "agent {} vs du {du_all}",
        fs.usage
    );
    let du_upper = du_bytes(&[&upper]);
    assert!(
        fs.base_usage.unwrap().abs_diff(du_upper) <= 8 << 10,
        "agent base {:?} vs du {du_upper}",
        fs.base_usage
    );
    // The device is the filesystem the layer is on, as `df` names it.
    let df = std::process::Command::new("df")
        .args(["--output=source", &upper])
        .output()
        .unwrap();
    let df = String::from_utf8_lossy(&df.stdout);
    assert_eq!(Some(fs.device.as_str()), df.lines().nth(1).map(str::trim));
    assert!(fs.inodes.unwrap() >= 3 && fs.inodes_free.is_none());
    assert!(stored(&shared, &name).unwrap().spec.has_filesystem);

    // 20 MiB written into the container's root filesystem.
    c.exec(&["dd", "if=/dev/zero", "of=/big", "bs=1M", "count=20"]);
    c.exec(&["sync"]);
    let before = fs.usage;
    let grown = collect_until(
        &mut m,
        &shared,
        &name,
        Duration::from_secs(30),
        "20 MiB more",
        |s| {
            s.filesystem
                .first()
                .is_some_and(|f| f.usage >= before + (20 << 20))
        },
    );
    let grew = grown.filesystem[0].usage - before;
    eprintln!(
        "fs usage: {} bytes before (du: {du_all}), grew by {grew} for 20 MiB written",
        fs.usage
    );
    assert!(
        (20 << 20..=(20 << 20) + (64 << 10)).contains(&grew),
        "usage grew by {grew} bytes for 20 MiB written"
    );
    assert_eq!(
        grown.filesystem[0].base_usage.unwrap() - fs.base_usage.unwrap(),
        grew,
        "all of it in the writable layer"
    );
    // The same in the outputs users read: /metrics and /api/v2.1/stats.
    let (status, metrics) = api_get(&shared, "/metrics");
    assert_eq!(status, 200);
    let (value, line) = series(&metrics, "container_fs_usage_bytes", &name).expect("a series");
    assert!(value >= (before + (20 << 20)) as f64, "{line}");
    assert!(
        line.contains(&format!("device=\"{}\"", fs.device)),
        "{line}"
    );
    assert!(line.contains(&format!("name=\"{}\"", c.name())), "{line}");
    let (inodes, _) = series(&metrics, "container_fs_inodes_total", &name).unwrap();
    assert!(inodes >= 4.0);
    assert!(
        series(&metrics, "container_fs_inodes_free", &name).is_none(),
        "free inodes are not known per container: absent, not 0"
    );
    assert!(metrics.contains("crowsnest_disk_usage_walks_total "));
    let (status, v2) = api_get(&shared, &format!("/api/v2.1/stats/{name}?count=1"));
    assert_eq!(status, 200, "{v2}");
    let v2: Value = serde_json::from_str(&v2).unwrap();
    let f = &v2[&name]["stats"][0]["filesystem"];
    assert!(
        f["totalUsageBytes"].as_u64().unwrap() >= before + (20 << 20),
        "{f}"
    );
    assert!(f["baseUsageBytes"].as_u64().unwrap() >= 20 << 20, "{f}");

    // Removing the file gives the space back.
    c.exec(&["rm", "/big"]);
    let shrunk = collect_until(
        &mut m,
        &shared,
        &name,
        Duration::from_secs(30),
        "the file gone",
        |s| {
            s.filesystem
                .first()
                .is_some_and(|f| f.usage < before + (1 << 20))
        },
    );
    assert!(
        shrunk.filesystem[0].usage.abs_diff(before) <= 64 << 10,
        "{} vs {before}",
        shrunk.filesystem[0].usage
    );
    // Removing the container takes it out of /metrics.
    c.remove();
    let started = Instant::now();
    while stored(&shared, &name).is_some() && started.elapsed() < Duration::from_secs(30) {
        m.wait_for_events(Duration::from_millis(200));
    }
    let (_, metrics) = api_get(&shared, "/metrics");
    assert!(series(&metrics, "container_fs_usage_bytes", &name).is_none());
}

#[test]
fn health_reaches_the_api_and_metrics() {
    if !docker::available() {
        return;
    }
    let image = Image::busybox();
    let checked = Container::run(
        &["--health-cmd", "true", "--health-interval", "1s"],
        &image,
        &["sleep", "600"],
    );
    let unchecked = Container::run(&[], &image, &["sleep", "600"]);
    let (mut m, shared) = manager();
    let name = checked.cgroup();
    collect_until(
        &mut m,
        &shared,
        &name,
        Duration::from_secs(30),
        "healthy",
        |s| s.health.as_ref().is_some_and(|h| h.status == "healthy"),
    );
    collect_until(
        &mut m,
        &shared,
        &unchecked.cgroup(),
        Duration::from_secs(30),
        "named",
        |_| named(&shared, &unchecked),
    );
    // cAdvisor's v1 JSON: `health.status` in each sample.
    let (status, body) = api_get(&shared, &format!("/api/v1.3/docker/{}", checked.name()));
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let stats = v[&name]["stats"].as_array().unwrap();
    assert_eq!(stats.last().unwrap()["health"]["status"], "healthy");
    let (_, body) = api_get(&shared, &format!("/api/v1.3/docker/{}", unchecked.name()));
    let v: Value = serde_json::from_str(&body).unwrap();
    let last = v[&unchecked.cgroup()]["stats"]
        .as_array()
        .unwrap()
        .last()
        .cloned()
        .unwrap();
    assert!(last.get("health").is_none(), "no check, no health: {last}");
    // /metrics: cAdvisor's container_health_state, 1 healthy, -1 without a check.
    let (_, metrics) = api_get(&shared, "/metrics");
    let (value, line) = series(&metrics, "container_health_state", &name).unwrap();
    assert_eq!(value, 1.0, "{line}");
    let (value, _) = series(&metrics, "container_health_state", &unchecked.cgroup()).unwrap();
    assert_eq!(value, -1.0);
    assert!(metrics.contains("# TYPE container_health_state gauge"));
}

/// containerd's API (cargo feature `containerd`) against the real containerd that Docker
/// Engine runs (its socket, namespace `moby`): the containerd handler asked about a running
/// Docker container by id gives what `ctr containers info` and Docker say.
#[cfg(feature = "containerd")]
#[test]
fn containerd_api_describes_a_running_container_by_id() {
    use crowsnest_collect::runtime::{Claim, Kind, Runtimes};
    const SOCKET: &str = "/var/run/docker/containerd/containerd.sock";
    if !docker::available() {
        return;
    }
    if !Path::new(SOCKET).exists() {
        crowsnest_testkit::missing(&format!("Docker's containerd socket at {SOCKET}"));
        return;
    }
    let image = Image::busybox();
    let c = Container::run(
        &[
            "--label=app=web",
            "-e",
            "APP_MODE=prod",
            "-e",
            "SECRET_TOKEN=x",
        ],
        &image,
        &["sleep", "600"],
    );
    let config = runtime::Config {
        containerd: Some(SOCKET.into()),
        containerd_namespace: "moby".into(),
        env_allowlist: vec!["APP_".into()],
        ..runtime::Config::default()
    };
    let runtimes = Runtimes::new(&config);
    // The cgroupfs layout of containerd under Kubernetes: a bare id under the pod.
    let name = format!("/kubepods/besteffort/pod5e1f-77/{}", c.id());
    let Claim::Yes(identity) = runtimes.claim(&name) else {
        panic!("containerd claims {name}");
    };
    assert_eq!(identity.kind, Kind::Containerd);
    let m = runtimes.inspect(&name, &identity).unwrap();
    assert_eq!(m.namespace(), "containerd");
    assert_eq!(m.id, c.id());
    assert_eq!(m.aliases, [c.id(), name.as_str()]);
    assert_eq!(m.pid, Some(c.pid()), "the task's pid is Docker's State.Pid");
    assert_eq!(
        m.envs.iter().collect::<Vec<_>>(),
        [(&"app_mode".to_owned(), &"prod".to_owned())],
        "allow-listed env from the OCI spec only"
    );
    // Docker puts its own bookkeeping label on containerd's container, and no image.
    assert_eq!(
        m.labels["com.docker/engine.bundle.path"],
        format!("/var/run/docker/containerd/{}", c.id())
    );
    assert_eq!(
        m.labels["io.kubernetes.pod.uid"], "5e1f-77",
        "from the path"
    );
    // What containerd's own client says about it.
    let ctr = std::process::Command::new("ctr")
        .args([
            "--address",
            SOCKET,
            "-n",
            "moby",
            "containers",
            "info",
            c.id(),
        ])
        .output();
    match ctr {
        Ok(out) if out.status.success() => {
            let info: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(m.image, info["Image"].as_str().unwrap());
            for (k, v) in info["Labels"].as_object().unwrap() {
                assert_eq!(m.labels[k], v.as_str().unwrap(), "label {k}");
            }
            let created = Timestamp::parse_rfc3339(info["CreatedAt"].as_str().unwrap()).unwrap();
            assert_eq!(m.created, Some(created));
        }
        _ => crowsnest_testkit::missing("ctr (containerd's client) to cross-check"),
    }
    // An id containerd does not know is named from its path, as without the API.
    let unknown = format!("/kubepods/besteffort/pod5e1f-77/{}", "0".repeat(64));
    let m = runtimes
        .inspect(
            &unknown,
            &crowsnest_collect::runtime::Identity {
                kind: Kind::Containerd,
                id: "0".repeat(64),
            },
        )
        .unwrap();
    assert_eq!(m.aliases, ["0".repeat(64), unknown]);
    assert_eq!(m.pid, None);
    // The wrong namespace does not know it either.
    let config = runtime::Config {
        containerd_namespace: "k8s.io".into(),
        ..config
    };
    let m = Runtimes::new(&config).inspect(&name, &identity).unwrap();
    assert_eq!(m.pid, None);
    assert!(!m.labels.contains_key("com.docker/engine.bundle.path"));
}
