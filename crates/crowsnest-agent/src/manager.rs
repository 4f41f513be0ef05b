//! The container manager: finds containers, keeps one [`CgroupReader`] per container, and runs
//! the housekeeping loop that collects every container on one thread.
//!
//! One scheduler serves all containers: a heap of due times. A container is collected when its
//! time comes, then rescheduled one interval (plus up to 10 % jitter) after its previous due
//! time, so passes keep their rate and never overlap: the thread collects one container at a
//! time. A container whose next due time has already passed is counted as late and
//! rescheduled one interval from now: missed ticks are skipped, never caught up in a burst.
//!
//! inotify tells about new and removed cgroups between passes; a full rescan every
//! `global_housekeeping_interval` catches what inotify missed and refreshes specs.
//!
//! Each new cgroup is first claimed by a runtime from its path ([`crate::runtime`]); a
//! runtime container's metadata (name, image, labels, pid) is asked for off this thread and
//! applied to its reference and spec when the answer comes, between passes. Until then, and
//! for good when the runtime does not answer, it is reported under its cgroup name.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crowsnest_collect::cgroup::{CgroupReader, DeviceNames, Layout};
use crowsnest_collect::fs::Mount;
use crowsnest_collect::netdev::netns_inode;
use crowsnest_collect::runtime::{Claim, Identity, Metadata, NetworkRole};
use crowsnest_collect::watch::{Event, Watcher};
use crowsnest_collect::{Error as CollectError, discover, fs, machine};
use crowsnest_core::Clock;
use crowsnest_core::batch::{Batch, ContainerContext};
use crowsnest_core::metrics::MetricKind;
use crowsnest_core::model::{
    ContainerReference, ContainerSpec, ContainerStats, FsStats, Health, NetworkStats,
};
use rand::Rng;

use crate::config::AgentConfig;
use crate::history::History;
use crate::runtime::{RuntimeLayer, Update};
use crate::self_metrics::SelfMetrics;
use crate::state::{Container, Shared};

mod disk;
mod fds;
mod metadata;
mod network;

use fds::open_file_limit;
pub use fds::raise_fd_limit;
use network::{NetSlot, NetState};

/// The version crowsnest reports as its own.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Longest the loop sleeps before looking at the stop flag again.
const MAX_WAIT: Duration = Duration::from_millis(200);

/// A runtime container's metadata is asked for again at the first rescan this long after the
/// last answer, even without an event (a safety net for missed events).
const METADATA_REFRESH: Duration = Duration::from_secs(300);

/// A failed question to a runtime is asked again after this, doubled at each failure in a
/// row (up to [`METADATA_REFRESH`]).
const RETRY_FIRST: Duration = Duration::from_secs(2);

struct Tracked {
    reader: CgroupReader,
    /// Bumped when the container is re-added, so stale heap entries are skipped.
    generation: u64,
    /// Its network namespace, when it reports one.
    net: NetSlot,
    /// The runtime that claimed it, and its id there.
    identity: Identity,
    /// What the runtime said, once it answered.
    meta: Option<Metadata>,
    /// When the runtime last answered.
    meta_at: Option<Instant>,
    /// Questions to the runtime that failed in a row (0 after an answer).
    meta_failures: u32,
    /// Whether an error of this container was logged already (log once, count always).
    logged_error: bool,
    /// File descriptors this container held after its last pass.
    held: usize,
    /// Its writable layer's and logs' filesystems, from the last walk that succeeded (see
    /// [`disk`]); `None` while unknown or skipped.
    disk: Option<Vec<FsStats>>,
}

/// Descriptors reserved for a container until its first pass shows how many it holds (about
/// 16 cgroup files on v1, plus 2 for `net/dev`).
const FDS_PER_CONTAINER: usize = 20;

/// Finds containers and collects them.
pub struct Manager {
    config: AgentConfig,
    layout: Layout,
    clock: Arc<dyn Clock>,
    shared: Shared,
    tracked: HashMap<String, Tracked>,
    heap: BinaryHeap<Reverse<(Instant, u64, String)>>,
    next_generation: u64,
    watcher: Option<Watcher>,
    devices: DeviceNames,
    mounts: Vec<Mount>,
    net: NetState,
    runtime: RuntimeLayer,
    updates: Vec<Update>,
    /// Containers to ask their runtime about again, and when (one entry per container).
    retries: HashMap<String, Instant>,
    events: Vec<Event>,
    /// Descriptors the readers may hold in all: three quarters of the open-file limit, the
    /// rest left for the HTTP server and one-shot reads.
    fd_budget: usize,
    /// Descriptors the readers hold now.
    held_total: usize,
    /// Whether the "near the open-file limit" warning was logged.
    warned_fds: bool,
    /// Containers removed since the allocator last gave free memory back.
    removed_since_trim: usize,
    /// Where every sample is also sent, when sinks are configured.
    sinks: Option<Arc<crowsnest_sinks::Sinks>>,
    /// Where every sample is kept on disk, when the store is configured.
    store: Option<Arc<crowsnest_store::Store>>,
    /// Whether a failed append to the store was logged already (log once, count always).
    logged_store_error: bool,
    /// This host's name (`nodename`/`hostname` labels of the samples sent to sinks).
    node: String,
    /// The filesystem usage walker, unless turned off.
    disk: Option<disk::DiskUsage>,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("layout", &self.layout)
            .field("containers", &self.tracked.len())
            .finish()
    }
}

impl Manager {
    /// Detects the cgroup layout, reads the machine, lists every container and starts
    /// watching. Fails when no cgroup hierarchy or no machine description can be read.
    pub fn new(
        config: AgentConfig,
        clock: Arc<dyn Clock>,
        shared: Shared,
    ) -> Result<Manager, CollectError> {
        let layout = Layout::detect(&config.roots.cgroup)?;
        tracing::info!(mode = ?layout.mode, root = %layout.root.display(), hierarchies = layout.hierarchies().len(), "cgroup layout");
        let watcher = if config.inotify {
            match Watcher::new(&layout) {
                Ok(w) => Some(w),
                Err(e) => {
                    tracing::warn!(error = %e, "inotify unavailable; relying on the periodic rescan");
                    None
                }
            }
        } else {
            None
        };
        // The host's network namespace is pid 1's; where that link is not readable (no
        // CAP_SYS_PTRACE over pid 1), the agent's own, as the agent runs in the host's.
        let host_netns = netns_inode(&config.roots.proc, 1)
            .or_else(|| netns_inode(&config.roots.proc, std::process::id()));
        if host_netns.is_none() {
            tracing::warn!(
                "cannot read the host's network namespace; containers will report no network"
            );
        }
        // Per-container filesystem usage, unless turned off (also by the `disk` group).
        let disk = (!config.disk_usage_interval.is_zero() && config.metrics.has(MetricKind::Disk))
            .then(|| {
                disk::DiskUsage::start(
                    config.disk_usage_interval,
                    config.disk_usage_budget,
                    config.roots.clone(),
                    shared.clone(),
                )
            })
            .flatten();
        let mut m = Manager {
            layout,
            clock,
            shared,
            tracked: HashMap::new(),
            heap: BinaryHeap::new(),
            next_generation: 0,
            watcher,
            devices: DeviceNames::new(),
            mounts: Vec::new(),
            net: NetState::new(host_netns),
            runtime: RuntimeLayer::start(&config.runtime),
            updates: Vec::new(),
            retries: HashMap::new(),
            events: Vec::new(),
            fd_budget: open_file_limit().map_or(768, |l| l / 4 * 3),
            held_total: 0,
            warned_fds: false,
            removed_since_trim: 0,
            sinks: None,
            store: None,
            logged_store_error: false,
            node: std::fs::read_to_string(config.roots.proc_path("sys/kernel/hostname"))
                .map(|h| h.trim().to_owned())
                .unwrap_or_default(),
            disk,
            config,
        };
        m.refresh_machine()?;
        m.rescan();
        Ok(m)
    }

    /// Sends every sample to `sinks` too (as canonical batches; see `crowsnest_core::batch`).
    pub fn set_sinks(&mut self, sinks: Arc<crowsnest_sinks::Sinks>) {
        self.sinks = Some(sinks);
    }

    /// Keeps every sample in `store` too (as canonical batches, the same ones sinks get).
    pub fn set_store(&mut self, store: Arc<crowsnest_store::Store>) {
        self.store = Some(store);
    }

    /// The cgroup layout in use.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Number of containers known.
    pub fn container_count(&self) -> usize {
        self.tracked.len()
    }

    /// Number of directories watched with inotify.
    pub fn watch_count(&self) -> usize {
        self.watcher.as_ref().map_or(0, Watcher::watch_count)
    }

    fn metrics(&self) -> &SelfMetrics {
        self.shared.self_metrics()
    }

    /// Re-reads the machine description, block device names and mounted filesystems.
    pub fn refresh_machine(&mut self) -> Result<(), CollectError> {
        let info = machine::read_machine_info(&self.config.roots, self.clock.now())?;
        let version = machine::read_version_info(&self.config.roots, VERSION);
        self.devices = machine::device_names(&self.config.roots);
        self.mounts = match fs::host_mounts(&self.config.roots) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list mounted filesystems");
                Vec::new()
            }
        };
        let mut st = self.shared.write();
        st.machine = info;
        st.version = version;
        st.metrics = self.config.metrics;
        st.container_labels = self.config.container_labels.clone();
        Ok(())
    }

    /// Lists every cgroup: adds the new ones, drops the gone ones and refreshes every spec.
    pub fn rescan(&mut self) {
        let names = match discover::list_containers(&self.layout) {
            Ok(n) => n,
            Err(e) => {
                SelfMetrics::inc(&self.metrics().collection_errors);
                tracing::warn!(error = %e, "cannot list cgroups");
                return;
            }
        };
        let gone: Vec<String> = self
            .tracked
            .keys()
            .filter(|k| !names.contains(*k))
            .cloned()
            .collect();
        for name in gone {
            self.remove(&name);
        }
        for name in names {
            if self.tracked.contains_key(&name) {
                self.refresh_spec(&name);
            } else {
                self.add(&name);
            }
        }
        // Ask again where the last question failed or the answer is old.
        let stale: Vec<(String, Identity)> = self
            .tracked
            .iter()
            .filter(|(_, t)| {
                t.identity.kind.has_api()
                    && (t.meta_failures > 0
                        || t.meta_at.is_some_and(|a| a.elapsed() > METADATA_REFRESH))
            })
            .map(|(n, t)| (n.clone(), t.identity.clone()))
            .collect();
        for (name, identity) in stale {
            self.runtime.request(&name, &identity);
        }
    }

    fn adjusted_spec(
        &self,
        name: &str,
        mut spec: ContainerSpec,
        meta: Option<&Metadata>,
    ) -> ContainerSpec {
        if let Some(m) = meta {
            spec.labels.clone_from(&m.labels);
            spec.envs.clone_from(&m.envs);
            spec.image.clone_from(&m.image);
            if let Some(created) = m.created {
                spec.creation_time = created;
            }
            if self.disk.is_some() && !m.storage.is_empty() {
                spec.has_filesystem = true;
            }
        }
        let st = self.shared.read();
        let (capacity, swap) = (st.machine.memory_capacity, st.machine.swap_capacity);
        drop(st);
        if name == "/" {
            spec.has_network = true;
            spec.has_filesystem = !self.mounts.is_empty();
            spec.memory.limit = capacity;
            spec.memory.swap_limit = swap;
        } else if spec.has_memory && spec.memory.limit == 0 {
            // cAdvisor's getAdjustedSpec: no limit reads as the machine's capacity.
            spec.memory.limit = capacity;
        }
        spec
    }

    fn add(&mut self, name: &str) {
        let identity = match self.runtime.claim(name) {
            Claim::Yes(identity) => identity,
            Claim::Ignore | Claim::No => return,
        };
        let spec = match crowsnest_collect::cgroup::spec::read_spec(&self.layout, name) {
            Ok(s) => s,
            Err(CollectError::Gone { .. }) => return,
            Err(e) => {
                SelfMetrics::inc(&self.metrics().collection_errors);
                tracing::warn!(container = name, error = %e, "cannot read spec");
                return;
            }
        };
        let spec = self.adjusted_spec(name, spec, None);
        let generation = self.next_generation;
        self.next_generation += 1;
        let mut reader = CgroupReader::new(&self.layout, name, &self.config.roots.proc);
        let hold = self.held_total + FDS_PER_CONTAINER <= self.fd_budget;
        if hold {
            self.held_total += FDS_PER_CONTAINER;
        } else {
            reader.set_hold_fds(false);
            if !self.warned_fds {
                self.warned_fds = true;
                tracing::warn!(
                    budget = self.fd_budget,
                    "near the open-file limit: further containers are read without held file descriptors (slower); raise LimitNOFILE / ulimit -n"
                );
            }
        }
        self.tracked.insert(
            name.to_owned(),
            Tracked {
                reader,
                generation,
                net: NetSlot::default(),
                identity: identity.clone(),
                meta: None,
                meta_at: None,
                meta_failures: 0,
                logged_error: false,
                held: if hold { FDS_PER_CONTAINER } else { 0 },
                disk: None,
            },
        );
        let max_age = i64::try_from(self.config.storage_duration.as_nanos()).unwrap_or(i64::MAX);
        self.shared.write().containers.insert(
            name.to_owned(),
            Container {
                reference: ContainerReference {
                    name: name.to_owned(),
                    ..Default::default()
                },
                spec,
                history: History::new(max_age),
            },
        );
        SelfMetrics::inc(&self.metrics().containers_added);
        self.runtime.request(name, &identity);
        // First collection at once, as cAdvisor's housekeeping does.
        self.heap
            .push(Reverse((Instant::now(), generation, name.to_owned())));
    }

    fn remove(&mut self, name: &str) {
        if let Some(mut t) = self.tracked.remove(name) {
            self.net.let_go(name, &mut t.net);
            self.retries.remove(name);
            if let Some(disk) = self.disk.as_mut() {
                disk.forget(name);
            }
            self.held_total = self.held_total.saturating_sub(t.held);
            self.shared.write().containers.remove(name);
            self.removed_since_trim += 1;
            SelfMetrics::inc(&self.metrics().containers_removed);
            tracing::debug!(container = name, "container removed");
        }
    }

    fn refresh_spec(&mut self, name: &str) {
        // Descriptors freed since (removed containers): hold this one's again.
        if let Some(t) = self.tracked.get_mut(name)
            && !t.reader.holds_fds()
            && self.held_total + FDS_PER_CONTAINER <= self.fd_budget
        {
            t.reader.set_hold_fds(true);
            t.held = FDS_PER_CONTAINER;
            self.held_total += FDS_PER_CONTAINER;
        }
        match crowsnest_collect::cgroup::spec::read_spec(&self.layout, name) {
            Ok(spec) => {
                let meta = self.tracked.get(name).and_then(|t| t.meta.as_ref());
                let spec = self.adjusted_spec(name, spec, meta);
                let has_network = self.tracked.get(name).is_some_and(|t| t.net.is_open());
                if let Some(c) = self.shared.write().containers.get_mut(name) {
                    c.spec = ContainerSpec {
                        has_network: spec.has_network || has_network,
                        ..spec
                    };
                }
            }
            Err(CollectError::Gone { .. }) => self.remove(name),
            Err(e) => tracing::debug!(container = name, error = %e, "cannot refresh spec"),
        }
    }

    /// Collects every known container once, now (tests and benchmarks drive the agent with
    /// this and a manual clock). Returns how many samples were stored.
    pub fn housekeep_all(&mut self) -> usize {
        self.apply_runtime_updates();
        let mut names: Vec<String> = self.tracked.keys().cloned().collect();
        names.sort();
        names.iter().filter(|n| self.collect(n)).count()
    }

    /// Reads one container and stores the sample. Returns whether a sample was stored.
    fn collect(&mut self, name: &str) -> bool {
        let started = Instant::now();
        let kinds = self.config.metrics;
        let proc_root = self.config.roots.proc.clone();
        // Under a rootfs (an agent in a container), `cgroup.procs` lists the agent's own pid
        // namespace (nothing but its own processes) while `proc_root` is the host's.
        let host_pids = self.config.roots.rootfs == std::path::Path::new("/");
        let mut stats = ContainerStats {
            timestamp: self.clock.now(),
            ..Default::default()
        };
        let Some(t) = self.tracked.get_mut(name) else {
            return false;
        };
        match t.reader.read_stats(kinds, &self.devices, &mut stats) {
            Ok(()) => {}
            Err(CollectError::Gone { .. }) => {
                if !discover::exists(&self.layout, name) {
                    self.remove(name);
                }
                return false;
            }
            Err(e) => {
                // Keep what was read before the bad file (the rest stays absent) and say which
                // file was wrong, once per container.
                SelfMetrics::inc(&self.shared.self_metrics().collection_errors);
                if !t.logged_error {
                    t.logged_error = true;
                    tracing::warn!(container = name, error = %e, "collection failed (logged once per container)");
                }
            }
        }
        let mut newly_networked = false;
        if kinds.has(MetricKind::Network) {
            let mut interfaces = Vec::new();
            let read = if name == "/" {
                self.net.read_root(&proc_root, &mut interfaces)
            } else {
                let role = t.meta.as_ref().map_or(NetworkRole::Unknown, |m| m.network);
                let pids = t.reader.pids();
                // The runtime's init pid while it is in the cgroup (not a reused number);
                // under a rootfs, as the runtime gives it (a host pid, read in the host's
                // procfs).
                let pid = t
                    .meta
                    .as_ref()
                    .and_then(|m| m.pid)
                    .filter(|p| !host_pids || pids.contains(p))
                    .or_else(|| pids.first().copied());
                let (ok, newly) =
                    self.net
                        .read(&proc_root, name, role, pid, &mut t.net, &mut interfaces);
                newly_networked = newly;
                ok
            };
            if read {
                stats.network = Some(NetworkStats { interfaces });
            }
        }
        let held = t.reader.held_fds() + if t.net.is_open() { 2 } else { 0 };
        self.held_total = (self.held_total + held).saturating_sub(t.held);
        t.held = held;
        if kinds.has(MetricKind::Disk) {
            if name == "/" {
                stats.filesystem = self
                    .mounts
                    .iter()
                    .filter_map(|m| fs::statfs(m).ok())
                    .collect();
            } else if let Some(disk) = &t.disk {
                stats.filesystem.clone_from(disk);
            }
        }
        stats.health = t
            .meta
            .as_ref()
            .and_then(|m| m.health.clone())
            .map(|status| Health { status });
        let batch = {
            let mut st = self.shared.write();
            st.containers.get_mut(name).and_then(|c| {
                if newly_networked {
                    c.spec.has_network = true;
                }
                let stored = c.history.push(&stats);
                (stored && (self.sinks.is_some() || self.store.is_some())).then(|| {
                    let ctx = ContainerContext { node: &self.node };
                    Batch::from_container(&c.reference, &c.spec, &stats, &ctx)
                })
            })
        };
        // One batch for the store and the sinks, written after the state lock is let go.
        if let Some(batch) = &batch {
            if let Some(store) = &self.store {
                match store.append(batch) {
                    Err(e) => {
                        SelfMetrics::inc(&self.shared.self_metrics().collection_errors);
                        if !self.logged_store_error {
                            self.logged_store_error = true;
                            tracing::warn!(container = name, error = %e, "cannot append to the store (logged once until appends work again)");
                        }
                    }
                    // A failure (a full disk) is over: said once, so that the next is logged.
                    Ok(_) if self.logged_store_error => {
                        self.logged_store_error = false;
                        tracing::info!("appends to the store work again");
                    }
                    Ok(_) => {}
                }
            }
            // Queued on disk by each sink; never waits for the network.
            if let Some(sinks) = &self.sinks {
                sinks.send(batch);
            }
        }
        self.shared
            .self_metrics()
            .container_housekeeping
            .observe(started.elapsed().as_secs_f64());
        true
    }

    fn handle_events(&mut self) {
        let Some(w) = self.watcher.as_mut() else {
            return;
        };
        self.events.clear();
        if let Err(e) = w.poll(&mut self.events) {
            tracing::warn!(error = %e, "inotify read failed; rescanning");
            self.rescan();
            return;
        }
        let events = std::mem::take(&mut self.events);
        for ev in &events {
            match ev {
                Event::Added(name) => {
                    if !self.tracked.contains_key(name) && discover::exists(&self.layout, name) {
                        self.add(name);
                    }
                }
                Event::Removed(name) => {
                    if self.tracked.contains_key(name) && !discover::exists(&self.layout, name) {
                        self.remove(name);
                    }
                }
                Event::Overflow => self.rescan(),
            }
        }
        self.events = events;
    }

    /// Waits up to `timeout` for inotify events and applies them (adds and removes
    /// containers). Returns whether any event arrived. Without inotify it only sleeps.
    pub fn wait_for_events(&mut self, timeout: Duration) -> bool {
        match self.watcher.as_ref() {
            Some(w) => {
                let any = w.wait(timeout);
                if any {
                    self.handle_events();
                }
                any
            }
            None => {
                std::thread::sleep(timeout);
                false
            }
        }
    }

    /// Collects every container that is due at `now`; returns how many were collected.
    fn run_due(&mut self, now: Instant) -> usize {
        let interval = self.config.housekeeping_interval;
        let mut n = 0;
        while let Some(Reverse((due, generation, _))) = self.heap.peek() {
            if *due > now {
                break;
            }
            let (due, generation) = (*due, *generation);
            let Some(Reverse((_, _, name))) = self.heap.pop() else {
                break;
            };
            if self
                .tracked
                .get(&name)
                .is_none_or(|t| t.generation != generation)
            {
                continue;
            }
            self.collect(&name);
            n += 1;
            if self.tracked.contains_key(&name) {
                let jitter = interval.mul_f64(rand::rng().random_range(0.0..0.1));
                let mut next = due + interval + jitter;
                if next <= now {
                    // A whole interval behind: skip the missed ticks rather than catch up in
                    // a burst.
                    SelfMetrics::inc(&self.metrics().housekeeping_late);
                    next = now + interval + jitter;
                }
                self.heap.push(Reverse((next, generation, name)));
            }
        }
        n
    }

    /// Runs housekeeping until `stop` is set.
    pub fn run(mut self, stop: &AtomicBool) {
        let mut next_global = Instant::now() + self.config.global_housekeeping_interval;
        let mut next_machine = Instant::now() + self.config.machine_info_interval;
        while !stop.load(Ordering::Relaxed) {
            self.apply_runtime_updates();
            let now = Instant::now();
            if now >= next_global {
                self.rescan();
                if self.removed_since_trim > 0 {
                    self.removed_since_trim = 0;
                    release_free_memory();
                }
                next_global = now + self.config.global_housekeeping_interval;
            }
            if now >= next_machine {
                if let Err(e) = self.refresh_machine() {
                    tracing::warn!(error = %e, "cannot refresh machine info");
                }
                next_machine = now + self.config.machine_info_interval;
            }
            let pass_started = Instant::now();
            if self.run_due(now) > 0 {
                self.metrics()
                    .housekeeping_pass
                    .observe(pass_started.elapsed().as_secs_f64());
            }
            let next_due = self.heap.peek().map(|Reverse((d, _, _))| *d);
            let wake = [Some(next_global), Some(next_machine), next_due]
                .into_iter()
                .flatten()
                .min();
            let wait = wake
                .map_or(MAX_WAIT, |w| w.saturating_duration_since(Instant::now()))
                .min(MAX_WAIT);
            self.wait_for_events(wait);
        }
    }
}

/// Gives the allocator's free memory back to the system: removed containers' histories (up
/// to `--storage-duration` of samples each) leave free pages among the live ones, which glibc
/// keeps unless asked, so that after churn the agent's memory would stay at its peak.
pub(crate) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim has no preconditions; it only walks the allocator's free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Has buffers of 256 KiB and more (a large API answer, a query's points) mapped and
/// unmapped on their own rather than carved from the heap. glibc would otherwise raise this
/// threshold to the size of the largest buffer freed, after which every large answer comes
/// from the heap and its pages stay with the process.
pub(crate) fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 10);
    }
}

#[cfg(test)]
mod runtime_tests;
#[cfg(test)]
mod tests;
