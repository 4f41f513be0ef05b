//! The real hub binary scraping three real agent binaries on 127.0.0.1 (named in a Heapster
//! hosts file), on this machine's cgroups, with a real cgroup burning CPU under a CFS quota of
//! 2 ms per 10 ms: 200 millicores, known in advance and checked against `cpuacct.usage`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crowsnest_testkit::RealCgroup;
use serde_json::Value;

/// The burner's share: cpu.cfs_quota_us / cpu.cfs_period_us = 2000 / 10000. A short period
/// keeps the kernel's slices small: a 1 s window holds 100 of them, give or take one (1 %).
const SHARE_MILLICORES: f64 = 200.0;
/// How far one rate (a batch: about 1 s of samples) may be from the share: one quota slice
/// (1 %), plus the time between an agent sample's timestamp and its counter read, which on a
/// saturated two-core machine varies by tens of milliseconds.
const TOLERANCE: f64 = 0.10;
/// How far the mean of the last few rates may be from the share.
const MEAN_TOLERANCE: f64 = 0.03;

/// A child process killed (and reaped) on drop.
struct Proc {
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A GET over HTTP/1.0: (status, body); (0, "") when nothing listens.
fn get(port: u16, path: &str) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut resp = String::new();
    if s.read_to_string(&mut resp).is_err() {
        return (0, String::new());
    }
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, body.to_owned())
}

fn get_json(port: u16, path: &str) -> Value {
    let (status, body) = get(port, path);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

fn wait_for(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(secs) {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out after {secs} s waiting for {what}");
}

fn start(args: &[String], port: u16) -> Proc {
    let child = Command::new(env!("CARGO_BIN_EXE_crowsnest"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start crowsnest");
    let p = Proc { child };
    wait_for("/healthz to answer", 20, || get(port, "/healthz").0 != 0);
    p
}

fn start_agent(port: u16) -> Proc {
    let args = [
        "agent".to_owned(),
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "--housekeeping-interval".into(),
        "200ms".into(),
        "--store-dir=".into(),
    ];
    start(&args, port)
}

/// `(batch time, floatValue)` of a model API series.
fn points(port: u16, path: &str) -> Vec<(String, f64)> {
    let v = get_json(port, path);
    v["metrics"]
        .as_array()
        .unwrap_or_else(|| panic!("{path}: {v}"))
        .iter()
        .map(|p| {
            (
                p["timestamp"].as_str().unwrap().to_owned(),
                p["floatValue"].as_f64().unwrap(),
            )
        })
        .collect()
}

fn cpuacct_usage(dir: &Path) -> u64 {
    crowsnest_testkit::read_u64(&dir.join("cpuacct.usage")).expect("cpuacct.usage")
}

fn within(v: f64, want: f64) -> bool {
    (v - want).abs() <= want * TOLERANCE
}

/// The mean of the last `n` values, checked against the share with [`MEAN_TOLERANCE`].
fn mean_within(p: &[(String, f64)], n: usize) -> bool {
    let last: Vec<f64> = p.iter().rev().take(n).map(|(_, v)| *v).collect();
    let mean = last.iter().sum::<f64>() / last.len().max(1) as f64;
    last.len() == n && (mean - SHARE_MILLICORES).abs() <= SHARE_MILLICORES * MEAN_TOLERANCE
}

#[test]
fn hub_rates_from_real_agents_match_a_cfs_quota_and_survive_loss_restart_and_reset() {
    let Some(mut cg) = RealCgroup::create("/", &["cpu", "cpuacct"], false) else {
        return;
    };
    let cpu_dir = cg.dir("cpu").unwrap().to_owned();
    let acct_dir = cg.dir("cpuacct").unwrap().to_owned();
    std::fs::write(cpu_dir.join("cpu.cfs_period_us"), "10000").unwrap();
    std::fs::write(cpu_dir.join("cpu.cfs_quota_us"), "2000").unwrap();
    // The largest weight, so that a busy machine (every other process sits in the root
    // cgroup here) never keeps the burner below its quota.
    std::fs::write(cpu_dir.join("cpu.shares"), "262144").unwrap();
    cg.spawn(Command::new("sh").arg("-c").arg("while :; do :; done"));
    // The ground truth, from the kernel directly over 3 s.
    let (u0, t0) = (cpuacct_usage(&acct_dir), Instant::now());
    std::thread::sleep(Duration::from_secs(3));
    let truth = (cpuacct_usage(&acct_dir) - u0) as f64 / t0.elapsed().as_nanos() as f64 * 1000.0;
    assert!(
        within(truth, SHARE_MILLICORES),
        "the kernel says {truth} millicores"
    );

    let names = ["alpha", "beta", "gamma"];
    let ports: Vec<u16> = names.iter().map(|_| free_port()).collect();
    let mut agents: Vec<Option<Proc>> = ports.iter().map(|p| Some(start_agent(*p))).collect();
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("hosts");
    let items: Vec<String> = names
        .iter()
        .zip(&ports)
        .map(|(n, p)| format!(r#"{{"name": "{n}", "ip": "127.0.0.1", "port": {p}}}"#))
        .collect();
    std::fs::write(&hosts, format!("{{\"items\": [{}]}}", items.join(", "))).unwrap();
    let hub_port = free_port();
    let hub_args = [
        "hub".to_owned(),
        "--listen".into(),
        format!("127.0.0.1:{hub_port}"),
        "--external_hosts_file".into(),
        hosts.display().to_string(),
        "--resolution".into(),
        "1s".into(),
    ];
    let _hub = start(&hub_args, hub_port);

    let burner = cg.name().trim_start_matches('/').to_owned();
    let rate_path = |node: &str| {
        format!("/api/v1/model/nodes/{node}/freecontainers/{burner}/metrics/cpu/usage_rate")
    };
    wait_for("five rates of the burner on every node", 30, || {
        names
            .iter()
            .all(|n| points(hub_port, &rate_path(n)).len() >= 5)
    });
    for n in names {
        let p = points(hub_port, &rate_path(n));
        let recent: Vec<f64> = p.iter().rev().take(5).map(|(_, v)| *v).collect();
        assert!(
            recent.iter().all(|v| within(*v, SHARE_MILLICORES)) && mean_within(&p, 5),
            "{n}: the hub says {recent:?}, the quota {SHARE_MILLICORES} (kernel: {truth})"
        );
    }
    // Heapster's alias and integer value.
    let v = get_json(
        hub_port,
        &format!("/api/v1/model/nodes/alpha/freecontainers/{burner}/metrics/cpu-usage"),
    );
    let last = v["metrics"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        last["value"].as_u64(),
        Some(last["floatValue"].as_f64().unwrap().trunc() as u64)
    );

    // The cluster is the sum of the nodes at one batch; a node (its root cgroup) holds at
    // least what its top-level containers use (on this machine every process outside a test
    // cgroup sits in the root, so the root is more than their sum).
    let cluster = points(hub_port, "/api/v1/model/metrics/cpu/usage_rate");
    let nodes: Vec<Vec<(String, f64)>> = names
        .iter()
        .map(|n| {
            points(
                hub_port,
                &format!("/api/v1/model/nodes/{n}/metrics/cpu/usage_rate"),
            )
        })
        .collect();
    let common = cluster
        .iter()
        .rev()
        .find(|(t, _)| nodes.iter().all(|n| n.iter().any(|(u, _)| u == t)))
        .expect("a batch with every node")
        .clone();
    let sum: f64 = nodes
        .iter()
        .map(|n| n.iter().find(|(u, _)| *u == common.0).unwrap().1)
        .sum();
    assert!(
        // Each value is kept to a tenth of a millicore: sums of rounded values may differ
        // by that much per node.
        (common.1 - sum).abs() <= 0.2,
        "cluster {} = Σ nodes {sum}",
        common.1
    );
    let free = get_json(hub_port, "/api/v1/model/nodes/alpha/freecontainers");
    let top: Vec<&str> = free
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter(|c| !c.contains('/'))
        .collect();
    let node_alpha = &nodes[0];
    let at = |series: &[(String, f64)], t: &str| series.iter().find(|(u, _)| u == t).map(|p| p.1);
    let burner_alpha = points(hub_port, &rate_path("alpha"));
    let (t, node_v) = burner_alpha
        .iter()
        .rev()
        .find_map(|(t, _)| Some((t.clone(), at(node_alpha, t)?)))
        .expect("a batch with the node and the burner");
    let children: f64 = top
        .iter()
        .filter_map(|c| {
            let p = points(
                hub_port,
                &format!("/api/v1/model/nodes/alpha/freecontainers/{c}/metrics/cpu/usage_rate"),
            );
            at(&p, &t)
        })
        .sum();
    assert!(
        node_v + SHARE_MILLICORES * TOLERANCE >= children
            && children >= SHARE_MILLICORES * (1.0 - TOLERANCE),
        "node {node_v} >= Σ top-level containers {children} (which hold the burner)"
    );
    let k8s = get_json(hub_port, "/apis/metrics.k8s.io/v1beta1/nodes");
    assert_eq!(k8s["items"].as_array().unwrap().len(), 3, "{k8s}");
    assert_eq!(get(hub_port, "/healthz").0, 200);

    // beta dies: it turns unhealthy, the others stay healthy and keep their rates.
    agents[1] = None;
    let status = |n: &str| -> Value {
        get_json(hub_port, "/api/v1/hub/nodes")
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == n)
            .unwrap()
            .clone()
    };
    wait_for("beta to turn unhealthy", 15, || {
        status("beta")["healthy"] == false
    });
    assert_eq!(status("alpha")["healthy"], true);
    assert_eq!(status("gamma")["healthy"], true);
    assert!(
        status("beta")["last_error"]
            .as_str()
            .unwrap()
            .contains("refused")
    );
    let (code, health) = get(hub_port, "/healthz");
    assert_eq!(code, 200, "{health}");
    assert!(
        health.contains("node beta (") && health.contains(": down"),
        "{health}"
    );
    wait_for("beta to leave the node list", 10, || {
        get_json(hub_port, "/api/v1/model/nodes") == serde_json::json!(["alpha", "gamma"])
    });
    let before = points(hub_port, &rate_path("alpha")).len();
    wait_for("alpha's rates to go on", 10, || {
        points(hub_port, &rate_path("alpha")).len() > before + 1
    });

    // beta comes back on its port with an empty history; then the burner's counter is reset
    // to 0 in the kernel. No rate is negative or absurd, and they come back right.
    agents[1] = Some(start_agent(ports[1]));
    wait_for("beta to be healthy again", 20, || {
        status("beta")["healthy"] == true
    });
    std::fs::write(acct_dir.join("cpuacct.usage"), "0").unwrap();
    assert!(
        cpuacct_usage(&acct_dir) < 1_000_000_000,
        "the counter was reset"
    );
    let settled = Instant::now();
    wait_for("new rates after the reset on every node", 20, || {
        names.iter().all(|n| {
            let p = points(hub_port, &rate_path(n));
            p.len() >= 4 && settled.elapsed() > Duration::from_secs(5)
        })
    });
    for n in names {
        let p = points(hub_port, &rate_path(n));
        for (t, v) in &p {
            assert!(
                *v >= 0.0 && *v <= SHARE_MILLICORES * (1.0 + TOLERANCE),
                "{n} at {t}: {v} millicores after a loss, restart or reset: {p:?}"
            );
        }
        assert!(mean_within(&p, 4), "{n} after the reset: {p:?}");
    }
    let (_, metrics) = get(hub_port, "/metrics");
    let resets: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("crowsnest_hub_rate_resets_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(resets >= 3.0, "one reset per node: {resets}");
    assert!(
        metrics.contains("crowsnest_hub_node_healthy{node=\"beta\"} 1"),
        "{metrics}"
    );
    drop(agents);
    assert!(agents_gone(&ports));
}

/// Whether nothing answers on the agents' ports any more.
fn agents_gone(ports: &[u16]) -> bool {
    ports
        .iter()
        .all(|p| TcpStream::connect(("127.0.0.1", *p)).is_err())
}

#[test]
fn hub_flags_fail_with_a_clear_message() {
    for (args, want) in [
        (&["hub"][..], "no nodes to scrape"),
        (
            &["hub", "--node", "a=1.2.3.4", "--resolution=10ms"][..],
            "--resolution",
        ),
        (
            &["hub", "--source=kubernetes:https://k8s?bogus=1"][..],
            "unknown option \"bogus\"",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_crowsnest"))
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

/// Behind a proxy that forwards `/heapster/...` unchanged: every route of the hub (model API,
/// metrics.k8s.io, /metrics, /healthz, the UI) is under the prefix, and nothing is outside it.
#[test]
fn hub_serves_every_route_under_a_url_base_prefix() {
    let agent_port = free_port();
    let _agent = start_agent(agent_port);
    let hub_port = free_port();
    let _hub = start(
        &[
            "hub".to_owned(),
            format!("--listen=127.0.0.1:{hub_port}"),
            format!("--node=solo=127.0.0.1:{agent_port}"),
            "--resolution=1s".into(),
            "--url-base-prefix=/heapster/".into(),
        ],
        hub_port,
    );
    wait_for("the node in the prefixed model API", 30, || {
        let (status, body) = get(hub_port, "/heapster/api/v1/model/nodes/");
        status == 200 && body.contains("\"solo\"")
    });
    wait_for("the prefixed /healthz to pass", 30, || {
        get(hub_port, "/heapster/healthz").0 == 200
    });
    let nodes = get_json(hub_port, "/heapster/apis/metrics.k8s.io/v1beta1/nodes");
    assert_eq!(nodes["items"][0]["metadata"]["name"], "solo", "{nodes}");
    let (status, metrics) = get(hub_port, "/heapster/metrics");
    assert_eq!(status, 200);
    assert!(metrics.contains("# TYPE "), "{metrics}");
    let (status, page) = get(hub_port, "/heapster/");
    assert_eq!(status, 200);
    assert!(
        page.contains("<html") || page.contains("<!doctype"),
        "{page}"
    );
    for outside in [
        "/api/v1/model/nodes/",
        "/healthz",
        "/metrics",
        "/heapsterx/healthz",
    ] {
        let (status, body) = get(hub_port, outside);
        assert_eq!(status, 404, "{outside}: {body}");
        let err: Value = serde_json::from_str(&body).unwrap();
        assert!(
            err["error"].as_str().unwrap().contains("/heapster"),
            "{outside}: {body}"
        );
    }
}
