//! What `top` reads: an agent's `/api/v2.1/stats` (every container's spec and newest samples;
//! rates computed here from the samples' own times, see [`rates`](super::rates)) or a hub's
//! `/metrics?containers=true` (rates the hub computed, newest value per container). Which of
//! the two answers is found out once, from the first that answers.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use crowsnest_core::model::v2::{ContainerInfoV2, ContainerStatsV2};

use super::client::Endpoint;
use super::rates::{self, Counters, Point};

/// Samples asked for the first time (the agent keeps two minutes at 1 s): the sparklines
/// start full.
const FIRST_COUNT: u32 = 60;
/// Samples asked for afterwards: a few, so that a slow refresh loses none.
const NEXT_COUNT: u32 = 5;
/// A memory limit at or above this is "no limit" (the kernel's page-counter maximum).
const UNLIMITED: u64 = 1 << 62;

/// What answers at the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A `crowsnest agent` (or cAdvisor): one machine's containers.
    Agent,
    /// A `crowsnest hub`: every node's containers.
    Hub,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Agent => "agent",
            Kind::Hub => "hub",
        }
    }
}

/// A container's identity and limits.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Info {
    /// Unique key (the cgroup name on an agent).
    pub(crate) key: String,
    /// What is shown: the runtime's name, `namespace/pod/container`, or the cgroup name.
    pub(crate) name: String,
    /// The cgroup name, when known.
    pub(crate) cgroup: Option<String>,
    /// The node (hub).
    pub(crate) node: Option<String>,
    /// The image.
    pub(crate) image: Option<String>,
    /// CPU limit in cores (CFS quota over period).
    pub(crate) cpu_limit: Option<f64>,
    /// Memory limit in bytes.
    pub(crate) memory_limit: Option<u64>,
}

/// One container in an update: who it is and its new points, oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ContainerUpdate {
    pub(crate) info: Info,
    pub(crate) points: Vec<Point>,
}

/// The machine (agent) or the cluster (hub) as a whole.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Summary {
    /// Cores.
    pub(crate) cores: Option<f64>,
    /// Memory, bytes.
    pub(crate) memory: Option<u64>,
    /// Nodes (hub).
    pub(crate) nodes: Option<usize>,
    /// The newest figures of the whole (the root container, or the sum of the nodes).
    pub(crate) total: Option<Point>,
}

/// One answer: every live container (those with no new sample keep an empty list).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Update {
    pub(crate) kind: Kind,
    pub(crate) summary: Summary,
    pub(crate) containers: Vec<ContainerUpdate>,
}

/// The connection to one agent or hub and what was seen of it.
#[derive(Debug)]
pub(crate) struct Source {
    endpoint: Endpoint,
    timeout: Duration,
    kind: Option<Kind>,
    machine: Summary,
    /// Per container: the newest sample's counters.
    last: HashMap<String, Counters>,
}

impl Source {
    pub(crate) fn new(endpoint: Endpoint, timeout: Duration) -> Source {
        Source {
            endpoint,
            timeout,
            kind: None,
            machine: Summary::default(),
            last: HashMap::new(),
        }
    }

    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Asks once and returns every live container with its new points.
    pub(crate) fn fetch(&mut self) -> anyhow::Result<Update> {
        let kind = match self.kind {
            Some(k) => k,
            None => {
                let k = self.detect()?;
                self.kind = Some(k);
                k
            }
        };
        match kind {
            Kind::Agent => self.fetch_agent(),
            Kind::Hub => self.fetch_hub(),
        }
    }

    fn detect(&mut self) -> anyhow::Result<Kind> {
        let r = self.endpoint.get("/api/v2.0/machine", self.timeout)?;
        if r.status == 200 {
            let m: serde_json::Value =
                serde_json::from_slice(&r.body).context("/api/v2.0/machine: not JSON")?;
            self.machine.cores = m["num_cores"].as_f64();
            self.machine.memory = m["memory_capacity"].as_u64();
            return Ok(Kind::Agent);
        }
        let agent_status = r.status;
        if agent_status == 401 {
            bail!(
                "{} answered 401: it asks for a bearer token (--token-file FILE)",
                self.endpoint.display()
            );
        }
        let r = self
            .endpoint
            .get("/metrics?containers=true", self.timeout)?;
        if r.status == 200 && String::from_utf8_lossy(&r.body).contains("crowsnest_hub_") {
            return Ok(Kind::Hub);
        }
        bail!(
            "{} is neither a crowsnest agent (/api/v2.0/machine answered {agent_status}) nor a hub (/metrics answered {})",
            self.endpoint.display(),
            r.status
        )
    }

    fn fetch_agent(&mut self) -> anyhow::Result<Update> {
        let count = if self.last.is_empty() {
            FIRST_COUNT
        } else {
            NEXT_COUNT
        };
        let mut all = self.stats(&format!("/api/v2.1/stats/?recursive=true&count={count}"))?;
        if !all.contains_key("/") {
            // The recursive answer lists what is below the root; the root (the machine's
            // totals) is asked on its own.
            all.extend(self.stats(&format!("/api/v2.1/stats/?count={count}"))?);
        }
        Ok(self.agent_update(all))
    }

    fn stats(&self, path: &str) -> anyhow::Result<BTreeMap<String, ContainerInfoV2>> {
        let r = self.endpoint.get(path, self.timeout)?;
        if r.status != 200 {
            bail!(
                "{path} answered {}: {}",
                r.status,
                String::from_utf8_lossy(&r.body).trim()
            );
        }
        serde_json::from_slice(&r.body).with_context(|| format!("{path}: not the v2.1 shape"))
    }

    /// The update of one `/api/v2.1/stats` answer (new samples only, rates against the
    /// previous sample of the same container).
    pub(crate) fn agent_update(&mut self, all: BTreeMap<String, ContainerInfoV2>) -> Update {
        let mut containers = Vec::with_capacity(all.len());
        let mut summary = self.machine.clone();
        let mut seen = HashMap::with_capacity(all.len());
        for (name, info) in all {
            let mut prev = self.last.remove(&name);
            let mut points = Vec::new();
            let mut stats = info.stats;
            stats.sort_by_key(|s| s.timestamp.nanos());
            for s in &stats {
                let c = counters(s);
                if prev.as_ref().is_some_and(|p| p.at_ns >= c.at_ns) {
                    continue;
                }
                points.push(rates::point(prev.as_ref(), &c));
                prev = Some(c);
            }
            if let Some(p) = prev {
                seen.insert(name.clone(), p);
            }
            if name == "/" {
                // No new sample since the last answer: the newest figures still stand.
                if let Some(p) = points.last() {
                    self.machine.total = Some(*p);
                }
                summary.total = self.machine.total;
                continue;
            }
            let spec = &info.spec;
            let k8s = |k: &str| spec.labels.get(k).filter(|v| !v.is_empty());
            let shown = match (
                k8s("io.kubernetes.pod.namespace"),
                k8s("io.kubernetes.pod.name"),
                k8s("io.kubernetes.container.name"),
            ) {
                (Some(ns), Some(pod), Some(c)) => format!("{ns}/{pod}/{c}"),
                _ => spec
                    .aliases
                    .first()
                    .cloned()
                    .unwrap_or_else(|| name.clone()),
            };
            let cpu_limit = (spec.cpu.quota > 0 && spec.cpu.period > 0)
                .then(|| spec.cpu.quota as f64 / spec.cpu.period as f64);
            let memory_limit = (spec.memory.limit > 0 && spec.memory.limit < UNLIMITED)
                .then_some(spec.memory.limit);
            containers.push(ContainerUpdate {
                info: Info {
                    key: name.clone(),
                    name: shown,
                    cgroup: Some(name),
                    node: None,
                    image: (!spec.image.is_empty()).then(|| spec.image.clone()),
                    cpu_limit,
                    memory_limit,
                },
                points,
            });
        }
        // Containers that are gone are forgotten (a new one of the same name starts afresh).
        self.last = seen;
        Update {
            kind: Kind::Agent,
            summary,
            containers,
        }
    }

    fn fetch_hub(&mut self) -> anyhow::Result<Update> {
        let path = "/metrics?containers=true";
        let r = self.endpoint.get(path, self.timeout)?;
        if r.status != 200 {
            bail!("{path} answered {}", r.status);
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Ok(hub_update(&String::from_utf8_lossy(&r.body), now))
    }
}

/// The counters of one agent sample.
fn counters(s: &ContainerStatsV2) -> Counters {
    Counters {
        at_ns: s.timestamp.nanos(),
        cpu_ns: s.cpu.as_ref().and_then(|c| c.usage.total),
        net: s.network.as_ref().map(|n| {
            n.interfaces
                .iter()
                .map(|i| (i.name.clone(), i.rx_bytes, i.tx_bytes))
                .collect()
        }),
        disk: s
            .diskio
            .as_ref()
            .filter(|d| !d.io_service_bytes.is_empty())
            .map(|d| {
                d.io_service_bytes
                    .iter()
                    .map(|p| {
                        let get = |k: &str| p.stats.get(k).copied().unwrap_or(0);
                        ((p.major, p.minor), get("Read"), get("Write"))
                    })
                    .collect()
            }),
        working_set: s.memory.as_ref().and_then(|m| m.working_set),
        pids: s.processes.as_ref().and_then(|p| p.process_count),
    }
}

/// A sample of the Prometheus text format: name, labels, value.
pub(crate) type TextSample<'a> = (&'a str, Vec<(String, String)>, f64);

/// One sample line of the Prometheus text format.
pub(crate) fn parse_sample(line: &str) -> Option<TextSample<'_>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line.find(['{', ' '])?;
    let name = &line[..name_end];
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        let mut chars = r.char_indices().peekable();
        let mut key = String::new();
        let mut end = None;
        while let Some((i, ch)) = chars.next() {
            match ch {
                '}' => {
                    end = Some(i + 1);
                    break;
                }
                ',' | ' ' => {}
                '=' => {
                    if chars.next().map(|(_, c)| c) != Some('"') {
                        return None;
                    }
                    let mut value = String::new();
                    loop {
                        match chars.next()? {
                            (_, '\\') => match chars.next()?.1 {
                                'n' => value.push('\n'),
                                other => value.push(other),
                            },
                            (_, '"') => break,
                            (_, c) => value.push(c),
                        }
                    }
                    labels.push((std::mem::take(&mut key), value));
                }
                c => key.push(c),
            }
        }
        rest = &r[end?..];
    }
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some((name, labels, value))
}

/// The update of one hub `/metrics?containers=true` answer taken at `now_ms`.
pub(crate) fn hub_update(text: &str, now_ms: i64) -> Update {
    #[derive(Default)]
    struct Acc {
        labels: BTreeMap<String, String>,
        point: Point,
        cpu_limit: Option<f64>,
        memory_limit: Option<u64>,
        cpu_capacity: Option<f64>,
        memory_capacity: Option<u64>,
    }
    let mut sets: BTreeMap<String, Acc> = BTreeMap::new();
    for line in text.lines() {
        let Some((name, labels, value)) = parse_sample(line) else {
            continue;
        };
        let Some(metric) = name.strip_prefix("crowsnest_") else {
            continue;
        };
        if metric.starts_with("hub_") || !value.is_finite() {
            continue;
        }
        let labels: BTreeMap<String, String> = labels.into_iter().collect();
        if !labels.contains_key("type") {
            continue;
        }
        let key = labels
            .iter()
            .filter(|(k, _)| k.as_str() != "resource_id")
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let acc = sets.entry(key).or_insert_with(|| Acc {
            labels: labels.clone(),
            point: Point {
                at_ms: now_ms,
                ..Point::default()
            },
            ..Acc::default()
        });
        acc.labels.remove("resource_id");
        let add = |slot: &mut Option<f64>, v: f64| *slot = Some(slot.unwrap_or(0.0) + v);
        let bytes = value.max(0.0) as u64;
        match metric {
            "cpu_usage_rate_millicores" => acc.point.cpu = Some(value / 1000.0),
            "memory_working_set_bytes" => acc.point.memory = Some(bytes),
            "network_rx_rate_bytes_per_second" => acc.point.rx = Some(value),
            "network_tx_rate_bytes_per_second" => acc.point.tx = Some(value),
            "disk_io_read_bytes_rate_bytes_per_second" => add(&mut acc.point.read, value),
            "disk_io_write_bytes_rate_bytes_per_second" => add(&mut acc.point.write, value),
            "cpu_limit_millicores" if value > 0.0 => acc.cpu_limit = Some(value / 1000.0),
            "memory_limit_bytes" if value > 0.0 => acc.memory_limit = Some(bytes),
            "cpu_node_capacity_millicores" => acc.cpu_capacity = Some(value / 1000.0),
            "memory_node_capacity_bytes" => acc.memory_capacity = Some(bytes),
            _ => {}
        }
    }
    let mut summary = Summary::default();
    let mut containers = Vec::new();
    let mut nodes = 0;
    let mut total = Point {
        at_ms: now_ms,
        ..Point::default()
    };
    for (key, acc) in sets {
        let l = |k: &str| acc.labels.get(k).filter(|v| !v.is_empty()).cloned();
        match acc.labels.get("type").map(String::as_str) {
            Some("node") => {
                nodes += 1;
                let sum_f = |a: Option<f64>, b: Option<f64>| match (a, b) {
                    (Some(a), Some(b)) => Some(a + b),
                    (a, b) => a.or(b),
                };
                summary.cores = sum_f(summary.cores, acc.cpu_capacity);
                summary.memory = sum_f(
                    summary.memory.map(|v| v as f64),
                    acc.memory_capacity.map(|v| v as f64),
                )
                .map(|v| v as u64);
                total.cpu = sum_f(total.cpu, acc.point.cpu);
                total.memory = sum_f(
                    total.memory.map(|v| v as f64),
                    acc.point.memory.map(|v| v as f64),
                )
                .map(|v| v as u64);
            }
            Some("pod_container" | "sys_container") => {
                let name = match (l("namespace_name"), l("pod_name"), l("container_name")) {
                    (Some(ns), Some(pod), Some(c)) => format!("{ns}/{pod}/{c}"),
                    (_, _, Some(c)) => c,
                    _ => key.clone(),
                };
                containers.push(ContainerUpdate {
                    info: Info {
                        key,
                        name,
                        cgroup: None,
                        node: l("nodename"),
                        image: l("container_base_image"),
                        cpu_limit: acc.cpu_limit,
                        memory_limit: acc.memory_limit,
                    },
                    points: vec![acc.point],
                });
            }
            _ => {}
        }
    }
    summary.nodes = Some(nodes);
    if nodes > 0 {
        summary.total = Some(total);
    }
    Update {
        kind: Kind::Hub,
        summary,
        containers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_sample_lines_parse_with_escapes() {
        let (n, l, v) =
            parse_sample(r#"crowsnest_memory_usage_bytes{a="x\"y",b="1\\2\n"} 12.5 1700"#).unwrap();
        assert_eq!(n, "crowsnest_memory_usage_bytes");
        assert_eq!(
            l,
            vec![
                ("a".to_owned(), "x\"y".to_owned()),
                ("b".to_owned(), "1\\2\n".to_owned())
            ]
        );
        assert_eq!(v, 12.5);
        assert_eq!(parse_sample("up 1").unwrap().2, 1.0);
        assert!(parse_sample("# HELP up x").is_none());
        assert!(parse_sample("broken{a=1} 2").is_none());
    }

    #[test]
    fn the_hubs_sets_become_containers_and_the_nodes_the_summary() {
        let text = r#"# TYPE crowsnest_hub_nodes gauge
crowsnest_hub_nodes 1
crowsnest_cpu_usage_rate_millicores{nodename="a",type="node"} 1500
crowsnest_cpu_node_capacity_millicores{nodename="a",type="node"} 2000
crowsnest_memory_node_capacity_bytes{nodename="a",type="node"} 4096
crowsnest_memory_working_set_bytes{nodename="a",type="node"} 1024
crowsnest_cpu_usage_rate_millicores{container_name="web",namespace_name="shop",nodename="a",pod_name="web-0",type="pod_container"} 250
crowsnest_memory_working_set_bytes{container_name="web",namespace_name="shop",nodename="a",pod_name="web-0",type="pod_container"} 512
crowsnest_disk_io_read_bytes_rate_bytes_per_second{container_name="web",namespace_name="shop",nodename="a",pod_name="web-0",resource_id="8:0",type="pod_container"} 10
crowsnest_disk_io_read_bytes_rate_bytes_per_second{container_name="web",namespace_name="shop",nodename="a",pod_name="web-0",resource_id="8:16",type="pod_container"} 5
crowsnest_cpu_usage_rate_millicores{container_name="system.slice/sshd.service",nodename="a",type="sys_container"} 3
crowsnest_cpu_usage_rate_millicores{namespace_name="shop",pod_name="web-0",nodename="a",type="pod"} 250
"#;
        let u = hub_update(text, 7);
        assert_eq!(u.kind, Kind::Hub);
        assert_eq!(u.summary.nodes, Some(1));
        assert_eq!(u.summary.cores, Some(2.0));
        assert_eq!(u.summary.memory, Some(4096));
        let t = u.summary.total.unwrap();
        assert_eq!((t.cpu, t.memory), (Some(1.5), Some(1024)));
        assert_eq!(u.containers.len(), 2, "{:?}", u.containers);
        let web = u
            .containers
            .iter()
            .find(|c| c.info.name == "shop/web-0/web")
            .unwrap();
        assert_eq!(web.info.node.as_deref(), Some("a"));
        let p = web.points[0];
        assert_eq!((p.at_ms, p.cpu, p.memory), (7, Some(0.25), Some(512)));
        assert_eq!((p.read, p.write, p.rx), (Some(15.0), None, None));
        assert!(
            u.containers
                .iter()
                .any(|c| c.info.name == "system.slice/sshd.service")
        );
    }

    #[test]
    fn agent_samples_become_points_with_rates_and_only_new_ones_count() {
        let json = |t0: u32, cpu: &[u64]| -> BTreeMap<String, ContainerInfoV2> {
            let stats: Vec<String> = cpu
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    format!(
                        r#"{{"timestamp":"2026-01-01T00:00:{:02}Z","cpu":{{"usage":{{"total":{c}}}}},"memory":{{"working_set":100}}}}"#,
                        t0 as usize + i
                    )
                })
                .collect();
            let s = format!(
                r#"{{"/":{{"spec":{{"creation_time":"2026-01-01T00:00:00Z"}},"stats":[{st}]}},
                "/docker/abc":{{"spec":{{"creation_time":"2026-01-01T00:00:00Z","aliases":["web","abc"],"image":"nginx","cpu":{{"limit":1024,"quota":50000,"period":100000}},"memory":{{"limit":67108864}}}},"stats":[{st}]}}}}"#,
                st = stats.join(",")
            );
            serde_json::from_str(&s).unwrap()
        };
        let mut src = Source::new(
            Endpoint::parse("http://127.0.0.1:1").unwrap(),
            Duration::from_secs(1),
        );
        let u = src.agent_update(json(0, &[0, 500_000_000, 1_500_000_000]));
        assert_eq!(u.containers.len(), 1, "the root is the summary, not a row");
        let c = &u.containers[0];
        assert_eq!(c.info.name, "web");
        assert_eq!(c.info.cgroup.as_deref(), Some("/docker/abc"));
        assert_eq!(c.info.image.as_deref(), Some("nginx"));
        assert_eq!(
            (c.info.cpu_limit, c.info.memory_limit),
            (Some(0.5), Some(64 << 20))
        );
        let cpu: Vec<Option<f64>> = c.points.iter().map(|p| p.cpu).collect();
        assert_eq!(cpu, vec![None, Some(0.5), Some(1.0)]);
        assert_eq!(u.summary.total.unwrap().cpu, Some(1.0));
        // The next answer repeats the newest sample and adds one with a counter reset.
        let u = src.agent_update(json(2, &[1_500_000_000, 100]));
        let cpu: Vec<Option<f64>> = u.containers[0].points.iter().map(|p| p.cpu).collect();
        assert_eq!(cpu, vec![None], "one new sample, after a reset: no rate");
    }
}
