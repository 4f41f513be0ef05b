//! The web UI in a real browser: headless Chromium, driven over the DevTools protocol, loads
//! the pages of the real agent binary (watching real cgroups with a CPU burner under a CFS
//! quota) and of the real hub binary scraping it, all on 127.0.0.1. The tests read the DOM
//! after the scripts ran (container names, chart paths with their point counts, the values in
//! the legends), collect every console error, uncaught exception and failed load, and every
//! URL the page asked for (none may leave the server under test: the browser also resolves no
//! name but 127.0.0.1). Screenshots go to `<target>/ui-artifacts/`.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crowsnest_testkit::RealCgroup;
use crowsnest_testkit::docker::{self, Container, Image};
use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

/// One browser at a time: the machine has few cores, and the pages poll every second.
static ONE_BROWSER: Mutex<()> = Mutex::new(());

/// The burner's quota: 50 ms per 100 ms, half a core.
const QUOTA_CORES: f64 = 0.5;
/// How far one second's CPU rate may be from the quota on a busy two-core machine.
const CPU_TOLERANCE: f64 = 0.15;
const MEMORY_LIMIT: u64 = 256 << 20;

/// A child process killed (and reaped) on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A GET over HTTP/1.1 (Chromium's DevTools server answers nothing older): (status, body);
/// (0, "") when nothing listens. Reads up to the `Content-Length`, which both servers send.
fn get(port: u16, path: &str) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => resp.extend_from_slice(&buf[..n]),
            Err(_) => return (0, String::new()),
        }
        let text = String::from_utf8_lossy(&resp);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            });
            if length.is_some_and(|n| body.len() >= n) {
                break;
            }
        }
    }
    let resp = String::from_utf8_lossy(&resp).into_owned();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, body.to_owned())
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

/// Starts the crowsnest binary and waits (bounded) until `health` answers 200.
fn start(args: &[String], port: u16, health: &str) -> Proc {
    let child = Command::new(env!("CARGO_BIN_EXE_crowsnest"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start crowsnest");
    let p = Proc(child);
    wait_for(&format!("{health} to answer"), 30, || {
        get(port, health).0 == 200
    });
    p
}

/// The agent on 127.0.0.1:`port` with a store in `store`, reading every second.
fn start_agent(port: u16, store: &Path, prefix: &str) -> Proc {
    let mut args = vec![
        "agent".to_owned(),
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "--housekeeping-interval".into(),
        "1s".into(),
        format!("--store-dir={}", store.display()),
    ];
    if !prefix.is_empty() {
        args.push(format!("--url-base-prefix={prefix}"));
    }
    start(&args, port, &format!("{prefix}/healthz"))
}

/// A cgroup (with a child cgroup below it) whose child burns CPU under a quota of
/// [`QUOTA_CORES`] with a [`MEMORY_LIMIT`]. Returns (parent, child); the child is dropped
/// first by callers that bind them in this order.
fn burner() -> Option<(RealCgroup, RealCgroup)> {
    let controllers = ["cpu", "cpuacct", "memory", "pids"];
    let parent = RealCgroup::create("/", &controllers, false)?;
    let mut child = RealCgroup::create(parent.name(), &controllers, false)?;
    let cpu = child.dir("cpu").unwrap().to_owned();
    // The largest weights (here and in the parent), so that a busy machine never keeps the
    // burner below its quota.
    std::fs::write(parent.dir("cpu").unwrap().join("cpu.shares"), "262144").unwrap();
    std::fs::write(cpu.join("cpu.cfs_period_us"), "100000").unwrap();
    std::fs::write(cpu.join("cpu.cfs_quota_us"), "50000").unwrap();
    std::fs::write(cpu.join("cpu.shares"), "262144").unwrap();
    let mem = child.dir("memory").unwrap().to_owned();
    std::fs::write(mem.join("memory.limit_in_bytes"), MEMORY_LIMIT.to_string()).unwrap();
    child.spawn(Command::new("sh").arg("-c").arg("while :; do :; done"));
    Some((parent, child))
}

/// Waits until the agent holds `n` samples of `name`.
fn wait_for_samples(port: u16, prefix: &str, name: &str, n: usize) {
    let path = format!("{prefix}/api/v1.3/containers{name}?num_stats=-1");
    wait_for(&format!("{n} samples of {name}"), 40, || {
        let (status, body) = get(port, &path);
        status == 200
            && serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v["stats"].as_array().map(Vec::len))
                .is_some_and(|len| len >= n)
    });
}

/// RFC 3339 (UTC, up to nanoseconds) to unix milliseconds, as the page reads it: to the
/// millisecond, the rest dropped.
fn rfc3339_millis(t: &str) -> f64 {
    // Days since 1970-01-01 in the civil calendar.
    let day = |y: i64, m: i64, d: i64| {
        let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * m + 2) / 5 + d - 1;
        era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
    };
    let n = |a: usize, b: usize| t[a..b].parse::<i64>().unwrap();
    let secs =
        day(n(0, 4), n(5, 7), n(8, 10)) * 86400 + n(11, 13) * 3600 + n(14, 16) * 60 + n(17, 19);
    let frac = t[19..].trim_start_matches('.').trim_end_matches('Z');
    let ms: i64 = format!("{frac:0<3}")[..3].parse().unwrap_or(0);
    (secs * 1000 + ms) as f64
}

/// The CPU usage in cores the hub's model holds for `entity` (a model path) at `at_ms`.
fn model_cores_at(hub_port: u16, entity: &str, at_ms: f64) -> f64 {
    let (_, body) = get(
        hub_port,
        &format!("/api/v1/model/{entity}/metrics/cpu/usage_rate"),
    );
    let v: Value = serde_json::from_str(&body).unwrap();
    let p = v["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| rfc3339_millis(p["timestamp"].as_str().unwrap()) == at_ms)
        .unwrap_or_else(|| panic!("no point of {entity} at {at_ms}: {v}"));
    p["floatValue"].as_f64().unwrap() / 1000.0
}

/// The CPU rate in cores of `name` at the sample taken at `at_ms` (unix milliseconds), from
/// that sample and the one before it in the agent's API.
fn rate_from_api(port: u16, name: &str, at_ms: f64) -> f64 {
    let (_, body) = get(port, &format!("/api/v1.3/containers{name}?num_stats=-1"));
    let info: Value = serde_json::from_str(&body).unwrap();
    let stats = info["stats"].as_array().unwrap();
    let millis = |s: &Value| rfc3339_millis(s["timestamp"].as_str().unwrap());
    let i = stats
        .iter()
        .position(|s| millis(s) == at_ms)
        .unwrap_or_else(|| panic!("no sample at {at_ms} in {}", stats.len()));
    assert!(i > 0, "the rate at {at_ms} needs the sample before it");
    let usage = |s: &Value| s["cpu"]["usage"]["total"].as_f64().unwrap();
    let (a, b) = (&stats[i - 1], &stats[i]);
    (usage(b) - usage(a)) / ((millis(b) - millis(a)) / 1000.0) / 1e9
}

/// Where screenshots go: `<target>/ui-artifacts`.
fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../ui-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Standard base64 (with padding), as DevTools sends screenshots.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let bytes: Vec<u8> = text.bytes().filter(|c| *c != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= value(*c) << (18 - 6 * i);
        }
        let take = chunk.len() - 1;
        out.extend_from_slice(&n.to_be_bytes()[1..=take]);
    }
    out
}

/// Headless Chromium with one page, driven over the DevTools protocol. Killed (its whole
/// process group) on drop, and its profile directory removed.
struct Browser {
    child: Child,
    ws: WebSocket<TcpStream>,
    next_id: u64,
    /// Every event seen (method and params).
    events: Vec<Value>,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Chromium in the machine's time zone.
    fn start() -> Option<Browser> {
        Browser::start_in_zone(None)
    }

    /// Chromium with `TZ` set to `zone` (as on a person's machine in that zone).
    fn start_in_zone(zone: Option<&str>) -> Option<Browser> {
        if !crowsnest_testkit::servers::on_path("chromium") {
            crowsnest_testkit::missing("chromium (Debian package chromium) for the web UI tests");
            return None;
        }
        let profile = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("chromium");
        if let Some(zone) = zone {
            cmd.env("TZ", zone);
        }
        let mut child = cmd
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--no-first-run",
                "--no-default-browser-check",
                "--mute-audio",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--window-size=1280,1000",
                // No name resolves but 127.0.0.1: nothing can leave this machine.
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start chromium");
        // Chromium writes the port it chose into the profile.
        let port_file = profile.path().join("DevToolsActivePort");
        let started = Instant::now();
        let port: u16 = loop {
            if let Some(p) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|s| s.lines().next().and_then(|l| l.trim().parse().ok()))
            {
                break p;
            }
            if started.elapsed() > Duration::from_secs(30)
                || child.try_wait().ok().flatten().is_some()
            {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chromium did not open its DevTools port within 30 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let mut ws_url = None;
        wait_for("chromium's page target", 20, || {
            let (status, body) = get(port, "/json/list");
            let targets: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            ws_url = targets.as_array().and_then(|list| {
                list.iter()
                    .find(|t| t["type"] == "page")
                    .and_then(|t| t["webSocketDebuggerUrl"].as_str().map(str::to_owned))
            });
            status == 200 && ws_url.is_some()
        });
        let ws_url = ws_url.unwrap();
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let (ws, _) = tungstenite::client(ws_url.as_str(), stream).expect("DevTools handshake");
        ws.get_ref()
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut b = Browser {
            child,
            ws,
            next_id: 0,
            events: Vec::new(),
            _profile: profile,
        };
        for domain in ["Runtime", "Log", "Network", "Page"] {
            b.call(&format!("{domain}.enable"), json!({}));
        }
        Some(b)
    }

    /// The next message, or `None` at `deadline`.
    fn read(&mut self, deadline: Instant) -> Option<Value> {
        while Instant::now() < deadline {
            match self.ws.read() {
                Ok(Message::Text(t)) => {
                    return Some(serde_json::from_str(t.as_str()).expect("DevTools sends JSON"));
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => panic!("DevTools connection: {e}"),
            }
        }
        None
    }

    /// Calls a DevTools method and returns its result (events in between are kept).
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        self.ws.send(Message::text(msg)).expect("send to DevTools");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let Some(m) = self.read(deadline) else {
                panic!("DevTools did not answer {method} within 30 s");
            };
            if m["id"] == id {
                assert!(m.get("error").is_none(), "{method}: {m}");
                return m["result"].clone();
            }
            if m.get("method").is_some() {
                self.events.push(m);
            }
        }
    }

    fn navigate(&mut self, url: &str) {
        let r = self.call("Page.navigate", json!({ "url": url }));
        assert!(r.get("errorText").is_none(), "{url}: {r}");
    }

    /// The value of a JavaScript expression in the page.
    fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        assert!(r.get("exceptionDetails").is_none(), "{expression}: {r}");
        r["result"]["value"].clone()
    }

    /// Evaluates `expression` every 300 ms until `ok` accepts its value; panics with the last
    /// value after `secs`.
    fn wait_until(
        &mut self,
        what: &str,
        secs: u64,
        expression: &str,
        ok: impl Fn(&Value) -> bool,
    ) -> Value {
        let started = Instant::now();
        loop {
            let v = self.eval(expression);
            if ok(&v) {
                return v;
            }
            if started.elapsed() > Duration::from_secs(secs) {
                panic!(
                    "timed out after {secs} s waiting for {what}; the page shows {v}\nproblems: {:?}",
                    self.problems()
                );
            }
            let deadline = Instant::now() + Duration::from_millis(300);
            while let Some(m) = self.read(deadline) {
                if m.get("method").is_some() {
                    self.events.push(m);
                }
            }
        }
    }

    /// A screenshot of the whole page, written to `<target>/ui-artifacts/<name>.png`.
    fn screenshot(&mut self, name: &str) -> PathBuf {
        let metrics = self.call("Page.getLayoutMetrics", json!({}));
        let size = &metrics["cssContentSize"];
        // A page between two layouts (a navigation in flight) may report 0 x 0: fall back to
        // the window's size then.
        let w = size["width"]
            .as_f64()
            .filter(|w| *w >= 1.0)
            .unwrap_or(1280.0);
        let h = size["height"]
            .as_f64()
            .filter(|h| *h >= 1.0)
            .unwrap_or(1000.0)
            .min(8000.0);
        let shot = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true,
                   "clip": {"x": 0, "y": 0, "width": w, "height": h, "scale": 1}}),
        );
        let png = base64_decode(shot["data"].as_str().expect("screenshot data"));
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let path = artifacts().join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Every URL the page requested.
    fn requests(&self) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e["method"] == "Network.requestWillBeSent")
            .filter_map(|e| e["params"]["request"]["url"].as_str().map(str::to_owned))
            .collect()
    }

    /// Console errors, uncaught exceptions and failed loads.
    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for e in &self.events {
            let p = &e["params"];
            match e["method"].as_str().unwrap_or_default() {
                "Runtime.exceptionThrown" => out.push(format!(
                    "exception: {} {}",
                    p["exceptionDetails"]["text"],
                    p["exceptionDetails"]["exception"]["description"]
                )),
                "Runtime.consoleAPICalled"
                    if matches!(p["type"].as_str(), Some("error" | "assert")) =>
                {
                    out.push(format!("console.{}: {}", p["type"], p["args"]))
                }
                "Log.entryAdded" if p["entry"]["level"] == "error" => out.push(format!(
                    "log: {} ({})",
                    p["entry"]["text"], p["entry"]["url"]
                )),
                "Network.loadingFailed" if p["canceled"] != true => {
                    out.push(format!("load failed: {}", p["errorText"]))
                }
                _ => {}
            }
        }
        // Chromium aborts the requests under way when the machine's network interfaces
        // change (a Docker container starting anywhere on this machine adds a veth): not
        // the page's doing, and its next poll asks again.
        out.retain(|p| !p.contains("ERR_NETWORK_CHANGED"));
        out
    }

    /// Fails unless the page had no problems and asked for nothing but `origin_prefix` (a
    /// URL ending in `/`) and what is under it.
    fn assert_clean(&self, origin_prefix: &str) {
        let problems = self.problems();
        assert!(problems.is_empty(), "the page had problems: {problems:#?}");
        let requests = self.requests();
        assert!(!requests.is_empty(), "no request seen");
        let outside: Vec<&String> = requests
            .iter()
            .filter(|u| {
                !(u.starts_with(origin_prefix)
                    || u.as_str() == origin_prefix.trim_end_matches('/')
                    || u.starts_with("data:"))
            })
            .collect();
        assert!(
            outside.is_empty(),
            "requests outside {origin_prefix}: {outside:#?}"
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ask the browser to quit: it takes its helper processes with it.
        self.next_id += 1;
        let close = json!({"id": self.next_id, "method": "Browser.close"}).to_string();
        let _ = self.ws.send(Message::text(close));
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if self.child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let group = self.child.id();
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Whatever is left of the browser's own process group, one process at a time by its
        // pid. Never kill(1) with a negative pid: procps-ng 4.0 turns `kill -9 -PGID` into
        // kill(-1), every process on the machine.
        let started = Instant::now();
        loop {
            let left = group_members(group);
            if left.is_empty() || started.elapsed() > Duration::from_secs(10) {
                break;
            }
            for pid in left {
                let Ok(pid) = libc::pid_t::try_from(pid) else {
                    continue;
                };
                // SAFETY: kill(2) with a positive pid (> 1, checked by group_members) and a
                // valid signal only sends that signal to that one process.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// The live processes (not zombies) of process group `pgid`, from `/proc/<pid>/stat`.
fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // After the command name in parentheses: state, ppid, pgrp.
        let mut rest = stat.rsplit_once(')')?.1.split_whitespace();
        let state = rest.next()?;
        let group: u32 = rest.nth(1)?.parse().ok()?;
        (pid > 1 && group == pgid && state != "Z").then_some(pid)
    })
    .collect()
}

/// What the overview shows: tree rows, the top lists, the root CPU chart's point counts,
/// filesystems and the named zone.
const OVERVIEW: &str = r##"(() => {
  const names = (sel) => [...document.querySelectorAll(sel)].map((r) => r.dataset.name);
  return {
    tree: names("#tree tr[data-name]"),
    topCpu: names("#top-cpu tr[data-name]"),
    topMemory: names("#top-memory tr[data-name]"),
    cpuPoints: [...document.querySelectorAll('section.chart[data-chart=cpu] path.series')].map((p) => +p.dataset.points),
    memoryPoints: [...document.querySelectorAll('section.chart[data-chart=memory] path.series')].map((p) => +p.dataset.points),
    filesystems: document.querySelectorAll("#filesystems tr[data-device]").length,
    zone: (document.getElementById("zone") || {}).textContent || "",
    status: (document.getElementById("status") || {}).textContent || "",
  };
})()"##;

/// What a container page shows: per chart, the point count of each series and the newest
/// value of each series and line in the legend.
const CHARTS: &str = r##"(() => {
  const out = {title: document.querySelector("h1") ? document.querySelector("h1").textContent : "", charts: {},
               status: (document.getElementById("status") || {}).textContent || "",
               note: (document.getElementById("range-note") || {}).textContent || "",
               range: ((document.getElementById("charts") || {}).dataset || {}).range || ""};
  for (const c of document.querySelectorAll("section.chart")) {
    const points = {}, last = {};
    for (const p of c.querySelectorAll("path.series")) points[p.dataset.series] = +p.dataset.points;
    const at = {};
    for (const i of c.querySelectorAll(".legend [data-last]")) {
      last[i.dataset.series || ("line:" + i.dataset.line)] = +i.dataset.last;
      if (i.dataset.at) at[i.dataset.series] = +i.dataset.at;
    }
    out.charts[c.dataset.chart] = {points, last, at, limits: c.querySelectorAll("line.limit").length};
  }
  return out;
})()"##;

fn points(v: &Value, chart: &str, series: &str) -> u64 {
    v["charts"][chart]["points"][series].as_u64().unwrap_or(0)
}

fn last(v: &Value, chart: &str, key: &str) -> Option<f64> {
    v["charts"][chart]["last"][key].as_f64()
}

fn names(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn ui_agent_overview_and_container_page_render_real_cgroups_offline() {
    let _one = ONE_BROWSER.lock().unwrap_or_else(|p| p.into_inner());
    let Some((parent, child)) = burner() else {
        return;
    };
    // The browser is in Tokyo (UTC+9 all year), the machine in UTC: the page shows Tokyo time.
    let Some(mut browser) = Browser::start_in_zone(Some("Asia/Tokyo")) else {
        return;
    };
    let store = tempfile::tempdir().unwrap();
    let port = free_port();
    let _agent = start_agent(port, store.path(), "");
    wait_for_samples(port, "", child.name(), 4);
    let origin = format!("http://127.0.0.1:{port}/");

    // The overview: the machine, the tree (the child nested under its parent), the burner
    // among the top containers by CPU, the root's charts with points, the zone named.
    browser.navigate(&origin);
    let (p, c) = (parent.name().to_owned(), child.name().to_owned());
    let v = browser.wait_until("the overview", 60, OVERVIEW, |v| {
        let tree = names(v, "tree");
        let cpu = v["cpuPoints"]
            .as_array()
            .map_or(0, |a| a.iter().filter(|n| n.as_u64() > Some(0)).count());
        tree.contains(&p) && tree.contains(&c) && names(v, "topCpu").contains(&c) && cpu >= 1
    });
    let tree = names(&v, "tree");
    let (ip, ic) = (
        tree.iter().position(|n| *n == p).unwrap(),
        tree.iter().position(|n| *n == c).unwrap(),
    );
    assert!(ip < ic, "the child is listed below its parent: {tree:?}");
    assert_eq!(tree[0], "/", "the root comes first: {tree:?}");
    assert!(v["filesystems"].as_u64() >= Some(1), "{v}");
    assert!(!names(&v, "topMemory").is_empty(), "{v}");
    assert_eq!(
        v["zone"], "Times: Asia/Tokyo (UTC+09:00)",
        "the zone is named: {v}"
    );
    browser.screenshot("overview");

    // Search: only the match and its ancestors stay.
    let leaf = c.rsplit('/').next().unwrap().to_owned();
    browser.eval(&format!(
        r#"(() => {{ const s = document.getElementById("search"); s.value = {leaf:?}; s.dispatchEvent(new Event("input")); return true; }})()"#
    ));
    let v = browser.eval(OVERVIEW);
    assert_eq!(
        names(&v, "tree"),
        vec!["/".to_owned(), p.clone(), c.clone()],
        "search for {leaf}"
    );

    // The container page, at cAdvisor's path: live charts with points, the limits and the
    // burner's rate as the kernel enforces them.
    browser.navigate(&format!("{origin}containers{c}"));
    let v = browser.wait_until("the container's live charts", 60, CHARTS, |v| {
        v["range"] == "live"
            && points(v, "cpu", "total") >= 5
            && points(v, "memory", "usage") >= 5
            && points(v, "pids", "processes") >= 1
    });
    // The newest CPU rate is the agent's two newest samples' counters over their times, and
    // the kernel holds it to the quota.
    let cpu = last(&v, "cpu", "total").unwrap();
    let at = v["charts"]["cpu"]["at"]["total"].as_f64().unwrap();
    let want = rate_from_api(port, &c, at);
    assert!(
        (cpu - want).abs() <= 1e-9 * want.max(1.0),
        "the page says {cpu} cores at {at}, the agent's samples {want}: {v}"
    );
    assert!(
        cpu > 0.0 && cpu <= QUOTA_CORES + CPU_TOLERANCE,
        "the burner uses {cpu} cores, its quota is {QUOTA_CORES}: {v}"
    );
    assert_eq!(last(&v, "cpu", "line:limit"), Some(QUOTA_CORES), "{v}");
    assert_eq!(
        last(&v, "memory", "line:limit"),
        Some(MEMORY_LIMIT as f64),
        "{v}"
    );
    assert_eq!(
        v["charts"]["memory"]["limits"], 0,
        "256 MiB is far above a shell's memory: off scale, named in the legend"
    );
    assert!(
        points(&v, "cpu", "throttled") >= 1,
        "a quota-bound burner is throttled: {v}"
    );
    assert_eq!(last(&v, "pids", "processes"), Some(1.0), "{v}");
    // The creation time, from the API in UTC, is shown in the browser's zone.
    let (_, info) = get(port, &format!("/api/v1.3/containers{c}?num_stats=1"));
    let info: Value = serde_json::from_str(&info).unwrap();
    let created = info["spec"]["creation_time"].as_str().unwrap();
    let utc_hour: u32 = created[11..13].parse().unwrap();
    let tokyo = format!("{:02}{}", (utc_hour + 9) % 24, &created[13..19]);
    let shown = browser.eval(
        r#"[...document.querySelectorAll("dl.info dt")].find((d) => d.textContent === "created").nextElementSibling.textContent"#,
    );
    assert!(
        shown.as_str().unwrap().contains(&tokyo),
        "created {created} (UTC) is shown as {shown}, not at {tokyo} Tokyo time"
    );
    assert!(
        points(&v, "cpu", "user") >= 1 && points(&v, "cpu", "system") >= 1,
        "{v}"
    );
    for chart in ["cpu", "memory", "network", "diskio", "pids", "pressure"] {
        assert!(v["charts"].get(chart).is_some(), "chart {chart}: {v}");
    }
    browser.screenshot("container-live");

    // History from the store: 5 minutes, then one hour (the store's 10 s rollups).
    for (range, min_points) in [("5m", 2), ("1h", 1)] {
        browser.eval(&format!(
            r#"document.querySelector('button[data-range="{range}"]').click()"#
        ));
        let v = browser.wait_until(&format!("the {range} charts"), 60, CHARTS, |v| {
            v["range"] == range
                && points(v, "cpu", "total") >= min_points
                && points(v, "memory", "working_set") >= min_points
        });
        let cpu = last(&v, "cpu", "total").unwrap();
        assert!(
            cpu > 0.0 && cpu <= QUOTA_CORES + CPU_TOLERANCE,
            "{range}: the store says {cpu} cores, the quota is {QUOTA_CORES}: {v}"
        );
        assert!(
            v["note"].as_str().unwrap().contains("store"),
            "{range}: {v}"
        );
        browser.screenshot(&format!("container-{range}"));
    }
    let queried = browser
        .requests()
        .iter()
        .filter(|u| u.contains("/api/v1/query?metric=cpu%2Fusage&") && u.contains("agg=rate"))
        .count();
    assert!(
        queried >= 2,
        "the history came from /api/v1/query: {:?}",
        browser.requests()
    );
    browser.assert_clean(&origin);
}

#[test]
fn ui_agent_pages_work_under_a_url_base_prefix() {
    let _one = ONE_BROWSER.lock().unwrap_or_else(|p| p.into_inner());
    let Some((_parent, child)) = burner() else {
        return;
    };
    let Some(mut browser) = Browser::start() else {
        return;
    };
    let store = tempfile::tempdir().unwrap();
    let port = free_port();
    let prefix = "/monitor/crowsnest";
    let _agent = start_agent(port, store.path(), prefix);
    wait_for_samples(port, prefix, child.name(), 3);
    let origin = format!("http://127.0.0.1:{port}{prefix}/");
    let c = child.name().to_owned();

    // The prefix without its trailing slash, as a proxy link may give it.
    browser.navigate(&format!("http://127.0.0.1:{port}{prefix}"));
    browser.wait_until("the overview under the prefix", 60, OVERVIEW, |v| {
        names(v, "tree").contains(&c) && v["cpuPoints"].as_array().is_some_and(|a| !a.is_empty())
    });
    browser.screenshot("prefix-overview");
    // Follow the tree's link, as a person would.
    let href = browser.eval(&format!(
        r#"(() => {{ const a = document.querySelector('#tree tr[data-name="{c}"] a'); a.click(); return a.href; }})()"#
    ));
    assert_eq!(
        href.as_str(),
        Some(format!("{origin}containers{c}").as_str()),
        "links stay under the prefix"
    );
    browser.wait_until("the container page under the prefix", 60, CHARTS, |v| {
        points(v, "cpu", "total") >= 2 && points(v, "memory", "usage") >= 2
    });
    browser.screenshot("prefix-container");
    browser.assert_clean(&origin);
}

#[test]
fn ui_hub_lists_nodes_pods_and_charts_them_from_the_model() {
    let _one = ONE_BROWSER.lock().unwrap_or_else(|p| p.into_inner());
    let Some((_parent, child)) = burner() else {
        return;
    };
    if !docker::available() {
        return;
    }
    let Some(mut browser) = Browser::start() else {
        return;
    };
    // A Docker container in a Kubernetes pod (labelled as the kubelet does), capped at 0.3
    // cores, so that the hub has a namespace and a pod.
    let pid = std::process::id();
    let (namespace, pod) = (format!("ui-ns-{pid}"), format!("web-{pid}"));
    let image = Image::busybox();
    let _pod_container = Container::run(
        &[
            "--cpus",
            "0.3",
            "--label",
            &format!("io.kubernetes.pod.name={pod}"),
            "--label",
            &format!("io.kubernetes.pod.namespace={namespace}"),
            "--label",
            "io.kubernetes.container.name=burner",
            "--label",
            &format!("io.kubernetes.pod.uid=uid-{pid}"),
        ],
        &image,
        &["sh", "-c", "while :; do :; done"],
    );
    let store = tempfile::tempdir().unwrap();
    let agent_port = free_port();
    let _agent = start_agent(agent_port, store.path(), "");
    let hub_port = free_port();
    let hub_args = [
        "hub".to_owned(),
        "--listen".into(),
        format!("127.0.0.1:{hub_port}"),
        "--node".into(),
        format!("alpha=127.0.0.1:{agent_port}"),
        "--resolution".into(),
        "1s".into(),
    ];
    let _hub = start(&hub_args, hub_port, "/api/v1/hub/nodes");
    let origin = format!("http://127.0.0.1:{hub_port}/");

    browser.navigate(&origin);
    let nodes = r##"(() => ({
      nodes: [...document.querySelectorAll("#nodes tr[data-node]")].map((r) => r.dataset.node),
      namespaces: [...document.querySelectorAll("#namespaces tr[data-namespace]")].map((r) => r.dataset.namespace),
      pods: [...document.querySelectorAll("#namespaces tr[data-namespace] a")].map((a) => a.textContent),
      up: [...document.querySelectorAll("#nodes tr[data-node] .badge.up")].length,
      cpuPoints: [...document.querySelectorAll('section.chart[data-chart=cpu] path.series')].map((p) => +p.dataset.points),
    }))()"##;
    let v = browser.wait_until("the hub's node list", 60, nodes, |v| {
        v["nodes"] == json!(["alpha"])
            && v["up"] == 1
            && names(v, "namespaces").contains(&namespace)
            && names(v, "pods").contains(&pod)
            && v["cpuPoints"]
                .as_array()
                .is_some_and(|a| a.iter().any(|n| n.as_u64() >= Some(2)))
    });
    assert_eq!(v["nodes"], json!(["alpha"]));
    browser.screenshot("hub-overview");

    browser.navigate(&format!("{origin}nodes/alpha"));
    let burner = child.name().trim_start_matches('/').to_owned();
    let page = format!(
        r#"(() => {{ const v = {CHARTS}; v.free = [...document.querySelectorAll("ul.links a")].map((a) => a.textContent); return v; }})()"#
    );
    let v = browser.wait_until("the node's charts", 60, &page, |v| {
        points(v, "cpu", "usage") >= 2
            && points(v, "memory", "working_set") >= 2
            && names(v, "free").contains(&burner)
    });
    assert_eq!(v["title"], "alpha");
    browser.screenshot("hub-node");

    // The burner as the hub sees it: its rate from the agent's counters.
    browser.navigate(&format!("{origin}nodes/alpha/freecontainers/{burner}"));
    let v = browser.wait_until("the burner's charts on the hub", 60, CHARTS, |v| {
        points(v, "cpu", "usage") >= 3
    });
    let cpu = last(&v, "cpu", "usage").unwrap();
    let at = v["charts"]["cpu"]["at"]["usage"].as_f64().unwrap();
    let want = model_cores_at(
        hub_port,
        &format!("nodes/alpha/freecontainers/{burner}"),
        at,
    );
    assert!(
        (cpu - want).abs() <= 1e-9 && cpu > 0.0 && cpu <= QUOTA_CORES + CPU_TOLERANCE,
        "the page says the burner uses {cpu} cores, the model {want}, the quota is {QUOTA_CORES}: {v}"
    );
    assert_eq!(
        last(&v, "memory", "line:limit"),
        Some(MEMORY_LIMIT as f64),
        "{v}"
    );

    // The pod, reached from the namespace's page as a person would.
    browser.navigate(&format!("{origin}namespaces/{namespace}"));
    let href = browser.wait_until(
        "the namespace's pod list",
        60,
        r##"(() => {
        const a = [...document.querySelectorAll("ul.links a")][0];
        return a ? a.getAttribute("href") : null; })()"##,
        |v| v.is_string(),
    );
    assert_eq!(
        href.as_str(),
        Some(format!("namespaces/{namespace}/pods/{pod}").as_str())
    );
    browser.eval(r#"document.querySelector("ul.links a").click()"#);
    let v = browser.wait_until("the pod's charts", 60, CHARTS, |v| {
        v["title"] == pod.as_str()
            && points(v, "cpu", "usage") >= 3
            && points(v, "memory", "usage") >= 2
    });
    assert_eq!(v["title"], pod.as_str());
    let cpu = last(&v, "cpu", "usage").unwrap();
    let at = v["charts"]["cpu"]["at"]["usage"].as_f64().unwrap();
    let want = model_cores_at(hub_port, &format!("namespaces/{namespace}/pods/{pod}"), at);
    assert!(
        (cpu - want).abs() <= 1e-9 && cpu > 0.0 && cpu <= 0.3 + CPU_TOLERANCE,
        "the page says the pod uses {cpu} cores, the model {want}, its container is capped at 0.3: {v}"
    );
    let limit = last(&v, "cpu", "line:limit").unwrap();
    assert!(
        (limit - 0.3).abs() < 1e-9,
        "the pod's limit is 0.3 cores: {v}"
    );
    browser.screenshot("hub-pod");
    browser.assert_clean(&origin);
}
