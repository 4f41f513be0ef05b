//! Network namespaces shared by containers the runtimes say nothing about (a pod's
//! containers named from their paths): the namespace is reported once, by the first container
//! seen in it, and by another once that one is gone.

use std::process::Command;
use std::sync::Arc;

use crowsnest_agent::AgentConfig;
use crowsnest_agent::manager::Manager;
use crowsnest_agent::state::{Shared, StatsQuery};
use crowsnest_collect::Roots;
use crowsnest_core::{ManualClock, Timestamp};
use crowsnest_testkit::{RealCgroup, cgroup_root};

const V1: &[&str] = &["cpu", "cpuacct", "memory", "pids"];

fn has_network(shared: &Shared, name: &str) -> bool {
    let q = StatsQuery {
        max: Some(1),
        ..Default::default()
    };
    let info = shared.read().info(name, &q).expect("known");
    info.stats.last().expect("a sample").network.is_some()
}

#[test]
fn a_shared_namespace_is_reported_by_one_container_only() {
    if Command::new("nsenter").arg("--version").output().is_err() {
        crowsnest_testkit::missing("nsenter (util-linux)");
        return;
    }
    let Some(mut first) = RealCgroup::create("/", V1, false) else {
        return;
    };
    let script = "ip link add cn0 type veth peer name cn1 && ip link set cn0 up && \
        ip link set cn1 up && echo ready && exec sleep 600";
    let pid = first.spawn_until_ready(Command::new("unshare").args(["-n", "sh", "-c", script]));
    let Some(mut second) = RealCgroup::create("/", V1, false) else {
        return;
    };
    second.spawn_until_ready(Command::new("nsenter").args([
        &format!("--net=/proc/{pid}/ns/net"),
        "sh",
        "-c",
        "echo ready; exec sleep 600",
    ]));
    let clock = ManualClock::new(Timestamp::from_secs(1_700_000_000));
    let shared = Shared::default();
    let config = AgentConfig {
        roots: Roots {
            cgroup: cgroup_root(),
            ..Roots::default()
        },
        inotify: false,
        ..AgentConfig::default()
    };
    let mut m = Manager::new(config, Arc::new(clock.clone()), shared.clone()).unwrap();
    m.housekeep_all();
    m.housekeep_all();
    let (a, b) = (first.name().to_owned(), second.name().to_owned());
    let (net_a, net_b) = (has_network(&shared, &a), has_network(&shared, &b));
    assert!(
        net_a != net_b,
        "exactly one container reports the shared namespace: {a} {net_a}, {b} {net_b}"
    );
    // The owner goes: the other reports the namespace from the next pass on.
    let other = if net_a {
        drop(first);
        b
    } else {
        drop(second);
        a
    };
    m.rescan();
    for _ in 0..3 {
        clock.advance_nanos(1_000_000_000);
        m.housekeep_all();
    }
    assert!(
        has_network(&shared, &other),
        "taken over once the owner is gone"
    );
}
