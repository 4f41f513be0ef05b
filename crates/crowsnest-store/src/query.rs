//! Range queries: a set of series (a [`Selector`]), a time range, an optional step and an
//! aggregation.
//!
//! Without a step, every stored sample is its own window: `raw` returns the samples, `rate`
//! the rate between each sample and the one before it. With a step, windows are aligned to
//! multiples of the step since the epoch and each point is stamped with its window's start.
//!
//! `rate` is for counters: a counter that goes down has restarted, so the pair of samples
//! around the drop is left out (the rate never spans a reset) and every pair counted has
//! `v[i+1] >= v[i]` (the rate is never negative). A window's rate is its increase over the
//! time its counted pairs cover; a pair belongs to the window of its later sample.
//!
//! Where it reads from: with a step that is a multiple of 1 m (or 10 s), the rolled-up
//! windows are read from that rollup level and the rest (recent data) from raw samples; with
//! no step, raw samples are read where they are still kept, and older data from the finest
//! rollup left. A rollup bucket is placed by its start, so range edges round out to whole
//! buckets. Raw samples that arrived late (older than the raw window they were written in)
//! show up in rollup-based answers once that window is rolled up.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crowsnest_core::Timestamp;
use crowsnest_core::batch::{Kind, Labels, Unit, Value};

use crate::chunk::{BlockReader, SeriesData, decode_head};
use crate::error::{Error, Result};
use crate::index::Selector;
use crate::rollup::{BUCKETS, Partial, Sum, increase};
use crate::segment::Segment;
use crate::series::{SeriesMeta, ValueKind};
use crate::stats::Counters;
use crate::store::{Store, lock, read};

/// How points of a window are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agg {
    /// The samples themselves (the step is ignored).
    Raw,
    /// Mean of the window's samples.
    Avg,
    /// Smallest sample.
    Min,
    /// Largest sample.
    Max,
    /// Newest sample.
    Last,
    /// Per-second increase of a counter, resets left out.
    Rate,
}

impl FromStr for Agg {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(match s {
            "raw" => Agg::Raw,
            "avg" => Agg::Avg,
            "min" => Agg::Min,
            "max" => Agg::Max,
            "last" => Agg::Last,
            "rate" => Agg::Rate,
            _ => {
                return Err(format!(
                    "unknown aggregation {s:?} (raw, avg, min, max, last, rate)"
                ));
            }
        })
    }
}

/// A range query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Which series.
    pub selector: Selector,
    /// First time included.
    pub start: Timestamp,
    /// Last time included.
    pub end: Timestamp,
    /// Window length; `None`: every sample is its own window.
    pub step: Option<Duration>,
    /// How to combine a window.
    pub agg: Agg,
}

/// One series' answer.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesResult {
    /// Metric name.
    pub metric: Arc<str>,
    /// Labels.
    pub labels: Arc<Labels>,
    /// Counter or gauge.
    pub kind: Kind,
    /// Unit of the stored values (a rate is this unit per second).
    pub unit: Unit,
    /// Points, oldest first. Integers stay integers where the aggregation keeps them
    /// (raw, min, max, last); averages and rates are floats.
    pub points: Vec<(Timestamp, Value)>,
    /// Parts of the data that could not be read (damaged records), each naming the file and
    /// offset; the points are what could be read.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Copy)]
struct Acc {
    count: u64,
    min: Value,
    max: Value,
    sum: Sum,
    last: Value,
    inc: Sum,
    dur: i64,
}

/// Folds one series' ordered samples and buckets into points.
struct Folder {
    agg: Agg,
    step: Option<i64>,
    kind: ValueKind,
    win: Option<i64>,
    acc: Option<Acc>,
    /// The newest sample seen: (time, value), for rate pairs and the order guard.
    prev: Option<(i64, Value)>,
    points: Vec<(Timestamp, Value)>,
}

impl Folder {
    fn new(agg: Agg, step: Option<i64>, kind: ValueKind) -> Self {
        Folder {
            agg,
            step,
            kind,
            win: None,
            acc: None,
            prev: None,
            points: Vec::new(),
        }
    }

    fn window(&self, t: i64) -> i64 {
        self.step.map_or(t, |s| t.div_euclid(s) * s)
    }

    fn emit(&mut self) {
        let (Some(w), Some(a)) = (self.win.take(), self.acc.take()) else {
            return;
        };
        let v = match self.agg {
            Agg::Raw => return,
            Agg::Avg => Value::Float(a.sum.as_f64() / a.count as f64),
            Agg::Min => a.min,
            Agg::Max => a.max,
            Agg::Last => a.last,
            Agg::Rate => {
                if a.dur <= 0 {
                    return;
                }
                Value::Float(a.inc.as_f64() / (a.dur as f64 / 1e9))
            }
        };
        self.points.push((Timestamp(w), v));
    }

    fn feed(&mut self, p: &Partial) {
        if self.prev.is_some_and(|(t, _)| p.first_t <= t) {
            return;
        }
        if self.agg == Agg::Raw {
            self.points.push((Timestamp(p.last_t), p.last));
            self.prev = Some((p.last_t, p.last));
            return;
        }
        let w = self.window(p.t);
        if self.win != Some(w) {
            self.emit();
            self.win = Some(w);
        }
        let mut inc = p.inc;
        let mut dur = p.dur;
        if let Some((pt, pv)) = self.prev
            && let Some(i) = increase(pv, p.first)
        {
            inc.add(i);
            dur = dur.saturating_add(p.first_t - pt);
        }
        match &mut self.acc {
            Some(a) => {
                a.count += p.count;
                a.min = vmin(a.min, p.min);
                a.max = vmax(a.max, p.max);
                a.sum.add(p.sum);
                a.last = p.last;
                a.inc.add(inc);
                a.dur = a.dur.saturating_add(dur);
            }
            None => {
                let mut s = Sum::zero(self.kind);
                s.add(p.sum);
                let mut i = Sum::zero(self.kind);
                i.add(inc);
                self.acc = Some(Acc {
                    count: p.count,
                    min: p.min,
                    max: p.max,
                    sum: s,
                    last: p.last,
                    inc: i,
                    dur,
                });
            }
        }
        self.prev = Some((p.last_t, p.last));
    }

    fn finish(mut self) -> Vec<(Timestamp, Value)> {
        self.emit();
        self.points
    }
}

fn vmin(a: Value, b: Value) -> Value {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Value::Int(x.min(y)),
        _ => Value::Float(a.as_f64().min(b.as_f64())),
    }
}

fn vmax(a: Value, b: Value) -> Value {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Value::Int(x.max(y)),
        _ => Value::Float(a.as_f64().max(b.as_f64())),
    }
}

/// The level a step prefers: 2 (1 m) or 1 (10 s) when the step is a multiple, else raw.
fn preferred(step: Option<i64>) -> u8 {
    match step {
        Some(s) if s % BUCKETS[1] == 0 => 2,
        Some(s) if s % BUCKETS[0] == 0 => 1,
        _ => 0,
    }
}

/// Where each part of time is read from: (level, from, to), in time order.
fn regions(step: Option<i64>, coverage: i64, oldest: [i64; 3]) -> Vec<(u8, i64, i64)> {
    let (m, x) = (i64::MIN, i64::MAX);
    // Where raw samples start: the oldest raw segment, else what the rollups do not cover.
    let raw_from = if oldest[0] < x { oldest[0] } else { coverage };
    let r = match preferred(step) {
        0 => vec![
            (2, m, oldest[1].min(raw_from)),
            (1, oldest[1], raw_from),
            (0, raw_from, x),
        ],
        1 => vec![
            (2, m, oldest[1].min(coverage)),
            (1, oldest[1], coverage),
            (0, coverage, x),
        ],
        _ => vec![(2, m, coverage), (0, coverage, x)],
    };
    r.into_iter().filter(|&(_, a, b)| a < b).collect()
}

impl Store {
    /// Runs a range query. A query that would return more points than the store's bound
    /// ([`Store::set_query_max_points`]) fails with [`Error::QueryTooLarge`].
    pub fn query(&self, q: &Query) -> Result<Vec<SeriesResult>> {
        self.query_limited(q, self.query_max_points())
    }

    /// Runs a range query that may return at most `max_points` points (and at most the
    /// store's bound): past it, reading stops and the query fails with
    /// [`Error::QueryTooLarge`], so that memory stays bounded whatever is asked.
    pub fn query_limited(&self, q: &Query, max_points: u64) -> Result<Vec<SeriesResult>> {
        let limit = max_points.min(self.query_max_points());
        let (qs, qe) = (q.start.nanos(), q.end.nanos());
        let step = q
            .step
            .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX).max(1));
        // A consistent view, under the writer lock: the series (ids are reused once a
        // series' data is all gone, so they are read together with the data), the head's
        // chunks and the catalog.
        let w = lock(&self.writer);
        let (ids, metas) = {
            let ix = read(&self.index);
            let ids = ix.select(&q.selector);
            let metas: Vec<_> = ids.iter().filter_map(|&id| ix.get(id).cloned()).collect();
            (ids, metas)
        };
        if ids.is_empty() || qe < qs {
            drop(w);
            return Ok(metas.iter().map(empty_result).collect());
        }
        let mut out: Vec<SeriesResult> = metas.iter().map(empty_result).collect();
        let mut folders: Vec<Folder> = metas
            .iter()
            .map(|m| Folder::new(q.agg, step, m.vkind))
            .collect();
        let (head, segs, frozen, regions, unreadable) = {
            let head = w.head.snapshot(&ids);
            let cat = read(&self.catalog);
            let cov = cat.coverage(1).min(cat.coverage(2));
            let mut oldest = [i64::MAX; 3];
            for (l, win, _) in cat.segs.keys() {
                let o = &mut oldest[usize::from(*l)];
                *o = (*o).min(*win);
            }
            let segs: Vec<Arc<Segment>> = cat.segs.values().cloned().collect();
            let unreadable = cat.unreadable.len();
            (
                head,
                segs,
                cat.frozen.clone(),
                regions(step, cov, oldest),
                unreadable,
            )
        };
        drop(w);
        let mut total = 0u64;
        // Feeds a folder, counting the points it makes against the limit.
        let mut fed = |f: &mut Folder, d: SeriesData, lo: i64, hi: i64| -> Result<()> {
            let before = f.points.len();
            feed(f, d, lo, hi);
            total += (f.points.len() - before) as u64;
            if total > limit {
                Counters::add(&self.counters.queries_refused, 1);
                return Err(Error::QueryTooLarge { limit });
            }
            Ok(())
        };
        if unreadable > 0 {
            let msg = format!(
                "{unreadable} segment file(s) could not be opened (see the log); data may be missing"
            );
            out.iter_mut().for_each(|r| r.warnings.push(msg.clone()));
        }
        let warn = |out: &mut Vec<SeriesResult>, i: Option<usize>, msg: String| {
            Counters::add(&self.counters.corrupt_records, 1);
            match i {
                Some(i) => out[i].warnings.push(msg),
                None => out.iter_mut().for_each(|r| r.warnings.push(msg.clone())),
            }
        };
        for (level, a, b) in regions {
            let lo = if level == 0 {
                a.max(qs)
            } else {
                let bk = BUCKETS[usize::from(level) - 1];
                a.max(qs.div_euclid(bk) * bk)
            };
            let hi = b.min(qe.saturating_add(1));
            if lo >= hi {
                continue;
            }
            let slack = if level == 0 {
                0
            } else {
                BUCKETS[usize::from(level) - 1]
            };
            for seg in segs.iter().filter(|s| s.header.level == level) {
                for blk in &seg.blocks {
                    let h = &blk.header;
                    if h.samples > 0 && (h.max_t < lo || h.min_t.saturating_sub(slack) >= hi) {
                        continue;
                    }
                    let mut r = match BlockReader::new(seg, blk) {
                        Ok(r) => r,
                        Err(e) => {
                            warn(&mut out, None, e.to_string());
                            continue;
                        }
                    };
                    for (i, &id) in ids.iter().enumerate() {
                        match r.read(id) {
                            Ok(Some(d)) => fed(&mut folders[i], d, lo, hi)?,
                            Ok(None) => {}
                            Err(e) => warn(&mut out, Some(i), e.to_string()),
                        }
                    }
                }
            }
            if level == 0 {
                for f in frozen.iter().filter(|f| f.max_t >= lo && f.min_t < hi) {
                    for (i, &id) in ids.iter().enumerate() {
                        let Some(c) = f.chunk(id) else { continue };
                        match decode_head(c, f.timestamps(c)) {
                            Ok(d) => fed(&mut folders[i], d, lo, hi)?,
                            Err(e) => warn(&mut out, Some(i), format!("frozen head: {e}")),
                        }
                    }
                }
                for (c, ts) in &head {
                    let Ok(i) = ids.binary_search(&c.series) else {
                        continue;
                    };
                    match decode_head(c, ts) {
                        Ok(d) => fed(&mut folders[i], d, lo, hi)?,
                        Err(e) => warn(&mut out, Some(i), format!("head: {e}")),
                    }
                }
            }
        }
        let mut total = 0u64;
        for (r, f) in out.iter_mut().zip(folders) {
            r.points = f.finish();
            total += r.points.len() as u64;
        }
        if total > limit {
            Counters::add(&self.counters.queries_refused, 1);
            return Err(Error::QueryTooLarge { limit });
        }
        Ok(out)
    }
}

fn empty_result(m: &SeriesMeta) -> SeriesResult {
    SeriesResult {
        metric: m.metric.clone(),
        labels: m.labels.clone(),
        kind: m.kind,
        unit: m.unit,
        points: Vec::new(),
        warnings: Vec::new(),
    }
}

/// Feeds the part of `d` inside [lo, hi) to a folder.
fn feed(f: &mut Folder, d: SeriesData, lo: i64, hi: i64) {
    match d {
        SeriesData::Raw { ts, values } => {
            let from = ts.partition_point(|&t| t < lo);
            let to = ts.partition_point(|&t| t < hi);
            for (i, &t) in ts.iter().enumerate().take(to).skip(from) {
                f.feed(&Partial::sample(t, values.get(i)));
            }
        }
        SeriesData::Rollup(ps) => {
            for p in ps.iter().filter(|p| p.t >= lo && p.t < hi) {
                f.feed(p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_split_time_between_levels() {
        let m = i64::MIN;
        let x = i64::MAX;
        // Nothing rolled up yet: all raw.
        assert_eq!(regions(Some(60_000_000_000), m, [100, x, x]), [(0, m, x)]);
        // Rolled up to 500, raw kept from 300: a 1 m step reads rollups before 500.
        let r = regions(Some(60_000_000_000), 500, [300, 0, 0]);
        assert_eq!(r, [(2, m, 500), (0, 500, x)]);
        // No step: raw from 300, 10 s from 0, 1 m before.
        let r = regions(None, 500, [300, 0, -100]);
        assert_eq!(r, [(2, m, 0), (1, 0, 300), (0, 300, x)]);
    }

    #[test]
    fn rate_never_spans_a_reset_and_is_never_negative() {
        let mut f = Folder::new(Agg::Rate, None, ValueKind::Int);
        let s = 1_000_000_000i64;
        for (t, v) in [(1, 10), (2, 20), (3, 5), (4, 15), (5, 15)] {
            f.feed(&Partial::sample(t * s, Value::Int(v)));
        }
        let pts = f.finish();
        let vals: Vec<f64> = pts.iter().map(|p| p.1.as_f64()).collect();
        assert_eq!(vals, [10.0, 10.0, 0.0], "{pts:?}");
        assert_eq!(pts[1].0, Timestamp(4 * s));
    }
}
