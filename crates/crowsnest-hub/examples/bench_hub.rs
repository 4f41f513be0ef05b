//! The hub's benchmark: a real hub (scheduler, HTTP scrapes, processors, model) in this process
//! against N simulated nodes served by a load generator in a child process (N axum servers on
//! 127.0.0.1 answering `/api/v1.3/subcontainers/` in the agent's JSON shapes, M containers each:
//! system cgroups and Kubernetes pods, each sample about 1 KB like the real agent's).
//!
//! Each scrape brings `--samples-per-scrape` new samples per container (an agent collecting
//! every second, a hub at a 10 s resolution, by default); the load generator's clock moves by
//! that many seconds per request, so the hub can run at a shorter real resolution (4 s by
//! default: on two cores that still leaves every node's answer time to arrive before its
//! batch). The model keeps `--retention-points` batches (Heapster's 15 min at 10 s is 90), so
//! the default run takes about six minutes; `--retention-points 20` is a quicker look.
//!
//! Prints `name value unit` lines:
//! * `hub_bytes_per_container`: the growth of this process's resident memory from before the
//!   hub started to when the model is full, per simulated container;
//! * `hub_heap_bytes_per_container`: the growth of the allocator's bytes in use over the same
//!   time (what the hub holds; the rest of the resident growth is the allocator's free memory);
//! * `hub_cpu_ms_per_1000_containers_cycle`: this process's CPU time (user + system) per cycle
//!   per 1000 containers, in steady state (the load generator's is not counted);
//! * `hub_cycle_ms_p50` / `_p99`: from a cycle's start (before each node's jitter) to the model
//!   holding its batch; `hub_processing_ms_p50` / `_p99`: the processors and the model alone.
//!
//! Run: `scripts/bench.sh hub [--nodes 200] [--containers 100] [--resolution-ms 4000]
//! [--samples-per-scrape 10] [--retention-points 90] [--model-store store|memory]`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a bench fails loudly"
)]

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::{any, get};
use crowsnest_core::{Clock, SystemClock, Timestamp};
use crowsnest_hub::config::default_scrape_timeout;
use crowsnest_hub::{HubConfig, NodeAddr, SourceSpec};

#[derive(Debug, Clone)]
struct Opts {
    nodes: usize,
    containers: usize,
    resolution: Duration,
    samples: u64,
    points: u64,
    model: crowsnest_hub::ModelBackend,
}

fn opts() -> (Opts, Mode) {
    let mut o = Opts {
        nodes: 200,
        containers: 100,
        resolution: Duration::from_millis(4000),
        samples: 10,
        points: 90,
        model: crowsnest_hub::ModelBackend::default(),
    };
    let mut loadgen = false;
    let mut model_only = false;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let val = || {
            args.get(i + 1)
                .expect("a value after the flag")
                .parse::<u64>()
                .expect("a number")
        };
        match args[i].as_str() {
            "--loadgen" => {
                loadgen = true;
                i += 1;
                continue;
            }
            "--model-only" => {
                model_only = true;
                i += 1;
                continue;
            }
            "--nodes" => o.nodes = val() as usize,
            "--containers" => o.containers = val() as usize,
            "--resolution-ms" => o.resolution = Duration::from_millis(val()),
            "--samples-per-scrape" => o.samples = val(),
            "--retention-points" => o.points = val(),
            "--model-store" => {
                o.model = args
                    .get(i + 1)
                    .expect("store or memory after --model-store")
                    .parse()
                    .expect("store or memory");
            }
            other => panic!("unknown flag {other}"),
        }
        i += 2;
    }
    (
        o,
        if model_only {
            Mode::ModelOnly
        } else if loadgen {
            Mode::Loadgen
        } else {
            Mode::Hub
        },
    )
}

enum Mode {
    Hub,
    Loadgen,
    ModelOnly,
}

fn main() {
    let (o, mode) = opts();
    if let Mode::ModelOnly = mode {
        model_only(o);
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if let Mode::Loadgen = mode {
        rt.block_on(serve_nodes(o));
    } else {
        rt.block_on(bench(o));
    }
}

// ---------------------------------------------------------------- the load generator (child)

/// One simulated node: its containers' fixed JSON (name, spec) and its request count (its
/// clock moves `samples` seconds per request).
struct Node {
    idx: usize,
    containers: Vec<String>,
    requests: AtomicU64,
    samples: u64,
    base: i64,
}

fn hex(n: u64, len: usize) -> String {
    let mut s = String::new();
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while s.len() < len {
        write!(s, "{:016x}", x).unwrap();
        x = x.rotate_left(17).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    }
    s.truncate(len);
    s
}

/// `"name":...,"spec":{...}` of container `i` of node `n`: ten system cgroups, then pods of
/// three (sandbox and two containers) in five namespaces.
fn container_head(n: usize, i: usize) -> String {
    const SYSTEM: [&str; 10] = [
        "/",
        "/kubepods",
        "/kubepods/burstable",
        "/kubepods/besteffort",
        "/system.slice",
        "/system.slice/docker.service",
        "/system.slice/kubelet.service",
        "/system.slice/containerd.service",
        "/user.slice",
        "/docker",
    ];
    let created = "2026-01-01T00:00:00.123456789Z";
    if i < SYSTEM.len() {
        return format!(
            r#""name":"{}","spec":{{"creation_time":"{created}","has_cpu":true,"cpu":{{"limit":1024,"max_limit":0,"mask":"0-7","period":100000}},"has_memory":true,"memory":{{"limit":9223372036854771712}},"has_network":{},"has_processes":true,"has_diskio":true,"has_filesystem":{}}}"#,
            SYSTEM[i],
            i == 0,
            i == 0
        );
    }
    let k = i - SYSTEM.len();
    let (pod, role) = (k / 3, k % 3);
    let ns = format!("ns-{}", pod % 5);
    let pod_name = format!("app-{n}-{pod}-{}", hex((n * 1000 + pod) as u64, 5));
    let uid = hex((n * 1000 + pod) as u64 + 7, 32);
    let id = hex((n * 100_000 + i) as u64, 64);
    let cname = ["POD", "app", "sidecar"][role];
    let mut labels = format!(
        r#""io.kubernetes.container.name":"{cname}","io.kubernetes.pod.name":"{pod_name}","io.kubernetes.pod.namespace":"{ns}","io.kubernetes.pod.uid":"{uid}","io.kubernetes.docker.type":"{}","annotation.io.kubernetes.container.hash":"{}""#,
        if role == 0 { "podsandbox" } else { "container" },
        hex(i as u64, 8)
    );
    if role == 0 {
        write!(
            labels,
            r#","app":"app-{}","pod-template-hash":"{}""#,
            pod % 7,
            hex(pod as u64, 10)
        )
        .unwrap();
    }
    let shares = [2, 102, 51][role];
    let quota = if role == 1 { r#","quota":50000"# } else { "" };
    format!(
        r#""name":"/kubepods/burstable/pod{uid}/{id}","aliases":["k8s_{cname}_{pod_name}_{ns}_{uid}_0","{id}"],"namespace":"docker","spec":{{"creation_time":"{created}","labels":{{{labels}}},"has_cpu":true,"cpu":{{"limit":{shares},"max_limit":0,"mask":"0-7","period":100000{quota}}},"has_memory":true,"memory":{{"limit":{}}},"has_network":{},"has_processes":true,"has_diskio":true,"image":"registry.example.com/team/app:v1.{}"}}"#,
        if role == 1 {
            536_870_912u64
        } else {
            9_223_372_036_854_771_712
        },
        role == 0,
        pod % 10
    )
}

/// One sample of container `i` at `t` seconds: about 1 KB, the fields the real agent sends.
fn write_sample(out: &mut String, i: usize, t: i64, net: bool) {
    let ts = Timestamp::from_secs(t).add_nanos(123_456_789);
    let x = t as u64;
    let rate = 10_000_000 + (i as u64 % 50) * 5_000_000;
    let cpu = x * rate;
    let mem = (64 << 20) + ((x * 7 + i as u64 * 13) % 97) * 4096;
    write!(
        out,
        r#"{{"timestamp":"{ts}","cpu":{{"usage":{{"total":{cpu},"per_cpu_usage":[{},{}],"user":{},"system":{}}},"cfs":{{"periods":{},"throttled_periods":{},"throttled_time":{}}}}},"diskio":{{"io_service_bytes":[{{"device":"/dev/vda","major":253,"minor":0,"stats":{{"Async":{},"Discard":0,"Read":{},"Sync":{},"Total":{},"Write":{}}}}}],"io_serviced":[{{"device":"/dev/vda","major":253,"minor":0,"stats":{{"Async":{},"Discard":0,"Read":{},"Sync":{},"Total":{},"Write":{}}}}}]}},"memory":{{"usage":{},"max_usage":{},"cache":{},"rss":{},"swap":0,"mapped_file":{},"working_set":{mem},"total_active_file":{},"total_inactive_file":{},"kernel":{},"failcnt":0,"container_data":{{"pgfault":{},"pgmajfault":{}}},"hierarchical_data":{{"pgfault":{},"pgmajfault":{}}}}},"#,
        cpu / 2, cpu - cpu / 2, cpu * 9 / 10, cpu / 10, x * 10, x / 3, x * 1000,
        x * 4096, x * 1024, x * 3072, x * 4096, x * 3072,
        x, x / 2, x / 2, x, x / 2,
        mem + 8192, mem + (1 << 20), 8192, mem - 8192, 4096, 8192, 0, 98_304,
        x * 31, x / 100, x * 31, x / 100
    )
    .unwrap();
    if net {
        let b = x * 2000 + i as u64;
        write!(
            out,
            r#""network":{{"name":"eth0","rx_bytes":{b},"rx_packets":{},"rx_errors":0,"rx_dropped":0,"tx_bytes":{},"tx_packets":{},"tx_errors":0,"tx_dropped":0,"interfaces":[{{"name":"eth0","rx_bytes":{b},"rx_packets":{},"rx_errors":0,"rx_dropped":0,"tx_bytes":{},"tx_packets":{},"tx_errors":0,"tx_dropped":0}}]}},"#,
            b / 1000, b / 2, b / 2000, b / 1000, b / 2, b / 2000
        )
        .unwrap();
    }
    write!(
        out,
        r#""processes":{{"process_count":{},"threads_current":{},"threads_max":0}}}}"#,
        1 + i % 3,
        4 + i % 9
    )
    .unwrap();
}

async fn subcontainers(State(node): State<Arc<Node>>, body: Bytes) -> String {
    let k = node.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let now = node.base + (k * node.samples) as i64;
    let opts: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let num = opts["num_stats"].as_i64().unwrap_or(60);
    // Samples are at whole seconds plus 123456789 ns; `start` is inclusive, as in the agent.
    let start = opts["start"]
        .as_str()
        .and_then(|s| Timestamp::parse_rfc3339(s).ok())
        .map_or(now - 120, |t| {
            (t.nanos() - 123_456_789 + 999_999_999)
                .div_euclid(1_000_000_000)
                .max(now - 120)
        });
    let first = if num >= 0 {
        (now - num + 1).max(start)
    } else {
        start
    };
    node_json(&node, first, now)
}

/// A node's answer with every container's samples from `first` to `now` (seconds).
fn node_json(node: &Node, first: i64, now: i64) -> String {
    let mut out =
        String::with_capacity(node.containers.len() * 1200 * (now - first + 1).max(1) as usize);
    out.push('[');
    for (i, head) in node.containers.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('{');
        out.push_str(head);
        out.push_str(r#","stats":["#);
        let net = i == 0 || (i >= 10 && (i - 10) % 3 == 0);
        for (j, t) in (first..=now).enumerate() {
            if j > 0 {
                out.push(',');
            }
            write_sample(&mut out, node.idx * 1000 + i, t, net);
        }
        out.push_str("]}");
    }
    out.push(']');
    out
}

async fn machine() -> &'static str {
    r#"{"num_cores":8,"memory_capacity":34359738368}"#
}

async fn serve_nodes(o: Opts) {
    let base = SystemClock.now().nanos().div_euclid(1_000_000_000);
    let mut ports = Vec::with_capacity(o.nodes);
    for n in 0..o.nodes {
        let node = Arc::new(Node {
            idx: n,
            containers: (0..o.containers).map(|i| container_head(n, i)).collect(),
            requests: AtomicU64::new(0),
            samples: o.samples,
            base,
        });
        let app = Router::new()
            .route("/api/v1.3/subcontainers/", any(subcontainers))
            .route("/api/v1.3/machine", get(machine))
            .with_state(node);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        ports.push(listener.local_addr().unwrap().port());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
    }
    let list: Vec<String> = ports.iter().map(u16::to_string).collect();
    println!("ports {}", list.join(","));
    // Serve until the parent closes stdin (or dies).
    let _ = tokio::task::spawn_blocking(|| {
        let mut s = String::new();
        let _ = std::io::stdin().read_line(&mut s);
    })
    .await;
}

// ---------------------------------------------------------------- the model alone

fn heap_in_use() -> u64 {
    // SAFETY: mallinfo2 reads the allocator's counters and has no preconditions.
    let mi = unsafe { libc::mallinfo2() };
    mi.uordblks as u64 + mi.hblkhd as u64
}

/// The model alone, fed the batches the hub's processors make of the load generator's
/// answers (decoded in this process, no network): its heap bytes per container (what the
/// allocator has handed out to it, measured by dropping it) and the process's RSS growth.
fn model_only(o: Opts) {
    use crowsnest_hub::batch::DataBatch;
    use crowsnest_hub::model::ModelStore;
    use crowsnest_hub::process;
    use crowsnest_hub::scrape::{NodeScrapeState, decode};
    let base = SystemClock.now().nanos().div_euclid(1_000_000_000);
    let res = o.resolution.as_nanos() as i64;
    let nodes: Vec<Node> = (0..o.nodes)
        .map(|n| Node {
            idx: n,
            containers: (0..o.containers).map(|i| container_head(n, i)).collect(),
            requests: AtomicU64::new(0),
            samples: o.samples,
            base,
        })
        .collect();
    let mut states: Vec<(NodeScrapeState, Vec<Box<dyn process::Processor>>)> = (0..o.nodes)
        .map(|_| (NodeScrapeState::default(), process::node_pipeline(o.points)))
        .collect();
    let mut batch_procs = process::batch_pipeline();
    let t0 = crowsnest_core::Timestamp::from_secs(base);
    let clock = Arc::new(crowsnest_core::ManualClock::new(t0));
    let retention = o.resolution * (o.points as u32 - 1) + o.resolution / 2;
    let containers = (o.nodes * o.containers) as f64;
    let heap0 = heap_in_use();
    let rss0 = rss_bytes();
    let mut model: Box<dyn ModelStore> = match o.model {
        crowsnest_hub::ModelBackend::Memory => Box::new(
            crowsnest_hub::model::memory::MemoryModel::new(retention, 16 << 30),
        ),
        crowsnest_hub::ModelBackend::Store => Box::new(
            crowsnest_hub::model::store::StoreModel::open(None, retention, 16 << 30, clock.clone())
                .unwrap(),
        ),
    };
    let maintain = model.maintenance();
    let started = Instant::now();
    let mut insert_secs = Vec::new();
    for k in 0..o.points + 2 {
        let now = base + 1 + (k * o.samples) as i64;
        let ts = t0.add_nanos(res * k as i64);
        let mut batch = DataBatch {
            timestamp: ts,
            ..Default::default()
        };
        for (node, (state, pipeline)) in nodes.iter().zip(states.iter_mut()) {
            let json = node_json(node, now - o.samples as i64 + 1, now);
            let infos: Vec<crowsnest_core::model::ContainerInfo> =
                serde_json::from_str(&json).unwrap();
            drop(json);
            let scraped = decode(&format!("node-{:03}", node.idx), &infos, state);
            drop(infos);
            let mut b = DataBatch {
                sets: scraped.sets.into_iter().collect(),
                ..Default::default()
            };
            process::run(pipeline, &mut b);
            batch.sets.extend(b.sets);
        }
        process::run(&mut batch_procs, &mut batch);
        clock.set(ts);
        let t = Instant::now();
        model.insert(&batch);
        insert_secs.push(t.elapsed().as_secs_f64() * 1000.0);
        drop(batch);
        if let Some(m) = &maintain
            && k % 3 == 2
        {
            m();
        }
    }
    let heap1 = heap_in_use();
    let rss1 = rss_bytes();
    let st = model.stats();
    drop(maintain);
    drop(model);
    let heap2 = heap_in_use();
    eprintln!(
        "model store: {:?}, {} batches in {:.0} s",
        o.model,
        o.points + 2,
        started.elapsed().as_secs_f64()
    );
    println!("model_containers {} count", containers as u64);
    println!("model_batches {} count", st.batches);
    println!("model_series {} count", st.series);
    println!(
        "model_heap_bytes_per_container {:.0} bytes",
        heap1.saturating_sub(heap2) as f64 / containers
    );
    println!(
        "model_stats_bytes_per_container {:.0} bytes",
        st.bytes as f64 / containers
    );
    println!(
        "model_process_heap_bytes_per_container {:.0} bytes",
        heap1.saturating_sub(heap0) as f64 / containers
    );
    println!(
        "model_process_rss_bytes_per_container {:.0} bytes",
        rss1.saturating_sub(rss0) as f64 / containers
    );
    println!(
        "model_insert_ms_p50 {:.1} ms",
        percentile(&insert_secs, 0.5)
    );
}

// ---------------------------------------------------------------- the hub (this process)

fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

fn cpu_seconds() -> f64 {
    // SAFETY: rusage is plain data that getrusage fills.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a local.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn percentile(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(((s.len() as f64 - 1.0) * p).round() as usize)
        .copied()
        .unwrap_or(0.0)
}

async fn bench(o: Opts) {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--loadgen",
            "--nodes",
            &o.nodes.to_string(),
            "--containers",
            &o.containers.to_string(),
        ])
        .args(["--samples-per-scrape", &o.samples.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the load generator");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let ports: Vec<u16> = line
        .trim()
        .strip_prefix("ports ")
        .expect("the load generator's ports")
        .split(',')
        .map(|p| p.parse().unwrap())
        .collect();
    let nodes: Vec<NodeAddr> = ports
        .iter()
        .enumerate()
        .map(|(i, p)| NodeAddr {
            name: format!("node-{i:03}"),
            host: "127.0.0.1".into(),
            port: *p,
        })
        .collect();
    let mut cfg = HubConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        vec![SourceSpec::Static(nodes)],
    );
    cfg.resolution = o.resolution;
    cfg.scrape_timeout = default_scrape_timeout(o.resolution);
    cfg.retention = o.resolution * (o.points as u32 - 1) + o.resolution / 2;
    cfg.model_memory_limit = 16 << 30;
    cfg.model_store = o.model;
    let containers = (o.nodes * o.containers) as f64;
    let rss0 = rss_bytes();
    let heap0 = heap_in_use();
    let hub = crowsnest_hub::start(cfg, Arc::new(SystemClock))
        .await
        .unwrap();
    let batches = || crowsnest_hub::state::lock(&hub.state.metrics).batches;
    let wait_batches = |n: u64| async move {
        let limit = Instant::now() + o.resolution * (n as u32 + 5) * 2;
        while batches() < n && Instant::now() < limit {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let warm = 3;
    wait_batches(warm).await;
    let (cpu0, b0) = (cpu_seconds(), batches());
    let measured = 10.min(o.points);
    wait_batches(b0 + measured).await;
    let (cpu1, b1) = (cpu_seconds(), batches());
    wait_batches(o.points + 2).await;
    let rss1 = rss_bytes();
    let heap1 = heap_in_use();
    let m = crowsnest_hub::state::lock(&hub.state.metrics).clone();
    let healthy = hub
        .state
        .node_statuses()
        .iter()
        .filter(|n| n.healthy)
        .count();
    let skipped: u64 = hub.state.node_statuses().iter().map(|n| n.skipped).sum();
    let cycles: Vec<(f64, f64)> = m
        .recent_cycles
        .iter()
        .skip(warm as usize)
        .copied()
        .collect();
    let total: Vec<f64> = cycles.iter().map(|c| c.0 * 1000.0).collect();
    let processing: Vec<f64> = cycles.iter().map(|c| c.1 * 1000.0).collect();
    let per_cycle_cpu = (cpu1 - cpu0) / (b1 - b0).max(1) as f64;
    println!("hub_nodes {} count", o.nodes);
    println!("hub_containers {} count", containers as u64);
    println!("hub_samples_per_scrape {} count", o.samples);
    println!("hub_resolution_ms {} ms", o.resolution.as_millis());
    println!("hub_model_batches {} count", m.model.batches);
    eprintln!(
        "model store: {}",
        match o.model {
            crowsnest_hub::ModelBackend::Store => "store",
            crowsnest_hub::ModelBackend::Memory => "memory",
        }
    );
    println!(
        "hub_bytes_per_container {:.0} bytes",
        rss1.saturating_sub(rss0) as f64 / containers
    );
    println!(
        "hub_heap_bytes_per_container {:.0} bytes",
        heap1.saturating_sub(heap0) as f64 / containers
    );
    println!(
        "hub_model_bytes_per_container {:.0} bytes",
        m.model.bytes as f64 / containers
    );
    println!(
        "hub_rate_state_bytes_per_container {:.0} bytes",
        m.processor_bytes as f64 / containers
    );
    println!(
        "hub_cpu_ms_per_1000_containers_cycle {:.1} ms",
        per_cycle_cpu * 1000.0 / (containers / 1000.0)
    );
    println!("hub_cycle_ms_p50 {:.1} ms", percentile(&total, 0.5));
    println!("hub_cycle_ms_p99 {:.1} ms", percentile(&total, 0.99));
    println!(
        "hub_processing_ms_p50 {:.1} ms",
        percentile(&processing, 0.5)
    );
    println!(
        "hub_processing_ms_p99 {:.1} ms",
        percentile(&processing, 0.99)
    );
    println!("hub_late_results {} count", m.late_results);
    println!("hub_scrapes_skipped {} count", skipped);
    println!("hub_nodes_healthy {healthy} count");
    hub.stop().await.unwrap();
    drop(child.stdin.take());
    let _ = child.kill();
    let _ = child.wait();
}
