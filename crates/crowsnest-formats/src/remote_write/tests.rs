use std::borrow::Cow;
use std::sync::Arc;

use crowsnest_core::Timestamp;
use crowsnest_core::batch::{Batch, Labels, Sample as CSample, Value, names as cnames};
use proptest::prelude::*;
use prost::Message;

use super::*;

fn sample(m: cnames::Metric, labels: &Arc<Labels>, v: Value) -> CSample {
    CSample {
        metric: Cow::Borrowed(m.name),
        kind: m.kind,
        unit: m.unit,
        labels: labels.clone(),
        value: v,
    }
}

fn pairs(ts: &TimeSeries) -> Vec<(&str, &str)> {
    ts.labels
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect()
}

#[test]
fn a_batch_decodes_with_cadvisor_names_and_labels() {
    let c = Arc::new(Labels::new([
        ("id", "/docker/abc"),
        ("type", "sys_container"),
        ("container_name", "web"),
        ("nodename", "hostA"),
        ("hostname", "hostA"),
        ("labels", "app:web,io.k8s/tier:front"),
        ("zone.name", "eu"),
        ("pod_name", ""),
    ]));
    let b = Batch {
        timestamp: Timestamp::from_millis(1_700_000_000_123),
        samples: vec![
            sample(cnames::CPU_USAGE, &c, Value::Int(2_500_000_000)),
            sample(cnames::MEMORY_MAJOR_PAGE_FAULTS, &c, Value::Int(3)),
            sample(cnames::UPTIME, &c, Value::Int(60_000)),
            sample(cnames::CPU_USAGE_RATE, &c, Value::Float(250.0)),
        ],
    };
    let mut raw = Vec::new();
    let e = Encoder::new().encode(&b, &mut raw);
    assert_eq!(e.series, 4);
    let req = decode(&compress(&raw).unwrap()).unwrap();
    assert_eq!(req.timeseries.len(), 4);
    let base = [
        ("container_label_app", "web"),
        ("container_label_io_k8s_tier", "front"),
        ("id", "/docker/abc"),
        ("name", "web"),
        ("node", "hostA"),
        ("type", "sys_container"),
        ("zone_name", "eu"),
    ];
    let with = |name: &'static str, extra: &[(&'static str, &'static str)]| {
        let mut v: Vec<(&str, &str)> = base.to_vec();
        v.push(("__name__", name));
        v.extend_from_slice(extra);
        v.sort();
        v
    };
    let ts = &req.timeseries;
    assert_eq!(
        pairs(&ts[0]),
        with("container_cpu_usage_seconds_total", &[])
    );
    assert_eq!(
        ts[0].samples,
        [Sample {
            value: 2.5,
            timestamp: 1_700_000_000_123
        }]
    );
    assert_eq!(
        pairs(&ts[1]),
        with(
            "container_memory_failures_total",
            &[("failure_type", "pgmajfault"), ("scope", "container")]
        )
    );
    assert_eq!(pairs(&ts[2]), with("container_start_time_seconds", &[]));
    assert_eq!(ts[2].samples[0].value, 1_699_999_940.123);
    assert_eq!(pairs(&ts[3]), with("crowsnest_cpu_usage_rate_cores", &[]));
    assert_eq!(ts[3].samples[0].value, 0.25);
}

#[test]
fn concatenated_requests_are_one_request() {
    let c = Arc::new(Labels::new([("container_name", "a")]));
    let mut enc = Encoder::new();
    let mut raw = Vec::new();
    for t in 1..=3 {
        let b = Batch {
            timestamp: Timestamp::from_secs(t),
            samples: vec![sample(cnames::MEMORY_USAGE, &c, Value::Int(t))],
        };
        enc.encode(&b, &mut raw);
    }
    let req = WriteRequest::decode(raw.as_slice()).unwrap();
    let got: Vec<(i64, f64)> = req
        .timeseries
        .iter()
        .map(|t| (t.samples[0].timestamp, t.samples[0].value))
        .collect();
    assert_eq!(got, [(1000, 1.0), (2000, 2.0), (3000, 3.0)]);
}

#[test]
fn a_corrupt_body_is_an_error() {
    assert!(matches!(decode(b"\xff\xff\xff"), Err(Error::Snappy(_))));
    let body = compress(b"\x0a\x05ab").unwrap();
    assert!(matches!(decode(&body), Err(Error::Protobuf(_))));
}

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ,:=_./é-]{0,8}"
}

proptest! {
    #[test]
    fn encoding_decodes_back_with_prost(
        containers in proptest::collection::vec(
            (
                proptest::collection::vec((text(), text()), 0..6),
                proptest::collection::vec((0..cnames::ALL.len(), any::<i64>()), 1..5),
            ),
            1..4,
        ),
        t in -1_000_000_000_000i64..4_000_000_000_000,
    ) {
        let mut samples = Vec::new();
        for (labels, ss) in &containers {
            let l = Arc::new(Labels::new(labels.clone()));
            for &(i, v) in ss {
                samples.push(sample(cnames::ALL[i], &l, Value::Int(v)));
            }
        }
        let b = Batch { timestamp: Timestamp::from_millis(t), samples };
        let mut raw = Vec::new();
        let e = Encoder::new().encode(&b, &mut raw);
        prop_assert_eq!(e.series, b.samples.len());
        let req = decode(&compress(&raw).unwrap()).unwrap();
        prop_assert_eq!(req.timeseries.len(), b.samples.len());
        for (s, ts) in b.samples.iter().zip(&req.timeseries) {
            let names: Vec<&str> = ts.labels.iter().map(|l| l.name.as_str()).collect();
            let mut sorted = names.clone();
            sorted.sort();
            sorted.dedup();
            prop_assert_eq!(&names, &sorted, "sorted and unique");
            prop_assert!(ts.labels.iter().all(|l| !l.value.is_empty()));
            let name = ts.labels.iter().find(|l| l.name == "__name__").map(|l| l.value.clone());
            let want = names::lookup(&s.metric).map(|p| p.name.to_owned())
                .unwrap_or_else(|| names::by_rule(&s.metric, s.kind, s.unit).0);
            prop_assert_eq!(name, Some(want));
            prop_assert_eq!(ts.samples.len(), 1);
            prop_assert_eq!(ts.samples[0].timestamp, t);
            for (k, v) in map_labels(&s.labels) {
                if k != "failure_type" && k != "scope" {
                    let want = Label { name: k, value: v };
                    prop_assert!(ts.labels.contains(&want));
                }
            }
        }
    }
}
