//! A value read from files and read again when they change: their mtime, size and inode are
//! looked at no more often than a given period. A change that does not load (a file emptied,
//! made unreadable or half written) keeps the last good value and is logged once.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::error::Result;

/// What says a file changed.
type Stamp = Vec<(SystemTime, u64, u64)>;

/// Loads the value from the files.
type Loader<T> = Box<dyn Fn() -> Result<T> + Send + Sync>;

/// A value loaded from `paths`, reloaded when they change.
pub(crate) struct Watched<T> {
    what: &'static str,
    paths: Vec<PathBuf>,
    every: Duration,
    load: Loader<T>,
    state: Mutex<State<T>>,
}

struct State<T> {
    value: Arc<T>,
    stamp: Option<Stamp>,
    checked: Instant,
    failed: Option<String>,
}

impl<T> Watched<T> {
    /// Loads the value at once (an error is returned as is), then reloads it on change,
    /// looking at the files at most once per `every`.
    pub(crate) fn open(
        what: &'static str,
        paths: Vec<PathBuf>,
        every: Duration,
        load: impl Fn() -> Result<T> + Send + Sync + 'static,
    ) -> Result<Watched<T>> {
        let stamp = stamp(&paths).ok();
        let value = Arc::new(load()?);
        Ok(Watched {
            what,
            paths,
            every,
            load: Box::new(load),
            state: Mutex::new(State {
                value,
                stamp,
                checked: Instant::now(),
                failed: None,
            }),
        })
    }

    /// The value now.
    pub(crate) fn get(&self) -> Arc<T> {
        self.get_at(Instant::now())
    }

    /// The value at `now`, reloaded first when the period has passed and the files changed.
    pub(crate) fn get_at(&self, now: Instant) -> Arc<T> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if now.saturating_duration_since(s.checked) < self.every {
            return s.value.clone();
        }
        s.checked = now;
        let fresh = match stamp(&self.paths) {
            Ok(st) => st,
            Err(e) => {
                self.failed(&mut s, e);
                return s.value.clone();
            }
        };
        if s.stamp.as_ref() == Some(&fresh) {
            return s.value.clone();
        }
        // The stamp is kept even when the load fails: the files are read again only once
        // they change again.
        s.stamp = Some(fresh);
        match (self.load)() {
            Ok(v) => {
                s.value = Arc::new(v);
                s.failed = None;
                tracing::info!(what = self.what, files = ?self.paths, "reloaded");
            }
            Err(e) => self.failed(&mut s, e.to_string()),
        }
        s.value.clone()
    }

    fn failed(&self, s: &mut State<T>, reason: String) {
        if s.failed.as_deref() != Some(reason.as_str()) {
            tracing::warn!(what = self.what, error = %reason, "cannot reload; keeping the last good one");
            s.failed = Some(reason);
        }
    }
}

fn stamp(paths: &[PathBuf]) -> Result<Stamp, String> {
    paths
        .iter()
        .map(|p| {
            let m = std::fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
            let mtime = m.modified().map_err(|e| format!("{}: {e}", p.display()))?;
            Ok((mtime, m.len(), m.ino()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn reloads_on_change_and_keeps_the_last_good_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v");
        std::fs::write(&path, "1").unwrap();
        let p = path.clone();
        let w = Watched::open(
            "value",
            vec![path.clone()],
            Duration::from_secs(1),
            move || {
                let t = std::fs::read_to_string(&p).unwrap_or_default();
                t.trim()
                    .parse::<u32>()
                    .map_err(|e| Error::Flags(e.to_string()))
            },
        )
        .unwrap();
        let t0 = Instant::now();
        assert_eq!(*w.get_at(t0), 1);
        std::fs::write(&path, "22").unwrap();
        assert_eq!(*w.get_at(t0), 1, "not looked at before the period");
        let t1 = t0 + Duration::from_secs(2);
        assert_eq!(*w.get_at(t1), 22);
        std::fs::write(&path, "").unwrap();
        assert_eq!(*w.get_at(t1 + Duration::from_secs(2)), 22, "bad: kept");
        std::fs::remove_file(&path).unwrap();
        assert_eq!(*w.get_at(t1 + Duration::from_secs(4)), 22, "gone: kept");
        std::fs::write(&path, "333").unwrap();
        assert_eq!(*w.get_at(t1 + Duration::from_secs(6)), 333);
    }
}
