use std::time::{Duration, Instant};

use super::super::Factory as _;
use super::*;
use crate::runtime::fake::{Answer, FakeRuntime};

const ID: &str = "651676fc38d8ef20d3a7cbfcefab6f6b765fd9ff062365683adfd563b5da4975";

/// `docker inspect` of a container run with two labels, two env vars, a 64 MiB limit, a
/// health check and `--restart on-failure:1` (restarted once), recorded from Docker 20.10.
fn recorded_inspect() -> &'static str {
    include_str!("../../../tests/fixtures/runtime/docker-inspect.json")
}

/// `GET /events` for that container's life (create, start, die, start, health checks),
/// recorded from the same daemon.
fn recorded_events() -> &'static str {
    include_str!("../../../tests/fixtures/runtime/docker-events.jsonl")
}

#[test]
fn recorded_inspect_gives_cadvisors_view() {
    let inspect: Inspect = serde_json::from_str(recorded_inspect()).unwrap();
    let m = inspect.into_metadata(Kind::Docker, &format!("/docker/{ID}"), &["APP_".to_owned()]);
    assert_eq!(m.namespace(), "docker");
    assert_eq!(m.id, ID);
    assert_eq!(m.aliases, ["web-1", ID]);
    assert_eq!(m.image, "crowsnest-fixture:1");
    let labels: Vec<(&str, &str)> = m
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        labels,
        [
            ("app", "web"),
            ("com.example.team", "blue"),
            ("restartcount", "1")
        ]
    );
    // Only allow-listed env; the key lower-cased; SECRET_TOKEN never leaves.
    assert_eq!(m.envs.len(), 1);
    assert_eq!(m.envs["app_mode"], "prod");
    assert_eq!(m.health.as_deref(), Some("healthy"));
    assert_eq!(m.restart_count, Some(1));
    assert!(m.pid.is_some_and(|p| p > 1));
    assert_eq!(m.network, NetworkRole::Owner);
    assert_eq!(m.pod, None);
    assert!(m.created.is_some());
    // The writable layer (fuse-overlayfs gives an upper dir too) and the directory of the log.
    assert_eq!(
        m.storage.layer.as_deref(),
        Some(Path::new(
            "/var/lib/docker/fuse-overlayfs/bac8642aac736e049166a6514750cbe845c808d3916a6facc8806c3c130d7fc4/diff"
        ))
    );
    assert_eq!(
        m.storage.logs,
        Some(PathBuf::from(format!("/var/lib/docker/containers/{ID}")))
    );
    let r = m.reference(&format!("/docker/{ID}"));
    assert_eq!((r.namespace.as_str(), r.id.as_str()), ("docker", ID));
    // No allow-list: no env at all.
    let inspect: Inspect = serde_json::from_str(recorded_inspect()).unwrap();
    assert!(
        inspect
            .into_metadata(Kind::Docker, "/x", &[])
            .envs
            .is_empty()
    );
}

#[test]
fn joined_network_and_kubernetes_labels() {
    let json = r#"{"Id":"a","Name":"/app","State":{"Pid":0},"Config":{"Image":"i","Labels":null,"Env":null},
        "HostConfig":{"NetworkMode":"container:b"}}"#;
    let m = serde_json::from_str::<Inspect>(json)
        .unwrap()
        .into_metadata(Kind::Docker, "/docker/a", &[]);
    assert_eq!(m.network, NetworkRole::Joined);
    assert_eq!(m.pid, None, "no pid when not running");
    assert!(m.labels.is_empty() && m.health.is_none());
    assert_eq!(m.restart_count, None);
    let json = r#"{"Id":"a","Name":"/k8s_app","RestartCount":0,"Config":{"Image":"i","Labels":{
        "io.kubernetes.pod.name":"api-7d9c","io.kubernetes.pod.namespace":"prod",
        "io.kubernetes.container.name":"app","io.kubernetes.docker.type":"container"}}}"#;
    let m = serde_json::from_str::<Inspect>(json)
        .unwrap()
        .into_metadata(Kind::Docker, "/kubepods/burstable/podu-1/a", &[]);
    assert_eq!(m.network, NetworkRole::Joined);
    assert!(
        !m.labels.contains_key("restartcount"),
        "0 restarts: no label"
    );
    let pod = m.pod.unwrap();
    assert_eq!(pod.name.as_deref(), Some("api-7d9c"));
    assert_eq!(pod.uid.as_deref(), Some("u-1"), "uid from the path");
    assert_eq!(pod.qos.as_deref(), Some("burstable"));
}

#[test]
fn a_field_of_the_wrong_type_is_named() {
    let f = FakeRuntime::start(vec![(
        "/containers/x/json",
        Answer::json(200, r#"{"Id":"x","RestartCount":"many"}"#),
    )]);
    let e = Engine::new(f.socket(), Kind::Docker, Duration::from_secs(2))
        .inspect("x")
        .unwrap_err();
    assert!(matches!(e, Error::Decode { .. }), "{e}");
    assert!(!e.is_unreachable());
    let text = e.to_string();
    assert!(
        text.contains("invalid type") && text.contains("/containers/x/json"),
        "{text}"
    );
}

#[test]
fn engine_inspects_and_reports_unknown_containers() {
    let f = FakeRuntime::start(vec![
        (
            &format!("/containers/{ID}/json") as &str,
            Answer::json(200, recorded_inspect()),
        ),
        ("/_ping", Answer::json(200, "OK")),
        (
            "/containers/gone/json",
            Answer::json(500, r#"{"message":"boom"}"#),
        ),
    ]);
    let engine = Engine::new(f.socket(), Kind::Docker, Duration::from_secs(2));
    engine.ping().unwrap();
    let factory = Factory::new(Some(engine.clone()), Vec::new());
    let name = format!("/docker/{ID}");
    let Claim::Yes(identity) = factory.claim(&name) else {
        panic!("docker claims {name}");
    };
    let m = factory.inspect(&name, &identity.id).unwrap();
    assert_eq!(m.aliases[0], "web-1");
    let e = engine.inspect(&"b".repeat(64)).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    let e = engine.inspect("gone").unwrap_err();
    assert!(
        e.to_string().contains("500") && e.to_string().contains("boom"),
        "{e}"
    );
}

#[test]
fn docker_paths() {
    let f = Factory::new(
        Some(Engine::new(
            Path::new("/nonexistent.sock"),
            Kind::Docker,
            Duration::from_secs(1),
        )),
        Vec::new(),
    );
    let yes = |n: &str| {
        matches!(
            f.claim(n),
            Claim::Yes(Identity {
                kind: Kind::Docker,
                ..
            })
        )
    };
    assert!(yes(&format!("/docker/{ID}")));
    assert!(yes(&format!("/system.slice/docker-{ID}.scope")));
    assert!(yes(&format!("/my-parent/docker/{ID}")));
    assert!(
        !yes(&format!("/kubepods/burstable/podx/{ID}")),
        "a bare id: containerd's claim"
    );
    assert!(!yes("/docker"));
    assert!(!yes(&format!("/system.slice/docker-{ID}.mount")));
    assert!(!yes(&format!("/docker/{}", &ID[..12])));
    let off = Factory::new(None, Vec::new());
    assert_eq!(off.claim(&format!("/docker/{ID}")), Claim::No);
}

#[test]
fn events_stream_in_pieces_yields_container_changes() {
    // The recorded events, plus a non-container event, in 100-byte chunks with pauses.
    let mut body = String::from(r#"{"Type":"network","Action":"connect","Actor":{"ID":"n1"}}"#);
    body.push('\n');
    body.push_str(recorded_events());
    let mut pieces = vec![(
        Duration::ZERO,
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec(),
    )];
    for chunk in body.as_bytes().chunks(100) {
        let mut c = format!("{:x}\r\n", chunk.len()).into_bytes();
        c.extend_from_slice(chunk);
        c.extend_from_slice(b"\r\n");
        pieces.push((Duration::from_millis(2), c));
    }
    pieces.push((Duration::from_millis(300), b"0\r\n\r\n".to_vec()));
    let path = "/events?filters=%7B%22type%22%3A%5B%22container%22%5D%7D";
    let f = FakeRuntime::start(vec![(path, Answer(pieces))]);
    let engine = Engine::new(f.socket(), Kind::Docker, Duration::from_secs(2));
    let mut events = engine.events().unwrap();
    let mut got = Vec::new();
    let started = Instant::now();
    let end = loop {
        assert!(started.elapsed() < Duration::from_secs(10));
        match events.next(Duration::from_millis(100)) {
            Ok(Some(ev)) => got.push(ev),
            Ok(None) => {}
            Err(e) => break e,
        }
    };
    assert!(end.to_string().contains("ended"), "{end}");
    assert_eq!(
        got.len(),
        recorded_events().lines().count(),
        "the network event is skipped"
    );
    assert!(got.iter().all(|e| e.id == ID));
    let refreshing: Vec<&str> = got
        .iter()
        .filter(|e| e.refreshes_metadata())
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(
        refreshing,
        ["create", "start", "start", "health_status: healthy"],
        "die and exec_* do not call for an inspect"
    );
}

#[test]
fn a_refused_events_request_is_an_error() {
    let path = "/events?filters=%7B%22type%22%3A%5B%22container%22%5D%7D";
    let f = FakeRuntime::start(vec![(path, Answer::json(503, "{}"))]);
    let e = Engine::new(f.socket(), Kind::Podman, Duration::from_secs(2))
        .events()
        .unwrap_err();
    assert!(e.to_string().contains("503"), "{e}");
}
