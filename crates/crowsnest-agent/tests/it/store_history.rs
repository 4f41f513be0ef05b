//! The cAdvisor API past the in-memory history, and across a restart: a real cgroup burns a
//! known amount of CPU while the agent (manager, store and router in process, on a manual
//! clock) collects it; every sample is recorded as the API served it then. The agent is
//! stopped and started again on the same store directory, and `num_stats`, `start`/`end`,
//! v2.0 and v2.1 `count` answer with the samples from before the restart, each stored field
//! equal to what was served before, nothing else made up. Also: the merge of ring and store
//! before a restart, the 422 past `--query-max-points`, and the store's self-metrics.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use crowsnest_agent::AgentConfig;
use crowsnest_agent::manager::Manager;
use crowsnest_agent::state::Shared;
use crowsnest_collect::Roots;
use crowsnest_core::{ManualClock, Timestamp};
use crowsnest_store::Store;
use crowsnest_testkit::{RealCgroup, cgroup_root};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

const V1: &[&str] = &["cpu", "cpuacct", "memory", "pids", "blkio"];
const T0: i64 = 1_700_000_040;
/// Housekeeping passes before the restart, one a second.
const PASSES: i64 = 30;
/// The in-memory history: 10 s, so 11 samples.
const RING_SECS: u64 = 10;

/// The fields a sample read back from the store has (the canonical samples carry them), as
/// paths in the v1 JSON; `[]` stands for any array element.
const STORED: &[&str] = &[
    "timestamp",
    "cpu.usage.total",
    "cpu.usage.user",
    "cpu.usage.system",
    "cpu.cfs.periods",
    "cpu.cfs.throttled_periods",
    "cpu.cfs.throttled_time",
    "memory.usage",
    "memory.max_usage",
    "memory.cache",
    "memory.rss",
    "memory.swap",
    "memory.mapped_file",
    "memory.working_set",
    "memory.failcnt",
    "memory.container_data.pgfault",
    "memory.container_data.pgmajfault",
    "oom_events",
    "processes.process_count",
    "processes.threads_current",
    "diskio.io_service_bytes[].device",
    "diskio.io_service_bytes[].major",
    "diskio.io_service_bytes[].minor",
    "diskio.io_service_bytes[].stats.Read",
    "diskio.io_service_bytes[].stats.Write",
    "filesystem[].device",
    "filesystem[].capacity",
    "filesystem[].usage",
    "filesystem[].available",
    "filesystem[].inodes",
    "filesystem[].inodes_free",
];

fn config(dir: &std::path::Path) -> AgentConfig {
    AgentConfig {
        roots: Roots {
            cgroup: cgroup_root(),
            ..Roots::default()
        },
        inotify: false,
        storage_duration: Duration::from_secs(RING_SECS),
        store_dir: Some(dir.to_owned()),
        ..AgentConfig::default()
    }
}

fn open_store(config: &AgentConfig, clock: &ManualClock) -> Arc<Store> {
    // A process another test forks in parallel holds a copy of the lock file's descriptor
    // until it execs: wait (bounded) for it to let go.
    for _ in 0..100 {
        match Store::open(config.store_config().unwrap(), Arc::new(clock.clone())) {
            Err(crowsnest_store::Error::Locked { .. }) => {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return Arc::new(other.expect("store opens")),
        }
    }
    panic!("the store directory stayed locked for 2 s");
}

/// A running agent: manager, shared state with the store, router.
struct Agent {
    manager: Manager,
    store: Arc<Store>,
    app: Router,
}

fn start(dir: &std::path::Path, clock: &ManualClock) -> Agent {
    let config = config(dir);
    let store = open_store(&config, clock);
    let shared = Shared::default();
    shared.set_store(store.clone());
    let mut manager = Manager::new(config, Arc::new(clock.clone()), shared.clone()).unwrap();
    manager.set_store(store.clone());
    let app = crowsnest_agent::http::router(shared, "");
    Agent {
        manager,
        store,
        app,
    }
}

impl Agent {
    /// Stops the agent the way a kill does: nothing is closed in order (the store replays its
    /// log when opened again).
    fn stop(self) {
        let Agent {
            manager,
            store,
            app,
        } = self;
        drop((manager, app));
        // The manager's helper threads let go of the shared state as they stop (bounded).
        for _ in 0..500 {
            if Arc::strong_count(&store) == 1 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let store = Arc::try_unwrap(store).expect("nothing else holds the store");
        drop(store);
    }
}

async fn get(app: &Router, uri: &str) -> (StatusCode, Value) {
    let res = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let v = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{uri}: {e}: {}", String::from_utf8_lossy(&body)));
    (status, v)
}

async fn get_ok(app: &Router, uri: &str) -> Value {
    let (status, v) = get(app, uri).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {v}");
    v
}

fn rfc3339(secs: i64) -> String {
    Timestamp::from_secs(secs).to_string()
}

/// Every leaf of `v` as (path, value), array indexes written `[]` and kept in order.
fn leaves(v: &Value, path: &str, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                leaves(x, &p, out);
            }
        }
        Value::Array(a) => {
            for x in a {
                leaves(x, &format!("{path}[]"), out);
            }
        }
        leaf => out.push((path.to_owned(), leaf.clone())),
    }
}

/// The stored fields of a v1 (or v2) sample's JSON, in order.
fn stored(sample: &Value) -> Vec<(String, Value)> {
    let mut all = Vec::new();
    leaves(sample, "", &mut all);
    all.retain(|(p, _)| STORED.contains(&p.as_str()));
    all
}

/// A sample read back from the store equals the one served before on every stored field,
/// and has no other field (nothing made up, no 0 for what is not stored).
#[track_caller]
fn same_stored(restored: &Value, served: &Value, what: &str) {
    assert_eq!(
        stored(restored),
        stored(served),
        "{what}: stored fields differ\nrestored: {restored}\nserved: {served}"
    );
    let mut all = Vec::new();
    leaves(restored, "", &mut all);
    let extra: Vec<&String> = all
        .iter()
        .map(|(p, _)| p)
        .filter(|p| !STORED.contains(&p.as_str()))
        .collect();
    assert!(
        extra.is_empty(),
        "{what}: fields not stored: {extra:?} in {restored}"
    );
}

fn stats_of(info: &Value) -> &Vec<Value> {
    info["stats"].as_array().expect("stats")
}

fn timestamps(stats: &[Value]) -> Vec<Timestamp> {
    stats
        .iter()
        .map(|s| Timestamp::parse_rfc3339(s["timestamp"].as_str().unwrap()).unwrap())
        .collect()
}

fn cpu_total(s: &Value) -> u64 {
    s["cpu"]["usage"]["total"].as_u64().expect("cpu total")
}

#[tokio::test]
async fn num_stats_start_end_and_count_reach_into_the_store_across_a_restart() {
    let Some(mut cg) = RealCgroup::create("/", V1, false) else {
        return;
    };
    cg.spawn_memory_toucher(8 << 20);
    let name = cg.name().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Timestamp::from_secs(T0));
    let mut agent = start(dir.path(), &clock);

    // Collect, burning a known amount of CPU now and then; record every sample as served
    // (from the ring, whole) in v1, v2.0 and v2.1 shapes.
    let (mut v1, mut v20, mut v21) = (Vec::new(), Vec::new(), Vec::new());
    let mut burned = Duration::ZERO;
    for i in 1..=PASSES {
        if i % 10 == 5 {
            burned += cg.burn_cpu(Duration::from_millis(150));
        }
        clock.set(Timestamp::from_secs(T0 + i));
        assert!(agent.manager.housekeep_all() > 0);
        let info = get_ok(
            &agent.app,
            &format!("/api/v1.3/containers{name}?num_stats=1"),
        )
        .await;
        v1.push(stats_of(&info)[0].clone());
        let s20 = get_ok(&agent.app, &format!("/api/v2.0/stats{name}?count=1")).await;
        v20.push(s20[&name][0].clone());
        let s21 = get_ok(&agent.app, &format!("/api/v2.1/stats{name}?count=1")).await;
        v21.push(s21[&name]["stats"][0].clone());
    }
    assert_eq!(
        timestamps(&v1),
        (1..=PASSES)
            .map(|i| Timestamp::from_secs(T0 + i))
            .collect::<Vec<_>>()
    );
    let used = cpu_total(&v1[PASSES as usize - 1]) - cpu_total(&v1[0]);
    assert!(
        used as f64 >= burned.as_nanos() as f64 * 0.9,
        "the cgroup was charged {used} ns, the burn took {burned:?}"
    );

    // Before the restart: 25 samples are the ring's 11, whole, and 14 from the store.
    let info = get_ok(
        &agent.app,
        &format!("/api/v1.3/containers{name}?num_stats=25"),
    )
    .await;
    let got = stats_of(&info);
    assert_eq!(got.len(), 25);
    assert_eq!(
        timestamps(got),
        timestamps(&v1[5..]),
        "in order, no duplicates"
    );
    for (k, s) in got.iter().enumerate() {
        let served = &v1[5 + k];
        if k >= 14 {
            assert_eq!(s, served, "sample {k} comes whole from the ring");
        } else {
            same_stored(s, served, &format!("sample {k} from the store"));
        }
    }
    // Per-CPU usage is not stored: absent from the store's samples, not 0.
    assert!(
        v1[18]["cpu"]["usage"]["per_cpu_usage"].is_array(),
        "{}",
        v1[18]
    );
    assert!(got[13]["cpu"]["usage"].get("per_cpu_usage").is_none());
    assert!(got[14]["cpu"]["usage"]["per_cpu_usage"].is_array());

    // Restart on the same directory.
    agent.stop();
    let mut agent = start(dir.path(), &clock);
    clock.set(Timestamp::from_secs(T0 + PASSES + 1));
    assert!(agent.manager.housekeep_all() > 0);

    // num_stats: every sample from before the restart, then the new one.
    let info = get_ok(
        &agent.app,
        &format!("/api/v1.3/containers{name}?num_stats=31"),
    )
    .await;
    let got = stats_of(&info);
    assert_eq!(got.len(), 31, "{info}");
    let mut want_ts = timestamps(&v1);
    want_ts.push(Timestamp::from_secs(T0 + PASSES + 1));
    assert_eq!(timestamps(got), want_ts);
    for (k, (s, served)) in got.iter().zip(&v1).enumerate() {
        same_stored(s, served, &format!("sample {k} after the restart"));
    }
    assert_eq!(
        cpu_total(&got[PASSES as usize - 1]) - cpu_total(&got[0]),
        used,
        "the known burn reads the same after the restart"
    );
    // The same through the JSON body, cAdvisor's way, and -1 for all.
    let body_req = Request::post(format!("/api/v1.3/containers{name}"))
        .body(Body::from(r#"{"num_stats":-1}"#))
        .unwrap();
    let res = agent.app.clone().oneshot(body_req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let all: Value =
        serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(stats_of(&all), got);

    // start/end: a window from before the restart, older than any ring.
    let info = get_ok(
        &agent.app,
        &format!(
            "/api/v1.3/containers{name}?num_stats=-1&start={}&end={}",
            rfc3339(T0 + 5),
            rfc3339(T0 + 15)
        ),
    )
    .await;
    let got = stats_of(&info);
    assert_eq!(timestamps(got), timestamps(&v1[4..15]));
    for (s, served) in got.iter().zip(&v1[4..15]) {
        same_stored(s, served, "start/end");
    }
    // start/end with num_stats: the newest of the window.
    let info = get_ok(
        &agent.app,
        &format!(
            "/api/v1.3/containers{name}?num_stats=3&start={}&end={}",
            rfc3339(T0 + 5),
            rfc3339(T0 + 15)
        ),
    )
    .await;
    assert_eq!(timestamps(stats_of(&info)), timestamps(&v1[12..15]));
    // subcontainers answers the same for the container.
    let subs = get_ok(
        &agent.app,
        &format!("/api/v1.3/subcontainers{name}?num_stats=5"),
    )
    .await;
    assert_eq!(
        timestamps(stats_of(&subs[0])),
        want_ts[26..].to_vec(),
        "{subs}"
    );

    // v2.1 and v2.0 count.
    let s21 = get_ok(&agent.app, &format!("/api/v2.1/stats{name}?count=31")).await;
    let got = s21[&name]["stats"].as_array().unwrap();
    assert_eq!(got.len(), 31);
    for (k, (s, served)) in got.iter().zip(&v21).enumerate() {
        assert_eq!(
            stored(s),
            stored(served),
            "v2.1 sample {k}: {s} vs {served}"
        );
        assert_eq!(s["timestamp"], v1[k]["timestamp"]);
    }
    let s20 = get_ok(&agent.app, &format!("/api/v2.0/stats{name}?count=31")).await;
    let got = s20[&name].as_array().unwrap();
    assert_eq!(got.len(), 31);
    for (k, (s, served)) in got.iter().zip(&v20).enumerate() {
        assert_eq!(
            stored(s),
            stored(served),
            "v2.0 sample {k}: {s} vs {served}"
        );
    }
    // count=3 is the newest three: two from before the restart, the new one.
    let s21 = get_ok(&agent.app, &format!("/api/v2.1/stats{name}?count=3")).await;
    let ts: BTreeSet<String> = s21[&name]["stats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["timestamp"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ts,
        [T0 + PASSES - 1, T0 + PASSES, T0 + PASSES + 1]
            .into_iter()
            .map(rfc3339)
            .collect()
    );
    // The summary's minute is whole again at once: it reads the store for the last minute.
    let sum = get_ok(&agent.app, &format!("/api/v2.0/summary{name}")).await;
    assert_eq!(
        sum[&name]["minute_usage"]["percent_complete"], 50,
        "31 s of the minute: {sum}"
    );

    // A request past the bound is refused with a 422 naming it, and counted.
    agent.store.set_query_max_points(100);
    let (status, body) = get(
        &agent.app,
        &format!("/api/v1.3/containers{name}?num_stats=-1"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let e = body["error"].as_str().unwrap();
    assert!(e.contains("100") && e.contains("--query-max-points"), "{e}");
    let (status, body) = get(
        &agent.app,
        &format!("/api/v1/query?metric=cpu/usage&container={name}&start={T0}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "31 points fit: {body}");
    let (status, body) = get(
        &agent.app,
        &format!("/api/v1/query?metric=memory/usage&start={T0}"),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "every container: {body}"
    );
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("more than 100 points (--query-max-points)"),
        "{body}"
    );
    // What fits is still served.
    let info = get_ok(
        &agent.app,
        &format!("/api/v1.3/containers{name}?num_stats=2"),
    )
    .await;
    assert_eq!(stats_of(&info).len(), 2);
    assert!(agent.store.stats().queries_refused >= 2);
    cg.kill_all();
    agent.stop();
}

#[tokio::test]
async fn the_store_self_metrics_are_on_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Timestamp::from_secs(T0));
    let store = open_store(&config(dir.path()), &clock);
    let shared = Shared::default();
    shared.set_store(store.clone());
    let app = crowsnest_agent::http::router(shared, "");
    let res = app
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let text =
        String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    // Issue 4's list: series, samples ingested, bytes on disk and in memory, compaction and
    // retention timings, samples dropped with their reason; and the rest the store counts.
    for line in [
        "crowsnest_store_series 0",
        "crowsnest_store_samples_ingested_total 0",
        "crowsnest_store_bytes_in_memory ",
        "crowsnest_store_bytes_on_disk ",
        "crowsnest_store_file_bytes{kind=\"raw\"} 0",
        "crowsnest_store_file_bytes{kind=\"rollups\"} 0",
        "crowsnest_store_file_bytes{kind=\"series_log\"} ",
        "crowsnest_store_file_bytes{kind=\"wal\"} ",
        "crowsnest_store_head_bytes ",
        "crowsnest_store_head_samples 0",
        "crowsnest_store_compactions_total 0",
        "crowsnest_store_compaction_seconds_total 0",
        "crowsnest_store_compaction_last_seconds 0",
        "crowsnest_store_retention_runs_total 0",
        "crowsnest_store_retention_last_seconds 0",
        "crowsnest_store_segments_deleted_total 0",
        "crowsnest_store_series_removed_total 0",
        "crowsnest_store_series_log_rewrites_total 0",
        "crowsnest_store_queries_refused_total 0",
        "crowsnest_store_blocks_flushed_total 0",
        "crowsnest_store_budget_flushes_total 0",
        "crowsnest_store_corrupt_records_total 0",
        "crowsnest_store_torn_tails_cut_total 0",
        "crowsnest_store_syncs_total 0",
        "crowsnest_store_dropped_samples_total{reason=\"out_of_order\"} 0",
        "crowsnest_store_dropped_samples_total{reason=\"too_old\"} 0",
        "crowsnest_store_dropped_samples_total{reason=\"kind_mismatch\"} 0",
        "# TYPE crowsnest_store_compaction_seconds_total counter",
        "# TYPE crowsnest_store_series gauge",
    ] {
        assert!(
            text.contains(line),
            "{line:?} missing from /metrics:\n{text}"
        );
    }
    // After work: the counters move.
    store
        .append(&crowsnest_core::batch::Batch {
            timestamp: Timestamp::from_secs(T0),
            samples: vec![crowsnest_core::batch::Sample {
                metric: "cpu/usage".into(),
                kind: crowsnest_core::batch::Kind::Cumulative,
                unit: crowsnest_core::batch::Unit::Nanoseconds,
                labels: Arc::new(crowsnest_core::batch::Labels::new([("id", "/x")])),
                value: crowsnest_core::batch::Value::Int(5),
            }],
        })
        .unwrap();
    clock.set(Timestamp::from_secs(T0 + 3 * 3600));
    store.maintain().unwrap();
    let res = app
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let text =
        String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(text.contains("crowsnest_store_samples_ingested_total 1"));
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {text}"))
    };
    assert!(value("crowsnest_store_compactions_total") >= 1.0);
    assert!(value("crowsnest_store_retention_runs_total") >= 1.0);
    assert!(value("crowsnest_store_compaction_seconds_total") > 0.0);
    assert!(value("crowsnest_store_compaction_last_seconds") > 0.0);
    assert!(value("crowsnest_store_retention_last_seconds") > 0.0);
    assert!(value("crowsnest_store_bytes_on_disk") > 0.0);
}
