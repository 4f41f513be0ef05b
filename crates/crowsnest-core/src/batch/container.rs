//! One container sample as canonical samples: the mapping every sink and the store start from.

use std::borrow::Cow;
use std::sync::Arc;

use super::names::{self, Metric};
use super::{Batch, Labels, Sample, Value, label};
use crate::model::{ContainerReference, ContainerSpec, ContainerStats};

/// What a container's samples need besides the container itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerContext<'a> {
    /// The node (host) the agent runs on: `nodename` and `hostname`.
    pub node: &'a str,
}

/// The series labels of a container: `id`, `type`, `container_name`, `nodename`, `hostname`,
/// image and Kubernetes pod fields when known, and the runtime labels as `k:v,k:v`.
fn container_labels(
    reference: &ContainerReference,
    spec: &ContainerSpec,
    ctx: &ContainerContext<'_>,
) -> Labels {
    let k8s = |k: &str| {
        spec.labels
            .get(k)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let container_name = k8s(label::K8S_CONTAINER_NAME)
        .or(reference.aliases.first().map(String::as_str))
        .unwrap_or(&reference.name);
    let kind = if reference.name == "/" {
        label::TYPE_NODE
    } else if k8s(label::K8S_POD_NAME).is_some() {
        label::TYPE_POD_CONTAINER
    } else {
        label::TYPE_SYS_CONTAINER
    };
    let mut pairs: Vec<(&str, &str)> = vec![
        (label::ID, reference.name.as_str()),
        (label::TYPE, kind),
        (label::CONTAINER_NAME, container_name),
        (label::NODENAME, ctx.node),
        (label::HOSTNAME, ctx.node),
    ];
    if !spec.image.is_empty() {
        pairs.push((label::CONTAINER_BASE_IMAGE, spec.image.as_str()));
    }
    for (key, k8s_key) in [
        (label::POD_NAME, label::K8S_POD_NAME),
        (label::NAMESPACE_NAME, label::K8S_POD_NAMESPACE),
        (label::POD_ID, label::K8S_POD_UID),
    ] {
        if let Some(v) = k8s(k8s_key) {
            pairs.push((key, v));
        }
    }
    let joined: String;
    if !spec.labels.is_empty() {
        joined = spec
            .labels
            .iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect::<Vec<_>>()
            .join(",");
        pairs.push((label::LABELS, joined.as_str()));
    }
    Labels::new(pairs)
}

struct Out<'a> {
    labels: Arc<Labels>,
    out: &'a mut Vec<Sample>,
}

impl Out<'_> {
    fn push(&mut self, m: Metric, v: Option<u64>) {
        if let Some(v) = v {
            self.push_value(m, Value::from_u64(v), None);
        }
    }

    fn push_value(&mut self, m: Metric, value: Value, labels: Option<Arc<Labels>>) {
        self.out.push(Sample {
            metric: Cow::Borrowed(m.name),
            kind: m.kind,
            unit: m.unit,
            labels: labels.unwrap_or_else(|| self.labels.clone()),
            value,
        });
    }

    fn push_resource(&mut self, m: Metric, resource: &Arc<Labels>, v: Option<u64>) {
        if let Some(v) = v {
            self.push_value(m, Value::from_u64(v), Some(resource.clone()));
        }
    }
}

/// Appends the canonical samples of one container sample to `out`. A value the kernel did not
/// give produces no sample. Returns the labels shared by the container's samples.
pub fn container_samples(
    reference: &ContainerReference,
    spec: &ContainerSpec,
    stats: &ContainerStats,
    ctx: &ContainerContext<'_>,
    out: &mut Vec<Sample>,
) -> Arc<Labels> {
    let labels = Arc::new(container_labels(reference, spec, ctx));
    let mut o = Out {
        labels: labels.clone(),
        out,
    };
    let uptime_ns = stats
        .timestamp
        .nanos()
        .saturating_sub(spec.creation_time.nanos());
    if spec.creation_time.nanos() > 0 && uptime_ns >= 0 {
        o.push(names::UPTIME, u64::try_from(uptime_ns / 1_000_000).ok());
    }
    if let Some(cpu) = &stats.cpu {
        o.push(names::CPU_USAGE, cpu.usage.total);
        o.push(names::CPU_USAGE_USER, cpu.usage.user);
        o.push(names::CPU_USAGE_SYSTEM, cpu.usage.system);
        if let Some(cfs) = &cpu.cfs {
            o.push(names::CPU_CFS_PERIODS, cfs.periods);
            o.push(names::CPU_CFS_THROTTLED_PERIODS, cfs.throttled_periods);
            o.push(names::CPU_CFS_THROTTLED_TIME, cfs.throttled_time);
        }
        if let Some(psi) = &cpu.psi {
            o.push(
                names::CPU_PRESSURE_WAITING,
                psi.some.as_ref().map(|p| p.total),
            );
            o.push(
                names::CPU_PRESSURE_STALLED,
                psi.full.as_ref().map(|p| p.total),
            );
        }
    }
    if spec.has_cpu && spec.cpu.quota > 0 && spec.cpu.period > 0 {
        o.push(
            names::CPU_LIMIT,
            Some(spec.cpu.quota.saturating_mul(1000) / spec.cpu.period),
        );
    }
    if let Some(m) = &stats.memory {
        o.push(names::MEMORY_USAGE, m.usage);
        o.push(names::MEMORY_MAX_USAGE, m.max_usage);
        o.push(names::MEMORY_WORKING_SET, m.working_set);
        o.push(names::MEMORY_RSS, m.rss);
        o.push(names::MEMORY_CACHE, m.cache);
        o.push(names::MEMORY_SWAP, m.swap);
        o.push(names::MEMORY_MAPPED_FILE, m.mapped_file);
        o.push(names::MEMORY_PAGE_FAULTS, m.container_data.pgfault);
        o.push(names::MEMORY_MAJOR_PAGE_FAULTS, m.container_data.pgmajfault);
        o.push(names::MEMORY_FAILCNT, m.failcnt);
        if let Some(psi) = &m.psi {
            o.push(
                names::MEMORY_PRESSURE_WAITING,
                psi.some.as_ref().map(|p| p.total),
            );
            o.push(
                names::MEMORY_PRESSURE_STALLED,
                psi.full.as_ref().map(|p| p.total),
            );
        }
    }
    o.push(names::MEMORY_OOM_KILLS, stats.oom_events);
    // Unlimited reads as a huge number (v1) or u64::MAX (v2): not a limit worth a series.
    if spec.has_memory && spec.memory.limit > 0 && spec.memory.limit < 1 << 62 {
        o.push(names::MEMORY_LIMIT, Some(spec.memory.limit));
    }
    if let Some(net) = &stats.network {
        let sum = |f: fn(&crate::model::InterfaceStats) -> u64| {
            net.interfaces.iter().map(f).fold(0u64, u64::saturating_add)
        };
        o.push(names::NETWORK_RX, Some(sum(|i| i.rx_bytes)));
        o.push(names::NETWORK_TX, Some(sum(|i| i.tx_bytes)));
        o.push(names::NETWORK_RX_ERRORS, Some(sum(|i| i.rx_errors)));
        o.push(names::NETWORK_TX_ERRORS, Some(sum(|i| i.tx_errors)));
    }
    for fs in &stats.filesystem {
        let r = Arc::new(labels.with(label::RESOURCE_ID, &fs.device));
        o.push_resource(names::FILESYSTEM_USAGE, &r, Some(fs.usage));
        o.push_resource(names::FILESYSTEM_LIMIT, &r, Some(fs.capacity));
        o.push_resource(names::FILESYSTEM_AVAILABLE, &r, Some(fs.available));
        o.push_resource(names::FILESYSTEM_INODES, &r, fs.inodes);
        o.push_resource(names::FILESYSTEM_INODES_FREE, &r, fs.inodes_free);
    }
    if let Some(io) = &stats.diskio {
        for d in &io.io_service_bytes {
            let id = if d.device.is_empty() {
                format!("{}:{}", d.major, d.minor)
            } else {
                d.device.clone()
            };
            let r = Arc::new(labels.with(label::RESOURCE_ID, &id));
            o.push_resource(names::DISK_IO_READ_BYTES, &r, d.stats.get("Read").copied());
            o.push_resource(
                names::DISK_IO_WRITE_BYTES,
                &r,
                d.stats.get("Write").copied(),
            );
        }
        if let Some(psi) = &io.psi {
            o.push(
                names::IO_PRESSURE_WAITING,
                psi.some.as_ref().map(|p| p.total),
            );
            o.push(
                names::IO_PRESSURE_STALLED,
                psi.full.as_ref().map(|p| p.total),
            );
        }
    }
    if let Some(p) = &stats.processes {
        o.push(names::PROCESS_COUNT, p.process_count);
        o.push(names::PROCESS_THREADS, p.threads_current);
    }
    labels
}

impl Batch {
    /// The batch of one container sample, at the sample's timestamp.
    pub fn from_container(
        reference: &ContainerReference,
        spec: &ContainerSpec,
        stats: &ContainerStats,
        ctx: &ContainerContext<'_>,
    ) -> Batch {
        let mut samples = Vec::with_capacity(40);
        container_samples(reference, spec, stats, ctx, &mut samples);
        Batch {
            timestamp: stats.timestamp,
            samples,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::Timestamp;
    use crate::model::*;

    fn find<'a>(b: &'a Batch, metric: &str, resource: Option<&str>) -> Option<&'a Sample> {
        b.samples
            .iter()
            .find(|s| s.metric == metric && s.labels.get(label::RESOURCE_ID) == resource)
    }

    #[test]
    fn a_docker_container_in_a_pod_maps_to_canonical_samples() {
        let reference = ContainerReference {
            id: "abc".into(),
            name: "/kubepods/burstable/pod1/abc".into(),
            aliases: vec!["k8s_web_api".into(), "abc".into()],
            namespace: "docker".into(),
        };
        let spec = ContainerSpec {
            creation_time: Timestamp::from_secs(100),
            labels: BTreeMap::from([
                (label::K8S_POD_NAME.into(), "api-7d9c".into()),
                (label::K8S_POD_NAMESPACE.into(), "prod".into()),
                (label::K8S_CONTAINER_NAME.into(), "web".into()),
            ]),
            has_cpu: true,
            cpu: CpuSpec {
                limit: 1024,
                quota: 50_000,
                period: 100_000,
                ..Default::default()
            },
            has_memory: true,
            memory: MemorySpec {
                limit: u64::MAX,
                ..Default::default()
            },
            image: "nginx:1.25".into(),
            ..Default::default()
        };
        let stats = ContainerStats {
            timestamp: Timestamp::from_secs(160),
            cpu: Some(CpuStats {
                usage: CpuUsage {
                    total: Some(5_000),
                    user: Some(3_000),
                    system: None,
                    ..Default::default()
                },
                ..Default::default()
            }),
            memory: Some(MemoryStats {
                usage: Some(100),
                working_set: Some(80),
                swap: None,
                ..Default::default()
            }),
            network: Some(NetworkStats {
                interfaces: vec![
                    InterfaceStats {
                        name: "eth0".into(),
                        rx_bytes: 10,
                        tx_bytes: 1,
                        ..Default::default()
                    },
                    InterfaceStats {
                        name: "eth1".into(),
                        rx_bytes: 5,
                        tx_bytes: 2,
                        ..Default::default()
                    },
                ],
            }),
            diskio: Some(DiskIoStats {
                io_service_bytes: vec![PerDiskStats {
                    device: String::new(),
                    major: 8,
                    minor: 0,
                    stats: BTreeMap::from([("Read".into(), 7), ("Write".into(), 9)]),
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        let b = Batch::from_container(
            &reference,
            &spec,
            &stats,
            &ContainerContext { node: "hostA" },
        );
        assert_eq!(b.timestamp, Timestamp::from_secs(160));
        let l = &b.samples[0].labels;
        assert_eq!(l.get(label::ID), Some("/kubepods/burstable/pod1/abc"));
        assert_eq!(l.get(label::TYPE), Some("pod_container"));
        assert_eq!(l.get(label::CONTAINER_NAME), Some("web"));
        assert_eq!(l.get(label::POD_NAME), Some("api-7d9c"));
        assert_eq!(l.get(label::NAMESPACE_NAME), Some("prod"));
        assert_eq!(l.get(label::NODENAME), Some("hostA"));
        assert_eq!(l.get(label::CONTAINER_BASE_IMAGE), Some("nginx:1.25"));
        let v = |m: &str, r: Option<&str>| find(&b, m, r).map(|s| s.value);
        assert_eq!(v("uptime", None), Some(Value::Int(60_000)));
        assert_eq!(v("cpu/usage", None), Some(Value::Int(5_000)));
        assert_eq!(v("cpu/usage_user", None), Some(Value::Int(3_000)));
        assert_eq!(v("cpu/usage_system", None), None, "absent is not zero");
        assert_eq!(v("cpu/limit", None), Some(Value::Int(500)));
        assert_eq!(v("memory/usage", None), Some(Value::Int(100)));
        assert_eq!(v("memory/swap", None), None);
        assert_eq!(
            v("memory/limit", None),
            None,
            "unlimited is no limit series"
        );
        assert_eq!(v("network/rx", None), Some(Value::Int(15)));
        assert_eq!(v("network/tx", None), Some(Value::Int(3)));
        assert_eq!(v("disk/io_read_bytes", Some("8:0")), Some(Value::Int(7)));
        let s = find(&b, "cpu/usage", None).unwrap();
        assert_eq!(
            (s.kind, s.unit),
            (
                super::super::Kind::Cumulative,
                super::super::Unit::Nanoseconds
            )
        );
        for s in &b.samples {
            assert!(
                names::lookup(&s.metric).is_some(),
                "{} is canonical",
                s.metric
            );
        }
    }
}
