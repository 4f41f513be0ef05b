use std::cell::Cell;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::process::Command;

use super::*;

/// Time that moves only when told: `sleep` advances it, and each `now` adds `tick` (a slow
/// disk when non-zero).
struct ManualPace {
    base: Instant,
    offset: Cell<Duration>,
    tick: Duration,
    sleeps: Vec<Duration>,
}

impl ManualPace {
    fn new(tick: Duration) -> ManualPace {
        ManualPace {
            base: Instant::now(),
            offset: Cell::new(Duration::ZERO),
            tick,
            sleeps: Vec::new(),
        }
    }
}

impl Pace for ManualPace {
    fn now(&self) -> Instant {
        self.offset.set(self.offset.get() + self.tick);
        self.base + self.offset.get()
    }
    fn sleep(&mut self, d: Duration) {
        self.offset.set(self.offset.get() + d);
        self.sleeps.push(d);
    }
}

fn write(path: &Path, bytes: usize) {
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(&vec![7u8; bytes]).unwrap();
    f.sync_all().unwrap();
}

fn unpaced() -> Budget {
    Budget {
        entries_per_sec: 0,
        ..Budget::default()
    }
}

fn never() -> bool {
    false
}

/// A tree of known shape: 3 directories, 5 regular files (one with two links), a symlink.
fn tree(root: &Path) {
    std::fs::create_dir_all(root.join("a/b")).unwrap();
    write(&root.join("empty"), 0);
    write(&root.join("one"), 1);
    write(&root.join("a/page"), 4096);
    write(&root.join("a/b/big"), 1 << 20);
    write(&root.join("a/b/odd"), 100_000);
    std::fs::hard_link(root.join("a/b/odd"), root.join("a/odd-link")).unwrap();
    std::os::unix::fs::symlink("a/b/big", root.join("link")).unwrap();
}

/// Blocks × 512 of every path, each inode once, from `lstat` of the paths themselves.
fn expected(paths: &[PathBuf]) -> Usage {
    let mut seen = HashSet::new();
    let mut u = Usage::default();
    for p in paths {
        let m = std::fs::symlink_metadata(p).unwrap();
        if seen.insert(m.ino()) {
            u.bytes += m.blocks() * 512;
            u.inodes += 1;
        }
    }
    u
}

fn tree_paths(root: &Path) -> Vec<PathBuf> {
    [
        "",
        "a",
        "a/b",
        "empty",
        "one",
        "a/page",
        "a/b/big",
        "a/b/odd",
        "a/odd-link",
        "link",
    ]
    .iter()
    .map(|p| {
        if p.is_empty() {
            root.to_owned()
        } else {
            root.join(p)
        }
    })
    .collect()
}

#[test]
fn counts_bytes_and_inodes_exactly_as_du() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("layer");
    tree(&root);
    let m = measure(vec![root.clone()], &unpaced(), &mut RealPace, &never).unwrap();
    let want = expected(&tree_paths(&root));
    // 10 paths, the hard link counted once.
    assert_eq!(want.inodes, 9);
    assert_eq!(m.usage, [want]);
    assert_eq!(m.entries, 10, "every entry visited, the second link too");
    // The 1 MiB file alone is 1 MiB of blocks, so the tree is at least that.
    assert!(want.bytes > (1 << 20) + 100_000 + 4096);
    // GNU du agrees, byte for byte and inode for inode.
    let du = Command::new("du").args(["-sxB1"]).arg(&root).output();
    if let Some(out) = du.ok().filter(|o| o.status.success()) {
        let text = String::from_utf8_lossy(&out.stdout);
        let bytes: u64 = text.split_whitespace().next().unwrap().parse().unwrap();
        assert_eq!(bytes, want.bytes, "du -sxB1 said {text}");
    }
    let du = Command::new("du")
        .args(["-sx", "--inodes"])
        .arg(&root)
        .output();
    if let Some(out) = du.ok().filter(|o| o.status.success()) {
        let text = String::from_utf8_lossy(&out.stdout);
        let inodes: u64 = text.split_whitespace().next().unwrap().parse().unwrap();
        assert_eq!(inodes, want.inodes, "du --inodes said {text}");
    }
}

#[test]
fn several_roots_are_counted_apart_and_a_file_root_is_itself() {
    let dir = tempfile::tempdir().unwrap();
    let layer = dir.path().join("layer");
    tree(&layer);
    let log = dir.path().join("c-json.log");
    write(&log, 10_000);
    // A second link to a file of the first root is not counted again in the second.
    std::fs::hard_link(layer.join("a/b/odd"), dir.path().join("odd-again")).unwrap();
    let roots = vec![layer.clone(), log.clone(), dir.path().join("odd-again")];
    let m = measure(roots, &unpaced(), &mut RealPace, &never).unwrap();
    assert_eq!(m.usage[0], expected(&tree_paths(&layer)));
    assert_eq!(m.usage[1], expected(std::slice::from_ref(&log)));
    assert_eq!(m.usage[2], Usage::default());
}

#[test]
fn a_missing_root_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let gone = dir.path().join("gone");
    let e = measure(vec![gone.clone()], &unpaced(), &mut RealPace, &never).unwrap_err();
    assert_eq!(e.reason(), "unreadable");
    assert!(!e.too_expensive());
    assert!(e.to_string().contains(gone.to_str().unwrap()), "{e}");
}

fn flat(root: &Path, files: usize) {
    std::fs::create_dir_all(root).unwrap();
    for i in 0..files {
        write(&root.join(format!("f{i}")), 10);
    }
}

#[test]
fn the_pace_keeps_to_the_entries_per_second_budget() {
    let dir = tempfile::tempdir().unwrap();
    flat(dir.path(), 999);
    let budget = Budget {
        entries_per_sec: 200,
        ..Budget::default()
    };
    let mut pace = ManualPace::new(Duration::ZERO);
    let m = measure(vec![dir.path().to_owned()], &budget, &mut pace, &never).unwrap();
    assert_eq!(m.entries, 1000);
    // Slices of 200 / 20 = 10 entries, each followed by 10 / 200 s = 50 ms (no time passes
    // working on this clock): 1000 entries at 200 a second take 5 s.
    assert_eq!(pace.sleeps.len(), 100, "one pause per slice");
    assert!(pace.sleeps.iter().all(|d| *d == Duration::from_millis(50)));
    assert_eq!(m.paused, Duration::from_secs(5));
    // Working time counts against the pause: a slice that took 15 ms waits 35 ms.
    let mut pace = ManualPace::new(Duration::from_millis(15));
    measure(vec![dir.path().to_owned()], &budget, &mut pace, &never).unwrap();
    assert!(
        pace.sleeps.iter().all(|d| *d == Duration::from_millis(35)),
        "{:?}",
        &pace.sleeps[..3]
    );
}

#[test]
fn a_paced_walk_takes_at_least_entries_over_rate_in_real_time() {
    let dir = tempfile::tempdir().unwrap();
    flat(dir.path(), 599);
    let budget = Budget {
        entries_per_sec: 2000,
        ..Budget::default()
    };
    let started = Instant::now();
    let m = measure(vec![dir.path().to_owned()], &budget, &mut RealPace, &never).unwrap();
    let took = started.elapsed();
    assert_eq!(m.entries, 600);
    // 600 entries at 2000/s: 0.3 s.
    assert!(took >= Duration::from_millis(295), "{took:?}");
    assert!(m.paused + m.busy >= Duration::from_millis(295));
}

#[test]
fn a_tree_above_the_entry_budget_is_given_up_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("huge");
    flat(&root, 100);
    let budget = Budget {
        entries_per_sec: 0,
        max_entries: 50,
        ..Budget::default()
    };
    let e = measure(vec![root.clone()], &budget, &mut RealPace, &never).unwrap_err();
    assert!(matches!(e, WalkError::TooLarge { limit: 50, .. }), "{e}");
    assert_eq!(e.reason(), "too_large");
    assert!(e.too_expensive());
    assert!(e.to_string().contains(root.to_str().unwrap()), "{e}");
    // Paced, it is given up after the first slice past the bound: it never walks all 100.
    let budget = Budget {
        entries_per_sec: 400,
        max_entries: 50,
        ..Budget::default()
    };
    let mut pace = ManualPace::new(Duration::ZERO);
    let e = measure(vec![root], &budget, &mut pace, &never).unwrap_err();
    assert_eq!(e.reason(), "too_large");
    assert!(pace.sleeps.len() <= 3, "{} slices", pace.sleeps.len());
}

#[test]
fn a_walk_working_too_long_is_given_up_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    flat(dir.path(), 100);
    let budget = Budget {
        entries_per_sec: 200,
        max_entries: 1_000_000,
        max_time: Duration::from_millis(100),
    };
    // Each slice of 10 entries takes 20 ms of work on this clock: the sixth is over.
    let mut pace = ManualPace::new(Duration::from_millis(20));
    let e = measure(vec![dir.path().to_owned()], &budget, &mut pace, &never).unwrap_err();
    match &e {
        WalkError::TooSlow { entries, .. } => assert!(*entries < 101, "{entries}"),
        other => panic!("{other}"),
    }
    assert_eq!(e.reason(), "too_slow");
}

#[test]
fn a_walk_can_be_stopped_between_slices() {
    let dir = tempfile::tempdir().unwrap();
    flat(dir.path(), 100);
    let budget = Budget {
        entries_per_sec: 200,
        ..Budget::default()
    };
    let calls = Cell::new(0);
    let stop = || {
        calls.set(calls.get() + 1);
        calls.get() > 3
    };
    let mut pace = ManualPace::new(Duration::ZERO);
    let e = measure(vec![dir.path().to_owned()], &budget, &mut pace, &stop).unwrap_err();
    assert_eq!(e.reason(), "stopped");
    assert_eq!(pace.sleeps.len(), 3);
}

#[test]
fn step_resumes_where_it_left_off() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("layer");
    tree(&root);
    let mut walk = Walk::new(vec![root.clone()]);
    let mut steps = 0;
    while !walk.is_done() {
        walk.step(1).unwrap();
        steps += 1;
        assert!(steps < 100);
    }
    assert_eq!(walk.usage(), [expected(&tree_paths(&root))]);
    assert_eq!(walk.entries(), 10);
    assert_eq!(walk.unreadable(), 0);
}

#[test]
fn the_device_of_a_path_is_its_filesystems() {
    let dir = tempfile::tempdir().unwrap();
    let (major, minor) = device_of(dir.path()).unwrap();
    let dev = std::fs::metadata(dir.path()).unwrap().dev();
    assert_eq!(
        (major, minor),
        (libc::major(dev).into(), libc::minor(dev).into())
    );
}
