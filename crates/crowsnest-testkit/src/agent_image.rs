//! The crowsnest binary as a Docker image, to run the agent the way the seeds run cAdvisor:
//! a `FROM scratch` image started with the host mounted at `/rootfs`, `/var/run`, `/sys` and
//! `/var/lib/docker` ([`CADVISOR_MOUNTS`]).
//!
//! The image is made at test time from the binary cargo built (a test of the `crowsnest`
//! crate passes `env!("CARGO_BIN_EXE_crowsnest")`): the binary, without its debug sections
//! when `strip` is there, and, when it is dynamically linked, exactly the shared libraries
//! and the loader `ldd` names for it, copied from this machine into the build context at the
//! paths `ldd` gives. Nothing of them is kept in the repository.
//!
//! Its tag is `crowsnest-agent-test:<hash>`, the hash of the binary's path, size and
//! modification time, so a rebuilt binary gets a new image. Within one test process the image
//! is built once and shared by every [`AgentImage`] alive; when the last one is dropped the
//! tag is removed (`docker rmi`, which Docker refuses while any container still uses it).
//! An image with the tag already there (left by a run that was killed) is reused as it is.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, PoisonError};

use crate::docker::{self, docker, docker_ok, unique_name};
use crate::missing;

/// Repository name of the images made here.
pub const REPOSITORY: &str = "crowsnest-agent-test";

/// The mounts cAdvisor's documentation and the seeds give `docker run` (no `--privileged`,
/// no `--pid=host`).
pub const CADVISOR_MOUNTS: [&str; 8] = [
    "-v",
    "/:/rootfs:ro",
    "-v",
    "/var/run:/var/run:ro",
    "-v",
    "/sys:/sys:ro",
    "-v",
    "/var/lib/docker/:/var/lib/docker:ro",
];

/// Holders of each tag in this process.
static HOLDERS: Mutex<Option<HashMap<String, usize>>> = Mutex::new(None);

/// The agent image; the tag is removed when the last holder in this process drops it.
#[derive(Debug)]
pub struct AgentImage {
    tag: String,
}

impl AgentImage {
    /// The image of `binary` (built now unless this process already holds it or Docker has
    /// the tag). `None`, after [`missing`], when Docker, `ldd` or the binary is not there.
    pub fn get(binary: &Path) -> Option<AgentImage> {
        if !docker::available() {
            return None;
        }
        let meta = match std::fs::metadata(binary) {
            Ok(m) => m,
            Err(e) => {
                missing(&format!(
                    "the crowsnest binary at {} ({e})",
                    binary.display()
                ));
                return None;
            }
        };
        let identity = format!(
            "{}|{}|{}.{}",
            binary.display(),
            meta.len(),
            meta.mtime(),
            meta.mtime_nsec()
        );
        let tag = format!("{REPOSITORY}:{:016x}", fnv1a(identity.as_bytes()));
        let mut holders = HOLDERS.lock().unwrap_or_else(PoisonError::into_inner);
        let holders = holders.get_or_insert_with(HashMap::new);
        let count = holders.entry(tag.clone()).or_insert(0);
        if *count == 0 {
            let present = docker(&["image", "inspect", "--format", "{{.Id}}", &tag])
                .status
                .success();
            if !present && let Err(e) = build(binary, &tag) {
                holders.remove(&tag);
                missing(&e);
                return None;
            }
        }
        *holders.get_mut(&tag).expect("inserted above") += 1;
        Some(AgentImage { tag })
    }

    /// `crowsnest-agent-test:<hash>`.
    pub fn tag(&self) -> &str {
        &self.tag
    }
}

impl Drop for AgentImage {
    fn drop(&mut self) {
        let mut holders = HOLDERS.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(holders) = holders.as_mut() else {
            return;
        };
        let last = holders.get_mut(&self.tag).is_none_or(|c| {
            *c = c.saturating_sub(1);
            *c == 0
        });
        if last {
            holders.remove(&self.tag);
            let _ = docker(&["rmi", &self.tag]);
        }
    }
}

/// FNV-1a, 64 bits: a stable hash for the tag (std's hasher may change between releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The shared libraries and loader `ldd` names for `binary`; empty for a static binary.
pub fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>, String> {
    let out = Command::new("ldd")
        .arg(binary)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("ldd (libc-bin) to list the binary's libraries ({e})"))?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if text.contains("not a dynamic executable") || text.contains("statically linked") {
        return Ok(Vec::new());
    }
    if !out.status.success() {
        return Err(format!("a working ldd on {}: {text}", binary.display()));
    }
    let mut libs = Vec::new();
    for line in text.lines() {
        // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)`, `/lib64/ld-linux... (0x...)`,
        // `linux-vdso.so.1 (0x...)` (in the kernel, no file).
        let path = match line.split_once("=>") {
            Some((name, rest)) => {
                let p = rest.split_whitespace().next().unwrap_or("");
                if p == "not" {
                    return Err(format!("{} for the binary (ldd: {line})", name.trim()));
                }
                p
            }
            None => line.split_whitespace().next().unwrap_or(""),
        };
        if path.starts_with('/') {
            libs.push(PathBuf::from(path));
        }
    }
    Ok(libs)
}

/// Builds `tag` from `binary`; the error says what is missing.
fn build(binary: &Path, tag: &str) -> Result<(), String> {
    let libs = shared_libraries(binary)?;
    let ctx = tempfile::tempdir().map_err(|e| format!("a temp dir ({e})"))?;
    let root = ctx.path().join("rootfs");
    for d in ["tmp", "var/lib", "etc"] {
        std::fs::create_dir_all(root.join(d)).map_err(|e| format!("a rootfs dir ({e})"))?;
    }
    let target = root.join("crowsnest");
    let stripped = Command::new("strip")
        .arg("--strip-debug")
        .arg("-o")
        .arg(&target)
        .arg(binary)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !stripped {
        std::fs::copy(binary, &target).map_err(|e| format!("a copy of the binary ({e})"))?;
    }
    let mut dirs: Vec<String> = Vec::new();
    for lib in &libs {
        let dest = root.join(lib.strip_prefix("/").unwrap_or(lib));
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("a library dir ({e})"))?;
        }
        // `copy` follows the symlinks `ldd` names (libc.so.6 -> libc-2.36.so) to the file.
        std::fs::copy(lib, &dest).map_err(|e| format!("{} ({e})", lib.display()))?;
        if let Some(dir) = lib.parent().and_then(Path::to_str)
            && !dirs.iter().any(|d| d == dir)
        {
            dirs.push(dir.to_owned());
        }
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/:/crowsnest\n")
        .map_err(|e| format!("/etc/passwd ({e})"))?;
    let mut dockerfile = String::from("FROM scratch\nCOPY rootfs/ /\n");
    if !dirs.is_empty() {
        dockerfile.push_str(&format!("ENV LD_LIBRARY_PATH={}\n", dirs.join(":")));
    }
    dockerfile.push_str("EXPOSE 8080\nENTRYPOINT [\"/crowsnest\"]\nCMD [\"agent\"]\n");
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile)
        .map_err(|e| format!("a Dockerfile ({e})"))?;
    let out = Command::new("timeout")
        .args(["300", "docker", "build", "-q", "-t", tag])
        .arg(ctx.path())
        // The classic builder: FROM scratch needs no registry and no BuildKit frontend.
        .env("DOCKER_BUILDKIT", "0")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("docker build ({e})"))?;
    if !out.status.success() {
        return Err(format!(
            "docker build of the agent image to work ({})",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// A container of the agent image, removed (`docker rm -f -v`) on drop.
#[derive(Debug)]
pub struct AgentContainer {
    name: String,
    id: String,
}

impl AgentContainer {
    /// `docker run -d --name crowsnest-test-<pid>-<n> <CADVISOR_MOUNTS> <options> <image>
    /// <args>`: `args` go to the binary (e.g. `agent --housekeeping-interval=1s`).
    pub fn run(image: &AgentImage, options: &[&str], args: &[&str]) -> AgentContainer {
        let name = unique_name();
        let mut argv: Vec<&str> = vec!["run", "-d", "--name", &name];
        argv.extend_from_slice(&CADVISOR_MOUNTS);
        argv.extend_from_slice(options);
        argv.push(image.tag());
        argv.extend_from_slice(args);
        let out = docker(&argv);
        let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        // Removed on drop even when `run` failed half-way.
        let failed = format!(
            "docker {argv:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let c = AgentContainer { name, id };
        assert!(out.status.success() && docker::is_id(&c.id), "{failed}");
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

    /// `docker inspect -f <format>`.
    pub fn inspect(&self, format: &str) -> String {
        docker_ok(&["inspect", "-f", format, &self.id])
    }

    /// The address `docker run -p 127.0.0.1::<port>` published for the container's `port`.
    pub fn published(&self, port: u16) -> Option<std::net::SocketAddr> {
        let out = docker(&["port", &self.id, &format!("{port}/tcp")]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.trim().parse().ok())
    }

    /// The container's address on Docker network `network`.
    pub fn ip(&self, network: &str) -> Option<std::net::IpAddr> {
        self.inspect(&format!(
            "{{{{with index .NetworkSettings.Networks \"{network}\"}}}}{{{{.IPAddress}}}}{{{{end}}}}"
        ))
        .parse()
        .ok()
    }

    /// The last `lines` of the agent's log (for a failing test's message).
    pub fn logs(&self, lines: usize) -> String {
        let out = docker(&["logs", "--tail", &lines.to_string(), &self.id]);
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }

    /// `docker <verb> <container>` (`stop`, `start`, `restart`), panicking when it fails.
    pub fn lifecycle(&self, verb: &str) {
        let mut args = vec![verb];
        if verb != "start" {
            args.extend(["-t", "5"]);
        }
        args.push(&self.id);
        docker_ok(&args);
    }
}

impl Drop for AgentContainer {
    fn drop(&mut self) {
        let target = if self.id.is_empty() {
            &self.name
        } else {
            &self.id
        };
        let _ = docker(&["rm", "-f", "-v", target]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_names_this_test_binary_libraries_or_none() {
        let me = std::env::current_exe().unwrap();
        let Ok(libs) = shared_libraries(&me) else {
            return missing("ldd");
        };
        for l in &libs {
            assert!(l.is_absolute() && l.exists(), "{}", l.display());
        }
        // A dynamically linked glibc binary has a loader among them.
        if !libs.is_empty() {
            assert!(
                libs.iter()
                    .any(|l| l.to_string_lossy().contains("ld-linux")),
                "{libs:?}"
            );
        }
        assert_ne!(fnv1a(b"a"), fnv1a(b"b"));
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
    }
}
