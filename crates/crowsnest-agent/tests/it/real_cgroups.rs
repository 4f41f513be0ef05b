//! The agent against real cgroups made on this machine, with real processes doing known work.
//! Values are checked against the work done and against the kernel's files read directly.

use std::sync::Arc;
use std::time::Duration;

use crowsnest_agent::AgentConfig;
use crowsnest_agent::manager::Manager;
use crowsnest_agent::state::{Shared, StatsQuery};
use crowsnest_collect::Roots;
use crowsnest_core::model::ContainerStats;
use crowsnest_core::{ManualClock, Timestamp};
use crowsnest_testkit::{RealCgroup, cgroup_root, read_u64};

const V1: &[&str] = &["cpu", "cpuacct", "memory", "pids", "blkio"];

fn manager_on(root: std::path::PathBuf, inotify: bool) -> (Manager, Shared, ManualClock) {
    let clock = ManualClock::new(Timestamp::from_secs(1_700_000_000));
    let shared = Shared::default();
    let config = AgentConfig {
        roots: Roots {
            cgroup: root,
            ..Roots::default()
        },
        inotify,
        ..AgentConfig::default()
    };
    let m = Manager::new(config, Arc::new(clock.clone()), shared.clone()).expect("manager starts");
    (m, shared, clock)
}

fn latest(shared: &Shared, name: &str) -> ContainerStats {
    let st = shared.read();
    let info = st.info(
        name,
        &StatsQuery {
            max: Some(1),
            ..Default::default()
        },
    );
    let info = info.unwrap_or_else(|| panic!("{name} is not known to the agent"));
    info.stats
        .last()
        .cloned()
        .unwrap_or_else(|| panic!("{name} has no sample"))
}

#[test]
fn cpu_burned_in_a_v1_cgroup_is_reported_exactly() {
    let Some(mut cg) = RealCgroup::create("/", V1, true) else {
        return;
    };
    let burned = cg.burn_cpu(Duration::from_millis(700));
    assert!(
        burned > Duration::from_millis(300),
        "the busy loop only got {burned:?} of CPU"
    );
    let (mut m, shared, clock) = manager_on(cgroup_root(), false);
    clock.advance_nanos(1_000_000_000);
    assert!(m.housekeep_all() > 0);
    let s = latest(&shared, cg.name());
    let cpu = s.cpu.expect("cpu stats");
    let total = cpu.usage.total.expect("cpu total");
    // The process is dead, so the counter no longer moves: the agent must read exactly it.
    let direct = read_u64(&cg.dir("cpuacct").unwrap().join("cpuacct.usage")).unwrap();
    assert_eq!(total, direct);
    let burned_ns = u64::try_from(burned.as_nanos()).unwrap();
    assert!(
        total >= burned_ns * 95 / 100,
        "total {total} ns < burned {burned_ns} ns"
    );
    assert!(
        total <= burned_ns * 12 / 10 + 50_000_000,
        "total {total} ns >> burned {burned_ns} ns"
    );
    let (user, system) = (cpu.usage.user.unwrap(), cpu.usage.system.unwrap());
    // user/system are the kernel's tick-sampled split (cpustat): exact against the files,
    // and only roughly the total under load.
    let dir = cg.dir("cpuacct").unwrap();
    if let (Some(u), Some(s)) = (
        read_u64(&dir.join("cpuacct.usage_user")),
        read_u64(&dir.join("cpuacct.usage_sys")),
    ) {
        assert_eq!((user, system), (u, s));
    }
    assert!(
        user + system >= total * 7 / 10 && user + system <= total * 13 / 10 + 50_000_000,
        "user {user} + system {system} vs total {total}"
    );
    assert!(
        user + system >= total * 9 / 10 && user + system <= total * 11 / 10 + 20_000_000,
        "user {user} + system {system} vs total {total}"
    );
    assert_eq!(cpu.usage.per_cpu_usage.iter().sum::<u64>(), total);
    assert!(cpu.cfs.is_some(), "cpu.stat gives CFS counters on v1");
    assert_eq!(s.timestamp, Timestamp::from_secs(1_700_000_001));
}

#[test]
fn cpu_burned_in_a_cgroup2_is_reported() {
    let Some(mut cg) = RealCgroup::create("/", &[], true) else {
        return;
    };
    let burned = cg.burn_cpu(Duration::from_millis(500));
    let (mut m, shared, _clock) = manager_on(cgroup_root().join("unified"), false);
    assert_eq!(m.layout().mode, crowsnest_collect::cgroup::Mode::V2);
    m.housekeep_all();
    let s = latest(&shared, cg.name());
    let total = s
        .cpu
        .expect("cpu stats from cpu.stat")
        .usage
        .total
        .expect("usage_usec");
    let burned_ns = u64::try_from(burned.as_nanos()).unwrap();
    assert!(
        total >= burned_ns * 95 / 100,
        "total {total} ns < burned {burned_ns} ns"
    );
    assert!(
        total <= burned_ns * 12 / 10 + 50_000_000,
        "total {total} ns >> burned {burned_ns} ns"
    );
    // No memory controller is enabled in this cgroup2 mount: usage is absent, not zero (the
    // kernel still gives memory pressure).
    let mem = s.memory.unwrap_or_default();
    assert_eq!((mem.usage, mem.working_set, mem.rss), (None, None, None));
}

#[test]
fn memory_touched_shows_in_usage_and_working_set() {
    let Some(mut cg) = RealCgroup::create("/", V1, false) else {
        return;
    };
    const BYTES: u64 = 64 << 20;
    cg.spawn_memory_toucher(BYTES as usize);
    let (mut m, shared, _clock) = manager_on(cgroup_root(), false);
    m.housekeep_all();
    let s = latest(&shared, cg.name());
    let mem = s.memory.expect("memory stats");
    let usage = mem.usage.unwrap();
    let ws = mem.working_set.unwrap();
    let rss = mem.rss.unwrap();
    assert!(usage >= BYTES, "usage {usage} < {BYTES}");
    assert!(ws >= BYTES * 95 / 100, "working set {ws} < 95% of {BYTES}");
    assert!(ws <= usage);
    assert!(rss >= BYTES * 95 / 100, "rss {rss}");
    let direct = read_u64(&cg.dir("memory").unwrap().join("memory.usage_in_bytes")).unwrap();
    assert!(
        usage.abs_diff(direct) < 4 << 20,
        "usage {usage} vs memory.usage_in_bytes {direct}"
    );
    let p = s.processes.expect("process stats");
    assert_eq!(p.process_count, Some(1));
    assert_eq!(p.threads_current, Some(1));
}

#[test]
fn a_removed_cgroup_vanishes_through_inotify() {
    let Some(mut cg) = RealCgroup::create("/", V1, false) else {
        return;
    };
    cg.spawn_sleeper();
    let name = cg.name().to_owned();
    let (mut m, shared, _clock) = manager_on(cgroup_root(), true);
    m.housekeep_all();
    assert!(shared.read().containers.contains_key(&name));
    let child = RealCgroup::create(&name, V1, false).expect("nested cgroup");
    let child_name = child.name().to_owned();
    for _ in 0..50 {
        m.wait_for_events(Duration::from_millis(100));
        if shared.read().containers.contains_key(&child_name) {
            break;
        }
    }
    assert!(
        shared.read().containers.contains_key(&child_name),
        "inotify add of {child_name}"
    );
    drop(child);
    drop(cg);
    for _ in 0..50 {
        m.wait_for_events(Duration::from_millis(100));
        if !shared.read().containers.contains_key(&name) {
            break;
        }
    }
    let st = shared.read();
    assert!(
        !st.containers.contains_key(&name),
        "{name} still listed after rmdir"
    );
    assert!(!st.containers.contains_key(&child_name));
}

#[test]
fn a_removed_cgroup_vanishes_on_rescan_without_inotify() {
    let Some(cg) = RealCgroup::create("/", V1, false) else {
        return;
    };
    let name = cg.name().to_owned();
    let (mut m, shared, _clock) = manager_on(cgroup_root(), false);
    assert!(shared.read().containers.contains_key(&name));
    let before = m.container_count();
    drop(cg);
    // A pass notices ENODEV on the held files and drops the container at once.
    m.housekeep_all();
    m.rescan();
    assert!(!shared.read().containers.contains_key(&name));
    assert_eq!(m.container_count(), before - 1);
}

#[test]
fn network_of_a_process_in_its_own_namespace_is_reported() {
    if std::process::Command::new("unshare")
        .arg("--version")
        .output()
        .is_err()
    {
        crowsnest_testkit::missing("unshare (util-linux)");
        return;
    }
    let Some(mut cg) = RealCgroup::create("/", V1, false) else {
        return;
    };
    // A veth pair in a private namespace, a static neighbour entry (no ARP), and 3 UDP
    // datagrams of 100 bytes to it: they leave crow0 and arrive on crow1.
    let script = "ip link add crow0 type veth peer name crow1 && ip link set crow0 up && \
        ip link set crow1 up && ip addr add 10.99.0.1/24 dev crow0 && \
        ip neigh add 10.99.0.2 lladdr 02:00:00:00:00:02 dev crow0 && python3 -c '\
import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
for i in range(3): s.sendto(b\"x\"*100,(\"10.99.0.2\",9)); time.sleep(0.2)\n' && \
        echo ready && exec sleep 600";
    let pid = cg
        .spawn_until_ready(std::process::Command::new("unshare").args(["-n", "sh", "-c", script]));
    let Some(mut host_only) = RealCgroup::create("/", V1, false) else {
        return;
    };
    host_only.spawn_sleeper();
    let (mut m, shared, _clock) = manager_on(cgroup_root(), false);
    m.housekeep_all();
    m.housekeep_all();
    let s = latest(&shared, cg.name());
    let net = s
        .network
        .expect("network stats for a container with its own namespace");
    let mut names: Vec<&str> = net.interfaces.iter().map(|i| i.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["crow0", "crow1"], "lo is filtered as cAdvisor does");
    let crow0 = net.interfaces.iter().find(|i| i.name == "crow0").unwrap();
    let crow1 = net.interfaces.iter().find(|i| i.name == "crow1").unwrap();
    assert!(
        crow0.tx_packets >= 3 && crow0.tx_bytes >= 3 * 142,
        "{crow0:?}"
    );
    assert!(crow1.rx_packets >= 3, "{crow1:?}");
    // Independent check: the kernel's own table for that process, read directly.
    let direct = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap();
    let line = direct
        .lines()
        .find(|l| l.trim_start().starts_with("crow0:"))
        .unwrap();
    let fields: Vec<u64> = line
        .split(':')
        .nth(1)
        .unwrap()
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(
        fields[9] >= crow0.tx_packets && fields[9] - crow0.tx_packets <= 10,
        "tx packets {} vs {}",
        fields[9],
        crow0.tx_packets
    );
    assert!(fields[0] >= crow0.rx_bytes && fields[0] - crow0.rx_bytes <= 2000);
    // A process in the host's namespace: no network for that container.
    assert!(latest(&shared, host_only.name()).network.is_none());
    // The root container reports the host's interfaces.
    let root = latest(&shared, "/");
    assert!(root.network.is_some());
    assert!(
        !root.filesystem.is_empty(),
        "root lists the machine's filesystems"
    );
}
