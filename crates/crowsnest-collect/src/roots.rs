//! Where the kernel's files are. Every path the collector opens starts at one of these roots.
//!
//! On a host the roots are `/sys/fs/cgroup`, `/proc` and `/sys`. In a container started the
//! way cAdvisor is (`-v /:/rootfs:ro -v /sys:/sys:ro -v /var/run:/var/run:ro
//! -v /var/lib/docker/:/var/lib/docker:ro`, without `--pid=host`), the container's own `/proc`
//! only shows its own processes, so everything read per pid (a container's
//! `/proc/<pid>/net/dev`, the host's mount table) is read from the host's procfs at
//! `/rootfs/proc` instead, as cAdvisor does: see [`Roots::with_rootfs`] and [`detect_rootfs`].

use std::ffi::CString;
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Where a container started like cAdvisor sees the host's `/`.
pub const CONTAINER_ROOTFS: &str = "/rootfs";

/// `PROC_SUPER_MAGIC` of `statfs(2)`: the filesystem is a procfs.
const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// The roots of the kernel's file trees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roots {
    /// cgroup root: `/sys/fs/cgroup` (`--cgroup-root`).
    pub cgroup: PathBuf,
    /// procfs: `/proc` (`--proc-root`); `<rootfs>/proc` under a rootfs.
    pub proc: PathBuf,
    /// sysfs: `/sys` (`--sys-root`).
    pub sys: PathBuf,
    /// Files tried in order for the machine id (`--machine-id-file`).
    pub machine_id_files: Vec<PathBuf>,
    /// os-release file for the OS version (that of the agent's own filesystem, as cAdvisor's
    /// `containerOsVersion`).
    pub os_release: PathBuf,
    /// The host's `/` as this process sees it (`--rootfs`): `/` on the host, `/rootfs` in a
    /// container started like cAdvisor. Host paths read from host files (the mount points
    /// of the host's `mountinfo`) are looked up under it ([`Roots::host_path`]).
    pub rootfs: PathBuf,
}

impl Default for Roots {
    fn default() -> Self {
        Roots {
            cgroup: PathBuf::from("/sys/fs/cgroup"),
            proc: PathBuf::from("/proc"),
            sys: PathBuf::from("/sys"),
            machine_id_files: vec![
                PathBuf::from("/etc/machine-id"),
                PathBuf::from("/var/lib/dbus/machine-id"),
            ],
            os_release: PathBuf::from("/etc/os-release"),
            rootfs: PathBuf::from("/"),
        }
    }
}

impl Roots {
    /// A path under the proc root, e.g. `proc_path("meminfo")`.
    pub fn proc_path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.proc.join(rel)
    }

    /// A path under the sys root, e.g. `sys_path("class/net")`.
    pub fn sys_path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.sys.join(rel)
    }

    /// Where the host's absolute `path` is seen from here: `<rootfs>/<path>`, or `path`
    /// itself when the rootfs is `/`.
    pub fn host_path(&self, path: &Path) -> PathBuf {
        if self.rootfs == Path::new("/") {
            return path.to_owned();
        }
        self.rootfs.join(path.strip_prefix("/").unwrap_or(path))
    }

    /// These roots for an agent that sees the host's `/` at `rootfs`, as cAdvisor does with
    /// its `/rootfs`: procfs becomes `<rootfs>/proc` when it was left at `/proc` (so that
    /// per-pid files name the host's pids, with no `--pid=host`), and the machine id files
    /// are read under `rootfs`. The cgroup and sys roots stay (a container mounts the host's
    /// `/sys` at `/sys`), and so does the os-release file (the agent's own, as cAdvisor's
    /// `containerOsVersion`). A rootfs of `/` changes nothing.
    pub fn with_rootfs(mut self, rootfs: &Path) -> Roots {
        self.rootfs = rootfs.to_owned();
        if rootfs == Path::new("/") {
            return self;
        }
        if self.proc == Path::new("/proc") {
            self.proc = rootfs.join("proc");
        }
        self.machine_id_files = self
            .machine_id_files
            .iter()
            .map(|f| self.host_path(f))
            .collect();
        self
    }
}

/// The host's `/` for an agent started without `--rootfs`: [`CONTAINER_ROOTFS`] when
/// `/rootfs/proc` is a mounted procfs and this process runs in a container, `/` otherwise.
pub fn detect_rootfs() -> PathBuf {
    let candidate = Path::new(CONTAINER_ROOTFS);
    if rootfs_in_container(candidate, Path::new("/")) {
        candidate.to_owned()
    } else {
        PathBuf::from("/")
    }
}

/// Whether `candidate` holds the host's `/` for a process whose own `/` is `own_root`: its
/// `proc` is a mounted procfs, and this process runs in a container, told by the files
/// Docker and Podman put at the container's root (`/.dockerenv`, `/run/.containerenv`), the
/// `container` environment variable (systemd-nspawn, Podman, LXC), or `<candidate>/proc`
/// being the procfs of another pid namespace than this process's (its `self` names another
/// pid: a container of any runtime without `--pid=host`).
pub fn rootfs_in_container(candidate: &Path, own_root: &Path) -> bool {
    let proc = candidate.join("proc");
    if !is_procfs(&proc) {
        return false;
    }
    let marked = [".dockerenv", "run/.containerenv"]
        .iter()
        .any(|m| own_root.join(m).exists())
        || std::env::var_os("container").is_some_and(|v| !v.is_empty());
    marked || other_pid_namespace(&proc)
}

/// Whether the procfs at `proc` belongs to another pid namespace than this process's: the
/// pid its `self` link names is not ours.
fn other_pid_namespace(proc: &Path) -> bool {
    std::fs::read_link(proc.join("self"))
        .ok()
        .and_then(|p| p.to_str()?.parse::<u32>().ok())
        .is_some_and(|pid| pid != std::process::id())
}

/// Whether `path` is the root of a mounted procfs.
fn is_procfs(path: &Path) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    let mut buf = MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `c` is a NUL-terminated string that outlives the call, and `buf` is valid for
    // writes of one `statfs`, which is all the call writes.
    let rc = unsafe { libc::statfs(c.as_ptr(), buf.as_mut_ptr()) };
    if rc != 0 {
        return false;
    }
    // SAFETY: statfs returned 0, so it filled in the whole struct.
    let st = unsafe { buf.assume_init() };
    #[allow(
        clippy::unnecessary_cast,
        reason = "f_type is i64 on x86_64 and u32 or i32 elsewhere"
    )]
    let magic = st.f_type as i64;
    magic == PROC_SUPER_MAGIC
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rootfs_of_slash_changes_nothing() {
        let r = Roots::default().with_rootfs(Path::new("/"));
        assert_eq!(r, Roots::default());
        assert_eq!(r.host_path(Path::new("/var/lib")), Path::new("/var/lib"));
    }

    #[test]
    fn a_rootfs_moves_proc_and_machine_id_but_not_sys_or_cgroups() {
        let r = Roots::default().with_rootfs(Path::new("/rootfs"));
        assert_eq!(r.proc, Path::new("/rootfs/proc"));
        assert_eq!(
            r.proc_path("1/net/dev"),
            Path::new("/rootfs/proc/1/net/dev")
        );
        assert_eq!(
            r.machine_id_files,
            [
                Path::new("/rootfs/etc/machine-id"),
                Path::new("/rootfs/var/lib/dbus/machine-id")
            ]
        );
        assert_eq!(r.cgroup, Path::new("/sys/fs/cgroup"));
        assert_eq!(r.sys, Path::new("/sys"));
        assert_eq!(r.os_release, Path::new("/etc/os-release"));
        assert_eq!(r.host_path(Path::new("/")), Path::new("/rootfs"));
        assert_eq!(
            r.host_path(Path::new("/boot/efi")),
            Path::new("/rootfs/boot/efi")
        );
        // A --proc-root given on purpose is kept.
        let r = Roots {
            proc: PathBuf::from("/host/proc"),
            ..Roots::default()
        }
        .with_rootfs(Path::new("/rootfs"));
        assert_eq!(r.proc, Path::new("/host/proc"));
    }

    #[test]
    fn detection_needs_a_procfs_and_a_container() {
        // No proc below: not a rootfs.
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("proc")).unwrap();
        std::fs::write(dir.path().join(".dockerenv"), "").unwrap();
        assert!(!rootfs_in_container(dir.path(), dir.path()));
        // This machine's own procfs, seen from a root without container marks: the procfs
        // is ours (same pid namespace), so this is no container's view of a host. Tests run
        // on a host, or in a container whose /proc is its own.
        let own = Path::new("/");
        assert!(is_procfs(Path::new("/proc")));
        assert!(!other_pid_namespace(Path::new("/proc")));
        let marks = own.join(".dockerenv").exists()
            || own.join("run/.containerenv").exists()
            || std::env::var_os("container").is_some();
        assert_eq!(rootfs_in_container(own, own), marks);
        // With a container mark next to a real procfs, it is one.
        assert!(rootfs_in_container(own, dir.path()));
    }
}
