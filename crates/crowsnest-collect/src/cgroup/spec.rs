//! A container's limits and creation time from its cgroup files (cAdvisor's `getSpecInternal`
//! in `container/common/helpers.go`). Read rarely, so files are opened fresh each time.
//!
//! The `spec` row of shared/reference/cadvisor.md §5.3: v1 `cpu.shares`, `cpu.cfs_quota_us`,
//! `cpu.cfs_period_us`, `cpuset.cpus`, `memory.limit_in_bytes`, `memory.soft_limit_in_bytes`,
//! `memory.memsw.limit_in_bytes`, `pids.max`; v2 `cpu.weight`, `cpu.max`,
//! `cpuset.cpus.effective`, `memory.max`, `memory.min`, `memory.swap.max`, `pids.max`. A file
//! that is not there leaves its field at 0 (the spec's "not set"); `has_network`,
//! `has_filesystem`, labels, image and the machine-wide limits of `/` are the caller's.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crowsnest_core::Timestamp;
use crowsnest_core::model::ContainerSpec;

use super::parse::{self, ParseResult};
use super::{Controller, Layout, Mode};
use crate::{Error, Result};

/// Reads the spec of container `name` (`/` or `/a/b`).
///
/// # Errors
///
/// [`Error::Gone`] when the container's directory is in no hierarchy; [`Error::Io`] or
/// [`Error::Parse`] naming the file otherwise.
pub fn read_spec(layout: &Layout, name: &str) -> Result<ContainerSpec> {
    let mut spec = ContainerSpec {
        creation_time: creation_time(layout, name)?,
        ..Default::default()
    };
    match layout.mode {
        Mode::V2 => {
            if let Some(dir) = layout.unified_dir(name) {
                v2(&dir, &mut spec)?;
            }
        }
        Mode::V1 | Mode::Hybrid => v1(layout, name, &mut spec)?,
    }
    Ok(spec)
}

/// The oldest mtime among the container's directories in every hierarchy and, inside them,
/// `cgroup.clone_children` (v1) or `cgroup.events` (v2): a directory's own mtime changes when a
/// child is created, those files' do not.
fn creation_time(layout: &Layout, name: &str) -> Result<Timestamp> {
    let v1 = layout
        .v1
        .keys()
        .filter_map(|c| layout.dir(*c, name))
        .map(|d| (d, "cgroup.clone_children"));
    let v2 = layout.unified_dir(name).map(|d| (d, "cgroup.events"));
    let mut dirs: Vec<(PathBuf, &str)> = Vec::new();
    for (dir, file) in v1.chain(v2) {
        if !dirs.iter().any(|(d, _)| *d == dir) {
            dirs.push((dir, file));
        }
    }
    let mut oldest: Option<SystemTime> = None;
    let mut found = false;
    for (dir, file) in &dirs {
        let Some(t) = mtime(dir)? else { continue };
        found = true;
        let times = std::iter::once(t).chain(mtime(&dir.join(file))?);
        for t in times {
            oldest = Some(oldest.map_or(t, |o| o.min(t)));
        }
    }
    if !found {
        return Err(Error::Gone {
            name: name.to_owned(),
        });
    }
    let nanos = oldest
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    Ok(nanos.map(Timestamp).unwrap_or_default())
}

/// The mtime of `path`; `None` when it does not exist.
fn mtime(path: &Path) -> Result<Option<SystemTime>> {
    match std::fs::metadata(path).and_then(|m| m.modified()) {
        Ok(t) => Ok(Some(t)),
        Err(e) if not_found(&e) => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

fn not_found(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR)
}

/// The text of `dir/file`; `None` when it does not exist.
fn read(dir: &Path, file: &str) -> Result<Option<String>> {
    let path = dir.join(file);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if not_found(&e) => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// `dir/file` through `parser`; `None` when the file does not exist.
fn read_with<T>(dir: &Path, file: &str, parser: fn(&str) -> ParseResult<T>) -> Result<Option<T>> {
    match read(dir, file)? {
        Some(text) => parser(&text).map(Some).map_err(|e| e.at(dir.join(file))),
        None => Ok(None),
    }
}

fn exists(dir: &Path, file: &str) -> bool {
    dir.join(file).exists()
}

fn v1(layout: &Layout, name: &str, spec: &mut ContainerSpec) -> Result<()> {
    let dir = |c| layout.dir(c, name).filter(|d| d.is_dir());
    if let Some(d) = dir(Controller::Cpu) {
        spec.has_cpu = true;
        if let Some(v) = read_with(&d, "cpu.shares", parse::single_u64)? {
            spec.cpu.limit = v;
        }
        if let Some(v) = read_with(&d, "cpu.cfs_quota_us", parse::cfs_quota_us)? {
            spec.cpu.quota = v;
        }
        if let Some(v) = read_with(&d, "cpu.cfs_period_us", parse::single_u64)? {
            spec.cpu.period = v;
        }
    }
    if dir(Controller::Cpuacct).is_some() {
        spec.has_cpu = true;
    }
    if let Some(d) = dir(Controller::Cpuset) {
        spec.has_cpu = true;
        if let Some(mask) = read(&d, "cpuset.cpus")? {
            parse::cpuset(&mask).clone_into(&mut spec.cpu.mask);
        }
    }
    if let Some(d) = dir(Controller::Memory) {
        spec.has_memory = true;
        if let Some(v) = read_with(&d, "memory.limit_in_bytes", parse::single_u64)? {
            spec.memory.limit = v;
        }
        if let Some(v) = read_with(&d, "memory.soft_limit_in_bytes", parse::single_u64)? {
            spec.memory.reservation = v;
        }
        if let Some(v) = read_with(&d, "memory.memsw.limit_in_bytes", parse::single_u64)? {
            spec.memory.swap_limit = v;
        }
    }
    if let Some(d) = dir(Controller::Pids) {
        spec.has_processes = true;
        if let Some(v) = read_with(&d, "pids.max", parse::pids_max)? {
            spec.processes.limit = v;
        }
    }
    spec.has_diskio = dir(Controller::Blkio).is_some();
    Ok(())
}

fn v2(dir: &Path, spec: &mut ContainerSpec) -> Result<()> {
    spec.has_cpu = ["cpu.stat", "cpu.weight", "cpu.max"]
        .iter()
        .any(|f| exists(dir, f));
    if let Some(w) = read_with(dir, "cpu.weight", parse::single_u64)? {
        let shares = parse::cpu_weight_to_shares(w);
        spec.cpu.limit = shares.ok_or_else(|| {
            Error::parse(
                dir.join("cpu.weight"),
                format!("weight {w} is outside 1..=10000"),
            )
        })?;
    }
    if let Some(max) = read_with(dir, "cpu.max", parse::cpu_max)? {
        if let Some(q) = max.quota {
            spec.cpu.quota = q;
        }
        spec.cpu.period = max.period;
    }
    if let Some(mask) = read(dir, "cpuset.cpus.effective")? {
        parse::cpuset(&mask).clone_into(&mut spec.cpu.mask);
    }
    spec.has_memory = exists(dir, "memory.max") || exists(dir, "memory.stat");
    if let Some(v) = read_with(dir, "memory.max", parse::limit)? {
        spec.memory.limit = v;
    }
    if let Some(v) = read_with(dir, "memory.min", parse::limit)? {
        spec.memory.reservation = v;
    }
    if let Some(v) = read_with(dir, "memory.swap.max", parse::limit)? {
        spec.memory.swap_limit = v;
    }
    spec.has_processes = exists(dir, "pids.max") || exists(dir, "pids.current");
    if let Some(v) = read_with(dir, "pids.max", parse::pids_max)? {
        spec.processes.limit = v;
    }
    spec.has_diskio = exists(dir, "io.stat");
    Ok(())
}
