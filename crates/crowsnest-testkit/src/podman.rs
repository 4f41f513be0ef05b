//! A private rootful Podman for tests (shared/peers.md §5): its own storage, run and tmp
//! directories and `containers.conf` in a temp dir (runc, the cgroupfs manager, ulimits this
//! machine allows, no network plugin), a local busybox image made with `podman import`, and
//! its API service (`podman system service`) on a unix socket in that temp dir. Containers
//! land at `/libpod_parent/libpod-<id>`. Everything is removed on drop, also when the test
//! fails: containers, images, the service, the `libpod_parent` cgroups and the temp dir.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::docker::{busybox_rootfs, unique_name};
use crate::missing;

/// The Podman of one test.
#[derive(Debug)]
pub struct Podman {
    dir: tempfile::TempDir,
    service: Option<Child>,
}

impl Podman {
    /// Sets Podman up and starts its API service, or reports what is missing (see
    /// [`crate::missing`]) and returns `None`.
    pub fn start() -> Option<Podman> {
        for tool in ["podman", "runc", "busybox"] {
            let found = Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .is_ok_and(|o| o.status.success());
            if !found {
                missing(&format!(
                    "{tool} (apt-get install podman runc busybox-static)"
                ));
                return None;
            }
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let conf = format!(
            "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=4096:4096\"]\n\
             netns = \"none\"\n[engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\n\
             events_logger = \"file\"\ntmp_dir = \"{}\"\n",
            dir.path().join("tmp").display()
        );
        std::fs::write(dir.path().join("containers.conf"), conf).expect("write containers.conf");
        let mut p = Podman { dir, service: None };
        let socket = p.socket();
        let log = std::fs::File::create(p.dir.path().join("service.log")).expect("service log");
        let d = p.dir.path();
        // Bounded like everything here: the service ends after 10 minutes at the latest.
        let child = Command::new("timeout")
            .arg("600")
            .arg("podman")
            .arg("--root")
            .arg(d.join("storage"))
            .arg("--runroot")
            .arg(d.join("run"))
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", socket.display()))
            .env("CONTAINERS_CONF", d.join("containers.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start podman system service");
        p.service = Some(child);
        let started = Instant::now();
        while !socket.exists() && started.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(100));
        }
        if !socket.exists() {
            let log = std::fs::read_to_string(p.dir.path().join("service.log")).unwrap_or_default();
            missing(&format!("a working `podman system service` ({log})"));
            return None;
        }
        Some(p)
    }

    /// The API socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("podman.sock")
    }

    /// `podman --root .. --runroot .. <args>` with this Podman's `containers.conf`.
    pub fn command(&self, args: &[&str]) -> Command {
        let d = self.dir.path();
        let mut c = Command::new("timeout");
        c.arg("120")
            .arg("podman")
            .arg("--root")
            .arg(d.join("storage"))
            .arg("--runroot")
            .arg(d.join("run"))
            .args(args)
            .env("CONTAINERS_CONF", d.join("containers.conf"))
            .stdin(Stdio::null());
        c
    }

    /// Runs `podman <args>`.
    pub fn run_cmd(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run podman")
    }

    /// `podman <args>`, panicking with its stderr when it fails; its stdout trimmed.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run_cmd(args);
        assert!(
            out.status.success(),
            "podman {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// `podman import` of a busybox rootfs; returns the image name.
    pub fn import_busybox(&self) -> String {
        let tag = format!("localhost/{}:latest", unique_name());
        let rootfs = tempfile::tempdir().expect("temp dir");
        busybox_rootfs(rootfs.path());
        let mut tar = Command::new("tar")
            .arg("-C")
            .arg(rootfs.path())
            .args(["-cf", "-", "."])
            .stdout(Stdio::piped())
            .spawn()
            .expect("tar the rootfs");
        let out = self
            .command(&["import", "-", &tag])
            .stdin(tar.stdout.take().expect("piped"))
            .output()
            .expect("podman import");
        let tarred = tar.wait().expect("tar ends");
        assert!(
            out.status.success() && tarred.success(),
            "podman import failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tag
    }

    /// `podman run -d --name <unique> <options> <image> <command>`; returns (id, name).
    pub fn run(&self, options: &[&str], image: &str, command: &[&str]) -> (String, String) {
        let name = unique_name();
        let mut args = vec!["run", "-d", "--name", name.as_str()];
        args.extend_from_slice(options);
        args.push(image);
        args.extend_from_slice(command);
        let id = self.ok(&args);
        (id, name)
    }

    /// The cgroup name of container `id` (cgroupfs manager).
    pub fn cgroup(id: &str) -> String {
        format!("/libpod_parent/libpod-{id}")
    }

    /// `podman stats --no-stream --format json` of one container: (CPU %, memory used
    /// bytes, memory limit bytes).
    pub fn stats(&self, id: &str) -> (f64, f64, f64) {
        let out = self.ok(&["stats", "--no-stream", "--format", "json", id]);
        let field = |key: &str| -> String {
            let at = out
                .find(&format!("\"{key}\""))
                .unwrap_or_else(|| panic!("{key} in {out}"));
            let rest = &out[at + key.len() + 2..];
            let start = rest.find('"').expect("a string value") + 1;
            let end = start + rest[start..].find('"').expect("closing quote");
            rest[start..end].to_owned()
        };
        let cpu: f64 = field("cpu_percent")
            .trim_end_matches('%')
            .parse()
            .expect("cpu %");
        let mem = field("mem_usage");
        let (used, limit) = mem.split_once('/').expect("used / limit");
        (cpu, crate::docker::bytes(used), crate::docker::bytes(limit))
    }

    /// The directory of this Podman (storage, run, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.run_cmd(&["rm", "-f", "-t", "0", "-a"]);
        let _ = self.run_cmd(&["rmi", "-f", "-a"]);
        if let Some(mut child) = self.service.take() {
            // SIGTERM, which `timeout` passes on to podman (SIGKILL would orphan it).
            if let Ok(pid) = i32::try_from(child.id()) {
                // SAFETY: kill(2) on our own child's pid, not yet reaped.
                unsafe {
                    libc::kill(pid, libc::SIGTERM);
                }
            }
            let _ = child.wait();
        }
        // Empty cgroups podman leaves (shared with a Podman of another test: rmdir only
        // succeeds once they are empty).
        let root = crate::cgroup_root();
        if let Ok(entries) = std::fs::read_dir(&root) {
            for e in entries.flatten() {
                let parent = e.path().join("libpod_parent");
                let _ = std::fs::remove_dir(parent.join("conmon"));
                let _ = std::fs::remove_dir(&parent);
            }
        }
        // runc's state root, when empty.
        let _ = std::fs::remove_dir("/run/runc");
    }
}
