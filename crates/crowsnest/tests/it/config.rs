//! The configuration file, `CROWSNEST_*` variables and flags layered on the real binary;
//! `crowsnest config check` and `config args`; SIGTERM (bounded, sink queues kept on disk and
//! delivered after a restart) and SIGHUP (the log level re-read from the file).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crowsnest_testkit::servers::{Server, free_port, http, urlencode};

/// The binary with no `CROWSNEST_*` or `RUST_LOG` variable of the test's own environment.
fn crowsnest() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_crowsnest"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("CROWSNEST_") {
            c.env_remove(k);
        }
    }
    c.env_remove("RUST_LOG");
    c
}

/// A running agent: stopped with SIGKILL on drop if a test did not stop it.
struct Proc {
    child: Child,
    stderr: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// Starts `cmd` with stderr to `dir/<name>.log`.
    fn start(mut cmd: Command, dir: &Path, name: &str) -> Proc {
        let stderr = dir.join(format!("{name}.log"));
        let f = std::fs::File::create(&stderr).unwrap();
        let child = cmd
            .stdout(Stdio::null())
            .stderr(f)
            .spawn()
            .expect("start crowsnest");
        Proc { child, stderr }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits (at most 20 s) for /healthz on `port`.
    fn ready(&mut self, port: u16) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if matches!(http(port, "GET", "/healthz", ""), Ok((200, _))) {
                return;
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("crowsnest exited ({st}) before serving:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "no /healthz on 127.0.0.1:{port} within 20 s:\n{}",
            self.log()
        );
    }

    fn signal(&self, sig: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        assert!(pid > 0);
        // SAFETY: kill(2) on our own child's positive pid.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
    }

    /// Sends SIGTERM and waits (at most `limit`) for the exit: its status and how long it took.
    fn terminate(&mut self, limit: Duration) -> (std::process::ExitStatus, Duration) {
        self.signal(libc::SIGTERM);
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(st) = self.child.try_wait().unwrap() {
                return (st, started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("still running {limit:?} after SIGTERM:\n{}", self.log());
    }

    /// Waits (at most 15 s) until the log holds `what`.
    fn wait_log(&self, what: &str) -> String {
        let started = Instant::now();
        loop {
            let log = self.log();
            if log.contains(what) {
                return log;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "no {what:?} in the log within 15 s:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("run crowsnest");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// Runtime sockets off: the agent names containers from their cgroups only.
const NO_RUNTIMES: &str = "docker = \"\"\npodman = \"\"\ncrio = \"\"\ncontainerd = \"\"\n";

#[test]
fn the_file_sets_the_agent_and_env_then_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let (p_file, p_env, p_flag) = (free_port(), free_port(), free_port());
    let store = dir.path().join("store");
    let file = dir.path().join("crowsnest.toml");
    std::fs::write(
        &file,
        format!(
            "log_level = \"info\"\n\n[agent]\nlisten = \"127.0.0.1:{p_file}\"\n\
             housekeeping_interval = \"300ms\"\nstore-dir = {:?}\n{NO_RUNTIMES}",
            store.display()
        ),
    )
    .unwrap();

    // The file alone: the agent serves where it says and keeps its store there.
    let mut c = crowsnest();
    c.arg("--config").arg(&file).arg("agent");
    let mut a = Proc::start(c, dir.path(), "file");
    a.ready(p_file);
    let (st, _) = a.terminate(Duration::from_secs(15));
    assert!(st.success(), "{st}:\n{}", a.log());
    assert!(
        std::fs::read_dir(&store).unwrap().count() > 0,
        "the store directory from the file holds the store"
    );
    let log = a.log();
    assert!(log.contains("store closed"), "{log}");

    // CROWSNEST_LISTEN wins over the file; CROWSNEST_CONFIG names the file.
    let mut c = crowsnest();
    c.env("CROWSNEST_CONFIG", &file)
        .env("CROWSNEST_LISTEN", format!("127.0.0.1:{p_env}"))
        .arg("agent");
    let mut a = Proc::start(c, dir.path(), "env");
    a.ready(p_env);
    assert!(
        http(p_file, "GET", "/healthz", "").is_err(),
        "not on the file's port"
    );
    a.terminate(Duration::from_secs(15));

    // A flag wins over both.
    let mut c = crowsnest();
    c.env("CROWSNEST_LISTEN", format!("127.0.0.1:{p_env}"))
        .arg("--config")
        .arg(&file)
        .args(["agent", "--listen", &format!("127.0.0.1:{p_flag}")]);
    let mut a = Proc::start(c, dir.path(), "flag");
    a.ready(p_flag);
    assert!(
        http(p_env, "GET", "/healthz", "").is_err(),
        "not on the env's port"
    );
    a.terminate(Duration::from_secs(15));
}

#[test]
fn unknown_keys_and_wrong_types_fail_naming_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    for (text, want) in [
        (
            "[agent]\nlisten = \"127.0.0.1:1\"\nhousekeeping_intervall = \"1s\"\n",
            ":3: unknown key `housekeeping_intervall` in [agent]",
        ),
        (
            "log_level = \"info\"\n[agent]\n\nno_inotify = \"yes\"\n",
            ":4: `no_inotify` in [agent]: expected true or false, found string",
        ),
        (
            "[hub]\nresolution = \"often\"\n",
            ":2: `resolution` in [hub]: invalid value 'often'",
        ),
        ("[agnet]\n", ":1: unknown table [agnet]"),
    ] {
        std::fs::write(&file, text).unwrap();
        let (code, _, err) = run(crowsnest().arg("--config").arg(&file).arg("agent"));
        assert_eq!(code, 2, "{text}: {err}");
        let at = format!("{}{want}", file.display());
        assert!(err.contains(&at), "{text}: want {at:?} in {err}");
        let (code, _, err) = run(crowsnest().args(["config", "check"]).arg(&file));
        assert_eq!(code, 2, "config check: {err}");
        assert!(err.contains(&at), "config check: {err}");
    }
    // A variable the parser refuses is named; an unknown one is a warning.
    let (code, _, err) = run(crowsnest()
        .env("CROWSNEST_HOUSEKEEPING_INTERVAL", "5")
        .args(["config", "args", "agent"]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("CROWSNEST_HOUSEKEEPING_INTERVAL: invalid value '5'"),
        "{err}"
    );
    let (code, _, err) = run(crowsnest()
        .env("CROWSNEST_LISTN", "x")
        .args(["config", "args", "agent"]));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("CROWSNEST_LISTN matches no flag"), "{err}");
}

#[test]
fn config_check_prints_sources_with_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        "log_level = \"warn\"\n\n[agent]\nlisten = \"127.0.0.1:9100\"\n\
         sink = [\"influxdb:http://root:s3cr3t@127.0.0.1:8086?db=k8s\", \"stdout:\"]\n\
         storage_driver_password = \"hunter2\"\n\n[hub]\nnode = [\"a=127.0.0.1:8080\"]\n",
    )
    .unwrap();
    let (code, out, err) = run(crowsnest()
        .env("CROWSNEST_RETENTION", "3d")
        .args(["config", "check"])
        .arg(&file));
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("s3cr3t") && !out.contains("hunter2"), "{out}");
    assert!(out.contains("storage_driver_password = \"***\""), "{out}");
    assert!(
        out.contains("http://root:***@127.0.0.1:8086?db=k8s"),
        "{out}"
    );
    assert!(out.contains("[agent]") && out.contains("[hub]"), "{out}");
    let line = |key: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("no {key} in {out}"))
            .to_owned()
    };
    assert!(line("listen").contains("# file, line 4"), "{out}");
    assert!(
        line("retention").contains("# env CROWSNEST_RETENTION"),
        "{out}"
    );
    assert!(line("retention").contains("\"3d\""), "{out}");
    assert!(line("log_level").contains("\"warn\""), "{out}");
    assert!(line("housekeeping_interval").contains("# default"), "{out}");
    assert!(line("node").contains("[\"a=127.0.0.1:8080\"]"), "{out}");

    // --role picks one; the role's own validation runs (a hub with no node is refused).
    std::fs::write(&file, "[hub]\nresolution = \"5s\"\n").unwrap();
    let (code, _, err) = run(crowsnest()
        .args(["config", "check", "--role", "hub"])
        .arg(&file));
    assert_eq!(code, 2);
    assert!(err.contains("no nodes to scrape"), "{err}");

    // The example shipped in docs/ passes.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/crowsnest.example.toml");
    let (code, out, err) = run(crowsnest().args(["config", "check"]).arg(&example));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("[agent]") && out.contains("[hub]"), "{out}");
}

#[test]
fn config_args_validates_a_command_line() {
    let (code, _, err) = run(crowsnest().args(["config", "args", "agent", "--bogus"]));
    assert_eq!(code, 2);
    assert!(err.contains("--bogus"), "{err}");
    let (code, out, err) = run(crowsnest().args([
        "config",
        "args",
        "agent",
        "--listen=127.0.0.1:9200",
        "--housekeeping_interval=2s",
        "--sink",
        "stdout:",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("listen = \"127.0.0.1:9200\""), "{out}");
    assert!(out.contains("sink = [\"stdout:\"]"), "{out}");
    let (code, _, err) = run(crowsnest().args(["config", "args", "agent", "--listen=nowhere"]));
    assert_eq!(code, 2);
    assert!(err.contains("--listen"), "{err}");
    let (code, _, err) = run(crowsnest().args(["config", "args", "hub", "--node", "a=127.0.0.1"]));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(crowsnest().args(["config", "args", "hub"]));
    assert_eq!(code, 2);
    assert!(err.contains("no nodes to scrape"), "{err}");
}

/// Pending records and bytes of the queue segments under `dir`.
fn queued_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".seg"))
                .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn sigterm_keeps_unsent_batches_on_disk_and_a_restart_delivers_them() {
    let dir = tempfile::tempdir().unwrap();
    let queues = dir.path().join("queues");
    let closed = free_port();
    let port = free_port();
    let common = |c: &mut Command, sink: &str| {
        c.args(["agent", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--housekeeping-interval=200ms", "--store-dir="])
            .args(["--docker=", "--podman=", "--crio=", "--containerd="])
            .arg("--sink-queue-dir")
            .arg(&queues)
            .arg(format!("--sink={sink}"));
    };
    let mut c = crowsnest();
    common(
        &mut c,
        &format!("influxdb:http://127.0.0.1:{closed}?db=cfg&name=main&flush=200ms"),
    );
    c.arg("--shutdown-timeout=5s");
    let mut a = Proc::start(c, dir.path(), "down");
    a.ready(port);
    a.wait_log("delivery failed");
    std::thread::sleep(Duration::from_secs(1));
    let (st, took) = a.terminate(Duration::from_secs(8));
    let log = a.log();
    let stopped_at = std::time::SystemTime::now();
    assert!(st.success(), "{st}:\n{log}");
    assert!(
        took < Duration::from_secs(5),
        "exit took {took:?}, bound 5 s:\n{log}"
    );
    assert!(
        log.contains("undelivered records stay queued on disk"),
        "{log}"
    );
    let queued = queued_bytes(&queues.join("main"));
    assert!(
        queued > 8,
        "the queue holds records after SIGTERM: {queued} bytes\n{log}"
    );
    eprintln!("SIGTERM with the sink down: exit in {took:?}, {queued} bytes queued");

    let Some(influx) = Server::influxd() else {
        return;
    };
    let mut c = crowsnest();
    common(
        &mut c,
        &format!("influxdb:{}?db=cfg&name=main&flush=200ms", influx.url()),
    );
    let mut b = Proc::start(c, dir.path(), "up");
    b.ready(port);
    let before_ns = stopped_at
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let q = format!("SELECT count(*) FROM /.*/ WHERE time < {before_ns}");
    let started = Instant::now();
    let mut series = 0;
    while started.elapsed() < Duration::from_secs(30) {
        let path = format!("/query?db=cfg&q={}", urlencode(&q));
        if let Ok((200, body)) = http(influx.port(), "GET", &path, "") {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            series = v["results"][0]["series"].as_array().map_or(0, Vec::len);
            if series > 0 {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(
        series > 0,
        "the batches queued before SIGTERM reach InfluxDB after the restart:\n{}",
        b.log()
    );
    eprintln!("after the restart: {series} measurements with points from before SIGTERM");
    let (st, _) = b.terminate(Duration::from_secs(15));
    assert!(st.success(), "{st}:\n{}", b.log());
}

#[test]
fn sighup_rereads_the_log_level() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let file = dir.path().join("crowsnest.toml");
    let write = |level: &str, interval: &str| {
        std::fs::write(
            &file,
            format!(
                "log_level = \"{level}\"\n[agent]\nlisten = \"127.0.0.1:{port}\"\n\
                 housekeeping_interval = \"{interval}\"\nstore_dir = \"\"\n{NO_RUNTIMES}"
            ),
        )
        .unwrap();
    };
    write("info", "1s");
    let mut c = crowsnest();
    c.arg("--config").arg(&file).arg("agent");
    let mut a = Proc::start(c, dir.path(), "hup");
    a.ready(port);
    assert!(
        !a.log().contains("DEBUG"),
        "no debug lines at info:\n{}",
        a.log()
    );
    write("debug", "2s");
    a.signal(libc::SIGHUP);
    let log = a.wait_log("log level changed");
    assert!(log.contains("agent.housekeeping_interval"), "{log}");
    // Debug lines follow (an HTTP request makes some).
    let started = Instant::now();
    while !a.log().contains("DEBUG") {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no debug line after SIGHUP:\n{}",
            a.log()
        );
        let _ = http(port, "GET", "/healthz", "");
        std::thread::sleep(Duration::from_millis(200));
    }
    // A broken file is refused and changes nothing; the agent keeps running.
    std::fs::write(&file, "[agent]\nbogus = 1\n").unwrap();
    a.signal(libc::SIGHUP);
    a.wait_log("unknown key `bogus`");
    assert!(matches!(http(port, "GET", "/healthz", ""), Ok((200, _))));
    let (st, _) = a.terminate(Duration::from_secs(15));
    assert!(st.success(), "{st}:\n{}", a.log());
}

#[test]
fn a_hanging_request_does_not_hold_the_exit_past_the_shutdown_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut c = crowsnest();
    c.args(["--shutdown-timeout=2s", "agent", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .args([
            "--store-dir=",
            "--docker=",
            "--podman=",
            "--crio=",
            "--containerd=",
        ]);
    let mut a = Proc::start(c, dir.path(), "hang");
    a.ready(port);
    // A request whose headers never end.
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    std::io::Write::write_all(&mut conn, b"GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let (st, took) = a.terminate(Duration::from_secs(6));
    let log = a.log();
    assert!(
        took < Duration::from_millis(3500),
        "exit took {took:?}, bound 2 s:\n{log}"
    );
    if st.success() {
        assert!(log.contains("stopped"), "{log}");
    } else {
        assert_eq!(st.code(), Some(1), "{log}");
        assert!(log.contains("shutdown did not finish in time"), "{log}");
    }
    eprintln!("SIGTERM with a hanging request: {st} after {took:?}");
    drop(conn);
}
