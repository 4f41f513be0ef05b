//! Generators for the history tests: arbitrary samples (`None` and `Some`, empty and non-empty
//! vectors and maps, extreme values), sequences of samples that change a little or a lot with
//! timestamps that sometimes go nowhere or backwards, and a realistic busy container.

use std::collections::BTreeMap;

use proptest::collection::{btree_map, vec};
use proptest::option::of;
use proptest::prelude::*;
use proptest::sample::Index;

use super::{
    ContainerStats, CpuCfs, CpuStats, CpuUsage, DiskIoStats, FsStats, Health, InterfaceStats,
    MemoryEvents, MemoryFaults, MemoryStats, NetworkStats, PerDiskStats, ProcessStats, PsiData,
    PsiStats, Timestamp,
};

/// A query: start, end, max.
pub(super) type Query = (Option<Timestamp>, Option<Timestamp>, Option<usize>);

fn num() -> BoxedStrategy<u64> {
    prop_oneof![
        Just(0),
        Just(1),
        Just(u64::MAX),
        Just(u64::MAX - 1),
        0..1_000u64,
        any::<u64>()
    ]
    .boxed()
}

fn opt() -> BoxedStrategy<Option<u64>> {
    of(num()).boxed()
}

/// Any float but NaN (which is never equal to itself); `-0.0` and infinities included.
fn float() -> BoxedStrategy<f64> {
    use proptest::num::f64::{INFINITE, NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
    prop_oneof![
        Just(0.0),
        Just(-0.0),
        0.0..100.0,
        POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO | INFINITE
    ]
    .boxed()
}

fn text() -> BoxedStrategy<String> {
    prop_oneof![
        Just(String::new()),
        Just("Read".to_owned()),
        Just("eth0".to_owned()),
        "[a-z/0-9]{0,12}",
        "\\PC{0,3}",
    ]
    .boxed()
}

fn psi_data() -> BoxedStrategy<PsiData> {
    (num(), float(), float(), float())
        .prop_map(|(total, avg10, avg60, avg300)| PsiData {
            total,
            avg10,
            avg60,
            avg300,
        })
        .boxed()
}

fn psi() -> BoxedStrategy<Option<PsiStats>> {
    of((of(psi_data()), of(psi_data())).prop_map(|(full, some)| PsiStats { full, some })).boxed()
}

fn cpu() -> BoxedStrategy<CpuStats> {
    let usage =
        (opt(), vec(num(), 0..4), opt(), opt()).prop_map(|(total, per_cpu_usage, user, system)| {
            CpuUsage {
                total,
                per_cpu_usage,
                user,
                system,
            }
        });
    let cfs = (opt(), opt(), opt(), opt(), opt()).prop_map(|(a, b, c, d, e)| CpuCfs {
        periods: a,
        throttled_periods: b,
        throttled_time: c,
        bursts_periods: d,
        burst_time: e,
    });
    (usage, of(cfs), psi())
        .prop_map(|(usage, cfs, psi)| CpuStats { usage, cfs, psi })
        .boxed()
}

fn disk() -> BoxedStrategy<PerDiskStats> {
    (text(), num(), num(), btree_map(text(), num(), 0..4))
        .prop_map(|(device, major, minor, stats)| PerDiskStats {
            device,
            major,
            minor,
            stats,
        })
        .boxed()
}

fn diskio() -> BoxedStrategy<DiskIoStats> {
    (vec(disk(), 0..3), vec(disk(), 0..3), psi())
        .prop_map(|(io_service_bytes, io_serviced, psi)| DiskIoStats {
            io_service_bytes,
            io_serviced,
            psi,
        })
        .boxed()
}

fn faults() -> BoxedStrategy<MemoryFaults> {
    (opt(), opt())
        .prop_map(|(pgfault, pgmajfault)| MemoryFaults {
            pgfault,
            pgmajfault,
        })
        .boxed()
}

fn memory() -> BoxedStrategy<MemoryStats> {
    let gauges = (
        opt(),
        opt(),
        opt(),
        opt(),
        opt(),
        opt(),
        opt(),
        opt(),
        opt(),
        opt(),
        opt(),
    );
    let events = (opt(), opt(), opt(), opt(), opt()).prop_map(|(low, high, max, oom, oom_kill)| {
        MemoryEvents {
            low,
            high,
            max,
            oom,
            oom_kill,
        }
    });
    (gauges, faults(), faults(), of(events), psi())
        .prop_map(|(g, cd, hd, events, psi)| MemoryStats {
            usage: g.0,
            max_usage: g.1,
            cache: g.2,
            rss: g.3,
            swap: g.4,
            mapped_file: g.5,
            working_set: g.6,
            total_active_file: g.7,
            total_inactive_file: g.8,
            kernel: g.9,
            failcnt: g.10,
            container_data: cd,
            hierarchical_data: hd,
            events,
            psi,
        })
        .boxed()
}

fn network() -> BoxedStrategy<NetworkStats> {
    let counters = (num(), num(), num(), num(), num(), num(), num(), num());
    let iface = (text(), counters).prop_map(|(name, c)| InterfaceStats {
        name,
        rx_bytes: c.0,
        rx_packets: c.1,
        rx_errors: c.2,
        rx_dropped: c.3,
        tx_bytes: c.4,
        tx_packets: c.5,
        tx_errors: c.6,
        tx_dropped: c.7,
    });
    vec(iface, 0..3)
        .prop_map(|interfaces| NetworkStats { interfaces })
        .boxed()
}

fn fs() -> BoxedStrategy<FsStats> {
    (
        text(),
        text(),
        num(),
        num(),
        num(),
        any::<bool>(),
        opt(),
        opt(),
        opt(),
    )
        .prop_map(|f| FsStats {
            device: f.0,
            fs_type: f.1,
            capacity: f.2,
            usage: f.3,
            available: f.4,
            has_inodes: f.5,
            inodes: f.6,
            inodes_free: f.7,
            base_usage: f.8,
        })
        .boxed()
}

fn processes() -> BoxedStrategy<ProcessStats> {
    (opt(), opt(), opt(), opt(), opt())
        .prop_map(|(a, b, c, d, e)| ProcessStats {
            process_count: a,
            fd_count: b,
            socket_count: c,
            threads_current: d,
            threads_max: e,
        })
        .boxed()
}

/// Any sample.
pub(super) fn stats() -> BoxedStrategy<ContainerStats> {
    (
        any::<i64>(),
        of(cpu()),
        of(diskio()),
        of(memory()),
        of(network()),
        vec(fs(), 0..3),
        of(processes()),
        opt(),
        of(text().prop_map(|status| Health { status })),
    )
        .prop_map(
            |(ts, cpu, diskio, memory, network, filesystem, processes, oom_events, health)| {
                ContainerStats {
                    timestamp: Timestamp(ts),
                    cpu,
                    diskio,
                    memory,
                    network,
                    filesystem,
                    processes,
                    oom_events,
                    health,
                }
            },
        )
        .boxed()
}

/// `prev` with the parts picked by `mask` taken from `fresh`.
fn mix(prev: &ContainerStats, fresh: ContainerStats, mask: u8) -> ContainerStats {
    let ContainerStats {
        timestamp: _,
        cpu,
        diskio,
        memory,
        network,
        filesystem,
        processes,
        oom_events,
        health,
    } = fresh;
    let mut s = prev.clone();
    let pick = |bit: u8| mask & (1 << bit) != 0;
    if pick(0) {
        s.cpu = cpu;
    }
    if pick(1) {
        s.diskio = diskio;
    }
    if pick(2) {
        s.memory = memory;
    }
    if pick(3) {
        s.network = network;
    }
    if pick(4) {
        s.filesystem = filesystem;
    }
    if pick(5) {
        s.processes = processes;
    }
    if pick(6) {
        s.oom_events = oom_events;
        s.health = health;
    }
    s
}

/// A max age, 1..`max_len` samples (each a mix of the previous one and a fresh one, the timestamp
/// mostly moving forward by about a second), and queries bounded by those timestamps.
pub(super) fn scenario(max_len: usize) -> BoxedStrategy<(i64, Vec<ContainerStats>, Vec<Query>)> {
    let max_age = prop_oneof![-3i64..3, 0..5_000_000_000i64, 0..i64::MAX, Just(i64::MAX)];
    let t0 = prop_oneof![any::<i64>(), -1_000_000_000_000i64..1_000_000_000_000];
    let gap = prop_oneof![
        4 => Just(1_000_000_000i64),
        4 => 1..3_000_000_000i64,
        1 => -2i64..=0,
        1 => any::<i64>(),
    ];
    let mask = prop_oneof![Just(0u8), Just(0xff), any::<u8>()];
    let bound = || of((any::<Index>(), -1i64..=1));
    let queries = vec((bound(), bound(), of(0usize..12)), 0..8);
    (max_age, t0, vec((gap, stats(), mask), 1..max_len), queries)
        .prop_map(|(max_age, t0, steps, queries)| {
            let mut samples: Vec<ContainerStats> = Vec::with_capacity(steps.len());
            let mut ts = t0;
            for (gap, fresh, mask) in steps {
                ts = ts.saturating_add(gap);
                let mut s = match samples.last() {
                    Some(prev) => mix(prev, fresh, mask),
                    None => fresh,
                };
                s.timestamp = Timestamp(ts);
                samples.push(s);
            }
            let at = |b: Option<(Index, i64)>| {
                let (i, off) = b?;
                samples
                    .get(i.index(samples.len()))
                    .map(|s| s.timestamp.add_nanos(off))
            };
            let queries = queries
                .into_iter()
                .map(|(s, e, m)| (at(s), at(e), m))
                .collect();
            (max_age, samples, queries)
        })
        .boxed()
}

/// A busy Docker container on cgroup v2, sample `i` of a 1 s series: every counter moves,
/// memory wanders, pressure averages change.
pub(super) fn busy(i: u64) -> ContainerStats {
    let r = |salt: u64, range: u64| {
        (i.wrapping_add(salt).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40) % range.max(1)
    };
    let ts = 1_764_000_000_000_000_000_i64
        + i64::try_from(i * 1_000_000_000 + r(1, 3_000_000)).unwrap_or(0);
    let pct = |salt: u64| r(salt, 300) as f64 / 100.0;
    let psi = |salt: u64| {
        let data = |s: u64| PsiData {
            total: 9_000_000 + i * 40_000 + r(s, 20_000),
            avg10: pct(s + 1),
            avg60: pct(s + 2),
            avg300: pct(s + 3),
        };
        Some(PsiStats {
            full: Some(data(salt)),
            some: Some(data(salt + 10)),
        })
    };
    let disk = |ops: [u64; 6]| PerDiskStats {
        device: "/dev/vda".to_owned(),
        major: 253,
        minor: 0,
        stats: ["Async", "Discard", "Read", "Sync", "Total", "Write"]
            .into_iter()
            .zip(ops)
            .map(|(k, v)| (k.to_owned(), v))
            .collect::<BTreeMap<_, _>>(),
    };
    let (rd, wr) = (i * 40_960 + r(2, 8_192), i * 409_600 + r(3, 65_536));
    let (rdo, wro) = (i * 10 + r(4, 5), i * 100 + r(5, 20));
    ContainerStats {
        timestamp: Timestamp(ts),
        cpu: Some(CpuStats {
            usage: CpuUsage {
                total: Some(5_000_000_000 + i * 150_000_000 + r(6, 30_000_000)),
                per_cpu_usage: Vec::new(),
                user: Some(3_000_000_000 + i * 100_000_000 + r(7, 20_000_000)),
                system: Some(2_000_000_000 + i * 50_000_000 + r(8, 10_000_000)),
            },
            cfs: Some(CpuCfs {
                periods: Some(i * 10),
                throttled_periods: Some(i / 7),
                throttled_time: Some(i / 7 * 3_000_000),
                bursts_periods: Some(0),
                burst_time: Some(0),
            }),
            psi: psi(20),
        }),
        diskio: Some(DiskIoStats {
            io_service_bytes: vec![disk([rd + wr, 0, rd, 0, rd + wr, wr])],
            io_serviced: vec![disk([rdo + wro, 0, rdo, 0, rdo + wro, wro])],
            psi: psi(40),
        }),
        memory: Some(MemoryStats {
            usage: Some(200_000_000 + r(9, 4_000_000)),
            max_usage: Some(260_000_000),
            cache: Some(50_000_000 + r(10, 100_000)),
            rss: Some(140_000_000 + r(11, 4_000_000)),
            swap: Some(0),
            mapped_file: Some(8_192_000),
            working_set: Some(180_000_000 + r(12, 4_000_000)),
            total_active_file: Some(30_000_000),
            total_inactive_file: Some(20_000_000 + r(13, 100_000)),
            kernel: Some(4_000_000),
            failcnt: None,
            container_data: MemoryFaults {
                pgfault: Some(100_000 + i * 300),
                pgmajfault: Some(12),
            },
            hierarchical_data: MemoryFaults {
                pgfault: Some(100_000 + i * 300),
                pgmajfault: Some(12),
            },
            events: Some(MemoryEvents {
                low: Some(0),
                high: Some(0),
                max: Some(0),
                oom: Some(0),
                oom_kill: Some(0),
            }),
            psi: psi(60),
        }),
        network: Some(NetworkStats {
            interfaces: vec![InterfaceStats {
                name: "eth0".to_owned(),
                rx_bytes: i * 120_000 + r(14, 10_000),
                rx_packets: i * 90 + r(15, 10),
                rx_errors: 0,
                rx_dropped: 0,
                tx_bytes: i * 300_000 + r(16, 10_000),
                tx_packets: i * 150 + r(17, 10),
                tx_errors: 0,
                tx_dropped: 0,
            }],
        }),
        filesystem: Vec::new(),
        processes: Some(ProcessStats {
            process_count: Some(12),
            fd_count: Some(80 + r(18, 4)),
            socket_count: Some(20),
            threads_current: Some(40),
            threads_max: Some(0),
        }),
        oom_events: Some(0),
        health: None,
    }
}
