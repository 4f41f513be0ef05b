//! Listing the containers: every cgroup directory of every hierarchy is a container, named by
//! its path below the hierarchy's root (`/`, `/system.slice/sshd.service`, `/docker/<id>`).
//! `*.mount` directories are skipped, as cAdvisor does.

use std::collections::BTreeSet;
use std::path::Path;

use crate::cgroup::Layout;
use crate::{Error, Result};

/// Deepest cgroup nesting followed (the kernel allows deeper trees only when told to).
pub const MAX_DEPTH: usize = 32;

/// Whether a cgroup directory name is ignored (`*.mount`, as cAdvisor's systemd handler).
pub fn is_ignored(dir_name: &str) -> bool {
    dir_name.ends_with(".mount")
}

/// All container names found in any hierarchy of `layout`, `/` included.
pub fn list_containers(layout: &Layout) -> Result<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    names.insert("/".to_owned());
    for root in layout.hierarchies() {
        walk(&root, "", 0, &mut names)?;
    }
    Ok(names)
}

/// Adds `prefix` + every subdirectory of `dir` (recursively) to `names`.
pub fn walk(dir: &Path, prefix: &str, depth: usize, names: &mut BTreeSet<String>) -> Result<()> {
    if depth >= MAX_DEPTH {
        return Ok(());
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        // Removed while we walked: nothing below it.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    for entry in entries {
        let Ok(entry) = entry else { continue };
        let Ok(ft) = entry.file_type() else { continue };
        if !ft.is_dir() {
            continue;
        }
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        if is_ignored(file_name) {
            continue;
        }
        let name = format!("{prefix}/{file_name}");
        walk(&entry.path(), &name, depth + 1, names)?;
        names.insert(name);
    }
    Ok(())
}

/// Whether container `name` still has a directory in any hierarchy of `layout`.
pub fn exists(layout: &Layout, name: &str) -> bool {
    layout
        .hierarchies()
        .iter()
        .any(|h| crate::cgroup::join_name(h, name).is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_nested_cgroups_of_every_hierarchy_and_skips_mounts() {
        let d = tempfile::tempdir().unwrap();
        for p in [
            "memory/cgroup.procs",
            "memory/system.slice/sshd.service/cgroup.procs",
            "memory/system.slice/boot.mount/cgroup.procs",
            "pids/cgroup.procs",
            "pids/docker/abc/cgroup.procs",
        ] {
            let p = d.path().join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "").unwrap();
        }
        let layout = Layout::detect(d.path()).unwrap();
        let names: Vec<String> = list_containers(&layout).unwrap().into_iter().collect();
        assert_eq!(
            names,
            [
                "/",
                "/docker",
                "/docker/abc",
                "/system.slice",
                "/system.slice/sshd.service"
            ]
        );
        assert!(exists(&layout, "/docker/abc"));
        assert!(!exists(&layout, "/docker/zzz"));
    }
}
