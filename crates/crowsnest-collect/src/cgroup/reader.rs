//! The per-container reader: the hot path of collection.
//!
//! A [`CgroupReader`] opens each cgroup file of one container the first time it needs it and
//! keeps the descriptor; every pass re-reads it with `pread` at offset 0 into one buffer the
//! reader owns (shared/reference/perf.md §2: 3–3.5× cheaper than opening each time). A file that
//! does not exist is remembered as missing and probed again every [`REPROBE_EVERY`] passes or on
//! [`CgroupReader::reprobe`].
//!
//! Removal: a held descriptor of a removed cgroup fails with `ENODEV`, and `cgroup.procs`, which
//! every cgroup directory has, vanishing or being unlinked (plain fixture trees) says the same.
//! The reader then looks for the container's directory in every hierarchy and answers
//! [`Error::Gone`] when it is in none; a directory that was created again is reopened.

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use crowsnest_core::metrics::{MetricKind, MetricSet};
use crowsnest_core::model::{
    ContainerStats, CpuStats, DiskIoStats, MemoryStats, ProcessStats, PsiStats,
};

use super::parse::{self, ParseError};
use super::{Controller, DeviceNames, Layout, Mode, join_name};
use crate::{Error, Result};

/// A missing file is probed again after this many passes.
pub const REPROBE_EVERY: u64 = 60;

/// First size of the read buffer: one read covers every cgroup file but a big `cgroup.procs`.
const INITIAL_BUF: usize = 4096;

/// A file larger than this is refused (no cgroup file comes near it).
const MAX_FILE: usize = 64 << 20;

/// The files the reader may hold. Which name and directory each has depends on the mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum F {
    CpuacctUsage,
    CpuacctUser,
    CpuacctSys,
    CpuacctStat,
    CpuacctPercpu,
    CpuStat,
    MemUsage,
    MemMaxUsage,
    MemFailcnt,
    MemKmem,
    MemStat,
    MemOomControl,
    MemSwap,
    MemEvents,
    IoBytes,
    IoServiced,
    IoThrottleBytes,
    IoThrottleServiced,
    PidsCurrent,
    PidsMax,
    Procs,
    PsiCpu,
    PsiMemory,
    PsiIo,
    ProcPsiCpu,
    ProcPsiMemory,
    ProcPsiIo,
}

const FILES: usize = F::ProcPsiIo as usize + 1;

/// v1 files: controller and name.
const V1_FILES: [(F, Controller, &str); 18] = [
    (F::CpuacctUsage, Controller::Cpuacct, "cpuacct.usage"),
    (F::CpuacctUser, Controller::Cpuacct, "cpuacct.usage_user"),
    (F::CpuacctSys, Controller::Cpuacct, "cpuacct.usage_sys"),
    (F::CpuacctStat, Controller::Cpuacct, "cpuacct.stat"),
    (
        F::CpuacctPercpu,
        Controller::Cpuacct,
        "cpuacct.usage_percpu",
    ),
    (F::CpuStat, Controller::Cpu, "cpu.stat"),
    (F::MemUsage, Controller::Memory, "memory.usage_in_bytes"),
    (
        F::MemMaxUsage,
        Controller::Memory,
        "memory.max_usage_in_bytes",
    ),
    (F::MemFailcnt, Controller::Memory, "memory.failcnt"),
    (F::MemKmem, Controller::Memory, "memory.kmem.usage_in_bytes"),
    (F::MemStat, Controller::Memory, "memory.stat"),
    (F::MemOomControl, Controller::Memory, "memory.oom_control"),
    (
        F::IoBytes,
        Controller::Blkio,
        "blkio.io_service_bytes_recursive",
    ),
    (
        F::IoServiced,
        Controller::Blkio,
        "blkio.io_serviced_recursive",
    ),
    (
        F::IoThrottleBytes,
        Controller::Blkio,
        "blkio.throttle.io_service_bytes_recursive",
    ),
    (
        F::IoThrottleServiced,
        Controller::Blkio,
        "blkio.throttle.io_serviced_recursive",
    ),
    (F::PidsCurrent, Controller::Pids, "pids.current"),
    (F::PidsMax, Controller::Pids, "pids.max"),
];

/// v1 hierarchies where `cgroup.procs` is looked for, in order.
const V1_PROCS: [Controller; 4] = [
    Controller::Pids,
    Controller::Cpu,
    Controller::Cpuacct,
    Controller::Memory,
];

/// v2 files in the container's unified directory.
const V2_FILES: [(F, &str); 10] = [
    (F::CpuStat, "cpu.stat"),
    (F::MemUsage, "memory.current"),
    (F::MemMaxUsage, "memory.peak"),
    (F::MemStat, "memory.stat"),
    (F::MemSwap, "memory.swap.current"),
    (F::MemEvents, "memory.events"),
    (F::IoBytes, "io.stat"),
    (F::PidsCurrent, "pids.current"),
    (F::PidsMax, "pids.max"),
    (F::Procs, "cgroup.procs"),
];

/// PSI files of a cgroup2 directory (v2, and the cgroup2 mount of hybrid).
const PSI_FILES: [(F, &str); 3] = [
    (F::PsiCpu, "cpu.pressure"),
    (F::PsiMemory, "memory.pressure"),
    (F::PsiIo, "io.pressure"),
];

/// System PSI files under `<proc>/pressure`, for `/` when the cgroup has none.
const PROC_PSI_FILES: [(F, &str); 3] = [
    (F::ProcPsiCpu, "cpu"),
    (F::ProcPsiMemory, "memory"),
    (F::ProcPsiIo, "io"),
];

#[derive(Debug)]
enum State {
    /// Not opened yet, or closed to be reopened.
    Closed,
    Open(File),
    /// Not there at the given pass.
    Missing(u64),
}

#[derive(Debug)]
struct Slot {
    /// Index into `dirs`; `None` when the hierarchy is not mounted (always missing).
    dir: Option<usize>,
    name: &'static str,
    state: State,
}

#[derive(Debug)]
struct Dir {
    path: PathBuf,
    /// A cgroup directory of the container (not `<proc>/pressure`).
    cgroup: bool,
    /// Whether it existed when last looked at.
    present: bool,
}

/// Reads the statistics of one container (one cgroup name) through held file descriptors.
#[derive(Debug)]
pub struct CgroupReader {
    name: String,
    v2: bool,
    is_root: bool,
    dirs: Vec<Dir>,
    slots: [Slot; FILES],
    /// The one read buffer; its length is its usable size (zeroed once, never shrunk).
    buf: Vec<u8>,
    pids: Vec<u32>,
    /// Per-device masks of seen blkio operations, reused between passes.
    masks: Vec<u8>,
    pass: u64,
    /// Whether descriptors are kept between passes (else each file is opened per read).
    hold: bool,
}

impl CgroupReader {
    /// A reader for container `name` (`/` or `/a/b`) in `layout`, with system PSI files under
    /// `proc_root` (used for `/` only). Opens nothing: files are opened on first use.
    pub fn new(layout: &Layout, name: &str, proc_root: &Path) -> Self {
        let is_root = name.trim_start_matches('/').is_empty();
        let mut r = CgroupReader {
            name: name.to_owned(),
            v2: layout.mode == Mode::V2,
            is_root,
            dirs: Vec::new(),
            slots: std::array::from_fn(|_| Slot {
                dir: None,
                name: "",
                state: State::Closed,
            }),
            buf: Vec::new(),
            pids: Vec::new(),
            masks: Vec::new(),
            pass: 0,
            hold: true,
        };
        if r.v2 {
            if let Some(dir) = layout.unified_dir(name) {
                let d = r.add_dir(dir, true);
                for (f, file) in V2_FILES.into_iter().chain(PSI_FILES) {
                    r.set(f, d, file);
                }
            }
        } else {
            for (f, controller, file) in V1_FILES {
                if let Some(dir) = layout.dir(controller, name) {
                    let d = r.add_dir(dir, true);
                    r.set(f, d, file);
                }
            }
            let procs_dirs = V1_PROCS.iter().filter_map(|c| layout.dir(*c, name));
            let procs_dirs: Vec<PathBuf> = procs_dirs.collect();
            if let Some(dir) = procs_dirs
                .iter()
                .find(|p| p.is_dir())
                .or(procs_dirs.first())
            {
                let d = r.add_dir(dir.clone(), true);
                r.set(F::Procs, d, "cgroup.procs");
            }
            if let Some(dir) = layout.unified_dir(name) {
                let d = r.add_dir(dir, true);
                for (f, file) in PSI_FILES {
                    r.set(f, d, file);
                }
            }
        }
        if is_root {
            let d = r.add_dir(join_name(proc_root, "/pressure"), false);
            for (f, file) in PROC_PSI_FILES {
                r.set(f, d, file);
            }
        }
        r
    }

    /// The container's name, as given to [`CgroupReader::new`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The pids listed in `cgroup.procs` at the last [`CgroupReader::read_stats`].
    pub fn pids(&self) -> &[u32] {
        &self.pids
    }

    /// Whether to keep file descriptors open between passes (the default). Without, every file
    /// is opened, read and closed on each pass: slower, but it holds no descriptor, for when
    /// the process is near its open-file limit.
    pub fn set_hold_fds(&mut self, hold: bool) {
        self.hold = hold;
        if !hold {
            for slot in &mut self.slots {
                if matches!(slot.state, State::Open(_)) {
                    slot.state = State::Closed;
                }
            }
        }
    }

    /// Whether descriptors are kept between passes.
    pub fn holds_fds(&self) -> bool {
        self.hold
    }

    /// Number of file descriptors held now.
    pub fn held_fds(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| matches!(s.state, State::Open(_)))
            .count()
    }

    /// Probes every missing file again at the next pass (e.g. after a controller was enabled).
    pub fn reprobe(&mut self) {
        for slot in &mut self.slots {
            if matches!(slot.state, State::Missing(_)) {
                slot.state = State::Closed;
            }
        }
    }

    /// Reads one sample into `out`: `cpu`, `memory`, `diskio`, `processes` and `oom_events`,
    /// each gated by `kinds` (`processes` always: pids and tasks are core). A subsystem with no
    /// file at all is `None`. `out` may hold the previous sample; its allocations are reused.
    /// Timestamp, network and filesystems are the caller's.
    ///
    /// # Errors
    ///
    /// [`Error::Gone`] when the container's directory is in no hierarchy any more;
    /// [`Error::Io`] and [`Error::Parse`] naming the file otherwise.
    pub fn read_stats(
        &mut self,
        kinds: MetricSet,
        devices: &DeviceNames,
        out: &mut ContainerStats,
    ) -> Result<()> {
        self.pass += 1;
        if self.dirs.iter().any(|d| d.cgroup) && self.dirs.iter().all(|d| !d.cgroup || !d.present) {
            self.refresh_presence()?;
        }
        // cgroup.procs first: it is what tells that the container is gone.
        out.processes = self.processes()?;

        let mut cpu = out.cpu.take().unwrap_or_default();
        let mut any = self.cpu(kinds, &mut cpu)?;
        cpu.psi = None;
        if kinds.has(MetricKind::Pressure) {
            cpu.psi = self.psi(F::PsiCpu, F::ProcPsiCpu)?;
            any |= cpu.psi.is_some();
        }
        out.cpu = any.then_some(cpu);

        let mut mem = out.memory.take().unwrap_or_default();
        let mut any = false;
        if kinds.has(MetricKind::Memory) {
            any = if self.v2 {
                self.memory_v2(&mut mem)?
            } else {
                self.memory_v1(&mut mem)?
            };
        } else {
            mem = MemoryStats::default();
        }
        if kinds.has(MetricKind::Pressure) {
            mem.psi = self.psi(F::PsiMemory, F::ProcPsiMemory)?;
            any |= mem.psi.is_some();
        }
        out.memory = any.then_some(mem);

        out.oom_events = None;
        if kinds.has(MetricKind::OomEvent) {
            // v2: memory.events was just read for the memory statistics; do not read it twice.
            let events = out.memory.as_ref().and_then(|m| m.events.as_ref());
            out.oom_events = match events {
                Some(ev) if self.v2 => ev.oom_kill,
                _ => self.oom_events()?,
            };
        }

        let mut io = out.diskio.take().unwrap_or_default();
        let mut any = false;
        if kinds.has(MetricKind::DiskIo) {
            any = self.diskio(devices, &mut io)?;
        } else {
            io.io_service_bytes.clear();
            io.io_serviced.clear();
        }
        io.psi = None;
        if kinds.has(MetricKind::Pressure) {
            io.psi = self.psi(F::PsiIo, F::ProcPsiIo)?;
            any |= io.psi.is_some();
        }
        out.diskio = any.then_some(io);
        Ok(())
    }

    fn add_dir(&mut self, path: PathBuf, cgroup: bool) -> usize {
        if let Some(i) = self.dirs.iter().position(|d| d.path == path) {
            return i;
        }
        self.dirs.push(Dir {
            path,
            cgroup,
            present: true,
        });
        self.dirs.len() - 1
    }

    fn set(&mut self, f: F, dir: usize, name: &'static str) {
        self.slots[f as usize] = Slot {
            dir: Some(dir),
            name,
            state: State::Closed,
        };
    }

    fn path(&self, f: F) -> PathBuf {
        let slot = &self.slots[f as usize];
        match slot.dir {
            Some(d) => self.dirs[d].path.join(slot.name),
            None => PathBuf::from(slot.name),
        }
    }

    fn parse_err(&self, f: F, e: ParseError) -> Error {
        e.at(self.path(f))
    }

    /// Looks for every cgroup directory of the container; [`Error::Gone`] when none is left.
    /// Missing files of a directory that came back are probed again at once.
    fn refresh_presence(&mut self) -> Result<()> {
        for (i, d) in self.dirs.iter_mut().enumerate().filter(|(_, d)| d.cgroup) {
            let present = d.path.is_dir();
            if present && !d.present {
                for slot in self.slots.iter_mut().filter(|s| s.dir == Some(i)) {
                    if matches!(slot.state, State::Missing(_)) {
                        slot.state = State::Closed;
                    }
                }
            }
            d.present = present;
        }
        if self.dirs.iter().any(|d| d.cgroup && d.present) {
            Ok(())
        } else {
            Err(Error::Gone {
                name: self.name.clone(),
            })
        }
    }

    /// A directory was removed (or replaced): drops every descriptor (a plain tree does not
    /// fail reads of removed files, so the others may be stale too) and looks again.
    fn dir_died(&mut self) -> Result<()> {
        for slot in &mut self.slots {
            if matches!(slot.state, State::Open(_)) {
                slot.state = State::Closed;
            }
        }
        self.refresh_presence()
    }

    /// Reads file `f` whole into the buffer. `Ok(None)` when the file does not exist.
    fn load(&mut self, f: F) -> Result<Option<&str>> {
        let i = f as usize;
        let Some(d) = self.slots[i].dir else {
            return Ok(None);
        };
        for _ in 0..2 {
            if let State::Missing(at) = self.slots[i].state {
                if self.pass < at.saturating_add(REPROBE_EVERY) {
                    return Ok(None);
                }
                self.slots[i].state = State::Closed;
            }
            if let State::Closed = self.slots[i].state {
                match File::open(self.path(f)) {
                    Ok(file) => self.slots[i].state = State::Open(file),
                    Err(e) if is_not_found(&e) => {
                        self.slots[i].state = State::Missing(self.pass);
                        if f == F::Procs {
                            // Every cgroup directory has cgroup.procs: is the container gone?
                            self.refresh_presence()?;
                        }
                        return Ok(None);
                    }
                    Err(e) => return Err(Error::io(self.path(f), e)),
                }
            }
            let State::Open(file) = &self.slots[i].state else {
                return Ok(None);
            };
            match read_whole(file, &mut self.buf) {
                // A plain tree (fixtures) keeps serving unlinked files: look at the link count.
                Ok(len) if f != F::Procs || file.metadata().map_or(true, |m| m.nlink() > 0) => {
                    if !self.hold {
                        // Closes the descriptor; the buffer keeps the content.
                        self.slots[i].state = State::Closed;
                    }
                    return std::str::from_utf8(&self.buf[..len])
                        .map(Some)
                        .map_err(|_| Error::parse(self.path(f), "not UTF-8"));
                }
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENODEV) => {}
                Err(e) => return Err(Error::io(self.path(f), e)),
            }
            self.dir_died()?;
            if !self.dirs[d].present {
                self.slots[i].state = State::Missing(self.pass);
                return Ok(None);
            }
        }
        self.slots[i].state = State::Missing(self.pass);
        Ok(None)
    }

    fn read_u64(
        &mut self,
        f: F,
        parser: fn(&str) -> parse::ParseResult<u64>,
    ) -> Result<Option<u64>> {
        let Some(text) = self.load(f)? else {
            return Ok(None);
        };
        parser(text).map(Some).map_err(|e| self.parse_err(f, e))
    }

    fn processes(&mut self) -> Result<Option<ProcessStats>> {
        let mut pids = std::mem::take(&mut self.pids);
        let listed = match self.load(F::Procs)? {
            Some(text) => parse::pid_list(text, &mut pids).map(|()| true),
            None => {
                pids.clear();
                Ok(false)
            }
        };
        self.pids = pids;
        let listed = listed.map_err(|e| self.parse_err(F::Procs, e))?;
        let threads_current = self.read_u64(F::PidsCurrent, parse::single_u64)?;
        let threads_max = self.read_u64(F::PidsMax, parse::pids_max)?;
        if !listed && threads_current.is_none() && threads_max.is_none() {
            return Ok(None);
        }
        Ok(Some(ProcessStats {
            process_count: listed.then_some(self.pids.len() as u64),
            fd_count: None,
            socket_count: None,
            threads_current,
            threads_max,
        }))
    }

    /// CPU usage, CFS and per-CPU usage into `cpu` (reset first). Whether any file was there.
    fn cpu(&mut self, kinds: MetricSet, cpu: &mut CpuStats) -> Result<bool> {
        let mut per_cpu = std::mem::take(&mut cpu.usage.per_cpu_usage);
        per_cpu.clear();
        *cpu = CpuStats::default();
        let mut any = false;
        if kinds.has(MetricKind::Cpu) {
            let v2 = self.v2;
            if let Some(text) = self.load(F::CpuStat)? {
                any = true;
                cpu.cfs = if v2 {
                    parse::cpu_stat_v2(text, &mut cpu.usage)
                } else {
                    parse::cpu_stat_v1(text)
                };
            }
            if !v2 {
                any |= self.cpuacct(cpu)?;
            }
        }
        if kinds.has(MetricKind::PerCpu)
            && !self.v2
            && let Some(text) = self.load(F::CpuacctPercpu)?
        {
            any = true;
            let parsed = parse::u64_list(text, &mut per_cpu);
            parsed.map_err(|e| self.parse_err(F::CpuacctPercpu, e))?;
        }
        cpu.usage.per_cpu_usage = per_cpu;
        Ok(any)
    }

    /// v1 total, user and system time: `cpuacct.usage_user`/`_sys` (ns) when there, else
    /// `cpuacct.stat` (ticks).
    fn cpuacct(&mut self, cpu: &mut CpuStats) -> Result<bool> {
        let u = &mut cpu.usage;
        u.total = self.read_u64(F::CpuacctUsage, parse::single_u64)?;
        u.user = self.read_u64(F::CpuacctUser, parse::single_u64)?;
        u.system = self.read_u64(F::CpuacctSys, parse::single_u64)?;
        let mut any = u.total.is_some() || u.user.is_some() || u.system.is_some();
        if u.user.is_none()
            && u.system.is_none()
            && let Some(text) = self.load(F::CpuacctStat)?
        {
            any = true;
            parse::cpuacct_stat(text, u);
        }
        Ok(any)
    }

    fn memory_v1(&mut self, mem: &mut MemoryStats) -> Result<bool> {
        *mem = MemoryStats {
            usage: self.read_u64(F::MemUsage, parse::single_u64)?,
            max_usage: self.read_u64(F::MemMaxUsage, parse::single_u64)?,
            failcnt: self.read_u64(F::MemFailcnt, parse::single_u64)?,
            kernel: self.read_u64(F::MemKmem, parse::single_u64)?,
            ..MemoryStats::default()
        };
        let mut any = mem.usage.is_some()
            || mem.max_usage.is_some()
            || mem.failcnt.is_some()
            || mem.kernel.is_some();
        if let Some(text) = self.load(F::MemStat)? {
            any = true;
            parse::memory_stat_v1(text, mem);
        }
        mem.working_set = parse::working_set(mem);
        Ok(any)
    }

    fn memory_v2(&mut self, mem: &mut MemoryStats) -> Result<bool> {
        *mem = MemoryStats {
            usage: self.read_u64(F::MemUsage, parse::single_u64)?,
            max_usage: self.read_u64(F::MemMaxUsage, parse::single_u64)?,
            swap: self.read_u64(F::MemSwap, parse::single_u64)?,
            ..MemoryStats::default()
        };
        let mut any = mem.usage.is_some() || mem.max_usage.is_some() || mem.swap.is_some();
        if let Some(text) = self.load(F::MemStat)? {
            any = true;
            parse::memory_stat_v2(text, mem);
        }
        if mem.usage.is_none() && self.is_root {
            // The root has no memory.current: cAdvisor takes anon + file.
            mem.usage = mem
                .rss
                .zip(mem.cache)
                .map(|(anon, file)| anon.saturating_add(file));
        }
        if let Some(text) = self.load(F::MemEvents)? {
            any = true;
            mem.events = Some(parse::memory_events(text));
        }
        mem.working_set = parse::working_set(mem);
        Ok(any)
    }

    /// OOM kills: v1 `memory.oom_control` `oom_kill`, v2 `memory.events` `oom_kill`.
    fn oom_events(&mut self) -> Result<Option<u64>> {
        let f = if self.v2 {
            F::MemEvents
        } else {
            F::MemOomControl
        };
        Ok(self.load(f)?.and_then(parse::oom_kill))
    }

    fn diskio(&mut self, devices: &DeviceNames, io: &mut DiskIoStats) -> Result<bool> {
        let mut masks = std::mem::take(&mut self.masks);
        let result = if self.v2 {
            self.load(F::IoBytes).map(|text| {
                let (bytes, ops) = (&mut io.io_service_bytes, &mut io.io_serviced);
                match text {
                    Some(text) => parse::io_stat_into(text, bytes, ops, &mut masks, devices),
                    None => {
                        bytes.clear();
                        ops.clear();
                    }
                }
                text.is_some()
            })
        } else {
            self.blkio(devices, io, &mut masks)
        };
        self.masks = masks;
        result
    }

    /// v1 blkio: the `_recursive` files, or the `throttle` ones when those are missing or hold
    /// no device (cAdvisor's fallback; kernels without CFQ have only `throttle` and `bfq`).
    fn blkio(
        &mut self,
        devices: &DeviceNames,
        io: &mut DiskIoStats,
        masks: &mut Vec<u8>,
    ) -> Result<bool> {
        let (mut any, mut recursive) = (false, false);
        for f in [F::IoBytes, F::IoServiced] {
            if let Some(text) = self.load(f)? {
                any = true;
                recursive = parse::blkio(text).next().is_some();
                if recursive {
                    break;
                }
            }
        }
        let (bytes, ops) = if recursive {
            (F::IoBytes, F::IoServiced)
        } else {
            (F::IoThrottleBytes, F::IoThrottleServiced)
        };
        let text = self.load(bytes)?;
        any |= text.is_some();
        parse::blkio_into(text, &mut io.io_service_bytes, masks, devices);
        let text = self.load(ops)?;
        any |= text.is_some();
        parse::blkio_into(text, &mut io.io_serviced, masks, devices);
        Ok(any)
    }

    /// The cgroup's PSI file, or for `/` the system one when the cgroup has none.
    fn psi(&mut self, cgroup: F, system: F) -> Result<Option<PsiStats>> {
        for f in [cgroup, system] {
            if let Some(text) = self.load(f)? {
                return parse::psi(text).map(Some).map_err(|e| self.parse_err(f, e));
            }
        }
        Ok(None)
    }
}

fn is_not_found(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR))
}

/// Reads `file` from offset 0 into `buf` (whose length is its usable size), growing it until a
/// read comes back short. Returns the length read.
fn read_whole(file: &File, buf: &mut Vec<u8>) -> io::Result<usize> {
    if buf.is_empty() {
        buf.resize(INITIAL_BUF, 0);
    }
    let mut len = 0;
    loop {
        let n = match file.read_at(&mut buf[len..], len as u64) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        len += n;
        if n == 0 || len < buf.len() {
            return Ok(len);
        }
        if buf.len() >= MAX_FILE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "file larger than 64 MiB",
            ));
        }
        buf.resize(buf.len() * 2, 0);
    }
}
