//! The low-level pieces of the Prometheus text format 0.0.4: numbers written exactly as the Go
//! client writes them (`strconv.AppendFloat(v, 'g', -1, 64)`), label values and help texts
//! escaped, and `# HELP` / `# TYPE` headers. Everything appends to a `String` without
//! allocating.

use std::fmt::Write as _;

/// The type of a metric family, as written on its `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// A monotonically increasing value.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Buckets, sum and count.
    Histogram,
    /// No type given.
    Untyped,
}

impl MetricType {
    /// The word on the `# TYPE` line.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::Untyped => "untyped",
        }
    }
}

/// Appends `# HELP name help` and `# TYPE name type` lines. The help text is escaped
/// (`\` and newline).
pub fn write_header(out: &mut String, name: &str, help: &str, ty: MetricType) {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    escape_help(out, help);
    out.push_str("\n# TYPE ");
    out.push_str(name);
    out.push(' ');
    out.push_str(ty.as_str());
    out.push('\n');
}

/// Appends one sample line: `name{l1="v1",...} value [timestamp_ms]`. Labels are written in
/// the order given (the text format does not require an order; cAdvisor's are sorted by
/// name), with their values escaped. No braces are written when `labels` is empty.
pub fn write_sample(
    out: &mut String,
    name: &str,
    labels: &[(&str, &str)],
    value: f64,
    timestamp_ms: Option<i64>,
) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_label(out, k, v);
        }
        out.push('}');
    }
    out.push(' ');
    write_float(out, value);
    if let Some(ts) = timestamp_ms {
        out.push(' ');
        write_i64(out, ts);
    }
    out.push('\n');
}

/// Appends `name="escaped value"`.
pub fn write_label(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str("=\"");
    escape_label_value(out, value);
    out.push('"');
}

/// Appends a label value escaped as the text format requires: `\` → `\\`, `"` → `\"`,
/// newline → `\n`.
pub fn escape_label_value(out: &mut String, v: &str) {
    if !v.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        out.push_str(v);
        return;
    }
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Appends a help text escaped as the text format requires: `\` → `\\`, newline → `\n`.
pub fn escape_help(out: &mut String, v: &str) {
    if !v.bytes().any(|b| matches!(b, b'\\' | b'\n')) {
        out.push_str(v);
        return;
    }
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Appends an unsigned integer in decimal.
pub fn write_u64(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    push_ascii(out, &buf[i..]);
}

/// Appends a signed integer in decimal.
pub fn write_i64(out: &mut String, n: i64) {
    if n < 0 {
        out.push('-');
    }
    write_u64(out, n.unsigned_abs());
}

/// Appends ASCII bytes (digits, signs, letters) to a `String`.
fn push_ascii(out: &mut String, bytes: &[u8]) {
    // Callers only pass ASCII; anything else would be a bug and is dropped, not written.
    out.push_str(std::str::from_utf8(bytes).unwrap_or_default());
}

/// 2^53: below it every integer is an `f64` and its shortest decimal form is its digits.
const EXACT_INT_LIMIT: f64 = 9_007_199_254_740_992.0;

/// Appends `v` exactly as Go's `strconv.FormatFloat(v, 'g', -1, 64)` writes it, with the Go
/// Prometheus client's special cases: `NaN`, `+Inf`, `-Inf`, and `0` for both zeros.
///
/// That is the shortest decimal that parses back to `v`, written as `%e` (`2e-09`,
/// `8.388608e+06`: at least two exponent digits, with a sign) when the decimal exponent is
/// below -4 or at least 6, and as a plain decimal (`0.0001`, `524288`) otherwise.
pub fn write_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    if v == 0.0 {
        out.push('0');
        return;
    }
    let neg = v < 0.0;
    let a = v.abs();
    let mut digits = [0u8; 32];
    let (nd, dp) = if a.fract() == 0.0 && a < EXACT_INT_LIMIT {
        int_digits(a as u64, &mut digits)
    } else {
        shortest_digits(a, &mut digits)
    };
    write_g(out, neg, &digits[..nd], dp);
}

/// The decimal digits of `n` without trailing zeros, and the position of the decimal point
/// (`n` = 0.d1d2… × 10^dp).
fn int_digits(mut n: u64, digits: &mut [u8; 32]) -> (usize, i32) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    while n > 0 {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    let all = &tmp[i..];
    let dp = all.len() as i32;
    let nd = all.iter().rposition(|&d| d != b'0').map_or(0, |p| p + 1);
    digits[..nd].copy_from_slice(&all[..nd]);
    (nd, dp)
}

/// A fixed buffer for `write!` of one float.
struct StackBuf {
    buf: [u8; 48],
    len: usize,
}

impl std::fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// The shortest round-tripping digits of a positive finite `a` (Rust's `{:e}`, which like
/// Go's shortest formatting picks the shortest, closest decimal), and the decimal point
/// position.
fn shortest_digits(a: f64, digits: &mut [u8; 32]) -> (usize, i32) {
    let mut sb = StackBuf {
        buf: [0; 48],
        len: 0,
    };
    // `{:e}` of an f64 is at most about 25 bytes; the buffer cannot overflow.
    let _ = write!(sb, "{a:e}");
    let s = &sb.buf[..sb.len];
    let mut nd = 0;
    let mut exp: i32 = 0;
    let mut exp_neg = false;
    let mut in_exp = false;
    for &b in s {
        match b {
            b'e' => in_exp = true,
            b'-' if in_exp => exp_neg = true,
            b'0'..=b'9' if in_exp => exp = exp * 10 + i32::from(b - b'0'),
            b'0'..=b'9' if nd < digits.len() => {
                digits[nd] = b;
                nd += 1;
            }
            _ => {}
        }
    }
    if exp_neg {
        exp = -exp;
    }
    while nd > 1 && digits[nd - 1] == b'0' {
        nd -= 1;
    }
    (nd, exp + 1)
}

/// Go's `%g` layout for shortest digits: `%e` when the exponent is < -4 or >= 6.
fn write_g(out: &mut String, neg: bool, d: &[u8], dp: i32) {
    if neg {
        out.push('-');
    }
    let exp = dp - 1;
    if !(-4..6).contains(&exp) {
        out.push(char::from(d[0]));
        if d.len() > 1 {
            out.push('.');
            push_ascii(out, &d[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        write_u64(out, u64::from(e));
        return;
    }
    let nd = d.len() as i32;
    if dp > 0 {
        let int_len = dp.min(nd) as usize;
        push_ascii(out, &d[..int_len]);
        for _ in nd..dp {
            out.push('0');
        }
    } else {
        out.push('0');
    }
    if nd > dp {
        out.push('.');
        for j in dp..nd {
            out.push(if j < 0 {
                '0'
            } else {
                char::from(d[j as usize])
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn f(v: f64) -> String {
        let mut s = String::new();
        write_float(&mut s, v);
        s
    }

    #[test]
    fn floats_match_go_strconv_g_shortest() {
        let cases: &[(f64, &str)] = &[
            (1.724314, "1.724314"),
            (2e-9, "2e-09"),
            (7e-9, "7e-09"),
            (4.3e-8, "4.3e-08"),
            (8_388_608.0, "8.388608e+06"),
            (1_395_066_363.0, "1.395066363e+09"),
            (0.053643567, "0.053643567"),
            (479.424566378, "479.424566378"),
            (2_097_152.0, "2.097152e+06"),
            (524_288.0, "524288"),
            (100_000.0, "100000"),
            (999_999.0, "999999"),
            (1_000_000.0, "1e+06"),
            (1e21, "1e+21"),
            (1e100, "1e+100"),
            (1.5e-300, "1.5e-300"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (0.0001, "0.0001"),
            (0.00011, "0.00011"),
            (0.00001, "1e-05"),
            (0.5, "0.5"),
            (0.1, "0.1"),
            (0.66666666666, "0.66666666666"),
            (1.0, "1"),
            (-1.0, "-1"),
            (-2.5e-7, "-2.5e-07"),
            (123.0, "123"),
            (2_168_421_613_568.0, "2.168421613568e+12"),
            (9_007_199_254_740_993.0, "9.007199254740992e+15"),
            (18_446_744_073_709_551_615.0, "1.8446744073709552e+19"),
            (0.0, "0"),
            (-0.0, "0"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for (v, want) in cases {
            assert_eq!(f(*v), *want, "formatting {v:?}");
        }
    }

    #[test]
    fn integers_and_escapes() {
        let mut s = String::new();
        write_u64(&mut s, 0);
        s.push(' ');
        write_u64(&mut s, u64::MAX);
        s.push(' ');
        write_i64(&mut s, i64::MIN);
        assert_eq!(s, "0 18446744073709551615 -9223372036854775808");
        let mut s = String::new();
        escape_label_value(&mut s, "a\\b\"c\nd é");
        assert_eq!(s, r#"a\\b\"c\nd é"#);
        let mut s = String::new();
        escape_help(&mut s, "x\\y\n\"z\"");
        assert_eq!(s, "x\\\\y\\n\"z\"");
    }

    #[test]
    fn sample_lines() {
        let mut s = String::new();
        write_header(&mut s, "m", "Help.", MetricType::Counter);
        write_sample(&mut s, "m", &[], 1.0, None);
        write_sample(&mut s, "m", &[("a", "x\"y"), ("b", "")], 0.25, Some(-5));
        assert_eq!(
            s,
            "# HELP m Help.\n# TYPE m counter\nm 1\nm{a=\"x\\\"y\",b=\"\"} 0.25 -5\n"
        );
    }

    proptest! {
        #[test]
        fn float_round_trips(bits in any::<u64>()) {
            let v = f64::from_bits(bits);
            let s = f(v);
            if v.is_nan() {
                prop_assert_eq!(s, "NaN");
            } else {
                let back: f64 = s.parse().map_err(|e| TestCaseError::fail(format!("{s}: {e}")))?;
                prop_assert_eq!(back, if v == 0.0 { 0.0 } else { v }, "{}", s);
            }
        }

        #[test]
        fn integer_fast_path_agrees_with_shortest(n in 1u64..(1u64 << 53)) {
            let mut a = [0u8; 32];
            let mut b = [0u8; 32];
            let (na, da) = int_digits(n, &mut a);
            let (nb, db) = shortest_digits(n as f64, &mut b);
            prop_assert_eq!(&a[..na], &b[..nb]);
            prop_assert_eq!(da, db);
        }

        #[test]
        fn layout_matches_go_rule(m in 1u64..10_000_000, e in -30i32..30) {
            let v = m as f64 * 10f64.powi(e);
            let s = f(v);
            let exp = v.log10().floor() as i32;
            // Near powers of ten log10 may round; only check the clear cases.
            if (v.log10() - v.log10().round()).abs() > 1e-9 {
                prop_assert_eq!(s.contains('e'), !(-4..6).contains(&exp), "{} {}", v, s);
            }
        }
    }
}
