//! The manager with runtimes that answer, change, stall or are missing: fixture cgroup trees
//! and a fake Engine API on a unix socket in a temp dir (the real Docker is exercised by
//! `tests/it/docker.rs`).

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;
use std::sync::mpsc;

use crowsnest_collect::runtime;
use crowsnest_core::{ManualClock, Timestamp};

use super::*;

const ID: &str = "a3f1c9e2b7d84f6c9e0d1b2a3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d";

fn fixture(tree: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crowsnest-collect/tests/fixtures")
        .join(tree)
}

fn manager(tree: &str, runtime: runtime::Config) -> (Manager, Shared) {
    let shared = Shared::default();
    let config = AgentConfig {
        roots: crowsnest_collect::Roots {
            cgroup: fixture(tree),
            ..Default::default()
        },
        inotify: false,
        runtime,
        ..AgentConfig::default()
    };
    let clock = ManualClock::new(Timestamp::from_secs(1_700_000_000));
    let m = Manager::new(config, Arc::new(clock), shared.clone()).unwrap();
    (m, shared)
}

fn docker_at(socket: &Path, timeout: Duration) -> runtime::Config {
    runtime::Config {
        docker: Some(socket.to_owned()),
        timeout,
        ..runtime::Config::default()
    }
}

/// A fake Engine API: inspect answers name the container `web-<n>` with label
/// `version=<n>`, n counting the inspects; `/events` streams one `start` event of the
/// container each time the test sends on the returned channel.
struct FakeEngine {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    inspects: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Drop for FakeEngine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn fake_engine() -> (FakeEngine, mpsc::Sender<()>) {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    listener.set_nonblocking(true).unwrap();
    let inspects = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel::<()>();
    let rx = Arc::new(std::sync::Mutex::new(rx));
    let (n, st) = (inspects.clone(), stop.clone());
    std::thread::spawn(move || {
        let started = Instant::now();
        while !st.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(60) {
            let Ok((conn, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            let (n, st, rx) = (n.clone(), st.clone(), rx.clone());
            std::thread::spawn(move || answer(conn, &n, &st, &rx));
        }
    });
    let engine = FakeEngine {
        _dir: dir,
        socket,
        inspects,
        stop,
    };
    (engine, tx)
}

fn answer(
    mut conn: UnixStream,
    inspects: &AtomicUsize,
    stop: &AtomicBool,
    events: &std::sync::Mutex<mpsc::Receiver<()>>,
) {
    conn.set_nonblocking(false).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).is_ok_and(|n| n == 1) {
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let path = head.split(' ').nth(1).unwrap_or_default();
    if path.starts_with("/events") {
        let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        while !stop.load(Ordering::Relaxed) {
            let got = events
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_millis(50));
            if got.is_ok() {
                let ev =
                    format!(r#"{{"Type":"container","Action":"start","Actor":{{"ID":"{ID}"}}}}"#);
                let chunk = format!("{:x}\r\n{ev}\n\r\n", ev.len() + 1);
                if conn.write_all(chunk.as_bytes()).is_err() {
                    return;
                }
            }
        }
    } else if path == format!("/containers/{ID}/json") {
        let n = inspects.fetch_add(1, Ordering::SeqCst) + 1;
        let body = format!(
            r#"{{"Id":"{ID}","Name":"/web-{n}","Created":"2024-05-01T10:00:00.5Z","RestartCount":0,
            "State":{{"Running":true,"Pid":0,"Health":{{"Status":"healthy"}}}},
            "Config":{{"Image":"nginx:1.25","Labels":{{"version":"{n}"}},"Env":["APP_MODE=prod","SECRET=x"]}},
            "HostConfig":{{"NetworkMode":"default"}}}}"#
        );
        let _ = write!(
            conn,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
    } else {
        let _ = conn.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}");
    }
}

fn reference(shared: &Shared, name: &str) -> (ContainerReference, ContainerSpec) {
    let st = shared.read();
    let c = &st.containers[name];
    (c.reference.clone(), c.spec.clone())
}

#[test]
fn docker_metadata_lands_on_the_reference_and_spec_and_events_refresh_it() {
    let (engine, events) = fake_engine();
    let mut config = docker_at(&engine.socket, Duration::from_secs(2));
    config.env_allowlist = vec!["APP_".into()];
    let (mut m, shared) = manager("v1", config);
    let name = format!("/docker/{ID}");
    assert!(m.wait_for_runtime(Duration::from_secs(5)));
    let (r, spec) = reference(&shared, &name);
    assert_eq!(r.namespace, "docker");
    assert_eq!(r.id, ID);
    assert_eq!(r.aliases, ["web-1", ID]);
    assert_eq!(spec.image, "nginx:1.25");
    assert_eq!(spec.labels["version"], "1");
    assert_eq!(spec.envs.len(), 1, "only allow-listed env: {:?}", spec.envs);
    assert_eq!(spec.envs["app_mode"], "prod");
    assert_eq!(
        spec.creation_time,
        Timestamp::parse_rfc3339("2024-05-01T10:00:00.5Z").unwrap()
    );
    assert!(spec.has_memory, "cgroup limits are still read");
    let meta = m.runtime_metadata(&name).unwrap();
    assert_eq!(meta.health.as_deref(), Some("healthy"));
    // The raw parent and the root are not the runtime's.
    assert_eq!(reference(&shared, "/docker").0.namespace, "");
    // A rescan re-reads the cgroup spec and keeps the runtime's fields.
    m.rescan();
    assert_eq!(reference(&shared, &name).1.image, "nginx:1.25");

    // An event makes the manager ask again, without a rescan.
    let started = Instant::now();
    while reference(&shared, &name).0.aliases[0] == "web-1" {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no refresh after the event"
        );
        let _ = events.send(());
        m.wait_for_runtime(Duration::from_millis(200));
        m.housekeep_all();
    }
    let (r, spec) = reference(&shared, &name);
    assert!(r.aliases[0].starts_with("web-"), "{:?}", r.aliases);
    assert_eq!(
        spec.labels["version"],
        r.aliases[0].trim_start_matches("web-")
    );
    assert!(engine.inspects.load(Ordering::SeqCst) >= 2);
}

#[test]
fn a_runtime_that_never_answers_does_not_hold_up_housekeeping() {
    // A socket that accepts connections into its backlog and never reads or answers.
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("stuck.sock");
    let _listener = UnixListener::bind(&socket).unwrap();
    let timeout = Duration::from_millis(400);
    let (mut m, shared) = manager("v1", docker_at(&socket, timeout));
    let name = format!("/docker/{ID}");
    let started = Instant::now();
    assert!(m.housekeep_all() >= 4);
    assert!(
        started.elapsed() < timeout / 2,
        "a pass waited for the runtime: {:?}",
        started.elapsed()
    );
    // Reported under its cgroup name meanwhile, with its samples.
    let (r, _) = reference(&shared, &name);
    assert_eq!((r.namespace.as_str(), r.aliases.len()), ("", 0));
    assert_eq!(shared.read().containers[&name].history.len(), 1);
    // The question fails after the timeout; still reported, still raw.
    assert!(m.wait_for_runtime(timeout * 5));
    assert_eq!(reference(&shared, &name).0.namespace, "");
    // Asked again at the next rescan: the runtime is being backed off from, so the answer
    // comes at once instead of after another timeout.
    m.rescan();
    let asked = Instant::now();
    assert!(m.wait_for_runtime(timeout * 5));
    assert!(asked.elapsed() < timeout, "{:?}", asked.elapsed());
    assert_eq!(m.tracked[&name].meta_failures, 2);
    assert_eq!(m.retries.len(), 1, "one retry scheduled per container");
    let wait = m.retries[&name].saturating_duration_since(Instant::now());
    assert!(
        wait > RETRY_FIRST,
        "the second failure waits longer: {wait:?}"
    );
}

#[test]
fn a_missing_socket_leaves_containers_raw() {
    let dir = tempfile::tempdir().unwrap();
    let (mut m, shared) = manager(
        "v1",
        docker_at(&dir.path().join("none.sock"), Duration::from_secs(2)),
    );
    assert!(m.wait_for_runtime(Duration::from_secs(2)));
    m.housekeep_all();
    let name = format!("/docker/{ID}");
    assert_eq!(reference(&shared, &name).0.namespace, "");
    assert!(m.runtime_metadata(&name).is_none());
    assert!(shared.read().containers[&name].history.len() == 1);
}

#[test]
fn docker_only_keeps_runtime_containers_and_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = docker_at(&dir.path().join("none.sock"), Duration::from_secs(1));
    config.docker_only = true;
    let (m, shared) = manager("v1", config.clone());
    let names: Vec<String> = shared.read().containers.keys().cloned().collect();
    assert_eq!(names, ["/".to_owned(), format!("/docker/{ID}")]);
    assert_eq!(m.container_count(), 2);
    config.raw_prefix_allowlist = vec!["/system.slice".into()];
    let (_m, shared) = manager("v1", config);
    let names: Vec<String> = shared.read().containers.keys().cloned().collect();
    assert_eq!(
        names,
        [
            "/".to_owned(),
            format!("/docker/{ID}"),
            "/system.slice".into(),
            "/system.slice/sshd.service".into()
        ]
    );
}

#[test]
fn kubernetes_containers_are_named_from_their_paths() {
    // No socket at all: the bare id under /kubepods is containerd's by its path.
    let (mut m, shared) = manager("v2", runtime::Config::default());
    assert!(m.wait_for_runtime(Duration::from_secs(5)));
    let st = shared.read();
    let (name, c) = st
        .containers
        .iter()
        .find(|(_, c)| c.reference.namespace == "containerd")
        .expect("a containerd container in the v2 fixture");
    assert!(name.starts_with("/kubepods/burstable/pod"), "{name}");
    let id = name.rsplit('/').next().unwrap();
    assert_eq!(c.reference.aliases, [id.to_owned(), name.clone()]);
    let uid = name.split('/').nth(3).unwrap().trim_start_matches("pod");
    assert_eq!(c.spec.labels["io.kubernetes.pod.uid"], uid);
    // The pod's own cgroup stays raw, as in cAdvisor.
    let pod = &st.containers[crate::state::parent_of(name)];
    assert_eq!(pod.reference.namespace, "");
    let name = name.clone();
    drop(st);
    let qos = m
        .runtime_metadata(&name)
        .and_then(|m| m.pod.as_ref())
        .and_then(|p| p.qos.clone());
    assert_eq!(qos.as_deref(), Some("burstable"));
}
