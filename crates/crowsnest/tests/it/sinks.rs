//! The real agent sending to a real InfluxDB with the legacy Heapster schema: the seeds'
//! Grafana CPU panel (InfluxQL 1.x form) over a cgroup capped at a known CPU share, across a
//! counter reset (the cgroup removed and made again under the same name).

use std::process::{Command, Stdio};
use std::time::Duration;

use crowsnest_testkit::RealCgroup;
use crowsnest_testkit::servers::{Server, free_port, http, urlencode};

/// Kills the child on drop, so a failing assertion leaves no agent behind.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const SHARE: f64 = 0.2;

#[test]
fn seeds_grafana_query_over_the_agents_data_gives_the_cpu_share() {
    let Some(influx) = Server::influxd() else {
        return;
    };
    const CONTROLLERS: &[&str] = &["cpu", "cpuacct", "memory", "pids"];
    // A busy loop capped at 20 % of a core by the CFS quota.
    let burn = |cg: &mut RealCgroup| {
        let cpu = cg.dir("cpu").expect("cpu hierarchy").to_owned();
        std::fs::write(cpu.join("cpu.cfs_period_us"), "100000").unwrap();
        std::fs::write(cpu.join("cpu.cfs_quota_us"), "20000").unwrap();
        cg.spawn(Command::new("sh").arg("-c").arg("while :; do :; done"));
    };
    let Some(mut cg) = RealCgroup::create("/", CONTROLLERS, false) else {
        return;
    };
    burn(&mut cg);
    let queues = tempfile::tempdir().unwrap();
    let port = free_port();
    let agent = Command::new(env!("CARGO_BIN_EXE_crowsnest"))
        .args(["agent", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--sink")
        .arg(format!(
            "influxdb:{}?db=seeds&schema=heapster-legacy&flush=200ms",
            influx.url()
        ))
        .arg("--store-dir=")
        .arg("--sink-queue-dir")
        .arg(queues.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the agent");
    let agent = Reaped(agent);
    let name = cg.name().to_owned();
    let query = format!(
        "SELECT derivative(max(value), 1s) FROM \"cpu/usage_ns_cumulative\" WHERE time > now() - 10m \
         AND container_name = '{name}' GROUP BY time(10s), container_name"
    );
    let ask = || {
        let path = format!("/query?db=seeds&q={}", urlencode(&query));
        http(influx.port(), "GET", &path, "")
            .ok()
            .and_then(|(status, body)| {
                let v: serde_json::Value = serde_json::from_str(&body).ok()?;
                (status == 200).then_some(v)
            })
    };
    let rates = || -> Vec<f64> {
        ask()
            .and_then(|v| {
                let rows = v["results"][0]["series"][0]["values"].as_array()?.clone();
                Some(
                    rows.iter()
                        .filter_map(|r| r[1].as_f64())
                        .map(|ns| ns / 1e9)
                        .collect(),
                )
            })
            .unwrap_or_default()
    };
    let wait_buckets = |n: usize| {
        let started = std::time::Instant::now();
        let mut got = Vec::new();
        while started.elapsed() < Duration::from_secs(90) {
            got = rates();
            if got.len() >= n {
                break;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        got
    };
    // Two buckets, then a counter reset: the container is removed and made again under the
    // same name (its cpuacct.usage starts from 0), then more buckets.
    let before = wait_buckets(2);
    assert!(
        before.len() >= 2,
        "cores per 10 s bucket before the reset: {before:?}"
    );
    drop(cg);
    std::thread::sleep(Duration::from_millis(1500));
    let mut cg =
        RealCgroup::create_named(&name, CONTROLLERS, false).expect("the same cgroup again");
    burn(&mut cg);
    let got = wait_buckets(before.len() + 3);
    drop(agent);
    assert!(
        got.len() >= before.len() + 3,
        "cores per 10 s bucket: {got:?}"
    );
    drop(cg);
    for r in &got {
        assert!(
            *r >= 0.0 && *r < SHARE * 1.5,
            "{r} cores in {got:?}: no negatives, no jumps"
        );
    }
    let mut sorted = got.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    assert!(
        (median - SHARE).abs() < 0.03,
        "median {median} cores, {SHARE} burnt: {got:?}"
    );
}

#[test]
fn the_hub_sends_to_influxdb_and_the_seeds_query_gives_the_cpu_share() {
    let Some(influx) = Server::influxd() else {
        return;
    };
    let Some(mut cg) = RealCgroup::create("/", &["cpu", "cpuacct", "memory", "pids"], false) else {
        return;
    };
    let cpu = cg.dir("cpu").expect("cpu hierarchy").to_owned();
    std::fs::write(cpu.join("cpu.cfs_period_us"), "100000").unwrap();
    std::fs::write(cpu.join("cpu.cfs_quota_us"), "20000").unwrap();
    cg.spawn(Command::new("sh").arg("-c").arg("while :; do :; done"));
    let queues = tempfile::tempdir().unwrap();
    let (agent_port, hub_port) = (free_port(), free_port());
    let _agent = Reaped(
        Command::new(env!("CARGO_BIN_EXE_crowsnest"))
            .args([
                "agent",
                "--listen",
                &format!("127.0.0.1:{agent_port}"),
                "--store-dir=",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the agent"),
    );
    let _hub = Reaped(
        Command::new(env!("CARGO_BIN_EXE_crowsnest"))
            .args(["hub", "--listen", &format!("127.0.0.1:{hub_port}")])
            .arg("--node")
            .arg(format!("hostA=127.0.0.1:{agent_port}"))
            .args(["--resolution", "2s"])
            .arg("--sink")
            .arg(format!(
                "influxdb:{}?db=hub&schema=heapster-legacy&flush=200ms",
                influx.url()
            ))
            .arg("--sink-queue-dir")
            .arg(queues.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the hub"),
    );
    // The hub names a system container by its cgroup path without the leading slash.
    let name = cg.name().trim_start_matches('/').to_owned();
    let query = format!(
        "SELECT derivative(max(value), 1s) FROM \"cpu/usage_ns_cumulative\" WHERE time > now() - 10m \
         AND container_name = '{name}' GROUP BY time(10s), container_name"
    );
    let rates = || -> Vec<f64> {
        let path = format!("/query?db=hub&q={}", urlencode(&query));
        http(influx.port(), "GET", &path, "")
            .ok()
            .and_then(|(_, body)| {
                let v: serde_json::Value = serde_json::from_str(&body).ok()?;
                let rows = v["results"][0]["series"][0]["values"].as_array()?.clone();
                Some(
                    rows.iter()
                        .filter_map(|r| r[1].as_f64())
                        .map(|ns| ns / 1e9)
                        .collect(),
                )
            })
            .unwrap_or_default()
    };
    let started = std::time::Instant::now();
    let mut got = Vec::new();
    while started.elapsed() < Duration::from_secs(90) {
        got = rates();
        if got.len() >= 4 {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(
        got.len() >= 4,
        "cores per 10 s bucket from the hub: {got:?}"
    );
    for r in &got {
        assert!(
            *r >= 0.0 && *r < SHARE * 1.5,
            "{r} cores in {got:?}: no negatives, no jumps"
        );
    }
    let mut sorted = got.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    assert!(
        (median - SHARE).abs() < 0.03,
        "median {median} cores, {SHARE} burnt: {got:?}"
    );
    // The hub's /metrics tells how its sink is doing, as the agent's does.
    let (status, metrics) = http(hub_port, "GET", "/metrics", "").expect("the hub's /metrics");
    assert_eq!(status, 200);
    let value = |family: &str| -> Option<f64> {
        metrics
            .lines()
            .find(|l| l.starts_with(&format!("{family}{{")) && l.contains("sink=\"influxdb"))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
    };
    let points = got.len() as f64;
    let sent = value("crowsnest_sink_sent_items_total").unwrap_or(0.0);
    assert!(
        sent >= points,
        "{sent} items sent for {points} buckets:\n{metrics}"
    );
    assert!(
        value("crowsnest_sink_requests_total").unwrap_or(0.0) >= 1.0,
        "{metrics}"
    );
    assert!(
        value("crowsnest_sink_sent_bytes_total").unwrap_or(0.0) > sent,
        "{metrics}"
    );
    assert!(
        value("crowsnest_sink_pending_records").is_some(),
        "{metrics}"
    );
}
