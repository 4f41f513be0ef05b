//! `scripts/bench.sh sinks`: prints `name value unit` lines.
//!
//! * `lp_encode_lines_per_s`: line protocol (Heapster schema) from canonical batches, one
//!   core; the goal is >= 3 M lines/s (shared/reference/perf.md 2.6: 201 ns/line floor for a
//!   cached series key).
//! * `lp_encode_legacy_lines_per_s`: the same in the legacy schema (series names built per
//!   sample, counter offsets looked up).
//! * `remote_write_encode_samples_per_s`: remote write protobuf, uncompressed, one core.
//! * `influx_e2e_points_per_s`: from `send()` to stored in a real influxd on 127.0.0.1
//!   (queue, HTTP, influxd's own parsing and storage included).
//! * `cpu_ms_per_1000_points`: CPU time this process (crowsnest) spent during the e2e run,
//!   per 1000 points; influxd's own CPU is not counted.
//!
//! Options: `--containers N` (1000 per batch), `--seconds S` (2, per encode figure),
//! `--e2e-points P` (1000000).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a bench fails loudly"
)]

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crowsnest_core::Timestamp;
use crowsnest_core::batch::{Batch, Labels, Sample, Value, names};
use crowsnest_formats::influx::{Encoder, Options, Schema};
use crowsnest_formats::remote_write;
use crowsnest_sinks::{SinkHandle, parse_uri};
use crowsnest_testkit::servers::Server;

/// The canonical metrics of a typical container sample.
const METRICS: &[names::Metric] = &[
    names::UPTIME,
    names::CPU_USAGE,
    names::CPU_USAGE_USER,
    names::CPU_USAGE_SYSTEM,
    names::MEMORY_USAGE,
    names::MEMORY_MAX_USAGE,
    names::MEMORY_WORKING_SET,
    names::MEMORY_RSS,
    names::MEMORY_CACHE,
    names::MEMORY_SWAP,
    names::MEMORY_MAPPED_FILE,
    names::MEMORY_PAGE_FAULTS,
    names::MEMORY_MAJOR_PAGE_FAULTS,
    names::MEMORY_FAILCNT,
    names::NETWORK_RX,
    names::NETWORK_TX,
    names::NETWORK_RX_ERRORS,
    names::NETWORK_TX_ERRORS,
    names::PROCESS_COUNT,
    names::PROCESS_THREADS,
];

/// One batch of `n` containers with Kubernetes-style labels (long, like perf.md's).
fn batch(n: usize, t: i64, step: i64) -> Batch {
    let mut samples = Vec::with_capacity(n * METRICS.len());
    for c in 0..n {
        let labels = Arc::new(Labels::new([
            (
                "id",
                format!("/kubepods/burstable/pod{c:08x}-1c2d-4e5f-8a9b-0c1d2e3f4a5b/{c:064x}"),
            ),
            ("type", "pod_container".to_owned()),
            ("container_name", format!("app-server-{}", c % 50)),
            (
                "nodename",
                "worker-node-07.prod.example.internal".to_owned(),
            ),
            (
                "hostname",
                "worker-node-07.prod.example.internal".to_owned(),
            ),
            (
                "container_base_image",
                "registry.example.internal/team/app-server:1.24.3".to_owned(),
            ),
            (
                "pod_name",
                format!("app-server-{}-7d9c8b6f5-x{c:04}", c % 50),
            ),
            ("namespace_name", "production".to_owned()),
            ("pod_id", format!("{c:08x}-1c2d-4e5f-8a9b-0c1d2e3f4a5b")),
            (
                "labels",
                "app:app-server,pod-template-hash:7d9c8b6f5,tier:backend".to_owned(),
            ),
        ]));
        for (i, m) in METRICS.iter().enumerate() {
            samples.push(Sample {
                metric: Cow::Borrowed(m.name),
                kind: m.kind,
                unit: m.unit,
                labels: labels.clone(),
                value: Value::Int(step * 1_000_003 + (c * 31 + i) as i64),
            });
        }
    }
    Batch {
        timestamp: Timestamp::from_secs(t),
        samples,
    }
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} takes a number"))
        })
        .unwrap_or(default)
}

fn cpu_time() -> Duration {
    // SAFETY: rusage is plain data filled by the kernel for this process.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a local.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec * 1000) as u32);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn main() {
    let containers = arg("--containers", 1000) as usize;
    let seconds = arg("--seconds", 2);
    let e2e_points = arg("--e2e-points", 1_000_000);
    let b = batch(containers, 1_700_000_000, 1);
    let per_batch = b.samples.len() as f64;

    // Line protocol.
    let mut enc = Encoder::new(Options::default());
    let mut out = String::with_capacity(8 << 20);
    let (mut lines, mut bytes) = (0usize, 0usize);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(seconds) {
        out.clear();
        lines += enc.encode(&b, &mut out).lines;
        bytes += out.len();
    }
    let el = started.elapsed().as_secs_f64();
    println!("lp_encode_lines_per_s {:.0} lines/s", lines as f64 / el);
    println!("lp_encode_ns_per_line {:.1} ns", el * 1e9 / lines as f64);
    println!("lp_bytes_per_line {:.0} B", bytes as f64 / lines as f64);
    let mut legacy = Encoder::new(Options {
        schema: Schema::HeapsterLegacy,
        ..Options::default()
    });
    let mut lines = 0usize;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(seconds) {
        out.clear();
        lines += legacy.encode(&b, &mut out).lines;
    }
    println!(
        "lp_encode_legacy_lines_per_s {:.0} lines/s",
        lines as f64 / started.elapsed().as_secs_f64()
    );

    // Remote write.
    let mut rw = remote_write::Encoder::new();
    let mut raw = Vec::with_capacity(8 << 20);
    let mut n = 0usize;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(seconds) {
        raw.clear();
        n += rw.encode(&b, &mut raw).series;
    }
    let el = started.elapsed().as_secs_f64();
    println!(
        "remote_write_encode_samples_per_s {:.0} samples/s",
        n as f64 / el
    );
    let started = Instant::now();
    let compressed = remote_write::compress(&raw).unwrap();
    println!(
        "remote_write_snappy_mb_per_s {:.0} MB/s",
        raw.len() as f64 / 1e6 / started.elapsed().as_secs_f64()
    );
    println!(
        "remote_write_bytes_per_sample {:.1} B",
        compressed.len() as f64 / per_batch
    );

    // End to end into influxd.
    let Some(influx) = Server::influxd() else {
        eprintln!("influxd is missing: no e2e figures");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let queues = tempfile::tempdir().unwrap();
        let uri = format!(
            "influxdb:{}?db=bench&flush=200ms&batch_bytes=4M&queue_bytes=2G&timeout=60s",
            influx.url()
        );
        let sink = SinkHandle::start(&parse_uri(&uri).unwrap(), queues.path()).unwrap();
        // Warm up: create the database, open the connection.
        sink.send(&batch(1, 1_700_000_000, 0)).unwrap();
        while sink.stats().pending_records > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let batches = (e2e_points as f64 / per_batch).ceil() as i64;
        let base = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            - batches * 10;
        let made: Vec<Batch> = (0..batches)
            .map(|i| batch(containers, base + i * 10, i + 1))
            .collect();
        let cpu0 = cpu_time();
        let started = Instant::now();
        for b in &made {
            sink.send(b).unwrap();
        }
        let send_el = started.elapsed();
        let limit = Instant::now() + Duration::from_secs(600);
        while sink.stats().pending_records > 0 {
            assert!(Instant::now() < limit, "e2e did not finish in 10 minutes");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let el = started.elapsed().as_secs_f64();
        let cpu = cpu_time() - cpu0;
        let points = batches as f64 * per_batch;
        let st = sink.stats();
        assert_eq!(st.sent_items as f64, points + 20.0, "{st:?}");
        println!("influx_e2e_points_per_s {:.0} points/s", points / el);
        println!(
            "send_us_per_batch {:.0} us",
            send_el.as_secs_f64() * 1e6 / batches as f64
        );
        println!(
            "cpu_ms_per_1000_points {:.3} ms",
            cpu.as_secs_f64() * 1e3 / points * 1000.0
        );
        println!("influx_e2e_points {points:.0} points");
        sink.close(Duration::from_secs(5)).await;
    });
}
