//! Unit tests of the cgroup file parsers, with texts in the kernel's documented formats, and a
//! property test that no input makes any parser panic.

use proptest::prelude::*;

use super::*;

#[test]
fn single_values() {
    assert_eq!(single_u64("123456\n"), Ok(123_456));
    assert_eq!(single_u64(" 0 "), Ok(0));
    assert_eq!(single_u64("18446744073709551615\n"), Ok(u64::MAX));
    let e = single_u64("12a\n").unwrap_err();
    assert!(e.reason().contains("\"12a\""), "{e}");
    assert!(single_u64("").is_err());
    assert!(single_u64("-1").is_err());
    assert!(single_u64("18446744073709551616").is_err());
}

#[test]
fn max_values() {
    assert_eq!(limit("max\n"), Ok(u64::MAX));
    assert_eq!(limit("536870912\n"), Ok(536_870_912));
    assert!(limit("maximum").is_err());
    assert_eq!(pids_max("max\n"), Ok(0));
    assert_eq!(pids_max("4096\n"), Ok(4096));
    assert!(pids_max("").is_err());
    assert_eq!(cfs_quota_us("-1\n"), Ok(0));
    assert_eq!(cfs_quota_us("50000\n"), Ok(50_000));
    assert!(cfs_quota_us("-2").is_err());
    assert!(cfs_quota_us("max").is_err());
}

#[test]
fn cpu_max_and_weight() {
    assert_eq!(
        cpu_max("max 100000\n"),
        Ok(CpuMax {
            quota: None,
            period: 100_000
        })
    );
    assert_eq!(
        cpu_max("50000 100000\n"),
        Ok(CpuMax {
            quota: Some(50_000),
            period: 100_000
        })
    );
    assert!(cpu_max("50000").is_err());
    assert!(cpu_max("50000 100000 1").is_err());
    assert!(cpu_max("max max").is_err());
    assert_eq!(cpu_weight_to_shares(1), Some(2));
    assert_eq!(cpu_weight_to_shares(100), Some(2597));
    assert_eq!(cpu_weight_to_shares(50), Some(1286));
    assert_eq!(cpu_weight_to_shares(10_000), Some(262_144));
    assert_eq!(cpu_weight_to_shares(0), None);
    assert_eq!(cpu_weight_to_shares(10_001), None);
    assert_eq!(cpuset("0-3,8\n"), "0-3,8");
    assert_eq!(cpuset("\n"), "");
}

#[test]
fn flat_keyed_skips_garbage() {
    let text = "cache 4096\nrss 8192\nthis line is garbage\nlonely\nswap -1\nmapped_file 0\n\n";
    let all: Vec<_> = flat_keyed(text).collect();
    assert_eq!(all[2], ("this", "line"));
    assert_eq!(all.len(), 5);
    let nums: Vec<_> = flat_keyed_u64(text).collect();
    assert_eq!(
        nums,
        vec![("cache", 4096), ("rss", 8192), ("mapped_file", 0)]
    );
}

#[test]
fn io_stat_lines() {
    let text = "8:16 rbytes=1459200 wbytes=314773504 rios=192 wios=353 dbytes=0 dios=0\n\
                254:0 rbytes=90430464 wbytes=299008000 rios=8950 wios=1252 dbytes=50331648 dios=3021\n\
                garbage here\n\
                9:x rbytes=1\n\
                259:0\n";
    let lines: Vec<_> = nested_keyed(text).collect();
    assert_eq!(lines.len(), 3);
    assert_eq!((lines[0].major, lines[0].minor), (8, 16));
    let f: Vec<_> = lines[1].fields().collect();
    assert_eq!(f[0], ("rbytes", 90_430_464));
    assert_eq!(f[5], ("dios", 3021));
    assert_eq!(
        (lines[2].major, lines[2].minor, lines[2].fields().count()),
        (259, 0, 0)
    );
    let odd = NestedLine {
        major: 1,
        minor: 2,
        rest: "a=1 b c=x d=4",
    };
    assert_eq!(odd.fields().collect::<Vec<_>>(), vec![("a", 1), ("d", 4)]);
}

#[test]
fn blkio_lines() {
    let text = "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Discard 0\n\
                8:0 Total 12288\n8:16 Read 1\nbad line\n8:16 Read x\nTotal 12289\n";
    let entries: Vec<_> = blkio(text).collect();
    assert_eq!(entries.len(), 7);
    assert_eq!(
        entries[0],
        BlkioEntry {
            major: 8,
            minor: 0,
            op: "Read",
            value: 4096
        }
    );
    assert_eq!(
        entries[6],
        BlkioEntry {
            major: 8,
            minor: 16,
            op: "Read",
            value: 1
        }
    );
    assert_eq!(blkio("Total 0\n").count(), 0);
}

#[test]
fn lists() {
    let mut v = vec![9, 9, 9];
    u64_list("41782149814 52476793375 \n", &mut v).unwrap();
    assert_eq!(v, vec![41_782_149_814, 52_476_793_375]);
    assert!(u64_list("1 x 3", &mut v).is_err());
    u64_list("", &mut v).unwrap();
    assert!(v.is_empty());
    let mut pids = vec![7];
    pid_list("1\n42\n\n31337\n", &mut pids).unwrap();
    assert_eq!(pids, vec![1, 42, 31_337]);
    assert!(pid_list("1\nfoo\n", &mut pids).is_err());
}

#[test]
fn pressure() {
    let text = "some avg10=0.07 avg60=0.28 avg300=0.59 total=8606745\n\
                full avg10=1.50 avg60=0.00 avg300=0.00 total=12\n";
    let p = psi(text).unwrap();
    let some = p.some.unwrap();
    assert_eq!(
        (some.avg10, some.avg60, some.avg300, some.total),
        (0.07, 0.28, 0.59, 8_606_745)
    );
    assert_eq!(p.full.unwrap().total, 12);
    let only_some = psi("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n").unwrap();
    assert!(only_some.full.is_none() && only_some.some.is_some());
    assert_eq!(psi("").unwrap(), PsiStats::default());
    assert_eq!(psi("other stuff\n").unwrap(), PsiStats::default());
    assert!(psi("some avg10=0.00 avg60=0.00 total=0\n").is_err());
    assert!(psi("some avg10=nan avg60=0.00 avg300=0.00 total=0\n").is_err());
    assert!(psi("full avg10=0 avg60=0 avg300=0 total=-1\n").is_err());
}

#[test]
fn cpu_stat_units() {
    let mut usage = CpuUsage::default();
    let v2 = "usage_usec 3\nuser_usec 2\nsystem_usec 1\nnr_periods 4\nnr_throttled 1\n\
              throttled_usec 5\nnr_bursts 0\nburst_usec 0\n";
    let cfs = cpu_stat_v2(v2, &mut usage).unwrap();
    assert_eq!(
        (usage.total, usage.user, usage.system),
        (Some(3000), Some(2000), Some(1000))
    );
    assert_eq!(
        (cfs.periods, cfs.throttled_time, cfs.burst_time),
        (Some(4), Some(5000), Some(0))
    );
    assert_eq!(cpu_stat_v2("usage_usec 1\n", &mut usage), None);
    let cfs = cpu_stat_v1("nr_periods 4\nnr_throttled 1\nthrottled_time 5\n").unwrap();
    assert_eq!((cfs.throttled_time, cfs.bursts_periods), (Some(5), None));
    cpuacct_stat("user 3\nsystem 1\n", &mut usage);
    assert_eq!(
        (usage.user, usage.system),
        (Some(30_000_000), Some(10_000_000))
    );
    assert_eq!(
        oom_kill("oom_kill_disable 0\nunder_oom 0\noom_kill 7\n"),
        Some(7)
    );
    assert_eq!(oom_kill("oom_kill_disable 0\n"), None);
}

#[test]
fn working_set_clamps_and_needs_both_values() {
    let mut mem = MemoryStats {
        usage: Some(10),
        total_inactive_file: Some(4),
        ..Default::default()
    };
    assert_eq!(working_set(&mem), Some(6));
    mem.total_inactive_file = Some(11);
    assert_eq!(working_set(&mem), Some(0));
    mem.usage = None;
    assert_eq!(working_set(&mem), None);
}

#[test]
fn disk_lists_are_updated_in_place() {
    let devices: DeviceNames = [((8, 0), "/dev/sda".to_owned())].into_iter().collect();
    let (mut list, mut masks) = (Vec::new(), Vec::new());
    blkio_into(
        Some("8:0 Read 1\n8:0 Write 2\n8:16 Read 3\n8:0 Weird 4\nTotal 6\n"),
        &mut list,
        &mut masks,
        &devices,
    );
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].device, "/dev/sda");
    assert_eq!(list[0].stats.len(), 2, "unknown operations are left out");
    assert_eq!((list[1].device.as_str(), list[1].stats["Read"]), ("", 3));
    // Next pass: 8:16 is gone, 8:0 lost Write and gained Total, and got another name.
    let devices: DeviceNames = [((8, 0), "/dev/xda".to_owned())].into_iter().collect();
    blkio_into(
        Some("8:0 Read 10\n8:0 Total 10\n"),
        &mut list,
        &mut masks,
        &devices,
    );
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].device, "/dev/xda");
    let ops: Vec<(&str, u64)> = list[0]
        .stats
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(ops, [("Read", 10), ("Total", 10)]);
    blkio_into(None, &mut list, &mut masks, &devices);
    assert!(list.is_empty());

    let (mut bytes, mut ios) = (Vec::new(), Vec::new());
    let text = "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=5 dios=6\n259:0 rbytes=7\n";
    io_stat_into(text, &mut bytes, &mut ios, &mut masks, &devices);
    assert_eq!(bytes.len(), 2);
    assert_eq!((bytes[0].stats["Read"], bytes[0].stats["Write"]), (1, 2));
    assert_eq!(ios.len(), 1, "259:0 did no operation");
    assert_eq!((ios[0].stats["Read"], ios[0].stats["Write"]), (3, 4));
}

#[test]
fn long_garbage_is_clipped_in_errors() {
    let text = "é".repeat(500);
    let e = single_u64(&text).unwrap_err();
    assert!(e.reason().len() < 200, "{e}");
}

/// Runs every parser over `s`, draining every iterator.
fn run_all(s: &str) {
    let _ = single_u64(s);
    let _ = limit(s);
    let _ = pids_max(s);
    let _ = cfs_quota_us(s);
    let _ = cpu_max(s);
    let _ = cpuset(s);
    let _ = flat_keyed(s).count();
    let _ = flat_keyed_u64(s).count();
    for line in nested_keyed(s) {
        let _ = line.fields().count();
    }
    let _ = blkio(s).count();
    let _ = u64_list(s, &mut Vec::new());
    let _ = pid_list(s, &mut Vec::new());
    let _ = psi(s);
    let _ = cpu_stat_v1(s);
    let _ = cpu_stat_v2(s, &mut CpuUsage::default());
    cpuacct_stat(s, &mut CpuUsage::default());
    memory_stat_v1(s, &mut MemoryStats::default());
    memory_stat_v2(s, &mut MemoryStats::default());
    let _ = memory_events(s);
    let _ = oom_kill(s);
    let devices = DeviceNames::new();
    blkio_into(Some(s), &mut Vec::new(), &mut Vec::new(), &devices);
    io_stat_into(
        s,
        &mut Vec::new(),
        &mut Vec::new(),
        &mut Vec::new(),
        &devices,
    );
}

proptest! {
    #[test]
    fn no_parser_panics_on_any_text(s in any::<String>()) {
        run_all(&s);
    }

    #[test]
    fn no_parser_panics_on_near_misses(
        s in "((some|full|max|Total|[0-9]{1,21}:[0-9]{1,3}|[a-z_]{1,8}=[-0-9.a-z]{0,25}|[0-9]{1,25}|-1|[A-Za-z]{1,7}|é)[ \t]{0,2}){0,10}(\n(some|full|8:0|Total)?){0,3}"
    ) {
        run_all(&s);
    }

    #[test]
    fn weight_conversion_stays_in_share_range(w in any::<u64>()) {
        if let Some(shares) = cpu_weight_to_shares(w) {
            prop_assert!((2..=262_144).contains(&shares));
        }
    }
}
