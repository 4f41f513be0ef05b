//! Heapster v0.9–v0.13's series (`sinks/influxdb/driver.go@v0.9`, `metricToSeries`; as
//! tags since v0.19): the name, `_<unit>` unless the unit is a count, `_<kind>`.
//!
//! | canonical            | series                          |
//! |----------------------|---------------------------------|
//! | `uptime`             | `uptime_ms_cumulative`          |
//! | `cpu/usage`          | `cpu/usage_ns_cumulative`       |
//! | `memory/usage`       | `memory/usage_bytes_gauge`      |
//! | `memory/working_set` | `memory/working_set_bytes_gauge`|
//! | `memory/page_faults` | `memory/page_faults_cumulative` |
//! | `network/rx`         | `network/rx_bytes_cumulative`   |
//! | `network/rx_errors`  | `network/rx_errors_cumulative`  |
//! | `filesystem/usage`   | `filesystem/usage_bytes_gauge`  |
//!
//! and so on for every canonical metric (the rule, not v0.9's short list; heapster.md 2.3:
//! the v0.13 documentation's `memory/page_faults_gauge` and bare `filesystem/usage` are stale).
//!
//! Tags are that era's labels: `container_name`, `hostname`, `pod_id`, `pod_name`,
//! `pod_namespace` (the canonical `namespace_name`), `labels`, `resource_id`. InfluxDB 0.8's
//! `sequence_number` column is not written: tags keep the series of different containers
//! apart, which is what it was for. Two hosts with a container of the same name write two
//! series (their `hostname` tags differ); group or filter by `hostname` to see one.
//!
//! **Counters continue across resets.** When a cumulative counter of a series (same name,
//! same tags; a container made again under the same name is the same series here, since
//! `id` is not one of these tags) goes down at a later timestamp, the counter restarted: the
//! value before the reset is added to every later value ([`Continuity`]). So
//! `derivative(max(value), 1s) ... GROUP BY time(10s), container_name` stays non-negative
//! and the rate across the reset counts the new container's work since it started.
//! `uptime` is left as it is (it says how long the container has run).

use std::collections::HashMap;

use crowsnest_core::batch::{Batch, Kind, Labels, Value, label, names};
use serde::{Deserialize, Serialize};

use super::{Encoded, TagCache, line, value_line};

/// The legacy series name of a canonical metric: `cpu/usage_ns_cumulative`.
pub fn series_name(metric: &str, kind: Kind, unit: crowsnest_core::batch::Unit) -> String {
    let suffix = unit.heapster_suffix();
    let mut s = String::with_capacity(metric.len() + suffix.len() + 12);
    s.push_str(metric);
    if !suffix.is_empty() {
        s.push('_');
        s.push_str(suffix);
    }
    s.push('_');
    s.push_str(kind.as_str());
    s
}

/// The legacy tag names, each with the canonical label it comes from, sorted by tag name.
const TAGS: &[(&str, &str)] = &[
    (label::CONTAINER_NAME, label::CONTAINER_NAME),
    (label::HOSTNAME, label::HOSTNAME),
    (label::LABELS, label::LABELS),
    (label::POD_ID, label::POD_ID),
    (label::POD_NAME, label::POD_NAME),
    ("pod_namespace", label::NAMESPACE_NAME),
    (label::RESOURCE_ID, label::RESOURCE_ID),
];

fn tags(labels: &Labels, out: &mut String) {
    for (tag, from) in TAGS {
        if let Some(v) = labels.get(from) {
            line::tag(out, tag, v);
        }
    }
}

/// Where a legacy counter series stands: the last raw value seen, the sum of the values it
/// had before each reset, and when it was last seen (nanoseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterState {
    /// The last value as the source gave it.
    pub last_raw: i64,
    /// What is added to raw values (the values lost at resets).
    pub offset: i64,
    /// Timestamp of the last value, nanoseconds.
    pub seen: i64,
}

/// Counter offsets of the legacy schema, by series key (the series name and escaped tags as
/// written). Entries not seen for [`Continuity::TTL_NANOS`] of batch time are forgotten.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Continuity {
    /// The state of each series.
    pub series: HashMap<String, CounterState>,
    /// Batch time of the last pruning, nanoseconds.
    pub pruned: i64,
}

impl Continuity {
    /// How long a series is remembered after its last value: one hour.
    pub const TTL_NANOS: i64 = 3_600 * 1_000_000_000;

    /// The value to write for raw counter value `raw` of series `key` at `t` (nanoseconds).
    pub fn apply(&mut self, key: &str, raw: i64, t: i64) -> i64 {
        match self.series.get_mut(key) {
            Some(st) => {
                if t > st.seen {
                    if raw < st.last_raw {
                        st.offset = st.offset.saturating_add(st.last_raw);
                    }
                    st.last_raw = raw;
                    st.seen = t;
                }
                raw.saturating_add(st.offset)
            }
            None => {
                self.series.insert(
                    key.to_owned(),
                    CounterState {
                        last_raw: raw,
                        offset: 0,
                        seen: t,
                    },
                );
                raw
            }
        }
    }

    /// Forgets series not seen since `now - TTL` (at most once per TTL of batch time).
    pub fn prune(&mut self, now: i64) {
        if now.saturating_sub(self.pruned) < Self::TTL_NANOS {
            return;
        }
        let cutoff = now.saturating_sub(Self::TTL_NANOS);
        self.series.retain(|_, st| st.seen >= cutoff);
        self.pruned = now;
    }
}

pub(super) fn encode(
    cache: &mut TagCache,
    continuity: &mut Continuity,
    prefix: &mut String,
    batch: &Batch,
    ts: i64,
    out: &mut String,
) -> Encoded {
    let mut e = Encoded::default();
    let t = batch.timestamp.nanos();
    continuity.prune(t);
    for s in &batch.samples {
        prefix.clear();
        line::measurement(prefix, &series_name(&s.metric, s.kind, s.unit));
        prefix.push_str(cache.get(&s.labels, tags));
        let value = match s.value {
            Value::Int(raw) if s.kind == Kind::Cumulative && s.metric != names::UPTIME.name => {
                Value::Int(continuity.apply(prefix, raw, t))
            }
            v => v,
        };
        if value_line(out, prefix, value, ts) {
            e.lines += 1;
        } else {
            e.unwritable += 1;
        }
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crowsnest_core::batch::Unit;

    #[test]
    fn names_follow_heapster_v0_9() {
        for (m, want) in [
            (names::CPU_USAGE, "cpu/usage_ns_cumulative"),
            (names::MEMORY_USAGE, "memory/usage_bytes_gauge"),
            (names::MEMORY_WORKING_SET, "memory/working_set_bytes_gauge"),
            (names::MEMORY_PAGE_FAULTS, "memory/page_faults_cumulative"),
            (names::NETWORK_RX, "network/rx_bytes_cumulative"),
            (names::NETWORK_TX_ERRORS, "network/tx_errors_cumulative"),
            (names::UPTIME, "uptime_ms_cumulative"),
            (names::FILESYSTEM_USAGE, "filesystem/usage_bytes_gauge"),
            (names::CPU_USAGE_RATE, "cpu/usage_rate_millicores_gauge"),
        ] {
            assert_eq!(series_name(m.name, m.kind, m.unit), want);
        }
        assert_eq!(
            series_name("x", Kind::Gauge, Unit::Count),
            "x_gauge",
            "counts have no unit"
        );
    }

    #[test]
    fn counters_continue_across_resets_and_ignore_stale_values() {
        let mut c = Continuity::default();
        assert_eq!(c.apply("k", 100, 1), 100);
        assert_eq!(c.apply("k", 150, 2), 150);
        assert_eq!(c.apply("k", 10, 3), 160, "reset: 150 carried");
        assert_eq!(c.apply("k", 30, 4), 180);
        assert_eq!(
            c.apply("k", 5, 4),
            155,
            "not later: no new reset, offset kept"
        );
        assert_eq!(c.apply("k", 40, 5), 190);
        assert_eq!(c.apply("other", 7, 5), 7);
        c.prune(5 + Continuity::TTL_NANOS);
        assert_eq!(c.series.len(), 2, "both seen within the TTL");
        c.prune(6 + 2 * Continuity::TTL_NANOS);
        assert!(c.series.is_empty());
    }
}
