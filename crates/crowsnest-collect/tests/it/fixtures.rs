//! The cgroup reader and spec against the fixture trees in `tests/fixtures/` (v1, v2, hybrid,
//! in the kernel's documented formats; see its README) and against cAdvisor's own spec
//! fixtures. Every expected value is worked out by hand from the fixture text.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crowsnest_collect::Error;
use crowsnest_collect::cgroup::spec::read_spec;
use crowsnest_collect::cgroup::{CgroupReader, Controller, DeviceNames, Layout, Mode};
use crowsnest_core::metrics::{MetricKind, MetricSet};
use crowsnest_core::model::{
    ContainerStats, CpuCfs, CpuStats, CpuUsage, DiskIoStats, MemoryEvents, MemoryFaults,
    MemoryStats, PerDiskStats, ProcessStats, PsiData, PsiStats,
};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
pub(crate) const CADVISOR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/testdata/cadvisor"
);

pub(crate) const DOCKER: &str =
    "/docker/a3f1c9e2b7d84f6c9e0d1b2a3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d";
pub(crate) const SSHD: &str = "/system.slice/sshd.service";
pub(crate) const POD: &str = "/kubepods/burstable/pod6e0f5c2a-7b1d-4c3e-9f8a-1b2c3d4e5f60";
pub(crate) const CONTAINER: &str = "/kubepods/burstable/pod6e0f5c2a-7b1d-4c3e-9f8a-1b2c3d4e5f60/\
                         5b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3ea3f1c9e2b7d84f6c9e0d1b2a3c4d5e6f";
pub(crate) const CRON: &str = "/system.slice/cron.service";

fn fixture(tree: &str) -> PathBuf {
    Path::new(FIXTURES).join(tree)
}

fn proc_root() -> PathBuf {
    fixture("proc")
}

pub(crate) fn layout(tree: &str) -> Layout {
    Layout::detect(&fixture(tree)).unwrap()
}

/// 253:0 is left out on purpose: an unknown device gets an empty name.
fn devices() -> DeviceNames {
    [
        ((8, 0), "/dev/sda"),
        ((8, 16), "/dev/sdb"),
        ((259, 0), "/dev/nvme0n1"),
        ((254, 0), "/dev/vda"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_owned()))
    .collect()
}

fn all() -> MetricSet {
    MetricSet::all_except(&[])
}

fn stats(reader: &mut CgroupReader) -> ContainerStats {
    let mut out = ContainerStats::default();
    reader.read_stats(all(), &devices(), &mut out).unwrap();
    out
}

/// Reads `name` twice with fresh output, and once more into the output of the previous pass
/// (allocations reused): all three must agree.
fn read(layout: &Layout, name: &str) -> ContainerStats {
    let mut reader = CgroupReader::new(layout, name, &proc_root());
    assert_eq!(reader.name(), name);
    let first = stats(&mut reader);
    assert_eq!(
        stats(&mut reader),
        first,
        "a second pread at offset 0 reads the same"
    );
    let mut reused = first.clone();
    reader.read_stats(all(), &devices(), &mut reused).unwrap();
    assert_eq!(reused, first, "reusing the previous sample changes nothing");
    first
}

const OPS: [&str; 6] = ["Read", "Write", "Sync", "Async", "Discard", "Total"];

fn disk(device: &str, major: u64, minor: u64, values: &[u64]) -> PerDiskStats {
    let stats: BTreeMap<String, u64> = OPS
        .iter()
        .zip(values)
        .map(|(op, v)| ((*op).to_owned(), *v))
        .collect();
    PerDiskStats {
        device: device.to_owned(),
        major,
        minor,
        stats,
    }
}

fn psi(some: (f64, f64, f64, u64), full: (f64, f64, f64, u64)) -> Option<PsiStats> {
    let data = |(avg10, avg60, avg300, total)| PsiData {
        total,
        avg10,
        avg60,
        avg300,
    };
    Some(PsiStats {
        some: Some(data(some)),
        full: Some(data(full)),
    })
}

fn zero_psi(some_total: u64, full_total: u64) -> Option<PsiStats> {
    psi((0.0, 0.0, 0.0, some_total), (0.0, 0.0, 0.0, full_total))
}

fn faults(pgfault: u64, pgmajfault: u64) -> MemoryFaults {
    MemoryFaults {
        pgfault: Some(pgfault),
        pgmajfault: Some(pgmajfault),
    }
}

fn cfs(periods: u64, throttled: u64, time: u64, bursts: Option<u64>, burst: Option<u64>) -> CpuCfs {
    CpuCfs {
        periods: Some(periods),
        throttled_periods: Some(throttled),
        throttled_time: Some(time),
        bursts_periods: bursts,
        burst_time: burst,
    }
}

fn procs(count: Option<u64>, current: Option<u64>, max: Option<u64>) -> Option<ProcessStats> {
    Some(ProcessStats {
        process_count: count,
        fd_count: None,
        socket_count: None,
        threads_current: current,
        threads_max: max,
    })
}

#[test]
fn v1_docker_container() {
    let got = read(&layout("v1"), DOCKER);
    let expected = ContainerStats {
        cpu: Some(CpuStats {
            usage: CpuUsage {
                total: Some(52_476_793_375),
                per_cpu_usage: vec![26_238_396_687, 26_238_396_688],
                user: Some(41_000_000_000),
                system: Some(11_000_000_000),
            },
            cfs: Some(cfs(3000, 120, 9_876_543_210, Some(5), Some(123_456_789))),
            psi: None,
        }),
        memory: Some(MemoryStats {
            usage: Some(268_435_456),
            max_usage: Some(301_989_888),
            // total_* keys win over the plain ones; the garbage line is skipped.
            cache: Some(104_865_792),
            rss: Some(125_833_216),
            swap: Some(4096),
            mapped_file: Some(20_975_616),
            working_set: Some(268_435_456 - 73_404_416),
            total_active_file: Some(31_461_376),
            total_inactive_file: Some(73_404_416),
            kernel: Some(12_582_912),
            failcnt: Some(3),
            container_data: faults(250_000, 42),
            hierarchical_data: faults(250_100, 43),
            events: None,
            psi: None,
        }),
        diskio: Some(DiskIoStats {
            // The _recursive files hold devices, so the throttle ones are not used.
            io_service_bytes: vec![
                disk(
                    "/dev/sda",
                    8,
                    0,
                    &[1_048_576, 4_194_304, 2_097_152, 3_145_728, 0, 5_242_880],
                ),
                disk("/dev/sdb", 8, 16, &[65_536, 0, 65_536, 0, 0, 65_536]),
            ],
            io_serviced: vec![
                disk("/dev/sda", 8, 0, &[256, 1024, 512, 768, 0, 1280]),
                disk("/dev/sdb", 8, 16, &[16, 0, 16, 0, 0, 16]),
            ],
            psi: None,
        }),
        processes: procs(Some(2), Some(7), Some(1024)),
        oom_events: Some(2),
        ..ContainerStats::default()
    };
    assert_eq!(got, expected);
}

#[test]
fn v1_service_with_older_kernel_files() {
    let layout = layout("v1");
    let mut reader = CgroupReader::new(&layout, SSHD, &proc_root());
    let got = stats(&mut reader);
    assert_eq!(reader.pids(), &[812]);
    let expected = ContainerStats {
        cpu: Some(CpuStats {
            // No cpuacct.usage_user/_sys: cpuacct.stat ticks (95, 42) × 10 ms.
            usage: CpuUsage {
                total: Some(1_500_000_000),
                per_cpu_usage: vec![800_000_000, 700_000_000],
                user: Some(950_000_000),
                system: Some(420_000_000),
            },
            cfs: Some(cfs(0, 0, 0, None, None)),
            psi: None,
        }),
        memory: Some(MemoryStats {
            usage: Some(8_388_608),
            max_usage: Some(16_777_216),
            cache: Some(10_485_760),
            rss: Some(1_048_576),
            swap: Some(0),
            mapped_file: Some(2_097_152),
            // usage 8 MiB − inactive_file 10 MiB, clamped.
            working_set: Some(0),
            total_active_file: Some(0),
            total_inactive_file: Some(10_485_760),
            kernel: None,
            failcnt: Some(0),
            container_data: faults(9000, 7),
            hierarchical_data: faults(9000, 7),
            events: None,
            psi: None,
        }),
        diskio: Some(DiskIoStats {
            // io_service_bytes_recursive has no device and io_serviced_recursive is missing:
            // the throttle files are read. 253:0 has no name.
            io_service_bytes: vec![
                disk("/dev/sda", 8, 0, &[409_600, 8192, 417_792, 0, 0, 417_792]),
                disk("", 253, 0, &[4096, 0, 4096, 0, 0, 4096]),
            ],
            io_serviced: vec![
                disk("/dev/sda", 8, 0, &[100, 2, 102, 0, 0, 102]),
                disk("", 253, 0, &[1, 0, 1, 0, 0, 1]),
            ],
            psi: None,
        }),
        // pids.max "max" is 0; memory.oom_control has no oom_kill line.
        processes: procs(Some(1), Some(3), Some(0)),
        oom_events: None,
        ..ContainerStats::default()
    };
    assert_eq!(got, expected);
}

#[test]
fn v1_root_takes_pressure_from_proc() {
    let got = read(&layout("v1"), "/");
    let cpu = got.cpu.unwrap();
    assert_eq!(cpu.usage.total, Some(94_258_943_189));
    assert_eq!(
        cpu.usage.per_cpu_usage,
        vec![41_782_149_814, 52_476_793_375]
    );
    assert_eq!(
        (cpu.usage.user, cpu.usage.system),
        (Some(60_157_915_000), Some(29_050_802_000))
    );
    assert_eq!(cpu.cfs, Some(cfs(0, 0, 0, Some(0), Some(0))));
    assert_eq!(
        cpu.psi,
        psi((0.07, 0.28, 0.59, 8_606_745), (0.0, 0.0, 0.0, 0))
    );
    let mem = got.memory.unwrap();
    assert_eq!(mem.usage, Some(1_073_741_824));
    assert_eq!(mem.cache, Some(619_794_432));
    assert_eq!(mem.working_set, Some(1_073_741_824 - 396_107_776));
    assert_eq!(mem.kernel, Some(83_886_080));
    assert_eq!(mem.container_data, faults(46_803, 0));
    assert_eq!(mem.hierarchical_data, faults(4_881_873, 1792));
    assert_eq!(mem.psi, zero_psi(0, 0));
    assert_eq!(got.oom_events, Some(0));
    let io = got.diskio.unwrap();
    assert_eq!(
        io.io_service_bytes,
        vec![
            disk(
                "/dev/sda",
                8,
                0,
                &[
                    734_003_200,
                    1_048_576_000,
                    1_572_864_000,
                    209_715_200,
                    0,
                    1_782_579_200
                ]
            ),
            disk("/dev/sdb", 8, 16, &[4096, 0, 4096, 0, 0, 4096]),
        ]
    );
    assert_eq!(
        io.io_serviced[0],
        disk("/dev/sda", 8, 0, &[17_920, 25_600, 38_400, 5120, 0, 43_520])
    );
    assert_eq!(
        io.psi,
        psi((0.0, 0.11, 0.14, 2_734_814), (0.0, 0.11, 0.13, 2_588_970))
    );
    // v1 has no pids.current / pids.max at the root.
    assert_eq!(got.processes, procs(Some(6), None, None));
}

#[test]
fn v2_container() {
    let got = read(&layout("v2"), CONTAINER);
    let expected = ContainerStats {
        cpu: Some(CpuStats {
            usage: CpuUsage {
                total: Some(12_345_678_000),
                per_cpu_usage: vec![],
                user: Some(10_000_000_000),
                system: Some(2_345_678_000),
            },
            cfs: Some(cfs(5000, 250, 7_654_321_000, Some(3), Some(4_567_000))),
            psi: psi((1.23, 0.50, 0.10, 123_456), (0.40, 0.20, 0.05, 65_432)),
        }),
        memory: Some(MemoryStats {
            usage: Some(157_286_400),
            max_usage: Some(209_715_200),
            cache: Some(52_428_800),
            rss: Some(100_663_296),
            swap: Some(1_048_576),
            mapped_file: Some(10_485_760),
            working_set: Some(157_286_400 - 31_457_280),
            total_active_file: Some(20_971_520),
            total_inactive_file: Some(31_457_280),
            kernel: None,
            failcnt: None,
            container_data: faults(300_000, 12),
            hierarchical_data: faults(300_000, 12),
            events: Some(MemoryEvents {
                low: Some(0),
                high: Some(12),
                max: Some(3),
                oom: Some(1),
                oom_kill: Some(1),
            }),
            psi: psi((0.0, 0.01, 0.0, 3000), (0.0, 0.0, 0.0, 1500)),
        }),
        diskio: Some(DiskIoStats {
            io_service_bytes: vec![
                disk("/dev/sda", 8, 0, &[1_459_200, 314_773_504]),
                disk("/dev/nvme0n1", 259, 0, &[90_430_464, 299_008_000]),
            ],
            io_serviced: vec![
                disk("/dev/sda", 8, 0, &[192, 353]),
                disk("/dev/nvme0n1", 259, 0, &[8950, 1252]),
            ],
            psi: psi((4.56, 2.00, 1.00, 987_654), (3.21, 1.50, 0.75, 876_543)),
        }),
        processes: procs(Some(3), Some(5), Some(4096)),
        oom_events: Some(1),
        ..ContainerStats::default()
    };
    assert_eq!(got, expected);
}

#[test]
fn v2_pod_without_cpu_controller() {
    let got = read(&layout("v2"), POD);
    let cpu = got.cpu.unwrap();
    assert_eq!(cpu.usage.total, Some(20_000_000_000));
    assert_eq!(
        cpu.cfs, None,
        "no nr_periods in cpu.stat: no CFS statistics"
    );
    assert_eq!(cpu.psi, zero_psi(1000, 500));
    let mem = got.memory.unwrap();
    assert_eq!(mem.working_set, Some(209_715_200 - 33_554_432));
    assert_eq!(mem.swap, Some(0));
    let zero = MemoryEvents {
        low: Some(0),
        high: Some(0),
        max: Some(0),
        oom: Some(0),
        oom_kill: Some(0),
    };
    assert_eq!(mem.events, Some(zero));
    // io.stat is there but empty.
    assert_eq!(
        got.diskio,
        Some(DiskIoStats {
            io_service_bytes: vec![],
            io_serviced: vec![],
            psi: zero_psi(0, 0)
        })
    );
    assert_eq!(got.processes, procs(Some(0), Some(12), Some(0)));
    assert_eq!(got.oom_events, Some(0));
}

#[test]
fn v2_root_has_no_memory_current() {
    let got = read(&layout("v2"), "/");
    let cpu = got.cpu.unwrap();
    assert_eq!(cpu.usage.total, Some(9_000_000_000));
    assert_eq!(cpu.cfs, None);
    // The cgroup's own PSI files win over <proc>/pressure.
    assert_eq!(
        cpu.psi,
        psi((2.00, 1.00, 0.50, 5_000_000), (0.0, 0.0, 0.0, 0))
    );
    let mem = got.memory.unwrap();
    let expected = MemoryStats {
        usage: Some(209_715_200 + 524_288_000),
        cache: Some(524_288_000),
        rss: Some(209_715_200),
        mapped_file: Some(104_857_600),
        working_set: Some(209_715_200 + 524_288_000 - 314_572_800),
        total_active_file: Some(209_715_200),
        total_inactive_file: Some(314_572_800),
        container_data: faults(9_000_000, 1500),
        hierarchical_data: faults(9_000_000, 1500),
        psi: psi((0.10, 0.05, 0.01, 40_000), (0.05, 0.02, 0.0, 20_000)),
        ..MemoryStats::default()
    };
    assert_eq!(mem, expected);
    assert_eq!(got.oom_events, None);
    let io = got.diskio.unwrap();
    assert_eq!(io.io_serviced[1], disk("/dev/nvme0n1", 259, 0, &[1, 0]));
    assert_eq!(got.processes, procs(Some(6), None, None));
}

#[test]
fn hybrid_reads_pressure_from_the_cgroup2_mount() {
    let l = layout("hybrid");
    assert_eq!(l.mode, Mode::Hybrid);
    let got = read(&l, CRON);
    let cpu = got.cpu.unwrap();
    assert_eq!(cpu.usage.per_cpu_usage, vec![250_000_000, 0]);
    assert_eq!(
        (cpu.usage.user, cpu.usage.system),
        (Some(150_000_000), Some(100_000_000))
    );
    assert_eq!(
        cpu.psi,
        psi((0.10, 0.20, 0.30, 4242), (0.01, 0.02, 0.03, 2121))
    );
    let mem = got.memory.unwrap();
    assert_eq!(mem.working_set, Some(4_194_304 - 1_048_576));
    assert_eq!(mem.kernel, Some(1_048_576));
    assert_eq!(mem.psi, zero_psi(11, 10));
    let io = got.diskio.unwrap();
    assert_eq!(
        io.io_service_bytes,
        vec![disk(
            "/dev/vda",
            254,
            0,
            &[8192, 4096, 12_288, 0, 0, 12_288]
        )]
    );
    assert_eq!(
        io.io_serviced,
        vec![disk("/dev/vda", 254, 0, &[2, 1, 3, 0, 0, 3])]
    );
    assert_eq!(io.psi, zero_psi(33, 22));
    assert_eq!(got.processes, procs(Some(1), Some(1), Some(9830)));

    let root = read(&l, "/");
    assert_eq!(
        root.cpu.unwrap().psi,
        psi((0.50, 0.40, 0.30, 777), (0.0, 0.0, 0.0, 0))
    );
}

#[test]
fn metric_kinds_gate_subsystems_but_not_processes() {
    let l = layout("v2");
    let mut reader = CgroupReader::new(&l, CONTAINER, &proc_root());
    let mut out = ContainerStats::default();
    reader
        .read_stats(MetricSet::only(&[MetricKind::Memory]), &devices(), &mut out)
        .unwrap();
    assert!(out.cpu.is_none() && out.diskio.is_none() && out.oom_events.is_none());
    let mem = out.memory.as_ref().unwrap();
    assert!(mem.usage.is_some() && mem.psi.is_none());
    assert_eq!(out.processes, procs(Some(3), Some(5), Some(4096)));

    // Going back to everything from the same output fills it all again.
    reader.read_stats(all(), &devices(), &mut out).unwrap();
    assert_eq!(out, read(&l, CONTAINER));
    reader
        .read_stats(MetricSet::only(&[MetricKind::PerCpu]), &devices(), &mut out)
        .unwrap();
    assert!(out.cpu.is_none(), "v2 has no per-CPU usage");

    let l1 = layout("v1");
    let mut reader = CgroupReader::new(&l1, DOCKER, &proc_root());
    reader
        .read_stats(MetricSet::only(&[MetricKind::PerCpu]), &devices(), &mut out)
        .unwrap();
    let cpu = out.cpu.unwrap();
    assert_eq!(cpu.usage.total, None);
    assert_eq!(cpu.usage.per_cpu_usage.len(), 2);
}

/// Copies a fixture tree to a temporary directory the test may change.
fn scratch(tree: &str) -> (tempfile::TempDir, Layout) {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixture(tree), dir.path());
    let layout = Layout::detect(dir.path()).unwrap();
    (dir, layout)
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn container_dirs(layout: &Layout, name: &str) -> Vec<PathBuf> {
    let v1 = layout.v1.keys().filter_map(|c| layout.dir(*c, name));
    v1.chain(layout.unified_dir(name))
        .filter(|d| d.is_dir())
        .collect()
}

fn assert_gone(result: crowsnest_collect::Result<()>, name: &str) {
    match result {
        Err(Error::Gone { name: n }) => assert_eq!(n, name),
        other => panic!("expected Gone for {name}, got {other:?}"),
    }
}

#[test]
fn removed_container_is_gone() {
    for (tree, name) in [("v1", DOCKER), ("v2", CONTAINER), ("hybrid", CRON)] {
        let (_dir, layout) = scratch(tree);
        let mut reader = CgroupReader::new(&layout, name, &proc_root());
        let mut out = ContainerStats::default();
        reader.read_stats(all(), &devices(), &mut out).unwrap();
        let dirs = container_dirs(&layout, name);
        assert!(!dirs.is_empty());
        for d in dirs {
            std::fs::remove_dir_all(d).unwrap();
        }
        assert_gone(reader.read_stats(all(), &devices(), &mut out), name);
        assert_gone(reader.read_stats(all(), &devices(), &mut out), name);
        assert!(
            matches!(read_spec(&layout, name), Err(Error::Gone { .. })),
            "{tree}"
        );

        // Never read before the removal.
        let mut fresh = CgroupReader::new(&layout, name, &proc_root());
        assert_gone(fresh.read_stats(all(), &devices(), &mut out), name);
    }
}

#[test]
fn container_removed_from_one_hierarchy_is_not_gone() {
    let (_dir, layout) = scratch("v1");
    let memory = layout.dir(Controller::Memory, DOCKER).unwrap();
    std::fs::remove_dir_all(memory).unwrap();
    let mut reader = CgroupReader::new(&layout, DOCKER, &proc_root());
    let got = stats(&mut reader);
    assert!(got.memory.is_none() && got.oom_events.is_none());
    assert_eq!(got.cpu.unwrap().usage.total, Some(52_476_793_375));
}

#[test]
fn recreated_container_is_read_again() {
    let (_dir, layout) = scratch("v2");
    let mut reader = CgroupReader::new(&layout, CONTAINER, &proc_root());
    stats(&mut reader);
    let dir = layout.unified_dir(CONTAINER).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    copy_tree(&fixture("v2").join(CONTAINER.trim_start_matches('/')), &dir);
    std::fs::write(dir.join("memory.current"), "1000\n").unwrap();
    std::fs::write(dir.join("cgroup.procs"), "77\n").unwrap();
    let got = stats(&mut reader);
    assert_eq!(got.memory.unwrap().usage, Some(1000));
    assert_eq!(reader.pids(), &[77]);
}

#[test]
fn values_are_fresh_on_every_pass() {
    let (_dir, layout) = scratch("v1");
    let mut reader = CgroupReader::new(&layout, DOCKER, &proc_root());
    stats(&mut reader);
    let mem_dir = layout.dir(Controller::Memory, DOCKER).unwrap();
    // fs::write truncates the same inode, which the reader keeps open.
    std::fs::write(mem_dir.join("memory.usage_in_bytes"), "73404417\n").unwrap();
    let pids_dir = layout.dir(Controller::Pids, DOCKER).unwrap();
    let many: String = (1..=3000).map(|p| format!("{p}\n")).collect();
    std::fs::write(pids_dir.join("cgroup.procs"), &many).unwrap();
    let got = stats(&mut reader);
    let mem = got.memory.unwrap();
    assert_eq!((mem.usage, mem.working_set), (Some(73_404_417), Some(1)));
    // A cgroup.procs bigger than the first buffer is read whole.
    assert_eq!(reader.pids().len(), 3000);
    assert_eq!(reader.pids()[2999], 3000);
    assert_eq!(got.processes.unwrap().process_count, Some(3000));
}

#[test]
fn missing_files_are_probed_again_later() {
    let (_dir, layout) = scratch("v1");
    let mut reader = CgroupReader::new(&layout, SSHD, &proc_root());
    assert_eq!(stats(&mut reader).memory.unwrap().kernel, None);
    let mem_dir = layout.dir(Controller::Memory, SSHD).unwrap();
    std::fs::write(mem_dir.join("memory.kmem.usage_in_bytes"), "4096\n").unwrap();
    assert_eq!(
        stats(&mut reader).memory.unwrap().kernel,
        None,
        "remembered as missing"
    );
    reader.reprobe();
    assert_eq!(stats(&mut reader).memory.unwrap().kernel, Some(4096));

    let mut reader = CgroupReader::new(&layout, SSHD, &proc_root());
    std::fs::remove_file(mem_dir.join("memory.kmem.usage_in_bytes")).unwrap();
    stats(&mut reader);
    std::fs::write(mem_dir.join("memory.kmem.usage_in_bytes"), "8192\n").unwrap();
    let passes = crowsnest_collect::cgroup::reader::REPROBE_EVERY;
    for _ in 1..passes {
        assert_eq!(stats(&mut reader).memory.unwrap().kernel, None);
    }
    assert_eq!(stats(&mut reader).memory.unwrap().kernel, Some(8192));
}

#[test]
fn v1_memory_stat_without_total_keys_uses_the_plain_ones() {
    let (_dir, layout) = scratch("v1");
    let mem_dir = layout.dir(Controller::Memory, SSHD).unwrap();
    let text = "cache 100\nrss 200\nswap 300\nmapped_file 400\nactive_file 500\n\
                inactive_file 600\npgfault 700\npgmajfault 800\n";
    std::fs::write(mem_dir.join("memory.stat"), text).unwrap();
    let mem = read(&layout, SSHD).memory.unwrap();
    assert_eq!(
        (mem.cache, mem.rss, mem.swap, mem.mapped_file),
        (Some(100), Some(200), Some(300), Some(400))
    );
    assert_eq!(
        (mem.total_active_file, mem.total_inactive_file),
        (Some(500), Some(600))
    );
    assert_eq!(mem.working_set, Some(8_388_608 - 600));
    assert_eq!(mem.container_data, faults(700, 800));
    assert_eq!(mem.hierarchical_data, faults(700, 800));
}

#[test]
fn garbage_in_a_single_value_file_names_the_file() {
    let (_dir, layout) = scratch("v2");
    let dir = layout.unified_dir(CONTAINER).unwrap();
    std::fs::write(dir.join("memory.current"), "lots\n").unwrap();
    let mut reader = CgroupReader::new(&layout, CONTAINER, &proc_root());
    let err = reader
        .read_stats(all(), &devices(), &mut ContainerStats::default())
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Parse { .. }), "{text}");
    assert!(
        text.contains("memory.current") && text.contains("lots"),
        "{text}"
    );
}
