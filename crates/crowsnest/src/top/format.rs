//! How `top` writes figures: cores with two decimals, binary byte units, a one-line
//! sparkline, a UTC clock, and the columns of the container table (shared by the terminal
//! view and the plain `--once` table). An absent figure is `-`, never `0`.

use super::app::Row;
use super::rates::Point;
use super::source::Kind;

/// What an absent figure looks like.
pub(crate) const ABSENT: &str = "-";

/// `0.98`.
pub(crate) fn cores(v: Option<f64>) -> String {
    v.map_or_else(|| ABSENT.to_owned(), |v| format!("{v:.2}"))
}

/// `512 B`, `1.5 KiB`, `12.3 MiB`, `2.0 GiB`.
pub(crate) fn bytes(v: Option<f64>) -> String {
    let Some(mut v) = v else {
        return ABSENT.to_owned();
    };
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// [`bytes`] of an integer.
pub(crate) fn bytes_u(v: Option<u64>) -> String {
    bytes(v.map(|v| v as f64))
}

/// `HH:MM:SS UTC` of a time in milliseconds since the epoch.
pub(crate) fn clock(ms: i64) -> String {
    let s = ms.div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02} UTC", s / 3600, s / 60 % 60, s % 60)
}

/// The newest `width` values as block characters, scaled to `max`: a blank for an absent
/// value or zero, `▁` for anything above zero up to `█` at `max`.
pub(crate) fn sparkline(values: &[Option<f64>], max: f64, width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let start = values.len().saturating_sub(width);
    let mut s: String = " ".repeat(width - (values.len() - start));
    for v in &values[start..] {
        s.push(match v {
            Some(v) if *v > 0.0 && max > 0.0 => {
                let i = ((v / max) * 8.0).ceil() as usize;
                BARS[i.clamp(1, 8) - 1]
            }
            _ => ' ',
        });
    }
    s
}

/// `text` cut to `width` characters (the last one `…` when cut), padded on the right.
pub(crate) fn fit(text: &str, width: usize) -> String {
    let n = text.chars().count();
    if n <= width {
        return format!("{text:<width$}");
    }
    if width == 0 {
        return String::new();
    }
    let mut s: String = text.chars().take(width - 1).collect();
    s.push('…');
    s
}

/// A column of the container table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Column {
    Name,
    Node,
    Cpu,
    CpuHistory,
    Memory,
    Limit,
    Rx,
    Tx,
    Read,
    Write,
    Pids,
}

/// Width of the CPU history column.
pub(crate) const HISTORY_WIDTH: usize = 20;

impl Column {
    pub(crate) fn title(self) -> &'static str {
        match self {
            Column::Name => "NAME",
            Column::Node => "NODE",
            Column::Cpu => "CPU",
            Column::CpuHistory => "CPU HISTORY",
            Column::Memory => "MEM",
            Column::Limit => "MEM LIMIT",
            Column::Rx => "NET RX/s",
            Column::Tx => "NET TX/s",
            Column::Read => "IO READ/s",
            Column::Write => "IO WRITE/s",
            Column::Pids => "PIDS",
        }
    }

    /// Width in the terminal view (the name takes what is left).
    pub(crate) fn width(self) -> usize {
        match self {
            Column::Name => 0,
            Column::Node => 14,
            Column::Cpu => 5,
            Column::CpuHistory => HISTORY_WIDTH,
            Column::Memory | Column::Limit | Column::Rx | Column::Tx => 10,
            Column::Read | Column::Write => 10,
            Column::Pids => 5,
        }
    }

    fn right_aligned(self) -> bool {
        !matches!(self, Column::Name | Column::Node | Column::CpuHistory)
    }

    /// The cell of `row`.
    pub(crate) fn cell(self, row: &Row) -> String {
        let p: Point = row.latest().copied().unwrap_or_default();
        match self {
            Column::Name => row.info.name.clone(),
            Column::Node => row.info.node.clone().unwrap_or_else(|| ABSENT.to_owned()),
            Column::Cpu => cores(p.cpu),
            Column::CpuHistory => {
                let values: Vec<Option<f64>> = row.history.iter().map(|p| p.cpu).collect();
                let max = values
                    .iter()
                    .flatten()
                    .copied()
                    .fold(row.info.cpu_limit.unwrap_or(1.0), f64::max);
                sparkline(&values, max, HISTORY_WIDTH)
            }
            Column::Memory => bytes_u(p.memory),
            Column::Limit => bytes_u(row.info.memory_limit),
            Column::Rx => bytes(p.rx),
            Column::Tx => bytes(p.tx),
            Column::Read => bytes(p.read),
            Column::Write => bytes(p.write),
            Column::Pids => p.pids.map_or_else(|| ABSENT.to_owned(), |v| v.to_string()),
        }
    }

    /// `text` in this column's `width`, aligned.
    pub(crate) fn pad(self, text: &str, width: usize) -> String {
        if self.right_aligned() && text.chars().count() <= width {
            format!("{text:>width$}")
        } else {
            fit(text, width)
        }
    }
}

/// The columns for `kind` in a view `width` wide (the least useful left out first when it is
/// narrow; the name keeps at least 16 characters).
pub(crate) fn columns(kind: Option<Kind>, width: usize, history: bool) -> Vec<Column> {
    use Column::*;
    let mut cols = vec![Name];
    if kind == Some(Kind::Hub) {
        cols.push(Node);
    }
    cols.extend([Cpu]);
    if history {
        cols.push(CpuHistory);
    }
    cols.extend([Memory, Limit, Rx, Tx, Read, Write]);
    if kind != Some(Kind::Hub) {
        cols.push(Pids);
    }
    let need =
        |cols: &[Column]| -> usize { cols.iter().map(|c| c.width() + 1).sum::<usize>() + 16 };
    for drop in [Limit, Pids, Write, Read, CpuHistory, Node, Tx, Rx] {
        if need(&cols) <= width {
            break;
        }
        cols.retain(|c| *c != drop);
    }
    cols
}

/// The plain table of `rows` for `--once`: a header line, then one line per row; columns
/// as wide as their widest cell, two spaces apart, names never cut.
pub(crate) fn plain_table(kind: Option<Kind>, rows: &[&Row]) -> String {
    let cols: Vec<Column> = columns(kind, usize::MAX, false);
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| cols.iter().map(|c| c.cell(r)).collect())
        .collect();
    let widths: Vec<usize> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([c.title().len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let mut line = |texts: &mut dyn Iterator<Item = String>| {
        let l: Vec<String> = texts
            .zip(cols.iter().zip(&widths))
            .map(|(t, (c, w))| c.pad(&t, *w))
            .collect();
        out.push_str(l.join("  ").trim_end());
        out.push('\n');
    };
    line(&mut cols.iter().map(|c| c.title().to_owned()));
    for r in cells {
        line(&mut r.into_iter());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_written_with_units_and_absent_as_a_dash() {
        assert_eq!(cores(Some(0.984)), "0.98");
        assert_eq!(cores(None), "-");
        assert_eq!(bytes(Some(512.0)), "512 B");
        assert_eq!(bytes(Some(1536.0)), "1.5 KiB");
        assert_eq!(bytes_u(Some(64 << 20)), "64.0 MiB");
        assert_eq!(bytes(None), "-");
        assert_eq!(clock(86_400_000 + 3_723_000), "01:02:03 UTC");
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("ab", 4), "ab  ");
    }

    #[test]
    fn sparklines_scale_to_the_maximum_and_leave_absent_blank() {
        let v = [None, Some(0.0), Some(0.1), Some(0.5), Some(1.0), Some(2.0)];
        assert_eq!(sparkline(&v, 1.0, 8), "    ▁▄██");
        assert_eq!(sparkline(&v, 1.0, 3), "▄██");
    }
}
