//! influxd stopped mid-stream and started again: every sample sent during the outage
//! arrives, in order, once; also when the sink itself is restarted during the outage.

use std::time::{Duration, Instant};

use crowsnest_core::Timestamp;
use crowsnest_sinks::{DropReason, SinkHandle};
use crowsnest_testkit::servers::Server;
use serde_json::Value as Json;

use crate::common::*;

/// How long influxd stays down.
const OUTAGE: Duration = Duration::from_secs(30);
/// One batch every this often.
const EVERY: Duration = Duration::from_millis(50);

const URI_OPTS: &str = "flush=100ms&backoff_min=100ms&backoff_max=1s&timeout=2s";

/// Sends batch `i` (a gauge of value `i` at `base + i` ms) for `d`, from `*next` on.
async fn stream(s: &SinkHandle, base: i64, next: &mut i64, d: Duration) {
    let c = container("hostA", "web", "/docker/web");
    let until = Instant::now() + d;
    while Instant::now() < until {
        let t = Timestamp::from_millis(base + *next);
        s.send(&gauge_batch(t, &c, *next))
            .expect("send never fails here");
        *next += 1;
        tokio::time::sleep(EVERY).await;
    }
}

/// Every value 0..n arrived exactly at its own timestamp, none missing, none extra.
async fn assert_all_arrived(url: &str, db: &str, base: i64, n: i64) {
    let got = series(&influxql(url, db, "SELECT value FROM \"memory/usage\"", None).await);
    assert_eq!(got.len(), 1, "{got:?}");
    let rows = &got[0].rows;
    let want: Vec<Vec<Json>> = (0..n)
        .map(|i| {
            vec![
                Json::from(Timestamp::from_millis(base + i).nanos()),
                Json::from(i),
            ]
        })
        .collect();
    assert_eq!(rows.len(), want.len(), "count");
    assert_eq!(rows, &want, "every sample once, at its place in time");
}

fn outage_sink(url: &str, db: &str, queues: &std::path::Path) -> SinkHandle {
    sink(
        &format!("influxdb:{url}?db={db}&name={db}&{URI_OPTS}"),
        queues,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_influxd_outage_loses_nothing() {
    let Some(mut influx) = Server::influxd() else {
        return;
    };
    let url = influx.url();
    let queues = tempfile::tempdir().unwrap();
    let s = outage_sink(&url, "outage", queues.path());
    let base = (now_secs() - 600) * 1000;
    let mut next = 0;
    stream(&s, base, &mut next, Duration::from_secs(2)).await;
    influx.stop();
    let down_from = next;
    stream(&s, base, &mut next, OUTAGE).await;
    let st = s.stats();
    assert!(st.retries >= 3, "retried during the outage: {st:?}");
    assert!(st.pending_records > 0, "held while influxd is down");
    influx.start();
    stream(&s, base, &mut next, Duration::from_secs(2)).await;
    drained(&s, Duration::from_secs(60)).await;
    assert!(
        next - down_from > 100,
        "{} batches sent during the outage",
        next - down_from
    );
    assert_all_arrived(&url, "outage", base, next).await;
    let st = s.stats();
    assert_eq!(
        st.sent_records, next as u64,
        "each batch delivered once: {st:?}"
    );
    assert_eq!(
        st.dropped(DropReason::Rejected) + st.dropped(DropReason::DiskFull),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_restarted_during_an_outage_delivers_what_was_queued() {
    let Some(mut influx) = Server::influxd() else {
        return;
    };
    let url = influx.url();
    let queues = tempfile::tempdir().unwrap();
    let s = outage_sink(&url, "restart", queues.path());
    let base = (now_secs() - 600) * 1000;
    let mut next = 0;
    stream(&s, base, &mut next, Duration::from_secs(2)).await;
    influx.stop();
    stream(&s, base, &mut next, OUTAGE / 2).await;
    // crowsnest goes away mid-outage, with a queue on disk.
    let queued = s.stats().pending_records;
    assert!(queued > 0);
    s.close(Duration::from_secs(5)).await;
    let s = outage_sink(&url, "restart", queues.path());
    assert_eq!(
        s.stats().pending_records,
        queued,
        "the queue survived the restart"
    );
    stream(&s, base, &mut next, OUTAGE / 2).await;
    influx.start();
    stream(&s, base, &mut next, Duration::from_secs(2)).await;
    drained(&s, Duration::from_secs(60)).await;
    assert_all_arrived(&url, "restart", base, next).await;
}
