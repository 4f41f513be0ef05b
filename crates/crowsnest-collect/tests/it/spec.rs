//! Container specs (limits, shares, cpusets) read from the fixture trees and from cAdvisor's
//! own spec fixtures.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crowsnest_collect::cgroup::spec::read_spec;
use crowsnest_collect::cgroup::{Controller, Layout, Mode};
use crowsnest_core::model::{ContainerSpec, CpuSpec, MemorySpec, ProcessSpec};

use crate::fixtures::{CADVISOR, CONTAINER, CRON, DOCKER, POD, SSHD, layout};

fn assert_spec(layout: &Layout, name: &str, mut expected: ContainerSpec) {
    let got = read_spec(layout, name).unwrap();
    assert!(
        got.creation_time.nanos() > 0,
        "{name}: {:?}",
        got.creation_time
    );
    expected.creation_time = got.creation_time;
    assert_eq!(got, expected, "{name}");
}

fn spec(cpu: CpuSpec, memory: MemorySpec, processes: Option<u64>, diskio: bool) -> ContainerSpec {
    ContainerSpec {
        has_cpu: true,
        cpu,
        has_memory: true,
        memory,
        has_processes: processes.is_some(),
        processes: ProcessSpec {
            limit: processes.unwrap_or_default(),
        },
        has_diskio: diskio,
        ..ContainerSpec::default()
    }
}

fn cpu_spec(limit: u64, quota: u64, period: u64, mask: &str) -> CpuSpec {
    CpuSpec {
        limit,
        max_limit: 0,
        mask: mask.to_owned(),
        quota,
        period,
    }
}

fn mem_spec(limit: u64, reservation: u64, swap_limit: u64) -> MemorySpec {
    MemorySpec {
        limit,
        reservation,
        swap_limit,
    }
}

const V1_UNLIMITED: u64 = 9_223_372_036_854_771_712;

#[test]
fn specs_of_the_fixture_trees() {
    let v1 = layout("v1");
    let docker = spec(
        cpu_spec(512, 50_000, 100_000, "0-1"),
        mem_spec(536_870_912, 268_435_456, 1_073_741_824),
        Some(1024),
        true,
    );
    assert_spec(&v1, DOCKER, docker);
    let sshd = spec(
        cpu_spec(1024, 0, 100_000, "1"), // cfs_quota_us -1
        mem_spec(V1_UNLIMITED, V1_UNLIMITED, V1_UNLIMITED),
        Some(0), // pids.max "max"
        true,
    );
    assert_spec(&v1, SSHD, sshd);

    let v2 = layout("v2");
    // cpu.weight 79 → 2 + 78 × 262142 / 9999 = 2046; cpu.max "50000 100000".
    let container = spec(
        cpu_spec(2046, 50_000, 100_000, "0-3"),
        mem_spec(u64::MAX, 67_108_864, u64::MAX),
        Some(4096),
        true,
    );
    assert_spec(&v2, CONTAINER, container);
    // cpu.weight 40 → 1024; no cpu.max.
    let pod = spec(
        cpu_spec(1024, 0, 0, "0-3"),
        mem_spec(1_073_741_824, 0, u64::MAX),
        Some(0),
        true,
    );
    assert_spec(&v2, POD, pod);
    // The root: no limits, no pids files; memory.max-less but with memory.stat.
    let root = spec(cpu_spec(0, 0, 0, "0-3"), mem_spec(0, 0, 0), None, true);
    assert_spec(&v2, "/", root);

    let hybrid = layout("hybrid");
    let cron = spec(
        cpu_spec(1024, 0, 100_000, "0-1"),
        mem_spec(V1_UNLIMITED, 0, 0),
        Some(9830),
        true,
    );
    assert_spec(&hybrid, CRON, cron);
}

/// cAdvisor's `container/common/test_resources`, or `None` (loudly) when they are not there;
/// with `CI=true` their absence fails the test.
fn cadvisor_fixture(rel: &str) -> Option<PathBuf> {
    let dir = Path::new(CADVISOR).join(rel);
    if dir.is_dir() {
        return Some(dir);
    }
    let msg = format!("cAdvisor spec fixtures not found at {}", dir.display());
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
    eprintln!("\n!!!!! SKIPPED: {msg} !!!!!\n");
    None
}

fn cadvisor_v2(dir: PathBuf) -> Layout {
    Layout {
        mode: Mode::V2,
        root: dir.clone(),
        v1: BTreeMap::new(),
        unified: Some(dir),
    }
}

#[test]
fn cadvisor_spec_v1_test1() {
    let Some(base) = cadvisor_fixture("cgroup_v1/test1") else {
        return;
    };
    let controllers = [
        Controller::Cpu,
        Controller::Cpuset,
        Controller::Memory,
        Controller::Pids,
    ];
    let v1 = controllers
        .into_iter()
        .map(|c| (c, base.join(c.as_str())))
        .collect();
    let layout = Layout {
        mode: Mode::V1,
        root: base,
        v1,
        unified: None,
    };
    // cAdvisor's TestGetSpecCgroupV1 expects the same.
    let expected = spec(
        cpu_spec(1025, 20_000, 100_010, "0-5"),
        mem_spec(123_456_789, 24_680, 13_579),
        Some(1027),
        false,
    );
    assert_spec(&layout, "/", expected);
}

#[test]
fn cadvisor_spec_v2_test1() {
    let Some(dir) = cadvisor_fixture("cgroup_v2/test1") else {
        return;
    };
    // cAdvisor's TestGetSpecCgroupV2: cpu.weight 50 → 1286. cAdvisor also sets has_diskio
    // because the directory exists; crowsnest wants io.stat, which this fixture lacks.
    let expected = spec(
        cpu_spec(1286, 20_000, 100_010, "0-5"),
        mem_spec(123_456_789, 24_680, 13_579),
        Some(1027),
        false,
    );
    assert_spec(&cadvisor_v2(dir), "/", expected);
}

#[test]
fn cadvisor_spec_v2_test2_max_values() {
    let Some(dir) = cadvisor_fixture("cgroup_v2/test2") else {
        return;
    };
    // cAdvisor's TestGetSpecCgroupV2Max: "max" limits are u64::MAX and "max 100010" is no
    // quota. For pids.max "max" cAdvisor's spec says u64::MAX; crowsnest uses 0 ("unlimited"
    // in ProcessSpec, and what cAdvisor reports as threads_max).
    let expected = spec(
        cpu_spec(1286, 0, 100_010, ""),
        mem_spec(u64::MAX, u64::MAX, u64::MAX),
        Some(0),
        false,
    );
    assert_spec(&cadvisor_v2(dir), "/", expected);
}
