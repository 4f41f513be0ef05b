//! The bench fixture: canonical samples recorded from the real agent, as text (gzip it).
//!
//! ```text
//! crowsnest-store fixture v1
//! S <metric> <kind> <unit> <labels as JSON>      one per series; its index is its order
//! B <time - previous batch's time, ns> <count>   a batch (one container at one time)
//! <series index - previous index in the batch> i<value - series' previous value>
//! <series index - previous index in the batch> f<float>
//! ```

use std::collections::HashMap;
use std::io::{BufRead, BufWriter, Write};
use std::sync::Arc;

use crowsnest_core::batch::{Kind, Labels, Unit, Value};

/// A series of the fixture.
#[derive(Debug, Clone)]
pub(crate) struct SeriesDef {
    pub(crate) metric: String,
    pub(crate) kind: Kind,
    pub(crate) unit: Unit,
    pub(crate) labels: Arc<Labels>,
}

/// A batch: one container's samples at one time.
#[derive(Debug, Clone)]
pub(crate) struct FBatch {
    pub(crate) ts: i64,
    pub(crate) samples: Vec<(u32, Value)>,
}

/// A whole fixture, batches in time order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Fixture {
    pub(crate) series: Vec<SeriesDef>,
    pub(crate) batches: Vec<FBatch>,
}

const MAGIC: &str = "crowsnest-store fixture v1";

pub(crate) fn write(path: &std::path::Path, f: &Fixture) -> std::io::Result<()> {
    let mut w = BufWriter::new(std::fs::File::create(path)?);
    writeln!(w, "{MAGIC}")?;
    for s in &f.series {
        writeln!(
            w,
            "S {} {} {} {}",
            s.metric,
            serde_json::to_string(&s.kind)?.trim_matches('"'),
            serde_json::to_string(&s.unit)?.trim_matches('"'),
            serde_json::to_string(&*s.labels)?
        )?;
    }
    let mut prev_ts = 0i64;
    let mut prev: Vec<i64> = vec![0; f.series.len()];
    for b in &f.batches {
        writeln!(w, "B {} {}", b.ts - prev_ts, b.samples.len())?;
        prev_ts = b.ts;
        let mut pi = 0i64;
        for &(i, v) in &b.samples {
            let d = i64::from(i) - pi;
            pi = i64::from(i);
            match v {
                Value::Int(x) => {
                    writeln!(w, "{d} i{}", x.wrapping_sub(prev[i as usize]))?;
                    prev[i as usize] = x;
                }
                Value::Float(x) => writeln!(w, "{d} f{x:?}")?,
            }
        }
    }
    w.flush()
}

fn bad(line: usize, what: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("fixture line {line}: {what}"),
    )
}

pub(crate) fn read(path: &std::path::Path) -> std::io::Result<Fixture> {
    let r = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut f = Fixture::default();
    let mut labels: HashMap<String, Arc<Labels>> = HashMap::new();
    let mut prev: Vec<i64> = Vec::new();
    let mut prev_ts = 0i64;
    let mut lines = r.lines().enumerate();
    match lines.next() {
        Some((_, Ok(l))) if l == MAGIC => {}
        _ => return Err(bad(1, "not a fixture")),
    }
    while let Some((n, line)) = lines.next() {
        let line = line?;
        if let Some(rest) = line.strip_prefix("S ") {
            let mut it = rest.splitn(4, ' ');
            let (Some(m), Some(k), Some(u), Some(l)) = (it.next(), it.next(), it.next(), it.next())
            else {
                return Err(bad(n + 1, "series line"));
            };
            let ls = labels
                .entry(l.to_owned())
                .or_insert_with(|| Arc::new(serde_json::from_str(l).unwrap_or_default()))
                .clone();
            f.series.push(SeriesDef {
                metric: m.to_owned(),
                kind: serde_json::from_str(&format!("\"{k}\"")).map_err(|_| bad(n + 1, "kind"))?,
                unit: serde_json::from_str(&format!("\"{u}\"")).map_err(|_| bad(n + 1, "unit"))?,
                labels: ls,
            });
            prev.push(0);
        } else if let Some(rest) = line.strip_prefix("B ") {
            let (dt, count) = rest
                .split_once(' ')
                .ok_or_else(|| bad(n + 1, "batch line"))?;
            let ts = prev_ts + dt.parse::<i64>().map_err(|_| bad(n + 1, "batch time"))?;
            prev_ts = ts;
            let count: usize = count.parse().map_err(|_| bad(n + 1, "batch count"))?;
            let mut samples = Vec::with_capacity(count);
            let mut pi = 0i64;
            for _ in 0..count {
                let (n, l) = lines.next().ok_or_else(|| bad(n + 1, "batch cut short"))?;
                let l = l?;
                let (d, v) = l.split_once(' ').ok_or_else(|| bad(n + 1, "sample line"))?;
                pi += d.parse::<i64>().map_err(|_| bad(n + 1, "series index"))?;
                let i = usize::try_from(pi)
                    .ok()
                    .filter(|&i| i < prev.len())
                    .ok_or_else(|| bad(n + 1, "series index"))?;
                let v = if let Some(x) = v.strip_prefix('i') {
                    prev[i] = prev[i].wrapping_add(x.parse().map_err(|_| bad(n + 1, "value"))?);
                    Value::Int(prev[i])
                } else if let Some(x) = v.strip_prefix('f') {
                    Value::Float(x.parse().map_err(|_| bad(n + 1, "value"))?)
                } else {
                    return Err(bad(n + 1, "value"));
                };
                samples.push((i as u32, v));
            }
            f.batches.push(FBatch { ts, samples });
        } else if !line.is_empty() {
            return Err(bad(n + 1, "unknown line"));
        }
    }
    Ok(f)
}
