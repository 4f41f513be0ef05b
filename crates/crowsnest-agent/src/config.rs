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
    /// Directory of the embedded store keeping every container's history on disk
    /// (`--store-dir`); `None` keeps no history beyond `storage_duration` in memory.
    pub store_dir: Option<std::path::PathBuf>,
    /// How long the store keeps its rollups (`--retention`).
    pub retention: Duration,
    /// Memory the store may use, in bytes (`--store-memory-limit`).
    pub store_memory_limit: u64,
    /// The most stored points one request may read (`--query-max-points`): `/api/v1/query`
    /// and the cAdvisor API's reach into the store answer 422 past it.
    pub query_max_points: u64,
    /// How often each runtime container's writable layer and logs are walked for its
    /// filesystem usage (`--disk-usage-interval`); zero turns the walks off (so does turning
    /// the `disk` metric group off).
    pub disk_usage_interval: Duration,
    /// What one walk may cost (`--disk-usage-rate`, `--disk-usage-max-entries`).
    pub disk_usage_budget: crowsnest_collect::du::Budget,
    /// TLS and authentication of the HTTP listener (`--tls-cert`, `--auth-token-file`, ...);
    /// `/healthz` (under the URL prefix) stays open.
    pub serve: crowsnest_serve::ServeConfig,
}

impl AgentConfig {
    /// The store's configuration, when a store directory is set: full resolution for
    /// `storage_duration` (at least 1 minute), rollups for `retention`, synced every
    /// housekeeping interval. When `retention` is no longer than the full-resolution window
    /// there is nothing for rollups to keep, and they are off: their segments (2 h windows)
    /// would otherwise keep the series of every removed container for hours past retention.
    pub fn store_config(&self) -> Option<crowsnest_store::StoreConfig> {
        let dir = self.store_dir.clone()?;
        let raw_retention = self.storage_duration.max(Duration::from_secs(60));
        let retention = self.retention.max(raw_retention);
        Some(crowsnest_store::StoreConfig {
            raw_retention,
            retention,
            rollups: retention > raw_retention,
            memory_limit: self.store_memory_limit,
            sync: crowsnest_store::SyncPolicy::Interval(self.housekeeping_interval),
            ..crowsnest_store::StoreConfig::new(dir)
        })
    }
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
            store_dir: None,
            retention: Duration::from_secs(7 * 24 * 3600),
            store_memory_limit: 64 << 20,
            query_max_points: crowsnest_store::DEFAULT_QUERY_MAX_POINTS,
            disk_usage_interval: Duration::from_secs(60),
            disk_usage_budget: crowsnest_collect::du::Budget::default(),
            serve: crowsnest_serve::ServeConfig::default(),
        }
    }
}

#[cfg(test)]
mod store_config_tests {
    use super::*;

    #[test]
    fn rollups_are_off_when_retention_is_the_full_resolution_window() {
        let mut c = AgentConfig {
            store_dir: Some("/x".into()),
            storage_duration: Duration::from_secs(60),
            retention: Duration::from_secs(60),
            ..AgentConfig::default()
        };
        let s = c.store_config().unwrap();
        assert_eq!((s.raw_retention, s.retention), (c.retention, c.retention));
        assert!(!s.rollups, "nothing for rollups to keep past 1 minute");
        c.retention = Duration::from_secs(7 * 24 * 3600);
        assert!(c.store_config().unwrap().rollups);
    }
}
