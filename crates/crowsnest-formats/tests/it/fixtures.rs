//! Inputs that mirror cAdvisor's own Prometheus test (`lib/metrics/prometheus_fake_test.go`),
//! a realistic host, and helpers to read the text format back.

use std::collections::{BTreeMap, HashMap};

use crowsnest_core::Timestamp;
use crowsnest_core::machine::{Cache, Core, HugePagesInfo, MachineInfo, MemoryInfo, Node, NvmInfo};
use crowsnest_core::model::*;

/// An owned container: what a [`crowsnest_formats::prometheus::ContainerView`] borrows.
pub(crate) struct Owned {
    pub(crate) reference: ContainerReference,
    pub(crate) spec: ContainerSpec,
    pub(crate) stats: ContainerStats,
}

pub(crate) fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn psi(full: u64, some: u64) -> PsiStats {
    PsiStats {
        full: Some(PsiData {
            total: full,
            avg10: 0.3,
            avg60: 0.2,
            avg300: 0.1,
        }),
        some: Some(PsiData {
            total: some,
            avg10: 0.6,
            avg60: 0.4,
            avg300: 0.2,
        }),
    }
}

/// cAdvisor's `testcontainer`, with every value our model has.
pub(crate) fn cadvisor_container() -> Owned {
    let reference = ContainerReference {
        name: "testcontainer".into(),
        aliases: vec!["testcontaineralias".into()],
        ..Default::default()
    };
    let spec = ContainerSpec {
        creation_time: Timestamp::from_secs(1_257_894_000),
        labels: map(&[("foo.label", "bar")]),
        envs: map(&[("foo+env", "prod")]),
        has_cpu: true,
        cpu: CpuSpec {
            limit: 1000,
            period: 100_000,
            quota: 10_000,
            ..Default::default()
        },
        has_memory: false,
        memory: MemorySpec {
            limit: 2048,
            reservation: 1024,
            swap_limit: 4096,
        },
        has_hugetlb: true,
        has_processes: true,
        processes: ProcessSpec { limit: 100 },
        image: "test".into(),
        ..Default::default()
    };
    let stats = ContainerStats {
        timestamp: Timestamp::from_secs(1_395_066_363),
        cpu: Some(CpuStats {
            usage: CpuUsage {
                total: Some(1),
                per_cpu_usage: vec![2, 3, 4, 5],
                user: Some(6),
                system: Some(7),
            },
            cfs: Some(CpuCfs {
                periods: Some(723),
                throttled_periods: Some(18),
                throttled_time: Some(1_724_314_000),
                bursts_periods: Some(25),
                burst_time: Some(500_000_000),
            }),
            psi: Some(psi(100, 200)),
        }),
        memory: Some(MemoryStats {
            usage: Some(8),
            max_usage: Some(8),
            cache: Some(14),
            rss: Some(15),
            swap: Some(8192),
            mapped_file: Some(16),
            working_set: Some(9),
            total_active_file: Some(7),
            total_inactive_file: Some(6),
            kernel: Some(17),
            failcnt: Some(0),
            container_data: MemoryFaults {
                pgfault: Some(10),
                pgmajfault: Some(11),
            },
            hierarchical_data: MemoryFaults {
                pgfault: Some(12),
                pgmajfault: Some(13),
            },
            events: Some(MemoryEvents {
                high: Some(42),
                max: Some(5),
                ..Default::default()
            }),
            psi: Some(psi(1000, 2000)),
        }),
        network: Some(NetworkStats {
            interfaces: vec![InterfaceStats {
                name: "eth0".into(),
                rx_bytes: 14,
                rx_packets: 15,
                rx_errors: 16,
                rx_dropped: 17,
                tx_bytes: 18,
                tx_packets: 19,
                tx_errors: 20,
                tx_dropped: 21,
            }],
        }),
        diskio: Some(DiskIoStats {
            io_service_bytes: vec![PerDiskStats {
                device: "/dev/sdb".into(),
                major: 8,
                minor: 0,
                stats: [
                    ("Async", 1),
                    ("Discard", 2),
                    ("Read", 3),
                    ("Sync", 4),
                    ("Total", 5),
                    ("Write", 6),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            }],
            io_serviced: vec![],
            psi: Some(psi(1100, 2200)),
        }),
        filesystem: vec![
            fs("sda1", 22, 23, 2_097_152, 524_288),
            fs("sda2", 37, 38, 2_097_152, 262_144),
        ],
        processes: Some(ProcessStats {
            process_count: Some(1),
            fd_count: Some(5),
            socket_count: Some(3),
            threads_current: Some(5),
            threads_max: Some(100),
        }),
        oom_events: Some(0),
        health: Some(Health {
            status: "healthy".into(),
        }),
    };
    Owned {
        reference,
        spec,
        stats,
    }
}

fn fs(device: &str, capacity: u64, usage: u64, inodes: u64, free: u64) -> FsStats {
    FsStats {
        device: device.into(),
        fs_type: "ext4".into(),
        capacity,
        usage,
        base_usage: None,
        available: capacity - usage.min(capacity),
        has_inodes: true,
        inodes: Some(inodes),
        inodes_free: Some(free),
    }
}

/// cAdvisor's test versions.
pub(crate) fn cadvisor_version() -> VersionInfo {
    VersionInfo {
        kernel_version: "4.1.6-200.fc22.x86_64".into(),
        container_os_version: "Fedora 22 (Twenty Two)".into(),
        docker_version: "1.8.1".into(),
        docker_api_version: String::new(),
        cadvisor_version: "0.16.0".into(),
        cadvisor_revision: "abcdef".into(),
    }
}

fn caches(small: bool) -> Vec<Cache> {
    let (l1, l2) = if small {
        (32764, 262_148)
    } else {
        (32768, 262_144)
    };
    vec![
        Cache {
            id: 0,
            size: l1,
            cache_type: "Data".into(),
            level: 1,
        },
        Cache {
            id: 0,
            size: l1,
            cache_type: "Instruction".into(),
            level: 1,
        },
        Cache {
            id: 0,
            size: l2,
            cache_type: "Unified".into(),
            level: 2,
        },
    ]
}

fn node(
    id: i32,
    memory: u64,
    pages: [u64; 2],
    distances: [u64; 2],
    node_caches: Vec<Cache>,
) -> Node {
    let first = id * 4;
    Node {
        node_id: id,
        memory,
        hugepages: vec![
            HugePagesInfo {
                page_size: 1_048_576,
                num_pages: pages[0],
            },
            HugePagesInfo {
                page_size: 2048,
                num_pages: pages[1],
            },
        ],
        cores: (first..first + 4)
            .map(|c| Core {
                core_id: c,
                thread_ids: vec![2 * c, 2 * c + 1],
                caches: caches(c % 2 == 1),
                uncore_caches: vec![],
                socket_id: 0,
            })
            .collect(),
        caches: node_caches,
        distances: distances.to_vec(),
    }
}

/// cAdvisor's test machine (`GetMachineInfo` of the fake provider).
pub(crate) fn cadvisor_machine() -> MachineInfo {
    MachineInfo {
        timestamp: Timestamp::from_secs(1_395_066_363),
        num_cores: 4,
        num_physical_cores: 1,
        num_sockets: 1,
        memory_capacity: 1024,
        memory_by_type: [
            (
                "Non-volatile-RAM",
                MemoryInfo {
                    capacity: 2_168_421_613_568,
                    dimm_count: 8,
                },
            ),
            (
                "Unbuffered-DDR4",
                MemoryInfo {
                    capacity: 412_316_860_416,
                    dimm_count: 12,
                },
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
        nvm: NvmInfo {
            memory_mode_capacity: 429_496_729_600,
            app_direct_mode_capacity: 1_735_166_787_584,
            avg_power_budget: 0,
        },
        machine_id: "machine-id-test".into(),
        system_uuid: "system-uuid-test".into(),
        boot_id: "boot-id-test".into(),
        topology: vec![
            node(0, 33_604_804_608, [0, 0], [10, 12], vec![]),
            node(
                1,
                33_604_804_606,
                [2, 4],
                [12, 10],
                vec![Cache {
                    id: 0,
                    size: 8_388_608,
                    cache_type: "Unified".into(),
                    level: 3,
                }],
            ),
        ],
        ..Default::default()
    }
}

/// A plausible host: the root cgroup, a systemd service, a docker container with labels and
/// envs, a cgroup v2 container without per-CPU data, and one with almost nothing.
pub(crate) fn realistic_host() -> Vec<Owned> {
    let mut docker = cadvisor_container();
    docker.reference = ContainerReference {
        id: "3f1c".repeat(16),
        name: format!("/docker/{}", "3f1c".repeat(16)),
        aliases: vec!["web-1".into(), "3f1c".repeat(16)],
        namespace: "docker".into(),
    };
    docker.spec.labels = map(&[
        ("com.docker.compose.project", "shop"),
        ("io.kubernetes.pod.name", "web \"blue\"\nline2 \\ end"),
    ]);
    docker.spec.envs = map(&[("LANG", "C.UTF-8")]);
    docker.spec.has_memory = true;
    docker.spec.memory = MemorySpec {
        limit: u64::MAX,
        reservation: 0,
        swap_limit: 1 << 30,
    };
    docker.stats.diskio.as_mut().expect("diskio").io_serviced = vec![PerDiskStats {
        device: "/dev/sdb".into(),
        major: 8,
        minor: 16,
        stats: [("Read".to_owned(), 7), ("Write".to_owned(), 9)]
            .into_iter()
            .collect(),
    }];

    let mut root = cadvisor_container();
    root.reference = ContainerReference {
        name: "/".into(),
        ..Default::default()
    };
    root.spec.labels.clear();
    root.spec.envs.clear();
    root.spec.image.clear();
    root.spec.cpu.quota = 0;
    root.stats.cpu.as_mut().expect("cpu").usage.per_cpu_usage =
        vec![5_000_000_000, 0, 7_123_456_789, 1];

    let mut v2 = cadvisor_container();
    v2.reference = ContainerReference {
        name: "/system.slice/sshd.service".into(),
        ..Default::default()
    };
    v2.spec.labels.clear();
    v2.spec.envs.clear();
    v2.spec.image.clear();
    let cpu = v2.stats.cpu.as_mut().expect("cpu");
    cpu.usage.per_cpu_usage.clear();
    cpu.usage.total = Some(123_456_789_012);
    v2.stats.memory.as_mut().expect("memory").swap = None;
    v2.stats.memory.as_mut().expect("memory").failcnt = None;

    let bare = Owned {
        reference: ContainerReference {
            name: "/init.scope".into(),
            ..Default::default()
        },
        spec: ContainerSpec {
            creation_time: Timestamp::from_millis(1_700_000_000_123),
            ..Default::default()
        },
        stats: ContainerStats {
            timestamp: Timestamp::from_millis(1_700_000_100_999),
            ..Default::default()
        },
    };
    vec![docker, root, v2, bare]
}

/// The text split into families: name → the block from `# HELP` to its last sample line.
pub(crate) fn blocks(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or_default().to_owned();
            current = Some(name.clone());
            out.insert(name, String::new());
        }
        if let Some(b) = current.as_ref().and_then(|n| out.get_mut(n)) {
            b.push_str(line);
            b.push('\n');
        }
    }
    out
}

/// Sample lines by series (name and labels) → value and optional timestamp.
pub(crate) fn series(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let split = l
                .rfind('}')
                .map_or_else(|| l.find(' ').unwrap_or(l.len()), |i| i + 1);
            (l[..split].to_owned(), l[split..].trim().to_owned())
        })
        .collect()
}
