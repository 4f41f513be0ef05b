//! Watching the hierarchies for new and removed cgroups with inotify (one watch per cgroup
//! directory, `IN_CREATE | IN_DELETE | IN_MOVE`, as cAdvisor's raw watcher). Events are hints:
//! the manager checks each named container against the file system before it adds or drops
//! it, and a periodic full rescan catches anything inotify missed (queue overflow, `ENOSPC`).

use std::collections::{BTreeSet, HashMap};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};

use crate::cgroup::Layout;
use crate::discover::{MAX_DEPTH, is_ignored, walk};
use crate::{Error, Result};

/// A change seen in the cgroup trees.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Event {
    /// A cgroup directory appeared (in at least one hierarchy).
    Added(String),
    /// A cgroup directory disappeared (from at least one hierarchy).
    Removed(String),
    /// Events were lost (queue overflow): rescan everything.
    Overflow,
}

/// inotify watches on every cgroup directory of every hierarchy.
pub struct Watcher {
    inotify: Inotify,
    roots: Vec<PathBuf>,
    /// Watch descriptor → (hierarchy index, container name).
    wds: HashMap<WatchDescriptor, (usize, String)>,
    buf: Vec<u8>,
    /// Directories that could not be watched (e.g. `max_user_watches` reached).
    failed: u64,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("roots", &self.roots)
            .field("watches", &self.wds.len())
            .finish()
    }
}

const MASK: WatchMask = WatchMask::CREATE
    .union(WatchMask::DELETE)
    .union(WatchMask::MOVED_FROM)
    .union(WatchMask::MOVED_TO)
    .union(WatchMask::ONLYDIR);

impl Watcher {
    /// Watches every directory of every hierarchy of `layout`.
    pub fn new(layout: &Layout) -> Result<Watcher> {
        let inotify = Inotify::init().map_err(|e| Error::Watch {
            path: layout.root.clone(),
            source: e,
        })?;
        let mut w = Watcher {
            inotify,
            roots: layout.hierarchies(),
            wds: HashMap::new(),
            buf: vec![0; 64 * 1024],
            failed: 0,
        };
        for idx in 0..w.roots.len() {
            let root = w.roots[idx].clone();
            w.watch_tree(idx, &root, "/", 0, &mut Vec::new())?;
        }
        Ok(w)
    }

    /// Number of directories watched.
    pub fn watch_count(&self) -> usize {
        self.wds.len()
    }

    /// Directories that could not be watched since start.
    pub fn failed_watches(&self) -> u64 {
        self.failed
    }

    fn watch_tree(
        &mut self,
        idx: usize,
        dir: &Path,
        name: &str,
        depth: usize,
        added: &mut Vec<Event>,
    ) -> Result<()> {
        match self.inotify.watches().add(dir, MASK) {
            Ok(wd) => {
                self.wds.insert(wd, (idx, name.to_owned()));
            }
            // Gone already: nothing to watch.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if name == "/" => {
                return Err(Error::Watch {
                    path: dir.to_owned(),
                    source: e,
                });
            }
            Err(e) => {
                self.failed += 1;
                tracing::warn!(dir = %dir.display(), error = %e, "cannot watch cgroup directory; the periodic rescan will still find its children");
                return Ok(());
            }
        }
        if depth >= MAX_DEPTH {
            return Ok(());
        }
        // Children that exist already (created before the watch was in place) are reported.
        let mut children = BTreeSet::new();
        let prefix = if name == "/" { "" } else { name };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir())
                && let Some(n) = entry.file_name().to_str()
                && !is_ignored(n)
            {
                children.insert(n.to_owned());
            }
        }
        for child in children {
            let child_name = format!("{prefix}/{child}");
            added.push(Event::Added(child_name.clone()));
            self.watch_tree(idx, &dir.join(&child), &child_name, depth + 1, added)?;
        }
        Ok(())
    }

    /// Waits up to `timeout` for inotify to have something to read. Returns whether it has.
    pub fn wait(&self, timeout: Duration) -> bool {
        let mut pfd = libc::pollfd {
            fd: self.inotify.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: `pfd` is a valid pollfd for the duration of the call and nfds is 1.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        n > 0
    }

    /// Reads every pending event without blocking, appending to `out`. New directories get
    /// watches at once, and their existing subdirectories are reported as added too.
    pub fn poll(&mut self, out: &mut Vec<Event>) -> Result<()> {
        loop {
            let mut buf = std::mem::take(&mut self.buf);
            let raw: Vec<(WatchDescriptor, EventMask, Option<String>)> =
                match self.inotify.read_events(&mut buf) {
                    Ok(events) => events
                        .map(|e| {
                            (
                                e.wd,
                                e.mask,
                                e.name.and_then(|n| n.to_str()).map(str::to_owned),
                            )
                        })
                        .collect(),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        self.buf = buf;
                        return Ok(());
                    }
                    Err(e) => {
                        self.buf = buf;
                        return Err(Error::Watch {
                            path: PathBuf::from("inotify"),
                            source: e,
                        });
                    }
                };
            self.buf = buf;
            if raw.is_empty() {
                return Ok(());
            }
            for (wd, mask, name) in raw {
                if mask.contains(EventMask::Q_OVERFLOW) {
                    out.push(Event::Overflow);
                    continue;
                }
                if mask.contains(EventMask::IGNORED) {
                    self.wds.remove(&wd);
                    continue;
                }
                let Some((idx, parent)) = self.wds.get(&wd).cloned() else {
                    continue;
                };
                let Some(child) = name else { continue };
                if !mask.contains(EventMask::ISDIR) || is_ignored(&child) {
                    continue;
                }
                let full = if parent == "/" {
                    format!("/{child}")
                } else {
                    format!("{parent}/{child}")
                };
                if mask.intersects(EventMask::CREATE | EventMask::MOVED_TO) {
                    out.push(Event::Added(full.clone()));
                    let dir = crate::cgroup::join_name(&self.roots[idx], &full);
                    let depth = full.matches('/').count();
                    self.watch_tree(idx, &dir, &full, depth, out)?;
                } else if mask.intersects(EventMask::DELETE | EventMask::MOVED_FROM) {
                    // The kernel drops the watch of a deleted directory itself (IN_IGNORED);
                    // a moved-away directory keeps it, so drop ours and everything below.
                    let below: Vec<WatchDescriptor> = self
                        .wds
                        .iter()
                        .filter(|(_, (i, n))| {
                            *i == idx && (n == &full || n.starts_with(&format!("{full}/")))
                        })
                        .map(|(wd, _)| wd.clone())
                        .collect();
                    for wd in below {
                        if let Some((_, n)) = self.wds.remove(&wd) {
                            let _ = self.inotify.watches().remove(wd);
                            if n != full {
                                out.push(Event::Removed(n));
                            }
                        }
                    }
                    out.push(Event::Removed(full));
                }
            }
        }
    }
}

/// Lists the containers below `name` in one hierarchy (used after a move or overflow).
pub fn list_below(root: &Path, name: &str) -> Result<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    let prefix = if name == "/" { "" } else { name };
    walk(
        &crate::cgroup::join_name(root, name),
        prefix,
        name.matches('/').count(),
        &mut names,
    )?;
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(w: &mut Watcher) -> Vec<Event> {
        let mut out = Vec::new();
        for _ in 0..20 {
            if w.wait(Duration::from_millis(50)) {
                w.poll(&mut out).unwrap();
            } else if !out.is_empty() {
                break;
            }
        }
        out.sort();
        out
    }

    #[test]
    fn sees_directories_come_and_go() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("memory/existing")).unwrap();
        std::fs::write(d.path().join("memory/cgroup.procs"), "").unwrap();
        let layout = Layout::detect(d.path()).unwrap();
        let mut w = Watcher::new(&layout).unwrap();
        assert_eq!(w.watch_count(), 2);

        std::fs::create_dir_all(d.path().join("memory/a/b")).unwrap();
        let events = drain(&mut w);
        assert!(events.contains(&Event::Added("/a".into())), "{events:?}");
        assert_eq!(w.watch_count(), 4, "{events:?}");

        std::fs::remove_dir(d.path().join("memory/a/b")).unwrap();
        std::fs::remove_dir(d.path().join("memory/a")).unwrap();
        let events = drain(&mut w);
        assert!(
            events.contains(&Event::Removed("/a/b".into())),
            "{events:?}"
        );
        assert!(events.contains(&Event::Removed("/a".into())), "{events:?}");
        assert_eq!(w.watch_count(), 2);
    }
}
