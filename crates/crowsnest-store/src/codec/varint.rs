//! LEB128 varints, zigzag, and a bounds-checked reading cursor. Every read returns a
//! [`DecodeError`] naming the field instead of panicking, whatever the input.

use super::DecodeError;

/// Maps signed to unsigned so that small magnitudes of either sign stay small.
#[inline]
pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// The inverse of [`zigzag`].
#[inline]
pub(crate) fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

/// Appends `v` as an LEB128 varint (1 to 10 bytes).
#[inline]
pub(crate) fn put_u64(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Appends `v` zigzagged as a varint.
#[inline]
pub(crate) fn put_i64(buf: &mut Vec<u8>, v: i64) {
    put_u64(buf, zigzag(v));
}

/// Appends a length-prefixed byte string.
pub(crate) fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    put_u64(buf, b.len() as u64);
    buf.extend_from_slice(b);
}

/// Reads from a byte slice, front to back, with every bound checked.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Cursor { data, pos: 0 }
    }

    /// Bytes consumed so far.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub(crate) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        let b = *self
            .data
            .get(self.pos)
            .ok_or(DecodeError::new(field, "truncated"))?;
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn bytes(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(DecodeError::new(field, "truncated"));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let s = self.bytes(N, field)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub(crate) fn u64_le(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }

    pub(crate) fn i64_le(&mut self, field: &'static str) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(self.array(field)?))
    }

    pub(crate) fn varint(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        // At most 10 bytes; the 10th may only carry the top bit.
        for i in 0..10 {
            let b = self.u8(field)?;
            if i == 9 && b > 1 {
                return Err(DecodeError::new(field, "varint overflows 64 bits"));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError::new(field, "varint longer than 10 bytes"))
    }

    pub(crate) fn varint_i64(&mut self, field: &'static str) -> Result<i64, DecodeError> {
        Ok(unzigzag(self.varint(field)?))
    }

    /// A varint that must fit `usize` and be at most `max`.
    pub(crate) fn len(&mut self, max: usize, field: &'static str) -> Result<usize, DecodeError> {
        let v = self.varint(field)?;
        match usize::try_from(v) {
            Ok(n) if n <= max => Ok(n),
            _ => Err(DecodeError::new(field, "length out of range")),
        }
    }

    /// A varint that must fit u32.
    pub(crate) fn varint_u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        u32::try_from(self.varint(field)?).map_err(|_| DecodeError::new(field, "exceeds u32"))
    }

    /// A length-prefixed byte string.
    pub(crate) fn bytes_prefixed(&mut self, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let n = self.len(self.remaining(), field)?;
        self.bytes(n, field)
    }

    /// A length-prefixed UTF-8 string.
    pub(crate) fn str_prefixed(&mut self, field: &'static str) -> Result<&'a str, DecodeError> {
        std::str::from_utf8(self.bytes_prefixed(field)?)
            .map_err(|_| DecodeError::new(field, "not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varints_round_trip(vs in proptest::collection::vec(any::<i64>(), 0..50)) {
            let mut buf = Vec::new();
            for &v in &vs {
                put_i64(&mut buf, v);
                put_u64(&mut buf, v as u64);
            }
            let mut c = Cursor::new(&buf);
            for &v in &vs {
                prop_assert_eq!(c.varint_i64("v").unwrap(), v);
                prop_assert_eq!(c.varint("v").unwrap(), v as u64);
            }
            prop_assert!(c.is_empty());
        }
    }

    #[test]
    fn overlong_and_truncated_varints_are_errors() {
        let mut c = Cursor::new(&[0xff; 11]);
        assert!(c.varint("x").is_err());
        let mut c = Cursor::new(&[0x80]);
        assert_eq!(c.varint("x").unwrap_err().reason, "truncated");
        let mut c = Cursor::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]);
        assert!(c.varint("x").is_err());
        assert_eq!(zigzag(i64::MIN), u64::MAX);
        assert_eq!(unzigzag(u64::MAX), i64::MIN);
    }
}
