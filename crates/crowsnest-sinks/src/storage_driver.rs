//! cAdvisor's storage-driver flags (`cmd/storagedriver.go`, `storage/common_flags.go`) as sink
//! URIs, so that `--storage_driver=influxdb --storage_driver_host=...` keeps working.
//!
//! | flag                                          | cAdvisor default | URI                     |
//! |-----------------------------------------------|------------------|-------------------------|
//! | `--storage_driver=influxdb`                   | `""` (none)      | `influxdb:`             |
//! | `--storage_driver_host`                       | `localhost:8086` | the address             |
//! | `--storage_driver_secure`                     | false            | `https://`              |
//! | `--storage_driver_db`                         | `cadvisor`       | `db=`                   |
//! | `--storage_driver_user`                       | `root`           | `user=`                 |
//! | `--storage_driver_password`                   | `root`           | `pw=`                   |
//! | `--storage_driver_buffer_duration`            | `60s`            | `flush=`                |
//! | `--storage_driver_influxdb_retention_policy`  | `""` (default)   | `rp=`                   |
//!
//! and always `schema=cadvisor`. `--storage_driver=stdout` maps to the `stdout:` sink (our JSON
//! lines, not cAdvisor's text). The other cAdvisor drivers (bigquery, elasticsearch, kafka,
//! redis, statsd) are refused by name.

use std::time::Duration;

use reqwest::Url;

/// The storage-driver flags as typed (`None`: not given, cAdvisor's default applies).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageDriverFlags {
    /// `--storage_driver`: comma-separated driver names.
    pub driver: String,
    /// `--storage_driver_host`.
    pub host: Option<String>,
    /// `--storage_driver_db`.
    pub db: Option<String>,
    /// `--storage_driver_user`.
    pub user: Option<String>,
    /// `--storage_driver_password`.
    pub password: Option<String>,
    /// `--storage_driver_secure`.
    pub secure: bool,
    /// `--storage_driver_buffer_duration`.
    pub buffer_duration: Option<Duration>,
    /// `--storage_driver_influxdb_retention_policy`.
    pub influxdb_retention_policy: Option<String>,
}

/// Storage-driver flags that have no sink.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageDriverError {
    /// A driver crowsnest does not have.
    #[error(
        "--storage_driver={driver}: not supported (crowsnest has influxdb and stdout; use --sink for remote write)"
    )]
    Unsupported {
        /// The driver name.
        driver: String,
    },
    /// A host that does not make an address.
    #[error("--storage_driver_host={host:?}: {reason}")]
    Host {
        /// The value.
        host: String,
        /// What is wrong.
        reason: String,
    },
}

/// The sink URIs the flags stand for (none for `--storage_driver=""`).
pub fn sink_uris(f: &StorageDriverFlags) -> Result<Vec<String>, StorageDriverError> {
    let mut out = Vec::new();
    for driver in f.driver.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        match driver {
            "influxdb" => out.push(influxdb_uri(f)?),
            "stdout" => out.push("stdout:".to_owned()),
            other => {
                return Err(StorageDriverError::Unsupported {
                    driver: other.to_owned(),
                });
            }
        }
    }
    Ok(out)
}

fn influxdb_uri(f: &StorageDriverFlags) -> Result<String, StorageDriverError> {
    let host = f.host.as_deref().unwrap_or("localhost:8086");
    let scheme = if f.secure { "https" } else { "http" };
    let bad = |reason: String| StorageDriverError::Host {
        host: host.to_owned(),
        reason,
    };
    if host.contains("://") || host.contains(['/', '?', '@']) {
        return Err(bad("expected HOST:PORT".to_owned()));
    }
    let mut url = Url::parse(&format!("{scheme}://{host}")).map_err(|e| bad(e.to_string()))?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("db", f.db.as_deref().unwrap_or("cadvisor"));
        q.append_pair("user", f.user.as_deref().unwrap_or("root"));
        q.append_pair("pw", f.password.as_deref().unwrap_or("root"));
        q.append_pair("schema", "cadvisor");
        let flush = f.buffer_duration.unwrap_or(Duration::from_secs(60));
        q.append_pair("flush", &format!("{}ms", flush.as_millis()));
        if let Some(rp) = f
            .influxdb_retention_policy
            .as_deref()
            .filter(|r| !r.is_empty())
        {
            q.append_pair("rp", rp);
        }
    }
    Ok(format!("influxdb:{url}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::influxdb::config::Api;
    use crate::uri::{Kind, parse};
    use crowsnest_formats::influx::Schema;

    #[test]
    fn cadvisor_defaults_make_an_influxdb_sink_in_cadvisor_schema() {
        let f = StorageDriverFlags {
            driver: "influxdb".into(),
            ..Default::default()
        };
        let uris = sink_uris(&f).unwrap();
        assert_eq!(
            uris,
            [
                "influxdb:http://localhost:8086/?db=cadvisor&user=root&pw=root&schema=cadvisor&flush=60000ms"
            ]
        );
        let spec = parse(&uris[0]).unwrap();
        let Kind::Influxdb(c) = spec.kind else {
            panic!("influxdb")
        };
        assert_eq!(c.lines.schema, Schema::Cadvisor);
        assert_eq!(spec.common.flush, Duration::from_secs(60));
        assert_eq!(
            c.api,
            Api::V1 {
                db: "cadvisor".into(),
                rp: None,
                user: Some("root".into()),
                password: Some("root".into()),
                create_database: true,
            }
        );
    }

    #[test]
    fn every_flag_lands_in_the_uri() {
        let f = StorageDriverFlags {
            driver: "influxdb,stdout".into(),
            host: Some("influx.example:9999".into()),
            db: Some("k 8s".into()),
            user: Some("u".into()),
            password: Some("p&w=1".into()),
            secure: true,
            buffer_duration: Some(Duration::from_secs(5)),
            influxdb_retention_policy: Some("one_week".into()),
        };
        let uris = sink_uris(&f).unwrap();
        assert_eq!(uris[1], "stdout:");
        let spec = parse(&uris[0]).unwrap();
        let Kind::Influxdb(c) = spec.kind else {
            panic!("influxdb")
        };
        assert_eq!(c.url.as_str(), "https://influx.example:9999/");
        assert_eq!(spec.common.flush, Duration::from_secs(5));
        assert_eq!(
            c.api,
            Api::V1 {
                db: "k 8s".into(),
                rp: Some("one_week".into()),
                user: Some("u".into()),
                password: Some("p&w=1".into()),
                create_database: true,
            }
        );
        assert!(
            !spec.display.contains("p&w"),
            "password hidden: {}",
            spec.display
        );
    }

    #[test]
    fn other_drivers_and_bad_hosts_are_refused_by_name() {
        let f = StorageDriverFlags {
            driver: "influxdb,kafka".into(),
            ..Default::default()
        };
        assert_eq!(
            sink_uris(&f).unwrap_err().to_string(),
            "--storage_driver=kafka: not supported (crowsnest has influxdb and stdout; use --sink for remote write)"
        );
        let f = StorageDriverFlags {
            driver: "influxdb".into(),
            host: Some("http://h:8086".into()),
            ..Default::default()
        };
        assert!(
            sink_uris(&f)
                .unwrap_err()
                .to_string()
                .starts_with("--storage_driver_host=\"http://h:8086\"")
        );
        assert!(
            sink_uris(&StorageDriverFlags::default())
                .unwrap()
                .is_empty()
        );
    }
}
