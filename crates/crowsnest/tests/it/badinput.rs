//! Bad input against the real agent and hub binaries on 127.0.0.1: path traversal in
//! container names, huge, negative and non-numeric options, invalid UTF-8, 1 MB headers, a
//! 10 MB body, unknown paths, bad model API and `labelSelector` parameters. Every answer is a
//! 4xx whose JSON body names the problem (a 431 or a closed connection for what the HTTP layer
//! refuses before any handler), and the server still serves `/healthz` afterwards.
//!
//! `schemathesis_finds_no_server_error` runs schemathesis (PyPI) with `docs/openapi.yaml`
//! against both binaries for a bounded number of examples per operation. It finds the CLI in
//! `CROWSNEST_SCHEMATHESIS`, else `st` on `PATH` (scripts/test.sh installs a pinned version in
//! a venv).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::e2e::free_port;

/// A child process killed (and reaped) on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Proc {
    /// Panics when the process has exited (a crash).
    fn assert_alive(&mut self, what: &str) {
        if let Ok(Some(status)) = self.0.try_wait() {
            panic!("the {what} exited: {status}");
        }
    }
}

/// An answer: status, `Content-Type`, body.
#[derive(Debug)]
struct Answer {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The JSON body, checked to be JSON.
    fn json(&self, what: &str) -> Value {
        assert!(
            self.content_type.starts_with("application/json"),
            "{what}: Content-Type {:?}, body {}",
            self.content_type,
            self.text()
        );
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {}", self.text()))
    }
}

/// Sends `head` (request line and headers, without the blank line) and `body` over one
/// HTTP/1.0 connection; `None` when the server closes or resets it without an answer. The
/// body is written from another thread, so that an answer sent before the body is all read
/// (a 413) is still received.
fn raw(port: u16, head: &[u8], body: Vec<u8>) -> Option<Answer> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut request = head.to_vec();
    request.extend_from_slice(format!("\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes());
    let mut writer = s.try_clone().unwrap();
    let sending = std::thread::spawn(move || {
        let _ = writer
            .write_all(&request)
            .and_then(|()| writer.write_all(&body));
    });
    let mut resp = Vec::new();
    let mut buf = [0u8; 64 << 10];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => resp.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    let _ = s.shutdown(Shutdown::Both);
    let _ = sending.join();
    let split = resp.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&resp[..split]).into_owned();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_owned())
        })
        .unwrap_or_default();
    Some(Answer {
        status,
        content_type,
        body: resp[split + 4..].to_vec(),
    })
}

fn request(port: u16, method: &str, path: &str, body: &[u8]) -> Answer {
    let head = format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1");
    raw(port, head.as_bytes(), body.to_vec())
        .unwrap_or_else(|| panic!("{method} {path}: no answer"))
}

fn get(port: u16, path: &str) -> Answer {
    request(port, "GET", path, b"")
}

fn healthy(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
        && raw(
            port,
            b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1",
            Vec::new(),
        )
        .is_some_and(|a| a.status == 200)
}

fn wait_until(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(secs) {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out after {secs} s waiting for {what}");
}

/// An agent (with an on-disk store, so that `/api/v1/query` parses its parameters) and a hub
/// scraping it.
struct Pair {
    agent: Proc,
    hub: Proc,
    agent_port: u16,
    hub_port: u16,
    _dir: tempfile::TempDir,
}

impl Pair {
    fn start() -> Pair {
        let dir = tempfile::tempdir().unwrap();
        let (agent_port, hub_port) = (free_port(), free_port());
        let spawn = |args: Vec<String>, log: &str| {
            let log = std::fs::File::create(dir.path().join(log)).unwrap();
            Proc(
                Command::new(env!("CARGO_BIN_EXE_crowsnest"))
                    .args(args)
                    .stdout(Stdio::null())
                    .stderr(log)
                    .spawn()
                    .expect("start crowsnest"),
            )
        };
        let agent = spawn(
            vec![
                "agent".into(),
                format!("--listen=127.0.0.1:{agent_port}"),
                "--housekeeping-interval=500ms".into(),
                format!("--store-dir={}", dir.path().join("store").display()),
                format!("--sink-queue-dir={}", dir.path().join("queues").display()),
            ],
            "agent.log",
        );
        wait_until("the agent's /healthz", 30, || healthy(agent_port));
        let hub = spawn(
            vec![
                "hub".into(),
                format!("--listen=127.0.0.1:{hub_port}"),
                format!("--node=local=127.0.0.1:{agent_port}"),
                "--resolution=1s".into(),
                format!(
                    "--sink-queue-dir={}",
                    dir.path().join("hub-queues").display()
                ),
            ],
            "hub.log",
        );
        // 200 once the hub has scraped the agent (503 before).
        wait_until("the hub's first scrape", 30, || healthy(hub_port));
        Pair {
            agent,
            hub,
            agent_port,
            hub_port,
            _dir: dir,
        }
    }

    /// Both processes run and answer `/healthz`.
    fn assert_serving(&mut self, after: &str) {
        self.agent.assert_alive("agent");
        self.hub.assert_alive("hub");
        assert!(healthy(self.agent_port), "agent /healthz after {after}");
        let hub = get(self.hub_port, "/healthz");
        assert!(
            hub.status == 200 || hub.status == 503,
            "hub /healthz after {after}: {hub:?}"
        );
    }
}

/// `method path body` answers `status` with a JSON error naming each of `names`.
fn assert_json_error(
    port: u16,
    method: &str,
    path: &str,
    body: &[u8],
    status: u16,
    names: &[&str],
) {
    let what = format!("{method} {path}");
    let a = request(port, method, path, body);
    assert_eq!(a.status, status, "{what}: {}", a.text());
    let v = a.json(&what);
    // metrics.k8s.io answers a Kubernetes Status, whose `message` names the problem.
    let message = v["error"]
        .as_str()
        .or_else(|| v["message"].as_str())
        .unwrap_or_else(|| panic!("{what}: no error message in {v}"));
    for name in names {
        assert!(
            message.contains(name),
            "{what}: {message:?} does not name {name:?}"
        );
    }
}

#[test]
fn bad_input_is_a_json_4xx_naming_it_and_the_servers_keep_serving() {
    let mut p = Pair::start();
    let (agent, hub) = (p.agent_port, p.hub_port);
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let first_line = passwd.lines().next().unwrap_or("root:x:0:0").to_owned();

    // Path traversal: `..` never climbs above `/`, so these are container names, unknown.
    for (path, name) in [
        ("/api/v1.3/containers/../../etc", "\"/etc\""),
        (
            "/api/v1.3/containers/../../../etc/passwd",
            "\"/etc/passwd\"",
        ),
        (
            "/api/v1.3/containers/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
            "\"/etc/passwd\"",
        ),
        (
            "/api/v1.3/containers%2f..%2f..%2fetc%2fpasswd",
            "\"/etc/passwd\"",
        ),
        ("/api/v1.3/containers/..%5c..%5cetc", "etc"),
        ("/api/v1.3/subcontainers/../../etc", "\"/etc\""),
        ("/api/v2.0/spec/%2e%2e/%2e%2e/etc", "\"/etc\""),
        ("/api/v2.1/stats/..%2F..%2Fetc%2Fshadow", "\"/etc/shadow\""),
    ] {
        assert_json_error(agent, "GET", path, b"", 404, &["unknown container", name]);
        let body = get(agent, path).text();
        assert!(
            !body.contains(&first_line),
            "{path} answered a file's content: {body}"
        );
    }
    // `..` in the version or request type is not a version or type we serve.
    assert_json_error(
        agent,
        "GET",
        "/api/../../etc/passwd",
        b"",
        400,
        &["version \"..\""],
    );

    // Options: huge, negative, non-numeric, not UTF-8.
    for (path, option) in [
        (
            "/api/v2.0/stats?count=99999999999999999999",
            "count=\"99999999999999999999\"",
        ),
        ("/api/v2.1/stats/?count=-2", "count=\"-2\""),
        ("/api/v2.0/summary?count=abc", "count=\"abc\""),
        ("/api/v2.1/machinestats?count=1e3", "count=\"1e3\""),
        ("/api/v2.0/spec?recursive=maybe", "recursive=\"maybe\""),
        ("/api/v2.0/spec?type=lxc", "type=\"lxc\""),
        ("/api/v2.0/stats?count=%ff%fe", "count="),
        ("/api/v1.3/containers?num_stats=abc", "num_stats=\"abc\""),
        ("/api/v1.3/containers?num_stats=-5", "num_stats=\"-5\""),
        (
            "/api/v1.3/containers?num_stats=99999999999999999999",
            "num_stats=\"99999999999999999999\"",
        ),
        ("/api/v1.3/containers?start=notatime", "start=\"notatime\""),
        (
            "/api/v1.3/containers?end=2026-13-01T00:00:00Z",
            "end=\"2026-13-01T00:00:00Z\"",
        ),
        ("/metrics?type=lxc", "type=\"lxc\""),
        ("/api/v1/query?metric=%ff%fe", "metric=%ff%fe"),
        (
            "/api/v1/query?metric=cpu/usage&start=notatime",
            "start=\"notatime\"",
        ),
        ("/api/v1/query?metric=cpu/usage&step=-1s", "step=\"-1s\""),
        (
            "/api/v1/query?metric=cpu/usage&agg=median",
            "agg=\"median\"",
        ),
        ("/api/v1/query?metric=cpu/usage&start=%zz", "start=%zz"),
        ("/api/v1/query", "metric"),
    ] {
        assert_json_error(agent, "GET", path, b"", 400, &[option]);
    }
    // -1 is "all", a valid count.
    assert_eq!(get(agent, "/api/v2.0/stats?count=-1").status, 200);

    // Paths: invalid UTF-8, bad escapes, unknown versions, types and routes.
    assert_json_error(
        agent,
        "GET",
        "/api/v1.3/containers/%ff%fe",
        b"",
        400,
        &["%ff%fe", "not UTF-8"],
    );
    assert_json_error(
        agent,
        "GET",
        "/api/v1.3/containers/%zz",
        b"",
        400,
        &["%zz", "%-escape"],
    );
    assert_json_error(agent, "GET", "/api/v9.9/machine", b"", 400, &["v9.9"]);
    assert_json_error(agent, "GET", "/api/v1.3/nope", b"", 400, &["\"nope\""]);
    assert_json_error(agent, "GET", "/api", b"", 400, &["v1.3", "v2.1"]);
    assert_json_error(agent, "GET", "/api/v2.0", b"", 400, &["summary"]);
    assert_json_error(agent, "GET", "/no/such/page", b"", 404, &["/no/such/page"]);
    assert_json_error(agent, "GET", "/ui/nope.js", b"", 404, &["nope.js"]);
    assert_json_error(
        agent,
        "DELETE",
        "/healthz",
        b"",
        405,
        &["DELETE", "/healthz"],
    );
    // Raw bytes that are not UTF-8 in the request line: refused by the HTTP layer.
    let a = raw(
        agent,
        b"GET /api/v1.3/containers/\xff\xfe HTTP/1.0\r\nHost: x",
        Vec::new(),
    );
    assert!(a.as_ref().is_none_or(|a| a.status == 400), "{a:?}");

    // v1 options in a JSON body, as cAdvisor takes them.
    let root = "/api/v1.3/containers/";
    assert_eq!(
        request(agent, "POST", root, br#"{"num_stats":1}"#).status,
        200
    );
    assert_json_error(
        agent,
        "POST",
        root,
        b"{",
        400,
        &["invalid JSON request body"],
    );
    assert_json_error(
        agent,
        "POST",
        root,
        br#"{"num_stats":"many"}"#,
        400,
        &["num_stats"],
    );
    assert_json_error(
        agent,
        "POST",
        root,
        br#"{"start":"soon"}"#,
        400,
        &["start=\"soon\""],
    );
    assert_json_error(agent, "POST", root, b"[1,2]", 400, &["array"]);
    // 10 MB: over the 2 MiB the agent reads.
    let big = vec![b' '; 10 << 20];
    let a = raw(
        agent,
        format!("POST {root} HTTP/1.0\r\nHost: x").as_bytes(),
        big,
    )
    .expect("an answer to a 10 MB body");
    assert_eq!(a.status, 413, "{}", a.text());
    let msg = a.json("10 MB body")["error"].as_str().unwrap().to_owned();
    assert!(
        msg.contains("request body") && msg.contains("2 MiB"),
        "{msg}"
    );

    // 1 MB of headers: a 431 or a closed connection from the HTTP layer, never a crash.
    for port in [agent, hub] {
        let mut head = b"GET /healthz HTTP/1.0\r\nHost: x\r\nX-Big: ".to_vec();
        head.extend(std::iter::repeat_n(b'a', 1 << 20));
        let a = raw(port, &head, Vec::new());
        assert!(a.as_ref().is_none_or(|a| a.status == 431), "{a:?}");
        let mut head = b"GET /healthz HTTP/1.0\r\nHost: x".to_vec();
        for i in 0..20_000 {
            head.extend_from_slice(format!("\r\nX-H{i}: {i}").as_bytes());
        }
        let a = raw(port, &head, Vec::new());
        assert!(a.as_ref().is_none_or(|a| a.status == 431), "{a:?}");
    }
    p.assert_serving("the agent's bad input");

    // The hub's model API.
    let m = "/api/v1/model/metrics/cpu/usage_rate";
    assert_json_error(
        hub,
        "GET",
        &format!("{m}?start=notatime"),
        b"",
        400,
        &["start"],
    );
    assert_json_error(
        hub,
        "GET",
        &format!("{m}?end=2026-02-30T00:00:00Z"),
        b"",
        400,
        &["end"],
    );
    assert_json_error(
        hub,
        "GET",
        &format!("{m}?start=2026-01-02T00:00:00Z&end=2026-01-01T00:00:00Z"),
        b"",
        400,
        &["before start"],
    );
    assert_json_error(
        hub,
        "GET",
        &format!("{m}?labels=resource_id"),
        b"",
        400,
        &["labels", "\"resource_id\""],
    );
    assert_json_error(hub, "GET", &format!("{m}?labels=%ff"), b"", 400, &["UTF-8"]);
    assert_json_error(
        hub,
        "GET",
        "/api/v1/model/nodes/%ff/metrics",
        b"",
        400,
        &["%ff"],
    );
    assert_json_error(
        hub,
        "GET",
        "/api/v1/model/nodes/a/b/c",
        b"",
        404,
        &["/api/v1/model/nodes/a/b/c"],
    );
    assert_json_error(
        hub,
        "GET",
        "/api/v1/model/../../etc/passwd",
        b"",
        404,
        &["etc/passwd"],
    );
    assert_json_error(hub, "GET", "/no/such/page", b"", 404, &["/no/such/page"]);
    assert_json_error(hub, "POST", "/api/v1/model/nodes", b"{}", 405, &["POST"]);
    // An unknown node's metric is Heapster's empty result, not an error.
    let a = get(hub, "/api/v1/model/nodes/nope/metrics/cpu/usage_rate");
    assert_eq!(a.status, 200);
    assert_eq!(a.json("unknown node")["metrics"], serde_json::json!([]));

    // metrics.k8s.io with bad label selectors: a Kubernetes Status naming the problem.
    let nodes = "/apis/metrics.k8s.io/v1beta1/nodes";
    for (selector, name) in [
        ("%3Dweb", "key \"\""),
        ("app%3Dwe%20b", "\"we b\""),
        ("app%20in%20(web", "'('"),
        ("app)", "')'"),
        ("app%20in%20web", "app in web"),
        ("!", "key \"\""),
        ("%ff", "UTF-8"),
    ] {
        let path = format!("{nodes}?labelSelector={selector}");
        assert_json_error(hub, "GET", &path, b"", 400, &[name]);
        let v = get(hub, &path).json(&path);
        assert_eq!(
            (v["kind"].as_str(), v["code"].as_u64()),
            (Some("Status"), Some(400)),
            "{v}"
        );
    }
    let a = get(
        hub,
        &format!("{nodes}?labelSelector=app%3Dweb,tier!%3Dfront"),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_json_error(
        hub,
        "GET",
        &format!("{nodes}/no-such-node"),
        b"",
        404,
        &["no-such-node"],
    );
    assert_json_error(
        hub,
        "GET",
        "/apis/metrics.k8s.io/v1beta1/nope",
        b"",
        404,
        &["nope"],
    );
    p.assert_serving("the hub's bad input");
}

/// The workspace root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The schemathesis CLI: `CROWSNEST_SCHEMATHESIS`, else `st` on `PATH`.
fn schemathesis() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CROWSNEST_SCHEMATHESIS").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("st"))
        .find(|p| {
            Command::new(p)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success() && o.stdout.starts_with(b"st, version"))
        })
}

/// Runs `st run` against one server for at most `limit`; (passed, output).
fn run_schemathesis(
    st: &Path,
    port: u16,
    tag: &str,
    dir: &Path,
    limit: Duration,
) -> (bool, String) {
    let out = dir.join(format!("{tag}.txt"));
    let log = std::fs::File::create(&out).unwrap();
    let mut child = Proc(
        Command::new(st)
            .current_dir(dir)
            .args(["run", &root().join("docs/openapi.yaml").display().to_string()])
            .args(["--url", &format!("http://127.0.0.1:{port}")])
            .args(["--include-tag", tag])
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            ])
            .args(["--max-examples", "20", "--request-timeout", "10"])
            // Health checks judge the generation of data (too slow, too much filtered out on a
            // loaded machine), not the server.
            .args(["--suppress-health-check", "all"])
            .args(["--generation-database", "none", "--no-color"])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start schemathesis"),
    );
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > limit {
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    drop(child);
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    match status {
        Some(s) => (s.success(), text),
        None => (false, format!("schemathesis ran over {limit:?}\n{text}")),
    }
}

#[test]
fn schemathesis_finds_no_server_error() {
    let Some(st) = schemathesis() else {
        crowsnest_testkit::missing(
            "schemathesis (pip install schemathesis==4.32.5, or set CROWSNEST_SCHEMATHESIS)",
        );
        return;
    };
    let mut p = Pair::start();
    let dir = tempfile::tempdir().unwrap();
    for (port, tag) in [(p.agent_port, "agent"), (p.hub_port, "hub")] {
        let started = Instant::now();
        let (passed, out) = run_schemathesis(&st, port, tag, dir.path(), Duration::from_secs(150));
        // The figures, for the record: "Test cases: N generated, N passed".
        let cases = out
            .lines()
            .skip_while(|l| !l.starts_with("Test cases:"))
            .nth(1)
            .unwrap_or("?")
            .trim()
            .to_owned();
        eprintln!(
            "schemathesis against the {tag}: {cases} in {:.0?}",
            started.elapsed()
        );
        assert!(passed, "schemathesis against the {tag} failed:\n{out}");
        p.assert_serving(&format!("schemathesis against the {tag}"));
    }
}

/// Every route the agent, the hub and the UI serve is in docs/openapi.yaml.
#[test]
fn the_openapi_document_names_every_route() {
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(root().join("docs/openapi.yaml")).unwrap(),
    )
    .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.0."));
    let documented: Vec<String> = doc["paths"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    let mut routes = Vec::new();
    for file in [
        "crates/crowsnest-agent/src/http.rs",
        "crates/crowsnest-hub/src/http.rs",
        "crates/crowsnest-ui/src/lib.rs",
    ] {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        for part in text.split(".route(").skip(1) {
            let route = part.trim_start().trim_start_matches('"');
            let route = &route[..route.find('"').unwrap()];
            routes.push((file, route.to_owned()));
        }
    }
    assert!(routes.len() > 20, "{routes:?}");
    for (file, route) in routes {
        // `/x/{*rest}` and `/x/`: some documented path under `/x/`; `/api/{*rest}` is
        // `/api/{version}/...`.
        let found = match route.split_once("{*") {
            Some((prefix, _)) => documented
                .iter()
                .any(|d| d.starts_with(prefix) && d.len() > prefix.len()),
            None if route.len() > 1 && route.ends_with('/') => {
                documented.iter().any(|d| d == route.trim_end_matches('/'))
            }
            None => documented.contains(&route),
        };
        assert!(
            found,
            "{file} serves {route}, which docs/openapi.yaml does not name"
        );
    }
}
