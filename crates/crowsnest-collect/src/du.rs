//! Disk usage of directory trees (a container's writable layer and its logs), measured without
//! `du` storms.
//!
//! cAdvisor runs `du` over every container's layer once a minute; on large layers that costs
//! 13–15 s of disk and CPU per container (shared/reference/cadvisor.md §7, #2212). Here a walk
//! is a resumable [`Walk`] that advances a slice of entries at a time: between slices
//! [`measure`] paces it to a [`Budget`] of entries per second, and gives it up when the tree
//! has more entries than the budget allows or the walk has worked longer than allowed, with
//! the reason ([`WalkError::TooLarge`], [`WalkError::TooSlow`]), so a caller reports such a
//! container's usage as absent instead of paying for it. The caller keeps the results and
//! walks each container again on a slow interval, one walk at a time.
//!
//! Usage is what `du -x` counts: allocated blocks (`st_blocks` × 512), each inode once (hard
//! links counted once, also across the roots of one walk), the roots included, without
//! crossing into other filesystems. Inodes are the entries counted.

use std::collections::HashSet;
use std::fs::ReadDir;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Bytes and inodes of one tree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Allocated bytes (`st_blocks` × 512).
    pub bytes: u64,
    /// Inodes (files, directories, links; each once).
    pub inodes: u64,
}

/// How much a walk may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Entries visited per second, at most (0: not paced).
    pub entries_per_sec: u32,
    /// Entries one walk may visit; a larger tree is given up ([`WalkError::TooLarge`]).
    pub max_entries: u64,
    /// Working time one walk may take, pauses not counted; a slower walk is given up
    /// ([`WalkError::TooSlow`]).
    pub max_time: Duration,
}

impl Default for Budget {
    /// 10 000 entries a second (a few percent of one core), 500 000 entries and 60 s of work
    /// (cAdvisor's `du` timeout) per walk.
    fn default() -> Self {
        Budget {
            entries_per_sec: 10_000,
            max_entries: 500_000,
            max_time: Duration::from_secs(60),
        }
    }
}

/// Why a walk gave no usage.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    /// The tree has more entries than the budget allows.
    #[error("more than {limit} entries under {root}: too large to walk")]
    TooLarge {
        /// The root being walked.
        root: PathBuf,
        /// [`Budget::max_entries`].
        limit: u64,
    },
    /// The walk worked longer than the budget allows.
    #[error("walking {root} took more than {limit:?} ({entries} entries): too slow")]
    TooSlow {
        /// The root being walked.
        root: PathBuf,
        /// [`Budget::max_time`].
        limit: Duration,
        /// Entries visited until then.
        entries: u64,
    },
    /// A root cannot be read (missing, no permission).
    #[error("cannot read {path}: {source}")]
    Root {
        /// The root.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The walk was stopped from outside.
    #[error("walk stopped")]
    Stopped,
}

impl WalkError {
    /// A short, stable name of the reason (`too_large`, `too_slow`, `unreadable`,
    /// `stopped`), for counters.
    pub fn reason(&self) -> &'static str {
        match self {
            WalkError::TooLarge { .. } => "too_large",
            WalkError::TooSlow { .. } => "too_slow",
            WalkError::Root { .. } => "unreadable",
            WalkError::Stopped => "stopped",
        }
    }

    /// Whether the tree is too expensive to walk (as opposed to unreadable).
    pub fn too_expensive(&self) -> bool {
        matches!(self, WalkError::TooLarge { .. } | WalkError::TooSlow { .. })
    }
}

/// A walk over one or more roots, advanced a slice at a time with [`Walk::step`]. It holds
/// one open directory at a time, and the paths of the directories still to read.
#[derive(Debug)]
pub struct Walk {
    roots: Vec<PathBuf>,
    /// Index of the root being walked; `roots.len()` when done.
    root: usize,
    /// Whether the root at `root` was counted and queued.
    started: bool,
    /// Device of the root being walked (entries elsewhere are not counted).
    dev: u64,
    /// The directory being read.
    dir: Option<ReadDir>,
    /// Directories of the current root still to read.
    pending: Vec<PathBuf>,
    /// Inodes with more than one link already counted.
    linked: HashSet<(u64, u64)>,
    usage: Vec<Usage>,
    entries: u64,
    /// Entries that vanished or could not be read while walking (not counted).
    unreadable: u64,
}

impl Walk {
    /// A walk over `roots`, each counted apart (see [`Walk::usage`]). A root that is a file
    /// counts as itself.
    pub fn new(roots: Vec<PathBuf>) -> Walk {
        let n = roots.len();
        Walk {
            roots,
            root: 0,
            started: false,
            dev: 0,
            dir: None,
            pending: Vec::new(),
            linked: HashSet::new(),
            usage: vec![Usage::default(); n],
            entries: 0,
            unreadable: 0,
        }
    }

    /// Entries visited so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Entries that vanished or could not be read while walking (left out of the usage).
    pub fn unreadable(&self) -> u64 {
        self.unreadable
    }

    /// Whether every root was walked.
    pub fn is_done(&self) -> bool {
        self.root >= self.roots.len()
    }

    /// Usage of each root, in the order given (complete once [`Walk::is_done`]).
    pub fn usage(&self) -> &[Usage] {
        &self.usage
    }

    /// The root being walked (the last one when done).
    fn current_root(&self) -> PathBuf {
        self.roots
            .get(self.root.min(self.roots.len().saturating_sub(1)))
            .cloned()
            .unwrap_or_default()
    }

    /// Visits at most `n` more entries. An error only when a root cannot be read; entries
    /// that vanish meanwhile (a container writing and deleting) are skipped.
    pub fn step(&mut self, n: usize) -> Result<(), WalkError> {
        let mut budget = n;
        while budget > 0 && !self.is_done() {
            if let Some(dir) = self.dir.as_mut() {
                match dir.next() {
                    Some(Ok(entry)) => {
                        budget -= 1;
                        match entry.metadata() {
                            Ok(meta) => {
                                if meta.dev() != self.dev {
                                    // A mount point inside the tree: another filesystem.
                                    continue;
                                }
                                self.count(&meta);
                                if meta.is_dir() {
                                    self.pending.push(entry.path());
                                }
                            }
                            Err(_) => self.unreadable += 1,
                        }
                    }
                    Some(Err(_)) => {
                        budget -= 1;
                        self.unreadable += 1;
                    }
                    None => self.dir = None,
                }
                continue;
            }
            if let Some(path) = self.pending.pop() {
                match std::fs::read_dir(&path) {
                    Ok(rd) => self.dir = Some(rd),
                    Err(_) => self.unreadable += 1,
                }
                continue;
            }
            if self.started {
                // The current root is done: on to the next.
                self.root += 1;
                self.started = false;
            } else {
                self.start_root()?;
                self.started = true;
                budget -= 1;
            }
        }
        Ok(())
    }

    /// Counts the root itself and, for a directory, queues it.
    fn start_root(&mut self) -> Result<(), WalkError> {
        let path = self.roots[self.root].clone();
        let meta = std::fs::symlink_metadata(&path).map_err(|source| WalkError::Root {
            path: path.clone(),
            source,
        })?;
        self.dev = meta.dev();
        self.count(&meta);
        if meta.is_dir() {
            self.pending.push(path);
        }
        Ok(())
    }

    fn count(&mut self, meta: &std::fs::Metadata) {
        self.entries += 1;
        if meta.nlink() > 1 && !meta.is_dir() && !self.linked.insert((meta.dev(), meta.ino())) {
            return;
        }
        let u = &mut self.usage[self.root];
        u.bytes = u.bytes.saturating_add(meta.blocks().saturating_mul(512));
        u.inodes += 1;
    }
}

/// Time as a walk sees it: the monotonic clock and a sleep (tests use a manual one).
pub trait Pace {
    /// Now.
    fn now(&self) -> Instant;
    /// Waits `d`.
    fn sleep(&mut self, d: Duration);
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealPace;

impl Pace for RealPace {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn sleep(&mut self, d: Duration) {
        std::thread::sleep(d);
    }
}

/// What a finished walk found and cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measured {
    /// Usage of each root, in the order given.
    pub usage: Vec<Usage>,
    /// Entries visited.
    pub entries: u64,
    /// Time spent working (pauses not counted).
    pub busy: Duration,
    /// Time spent pausing to keep to the budget.
    pub paused: Duration,
}

/// Slices per second a paced walk is cut into: small enough that a pause is short, large
/// enough that the clock is not read for every entry.
const SLICES_PER_SEC: u32 = 20;

/// Walks `roots` to the end within `budget`: slices of `entries_per_sec / 20` entries, each
/// followed by a pause that keeps the walk at `entries_per_sec` at most. `stop` is asked
/// between slices; when it says so the walk ends with [`WalkError::Stopped`].
pub fn measure(
    roots: Vec<PathBuf>,
    budget: &Budget,
    pace: &mut dyn Pace,
    stop: &dyn Fn() -> bool,
) -> Result<Measured, WalkError> {
    let slice = match budget.entries_per_sec {
        0 => 4096,
        rate => (rate / SLICES_PER_SEC).max(1) as usize,
    };
    let mut walk = Walk::new(roots);
    let (mut busy, mut paused) = (Duration::ZERO, Duration::ZERO);
    while !walk.is_done() {
        if stop() {
            return Err(WalkError::Stopped);
        }
        let started = pace.now();
        let before = walk.entries();
        walk.step(slice)?;
        let worked = pace.now().saturating_duration_since(started);
        busy += worked;
        if walk.entries() > budget.max_entries {
            return Err(WalkError::TooLarge {
                root: walk.current_root(),
                limit: budget.max_entries,
            });
        }
        if busy > budget.max_time {
            return Err(WalkError::TooSlow {
                root: walk.current_root(),
                limit: budget.max_time,
                entries: walk.entries(),
            });
        }
        // The last slice is paced too, so the rate holds across walks one after another.
        if budget.entries_per_sec > 0 {
            let done = walk.entries() - before;
            let allowed = Duration::from_secs_f64(done as f64 / f64::from(budget.entries_per_sec));
            let wait = allowed.saturating_sub(worked);
            if !wait.is_zero() {
                pace.sleep(wait);
                paused += wait;
            }
        }
    }
    Ok(Measured {
        usage: walk.usage().to_vec(),
        entries: walk.entries(),
        busy,
        paused,
    })
}

/// The `(major, minor)` device number of the filesystem holding `path`.
pub fn device_of(path: &Path) -> std::io::Result<(u64, u64)> {
    let dev = std::fs::metadata(path)?.dev();
    Ok((libc::major(dev).into(), libc::minor(dev).into()))
}

#[cfg(test)]
mod tests;
