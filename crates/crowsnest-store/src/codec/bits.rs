//! Bit streams, least significant bit first: a writer that appends to a byte vector through a
//! 64-bit accumulator, and a reader that refills a 64-bit window. The reader never reads past
//! its slice; running out is a [`DecodeError`].

use super::DecodeError;

/// Appends bits to a byte vector. Bytes may be pushed directly only while no bits are pending
/// ([`BitWriter::is_aligned`]), which is how codecs put varint headers before their bits.
#[derive(Debug, Clone, Default)]
pub(crate) struct BitWriter {
    buf: Vec<u8>,
    acc: u64,
    nbits: u32,
}

#[inline]
fn mask(n: u32) -> u64 {
    if n >= 64 { u64::MAX } else { (1u64 << n) - 1 }
}

impl BitWriter {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Whether no bits are pending (the next bit starts a new byte).
    pub(crate) fn is_aligned(&self) -> bool {
        self.nbits == 0
    }

    /// The byte vector, for pushing whole bytes while aligned.
    pub(crate) fn bytes_mut(&mut self) -> &mut Vec<u8> {
        debug_assert!(self.is_aligned(), "bytes pushed between bits");
        &mut self.buf
    }

    /// Writes the low `n` bits of `v` (`n` <= 64).
    #[inline]
    pub(crate) fn write(&mut self, v: u64, n: u32) {
        debug_assert!(n <= 64);
        if n == 0 {
            return;
        }
        let v = v & mask(n);
        self.acc |= v << self.nbits;
        let total = self.nbits + n;
        if total >= 64 {
            self.buf.extend_from_slice(&self.acc.to_le_bytes());
            let written = 64 - self.nbits;
            self.acc = if written >= 64 { 0 } else { v >> written };
            self.nbits = total - 64;
        } else {
            self.nbits = total;
        }
    }

    /// Writes one bit.
    #[inline]
    pub(crate) fn bit(&mut self, b: bool) {
        self.write(u64::from(b), 1);
    }

    /// The bytes written so far plus the pending bits padded to a byte, appended to `out`,
    /// leaving the writer as it was (so a head can be read while it is still being written).
    pub(crate) fn copy_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.buf);
        let tail = self.nbits.div_ceil(8) as usize;
        out.extend_from_slice(&self.acc.to_le_bytes()[..tail]);
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.buf.capacity()
    }
}

/// Reads bits written by [`BitWriter`].
#[derive(Debug, Clone)]
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u64,
    nbits: u32,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        BitReader {
            data,
            pos: 0,
            acc: 0,
            nbits: 0,
        }
    }

    #[inline]
    fn refill(&mut self) {
        if self.pos + 8 <= self.data.len() {
            let mut w = [0u8; 8];
            w.copy_from_slice(&self.data[self.pos..self.pos + 8]);
            let word = u64::from_le_bytes(w);
            // nbits < 64 here; take as many whole bytes as fit.
            self.acc |= word << self.nbits;
            let take = (63 - self.nbits) / 8;
            self.pos += take as usize;
            self.nbits += take * 8;
        } else {
            while self.nbits <= 56 && self.pos < self.data.len() {
                self.acc |= u64::from(self.data[self.pos]) << self.nbits;
                self.pos += 1;
                self.nbits += 8;
            }
        }
    }

    /// Reads `n` bits (`n` <= 64).
    #[inline]
    pub(crate) fn read(&mut self, n: u32, field: &'static str) -> Result<u64, DecodeError> {
        if n == 0 {
            return Ok(0);
        }
        if n > 56 {
            let lo = self.read(32, field)?;
            let hi = self.read(n - 32, field)?;
            return Ok(lo | (hi << 32));
        }
        if self.nbits < n {
            self.refill();
            if self.nbits < n {
                return Err(DecodeError::new(field, "bit stream ends early"));
            }
        }
        let v = self.acc & mask(n);
        self.acc >>= n;
        self.nbits -= n;
        Ok(v)
    }

    #[inline]
    pub(crate) fn bit(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        Ok(self.read(1, field)? == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn bits_round_trip(items in proptest::collection::vec((any::<u64>(), 0u32..=64), 0..200)) {
            let mut w = BitWriter::new();
            for &(v, n) in &items {
                w.write(v, n);
            }
            let mut out = Vec::new();
            w.copy_into(&mut out);
            let mut r = BitReader::new(&out);
            for &(v, n) in &items {
                prop_assert_eq!(r.read(n, "v").unwrap(), v & mask(n));
            }
        }
    }

    #[test]
    fn reading_past_the_end_is_an_error() {
        let mut r = BitReader::new(&[0xff]);
        assert_eq!(r.read(8, "x").unwrap(), 0xff);
        assert!(r.read(1, "x").is_err());
    }
}
