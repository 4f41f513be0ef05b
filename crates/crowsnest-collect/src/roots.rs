//! Where the kernel's files are. Every path the collector opens starts at one of these roots.

use std::path::{Path, PathBuf};

/// The roots of the kernel's file trees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roots {
    /// cgroup root: `/sys/fs/cgroup` (`--cgroup-root`).
    pub cgroup: PathBuf,
    /// procfs: `/proc` (`--proc-root`).
    pub proc: PathBuf,
    /// sysfs: `/sys` (`--sys-root`).
    pub sys: PathBuf,
    /// Files tried in order for the machine id (`--machine-id-file`).
    pub machine_id_files: Vec<PathBuf>,
    /// os-release file for the OS version.
    pub os_release: PathBuf,
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
}
