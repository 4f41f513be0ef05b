//! Rollups: per series and per 10 s or 1 m bucket, the count, min, max, sum, first and last
//! values (with the times of the first and last sample), and for counters the increase and
//! the time it was measured over.
//!
//! The increase of a bucket is the sum of `v[i+1] - v[i]` over consecutive samples inside the
//! bucket where the counter did not go down; the covered time is the sum of those pairs'
//! durations. A pair that straddles two buckets belongs to the later one and is rebuilt at
//! query time from the earlier bucket's last and the later one's first sample. So a rate read
//! from rollups is the rate read from raw samples (for windows made of whole buckets), and an
//! average is `sum / count` exactly: integer sums are kept as i128 (two integer columns).
//!
//! A raw sample is a [`Partial`] of one sample, so queries aggregate raw samples and rollup
//! buckets with one code path.

use crowsnest_core::batch::Value;

#[cfg(test)]
use crate::codec::timestamps;
use crate::codec::{DecodeError, floats, ints};
use crate::series::ValueKind;

/// Bucket lengths of the rollup levels 1 (10 s) and 2 (1 m), in nanoseconds.
pub(crate) const BUCKETS: [i64; 2] = [10_000_000_000, 60_000_000_000];

/// A sum: exact for integers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Sum {
    Int(i128),
    Float(f64),
}

impl Sum {
    pub(crate) fn zero(k: ValueKind) -> Self {
        match k {
            ValueKind::Int => Sum::Int(0),
            ValueKind::Float => Sum::Float(0.0),
        }
    }

    pub(crate) fn add(&mut self, o: Sum) {
        match (self, o) {
            (Sum::Int(a), Sum::Int(b)) => *a = a.wrapping_add(b),
            (Sum::Float(a), Sum::Float(b)) => *a += b,
            (Sum::Int(a), Sum::Float(b)) => *a = a.wrapping_add(b as i128),
            (Sum::Float(a), Sum::Int(b)) => *a += b as f64,
        }
    }

    pub(crate) fn of(v: Value) -> Self {
        match v {
            Value::Int(i) => Sum::Int(i128::from(i)),
            Value::Float(f) => Sum::Float(f),
        }
    }

    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Sum::Int(i) => i as f64,
            Sum::Float(f) => f,
        }
    }
}

/// `b - a` when the counter did not go down from `a` to `b`.
#[inline]
pub(crate) fn increase(a: Value, b: Value) -> Option<Sum> {
    match (a, b) {
        (Value::Int(a), Value::Int(b)) if b >= a => Some(Sum::Int(i128::from(b) - i128::from(a))),
        (Value::Float(a), Value::Float(b)) if b >= a => Some(Sum::Float(b - a)),
        (Value::Int(a), Value::Float(b)) if b >= a as f64 => Some(Sum::Float(b - a as f64)),
        (Value::Float(a), Value::Int(b)) if b as f64 >= a => Some(Sum::Float(b as f64 - a)),
        _ => None,
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

/// A summary of consecutive samples of one series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Partial {
    /// Bucket start (a raw sample's own time).
    pub(crate) t: i64,
    pub(crate) first_t: i64,
    pub(crate) last_t: i64,
    pub(crate) count: u64,
    pub(crate) min: Value,
    pub(crate) max: Value,
    pub(crate) sum: Sum,
    pub(crate) first: Value,
    pub(crate) last: Value,
    /// Increase over non-reset pairs inside, and the time they span.
    pub(crate) inc: Sum,
    pub(crate) dur: i64,
}

impl Partial {
    /// One sample.
    pub(crate) fn sample(t: i64, v: Value) -> Self {
        let zero = match v {
            Value::Int(_) => Sum::Int(0),
            Value::Float(_) => Sum::Float(0.0),
        };
        Partial {
            t,
            first_t: t,
            last_t: t,
            count: 1,
            min: v,
            max: v,
            sum: Sum::of(v),
            first: v,
            last: v,
            inc: zero,
            dur: 0,
        }
    }

    /// Appends the later summary `b` (same series, all its samples after ours), counting the
    /// pair between our last sample and its first.
    pub(crate) fn merge(&mut self, b: &Partial) {
        self.count += b.count;
        self.min = vmin(self.min, b.min);
        self.max = vmax(self.max, b.max);
        self.sum.add(b.sum);
        if let Some(i) = increase(self.last, b.first) {
            self.inc.add(i);
            self.dur = self.dur.saturating_add(b.first_t - self.last_t);
        }
        self.inc.add(b.inc);
        self.dur = self.dur.saturating_add(b.dur);
        self.last = b.last;
        self.last_t = b.last_t;
    }
}

/// Summarises samples (sorted, strictly increasing times) into buckets of `bucket` ns.
pub(crate) fn summarise(
    ts: &[i64],
    vs: impl Iterator<Item = Value>,
    bucket: i64,
    out: &mut Vec<Partial>,
) {
    for (&t, v) in ts.iter().zip(vs) {
        let b = t.div_euclid(bucket) * bucket;
        let p = Partial::sample(t, v);
        match out.last_mut() {
            Some(last) if last.t == b => last.merge(&p),
            _ => out.push(Partial { t: b, ..p }),
        }
    }
}

/// Merges neighbours with the same bucket start (a bucket split across two blocks).
pub(crate) fn coalesce(ps: &mut Vec<Partial>) {
    let mut out: Vec<Partial> = Vec::with_capacity(ps.len());
    for p in ps.drain(..) {
        match out.last_mut() {
            Some(l) if l.t == p.t => l.merge(&p),
            _ => out.push(p),
        }
    }
    *ps = out;
}

fn int_of(v: Value) -> i64 {
    match v {
        Value::Int(i) => i,
        Value::Float(f) => f as i64,
    }
}

fn sum_int(s: Sum) -> i128 {
    match s {
        Sum::Int(i) => i,
        Sum::Float(f) => f as i128,
    }
}

/// A rollup timeline's columns: bucket starts, sample counts, and the offsets of the first
/// and last sample from the bucket start. They depend only on the sample times, so the series
/// of one container share them (one copy per block, like a raw timeline).
pub(crate) fn timeline_columns(ps: &[Partial]) -> [Vec<i64>; 4] {
    [
        ps.iter().map(|p| p.t).collect(),
        ps.iter().map(|p| p.count as i64).collect(),
        ps.iter().map(|p| p.first_t.wrapping_sub(p.t)).collect(),
        ps.iter().map(|p| p.last_t.wrapping_sub(p.t)).collect(),
    ]
}

fn ints_col(v: impl Iterator<Item = i64>) -> Vec<u8> {
    let v: Vec<i64> = v.collect();
    let mut b = Vec::new();
    ints::encode(&v, &mut b);
    b
}

fn floats_col(v: impl Iterator<Item = f64>) -> Vec<u8> {
    let v: Vec<f64> = v.collect();
    let mut b = Vec::new();
    floats::encode(&v, &mut b);
    b
}

fn i128_cols(v: &[i128], cols: &mut Vec<Vec<u8>>) {
    cols.push(ints_col(v.iter().map(|x| (x >> 64) as i64)));
    cols.push(ints_col(v.iter().map(|&x| x as i64)));
}

/// Encodes a series' buckets into its value columns (its timeline is
/// [`timeline_columns`]).
///
/// Integer series store each column as what it adds to the others, which is 0 for most
/// buckets of most series: `last`; `last - first`; `first - min`; `max - last`;
/// `count * last - sum` (i128, as two columns); for counters also
/// `(last - first) - increase` (i128) and `(last_t - first_t) - covered time`. Float series
/// store min, max, first, last, sum [, increase, covered-time difference] plainly.
pub(crate) fn encode(ps: &[Partial], k: ValueKind, counter: bool) -> Vec<Vec<u8>> {
    let mut cols = Vec::new();
    match k {
        ValueKind::Int => {
            let l = |p: &Partial| int_of(p.last);
            let f = |p: &Partial| int_of(p.first);
            cols.push(ints_col(ps.iter().map(l)));
            cols.push(ints_col(ps.iter().map(|p| l(p).wrapping_sub(f(p)))));
            cols.push(ints_col(
                ps.iter().map(|p| f(p).wrapping_sub(int_of(p.min))),
            ));
            cols.push(ints_col(
                ps.iter().map(|p| int_of(p.max).wrapping_sub(l(p))),
            ));
            let sums: Vec<i128> = ps
                .iter()
                .map(|p| {
                    (p.count as i128)
                        .wrapping_mul(i128::from(l(p)))
                        .wrapping_sub(sum_int(p.sum))
                })
                .collect();
            i128_cols(&sums, &mut cols);
            if counter {
                let incs: Vec<i128> = ps
                    .iter()
                    .map(|p| (i128::from(l(p)) - i128::from(f(p))).wrapping_sub(sum_int(p.inc)))
                    .collect();
                i128_cols(&incs, &mut cols);
            }
        }
        ValueKind::Float => {
            let fields: [fn(&Partial) -> Value; 4] =
                [|p| p.min, |p| p.max, |p| p.first, |p| p.last];
            for g in fields {
                cols.push(floats_col(ps.iter().map(|p| g(p).as_f64())));
            }
            cols.push(floats_col(ps.iter().map(|p| p.sum.as_f64())));
            if counter {
                cols.push(floats_col(ps.iter().map(|p| p.inc.as_f64())));
            }
        }
    }
    if counter {
        cols.push(ints_col(
            ps.iter()
                .map(|p| p.last_t.wrapping_sub(p.first_t).wrapping_sub(p.dur)),
        ));
    }
    cols
}

/// Decodes a series' buckets: `tl` is its timeline's four columns (sliced to the chunk),
/// `cols` its value columns.
pub(crate) fn decode(
    tl: [&[i64]; 4],
    cols: &[&[u8]],
    k: ValueKind,
    out: &mut Vec<Partial>,
) -> Result<(), DecodeError> {
    let n = tl[0].len();
    if tl.iter().any(|c| c.len() != n) {
        return Err(DecodeError::new(
            "rollup timeline",
            "columns of different lengths",
        ));
    }
    let counter = match (k, cols.len()) {
        (ValueKind::Int, 6) | (ValueKind::Float, 5) => false,
        (ValueKind::Int, 9) | (ValueKind::Float, 7) => true,
        _ => {
            return Err(DecodeError::new(
                "rollup columns",
                "unexpected column count",
            ));
        }
    };
    let ic = |i: usize| -> Result<Vec<i64>, DecodeError> {
        let mut v = Vec::new();
        ints::decode(cols[i], n, &mut v)?;
        Ok(v)
    };
    let fc = |i: usize| -> Result<Vec<f64>, DecodeError> {
        let mut v = Vec::new();
        floats::decode(cols[i], n, &mut v)?;
        Ok(v)
    };
    let i128c = |i: usize| -> Result<Vec<i128>, DecodeError> {
        let (hi, lo) = (ic(i)?, ic(i + 1)?);
        Ok(hi
            .iter()
            .zip(&lo)
            .map(|(&h, &l)| i128::from(h) << 64 | i128::from(l as u64))
            .collect())
    };
    let dur_res = if counter {
        Some(ic(cols.len() - 1)?)
    } else {
        None
    };
    out.reserve(n);
    let (starts, count, first_o, last_o) = (tl[0], tl[1], tl[2], tl[3]);
    let mut push = |i: usize, [min, max, first, last]: [Value; 4], sum: Sum, inc: Sum| {
        let t = starts[i];
        let (first_t, last_t) = (t.wrapping_add(first_o[i]), t.wrapping_add(last_o[i]));
        let dur = dur_res
            .as_ref()
            .map_or(0, |d| last_t.wrapping_sub(first_t).wrapping_sub(d[i]));
        out.push(Partial {
            t,
            first_t,
            last_t,
            count: count[i] as u64,
            min,
            max,
            sum,
            first,
            last,
            inc,
            dur,
        });
    };
    if count.iter().any(|&c| c <= 0) {
        return Err(DecodeError::new("rollup count", "not positive"));
    }
    match k {
        ValueKind::Int => {
            let (l, lf, fm, ml) = (ic(0)?, ic(1)?, ic(2)?, ic(3)?);
            let sums = i128c(4)?;
            let incs = if counter { Some(i128c(6)?) } else { None };
            for i in 0..n {
                let last = l[i];
                let first = last.wrapping_sub(lf[i]);
                let vals = [
                    first.wrapping_sub(fm[i]),
                    last.wrapping_add(ml[i]),
                    first,
                    last,
                ]
                .map(Value::Int);
                let sum = (count[i] as i128)
                    .wrapping_mul(i128::from(last))
                    .wrapping_sub(sums[i]);
                let inc = incs.as_ref().map_or(0, |v| {
                    (i128::from(last) - i128::from(first)).wrapping_sub(v[i])
                });
                push(i, vals, Sum::Int(sum), Sum::Int(inc));
            }
        }
        ValueKind::Float => {
            let (mn, mx, fi, la, su) = (fc(0)?, fc(1)?, fc(2)?, fc(3)?, fc(4)?);
            let inc = if counter { Some(fc(5)?) } else { None };
            for i in 0..n {
                let vals = [mn[i], mx[i], fi[i], la[i]].map(Value::Float);
                let inc = inc.as_ref().map_or(0.0, |v| v[i]);
                push(i, vals, Sum::Float(su[i]), Sum::Float(inc));
            }
        }
    }
    Ok(())
}

/// Encodes a rollup timeline's columns (see [`timeline_columns`]).
#[cfg(test)]
pub(crate) fn encode_timeline(tl: &[Vec<i64>; 4]) -> Vec<Vec<u8>> {
    let mut starts = Vec::new();
    timestamps::encode(&tl[0], &mut starts);
    let mut out = vec![starts];
    out.extend(tl[1..].iter().map(|c| ints_col(c.iter().copied())));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Encodes and decodes buckets through their timeline and value columns.
    fn round(ps: &[Partial], k: ValueKind, counter: bool) -> Result<Vec<Partial>, DecodeError> {
        let tl = encode_timeline(&timeline_columns(ps));
        let cols = encode(ps, k, counter);
        let n = ps.len();
        let mut t = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
        timestamps::decode(&tl[0], n, true, &mut t[0])?;
        for i in 1..4 {
            ints::decode(&tl[i], n, &mut t[i])?;
        }
        let refs: Vec<&[u8]> = cols.iter().map(Vec::as_slice).collect();
        let mut back = Vec::new();
        decode([&t[0], &t[1], &t[2], &t[3]], &refs, k, &mut back)?;
        let refs_short = &refs[..refs.len() - 1];
        assert!(decode([&t[0], &t[1], &t[2], &t[3]], refs_short, k, &mut Vec::new()).is_err());
        Ok(back)
    }

    fn samples() -> impl Strategy<Value = Vec<(i64, i64)>> {
        proptest::collection::vec(
            (
                1i64..30_000_000_000,
                prop_oneof![0i64..1000, -5i64..0, Just(i64::MAX / 4)],
            ),
            1..300,
        )
        .prop_map(|steps| {
            let (mut t, mut v) = (1_700_000_000_000_000_000i64, 0i64);
            steps
                .into_iter()
                .map(|(dt, dv)| {
                    t += dt;
                    v = if dv < 0 { 0 } else { v.wrapping_add(dv) };
                    (t, v)
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn buckets_round_trip_and_merge_to_the_whole(s in samples(), bucket_i in 0usize..2, counter in any::<bool>()) {
            let ts: Vec<i64> = s.iter().map(|x| x.0).collect();
            let vs = s.iter().map(|x| Value::Int(x.1));
            let mut ps = Vec::new();
            summarise(&ts, vs, BUCKETS[bucket_i], &mut ps);
            let mut back = round(&ps, ValueKind::Int, counter).unwrap();
            if !counter {
                for p in &mut back { p.inc = Sum::Int(0); p.dur = 0; }
                for p in &mut ps { p.inc = Sum::Int(0); p.dur = 0; }
            }
            prop_assert_eq!(&back, &ps);
            // Merging every bucket gives the summary of all samples as one.
            let mut all = Partial::sample(ts[0], Value::Int(s[0].1));
            for (&t, x) in ts.iter().zip(&s).skip(1) {
                all.merge(&Partial::sample(t, Value::Int(x.1)));
            }
            let mut m = ps[0];
            for p in &ps[1..] { m.merge(p); }
            if counter {
                prop_assert_eq!((m.inc, m.dur), (all.inc, all.dur));
            }
            prop_assert_eq!((m.count, m.sum, m.min, m.max, m.last), (all.count, all.sum, all.min, all.max, all.last));
        }
    }

    #[test]
    fn float_buckets_round_trip_bit_for_bit() {
        let ts = [0i64, 1, 2, 10_000_000_001, 10_000_000_002];
        let vs = [f64::NAN, -0.0, f64::INFINITY, 1.5, f64::NEG_INFINITY];
        let mut ps = Vec::new();
        summarise(
            &ts,
            vs.iter().map(|&f| Value::Float(f)),
            BUCKETS[0],
            &mut ps,
        );
        let back = round(&ps, ValueKind::Float, true).unwrap();
        assert_eq!(back.len(), 2);
        assert!(matches!(back[0].first, Value::Float(f) if f.is_nan()));
        assert!(matches!(back[1].last, Value::Float(f) if f == f64::NEG_INFINITY));
    }
}
