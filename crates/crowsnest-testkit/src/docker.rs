//! Real Docker containers for tests, with no registry: a busybox image made at test time with
//! `docker import` of a rootfs holding `/bin/busybox` and its applet links, and containers
//! named `crowsnest-test-<pid>-<n>`. Images and containers are removed on drop, also when
//! the test fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::missing;

/// The Docker Engine socket tests use.
pub const SOCKET: &str = "/var/run/docker.sock";

/// Where busybox-static is looked for.
const BUSYBOX: [&str; 2] = ["/usr/bin/busybox", "/bin/busybox"];

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A name no other test run uses: `crowsnest-test-<pid>-<n>`.
pub fn unique_name() -> String {
    format!(
        "crowsnest-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// Runs `docker <args>` with a 120 s bound (coreutils `timeout`).
pub fn docker(args: &[&str]) -> Output {
    Command::new("timeout")
        .arg("120")
        .arg("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run the docker command line")
}

/// `docker <args>`, panicking with its stderr when it fails; its stdout trimmed.
pub fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Whether a Docker daemon answers here with the cgroupfs driver on cgroup v1 (the layout
/// the tests expect: `/docker/<id>`); reports what is missing otherwise (see
/// [`crate::missing`]).
pub fn available() -> bool {
    if !Path::new(SOCKET).exists() {
        missing(&format!("a Docker Engine at {SOCKET}"));
        return false;
    }
    let out = docker(&["info", "--format", "{{.CgroupDriver}} {{.CgroupVersion}}"]);
    if !out.status.success() {
        missing(&format!(
            "a working `docker info` ({})",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
        return false;
    }
    let info = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if info != "cgroupfs 1" {
        missing(&format!(
            "Docker with the cgroupfs driver on cgroup v1 (this one: {info})"
        ));
        return false;
    }
    if busybox().is_none() {
        missing("busybox-static (/usr/bin/busybox) to build a test image");
        return false;
    }
    true
}

fn busybox() -> Option<PathBuf> {
    BUSYBOX.iter().map(PathBuf::from).find(|p| p.is_file())
}

/// Builds a root filesystem in `dir`: `/bin/busybox`, a link per applet, `/tmp`, `/etc`.
pub fn busybox_rootfs(dir: &Path) {
    let bin = dir.join("bin");
    for d in ["bin", "tmp", "etc", "proc", "sys", "dev"] {
        std::fs::create_dir_all(dir.join(d)).expect("make rootfs dirs");
    }
    let src = busybox().expect("busybox-static is installed");
    std::fs::copy(&src, bin.join("busybox")).expect("copy busybox");
    let list = Command::new(&src)
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if !applet.is_empty() && applet != "busybox" {
            let _ = std::os::unix::fs::symlink("busybox", bin.join(applet));
        }
    }
    std::fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")
        .expect("write /etc/passwd");
    std::fs::write(dir.join("etc/group"), "root:x:0:\n").expect("write /etc/group");
}

/// A local image, removed on drop.
#[derive(Debug)]
pub struct Image {
    tag: String,
}

impl Image {
    /// `docker import` of a busybox rootfs as `<unique name>:latest`.
    pub fn busybox() -> Image {
        let tag = format!("{}:latest", unique_name());
        let dir = tempfile::tempdir().expect("temp dir");
        busybox_rootfs(dir.path());
        let mut tar = Command::new("tar")
            .arg("-C")
            .arg(dir.path())
            .args(["-cf", "-", "."])
            .stdout(Stdio::piped())
            .spawn()
            .expect("tar the rootfs");
        let out = Command::new("timeout")
            .args(["120", "docker", "import", "-", &tag])
            .stdin(tar.stdout.take().expect("piped"))
            .output()
            .expect("docker import");
        let tarred = tar.wait().expect("tar ends");
        assert!(tarred.success(), "tar of the rootfs failed");
        assert!(
            out.status.success(),
            "docker import failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Image { tag }
    }

    /// `name:latest`.
    pub fn tag(&self) -> &str {
        &self.tag
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = docker(&["rmi", "-f", &self.tag]);
    }
}

/// A container, removed (with its anonymous volumes) on drop.
#[derive(Debug)]
pub struct Container {
    name: String,
    id: String,
}

impl Container {
    /// `docker run -d --name <unique> <options> <image> <command>`.
    pub fn run(options: &[&str], image: &Image, command: &[&str]) -> Container {
        let name = unique_name();
        let mut args: Vec<String> = ["run", "-d", "--name", &name]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        args.extend(options.iter().map(|s| (*s).to_owned()));
        args.push(image.tag().to_owned());
        args.extend(command.iter().map(|s| (*s).to_owned()));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = docker(&argv);
        let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        // Removed on drop even when `run` failed half-way.
        let c = Container { name, id };
        assert!(
            out.status.success() && is_id(&c.id),
            "docker {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        c
    }

    /// The name given to Docker.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 64-hex id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The cgroup name under the cgroupfs driver: `/docker/<id>`.
    pub fn cgroup(&self) -> String {
        format!("/docker/{}", self.id)
    }

    /// `docker inspect -f <format>`.
    pub fn inspect(&self, format: &str) -> String {
        docker_ok(&["inspect", "-f", format, &self.id])
    }

    /// The init process on the host (0 when not running).
    pub fn pid(&self) -> u32 {
        self.inspect("{{.State.Pid}}").parse().unwrap_or(0)
    }

    /// Waits up to `wait` for `docker inspect -f <format>` to print `want`.
    pub fn wait_for(&self, format: &str, want: &str, wait: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < wait {
            if self.inspect(format) == want {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// `docker exec <container> <command>`.
    pub fn exec(&self, command: &[&str]) -> String {
        let mut args = vec!["exec", self.id.as_str()];
        args.extend_from_slice(command);
        docker_ok(&args)
    }

    /// `docker rm -f` now (drop does it too).
    pub fn remove(&self) {
        let _ = docker(&["rm", "-f", "-v", &self.id]);
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let target = if self.id.is_empty() {
            &self.name
        } else {
            &self.id
        };
        let _ = docker(&["rm", "-f", "-v", target]);
    }
}

/// Whether `s` is a 64-hex container id.
pub fn is_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `docker stats --no-stream` of one container: (CPU %, memory used bytes, memory limit
/// bytes), parsed from its human units.
pub fn stats(container: &Container) -> (f64, f64, f64) {
    let out = docker_ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.CPUPerc}}|{{.MemUsage}}",
        container.id(),
    ]);
    let (cpu, mem) = out.split_once('|').expect("cpu|mem");
    let cpu: f64 = cpu.trim().trim_end_matches('%').parse().expect("CPU %");
    let (used, limit) = mem.split_once('/').expect("used / limit");
    (cpu, bytes(used), bytes(limit))
}

/// `64.5MiB` → bytes (Docker's binary units; `kB`/`MB` decimal).
pub fn bytes(text: &str) -> f64 {
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: f64 = num.parse().unwrap_or_else(|_| panic!("a number in {t:?}"));
    let mult = match unit {
        "B" | "" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        other => panic!("unknown unit {other:?} in {t:?}"),
    };
    num * mult
}
