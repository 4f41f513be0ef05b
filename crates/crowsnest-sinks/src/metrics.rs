//! Each sink's own counters, kept in atomics and read as a plain [`SinkStats`].

use crowsnest_formats::prometheus::MetricType;
use crowsnest_formats::prometheus::text::{write_header, write_sample};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Why data was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The queue's disk budget was full: the oldest records went.
    DiskFull,
    /// The far end refused the data for good (a 4xx other than 429).
    Rejected,
    /// A torn or corrupt queue file.
    Corrupt,
    /// The queue could not be written (disk error).
    QueueError,
    /// Values the format cannot carry (NaN in line protocol) or that the schema has no
    /// series for.
    Unencodable,
}

impl DropReason {
    /// A label value: `disk_full`, `rejected`, `corrupt`, `queue_error`, `unencodable`.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::DiskFull => "disk_full",
            DropReason::Rejected => "rejected",
            DropReason::Corrupt => "corrupt",
            DropReason::QueueError => "queue_error",
            DropReason::Unencodable => "unencodable",
        }
    }
}

/// A sink's counters at one moment. Records are batches as sent to [`crate::SinkHandle::send`];
/// items are what the format writes per sample (lines, series, JSON objects).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// The sink's name.
    pub name: String,
    /// Records accepted into the queue.
    pub queued_records_total: u64,
    /// Items accepted into the queue.
    pub queued_items_total: u64,
    /// Records waiting in the queue now.
    pub pending_records: u64,
    /// Items waiting in the queue now.
    pub pending_items: u64,
    /// Payload bytes waiting in the queue now.
    pub pending_bytes: u64,
    /// Bytes the queue holds on disk now.
    pub queue_disk_bytes: u64,
    /// Records delivered.
    pub sent_records: u64,
    /// Items delivered.
    pub sent_items: u64,
    /// Request bodies delivered (bytes before compression).
    pub sent_bytes: u64,
    /// Successful requests.
    pub requests: u64,
    /// Failed attempts that were retried.
    pub retries: u64,
    /// Records dropped, by reason ([`DropReason::as_str`]), in a fixed order.
    pub dropped_records: Vec<(&'static str, u64)>,
    /// Items dropped, by reason.
    pub dropped_items: Vec<(&'static str, u64)>,
    /// Sum of the latencies of successful requests.
    pub latency_sum: Duration,
    /// Latency of the last successful request.
    pub last_latency: Duration,
    /// The last error, if the last attempt failed.
    pub last_error: Option<String>,
}

impl SinkStats {
    /// Records dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        lookup(&self.dropped_records, reason)
    }

    /// Items dropped for `reason`.
    pub fn dropped_items(&self, reason: DropReason) -> u64 {
        lookup(&self.dropped_items, reason)
    }
}

fn lookup(v: &[(&'static str, u64)], reason: DropReason) -> u64 {
    v.iter()
        .find(|(r, _)| *r == reason.as_str())
        .map_or(0, |(_, n)| *n)
}

const REASONS: [DropReason; 5] = [
    DropReason::DiskFull,
    DropReason::Rejected,
    DropReason::Corrupt,
    DropReason::QueueError,
    DropReason::Unencodable,
];

fn index(r: DropReason) -> usize {
    REASONS
        .iter()
        .position(|x| *x == r)
        .expect("every reason is listed")
}

/// The live counters.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub(crate) queued_records: AtomicU64,
    pub(crate) queued_items: AtomicU64,
    pub(crate) sent_records: AtomicU64,
    pub(crate) sent_items: AtomicU64,
    pub(crate) sent_bytes: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) retries: AtomicU64,
    dropped_records: [AtomicU64; 5],
    dropped_items: [AtomicU64; 5],
    latency_sum_ns: AtomicU64,
    last_latency_ns: AtomicU64,
    pub(crate) last_error: Mutex<Option<String>>,
}

impl Metrics {
    pub(crate) fn drop(&self, reason: DropReason, records: u64, items: u64) {
        self.dropped_records[index(reason)].fetch_add(records, Relaxed);
        self.dropped_items[index(reason)].fetch_add(items, Relaxed);
    }

    pub(crate) fn delivered(&self, records: u64, items: u64, bytes: u64, latency: Duration) {
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.sent_records.fetch_add(records, Relaxed);
        self.sent_items.fetch_add(items, Relaxed);
        self.sent_bytes.fetch_add(bytes, Relaxed);
        self.requests.fetch_add(1, Relaxed);
        self.latency_sum_ns.fetch_add(ns, Relaxed);
        self.last_latency_ns.store(ns, Relaxed);
        self.set_error(None);
    }

    pub(crate) fn set_error(&self, e: Option<String>) {
        if let Ok(mut g) = self.last_error.lock() {
            *g = e;
        }
    }

    pub(crate) fn snapshot(&self, name: &str) -> SinkStats {
        let by = |a: &[AtomicU64; 5]| {
            REASONS
                .iter()
                .map(|r| (r.as_str(), a[index(*r)].load(Relaxed)))
                .collect()
        };
        SinkStats {
            name: name.to_owned(),
            queued_records_total: self.queued_records.load(Relaxed),
            queued_items_total: self.queued_items.load(Relaxed),
            sent_records: self.sent_records.load(Relaxed),
            sent_items: self.sent_items.load(Relaxed),
            sent_bytes: self.sent_bytes.load(Relaxed),
            requests: self.requests.load(Relaxed),
            retries: self.retries.load(Relaxed),
            dropped_records: by(&self.dropped_records),
            dropped_items: by(&self.dropped_items),
            latency_sum: Duration::from_nanos(self.latency_sum_ns.load(Relaxed)),
            last_latency: Duration::from_nanos(self.last_latency_ns.load(Relaxed)),
            last_error: self.last_error.lock().ok().and_then(|g| g.clone()),
            ..SinkStats::default()
        }
    }
}

/// Per-sink delivery counters in Prometheus text format: `crowsnest_sink_*{sink="<name>"}`
/// (the agent's and the hub's /metrics).
pub fn encode_metrics(out: &mut String, stats: &[SinkStats]) {
    type Field = fn(&SinkStats) -> f64;
    let families: [(&str, &str, MetricType, Field); 8] = [
        (
            "crowsnest_sink_sent_items_total",
            "Items (lines, series) delivered by the sink.",
            MetricType::Counter,
            |s| s.sent_items as f64,
        ),
        (
            "crowsnest_sink_sent_bytes_total",
            "Bytes delivered by the sink.",
            MetricType::Counter,
            |s| s.sent_bytes as f64,
        ),
        (
            "crowsnest_sink_requests_total",
            "Requests made by the sink.",
            MetricType::Counter,
            |s| s.requests as f64,
        ),
        (
            "crowsnest_sink_retries_total",
            "Requests the sink retried.",
            MetricType::Counter,
            |s| s.retries as f64,
        ),
        (
            "crowsnest_sink_pending_records",
            "Records queued on disk, not yet delivered.",
            MetricType::Gauge,
            |s| s.pending_records as f64,
        ),
        (
            "crowsnest_sink_queue_disk_bytes",
            "Bytes of the sink's queue on disk.",
            MetricType::Gauge,
            |s| s.queue_disk_bytes as f64,
        ),
        (
            "crowsnest_sink_request_duration_seconds_sum",
            "Time spent in the sink's requests.",
            MetricType::Counter,
            |s| s.latency_sum.as_secs_f64(),
        ),
        (
            "crowsnest_sink_last_request_duration_seconds",
            "Duration of the sink's last request.",
            MetricType::Gauge,
            |s| s.last_latency.as_secs_f64(),
        ),
    ];
    for (name, help, ty, field) in families {
        write_header(out, name, help, ty);
        for s in stats {
            write_sample(out, name, &[("sink", &s.name)], field(s), None);
        }
    }
    let name = "crowsnest_sink_dropped_items_total";
    write_header(
        out,
        name,
        "Items the sink dropped, by reason.",
        MetricType::Counter,
    );
    for s in stats {
        for (reason, n) in &s.dropped_items {
            write_sample(
                out,
                name,
                &[("reason", reason), ("sink", &s.name)],
                *n as f64,
                None,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_every_family_per_sink() {
        let s = SinkStats {
            name: "influxdb-127.0.0.1:8086-k8s".into(),
            pending_records: 3,
            queue_disk_bytes: 4096,
            sent_items: 120,
            sent_bytes: 9000,
            requests: 4,
            retries: 1,
            dropped_items: vec![("rejected", 2)],
            latency_sum: Duration::from_millis(1500),
            last_latency: Duration::from_millis(250),
            ..SinkStats::default()
        };
        let mut out = String::new();
        encode_metrics(&mut out, &[s]);
        let samples: Vec<&str> = out.lines().filter(|l| !l.starts_with('#')).collect();
        let l = r#"{sink="influxdb-127.0.0.1:8086-k8s"}"#;
        assert_eq!(
            samples,
            [
                format!("crowsnest_sink_sent_items_total{l} 120"),
                format!("crowsnest_sink_sent_bytes_total{l} 9000"),
                format!("crowsnest_sink_requests_total{l} 4"),
                format!("crowsnest_sink_retries_total{l} 1"),
                format!("crowsnest_sink_pending_records{l} 3"),
                format!("crowsnest_sink_queue_disk_bytes{l} 4096"),
                format!("crowsnest_sink_request_duration_seconds_sum{l} 1.5"),
                format!("crowsnest_sink_last_request_duration_seconds{l} 0.25"),
                r#"crowsnest_sink_dropped_items_total{reason="rejected",sink="influxdb-127.0.0.1:8086-k8s"} 2"#.to_owned(),
            ]
        );
        assert!(out.contains("# TYPE crowsnest_sink_pending_records gauge\n"));
        assert!(out.contains("# TYPE crowsnest_sink_requests_total counter\n"));
    }
}
