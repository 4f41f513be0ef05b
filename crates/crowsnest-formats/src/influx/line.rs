//! The line protocol writer, with the escaping rules of the parser InfluxDB 1.x and 2.x run
//! (Go, `models/points.go` with `pkg/escape`), checked against influxd 1.6 by the sinks'
//! real-server tests and against InfluxData's Rust parser (`influxdb-line-protocol`) by the
//! property tests.
//!
//! A line is `measurement[,tag=value...] field=value[,field=value...] timestamp`:
//!
//! * measurement: `,` and space are escaped with `\`;
//! * tag keys, tag values and field keys: `,`, `=` and space are escaped;
//! * string field values are quoted; `"` and `\` inside are escaped;
//! * integers carry an `i` suffix; floats are written in the shortest form that reads back to
//!   the same `f64` (`0.5`, `5.0`, `1e300`); NaN and infinities cannot be written;
//! * the timestamp is an integer in the write's precision.
//!
//! Go's parser never turns `\\` into `\` outside string fields, and it reads a `\` before `,`,
//! `"`, space or `=` as an escape, so such a backslash (and one that ends a name or value)
//! cannot be written: it is written as `_`. A newline or carriage return cannot be written
//! either (it ends the line): it is written as an escaped space. Every other character,
//! tab and non-ASCII included, is written as it is.

/// Characters escaped in tag keys, tag values and field keys.
const KEY_SPECIAL: &[u8] = b", =";
/// Characters escaped in measurements.
const MEASUREMENT_SPECIAL: &[u8] = b", ";
/// Characters after which a backslash is read as an escape by Go's `escape.Unescape`.
const UNESCAPED_AFTER_BACKSLASH: &[u8] = b", =\"";

/// Appends `s` escaped for the position whose escaped characters are `special`.
fn escape(out: &mut String, s: &str, special: &[u8]) {
    let bytes = s.as_bytes();
    // Fast path: nothing to escape (the common case for names and most label values).
    if !bytes
        .iter()
        .any(|b| special.contains(b) || matches!(b, b'\\' | b'\n' | b'\r'))
    {
        out.push_str(s);
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let replacement: &str = match b {
            b'\\' => match bytes.get(i + 1) {
                None => "_",
                Some(n) if UNESCAPED_AFTER_BACKSLASH.contains(n) || matches!(n, b'\n' | b'\r') => {
                    "_"
                }
                Some(_) => continue,
            },
            b'\n' | b'\r' => "\\ ",
            b if special.contains(&b) => match b {
                b',' => "\\,",
                b'=' => "\\=",
                _ => "\\ ",
            },
            _ => continue,
        };
        // Every replaced byte is ASCII, so `i` and `i + 1` are char boundaries.
        out.push_str(&s[start..i]);
        out.push_str(replacement);
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

/// Appends a measurement name, escaped.
pub fn measurement(out: &mut String, name: &str) {
    escape(out, name, MEASUREMENT_SPECIAL);
}

/// Appends a tag key, tag value or field key, escaped.
pub fn key(out: &mut String, s: &str) {
    escape(out, s, KEY_SPECIAL);
}

/// Whether InfluxDB accepts `key` as a tag key with `value`: neither may be empty, and the
/// key `time` makes InfluxDB 1.x reject the whole point ("invalid tag key").
pub fn tag_allowed(key: &str, value: &str) -> bool {
    !key.is_empty() && !value.is_empty() && key != "time"
}

/// Appends `,key=value`, escaped, unless [`tag_allowed`] says no. Returns whether it did.
pub fn tag(out: &mut String, k: &str, v: &str) -> bool {
    if !tag_allowed(k, v) {
        return false;
    }
    out.push(',');
    key(out, k);
    out.push('=');
    key(out, v);
    true
}

/// Appends an integer field value (`-12i`).
pub fn int(out: &mut String, v: i64) {
    itoa(out, v);
    out.push('i');
}

/// Appends a float field value in the shortest form that reads back to the same value.
/// Returns `false` (and appends nothing) for NaN and infinities, which line protocol cannot
/// carry.
pub fn float(out: &mut String, v: f64) -> bool {
    if !v.is_finite() {
        return false;
    }
    // `Debug` is the shortest round-trip form, with a `.0` on integral values (so InfluxDB
    // reads a float, not a column-type conflict) and exponents outside 1e-5..1e16.
    use std::fmt::Write;
    let _ = write!(out, "{v:?}");
    true
}

/// Appends a quoted string field value.
pub fn string(out: &mut String, v: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in v.bytes().enumerate() {
        if b == b'"' || b == b'\\' {
            out.push_str(&v[start..i]);
            out.push('\\');
            start = i;
        }
    }
    out.push_str(&v[start..]);
    out.push('"');
}

/// Appends a timestamp (or any integer) in decimal.
pub fn itoa(out: &mut String, v: i64) {
    let mut buf = [0u8; 20];
    let mut pos = buf.len();
    let mut n = v.unsigned_abs();
    loop {
        pos -= 1;
        buf[pos] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.push('-');
    }
    for &d in &buf[pos..] {
        out.push(char::from(d));
    }
}

/// What InfluxDB 1.x stores for a tag key, tag value or field key written with [`key`] (or a
/// measurement written with [`measurement`]): the text with the replacements described in the
/// module documentation. For tests and for explaining a stored value.
pub fn stored(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.char_indices() {
        match c {
            '\\' => {
                let n = bytes.get(i + 1);
                let unwritable = match n {
                    None => true,
                    Some(n) => UNESCAPED_AFTER_BACKSLASH.contains(n) || matches!(n, b'\n' | b'\r'),
                };
                out.push(if unwritable { '_' } else { '\\' });
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> String {
        let mut o = String::new();
        key(&mut o, s);
        o
    }

    #[test]
    fn escapes_keys_values_and_measurements() {
        assert_eq!(k("plain"), "plain");
        assert_eq!(k("a b,c=d"), r"a\ b\,c\=d");
        assert_eq!(k(r"a\b"), r"a\b", "a lone backslash stays");
        assert_eq!(k(r"x\"), "x_", "a trailing backslash cannot be written");
        assert_eq!(k(r"a\,b"), r"a_\,b");
        assert_eq!(k(r#"a\"b"#), r#"a_"b"#);
        assert_eq!(k("line\nbreak\r"), r"line\ break\ ");
        assert_eq!(k("tab\there é"), "tab\there\\ é");
        let mut m = String::new();
        measurement(&mut m, "cpu/usage a=b,c");
        assert_eq!(m, r"cpu/usage\ a=b\,c");
        assert_eq!(stored(r"x\"), "x_");
        assert_eq!(stored("a\nb"), "a b");
        assert_eq!(stored(r"a\b"), r"a\b");
    }

    #[test]
    fn writes_numbers_and_strings() {
        let mut o = String::new();
        int(&mut o, -12);
        o.push(' ');
        int(&mut o, i64::MIN);
        o.push(' ');
        itoa(&mut o, 0);
        o.push(' ');
        assert!(float(&mut o, 5.0));
        o.push(' ');
        assert!(float(&mut o, 1e300));
        o.push(' ');
        assert!(float(&mut o, -1.5e-7));
        assert!(!float(&mut o, f64::NAN));
        assert!(!float(&mut o, f64::INFINITY));
        o.push(' ');
        string(&mut o, r#"say "hi" \o/"#);
        assert_eq!(
            o,
            r#"-12i -9223372036854775808i 0 5.0 1e300 -1.5e-7 "say \"hi\" \\o/""#
        );
    }

    #[test]
    fn tags_that_influxdb_rejects_are_left_out() {
        let mut o = String::new();
        assert!(!tag(&mut o, "a", ""));
        assert!(!tag(&mut o, "", "v"));
        assert!(!tag(&mut o, "time", "v"));
        assert!(tag(&mut o, "a b", "c"));
        assert_eq!(o, r",a\ b=c");
    }
}
