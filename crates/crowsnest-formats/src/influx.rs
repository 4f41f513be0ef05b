//! InfluxDB line protocol for the pipeline's batches, in three schemas chosen per sink:
//!
//! * [`Schema::Heapster`]: Heapster v1.x (`metrics/sinks/influxdb`). The measurement is the
//!   canonical name (`cpu/usage`, `memory/working_set`), one field `value`, the labels as
//!   tags except the ones Heapster leaves out (`hostname`, `pod_id`, `namespace_id`,
//!   `host_id`, and our `id`), empty values skipped, and `cluster_name` always added. With
//!   `with_fields` the name is split on its first `/`: measurement `cpu`, field `usage`, and
//!   the values of one family, one label set and one timestamp share a line.
//! * [`Schema::HeapsterLegacy`]: the v0.9–v0.13 series of the seeds (`cpu/usage_ns_cumulative`,
//!   `memory/usage_bytes_gauge`, `uptime_ms_cumulative`, `network/rx_errors_cumulative`): the
//!   name, `_<unit>` unless the unit is a count, `_<kind>`. Tags are that era's labels
//!   (`container_name`, `hostname`, `pod_id`, `pod_name`, `pod_namespace`, `labels`,
//!   `resource_id`), field `value`. Counters continue across resets (see [`legacy`]), so the
//!   seeds' `derivative(max(value), 1s) ... GROUP BY time(10s), container_name` never goes
//!   negative when a container is made again under the same name.
//! * [`Schema::Cadvisor`]: cAdvisor's `--storage_driver=influxdb` (`cpu_usage_total`,
//!   `memory_usage`, `rx_bytes`, ...; tags `machine`, `container_name` and the container's
//!   runtime labels; field `value`). See [`cadvisor`] for the table and what a canonical
//!   batch cannot give.
//!
//! [`line`](mod@line) has the escaping rules. The encoder keeps small caches and the legacy counter
//! state, so it is a value the caller owns ([`Encoder`]); it does no I/O.

pub mod cadvisor;
mod heapster;
pub mod legacy;
pub mod line;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use crowsnest_core::Timestamp;
use crowsnest_core::batch::{Batch, Labels, Value};

/// Which series names and tags the lines use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// cAdvisor's storage driver schema.
    Cadvisor,
    /// Heapster v1.x; `with_fields` groups a family's values into one line.
    Heapster {
        /// Heapster's `withfields=true`.
        with_fields: bool,
    },
    /// Heapster v0.9–v0.13 series names.
    HeapsterLegacy,
}

impl Schema {
    /// The name used in sink URIs: `cadvisor`, `heapster`, `heapster-legacy`.
    pub fn as_str(self) -> &'static str {
        match self {
            Schema::Cadvisor => "cadvisor",
            Schema::Heapster { .. } => "heapster",
            Schema::HeapsterLegacy => "heapster-legacy",
        }
    }
}

/// The unit of line timestamps (the write's `precision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// Nanoseconds.
    #[default]
    Nanoseconds,
    /// Microseconds.
    Microseconds,
    /// Milliseconds.
    Milliseconds,
    /// Seconds.
    Seconds,
}

impl Precision {
    /// InfluxDB 1.x's `precision=` value (`n`, `u`, `ms`, `s`).
    pub fn v1_param(self) -> &'static str {
        match self {
            Precision::Nanoseconds => "n",
            Precision::Microseconds => "u",
            Precision::Milliseconds => "ms",
            Precision::Seconds => "s",
        }
    }

    /// InfluxDB 2.x's `precision=` value (`ns`, `us`, `ms`, `s`).
    pub fn v2_param(self) -> &'static str {
        match self {
            Precision::Nanoseconds => "ns",
            Precision::Microseconds => "us",
            Precision::Milliseconds => "ms",
            Precision::Seconds => "s",
        }
    }

    /// Parses `ns`/`n`, `us`/`u`, `ms`, `s`.
    pub fn parse(s: &str) -> Option<Precision> {
        Some(match s {
            "ns" | "n" => Precision::Nanoseconds,
            "us" | "u" => Precision::Microseconds,
            "ms" => Precision::Milliseconds,
            "s" => Precision::Seconds,
            _ => return None,
        })
    }

    /// `t` in this precision (rounded down).
    pub fn convert(self, t: Timestamp) -> i64 {
        let div = match self {
            Precision::Nanoseconds => return t.nanos(),
            Precision::Microseconds => 1_000,
            Precision::Milliseconds => 1_000_000,
            Precision::Seconds => 1_000_000_000,
        };
        t.nanos().div_euclid(div)
    }
}

/// How to write lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Names and tags.
    pub schema: Schema,
    /// Timestamp unit.
    pub precision: Precision,
    /// Heapster's `cluster_name` tag (heapster schema only; Heapster's default is `default`).
    pub cluster_name: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            schema: Schema::Heapster { with_fields: false },
            precision: Precision::Nanoseconds,
            cluster_name: "default".to_owned(),
        }
    }
}

/// What one call to [`Encoder::encode`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Encoded {
    /// Lines appended.
    pub lines: usize,
    /// Samples the schema has no series for (cAdvisor's schema lacks many canonical metrics).
    pub unmapped: usize,
    /// Samples that cannot be written (NaN or infinite floats).
    pub unwritable: usize,
}

/// A cache of the escaped tag text of the label set seen last: samples of one container share
/// one `Arc<Labels>`, so their tags are escaped once per batch, not once per sample.
#[derive(Debug, Default)]
struct TagCache {
    labels: Option<Arc<Labels>>,
    text: String,
}

impl TagCache {
    /// The cached text for `labels`, made with `build` when they differ from the last ones.
    fn get(&mut self, labels: &Arc<Labels>, build: impl FnOnce(&Labels, &mut String)) -> &str {
        let hit = self
            .labels
            .as_ref()
            .is_some_and(|l| Arc::ptr_eq(l, labels) || **l == **labels);
        if !hit {
            self.text.clear();
            build(labels, &mut self.text);
            self.labels = Some(labels.clone());
        }
        &self.text
    }
}

/// Writes batches as line protocol in one schema. Owns caches and, for the legacy schema,
/// the per-series counter offsets that make counters continue across resets.
#[derive(Debug)]
pub struct Encoder {
    options: Options,
    tags: TagCache,
    continuity: legacy::Continuity,
    scratch: String,
}

impl Encoder {
    /// An encoder with `options`.
    pub fn new(options: Options) -> Self {
        Encoder {
            options,
            tags: TagCache::default(),
            continuity: legacy::Continuity::default(),
            scratch: String::new(),
        }
    }

    /// The options.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The legacy schema's counter state (to save it across restarts).
    pub fn continuity(&self) -> &legacy::Continuity {
        &self.continuity
    }

    /// Replaces the legacy schema's counter state (after a restart).
    pub fn set_continuity(&mut self, c: legacy::Continuity) {
        self.continuity = c;
    }

    /// Appends the lines of `batch` to `out`, each ending in `\n`.
    pub fn encode(&mut self, batch: &Batch, out: &mut String) -> Encoded {
        let ts = self.options.precision.convert(batch.timestamp);
        match self.options.schema {
            Schema::Heapster { with_fields: false } => {
                heapster::encode(&mut self.tags, &self.options.cluster_name, batch, ts, out)
            }
            Schema::Heapster { with_fields: true } => {
                heapster::encode_with_fields(&self.options.cluster_name, batch, ts, out)
            }
            Schema::HeapsterLegacy => legacy::encode(
                &mut self.tags,
                &mut self.continuity,
                &mut self.scratch,
                batch,
                ts,
                out,
            ),
            Schema::Cadvisor => cadvisor::encode(&mut self.tags, batch, ts, out),
        }
    }
}

/// Appends ` <value>` for a sample value; `false` when it cannot be written.
fn field_value(out: &mut String, v: Value) -> bool {
    match v {
        Value::Int(i) => {
            line::int(out, i);
            true
        }
        Value::Float(f) => line::float(out, f),
    }
}

/// Appends `prefix value=<v> <ts>\n` (one field `value`), or nothing when `v` cannot be
/// written. Returns whether a line was written.
fn value_line(out: &mut String, prefix: &str, v: Value, ts: i64) -> bool {
    let mark = out.len();
    out.push_str(prefix);
    out.push_str(" value=");
    if !field_value(out, v) {
        out.truncate(mark);
        return false;
    }
    out.push(' ');
    line::itoa(out, ts);
    out.push('\n');
    true
}
