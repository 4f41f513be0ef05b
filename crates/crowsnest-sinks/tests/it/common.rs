//! Helpers: batches, InfluxQL and PromQL over HTTP, bounded waits, captured logs.

use std::borrow::Cow;
use std::future::Future;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crowsnest_core::Timestamp;
use crowsnest_core::batch::{Batch, Labels, Sample, Value, names};
use crowsnest_sinks::{SinkHandle, parse_uri};
use serde_json::Value as Json;

/// Everything the sinks logged in this test binary (tests filter by sink name).
pub(crate) fn logs() -> String {
    String::from_utf8_lossy(&log_buffer().lock().unwrap()).into_owned()
}

fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUF: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUF.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let w = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter("info")
            .with_ansi(false)
            .with_writer(move || Tee(w.clone()))
            .try_init();
        buf
    })
}

struct Tee(Arc<Mutex<Vec<u8>>>);

impl Write for Tee {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        std::io::stderr().write(b)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Starts a sink from `uri` with its queue under `dir`, logs captured.
pub(crate) fn sink(uri: &str, dir: &Path) -> SinkHandle {
    log_buffer();
    let spec = parse_uri(uri).unwrap_or_else(|e| panic!("{e}"));
    SinkHandle::start(&spec, dir).unwrap_or_else(|e| panic!("{e}"))
}

/// Now, truncated to whole seconds.
pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// The labels of container `name` on `host` (created as `id`).
pub(crate) fn container(host: &str, name: &str, id: &str) -> Arc<Labels> {
    Arc::new(Labels::new([
        ("id", id),
        ("type", "sys_container"),
        ("container_name", name),
        ("nodename", host),
        ("hostname", host),
    ]))
}

/// One sample.
pub(crate) fn sample(m: names::Metric, labels: &Arc<Labels>, v: Value) -> Sample {
    Sample {
        metric: Cow::Borrowed(m.name),
        kind: m.kind,
        unit: m.unit,
        labels: labels.clone(),
        value: v,
    }
}

/// A batch at `t`.
pub(crate) fn batch(t: Timestamp, samples: Vec<Sample>) -> Batch {
    Batch {
        timestamp: t,
        samples,
    }
}

/// Polls `f` every 100 ms until it gives `Some`, at most `limit`.
pub(crate) async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            started.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the sink has nothing pending (at most `limit`).
pub(crate) async fn drained(s: &SinkHandle, limit: Duration) {
    eventually("the queue to drain", limit, || async {
        let st = s.stats();
        (st.pending_records == 0).then_some(())
    })
    .await;
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// Runs InfluxQL `q` on `db` (`epoch=ns`), as `auth` if given; the JSON answer.
pub(crate) async fn influxql(base: &str, db: &str, q: &str, auth: Option<(&str, &str)>) -> Json {
    let mut url = reqwest::Url::parse(&format!("{base}/query")).unwrap();
    url.query_pairs_mut()
        .append_pair("db", db)
        .append_pair("q", q)
        .append_pair("epoch", "ns");
    let mut req = client().post(url);
    if let Some((u, p)) = auth {
        req = req.basic_auth(u, Some(p));
    }
    let resp = req.send().await.expect("query influxd");
    let text = resp.text().await.expect("answer");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// A series of an InfluxQL answer: name, tags, columns, rows.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    pub(crate) name: String,
    pub(crate) tags: Vec<(String, String)>,
    pub(crate) columns: Vec<String>,
    pub(crate) rows: Vec<Vec<Json>>,
}

/// The series of the first statement's answer.
pub(crate) fn series(answer: &Json) -> Vec<Series> {
    assert!(
        answer.pointer("/results/0/error").is_none() && answer.get("error").is_none(),
        "query failed: {answer}"
    );
    let Some(list) = answer.pointer("/results/0/series").and_then(Json::as_array) else {
        return Vec::new();
    };
    list.iter()
        .map(|s| Series {
            name: s["name"].as_str().unwrap_or_default().to_owned(),
            tags: s["tags"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                        .collect()
                })
                .unwrap_or_default(),
            columns: s["columns"]
                .as_array()
                .map(|c| {
                    c.iter()
                        .map(|c| c.as_str().unwrap_or_default().to_owned())
                        .collect()
                })
                .unwrap_or_default(),
            rows: s["values"]
                .as_array()
                .map(|v| {
                    v.iter()
                        .map(|r| r.as_array().cloned().unwrap_or_default())
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect()
}

/// Runs PromQL `q` at `time` (unix seconds) against a Prometheus-compatible API; the result
/// vector as (labels, value).
pub(crate) async fn promql(base: &str, q: &str, time: i64) -> Vec<(Json, f64)> {
    let mut url = reqwest::Url::parse(&format!("{base}/api/v1/query")).unwrap();
    url.query_pairs_mut()
        .append_pair("query", q)
        .append_pair("time", &time.to_string());
    let text = client()
        .get(url)
        .send()
        .await
        .expect("query")
        .text()
        .await
        .expect("answer");
    let answer: Json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(answer["status"], "success", "{q}: {answer}");
    answer["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|r| {
            let v = r["value"][1]
                .as_str()
                .unwrap_or("NaN")
                .parse()
                .unwrap_or(f64::NAN);
            (r["metric"].clone(), v)
        })
        .collect()
}

/// Memory usage of `labels` as a gauge at `t` with `value` (an easy series to count).
pub(crate) fn gauge_batch(t: Timestamp, labels: &Arc<Labels>, value: i64) -> Batch {
    batch(
        t,
        vec![sample(names::MEMORY_USAGE, labels, Value::Int(value))],
    )
}
