//! Timestamp columns: the integer codec (whose delta-of-delta and base choices fit regular
//! intervals with jitter) plus the check every reader of stored time relies on: timestamps of
//! one column never go backwards.

use super::{DecodeError, ints};

/// Encodes timestamps (nanoseconds).
pub(crate) fn encode(ts: &[i64], out: &mut Vec<u8>) {
    ints::encode(ts, out);
}

/// Decodes `n` timestamps, appending them to `out`. With `strict`, each must be greater than
/// the one before (a series' samples); otherwise equal neighbours are allowed.
pub(crate) fn decode(
    data: &[u8],
    n: usize,
    strict: bool,
    out: &mut Vec<i64>,
) -> Result<(), DecodeError> {
    let from = out.len();
    ints::decode(data, n, out)?;
    let ok = out[from..]
        .windows(2)
        .all(|w| if strict { w[0] < w[1] } else { w[0] <= w[1] });
    if ok {
        Ok(())
    } else {
        out.truncate(from);
        Err(DecodeError::new("timestamps", "not increasing"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn timestamps_with_jitter_gaps_and_repeats_round_trip(
            start in any::<i64>().prop_map(|v| v / 4),
            steps in proptest::collection::vec(
                prop_oneof![Just(0i64), 900_000_000i64..1_100_000_000, 1i64..1 << 40], 0..400),
        ) {
            let mut t = start;
            let ts: Vec<i64> = steps.iter().map(|s| { t += s; t }).collect();
            let mut buf = Vec::new();
            encode(&ts, &mut buf);
            let mut out = Vec::new();
            decode(&buf, ts.len(), false, &mut out).unwrap();
            prop_assert_eq!(&out, &ts);
            let strict = ts.windows(2).all(|w| w[0] < w[1]);
            prop_assert_eq!(decode(&buf, ts.len(), true, &mut Vec::new()).is_ok(), strict);
        }
    }

    #[test]
    fn jittered_seconds_cost_about_the_jitter() {
        // 1 s interval plus up to 100 ms of jitter (the agent's scheduler): ~27 bits each.
        let mut t = 1_700_000_000_000_000_000i64;
        let mut x = 12345u64;
        let ts: Vec<i64> = (0..3600)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                t += 1_000_000_000 + (x >> 33) as i64 % 100_000_000;
                t
            })
            .collect();
        let mut buf = Vec::new();
        encode(&ts, &mut buf);
        assert!(buf.len() < 3600 * 29 / 8, "{} bytes", buf.len());
    }
}
