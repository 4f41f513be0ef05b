//! Kubernetes resource quantities (`250m`, `2`, `1.5`, `15243004Ki`, `1Gi`, `100M`, `1e3`) as
//! numbers: `resource.Quantity`'s syntax, read into an `f64` of the base unit (cores, bytes).

/// The value of a quantity in its base unit; `None` when it is not one.
pub fn parse(text: &str) -> Option<f64> {
    let t = text.trim();
    let (sign, t) = match t.as_bytes().first() {
        Some(b'-') => (-1.0, &t[1..]),
        Some(b'+') => (1.0, &t[1..]),
        _ => (1.0, t),
    };
    let end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, suffix) = t.split_at(end);
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return None;
    }
    let n: f64 = number.parse().ok()?;
    let mult = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        e if e.starts_with(['e', 'E']) => 10f64.powi(e[1..].parse::<i32>().ok()?),
        _ => return None,
    };
    Some(sign * n * mult)
}

/// A CPU quantity in millicores, rounded up as `Quantity.MilliValue` does.
pub fn millicores(text: &str) -> Option<i64> {
    let v = parse(text)? * 1000.0;
    v.is_finite().then(|| round_up(v))
}

/// A quantity as a whole number of its unit (bytes), rounded up as `Quantity.Value` does.
pub fn whole(text: &str) -> Option<i64> {
    let v = parse(text)?;
    v.is_finite().then(|| round_up(v))
}

fn round_up(v: f64) -> i64 {
    // Tolerate the binary rounding of decimal fractions (`0.1` * 1000).
    let r = v.round();
    if (v - r).abs() < 1e-6 {
        r as i64
    } else {
        v.ceil() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_as_kubernetes_reads_them() {
        assert_eq!(millicores("250m"), Some(250));
        assert_eq!(millicores("2"), Some(2000));
        assert_eq!(millicores("1.5"), Some(1500));
        assert_eq!(millicores("0.1"), Some(100));
        assert_eq!(millicores("3920m"), Some(3920));
        assert_eq!(millicores("100u"), Some(1), "MilliValue rounds up");
        assert_eq!(whole("15243004Ki"), Some(15_243_004 * 1024));
        assert_eq!(whole("64Mi"), Some(64 << 20));
        assert_eq!(whole("1Gi"), Some(1 << 30));
        assert_eq!(whole("100M"), Some(100_000_000));
        assert_eq!(whole("1e3"), Some(1000));
        assert_eq!(whole("110"), Some(110));
        for bad in ["", "m", "1.2.3", "5X", "Ki", "1e"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
