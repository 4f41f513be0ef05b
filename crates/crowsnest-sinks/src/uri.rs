//! Sink URIs, Heapster style (`common/flags/flags.go`): `KIND:ADDRESS[?OPTIONS]`, split on the
//! first `:`, the rest read as a URL whose query holds the options.
//!
//! ```text
//! influxdb:http://host:8086?db=k8s&user=u&pw=p&schema=heapster|heapster-legacy|cadvisor
//!          &withfields=true&rp=autogen&precision=s&gzip=true&cluster_name=c1
//!          &create_database=false&secure=true&insecuressl=true
//! influxdb:http://host:8086?org=o&bucket=b&token=t        (InfluxDB 2.x: /api/v2/write)
//! remote_write:http://host:9090/api/v1/write?user=u&pw=p   (also: token=bearer)
//! prometheus:http://host:9090      victoriametrics:http://host:8428   (path /api/v1/write)
//! stdout:
//! ```
//!
//! Every sink also takes `name` (the queue directory and the metrics' name), `queue_dir`,
//! `queue_bytes` (256MiB), `batch_bytes` (1MiB), `flush` (1s), `timeout` (10s),
//! `backoff_min` (200ms) and `backoff_max` (30s). Sizes take `k`, `M`, `G` (powers of 1024)
//! and durations `ms`, `s`, `m`, `h` (a bare number is seconds). A wrong URI is rejected
//! with the part that is wrong; passwords and tokens are shown as `***`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;

use crate::{influxdb, remote_write, stdout};

/// A sink URI that cannot be used, naming the part that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// No `kind:` prefix.
    #[error("sink URI {uri:?}: expected KIND:ADDRESS such as influxdb:http://host:8086")]
    NoKind {
        /// The URI (secrets hidden).
        uri: String,
    },
    /// An unknown kind.
    #[error(
        "sink URI {uri:?}: unknown sink kind {kind:?} (known: influxdb, remote_write, prometheus, victoriametrics, stdout)"
    )]
    UnknownKind {
        /// The URI (secrets hidden).
        uri: String,
        /// The kind given.
        kind: String,
    },
    /// The address part is not a usable URL.
    #[error("sink URI {uri:?}: address {address:?}: {reason}")]
    Address {
        /// The URI (secrets hidden).
        uri: String,
        /// The address part.
        address: String,
        /// What is wrong.
        reason: String,
    },
    /// An option has a wrong value.
    #[error("sink URI {uri:?}: option {key}={value:?}: {reason}")]
    Option {
        /// The URI (secrets hidden).
        uri: String,
        /// The option.
        key: String,
        /// Its value (secrets hidden).
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// An option this sink does not know.
    #[error("sink URI {uri:?}: unknown option {key:?} for {kind} (known: {known})")]
    UnknownOption {
        /// The URI (secrets hidden).
        uri: String,
        /// The sink kind.
        kind: &'static str,
        /// The option.
        key: String,
        /// The options it knows.
        known: String,
    },
    /// A required option is missing.
    #[error("sink URI {uri:?}: {what}")]
    Missing {
        /// The URI (secrets hidden).
        uri: String,
        /// What is missing.
        what: String,
    },
}

/// Options whose values are secrets.
const SECRET: &[&str] = &["pw", "password", "token"];

/// `uri` with passwords and tokens replaced by `***`.
pub fn redact(uri: &str) -> String {
    let (head, query) = match uri.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (uri, None),
    };
    // user:password@ in the address: everything from the first `:` after the first `//`
    // (or, in an address without a scheme, read as http://, from the first `:`) to the last
    // `@` is taken for the password. It may take more than the password (a user in a URI
    // without a scheme), never less.
    let mut out = match head.rfind('@') {
        Some(at) => {
            let start = head[..at].find("//").map_or(0, |s| s + 2);
            match head[start..at].split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &head[..start], &head[at..]),
                None => head.to_owned(),
            }
        }
        None => head.to_owned(),
    };
    if let Some(q) = query {
        out.push('?');
        let parts: Vec<String> = q
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) if SECRET.contains(&k) && !v.is_empty() => format!("{k}=***"),
                _ => kv.to_owned(),
            })
            .collect();
        out.push_str(&parts.join("&"));
    }
    out
}

/// Settings every sink has: its name, its queue, batching and retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Common {
    /// Name of the sink (queue directory, metrics); derived from the URI unless given.
    pub name: String,
    /// Queue directory; `<queue root>/<name>` unless given.
    pub queue_dir: Option<PathBuf>,
    /// Disk budget of the queue.
    pub queue_bytes: u64,
    /// Largest request body (before compression); one batch larger than this goes alone.
    pub batch_bytes: u64,
    /// How long queued data may wait for more before it is sent.
    pub flush: Duration,
    /// Timeout of one request.
    pub timeout: Duration,
    /// First retry delay.
    pub backoff_min: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
}

impl Common {
    fn defaults(name: String) -> Common {
        Common {
            name,
            queue_dir: None,
            queue_bytes: 256 << 20,
            batch_bytes: 1 << 20,
            flush: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
            backoff_min: Duration::from_millis(200),
            backoff_max: Duration::from_secs(30),
        }
    }
}

/// What kind of sink, with its own settings.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// InfluxDB 1.x or 2.x.
    Influxdb(influxdb::Config),
    /// Prometheus remote write.
    RemoteWrite(remote_write::Config),
    /// JSON lines on standard output.
    Stdout(stdout::Config),
}

/// A parsed sink URI.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkSpec {
    /// The sink's own settings.
    pub kind: Kind,
    /// Queue, batching, retries.
    pub common: Common,
    /// The URI as given, secrets hidden (for logs).
    pub display: String,
}

/// The options of a URI, consumed one by one so that what is left is unknown.
#[derive(Debug)]
pub(crate) struct Options {
    uri: String,
    kind: &'static str,
    map: BTreeMap<String, String>,
    known: Vec<&'static str>,
}

impl Options {
    /// Takes option `key` (an empty value counts as absent).
    pub(crate) fn take(&mut self, key: &'static str) -> Option<String> {
        self.known.push(key);
        self.map.remove(key).filter(|v| !v.is_empty())
    }

    /// An error for option `key` with `value`.
    pub(crate) fn error(&self, key: &str, value: &str, reason: impl Into<String>) -> UriError {
        UriError::Option {
            uri: self.uri.clone(),
            key: key.to_owned(),
            value: if SECRET.contains(&key) {
                "***".to_owned()
            } else {
                value.to_owned()
            },
            reason: reason.into(),
        }
    }

    /// An error for a missing part.
    pub(crate) fn missing(&self, what: impl Into<String>) -> UriError {
        UriError::Missing {
            uri: self.uri.clone(),
            what: what.into(),
        }
    }

    /// Takes a boolean option (`true`/`false`/`1`/`0`/`yes`/`no`).
    pub(crate) fn bool(&mut self, key: &'static str, default: bool) -> Result<bool, UriError> {
        match self.take(key) {
            None => Ok(default),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" => Ok(false),
                _ => Err(self.error(key, &v, "expected true or false")),
            },
        }
    }

    fn size(&mut self, key: &'static str, default: u64, min: u64) -> Result<u64, UriError> {
        match self.take(key) {
            None => Ok(default),
            Some(v) => match parse_size(&v) {
                None => Err(self.error(key, &v, "expected a size such as 1048576, 64k, 256M, 1G")),
                Some(n) if n < min => Err(self.error(key, &v, format!("must be at least {min}"))),
                Some(n) => Ok(n),
            },
        }
    }

    fn duration(&mut self, key: &'static str, default: Duration) -> Result<Duration, UriError> {
        match self.take(key) {
            None => Ok(default),
            Some(v) => parse_duration(&v)
                .ok_or_else(|| self.error(key, &v, "expected a duration such as 500ms, 10s, 1m")),
        }
    }

    /// Fails on the first option nobody took.
    fn finish(self) -> Result<(), UriError> {
        match self.map.into_keys().next() {
            None => Ok(()),
            Some(key) => {
                let mut known = self.known;
                known.sort_unstable();
                known.dedup();
                Err(UriError::UnknownOption {
                    uri: self.uri,
                    kind: self.kind,
                    key,
                    known: known.join(", "),
                })
            }
        }
    }
}

/// `1048576`, `64k`, `256M`, `1G`, `1MiB` (powers of 1024).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: u64 = s[..digits].parse().ok()?;
    let shift = match s[digits..].trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return None,
    };
    n.checked_mul(1 << shift)
}

/// `500ms`, `10s`, `1m`, `2h`, `1m30s`; a bare number is seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.')?;
        let n: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += Duration::try_from_secs_f64(n * scale).ok()?;
        rest = &rest[unit_len..];
    }
    (!s.is_empty()).then_some(total)
}

/// `s` with `%XX` escapes decoded (user names and passwords in a URL).
pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A name usable as a directory: `[a-zA-Z0-9_.-]`, others as `_`.
fn dir_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Parses a sink URI.
pub fn parse(uri: &str) -> Result<SinkSpec, UriError> {
    let display = redact(uri);
    let Some((kind, rest)) = uri.split_once(':') else {
        return Err(UriError::NoKind { uri: display });
    };
    let kind_name: &'static str = match kind {
        "influxdb" => "influxdb",
        "remote_write" | "prometheus" | "victoriametrics" => "remote_write",
        "stdout" => "stdout",
        _ => {
            return Err(UriError::UnknownKind {
                uri: display,
                kind: kind.to_owned(),
            });
        }
    };
    let (address, query) = match rest.split_once('?') {
        Some((a, q)) => (a, q),
        None => (rest, ""),
    };
    let map: BTreeMap<String, String> = reqwest::Url::parse(&format!("http://x/?{query}"))
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default();
    let mut opts = Options {
        uri: display.clone(),
        kind: kind_name,
        map,
        known: Vec::new(),
    };
    let address_err = |reason: &str| UriError::Address {
        uri: display.clone(),
        address: redact(address),
        reason: reason.to_owned(),
    };
    let url = if kind_name == "stdout" {
        if !address.is_empty() {
            return Err(address_err("stdout: takes no address"));
        }
        None
    } else {
        if address.is_empty() {
            return Err(address_err("an address such as http://host:8086 is needed"));
        }
        let with_scheme = if address.contains("://") {
            address.to_owned()
        } else {
            format!("http://{address}")
        };
        let mut url = Url::parse(&with_scheme).map_err(|e| address_err(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(address_err("the scheme must be http or https"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(address_err("no host"));
        }
        if opts.bool("secure", false)? {
            url.set_scheme("https")
                .map_err(|()| address_err("cannot use https"))?;
        }
        Some(url)
    };
    let (kind_cfg, default_name) = match (kind_name, url) {
        ("influxdb", Some(url)) => {
            let c = influxdb::Config::from_uri(url, &mut opts)?;
            let name = format!("influxdb-{}", c.target_name());
            (Kind::Influxdb(c), name)
        }
        ("remote_write", Some(url)) => {
            let c = remote_write::Config::from_uri(url, kind, &mut opts)?;
            let name = format!("remote_write-{}", c.target_name());
            (Kind::RemoteWrite(c), name)
        }
        _ => (Kind::Stdout(stdout::Config::default()), "stdout".to_owned()),
    };
    let mut common = Common::defaults(dir_name(&default_name));
    if let Some(n) = opts.take("name") {
        if dir_name(&n) != n || n.starts_with('.') {
            return Err(opts.error("name", &n, "use letters, digits, '_', '.', '-' only"));
        }
        common.name = n;
    }
    common.queue_dir = opts.take("queue_dir").map(PathBuf::from);
    common.queue_bytes = opts.size("queue_bytes", common.queue_bytes, 1 << 20)?;
    common.batch_bytes = opts.size("batch_bytes", common.batch_bytes, 1)?;
    common.flush = opts.duration("flush", common.flush)?;
    common.timeout = opts.duration("timeout", common.timeout)?;
    common.backoff_min = opts.duration("backoff_min", common.backoff_min)?;
    common.backoff_max = opts.duration("backoff_max", common.backoff_max)?;
    if common.timeout.is_zero() {
        return Err(opts.error("timeout", "0", "must be more than 0"));
    }
    if common.backoff_max < common.backoff_min {
        return Err(opts.error(
            "backoff_max",
            &format!("{:?}", common.backoff_max),
            "must not be less than backoff_min",
        ));
    }
    opts.finish()?;
    Ok(SinkSpec {
        kind: kind_cfg,
        common,
        display,
    })
}

#[cfg(test)]
mod tests;
