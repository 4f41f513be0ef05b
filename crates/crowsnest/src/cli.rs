//! The command line as typed (clap), and its validation into each role's configuration.
//! Flags are kebab-case; cAdvisor's spellings are accepted as aliases where crowsnest promises
//! compatibility.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{ArgAction, Args, Parser, Subcommand};
use crowsnest_agent::AgentConfig;
use crowsnest_collect::Roots;
use crowsnest_collect::runtime::{self, parse_endpoint};
use crowsnest_core::metrics::MetricSet;

use crate::duration;

/// crowsnest watches containers.
#[derive(Debug, Parser)]
#[command(name = "crowsnest", version, about, long_about = None)]
pub(crate) struct Cli {
    /// Log level when RUST_LOG is not set (error, warn, info, debug, trace).
    #[arg(long, global = true, default_value = "info", env = "CROWSNEST_LOG")]
    pub(crate) log_level: String,
    /// TOML configuration file: `[agent]` and `[hub]` tables, a key per flag (see the README);
    /// flags win over `CROWSNEST_*` environment variables, which win over the file.
    #[arg(long, global = true, env = "CROWSNEST_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Longest wait, after SIGTERM or SIGINT, for open requests, the store and the sinks'
    /// queues to be closed; past it the process logs what was pending and exits with status 1.
    #[arg(long, global = true, default_value = "10s", value_parser = duration::parse)]
    pub(crate) shutdown_timeout: std::time::Duration,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
#[allow(
    clippy::large_enum_variant,
    reason = "parsed once at start; boxing would only complicate the match in main"
)]
pub(crate) enum Command {
    /// Run the per-host agent (the cAdvisor role): collect every container, serve the
    /// cAdvisor REST API and Prometheus /metrics.
    Agent(AgentArgs),
    /// Run the cluster hub (the Heapster role): scrape every node's agent, compute rates,
    /// aggregate to pods, namespaces, nodes and the cluster, serve Heapster's model API,
    /// metrics.k8s.io and Prometheus /metrics.
    Hub(crate::hub::HubArgs),
    /// A terminal view of an agent or hub: containers by CPU, memory, network and I/O, with
    /// sparklines; `--once` prints one plain table.
    Top(crate::top::TopArgs),
    /// Check a configuration file (`config check FILE`) or a command line (`config args ROLE
    /// FLAGS...`) and print the resolved configuration, secrets masked.
    Config(crate::config_file::ConfigArgs),
}

/// `crowsnest agent` flags, as typed.
#[derive(Debug, Args)]
pub(crate) struct AgentArgs {
    /// Address and port to listen on.
    #[arg(long, default_value = "0.0.0.0:8080", value_name = "ADDR:PORT")]
    listen: String,
    /// Port to listen on (cAdvisor's flag; overrides the port of --listen).
    #[arg(long, value_name = "PORT")]
    port: Option<u16>,
    /// IP to listen on (cAdvisor's flag; overrides the address of --listen).
    #[arg(long = "listen_ip", alias = "listen-ip", value_name = "IP")]
    listen_ip: Option<String>,
    /// How often each container is collected.
    #[arg(long, alias = "housekeeping_interval", default_value = "1s", value_parser = duration::parse)]
    housekeeping_interval: std::time::Duration,
    /// How often the whole cgroup tree is rescanned for containers inotify missed.
    #[arg(long, alias = "global_housekeeping_interval", default_value = "1m", value_parser = duration::parse)]
    global_housekeeping_interval: std::time::Duration,
    /// How often the machine description is re-read.
    #[arg(long, alias = "update_machine_info_interval", default_value = "5m", value_parser = duration::parse)]
    update_machine_info_interval: std::time::Duration,
    /// How much history to keep in memory per container.
    #[arg(long, alias = "storage_duration", default_value = "2m", value_parser = duration::parse)]
    storage_duration: std::time::Duration,
    /// Root of the cgroup hierarchies.
    #[arg(long, default_value = "/sys/fs/cgroup", value_name = "DIR")]
    cgroup_root: PathBuf,
    /// Root of procfs.
    #[arg(long, default_value = "/proc", value_name = "DIR")]
    proc_root: PathBuf,
    /// Root of sysfs.
    #[arg(long, default_value = "/sys", value_name = "DIR")]
    sys_root: PathBuf,
    /// Where the host's / is seen, for an agent in a container started like cAdvisor
    /// (-v /:/rootfs:ro): per-pid files, the host's mount table and the machine id are read
    /// under it (procfs at <rootfs>/proc when --proc-root is left at /proc). Default: /rootfs
    /// when /rootfs/proc is a mounted procfs and the agent runs in a container, else /.
    #[arg(long, value_name = "DIR")]
    rootfs: Option<PathBuf>,
    /// Comma-separated files to read the machine id from (cAdvisor's --machine_id_file).
    #[arg(
        long,
        alias = "machine_id_file",
        default_value = "/etc/machine-id,/var/lib/dbus/machine-id"
    )]
    machine_id_file: String,
    /// Comma-separated metric groups to disable; replaces the default list (cAdvisor's kinds:
    /// cpu, sched, percpu, memory, memory_numa, cpuLoad, diskIO, disk, network, tcp, advtcp,
    /// udp, app, process, hugetlb, perf_event, referenced_memory, cpu_topology, resctrl,
    /// cpuset, oom_event, pressure).
    #[arg(
        long,
        alias = "disable_metrics",
        default_value = "memory_numa,tcp,udp,advtcp,sched,process,hugetlb,referenced_memory,cpu_topology,resctrl,cpuset"
    )]
    disable_metrics: String,
    /// Comma-separated metric groups to enable; when given, exactly these (overrides
    /// --disable-metrics).
    #[arg(long, alias = "enable_metrics", default_value = "")]
    enable_metrics: String,
    /// Prefix for every HTTP route, for running behind a proxy (e.g. /monitor).
    #[arg(long, alias = "url_base_prefix", default_value = "")]
    url_base_prefix: String,
    /// Do not watch cgroups with inotify (the periodic rescan still finds them).
    #[arg(long)]
    no_inotify: bool,
    /// Docker Engine API socket, for container names, images and labels (empty: do not ask
    /// Docker).
    #[arg(
        long,
        default_value = "unix:///var/run/docker.sock",
        value_name = "ENDPOINT"
    )]
    docker: String,
    /// Podman API socket (rootful), for container names, images and labels (empty: do not
    /// ask Podman).
    #[arg(
        long,
        default_value = "unix:///run/podman/podman.sock",
        value_name = "ENDPOINT"
    )]
    podman: String,
    /// CRI-O socket, for container names, images and labels (empty: name CRI-O containers
    /// from their cgroup paths only).
    #[arg(
        long,
        default_value = "unix:///var/run/crio/crio.sock",
        value_name = "ENDPOINT"
    )]
    crio: String,
    /// containerd socket, for containerd containers' labels, images and pids (asked when
    /// built with the `containerd` feature; empty, or without it: named from cgroup paths).
    #[arg(
        long,
        default_value = "unix:///run/containerd/containerd.sock",
        value_name = "ENDPOINT"
    )]
    containerd: String,
    /// containerd namespace of the containers (k8s.io for Kubernetes, moby for Docker's).
    #[arg(long, alias = "containerd_namespace", default_value = "k8s.io")]
    containerd_namespace: String,
    /// Longest wait for one answer of a runtime socket; a runtime that does not answer is
    /// backed off from, and its containers keep their cgroup names meanwhile.
    #[arg(long, default_value = "2s", value_parser = duration::parse)]
    runtime_timeout: std::time::Duration,
    /// Report only runtime containers (Docker, Podman, containerd, CRI-O), the root `/` and
    /// cgroups under --raw-cgroup-prefix-allowlist.
    #[arg(long, alias = "docker_only")]
    docker_only: bool,
    /// Comma-separated cgroup name prefixes still reported with --docker-only (e.g.
    /// /kubepods,/system.slice/kubelet.service).
    #[arg(long, alias = "raw_cgroup_prefix_whitelist", default_value = "")]
    raw_cgroup_prefix_allowlist: String,
    /// Comma-separated prefixes of environment variable names to report for runtime
    /// containers (nothing by default: environments often hold secrets).
    #[arg(
        long,
        alias = "env_metadata_whitelist",
        alias = "docker_env_metadata_whitelist",
        default_value = ""
    )]
    env_metadata_allowlist: String,
    /// Comma-separated runtime label keys exported as container_label_* in /metrics (all
    /// labels when empty and --store_container_labels is true).
    #[arg(long, alias = "whitelisted_container_labels", default_value = "")]
    container_labels_allowlist: String,
    /// Export every runtime label as container_label_* in /metrics (cAdvisor's flag); with
    /// false, only --container-labels-allowlist.
    #[arg(
        long = "store_container_labels",
        alias = "store-container-labels",
        default_value_t = true,
        action = ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true",
        value_name = "BOOL"
    )]
    store_container_labels: bool,
    #[command(flatten)]
    sinks: crate::sink_args::SinkArgs,
    /// Directory of the embedded store that keeps every container's history on disk
    /// (served by /api/v1/query); empty: no store.
    #[arg(long, default_value = "/var/lib/crowsnest", value_name = "DIR")]
    store_dir: String,
    /// How long the store keeps history (as 10 s and 1 m rollups; full resolution for
    /// --storage-duration, at least 1 minute).
    #[arg(long, default_value = "7d", value_parser = duration::parse)]
    retention: std::time::Duration,
    /// Memory the store may use for samples not yet on disk and its index (bytes, or with a
    /// KiB, MiB or GiB suffix).
    #[arg(long, default_value = "64MiB", value_parser = parse_bytes, value_name = "BYTES")]
    store_memory_limit: u64,
    /// The most stored points (one value of one series) one request may read from the store:
    /// /api/v1/query and the cAdvisor API's num_stats/start/end/count answer 422 past it.
    #[arg(long, default_value_t = 1_000_000, value_name = "POINTS")]
    query_max_points: u64,
    /// How often each runtime container's writable layer and logs are walked for
    /// container_fs_usage_bytes (one walk at a time, paced); 0 turns the walks off, as does
    /// disabling the `disk` metric group.
    #[arg(long, default_value = "1m", value_parser = duration::parse)]
    disk_usage_interval: std::time::Duration,
    /// Files and directories the filesystem usage walker visits per second, all walks
    /// together (0: unpaced).
    #[arg(long, default_value_t = 10_000, value_name = "ENTRIES")]
    disk_usage_rate: u32,
    /// Entries one container's walk may visit: a container with more is skipped (its usage
    /// absent, the reason logged and counted in crowsnest_disk_usage_skipped_total).
    #[arg(long, default_value_t = 500_000, value_name = "ENTRIES")]
    disk_usage_max_entries: u64,
    #[command(flatten)]
    serve: ServeArgs,
}

/// TLS and authentication of a listener (the agent's and the hub's alike). `/healthz` stays
/// open, so that liveness probes need no secret.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Bearer tokens, one per line (# starts a comment): every route but /healthz then needs
    /// `Authorization: Bearer TOKEN`. Re-read when the file changes.
    #[arg(long, value_name = "FILE")]
    auth_token_file: Option<PathBuf>,
    /// An htpasswd file of bcrypt hashes (htpasswd -B): every route but /healthz then needs
    /// HTTP basic auth (or a token of --auth-token-file). Re-read when the file changes.
    #[arg(
        long,
        alias = "http_auth_file",
        alias = "http-auth-file",
        value_name = "FILE"
    )]
    auth_htpasswd: Option<PathBuf>,
    /// The TLS certificate chain (PEM, leaf first): serve HTTPS. Re-read when it changes.
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// The TLS private key (PEM), with --tls-cert.
    #[arg(long, value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// CA certificates (PEM) that clients' certificates must chain to: mutual TLS, every
    /// client must present one.
    #[arg(long, value_name = "FILE")]
    tls_client_ca: Option<PathBuf>,
}

impl ServeArgs {
    /// The listener's configuration, every file read and checked now (an error names the
    /// flag and the file).
    pub(crate) fn into_config(self) -> anyhow::Result<crowsnest_serve::ServeConfig> {
        let c = crowsnest_serve::ServeConfig::from_flags(
            self.auth_token_file,
            self.auth_htpasswd,
            self.tls_cert,
            self.tls_key,
            self.tls_client_ca,
        )?;
        c.check()?;
        Ok(c)
    }
}

/// A size: plain bytes, or a number with a `KiB`, `MiB` or `GiB` suffix.
fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, suffix) = t.split_at(split);
    let shift = match suffix.trim() {
        "" | "B" => 0,
        "KiB" => 10,
        "MiB" => 20,
        "GiB" => 30,
        other => {
            return Err(format!(
                "unknown size suffix {other:?} in {text:?} (use bytes, KiB, MiB or GiB)"
            ));
        }
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. 67108864 or 64MiB)"))?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// Comma-separated values, trimmed, empty ones dropped.
fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl AgentArgs {
    /// Checks the flags and builds the agent's configuration.
    pub(crate) fn into_config(self) -> anyhow::Result<AgentConfig> {
        let mut listen: SocketAddr = self.listen.parse().with_context(|| {
            format!(
                "--listen {:?} is not ADDR:PORT (e.g. 0.0.0.0:8080)",
                self.listen
            )
        })?;
        if let Some(port) = self.port {
            listen.set_port(port);
        }
        if let Some(ip) = self.listen_ip.as_deref().filter(|s| !s.is_empty()) {
            let ip: IpAddr = ip
                .parse()
                .with_context(|| format!("--listen_ip {ip:?} is not an IP address"))?;
            listen.set_ip(ip);
        }
        if self.housekeeping_interval.is_zero() {
            bail!("--housekeeping-interval must be more than 0");
        }
        if self.global_housekeeping_interval.is_zero() {
            bail!("--global-housekeeping-interval must be more than 0");
        }
        if self.update_machine_info_interval.is_zero() {
            bail!("--update-machine-info-interval must be more than 0");
        }
        if self.storage_duration < self.housekeeping_interval {
            bail!(
                "--storage-duration ({:?}) must be at least --housekeeping-interval ({:?})",
                self.storage_duration,
                self.housekeeping_interval
            );
        }
        let metrics = if self.enable_metrics.trim().is_empty() {
            MetricSet::all_except(
                &MetricSet::parse_list(&self.disable_metrics).context("--disable-metrics")?,
            )
        } else {
            MetricSet::only(
                &MetricSet::parse_list(&self.enable_metrics).context("--enable-metrics")?,
            )
        };
        let prefix = self.url_base_prefix.trim_end_matches('/').to_owned();
        if !prefix.is_empty() && !prefix.starts_with('/') {
            bail!(
                "--url-base-prefix {:?} must start with /",
                self.url_base_prefix
            );
        }
        let roots = Roots {
            cgroup: self.cgroup_root,
            proc: self.proc_root,
            sys: self.sys_root,
            machine_id_files: self
                .machine_id_file
                .split(',')
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
                .collect(),
            ..Roots::default()
        };
        let rootfs = self
            .rootfs
            .clone()
            .unwrap_or_else(crowsnest_collect::detect_rootfs);
        if !rootfs.is_absolute() {
            bail!("--rootfs {} must be an absolute path", rootfs.display());
        }
        let roots = roots.with_rootfs(&rootfs);
        if rootfs != std::path::Path::new("/") {
            tracing::info!(rootfs = %rootfs.display(), proc = %roots.proc.display(), "reading the host under a rootfs");
        }
        let endpoint = |flag: &str, text: &str| {
            parse_endpoint(text).with_context(|| format!("--{flag} {text:?}"))
        };
        let runtime = runtime::Config {
            docker: endpoint("docker", &self.docker)?,
            podman: endpoint("podman", &self.podman)?,
            crio: endpoint("crio", &self.crio)?,
            containerd: endpoint("containerd", &self.containerd)?,
            containerd_namespace: self.containerd_namespace.trim().to_owned(),
            timeout: self.runtime_timeout,
            env_allowlist: list(&self.env_metadata_allowlist),
            docker_only: self.docker_only,
            raw_prefix_allowlist: list(&self.raw_cgroup_prefix_allowlist),
        };
        if runtime.timeout.is_zero() {
            bail!("--runtime-timeout must be more than 0");
        }
        if runtime.containerd_namespace.is_empty() {
            bail!("--containerd-namespace must not be empty");
        }
        let label_allowlist = list(&self.container_labels_allowlist);
        // cAdvisor reads its allow-list only with --store_container_labels=false; here the
        // allow-list on its own limits the labels too.
        let container_labels = (!self.store_container_labels || !label_allowlist.is_empty())
            .then_some(label_allowlist);
        let (sinks, sink_queue_dir) = self.sinks.into_specs()?;
        let store_dir = (!self.store_dir.is_empty()).then(|| PathBuf::from(&self.store_dir));
        let raw_retention = self
            .storage_duration
            .max(std::time::Duration::from_secs(60));
        if store_dir.is_some() && self.retention < raw_retention {
            bail!(
                "--retention ({:?}) must be at least --storage-duration and 1 minute ({:?})",
                self.retention,
                raw_retention
            );
        }
        if self.store_memory_limit < 64 << 10 {
            bail!(
                "--store-memory-limit ({} bytes) must be at least 64KiB",
                self.store_memory_limit
            );
        }
        Ok(AgentConfig {
            listen,
            housekeeping_interval: self.housekeeping_interval,
            global_housekeeping_interval: self.global_housekeeping_interval,
            machine_info_interval: self.update_machine_info_interval,
            storage_duration: self.storage_duration,
            roots,
            metrics,
            url_base_prefix: prefix,
            inotify: !self.no_inotify,
            runtime,
            container_labels,
            sinks,
            sink_queue_dir,
            store_dir,
            retention: self.retention,
            store_memory_limit: self.store_memory_limit,
            query_max_points: self.query_max_points.max(1),
            disk_usage_interval: self.disk_usage_interval,
            disk_usage_budget: crowsnest_collect::du::Budget {
                entries_per_sec: self.disk_usage_rate,
                max_entries: self.disk_usage_max_entries,
                ..crowsnest_collect::du::Budget::default()
            },
            serve: self.serve.into_config()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> anyhow::Result<AgentConfig> {
        let mut v = vec!["crowsnest", "agent"];
        v.extend_from_slice(args);
        let Command::Agent(a) = Cli::try_parse_from(v)?.command else {
            panic!("`crowsnest agent` parses as the agent command");
        };
        a.into_config()
    }

    #[test]
    fn sinks_from_uris_and_from_cadvisor_storage_driver_flags() {
        let c = parse(&[
            "--sink=stdout:",
            "--storage_driver=influxdb",
            "--storage_driver_host=127.0.0.1:8086",
            "--storage_driver_name=cadvisor",
            "--storage_driver_user=root",
            "--storage_driver_password=root",
            "--storage_driver_secure=False",
        ])
        .unwrap();
        assert_eq!(c.sinks.len(), 2);
        assert!(matches!(c.sinks[0].kind, crowsnest_sinks::Kind::Stdout(_)));
        match &c.sinks[1].kind {
            crowsnest_sinks::Kind::Influxdb(_) => {}
            k => panic!("expected an InfluxDB sink, got {k:?}"),
        }
        assert!(!c.sinks[1].display.contains("root@") || c.sinks[1].display.contains("***"));
        let e = format!(
            "{:#}",
            parse(&["--sink=influxdb:http://127.0.0.1:8086?db=k8s&schema=bogus"]).unwrap_err()
        );
        assert!(e.contains("schema") && e.contains("bogus"), "{e}");
        let e = format!("{:#}", parse(&["--storage_driver=kafka"]).unwrap_err());
        assert!(e.contains("kafka"), "{e}");
    }

    #[test]
    fn defaults_match_cadvisor() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.listen, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(c.housekeeping_interval, std::time::Duration::from_secs(1));
        assert_eq!(
            c.global_housekeeping_interval,
            std::time::Duration::from_secs(60)
        );
        assert_eq!(c.storage_duration, std::time::Duration::from_secs(120));
        assert_eq!(c.metrics, MetricSet::default());
        assert_eq!(
            c.runtime.docker,
            Some(PathBuf::from("/var/run/docker.sock"))
        );
        assert_eq!(
            c.runtime.podman,
            Some(PathBuf::from("/run/podman/podman.sock"))
        );
        assert_eq!(
            c.runtime.crio,
            Some(PathBuf::from("/var/run/crio/crio.sock"))
        );
        assert_eq!(c.runtime.timeout, std::time::Duration::from_secs(2));
        assert!(!c.runtime.docker_only && c.runtime.env_allowlist.is_empty());
        assert_eq!(c.container_labels, None, "every label, as cAdvisor");
    }

    #[test]
    fn containerd_and_disk_usage_flags() {
        let c = parse(&[]).unwrap();
        assert_eq!(
            c.runtime.containerd,
            Some(PathBuf::from("/run/containerd/containerd.sock"))
        );
        assert_eq!(c.runtime.containerd_namespace, "k8s.io");
        assert_eq!(c.disk_usage_interval, std::time::Duration::from_secs(60));
        assert_eq!(c.disk_usage_budget.entries_per_sec, 10_000);
        assert_eq!(c.disk_usage_budget.max_entries, 500_000);
        let c = parse(&[
            "--containerd=/var/run/docker/containerd/containerd.sock",
            "--containerd_namespace=moby",
            "--disk-usage-interval=0",
            "--disk-usage-rate=500",
            "--disk-usage-max-entries=1000",
        ])
        .unwrap();
        assert_eq!(
            c.runtime.containerd,
            Some(PathBuf::from("/var/run/docker/containerd/containerd.sock"))
        );
        assert_eq!(c.runtime.containerd_namespace, "moby");
        assert!(c.disk_usage_interval.is_zero(), "0 turns the walks off");
        assert_eq!(c.disk_usage_budget.entries_per_sec, 500);
        assert_eq!(c.disk_usage_budget.max_entries, 1000);
        let c = parse(&["--containerd=", "--containerd-namespace=k8s.io"]).unwrap();
        assert_eq!(c.runtime.containerd, None);
        assert!(parse(&["--containerd-namespace= "]).is_err());
    }

    #[test]
    fn runtime_flags_and_their_cadvisor_spellings() {
        let c = parse(&[
            "--docker=unix:///tmp/d.sock",
            "--podman=",
            "--docker_only",
            "--raw_cgroup_prefix_whitelist=/kubepods, /system.slice/kubelet.service",
            "--env_metadata_whitelist=APP_,LANG",
            "--store_container_labels=false",
            "--whitelisted_container_labels=app,io.kubernetes.pod.name",
            "--runtime-timeout=500ms",
        ])
        .unwrap();
        assert_eq!(c.runtime.docker, Some(PathBuf::from("/tmp/d.sock")));
        assert_eq!(c.runtime.podman, None, "an empty endpoint turns Podman off");
        assert!(c.runtime.docker_only);
        assert_eq!(
            c.runtime.raw_prefix_allowlist,
            ["/kubepods", "/system.slice/kubelet.service"]
        );
        assert_eq!(c.runtime.env_allowlist, ["APP_", "LANG"]);
        assert_eq!(
            c.container_labels.as_deref(),
            Some(&["app".to_owned(), "io.kubernetes.pod.name".to_owned()][..])
        );
        assert_eq!(c.runtime.timeout, std::time::Duration::from_millis(500));
        // --store_container_labels=false alone: no runtime label at all.
        let c = parse(&["--store_container_labels=false"]).unwrap();
        assert_eq!(c.container_labels, Some(Vec::new()));
        // The kebab spellings, and the bare boolean.
        let c = parse(&[
            "--docker-only",
            "--container-labels-allowlist=app",
            "--store_container_labels",
        ])
        .unwrap();
        assert!(c.runtime.docker_only);
        assert_eq!(c.container_labels, Some(vec!["app".to_owned()]));
        let e = format!(
            "{:#}",
            parse(&["--docker=tcp://10.0.0.1:2375"]).unwrap_err()
        );
        assert!(e.contains("--docker") && e.contains("unix://"), "{e}");
    }

    #[test]
    fn store_flags_defaults_and_values() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.store_dir, Some(PathBuf::from("/var/lib/crowsnest")));
        assert_eq!(c.retention, std::time::Duration::from_secs(7 * 24 * 3600));
        assert_eq!(c.store_memory_limit, 64 << 20);
        assert_eq!(c.query_max_points, 1_000_000);
        let c5 = parse(&["--query-max-points=5000"]).unwrap();
        assert_eq!(c5.query_max_points, 5000);
        let s = c.store_config().unwrap();
        assert_eq!(s.raw_retention, std::time::Duration::from_secs(120));
        assert_eq!(format!("{:?}", s.sync), "Interval(1s)");
        let c = parse(&[
            "--store-dir=",
            "--retention=36h",
            "--store-memory-limit=1048576",
        ])
        .unwrap();
        assert_eq!(c.store_dir, None);
        assert!(c.store_config().is_none());
        assert_eq!(c.retention, std::time::Duration::from_secs(36 * 3600));
        assert_eq!(c.store_memory_limit, 1 << 20);
        let c = parse(&[
            "--store-dir=/tmp/x",
            "--storage-duration=30s",
            "--store-memory-limit=512KiB",
        ])
        .unwrap();
        let s = c.store_config().unwrap();
        assert_eq!(s.raw_retention, std::time::Duration::from_secs(60));
        assert_eq!(s.memory_limit, 512 << 10);
        assert_eq!(parse_bytes("2GiB"), Ok(2 << 30));
        let e = format!("{:#}", parse(&["--store-memory-limit=5MB"]).unwrap_err());
        assert!(e.contains("MB"), "{e}");
        let e = format!("{:#}", parse(&["--retention=30s"]).unwrap_err());
        assert!(e.contains("--retention"), "{e}");
    }

    #[test]
    fn accepts_cadvisor_spellings() {
        let c = parse(&[
            "--port=9000",
            "--listen_ip=127.0.0.1",
            "--housekeeping_interval=10s",
            "--storage_duration=5m",
            "--disable_metrics=disk,network",
            "--url_base_prefix=/monitor/",
        ])
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(c.housekeeping_interval, std::time::Duration::from_secs(10));
        assert!(!c.metrics.has(crowsnest_core::metrics::MetricKind::Disk));
        assert!(c.metrics.has(crowsnest_core::metrics::MetricKind::Process));
        assert_eq!(c.url_base_prefix, "/monitor");
        let c = parse(&["--enable_metrics=cpu"]).unwrap();
        assert!(c.metrics.has(crowsnest_core::metrics::MetricKind::Cpu));
        assert!(!c.metrics.has(crowsnest_core::metrics::MetricKind::Memory));
    }

    #[test]
    fn rejects_bad_input_with_the_flag_named() {
        let e = format!("{:#}", parse(&["--disable_metrics=cpu,bogus"]).unwrap_err());
        assert!(
            e.contains("--disable-metrics") && e.contains("bogus"),
            "{e}"
        );
        let e = format!("{:#}", parse(&["--listen=nowhere"]).unwrap_err());
        assert!(e.contains("--listen"), "{e}");
        let e = format!("{:#}", parse(&["--housekeeping-interval=5"]).unwrap_err());
        assert!(e.contains("missing unit"), "{e}");
        let e = format!(
            "{:#}",
            parse(&["--storage-duration=1s", "--housekeeping-interval=2s"]).unwrap_err()
        );
        assert!(e.contains("--storage-duration"), "{e}");
        let e = format!("{:#}", parse(&["--url-base-prefix=monitor"]).unwrap_err());
        assert!(e.contains("must start with /"), "{e}");
    }

    #[test]
    fn rootfs_moves_procfs_and_the_machine_id() {
        let c = parse(&["--rootfs=/rootfs"]).unwrap();
        assert_eq!(c.roots.rootfs, PathBuf::from("/rootfs"));
        assert_eq!(c.roots.proc, PathBuf::from("/rootfs/proc"));
        assert_eq!(
            c.roots.machine_id_files[0],
            PathBuf::from("/rootfs/etc/machine-id")
        );
        assert_eq!(c.roots.cgroup, PathBuf::from("/sys/fs/cgroup"));
        let c = parse(&["--rootfs=/rootfs", "--proc-root=/host/proc"]).unwrap();
        assert_eq!(c.roots.proc, PathBuf::from("/host/proc"));
        let c = parse(&["--rootfs=/"]).unwrap();
        assert_eq!(c.roots, Roots::default());
        let e = format!("{:#}", parse(&["--rootfs=rootfs"]).unwrap_err());
        assert!(e.contains("--rootfs"), "{e}");
    }
}
