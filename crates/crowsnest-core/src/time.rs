//! Timestamps in nanoseconds since the Unix epoch, written and read as RFC 3339 the way Go's
//! `time.Time` marshals them (`RFC3339Nano`, trailing zeros of the fraction dropped, UTC `Z`).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time, nanoseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

/// Why a text is not an RFC 3339 timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not an RFC 3339 timestamp: {reason}")]
pub struct TimestampError {
    /// The text that was given.
    pub text: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

const NANOS_PER_SEC: i64 = 1_000_000_000;

impl Timestamp {
    /// From whole seconds since the epoch.
    pub fn from_secs(secs: i64) -> Self {
        Timestamp(secs.saturating_mul(NANOS_PER_SEC))
    }

    /// From milliseconds since the epoch.
    pub fn from_millis(ms: i64) -> Self {
        Timestamp(ms.saturating_mul(1_000_000))
    }

    /// Nanoseconds since the epoch.
    pub fn nanos(self) -> i64 {
        self.0
    }

    /// Milliseconds since the epoch (floor).
    pub fn millis(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }

    /// Seconds since the epoch as a float (for Prometheus gauges such as start times).
    pub fn secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// This time plus a duration in nanoseconds (saturating).
    pub fn add_nanos(self, n: i64) -> Self {
        Timestamp(self.0.saturating_add(n))
    }

    /// Parses RFC 3339 (`2026-11-24T03:17:00Z`, `...T03:17:00.5+01:00`), as cAdvisor's clients
    /// send it.
    pub fn parse_rfc3339(text: &str) -> Result<Self, TimestampError> {
        let err = |reason| TimestampError {
            text: text.to_owned(),
            reason,
        };
        let b = text.as_bytes();
        if b.len() < 20 {
            return Err(err("too short"));
        }
        let num = |range: std::ops::Range<usize>| -> Result<i64, TimestampError> {
            let s = &b[range];
            if !s.iter().all(u8::is_ascii_digit) {
                return Err(err("expected digits"));
            }
            Ok(s.iter().fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')))
        };
        let year = num(0..4)?;
        if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
            return Err(err("expected YYYY-MM-DDTHH:MM:SS"));
        }
        let month = num(5..7)?;
        let day = num(8..10)?;
        if b[13] != b':' || b[16] != b':' {
            return Err(err("expected YYYY-MM-DDTHH:MM:SS"));
        }
        let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return Err(err("date out of range"));
        }
        if hour > 23 || min > 59 || sec > 60 {
            return Err(err("time out of range"));
        }
        let mut i = 19;
        let mut frac: i64 = 0;
        if b[i] == b'.' {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                if i - start < 9 {
                    frac = frac * 10 + i64::from(b[i] - b'0');
                }
                i += 1;
            }
            let digits = i - start;
            if digits == 0 {
                return Err(err("empty fraction"));
            }
            for _ in digits..9 {
                frac *= 10;
            }
        }
        let offset_secs = match b.get(i) {
            Some(b'Z' | b'z') if i + 1 == b.len() => 0,
            Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
                let oh = num(i + 1..i + 3)?;
                let om = num(i + 4..i + 6)?;
                if oh > 23 || om > 59 {
                    return Err(err("offset out of range"));
                }
                let o = oh * 3600 + om * 60;
                if *sign == b'+' { o } else { -o }
            }
            _ => return Err(err("expected Z or a ±HH:MM offset at the end")),
        };
        let days = days_from_civil(year, month, day);
        let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset_secs;
        secs.checked_mul(NANOS_PER_SEC)
            .and_then(|n| n.checked_add(frac))
            .map(Timestamp)
            .ok_or_else(|| err("out of range"))
    }
}

impl fmt::Display for Timestamp {
    /// Go's `RFC3339Nano` in UTC.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.div_euclid(NANOS_PER_SEC);
        let nanos = self.0.rem_euclid(NANOS_PER_SEC);
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
            sod / 3600,
            (sod / 60) % 60,
            sod % 60
        )?;
        if nanos != 0 {
            let mut digits = format!("{nanos:09}");
            while digits.ends_with('0') {
                digits.pop();
            }
            write!(f, ".{digits}")?;
        }
        f.write_str("Z")
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse_rfc3339(&s).map_err(serde::de::Error::custom)
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_like_go() {
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(
            Timestamp::from_secs(1_395_066_363).to_string(),
            "2014-03-17T14:26:03Z"
        );
        assert_eq!(
            Timestamp(1_500_000_000).to_string(),
            "1970-01-01T00:00:01.5Z"
        );
        assert_eq!(Timestamp(123).to_string(), "1970-01-01T00:00:00.000000123Z");
    }

    #[test]
    fn parses_offsets_and_fractions() {
        let t = Timestamp::parse_rfc3339("2014-03-17T15:26:03.25+01:00").unwrap();
        assert_eq!(t, Timestamp(1_395_066_363_250_000_000));
        assert_eq!(
            Timestamp::parse_rfc3339("2014-03-17T14:26:03Z")
                .unwrap()
                .millis(),
            1_395_066_363_000
        );
        for bad in [
            "",
            "2014-03-17",
            "2014-13-01T00:00:00Z",
            "2014-02-30T00:00:00Z",
            "2014-03-17T14:26:03",
            "2014-03-17T14:26:03.Z",
            "x014-03-17T14:26:03Z",
        ] {
            assert!(
                Timestamp::parse_rfc3339(bad).is_err(),
                "{bad} should not parse"
            );
        }
    }

    proptest! {
        #[test]
        fn round_trips(n in -9_000_000_000_000_000_000i64..9_000_000_000_000_000_000i64) {
            let t = Timestamp(n);
            prop_assert_eq!(Timestamp::parse_rfc3339(&t.to_string()).unwrap(), t);
        }

        #[test]
        fn never_panics_on_garbage(s in "\\PC{0,40}") {
            let _ = Timestamp::parse_rfc3339(&s);
        }
    }
}
