//! The agent's history on disk: the manager appends every sample to the embedded store, the
//! store answers with what the in-memory history holds, and keeps it across a restart; and
//! `/api/v1/query` serves it.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use crowsnest_agent::AgentConfig;
use crowsnest_agent::manager::Manager;
use crowsnest_agent::state::{Shared, StatsQuery};
use crowsnest_collect::Roots;
use crowsnest_core::batch::{Batch, ContainerContext, Value};
use crowsnest_core::model::{
    ContainerReference, ContainerSpec, ContainerStats, CpuStats, CpuUsage,
};
use crowsnest_core::{Clock, ManualClock, Timestamp};
use crowsnest_store::{Agg, Query, Selector, Store};
use crowsnest_testkit::{RealCgroup, cgroup_root};
use http_body_util::BodyExt;
use tower::ServiceExt;

const V1: &[&str] = &["cpu", "cpuacct", "memory", "pids", "blkio"];
const T0: i64 = 1_700_000_040;
const PASSES: usize = 5;

fn open_store(dir: &std::path::Path, clock: &ManualClock) -> Store {
    let config = AgentConfig {
        store_dir: Some(dir.to_owned()),
        ..AgentConfig::default()
    };
    // A process another test forks in parallel holds a copy of the lock file's descriptor
    // until it execs: wait (bounded) for it to let go.
    for _ in 0..100 {
        match Store::open(config.store_config().unwrap(), Arc::new(clock.clone())) {
            Err(crowsnest_store::Error::Locked { .. }) => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other.expect("store opens"),
        }
    }
    panic!("the store directory stayed locked for 2 s");
}

fn cpu_points(store: &Store, name: &str, end: Timestamp) -> Vec<(Timestamp, Value)> {
    let r = store
        .query(&Query {
            selector: Selector::metric("cpu/usage").with("id", name),
            start: Timestamp::from_secs(T0),
            end,
            step: None,
            agg: Agg::Raw,
        })
        .unwrap();
    assert_eq!(r.len(), 1, "one cpu/usage series for {name}: {r:?}");
    r.into_iter().next().unwrap().points
}

#[test]
fn housekeeping_fills_the_store_and_it_survives_a_restart() {
    let Some(cg) = RealCgroup::create("/", V1, false) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Timestamp::from_secs(T0));
    let store = Arc::new(open_store(dir.path(), &clock));
    let shared = Shared::default();
    let config = AgentConfig {
        roots: Roots {
            cgroup: cgroup_root(),
            ..Roots::default()
        },
        inotify: false,
        ..AgentConfig::default()
    };
    let mut m = Manager::new(config, Arc::new(clock.clone()), shared.clone()).unwrap();
    m.set_store(store.clone());
    for _ in 0..PASSES {
        clock.advance_nanos(1_000_000_000);
        assert!(m.housekeep_all() > 0);
    }
    let end = clock.now();
    let history: Vec<(Timestamp, Value)> = shared
        .read()
        .info(cg.name(), &StatsQuery::default())
        .expect("the test cgroup is known")
        .stats
        .iter()
        .map(|s| {
            let total = s
                .cpu
                .as_ref()
                .and_then(|c| c.usage.total)
                .expect("cpu total");
            (s.timestamp, Value::from_u64(total))
        })
        .collect();
    assert_eq!(history.len(), PASSES);
    assert_eq!(cpu_points(&store, cg.name(), end), history);
    assert_eq!(
        shared
            .self_metrics()
            .collection_errors
            .load(std::sync::atomic::Ordering::Relaxed),
        0,
        "no append failed"
    );

    // Restart: the manager and the store go away (no orderly close), the store is opened
    // again on the same directory and answers the same.
    drop(m);
    let store = Arc::try_unwrap(store).expect("the manager let go of the store");
    drop(store);
    let store = open_store(dir.path(), &clock);
    assert_eq!(cpu_points(&store, cg.name(), end), history);
    store.close().unwrap();
}

fn stats_at(secs: i64, cpu_total: u64) -> ContainerStats {
    ContainerStats {
        timestamp: Timestamp::from_secs(secs),
        cpu: Some(CpuStats {
            usage: CpuUsage {
                total: Some(cpu_total),
                ..Default::default()
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn get(app: &axum::Router, uri: &str) -> (StatusCode, serde_json::Value) {
    let res = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn query_endpoint_serves_raw_points_rates_and_errors() {
    // A minute-aligned start; a sample every 10 s, the CPU counter growing 0.5 s per 10 s.
    let t0 = 1_700_000_040;
    assert_eq!(t0 % 60, 0);
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Timestamp::from_secs(t0 + 130));
    let store = Arc::new(open_store(dir.path(), &clock));
    let reference = ContainerReference {
        name: "/docker/abc".to_owned(),
        ..Default::default()
    };
    let spec = ContainerSpec::default();
    let ctx = ContainerContext { node: "hostA" };
    for i in 0..=12u64 {
        let stats = stats_at(t0 + 10 * i as i64, 1_000_000_000 + i * 500_000_000);
        let batch = Batch::from_container(&reference, &spec, &stats, &ctx);
        store.append(&batch).unwrap();
    }

    // Without a store: 404 saying so.
    let (status, body) = get(
        &crowsnest_agent::http::router(Shared::default(), ""),
        "/api/v1/query?metric=cpu/usage",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["error"].as_str().unwrap().contains("store is off"),
        "{body}"
    );

    let shared = Shared::default();
    shared.set_store(store.clone());
    let app = crowsnest_agent::http::router(shared, "");

    let (status, body) = get(
        &app,
        &format!(
            "/api/v1/query?metric=cpu/usage&container=/docker/abc&start={t0}&end={}",
            t0 + 120
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["metric"], "cpu/usage");
    assert_eq!(body["agg"], "raw");
    assert_eq!(body["kind"], "cumulative");
    assert_eq!(body["step"], serde_json::Value::Null);
    let series = body["series"].as_array().unwrap();
    assert_eq!(series.len(), 1);
    assert_eq!(series[0]["labels"]["id"], "/docker/abc");
    let points = series[0]["points"].as_array().unwrap();
    assert_eq!(points.len(), 13);
    for (i, p) in points.iter().enumerate() {
        let i = i as i64;
        assert_eq!(p[0], (t0 + 10 * i) * 1000);
        assert_eq!(p[1], 1_000_000_000 + i * 500_000_000);
    }

    // A rate per minute: 0.5 s of CPU per 10 s is 5e7 ns/s in every window.
    let (status, body) = get(
        &app,
        &format!(
            "/api/v1/query?metric=cpu/usage&container=/docker/abc&start={t0}&end={}&step=1m&agg=rate",
            t0 + 120
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["agg"].clone(), body["step"].clone()),
        ("rate".into(), 60.0.into())
    );
    let points = body["series"][0]["points"].as_array().unwrap();
    assert!(!points.is_empty(), "{body}");
    for p in points {
        assert_eq!(
            p[0].as_i64().unwrap() % 60_000,
            0,
            "windows are aligned: {p}"
        );
        let rate = p[1].as_f64().unwrap();
        assert!((rate - 5e7).abs() < 1.0, "rate {rate}");
    }

    // A bad aggregation is a 400 naming `agg`.
    let (status, body) = get(&app, "/api/v1/query?metric=cpu/usage&agg=median").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let e = body["error"].as_str().unwrap();
    assert!(e.contains("agg") && e.contains("median"), "{e}");

    // The store's counters are on /metrics.
    let res = app
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let text =
        String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(text.contains("crowsnest_store_series "), "{text}");
    assert!(text.contains("crowsnest_store_dropped_samples_total{reason=\"duplicate\"} 0"));
    drop(app);
}
