//! Dev-only helpers for crowsnest's tests: real cgroups made on this machine with real
//! processes in them, real Docker and Podman containers from a local busybox image
//! ([`docker`], [`podman`]), all cleaned up on drop even when the test fails, and the rule
//! for tests that need something the machine may lack (skip loudly, but fail under
//! `CI=true`).
//!
//! Never a normal dependency of any crate.

pub mod agent_image;
pub mod docker;
pub mod podman;
pub mod promtool;
pub mod servers;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Whether tests run under CI (`CI=true`), where a missing prerequisite is a failure.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Reports a missing prerequisite: panics under CI, otherwise prints a loud message and
/// returns, so that the caller can return early.
pub fn missing(what: &str) {
    assert!(!under_ci(), "CI=true and this test needs {what}");
    eprintln!("\n!!!!! SKIPPED: this test needs {what} !!!!!\n");
}

/// The cgroup root tests use (`CROWSNEST_TEST_CGROUP_ROOT`, default `/sys/fs/cgroup`).
pub fn cgroup_root() -> PathBuf {
    std::env::var_os("CROWSNEST_TEST_CGROUP_ROOT")
        .map_or_else(|| PathBuf::from("/sys/fs/cgroup"), PathBuf::from)
}

/// The directory of shared reference data (`../shared/testdata` beside the repository).
pub fn shared_testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata")
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A real cgroup, made in every listed v1 controller hierarchy (and in the cgroup2 mount when
/// asked), removed on drop together with the processes started in it.
#[derive(Debug)]
pub struct RealCgroup {
    name: String,
    dirs: Vec<PathBuf>,
    children: Vec<Child>,
}

impl RealCgroup {
    /// Makes `/crowsnest-test-<pid>-<n>` (below `parent`, e.g. `/` or another test cgroup's
    /// name) in each of `controllers` (v1 directory names such as `cpuacct`, `memory`) and,
    /// with `unified`, in `<root>/unified`. Returns `None` (after [`missing`]) when the
    /// machine cannot: not root, or no writable v1 hierarchy.
    pub fn create(parent: &str, controllers: &[&str], unified: bool) -> Option<RealCgroup> {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let base = if parent == "/" {
            String::new()
        } else {
            parent.to_owned()
        };
        let name = format!("{base}/crowsnest-test-{}-{n}", std::process::id());
        Self::create_named(&name, controllers, unified)
    }

    /// Makes the cgroup `name` (absolute, e.g. one a dropped [`RealCgroup`] had, to make a
    /// container again under the same name) like [`RealCgroup::create`].
    pub fn create_named(name: &str, controllers: &[&str], unified: bool) -> Option<RealCgroup> {
        let root = cgroup_root();
        let name = name.to_owned();
        let mut hierarchies: Vec<PathBuf> = controllers.iter().map(|c| root.join(c)).collect();
        if unified {
            hierarchies.push(root.join("unified"));
        }
        let mut cg = RealCgroup {
            name: name.clone(),
            dirs: Vec::new(),
            children: Vec::new(),
        };
        for h in hierarchies {
            if !h.join("cgroup.procs").is_file() {
                missing(&format!("a cgroup hierarchy at {}", h.display()));
                return None;
            }
            let dir = h.join(name.trim_start_matches('/'));
            if let Err(e) = std::fs::create_dir(&dir) {
                missing(&format!(
                    "permission to make cgroups ({}: {e})",
                    dir.display()
                ));
                return None;
            }
            cg.dirs.push(dir);
        }
        Some(cg)
    }

    /// The container name (`/crowsnest-test-...`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The directories made, one per hierarchy.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The directory in the hierarchy whose path contains `controller`.
    pub fn dir(&self, controller: &str) -> Option<&Path> {
        let root = cgroup_root();
        self.dirs
            .iter()
            .find(|d| d.strip_prefix(root.join(controller)).is_ok())
            .map(PathBuf::as_path)
    }

    /// Starts `cmd` inside the cgroup (it joins every hierarchy before `exec`), with stdout
    /// piped. Returns its pid.
    pub fn spawn(&mut self, cmd: &mut Command) -> u32 {
        let procs: Vec<std::ffi::CString> = self
            .dirs
            .iter()
            .map(|d| {
                std::ffi::CString::new(d.join("cgroup.procs").into_os_string().into_encoded_bytes())
                    .expect("cgroup paths have no NUL byte")
            })
            .collect();
        // SAFETY: the closure runs in the forked child before exec and only calls
        // async-signal-safe functions (open, write, close) on pre-built C strings.
        unsafe {
            cmd.pre_exec(move || {
                for p in &procs {
                    let fd = libc::open(p.as_ptr(), libc::O_WRONLY);
                    if fd < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    let ok = libc::write(fd, b"0".as_ptr().cast(), 1) == 1;
                    libc::close(fd);
                    if !ok {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let child = cmd
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn a test process");
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// Starts `sleep 600` in the cgroup.
    pub fn spawn_sleeper(&mut self) -> u32 {
        self.spawn(Command::new("sleep").arg("600"))
    }

    /// Starts `cmd` in the cgroup and waits (at most 30 s) until it prints a line starting
    /// with `ready`. Returns its pid.
    pub fn spawn_until_ready(&mut self, cmd: &mut Command) -> u32 {
        let pid = self.spawn(cmd);
        let child = self.children.last_mut().expect("just pushed");
        let out = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        let started = Instant::now();
        let mut reader = BufReader::new(out);
        while started.elapsed() < Duration::from_secs(30) {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line.starts_with("ready") {
                break;
            }
        }
        assert!(
            line.starts_with("ready"),
            "test process did not get ready: {line:?}"
        );
        pid
    }

    /// Starts a process that touches `bytes` of anonymous memory, then sleeps; returns once it
    /// says it has touched all of it.
    pub fn spawn_memory_toucher(&mut self, bytes: usize) -> u32 {
        let script = format!(
            "import sys,time\nb=bytearray({bytes})\nfor i in range(0,len(b),4096): b[i]=1\nprint('ready',flush=True)\ntime.sleep(600)\n"
        );
        self.spawn_until_ready(Command::new("python3").arg("-c").arg(script))
    }

    /// Starts a busy loop in the cgroup, lets it run for `wall`, kills it and returns the
    /// CPU time (user + system) the kernel charged to it, from `wait4`'s rusage.
    pub fn burn_cpu(&mut self, wall: Duration) -> Duration {
        let pid = self.spawn(Command::new("sh").arg("-c").arg("while :; do :; done"));
        std::thread::sleep(wall);
        let idx = self
            .children
            .iter()
            .position(|c| c.id() == pid)
            .expect("child is tracked");
        let child = self.children.remove(idx);
        kill_and_rusage(child)
    }

    /// Kills every process started in the cgroup and waits for them.
    pub fn kill_all(&mut self) {
        for c in self.children.drain(..) {
            let _ = kill_and_rusage(c);
        }
    }
}

/// Kills `child`, reaps it and returns the CPU time it used.
pub fn kill_and_rusage(mut child: Child) -> Duration {
    let _ = child.kill();
    let pid = i32::try_from(child.id()).expect("pids fit in i32");
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for our own child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers to locals; pid is our child, not yet reaped.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    if r != pid {
        let _ = child.wait();
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec * 1000) as u32);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

impl Drop for RealCgroup {
    fn drop(&mut self) {
        self.kill_all();
        // Deepest first; a just-killed task may take a moment to leave the cgroup.
        for dir in self.dirs.iter().rev() {
            for _ in 0..50 {
                match std::fs::remove_dir(dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
    }
}

/// Reads a whole file as a trimmed string (for independent checks in tests).
pub fn read_trimmed(path: &Path) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// Reads a file holding one integer.
pub fn read_u64(path: &Path) -> Option<u64> {
    read_trimmed(path).parse().ok()
}
