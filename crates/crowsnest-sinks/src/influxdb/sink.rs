//! Encoding batches as line protocol and writing them to InfluxDB.

use std::io::Write;

use crowsnest_core::batch::Batch;
use crowsnest_formats::influx;
use reqwest::Url;
use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};

use super::config::{Api, Config};
use crate::uri::Common;
use crate::{DeliveryError, Encode, Encoded, http};

/// Line protocol in the configured schema. Samples a schema has no series for (cAdvisor's
/// lacks many canonical metrics) are not counted as dropped: the schema leaves them out.
#[derive(Debug)]
pub struct InfluxEncode {
    enc: influx::Encoder,
    text: String,
}

impl InfluxEncode {
    /// An encoder for `config`'s schema.
    pub fn new(config: &Config) -> Self {
        InfluxEncode {
            enc: influx::Encoder::new(config.lines.clone()),
            text: String::new(),
        }
    }
}

impl Encode for InfluxEncode {
    fn encode(&mut self, batch: &Batch, out: &mut Vec<u8>) -> Encoded {
        self.text.clear();
        let e = self.enc.encode(batch, &mut self.text);
        out.extend_from_slice(self.text.as_bytes());
        Encoded {
            items: u32::try_from(e.lines).unwrap_or(u32::MAX),
            unencodable: e.unwritable as u64,
        }
    }

    /// The legacy schema's counter offsets (empty for the other schemas: no state).
    fn state(&self) -> Option<Vec<u8>> {
        let c = self.enc.continuity();
        if c.series.is_empty() {
            return None;
        }
        serde_json::to_vec(c).ok()
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        let c =
            serde_json::from_slice(state).map_err(|e| format!("legacy counter offsets: {e}"))?;
        self.enc.set_continuity(c);
        Ok(())
    }
}

#[derive(Debug)]
enum Auth {
    None,
    Basic(String, Option<String>),
    Token(String),
}

/// The 1.x database: whether to make it, and whether it is known to exist.
#[derive(Debug)]
struct Database {
    name: String,
    create: bool,
    ready: bool,
}

/// Writes line protocol to `/write` (1.x) or `/api/v2/write` (2.x).
#[derive(Debug)]
pub struct InfluxDeliver {
    client: reqwest::Client,
    base: Url,
    write_url: Url,
    auth: Auth,
    gzip: bool,
    database: Option<Database>,
}

/// `base` with `path` appended to its path.
fn join(base: &Url, path: &str) -> Url {
    let mut u = base.clone();
    let p = format!("{}{path}", base.path().trim_end_matches('/'));
    u.set_path(&p);
    u
}

/// The `error` of InfluxDB's JSON error answer, or the text as it is.
pub(crate) fn influx_error(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or_else(|| body.trim().to_owned())
}

impl InfluxDeliver {
    /// A writer for `config`.
    pub fn new(config: &Config, common: &Common) -> reqwest::Result<Self> {
        let client = http::client(common.timeout, config.insecure_tls)?;
        let precision = config.lines.precision;
        let (write_url, auth, database) = match &config.api {
            Api::V1 {
                db,
                rp,
                user,
                password,
                create_database,
            } => {
                let mut u = join(&config.url, "/write");
                {
                    let mut q = u.query_pairs_mut();
                    q.append_pair("db", db);
                    if let Some(rp) = rp {
                        q.append_pair("rp", rp);
                    }
                    q.append_pair("precision", precision.v1_param());
                }
                let auth = match user {
                    Some(u) => Auth::Basic(u.clone(), password.clone()),
                    None => Auth::None,
                };
                let database = Database {
                    name: db.clone(),
                    create: *create_database,
                    ready: !*create_database,
                };
                (u, auth, Some(database))
            }
            Api::V2 { org, bucket, token } => {
                let mut u = join(&config.url, "/api/v2/write");
                u.query_pairs_mut()
                    .append_pair("org", org)
                    .append_pair("bucket", bucket)
                    .append_pair("precision", precision.v2_param());
                (u, Auth::Token(token.clone()), None)
            }
        };
        Ok(InfluxDeliver {
            client,
            base: config.url.clone(),
            write_url,
            auth,
            gzip: config.gzip,
            database,
        })
    }

    /// Where lines are written (`/write?db=...` or `/api/v2/write?org=...`).
    pub fn write_url(&self) -> &Url {
        &self.write_url
    }

    fn authed(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.auth {
            Auth::None => req,
            Auth::Basic(u, p) => req.basic_auth(u, p.as_deref()),
            Auth::Token(t) => req.header(AUTHORIZATION, format!("Token {t}")),
        }
    }

    /// Runs one InfluxQL statement; `Ok(Err(status, message))` for an HTTP refusal.
    async fn query(
        &self,
        method: reqwest::Method,
        q: &str,
    ) -> Result<Result<serde_json::Value, (u16, String)>, DeliveryError> {
        let mut url = join(&self.base, "/query");
        url.query_pairs_mut().append_pair("q", q);
        let req = self.authed(self.client.request(method, url));
        let resp = req.send().await.map_err(|e| http::send_error(&e))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| http::send_error(&e))?;
        if !(200..300).contains(&status) {
            if status >= 500 {
                return Err(http::classify(status, &text));
            }
            return Ok(Err((status, influx_error(&text))));
        }
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        // InfluxQL errors come back as 200 with `results[0].error`.
        match v.pointer("/results/0/error").and_then(|e| e.as_str()) {
            Some(e) => Ok(Err((status, e.to_owned()))),
            None => Ok(Ok(v)),
        }
    }

    /// Makes the 1.x database when it does not exist (and says so). A refusal (no admin
    /// rights) is logged and writing goes ahead: the write's answer tells the rest.
    async fn ensure_database(&mut self) -> Result<(), DeliveryError> {
        let Some(db) = &self.database else {
            return Ok(());
        };
        let name = db.name.clone();
        let listed = self.query(reqwest::Method::GET, "SHOW DATABASES").await?;
        let exists = match listed {
            Ok(v) => v
                .pointer("/results/0/series/0/values")
                .and_then(|vals| vals.as_array())
                .is_some_and(|vals| {
                    vals.iter()
                        .any(|row| row.get(0).and_then(|n| n.as_str()) == Some(name.as_str()))
                }),
            Err((status, msg)) => {
                tracing::warn!(url = %self.base, database = %name, status, error = %msg, "cannot list InfluxDB databases; not creating the database, writing anyway");
                self.mark_ready();
                return Ok(());
            }
        };
        if !exists {
            let stmt = format!("CREATE DATABASE \"{}\"", name.replace('"', "\\\""));
            match self.query(reqwest::Method::POST, &stmt).await? {
                Ok(_) => {
                    tracing::info!(url = %self.base, database = %name, "created the InfluxDB database (it did not exist)")
                }
                Err((status, msg)) => {
                    tracing::warn!(url = %self.base, database = %name, status, error = %msg, "cannot create the InfluxDB database; writing anyway")
                }
            }
        }
        self.mark_ready();
        Ok(())
    }

    fn mark_ready(&mut self) {
        if let Some(db) = &mut self.database {
            db.ready = true;
        }
    }
}

impl crate::Deliver for InfluxDeliver {
    async fn deliver(&mut self, body: &[u8]) -> Result<(), DeliveryError> {
        if self.database.as_ref().is_some_and(|d| d.create && !d.ready) {
            self.ensure_database().await?;
        }
        let req = self
            .client
            .post(self.write_url.clone())
            .header(CONTENT_TYPE, "text/plain; charset=utf-8");
        let req = if self.gzip {
            let mut gz = flate2::write::GzEncoder::new(
                Vec::with_capacity(body.len() / 4),
                flate2::Compression::fast(),
            );
            let compressed = gz.write_all(body).and_then(|()| gz.finish());
            match compressed {
                Ok(b) => req.header(CONTENT_ENCODING, "gzip").body(b),
                Err(e) => return Err(DeliveryError::Retryable(format!("gzip: {e}"))),
            }
        } else {
            req.body(body.to_vec())
        };
        match http::send(self.authed(req)).await {
            Err(DeliveryError::Rejected { status, message }) => {
                let message = influx_error(&message);
                let create = self.database.as_ref().is_some_and(|d| d.create);
                if status == 404 && message.contains("database not found") && create {
                    // Dropped since we checked: make it again, then retry.
                    if let Some(d) = &mut self.database {
                        d.ready = false;
                    }
                    return Err(DeliveryError::Retryable(format!("HTTP 404: {message}")));
                }
                Err(DeliveryError::Rejected { status, message })
            }
            other => other,
        }
    }

    fn first_item(&self, body: &[u8]) -> String {
        let line = body.split(|&b| b == b'\n').next().unwrap_or_default();
        String::from_utf8_lossy(&line[..line.len().min(500)]).into_owned()
    }
}
