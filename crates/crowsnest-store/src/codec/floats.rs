//! Float columns: Gorilla XOR coding (Pelkonen et al., VLDB 2015), bit for bit.
//!
//! The first value is 64 raw bits. Each later value is XORed with the one before: `0` when
//! equal; `10` + the XOR's meaningful bits when they fall inside the previous window of
//! leading/trailing zeros; otherwise `11` + 6 bits of leading zeros + 6 bits of (length - 1) +
//! the meaningful bits. Values travel as their bit patterns, so NaN payloads, infinities and
//! -0.0 come back exactly.

use super::DecodeError;
use super::bits::{BitReader, BitWriter};

/// A float column being written one value at a time. Its bytes at any moment are a valid
/// column of the values pushed so far.
#[derive(Debug, Clone, Default)]
pub(crate) struct FloatStream {
    w: BitWriter,
    n: u32,
    prev: u64,
    lead: u32,
    trail: u32,
}

impl FloatStream {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Values pushed.
    pub(crate) fn len(&self) -> u32 {
        self.n
    }

    #[inline]
    pub(crate) fn push(&mut self, v: f64) {
        let bits = v.to_bits();
        if self.n == 0 {
            self.w.write(bits, 64);
            // No window yet: the first non-zero XOR opens one.
            self.lead = u32::MAX;
        } else {
            let x = bits ^ self.prev;
            if x == 0 {
                self.w.bit(false);
            } else {
                let lead = x.leading_zeros().min(63);
                let trail = x.trailing_zeros();
                if self.lead != u32::MAX && lead >= self.lead && trail >= self.trail {
                    // '1' then '0': reuse the window.
                    self.w.write(0b01, 2);
                    let sig = 64 - self.lead - self.trail;
                    self.w.write(x >> self.trail, sig);
                } else {
                    self.w.write(0b11, 2);
                    let sig = 64 - lead - trail;
                    self.w.write(u64::from(lead), 6);
                    self.w.write(u64::from(sig - 1), 6);
                    self.w.write(x >> trail, sig);
                    self.lead = lead;
                    self.trail = trail;
                }
            }
        }
        self.prev = bits;
        self.n += 1;
    }

    /// The column so far, appended to `out`.
    pub(crate) fn copy_into(&self, out: &mut Vec<u8>) {
        self.w.copy_into(out);
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.w.heap_bytes()
    }
}

/// Encodes `values`.
pub(crate) fn encode(values: &[f64], out: &mut Vec<u8>) {
    let mut s = FloatStream::new();
    for &v in values {
        s.push(v);
    }
    s.copy_into(out);
}

/// Decodes a column of `n` values, appending them to `out`.
pub(crate) fn decode(data: &[u8], n: usize, out: &mut Vec<f64>) -> Result<(), DecodeError> {
    const F: &str = "float column";
    if n == 0 {
        return Ok(());
    }
    // Every value after the first costs at least one bit.
    if n > data.len().saturating_mul(8).saturating_add(1) {
        return Err(DecodeError::new(F, "count larger than the bytes can hold"));
    }
    out.reserve(n);
    let mut r = BitReader::new(data);
    let mut prev = r.read(64, F)?;
    out.push(f64::from_bits(prev));
    let (mut lead, mut trail) = (u32::MAX, 0u32);
    for _ in 1..n {
        if r.bit(F)? {
            if r.bit(F)? {
                lead = r.read(6, F)? as u32;
                let sig = r.read(6, F)? as u32 + 1;
                if lead + sig > 64 {
                    return Err(DecodeError::new(F, "XOR window wider than 64 bits"));
                }
                trail = 64 - lead - sig;
            } else if lead == u32::MAX {
                return Err(DecodeError::new(F, "window reused before one was set"));
            }
            let sig = 64 - lead - trail;
            prev ^= r.read(sig, F)? << trail;
        }
        out.push(f64::from_bits(prev));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn special() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(-f64::NAN),
            Just(f64::from_bits(0x7ff8_dead_beef_0001)),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(0.0),
            Just(-0.0),
            Just(f64::MIN_POSITIVE),
            Just(f64::MAX),
            (0u32..1000).prop_map(|v| f64::from(v) / 100.0),
        ]
    }

    proptest! {
        #[test]
        fn floats_round_trip_bit_for_bit(values in proptest::collection::vec(special(), 0..300)) {
            let mut buf = Vec::new();
            encode(&values, &mut buf);
            let mut out = Vec::new();
            decode(&buf, values.len(), &mut out).unwrap();
            prop_assert_eq!(out.len(), values.len());
            for (a, b) in out.iter().zip(&values) {
                prop_assert_eq!(a.to_bits(), b.to_bits());
            }
        }
    }

    #[test]
    fn repeats_cost_one_bit() {
        let mut buf = Vec::new();
        encode(&[0.25; 801], &mut buf);
        assert_eq!(buf.len(), 8 + 100);
    }

    #[test]
    fn corrupt_input_is_an_error() {
        assert!(decode(&[1, 2, 3], 1, &mut Vec::new()).is_err());
        assert!(decode(&[0; 9], 1000, &mut Vec::new()).is_err());
        // '10' with no window set.
        assert!(decode(&[0, 0, 0, 0, 0, 0, 0, 0, 0b01], 2, &mut Vec::new()).is_err());
    }
}
