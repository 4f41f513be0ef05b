//! `crowsnest top` against a real agent (and hub) on 127.0.0.1 watching real cgroups with a
//! CPU burner: the `--once` table (stdout is a pipe here, as in a script) puts the burner on
//! top with the CPU the kernel charged it, and one real run under tmux is driven with keys
//! (sort, filter, detail, quit) and read back from the screen.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crowsnest_testkit::RealCgroup;
use crowsnest_testkit::servers::{free_port, http, on_path};

const CONTROLLERS: &[&str] = &["cpu", "cpuacct", "memory", "pids"];

/// Kills the child on drop, so a failing assertion leaves no process behind.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn crowsnest() -> Command {
    Command::new(env!("CARGO_BIN_EXE_crowsnest"))
}

/// An agent on a free port, answering.
fn agent() -> (Reaped, u16) {
    let port = free_port();
    let child = crowsnest()
        .args([
            "agent",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--store-dir=",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the agent");
    let agent = Reaped(child);
    let started = Instant::now();
    while !http(port, "GET", "/healthz", "").is_ok_and(|r| r.0 == 200) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the agent did not answer"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (agent, port)
}

/// Waits until the agent has two samples of `cgroup`.
fn wait_for_samples(port: u16, cgroup: &str) {
    let started = Instant::now();
    loop {
        let path = format!("/api/v2.1/stats{cgroup}?count=2");
        if let Ok((200, body)) = http(port, "GET", &path, "")
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&body)
            && v[cgroup]["stats"].as_array().is_some_and(|s| s.len() == 2)
        {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no samples of {cgroup}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn cpuacct(cg: &RealCgroup) -> u64 {
    crowsnest_testkit::read_u64(&cg.dir("cpuacct").expect("cpuacct").join("cpuacct.usage"))
        .expect("cpuacct.usage")
}

/// The rows of a `--once` table: the header's columns, then each line's cells. Cells are
/// split on two spaces or more (a name has no double space; a figure like `1.5 KiB` has one).
fn table(out: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let split = |l: &str| -> Vec<String> {
        l.split("  ")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let mut lines = out.lines();
    let header = split(lines.next().unwrap_or(""));
    (header, lines.map(split).collect())
}

/// Runs `top --once` against `url` until `accept` takes the table (at most five tries, a
/// second apart: another workload on the machine may briefly outrun the burner).
fn once_until(url: &str, mut accept: impl FnMut(&[String], &[Vec<String>]) -> bool) -> String {
    let mut last = String::new();
    for _ in 0..5 {
        let out: Output = crowsnest()
            .args(["top", "--once", "--url", url])
            .output()
            .expect("run top --once");
        assert!(
            out.status.success(),
            "top --once failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        last = String::from_utf8(out.stdout).expect("UTF-8");
        let (header, rows) = table(&last);
        if accept(&header, &rows) {
            return last;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    panic!("top --once never gave the expected table; last:\n{last}");
}

#[test]
fn once_against_a_real_agent_puts_the_burner_on_top_with_its_cpu() {
    let Some(mut burn) = RealCgroup::create("/", CONTROLLERS, false) else {
        return;
    };
    burn.spawn(Command::new("sh").arg("-c").arg("while :; do :; done"));
    let (_agent, port) = agent();
    wait_for_samples(port, burn.name());
    let url = format!("http://127.0.0.1:{port}");
    let (t0, u0) = (Instant::now(), cpuacct(&burn));
    std::thread::sleep(Duration::from_millis(1500));
    let mut cpu = 0.0;
    let out = once_until(&url, |header, rows| {
        assert_eq!(
            header,
            [
                "NAME",
                "CPU",
                "MEM",
                "MEM LIMIT",
                "NET RX/s",
                "NET TX/s",
                "IO READ/s",
                "IO WRITE/s",
                "PIDS"
            ]
        );
        let Some(top) = rows.first() else {
            return false;
        };
        if top[0] != burn.name() {
            return false;
        }
        cpu = top[1].parse().expect("a CPU figure");
        // Memory is read, the limit is unset, no own network, one process.
        assert!(top[2].ends_with("B"), "memory {:?}", top[2]);
        assert_eq!(top[3], "-", "no memory limit: absent, not 0");
        assert_eq!(
            (top[4].as_str(), top[5].as_str()),
            ("-", "-"),
            "no network of its own"
        );
        assert_eq!(top[8], "1", "one process: {top:?}");
        // Sorted by CPU, highest first; absent figures last.
        let cpus: Vec<Option<f64>> = rows.iter().map(|r| r[1].parse().ok()).collect();
        let known: Vec<f64> = cpus.iter().map_while(|c| *c).collect();
        assert!(
            known.windows(2).all(|w| w[0] >= w[1]),
            "not sorted by CPU: {cpus:?}"
        );
        assert!(cpus[known.len()..].iter().all(Option::is_none), "{cpus:?}");
        true
    });
    let reference = (cpuacct(&burn) - u0) as f64 / 1e9 / t0.elapsed().as_secs_f64();
    eprintln!("top --once: burner at {cpu} cores, the kernel charged {reference:.3}\n{out}");
    assert!(
        (cpu - reference).abs() <= 0.15 + 0.15 * reference && cpu > 0.3,
        "top says {cpu} cores, the kernel charged {reference:.3} cores:\n{out}"
    );
}

#[test]
fn once_against_a_real_hub_lists_its_containers_with_the_hubs_rates() {
    let Some(mut burn) = RealCgroup::create("/", CONTROLLERS, false) else {
        return;
    };
    let cpu_dir = burn.dir("cpu").expect("cpu").to_owned();
    std::fs::write(cpu_dir.join("cpu.cfs_period_us"), "100000").unwrap();
    std::fs::write(cpu_dir.join("cpu.cfs_quota_us"), "40000").unwrap();
    burn.spawn(Command::new("sh").arg("-c").arg("while :; do :; done"));
    let (_agent, agent_port) = agent();
    let hub_port = free_port();
    let node = format!("node-{}", std::process::id());
    let _hub = Reaped(
        crowsnest()
            .args(["hub", "--listen", &format!("127.0.0.1:{hub_port}")])
            .arg("--node")
            .arg(format!("{node}=127.0.0.1:{agent_port}"))
            .args(["--resolution", "2s"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the hub"),
    );
    let (t0, u0) = (Instant::now(), cpuacct(&burn));
    // The hub names a system container by its cgroup without the leading slash.
    let name = burn.name().trim_start_matches('/').to_owned();
    let url = format!("http://127.0.0.1:{hub_port}");
    std::thread::sleep(Duration::from_secs(6));
    let started = Instant::now();
    let (cpu, out) = loop {
        let out = crowsnest()
            .args(["top", "--once", "--url", &url])
            .output()
            .expect("run top --once");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (header, rows) = table(&text);
        if let Some(r) = rows.iter().find(|r| r[0] == name)
            && let Ok(c) = r[2].parse::<f64>()
        {
            assert_eq!(&header[..3], ["NAME", "NODE", "CPU"], "{text}");
            assert_eq!(r[1], node, "{text}");
            assert!(r[3].ends_with('B'), "memory {:?}", r[3]);
            break (c, text);
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "the hub never listed {name}: {}{text}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_secs(1));
    };
    let reference = (cpuacct(&burn) - u0) as f64 / 1e9 / t0.elapsed().as_secs_f64();
    eprintln!("top --once (hub): {cpu} cores, the kernel charged {reference:.3}\n{out}");
    assert!(
        (cpu - reference).abs() <= 0.1 + 0.15 * reference,
        "top says {cpu} cores through the hub, the kernel charged {reference:.3}:\n{out}"
    );
}

/// A private tmux server (its own socket in a temporary directory), killed on drop.
struct Tmux {
    dir: tempfile::TempDir,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(self.socket())
            .args(["-f", "/dev/null"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn socket(&self) -> std::path::PathBuf {
        self.dir.path().join("tmux.sock")
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "top"])
    }

    fn var(&self, format: &str) -> String {
        self.run(&["display-message", "-p", "-t", "top", format])
            .trim()
            .to_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "top"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// Waits (at most 20 s) until the screen satisfies `ok`; returns it.
    fn wait(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the screen never showed {what}:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(self.socket())
            .arg("kill-server")
            .stderr(Stdio::null())
            .status();
    }
}

/// The line number of the first screen line starting with `prefix`.
fn line_of(screen: &str, prefix: &str) -> Option<usize> {
    screen.lines().position(|l| l.starts_with(prefix))
}

#[test]
fn a_real_run_under_tmux_sorts_filters_opens_a_detail_and_quits_cleanly() {
    if !on_path("tmux") {
        crowsnest_testkit::missing("tmux (Debian package tmux)");
        return;
    }
    let pid = std::process::id();
    let prefix = format!("/crowsnest-top-{pid}");
    let idle_name = format!("{prefix}-a-idle");
    let burn_name = format!("{prefix}-b-burn");
    let Some(mut idle) = RealCgroup::create_named(&idle_name, CONTROLLERS, false) else {
        return;
    };
    idle.spawn_sleeper();
    let Some(mut burn) = RealCgroup::create_named(&burn_name, CONTROLLERS, false) else {
        return;
    };
    burn.spawn(Command::new("sh").arg("-c").arg("while :; do :; done"));
    let (_agent, port) = agent();
    wait_for_samples(port, &burn_name);
    let tmux = Tmux {
        dir: tempfile::tempdir().expect("a directory for tmux's socket"),
    };
    let bin = Path::new(env!("CARGO_BIN_EXE_crowsnest"));
    // The shell writes top's exit status to a file: tmux's own #{pane_dead_status} is not
    // always recorded when the machine is busy.
    let status_file = tmux.dir.path().join("status");
    let cmd = format!(
        "{} top --url http://127.0.0.1:{port}; echo $? > {}",
        bin.display(),
        status_file.display()
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "top",
        "-x",
        "160",
        "-y",
        "40",
        &cmd,
        ";",
        "set-option",
        "-t",
        "top",
        "remain-on-exit",
        "on",
    ]);
    let s = tmux.wait("the header and both containers", |s| {
        s.contains("crowsnest top · agent http://127.0.0.1:")
            && s.contains(&idle_name)
            && s.contains(&burn_name)
    });
    assert!(
        s.contains("NAME") && s.contains("CPU↓") && s.contains("CPU HISTORY"),
        "{s}"
    );
    // Only this test's containers: the filter.
    tmux.keys(&["/"]);
    tmux.keys(&["-l", &prefix]);
    tmux.keys(&["Enter"]);
    let s = tmux.wait("the filter applied", |s| {
        s.contains(&format!("filter: {prefix}"))
            && s.lines().filter(|l| l.starts_with('/')).count() == 2
    });
    // By CPU (the default): the burner first, with a sparkline of its CPU.
    let (b, a) = (line_of(&s, &burn_name), line_of(&s, &idle_name));
    assert!(b < a, "by CPU the burner comes first:\n{s}");
    let burn_line = s.lines().find(|l| l.starts_with(&burn_name)).unwrap();
    assert!(
        burn_line.chars().any(|c| ('▁'..='█').contains(&c)),
        "a sparkline in {burn_line:?}"
    );
    // By name: the idle one first; back to CPU.
    tmux.keys(&["n"]);
    tmux.wait("sorted by name", |s| {
        s.contains("NAME↑") && line_of(s, &idle_name) < line_of(s, &burn_name)
    });
    tmux.keys(&["c"]);
    tmux.wait("sorted by CPU again", |s| {
        s.contains("CPU↓") && line_of(s, &burn_name) < line_of(s, &idle_name)
    });
    // The selected (first) row's detail, and back.
    tmux.keys(&["Enter"]);
    let s = tmux.wait("the burner's detail", |s| {
        s.lines().nth(2).is_some_and(|l| l.starts_with(&burn_name)) && s.contains("Esc back")
    });
    assert!(s.contains("CPU limit none") && s.contains("pids "), "{s}");
    tmux.keys(&["Escape"]);
    tmux.wait("the list again", |s| s.contains("Enter detail"));
    // q: the process exits with 0, leaving the alternate screen.
    let top_pid = tmux.var("#{pane_pid}");
    assert!(
        Path::new(&format!("/proc/{top_pid}")).exists(),
        "top runs as {top_pid}"
    );
    tmux.keys(&["q"]);
    let started = Instant::now();
    while !std::fs::read_to_string(&status_file).is_ok_and(|s| s.ends_with('\n')) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "top did not exit on q"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        std::fs::read_to_string(&status_file).unwrap().trim(),
        "0",
        "top's exit status"
    );
    std::fs::remove_file(&status_file).unwrap();
    assert_eq!(
        tmux.var("#{alternate_on}"),
        "0",
        "the alternate screen was left"
    );
    let started = Instant::now();
    while alive(&top_pid) {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "process {top_pid} is still there"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Again, and Ctrl-C this time.
    tmux.run(&["respawn-pane", "-k", "-t", "top", &cmd]);
    tmux.wait("the header again", |s| s.contains(&burn_name));
    assert_eq!(
        tmux.var("#{alternate_on}"),
        "1",
        "top draws on the alternate screen"
    );
    tmux.keys(&["C-c"]);
    let started = Instant::now();
    while !std::fs::read_to_string(&status_file).is_ok_and(|s| s.ends_with('\n')) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "top did not exit on Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        std::fs::read_to_string(&status_file).unwrap().trim(),
        "0",
        "exit status after Ctrl-C"
    );
    assert_eq!(
        tmux.var("#{alternate_on}"),
        "0",
        "the alternate screen was left"
    );
}

/// Whether process `pid` runs (a zombie waiting to be reaped does not).
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let (_, rest) = stat.rsplit_once(") ")?;
            rest.chars().next()
        })
        .is_some_and(|state| state != 'Z')
}

/// An agent that asks for a bearer token: `top --token-file` sends the file's first token and
/// lists the containers; without it, `top` fails naming the 401.
#[test]
fn once_with_a_token_file_reads_an_agent_that_asks_for_one() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "# the agent's tokens\ns3cret-top-token\nanother\n").unwrap();
    let port = free_port();
    let child = crowsnest()
        .args([
            "agent",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--store-dir=",
            "--auth-token-file",
        ])
        .arg(&tokens)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the agent");
    let _agent = Reaped(child);
    let started = Instant::now();
    while !http(port, "GET", "/healthz", "").is_ok_and(|r| r.0 == 200) {
        assert!(started.elapsed() < Duration::from_secs(30), "no agent");
        std::thread::sleep(Duration::from_millis(100));
    }
    let url = format!("http://127.0.0.1:{port}");
    let refused = crowsnest()
        .args(["top", "--once", "--url", &url])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("401"), "{err}");
    let mut rows = Vec::new();
    for _ in 0..20 {
        let out = crowsnest()
            .args(["top", "--once", "--url", &url, "--token-file"])
            .arg(&tokens)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        rows = table(&String::from_utf8(out.stdout).unwrap()).1;
        if !rows.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    // The machine's containers (cgroups below the root), each a row named by its path.
    assert!(!rows.is_empty(), "no containers listed");
    assert!(
        rows.iter().all(|r| r[0].starts_with('/') && r.len() == 9),
        "{rows:?}"
    );
}
