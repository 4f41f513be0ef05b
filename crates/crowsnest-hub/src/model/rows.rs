//! The byte encoding of a set's rows: one row per batch the set was in, each
//! `varint(slot gap << 1 | same columns as the previous row)`, `varint(columns present)` when
//! they differ, `varint(columns whose value changed)`, then one cell per changed column,
//! `varint(zigzag(value - previous value of the column) - 1)`. An unchanged value (a limit, a
//! request, a steady rate) costs one bit of a mask; one that changes little (a memory figure
//! moving by a few pages) one to three bytes.

use std::collections::VecDeque;

/// Appends `v` as a LEB128 varint.
pub(crate) fn put_varint(out: &mut VecDeque<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push_back((v as u8) | 0x80);
        v >>= 7;
    }
    out.push_back(v as u8);
}

/// Reads a LEB128 varint; `None` at the end of the input or on a varint longer than 10 bytes.
pub(crate) fn get_varint(it: &mut impl Iterator<Item = u8>) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..70).step_by(7) {
        let b = it.next()?;
        v |= u64::from(b & 0x7f).checked_shl(shift).unwrap_or(0);
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The cell of a present value given the column's previous value; `None` for the one delta
/// (exactly 2^63 apart) that has no cell, which the caller stores as absent.
pub(crate) fn cell(value: i64, previous: i64) -> Option<u64> {
    let d = value.wrapping_sub(previous);
    (((d << 1) ^ (d >> 63)) as u64).checked_add(1)
}

/// The value of a present cell (`cell != 0`) given the column's previous value.
pub(crate) fn value_of(cell: u64, previous: i64) -> i64 {
    let z = cell - 1;
    let d = ((z >> 1) as i64) ^ -((z & 1) as i64);
    previous.wrapping_add(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_cells_round_trip() {
        let mut out = VecDeque::new();
        let values = [0u64, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX];
        for v in values {
            put_varint(&mut out, v);
        }
        let mut it = out.iter().copied();
        for v in values {
            assert_eq!(get_varint(&mut it), Some(v));
        }
        assert_eq!(get_varint(&mut it), None);
        for (v, p) in [
            (5i64, 3i64),
            (3, 5),
            (0, 0),
            (i64::MAX, 0),
            (0, i64::MAX),
            (-7, 9),
        ] {
            let c = cell(v, p).unwrap();
            assert_ne!(c, 0);
            assert_eq!(value_of(c, p), v, "{v} after {p}");
        }
        assert_eq!(cell(i64::MIN, 0), None);
        let mut one = VecDeque::new();
        put_varint(&mut one, cell(4096 * 3, 0).unwrap());
        assert_eq!(one.len(), 3, "a few pages of change fit in three bytes");
    }
}
