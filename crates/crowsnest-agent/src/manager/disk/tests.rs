use std::io::Write;
use std::os::unix::fs::MetadataExt;

use crowsnest_collect::du::Usage;

use super::*;

fn storage(layer: &Path, logs: Option<&Path>) -> Storage {
    Storage {
        layer: Some(layer.to_owned()),
        logs: logs.map(Path::to_owned),
    }
}

fn measured(entries: u64, busy: Duration) -> Result<Measured, WalkError> {
    Ok(Measured {
        usage: vec![Usage::default()],
        entries,
        busy,
        paused: Duration::ZERO,
    })
}

const MIN: Duration = Duration::from_secs(60);

#[test]
fn a_walked_container_is_due_again_one_interval_later() {
    let t0 = Instant::now();
    let mut s = Schedule::new(MIN, 500_000);
    s.track("/docker/a".into(), storage(Path::new("/l/a"), None), t0);
    s.track("/docker/b".into(), storage(Path::new("/l/b"), None), t0);
    assert_eq!(
        s.next(),
        Some(("/docker/a", t0)),
        "new containers are due at once"
    );
    assert!(!s.finished("/docker/a", &measured(10, Duration::from_millis(2)), t0));
    assert_eq!(s.next(), Some(("/docker/b", t0)));
    s.finished("/docker/b", &measured(10, Duration::from_millis(2)), t0);
    assert_eq!(s.next(), Some(("/docker/a", t0 + MIN)));
    // Tracking again with the same trees keeps the schedule (metadata refreshes are cheap);
    // new trees are walked at once.
    s.track("/docker/a".into(), storage(Path::new("/l/a"), None), t0);
    assert_eq!(s.entries["/docker/a"].due, t0 + MIN);
    s.track("/docker/a".into(), storage(Path::new("/l/a2"), None), t0);
    assert_eq!(s.next(), Some(("/docker/a", t0)));
    assert!(s.forget("/docker/a").is_some());
    assert_eq!(s.next(), Some(("/docker/b", t0 + MIN)));
}

#[test]
fn long_walks_back_off_up_to_twenty_intervals_and_short_ones_come_back() {
    let t0 = Instant::now();
    let mut s = Schedule::new(MIN, 500_000);
    s.track("/docker/a".into(), storage(Path::new("/l/a"), None), t0);
    let mut periods = Vec::new();
    for _ in 0..7 {
        s.finished("/docker/a", &measured(10, Duration::from_secs(2)), t0);
        periods.push(s.entries["/docker/a"].period.as_secs() / 60);
    }
    assert_eq!(periods, [2, 4, 8, 16, 20, 20, 20]);
    // Many entries count as long too (a tenth of the bound).
    s.finished("/docker/a", &measured(10, Duration::ZERO), t0);
    assert_eq!(s.entries["/docker/a"].period, MIN);
    s.finished("/docker/a", &measured(50_001, Duration::ZERO), t0);
    assert_eq!(s.entries["/docker/a"].period, MIN * 2);
}

#[test]
fn a_too_expensive_tree_is_skipped_with_its_reason_until_it_walks_again() {
    let t0 = Instant::now();
    let mut s = Schedule::new(MIN, 100);
    s.track("/docker/a".into(), storage(Path::new("/l/a"), None), t0);
    let too_large = Err(WalkError::TooLarge {
        root: "/l/a".into(),
        limit: 100,
    });
    assert!(s.finished("/docker/a", &too_large, t0), "newly skipped");
    assert!(!s.finished("/docker/a", &too_large, t0), "skipped already");
    let e = &s.entries["/docker/a"];
    assert_eq!(e.skipped, Some("too_large"));
    assert_eq!(e.due, t0 + MIN * 20, "tried again after 20 intervals");
    assert_eq!(s.skipped(), 1);
    s.finished("/docker/a", &measured(10, Duration::ZERO), t0);
    assert_eq!(s.skipped(), 0);
    // A failure that is not about cost (a directory gone) only backs off.
    let gone = Err(WalkError::Root {
        path: "/l/a".into(),
        source: std::io::Error::from(std::io::ErrorKind::NotFound),
    });
    assert!(!s.finished("/docker/a", &gone, t0));
    assert_eq!(s.entries["/docker/a"].period, MIN * 2);
    assert_eq!(s.skipped(), 0);
}

fn write(path: &Path, bytes: usize) {
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(&vec![1u8; bytes]).unwrap();
    f.sync_all().unwrap();
}

fn blocks(path: &Path) -> u64 {
    std::fs::symlink_metadata(path).unwrap().blocks() * 512
}

/// The next report, waiting at most 10 s.
fn report(d: &mut DiskUsage) -> Report {
    let started = Instant::now();
    let mut out = Vec::new();
    while started.elapsed() < Duration::from_secs(10) {
        d.drain(&mut out);
        if let Some(r) = out.pop() {
            return r;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no walk finished within 10 s");
}

/// The temp dir must be on a block-device filesystem of the host for a device to be named.
fn on_a_disk(dir: &Path) -> bool {
    let roots = Roots::default();
    let dev = du::device_of(dir).unwrap();
    let on = cfs::host_mounts(&roots)
        .unwrap_or_default()
        .iter()
        .any(|m| (m.major, m.minor) == dev);
    if !on {
        crowsnest_testkit::missing("a temp dir on a block-device filesystem (not tmpfs)");
    }
    on
}

#[test]
fn the_walker_reports_layer_and_logs_and_refreshes_its_cache() {
    let dir = tempfile::tempdir().unwrap();
    if !on_a_disk(dir.path()) {
        return;
    }
    let (layer, logs) = (dir.path().join("diff"), dir.path().join("logs"));
    std::fs::create_dir_all(layer.join("tmp")).unwrap();
    std::fs::create_dir_all(&logs).unwrap();
    write(&layer.join("tmp/f"), 300_000);
    write(&logs.join("c-json.log"), 5_000);
    let shared = Shared::default();
    let budget = Budget::default();
    let interval = Duration::from_millis(300);
    let mut d = DiskUsage::start(interval, budget, Roots::default(), shared.clone()).unwrap();
    let name = "/docker/abc";
    d.track(name, &storage(&layer, Some(&logs)));
    let r = report(&mut d);
    assert_eq!(r.name, name);
    let fs = r.result.unwrap();
    assert_eq!(fs.len(), 1, "layer and logs on one filesystem: {fs:?}");
    let layer_bytes = blocks(&layer) + blocks(&layer.join("tmp")) + blocks(&layer.join("tmp/f"));
    let logs_bytes = blocks(&logs) + blocks(&logs.join("c-json.log"));
    assert_eq!(fs[0].base_usage, Some(layer_bytes));
    assert_eq!(fs[0].usage, layer_bytes + logs_bytes);
    assert_eq!(fs[0].inodes, Some(5));
    assert_eq!(fs[0].inodes_free, None, "not known per container: absent");
    assert!(fs[0].device.starts_with("/dev/") || !fs[0].device.is_empty());
    assert!(fs[0].capacity > fs[0].usage && fs[0].available > 0);
    // Nothing is walked again before the interval: the cached result stands meanwhile.
    write(&layer.join("tmp/g"), 1 << 20);
    let t = Instant::now();
    let r = report(&mut d);
    assert!(
        t.elapsed() >= Duration::from_millis(200),
        "{:?}",
        t.elapsed()
    );
    let fs = r.result.unwrap();
    assert_eq!(
        fs[0].base_usage,
        Some(layer_bytes + blocks(&layer.join("tmp/g")))
    );
    let m = &shared.self_metrics().disk_usage;
    assert!(m.walks.load(Ordering::Relaxed) >= 2);
    assert!(m.entries.load(Ordering::Relaxed) >= 11);
    // Forgotten: no more reports.
    d.forget(name);
    std::thread::sleep(Duration::from_millis(700));
    let mut out = Vec::new();
    d.drain(&mut out);
    assert!(out.len() <= 1, "at most the walk in flight: {out:?}");
}

#[test]
fn a_tree_over_the_budget_is_reported_absent_with_the_reason_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    if !on_a_disk(dir.path()) {
        return;
    }
    let layer = dir.path().join("diff");
    std::fs::create_dir_all(&layer).unwrap();
    for i in 0..200 {
        write(&layer.join(format!("f{i}")), 1);
    }
    let small = dir.path().join("small");
    std::fs::create_dir_all(&small).unwrap();
    let shared = Shared::default();
    let budget = Budget {
        max_entries: 100,
        ..Budget::default()
    };
    let mut d = DiskUsage::start(
        Duration::from_secs(60),
        budget,
        Roots::default(),
        shared.clone(),
    )
    .unwrap();
    d.track("/docker/big", &storage(&layer, None));
    let r = report(&mut d);
    assert_eq!(r.name, "/docker/big");
    let reason = r.result.unwrap_err();
    assert!(reason.contains("more than 100 entries"), "{reason}");
    assert!(reason.contains(layer.to_str().unwrap()), "{reason}");
    let m = &shared.self_metrics().disk_usage;
    assert_eq!(m.skipped_too_large.load(Ordering::Relaxed), 1);
    assert_eq!(m.skipped_containers.load(Ordering::Relaxed), 1);
    // The others are still walked.
    d.track("/docker/small", &storage(&small, None));
    let r = report(&mut d);
    assert_eq!(r.name, "/docker/small");
    assert_eq!(r.result.unwrap()[0].inodes, Some(1));
    let mut text = "# HELP a_first x\n# HELP machine_cpu_cores x\n".to_owned();
    m.encode(&mut text);
    assert!(text.starts_with("# HELP a_first x\n# HELP crowsnest_disk_usage_skipped_containers "));
    assert!(text.ends_with("crowsnest_disk_usage_walks_total 1\n# HELP machine_cpu_cores x\n"));
    assert!(
        text.contains("crowsnest_disk_usage_skipped_total{reason=\"too_large\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("crowsnest_disk_usage_skipped_containers 1\n"));
}
