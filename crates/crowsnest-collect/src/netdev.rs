//! Network interface counters from `/proc/<pid>/net/dev`, the file cAdvisor reads for a
//! container's network namespace, and the namespace's identity (`/proc/<pid>/ns/net`).
//!
//! [`NetReader`] keeps the file open and re-reads it with `pread` at offset 0 into a reused
//! buffer (5 µs instead of 12 µs for open + read + close, `shared/reference/perf.md`).

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use crowsnest_core::model::InterfaceStats;

use crate::{Error, Result};

/// Interface name prefixes cAdvisor leaves out of container network stats
/// (`container/libcontainer/handler.go`): loopback, the host ends of veth pairs, and the
/// Docker and nerdctl bridges.
pub const IGNORED_PREFIXES: [&str; 4] = ["lo", "veth", "docker", "nerdctl"];

/// Whether cAdvisor leaves interface `name` out of network stats.
pub fn is_ignored(name: &str) -> bool {
    IGNORED_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Parses `/proc/<pid>/net/dev` into `out`, replacing its contents and reusing its
/// allocations (interface names included), so a steady sample allocates nothing.
///
/// The two header lines are skipped, as is every interface [`is_ignored`] names. Each other
/// line is `name: rx_bytes rx_packets rx_errs rx_drop fifo frame compressed multicast
/// tx_bytes tx_packets tx_errs tx_drop ...`; a line without at least those 12 numbers is
/// skipped too (the kernel does not write one).
pub fn parse_net_dev(text: &str, out: &mut Vec<InterfaceStats>) {
    let mut n = 0;
    for line in text.lines() {
        let Some((name, counters)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.is_empty() || name.contains('|') || is_ignored(name) {
            continue;
        }
        let Some(c) = first_counters(counters) else {
            continue;
        };
        if n == out.len() {
            out.push(InterfaceStats::default());
        }
        let s = &mut out[n];
        s.name.clear();
        s.name.push_str(name);
        s.rx_bytes = c[0];
        s.rx_packets = c[1];
        s.rx_errors = c[2];
        s.rx_dropped = c[3];
        s.tx_bytes = c[8];
        s.tx_packets = c[9];
        s.tx_errors = c[10];
        s.tx_dropped = c[11];
        n += 1;
    }
    out.truncate(n);
}

/// The first 12 numbers of a `net/dev` line (after the colon).
fn first_counters(text: &str) -> Option<[u64; 12]> {
    let mut c = [0u64; 12];
    let mut fields = text.split_ascii_whitespace();
    for slot in &mut c {
        *slot = fields.next()?.parse().ok()?;
    }
    Some(c)
}

/// A held `/proc/<pid>/net/dev`, re-read with `pread`.
///
/// An open `net/dev` keeps its network namespace and goes on returning its counters after the
/// process exits, so the reader also holds `/proc/<pid>/oom_score_adj` (a few bytes, no
/// seq_file) and reads it after each sample: once the process is gone that read fails with
/// `ESRCH`, [`NetReader::read`] returns the error, and the caller reopens with another pid of
/// the container. Both fds refer to the process, not to its number, so a reused pid cannot be
/// mistaken for it.
#[derive(Debug)]
pub struct NetReader {
    pid: u32,
    path: PathBuf,
    dev: File,
    alive_path: PathBuf,
    alive: File,
    /// Always fully initialised; its length is the capacity in use.
    buf: Vec<u8>,
}

impl NetReader {
    /// Opens `<proc_root>/<pid>/net/dev`.
    pub fn open(proc_root: &Path, pid: u32) -> Result<NetReader> {
        let dir = proc_root.join(pid.to_string());
        let path = dir.join("net/dev");
        let dev = File::open(&path).map_err(|e| Error::io(&path, e))?;
        let alive_path = dir.join("oom_score_adj");
        let alive = File::open(&alive_path).map_err(|e| Error::io(&alive_path, e))?;
        Ok(NetReader {
            pid,
            path,
            dev,
            alive_path,
            alive,
            buf: vec![0; 4096],
        })
    }

    /// The process whose network namespace this reads.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Reads the counters into `out` (see [`parse_net_dev`]). An error when the file cannot be
    /// read or the process is gone (`ESRCH`, `ENOENT`, ...): reopen with another pid.
    pub fn read(&mut self, out: &mut Vec<InterfaceStats>) -> Result<()> {
        let len = pread_all(&self.dev, &mut self.buf).map_err(|e| Error::io(&self.path, e))?;
        let mut probe = [0u8; 16];
        self.alive
            .read_at(&mut probe, 0)
            .map_err(|e| Error::io(&self.alive_path, e))?;
        let text = std::str::from_utf8(&self.buf[..len])
            .map_err(|e| Error::parse(&self.path, format!("not UTF-8: {e}")))?;
        parse_net_dev(text, out);
        Ok(())
    }
}

/// Reads the whole of `file` from offset 0 into `buf`, growing it when the file does not fit
/// (a seq_file hands out at most its own buffer, a page or more, per call). Returns the length.
fn pread_all(file: &File, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            buf.resize(buf.len().max(4096) * 2, 0);
        }
        let n = file.read_at(&mut buf[filled..], filled as u64)?;
        if n == 0 {
            return Ok(filled);
        }
        filled += n;
    }
}

/// A number naming the network namespace of process `pid`: the same for every process in
/// the namespace, different for any two namespaces that exist at once. `None` when the
/// process is gone.
///
/// It is the inode number of `<proc_root>/<pid>/net/dev`: procfs gives each namespace's
/// entries their own inode numbers (from the same pool as the namespaces' nsfs inodes, so the
/// two never collide). Unlike the `ns/net` link, `net/dev` needs no ptrace access to the
/// process, which an agent in a container lacks over the host's processes (they hold
/// capabilities it does not): there it still tells the host's namespace (pid 1's, through
/// `/rootfs/proc`) from each container's.
pub fn netns_inode(proc_root: &Path, pid: u32) -> Option<u64> {
    let path = proc_root.join(pid.to_string()).join("net/dev");
    std::fs::metadata(&path).ok().map(|m| m.ino())
}

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;

    use super::*;
    use crate::procfs::testdata::{fixture_roots, shared};

    fn stats(name: &str, c: [u64; 8]) -> InterfaceStats {
        InterfaceStats {
            name: name.into(),
            rx_bytes: c[0],
            rx_packets: c[1],
            rx_errors: c[2],
            rx_dropped: c[3],
            tx_bytes: c[4],
            tx_packets: c[5],
            tx_errors: c[6],
            tx_dropped: c[7],
        }
    }

    #[test]
    fn cadvisor_fixture() {
        let Some(text) = shared("procnetdev") else {
            return;
        };
        let mut out = Vec::new();
        parse_net_dev(&text, &mut out);
        // docker0 and lo are left out; the fixture's names touch their colon.
        assert_eq!(
            out,
            vec![
                stats("wlp4s0", [1, 2, 3, 4, 9, 10, 11, 12]),
                stats("em1", [315_849, 1172, 0, 0, 315_850, 1173, 0, 0]),
            ]
        );
    }

    #[test]
    fn kernel_format_and_filter() {
        let text = "Inter-|   Receive                                                |  Transmit\n \
             face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
             lo: 1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0\n  \
             eth0: 123456789 98765 1 2    0     0          0         5 87654321 56789 3 4    0     0       0          0\n\
             veth1a2b: 5 5 0 0 0 0 0 0 5 5 0 0 0 0 0 0\n\
             nerdctl0: 5 5 0 0 0 0 0 0 5 5 0 0 0 0 0 0\n\
             docker0: 5 5 0 0 0 0 0 0 5 5 0 0 0 0 0 0\n\
             ens3: 18446744073709551615 1 0 0 0 0 0 0 7 1 0 0 0 0 0 0\n\
             bad: 1 2 3\n";
        let mut out = vec![stats("old-name-to-reuse", [9; 8]); 5];
        parse_net_dev(text, &mut out);
        assert_eq!(
            out,
            vec![
                stats(
                    "eth0",
                    [123_456_789, 98_765, 1, 2, 87_654_321, 56_789, 3, 4]
                ),
                stats("ens3", [u64::MAX, 1, 0, 0, 7, 1, 0, 0]),
            ]
        );
        parse_net_dev("", &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn reader_on_the_fixture_tree() {
        let roots = fixture_roots();
        let mut r = NetReader::open(&roots.proc, 42).unwrap();
        assert_eq!(r.pid(), 42);
        let mut out = Vec::new();
        r.read(&mut out).unwrap();
        assert_eq!(
            out.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["eth0"]
        );
        assert_eq!(out[0].rx_bytes, 2_081_292);
        let e = NetReader::open(&roots.proc, 43).unwrap_err().to_string();
        assert!(e.contains("43/net/dev"), "{e}");
    }

    #[test]
    fn reader_on_this_process_sees_new_traffic() {
        let proc_root = Path::new("/proc");
        let pid = std::process::id();
        let mut r = NetReader::open(proc_root, pid).unwrap();
        // Loopback is filtered, so look at the raw file through the same held fd.
        let lo_tx = |r: &mut NetReader| -> u64 {
            let len = pread_all(&r.dev, &mut r.buf).unwrap();
            let text = std::str::from_utf8(&r.buf[..len]).unwrap();
            let line = text
                .lines()
                .find(|l| l.trim_start().starts_with("lo:"))
                .unwrap();
            line.split_once(':')
                .unwrap()
                .1
                .split_whitespace()
                .nth(9)
                .unwrap()
                .parse()
                .unwrap()
        };
        let mut out = Vec::new();
        r.read(&mut out).unwrap();
        assert!(out.iter().all(|s| !is_ignored(&s.name)));
        let before = lo_tx(&mut r);
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let target = sock.local_addr().unwrap();
        for _ in 0..20 {
            sock.send_to(b"x", target).unwrap();
        }
        let after = lo_tx(&mut r);
        assert!(after >= before + 20, "lo tx_packets {before} -> {after}");
        r.read(&mut out).unwrap();
    }

    #[test]
    fn reader_fails_once_the_process_is_gone() {
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        let mut r = NetReader::open(Path::new("/proc"), child.id()).unwrap();
        let mut out = Vec::new();
        r.read(&mut out).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        let e = r.read(&mut out).unwrap_err();
        assert!(
            matches!(&e, Error::Io { source, .. } if source.raw_os_error() == Some(libc::ESRCH)),
            "{e}"
        );
    }

    #[test]
    fn large_files_are_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let pid_dir = dir.path().join("7");
        std::fs::create_dir_all(pid_dir.join("net")).unwrap();
        std::fs::write(pid_dir.join("oom_score_adj"), "0\n").unwrap();
        let mut text = String::from("h1\nh2\n");
        for i in 0..500 {
            text.push_str(&format!("  eth{i}: {i} 1 0 0 0 0 0 0 {i} 1 0 0 0 0 0 0\n"));
        }
        std::fs::write(pid_dir.join("net/dev"), &text).unwrap();
        let mut r = NetReader::open(dir.path(), 7).unwrap();
        let mut out = Vec::new();
        r.read(&mut out).unwrap();
        assert_eq!(out.len(), 500);
        assert_eq!(out[499].tx_bytes, 499);
        r.read(&mut out).unwrap();
        assert_eq!(out.len(), 500);
    }

    #[test]
    fn netns_of_this_process_and_of_a_fixture() {
        let proc_root = Path::new("/proc");
        let own = netns_inode(proc_root, std::process::id()).unwrap();
        // A child in our namespace has the same number.
        let mut same = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        assert_eq!(netns_inode(proc_root, same.id()), Some(own));
        same.kill().unwrap();
        same.wait().unwrap();
        // A child in a namespace of its own (root only) has another.
        if let Ok(mut other) = std::process::Command::new("unshare")
            .args(["--net", "sleep", "60"])
            .spawn()
        {
            let started = std::time::Instant::now();
            let mut seen = None;
            // unshare execs sleep once the namespace is made.
            while started.elapsed() < std::time::Duration::from_secs(5) {
                seen = netns_inode(proc_root, other.id());
                let comm = std::fs::read_to_string(format!("/proc/{}/comm", other.id()));
                if comm.is_ok_and(|c| c.trim() == "sleep") {
                    seen = netns_inode(proc_root, other.id());
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            let status = other.try_wait().unwrap();
            other.kill().ok();
            other.wait().unwrap();
            if status.is_none() {
                assert!(seen.is_some_and(|n| n != own), "{seen:?} vs {own}");
            }
        }
        let fixture = fixture_roots().proc;
        let want = std::fs::metadata(fixture.join("42/net/dev")).unwrap().ino();
        assert_eq!(netns_inode(&fixture, 42), Some(want));
        assert_eq!(netns_inode(&fixture, 43), None);
    }
}
