//! Filesystem usage of runtime containers (`container_fs_usage_bytes`, inodes): their writable
//! layer and logs, walked on a thread of its own, never on the housekeeping thread.
//!
//! One walk at a time, paced to the budget's entries per second across all walks
//! ([`crowsnest_collect::du::measure`]), with a pause between walks. Each container is walked
//! again every `--disk-usage-interval`; its last result is kept and copied into every sample
//! in between. A walk that was long (over a second of work, or a tenth of the entry bound)
//! doubles that container's interval, up to 20 times (cAdvisor's `du` back-off); a short one
//! brings it back. A tree too large or too slow for the budget is given up: the container's
//! usage is then absent (never 0), the reason logged once and counted
//! (`crowsnest_disk_usage_skipped_total`), and it is tried again only after 20 intervals.
//!
//! Each result is one `FsStats` per filesystem the trees lie on (normally one): the device
//! and its size from the host's mounts, `usage` the bytes of layer and logs, `base_usage` the
//! layer's, `inodes` their inode count; `inodes_free` is not known per container and stays
//! absent.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crowsnest_collect::Roots;
use crowsnest_collect::du::{self, Budget, Measured, RealPace, WalkError};
use crowsnest_collect::fs::{self as cfs, Mount};
use crowsnest_collect::runtime::Storage;
use crowsnest_core::model::FsStats;

use super::Manager;
use crate::self_metrics::DiskUsageMetrics;
use crate::state::Shared;

/// Most a long walk's interval grows, in base intervals (cAdvisor's `maxDuBackoffFactor`).
const MAX_BACKOFF: u32 = 20;

/// Work time beyond which a walk counts as long (cAdvisor's `longDu`).
const LONG_WALK: Duration = Duration::from_secs(1);

/// Least pause between two walks, so many small trees still cost little.
const MIN_PAUSE: Duration = Duration::from_millis(10);

/// Longest the thread waits before looking at its stop flag.
const POLL: Duration = Duration::from_millis(200);

/// How often the host's mounts may be re-read when a tree is on an unknown device.
const MOUNTS_REFRESH: Duration = Duration::from_secs(60);

enum Command {
    Track { name: String, storage: Storage },
    Forget { name: String },
}

/// A finished walk: the container's filesystems, or why its usage is absent.
#[derive(Debug)]
pub(super) struct Report {
    pub(super) name: String,
    pub(super) result: Result<Vec<FsStats>, String>,
}

/// The walker thread and its channels.
pub(super) struct DiskUsage {
    commands: Sender<Command>,
    reports: Receiver<Report>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// What each tracked container was last given, so repeats are not sent.
    tracked: HashMap<String, Storage>,
}

impl std::fmt::Debug for DiskUsage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskUsage")
            .field("tracked", &self.tracked.len())
            .finish()
    }
}

impl DiskUsage {
    /// Starts the walker thread; `None` (logged) when it cannot be spawned.
    pub(super) fn start(
        interval: Duration,
        budget: Budget,
        roots: Roots,
        shared: Shared,
    ) -> Option<DiskUsage> {
        let (commands, commands_rx) = mpsc::channel();
        let (reports_tx, reports) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let spawned = std::thread::Builder::new()
            .name("disk-usage".to_owned())
            .spawn(move || {
                let mut w = Walker {
                    schedule: Schedule::new(interval, budget.max_entries),
                    budget,
                    roots,
                    mounts: Vec::new(),
                    mounts_read: None,
                    shared,
                    logged: HashSet::new(),
                };
                w.run(&commands_rx, &reports_tx, &st);
            });
        match spawned {
            Ok(t) => Some(DiskUsage {
                commands,
                reports,
                stop,
                thread: Some(t),
                tracked: HashMap::new(),
            }),
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the filesystem usage walker; containers report no filesystem usage");
                None
            }
        }
    }

    /// Walks `storage` for container `name` from now on (again at once if it changed).
    pub(super) fn track(&mut self, name: &str, storage: &Storage) {
        if self.tracked.get(name) == Some(storage) {
            return;
        }
        self.tracked.insert(name.to_owned(), storage.clone());
        let _ = self.commands.send(Command::Track {
            name: name.to_owned(),
            storage: storage.clone(),
        });
    }

    /// Stops walking container `name`.
    pub(super) fn forget(&mut self, name: &str) {
        if self.tracked.remove(name).is_some() {
            let _ = self.commands.send(Command::Forget {
                name: name.to_owned(),
            });
        }
    }

    /// The walks finished since the last call, without waiting.
    fn drain(&mut self, out: &mut Vec<Report>) {
        for _ in 0..10_000 {
            match self.reports.try_recv() {
                Ok(r) => out.push(r),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return,
            }
        }
    }
}

impl Drop for DiskUsage {
    /// Tells the thread to stop; it notices within one slice of a walk. Not waited for.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take();
    }
}

impl Manager {
    /// Keeps the walks that finished: each container's filesystems for its next samples, or
    /// nothing (absent) when its walk was given up.
    pub(super) fn apply_disk_usage(&mut self) {
        let Some(disk) = self.disk.as_mut() else {
            return;
        };
        let mut reports = Vec::new();
        disk.drain(&mut reports);
        for r in reports {
            if let Some(t) = self.tracked.get_mut(&r.name) {
                t.disk = r.result.ok();
            }
        }
    }

    /// Starts or stops walking `name` after its runtime answered.
    pub(super) fn track_disk_usage(&mut self, name: &str, storage: &Storage) {
        let Some(disk) = self.disk.as_mut() else {
            return;
        };
        if storage.is_empty() {
            disk.forget(name);
            if let Some(t) = self.tracked.get_mut(name) {
                t.disk = None;
            }
        } else {
            disk.track(name, storage);
        }
    }
}

/// One container's place in the walk schedule.
#[derive(Debug, Clone)]
struct Entry {
    storage: Storage,
    due: Instant,
    /// Its interval now: the base one, or more after long walks.
    period: Duration,
    /// Why its usage is absent, while it is skipped as too expensive.
    skipped: Option<&'static str>,
}

/// What the walker knows of every container: when each is due, and its back-off.
#[derive(Debug)]
struct Schedule {
    base: Duration,
    /// A walk of more entries than this counts as long.
    long_entries: u64,
    entries: HashMap<String, Entry>,
}

impl Schedule {
    fn new(base: Duration, max_entries: u64) -> Schedule {
        Schedule {
            base,
            long_entries: (max_entries / 10).max(1),
            entries: HashMap::new(),
        }
    }

    /// Adds a container, due at once; one whose trees changed is due at once too.
    fn track(&mut self, name: String, storage: Storage, now: Instant) {
        match self.entries.get_mut(&name) {
            Some(e) if e.storage == storage => {}
            Some(e) => {
                *e = Entry {
                    storage,
                    due: now,
                    period: self.base,
                    skipped: None,
                };
            }
            None => {
                self.entries.insert(
                    name,
                    Entry {
                        storage,
                        due: now,
                        period: self.base,
                        skipped: None,
                    },
                );
            }
        }
    }

    fn forget(&mut self, name: &str) -> Option<Entry> {
        self.entries.remove(name)
    }

    /// The container due first, and when.
    fn next(&self) -> Option<(&str, Instant)> {
        self.entries
            .iter()
            .min_by(|a, b| a.1.due.cmp(&b.1.due).then_with(|| a.0.cmp(b.0)))
            .map(|(n, e)| (n.as_str(), e.due))
    }

    fn max_period(&self) -> Duration {
        self.base.saturating_mul(MAX_BACKOFF)
    }

    /// Records how the walk of `name` went and when it is due again. Returns whether the
    /// container just became skipped (to log it once).
    fn finished(
        &mut self,
        name: &str,
        outcome: &Result<Measured, WalkError>,
        now: Instant,
    ) -> bool {
        let max = self.max_period();
        let (base, long_entries) = (self.base, self.long_entries);
        let Some(e) = self.entries.get_mut(name) else {
            return false;
        };
        let mut newly_skipped = false;
        match outcome {
            Ok(m) => {
                e.skipped = None;
                e.period = if m.busy > LONG_WALK || m.entries > long_entries {
                    e.period.saturating_mul(2).min(max)
                } else {
                    base
                };
            }
            Err(err) if err.too_expensive() => {
                newly_skipped = e.skipped.is_none();
                e.skipped = Some(err.reason());
                e.period = max;
            }
            Err(_) => {
                e.period = e.period.saturating_mul(2).min(max);
            }
        }
        e.due = now + e.period;
        newly_skipped
    }

    fn skipped(&self) -> usize {
        self.entries
            .values()
            .filter(|e| e.skipped.is_some())
            .count()
    }
}

/// The walker thread's state.
struct Walker {
    schedule: Schedule,
    budget: Budget,
    roots: Roots,
    mounts: Vec<Mount>,
    mounts_read: Option<Instant>,
    shared: Shared,
    /// Containers whose failure was logged already (until they succeed again).
    logged: HashSet<String>,
}

impl Walker {
    fn metrics(&self) -> &DiskUsageMetrics {
        &self.shared.self_metrics().disk_usage
    }

    fn apply(&mut self, c: Command) {
        match c {
            Command::Track { name, storage } => {
                self.schedule.track(name, storage, Instant::now());
            }
            Command::Forget { name } => {
                self.schedule.forget(&name);
                self.logged.remove(&name);
            }
        }
        self.metrics()
            .skipped_containers
            .store(self.schedule.skipped() as u64, Ordering::Relaxed);
    }

    fn run(&mut self, commands: &Receiver<Command>, reports: &Sender<Report>, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            loop {
                match commands.try_recv() {
                    Ok(c) => self.apply(c),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return,
                }
            }
            let now = Instant::now();
            let due = self.schedule.next().map(|(n, at)| (n.to_owned(), at));
            let name = match due {
                Some((name, at)) if at <= now => name,
                other => {
                    let wait = other.map_or(POLL, |(_, at)| at - now).min(POLL);
                    match commands.recv_timeout(wait) {
                        Ok(c) => self.apply(c),
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                    continue;
                }
            };
            let Some(storage) = self.schedule.entries.get(&name).map(|e| e.storage.clone()) else {
                continue;
            };
            let report = self.walk(&name, &storage, stop);
            if reports.send(report).is_err() {
                return;
            }
            std::thread::sleep(MIN_PAUSE);
        }
    }

    /// Walks one container's trees and makes its report.
    fn walk(&mut self, name: &str, storage: &Storage, stop: &AtomicBool) -> Report {
        // The runtime gives host paths; an agent in a container sees them under its rootfs.
        let roots: Vec<PathBuf> = storage
            .roots()
            .iter()
            .map(|p| self.roots.host_path(p))
            .collect();
        let cpu0 = thread_cpu_ns();
        let outcome = du::measure(roots.clone(), &self.budget, &mut RealPace, &|| {
            stop.load(Ordering::Relaxed)
        });
        let m = self.metrics();
        m.cpu_ns
            .fetch_add(thread_cpu_ns().saturating_sub(cpu0), Ordering::Relaxed);
        let newly_skipped = self.schedule.finished(name, &outcome, Instant::now());
        let m = self.metrics();
        m.skipped_containers
            .store(self.schedule.skipped() as u64, Ordering::Relaxed);
        let result = match outcome {
            Ok(measured) => {
                m.walks.fetch_add(1, Ordering::Relaxed);
                m.entries.fetch_add(measured.entries, Ordering::Relaxed);
                self.filesystems(storage, &roots, &measured)
            }
            Err(e) => {
                let counter = match &e {
                    WalkError::TooLarge { .. } => Some(&m.skipped_too_large),
                    WalkError::TooSlow { .. } => Some(&m.skipped_too_slow),
                    WalkError::Root { .. } => Some(&m.failed),
                    WalkError::Stopped => None,
                };
                if let Some(c) = counter {
                    c.fetch_add(1, Ordering::Relaxed);
                }
                if let WalkError::TooLarge { limit, .. } = &e {
                    m.entries.fetch_add(*limit, Ordering::Relaxed);
                }
                Err(e.to_string())
            }
        };
        match &result {
            Ok(_) => {
                self.logged.remove(name);
            }
            Err(reason) => {
                if self.logged.insert(name.to_owned()) {
                    if newly_skipped {
                        tracing::warn!(container = name, reason = %reason, retry_in = ?self.schedule.max_period(), "filesystem usage skipped: walking it is too expensive; reported as absent");
                    } else {
                        tracing::debug!(container = name, reason = %reason, "no filesystem usage");
                    }
                }
            }
        }
        Report {
            name: name.to_owned(),
            result,
        }
    }

    /// One `FsStats` per filesystem the trees lie on.
    fn filesystems(
        &mut self,
        storage: &Storage,
        roots: &[PathBuf],
        measured: &Measured,
    ) -> Result<Vec<FsStats>, String> {
        let mut out: Vec<FsStats> = Vec::new();
        for (i, (root, usage)) in roots.iter().zip(&measured.usage).enumerate() {
            let is_layer = i == 0 && storage.layer.is_some();
            let mount = self.mount_of(root)?;
            let fs = match out.iter().position(|f| f.device == mount.device) {
                Some(at) => &mut out[at],
                None => {
                    let s = cfs::statfs(&mount).map_err(|e| e.to_string())?;
                    out.push(FsStats {
                        device: s.device,
                        fs_type: s.fs_type,
                        capacity: s.capacity,
                        usage: 0,
                        base_usage: None,
                        available: s.available,
                        has_inodes: true,
                        inodes: Some(0),
                        inodes_free: None,
                    });
                    let last = out.len() - 1;
                    &mut out[last]
                }
            };
            fs.usage += usage.bytes;
            fs.inodes = Some(fs.inodes.unwrap_or(0) + usage.inodes);
            if is_layer {
                fs.base_usage = Some(fs.base_usage.unwrap_or(0) + usage.bytes);
            }
        }
        Ok(out)
    }

    /// The mounted block-device filesystem holding `path`.
    fn mount_of(&mut self, path: &Path) -> Result<Mount, String> {
        let dev = du::device_of(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let find = |mounts: &[Mount]| mounts.iter().find(|m| (m.major, m.minor) == dev).cloned();
        if let Some(m) = find(&self.mounts) {
            return Ok(m);
        }
        if self
            .mounts_read
            .is_none_or(|at| at.elapsed() >= MOUNTS_REFRESH)
        {
            self.mounts_read = Some(Instant::now());
            match cfs::host_mounts(&self.roots) {
                Ok(m) => self.mounts = m,
                Err(e) => return Err(format!("cannot list mounted filesystems: {e}")),
            }
            if let Some(m) = find(&self.mounts) {
                return Ok(m);
            }
        }
        Err(format!(
            "{} is on device {}:{}, not a mounted block-device filesystem",
            path.display(),
            dev.0,
            dev.1
        ))
    }
}

/// CPU time of the calling thread, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    u64::try_from(ts.tv_sec)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::try_from(ts.tv_nsec).unwrap_or(0))
}

#[cfg(test)]
mod tests;
