//! The agent's validated configuration. The binary turns what the user typed into this; only
//! this type travels past `main`.

use std::net::SocketAddr;
use std::time::Duration;

use crowsnest_collect::Roots;
use crowsnest_collect::runtime;
use crowsnest_core::metrics::MetricSet;

/// Everything the agent needs to run, already checked.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Where the HTTP API listens.
    pub listen: SocketAddr,
    /// How often each container is collected.
    pub housekeeping_interval: Duration,
    /// How often the whole cgroup tree is rescanned and specs are refreshed.
    pub global_housekeeping_interval: Duration,
    /// How often the machine description is re-read.
    pub machine_info_interval: Duration,
    /// How much history is kept in memory per container.
    pub storage_duration: Duration,
    /// Where the kernel's files are.
    pub roots: Roots,
    /// Enabled metric groups.
    pub metrics: MetricSet,
    /// Prefix of every HTTP route (`--url-base-prefix`), empty or starting with `/`.
    pub url_base_prefix: String,
    /// Whether to watch cgroups with inotify (the periodic rescan runs either way).
    pub inotify: bool,
    /// Container runtimes: sockets, the bound of each call, allow-lists, `--docker-only`.
    /// The default asks no runtime (the command line's defaults are cAdvisor's sockets).
    pub runtime: runtime::Config,
    /// Runtime labels exported as `container_label_<key>` by `/metrics`: `None` for all
    /// (cAdvisor's default), `Some(keys)` for only these (`--container-labels-allowlist`,
    /// cAdvisor's `--store_container_labels=false` with `--whitelisted_container_labels`).
    pub container_labels: Option<Vec<String>>,
    /// Where every container sample is also sent (`--sink`, cAdvisor's `--storage_driver`).
    pub sinks: Vec<crowsnest_sinks::SinkSpec>,
    /// Root of the sinks' on-disk queues (`--sink-queue-dir`).
    pub sink_queue_dir: std::path::PathBuf,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            housekeeping_interval: Duration::from_secs(1),
            global_housekeeping_interval: Duration::from_secs(60),
            machine_info_interval: Duration::from_secs(300),
            storage_duration: Duration::from_secs(120),
            roots: Roots::default(),
            metrics: MetricSet::default(),
            url_base_prefix: String::new(),
            inotify: true,
            runtime: runtime::Config::default(),
            container_labels: None,
            sinks: Vec::new(),
            sink_queue_dir: std::path::PathBuf::from("/var/lib/crowsnest/sinks"),
        }
    }
}
