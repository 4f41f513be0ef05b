use std::borrow::Cow;
use std::sync::Arc;

use crowsnest_core::Timestamp;
use crowsnest_core::batch::{Batch, Labels, Sample, Value, names};
use crowsnest_formats::remote_write as rw;

use super::sink::{RemoteWriteDeliver, RemoteWriteEncode};
use crate::uri::{Kind, parse};
use crate::{Deliver, Encode};

fn batch(t: i64, v: i64) -> Batch {
    let l = Arc::new(Labels::new([("container_name", "web")]));
    Batch {
        timestamp: Timestamp::from_secs(t),
        samples: vec![Sample {
            metric: Cow::Borrowed(names::MEMORY_USAGE.name),
            kind: names::MEMORY_USAGE.kind,
            unit: names::MEMORY_USAGE.unit,
            labels: l,
            value: Value::Int(v),
        }],
    }
}

#[test]
fn queued_requests_concatenate_and_describe_their_first_series() {
    let mut e = RemoteWriteEncode::default();
    let mut body = Vec::new();
    assert_eq!(e.encode(&batch(1, 10), &mut body).items, 1);
    assert_eq!(e.encode(&batch(2, 20), &mut body).items, 1);
    let req = rw::decode(&rw::compress(&body).unwrap()).unwrap();
    assert_eq!(req.timeseries.len(), 2);
    let spec = parse("prometheus:http://127.0.0.1:9090").unwrap();
    let Kind::RemoteWrite(c) = spec.kind else {
        panic!("remote write")
    };
    let d = RemoteWriteDeliver::new(&c, &spec.common).unwrap();
    assert_eq!(
        d.first_item(&body),
        r#"{__name__="container_memory_usage_bytes",name="web"} 10 @1000"#
    );
    assert!(d.first_item(b"\xff\xff").starts_with("(undecodable"));
}
