//! What the host is: cAdvisor's `MachineInfo` and `VersionInfo`, read from procfs
//! (`cpuinfo`, `meminfo`, `diskstats`, `mountinfo`) and sysfs (CPU topology and caches, NUMA
//! nodes, huge pages, block and network devices, DMI), all under [`Roots`].
//!
//! `/proc/meminfo` and `/proc/cpuinfo` are required; every other source is optional. cAdvisor's
//! `MachineInfo` fields are not `Option`s, so a source the kernel does not have leaves its
//! field at the default (0 or empty), and each such place says so.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crowsnest_core::Timestamp;
use crowsnest_core::machine::{Cache, Core, DiskInfo, HugePagesInfo, MachineInfo, NetInfo, Node};
use crowsnest_core::model::VersionInfo;

use crate::cgroup::DeviceNames;
use crate::procfs::{self, read_file, read_number, read_trimmed};
use crate::{Error, Result, Roots, fs, netdev};

/// Reads the machine. Errors only when `<proc>/meminfo` or `<proc>/cpuinfo` cannot be read
/// or understood, or has no `MemTotal`; everything else is best effort.
pub fn read_machine_info(roots: &Roots, now: Timestamp) -> Result<MachineInfo> {
    let mem = procfs::read_meminfo(roots)?;
    let memory_capacity = mem
        .mem_total
        .ok_or_else(|| Error::parse(roots.proc_path("meminfo"), "no MemTotal line"))?;
    let cpu = procfs::read_cpuinfo(roots)?;
    let filesystems = match fs::host_mounts(roots) {
        Ok(mounts) => fs::machine_filesystems(&mounts),
        Err(e) => {
            tracing::warn!(error = %e, "no filesystems in machine info");
            Vec::new()
        }
    };
    Ok(MachineInfo {
        timestamp: now,
        // Not x86: the kernel prints no vendor_id, and cAdvisor reports "".
        vendor_id: cpu.vendor_id.clone().unwrap_or_default(),
        num_cores: cpu.logical,
        num_physical_cores: cpu.physical_cores,
        num_sockets: cpu.sockets,
        cpu_frequency_khz: cpu_frequency_khz(roots, cpu.mhz),
        memory_capacity,
        // Every kernel prints SwapTotal; one that did not would have no swap.
        swap_capacity: mem.swap_total.unwrap_or(0),
        hugepages: hugepages(&roots.sys_path("kernel/mm/hugepages")),
        machine_id: machine_id(roots),
        system_uuid: read_trimmed(&roots.sys_path("class/dmi/id/product_uuid")).unwrap_or_default(),
        boot_id: procfs::read_boot_id(roots).unwrap_or_default(),
        filesystems,
        disk_map: disk_map(roots),
        network_devices: network_devices(roots),
        topology: topology(roots, memory_capacity),
        cloud_provider: "Unknown".into(),
        instance_type: "Unknown".into(),
        instance_id: "None".into(),
        ..MachineInfo::default()
    })
}

/// crowsnest's `VersionInfo`: the kernel release from `<proc>/sys/kernel/osrelease` and the
/// OS from `PRETTY_NAME` of [`Roots::os_release`] (each `Unknown` when unreadable, as in
/// cAdvisor); Docker's fields stay empty.
pub fn read_version_info(roots: &Roots, crowsnest_version: &str) -> VersionInfo {
    let kernel_version = procfs::read_osrelease(roots).unwrap_or_else(|_| "Unknown".into());
    let container_os_version = read_file(&roots.os_release)
        .ok()
        .and_then(|text| pretty_name(&text))
        .unwrap_or_else(|| "Unknown".into());
    VersionInfo {
        kernel_version,
        container_os_version,
        docker_version: String::new(),
        docker_api_version: String::new(),
        cadvisor_version: crowsnest_version.to_owned(),
        cadvisor_revision: String::new(),
    }
}

/// `PRETTY_NAME` of an os-release file, without its quotes.
pub(crate) fn pretty_name(text: &str) -> Option<String> {
    let value = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("PRETTY_NAME="))?;
    let value = value.trim();
    let unquoted = ['"', '\'']
        .iter()
        .find_map(|q| value.strip_prefix(*q)?.strip_suffix(*q));
    Some(unquoted.unwrap_or(value).to_owned())
}

/// Block device names by `(major, minor)` from `<proc>/diskstats`: `(254, 0)` → `/dev/vda`.
/// Empty (and logged) when the file cannot be read.
pub fn device_names(roots: &Roots) -> DeviceNames {
    match procfs::read_diskstats(roots) {
        Ok(disks) => disks
            .into_iter()
            .map(|d| ((d.major, d.minor), format!("/dev/{}", d.name)))
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "no block device names");
            DeviceNames::new()
        }
    }
}

/// `cpu0/cpufreq/cpuinfo_max_freq` (kHz), else `cpu MHz` × 1000 from cpuinfo. 0 when the
/// kernel has neither (ARM without cpufreq), as cAdvisor reports it.
fn cpu_frequency_khz(roots: &Roots, mhz: Option<f64>) -> u64 {
    let max = roots.sys_path("devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq");
    match read_number::<u64>(&max) {
        Ok(khz) => khz,
        // `as` saturates; a clock is far below u64::MAX kHz.
        Err(_) => mhz.map_or(0, |mhz| (mhz * 1000.0).round() as u64),
    }
}

/// The first non-empty file of [`Roots::machine_id_files`], trimmed; "" when none is readable.
fn machine_id(roots: &Roots) -> String {
    roots
        .machine_id_files
        .iter()
        .find_map(|p| read_trimmed(p).ok().filter(|id| !id.is_empty()))
        .unwrap_or_default()
}

/// The entries of `dir` whose names start with `prefix`, with the rest of the name, sorted by
/// name. Empty when `dir` cannot be read (the kernel has no such directory).
fn entries(dir: &Path, prefix: &str) -> Vec<(String, PathBuf)> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, PathBuf)> = read
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let rest = name.strip_prefix(prefix)?.to_owned();
            Some((rest, e.path()))
        })
        .collect();
    out.sort();
    out
}

/// The entries `<prefix><n>` of `dir` with their number, sorted by number.
fn numbered(dir: &Path, prefix: &str) -> Vec<(u32, PathBuf)> {
    let mut out: Vec<(u32, PathBuf)> = entries(dir, prefix)
        .into_iter()
        .filter_map(|(rest, path)| Some((rest.parse().ok()?, path)))
        .collect();
    out.sort();
    out
}

/// Huge page pools under `dir` (`hugepages-<size>kB/nr_hugepages`), smallest pages first.
/// Empty when the kernel has no huge pages.
fn hugepages(dir: &Path) -> Vec<HugePagesInfo> {
    let mut out: Vec<HugePagesInfo> = entries(dir, "hugepages-")
        .into_iter()
        .filter_map(|(size, path)| {
            let page_size = size.strip_suffix("kB")?.parse().ok()?;
            match read_number(&path.join("nr_hugepages")) {
                Ok(num_pages) => Some(HugePagesInfo {
                    page_size,
                    num_pages,
                }),
                Err(e) => {
                    tracing::debug!(error = %e, "skipping huge page pool");
                    None
                }
            }
        })
        .collect();
    out.sort_by_key(|h| h.page_size);
    out
}

/// Block devices from `<sys>/block`, keyed `major:minor`. As cAdvisor: `loop*`, `ram*` and
/// `sr*` are left out, as are hidden devices (NVMe multipath legs); the scheduler is the
/// `[bracketed]` one of `queue/scheduler`, else `none`. A device whose `dev` or `size` cannot
/// be read is left out rather than given size 0.
fn disk_map(roots: &Roots) -> BTreeMap<String, DiskInfo> {
    let mut out = BTreeMap::new();
    for (name, dir) in entries(&roots.sys_path("block"), "") {
        if ["loop", "ram", "sr"].iter().any(|p| name.starts_with(p)) {
            continue;
        }
        if read_trimmed(&dir.join("hidden")).is_ok_and(|h| h == "1") {
            continue;
        }
        let disk = (|| -> Result<DiskInfo> {
            let dev_path = dir.join("dev");
            let dev = read_trimmed(&dev_path)?;
            let (major, minor) = dev
                .split_once(':')
                .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
                .ok_or_else(|| Error::parse(&dev_path, format!("not major:minor: {dev:?}")))?;
            let sectors: u64 = read_number(&dir.join("size"))?;
            let scheduler = read_trimmed(&dir.join("queue/scheduler"))
                .ok()
                .and_then(|s| bracketed(&s).map(str::to_owned))
                .unwrap_or_else(|| "none".into());
            Ok(DiskInfo {
                name: name.clone(),
                major,
                minor,
                size: sectors.saturating_mul(512),
                scheduler,
            })
        })();
        match disk {
            Ok(d) => {
                out.insert(format!("{}:{}", d.major, d.minor), d);
            }
            Err(e) => tracing::debug!(error = %e, "skipping block device"),
        }
    }
    out
}

/// `none [mq-deadline] kyber` → `mq-deadline`.
pub(crate) fn bracketed(s: &str) -> Option<&str> {
    let start = s.find('[')? + 1;
    let len = s[start..].find(']')?;
    Some(&s[start..start + len])
}

/// Network devices from `<sys>/class/net`, without the interfaces cAdvisor ignores (`lo`,
/// `veth*`, `docker*`, `nerdctl*`) and without plain files such as `bonding_masters`. `speed`
/// fails with EINVAL on virtual interfaces and reads -1 on a link that is down; the first
/// gives 0, the second -1, as in cAdvisor.
fn network_devices(roots: &Roots) -> Vec<NetInfo> {
    let mut out = Vec::new();
    for (name, dir) in entries(&roots.sys_path("class/net"), "") {
        if netdev::is_ignored(&name) || !dir.is_dir() {
            continue;
        }
        let info = (|| -> Result<NetInfo> {
            let mac_address = read_trimmed(&dir.join("address"))?;
            let mtu = read_number(&dir.join("mtu"))?;
            let speed_path = dir.join("speed");
            let speed = match read_trimmed(&speed_path) {
                Ok(text) => text.parse().map_err(|_| {
                    Error::parse(&speed_path, format!("expected a number, found {text:?}"))
                })?,
                // Virtual interfaces have no speed (EINVAL); cAdvisor's field is not optional
                // and it reports 0.
                Err(_) => 0,
            };
            Ok(NetInfo {
                name: name.clone(),
                mac_address,
                speed,
                mtu,
            })
        })();
        match info {
            Ok(i) => out.push(i),
            Err(e) => tracing::debug!(error = %e, "skipping network device"),
        }
    }
    out
}

/// More CPUs than any kernel has (`CONFIG_NR_CPUS` is at most 8192): a CPU list naming a CPU
/// at or past it, or longer than it, is malformed.
const MAX_CPUS: u32 = 1 << 16;

/// `0-3,8,10-11` → `[0, 1, 2, 3, 8, 10, 11]`; `None` when malformed (including a CPU number
/// of [`MAX_CPUS`] or more, a range that goes down, or more than [`MAX_CPUS`] CPUs in all, so
/// that a short text never makes a long list).
pub(crate) fn parse_cpu_list(s: &str) -> Option<Vec<u32>> {
    let cpu = |t: &str| t.parse::<u32>().ok().filter(|n| *n < MAX_CPUS);
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (cpu(a)?, cpu(b)?);
                if a > b || out.len() + (b - a) as usize >= MAX_CPUS as usize {
                    return None;
                }
                out.extend(a..=b);
            }
            None if out.len() < MAX_CPUS as usize => out.push(cpu(part)?),
            None => return None,
        }
    }
    Some(out)
}

/// NUMA nodes from `<sys>/devices/system/node/node<n>`, each with its cores, memory, huge
/// pages, distances and caches; a single node 0 with every CPU and all of `MemTotal` when the
/// kernel has no NUMA nodes.
fn topology(roots: &Roots, memory_capacity: u64) -> Vec<Node> {
    let cpu_dir = roots.sys_path("devices/system/cpu");
    let node_dirs = numbered(&roots.sys_path("devices/system/node"), "node");
    if node_dirs.is_empty() {
        let cpus: Vec<u32> = numbered(&cpu_dir, "cpu")
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        let mut node = Node {
            node_id: 0,
            memory: memory_capacity,
            ..Node::default()
        };
        node.cores = cores(&cpu_dir, &cpus);
        add_caches(&cpu_dir, &mut node);
        return vec![node];
    }
    let mut nodes = Vec::new();
    for (id, dir) in node_dirs {
        let cpus = read_trimmed(&dir.join("cpulist"))
            .ok()
            .and_then(|s| parse_cpu_list(&s))
            .unwrap_or_else(|| numbered(&dir, "cpu").into_iter().map(|(n, _)| n).collect());
        let mut node = Node {
            node_id: i32::try_from(id).unwrap_or(i32::MAX),
            memory: node_memory(&dir),
            hugepages: hugepages(&dir.join("hugepages")),
            distances: read_trimmed(&dir.join("distance"))
                .ok()
                .and_then(|d| d.split_whitespace().map(|n| n.parse().ok()).collect())
                .unwrap_or_default(),
            ..Node::default()
        };
        node.cores = cores(&cpu_dir, &cpus);
        add_caches(&cpu_dir, &mut node);
        nodes.push(node);
    }
    nodes
}

/// `MemTotal` of a node's `meminfo`. A kernel without per-node meminfo gives no node memory;
/// cAdvisor's field is not optional and it reports 0.
fn node_memory(dir: &Path) -> u64 {
    let path = dir.join("meminfo");
    let Ok(text) = read_file(&path) else { return 0 };
    match procfs::parse_meminfo(&text) {
        Ok(m) => m.mem_total.unwrap_or(0),
        Err(e) => {
            tracing::warn!(error = %e.at(&path), "no node memory");
            0
        }
    }
}

/// Physical cores of `cpus`, grouped by (`topology/core_id`, `topology/physical_package_id`),
/// in the order first seen. Offline CPUs and CPUs without topology files are left out.
fn cores(cpu_dir: &Path, cpus: &[u32]) -> Vec<Core> {
    let mut cores: Vec<Core> = Vec::new();
    for &cpu in cpus {
        let dir = cpu_dir.join(format!("cpu{cpu}"));
        // cpu0 usually has no `online` file: it cannot be taken offline.
        if read_trimmed(&dir.join("online")).is_ok_and(|o| o == "0") {
            continue;
        }
        let (Ok(core_id), Ok(socket_id)) = (
            read_number::<i32>(&dir.join("topology/core_id")),
            read_number::<i32>(&dir.join("topology/physical_package_id")),
        ) else {
            continue;
        };
        let thread = i32::try_from(cpu).unwrap_or(i32::MAX);
        match cores
            .iter_mut()
            .find(|c| c.core_id == core_id && c.socket_id == socket_id)
        {
            Some(c) => c.thread_ids.push(thread),
            None => cores.push(Core {
                core_id,
                socket_id,
                thread_ids: vec![thread],
                ..Core::default()
            }),
        }
    }
    cores
}

/// A cache of one CPU with the number of CPUs sharing it.
struct CpuCache {
    cache: Cache,
    shared_by: usize,
}

/// The caches of CPU `cpu` (`cpu<n>/cache/index*`); those whose files are unreadable are left
/// out.
fn cpu_caches(cpu_dir: &Path, cpu: i32) -> Vec<CpuCache> {
    let dir = cpu_dir.join(format!("cpu{cpu}/cache"));
    entries(&dir, "index")
        .into_iter()
        .filter_map(|(_, p)| {
            let size = read_trimmed(&p.join("size")).ok()?;
            let size: u64 = size.strip_suffix('K')?.parse().ok()?;
            let shared = read_trimmed(&p.join("shared_cpu_list")).ok()?;
            Some(CpuCache {
                cache: Cache {
                    // Kernels before 4.19 have no cache `id`; cAdvisor reports 0.
                    id: read_number(&p.join("id")).unwrap_or(0),
                    size: size.saturating_mul(1024),
                    cache_type: read_trimmed(&p.join("type")).ok()?,
                    level: read_number(&p.join("level")).ok()?,
                },
                shared_by: parse_cpu_list(&shared)?.len(),
            })
        })
        .collect()
}

/// cAdvisor's `addCacheInfo`: levels 1–2 shared by exactly the threads of a core are the
/// core's caches; a level-3+ cache shared by every thread of the node is the node's, else it
/// is an uncore cache of the core.
fn add_caches(cpu_dir: &Path, node: &mut Node) {
    let ncores = node.cores.len();
    for i in 0..ncores {
        let Some(&thread) = node.cores[i].thread_ids.first() else {
            continue;
        };
        let per_core = node.cores[i].thread_ids.len();
        let per_node = ncores * per_core;
        for CpuCache { cache, shared_by } in cpu_caches(cpu_dir, thread) {
            if cache.level > 2 {
                let list = if shared_by == per_node {
                    &mut node.caches
                } else {
                    &mut node.cores[i].uncore_caches
                };
                if !list.contains(&cache) {
                    list.push(cache);
                }
            } else if shared_by == per_core {
                node.cores[i].caches.push(cache);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procfs::testdata::fixture_roots;

    fn machine() -> MachineInfo {
        read_machine_info(&fixture_roots(), Timestamp::from_secs(1_700_000_100)).unwrap()
    }

    #[test]
    fn cpus_memory_and_identity() {
        let m = machine();
        assert_eq!(m.timestamp, Timestamp::from_secs(1_700_000_100));
        assert_eq!(m.vendor_id, "AuthenticAMD");
        assert_eq!(
            (m.num_cores, m.num_physical_cores, m.num_sockets),
            (4, 3, 2)
        );
        assert_eq!(m.cpu_frequency_khz, 3_500_000);
        assert_eq!(m.memory_capacity, 8_029_032 * 1024);
        assert_eq!(m.swap_capacity, 2_097_148 * 1024);
        let pools: Vec<(u64, u64)> = m
            .hugepages
            .iter()
            .map(|h| (h.page_size, h.num_pages))
            .collect();
        assert_eq!(pools, [(2048, 16), (1_048_576, 0)]);
        assert_eq!(m.system_uuid, "4c4c4544-0042-3510-8052-b4c04f4e4b32");
        assert_eq!(m.boot_id, "0f3c8a2e-7d1b-4c55-9a6e-3b2f1d0c9e8a");
        assert_eq!(m.machine_id, "");
        let cloud = [&m.cloud_provider, &m.instance_type, &m.instance_id];
        assert_eq!(cloud, ["Unknown", "Unknown", "None"]);
        // statfs runs on this machine's directories: `/` exists, the fixture's `/mnt/my
        // data\tdisk` does not and is left out.
        let devices: Vec<&str> = m.filesystems.iter().map(|f| f.device.as_str()).collect();
        assert!(devices.contains(&"/dev/vda1"), "{devices:?}");
        assert!(!devices.contains(&"/dev/vdb"), "{devices:?}");
    }

    #[test]
    fn disks() {
        let m = machine();
        assert_eq!(
            m.disk_map.keys().collect::<Vec<_>>(),
            ["252:0", "254:0", "259:0"]
        );
        assert_eq!(
            m.disk_map["254:0"],
            DiskInfo {
                name: "vda".into(),
                major: 254,
                minor: 0,
                size: 41_943_040 * 512,
                scheduler: "mq-deadline".into(),
            }
        );
        assert_eq!(m.disk_map["259:0"].scheduler, "none");
        // zram0 has no queue/scheduler file.
        assert_eq!(m.disk_map["252:0"].scheduler, "none");
        assert_eq!(m.disk_map["252:0"].size, 0);
    }

    #[test]
    fn network_devices_without_ignored_ones() {
        let m = machine();
        let nets: Vec<(&str, &str, i64, i64)> = m
            .network_devices
            .iter()
            .map(|n| (n.name.as_str(), n.mac_address.as_str(), n.speed, n.mtu))
            .collect();
        assert_eq!(
            nets,
            [
                ("ens4", "52:54:00:ab:cd:ef", 0, 9000),
                ("eth0", "52:54:00:12:34:56", 1000, 1500),
                ("wlan0", "a4:c3:f0:11:22:33", -1, 1500),
            ]
        );
    }

    #[test]
    fn numa_topology_with_caches() {
        let m = machine();
        assert_eq!(m.topology.len(), 2);
        let (n0, n1) = (&m.topology[0], &m.topology[1]);
        assert_eq!((n0.node_id, n1.node_id), (0, 1));
        assert_eq!(n0.memory, 4_014_516 * 1024);
        assert_eq!(n0.distances, [10, 21]);
        assert_eq!(
            (n1.hugepages[0].page_size, n1.hugepages[0].num_pages),
            (2048, 8)
        );
        // Node 0: one core with two threads; its L3 is shared by the whole node.
        assert_eq!(n0.cores.len(), 1);
        assert_eq!((n0.cores[0].core_id, n0.cores[0].socket_id), (0, 0));
        assert_eq!(n0.cores[0].thread_ids, [0, 1]);
        let levels: Vec<(i32, &str)> = n0.cores[0]
            .caches
            .iter()
            .map(|c| (c.level, c.cache_type.as_str()))
            .collect();
        assert_eq!(levels, [(1, "Data"), (1, "Instruction"), (2, "Unified")]);
        let l3 = Cache {
            id: 0,
            size: 32 << 20,
            cache_type: "Unified".into(),
            level: 3,
        };
        assert_eq!(n0.caches, [l3]);
        assert!(n0.cores[0].uncore_caches.is_empty());
        // Node 1: cpu4 is offline; cpus 2 and 3 are separate cores with their own L3.
        let threads: Vec<&[i32]> = n1.cores.iter().map(|c| c.thread_ids.as_slice()).collect();
        assert_eq!(threads, [[2], [3]]);
        assert_eq!((n1.cores[1].core_id, n1.cores[1].socket_id), (1, 1));
        assert!(n1.caches.is_empty());
        assert_eq!(n1.cores[1].uncore_caches.len(), 1);
        assert_eq!(n1.cores[1].uncore_caches[0].id, 3);
        assert_eq!(n1.cores[1].caches[0].size, 48 * 1024);
    }

    #[test]
    fn single_node_without_numa() {
        let dir = tempfile::tempdir().unwrap();
        let fixture = fixture_roots();
        std::fs::create_dir_all(dir.path().join("devices/system")).unwrap();
        std::os::unix::fs::symlink(
            fixture.sys_path("devices/system/cpu"),
            dir.path().join("devices/system/cpu"),
        )
        .unwrap();
        let roots = Roots {
            sys: dir.path().to_owned(),
            ..fixture
        };
        let m = read_machine_info(&roots, Timestamp::from_secs(0)).unwrap();
        assert_eq!(m.topology.len(), 1);
        let node = &m.topology[0];
        assert_eq!((node.node_id, node.memory), (0, m.memory_capacity));
        assert_eq!(node.cores.len(), 3);
        // Optional sysfs sources are simply absent.
        assert!(m.hugepages.is_empty() && m.disk_map.is_empty() && m.network_devices.is_empty());
        assert_eq!(m.system_uuid, "");
    }

    #[test]
    fn frequency_falls_back_to_cpuinfo() {
        let roots = Roots {
            sys: PathBuf::from("/nonexistent"),
            ..fixture_roots()
        };
        assert_eq!(cpu_frequency_khz(&roots, Some(2994.374)), 2_994_374);
        assert_eq!(cpu_frequency_khz(&roots, None), 0);
        let m = read_machine_info(&roots, Timestamp::from_secs(0)).unwrap();
        assert!(m.topology[0].cores.is_empty());
    }

    #[test]
    fn required_files_are_errors_naming_them() {
        let dir = tempfile::tempdir().unwrap();
        let roots = Roots {
            proc: dir.path().to_owned(),
            ..fixture_roots()
        };
        let error = || {
            read_machine_info(&roots, Timestamp::from_secs(0))
                .unwrap_err()
                .to_string()
        };
        let e = error();
        assert!(e.contains("meminfo"), "{e}");
        std::fs::write(dir.path().join("meminfo"), "MemFree: 1 kB\n").unwrap();
        let e = error();
        assert!(e.contains("meminfo") && e.contains("MemTotal"), "{e}");
        std::fs::write(dir.path().join("meminfo"), "MemTotal: 1 kB\n").unwrap();
        let e = error();
        assert!(e.contains("cpuinfo"), "{e}");
    }

    #[test]
    fn machine_id_is_the_first_readable_file() {
        let dir = tempfile::tempdir().unwrap();
        let (empty, id) = (dir.path().join("empty"), dir.path().join("machine-id"));
        std::fs::write(&empty, "\n").unwrap();
        std::fs::write(&id, "3f6d0c1e5b8a4f2e9d7c6b5a4f3e2d1c\n").unwrap();
        let roots = Roots {
            machine_id_files: vec![dir.path().join("missing"), empty, id],
            ..fixture_roots()
        };
        assert_eq!(machine_id(&roots), "3f6d0c1e5b8a4f2e9d7c6b5a4f3e2d1c");
    }

    #[test]
    fn version_info() {
        let dir = tempfile::tempdir().unwrap();
        let os = dir.path().join("os-release");
        std::fs::write(
            &os,
            "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
        )
        .unwrap();
        let roots = Roots {
            os_release: os.clone(),
            ..fixture_roots()
        };
        let v = read_version_info(&roots, "0.1.0");
        assert_eq!(v.kernel_version, "6.1.0-18-amd64");
        assert_eq!(v.container_os_version, "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(v.cadvisor_version, "0.1.0");
        assert_eq!(
            (v.docker_version.as_str(), v.cadvisor_revision.as_str()),
            ("", "")
        );
        let pretty = |t: &str| pretty_name(t).unwrap_or_default();
        assert_eq!(pretty("PRETTY_NAME=Alpine\n"), "Alpine");
        assert_eq!(pretty("PRETTY_NAME='Arch Linux'\n"), "Arch Linux");
        assert_eq!(pretty_name("NAME=x\n"), None);
        let v = read_version_info(
            &Roots {
                proc: dir.path().into(),
                ..fixture_roots()
            },
            "x",
        );
        assert_eq!(
            (v.kernel_version.as_str(), v.container_os_version.as_str()),
            ("Unknown", "Unknown")
        );
    }

    #[test]
    fn device_names_from_diskstats() {
        let names = device_names(&fixture_roots());
        assert_eq!(names.get(&(254, 0)).map(String::as_str), Some("/dev/vda"));
        assert_eq!(names.get(&(254, 1)).map(String::as_str), Some("/dev/vda1"));
        assert_eq!(names.len(), 4);
        let none = Roots {
            proc: PathBuf::from("/nonexistent"),
            ..fixture_roots()
        };
        assert!(device_names(&none).is_empty());
    }

    #[test]
    fn helpers() {
        assert_eq!(
            parse_cpu_list("0-3,8,10-11\n"),
            Some(vec![0, 1, 2, 3, 8, 10, 11])
        );
        assert_eq!(parse_cpu_list(""), Some(vec![]));
        assert_eq!(parse_cpu_list("0-x"), None);
        assert_eq!(bracketed("none [mq-deadline] kyber"), Some("mq-deadline"));
        assert_eq!(bracketed("none"), None);
    }

    /// Found by the `procfs_files` fuzz target: a 12-byte CPU list made a list of 49 million
    /// CPUs (200 MB).
    #[test]
    fn fuzz_cpu_list_is_bounded_by_the_kernel_limit() {
        let input: &[u8] = &[
            0x31, 0x2d, 0x30, 0x34, 0x39, 0x33, 0x38, 0x32, 0x37, 0x31, 0x31, 0x0a,
        ];
        let text = std::str::from_utf8(input).unwrap();
        assert_eq!(parse_cpu_list(text), None);
        assert_eq!(parse_cpu_list("0-4294967295"), None);
        assert_eq!(parse_cpu_list("3-1"), None);
        // Many ranges that are each allowed still make at most MAX_CPUS CPUs.
        let many = vec!["0-65535"; 64].join(",");
        assert_eq!(parse_cpu_list(&many), None);
        assert_eq!(parse_cpu_list("65535").map(|c| c.len()), Some(1));
        assert_eq!(parse_cpu_list("0-65535").map(|c| c.len()), Some(1 << 16));
        assert_eq!(parse_cpu_list("65536"), None);
    }

    #[test]
    fn this_machine() {
        let m = read_machine_info(&Roots::default(), Timestamp::from_secs(0)).unwrap();
        assert!(
            m.num_cores > 0 && m.num_physical_cores > 0 && m.num_sockets > 0,
            "{m:?}"
        );
        assert!(m.num_physical_cores <= m.num_cores);
        assert!(m.memory_capacity > 0);
        assert!(!m.topology.is_empty());
        let cores = m.topology.iter().flat_map(|n| &n.cores);
        let threads: usize = cores.map(|c| c.thread_ids.len()).sum();
        assert!(threads <= m.num_cores as usize, "{threads} threads, {m:?}");
        assert!(
            m.network_devices
                .iter()
                .all(|n| !netdev::is_ignored(&n.name))
        );
    }
}
