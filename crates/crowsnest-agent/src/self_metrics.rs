//! The agent's own metrics (housekeeping durations, containers, errors), kept in atomics and
//! rendered on `/metrics` next to the container metrics.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (seconds) of the housekeeping duration histogram buckets.
pub const DURATION_BUCKETS: [f64; 10] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0,
];

/// A histogram with fixed buckets.
#[derive(Debug, Default)]
pub struct Histogram {
    inner: Mutex<HistogramData>,
}

/// A copy of a histogram's counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistogramData {
    /// Cumulative counts per bucket of [`DURATION_BUCKETS`].
    pub buckets: [u64; 10],
    /// Sum of observations.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

impl Histogram {
    /// Records one observation in seconds.
    pub fn observe(&self, secs: f64) {
        let mut d = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for (i, b) in DURATION_BUCKETS.iter().enumerate() {
            if secs <= *b {
                d.buckets[i] += 1;
            }
        }
        d.sum += secs;
        d.count += 1;
    }

    /// A copy of the counts.
    pub fn snapshot(&self) -> HistogramData {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Counters and histograms of the agent itself.
#[derive(Debug, Default)]
pub struct SelfMetrics {
    /// Duration of one container's housekeeping (all its files).
    pub container_housekeeping: Histogram,
    /// Duration of one scheduler pass over every container that was due.
    pub housekeeping_pass: Histogram,
    /// Collection errors (other than a container going away).
    pub collection_errors: AtomicU64,
    /// Containers added since start.
    pub containers_added: AtomicU64,
    /// Containers removed since start.
    pub containers_removed: AtomicU64,
    /// Housekeeping rounds that started late by more than one interval.
    pub housekeeping_late: AtomicU64,
    /// The per-container filesystem usage walker's work.
    pub disk_usage: DiskUsageMetrics,
}

/// What the filesystem usage walker did (writable layers and logs of runtime containers).
#[derive(Debug, Default)]
pub struct DiskUsageMetrics {
    /// Walks completed.
    pub walks: AtomicU64,
    /// Entries (files, directories) visited by completed and abandoned walks.
    pub entries: AtomicU64,
    /// CPU time of the walker thread while walking, in nanoseconds.
    pub cpu_ns: AtomicU64,
    /// Walks given up because the tree had more entries than allowed.
    pub skipped_too_large: AtomicU64,
    /// Walks given up because they worked longer than allowed.
    pub skipped_too_slow: AtomicU64,
    /// Walks that failed because a directory could not be read.
    pub failed: AtomicU64,
    /// Containers whose usage is absent now because their walk is too expensive.
    pub skipped_containers: AtomicU64,
}

impl DiskUsageMetrics {
    /// Adds the `crowsnest_disk_usage_*` families to a `/metrics` body whose families are
    /// sorted by name, where they belong in that order (at the end of another body).
    pub fn encode(&self, out: &mut String) {
        use crowsnest_formats::prometheus::MetricType;
        use crowsnest_formats::prometheus::text::{write_header, write_sample};
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
        let mut text = String::new();
        let name = "crowsnest_disk_usage_skipped_containers";
        write_header(
            &mut text,
            name,
            "Containers whose filesystem usage is absent because walking it is too expensive.",
            MetricType::Gauge,
        );
        write_sample(&mut text, name, &[], load(&self.skipped_containers), None);
        let name = "crowsnest_disk_usage_skipped_total";
        write_header(
            &mut text,
            name,
            "Walks given up or failed, by reason.",
            MetricType::Counter,
        );
        for (reason, c) in [
            ("too_large", &self.skipped_too_large),
            ("too_slow", &self.skipped_too_slow),
            ("unreadable", &self.failed),
        ] {
            write_sample(&mut text, name, &[("reason", reason)], load(c), None);
        }
        let counters: [(&str, &str, f64); 3] = [
            (
                "crowsnest_disk_usage_walk_cpu_seconds_total",
                "CPU time of the filesystem usage walker.",
                load(&self.cpu_ns) / 1e9,
            ),
            (
                "crowsnest_disk_usage_walk_entries_total",
                "Files and directories visited by the filesystem usage walker.",
                load(&self.entries),
            ),
            (
                "crowsnest_disk_usage_walks_total",
                "Walks over containers' writable layers and logs completed.",
                load(&self.walks),
            ),
        ];
        for (name, help, value) in counters {
            write_header(&mut text, name, help, MetricType::Counter);
            write_sample(&mut text, name, &[], value, None);
        }
        // Before the first family that sorts after these.
        let last = "crowsnest_disk_usage_walks_total";
        let mut at = 0;
        let place = out.split_inclusive('\n').find_map(|line| {
            let here = at;
            at += line.len();
            let family = line.strip_prefix("# HELP ")?.split(' ').next()?;
            (family > last).then_some(here)
        });
        match place {
            Some(at) => out.insert_str(at, &text),
            None => out.push_str(&text),
        }
    }
}

impl SelfMetrics {
    /// Adds one to a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
