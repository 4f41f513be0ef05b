use std::borrow::Cow;
use std::sync::Arc;

use crowsnest_core::Timestamp;
use crowsnest_core::batch::{Batch, Labels, Sample, Value, names};

use super::sink::{InfluxDeliver, InfluxEncode, influx_error};
use crate::uri::{Kind, parse};
use crate::{Deliver, Encode};

fn config(uri: &str) -> (super::Config, crate::Common) {
    let spec = parse(uri).unwrap();
    match spec.kind {
        Kind::Influxdb(c) => (c, spec.common),
        other => panic!("{other:?}"),
    }
}

fn batch() -> Batch {
    let l = Arc::new(Labels::new([("container_name", "web"), ("hostname", "h")]));
    let s = |m: names::Metric, v| Sample {
        metric: Cow::Borrowed(m.name),
        kind: m.kind,
        unit: m.unit,
        labels: l.clone(),
        value: v,
    };
    Batch {
        timestamp: Timestamp::from_secs(100),
        samples: vec![
            s(names::CPU_USAGE, Value::Int(5)),
            s(names::CPU_USAGE_RATE, Value::Float(f64::NAN)),
            s(names::UPTIME, Value::Int(7)),
        ],
    }
}

#[test]
fn encodes_in_the_uri_schema_and_counts_what_it_cannot_write() {
    let (c, _) = config("influxdb:http://h:8086?schema=heapster-legacy&precision=s");
    let mut e = InfluxEncode::new(&c);
    let mut out = Vec::new();
    let r = e.encode(&batch(), &mut out);
    assert_eq!((r.items, r.unencodable), (2, 1));
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "cpu/usage_ns_cumulative,container_name=web,hostname=h value=5i 100\n\
         uptime_ms_cumulative,container_name=web,hostname=h value=7i 100\n"
    );
    let (c, _) = config("influxdb:http://h:8086?schema=cadvisor");
    let r = InfluxEncode::new(&c).encode(&batch(), &mut Vec::new());
    assert_eq!((r.items, r.unencodable), (1, 0), "unmapped is not dropped");
}

#[test]
fn write_urls_for_1x_and_2x() {
    let (c, common) = config("influxdb:http://h:8086/base/?db=k 8s&rp=one_week&precision=ms");
    let d = InfluxDeliver::new(&c, &common).unwrap();
    assert_eq!(
        d.write_url().as_str(),
        "http://h:8086/base/write?db=k+8s&rp=one_week&precision=ms"
    );
    let (c, common) = config("influxdb:http://h:8086?db=k8s");
    let d = InfluxDeliver::new(&c, &common).unwrap();
    assert_eq!(
        d.write_url().as_str(),
        "http://h:8086/write?db=k8s&precision=n",
        "no rp: the database's default policy"
    );
    let (c, common) = config("influxdb:https://h:8086?org=o&bucket=b&token=t&precision=us");
    let d = InfluxDeliver::new(&c, &common).unwrap();
    assert_eq!(
        d.write_url().as_str(),
        "https://h:8086/api/v2/write?org=o&bucket=b&precision=us"
    );
    assert_eq!(
        d.first_item(b"a value=1i 1\nb value=2i 2\n"),
        "a value=1i 1"
    );
}

#[test]
fn influx_error_answers_are_read() {
    assert_eq!(
        influx_error(r#"{"error":"database not found: \"k8s\""}"#),
        r#"database not found: "k8s""#
    );
    assert_eq!(influx_error(" plain text \n"), "plain text");
}

/// Collects what a sink writes (the stdout sink's writer, used here with line protocol).
#[derive(Clone, Default)]
struct Collect(Arc<std::sync::Mutex<Vec<u8>>>);

impl tokio::io::AsyncWrite for Collect {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        b: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.0.lock().unwrap().extend_from_slice(b);
        std::task::Poll::Ready(Ok(b.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_counters_keep_continuing_across_a_restart_of_the_sink() {
    let dir = tempfile::tempdir().unwrap();
    let out = Collect::default();
    let uri = "influxdb:http://h:8086?schema=heapster-legacy&precision=s&flush=0s";
    let (c, _) = config(uri);
    let spec = parse(uri).unwrap();
    let start = || {
        crate::SinkHandle::start_with(
            "legacy".into(),
            dir.path(),
            &spec,
            Box::new(InfluxEncode::new(&c)),
            crate::stdout::sink::StdoutDeliver::new(Box::new(out.clone())),
        )
        .unwrap()
    };
    let l = Arc::new(Labels::new([("container_name", "web")]));
    let cpu = |t: i64, v: i64| Batch {
        timestamp: Timestamp::from_secs(t),
        samples: vec![Sample {
            metric: Cow::Borrowed(names::CPU_USAGE.name),
            kind: names::CPU_USAGE.kind,
            unit: names::CPU_USAGE.unit,
            labels: l.clone(),
            value: Value::Int(v),
        }],
    };
    let buf = out.0.clone();
    let lines = move |n: usize| {
        let buf = buf.clone();
        async move {
            for _ in 0..200 {
                if String::from_utf8_lossy(&buf.lock().unwrap())
                    .lines()
                    .count()
                    >= n
                {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            panic!("fewer than {n} lines written");
        }
    };
    let s = start();
    s.send(&cpu(1, 100)).unwrap();
    s.send(&cpu(2, 10)).unwrap(); // reset: 100 carried
    lines(2).await;
    s.close(std::time::Duration::from_secs(5)).await;
    let s = start();
    s.send(&cpu(3, 20)).unwrap();
    s.send(&cpu(4, 5)).unwrap(); // another reset: 120 carried
    lines(4).await;
    drop(s);
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let values: Vec<&str> = text.lines().map(|l| l.split(' ').nth(1).unwrap()).collect();
    assert_eq!(
        values,
        ["value=100i", "value=110i", "value=120i", "value=125i"]
    );
}
