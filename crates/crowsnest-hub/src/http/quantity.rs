//! Kubernetes quantities and Go durations as metrics-server writes them: CPU as a DecimalSI
//! quantity of nanocores in canonical form (`137522341n`, `250m`, `2`), memory as BinarySI
//! bytes (`1578732Ki`, `12Mi`, or a plain number when not a multiple of 1024), and the
//! `window` as Go's `time.Duration.String()` (`15.2s`, `1m0s`).

/// CPU nanocores as a canonical DecimalSI quantity.
pub(crate) fn cpu(nanocores: u64) -> String {
    if nanocores == 0 {
        return "0".into();
    }
    const SUFFIXES: [&str; 7] = ["n", "u", "m", "", "k", "M", "G"];
    let (mut v, mut i) = (nanocores, 0);
    while i + 1 < SUFFIXES.len() && v % 1000 == 0 {
        v /= 1000;
        i += 1;
    }
    format!("{v}{}", SUFFIXES[i])
}

/// Bytes as a canonical BinarySI quantity.
pub(crate) fn memory(bytes: u64) -> String {
    if bytes == 0 {
        return "0".into();
    }
    const SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    let (mut v, mut i) = (bytes, 0);
    while i + 1 < SUFFIXES.len() && v % 1024 == 0 {
        v /= 1024;
        i += 1;
    }
    format!("{v}{}", SUFFIXES[i])
}

fn frac(out: &mut String, mut v: u64, digits: u32) {
    let div = 10u64.pow(digits);
    out.push_str(&(v / div).to_string());
    v %= div;
    if v == 0 {
        return;
    }
    let mut s = format!("{v:0width$}", width = digits as usize);
    while s.ends_with('0') {
        s.pop();
    }
    out.push('.');
    out.push_str(&s);
}

/// Go's `time.Duration.String()` of `nanos`.
pub(crate) fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    if nanos < 0 {
        out.push('-');
    }
    let u = nanos.unsigned_abs();
    if u < 1_000_000_000 {
        let (unit, digits) = match u {
            0..1_000 => ("ns", 0),
            1_000..1_000_000 => ("µs", 3),
            _ => ("ms", 6),
        };
        frac(&mut out, u, digits);
        out.push_str(unit);
        return out;
    }
    let secs = u / 1_000_000_000;
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    frac(&mut out, s * 1_000_000_000 + u % 1_000_000_000, 9);
    out.push('s');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_as_kubernetes_writes_them() {
        assert_eq!(cpu(137_522_341), "137522341n");
        assert_eq!(cpu(250_000_000), "250m");
        assert_eq!(cpu(2_000_000_000), "2");
        assert_eq!(cpu(1_500), "1500n");
        assert_eq!(cpu(3_000), "3u");
        assert_eq!(cpu(0), "0");
        assert_eq!(memory(1_578_732 * 1024), "1578732Ki");
        assert_eq!(memory(12 << 20), "12Mi");
        assert_eq!(memory(1536), "1536");
        assert_eq!(memory(1000), "1000");
        assert_eq!(memory(0), "0");
    }

    #[test]
    fn durations_as_go_writes_them() {
        for (ns, s) in [
            (15_200_000_000i64, "15.2s"),
            (60_000_000_000, "1m0s"),
            (3_723_500_000_000, "1h2m3.5s"),
            (500_000_000, "500ms"),
            (1_500_000, "1.5ms"),
            (2_000, "2µs"),
            (7, "7ns"),
            (0, "0s"),
            (10_000_000_000, "10s"),
            (-1_000_000_000, "-1s"),
        ] {
            assert_eq!(go_duration(ns), s, "{ns}");
        }
    }
}
