//! The engine that writes one metric family the way Go's Prometheus registry does: every
//! series carries the table's base labels plus the family's own labels, all sorted by name;
//! series are sorted by their label values in that order (Go's string order); a series whose
//! labels repeat an earlier one is dropped, as the Go registry drops duplicates.
//!
//! Base labels live in a [`LabelTable`]: one row per container (or one for the machine), the
//! text `name="value",...` of each row rendered once per response, so that writing a series
//! copies slices instead of escaping values again.

use std::cmp::Ordering;
use std::collections::HashMap;

use super::text::{MetricType, escape_label_value, write_float, write_header, write_i64};

/// The most labels of its own a family has (`cadvisor_version_info` has five).
pub(crate) const MAX_EXTRA: usize = 5;

/// A number rendered into a small inline buffer, for label values such as `cpu07` or `8`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Num {
    len: u8,
    buf: [u8; 23],
}

impl Num {
    fn from_bytes(prefix: &[u8], n: u64, min_digits: usize) -> Num {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        let mut m = n;
        loop {
            i -= 1;
            digits[i] = b'0' + (m % 10) as u8;
            m /= 10;
            if m == 0 {
                break;
            }
        }
        while digits.len() - i < min_digits && i > 0 {
            i -= 1;
            digits[i] = b'0';
        }
        let mut num = Num {
            len: 0,
            buf: [0; 23],
        };
        let d = &digits[i..];
        let total = (prefix.len() + d.len()).min(num.buf.len());
        let p = prefix.len().min(total);
        num.buf[..p].copy_from_slice(&prefix[..p]);
        num.buf[p..total].copy_from_slice(&d[..total - p]);
        num.len = total as u8;
        num
    }

    /// `n` in decimal.
    pub(crate) fn uint(n: u64) -> Num {
        Num::from_bytes(b"", n, 1)
    }

    /// `n` in decimal, with a `-` when negative.
    pub(crate) fn int(n: i64) -> Num {
        if n < 0 {
            Num::from_bytes(b"-", n.unsigned_abs(), 1)
        } else {
            Num::uint(n as u64)
        }
    }

    /// cAdvisor's per-CPU label, `fmt.Sprintf("cpu%02d", i)`.
    pub(crate) fn cpu(i: usize) -> Num {
        Num::from_bytes(b"cpu", i as u64, 2)
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    fn as_str(&self) -> &str {
        // Only ASCII digits, `-` and `cpu` are ever written, so this cannot fail.
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

/// The value of one of a family's own labels.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Lv<'a> {
    /// A string borrowed from the model.
    S(&'a str),
    /// A rendered number.
    N(Num),
}

impl Lv<'_> {
    /// The value's bytes (for sorting).
    fn as_bytes(&self) -> &[u8] {
        match self {
            Lv::S(s) => s.as_bytes(),
            Lv::N(n) => n.as_bytes(),
        }
    }
}

const NO_LABEL: Lv<'static> = Lv::S("");

/// One series before sorting: which base-label row, its own label values, value, timestamp.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample<'a> {
    row: u32,
    value: f64,
    ts: Option<i64>,
    ex: [Lv<'a>; MAX_EXTRA],
}

/// Where a family's collectors put their samples; the caller sets the row and timestamp.
#[derive(Debug, Default)]
pub(crate) struct Sink<'a> {
    pub(crate) samples: Vec<Sample<'a>>,
    pub(crate) row: u32,
    pub(crate) ts: Option<i64>,
}

impl<'a> Sink<'a> {
    /// A sample without labels of its own.
    pub(crate) fn put(&mut self, value: f64) {
        self.put_ex(value, &[]);
    }

    /// A sample of an optional kernel value: nothing when it is absent.
    pub(crate) fn opt(&mut self, value: Option<u64>) {
        if let Some(v) = value {
            self.put(v as f64);
        }
    }

    /// A sample of an optional derived value: nothing when it is absent.
    pub(crate) fn opt_f(&mut self, value: Option<f64>) {
        if let Some(v) = value {
            self.put(v);
        }
    }

    /// A sample with the family's own label values, in the family's declared label order.
    pub(crate) fn put_ex(&mut self, value: f64, ex: &[Lv<'a>]) {
        let mut arr = [NO_LABEL; MAX_EXTRA];
        for (slot, v) in arr.iter_mut().zip(ex) {
            *slot = *v;
        }
        self.samples.push(Sample {
            row: self.row,
            value,
            ts: self.ts,
            ex: arr,
        });
    }
}

/// Base labels: sorted names, and per row the rendered `name="value",...` text plus the raw
/// values (for sorting).
#[derive(Debug, Default)]
pub(crate) struct LabelTable<'a> {
    names: Vec<String>,
    /// `rows × names` raw values, row-major.
    values: Vec<&'a str>,
    /// All rows' rendered label text.
    text: String,
    /// Per row, `names.len() + 1` offsets into `text`: where each label starts, then the end.
    bounds: Vec<usize>,
    rows: usize,
    /// Dense ranks of the rows by the values of a range of labels, by range.
    ranks: HashMap<(usize, usize), Vec<u32>>,
}

impl<'a> LabelTable<'a> {
    /// A table with the given sorted, unique label names and no rows yet.
    pub(crate) fn new(names: Vec<String>) -> Self {
        LabelTable {
            names,
            ..LabelTable::default()
        }
    }

    /// Appends a row; `values` are in the order of the names.
    pub(crate) fn push_row(&mut self, values: impl IntoIterator<Item = &'a str>) {
        let start = self.values.len();
        self.values.extend(values);
        debug_assert_eq!(self.values.len() - start, self.names.len());
        for (i, name) in self.names.iter().enumerate() {
            if i > 0 {
                self.text.push(',');
            }
            self.bounds.push(self.text.len());
            self.text.push_str(name);
            self.text.push_str("=\"");
            escape_label_value(
                &mut self.text,
                self.values.get(start + i).copied().unwrap_or(""),
            );
            self.text.push('"');
        }
        self.bounds.push(self.text.len());
        self.rows += 1;
    }

    fn value(&self, row: usize, slot: usize) -> &'a str {
        self.values
            .get(row * self.names.len() + slot)
            .copied()
            .unwrap_or("")
    }

    /// The rendered text of labels `a..b` of `row` (commas between, none around).
    fn text(&self, row: usize, a: usize, b: usize) -> &str {
        let base = row * (self.names.len() + 1);
        let start = self.bounds[base + a];
        let end = if b == self.names.len() {
            self.bounds[base + b]
        } else {
            self.bounds[base + b] - 1
        };
        &self.text[start..end]
    }

    /// Ranks of every row by the values of labels `a..b`, computed once per range.
    fn ensure_ranks(&mut self, a: usize, b: usize) {
        if self.ranks.contains_key(&(a, b)) {
            return;
        }
        let cmp = |x: usize, y: usize| -> Ordering {
            (a..b)
                .map(|j| self.value(x, j).cmp(self.value(y, j)))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        };
        let mut order: Vec<usize> = (0..self.rows).collect();
        order.sort_by(|&x, &y| cmp(x, y));
        let mut ranks = vec![0u32; self.rows];
        let mut rank = 0u32;
        for (i, &row) in order.iter().enumerate() {
            if i > 0 && cmp(order[i - 1], row).is_ne() {
                rank += 1;
            }
            ranks[row] = rank;
        }
        self.ranks.insert((a, b), ranks);
    }
}

/// One metric family's description.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Desc {
    pub(crate) name: &'static str,
    pub(crate) help: &'static str,
    pub(crate) ty: MetricType,
    /// The family's own label names, in the order collectors give their values.
    pub(crate) extra: &'static [&'static str],
}

/// One piece of a series' label set, in name order.
#[derive(Debug, Clone, Copy)]
enum Part {
    /// Base labels `a..b`.
    Base(usize, usize),
    /// The family's own label number `i`.
    Extra(usize),
}

/// The base and own labels of a family merged into name order.
fn plan(names: &[String], extra: &[&str]) -> Vec<Part> {
    let mut order: Vec<usize> = (0..extra.len()).collect();
    order.sort_by_key(|&i| extra[i]);
    let mut parts = Vec::with_capacity(2 * extra.len() + 1);
    let mut a = 0;
    for i in order {
        let b = a + names[a..]
            .iter()
            .take_while(|n| n.as_str() < extra[i])
            .count();
        if b > a {
            parts.push(Part::Base(a, b));
        }
        // A base label with the same name as the family's own is shadowed by it.
        a = if names.get(b).is_some_and(|n| n == extra[i]) {
            b + 1
        } else {
            b
        };
        parts.push(Part::Extra(i));
    }
    if a < names.len() {
        parts.push(Part::Base(a, names.len()));
    }
    parts
}

/// Sorts `samples` into the registry's order, drops repeated label sets, and writes the
/// family (nothing at all when there are no samples).
pub(crate) fn write_family<'a>(
    out: &mut String,
    desc: &Desc,
    table: &mut LabelTable<'a>,
    samples: &mut Vec<Sample<'a>>,
) {
    if samples.is_empty() {
        return;
    }
    let parts = plan(&table.names, desc.extra);
    for p in &parts {
        if let Part::Base(a, b) = *p {
            table.ensure_ranks(a, b);
        }
    }
    let table = &*table;
    let rank_of: Vec<Option<&Vec<u32>>> = parts
        .iter()
        .map(|p| match *p {
            Part::Base(a, b) => table.ranks.get(&(a, b)),
            Part::Extra(_) => None,
        })
        .collect();
    let cmp = |x: &Sample<'_>, y: &Sample<'_>| -> Ordering {
        for (p, ranks) in parts.iter().zip(&rank_of) {
            let o = match (*p, ranks) {
                (Part::Base(..), Some(r)) => r[x.row as usize].cmp(&r[y.row as usize]),
                (Part::Extra(i), _) => x.ex[i].as_bytes().cmp(y.ex[i].as_bytes()),
                (Part::Base(..), None) => Ordering::Equal,
            };
            if o.is_ne() {
                return o;
            }
        }
        Ordering::Equal
    };
    if !samples.is_sorted_by(|x, y| cmp(x, y).is_le()) {
        samples.sort_by(cmp);
    }
    samples.dedup_by(|later, earlier| cmp(earlier, later).is_eq());

    write_header(out, desc.name, desc.help, desc.ty);
    for s in samples.iter() {
        out.push_str(desc.name);
        if !parts.is_empty() {
            out.push('{');
            for (k, p) in parts.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                match *p {
                    Part::Base(a, b) => out.push_str(table.text(s.row as usize, a, b)),
                    Part::Extra(i) => {
                        out.push_str(desc.extra[i]);
                        out.push_str("=\"");
                        match s.ex[i] {
                            Lv::S(v) => escape_label_value(out, v),
                            Lv::N(n) => out.push_str(n.as_str()),
                        }
                        out.push('"');
                    }
                }
            }
            out.push('}');
        }
        out.push(' ');
        write_float(out, s.value);
        if let Some(ts) = s.ts {
            out.push(' ');
            write_i64(out, ts);
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn numbers_render_like_go() {
        assert_eq!(Num::cpu(0).as_str(), "cpu00");
        assert_eq!(Num::cpu(7).as_str(), "cpu07");
        assert_eq!(Num::cpu(123).as_str(), "cpu123");
        assert_eq!(Num::uint(0).as_str(), "0");
        assert_eq!(Num::int(-12).as_str(), "-12");
        assert_eq!(Num::uint(u64::MAX).as_str(), "18446744073709551615");
        assert_eq!(Num::int(i64::MIN).as_str(), "-9223372036854775808");
    }

    #[test]
    fn plan_interleaves_by_name() {
        let n = names(&["container_label_a", "id", "image", "name", "zone"]);
        let p = plan(&n, &["device", "major", "minor", "operation"]);
        let s: Vec<String> = p
            .iter()
            .map(|p| match p {
                Part::Base(a, b) => format!("B{a}-{b}"),
                Part::Extra(i) => format!("E{i}"),
            })
            .collect();
        assert_eq!(s, ["B0-1", "E0", "B1-3", "E1", "E2", "B3-4", "E3", "B4-5"]);
        assert!(plan(&[], &[]).is_empty());
    }

    #[test]
    fn sorts_by_values_in_label_order_and_drops_duplicates() {
        let mut t = LabelTable::new(names(&["id", "name"]));
        t.push_row(["/b", "x"]);
        t.push_row(["/a", "y\"q"]);
        let desc = Desc {
            name: "m",
            help: "h",
            ty: MetricType::Gauge,
            extra: &["device"],
        };
        let mut sink = Sink::default();
        sink.put_ex(1.0, &[Lv::S("sdb")]);
        sink.put_ex(2.0, &[Lv::S("sda")]);
        sink.put_ex(9.0, &[Lv::S("sda")]);
        sink.row = 1;
        sink.ts = Some(5);
        sink.put_ex(3.0, &[Lv::S("sdz")]);
        let mut out = String::new();
        write_family(&mut out, &desc, &mut t, &mut sink.samples);
        assert_eq!(
            out,
            "# HELP m h\n# TYPE m gauge\n\
             m{device=\"sda\",id=\"/b\",name=\"x\"} 2\n\
             m{device=\"sdb\",id=\"/b\",name=\"x\"} 1\n\
             m{device=\"sdz\",id=\"/a\",name=\"y\\\"q\"} 3 5\n"
        );
    }

    #[test]
    fn value_order_is_go_string_order_not_text_order() {
        // "a" < "a b" as values, but `a"` > `a ` as text.
        let mut t = LabelTable::new(names(&["id"]));
        t.push_row(["a b"]);
        t.push_row(["a"]);
        let desc = Desc {
            name: "m",
            help: "h",
            ty: MetricType::Gauge,
            extra: &[],
        };
        let mut sink = Sink::default();
        sink.put(1.0);
        sink.row = 1;
        sink.put(2.0);
        let mut out = String::new();
        write_family(&mut out, &desc, &mut t, &mut sink.samples);
        assert!(out.ends_with("m{id=\"a\"} 2\nm{id=\"a b\"} 1\n"), "{out}");
    }
}
