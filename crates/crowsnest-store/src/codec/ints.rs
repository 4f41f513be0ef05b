//! Integer columns: counters, integer gauges and timestamps.
//!
//! A column of `n` values (the count is stored by the caller) is:
//!
//! ```text
//! flags     u8      bit 0: residuals are deltas of deltas (else deltas)
//!                   bit 1: residuals were divided by a common divisor
//!                   bit 2: a base was subtracted from every residual
//!                   bit 3: residuals (after the base) are all >= 0: stored as they are,
//!                          not zigzagged
//! v0        zigzag varint                      (n >= 1)
//! d1        zigzag varint, v1 - v0             (n >= 2 and delta-of-delta)
//! divisor   varint >= 2                        (bit 1)
//! base      zigzag varint                      (bit 2)
//! residuals bit stream, groups of 8: a header bit 0 = "same width as the group before"
//!           (the first group's "before" is 0), or 1 + 6 bits of width (63 means 64); then
//!           each residual, zigzagged, in that many bits
//! ```
//!
//! All arithmetic wraps, so any i64 sequence round-trips exactly (huge counters included). The
//! encoder picks, per column, deltas or deltas of deltas, a common divisor (memory is counted
//! in 4 KiB pages) and a base (the median or mid-range of the residuals: a counter that grows
//! by about the same amount each interval costs only its noise; or the minimum, which makes
//! every residual non-negative and saves the zigzag bit: jittered intervals). A constant column costs one
//! bit per 8 values. The head uses the streaming [`IntStream`] (delta of delta, no divisor, no
//! base); compaction re-encodes with the best choice.

use super::DecodeError;
use super::bits::{BitReader, BitWriter};
use super::varint::{Cursor, put_i64, put_u64, unzigzag, zigzag};

/// Residuals per width header.
pub(crate) const GROUP: usize = 8;

const FLAG_DOD: u8 = 1;
const FLAG_GCD: u8 = 2;
const FLAG_BASE: u8 = 4;
const FLAG_UNSIGNED: u8 = 8;

/// The bit width of a zigzagged residual, as coded (63 is written as 64).
#[inline]
fn width_of(z: u64) -> u32 {
    let w = 64 - z.leading_zeros();
    if w == 63 { 64 } else { w }
}

#[inline]
fn write_group(w: &mut BitWriter, prev_width: &mut u32, zs: &[u64]) {
    let width = width_of(zs.iter().fold(0, |a, &z| a | z));
    if width == *prev_width {
        w.bit(false);
    } else {
        w.bit(true);
        w.write(u64::from(width.min(63)), 6);
        *prev_width = width;
    }
    for &z in zs {
        w.write(z, width);
    }
}

fn residuals(values: &[i64], dod: bool) -> Vec<i64> {
    let mut out = Vec::with_capacity(values.len());
    let mut prev_d = 0i64;
    for i in 1..values.len() {
        let d = values[i].wrapping_sub(values[i - 1]);
        if !dod {
            out.push(d);
        } else if i >= 2 {
            out.push(d.wrapping_sub(prev_d));
        }
        prev_d = d;
    }
    out
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// A residual as stored.
#[inline]
fn stored(q: i64, base: i64, unsigned: bool) -> u64 {
    let r = q.wrapping_sub(base);
    if unsigned { r as u64 } else { zigzag(r) }
}

/// Bits the residuals cost with this base.
fn cost(qs: &[i64], base: i64, unsigned: bool) -> u64 {
    let mut prev = 0;
    let mut bits = 0u64;
    for g in qs.chunks(GROUP) {
        let width = width_of(g.iter().fold(0, |a, &q| a | stored(q, base, unsigned)));
        bits += if width == prev { 1 } else { 7 };
        prev = width;
        bits += u64::from(width) * g.len() as u64;
    }
    bits
}

struct Choice {
    dod: bool,
    divisor: u64,
    base: i64,
    unsigned: bool,
    qs: Vec<i64>,
    bits: u64,
}

fn best_for(values: &[i64], dod: bool) -> Choice {
    let rs = residuals(values, dod);
    let g = rs.iter().fold(0u64, |a, &r| gcd(a, r.unsigned_abs()));
    let divisor = if g >= 2 && g <= i64::MAX as u64 { g } else { 1 };
    let qs: Vec<i64> = if divisor > 1 {
        rs.iter().map(|&r| r / divisor as i64).collect()
    } else {
        rs
    };
    let mut bases = vec![(0i64, false)];
    if !qs.is_empty() {
        let mut sorted = qs.clone();
        let mid = sorted.len() / 2;
        let (_, median, _) = sorted.select_nth_unstable(mid);
        bases.push((*median, false));
        let (lo, hi) = qs
            .iter()
            .fold((i64::MAX, i64::MIN), |(lo, hi), &q| (lo.min(q), hi.max(q)));
        bases.push((((i128::from(lo) + i128::from(hi)) / 2) as i64, false));
        bases.push((lo, true));
    }
    let ((base, unsigned), bits) = bases
        .into_iter()
        .map(|(b, u)| {
            // A base costs its varint; count it so that 0 wins ties.
            let extra = if b == 0 { 0 } else { 8 * varint_len(zigzag(b)) };
            ((b, u), cost(&qs, b, u) + extra)
        })
        .min_by_key(|&(_, c)| c)
        .unwrap_or(((0, false), 0));
    Choice {
        dod,
        divisor,
        base,
        unsigned,
        qs,
        bits,
    }
}

fn varint_len(v: u64) -> u64 {
    u64::from((64 - v.leading_zeros()).max(1).div_ceil(7))
}

/// Encodes `values`, choosing deltas or deltas of deltas, divisor and base for the smallest
/// output.
pub(crate) fn encode(values: &[i64], out: &mut Vec<u8>) {
    if values.len() < 3 {
        return encode_plain(values, out);
    }
    let a = best_for(values, false);
    let b = best_for(values, true);
    // Delta of delta also stores d1 (a varint); charge it.
    let b_bits = b.bits + 8 * varint_len(zigzag(values[1].wrapping_sub(values[0])));
    let c = if b_bits < a.bits { b } else { a };
    write_choice(values, &c, out);
}

/// Deltas, no divisor, no base: for tiny columns.
fn encode_plain(values: &[i64], out: &mut Vec<u8>) {
    let c = Choice {
        dod: false,
        divisor: 1,
        base: 0,
        unsigned: false,
        qs: residuals(values, false),
        bits: 0,
    };
    write_choice(values, &c, out);
}

fn write_choice(values: &[i64], c: &Choice, out: &mut Vec<u8>) {
    let mut flags = 0;
    if c.dod {
        flags |= FLAG_DOD;
    }
    if c.divisor > 1 {
        flags |= FLAG_GCD;
    }
    if c.base != 0 {
        flags |= FLAG_BASE;
    }
    if c.unsigned {
        flags |= FLAG_UNSIGNED;
    }
    out.push(flags);
    let Some(&v0) = values.first() else {
        return;
    };
    put_i64(out, v0);
    if c.dod && values.len() >= 2 {
        put_i64(out, values[1].wrapping_sub(v0));
    }
    if c.divisor > 1 {
        put_u64(out, c.divisor);
    }
    if c.base != 0 {
        put_i64(out, c.base);
    }
    let mut w = BitWriter::new();
    let mut prev = 0;
    let mut zs = [0u64; GROUP];
    for g in c.qs.chunks(GROUP) {
        for (z, &q) in zs.iter_mut().zip(g) {
            *z = stored(q, c.base, c.unsigned);
        }
        write_group(&mut w, &mut prev, &zs[..g.len()]);
    }
    w.copy_into(out);
}

/// Decodes a column of `n` values, appending them to `out`.
pub(crate) fn decode(data: &[u8], n: usize, out: &mut Vec<i64>) -> Result<(), DecodeError> {
    const F: &str = "int column";
    if n == 0 {
        return Ok(());
    }
    // Each group of 8 costs at least its header bit: 64 values per byte at most.
    if n > data.len().saturating_mul(64).saturating_add(2) {
        return Err(DecodeError::new(F, "count larger than the bytes can hold"));
    }
    let mut c = Cursor::new(data);
    let flags = c.u8(F)?;
    if flags & !(FLAG_DOD | FLAG_GCD | FLAG_BASE | FLAG_UNSIGNED) != 0 {
        return Err(DecodeError::new(F, "unknown flags"));
    }
    out.reserve(n);
    let v0 = c.varint_i64(F)?;
    out.push(v0);
    if n == 1 {
        return Ok(());
    }
    let dod = flags & FLAG_DOD != 0;
    let mut prev = v0;
    let mut prev_d = 0i64;
    let mut m = n - 1;
    if dod {
        prev_d = c.varint_i64(F)?;
        prev = prev.wrapping_add(prev_d);
        out.push(prev);
        m -= 1;
    }
    let divisor = if flags & FLAG_GCD != 0 {
        let g = c.varint(F)?;
        if !(2..=i64::MAX as u64).contains(&g) {
            return Err(DecodeError::new(F, "divisor out of range"));
        }
        g as i64
    } else {
        1
    };
    let base = if flags & FLAG_BASE != 0 {
        c.varint_i64(F)?
    } else {
        0
    };
    let unsigned = flags & FLAG_UNSIGNED != 0;
    let mut r = BitReader::new(&data[c.pos()..]);
    let mut width = 0u32;
    while m > 0 {
        if r.bit(F)? {
            let code = r.read(6, F)? as u32;
            width = if code == 63 { 64 } else { code };
        }
        let k = m.min(GROUP);
        for _ in 0..k {
            let z = r.read(width, F)?;
            let q = if unsigned { z as i64 } else { unzigzag(z) }.wrapping_add(base);
            let res = q.wrapping_mul(divisor);
            let d = if dod { prev_d.wrapping_add(res) } else { res };
            prev = prev.wrapping_add(d);
            prev_d = d;
            out.push(prev);
        }
        m -= k;
    }
    Ok(())
}

/// A column being written one value at a time (the head): deltas of deltas, no divisor, no
/// base. Its bytes at any moment are a valid column of the values pushed so far.
#[derive(Debug, Clone, Default)]
pub(crate) struct IntStream {
    w: BitWriter,
    n: u32,
    prev: i64,
    prev_d: i64,
    prev_width: u32,
    pending: [u64; GROUP],
    npending: u8,
}

impl IntStream {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Values pushed.
    pub(crate) fn len(&self) -> u32 {
        self.n
    }

    #[inline]
    pub(crate) fn push(&mut self, v: i64) {
        match self.n {
            0 => {
                let b = self.w.bytes_mut();
                b.push(FLAG_DOD);
                put_i64(b, v);
            }
            1 => {
                self.prev_d = v.wrapping_sub(self.prev);
                put_i64(self.w.bytes_mut(), self.prev_d);
            }
            _ => {
                let d = v.wrapping_sub(self.prev);
                self.pending[usize::from(self.npending)] = zigzag(d.wrapping_sub(self.prev_d));
                self.prev_d = d;
                self.npending += 1;
                if usize::from(self.npending) == GROUP {
                    write_group(&mut self.w, &mut self.prev_width, &self.pending);
                    self.npending = 0;
                }
            }
        }
        self.prev = v;
        self.n += 1;
    }

    /// The column so far, appended to `out`; the stream stays as it is.
    pub(crate) fn copy_into(&self, out: &mut Vec<u8>) {
        if self.npending == 0 {
            return self.w.copy_into(out);
        }
        let mut w = self.w.clone();
        let mut prev = self.prev_width;
        write_group(
            &mut w,
            &mut prev,
            &self.pending[..usize::from(self.npending)],
        );
        w.copy_into(out);
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.w.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(values: &[i64]) -> usize {
        let mut buf = Vec::new();
        encode(values, &mut buf);
        let mut out = Vec::new();
        decode(&buf, values.len(), &mut out).unwrap();
        assert_eq!(out, values);
        let mut s = IntStream::new();
        for &v in values {
            s.push(v);
        }
        let mut sbuf = Vec::new();
        s.copy_into(&mut sbuf);
        let mut out = Vec::new();
        decode(&sbuf, values.len(), &mut out).unwrap();
        assert_eq!(out, values, "stream");
        buf.len()
    }

    fn edgy() -> impl Strategy<Value = i64> {
        prop_oneof![
            any::<i64>(),
            Just(i64::MIN),
            Just(i64::MAX),
            Just(0),
            -5i64..5,
            (0i64..1 << 20).prop_map(|v| v * 4096),
        ]
    }

    proptest! {
        #[test]
        fn any_sequence_round_trips(values in proptest::collection::vec(edgy(), 0..300)) {
            round_trip(&values);
        }

        #[test]
        fn counters_with_gaps_and_equal_steps_round_trip(
            start in any::<i64>(),
            steps in proptest::collection::vec(prop_oneof![Just(0i64), 0i64..2_000_000_000, Just(i64::MAX)], 0..500),
        ) {
            let mut v = start;
            let values: Vec<i64> = steps.iter().map(|s| { v = v.wrapping_add(*s); v }).collect();
            round_trip(&values);
        }
    }

    #[test]
    fn constant_and_regular_columns_are_tiny() {
        let constant = vec![1_073_741_824i64; 3600];
        assert!(round_trip(&constant) < 3600 / 8 / 8 + 16);
        let ts: Vec<i64> = (0..3600)
            .map(|i| 1_700_000_000_000_000_000 + i * 1_000_000_000)
            .collect();
        assert!(round_trip(&ts) < 3600 / 8 / 8 + 24);
        let pages: Vec<i64> = (0..3600).map(|i| (i % 7) * 4096 + 100 * 4096).collect();
        assert!(
            round_trip(&pages) < 3600 * 4 / 8 + 64,
            "divisor finds 4 KiB pages"
        );
    }

    #[test]
    fn corrupt_input_is_an_error_not_a_panic() {
        assert!(decode(&[], 5, &mut Vec::new()).is_err());
        assert!(decode(&[0xf0, 0], 1, &mut Vec::new()).is_err());
        assert!(decode(&[0, 0], 1 << 40, &mut Vec::new()).is_err());
        assert!(
            decode(&[2, 0, 1], 3, &mut Vec::new()).is_err(),
            "divisor 1 is invalid"
        );
    }
}
