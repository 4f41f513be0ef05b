//! The head: samples not yet in a block, compressed as they arrive.
//!
//! Each active series has a value stream (integer delta-of-delta or float XOR, see `codec`)
//! and points into a *timeline*: a list of timestamps shared by every series that received
//! samples at the same times. A container's series arrive together in one batch, so its
//! thirty-odd series share one timeline and a timestamp costs 8 bytes once, not once per
//! series. A series that misses a sample its timeline has forks a timeline of its own.
//!
//! When the head's window ends, or memory runs short, the head is *frozen* (taken whole, in
//! O(active series)) and written out as a block; a fresh head takes the next samples.

use std::sync::Arc;

use crowsnest_core::batch::Value;

use crate::codec::floats::FloatStream;
use crate::codec::ints::IntStream;
use crate::series::{SeriesId, ValueKind};

const NONE: u32 = u32::MAX;

/// A series' values in the head.
#[derive(Debug, Clone)]
pub(crate) enum ValueStream {
    Int(IntStream),
    Float(FloatStream),
}

impl ValueStream {
    fn new(k: ValueKind) -> Self {
        match k {
            ValueKind::Int => ValueStream::Int(IntStream::new()),
            ValueKind::Float => ValueStream::Float(FloatStream::new()),
        }
    }

    fn len(&self) -> u32 {
        match self {
            ValueStream::Int(s) => s.len(),
            ValueStream::Float(s) => s.len(),
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            ValueStream::Int(s) => s.heap_bytes(),
            ValueStream::Float(s) => s.heap_bytes(),
        }
    }

    /// Pushes a value already converted to the stream's kind.
    #[inline]
    fn push(&mut self, v: Value) {
        match (self, v) {
            (ValueStream::Int(s), Value::Int(i)) => s.push(i),
            (ValueStream::Float(s), Value::Float(f)) => s.push(f),
            // The caller converts to the series' kind; a mismatch cannot reach here.
            (ValueStream::Int(s), Value::Float(f)) => s.push(f as i64),
            (ValueStream::Float(s), Value::Int(i)) => s.push(i as f64),
        }
    }

    fn kind(&self) -> ValueKind {
        match self {
            ValueStream::Int(_) => ValueKind::Int,
            ValueStream::Float(_) => ValueKind::Float,
        }
    }

    fn copy_into(&self, out: &mut Vec<u8>) {
        match self {
            ValueStream::Int(s) => s.copy_into(out),
            ValueStream::Float(s) => s.copy_into(out),
        }
    }
}

#[derive(Debug)]
struct Slot {
    series: SeriesId,
    tl: u32,
    start: u32,
    values: ValueStream,
}

/// One series' samples from the head or a frozen head, ready to decode.
#[derive(Debug, Clone)]
pub(crate) struct HeadChunk {
    pub(crate) series: SeriesId,
    pub(crate) vkind: ValueKind,
    /// Index of the timeline in the frozen head (or snapshot) and the series' range in it.
    pub(crate) tl: u32,
    pub(crate) start: u32,
    pub(crate) n: u32,
    /// The encoded value column.
    pub(crate) values: Vec<u8>,
}

/// A head taken whole: written out as one block, readable by queries until it is.
#[derive(Debug)]
pub(crate) struct FrozenHead {
    /// Raw window the head belonged to.
    pub(crate) window: i64,
    /// Highest write-ahead log generation whose samples are all in here.
    pub(crate) wal_gen: u64,
    pub(crate) timelines: Vec<Arc<[i64]>>,
    /// Sorted by series.
    pub(crate) chunks: Vec<HeadChunk>,
    pub(crate) min_t: i64,
    pub(crate) max_t: i64,
    pub(crate) samples: u64,
}

impl FrozenHead {
    /// The chunk of `series`, if any.
    pub(crate) fn chunk(&self, series: SeriesId) -> Option<&HeadChunk> {
        self.chunks
            .binary_search_by_key(&series, |c| c.series)
            .ok()
            .map(|i| &self.chunks[i])
    }

    /// The timestamps of a chunk.
    pub(crate) fn timestamps(&self, c: &HeadChunk) -> &[i64] {
        self.timelines
            .get(c.tl as usize)
            .and_then(|t| t.get(c.start as usize..(c.start + c.n) as usize))
            .unwrap_or(&[])
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.timelines
            .iter()
            .map(|t| t.len() * 8 + 16)
            .sum::<usize>()
            + self
                .chunks
                .iter()
                .map(|c| c.values.capacity() + std::mem::size_of::<HeadChunk>())
                .sum::<usize>()
    }
}

/// The head.
#[derive(Debug, Default)]
pub(crate) struct Head {
    /// Raw window this head generation belongs to (`i64::MIN` before its first sample).
    pub(crate) window: i64,
    timelines: Vec<Vec<i64>>,
    slots: Vec<Slot>,
    /// Per series: its slot, or `NONE`.
    slot_of: Vec<u32>,
    /// Per series: the newest timestamp stored (anywhere), `i64::MIN` if none.
    pub(crate) last_ts: Vec<i64>,
    min_t: i64,
    max_t: i64,
    samples: u64,
    bytes: usize,
}

impl Head {
    pub(crate) fn new() -> Self {
        Head {
            window: i64::MIN,
            min_t: i64::MAX,
            max_t: i64::MIN,
            ..Default::default()
        }
    }

    /// Makes room for series ids below `n`.
    pub(crate) fn grow(&mut self, n: usize) {
        if self.slot_of.len() < n {
            self.slot_of.resize(n, NONE);
            self.last_ts.resize(n, i64::MIN);
        }
    }

    /// Forgets series ids from `n` up (none of them has samples in this head) and gives
    /// back the per-id tables' memory beyond them.
    pub(crate) fn truncate(&mut self, n: usize) {
        debug_assert!(self.slots.iter().all(|s| (s.series as usize) < n));
        if self.slot_of.len() > n {
            self.slot_of.truncate(n);
            self.slot_of.shrink_to_fit();
            self.last_ts.truncate(n);
            self.last_ts.shrink_to_fit();
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.samples == 0
    }

    /// The series with samples in the head.
    pub(crate) fn active(&self) -> impl Iterator<Item = SeriesId> + '_ {
        self.slots.iter().map(|s| s.series)
    }

    pub(crate) fn samples(&self) -> u64 {
        self.samples
    }

    /// The oldest sample time in the head, if any.
    pub(crate) fn min_t(&self) -> Option<i64> {
        (self.samples > 0).then_some(self.min_t)
    }

    /// The newest sample time in the head (`i64::MIN` if empty).
    pub(crate) fn max_t(&self) -> i64 {
        self.max_t
    }

    /// Heap bytes of the samples held (timelines and value streams) plus per-series state.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.bytes
            + self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.timelines.capacity() * 24
            + self.slot_of.capacity() * 4
            + self.last_ts.capacity() * 8
    }

    /// Appends a sample the caller has checked (newer than `last_ts[series]`, value of the
    /// series' kind). `batch_tl` is the timeline the previous sample of the same batch used.
    #[inline]
    pub(crate) fn push(
        &mut self,
        series: SeriesId,
        vkind: ValueKind,
        t: i64,
        v: Value,
        batch_tl: &mut Option<u32>,
    ) {
        let s = series as usize;
        let slot = self.slot_of[s];
        if slot == NONE {
            let tl = match *batch_tl {
                Some(c) if self.timelines[c as usize].last() == Some(&t) => c,
                _ => self.new_timeline(vec![t]),
            };
            let start = self.timelines[tl as usize].len() as u32 - 1;
            let mut values = ValueStream::new(vkind);
            values.push(v);
            self.bytes += values.heap_bytes();
            self.slot_of[s] = self.slots.len() as u32;
            grow_gently(&mut self.slots);
            self.slots.push(Slot {
                series,
                tl,
                start,
                values,
            });
            *batch_tl = Some(tl);
        } else {
            let sl = &mut self.slots[slot as usize];
            let idx = (sl.start + sl.values.len()) as usize;
            let tl = &mut self.timelines[sl.tl as usize];
            if idx == tl.len() {
                let cap = tl.capacity();
                tl.push(t);
                self.bytes += (tl.capacity() - cap) * 8;
            } else if tl[idx] != t {
                // This series' times part from its timeline's: fork.
                let mut own = Vec::with_capacity(idx - sl.start as usize + 8);
                own.extend_from_slice(&tl[sl.start as usize..idx]);
                own.push(t);
                sl.start = 0;
                let n = self.timelines.len() as u32;
                self.bytes += own.capacity() * 8;
                grow_gently(&mut self.timelines);
                self.timelines.push(own);
                sl.tl = n;
            }
            let before = sl.values.heap_bytes();
            sl.values.push(v);
            self.bytes += sl.values.heap_bytes() - before;
            *batch_tl = Some(sl.tl);
        }
        self.last_ts[s] = t;
        self.min_t = self.min_t.min(t);
        self.max_t = self.max_t.max(t);
        self.samples += 1;
    }

    fn new_timeline(&mut self, ts: Vec<i64>) -> u32 {
        self.bytes += ts.capacity() * 8;
        grow_gently(&mut self.timelines);
        self.timelines.push(ts);
        self.timelines.len() as u32 - 1
    }

    /// Takes the head's samples as a [`FrozenHead`]; the head keeps its window and each
    /// series' newest timestamp.
    pub(crate) fn freeze(&mut self, wal_gen: u64) -> FrozenHead {
        let slots = std::mem::take(&mut self.slots);
        let timelines = std::mem::take(&mut self.timelines);
        let mut chunks: Vec<HeadChunk> = slots
            .into_iter()
            .map(|sl| {
                self.slot_of[sl.series as usize] = NONE;
                let mut values = Vec::new();
                sl.values.copy_into(&mut values);
                HeadChunk {
                    series: sl.series,
                    vkind: sl.values.kind(),
                    tl: sl.tl,
                    start: sl.start,
                    n: sl.values.len(),
                    values,
                }
            })
            .collect();
        chunks.sort_unstable_by_key(|c| c.series);
        let f = FrozenHead {
            window: self.window,
            wal_gen,
            timelines: timelines.into_iter().map(Arc::from).collect(),
            chunks,
            min_t: self.min_t,
            max_t: self.max_t,
            samples: self.samples,
        };
        self.min_t = i64::MAX;
        self.max_t = i64::MIN;
        self.samples = 0;
        self.bytes = 0;
        f
    }

    /// Copies of the chunks of `series` (sorted), with their timestamps, for a query.
    pub(crate) fn snapshot(&self, series: &[SeriesId]) -> Vec<(HeadChunk, Vec<i64>)> {
        let mut out = Vec::new();
        for &s in series {
            let Some(&slot) = self.slot_of.get(s as usize) else {
                continue;
            };
            if slot == NONE {
                continue;
            }
            let sl = &self.slots[slot as usize];
            let n = sl.values.len();
            let ts =
                self.timelines[sl.tl as usize][sl.start as usize..(sl.start + n) as usize].to_vec();
            let mut values = Vec::new();
            sl.values.copy_into(&mut values);
            out.push((
                HeadChunk {
                    series: s,
                    vkind: sl.values.kind(),
                    tl: 0,
                    start: 0,
                    n,
                    values,
                },
                ts,
            ));
        }
        out
    }
}

/// Grows a full vector by an eighth (not double), so that the memory budget, which sees
/// capacities, is not overshot by a doubling of a large vector.
fn grow_gently<T>(v: &mut Vec<T>) {
    if v.len() == v.capacity() {
        v.reserve_exact((v.len() / 8).max(64));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::ints;

    #[test]
    fn series_of_a_batch_share_a_timeline_and_fork_when_they_part() {
        let mut h = Head::new();
        h.grow(3);
        for t in 1..=4i64 {
            let mut tl = None;
            for s in 0..3u32 {
                // Series 2 misses t = 3.
                if s == 2 && t == 3 {
                    continue;
                }
                h.push(
                    s,
                    ValueKind::Int,
                    t * 10,
                    Value::Int(t * 100 + i64::from(s)),
                    &mut tl,
                );
            }
        }
        assert_eq!(h.samples(), 11);
        let f = h.freeze(7);
        assert_eq!(f.timelines.len(), 2, "one shared, one fork");
        assert_eq!(f.timestamps(f.chunk(0).unwrap()), [10, 20, 30, 40]);
        assert_eq!(f.timestamps(f.chunk(2).unwrap()), [10, 20, 40]);
        let mut v = Vec::new();
        let c = f.chunk(2).unwrap();
        ints::decode(&c.values, c.n as usize, &mut v).unwrap();
        assert_eq!(v, [102, 202, 402]);
        assert!(h.is_empty());
        assert_eq!(h.last_ts, [40, 40, 40]);
    }
}
