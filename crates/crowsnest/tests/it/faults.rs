//! Faults against the real binaries on 127.0.0.1: an agent and a hub killed with SIGKILL in
//! the middle of writing, a sink down for more than a minute, agents that hang in the middle
//! of an answer (a real one stopped with SIGSTOP, and a server that sends half a body), a
//! hosts file rewritten in a torn way, and the store's directory on a full disk. Each test is
//! bounded in time and asserts what was lost against the documented bound.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crowsnest_testkit::RealCgroup;
use crowsnest_testkit::servers::{Server, free_port, http, urlencode};
use serde_json::Value;

/// A crowsnest process whose stderr goes to a file; killed (and continued first, in case it
/// was stopped) on drop.
pub(crate) struct Proc {
    child: Option<Child>,
    log: PathBuf,
}

impl Proc {
    /// Starts `crowsnest <args>` with stderr appended to `log`, and waits (at most 30 s) until
    /// `/healthz` answers on `port`.
    pub(crate) fn start(args: &[String], port: u16, log: &Path) -> Proc {
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_crowsnest"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("start crowsnest");
        let mut p = Proc {
            child: Some(child),
            log: log.to_owned(),
        };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if get(port, "/healthz").0 != 0 {
                return p;
            }
            if let Some(Ok(Some(status))) = p.child.as_mut().map(Child::try_wait) {
                p.child = None;
                panic!("crowsnest {args:?} exited with {status}; log:\n{}", p.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "crowsnest {args:?} did not answer within 30 s; log:\n{}",
            p.log()
        );
    }

    /// The process id (always positive: signals go to this one process only).
    pub(crate) fn pid(&self) -> i32 {
        let pid = i32::try_from(self.child.as_ref().expect("running").id()).unwrap();
        assert!(pid > 0, "pid {pid}");
        pid
    }

    fn signal(&self, sig: i32) {
        // SAFETY: a plain syscall on our own, not yet reaped, child's positive pid.
        let r = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(r, 0, "kill({}, {sig})", self.pid());
    }

    /// SIGKILL, then reap.
    pub(crate) fn sigkill(&mut self) {
        self.signal(libc::SIGKILL);
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }

    /// Whether the process is still running.
    pub(crate) fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// What it logged so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            if let Ok(pid) = i32::try_from(c.id())
                && pid > 0
            {
                // SAFETY: our own child's positive pid; a stopped process is continued so
                // that it can die.
                unsafe {
                    libc::kill(pid, libc::SIGCONT);
                }
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A GET: (status, body); (0, "") when nothing answers.
pub(crate) fn get(port: u16, path: &str) -> (u16, String) {
    http(port, "GET", path, "").unwrap_or((0, String::new()))
}

pub(crate) fn get_json(port: u16, path: &str) -> Value {
    let (status, body) = get(port, path);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

/// Polls `ok` every 200 ms for at most `secs`; panics naming `what` otherwise.
pub(crate) fn wait_for(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(secs) {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out after {secs} s waiting for {what}");
}

/// Unix time in milliseconds.
pub(crate) fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// The value of an unlabelled sample of `/metrics`.
pub(crate) fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?.strip_prefix(' ')?;
        rest.split(' ').next()?.parse().ok()
    })
}

fn s(v: &str) -> String {
    v.to_owned()
}

fn agent_args(port: u16, extra: &[String]) -> Vec<String> {
    let mut a = vec![
        s("agent"),
        s("--listen"),
        format!("127.0.0.1:{port}"),
        s("--housekeeping-interval"),
        s("200ms"),
    ];
    a.extend_from_slice(extra);
    a
}

/// A cgroup running a busy loop capped at 10 % of a core.
fn burner() -> Option<RealCgroup> {
    burner_in("/")
}

/// [`burner`] below the test cgroup `parent`.
fn burner_in(parent: &str) -> Option<RealCgroup> {
    let mut cg = RealCgroup::create(parent, &["cpu", "cpuacct", "memory"], false)?;
    let cpu = cg.dir("cpu").unwrap().to_owned();
    std::fs::write(cpu.join("cpu.cfs_period_us"), "100000").unwrap();
    std::fs::write(cpu.join("cpu.cfs_quota_us"), "10000").unwrap();
    cg.spawn(Command::new("sh").arg("-c").arg("while :; do :; done"));
    Some(cg)
}

/// The times (unix ms) of the store's raw `cpu/usage` points of `container` from `start_ms`.
fn stored_times(port: u16, container: &str, start_ms: i64) -> Vec<i64> {
    let path = format!(
        "/api/v1/query?metric=cpu/usage&container={}&start={}.{:03}&agg=raw",
        urlencode(container),
        start_ms / 1000,
        start_ms % 1000
    );
    let v = get_json(port, &path);
    let series = v["series"].as_array().unwrap_or_else(|| panic!("{v}"));
    assert!(series.len() <= 1, "one series: {v}");
    series
        .first()
        .map(|s| {
            s["points"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p[0].as_i64().unwrap())
                .collect()
        })
        .unwrap_or_default()
}

/// Sync interval of the agent's store: its housekeeping interval (`--housekeeping-interval`
/// 200ms above). A SIGKILL loses nothing written (the page cache outlives the process); a
/// machine crash at most this much.
const AGENT_SYNC_MS: i64 = 200;

#[test]
fn an_agent_killed_mid_write_keeps_its_history_up_to_the_sync_bound() {
    let Some(cg) = burner() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let log = dir.path().join("agent.log");
    let store_flag = format!("--store-dir={}", store.display());
    let t0 = now_ms();
    let port = free_port();
    let mut agent = Proc::start(
        &agent_args(port, std::slice::from_ref(&store_flag)),
        port,
        &log,
    );
    let name = cg.name().to_owned();
    wait_for("3 s of stored samples", 30, || {
        stored_times(port, &name, t0).len() >= 15
    });
    // Mid-write: the housekeeping thread appends every 200 ms; the kill lands wherever it does.
    std::thread::sleep(Duration::from_millis(1_337));
    let before = stored_times(port, &name, t0);
    agent.sigkill();
    let killed = now_ms();

    let port2 = free_port();
    let mut agent = Proc::start(&agent_args(port2, &[store_flag]), port2, &log);
    assert!(agent.alive(), "{}", agent.log());
    let after = stored_times(port2, &name, t0);
    let last = *before.last().unwrap();
    let lost: Vec<i64> = before
        .iter()
        .copied()
        .filter(|t| !after.contains(t))
        .collect();
    let beyond_bound: Vec<i64> = lost
        .iter()
        .copied()
        .filter(|t| *t < last - AGENT_SYNC_MS)
        .collect();
    eprintln!(
        "agent kill -9: {} points served before the kill, {} lost ({} beyond the {AGENT_SYNC_MS} ms bound)",
        before.len(),
        lost.len(),
        beyond_bound.len()
    );
    assert!(
        beyond_bound.is_empty(),
        "lost beyond the sync bound: {beyond_bound:?} (last served {last})"
    );
    // Nothing served twice, nothing out of order, and the restarted agent appends again.
    assert!(after.windows(2).all(|w| w[0] < w[1]), "{after:?}");
    wait_for("new samples after the restart", 20, || {
        stored_times(port2, &name, killed).len() >= 5
    });
    let log = agent.log();
    assert!(!log.contains("panicked"), "{log}");
}

/// The times (unix ms) of `measurement` points of `container` in influxd's `db`.
fn influx_times(influx: &Server, db: &str, measurement: &str, container: &str) -> Vec<i64> {
    let q = format!("SELECT value FROM \"{measurement}\" WHERE container_name = '{container}'");
    let path = format!("/query?db={db}&epoch=ms&q={}", urlencode(&q));
    let Ok((200, body)) = http(influx.port(), "GET", &path, "") else {
        return Vec::new();
    };
    let v: Value = serde_json::from_str(&body).unwrap_or_default();
    v["results"][0]["series"][0]["values"]
        .as_array()
        .map(|rows| rows.iter().filter_map(|r| r[0].as_i64()).collect())
        .unwrap_or_default()
}

/// The largest step between consecutive times, in ms.
fn largest_gap(times: &[i64]) -> i64 {
    times.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0)
}

#[test]
fn a_hub_killed_mid_write_delivers_its_queue_after_the_restart() {
    let Some(mut influx) = Server::influxd() else {
        return;
    };
    let Some(cg) = burner() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("crowsnest.log");
    let queues = dir.path().join("queues");
    let agent_port = free_port();
    let _agent = Proc::start(
        &agent_args(agent_port, &[s("--store-dir=")]),
        agent_port,
        &log,
    );
    let influx_url = influx.url();
    let hub_args = |port: u16| {
        vec![
            s("hub"),
            s("--listen"),
            format!("127.0.0.1:{port}"),
            s("--node"),
            format!("a=127.0.0.1:{agent_port}"),
            s("--resolution"),
            s("1s"),
            s("--sink"),
            format!(
                "influxdb:{influx_url}?db=hubkill&schema=heapster-legacy&flush=200ms&backoff_max=1s&timeout=2s"
            ),
            s("--sink-queue-dir"),
            queues.display().to_string(),
        ]
    };
    let name = cg.name().trim_start_matches('/').to_owned();
    let measurement = "cpu/usage_ns_cumulative";
    let hub_port = free_port();
    let mut hub = Proc::start(&hub_args(hub_port), hub_port, &log);
    wait_for("the hub's first points in influxd", 60, || {
        influx_times(&influx, "hubkill", measurement, &name).len() >= 3
    });
    // influxd goes away: the hub queues on disk. Then the hub is killed mid-write.
    influx.stop();
    let down = now_ms();
    std::thread::sleep(Duration::from_millis(6_500));
    hub.sigkill();
    let killed = now_ms();
    // What the hub owed influxd is in its queue's files.
    let queued = walk_bytes(&queues);
    assert!(
        queued > 4 << 10,
        "{queued} bytes queued while influxd was down"
    );
    influx.start();
    let hub_port = free_port();
    let _hub = Proc::start(&hub_args(hub_port), hub_port, &log);
    // Bound: the batch being made when the kill came (one resolution), plus the scrape that
    // makes it (the batch time precedes its queueing by at most the scrape timeout).
    let bound_ms = 2_000;
    let started = Instant::now();
    let mut times = Vec::new();
    while started.elapsed() < Duration::from_secs(60) {
        times = influx_times(&influx, "hubkill", measurement, &name);
        if times.iter().any(|t| *t > killed + 2_000)
            && times.iter().any(|t| *t >= killed - bound_ms)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let before_kill: Vec<i64> = times.iter().copied().filter(|t| *t < killed).collect();
    let last = before_kill.last().copied().unwrap_or(0);
    let gap = largest_gap(&before_kill);
    let during_outage = before_kill.iter().filter(|t| **t >= down).count();
    eprintln!(
        "hub kill -9: {} points before the kill ({during_outage} queued while influxd was down, \
         {queued} queue bytes on disk), largest gap {gap} ms, last point {} ms before the kill \
         (bound {bound_ms} ms)",
        before_kill.len(),
        killed - last
    );
    assert!(
        killed - last <= bound_ms,
        "points up to {bound_ms} ms before the kill: the last is {} ms before; {before_kill:?}",
        killed - last
    );
    assert!(
        gap <= 1_600,
        "no batch lost before the kill: {before_kill:?}"
    );
    assert!(during_outage >= 5, "{before_kill:?}");
    assert!(
        times.iter().any(|t| *t > killed),
        "the restarted hub writes again"
    );
    drop(cg);
}

#[test]
fn a_sink_down_for_two_minutes_loses_nothing() {
    const OUTAGE: Duration = Duration::from_secs(120);
    let Some(mut influx) = Server::influxd() else {
        return;
    };
    // The burner below a parent of its own, which alone the agent reports.
    let Some(parent) = RealCgroup::create("/", &["cpu", "cpuacct", "memory"], false) else {
        return;
    };
    let Some(cg) = burner_in(parent.name()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("agent.log");
    let queues = dir.path().join("queues");
    let port = free_port();
    // Only the test's own cgroups: a queue budget of 8 MiB (a 32nd of the default) then holds
    // the whole outage, so every point must come through.
    let mut args = vec![
        s("agent"),
        s("--listen"),
        format!("127.0.0.1:{port}"),
        s("--housekeeping-interval=500ms"),
    ];
    args.extend([
            s("--store-dir="),
            s("--docker-only"),
            format!("--raw_cgroup_prefix_whitelist={}/", parent.name()),
            s("--sink"),
            format!(
                "influxdb:{}?db=outage&schema=heapster-legacy&flush=200ms&queue_bytes=8388608&backoff_max=2s&timeout=2s",
                influx.url()
            ),
            s("--sink-queue-dir"),
            queues.display().to_string(),
    ]);
    let agent = Proc::start(&args, port, &log);
    let name = cg.name().to_owned();
    let m = "cpu/usage_ns_cumulative";
    wait_for("points in influxd", 60, || {
        influx_times(&influx, "outage", m, &name).len() >= 4
    });
    let first = influx_times(&influx, "outage", m, &name);
    influx.stop();
    let down = now_ms();
    std::thread::sleep(OUTAGE / 2);
    let metrics = get(port, "/metrics").1;
    let disk = metrics
        .lines()
        .find(|l| l.starts_with("crowsnest_sink_queue_disk_bytes{"))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .unwrap_or(0.0);
    let on_disk: u64 = walk_bytes(&queues);
    assert!(
        disk > 0.0 && on_disk > 8 << 10,
        "the queue is on disk during the outage: {disk} bytes reported, {on_disk} in files"
    );
    std::thread::sleep(OUTAGE / 2);
    let up = now_ms();
    influx.start();
    let started = Instant::now();
    let mut times = Vec::new();
    while started.elapsed() < Duration::from_secs(60) {
        times = influx_times(&influx, "outage", m, &name);
        if times.iter().any(|t| *t > up + 2_000) {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let window: Vec<i64> = times
        .iter()
        .copied()
        .filter(|t| *t >= first[0] && *t <= up)
        .collect();
    let gap = largest_gap(&window);
    let in_outage = window.iter().filter(|t| **t >= down).count();
    let expected = (up - down) / 500;
    let (_, metrics) = get(port, "/metrics");
    let dropped: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("crowsnest_sink_dropped") && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    eprintln!(
        "sink outage {OUTAGE:?}: {in_outage} points of the burner during the outage (~{expected} expected), \
         largest gap {gap} ms, {on_disk} queue bytes on disk mid-outage, {dropped} dropped"
    );
    assert!(gap <= 1_500, "no gap: {window:?}");
    assert!(
        in_outage as i64 >= expected * 9 / 10,
        "{in_outage} of ~{expected}"
    );
    assert_eq!(dropped, 0.0, "{metrics}");
    drop(agent);
    drop(cg);
    drop(parent);
}

fn walk_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => walk_bytes(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// A server that accepts, answers with headers and half a JSON body, then says nothing more
/// (holding every connection open) until dropped.
struct HalfBody {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HalfBody {
    fn start() -> HalfBody {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held: Vec<TcpStream> = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((mut c, _)) => {
                        let _ = c.set_read_timeout(Some(Duration::from_millis(200)));
                        let mut buf = [0u8; 4096];
                        let _ = c.read(&mut buf);
                        let _ = c.write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n[{\"name\": \"/\", \"spec\": {\"has_cpu\": tr",
                        );
                        let _ = c.flush();
                        held.push(c);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        HalfBody {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for HalfBody {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn node_status(hub: u16, name: &str) -> Value {
    get_json(hub, "/api/v1/hub/nodes")
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .cloned()
        .unwrap_or_default()
}

#[test]
fn agents_that_hang_mid_response_do_not_hold_up_the_hub() {
    if RealCgroup::create("/", &["cpu", "cpuacct", "memory"], false).is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("crowsnest.log");
    let (pa, pb) = (free_port(), free_port());
    let _a = Proc::start(&agent_args(pa, &[s("--store-dir=")]), pa, &log);
    let b = Proc::start(&agent_args(pb, &[s("--store-dir=")]), pb, &log);
    let half = HalfBody::start();
    let hub_port = free_port();
    let _hub = Proc::start(
        &[
            s("hub"),
            s("--listen"),
            format!("127.0.0.1:{hub_port}"),
            s("--node"),
            format!("a=127.0.0.1:{pa}"),
            s("--node"),
            format!("b=127.0.0.1:{pb}"),
            s("--node"),
            format!("c=127.0.0.1:{}", half.port),
            s("--resolution"),
            s("1s"),
            s("--scrape-timeout"),
            s("500ms"),
        ],
        hub_port,
        &log,
    );
    wait_for("a and b healthy", 30, || {
        node_status(hub_port, "a")["healthy"] == true
            && node_status(hub_port, "b")["healthy"] == true
    });
    // b hangs for real: its process is stopped (the kernel still accepts connections for it).
    b.signal(libc::SIGSTOP);
    let rate_points = || {
        get_json(hub_port, "/api/v1/model/nodes/a/metrics/cpu/usage_rate")["metrics"]
            .as_array()
            .map_or(0, Vec::len)
    };
    std::thread::sleep(Duration::from_secs(2));
    let (a0, p0, t0) = (
        node_status(hub_port, "a")["scrapes"].as_u64().unwrap(),
        rate_points(),
        Instant::now(),
    );
    std::thread::sleep(Duration::from_secs(6));
    let a = node_status(hub_port, "a");
    let (a1, p1, took) = (a["scrapes"].as_u64().unwrap(), rate_points(), t0.elapsed());
    let (sb, sc) = (node_status(hub_port, "b"), node_status(hub_port, "c"));
    eprintln!(
        "hung agents: a scraped {} times and got {} new rate points in {took:?}; b: {}; c: {}",
        a1 - a0,
        p1 - p0,
        sb["last_error"],
        sc["last_error"]
    );
    // a: a scrape and a batch every resolution (1 s), each well within the timeout.
    assert!(a1 - a0 >= 5, "a's scrapes: {a}");
    assert!(p1 - p0 >= 5, "a's batches: {p0} -> {p1}");
    assert_eq!(a["healthy"], true, "{a}");
    assert!(a["last_duration_seconds"].as_f64().unwrap() < 0.5, "{a}");
    for (n, st) in [("b", &sb), ("c", &sc)] {
        assert_eq!(st["healthy"], false, "{n}: {st}");
        assert!(
            st["last_error"]
                .as_str()
                .unwrap_or("")
                .contains("no answer within 500ms"),
            "{n}: {st}"
        );
        assert!(
            st["consecutive_failures"].as_u64().unwrap() >= 3,
            "{n}: {st}"
        );
    }
    let (_, metrics) = get(hub_port, "/metrics");
    assert!(
        metrics.contains("crowsnest_hub_node_healthy{node=\"b\"} 0"),
        "{metrics}"
    );
    assert_eq!(get(hub_port, "/healthz").0, 200);
    // b continues: it is scraped again.
    b.signal(libc::SIGCONT);
    wait_for("b healthy again", 20, || {
        node_status(hub_port, "b")["healthy"] == true
    });
    drop(half);
}

#[test]
fn a_torn_hosts_file_keeps_the_last_good_node_list() {
    if RealCgroup::create("/", &["cpu", "cpuacct", "memory"], false).is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("crowsnest.log");
    let (pa, pb) = (free_port(), free_port());
    let _a = Proc::start(&agent_args(pa, &[s("--store-dir=")]), pa, &log);
    let _b = Proc::start(&agent_args(pb, &[s("--store-dir=")]), pb, &log);
    let hosts = dir.path().join("hosts");
    let item = |n: &str, p: u16| format!(r#"{{"name": "{n}", "ip": "127.0.0.1", "port": {p}}}"#);
    std::fs::write(&hosts, format!("{{\"items\": [{}]}}", item("alpha", pa))).unwrap();
    let hub_log = dir.path().join("hub.log");
    let hub_port = free_port();
    let hub = Proc::start(
        &[
            s("hub"),
            s("--listen"),
            format!("127.0.0.1:{hub_port}"),
            format!("--source=cadvisor:external?hostsFile={}", hosts.display()),
            s("--resolution"),
            s("1s"),
            s("--hosts-poll-interval"),
            s("200ms"),
        ],
        hub_port,
        &hub_log,
    );
    wait_for("alpha healthy", 30, || {
        node_status(hub_port, "alpha")["healthy"] == true
    });
    // The torn rewrite: truncated, half the new content written and flushed, the rest later.
    let full = format!(
        "{{\"items\": [\n  {},\n  {}\n]}}\n",
        item("alpha", pa),
        item("beta", pb)
    );
    let cut = full.find("beta").unwrap() + 2;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&hosts)
        .unwrap();
    f.write_all(&full.as_bytes()[..cut]).unwrap();
    f.sync_all().unwrap();
    let scrapes0 = node_status(hub_port, "alpha")["scrapes"].as_u64().unwrap();
    let source_error = || {
        get_json(hub_port, "/api/v1/hub/sources")
            .as_array()
            .unwrap()
            .iter()
            .find_map(|s| s["last_error"].as_str().map(str::to_owned))
    };
    // Polled every 200 ms (the content at least every fifth poll): 3 s is several re-reads.
    wait_for("the torn file to be reported", 10, || {
        source_error().is_some()
    });
    std::thread::sleep(Duration::from_secs(3));
    let err = source_error().expect("still reported while torn");
    let nodes: Vec<String> = get_json(hub_port, "/api/v1/hub/nodes")
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_owned())
        .collect();
    let alpha = node_status(hub_port, "alpha");
    eprintln!("torn hosts file: {err}; nodes meanwhile {nodes:?}");
    assert_eq!(nodes, ["alpha"], "the last good list is kept");
    assert!(err.contains("line 3"), "the line is named: {err}");
    assert!(
        alpha["scrapes"].as_u64().unwrap() >= scrapes0 + 3,
        "{alpha}"
    );
    assert_eq!(alpha["healthy"], true, "{alpha}");
    let logged = hub.log();
    assert!(
        logged.contains("hosts file not used") && logged.contains("line 3"),
        "{logged}"
    );
    // Completed: the new list is taken.
    f.write_all(&full.as_bytes()[cut..]).unwrap();
    f.sync_all().unwrap();
    drop(f);
    wait_for("beta scraped from the completed file", 15, || {
        get_json(hub_port, "/api/v1/hub/nodes")
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["name"] == "beta" && n["healthy"] == true)
    });
    assert_eq!(source_error(), None);
    assert!(hub.log().contains("hosts file is good again"));
}

/// A tmpfs of `size` mounted on a new directory; unmounted (lazily, so that a process still
/// holding a file cannot keep it) on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs { dir }),
            _ => {
                crowsnest_testkit::missing("mount tmpfs (root, mount permitted)");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Writes zeros into `path` until the disk says it is full (at most `max` bytes).
fn fill(path: &Path, max: u64) -> u64 {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 64 << 10];
    let mut n = 0;
    while n < max {
        match f.write(&chunk) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k as u64,
        }
    }
    let _ = f.sync_all();
    n
}

#[test]
fn a_full_disk_under_the_store_is_survived_and_recovered_from() {
    let Some(cg) = burner() else {
        return;
    };
    let Some(fs) = Tmpfs::mount("8m") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("agent.log");
    let store_flag = format!("--store-dir={}", fs.path().join("store").display());
    let port = free_port();
    let args = agent_args(port, std::slice::from_ref(&store_flag));
    let mut agent = Proc::start(&args, port, &log);
    let name = cg.name().to_owned();
    let t0 = now_ms();
    wait_for("stored samples", 30, || {
        stored_times(port, &name, t0).len() >= 5
    });

    let filler = fs.path().join("filler");
    let filled = fill(&filler, 64 << 20);
    let full_at = now_ms();
    let latest = |port: u16| -> String {
        let v = get_json(port, &format!("/api/v1.3/containers{name}"));
        v["stats"]
            .as_array()
            .and_then(|s| s.last())
            .map(|s| s["timestamp"].as_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    // Full: in-memory stats go on, /healthz answers, the error is logged, nothing crashes.
    std::thread::sleep(Duration::from_secs(3));
    let l1 = latest(port);
    std::thread::sleep(Duration::from_secs(1));
    assert_ne!(latest(port), l1, "samples go on while the disk is full");
    assert_eq!(get(port, "/healthz").0, 200);
    assert!(agent.alive(), "{}", agent.log());
    let full_log = agent.log();
    assert!(
        full_log.contains("No space left on device"),
        "a clear error: {full_log}"
    );
    assert!(!full_log.contains("panicked"), "{full_log}");
    let (_, metrics) = get(port, "/metrics");
    // Printed as found: an absent family is not a count of 0.
    let errors = metric(&metrics, "crowsnest_collection_errors_total")
        .map_or_else(|| "no".to_owned(), |e| e.to_string());

    // Space returns: samples are persisted again (they survive a SIGKILL and a restart).
    std::fs::remove_file(&filler).unwrap();
    let freed_at = now_ms();
    std::thread::sleep(Duration::from_secs(4));
    let recovered = stored_times(port, &name, freed_at + 1_000);
    assert!(recovered.len() >= 5, "{recovered:?}");
    let logged = agent.log();
    assert!(
        logged.contains("appends to the store work again"),
        "{logged}"
    );
    agent.sigkill();
    let port2 = free_port();
    let agent = Proc::start(&agent_args(port2, &[store_flag]), port2, &log);
    let kept = stored_times(port2, &name, freed_at + 1_000);
    let lost: Vec<&i64> = recovered.iter().filter(|t| !kept.contains(t)).collect();
    let all = stored_times(port2, &name, t0);
    let during = all
        .iter()
        .filter(|t| **t >= full_at && **t < freed_at)
        .count();
    eprintln!(
        "disk full: {filled} filler bytes, {errors} collection errors counted, {} samples stored after \
         the space returned, {} of them lost across a kill -9; {during} samples of the full period kept",
        recovered.len(),
        lost.len()
    );
    assert!(lost.is_empty(), "persisted after recovery: lost {lost:?}");
    let log = agent.log();
    assert!(!log.contains("panicked"), "{log}");
    drop(agent);
    drop(fs);
}
