//! The encoder's rules on inputs built for each: absent is not zero, the label union, escaping,
//! gating by spec and metric group, cAdvisor's derivation quirks, and speed.

use std::time::Instant;

use crowsnest_core::Timestamp;
use crowsnest_core::machine::MachineInfo;
use crowsnest_core::metrics::{MetricKind, MetricSet};
use crowsnest_core::model::{MemorySpec, VersionInfo};
use crowsnest_formats::prometheus::{
    ContainerLabels, ContainerView, Exposition, SelfMetricsView, encode, encode_scrape,
};

use crate::fixtures::{Owned, blocks, cadvisor_container, map, realistic_host, series};

/// Encodes the containers with the given groups, default labels and an empty machine.
fn render(containers: &[Owned], metrics: MetricSet) -> String {
    let views: Vec<ContainerView<'_>> = containers
        .iter()
        .map(|c| ContainerView::new(&c.reference, &c.spec, &c.stats))
        .collect();
    let machine = MachineInfo::default();
    let version = VersionInfo::default();
    let input = Exposition {
        containers: &views,
        machine: &machine,
        version: &version,
        metrics,
        container_labels: ContainerLabels::All,
    };
    let mut out = String::new();
    encode(&mut out, &input);
    out
}

fn all() -> MetricSet {
    MetricSet::all_except(&[])
}

/// The lines of one family's samples.
fn lines_of<'t>(text: &'t str, family: &str) -> Vec<&'t str> {
    let prefix = format!("{family}{{");
    text.lines()
        .filter(|l| l.starts_with(&prefix) || l.starts_with(&format!("{family} ")))
        .collect()
}

#[test]
fn absent_values_produce_no_series() {
    let mut a = cadvisor_container();
    a.reference.name = "/a".into();
    let mut b = cadvisor_container();
    b.reference.name = "/b".into();
    let mem = b.stats.memory.as_mut().expect("memory");
    mem.swap = None;
    mem.container_data.pgmajfault = None;
    mem.events = None;
    b.stats.cpu.as_mut().expect("cpu").usage.user = None;
    b.stats.processes = None;
    b.stats.oom_events = None;
    b.stats.filesystem[0].inodes_free = None;
    let out = render(&[a, b], all());

    let swap = lines_of(&out, "container_memory_swap");
    assert_eq!(swap.len(), 1, "{swap:?}");
    assert!(swap[0].contains("id=\"/a\""));
    let failures = lines_of(&out, "container_memory_failures_total");
    assert_eq!(
        failures.len(),
        7,
        "only b's container pgmajfault is missing: {failures:?}"
    );
    assert_eq!(
        lines_of(&out, "container_memory_events_high_total").len(),
        1
    );
    assert_eq!(lines_of(&out, "container_cpu_user_seconds_total").len(), 1);
    assert_eq!(lines_of(&out, "container_threads").len(), 1);
    assert_eq!(lines_of(&out, "container_oom_events_total").len(), 1);
    assert_eq!(lines_of(&out, "container_fs_inodes_free").len(), 3);

    // A container with no data at all has only the always-present families.
    let mut bare = realistic_host().pop().expect("bare");
    bare.spec.has_cpu = false;
    let out = render(&[bare], all());
    let names: Vec<String> = blocks(&out).into_keys().collect();
    assert_eq!(
        names,
        [
            "cadvisor_version_info",
            "container_creation_time_seconds",
            "container_health_state",
            "container_last_seen",
            "container_scrape_error",
            "container_start_time_seconds",
            "machine_cpu_books",
            "machine_cpu_cores",
            "machine_cpu_drawers",
            "machine_cpu_physical_cores",
            "machine_cpu_sockets",
            "machine_memory_bytes",
            "machine_nvm_avg_power_budget_watts",
            "machine_nvm_capacity",
            "machine_scrape_error",
            "machine_swap_bytes",
        ]
    );
    let s = series(&out);
    assert_eq!(
        s["container_last_seen{id=\"/init.scope\"}"],
        "1.7000001e+09 1700000100999"
    );
    assert_eq!(
        s["container_creation_time_seconds{id=\"/init.scope\"}"],
        "1.7e+09"
    );
}

#[test]
fn every_series_carries_the_union_of_labels() {
    let mut a = cadvisor_container();
    a.reference.name = "/a".into();
    a.spec.labels = map(&[("app", "web")]);
    a.spec.envs.clear();
    let mut b = cadvisor_container();
    b.reference = crowsnest_core::model::ContainerReference {
        name: "/b".into(),
        ..Default::default()
    };
    b.spec.labels = map(&[("tier", "db"), ("tier.x", "collides"), ("tier_x", "wins?")]);
    b.spec.envs = map(&[("HOME", "/root")]);
    b.spec.image.clear();
    let out = render(&[a, b], all());
    let s = series(&out);
    assert_eq!(
        s["container_memory_rss{container_env_HOME=\"\",container_label_app=\"web\",container_label_tier=\"\",\
           container_label_tier_x=\"\",id=\"/a\",image=\"test\",name=\"testcontaineralias\"}"],
        "15 1395066363000"
    );
    // `tier.x` and `tier_x` both sanitise to `tier_x`; the first in byte order (`.` < `_`) wins.
    assert_eq!(
        s["container_memory_rss{container_env_HOME=\"/root\",container_label_app=\"\",container_label_tier=\"db\",\
           container_label_tier_x=\"collides\",id=\"/b\",image=\"\",name=\"\"}"],
        "15 1395066363000"
    );
    // Series are sorted by label values in name order: a's env is "" < "/root".
    let rss = lines_of(&out, "container_memory_rss");
    assert!(
        rss[0].contains("id=\"/a\"") && rss[1].contains("id=\"/b\""),
        "{rss:?}"
    );

    // Without any alias or image in the response, there is no `name` or `image` label at all.
    let mut c = cadvisor_container();
    c.reference.aliases.clear();
    c.spec.image.clear();
    c.spec.labels.clear();
    c.spec.envs.clear();
    let out = render(&[c], all());
    assert!(
        out.contains("\ncontainer_memory_rss{id=\"testcontainer\"} 15 1395066363000\n"),
        "{out}"
    );
}

#[test]
fn label_values_are_escaped() {
    let mut c = cadvisor_container();
    c.reference.name = "/x".into();
    c.spec.labels = map(&[("note", "say \"hi\"\\\nbye")]);
    let out = render(&[c], all());
    assert!(
        out.contains("container_memory_rss{container_env_foo_env=\"prod\",container_label_note=\"say \\\"hi\\\"\\\\\\nbye\",id=\"/x\""),
        "{out}"
    );
    for l in out.lines() {
        assert!(!l.is_empty(), "a raw newline escaped the label value");
    }
}

#[test]
fn cfs_and_spec_quota_need_a_quota() {
    let with = cadvisor_container();
    let mut without = cadvisor_container();
    without.reference.name = "/noquota".into();
    without.spec.cpu.quota = 0;
    let out = render(&[with, without], all());
    for family in [
        "container_cpu_cfs_periods_total",
        "container_cpu_cfs_throttled_periods_total",
        "container_cpu_cfs_throttled_seconds_total",
        "container_cpu_cfs_burst_periods_total",
        "container_cpu_cfs_burst_seconds_total",
        "container_spec_cpu_quota",
    ] {
        let lines = lines_of(&out, family);
        assert_eq!(lines.len(), 1, "{family}: {lines:?}");
        assert!(lines[0].contains("id=\"testcontainer\""), "{family}");
    }
    assert_eq!(lines_of(&out, "container_spec_cpu_period").len(), 2);
    assert_eq!(lines_of(&out, "container_spec_cpu_shares").len(), 2);
}

#[test]
fn memory_limits_above_2_pow_62_are_shown_as_zero() {
    let mut c = cadvisor_container();
    c.spec.has_memory = true;
    c.spec.memory = MemorySpec {
        limit: u64::MAX,
        reservation: 1 << 62,
        swap_limit: (1 << 62) + 1,
    };
    let out = render(&[c], all());
    let s = series(&out);
    let labels = "{container_env_foo_env=\"prod\",container_label_foo_label=\"bar\",id=\"testcontainer\",image=\"test\",name=\"testcontaineralias\"}";
    assert_eq!(
        s[&format!("container_spec_memory_limit_bytes{labels}")],
        "0"
    );
    assert_eq!(
        s[&format!("container_spec_memory_reservation_limit_bytes{labels}")],
        "4.611686018427388e+18"
    );
    assert_eq!(
        s[&format!("container_spec_memory_swap_limit_bytes{labels}")],
        "0"
    );
    assert!(
        out.contains("# HELP container_spec_memory_limit_bytes Memory limit for the container.\n")
    );
    // Not without has_memory.
    let out = render(&[cadvisor_container()], all());
    assert!(!out.contains("container_spec_memory"));
}

#[test]
fn cpu_usage_is_per_cpu_without_total_or_total_without_per_cpu() {
    let host = realistic_host();
    let out = render(&host, all());
    let usage = lines_of(&out, "container_cpu_usage_seconds_total");
    let root: Vec<&&str> = usage.iter().filter(|l| l.contains("id=\"/\"")).collect();
    assert_eq!(root.len(), 3, "zeros skipped, no total: {root:?}");
    assert!(root.iter().all(|l| !l.contains("cpu=\"total\"")));
    assert!(
        root[0].contains("cpu=\"cpu00\"") && root[0].contains(" 5 "),
        "{root:?}"
    );
    assert!(
        root[1].contains("cpu=\"cpu02\"") && root[1].contains(" 7.123456789 "),
        "{root:?}"
    );
    assert!(
        root[2].contains("cpu=\"cpu03\"") && root[2].contains(" 1e-09 "),
        "{root:?}"
    );
    let v2: Vec<&&str> = usage
        .iter()
        .filter(|l| l.contains("sshd.service"))
        .collect();
    assert_eq!(v2.len(), 1);
    assert!(
        v2[0].contains("cpu=\"total\"") && v2[0].contains(" 123.456789012 "),
        "{v2:?}"
    );

    // With `percpu` off, everyone gets a total (when above 0).
    let out = render(&host, MetricSet::all_except(&[MetricKind::PerCpu]));
    let usage = lines_of(&out, "container_cpu_usage_seconds_total");
    assert_eq!(usage.len(), 3, "{usage:?}");
    assert!(usage.iter().all(|l| l.contains("cpu=\"total\"")));
}

#[test]
fn groups_gate_their_families() {
    let c = [cadvisor_container()];
    let default = render(&c, MetricSet::cadvisor_default());
    assert!(
        !default.contains("container_processes"),
        "process is off by default"
    );
    assert!(
        !default.contains("machine_node_"),
        "cpu_topology is off by default"
    );
    assert!(default.contains("container_memory_rss"));
    let only_mem = render(&c, MetricSet::only(&[MetricKind::Memory]));
    let names: Vec<String> = blocks(&only_mem)
        .into_keys()
        .filter(|n| n.starts_with("container_"))
        .collect();
    assert!(
        names.iter().all(|n| n.starts_with("container_memory_")
            || [
                "container_creation_time_seconds",
                "container_health_state",
                "container_last_seen",
                "container_scrape_error",
                "container_spec_cpu_period",
                "container_spec_cpu_quota",
                "container_spec_cpu_shares",
                "container_start_time_seconds"
            ]
            .contains(&n.as_str())),
        "{names:?}"
    );
    for (kind, family) in [
        (MetricKind::Cpu, "container_cpu_user_seconds_total"),
        (MetricKind::Disk, "container_fs_usage_bytes"),
        (MetricKind::DiskIo, "container_blkio_device_usage_total"),
        (MetricKind::Network, "container_network_receive_bytes_total"),
        (MetricKind::Process, "container_threads"),
        (MetricKind::OomEvent, "container_oom_events_total"),
        (
            MetricKind::Pressure,
            "container_pressure_io_waiting_seconds_total",
        ),
    ] {
        assert!(
            render(&c, MetricSet::only(&[kind])).contains(&format!("# TYPE {family} ")),
            "{kind}"
        );
        assert!(
            !render(&c, MetricSet::all_except(&[kind])).contains(&format!("# TYPE {family} ")),
            "{kind}"
        );
    }
}

#[test]
fn io_serviced_gives_reads_and_writes_totals() {
    let host = realistic_host();
    let out = render(&host, all());
    let reads = lines_of(&out, "container_fs_reads_total");
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert!(
        reads[0].starts_with("container_fs_reads_total{")
            && reads[0].contains("device=\"/dev/sdb\"")
    );
    assert!(reads[0].ends_with(" 7 1395066363000"), "{reads:?}");
    assert!(lines_of(&out, "container_fs_writes_total")[0].ends_with(" 9 1395066363000"));
}

#[test]
fn scrape_output_keeps_families_sorted_with_self_metrics() {
    let host = realistic_host();
    let views: Vec<ContainerView<'_>> = host
        .iter()
        .map(|c| ContainerView::new(&c.reference, &c.spec, &c.stats))
        .collect();
    let machine = crate::fixtures::cadvisor_machine();
    let version = VersionInfo::default();
    let input = Exposition {
        containers: &views,
        machine: &machine,
        version: &version,
        metrics: all(),
        container_labels: ContainerLabels::All,
    };
    let mut out = String::new();
    encode_scrape(
        &mut out,
        &input,
        &SelfMetricsView {
            containers: 4,
            ..Default::default()
        },
    );
    let names: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .collect();
    assert!(names.is_sorted(), "{names:?}");
    assert!(out.contains("\ncrowsnest_containers 4\n"));
}

/// Many containers like a busy host: cAdvisor's test container with 16 CPUs and a few
/// labels each.
fn busy_host(n: usize) -> Vec<Owned> {
    (0..n)
        .map(|i| {
            let mut c = cadvisor_container();
            c.reference.name = format!("/kubepods/burstable/pod{i:04}/{:064x}", i * 7919);
            c.reference.aliases = vec![format!("k8s_app_{i}"), format!("{:064x}", i * 7919)];
            c.spec.labels = map(&[
                ("io.kubernetes.pod.name", &format!("app-{i}")),
                (
                    "io.kubernetes.pod.namespace",
                    if i % 3 == 0 { "kube-system" } else { "default" },
                ),
                ("io.kubernetes.container.name", "app"),
            ]);
            let cpu = c.stats.cpu.as_mut().expect("cpu");
            cpu.usage.per_cpu_usage = (0..16).map(|k| 1_000_000_007 * (k + i as u64)).collect();
            c.stats.timestamp = Timestamp::from_millis(1_700_000_000_000 + i as i64);
            c
        })
        .collect()
}

#[test]
fn thousand_containers_encode_quickly() {
    let host = busy_host(1000);
    let start = Instant::now();
    let out = render(&host, MetricSet::cadvisor_default());
    let took = start.elapsed();
    let lines = out.lines().filter(|l| !l.starts_with('#')).count();
    eprintln!(
        "1000 containers: {lines} series, {} bytes in {took:?}",
        out.len()
    );
    assert!(lines > 60_000, "{lines}");
    // Generous: debug builds are slow; release takes a few milliseconds.
    assert!(took.as_secs_f64() < 5.0, "{took:?}");
}

#[test]
fn no_containers_still_gives_version_scrape_error_and_machine() {
    let out = render(&[], all());
    let names: Vec<String> = blocks(&out)
        .into_keys()
        .filter(|n| !n.starts_with("machine_"))
        .collect();
    assert_eq!(names, ["cadvisor_version_info", "container_scrape_error"]);
    assert!(out.contains("\ncontainer_scrape_error 0\n"));
    assert!(out.contains("\nmachine_scrape_error 0\n"));
}
