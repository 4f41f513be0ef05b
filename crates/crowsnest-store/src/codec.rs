//! Column codecs: integers (delta or delta-of-delta, divisor, base, bit-packed groups),
//! timestamps (the integer codec plus an ordering check) and floats (Gorilla XOR). Every
//! decoder takes the value count from its caller, bounds it by the bytes given, and returns a
//! [`DecodeError`] for any input it cannot read, never a panic.

pub(crate) mod bits;
pub(crate) mod floats;
pub(crate) mod ints;
pub(crate) mod timestamps;
pub(crate) mod varint;

/// Why bytes could not be decoded: which field, and what was wrong. The file layer adds the
/// path and offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub(crate) struct DecodeError {
    pub(crate) field: &'static str,
    pub(crate) reason: &'static str,
}

impl DecodeError {
    pub(crate) const fn new(field: &'static str, reason: &'static str) -> Self {
        DecodeError { field, reason }
    }
}
