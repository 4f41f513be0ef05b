//! InfluxDB sink settings, from the URI's options.

use crowsnest_formats::influx::{Options as LineOptions, Precision, Schema};
use reqwest::Url;

use crate::uri::{Options, UriError, percent_decode};

/// Which write API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Api {
    /// InfluxDB 1.x `POST /write?db=&rp=&precision=`.
    V1 {
        /// Database (`db`, default `k8s` as Heapster's).
        db: String,
        /// Retention policy (`rp`); `None` uses the database's default one.
        rp: Option<String>,
        /// User (`user`, or the URL's user).
        user: Option<String>,
        /// Password (`pw`/`password`, or the URL's password).
        password: Option<String>,
        /// Whether to create the database when it does not exist (`create_database`, true).
        create_database: bool,
    },
    /// InfluxDB 2.x `POST /api/v2/write?org=&bucket=&precision=` with a token.
    V2 {
        /// Organisation (`org`).
        org: String,
        /// Bucket (`bucket`).
        bucket: String,
        /// API token (`token`).
        token: String,
    },
}

/// An InfluxDB sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Base URL (`http://host:8086`, path kept as a prefix).
    pub url: Url,
    /// Write API and its settings.
    pub api: Api,
    /// Schema, precision, cluster name.
    pub lines: LineOptions,
    /// Gzip request bodies (`gzip`, false).
    pub gzip: bool,
    /// Accept any TLS certificate (`insecuressl`, Heapster's name; false).
    pub insecure_tls: bool,
}

impl Config {
    /// `host-port-db` (or `host-port-bucket`), for the default sink name.
    pub fn target_name(&self) -> String {
        let host = self.url.host_str().unwrap_or("host");
        let port = self.url.port_or_known_default().unwrap_or(0);
        let what = match &self.api {
            Api::V1 { db, .. } => db,
            Api::V2 { bucket, .. } => bucket,
        };
        format!("{host}-{port}-{what}")
    }

    pub(crate) fn from_uri(mut url: Url, o: &mut Options) -> Result<Config, UriError> {
        let url_user = (!url.username().is_empty()).then(|| percent_decode(url.username()));
        let url_password = url.password().map(percent_decode);
        let _ = url.set_username("");
        let _ = url.set_password(None);
        url.set_query(None);
        let schema = match o.take("schema").as_deref() {
            None | Some("heapster") => Schema::Heapster {
                with_fields: o.bool("withfields", false)?,
            },
            Some("heapster-legacy") => Schema::HeapsterLegacy,
            Some("cadvisor") => Schema::Cadvisor,
            Some(other) => {
                return Err(o.error(
                    "schema",
                    other,
                    "expected heapster, heapster-legacy or cadvisor",
                ));
            }
        };
        if !matches!(schema, Schema::Heapster { .. }) && o.bool("withfields", false)? {
            return Err(o.error(
                "withfields",
                "true",
                "only the heapster schema has a withfields mode",
            ));
        }
        let precision = match o.take("precision") {
            None => Precision::Nanoseconds,
            Some(p) => Precision::parse(&p)
                .ok_or_else(|| o.error("precision", &p, "expected ns, us, ms or s"))?,
        };
        let cluster_name = o.take("cluster_name").unwrap_or_else(|| "default".into());
        if let Some(r) = o.take("retention") {
            return Err(o.error(
                "retention",
                &r,
                "crowsnest does not create retention policies; name an existing one with rp=",
            ));
        }
        let (org, bucket, token) = (o.take("org"), o.take("bucket"), o.take("token"));
        let api = if org.is_some() || bucket.is_some() || token.is_some() {
            let need = |v: Option<String>, k: &str| {
                v.ok_or_else(|| {
                    o.missing(format!(
                        "InfluxDB 2.x needs org, bucket and token; {k} is missing"
                    ))
                })
            };
            let api = Api::V2 {
                org: need(org, "org")?,
                bucket: need(bucket, "bucket")?,
                token: need(token, "token")?,
            };
            for v1_only in ["db", "rp", "user", "pw", "password", "create_database"] {
                if let Some(v) = o.take(v1_only) {
                    return Err(o.error(
                        v1_only,
                        &v,
                        "an InfluxDB 1.x option; this URI has org/bucket/token (2.x)",
                    ));
                }
            }
            api
        } else {
            let password = o.take("pw").or_else(|| o.take("password")).or(url_password);
            Api::V1 {
                db: o.take("db").unwrap_or_else(|| "k8s".into()),
                rp: o.take("rp"),
                user: o.take("user").or(url_user),
                password,
                create_database: o.bool("create_database", true)?,
            }
        };
        Ok(Config {
            url,
            api,
            lines: LineOptions {
                schema,
                precision,
                cluster_name,
            },
            gzip: o.bool("gzip", false)?,
            insecure_tls: o.bool("insecuressl", false)?,
        })
    }
}
