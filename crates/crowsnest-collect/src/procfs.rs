//! Parsers and readers for the machine-wide files of procfs: `meminfo`, `cpuinfo`,
//! `<pid>/mountinfo`, `diskstats`, `stat` (boot time) and the `sys/kernel` identity files.
//!
//! Each file has a pure parser that takes the text (unit-tested on fixtures in the kernel's
//! format) and a reader that takes [`Roots`] and names the file in its errors. A value the
//! kernel does not print is `None`, never 0.

use std::path::{Path, PathBuf};

use crate::{Error, Result, Roots};

pub mod cpuinfo;
pub mod diskstats;
pub mod meminfo;
pub mod mountinfo;

pub use cpuinfo::{CpuInfo, parse_cpuinfo};
pub use diskstats::{DiskStats, parse_diskstats};
pub use meminfo::{MemInfo, parse_meminfo};
pub use mountinfo::{MountInfo, parse_mountinfo};

/// A line of a procfs file that does not have the kernel's format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ParseError {
    /// 1-based line number (0 when the problem is the file as a whole).
    pub line: usize,
    /// What is wrong, with the offending text.
    pub reason: String,
}

impl ParseError {
    pub(crate) fn new(line: usize, reason: impl Into<String>) -> Self {
        ParseError {
            line,
            reason: reason.into(),
        }
    }

    /// The crate error for this problem in `path`.
    pub(crate) fn at(self, path: &Path) -> Error {
        Error::parse(path, self.to_string())
    }
}

/// Reads a whole file, naming it in the error.
pub(crate) fn read_file(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::io(path, e))
}

/// Reads a one-value file (sysfs attribute, `boot_id`, ...) without its surrounding whitespace.
pub(crate) fn read_trimmed(path: &Path) -> Result<String> {
    let mut text = read_file(path)?;
    let end = text.trim_end().len();
    text.truncate(end);
    let start = text.len() - text.trim_start().len();
    text.drain(..start);
    Ok(text)
}

/// Reads a file holding one decimal number (sysfs attributes such as `nr_hugepages`).
pub(crate) fn read_number<T: std::str::FromStr>(path: &Path) -> Result<T> {
    let text = read_trimmed(path)?;
    text.parse()
        .map_err(|_| Error::parse(path, format!("expected a number, found {text:?}")))
}

fn read_parsed<T>(path: PathBuf, parse: fn(&str) -> Result<T, ParseError>) -> Result<T> {
    let text = read_file(&path)?;
    parse(&text).map_err(|e| e.at(&path))
}

/// Reads `<proc>/meminfo`.
pub fn read_meminfo(roots: &Roots) -> Result<MemInfo> {
    read_parsed(roots.proc_path("meminfo"), parse_meminfo)
}

/// Reads `<proc>/cpuinfo`.
pub fn read_cpuinfo(roots: &Roots) -> Result<CpuInfo> {
    read_parsed(roots.proc_path("cpuinfo"), parse_cpuinfo)
}

/// Reads `<proc>/diskstats`.
pub fn read_diskstats(roots: &Roots) -> Result<Vec<DiskStats>> {
    read_parsed(roots.proc_path("diskstats"), parse_diskstats)
}

/// Reads `<proc>/<pid>/mountinfo`; `pid` is a number or `self`.
pub fn read_mountinfo(roots: &Roots, pid: &str) -> Result<Vec<MountInfo>> {
    read_parsed(roots.proc_path(pid).join("mountinfo"), parse_mountinfo)
}

/// The boot time in seconds since the epoch: the `btime` line of `/proc/stat`. `None` when
/// the file has no such line.
pub fn parse_btime(text: &str) -> Result<Option<u64>, ParseError> {
    for (i, line) in text.lines().enumerate() {
        if let Some(rest) = line.strip_prefix("btime ") {
            let rest = rest.trim();
            return rest
                .parse()
                .map(Some)
                .map_err(|_| ParseError::new(i + 1, format!("btime is not a number: {rest:?}")));
        }
    }
    Ok(None)
}

/// Reads the boot time from `<proc>/stat`; an error when the file has no `btime` line.
pub fn read_btime(roots: &Roots) -> Result<u64> {
    let path = roots.proc_path("stat");
    read_parsed(path.clone(), parse_btime)?.ok_or_else(|| Error::parse(path, "no btime line"))
}

/// The kernel release (`uname -r`) from `<proc>/sys/kernel/osrelease`.
pub fn read_osrelease(roots: &Roots) -> Result<String> {
    read_trimmed(&roots.proc_path("sys/kernel/osrelease"))
}

/// The boot id from `<proc>/sys/kernel/random/boot_id`.
pub fn read_boot_id(roots: &Roots) -> Result<String> {
    read_trimmed(&roots.proc_path("sys/kernel/random/boot_id"))
}

/// Fixtures shared by the tests of the collector's procfs and sysfs readers.
#[cfg(test)]
pub(crate) mod testdata {
    use std::path::PathBuf;

    use crate::Roots;

    /// The fixture trees of this crate: `tests/fixtures/{proc,sys}`.
    pub(crate) fn fixture_roots() -> Roots {
        let base = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"));
        Roots {
            cgroup: base.join("cgroup-none"),
            proc: base.join("proc"),
            sys: base.join("sys"),
            machine_id_files: vec![base.join("missing-machine-id")],
            os_release: base.join("missing-os-release"),
            rootfs: PathBuf::from("/"),
        }
    }

    /// A file of the project's shared cAdvisor test data (`shared/testdata/cadvisor/<name>`).
    /// `None`, with a loud message, when it is absent, so that a checkout without the shared
    /// tree still builds; under `CI=true` its absence fails the test.
    pub(crate) fn shared(name: &str) -> Option<String> {
        let path = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/testdata/cadvisor/"
        ))
        .join(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => Some(text),
            Err(e) => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "shared fixture {} is missing under CI: {e}",
                    path.display()
                );
                eprintln!(
                    "\n!!!!!!!! SKIPPING: shared fixture {} is missing ({e}) !!!!!!!!\n",
                    path.display()
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testdata::fixture_roots;
    use super::*;

    #[test]
    fn btime_from_stat() {
        let text = "cpu  1 2 3 4\nintr 5\nctxt 6\nbtime 1795490188\nprocesses 7\n";
        assert_eq!(parse_btime(text), Ok(Some(1_795_490_188)));
        assert_eq!(parse_btime("cpu 1 2 3\n"), Ok(None));
        let e = parse_btime("ctxt 1\nbtime x\n").unwrap_err();
        assert_eq!(e.line, 2);
    }

    #[test]
    fn readers_on_the_fixture_tree() {
        let roots = fixture_roots();
        assert_eq!(read_btime(&roots).unwrap(), 1_700_000_000);
        assert_eq!(read_osrelease(&roots).unwrap(), "6.1.0-18-amd64");
        assert_eq!(
            read_boot_id(&roots).unwrap(),
            "0f3c8a2e-7d1b-4c55-9a6e-3b2f1d0c9e8a"
        );
        assert_eq!(
            read_meminfo(&roots).unwrap().mem_total,
            Some(8_029_032 * 1024)
        );
        assert_eq!(read_cpuinfo(&roots).unwrap().logical, 4);
        assert_eq!(read_diskstats(&roots).unwrap().len(), 4);
        assert_eq!(read_mountinfo(&roots, "1").unwrap().len(), 11);
    }

    #[test]
    fn read_errors_name_the_file() {
        let mut roots = fixture_roots();
        roots.proc = roots.proc.join("nowhere");
        let e = read_meminfo(&roots).unwrap_err().to_string();
        assert!(e.contains("nowhere/meminfo"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("stat"), "cpu 1\n").unwrap();
        let roots = Roots {
            proc: dir.path().to_owned(),
            ..fixture_roots()
        };
        let e = read_btime(&roots).unwrap_err().to_string();
        assert!(e.contains("stat") && e.contains("no btime"), "{e}");
    }

    #[test]
    fn read_trimmed_and_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v");
        std::fs::write(&p, "  42 \n").unwrap();
        assert_eq!(read_trimmed(&p).unwrap(), "42");
        assert_eq!(read_number::<u64>(&p).unwrap(), 42);
        std::fs::write(&p, "max\n").unwrap();
        let e = read_number::<u64>(&p).unwrap_err().to_string();
        assert!(e.contains("\"max\""), "{e}");
    }
}
