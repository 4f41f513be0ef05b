//! The seeds' Grafana CPU panel in InfluxQL 1.x form over the legacy schema:
//! `SELECT derivative(max(value), 1s) FROM "cpu/usage_ns_cumulative" WHERE time > now() - 10m
//! GROUP BY time(10s), container_name`, on batches made from a known CPU share, across a
//! counter reset (the container made again under the same name) and with two hosts running a
//! container of the same name.
//!
//! How the schema keeps the hosts apart: every point carries the `hostname` tag, so each
//! host's container is its own series. The seeds' query groups by `container_name` only and
//! so takes the max over both hosts' counters per bucket (Heapster issue #98); grouped or
//! filtered by `hostname` too, each host's rate is its own. Counters continue across resets
//! in this schema, so neither form ever goes negative.

use std::time::Duration;

use crowsnest_core::Timestamp;
use crowsnest_core::batch::{Value, names};
use crowsnest_testkit::servers::Server;

use crate::common::*;

const SEEDS_QUERY: &str = "SELECT derivative(max(value), 1s) FROM \"cpu/usage_ns_cumulative\" \
                           WHERE time > now() - 10m GROUP BY time(10s), container_name";

/// One core in ns of CPU per second.
const CORE: f64 = 1e9;

/// Sends 300 one-second samples of `host`'s `web` container burning `share` of a core,
/// starting at `t0`; with `reset_at`, the container is made again then (its counter starts
/// from 0 half a second before that sample).
async fn feed(
    sink: &crowsnest_sinks::SinkHandle,
    host: &str,
    share: f64,
    t0: i64,
    reset_at: Option<i64>,
) {
    let first = container(host, "web", &format!("/docker/{host}-web-1"));
    let again = container(host, "web", &format!("/docker/{host}-web-2"));
    // The first container has run for 1000 s before the window.
    for s in 0..300 {
        let t = t0 + s;
        let (labels, ran) = match reset_at {
            Some(r) if t >= r => (&again, (t - r) as f64 + 0.5),
            _ => (&first, (t - t0 + 1000) as f64),
        };
        let cpu = (ran * share * CORE) as i64;
        sink.send(&batch(
            Timestamp::from_secs(t),
            vec![sample(names::CPU_USAGE, labels, Value::Int(cpu))],
        ))
        .unwrap();
    }
}

/// The derivative values of a series (nulls left out).
fn rates(s: &Series) -> Vec<f64> {
    s.rows.iter().filter_map(|r| r[1].as_f64()).collect()
}

fn assert_share(what: &str, rates: &[f64], share: f64) {
    assert!(rates.len() >= 25, "{what}: {} buckets", rates.len());
    for r in rates {
        assert!(
            (r / CORE - share).abs() <= 0.1 * share,
            "{what}: {} cores where {share} was burnt (all: {:?})",
            r / CORE,
            rates.iter().map(|r| r / CORE).collect::<Vec<_>>()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeds_grafana_query_gives_the_cpu_share_across_resets_and_hosts() {
    let Some(influx) = Server::influxd() else {
        return;
    };
    let url = influx.url();
    let queues = tempfile::tempdir().unwrap();
    // Whole 10 s buckets: samples at t0 .. t0+299, t0 a multiple of 10.
    let t0 = (now_secs() - 320) / 10 * 10;

    // One host, one reset.
    let one = sink(
        &format!("influxdb:{url}?db=one&schema=heapster-legacy&precision=s&flush=100ms&name=one"),
        queues.path(),
    );
    feed(&one, "hostA", 0.25, t0, Some(t0 + 150)).await;
    drained(&one, Duration::from_secs(60)).await;
    let got = series(&influxql(&url, "one", SEEDS_QUERY, None).await);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        got[0].tags,
        vec![("container_name".to_owned(), "web".to_owned())]
    );
    assert_share("one host, reset at t0+150", &rates(&got[0]), 0.25);

    // Two hosts with a container named `web`: B burns 0.5 core and has the larger counter.
    let two = sink(
        &format!("influxdb:{url}?db=two&schema=heapster-legacy&precision=s&flush=100ms&name=two"),
        queues.path(),
    );
    feed(&two, "hostA", 0.25, t0, Some(t0 + 150)).await;
    feed(&two, "hostB", 0.5, t0, None).await;
    drained(&two, Duration::from_secs(60)).await;

    let by_host = SEEDS_QUERY.replace("container_name", "container_name, hostname");
    let got = series(&influxql(&url, "two", &by_host, None).await);
    assert_eq!(got.len(), 2, "{got:?}");
    for s in &got {
        let host = s
            .tags
            .iter()
            .find(|(k, _)| k == "hostname")
            .map(|(_, v)| v.as_str());
        let share = if host == Some("hostA") { 0.25 } else { 0.5 };
        assert_share(&format!("grouped by hostname: {host:?}"), &rates(s), share);
    }
    let only_a = SEEDS_QUERY.replace("WHERE", "WHERE hostname = 'hostA' AND");
    let got = series(&influxql(&url, "two", &only_a, None).await);
    assert_eq!(got.len(), 1);
    assert_share("filtered to hostA", &rates(&got[0]), 0.25);

    // The seeds' query as it is: both hosts in one group. Never negative, never a jump.
    let got = series(&influxql(&url, "two", SEEDS_QUERY, None).await);
    assert_eq!(got.len(), 1);
    let mixed = rates(&got[0]);
    assert!(mixed.len() >= 25);
    for r in &mixed {
        assert!(
            *r >= 0.0 && *r <= 0.75 * CORE * 1.1,
            "mixed hosts: {} cores",
            r / CORE
        );
    }
}

/// The same panel over what the kernel says: a real cgroup capped at 20 % of a core by CFS,
/// its `cpuacct.usage` read once a second as the agent does, sent through the legacy sink;
/// then the cgroup is removed and a new one burns under the same container name (a reset).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeds_grafana_query_over_a_real_cgroup_burning_a_known_share() {
    use crowsnest_testkit::{RealCgroup, read_u64};
    use std::process::Command;

    let Some(influx) = Server::influxd() else {
        return;
    };
    let url = influx.url();
    let queues = tempfile::tempdir().unwrap();
    let s = sink(
        &format!("influxdb:{url}?db=real&schema=heapster-legacy&flush=100ms&name=real"),
        queues.path(),
    );
    let share = 0.2;
    for _round in 0..2 {
        let Some(mut cg) = RealCgroup::create("/", &["cpu", "cpuacct"], false) else {
            return;
        };
        let cpu = cg.dir("cpu").expect("cpu hierarchy").to_owned();
        std::fs::write(cpu.join("cpu.cfs_period_us"), "100000").unwrap();
        std::fs::write(cpu.join("cpu.cfs_quota_us"), "20000").unwrap();
        let usage = cg
            .dir("cpuacct")
            .expect("cpuacct hierarchy")
            .join("cpuacct.usage");
        cg.spawn(Command::new("sh").arg("-c").arg("while :; do :; done"));
        let labels = container("hostA", "burner", cg.name());
        // 25 readings, one a second, each stamped with the time it was read.
        for _ in 0..25 {
            let ns = read_u64(&usage).expect("cpuacct.usage") as i64;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as i64;
            s.send(&batch(
                Timestamp(now),
                vec![sample(names::CPU_USAGE, &labels, Value::Int(ns))],
            ))
            .unwrap();
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    drained(&s, Duration::from_secs(30)).await;
    let got = series(&influxql(&url, "real", SEEDS_QUERY, None).await);
    assert_eq!(got.len(), 1, "{got:?}");
    let r = rates(&got[0]);
    eprintln!(
        "real cgroup, cores per 10 s bucket: {:?}",
        r.iter().map(|v| v / CORE).collect::<Vec<_>>()
    );
    assert!(r.len() >= 3, "{r:?}");
    // Every value is sane (no negatives, no jumps); the ones between two full buckets
    // (readings 1 s apart, so each bucket's max is within a second of its end) show the
    // share within a tolerance for the jitter of the readings.
    for v in &r {
        assert!(
            *v >= 0.0 && *v / CORE < share * 1.5,
            "{} cores: {r:?}",
            v / CORE
        );
    }
    let mut sorted = r.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2] / CORE;
    assert!(
        (median - share).abs() < 0.03,
        "median {median} cores, 0.2 burnt: {r:?}"
    );
}
