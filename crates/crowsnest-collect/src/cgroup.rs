//! cgroups: the layout of the hierarchies, the parsers of their files, and the per-container
//! reader that keeps file descriptors open between passes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

pub mod parse;
pub mod reader;
pub mod spec;

pub use reader::CgroupReader;

/// Block device names by `(major, minor)`, e.g. `(254, 0)` → `/dev/vda`.
pub type DeviceNames = BTreeMap<(u64, u64), String>;

/// How the cgroup hierarchies are mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One v1 hierarchy per controller (or per group of co-mounted controllers).
    V1,
    /// The unified v2 hierarchy only.
    V2,
    /// v1 controllers plus a cgroup2 mount (usually `<root>/unified`) without controllers.
    Hybrid,
}

/// A v1 controller that crowsnest reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Controller {
    /// `cpu`: shares, CFS quota and throttling.
    Cpu,
    /// `cpuacct`: CPU time.
    Cpuacct,
    /// `cpuset`: allowed CPUs.
    Cpuset,
    /// `memory`.
    Memory,
    /// `pids`.
    Pids,
    /// `blkio`.
    Blkio,
    /// `hugetlb`.
    Hugetlb,
}

impl Controller {
    /// Every controller crowsnest reads.
    pub const ALL: [Controller; 7] = [
        Controller::Cpu,
        Controller::Cpuacct,
        Controller::Cpuset,
        Controller::Memory,
        Controller::Pids,
        Controller::Blkio,
        Controller::Hugetlb,
    ];

    /// The kernel's name of the controller.
    pub fn as_str(self) -> &'static str {
        match self {
            Controller::Cpu => "cpu",
            Controller::Cpuacct => "cpuacct",
            Controller::Cpuset => "cpuset",
            Controller::Memory => "memory",
            Controller::Pids => "pids",
            Controller::Blkio => "blkio",
            Controller::Hugetlb => "hugetlb",
        }
    }
}

/// Where each hierarchy is, found under the cgroup root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// v1, v2 or hybrid.
    pub mode: Mode,
    /// The configured root.
    pub root: PathBuf,
    /// v1: the mount directory of each controller (co-mounted controllers share one).
    pub v1: BTreeMap<Controller, PathBuf>,
    /// The cgroup2 directory: the root itself in v2 mode, `<root>/unified` in hybrid mode.
    pub unified: Option<PathBuf>,
}

impl Layout {
    /// Finds the layout under `root` by looking at the files there, so that fixture trees
    /// (plain directories) and real mounts are detected the same way:
    ///
    /// - `<root>/cgroup.controllers` exists: cgroup v2 unified.
    /// - `<root>/<controller>/cgroup.procs` exists for some controller (directories such as
    ///   `cpu,cpuacct` and their `cpu` symlinks included): v1, and hybrid when
    ///   `<root>/unified/cgroup.controllers` exists too.
    pub fn detect(root: &Path) -> Result<Layout> {
        if root.join("cgroup.controllers").is_file() {
            return Ok(Layout {
                mode: Mode::V2,
                root: root.to_owned(),
                v1: BTreeMap::new(),
                unified: Some(root.to_owned()),
            });
        }
        let entries = std::fs::read_dir(root).map_err(|e| Error::io(root, e))?;
        let mut v1 = BTreeMap::new();
        let mut dirs: Vec<(bool, String, PathBuf)> = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(root, e))?;
            let is_link = entry.file_type().is_ok_and(|t| t.is_symlink());
            let name = entry.file_name().to_string_lossy().into_owned();
            dirs.push((is_link, name, entry.path()));
        }
        // Real directories first, so that `cpu,cpuacct` wins over the `cpu` symlink to it.
        dirs.sort();
        for (_, name, path) in &dirs {
            if !path.join("cgroup.procs").is_file() || name == "unified" {
                continue;
            }
            for part in name.split(',') {
                if let Some(c) = Controller::ALL.into_iter().find(|c| c.as_str() == part) {
                    v1.entry(c).or_insert_with(|| path.clone());
                }
            }
        }
        let unified_dir = root.join("unified");
        let unified = unified_dir
            .join("cgroup.controllers")
            .is_file()
            .then_some(unified_dir);
        if v1.is_empty() {
            return Err(Error::NoCgroups {
                root: root.to_owned(),
                reason:
                    "no cgroup.controllers (v2) and no controller directory with cgroup.procs (v1)"
                        .into(),
            });
        }
        let mode = if unified.is_some() {
            Mode::Hybrid
        } else {
            Mode::V1
        };
        Ok(Layout {
            mode,
            root: root.to_owned(),
            v1,
            unified,
        })
    }

    /// The directory of container `name` (`/` or `/a/b`) in the hierarchy of `controller`
    /// (v1 and hybrid), or in the unified hierarchy (v2). `None` when that hierarchy is not
    /// mounted.
    pub fn dir(&self, controller: Controller, name: &str) -> Option<PathBuf> {
        let base = match self.mode {
            Mode::V2 => self.unified.as_ref()?,
            Mode::V1 | Mode::Hybrid => self.v1.get(&controller)?,
        };
        Some(join_name(base, name))
    }

    /// The directory of container `name` in the cgroup2 hierarchy, if there is one.
    pub fn unified_dir(&self, name: &str) -> Option<PathBuf> {
        self.unified.as_ref().map(|u| join_name(u, name))
    }

    /// The distinct hierarchy roots to list and watch for containers.
    pub fn hierarchies(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = Vec::new();
        for p in self.v1.values().chain(self.unified.iter()) {
            let canon = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
            if !out
                .iter()
                .any(|o| std::fs::canonicalize(o).unwrap_or_else(|_| o.clone()) == canon)
            {
                out.push(p.clone());
            }
        }
        out
    }
}

/// `base` joined with a container name (`/` is `base` itself).
pub fn join_name(base: &Path, name: &str) -> PathBuf {
    let rel = name.trim_start_matches('/');
    if rel.is_empty() {
        base.to_owned()
    } else {
        base.join(rel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "").unwrap();
    }

    #[test]
    fn detects_v2() {
        let d = tempfile::tempdir().unwrap();
        touch(&d.path().join("cgroup.controllers"));
        let l = Layout::detect(d.path()).unwrap();
        assert_eq!(l.mode, Mode::V2);
        assert_eq!(
            l.dir(Controller::Memory, "/a/b"),
            Some(d.path().join("a/b"))
        );
        assert_eq!(l.dir(Controller::Memory, "/"), Some(d.path().to_owned()));
    }

    #[test]
    fn detects_v1_with_comounted_controllers() {
        let d = tempfile::tempdir().unwrap();
        touch(&d.path().join("cpu,cpuacct/cgroup.procs"));
        touch(&d.path().join("memory/cgroup.procs"));
        std::os::unix::fs::symlink(d.path().join("cpu,cpuacct"), d.path().join("cpu")).unwrap();
        let l = Layout::detect(d.path()).unwrap();
        assert_eq!(l.mode, Mode::V1);
        assert_eq!(l.v1[&Controller::Cpu], d.path().join("cpu,cpuacct"));
        assert_eq!(l.v1[&Controller::Cpuacct], d.path().join("cpu,cpuacct"));
        assert_eq!(l.dir(Controller::Pids, "/x"), None);
        assert_eq!(l.hierarchies().len(), 2);
    }

    #[test]
    fn detects_hybrid() {
        let d = tempfile::tempdir().unwrap();
        touch(&d.path().join("memory/cgroup.procs"));
        touch(&d.path().join("unified/cgroup.controllers"));
        let l = Layout::detect(d.path()).unwrap();
        assert_eq!(l.mode, Mode::Hybrid);
        assert_eq!(l.unified_dir("/a"), Some(d.path().join("unified/a")));
        assert_eq!(l.hierarchies().len(), 2);
    }

    #[test]
    fn empty_root_is_a_clear_error() {
        let d = tempfile::tempdir().unwrap();
        let e = Layout::detect(d.path()).unwrap_err().to_string();
        assert!(e.contains("no cgroup hierarchy"), "{e}");
        let e = Layout::detect(&d.path().join("missing"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing"), "{e}");
    }
}
