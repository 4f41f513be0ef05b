//! Every schema into a real influxd 1.x, read back with InfluxQL; database creation, retention
//! policies, refused credentials.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crowsnest_core::Timestamp;
use crowsnest_core::batch::{Labels, Value, names};
use crowsnest_formats::influx::{Encoder, Options, Precision, Schema};
use crowsnest_sinks::DropReason;
use crowsnest_testkit::servers::Server;
use serde_json::Value as Json;

use crate::common::*;

/// Labels with every character the escaping rules care about.
fn tricky() -> Arc<Labels> {
    Arc::new(Labels::new([
        ("id", "/docker/abc"),
        ("type", "sys_container"),
        ("container_name", "web, 1=\"a\" b"),
        ("nodename", "host A"),
        ("hostname", "host A"),
        ("pod_name", r"back\slash"),
        ("namespace_name", r"ends\"),
        ("labels", "app:web,tier:front end"),
        ("zone", "é\tü\nnext"),
        ("resource_id", ""),
    ]))
}

fn known_batch(t: Timestamp) -> crowsnest_core::batch::Batch {
    let c = tricky();
    let fs = Arc::new(c.with("resource_id", "/dev/sda 1"));
    batch(
        t,
        vec![
            sample(names::CPU_USAGE, &c, Value::Int(i64::MAX)),
            sample(names::CPU_USAGE_USER, &c, Value::Int(-42)),
            sample(names::MEMORY_USAGE, &c, Value::Int(1 << 40)),
            sample(names::MEMORY_PAGE_FAULTS, &c, Value::Int(7)),
            sample(names::NETWORK_RX, &c, Value::Int(123_456)),
            sample(names::UPTIME, &c, Value::Int(60_000)),
            sample(names::CPU_USAGE_RATE, &c, Value::Float(0.1)),
            sample(names::CPU_LIMIT, &c, Value::Float(1e300)),
            sample(names::FILESYSTEM_USAGE, &fs, Value::Int(4096)),
            sample(names::FILESYSTEM_LIMIT, &fs, Value::Int(8192)),
        ],
    )
}

/// Splits `s` at unescaped `sep` bytes, the way Go's scanner reads a line (a backslash
/// escapes the next character).
fn split_unescaped(s: &str, sep: u8) -> Vec<&str> {
    let b = s.as_bytes();
    let (mut out, mut start, mut i) = (Vec::new(), 0, 0);
    while i < b.len() {
        if b[i] == b'\\' {
            i += 2;
            continue;
        }
        if b[i] == sep {
            out.push(&s[start..i]);
            start = i + 1;
        }
        i += 1;
    }
    out.push(&s[start..]);
    out
}

/// Go's `escape.Unescape`: `\,`, `\ `, `\=`, `\"` lose their backslash; nothing else does.
fn go_unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && matches!(chars.peek(), Some(',' | ' ' | '=' | '"')) {
            continue;
        }
        out.push(c);
    }
    out
}

type Points = BTreeMap<String, Vec<(Vec<(String, String)>, BTreeMap<String, Json>)>>;

/// The points the encoder writes for `b`, read the way influxd 1.x reads line protocol:
/// measurement -> (tags, field -> value).
fn expected(options: &Options, b: &crowsnest_core::batch::Batch) -> Points {
    let mut text = String::new();
    Encoder::new(options.clone()).encode(b, &mut text);
    let mut out: Points = BTreeMap::new();
    for l in text.lines() {
        let parts = split_unescaped(l, b' ');
        assert_eq!(parts.len(), 3, "{l}");
        let mut series = split_unescaped(parts[0], b',').into_iter();
        let measurement = go_unescape(series.next().unwrap());
        let tags = series
            .map(|kv| {
                let kv = split_unescaped(kv, b'=');
                (go_unescape(kv[0]), go_unescape(kv[1]))
            })
            .collect();
        let fields = split_unescaped(parts[1], b',')
            .into_iter()
            .map(|kv| {
                let kv = split_unescaped(kv, b'=');
                let v = match kv[1].strip_suffix('i') {
                    Some(i) => Json::from(i.parse::<i64>().unwrap()),
                    None => Json::from(kv[1].parse::<f64>().unwrap()),
                };
                (go_unescape(kv[0]), v)
            })
            .collect();
        out.entry(measurement).or_default().push((tags, fields));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_schema_lands_in_influxd_and_reads_back_exactly() {
    let Some(influx) = Server::influxd() else {
        return;
    };
    let queues = tempfile::tempdir().unwrap();
    let t = Timestamp::from_secs(now_secs() - 60);
    for (db, extra, schema) in [
        ("heapster", "", Schema::Heapster { with_fields: false }),
        (
            "withfields",
            "&withfields=true&gzip=true",
            Schema::Heapster { with_fields: true },
        ),
        (
            "legacy",
            "&schema=heapster-legacy&precision=s",
            Schema::HeapsterLegacy,
        ),
        (
            "cadvisor",
            "&schema=cadvisor&precision=ms&gzip=true",
            Schema::Cadvisor,
        ),
    ] {
        let uri = format!(
            "influxdb:{}?db={db}{extra}&flush=50ms&name={db}",
            influx.url()
        );
        let s = sink(&uri, queues.path());
        s.send(&known_batch(t)).unwrap();
        drained(&s, Duration::from_secs(30)).await;
        let st = s.stats();
        assert_eq!(
            st.dropped(DropReason::Rejected),
            0,
            "{db}: {:?}",
            st.last_error
        );
        let precision = match db {
            "legacy" => Precision::Seconds,
            "cadvisor" => Precision::Milliseconds,
            _ => Precision::Nanoseconds,
        };
        let options = Options {
            schema,
            precision,
            cluster_name: "default".into(),
        };
        let want = expected(&options, &known_batch(t));
        assert!(!want.is_empty());
        for (measurement, points) in want {
            let q = format!(
                "SELECT * FROM \"{}\" GROUP BY *",
                measurement.replace('"', "\\\"")
            );
            let got = series(&influxql(&influx.url(), db, &q, None).await);
            assert_eq!(got.len(), points.len(), "{db} {measurement}: {got:?}");
            for (tags, fields) in &points {
                let s = got
                    .iter()
                    .find(|s| {
                        let mut st = s.tags.clone();
                        st.retain(|(_, v)| !v.is_empty());
                        st.sort();
                        let mut want = tags.clone();
                        want.sort();
                        st == want
                    })
                    .unwrap_or_else(|| panic!("{db} {measurement}: no series {tags:?} in {got:?}"));
                assert_eq!(s.rows.len(), 1, "{db} {measurement}");
                let row = &s.rows[0];
                assert_eq!(row[0], Json::from(t.nanos()), "{db} {measurement}: time");
                for (field, value) in fields {
                    let i = s.columns.iter().position(|c| c == field).unwrap();
                    assert_eq!(&row[i], value, "{db} {measurement}.{field}");
                }
            }
        }
    }
    assert!(
        logs().contains("created the InfluxDB database"),
        "creation is logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_default_retention_policy_is_used_unless_one_is_named() {
    let Some(influx) = Server::influxd() else {
        return;
    };
    let url = influx.url();
    // A database whose default policy is not called "default" nor "autogen" (Heapster's
    // hard-coded rp=default failed here: heapster.md section 4).
    let r = influxql(
        &url,
        "",
        "CREATE DATABASE rpdb WITH DURATION 1d NAME \"short\"",
        None,
    )
    .await;
    assert!(r.pointer("/results/0/error").is_none(), "{r}");
    let r = influxql(
        &url,
        "",
        "CREATE RETENTION POLICY \"long\" ON rpdb DURATION 30d REPLICATION 1",
        None,
    )
    .await;
    assert!(r.pointer("/results/0/error").is_none(), "{r}");
    let queues = tempfile::tempdir().unwrap();
    let c = container("h", "web", "/web");
    let t = Timestamp::from_secs(now_secs() - 30);
    let plain = sink(
        &format!("influxdb:{url}?db=rpdb&flush=50ms&name=plain"),
        queues.path(),
    );
    plain.send(&gauge_batch(t, &c, 1)).unwrap();
    let named = sink(
        &format!("influxdb:{url}?db=rpdb&rp=long&flush=50ms&name=named"),
        queues.path(),
    );
    named.send(&gauge_batch(t, &c, 2)).unwrap();
    drained(&plain, Duration::from_secs(30)).await;
    drained(&named, Duration::from_secs(30)).await;
    for (rp, want) in [("short", 1), ("long", 2)] {
        let q = format!("SELECT value FROM \"{rp}\".\"memory/usage\"");
        let got = series(&influxql(&url, "rpdb", &q, None).await);
        assert_eq!(got.len(), 1, "{rp}: {got:?}");
        assert_eq!(
            got[0].rows,
            vec![vec![Json::from(t.nanos()), Json::from(want)]],
            "{rp}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_are_reported_once_counted_and_do_not_spin() {
    let Some(influx) = Server::influxd_with_auth() else {
        return;
    };
    let url = influx.url();
    let queues = tempfile::tempdir().unwrap();
    let c = container("h", "web", "/web");
    let base = now_secs() - 60;
    let bad = sink(
        &format!(
            "influxdb:{url}?db=authdb&user=admin&pw=wrong&flush=10ms&batch_bytes=1&backoff_min=10ms&backoff_max=20ms&name=badcreds"
        ),
        queues.path(),
    );
    for i in 0..5 {
        bad.send(&gauge_batch(Timestamp::from_secs(base + i), &c, i))
            .unwrap();
    }
    drained(&bad, Duration::from_secs(30)).await;
    // Give a spinning task time to show itself.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let st = bad.stats();
    assert_eq!(st.dropped(DropReason::Rejected), 5, "{st:?}");
    assert_eq!(st.dropped_items(DropReason::Rejected), 5);
    assert_eq!(
        (st.retries, st.sent_records),
        (0, 0),
        "refusals are not retried"
    );
    assert!(
        st.last_error
            .as_deref()
            .unwrap_or("")
            .starts_with("HTTP 401"),
        "{st:?}"
    );
    let refusals: Vec<String> = logs()
        .lines()
        .filter(|l| l.contains("badcreds") && l.contains("refused"))
        .map(str::to_owned)
        .collect();
    assert_eq!(refusals.len(), 1, "logged once: {refusals:#?}");
    assert!(refusals[0].contains("status=401"), "{}", refusals[0]);
    assert!(
        refusals[0].contains("first=memory/usage,cluster_name=default,container_name=web"),
        "the first rejected line is in the log: {}",
        refusals[0]
    );
    // The right credentials: the database is made and the data lands.
    let good = sink(
        &format!("influxdb:{url}?db=authdb&user=admin&pw=admin-pw&flush=10ms&name=goodcreds"),
        queues.path(),
    );
    good.send(&gauge_batch(Timestamp::from_secs(base + 10), &c, 10))
        .unwrap();
    drained(&good, Duration::from_secs(30)).await;
    assert_eq!(good.stats().sent_items, 1, "{:?}", good.stats());
    let got = series(
        &influxql(
            &url,
            "authdb",
            "SELECT value FROM \"memory/usage\"",
            Some(("admin", "admin-pw")),
        )
        .await,
    );
    assert_eq!(
        got[0].rows,
        vec![vec![
            Json::from(Timestamp::from_secs(base + 10).nanos()),
            Json::from(10)
        ]]
    );
}

/// Debian has no InfluxDB 2.x; VictoriaMetrics takes the 2.x write API (`/api/v2/write` with
/// org, bucket, token and precision), so the request shape is checked against a real server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_2x_write_api_is_accepted_by_a_real_server() {
    let Some(vm) = Server::victoria_metrics() else {
        return;
    };
    let queues = tempfile::tempdir().unwrap();
    let s = sink(
        &format!(
            "influxdb:{}?org=o&bucket=b&token=t0k&precision=ms&gzip=true&flush=50ms",
            vm.url()
        ),
        queues.path(),
    );
    let c = container("h", "web", "/web");
    let t = now_secs() - 5;
    s.send(&gauge_batch(Timestamp::from_secs(t), &c, 42))
        .unwrap();
    drained(&s, Duration::from_secs(30)).await;
    assert_eq!(s.stats().sent_items, 1, "{:?}", s.stats());
    let q = r#"{__name__="memory/usage_value",container_name="web"}"#;
    let got = eventually(
        "the point in VictoriaMetrics",
        Duration::from_secs(30),
        || async {
            let r = promql(&vm.url(), q, t).await;
            (!r.is_empty()).then_some(r)
        },
    )
    .await;
    assert_eq!(got[0].1, 42.0);
}
