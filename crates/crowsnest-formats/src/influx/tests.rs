//! Line protocol against InfluxData's own parser (`influxdb-line-protocol`, the IOx parser) as
//! an independent oracle, and each schema's exact text.

use std::borrow::Cow;
use std::sync::Arc;

use crowsnest_core::Timestamp;
use crowsnest_core::batch::{Batch, Kind, Labels, Sample, Unit, Value, names};
use influxdb_line_protocol::{FieldValue, ParsedLine, parse_lines};
use proptest::prelude::*;

use super::*;

/// What the oracle read: measurement, tags, fields, timestamp.
#[derive(Debug, Clone, PartialEq)]
struct Line {
    measurement: String,
    tags: Vec<(String, String)>,
    fields: Vec<(String, F)>,
    ts: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
enum F {
    I(i64),
    Fl(f64),
    S(String),
}

fn read(p: &ParsedLine<'_>) -> Line {
    Line {
        measurement: p.series.measurement.to_string(),
        tags: p
            .series
            .tag_set
            .iter()
            .flatten()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        fields: p
            .field_set
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    FieldValue::I64(i) => F::I(*i),
                    FieldValue::F64(f) => F::Fl(*f),
                    FieldValue::String(s) => F::S(s.to_string()),
                    other => panic!("unexpected field {other:?}"),
                };
                (k.to_string(), v)
            })
            .collect(),
        ts: p.timestamp,
    }
}

fn parse_all(text: &str) -> Vec<Line> {
    assert!(text.is_empty() || text.ends_with('\n'));
    parse_lines(text)
        .map(|r| read(&r.unwrap_or_else(|e| panic!("oracle rejects {text:?}: {e}"))))
        .collect()
}

/// Names and values with every character the escaping rules care about. Tabs, NUL and `\\`
/// runs are left out: the IOx parser reads them differently from influxd 1.x (tab ends a
/// token for it; it turns `\\` into `\`), and influxd's own reading is checked by the sinks'
/// real-server tests.
fn text() -> impl Strategy<Value = String> {
    proptest::string::string_regex(r#"[a-zA-Z0-9 ,="\\_.:/#é\n-]{1,10}"#)
        .expect("valid regex")
        .prop_filter("no backslash runs", |s| !s.contains(r"\\"))
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |f| f.is_finite()),
        Just(0.0),
        Just(-0.0),
        Just(1e300),
        Just(5.0),
    ]
}

proptest! {
    #[test]
    fn writer_round_trips_through_an_independent_parser(
        m in text().prop_filter("no comment", |s| !s.starts_with('#') && !s.starts_with(' ')),
        tags in proptest::collection::vec((text(), text()), 0..5),
        int_field in any::<i64>(),
        float_field in float(),
        string_field in text(),
        ts in any::<i64>(),
    ) {
        let mut out = String::new();
        line::measurement(&mut out, &m);
        let mut want_tags = Vec::new();
        for (k, v) in &tags {
            if line::tag(&mut out, k, v) {
                want_tags.push((line::stored(k), line::stored(v)));
            }
        }
        out.push_str(" i=");
        line::int(&mut out, int_field);
        out.push_str(",f=");
        prop_assert!(line::float(&mut out, float_field));
        out.push_str(",s=");
        line::string(&mut out, &string_field);
        out.push(' ');
        line::itoa(&mut out, ts);
        out.push('\n');
        let got = parse_all(&out);
        prop_assert_eq!(got.len(), 1, "{}", out);
        let want = Line {
            measurement: line::stored(&m),
            tags: want_tags,
            fields: vec![
                ("i".into(), F::I(int_field)),
                ("f".into(), F::Fl(float_field)),
                ("s".into(), F::S(string_field.clone())),
            ],
            ts: Some(ts),
        };
        prop_assert_eq!(&got[0], &want, "{}", out);
    }

    #[test]
    fn heapster_and_legacy_schemas_round_trip(batch in batch(), ts in 0i64..4_000_000_000_000_000_000) {
        let mut batch = batch;
        batch.timestamp = Timestamp(ts);
        // heapster: one line per sample, measurement = canonical name.
        let mut enc = Encoder::new(Options::default());
        let mut out = String::new();
        let e = enc.encode(&batch, &mut out);
        prop_assert_eq!(e.lines, batch.samples.len());
        let got = parse_all(&out);
        for (s, l) in batch.samples.iter().zip(&got) {
            prop_assert_eq!(&l.measurement, &*s.metric);
            let mut want: Vec<(String, String)> = s.labels.iter()
                .filter(|(k, v)| {
                    !["hostname", "host_id", "namespace_id", "pod_id", "id", "cluster_name"]
                        .contains(k) && line::tag_allowed(k, v)
                })
                .map(|(k, v)| (line::stored(k), line::stored(v)))
                .collect();
            want.push(("cluster_name".into(), "default".into()));
            want.sort();
            let mut tags = l.tags.clone();
            tags.sort();
            prop_assert_eq!(tags, want);
            prop_assert_eq!(&l.fields, &vec![("value".to_string(), field(s.value))]);
            prop_assert_eq!(l.ts, Some(ts));
        }
        // legacy: name + unit + kind, era labels; fresh encoder, so counters are as given.
        let mut enc = Encoder::new(Options { schema: Schema::HeapsterLegacy, ..Options::default() });
        let mut out = String::new();
        enc.encode(&batch, &mut out);
        let got = parse_all(&out);
        prop_assert_eq!(got.len(), batch.samples.len());
        for (s, l) in batch.samples.iter().zip(&got) {
            prop_assert_eq!(&l.measurement, &legacy::series_name(&s.metric, s.kind, s.unit));
            for (k, _) in &l.tags {
                prop_assert!(["container_name", "hostname", "labels", "pod_id", "pod_name",
                    "pod_namespace", "resource_id"].contains(&k.as_str()));
            }
            prop_assert_eq!(&l.fields, &vec![("value".to_string(), field(s.value))]);
        }
        // withfields: every sample is one field of some line.
        let mut enc = Encoder::new(Options {
            schema: Schema::Heapster { with_fields: true },
            ..Options::default()
        });
        let mut out = String::new();
        enc.encode(&batch, &mut out);
        let got = parse_all(&out);
        let fields: usize = got.iter().map(|l| l.fields.len()).sum();
        prop_assert_eq!(fields, batch.samples.len());
        // cadvisor: valid lines, one per mapped sample.
        let mut enc = Encoder::new(Options { schema: Schema::Cadvisor, ..Options::default() });
        let mut out = String::new();
        let e = enc.encode(&batch, &mut out);
        prop_assert_eq!(parse_all(&out).len(), e.lines);
        prop_assert_eq!(e.lines + e.unmapped, batch.samples.len());
    }
}

fn field(v: Value) -> F {
    match v {
        Value::Int(i) => F::I(i),
        Value::Float(f) => F::Fl(f),
    }
}

fn labels() -> impl Strategy<Value = Labels> {
    let key = prop_oneof![
        Just("container_name".to_string()),
        Just("hostname".to_string()),
        Just("nodename".to_string()),
        Just("id".to_string()),
        Just("type".to_string()),
        Just("pod_id".to_string()),
        Just("pod_name".to_string()),
        Just("namespace_name".to_string()),
        Just("labels".to_string()),
        Just("resource_id".to_string()),
        Just("time".to_string()),
        text(),
    ];
    let value = prop_oneof![text(), Just(String::new())];
    proptest::collection::vec((key, value), 0..8).prop_map(Labels::new)
}

fn batch() -> impl Strategy<Value = Batch> {
    let sample = (
        0..names::ALL.len(),
        prop_oneof![
            any::<i64>().prop_map(Value::Int),
            float().prop_map(Value::Float)
        ],
    );
    proptest::collection::vec((labels(), proptest::collection::vec(sample, 1..6)), 1..4).prop_map(
        |containers| {
            let mut samples = Vec::new();
            for (l, ss) in containers {
                let l = Arc::new(l);
                for (i, value) in ss {
                    let m = names::ALL[i];
                    samples.push(Sample {
                        metric: Cow::Borrowed(m.name),
                        kind: m.kind,
                        unit: m.unit,
                        labels: l.clone(),
                        value,
                    });
                }
            }
            Batch {
                timestamp: Timestamp(0),
                samples,
            }
        },
    )
}

fn sample(m: names::Metric, labels: &Arc<Labels>, v: Value) -> Sample {
    Sample {
        metric: Cow::Borrowed(m.name),
        kind: m.kind,
        unit: m.unit,
        labels: labels.clone(),
        value: v,
    }
}

fn container() -> Arc<Labels> {
    Arc::new(Labels::new([
        ("id", "/docker/abc"),
        ("type", "sys_container"),
        ("container_name", "web 1"),
        ("nodename", "hostA"),
        ("hostname", "hostA"),
        ("labels", "app:web,tier:front"),
        ("namespace_name", "prod"),
        ("pod_id", "uid-1"),
    ]))
}

fn known_batch() -> Batch {
    let c = container();
    let fs = Arc::new(c.with("resource_id", "/dev/sda1"));
    Batch {
        timestamp: Timestamp::from_secs(1_700_000_000),
        samples: vec![
            sample(names::CPU_USAGE, &c, Value::Int(5_000_000_000)),
            sample(names::MEMORY_USAGE, &c, Value::Int(1024)),
            sample(names::MEMORY_PAGE_FAULTS, &c, Value::Int(7)),
            sample(names::UPTIME, &c, Value::Int(60_000)),
            sample(names::CPU_USAGE_RATE, &c, Value::Float(250.5)),
            sample(names::FILESYSTEM_USAGE, &fs, Value::Int(4096)),
        ],
    }
}

fn encode(options: Options, b: &Batch) -> String {
    let mut out = String::new();
    Encoder::new(options).encode(b, &mut out);
    out
}

#[test]
fn heapster_schema_text() {
    let out = encode(Options::default(), &known_batch());
    let tags = r"cluster_name=default,container_name=web\ 1,labels=app:web\,tier:front,namespace_name=prod,nodename=hostA,type=sys_container";
    let fs_tags = r"cluster_name=default,container_name=web\ 1,labels=app:web\,tier:front,namespace_name=prod,nodename=hostA,resource_id=/dev/sda1,type=sys_container";
    let want = format!(
        "cpu/usage,{tags} value=5000000000i 1700000000000000000\n\
         memory/usage,{tags} value=1024i 1700000000000000000\n\
         memory/page_faults,{tags} value=7i 1700000000000000000\n\
         uptime,{tags} value=60000i 1700000000000000000\n\
         cpu/usage_rate,{tags} value=250.5 1700000000000000000\n\
         filesystem/usage,{fs_tags} value=4096i 1700000000000000000\n"
    );
    assert_eq!(out, want);
}

#[test]
fn heapster_with_fields_groups_a_family_per_line() {
    let out = encode(
        Options {
            schema: Schema::Heapster { with_fields: true },
            precision: Precision::Seconds,
            cluster_name: "c1".into(),
        },
        &known_batch(),
    );
    let tags = r"cluster_name=c1,container_name=web\ 1,labels=app:web\,tier:front,namespace_name=prod,nodename=hostA,type=sys_container";
    let fs_tags = r"cluster_name=c1,container_name=web\ 1,labels=app:web\,tier:front,namespace_name=prod,nodename=hostA,resource_id=/dev/sda1,type=sys_container";
    let want = format!(
        "cpu,{tags} usage=5000000000i,usage_rate=250.5 1700000000\n\
         memory,{tags} usage=1024i,page_faults=7i 1700000000\n\
         uptime,{tags} value=60000i 1700000000\n\
         filesystem,{fs_tags} usage=4096i 1700000000\n"
    );
    assert_eq!(out, want);
}

#[test]
fn legacy_schema_text() {
    let out = encode(
        Options {
            schema: Schema::HeapsterLegacy,
            precision: Precision::Milliseconds,
            ..Options::default()
        },
        &known_batch(),
    );
    let tags = r"container_name=web\ 1,hostname=hostA,labels=app:web\,tier:front,pod_id=uid-1,pod_namespace=prod";
    let want = format!(
        "cpu/usage_ns_cumulative,{tags} value=5000000000i 1700000000000\n\
         memory/usage_bytes_gauge,{tags} value=1024i 1700000000000\n\
         memory/page_faults_cumulative,{tags} value=7i 1700000000000\n\
         uptime_ms_cumulative,{tags} value=60000i 1700000000000\n\
         cpu/usage_rate_millicores_gauge,{tags} value=250.5 1700000000000\n\
         filesystem/usage_bytes_gauge,{tags},resource_id=/dev/sda1 value=4096i 1700000000000\n"
    );
    assert_eq!(out, want);
}

#[test]
fn legacy_counters_continue_when_a_container_is_made_again() {
    let mut enc = Encoder::new(Options {
        schema: Schema::HeapsterLegacy,
        ..Options::default()
    });
    let first = container();
    let again = Arc::new(first.with("id", "/docker/def"));
    let mut values = Vec::new();
    for (t, labels, cpu, up) in [
        (10, &first, 100, 10),
        (20, &first, 300, 20),
        (30, &again, 50, 5),
        (40, &again, 250, 15),
    ] {
        let b = Batch {
            timestamp: Timestamp::from_secs(t),
            samples: vec![
                sample(names::CPU_USAGE, labels, Value::Int(cpu)),
                sample(names::UPTIME, labels, Value::Int(up)),
            ],
        };
        let mut out = String::new();
        enc.encode(&b, &mut out);
        for l in parse_all(&out) {
            values.push((l.measurement, l.fields[0].1.clone()));
        }
    }
    let cpu: Vec<_> = values
        .iter()
        .filter(|(m, _)| m == "cpu/usage_ns_cumulative")
        .map(|(_, v)| v.clone())
        .collect();
    assert_eq!(cpu, [F::I(100), F::I(300), F::I(350), F::I(550)]);
    let up: Vec<_> = values
        .iter()
        .filter(|(m, _)| m == "uptime_ms_cumulative")
        .map(|(_, v)| v.clone())
        .collect();
    assert_eq!(
        up,
        [F::I(10), F::I(20), F::I(5), F::I(15)],
        "uptime as it is"
    );
}

#[test]
fn cadvisor_schema_text() {
    let out = encode(
        Options {
            schema: Schema::Cadvisor,
            ..Options::default()
        },
        &known_batch(),
    );
    let tags = r"app=web,container_name=web\ 1,machine=hostA,tier=front";
    let want = format!(
        "cpu_usage_total,{tags} value=5000000000i 1700000000000000000\n\
         memory_usage,{tags} value=1024i 1700000000000000000\n\
         memory_failure,app=web,container_name=web\\ 1,failure_type=pgfault,machine=hostA,scope=container,tier=front value=7i 1700000000000000000\n\
         fs_usage,app=web,container_name=web\\ 1,device=/dev/sda1,machine=hostA,tier=front,type=usage value=4096i 1700000000000000000\n"
    );
    assert_eq!(out, want);
    let mut enc = Encoder::new(Options {
        schema: Schema::Cadvisor,
        ..Options::default()
    });
    let e = enc.encode(&known_batch(), &mut String::new());
    assert_eq!(
        (e.lines, e.unmapped),
        (4, 2),
        "uptime and usage_rate unmapped"
    );
}

#[test]
fn unwritable_floats_are_counted_not_written() {
    let c = container();
    let b = Batch {
        timestamp: Timestamp::from_secs(1),
        samples: vec![
            sample(names::CPU_USAGE_RATE, &c, Value::Float(f64::NAN)),
            sample(names::MEMORY_USAGE, &c, Value::Int(1)),
        ],
    };
    for schema in [
        Schema::Heapster { with_fields: false },
        Schema::Heapster { with_fields: true },
        Schema::HeapsterLegacy,
    ] {
        let mut enc = Encoder::new(Options {
            schema,
            ..Options::default()
        });
        let mut out = String::new();
        let e = enc.encode(&b, &mut out);
        assert_eq!((e.lines, e.unwritable), (1, 1), "{schema:?}: {out}");
        assert_eq!(parse_all(&out).len(), 1);
    }
    let _ = (Kind::Gauge, Unit::Count);
}

#[test]
fn precision_converts_and_parses() {
    let t = Timestamp(1_700_000_000_123_456_789);
    assert_eq!(Precision::Nanoseconds.convert(t), 1_700_000_000_123_456_789);
    assert_eq!(Precision::Microseconds.convert(t), 1_700_000_000_123_456);
    assert_eq!(Precision::Milliseconds.convert(t), 1_700_000_000_123);
    assert_eq!(Precision::Seconds.convert(t), 1_700_000_000);
    assert_eq!(Precision::Seconds.convert(Timestamp(-1)), -1);
    assert_eq!(Precision::parse("u"), Some(Precision::Microseconds));
    assert_eq!(Precision::parse("h"), None);
    assert_eq!(Precision::Microseconds.v1_param(), "u");
    assert_eq!(Precision::Microseconds.v2_param(), "us");
}
