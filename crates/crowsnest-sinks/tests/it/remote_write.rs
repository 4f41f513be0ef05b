//! Remote write into real Prometheus (`--web.enable-remote-write-receiver`) and
//! VictoriaMetrics, read back with PromQL `rate()`.

use std::time::Duration;

use crowsnest_core::Timestamp;
use crowsnest_core::batch::{Value, names};
use crowsnest_sinks::DropReason;
use crowsnest_testkit::servers::Server;

use crate::common::*;

/// Three minutes of 5 s samples of a container burning `share` of a core, ending now.
async fn feed(sink: &crowsnest_sinks::SinkHandle, share: f64, end: i64) {
    let c = container("hostA", "web", "/docker/web");
    for i in 0..36 {
        let t = end - 180 + i * 5;
        let cpu = ((1000 + i * 5) as f64 * share * 1e9) as i64;
        sink.send(&batch(
            Timestamp::from_secs(t),
            vec![
                sample(names::CPU_USAGE, &c, Value::Int(cpu)),
                sample(names::MEMORY_WORKING_SET, &c, Value::Int(1 << 20)),
            ],
        ))
        .unwrap();
    }
}

async fn rate_reads_back(base: &str, uri: &str) {
    let queues = tempfile::tempdir().unwrap();
    let s = sink(uri, queues.path());
    let end = now_secs() - 2;
    feed(&s, 0.25, end).await;
    drained(&s, Duration::from_secs(30)).await;
    let st = s.stats();
    assert_eq!((st.sent_records, st.sent_items), (36, 72), "{st:?}");
    assert_eq!(st.dropped(DropReason::Rejected), 0, "{:?}", st.last_error);
    let q = r#"rate(container_cpu_usage_seconds_total{name="web",node="hostA"}[1m])"#;
    let got = eventually(
        "rate() over the written series",
        Duration::from_secs(30),
        || async {
            let r = promql(base, q, end).await;
            (!r.is_empty()).then_some(r)
        },
    )
    .await;
    assert_eq!(got.len(), 1, "{got:?}");
    let (labels, v) = &got[0];
    assert!(
        (v - 0.25).abs() < 0.01,
        "rate {v} where 0.25 core was burnt ({labels})"
    );
    assert_eq!(labels["id"], "/docker/web");
    assert_eq!(labels["type"], "sys_container");
    let ws = promql(
        base,
        r#"container_memory_working_set_bytes{name="web"}"#,
        end,
    )
    .await;
    assert_eq!(ws.len(), 1);
    assert_eq!(ws[0].1, 1_048_576.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_write_into_prometheus_reads_back_with_rate() {
    let Some(prom) = Server::prometheus() else {
        return;
    };
    let uri = format!("prometheus:{}?flush=50ms", prom.url());
    rate_reads_back(&prom.url(), &uri).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_write_into_victoriametrics_reads_back_with_rate() {
    let Some(vm) = Server::victoria_metrics() else {
        return;
    };
    let uri = format!("victoriametrics:{}?flush=50ms&batch_bytes=2k", vm.url());
    rate_reads_back(&vm.url(), &uri).await;
}
