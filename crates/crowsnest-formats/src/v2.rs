//! cAdvisor's v2 API shapes derived from v1 samples (`info/v2/conversion.go`,
//! `summary/*.go`): the v2 spec, v2 and "deprecated" v2.0 samples with `cpu_inst` rates from
//! consecutive samples, machine samples, host attributes, and the `/summary` percentiles.
//!
//! Everything here is a pure function of its arguments. Where cAdvisor writes a zero for a
//! value it does not have, these conversions leave the value out.

use crowsnest_core::Timestamp;
use crowsnest_core::machine::MachineInfo;
use crowsnest_core::model::v2::{
    Attributes, ContainerInfoV2, ContainerSpecV2, ContainerStatsV2, CpuInstStats, CpuInstUsage,
    DeprecatedContainerStats, DerivedStats, FilesystemStatsV2, InstantUsage, MachineFsStats,
    MachineStats, NetworkStatsV2, Percentiles, Usage,
};
use crowsnest_core::model::{
    ContainerReference, ContainerSpec, ContainerStats, CpuSpec, MemorySpec, NetworkStats,
    VersionInfo,
};

const NANOS_PER_SEC: u128 = 1_000_000_000;
/// A minute, an hour and a day in nanoseconds: the `/summary` windows.
const MINUTE_NS: i64 = 60 * 1_000_000_000;
const HOUR_NS: i64 = 60 * MINUTE_NS;
const DAY_NS: i64 = 24 * HOUR_NS;
/// cAdvisor ignores CPU rates over less than 10 ms (`summary/percentiles.go`).
const MIN_RATE_INTERVAL_NS: i64 = 10_000_000;

/// The v2 spec of a container: the v1 spec with the reference's aliases and namespace
/// inside. CPU and memory limits are copied only when `has_cpu` / `has_memory` (as cAdvisor's
/// `ContainerSpecFromV1`); unlike cAdvisor, the CFS quota and period and the process limit
/// are kept.
pub fn spec(spec: &ContainerSpec, reference: &ContainerReference) -> ContainerSpecV2 {
    ContainerSpecV2 {
        creation_time: spec.creation_time,
        aliases: reference.aliases.clone(),
        namespace: reference.namespace.clone(),
        labels: spec.labels.clone(),
        envs: spec.envs.clone(),
        has_cpu: spec.has_cpu,
        cpu: if spec.has_cpu {
            spec.cpu.clone()
        } else {
            CpuSpec::default()
        },
        has_memory: spec.has_memory,
        memory: if spec.has_memory {
            spec.memory.clone()
        } else {
            MemorySpec::default()
        },
        has_hugetlb: spec.has_hugetlb,
        has_custom_metrics: spec.has_custom_metrics,
        has_processes: spec.has_processes,
        processes: spec.processes.clone(),
        has_network: spec.has_network,
        has_filesystem: spec.has_filesystem,
        has_diskio: spec.has_diskio,
        image: spec.image.clone(),
    }
}

/// CPU rates in nanocores between two samples (cAdvisor's `InstCpuStats`): each counter's
/// increase in ns, times 1e9, divided by the time between the samples in ns, rounded down
/// (computed in integers, so exact). `None` when the samples do not move forward in time,
/// either lacks CPU statistics, the per-CPU counts differ or a counter decreased (a reset).
pub fn cpu_inst(last: &ContainerStats, cur: &ContainerStats) -> Option<CpuInstStats> {
    let dt = cur.timestamp.nanos().checked_sub(last.timestamp.nanos())?;
    if dt <= 0 {
        return None;
    }
    let dt = u128::from(dt.unsigned_abs());
    let (a, b) = (&last.cpu.as_ref()?.usage, &cur.cpu.as_ref()?.usage);
    if a.per_cpu_usage.len() != b.per_cpu_usage.len() {
        return None;
    }
    let rate = |x: u64, y: u64| -> Option<u64> {
        let d = u128::from(y.checked_sub(x)?);
        Some(u64::try_from(d * NANOS_PER_SEC / dt).unwrap_or(u64::MAX))
    };
    // A counter present in only one sample has no rate; one that went down voids them all.
    let field = |x: Option<u64>, y: Option<u64>| -> Option<Option<u64>> {
        match (x, y) {
            (Some(x), Some(y)) => rate(x, y).map(Some),
            _ => Some(None),
        }
    };
    let usage = CpuInstUsage {
        total: field(a.total, b.total)?,
        per_cpu_usage: a
            .per_cpu_usage
            .iter()
            .zip(&b.per_cpu_usage)
            .map(|(x, y)| rate(*x, *y))
            .collect::<Option<Vec<u64>>>()?,
        user: field(a.user, b.user)?,
        system: field(a.system, b.system)?,
    };
    let empty = usage.total.is_none()
        && usage.user.is_none()
        && usage.system.is_none()
        && usage.per_cpu_usage.is_empty();
    (!empty).then_some(CpuInstStats { usage })
}

/// `cpu_inst` of every sample: the rate since the sample before it in `stats` (none for the
/// first). Only when the spec accounts CPU.
fn cpu_inst_series(spec: &ContainerSpec, stats: &[ContainerStats]) -> Vec<Option<CpuInstStats>> {
    let mut out = Vec::with_capacity(stats.len());
    let mut last: Option<&ContainerStats> = None;
    for s in stats {
        out.push(if spec.has_cpu {
            last.and_then(|l| cpu_inst(l, s))
        } else {
            None
        });
        last = Some(s);
    }
    out
}

fn network_v2(n: &NetworkStats) -> NetworkStatsV2 {
    NetworkStatsV2 {
        interfaces: n.interfaces.clone(),
    }
}

/// v2 samples (`/api/v2.1/stats`), oldest first as given. A subsystem is kept only when the
/// spec's `has_*` accounts it; `filesystem` only when the sample has exactly one filesystem.
pub fn container_stats(spec: &ContainerSpec, stats: &[ContainerStats]) -> Vec<ContainerStatsV2> {
    let inst = cpu_inst_series(spec, stats);
    stats
        .iter()
        .zip(inst)
        .map(|(s, cpu_inst)| ContainerStatsV2 {
            timestamp: s.timestamp,
            cpu: s.cpu.clone().filter(|_| spec.has_cpu),
            cpu_inst,
            diskio: s.diskio.clone().filter(|_| spec.has_diskio),
            memory: s.memory.clone().filter(|_| spec.has_memory),
            network: s
                .network
                .as_ref()
                .filter(|_| spec.has_network)
                .map(network_v2),
            processes: s.processes.clone().filter(|_| spec.has_processes),
            filesystem: match s.filesystem.as_slice() {
                [fs] if spec.has_filesystem => Some(FilesystemStatsV2 {
                    total_usage_bytes: Some(fs.usage),
                    base_usage_bytes: fs.base_usage,
                    inode_usage: fs.inodes,
                }),
                _ => None,
            },
        })
        .collect()
}

/// A container as `/api/v2.1/stats` shows it.
pub fn container_info(
    reference: &ContainerReference,
    container_spec: &ContainerSpec,
    stats: &[ContainerStats],
) -> ContainerInfoV2 {
    ContainerInfoV2 {
        spec: spec(container_spec, reference),
        stats: container_stats(container_spec, stats),
    }
}

/// v2.0 samples (`/api/v2.0/stats`): v1 fields gated by the spec's `has_*`, the flags
/// themselves, and `cpu_inst`.
pub fn deprecated_stats(
    spec: &ContainerSpec,
    stats: &[ContainerStats],
) -> Vec<DeprecatedContainerStats> {
    let inst = cpu_inst_series(spec, stats);
    stats
        .iter()
        .zip(inst)
        .map(|(s, cpu_inst)| DeprecatedContainerStats {
            timestamp: s.timestamp,
            has_cpu: spec.has_cpu,
            cpu: s.cpu.clone().filter(|_| spec.has_cpu),
            cpu_inst,
            has_diskio: spec.has_diskio,
            diskio: s.diskio.clone().filter(|_| spec.has_diskio),
            has_memory: spec.has_memory,
            memory: s.memory.clone().filter(|_| spec.has_memory),
            has_hugetlb: spec.has_hugetlb,
            has_network: spec.has_network,
            network: s
                .network
                .as_ref()
                .filter(|_| spec.has_network)
                .map(network_v2),
            has_processes: spec.has_processes,
            processes: s.processes.clone().filter(|_| spec.has_processes),
            has_filesystem: spec.has_filesystem,
            filesystem: if spec.has_filesystem {
                s.filesystem.clone()
            } else {
                Vec::new()
            },
            has_load: false,
            has_custom_metrics: spec.has_custom_metrics,
        })
        .collect()
}

/// Machine samples (`/api/v2.1/machinestats`) from the root container's samples.
pub fn machine_stats(spec: &ContainerSpec, stats: &[ContainerStats]) -> Vec<MachineStats> {
    let inst = cpu_inst_series(spec, stats);
    stats
        .iter()
        .zip(inst)
        .map(|(s, cpu_inst)| MachineStats {
            timestamp: s.timestamp,
            cpu: s.cpu.clone().filter(|_| spec.has_cpu),
            cpu_inst,
            memory: s.memory.clone().filter(|_| spec.has_memory),
            network: s
                .network
                .as_ref()
                .filter(|_| spec.has_network)
                .map(network_v2),
            filesystem: if spec.has_filesystem {
                s.filesystem
                    .iter()
                    .map(|fs| MachineFsStats {
                        device: fs.device.clone(),
                        fs_type: fs.fs_type.clone(),
                        capacity: Some(fs.capacity),
                        usage: Some(fs.usage),
                        available: Some(fs.available),
                        inodes_free: fs.inodes_free.filter(|_| fs.has_inodes),
                        disk_stats: Default::default(),
                    })
                    .collect()
            } else {
                Vec::new()
            },
        })
        .collect()
}

/// The host's attributes (`/api/v2.0/attributes`).
pub fn attributes(machine: &MachineInfo, version: &VersionInfo) -> Attributes {
    Attributes {
        kernel_version: version.kernel_version.clone(),
        container_os_version: version.container_os_version.clone(),
        docker_version: version.docker_version.clone(),
        docker_api_version: version.docker_api_version.clone(),
        cadvisor_version: version.cadvisor_version.clone(),
        num_cores: machine.num_cores,
        cpu_frequency_khz: machine.cpu_frequency_khz,
        memory_capacity: machine.memory_capacity,
        machine_id: machine.machine_id.clone(),
        system_uuid: machine.system_uuid.clone(),
        hugepages: machine.hugepages.clone(),
        filesystems: machine.filesystems.clone(),
        disk_map: machine.disk_map.clone(),
        network_devices: machine.network_devices.clone(),
        topology: machine.topology.clone(),
        cloud_provider: machine.cloud_provider.clone(),
        instance_type: machine.instance_type.clone(),
    }
}

/// Mean, standard deviation, maximum, 50th/90th/95th percentiles and count of `values`
/// (in any order). `present` is false, and everything 0, when there are none.
///
/// The mean and the population standard deviation are rounded down. Percentile `p` is
/// interpolated at rank `p·(n+1)` (1-based) of the sorted values, the rank clamped to
/// `[1, n]`, as cAdvisor's `Get90Percentile`; so for `[10, 20, 30, 40]` the median is 25.
pub fn percentiles(values: &[u64]) -> Percentiles {
    if values.is_empty() {
        return Percentiles::default();
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    let sum: u128 = sorted.iter().map(|v| u128::from(*v)).sum();
    let mean = sum / n as u128;
    let mean_f = sum as f64 / n as f64;
    let var = sorted
        .iter()
        .map(|v| (*v as f64 - mean_f).powi(2))
        .sum::<f64>()
        / n as f64;
    Percentiles {
        present: true,
        mean: u64::try_from(mean).unwrap_or(u64::MAX),
        std: var.sqrt() as u64,
        max: sorted[n - 1],
        fifty: percentile(&sorted, 0.5),
        ninety: percentile(&sorted, 0.9),
        ninetyfive: percentile(&sorted, 0.95),
        count: n as u64,
    }
}

/// Percentile `p` of non-empty sorted values (see [`percentiles`]).
fn percentile(sorted: &[u64], p: f64) -> u64 {
    let n = sorted.len();
    let rank = (p * (n as f64 + 1.0)).clamp(1.0, n as f64);
    let lo = rank.floor() as usize; // 1..=n
    let frac = rank - rank.floor();
    let base = sorted[lo - 1];
    match sorted.get(lo) {
        Some(next) if frac > 0.0 => base + ((next - base) as f64 * frac) as u64,
        _ => base,
    }
}

/// CPU rate in millicores between two cumulative CPU-ns readings (cAdvisor's `getCPURate`):
/// `Δns·1000/Δt`, rounded down. `None` over less than 10 ms or when the counter went down.
pub fn cpu_millicores(prev: (Timestamp, u64), cur: (Timestamp, u64)) -> Option<u64> {
    let dt = cur.0.nanos().checked_sub(prev.0.nanos())?;
    if dt < MIN_RATE_INTERVAL_NS {
        return None;
    }
    let d = u128::from(cur.1.checked_sub(prev.1)?);
    Some(u64::try_from(d * 1000 / u128::from(dt.unsigned_abs())).unwrap_or(u64::MAX))
}

/// How much of a window of `window_ns` the span from `first` to `last` covers, 0 to 100;
/// 100 from 58/60 of the window on (cAdvisor's slack for a minute).
fn percent_complete(first: Timestamp, last: Timestamp, window_ns: i64) -> i32 {
    let span = i128::from(last.nanos()) - i128::from(first.nanos());
    if span * 60 >= i128::from(window_ns) * 58 {
        return 100;
    }
    (span.max(0) * 100 / i128::from(window_ns)) as i32
}

/// Derived statistics of a container (`/api/v2.0/summary`) from its history, oldest first;
/// `None` without samples.
///
/// * `timestamp` is the newest sample's time.
/// * `latest_usage` is the CPU rate in millicores between the two newest samples and the
///   newest memory working set.
/// * `minute_usage` takes the samples of the last minute before the newest one: percentiles
///   of the CPU rates (millicores) between consecutive samples and of the working sets.
/// * `hour_usage` and `day_usage` are not computed (`present: false`); their
///   `percent_complete` says how much of the window the history covers.
///
/// CPU is used only when the spec has `has_cpu`, memory only with `has_memory`.
pub fn derived_stats(spec: &ContainerSpec, stats: &[ContainerStats]) -> Option<DerivedStats> {
    let newest = stats.last()?;
    let first = stats.first()?;
    let cpu_of = |s: &ContainerStats| -> Option<(Timestamp, u64)> {
        let total = s.cpu.as_ref().filter(|_| spec.has_cpu)?.usage.total?;
        Some((s.timestamp, total))
    };
    let mem_of = |s: &ContainerStats| -> Option<u64> {
        s.memory.as_ref().filter(|_| spec.has_memory)?.working_set
    };
    let latest_cpu = match stats {
        [.., prev, cur] => cpu_of(prev)
            .zip(cpu_of(cur))
            .and_then(|(p, c)| cpu_millicores(p, c)),
        _ => None,
    };

    let horizon = newest.timestamp.add_nanos(-MINUTE_NS);
    let start = stats.partition_point(|s| s.timestamp < horizon);
    let minute = &stats[start..];
    let cpu_rates: Vec<u64> = minute
        .windows(2)
        .filter_map(|w| cpu_millicores(cpu_of(&w[0])?, cpu_of(&w[1])?))
        .collect();
    let memory: Vec<u64> = minute.iter().filter_map(mem_of).collect();
    let minute_first = minute.first().map_or(newest.timestamp, |s| s.timestamp);

    let not_computed = |window_ns| Usage {
        percent_complete: percent_complete(first.timestamp, newest.timestamp, window_ns),
        ..Usage::default()
    };
    Some(DerivedStats {
        timestamp: newest.timestamp,
        latest_usage: InstantUsage {
            cpu: latest_cpu,
            memory: mem_of(newest),
        },
        minute_usage: Usage {
            percent_complete: percent_complete(minute_first, newest.timestamp, MINUTE_NS),
            cpu: percentiles(&cpu_rates),
            memory: percentiles(&memory),
        },
        hour_usage: not_computed(HOUR_NS),
        day_usage: not_computed(DAY_NS),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crowsnest_core::model::{CpuStats, CpuUsage, FsStats, InterfaceStats, MemoryStats};
    use proptest::prelude::*;
    use serde_json::json;

    const T0: i64 = 1_767_225_600_000_000_000; // 2026-01-01T00:00:00Z

    fn at(offset_ms: i64) -> Timestamp {
        Timestamp(T0 + offset_ms * 1_000_000)
    }

    fn sample(offset_ms: i64, total: u64, working_set: u64) -> ContainerStats {
        ContainerStats {
            timestamp: at(offset_ms),
            cpu: Some(CpuStats {
                usage: CpuUsage {
                    total: Some(total),
                    per_cpu_usage: vec![total / 2, total - total / 2],
                    user: Some(total / 4),
                    system: None,
                },
                ..Default::default()
            }),
            memory: Some(MemoryStats {
                working_set: Some(working_set),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn full_spec() -> ContainerSpec {
        ContainerSpec {
            has_cpu: true,
            has_memory: true,
            has_network: true,
            has_filesystem: true,
            ..Default::default()
        }
    }

    #[test]
    fn cpu_inst_is_exact_nanocores() {
        // 1e9 ns of CPU over 1.5 s is 2/3 of a core: 666_666_666 nanocores, rounded down.
        let a = sample(0, 1_000_000_000, 0);
        let b = sample(1_500, 2_000_000_000, 0);
        let inst = cpu_inst(&a, &b).unwrap();
        assert_eq!(
            serde_json::to_value(&inst).unwrap(),
            json!({"usage": {
                "total": 666_666_666u64,
                "per_cpu_usage": [333_333_333u64, 333_333_333u64],
                "user": 166_666_666u64
            }})
        );
    }

    #[test]
    fn cpu_inst_needs_forward_time_and_growing_counters() {
        let a = sample(0, 1_000, 0);
        assert_eq!(cpu_inst(&a, &sample(0, 2_000, 0)), None);
        assert_eq!(cpu_inst(&sample(10, 2_000, 0), &a), None);
        assert_eq!(cpu_inst(&a, &sample(1_000, 500, 0)), None);
        let mut other_cpus = sample(1_000, 2_000, 0);
        other_cpus.cpu.as_mut().unwrap().usage.per_cpu_usage = vec![2_000];
        assert_eq!(cpu_inst(&a, &other_cpus), None);
        assert_eq!(
            cpu_inst(
                &a,
                &ContainerStats {
                    timestamp: at(5),
                    ..Default::default()
                }
            ),
            None
        );
    }

    #[test]
    fn stats_are_gated_by_the_spec_and_rates_chain() {
        let mut spec = full_spec();
        spec.has_memory = false;
        let mut s2 = sample(2_000, 3_000_000_000, 7);
        s2.network = Some(NetworkStats {
            interfaces: vec![InterfaceStats {
                name: "eth0".into(),
                rx_bytes: 5,
                ..Default::default()
            }],
        });
        s2.filesystem = vec![FsStats {
            device: "/dev/vda1".into(),
            usage: 42,
            inodes: Some(9),
            ..Default::default()
        }];
        let stats = [
            sample(0, 1_000_000_000, 5),
            sample(1_000, 2_000_000_000, 6),
            s2,
        ];
        let v2 = container_stats(&spec, &stats);
        assert_eq!(v2.len(), 3);
        assert!(
            v2[0].cpu_inst.is_none(),
            "the first sample has no previous one"
        );
        assert_eq!(
            v2[1].cpu_inst.as_ref().unwrap().usage.total,
            Some(1_000_000_000)
        );
        assert!(v2.iter().all(|s| s.memory.is_none()), "has_memory is false");
        let last = serde_json::to_value(&v2[2]).unwrap();
        assert_eq!(
            last["network"],
            json!({"interfaces": [{
                "name": "eth0", "rx_bytes": 5, "rx_packets": 0, "rx_errors": 0, "rx_dropped": 0,
                "tx_bytes": 0, "tx_packets": 0, "tx_errors": 0, "tx_dropped": 0
            }]})
        );
        assert_eq!(
            last["filesystem"],
            json!({"totalUsageBytes": 42, "containter_inode_usage": 9})
        );
        assert_eq!(last["timestamp"], json!("2026-01-01T00:00:02Z"));

        let old = deprecated_stats(&spec, &stats);
        let old_last = serde_json::to_value(&old[2]).unwrap();
        assert_eq!(old_last["has_memory"], json!(false));
        assert!(old_last.get("memory").is_none());
        assert_eq!(old_last["filesystem"][0]["device"], json!("/dev/vda1"));
        assert_eq!(old[2].cpu_inst, v2[2].cpu_inst);
    }

    #[test]
    fn spec_moves_aliases_inside_and_gates_limits() {
        let reference = ContainerReference {
            id: "abc".into(),
            name: "/docker/abc".into(),
            aliases: vec!["web".into(), "abc".into()],
            namespace: "docker".into(),
        };
        let mut v1 = ContainerSpec {
            has_memory: true,
            ..Default::default()
        };
        v1.cpu.limit = 1024;
        v1.memory.limit = 1 << 30;
        let v = serde_json::to_value(spec(&v1, &reference)).unwrap();
        assert_eq!(v["aliases"], json!(["web", "abc"]));
        assert_eq!(v["namespace"], json!("docker"));
        assert_eq!(
            v["cpu"],
            json!({"limit": 0, "max_limit": 0}),
            "has_cpu is false"
        );
        assert_eq!(v["memory"], json!({"limit": 1u64 << 30}));
        assert!(v.get("name").is_none());
    }

    #[test]
    fn percentiles_of_known_values() {
        assert_eq!(
            percentiles(&[40, 10, 30, 20]),
            Percentiles {
                present: true,
                mean: 25,
                std: 11, // sqrt(125)
                max: 40,
                fifty: 25,
                ninety: 40,
                ninetyfive: 40,
                count: 4,
            }
        );
        let ten: Vec<u64> = (1..=10).collect();
        let p = percentiles(&ten);
        assert_eq!((p.fifty, p.ninety, p.ninetyfive, p.mean), (5, 9, 10, 5));
        assert_eq!(percentiles(&[7]).ninetyfive, 7);
        assert!(!percentiles(&[]).present);
    }

    #[test]
    fn summary_of_a_history() {
        // One sample every 10 s for 80 s; CPU grows by 0.25 core, then 0.5 core.
        let mut stats = Vec::new();
        for i in 0..=8i64 {
            let cpu = if i <= 4 {
                i as u64 * 2_500_000_000
            } else {
                10_000_000_000 + (i as u64 - 4) * 5_000_000_000
            };
            stats.push(sample(i * 10_000, cpu, 1_000 * i as u64));
        }
        let d = derived_stats(&full_spec(), &stats).unwrap();
        assert_eq!(d.timestamp, at(80_000));
        assert_eq!(
            d.latest_usage,
            InstantUsage {
                cpu: Some(500),
                memory: Some(8_000)
            }
        );
        // The last minute: samples at 20..=80 s, six rates 250, 250, 500, 500, 500, 500.
        assert_eq!(d.minute_usage.percent_complete, 100);
        assert_eq!(d.minute_usage.cpu.count, 6);
        assert_eq!(d.minute_usage.cpu.max, 500);
        assert_eq!(d.minute_usage.cpu.mean, 416);
        assert_eq!(d.minute_usage.memory.count, 7);
        assert_eq!(d.minute_usage.memory.fifty, 5_000);
        assert!(!d.hour_usage.cpu.present && !d.hour_usage.memory.present);
        assert_eq!(d.hour_usage.percent_complete, 2); // 80 s of 3600 s
        assert_eq!(d.day_usage.percent_complete, 0);
        assert_eq!(derived_stats(&full_spec(), &[]), None);
        let one = derived_stats(&full_spec(), &stats[..1]).unwrap();
        assert_eq!(one.latest_usage.cpu, None);
        assert_eq!(one.minute_usage.percent_complete, 0);
    }

    #[test]
    fn machine_stats_keep_inodes_only_when_known() {
        let mut s = sample(0, 1, 1);
        s.filesystem = vec![
            FsStats {
                device: "a".into(),
                has_inodes: true,
                inodes_free: Some(3),
                ..Default::default()
            },
            FsStats {
                device: "b".into(),
                inodes_free: Some(4),
                ..Default::default()
            },
        ];
        let m = machine_stats(&full_spec(), &[s]);
        assert_eq!(m[0].filesystem[0].inodes_free, Some(3));
        assert_eq!(m[0].filesystem[1].inodes_free, None);
        assert!(m[0].cpu_inst.is_none());
    }

    proptest! {
        #[test]
        fn percentiles_are_ordered(values in proptest::collection::vec(any::<u64>(), 0..40)) {
            let p = percentiles(&values);
            if !values.is_empty() {
                prop_assert!(p.fifty <= p.ninety && p.ninety <= p.ninetyfive && p.ninetyfive <= p.max);
                prop_assert!(p.mean <= p.max);
                prop_assert_eq!(p.count, values.len() as u64);
            }
        }

        #[test]
        fn rates_never_panic(t1 in any::<i64>(), t2 in any::<i64>(), a in any::<u64>(), b in any::<u64>()) {
            let x = ContainerStats { timestamp: Timestamp(t1), ..sample(0, a, 0) };
            let y = ContainerStats { timestamp: Timestamp(t2), ..sample(0, b, 0) };
            let _ = cpu_inst(&x, &y);
            let _ = cpu_millicores((Timestamp(t1), a), (Timestamp(t2), b));
            let _ = derived_stats(&full_spec(), &[x, y]);
        }
    }
}
