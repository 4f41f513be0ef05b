//! `container_samples` then `container_stats` gives back every field the samples carry,
//! exactly, and nothing else; checked against an independent statement of which fields those
//! are, on generated samples.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::batch::{ContainerContext, Sample, container_samples, label};
use crate::machine::{DiskInfo, FsInfo};
use crate::model::*;

const MAX: u64 = i64::MAX as u64;

fn machine() -> MachineInfo {
    MachineInfo {
        filesystems: vec![
            FsInfo {
                device: "/dev/vda1".into(),
                fs_type: "ext4".into(),
                ..Default::default()
            },
            FsInfo {
                device: "tank/data".into(),
                fs_type: "zfs".into(),
                ..Default::default()
            },
        ],
        disk_map: BTreeMap::from([(
            "253:0".to_owned(),
            DiskInfo {
                name: "vda".into(),
                major: 253,
                minor: 0,
                ..Default::default()
            },
        )]),
        ..Default::default()
    }
}

fn restore(
    reference: &ContainerReference,
    spec: &ContainerSpec,
    s: &ContainerStats,
) -> ContainerStats {
    let mut out: Vec<Sample> = Vec::new();
    container_samples(
        reference,
        spec,
        s,
        &ContainerContext { node: "n1" },
        &mut out,
    );
    let stored = out.iter().map(|x| StoredSample {
        metric: &x.metric,
        resource_id: x.labels.get(label::RESOURCE_ID),
        value: x.value,
    });
    container_stats(s.timestamp, stored, &machine())
}

/// What the samples carry of `s`, stated field by field.
fn stored_part(s: &ContainerStats) -> ContainerStats {
    let m = machine();
    let cpu = s.cpu.as_ref().and_then(|c| {
        let cfs = c.cfs.as_ref().and_then(|f| {
            let k = CpuCfs {
                periods: f.periods,
                throttled_periods: f.throttled_periods,
                throttled_time: f.throttled_time,
                ..Default::default()
            };
            (k != CpuCfs::default()).then_some(k)
        });
        let usage = CpuUsage {
            total: c.usage.total,
            user: c.usage.user,
            system: c.usage.system,
            ..Default::default()
        };
        (usage != CpuUsage::default() || cfs.is_some()).then_some(CpuStats {
            usage,
            cfs,
            psi: None,
        })
    });
    let memory = s.memory.as_ref().and_then(|x| {
        let k = MemoryStats {
            usage: x.usage,
            max_usage: x.max_usage,
            cache: x.cache,
            rss: x.rss,
            swap: x.swap,
            mapped_file: x.mapped_file,
            working_set: x.working_set,
            failcnt: x.failcnt,
            container_data: x.container_data.clone(),
            ..Default::default()
        };
        (k != MemoryStats::default()).then_some(k)
    });
    let mut filesystem: Vec<FsStats> = s
        .filesystem
        .iter()
        .map(|f| FsStats {
            fs_type: m
                .filesystems
                .iter()
                .find(|x| x.device == f.device)
                .map(|x| x.fs_type.clone())
                .unwrap_or_default(),
            has_inodes: f.inodes.is_some(),
            ..f.clone()
        })
        .collect();
    filesystem.sort_by(|a, b| a.device.cmp(&b.device));
    let diskio = s.diskio.as_ref().and_then(|d| {
        let mut io: Vec<PerDiskStats> = d
            .io_service_bytes
            .iter()
            .filter(|p| p.device.is_empty() || p.device == "/dev/vda")
            .map(|p| PerDiskStats {
                stats: p
                    .stats
                    .iter()
                    .filter(|(k, _)| *k == "Read" || *k == "Write")
                    .map(|(k, v)| (k.clone(), *v))
                    .collect(),
                ..p.clone()
            })
            .filter(|p| !p.stats.is_empty())
            .collect();
        io.sort_by_key(|p| (p.major, p.minor));
        (!io.is_empty()).then_some(DiskIoStats {
            io_service_bytes: io,
            ..Default::default()
        })
    });
    let processes = s.processes.as_ref().and_then(|p| {
        let k = ProcessStats {
            process_count: p.process_count,
            threads_current: p.threads_current,
            ..Default::default()
        };
        (k != ProcessStats::default()).then_some(k)
    });
    ContainerStats {
        timestamp: s.timestamp,
        cpu,
        diskio,
        memory,
        network: None,
        filesystem,
        processes,
        oom_events: s.oom_events,
        ..Default::default()
    }
}

fn v() -> impl Strategy<Value = Option<u64>> {
    prop_oneof![
        Just(None),
        Just(Some(0)),
        Just(Some(MAX)),
        (0..=MAX).prop_map(Some)
    ]
}

fn psi() -> impl Strategy<Value = Option<PsiStats>> {
    proptest::option::of(
        (0..=MAX, 0.0..100.0f64).prop_map(|(total, avg10)| PsiStats {
            some: Some(PsiData {
                total,
                avg10,
                avg60: 1.5,
                avg300: 0.25,
            }),
            full: None,
        }),
    )
}

fn cpu() -> impl Strategy<Value = Option<CpuStats>> {
    proptest::option::of(
        (
            v(),
            v(),
            v(),
            proptest::option::of((v(), v(), v(), v())),
            psi(),
        )
            .prop_map(|(total, user, system, cfs, psi)| CpuStats {
                usage: CpuUsage {
                    total,
                    user,
                    system,
                    per_cpu_usage: vec![1, 2, 3],
                },
                cfs: cfs.map(
                    |(periods, throttled_periods, throttled_time, burst_time)| CpuCfs {
                        periods,
                        throttled_periods,
                        throttled_time,
                        burst_time,
                        bursts_periods: None,
                    },
                ),
                psi,
            }),
    )
}

fn memory() -> impl Strategy<Value = Option<MemoryStats>> {
    proptest::option::of(
        (
            (v(), v(), v(), v(), v(), v()),
            (v(), v(), v(), v(), v()),
            psi(),
        )
            .prop_map(
                |(
                    (usage, max_usage, cache, rss, swap, mapped_file),
                    (working_set, failcnt, pgfault, pgmajfault, kernel),
                    psi,
                )| {
                    MemoryStats {
                        usage,
                        max_usage,
                        cache,
                        rss,
                        swap,
                        mapped_file,
                        working_set,
                        total_active_file: Some(1),
                        total_inactive_file: None,
                        kernel,
                        failcnt,
                        container_data: MemoryFaults {
                            pgfault,
                            pgmajfault,
                        },
                        hierarchical_data: MemoryFaults {
                            pgfault: Some(9),
                            pgmajfault: None,
                        },
                        events: Some(MemoryEvents {
                            oom: Some(1),
                            ..Default::default()
                        }),
                        psi,
                    }
                },
            ),
    )
}

fn filesystems() -> impl Strategy<Value = Vec<FsStats>> {
    let devices = ["/dev/vda1", "tank/data", "/dev/sdz9"];
    proptest::collection::vec((0..=MAX, 0..=MAX, 0..=MAX, v(), v()), 3).prop_flat_map(move |vals| {
        proptest::sample::subsequence(vec![0usize, 1, 2], 0..=3).prop_map(move |pick| {
            pick.iter()
                .rev()
                .map(|&i| {
                    let (capacity, usage, available, inodes, inodes_free) = vals[i];
                    FsStats {
                        device: devices[i].into(),
                        fs_type: "whatever".into(),
                        capacity,
                        usage,
                        available,
                        has_inodes: true,
                        inodes,
                        inodes_free,
                        ..Default::default()
                    }
                })
                .collect()
        })
    })
}

fn diskio() -> impl Strategy<Value = Option<DiskIoStats>> {
    let disk = |device: &'static str, major: u64, minor: u64| {
        (v(), v(), v()).prop_map(move |(read, write, sync)| PerDiskStats {
            device: device.into(),
            major,
            minor,
            stats: [("Read", read), ("Write", write), ("Sync", sync)]
                .into_iter()
                .filter_map(|(k, v)| Some((k.to_owned(), v?)))
                .collect(),
        })
    };
    proptest::option::of(
        (
            disk("", 8, 16),
            disk("", 8, 0),
            disk("/dev/vda", 253, 0),
            disk("/dev/unknown", 7, 7),
            psi(),
        )
            .prop_map(|(a, b, c, d, psi)| DiskIoStats {
                io_service_bytes: vec![a, b, c, d],
                io_serviced: vec![PerDiskStats::default()],
                psi,
            }),
    )
}

fn stats() -> impl Strategy<Value = ContainerStats> {
    (
        0..i64::MAX,
        cpu(),
        memory(),
        filesystems(),
        diskio(),
        proptest::option::of((v(), v(), v())),
        v(),
        any::<bool>(),
    )
        .prop_map(
            |(t, cpu, memory, filesystem, diskio, p, oom_events, net)| ContainerStats {
                timestamp: crate::Timestamp(t),
                cpu,
                diskio,
                memory,
                network: net.then(|| NetworkStats {
                    interfaces: vec![InterfaceStats {
                        name: "eth0".into(),
                        rx_bytes: 5,
                        ..Default::default()
                    }],
                }),
                filesystem,
                processes: p.map(|(process_count, threads_current, fd_count)| ProcessStats {
                    process_count,
                    threads_current,
                    fd_count,
                    ..Default::default()
                }),
                oom_events,
                ..Default::default()
            },
        )
}

proptest! {
    #[test]
    fn restoring_gives_back_exactly_what_the_samples_carry(s in stats()) {
        let reference = ContainerReference { name: "/docker/abc".into(), ..Default::default() };
        let spec = ContainerSpec {
            creation_time: crate::Timestamp(1),
            has_cpu: true,
            cpu: CpuSpec { quota: 50_000, period: 100_000, ..Default::default() },
            has_memory: true,
            memory: MemorySpec { limit: 1 << 30, ..Default::default() },
            ..Default::default()
        };
        let got = restore(&reference, &spec, &s);
        prop_assert_eq!(got, stored_part(&s));
    }
}

#[test]
fn absent_stays_absent_and_nothing_is_made_up() {
    let s = ContainerStats {
        timestamp: crate::Timestamp(42),
        cpu: Some(CpuStats {
            usage: CpuUsage {
                user: Some(7),
                ..Default::default()
            },
            ..Default::default()
        }),
        network: Some(NetworkStats {
            interfaces: vec![InterfaceStats {
                name: "eth0".into(),
                rx_bytes: 10,
                ..Default::default()
            }],
        }),
        ..Default::default()
    };
    let got = restore(
        &ContainerReference::default(),
        &ContainerSpec::default(),
        &s,
    );
    assert_eq!(got.cpu.as_ref().unwrap().usage.user, Some(7));
    assert_eq!(got.cpu.as_ref().unwrap().usage.total, None);
    assert!(got.cpu.as_ref().unwrap().cfs.is_none());
    assert!(got.memory.is_none() && got.network.is_none() && got.diskio.is_none());
    let json = serde_json::to_value(&got).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"timestamp": "1970-01-01T00:00:00.000000042Z", "cpu": {"usage": {"user": 7}}})
    );
    // Values that are not counts are left out, as are metrics that are not the container's
    // own (limits, uptime) and unknown ones.
    let weird = [
        StoredSample {
            metric: "cpu/usage",
            resource_id: None,
            value: Value::Int(-1),
        },
        StoredSample {
            metric: "memory/usage",
            resource_id: None,
            value: Value::Float(1.5),
        },
        StoredSample {
            metric: "memory/rss",
            resource_id: None,
            value: Value::Float(4096.0),
        },
        StoredSample {
            metric: "memory/limit",
            resource_id: None,
            value: Value::Int(9),
        },
        StoredSample {
            metric: "uptime",
            resource_id: None,
            value: Value::Int(9),
        },
        StoredSample {
            metric: "network/rx",
            resource_id: None,
            value: Value::Int(9),
        },
        StoredSample {
            metric: "filesystem/usage",
            resource_id: Some("/dev/x"),
            value: Value::Int(9),
        },
        StoredSample {
            metric: "no/such",
            resource_id: None,
            value: Value::Int(9),
        },
    ];
    let got = container_stats(crate::Timestamp(1), weird, &machine());
    assert_eq!(
        got,
        ContainerStats {
            timestamp: crate::Timestamp(1),
            memory: Some(MemoryStats {
                rss: Some(4096),
                ..Default::default()
            }),
            ..Default::default()
        }
    );
}
