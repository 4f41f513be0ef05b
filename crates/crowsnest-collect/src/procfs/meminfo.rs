//! `/proc/meminfo` (and the per-node `meminfo` of sysfs, whose lines carry a `Node <n>`
//! prefix): `Key:   value kB` lines, converted to bytes.

use super::ParseError;

/// The lines of `/proc/meminfo` crowsnest uses. Sizes are in bytes; each is `None` when the
/// kernel did not print the line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemInfo {
    /// `MemTotal`.
    pub mem_total: Option<u64>,
    /// `MemFree`.
    pub mem_free: Option<u64>,
    /// `MemAvailable` (kernel 3.14+).
    pub mem_available: Option<u64>,
    /// `Buffers`.
    pub buffers: Option<u64>,
    /// `Cached`.
    pub cached: Option<u64>,
    /// `SwapTotal`.
    pub swap_total: Option<u64>,
    /// `SwapFree`.
    pub swap_free: Option<u64>,
    /// `HugePages_Total`: a count of pages, not bytes.
    pub hugepages_total: Option<u64>,
    /// `HugePages_Free`: a count of pages.
    pub hugepages_free: Option<u64>,
    /// `Hugepagesize`: the default huge page size.
    pub hugepagesize: Option<u64>,
}

/// Parses `/proc/meminfo`. Lines we do not use are skipped; a line we use whose value is not a
/// number (with an optional `kB`) is an error. A per-node file (`Node 0 MemTotal: ...`) parses
/// the same way.
pub fn parse_meminfo(text: &str) -> Result<MemInfo, ParseError> {
    let mut m = MemInfo::default();
    for (i, line) in text.lines().enumerate() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        // Per-node files prefix each key with `Node <n> `.
        let key = key.rsplit(' ').next().unwrap_or(key);
        let slot = match key {
            "MemTotal" => &mut m.mem_total,
            "MemFree" => &mut m.mem_free,
            "MemAvailable" => &mut m.mem_available,
            "Buffers" => &mut m.buffers,
            "Cached" => &mut m.cached,
            "SwapTotal" => &mut m.swap_total,
            "SwapFree" => &mut m.swap_free,
            "HugePages_Total" => &mut m.hugepages_total,
            "HugePages_Free" => &mut m.hugepages_free,
            "Hugepagesize" => &mut m.hugepagesize,
            _ => continue,
        };
        *slot = Some(parse_value(value).ok_or_else(|| {
            ParseError::new(
                i + 1,
                format!("{key}: expected `<number> [kB]`, found {value:?}"),
            )
        })?);
    }
    Ok(m)
}

/// `  8029032 kB` -> bytes; `  16` (a count) -> 16.
fn parse_value(value: &str) -> Option<u64> {
    let mut parts = value.split_whitespace();
    let n: u64 = parts.next()?.parse().ok()?;
    let v = match parts.next() {
        None => n,
        Some("kB") => n.checked_mul(1024)?,
        Some(_) => return None,
    };
    parts.next().is_none().then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMINFO: &str = include_str!("../../tests/fixtures/proc/meminfo");

    #[test]
    fn parses_the_fixture() {
        let m = parse_meminfo(MEMINFO).unwrap();
        assert_eq!(m.mem_total, Some(8_029_032 * 1024));
        assert_eq!(m.mem_free, Some(5_123_456 * 1024));
        assert_eq!(m.mem_available, Some(6_543_210 * 1024));
        assert_eq!(m.swap_total, Some(2_097_148 * 1024));
        assert_eq!(m.swap_free, Some(2_000_000 * 1024));
        assert_eq!(m.hugepages_total, Some(16));
        assert_eq!(m.hugepages_free, Some(16));
        assert_eq!(m.hugepagesize, Some(2048 * 1024));
    }

    #[test]
    fn absent_lines_are_none_not_zero() {
        let m = parse_meminfo("MemTotal:       1024 kB\n").unwrap();
        assert_eq!(m.mem_total, Some(1024 * 1024));
        assert_eq!(m.swap_total, None);
        assert_eq!(m.mem_available, None);
    }

    #[test]
    fn per_node_meminfo() {
        let text = "Node 1 MemTotal:        4810956 kB\nNode 1 MemFree:         4429900 kB\n";
        let m = parse_meminfo(text).unwrap();
        assert_eq!(m.mem_total, Some(4_810_956 * 1024));
        assert_eq!(m.mem_free, Some(4_429_900 * 1024));
    }

    #[test]
    fn bad_value_names_line_and_key() {
        let e = parse_meminfo("MemFree: 1 kB\nSwapTotal: lots kB\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.reason.contains("SwapTotal"), "{e}");
        assert!(parse_meminfo("MemTotal: 1 MB\n").is_err());
        // Unused lines may hold anything.
        assert!(parse_meminfo("Weird: ???\nMemTotal: 1 kB\n").is_ok());
    }
}
