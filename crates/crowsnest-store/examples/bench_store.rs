//! The store's benchmark (`scripts/bench.sh store`). Prints `name value unit` lines.
//!
//!     bench_store --fixture FIXTURE.txt [--lp-out MIX.lp] [--containers 1000] [--minutes 60]
//!
//! The fixture is real agent output (see `benches/record_fixture.sh`): a few minutes of every
//! container on this machine at 1 s. It is replayed *looped in time*: each loop is shifted by
//! the recording's length, counters continue from where the previous loop ended (each series
//! adds its own increase over the recording), gauges repeat. For the scale figures it is also
//! replayed *widened*: each container repeated with `/r<k>` appended to its `id` label until
//! there are `--containers` of them. Time is a manual clock set to each batch's time, so an
//! hour replays in seconds.
//!
//! - the mix (the recorded containers, looped to `--minutes`): raw segment bytes per sample
//!   after compaction; all files per sample (rollups, series log too); the same for subsets
//!   of one kind (ns counters, byte counters, gauges, constants).
//! - ingest (the widened replay): samples per second of wall time spent in `append` on this
//!   one thread (maintenance runs every data minute and is timed apart), peak RSS.
//! - queries: `cpu/usage` of every container over the hour, raw and at a 1 m step (avg).
//!
//! With `--lp-out`, the mix is also written as InfluxDB line protocol (one measurement `c`,
//! labels as tags, one field per metric), for VictoriaMetrics side by side.

#[allow(dead_code)]
#[path = "common/fixture.rs"]
mod fixture;

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crowsnest_core::batch::{Batch, Kind, Labels, Sample, Unit, Value};
use crowsnest_core::{ManualClock, Timestamp};
use crowsnest_store::{Agg, Query, Selector, Store, StoreConfig, SyncPolicy};

const MIN: i64 = 60_000_000_000;
/// Replays start at an hour boundary.
const BASE: i64 = 1_699_999_200 * 1_000_000_000;

struct Replay<'a> {
    f: &'a fixture::Fixture,
    metrics: Vec<&'static str>,
    /// Per replica: per series' label set (by pointer) the replica's labels.
    labels: Vec<HashMap<usize, Arc<Labels>>>,
    /// Per series: what a counter adds per loop.
    inc: Vec<i64>,
    first: i64,
    span: i64,
}

impl<'a> Replay<'a> {
    fn new(f: &'a fixture::Fixture, replicas: usize) -> Self {
        let metrics = f
            .series
            .iter()
            .map(|s| &*Box::leak(s.metric.clone().into_boxed_str()))
            .collect();
        let labels = (0..replicas)
            .map(|r| {
                let mut m = HashMap::new();
                for s in &f.series {
                    let key = Arc::as_ptr(&s.labels) as usize;
                    m.entry(key).or_insert_with(|| {
                        if replicas == 1 {
                            s.labels.clone()
                        } else {
                            let id = s.labels.get("id").unwrap_or("/");
                            Arc::new(s.labels.with("id", &format!("{id}/r{r}")))
                        }
                    });
                }
                m
            })
            .collect();
        let mut firsts: Vec<Option<i64>> = vec![None; f.series.len()];
        let mut lasts: Vec<i64> = vec![0; f.series.len()];
        for b in &f.batches {
            for &(i, v) in &b.samples {
                if let Value::Int(x) = v {
                    firsts[i as usize].get_or_insert(x);
                    lasts[i as usize] = x;
                }
            }
        }
        let inc = f
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| match (s.kind, firsts[i]) {
                (Kind::Cumulative, Some(a)) => (lasts[i] - a).max(0),
                _ => 0,
            })
            .collect();
        let first = f.batches.first().map_or(0, |b| b.ts);
        let last = f.batches.last().map_or(0, |b| b.ts);
        Replay {
            f,
            metrics,
            labels,
            inc,
            first,
            span: last - first + 1_000_000_000,
        }
    }

    /// Calls `each` with every batch of `minutes` of replay, in time order, keeping the
    /// samples `keep` accepts.
    fn run(&self, minutes: i64, keep: &dyn Fn(u32) -> bool, each: &mut dyn FnMut(&Batch)) {
        let end = BASE + minutes * MIN;
        for l in 0.. {
            for b in &self.f.batches {
                let ts = BASE + (b.ts - self.first) + l * self.span;
                if ts >= end {
                    return;
                }
                for labels in &self.labels {
                    let samples: Vec<Sample> = b
                        .samples
                        .iter()
                        .filter(|(i, _)| keep(*i))
                        .map(|&(i, v)| {
                            let s = &self.f.series[i as usize];
                            let v = match v {
                                Value::Int(x) => Value::Int(x + l * self.inc[i as usize]),
                                f => f,
                            };
                            Sample {
                                metric: Cow::Borrowed(self.metrics[i as usize]),
                                kind: s.kind,
                                unit: s.unit,
                                labels: labels[&(Arc::as_ptr(&s.labels) as usize)].clone(),
                                value: v,
                            }
                        })
                        .collect();
                    if !samples.is_empty() {
                        each(&Batch {
                            timestamp: Timestamp(ts),
                            samples,
                        });
                    }
                }
            }
        }
    }
}

fn config(dir: &std::path::Path) -> StoreConfig {
    let mut c = StoreConfig::new(dir);
    c.raw_retention = Duration::from_secs(86400);
    c.sync = SyncPolicy::Interval(Duration::from_secs(1));
    c
}

fn dir_bytes(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p).map_or(0, |rd| {
        rd.filter_map(Result::ok)
            .map(|e| match e.metadata() {
                Ok(m) if m.is_dir() => dir_bytes(&e.path()),
                Ok(m) => m.len(),
                Err(_) => 0,
            })
            .sum()
    })
}

/// Replays into a fresh store, closes the windows, compacts; returns (raw bytes, all
/// bytes, samples).
fn mix(
    r: &Replay<'_>,
    minutes: i64,
    keep: &dyn Fn(u32) -> bool,
    mut lp: Option<&mut dyn Write>,
) -> (u64, u64, u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = ManualClock::new(Timestamp(BASE));
    let store = Store::open(config(dir.path()), Arc::new(clock.clone())).expect("open");
    r.run(minutes, keep, &mut |b| {
        clock.set(b.timestamp);
        store.append(b).expect("append");
        if let Some(w) = lp.as_mut() {
            line_protocol(b, w).expect("write line protocol");
        }
    });
    clock.set(Timestamp(BASE + minutes * MIN + 10 * MIN));
    store.maintain().expect("maintain");
    let st = store.stats();
    store.close().expect("close");
    (
        st.bytes_on_disk_raw,
        dir_bytes(dir.path()),
        st.samples_ingested,
    )
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace(',', "\\,")
        .replace(' ', "\\ ")
        .replace('=', "\\=")
}

/// One line per label set: `c,<labels> <metric>=<v>i,... <ns>`.
fn line_protocol(b: &Batch, w: &mut dyn Write) -> std::io::Result<()> {
    let mut groups: Vec<(&Arc<Labels>, Vec<&Sample>)> = Vec::new();
    for s in &b.samples {
        match groups.iter_mut().find(|(l, _)| Arc::ptr_eq(l, &s.labels)) {
            Some((_, v)) => v.push(s),
            None => groups.push((&s.labels, vec![s])),
        }
    }
    for (labels, samples) in groups {
        write!(w, "c")?;
        for (k, v) in labels.iter().filter(|(_, v)| !v.is_empty()) {
            write!(w, ",{}={}", escape(k), escape(v))?;
        }
        for (i, s) in samples.iter().enumerate() {
            let sep = if i == 0 { ' ' } else { ',' };
            let name = s.metric.replace('/', "_");
            match s.value {
                Value::Int(x) => write!(w, "{sep}{name}={x}i")?,
                Value::Float(x) => write!(w, "{sep}{name}={x:?}")?,
            }
        }
        writeln!(w, " {}", b.timestamp.nanos())?;
    }
    Ok(())
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut fixture_path = None;
    let mut lp_out: Option<PathBuf> = None;
    let mut containers = 1000usize;
    let mut minutes = 60i64;
    let mut skip_mix = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--fixture" => fixture_path = Some(PathBuf::from(val()?)),
            "--lp-out" => lp_out = Some(PathBuf::from(val()?)),
            "--containers" => containers = val()?.parse()?,
            "--minutes" => minutes = val()?.parse()?,
            "--skip-mix" => skip_mix = true,
            _ => return Err(format!("unknown argument {a}").into()),
        }
    }
    let f = fixture::read(&fixture_path.ok_or("--fixture FILE is required")?)?;
    let n_containers = {
        let mut ids: Vec<&str> = f.series.iter().filter_map(|s| s.labels.get("id")).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    };
    let rec_samples: usize = f.batches.iter().map(|b| b.samples.len()).sum();
    println!("store_fixture_containers {n_containers} count");
    println!("store_fixture_series {} count", f.series.len());
    println!("store_fixture_samples {rec_samples} count");

    // The mix, and the mix by kind.
    let one = Replay::new(&f, 1);
    if !skip_mix {
        run_mixes(&f, &one, minutes, lp_out.as_ref())?;
    }
    scale(&f, n_containers, containers, minutes)
}

/// Which series of the fixture a replay keeps.
type Keep<'a> = Box<dyn Fn(u32) -> bool + 'a>;

fn run_mixes(
    f: &fixture::Fixture,
    one: &Replay<'_>,
    minutes: i64,
    lp_out: Option<&PathBuf>,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut lp = match &lp_out {
        Some(p) => Some(BufWriter::new(std::fs::File::create(p)?)),
        None => None,
    };
    let (raw, all, n) = mix(
        one,
        minutes,
        &|_| true,
        lp.as_mut().map(|w| w as &mut dyn Write),
    );
    if let Some(mut w) = lp {
        w.flush()?;
    }
    println!("store_mix_samples {n} count");
    println!(
        "store_bytes_per_sample_mix {:.3} bytes",
        raw as f64 / n as f64
    );
    println!(
        "store_bytes_per_sample_mix_all_files {:.3} bytes",
        all as f64 / n as f64
    );
    let mut constant = vec![true; f.series.len()];
    let mut seen: Vec<Option<Value>> = vec![None; f.series.len()];
    for b in &f.batches {
        for &(i, v) in &b.samples {
            let i = i as usize;
            match seen[i] {
                Some(p) if p != v => constant[i] = false,
                _ => seen[i] = Some(v),
            }
        }
    }
    let kinds: [(&str, Keep<'_>); 4] = [
        (
            "ns_counter",
            Box::new(|i| {
                let s = &f.series[i as usize];
                !constant[i as usize] && s.kind == Kind::Cumulative && s.unit == Unit::Nanoseconds
            }),
        ),
        (
            "byte_counter",
            Box::new(|i| {
                let s = &f.series[i as usize];
                !constant[i as usize] && s.kind == Kind::Cumulative && s.unit == Unit::Bytes
            }),
        ),
        (
            "gauge",
            Box::new(|i| !constant[i as usize] && f.series[i as usize].kind == Kind::Gauge),
        ),
        ("constant", Box::new(|i| constant[i as usize])),
    ];
    for (name, keep) in &kinds {
        let (raw, _, n) = mix(one, minutes, keep.as_ref(), None);
        println!(
            "store_bytes_per_sample_{name} {:.3} bytes",
            raw as f64 / n.max(1) as f64
        );
        println!("store_samples_{name} {n} count");
    }
    Ok(())
}

fn scale(
    f: &fixture::Fixture,
    n_containers: usize,
    containers: usize,
    minutes: i64,
) -> Result<(), Box<dyn std::error::Error>> {
    // Ingest at scale, then queries.
    let replicas = containers.div_ceil(n_containers.max(1));
    let wide = Replay::new(f, replicas);
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(Timestamp(BASE));
    let mut c = config(dir.path());
    c.raw_retention = Duration::from_secs(2 * 3600);
    let store = Store::open(c, Arc::new(clock.clone()))?;
    let (mut in_append, mut in_maintain) = (Duration::ZERO, Duration::ZERO);
    let mut next_maintain = BASE + MIN;
    let mut peak_rss = 0u64;
    let mut batches = 0u64;
    wide.run(minutes, &|_| true, &mut |b| {
        clock.set(b.timestamp);
        let t0 = Instant::now();
        store.append(b).expect("append");
        in_append += t0.elapsed();
        batches += 1;
        if b.timestamp.nanos() >= next_maintain {
            next_maintain += MIN;
            let t0 = Instant::now();
            store.maintain().expect("maintain");
            in_maintain += t0.elapsed();
            peak_rss = peak_rss.max(rss_kib());
        }
    });
    let st = store.stats();
    println!("store_ingest_containers {} count", n_containers * replicas);
    println!("store_ingest_series {} count", st.series);
    println!("store_ingest_samples {} count", st.samples_ingested);
    println!(
        "store_ingest_samples_per_s {:.0} samples/s",
        st.samples_ingested as f64 / in_append.as_secs_f64()
    );
    println!(
        "store_ingest_batch_us {:.2} us",
        in_append.as_secs_f64() * 1e6 / batches as f64
    );
    println!("store_rss_mib {:.1} MiB", peak_rss as f64 / 1024.0);
    println!(
        "store_memory_mib {:.1} MiB",
        st.bytes_in_memory as f64 / (1 << 20) as f64
    );
    println!(
        "store_maintain_s_per_hour {:.2} s",
        in_maintain.as_secs_f64() * 60.0 / minutes as f64
    );
    clock.set(Timestamp(BASE + minutes * MIN + 10 * MIN));
    let t0 = Instant::now();
    store.maintain()?;
    println!(
        "store_compaction_s {:.2} s",
        t0.elapsed().as_secs_f64() + in_maintain.as_secs_f64()
    );
    let st = store.stats();
    println!(
        "store_scale_bytes_per_sample {:.3} bytes",
        st.bytes_on_disk_raw as f64 / st.samples_ingested as f64
    );
    // The raw hour of 1,000 series is 3.6 M points, past the default bound: measured anyway.
    store.set_query_max_points(u64::MAX);
    let q = |step: Option<u64>, agg| Query {
        selector: Selector::metric("cpu/usage"),
        start: Timestamp(BASE + (minutes - 60).max(0) * MIN),
        end: Timestamp(BASE + minutes * MIN),
        step: step.map(Duration::from_secs),
        agg,
    };
    for (name, query) in [("", q(None, Agg::Raw)), ("_1m", q(Some(60), Agg::Avg))] {
        let mut times = Vec::new();
        let mut points = 0;
        let mut series = 0;
        for _ in 0..3 {
            let t0 = Instant::now();
            let r = store.query(&query)?;
            times.push(t0.elapsed());
            series = r.len();
            points = r.iter().map(|s| s.points.len()).sum::<usize>();
        }
        times.sort();
        println!(
            "store_query_ms_1h_1000_series{name} {:.1} ms",
            times[1].as_secs_f64() * 1e3
        );
        println!("store_query_points_1h_1000_series{name} {points} count");
        println!("store_query_series{name} {series} count");
    }
    Ok(())
}
