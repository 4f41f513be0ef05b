//! The stdout sink, and through it the queue and the delivery task without a network: a
//! writer the test controls (works, fails, or hangs).

use std::borrow::Cow;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crowsnest_core::Timestamp;
use crowsnest_core::batch::{Batch, Labels, Sample, Value, names};
use tokio::io::AsyncWrite;

use super::sink::{StdoutDeliver, StdoutEncode};
use crate::uri::parse;
use crate::{DropReason, Encode, SinkHandle};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Work,
    Fail,
    Hang,
}

/// A writer into a shared buffer whose behaviour the test switches.
#[derive(Clone)]
struct Out {
    buf: Arc<Mutex<Vec<u8>>>,
    mode: Arc<Mutex<Mode>>,
}

impl Out {
    fn new(mode: Mode) -> Self {
        Out {
            buf: Arc::default(),
            mode: Arc::new(Mutex::new(mode)),
        }
    }

    fn set(&self, m: Mode) {
        *self.mode.lock().unwrap() = m;
    }

    fn values(&self) -> Vec<i64> {
        let text = String::from_utf8(self.buf.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["value"].as_i64().unwrap()
            })
            .collect()
    }
}

impl AsyncWrite for Out {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        b: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match *self.mode.lock().unwrap() {
            Mode::Work => {
                self.buf.lock().unwrap().extend_from_slice(b);
                Poll::Ready(Ok(b.len()))
            }
            Mode::Fail => Poll::Ready(Err(std::io::Error::other("broken pipe (test)"))),
            Mode::Hang => Poll::Pending,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn batch(v: i64) -> Batch {
    let l = Arc::new(Labels::new([("container_name", "web")]));
    Batch {
        timestamp: Timestamp::from_secs(v),
        samples: vec![Sample {
            metric: Cow::Borrowed(names::CPU_USAGE.name),
            kind: names::CPU_USAGE.kind,
            unit: names::CPU_USAGE.unit,
            labels: l,
            value: Value::Int(v),
        }],
    }
}

fn start(dir: &std::path::Path, out: &Out, uri: &str) -> SinkHandle {
    let spec = parse(uri).unwrap();
    SinkHandle::start_with(
        "test".into(),
        dir,
        &spec,
        Box::new(StdoutEncode),
        StdoutDeliver::new(Box::new(out.clone())),
    )
    .unwrap()
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn json_lines_one_object_per_sample() {
    let mut out = Vec::new();
    let mut b = batch(5);
    b.samples.push(Sample {
        value: Value::Float(f64::NAN),
        ..b.samples[0].clone()
    });
    let e = StdoutEncode.encode(&b, &mut out);
    assert_eq!(e.items, 2);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "{\"timestamp\":\"1970-01-01T00:00:05Z\",\"metric\":\"cpu/usage\",\"kind\":\"cumulative\",\"unit\":\"nanoseconds\",\"labels\":{\"container_name\":\"web\"},\"value\":5}\n\
         {\"timestamp\":\"1970-01-01T00:00:05Z\",\"metric\":\"cpu/usage\",\"kind\":\"cumulative\",\"unit\":\"nanoseconds\",\"labels\":{\"container_name\":\"web\"},\"value\":null}\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_in_order_retries_failures_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let out = Out::new(Mode::Work);
    let sink = start(
        dir.path(),
        &out,
        "stdout:?flush=0s&backoff_min=10ms&backoff_max=50ms",
    );
    for v in 0..50 {
        sink.send(&batch(v)).unwrap();
    }
    until("50 lines", || out.values().len() == 50).await;
    out.set(Mode::Fail);
    for v in 50..100 {
        sink.send(&batch(v)).unwrap();
    }
    until("retries", || sink.stats().retries >= 3).await;
    assert!(sink.stats().last_error.unwrap().contains("broken pipe"));
    out.set(Mode::Work);
    until("100 lines", || out.values().len() == 100).await;
    assert_eq!(
        out.values(),
        (0..100).collect::<Vec<_>>(),
        "in order, none twice"
    );
    let s = sink.stats();
    assert_eq!((s.sent_records, s.sent_items), (100, 100));
    assert_eq!((s.pending_records, s.queued_records_total), (0, 100));
    assert_eq!(s.dropped(DropReason::DiskFull), 0);
    assert!(s.last_error.is_none());
    sink.close(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_sink_never_blocks_send_and_the_queue_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let out = Out::new(Mode::Hang);
    let sink = start(
        dir.path(),
        &out,
        "stdout:?flush=0s&timeout=200ms&backoff_min=10ms&backoff_max=50ms",
    );
    let t = Instant::now();
    for v in 0..2000 {
        sink.send(&batch(v)).unwrap();
    }
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "2000 sends took {:?} with a hung sink",
        t.elapsed()
    );
    until("a timeout retried", || sink.stats().retries >= 1).await;
    assert!(
        sink.stats()
            .last_error
            .unwrap()
            .contains("no answer within")
    );
    // Restart: the queue is still there and is delivered by the next sink.
    sink.close(Duration::from_secs(1)).await;
    out.set(Mode::Work);
    let q = crate::Queue::open(dir.path(), 256 << 20).unwrap();
    assert_eq!(q.pending_records(), 2000, "on disk after the sink stopped");
    drop(q);
    let sink = start(dir.path(), &out, "stdout:?flush=0s");
    until("2000 lines", || out.values().len() == 2000).await;
    assert_eq!(out.values(), (0..2000).collect::<Vec<_>>());
    until("2000 counted sent", || sink.stats().sent_records == 2000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batching_waits_for_the_flush_interval_or_the_size() {
    let dir = tempfile::tempdir().unwrap();
    let out = Out::new(Mode::Work);
    let sink = start(dir.path(), &out, "stdout:?flush=1h&batch_bytes=2k");
    sink.send(&batch(1)).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(out.values().is_empty(), "held for the flush interval");
    // ~160 bytes a line: 2 KiB of batches goes without waiting.
    for v in 2..20 {
        sink.send(&batch(v)).unwrap();
    }
    until("a full batch", || sink.stats().requests == 1).await;
    let s = sink.stats();
    assert!(s.sent_bytes <= 2048 && s.sent_records >= 10, "{s:?}");
    assert!(
        s.pending_records > 0,
        "the rest waits for the flush interval: {s:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_budget_drops_the_oldest_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = Out::new(Mode::Hang);
    let sink = start(
        dir.path(),
        &out,
        "stdout:?flush=0s&queue_bytes=1M&timeout=100ms&backoff_min=10ms&backoff_max=20ms",
    );
    // ~40 KiB a batch: 100 of them do not fit in 1 MiB.
    let big = |v: i64| {
        let mut b = batch(v);
        let s = b.samples[0].clone();
        b.samples = vec![s; 250];
        b
    };
    for v in 0..100 {
        sink.send(&big(v)).unwrap();
    }
    let s = sink.stats();
    let dropped = s.dropped(DropReason::DiskFull);
    assert!(dropped > 0, "{s:?}");
    assert_eq!(s.dropped_items(DropReason::DiskFull), dropped * 250);
    assert!(s.queue_disk_bytes <= 1 << 20);
    assert_eq!(
        dropped + s.pending_records,
        100,
        "every batch is queued or counted"
    );
    out.set(Mode::Work);
    until("the rest delivered", || sink.stats().pending_records == 0).await;
    let mut got = out.values();
    assert_eq!(got.len() % 250, 0);
    got.dedup();
    assert!(
        got.windows(2).all(|w| w[0] < w[1]),
        "in order, none twice: {got:?}"
    );
    assert_eq!(
        got.len() as u64 + dropped,
        100,
        "delivered or counted: {got:?}"
    );
    assert!(
        got.ends_with(&(90..100).collect::<Vec<_>>()),
        "the newest kept: {got:?}"
    );
}
