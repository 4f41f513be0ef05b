//! The real binary, started on 127.0.0.1 against this machine's cgroups, queried over HTTP.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crowsnest_testkit::RealCgroup;

/// The agent process, killed on drop.
pub(crate) struct Agent {
    child: Child,
    pub(crate) port: u16,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plain HTTP/1.0 request; returns (status, body).
pub(crate) fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read response");
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, body.to_owned())
}

pub(crate) fn start_agent(extra: &[&str]) -> Agent {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_crowsnest"))
        .args([
            "agent",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--housekeeping-interval",
            "200ms",
            // No on-disk store: agents run side by side (the store is tested on its own).
            "--store-dir=",
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start crowsnest agent");
    let agent = Agent { child, port };
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if TcpStream::connect(("127.0.0.1", port)).is_ok()
            && http(port, "GET", "/healthz", "").0 == 200
        {
            return agent;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("agent did not answer /healthz on 127.0.0.1:{port} within 20 s");
}

pub(crate) fn wait_for(mut ok: impl FnMut() -> bool, what: &str) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(15) {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn the_binary_serves_a_real_cgroup_over_http() {
    let Some(mut cg) =
        RealCgroup::create("/", &["cpu", "cpuacct", "memory", "pids", "blkio"], false)
    else {
        return;
    };
    cg.spawn_sleeper();
    let agent = start_agent(&[]);
    let port = agent.port;
    let name = cg.name().to_owned();
    assert_eq!(http(port, "GET", "/healthz", ""), (200, "ok".to_owned()));

    let path = format!("/api/v1.3/containers{name}");
    wait_for(
        || http(port, "GET", &path, "").0 == 200,
        "the test cgroup in the API",
    );
    wait_for(
        || {
            let (_, body) = http(port, "POST", &path, r#"{"num_stats":3,"num_samples":0}"#);
            serde_json::from_str::<serde_json::Value>(&body)
                .is_ok_and(|v| v["stats"].as_array().is_some_and(|s| s.len() == 3))
        },
        "three samples",
    );
    let (_, body) = http(port, "POST", &path, r#"{"num_stats":3}"#);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["name"], name);
    assert_eq!(v["spec"]["has_memory"], true);
    let stats = v["stats"].as_array().unwrap();
    assert_eq!(stats[2]["processes"]["process_count"], 1);
    assert!(stats[2]["memory"]["usage"].as_u64().unwrap() > 0);
    assert!(stats[0]["timestamp"].as_str().unwrap() < stats[2]["timestamp"].as_str().unwrap());

    let (status, machine) = http(port, "GET", "/api/v1.3/machine", "");
    assert_eq!(status, 200);
    let m: serde_json::Value = serde_json::from_str(&machine).unwrap();
    let cores = std::thread::available_parallelism().unwrap().get() as u64;
    assert_eq!(m["num_cores"].as_u64(), Some(cores));
    assert!(m["memory_capacity"].as_u64().unwrap() > 0);

    let (status, metrics) = http(port, "GET", "/metrics", "");
    assert_eq!(status, 200);
    let id = format!("id=\"{name}\"");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("container_memory_usage_bytes{") && l.contains(&id)),
        "no memory series for {name} in /metrics"
    );
    assert!(metrics.contains("# TYPE crowsnest_housekeeping_duration_seconds histogram"));
    // The real response parses in promtool, with no lint finding beyond cAdvisor's own.
    if let Some(lints) = crowsnest_testkit::promtool::check_metrics(&metrics) {
        for l in lints {
            assert!(metrics.contains(&format!("# TYPE {l} ")), "{l}");
        }
    }

    let (status, body) = http(port, "GET", "/api/v1.3/containers/no/such/container", "");
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("/no/such/container"), "{body}");
    let (status, body) = http(port, "POST", &path, "{not json");
    assert_eq!(status, 400, "{body}");

    // Removing the cgroup makes it disappear from the API.
    drop(cg);
    wait_for(
        || http(port, "GET", &path, "").0 == 404,
        "the removed cgroup to vanish",
    );
    let (_, metrics) = http(port, "GET", "/metrics", "");
    assert!(
        !metrics.contains(&id),
        "removed container still in /metrics"
    );
}

#[test]
fn bad_flags_fail_with_a_clear_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_crowsnest"))
        .args(["agent", "--disable_metrics=cpu,nonsense"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nonsense") && err.contains("--disable-metrics"),
        "{err}"
    );
}

#[test]
fn url_base_prefix_moves_every_route() {
    if RealCgroup::create("/", &["memory"], false).is_none() {
        return;
    }
    let agent = start_agent_prefixed();
    let port = agent.port;
    assert_eq!(http(port, "GET", "/monitor/healthz", "").0, 200);
    assert_eq!(http(port, "GET", "/monitor/api/v1.3/machine", "").0, 200);
    assert_eq!(http(port, "GET", "/api/v1.3/machine", "").0, 404);
}

fn start_agent_prefixed() -> Agent {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_crowsnest"))
        .args([
            "agent",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--url_base_prefix",
            "/monitor",
            "--store-dir=",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start crowsnest agent");
    let agent = Agent { child, port };
    wait_for(
        || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
                && http(port, "GET", "/monitor/healthz", "").0 == 200
        },
        "the prefixed agent",
    );
    agent
}
