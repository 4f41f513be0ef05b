//! A fake agent on 127.0.0.1: it answers `/api/v1.3/subcontainers/` and `/api/v1.3/machine` in
//! the agent's shapes (the core's model types), with samples every `step` whose CPU counters
//! grow at a known rate, so that every rate the hub computes has an exact expected value. Its
//! clock can be skewed, its answers delayed or refused, its counters reset.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use crowsnest_core::model::*;
use crowsnest_core::{Clock, SystemClock, Timestamp};

/// One container the fake reports.
#[derive(Debug, Clone)]
pub struct FakeContainer {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub created: Timestamp,
    /// CPU use in millicores.
    pub millicores: i64,
    /// The counter's value at `t0`.
    pub cpu_base: i64,
    pub t0: Timestamp,
    pub working_set: u64,
    pub shares: u64,
    pub network: bool,
}

impl FakeContainer {
    pub fn new(name: &str, millicores: i64) -> FakeContainer {
        FakeContainer {
            name: name.into(),
            labels: BTreeMap::new(),
            created: Timestamp::from_secs(1_000),
            millicores,
            cpu_base: 1_000_000_000,
            t0: SystemClock.now(),
            working_set: 64 << 20,
            shares: 1024,
            network: false,
        }
    }

    /// A container of pod `pod` in namespace `ns`, Kubernetes' runtime labels.
    pub fn pod(ns: &str, pod: &str, container: &str, millicores: i64) -> FakeContainer {
        let mut c = FakeContainer::new(&format!("/kubepods/pod-{pod}/{container}"), millicores);
        for (k, v) in [
            ("io.kubernetes.pod.name", pod),
            ("io.kubernetes.pod.namespace", ns),
            ("io.kubernetes.pod.uid", "uid-1"),
            ("io.kubernetes.container.name", container),
        ] {
            c.labels.insert(k.into(), v.into());
        }
        c
    }

    fn cpu_at(&self, t: Timestamp) -> u64 {
        let ns = (t.nanos() - self.t0.nanos()).max(0);
        u64::try_from(self.cpu_base + self.millicores * ns / 1000).unwrap_or(0)
    }
}

#[derive(Debug)]
pub struct FakeState {
    pub containers: Vec<FakeContainer>,
    /// Added to the real clock for sample times.
    pub skew: i64,
    /// Wait before answering.
    pub delay: Duration,
    /// Answer 500.
    pub fail: bool,
    /// Time between samples, ns.
    pub step: i64,
    pub requests: u64,
    /// No sample before this time (an agent restarted then has no older history).
    pub since: Timestamp,
}

/// A running fake agent, stopped on drop.
pub struct FakeAgent {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<FakeState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeAgent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeAgent {
    pub async fn start(containers: Vec<FakeContainer>) -> FakeAgent {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        FakeAgent::start_on(listener, containers).await
    }

    /// A fake agent on a listener the caller bound (another loopback address, a given port).
    pub async fn start_on(
        listener: tokio::net::TcpListener,
        containers: Vec<FakeContainer>,
    ) -> FakeAgent {
        let state = Arc::new(Mutex::new(FakeState {
            containers,
            skew: 0,
            delay: Duration::ZERO,
            fail: false,
            step: 100_000_000,
            requests: 0,
            since: Timestamp(0),
        }));
        let app = Router::new()
            .route("/api/v1.3/subcontainers/", any(subcontainers))
            .route("/api/v1.3/machine", get(machine))
            .with_state(state.clone());
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeAgent { addr, state, task }
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut FakeState) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    /// Resets every counter to 0 now (the creation time stays).
    pub fn reset_counters(&self) {
        let now = SystemClock.now();
        self.with(|s| {
            let skew = s.skew;
            for c in &mut s.containers {
                c.cpu_base = 0;
                c.t0 = now.add_nanos(skew);
            }
        });
    }
}

async fn machine() -> Response {
    let body = serde_json::json!({"num_cores": 4, "memory_capacity": 8u64 << 30});
    axum::Json(body).into_response()
}

async fn subcontainers(State(state): State<Arc<Mutex<FakeState>>>, body: Bytes) -> Response {
    let delay = {
        let mut s = state.lock().unwrap();
        s.requests += 1;
        s.delay
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let opts: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let num = opts["num_stats"].as_i64().unwrap_or(60);
    let start = opts["start"]
        .as_str()
        .and_then(|s| Timestamp::parse_rfc3339(s).ok());
    let s = state.lock().unwrap();
    if s.fail {
        return (StatusCode::INTERNAL_SERVER_ERROR, "failing on purpose").into_response();
    }
    let now = SystemClock.now().add_nanos(s.skew);
    let mut out = Vec::new();
    let mut root_times = Vec::new();
    for c in &s.containers {
        let first = (now.nanos() - 120_000_000_000).max(c.t0.nanos());
        let mut times = Vec::new();
        let mut k = (first - c.t0.nanos() + s.step - 1).div_euclid(s.step);
        loop {
            let t = Timestamp(c.t0.nanos() + k * s.step);
            if t > now {
                break;
            }
            if start.is_none_or(|st| t >= st) && t >= s.since {
                times.push(t);
            }
            k += 1;
        }
        if num >= 0 {
            let drop = times.len().saturating_sub(num as usize);
            times.drain(..drop);
        }
        if root_times.len() < times.len() {
            root_times = times.clone();
        }
        let stats = times
            .iter()
            .map(|&t| ContainerStats {
                timestamp: t,
                cpu: Some(CpuStats {
                    usage: CpuUsage {
                        total: Some(c.cpu_at(t)),
                        ..Default::default()
                    },
                    ..Default::default()
                }),
                memory: Some(MemoryStats {
                    usage: Some(c.working_set + 4096),
                    working_set: Some(c.working_set),
                    ..Default::default()
                }),
                network: c.network.then(|| NetworkStats {
                    interfaces: vec![InterfaceStats {
                        name: "eth0".into(),
                        rx_bytes: c.cpu_at(t) / 1000,
                        ..Default::default()
                    }],
                }),
                ..Default::default()
            })
            .collect();
        out.push(ContainerInfo {
            reference: ContainerReference {
                name: c.name.clone(),
                ..Default::default()
            },
            spec: ContainerSpec {
                creation_time: c.created,
                labels: c.labels.clone(),
                has_cpu: true,
                cpu: CpuSpec {
                    limit: c.shares,
                    ..Default::default()
                },
                has_memory: true,
                ..Default::default()
            },
            stats,
            ..Default::default()
        });
    }
    // The root: every container's CPU plus 100 millicores of its own, on the same times.
    let t0 = s.containers.first().map_or(now, |c| c.t0);
    let root_total = |t: Timestamp| {
        let own = 100 * (t.nanos() - t0.nanos()).max(0) / 1000;
        s.containers.iter().map(|c| c.cpu_at(t)).sum::<u64>() + u64::try_from(own).unwrap_or(0)
    };
    out.insert(
        0,
        ContainerInfo {
            reference: ContainerReference {
                name: "/".into(),
                ..Default::default()
            },
            spec: ContainerSpec {
                creation_time: Timestamp::from_secs(1),
                has_cpu: true,
                has_memory: true,
                ..Default::default()
            },
            stats: root_times
                .iter()
                .map(|&t| ContainerStats {
                    timestamp: t,
                    cpu: Some(CpuStats {
                        usage: CpuUsage {
                            total: Some(root_total(t)),
                            ..Default::default()
                        },
                        ..Default::default()
                    }),
                    memory: Some(MemoryStats {
                        usage: Some(1 << 30),
                        working_set: Some(512 << 20),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        },
    );
    axum::Json(out).into_response()
}
