//! The cgroup v1 and v2 file parsers on arbitrary text. The first byte picks the file (see
//! `FILES`), the rest is its content. They must return errors or skip lines, never panic,
//! and allocate in proportion to the input.
#![no_main]

use std::collections::BTreeMap;

use crowsnest_collect::cgroup::parse;
use crowsnest_collect::fuzzing;
use crowsnest_core::model::{CpuUsage, MemoryStats};
use libfuzzer_sys::fuzz_target;

/// The files, in the order of the selector byte (modulo their number).
const FILES: &[&str] = &[
    "memory.current",       // 0 single_u64
    "memory.max",           // 1 limit
    "pids.max",             // 2 pids_max
    "cpu.cfs_quota_us",     // 3 cfs_quota_us
    "cpu.max",              // 4 cpu_max
    "cpuset.cpus",          // 5 cpuset
    "memory.events",        // 6 flat keyed
    "io.stat",              // 7 nested keyed
    "blkio.throttle.*",     // 8 blkio
    "cpuacct.usage_percpu", // 9 u64_list
    "cgroup.procs",         // 10 pid_list
    "cpu.pressure",         // 11 psi
    "cpu.stat (v1)",        // 12
    "cpu.stat (v2)",        // 13
    "cpuacct.stat",         // 14
    "memory.stat (v1)",     // 15
    "memory.stat (v2)",     // 16
    "memory.oom_control",   // 17 oom_kill
    "blkio into disks",     // 18
    "io.stat into disks",   // 19
    "cpu.weight",           // 20
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let text = text.as_ref();
    let file = usize::from(selector) % FILES.len();
    match file {
        0 => drop(parse::single_u64(text)),
        1 => drop(parse::limit(text)),
        2 => drop(parse::pids_max(text)),
        3 => drop(parse::cfs_quota_us(text)),
        4 => drop(parse::cpu_max(text)),
        5 => assert!(text.contains(parse::cpuset(text))),
        6 => {
            let n = parse::flat_keyed(text).count();
            assert!(parse::flat_keyed_u64(text).count() <= n);
            let _ = parse::memory_events(text);
        }
        7 => {
            for line in parse::nested_keyed(text) {
                for (k, _) in line.fields() {
                    assert!(!k.is_empty() || text.contains('='));
                }
            }
        }
        8 => {
            for e in parse::blkio(text) {
                assert!(!e.op.is_empty());
            }
        }
        9 => {
            let mut out = vec![7];
            if parse::u64_list(text, &mut out).is_ok() {
                assert_eq!(out.len(), text.split_ascii_whitespace().count());
            }
        }
        10 => {
            let mut out = vec![7];
            if parse::pid_list(text, &mut out).is_ok() {
                assert!(out.len() <= text.lines().count());
            }
        }
        11 => {
            if let Ok(p) = parse::psi(text) {
                for d in [p.some, p.full].into_iter().flatten() {
                    assert!(d.avg10.is_finite() && d.avg60.is_finite() && d.avg300.is_finite());
                }
            }
        }
        12 => drop(parse::cpu_stat_v1(text)),
        13 => drop(parse::cpu_stat_v2(text, &mut CpuUsage::default())),
        14 => parse::cpuacct_stat(text, &mut CpuUsage::default()),
        15 => {
            let mut mem = MemoryStats::default();
            parse::memory_stat_v1(text, &mut mem);
            let _ = parse::working_set(&mem);
        }
        16 => {
            let mut mem = MemoryStats::default();
            parse::memory_stat_v2(text, &mut mem);
            let _ = parse::working_set(&mem);
        }
        17 => drop(parse::oom_kill(text)),
        18 | 19 => {
            // Twice into the same lists: the second pass updates the first's in place.
            let devices = BTreeMap::from([((8, 0), "/dev/sda".to_owned())]);
            let half = text.len() / 2;
            let cut = (0..=half)
                .rev()
                .find(|i| text.is_char_boundary(*i))
                .unwrap_or(0);
            let (first, second) = text.split_at(cut);
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for part in [first, second] {
                if file == 18 {
                    fuzzing::blkio_into(part, &mut a, &devices);
                } else {
                    fuzzing::io_stat_into(part, &mut a, &mut b, &devices);
                }
                for d in a.iter().chain(&b) {
                    assert!(!d.stats.is_empty());
                }
            }
        }
        _ => {
            if let Ok(w) = parse::single_u64(text) {
                let _ = parse::cpu_weight_to_shares(w);
            }
        }
    }
});
