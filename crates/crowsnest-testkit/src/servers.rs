//! Real servers for tests: InfluxDB 1.x (`influxd`), Prometheus with the remote-write
//! receiver, and VictoriaMetrics, each started on free 127.0.0.1 ports in its own temporary
//! directory with telemetry off (shared/peers.md), waited for (bounded), and stopped on drop
//! even when the test fails. A missing binary is [`crate::missing`]: skipped loudly, a
//! failure under `CI=true`.
//!
//! The Debian packages: `influxdb` (influxd), `influxdb-client` (influx), `prometheus`,
//! `victoria-metrics`.

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::missing;

/// How long a server may take to answer its readiness check.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// InfluxDB 1.x.
    Influxd,
    /// Prometheus (remote-write receiver on).
    Prometheus,
    /// VictoriaMetrics single-node.
    VictoriaMetrics,
}

impl Kind {
    fn binary(self) -> &'static str {
        match self {
            Kind::Influxd => "influxd",
            Kind::Prometheus => "prometheus",
            Kind::VictoriaMetrics => "victoria-metrics",
        }
    }

    fn package(self) -> &'static str {
        match self {
            Kind::Influxd => "influxdb",
            Kind::Prometheus => "prometheus",
            Kind::VictoriaMetrics => "victoria-metrics",
        }
    }

    fn ready_path(self) -> &'static str {
        match self {
            Kind::Influxd => "/ping",
            Kind::Prometheus => "/-/ready",
            Kind::VictoriaMetrics => "/health",
        }
    }
}

/// A running server. Stopped (and its directory removed) on drop.
#[derive(Debug)]
pub struct Server {
    kind: Kind,
    dir: tempfile::TempDir,
    port: u16,
    args: Vec<String>,
    child: Option<Child>,
}

/// A free port on 127.0.0.1 (bound, read and released; another process could take it in
/// between, which the readiness check would then report).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port on 127.0.0.1")
}

/// Whether `binary` is on `PATH`.
pub fn on_path(binary: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(binary).is_file()))
}

/// A minimal HTTP/1.0 exchange with 127.0.0.1:`port` (no dependencies, for readiness
/// checks and setup): returns the status and the body.
pub fn http(
    port: u16,
    method: &str,
    path_and_query: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    let req = format!(
        "{method} {path_and_query} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes())?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let text = String::from_utf8_lossy(&resp).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {text:?}")))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// `s` with everything but unreserved characters percent-encoded (for query strings).
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Server {
    /// InfluxDB 1.x with authentication off.
    pub fn influxd() -> Option<Server> {
        Self::start_influxd(false)
    }

    /// InfluxDB 1.x with `auth-enabled = true` and an admin user `admin` / `admin-pw`.
    pub fn influxd_with_auth() -> Option<Server> {
        let s = Self::start_influxd(true)?;
        let q = urlencode("CREATE USER admin WITH PASSWORD 'admin-pw' WITH ALL PRIVILEGES");
        let (status, body) =
            http(s.port, "POST", &format!("/query?q={q}"), "").expect("create the admin user");
        assert_eq!(status, 200, "create the admin user: {body}");
        Some(s)
    }

    fn start_influxd(auth: bool) -> Option<Server> {
        let dir = Self::prepare(Kind::Influxd)?;
        let port = free_port();
        let rpc = free_port();
        let d = dir.path().display();
        let conf = format!(
            "reporting-enabled = false\nbind-address = \"127.0.0.1:{rpc}\"\n\
             [meta]\n  dir = \"{d}/meta\"\n\
             [data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n  query-log-enabled = false\n\
             [monitor]\n  store-enabled = false\n\
             [http]\n  bind-address = \"127.0.0.1:{port}\"\n  log-enabled = false\n  auth-enabled = {auth}\n\
             [logging]\n  level = \"warn\"\n"
        );
        let conf_path = dir.path().join("influxdb.conf");
        fs::write(&conf_path, conf).expect("write influxdb.conf");
        let args = vec!["-config".to_owned(), conf_path.display().to_string()];
        Some(Self::launch(Kind::Influxd, dir, port, args))
    }

    /// Prometheus with `--web.enable-remote-write-receiver` and no scrape targets.
    pub fn prometheus() -> Option<Server> {
        let dir = Self::prepare(Kind::Prometheus)?;
        let port = free_port();
        let conf = dir.path().join("prometheus.yml");
        fs::write(
            &conf,
            "global: {scrape_interval: 5s, evaluation_interval: 5s}\n",
        )
        .expect("write prometheus.yml");
        let args = vec![
            format!("--config.file={}", conf.display()),
            format!("--storage.tsdb.path={}", dir.path().join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--web.enable-remote-write-receiver".to_owned(),
            "--log.level=warn".to_owned(),
        ];
        Some(Self::launch(Kind::Prometheus, dir, port, args))
    }

    /// VictoriaMetrics with the newest samples searchable after 1 s.
    pub fn victoria_metrics() -> Option<Server> {
        let dir = Self::prepare(Kind::VictoriaMetrics)?;
        let port = free_port();
        let args = vec![
            format!("-httpListenAddr=127.0.0.1:{port}"),
            format!("-storageDataPath={}", dir.path().join("data").display()),
            "-retentionPeriod=1d".to_owned(),
            "-loggerLevel=WARN".to_owned(),
            "-search.latencyOffset=1s".to_owned(),
            "-search.disableCache".to_owned(),
        ];
        Some(Self::launch(Kind::VictoriaMetrics, dir, port, args))
    }

    fn prepare(kind: Kind) -> Option<tempfile::TempDir> {
        if !on_path(kind.binary()) {
            missing(&format!(
                "{} (Debian package {})",
                kind.binary(),
                kind.package()
            ));
            return None;
        }
        Some(
            tempfile::Builder::new()
                .prefix(&format!("crowsnest-{}-", kind.binary()))
                .tempdir()
                .expect("make a temporary directory"),
        )
    }

    fn launch(kind: Kind, dir: tempfile::TempDir, port: u16, args: Vec<String>) -> Server {
        let mut s = Server {
            kind,
            dir,
            port,
            args,
            child: None,
        };
        s.start();
        s
    }

    /// Starts the server (again, after [`Server::stop`]) with the same port and data, and
    /// waits until it is ready. Panics with its log when it is not ready in time.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "{} is running", self.kind.binary());
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open the server log");
        let child = Command::new(self.kind.binary())
            .args(&self.args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", self.kind.binary()));
        self.child = Some(child);
        let started = Instant::now();
        while started.elapsed() < READY_WITHIN {
            if let Ok((code, _)) = http(self.port, "GET", self.kind.ready_path(), "")
                && (200..300).contains(&code)
            {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                panic!(
                    "{} exited with {status} before it was ready; log:\n{}",
                    self.kind.binary(),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = self.log();
        self.stop();
        panic!(
            "{} not ready within {READY_WITHIN:?}; log:\n{log}",
            self.kind.binary()
        );
    }

    /// Stops the server (SIGTERM, then SIGKILL after 10 s); its data stays.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(pid) = i32::try_from(child.id()) {
            // SAFETY: plain syscall on our own child's pid, not yet reaped.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Whether the server process is running.
    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// The HTTP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The server's temporary directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
