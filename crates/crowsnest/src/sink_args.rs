//! Sink flags shared by the agent and the hub: `--sink URI` (repeatable, Heapster's syntax)
//! and cAdvisor's storage-driver flags as aliases that become sink URIs.

use std::path::PathBuf;

use anyhow::Context;
use clap::{ArgAction, Args};
use crowsnest_sinks::SinkSpec;
use crowsnest_sinks::storage_driver::{StorageDriverFlags, sink_uris};

use crate::duration;

/// Go's spellings of a boolean flag value (`--storage_driver_secure=False`).
fn go_bool(text: &str) -> Result<bool, String> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("{text:?} is not a boolean (true or false)")),
    }
}

/// Where samples are sent besides the embedded history.
#[derive(Debug, Args)]
pub(crate) struct SinkArgs {
    /// Send every sample to this sink (repeatable): influxdb:http://host:8086?db=k8s&schema=
    /// heapster|heapster-legacy|cadvisor, remote_write:http://host:9090/api/v1/write, stdout:.
    #[arg(long = "sink", value_name = "URI", action = ArgAction::Append)]
    sink: Vec<String>,
    /// Directory of the sinks' on-disk queues (what a sink owes survives restarts here).
    #[arg(long, default_value = "/var/lib/crowsnest/sinks", value_name = "DIR")]
    sink_queue_dir: PathBuf,
    /// cAdvisor's storage driver (influxdb or stdout); becomes a --sink.
    #[arg(long = "storage_driver", default_value = "", value_name = "DRIVER")]
    storage_driver: String,
    /// cAdvisor's InfluxDB host:port.
    #[arg(long = "storage_driver_host", value_name = "HOST:PORT")]
    storage_driver_host: Option<String>,
    /// cAdvisor's database name.
    #[arg(
        long = "storage_driver_db",
        alias = "storage_driver_name",
        value_name = "DB"
    )]
    storage_driver_db: Option<String>,
    /// cAdvisor's database user.
    #[arg(long = "storage_driver_user", value_name = "USER")]
    storage_driver_user: Option<String>,
    /// cAdvisor's database password.
    #[arg(long = "storage_driver_password", value_name = "PASSWORD")]
    storage_driver_password: Option<String>,
    /// cAdvisor's https switch.
    #[arg(
        long = "storage_driver_secure",
        default_value = "false",
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = go_bool,
        value_name = "BOOL"
    )]
    storage_driver_secure: bool,
    /// cAdvisor's buffering time (the sink's flush interval).
    #[arg(long = "storage_driver_buffer_duration", value_parser = duration::parse)]
    storage_driver_buffer_duration: Option<std::time::Duration>,
    /// cAdvisor's InfluxDB retention policy.
    #[arg(long = "storage_driver_influxdb_retention_policy", value_name = "RP")]
    storage_driver_influxdb_retention_policy: Option<String>,
    /// cAdvisor's table name (not used by InfluxDB; accepted and ignored).
    #[arg(long = "storage_driver_table", value_name = "TABLE")]
    storage_driver_table: Option<String>,
}

impl SinkArgs {
    /// The sink specifications and the queue root, or an error naming the wrong flag or URI
    /// part.
    pub(crate) fn into_specs(self) -> anyhow::Result<(Vec<SinkSpec>, PathBuf)> {
        if self.storage_driver_table.is_some() {
            tracing::warn!("--storage_driver_table is ignored (InfluxDB has no tables)");
        }
        let flags = StorageDriverFlags {
            driver: self.storage_driver,
            host: self.storage_driver_host,
            db: self.storage_driver_db,
            user: self.storage_driver_user,
            password: self.storage_driver_password,
            secure: self.storage_driver_secure,
            buffer_duration: self.storage_driver_buffer_duration,
            influxdb_retention_policy: self.storage_driver_influxdb_retention_policy,
        };
        let mut uris = self.sink;
        uris.extend(sink_uris(&flags)?);
        let specs = uris
            .iter()
            .map(|u| {
                crowsnest_sinks::parse_uri(u)
                    .with_context(|| format!("--sink {}", crowsnest_sinks::uri::redact(u)))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok((specs, self.sink_queue_dir))
    }
}
