//! The encoders of the text formats with arbitrary names, label values and numbers: the
//! Prometheus text exposition and InfluxDB line protocol must stay valid (one sample per line;
//! a line break only inside a quoted string field, where InfluxDB's scanner allows it; every
//! escape right), and read back with the formats' own rules to the values written (for
//! line protocol, to what InfluxDB stores: `line::stored`). Also the remote-write decoder on
//! arbitrary bytes. The first byte picks the encoder or decoder; for the encoders the rest is
//! split at NUL bytes into the texts and the last 16 bytes give the numbers.
#![no_main]

use crowsnest_formats::influx::line;
use crowsnest_formats::prometheus::MetricType;
use crowsnest_formats::prometheus::text::{write_float, write_header, write_sample};
use crowsnest_formats::remote_write;
use libfuzzer_sys::fuzz_target;

/// Reads a Prometheus label value or help text up to `end` (or the end of `s`), undoing the
/// text format's escapes (`\\`, `\"`, `\n`). Returns the value and what follows `end`.
fn prom_unescape(s: &str, end: Option<char>) -> (String, &str) {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, '\\')) => out.push('\\'),
                Some((_, '"')) => out.push('"'),
                Some((_, 'n')) => out.push('\n'),
                other => panic!("invalid escape \\{other:?} in {s:?}"),
            },
            c if Some(c) == end => return (out, &s[i + 1..]),
            '\n' => panic!("raw newline in {s:?}"),
            c => out.push(c),
        }
    }
    assert!(end.is_none(), "unterminated value in {s:?}");
    (out, "")
}

fn check_float(text: &str, v: f64) {
    let back = match text {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        t => t
            .parse::<f64>()
            .unwrap_or_else(|e| panic!("{t:?} is not a number: {e}")),
    };
    assert!(
        back == v || (back.is_nan() && v.is_nan()),
        "{v:?} written as {text:?}"
    );
}

fn prometheus(texts: &[&str], value: f64, ts: i64) {
    let help = texts.first().copied().unwrap_or_default();
    let values = texts.get(1..).unwrap_or_default();
    let names: Vec<String> = (0..values.len()).map(|i| format!("l{i}")).collect();
    let labels: Vec<(&str, &str)> = names
        .iter()
        .map(String::as_str)
        .zip(values.iter().copied())
        .collect();
    let mut out = String::new();
    write_header(&mut out, "m", help, MetricType::Gauge);
    write_sample(&mut out, "m", &labels, value, Some(ts));
    let lines: Vec<&str> = out
        .strip_suffix('\n')
        .expect("ends with a newline")
        .split('\n')
        .collect();
    assert_eq!(lines.len(), 3, "{out:?}");
    let (read_help, rest) = prom_unescape(lines[0].strip_prefix("# HELP m ").expect("HELP"), None);
    assert_eq!((read_help.as_str(), rest), (help, ""));
    assert_eq!(lines[1], "# TYPE m gauge");
    let mut sample = lines[2].strip_prefix('m').expect("the name");
    if !labels.is_empty() {
        sample = sample.strip_prefix('{').expect("{");
        for (i, (name, v)) in labels.iter().enumerate() {
            if i > 0 {
                sample = sample.strip_prefix(',').expect(",");
            }
            sample = sample
                .strip_prefix(name)
                .and_then(|s| s.strip_prefix("=\""))
                .expect("name=\"");
            let (read, rest) = prom_unescape(sample, Some('"'));
            assert_eq!(&read, v);
            sample = rest;
        }
        sample = sample.strip_prefix('}').expect("}");
    }
    let mut fields = sample.strip_prefix(' ').expect("space").split(' ');
    check_float(fields.next().expect("value"), value);
    assert_eq!(fields.next().map(str::parse::<i64>), Some(Ok(ts)));
    assert_eq!(fields.next(), None);
    let mut f = String::new();
    write_float(&mut f, value);
    check_float(&f, value);
}

/// Reads a line protocol name or tag up to an unescaped byte of `ends`, undoing the escapes
/// InfluxDB reads (a backslash before `,`, `=`, `"` or space). Returns it, the delimiter and
/// what follows.
fn influx_token<'a>(s: &'a str, ends: &[char]) -> (String, Option<char>, &'a str) {
    let mut out = String::new();
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\\' {
            if let Some(&(_, n)) = chars.peek()
                && matches!(n, ',' | '=' | '"' | ' ')
            {
                out.push(n);
                chars.next();
                continue;
            }
            out.push('\\');
        } else if c == '\n' || c == '\r' {
            panic!("raw line break in {s:?}");
        } else if ends.contains(&c) {
            return (out, Some(c), &s[i + c.len_utf8()..]);
        } else {
            out.push(c);
        }
    }
    (out, None, "")
}

fn influx(texts: &[&str], value: f64, ts: i64) {
    let measurement = texts.first().copied().unwrap_or_default();
    let field = texts.get(1).copied().unwrap_or_default();
    let tags: Vec<(&str, &str)> = texts
        .get(2..)
        .unwrap_or_default()
        .chunks(2)
        .map(|c| (c[0], c.get(1).copied().unwrap_or("v")))
        .collect();
    if line::stored(measurement).is_empty() {
        return;
    }
    let mut out = String::new();
    line::measurement(&mut out, measurement);
    let mut written = Vec::new();
    for (k, v) in &tags {
        if line::tag(&mut out, k, v) {
            written.push((line::stored(k), line::stored(v)));
        }
    }
    out.push(' ');
    line::key(&mut out, "s");
    out.push('=');
    line::string(&mut out, field);
    out.push_str(",f=");
    let float = line::float(&mut out, value);
    assert_eq!(float, value.is_finite());
    if !float {
        line::int(&mut out, ts);
    }
    out.push(' ');
    line::itoa(&mut out, ts);
    // Only a string field may hold a newline (Go's scanner reads quotes across lines).

    let (m, mut end, mut rest) = influx_token(&out, &[',', ' ']);
    assert_eq!(m, line::stored(measurement), "{out:?}");
    let mut read = Vec::new();
    while end == Some(',') {
        let (k, e, r) = influx_token(rest, &['=']);
        assert_eq!(e, Some('='), "{out:?}");
        let (v, e, r) = influx_token(r, &[',', ' ']);
        read.push((k, v));
        (end, rest) = (e, r);
    }
    assert_eq!(read, written, "{out:?}");
    assert_eq!(end, Some(' '), "{out:?}");
    let rest = rest.strip_prefix("s=\"").expect("the string field");
    let mut s = String::new();
    let mut chars = rest.char_indices();
    let after = loop {
        match chars.next() {
            Some((_, '\\')) => match chars.next() {
                Some((_, c @ ('"' | '\\'))) => s.push(c),
                other => panic!("bad escape {other:?} in {out:?}"),
            },
            Some((i, '"')) => break &rest[i + 1..],
            Some((_, c)) => s.push(c),
            None => panic!("unterminated string in {out:?}"),
        }
    };
    assert_eq!(s, field);
    let after = after.strip_prefix(",f=").expect("the number field");
    let (number, time) = after.split_once(' ').expect("the timestamp");
    if value.is_finite() {
        assert_eq!(number.parse::<f64>().ok(), Some(value), "{out:?}");
        assert!(
            number.contains(['.', 'e', 'E']),
            "a float must not read as an integer: {out:?}"
        );
    } else {
        assert_eq!(
            number.strip_suffix('i').map(str::parse::<i64>),
            Some(Ok(ts))
        );
    }
    assert_eq!(time.parse::<i64>().ok(), Some(ts), "{out:?}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if selector % 3 == 2 {
        if let Ok(req) = remote_write::decode(rest) {
            drop(format!("{req:?}"));
        }
        let _ = remote_write::decode_uncompressed(rest);
        return;
    }
    let (text, numbers) = rest.split_at(rest.len().saturating_sub(16));
    let mut n = [0u8; 16];
    n[..numbers.len()].copy_from_slice(numbers);
    let value = f64::from_le_bytes(n[..8].try_into().expect("8 bytes"));
    let ts = i64::from_le_bytes(n[8..].try_into().expect("8 bytes"));
    let text = String::from_utf8_lossy(text);
    let texts: Vec<&str> = text.split('\0').take(17).collect();
    if selector % 3 == 0 {
        prometheus(&texts, value, ts);
    } else {
        influx(&texts, value, ts);
    }
});
