//! The HTTP API against an in-memory agent state with known samples: JSON shapes and field
//! names as cAdvisor documents them (`info/v1`, `info/v2`), sample selection, errors, and no
//! panic or 5xx on any input.
//!
//! Expected JSON is written out by hand from the reference shapes, never produced by
//! serialising our own types.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use crowsnest_agent::history::History;
use crowsnest_agent::http::router;
use crowsnest_agent::state::{AgentState, Container, Shared};
use crowsnest_core::Timestamp;
use crowsnest_core::machine::MachineInfo;
use crowsnest_core::model::{
    ContainerReference, ContainerSpec, ContainerStats, CpuSpec, CpuStats, CpuUsage, FsStats,
    InterfaceStats, MemoryFaults, MemorySpec, MemoryStats, NetworkStats, ProcessSpec, ProcessStats,
    VersionInfo,
};
use http_body_util::BodyExt;
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt;

mod v1;
mod v2;

/// 2026-01-01T00:00:00Z.
const T0_SECS: i64 = 1_767_225_600;
const DOCKER_ID: &str = "4f2a9c1e0b7d6a5f3e2d1c0b9a8f7e6d5c4b3a29180f7e6d5c4b3a2918070605";
const SSHD: &str = "/system.slice/sshd.service";
const STEP_MS: i64 = 1_500;

fn at_ms(ms: i64) -> Timestamp {
    Timestamp::from_secs(T0_SECS).add_nanos(ms * 1_000_000)
}

/// Sample `i` of sshd: CPU total i²·0.1 s, memory growing by 1000 bytes a sample, no swap.
fn sshd_sample(i: u64) -> ContainerStats {
    let total = i * i * 100_000_000;
    let faults = MemoryFaults {
        pgfault: Some(100 * i),
        pgmajfault: Some(i),
    };
    ContainerStats {
        timestamp: at_ms(i as i64 * STEP_MS),
        cpu: Some(CpuStats {
            usage: CpuUsage {
                total: Some(total),
                per_cpu_usage: vec![total / 2, total - total / 2],
                user: Some(i * i * 60_000_000),
                system: Some(i * i * 30_000_000),
            },
            ..Default::default()
        }),
        memory: Some(MemoryStats {
            usage: Some(10_000_000 + 1_000 * i),
            cache: Some(2_000_000),
            rss: Some(6_000_000),
            swap: None,
            working_set: Some(8_000_000 + 1_000 * i),
            container_data: faults.clone(),
            hierarchical_data: faults,
            ..Default::default()
        }),
        processes: Some(ProcessStats {
            process_count: Some(1),
            threads_current: Some(2),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn root_sample(i: u64) -> ContainerStats {
    let iface = |name: &str, k: u64| InterfaceStats {
        name: name.into(),
        rx_bytes: 1_000 * k * (i + 1),
        rx_packets: 10 * k * (i + 1),
        tx_bytes: 500 * k * (i + 1),
        tx_packets: 5 * k * (i + 1),
        ..Default::default()
    };
    ContainerStats {
        timestamp: at_ms(i as i64 * STEP_MS),
        cpu: Some(CpuStats {
            usage: CpuUsage {
                total: Some(i * 3_000_000_000),
                ..Default::default()
            },
            ..Default::default()
        }),
        memory: Some(MemoryStats {
            working_set: Some(4_000_000_000),
            ..Default::default()
        }),
        network: Some(NetworkStats {
            interfaces: vec![iface("eth0", 1), iface("lo", 2)],
        }),
        filesystem: vec![FsStats {
            device: "/dev/vda1".into(),
            fs_type: "ext4".into(),
            capacity: 100_000,
            usage: 40_000,
            base_usage: None,
            available: 60_000,
            has_inodes: true,
            inodes: Some(1_000),
            inodes_free: Some(900),
        }],
        ..Default::default()
    }
}

fn container(
    name: &str,
    spec: ContainerSpec,
    samples: impl IntoIterator<Item = ContainerStats>,
) -> Container {
    let mut history = History::new(3_600_000_000_000);
    for s in samples {
        assert!(history.push(&s));
    }
    Container {
        reference: ContainerReference {
            name: name.into(),
            ..Default::default()
        },
        spec,
        history,
    }
}

fn cpu_mem_spec() -> ContainerSpec {
    ContainerSpec {
        creation_time: Timestamp::from_secs(T0_SECS - 3_600),
        has_cpu: true,
        has_memory: true,
        memory: MemorySpec {
            limit: 8 << 30,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn state() -> AgentState {
    let mut st = AgentState::default();
    let sshd_spec = ContainerSpec {
        cpu: CpuSpec {
            limit: 1024,
            max_limit: 0,
            mask: "0-3".into(),
            quota: 50_000,
            period: 100_000,
        },
        memory: MemorySpec {
            limit: 512 << 20,
            ..Default::default()
        },
        has_processes: true,
        processes: ProcessSpec { limit: 4_915 },
        ..cpu_mem_spec()
    };
    let root_spec = ContainerSpec {
        has_network: true,
        has_filesystem: true,
        ..cpu_mem_spec()
    };
    let mut docker = container(
        &format!("/docker/{DOCKER_ID}"),
        ContainerSpec {
            labels: [("team".to_owned(), "a&b".to_owned())].into(),
            image: "nginx:1.27".into(),
            ..cpu_mem_spec()
        },
        (0..3).map(sshd_sample),
    );
    docker.reference.id = DOCKER_ID.into();
    docker.reference.aliases = vec!["web".into(), DOCKER_ID.into()];
    docker.reference.namespace = "docker".into();
    for c in [
        container("/", root_spec, (0..6).map(root_sample)),
        container("/docker", cpu_mem_spec(), []),
        docker,
        container("/system.slice", cpu_mem_spec(), (0..6).map(sshd_sample)),
        container(SSHD, sshd_spec, (0..6).map(sshd_sample)),
    ] {
        st.containers.insert(c.reference.name.clone(), c);
    }
    st.machine = MachineInfo {
        timestamp: Timestamp::from_secs(T0_SECS),
        num_cores: 4,
        memory_capacity: 8 << 30,
        machine_id: "abc123".into(),
        cloud_provider: "Unknown".into(),
        ..Default::default()
    };
    st.version = VersionInfo {
        kernel_version: "6.8.0".into(),
        cadvisor_version: "0.1.0".into(),
        ..Default::default()
    };
    st
}

fn app() -> Router {
    router(Shared::new(state()), "")
}

struct Reply {
    status: StatusCode,
    content_type: String,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

async fn send(app: &Router, method: &str, uri: &str, body: &str) -> Reply {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::from(body.to_owned()))
        .expect("a valid request");
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().expect("ASCII content type").to_owned())
        .unwrap_or_default();
    let body = resp
        .into_body()
        .collect()
        .await
        .expect("the body is in memory")
        .to_bytes()
        .to_vec();
    Reply {
        status,
        content_type,
        body,
    }
}

async fn get(uri: &str) -> Reply {
    send(&app(), "GET", uri, "").await
}

/// GET that must succeed with JSON.
async fn get_json(uri: &str) -> Value {
    let r = get(uri).await;
    assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text());
    assert_eq!(r.content_type, "application/json", "{uri}");
    r.json()
}

fn timestamps(stats: &Value) -> Vec<&str> {
    stats
        .as_array()
        .expect("stats are an array")
        .iter()
        .map(|s| s["timestamp"].as_str().expect("timestamps are strings"))
        .collect()
}

// --- routing, listings, errors ------------------------------------------------------------

#[tokio::test]
async fn healthz_is_plain_ok() {
    let r = get("/healthz").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.content_type.starts_with("text/plain"),
        "{}",
        r.content_type
    );
    assert_eq!(r.text(), "ok");
}

#[tokio::test]
async fn api_lists_versions_and_request_types() {
    for uri in ["/api", "/api/"] {
        let r = get(uri).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            r.json(),
            json!({"error": "Supported API versions: v1.0,v1.1,v1.2,v1.3,v2.0,v2.1"})
        );
    }
    for (uri, types) in [
        ("/api/v1.0", "containers,machine"),
        ("/api/v1.1/", "containers,machine,subcontainers"),
        ("/api/v1.3", "containers,docker,machine,subcontainers"),
        ("/api/v2.0", "attributes,machine,spec,stats,summary,version"),
        (
            "/api/v2.1",
            "attributes,machine,machinestats,spec,stats,summary,version",
        ),
    ] {
        let r = get(uri).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(
            r.json(),
            json!({"error": format!("Supported request types: \"{types}\"")}),
            "{uri}"
        );
    }
}

#[tokio::test]
async fn unknown_versions_and_types_are_400_naming_them() {
    let r = get("/api/v9.9/machine").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.content_type, "application/json");
    assert_eq!(
        r.json(),
        json!({"error": "unsupported API version \"v9.9\""})
    );

    // subcontainers arrived in v1.1, stats is v2 only, machinestats is v2.1 only.
    for (uri, kind) in [
        ("/api/v1.0/subcontainers/", "subcontainers"),
        ("/api/v1.3/stats/", "stats"),
        ("/api/v2.0/machinestats", "machinestats"),
        ("/api/v1.3/events", "events"),
    ] {
        let r = get(uri).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}");
        let msg = r.json()["error"].as_str().unwrap().to_owned();
        assert!(
            msg.starts_with(&format!("unknown request type \"{kind}\"")),
            "{uri}: {msg}"
        );
    }
}

#[tokio::test]
async fn unknown_container_is_404_with_json() {
    for uri in [
        "/api/v1.3/containers/nope",
        "/api/v1.3/subcontainers/nope",
        "/api/v2.0/spec/nope",
        "/api/v2.0/stats/nope?recursive=true",
        "/api/v2.1/stats/nope",
        "/api/v2.0/summary/nope",
    ] {
        let r = get(uri).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(r.content_type, "application/json");
        assert_eq!(
            r.json(),
            json!({"error": "unknown container \"/nope\""}),
            "{uri}"
        );
    }
    // A name is a whole path component: /system.slic is not /system.slice.
    assert_eq!(
        get("/api/v1.3/subcontainers/system.slic").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn bad_options_are_400_naming_option_and_value() {
    let app = app();
    for (method, uri, body, want) in [
        (
            "GET",
            "/api/v1.3/containers/?num_stats=abc",
            "",
            r#"invalid option num_stats="abc": expected an integer"#,
        ),
        (
            "GET",
            "/api/v1.3/containers/?num_stats=-5",
            "",
            r#"invalid option num_stats="-5": must be -1 (all) or larger"#,
        ),
        (
            "POST",
            "/api/v1.3/containers/",
            r#"{"num_stats":"ten"}"#,
            r#"invalid option num_stats="\"ten\"": expected an integer"#,
        ),
        (
            "GET",
            "/api/v2.0/stats/?count=-2",
            "",
            r#"invalid option count="-2": must be -1 (all) or larger"#,
        ),
        (
            "GET",
            "/api/v2.0/stats/?count=many",
            "",
            r#"invalid option count="many": expected an integer"#,
        ),
        (
            "GET",
            "/api/v2.0/stats/?recursive=maybe",
            "",
            r#"invalid option recursive="maybe": expected true or false"#,
        ),
        (
            "GET",
            "/api/v2.0/stats/?type=lxc",
            "",
            r#"invalid option type="lxc": expected name, docker or podman"#,
        ),
    ] {
        let r = send(&app, method, uri, body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(r.json(), json!({"error": want}), "{uri}");
    }
    for (uri, body, start) in [
        ("/api/v1.3/containers/", "{", "invalid JSON request body"),
        (
            "/api/v1.3/subcontainers/",
            "[1,2]",
            "invalid JSON request body",
        ),
        (
            "/api/v1.3/containers/",
            r#"{"start":"yesterday"}"#,
            "invalid option start=\"yesterday\"",
        ),
        (
            "/api/v1.3/containers/?end=2026-02-30T00:00:00Z",
            "",
            "invalid option end=\"2026-02-30T00:00:00Z\"",
        ),
    ] {
        let r = send(&app, "POST", uri, body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri} {body}");
        let msg = r.json()["error"].as_str().unwrap().to_owned();
        assert!(msg.starts_with(start), "{uri} {body}: {msg}");
    }
}

#[tokio::test]
async fn url_base_prefix_moves_every_route() {
    let app = router(Shared::new(state()), "/monitor/");
    assert_eq!(send(&app, "GET", "/monitor/healthz", "").await.text(), "ok");
    let r = send(&app, "GET", "/monitor/api/v2.0/version?x=1", "").await;
    assert_eq!(
        (r.status, r.text()),
        (StatusCode::OK, "\"0.1.0\"".to_owned())
    );
    for uri in ["/healthz", "/api/v2.0/version", "/monitorx/healthz"] {
        assert_eq!(
            send(&app, "GET", uri, "").await.status,
            StatusCode::NOT_FOUND,
            "{uri}"
        );
    }
    // The bare prefix is the web UI's root, which fixes its base itself.
    let r = send(&app, "GET", "/monitor", "").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text().contains("<base"), "{}", r.text());
    // Prefixes axum would refuse as routes are fine here.
    let app = router(Shared::new(state()), "/{odd}/:x/*y");
    assert_eq!(
        send(&app, "GET", "/%7Bodd%7D/:x/*y/healthz", "")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&app, "GET", "/{odd}/:x/*y/healthz", "").await.text(),
        "ok"
    );
}

// --- no panics, no 5xx --------------------------------------------------------------------

#[tokio::test]
async fn awkward_paths_never_fail_the_server() {
    let app = app();
    for uri in [
        "/api/v1.3/containers/%2e%2e/%2e%2e/etc/passwd",
        "/api/v1.3/containers/%ff%fe",
        "/api/v1.3/containers/%zz",
        "/api//containers",
        "/api/v1.3//containers",
        "/api/v1.3/containers/?num_stats=99999999999999999999999",
        "/api/v1.3/containers/?num_stats=9223372036854775807",
        "/api/v2.0/stats/?count=9223372036854775807",
        "/api/v2.1/stats/%00?type=docker",
        "/api/%76%31%2e%33/machine",
    ] {
        let r = send(&app, "GET", uri, "").await;
        assert!(r.status.as_u16() < 500, "{uri}: {}", r.status);
    }
    // %-decoding applies to the whole path, as Go's URL.Path.
    assert_eq!(
        send(&app, "GET", "/api/%76%31%2e%33/machine", "")
            .await
            .status,
        StatusCode::OK
    );
    let r = send(
        &app,
        "GET",
        "/api/v1.3/containers/system.slice%2Fsshd.service",
        "",
    )
    .await;
    assert_eq!(r.json()["name"], json!(SSHD));
}

fn arbitrary_uri() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        Just("v1.3".to_owned()),
        Just("v2.1".to_owned()),
        Just("containers".to_owned()),
        Just("stats".to_owned()),
        Just("summary".to_owned()),
        Just("..".to_owned()),
        proptest::collection::vec(any::<u8>(), 0..8)
            .prop_map(|b| b.iter().map(|c| format!("%{c:02X}")).collect()),
        "[a-z0-9._-]{0,8}",
    ];
    let query = prop_oneof![
        Just(String::new()),
        "(count|num_stats|recursive|type|start|end)=[-a-z0-9:.%]{0,24}"
            .prop_map(|q| format!("?{q}")),
    ];
    (proptest::collection::vec(segment, 0..6), query)
        .prop_map(|(segs, q)| format!("/api/{}{q}", segs.join("/")))
}

fn arbitrary_body() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "\\PC{0,40}",
        (any::<i64>(), "\\PC{0,30}")
            .prop_map(|(n, s)| format!(r#"{{"num_stats":{n},"start":{s:?}}}"#)),
        any::<f64>().prop_map(|f| format!(r#"{{"num_stats":{f}}}"#)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_input_makes_a_5xx_or_a_panic(
        uri in arbitrary_uri(),
        body in arbitrary_body(),
        method in prop_oneof![Just("GET"), Just("POST"), Just("DELETE"), Just("HEAD")],
        prefixed in any::<bool>(),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let (app, uri) = if prefixed {
            (router(Shared::new(state()), "/m"), format!("/m{uri}"))
        } else {
            (app(), uri)
        };
        let req = Request::builder().method(method).uri(&uri).body(Body::from(body)).unwrap();
        let resp = rt.block_on(app.oneshot(req)).unwrap();
        prop_assert!(resp.status().as_u16() < 500, "{} {}: {}", method, uri, resp.status());
    }
}
