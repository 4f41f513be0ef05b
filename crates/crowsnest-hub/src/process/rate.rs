//! The rate calculator (Heapster's `RateCalculator`): `cpu/usage_rate` in millicores,
//! network, page fault and per-device disk rates per second, from the counters of every
//! sample a scrape brought.
//!
//! A rate is the counter's increase over the time between samples, both taken from the
//! samples themselves (the node's clock, never the hub's: nodes' clocks may disagree, and a
//! late scrape does not stretch the interval). Over a batch it is the sum of the increases
//! over the sum of the intervals of every valid pair of consecutive samples, so a missed
//! scrape gives the average over the real interval. A pair is not valid, and gives no rate,
//! when:
//!
//! * the counter went down (a reset: the container restarted, or someone wrote 0);
//! * the container's creation time changed (a new container under the same name);
//! * the second sample is not later than the first (a duplicate, or the node's clock went
//!   back).
//!
//! The counter's next value starts a new run. A rate is therefore never negative and never
//! Heapster's wrapped `18446744073709551591`; a container with no valid pair in a batch has no
//! rate in it (absent, not 0).

use std::collections::HashMap;
use std::sync::Arc;

use crowsnest_core::Timestamp;
use crowsnest_core::batch::Value;

use crate::batch::{CounterWindow, DataBatch};
use crate::names::RATES;
use crate::process::Processor;

/// What two consecutive values of one counter are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pair {
    /// The counter grew (or stayed) over a positive interval.
    Valid { delta: u64, nanos: i64 },
    /// The same sample again.
    Duplicate,
    /// The second is older than the first: the node's clock went back.
    OutOfOrder,
    /// The counter went down.
    Reset,
}

fn pair(prev: (Timestamp, i64), next: (Timestamp, i64)) -> Pair {
    if next.0 == prev.0 {
        Pair::Duplicate
    } else if next.0 < prev.0 {
        Pair::OutOfOrder
    } else if next.1 < prev.1 {
        Pair::Reset
    } else {
        Pair::Valid {
            delta: next.1.abs_diff(prev.1),
            nanos: next.0.nanos().saturating_sub(prev.0.nanos()),
        }
    }
}

impl CounterWindow {
    /// A window starting with one value.
    pub fn new(rate: u8, resource: Option<Arc<str>>, t: Timestamp, value: i64) -> CounterWindow {
        CounterWindow {
            rate,
            resource,
            first: (t, value),
            last: (t, value),
            delta: 0,
            nanos: 0,
            resets: 0,
            out_of_order: 0,
        }
    }

    /// Adds the next value (samples come oldest first).
    pub fn push(&mut self, t: Timestamp, value: i64) {
        match pair(self.last, (t, value)) {
            Pair::Duplicate => return,
            Pair::Valid { delta, nanos } => {
                self.delta = self.delta.saturating_add(delta);
                self.nanos = self.nanos.saturating_add(nanos);
            }
            Pair::OutOfOrder => self.out_of_order += 1,
            Pair::Reset => self.resets += 1,
        }
        self.last = (t, value);
    }
}

/// The last value of one counter of one container.
#[derive(Debug, Clone)]
struct Last {
    rate: u8,
    resource: Option<Arc<str>>,
    value: (Timestamp, i64),
}

/// What the calculator remembers of one container.
#[derive(Debug)]
struct Run {
    create_time: Timestamp,
    last: Vec<Last>,
    seen_cycle: u64,
}

/// Increase and interval summed over the valid pairs of one counter in one batch.
struct Acc {
    rate: u8,
    resource: Option<Arc<str>>,
    delta: u64,
    nanos: i64,
}

/// Counts of what the calculator saw, for self-metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateStats {
    /// Counters that went down (a new run started).
    pub counter_resets: u64,
    /// Containers whose creation time changed (a new run started).
    pub restarts: u64,
    /// Samples not later than the previous one of the same counter.
    pub out_of_order: u64,
    /// Containers remembered.
    pub tracked: u64,
}

/// Heapster's rate calculator, keeping the last value of every counter of every container.
#[derive(Debug)]
pub struct RateCalculator {
    runs: HashMap<String, Run>,
    cycle: u64,
    stale_after: u64,
    stats: RateStats,
}

impl RateCalculator {
    /// A calculator that forgets a container not seen for `stale_after` batches.
    pub fn new(stale_after: u64) -> RateCalculator {
        RateCalculator {
            runs: HashMap::new(),
            cycle: 0,
            stale_after: stale_after.max(1),
            stats: RateStats::default(),
        }
    }

    /// What it saw so far.
    pub fn stats(&self) -> RateStats {
        RateStats {
            tracked: self.runs.len() as u64,
            ..self.stats
        }
    }

    /// Approximate heap bytes held for the containers remembered.
    pub fn heap_bytes(&self) -> usize {
        self.runs.capacity() * (std::mem::size_of::<(String, Run)>() + 1)
            + self
                .runs
                .iter()
                .map(|(k, r)| k.capacity() + r.last.capacity() * std::mem::size_of::<Last>())
                .sum::<usize>()
    }

    /// Folds one window into a container's run, adding its valid pairs to `acc`.
    fn fold(&mut self, run_last: &mut Vec<Last>, w: CounterWindow, acc: &mut Vec<Acc>) {
        let (mut delta, mut nanos) = (w.delta, w.nanos);
        self.stats.counter_resets += u64::from(w.resets);
        self.stats.out_of_order += u64::from(w.out_of_order);
        let slot = run_last
            .iter_mut()
            .find(|l| l.rate == w.rate && l.resource == w.resource);
        match slot {
            Some(l) => {
                match pair(l.value, w.first) {
                    Pair::Valid { delta: d, nanos: n } => {
                        delta = delta.saturating_add(d);
                        nanos = nanos.saturating_add(n);
                    }
                    Pair::Duplicate => {}
                    Pair::OutOfOrder => self.stats.out_of_order += 1,
                    Pair::Reset => self.stats.counter_resets += 1,
                }
                l.value = w.last;
            }
            None => run_last.push(Last {
                rate: w.rate,
                resource: w.resource.clone(),
                value: w.last,
            }),
        }
        if nanos == 0 {
            return;
        }
        match acc
            .iter_mut()
            .find(|a| a.rate == w.rate && a.resource == w.resource)
        {
            Some(a) => {
                a.delta = a.delta.saturating_add(delta);
                a.nanos = a.nanos.saturating_add(nanos);
            }
            None => acc.push(Acc {
                rate: w.rate,
                resource: w.resource,
                delta,
                nanos,
            }),
        }
    }
}

impl Processor for RateCalculator {
    fn name(&self) -> &'static str {
        "rate_calculator"
    }

    fn rate_stats(&self) -> Option<RateStats> {
        Some(self.stats())
    }

    fn heap_bytes(&self) -> usize {
        RateCalculator::heap_bytes(self)
    }

    fn process(&mut self, batch: &mut DataBatch) {
        self.cycle += 1;
        let mut acc: Vec<Acc> = Vec::new();
        for (key, set) in batch.sets.iter_mut() {
            if set.counters.is_empty() {
                continue;
            }
            let mut last = match self.runs.get_mut(key) {
                Some(run) if run.create_time == set.create_time => std::mem::take(&mut run.last),
                Some(run) => {
                    // A new container under the same name: its counters start a new run.
                    self.stats.restarts += 1;
                    run.create_time = set.create_time;
                    Vec::new()
                }
                None => Vec::new(),
            };
            acc.clear();
            for w in std::mem::take(&mut set.counters) {
                self.fold(&mut last, w, &mut acc);
            }
            last.shrink_to_fit();
            let run = self.runs.entry(key.clone()).or_insert_with(|| Run {
                create_time: set.create_time,
                last: Vec::new(),
                seen_cycle: 0,
            });
            run.last = last;
            run.seen_cycle = self.cycle;
            set.window = None;
            for a in &acc {
                let Some(m) = RATES.get(usize::from(a.rate)) else {
                    continue;
                };
                let rate = a.delta as f64 / a.nanos as f64 * m.per_nano;
                match &a.resource {
                    Some(r) => set.put_labeled(m.rate, r, Value::Float(rate)),
                    None => set.put(m.rate, Value::Float(rate)),
                }
                if a.rate == 0 {
                    set.window = Some(a.nanos);
                }
            }
        }
        let (cycle, stale) = (self.cycle, self.stale_after);
        self.runs
            .retain(|_, r| cycle.saturating_sub(r.seen_cycle) < stale);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{MetricSet, SetType};
    use crate::names;
    use crowsnest_core::ManualClock;
    use crowsnest_core::batch::Labels;
    use crowsnest_core::clock::Clock;

    const S: i64 = 1_000_000_000;

    /// A batch with one container `key` whose cpu counter had `points` (time, ns).
    fn batch(key: &str, created: i64, points: &[(i64, i64)]) -> DataBatch {
        let mut set = MetricSet::new(SetType::SysContainer, Labels::new([("type", "x")]));
        set.create_time = Timestamp(created);
        set.counters = window(0, None, points).into_iter().collect();
        let mut b = DataBatch::default();
        b.sets.insert(key.into(), set);
        b
    }

    /// The window of a scrape that brought `points` (time, value) of counter `rate`.
    fn window(rate: u8, resource: Option<&str>, points: &[(i64, i64)]) -> Option<CounterWindow> {
        let (&(t, v), rest) = points.split_first()?;
        let mut w = CounterWindow::new(rate, resource.map(Arc::from), Timestamp(t), v);
        for &(t, v) in rest {
            w.push(Timestamp(t), v);
        }
        Some(w)
    }

    fn cpu_rate(calc: &mut RateCalculator, b: &mut DataBatch, key: &str) -> Option<f64> {
        calc.process(b);
        b.sets[key].value("cpu/usage_rate").map(Value::as_f64)
    }

    #[test]
    fn millicores_from_node_timestamps_across_batches() {
        let mut c = RateCalculator::new(10);
        // First batch: one sample only, no pair yet.
        assert_eq!(
            cpu_rate(&mut c, &mut batch("a", 1, &[(10 * S, 0)]), "a"),
            None
        );
        // 250 ms of CPU per second over two samples: 250 millicores.
        let mut b = batch("a", 1, &[(11 * S, S / 4), (12 * S, S / 2)]);
        assert_eq!(cpu_rate(&mut c, &mut b, "a"), Some(250.0));
        assert_eq!(b.sets["a"].window, Some(2 * S));
        assert!(b.sets["a"].counters.is_empty(), "the input is consumed");
    }

    #[test]
    fn a_counter_reset_starts_a_new_run_and_never_goes_negative() {
        let mut c = RateCalculator::new(10);
        cpu_rate(&mut c, &mut batch("a", 1, &[(10 * S, 5 * S)]), "a");
        // The counter went from 5 s to 0.1 s: that pair is dropped; 0.1 -> 0.6 over 1 s is
        // 500 millicores.
        let mut b = batch("a", 1, &[(11 * S, S / 10), (12 * S, S * 6 / 10)]);
        assert_eq!(cpu_rate(&mut c, &mut b, "a"), Some(500.0));
        assert_eq!(c.stats().counter_resets, 1);
        // A batch whose only pair is a reset has no rate at all.
        let mut b = batch("a", 1, &[(13 * S, 0)]);
        assert_eq!(cpu_rate(&mut c, &mut b, "a"), None);
    }

    #[test]
    fn a_new_creation_time_is_a_new_container() {
        let mut c = RateCalculator::new(10);
        cpu_rate(&mut c, &mut batch("a", 1, &[(10 * S, S)]), "a");
        // Same name, new container whose counter happens to be higher: still no rate.
        let mut b = batch("a", 2, &[(11 * S, 3 * S)]);
        assert_eq!(cpu_rate(&mut c, &mut b, "a"), None);
        assert_eq!(c.stats().restarts, 1);
        let mut b = batch("a", 2, &[(12 * S, 3 * S + S / 10)]);
        assert_eq!(cpu_rate(&mut c, &mut b, "a"), Some(100.0));
    }

    #[test]
    fn missed_scrapes_give_the_rate_over_the_real_interval() {
        let mut c = RateCalculator::new(10);
        cpu_rate(&mut c, &mut batch("a", 1, &[(10 * S, 0)]), "a");
        // Two batches without this container, then a sample 30 s later: 300 ms over 30 s.
        for _ in 0..2 {
            c.process(&mut DataBatch::default());
        }
        let mut b = batch("a", 1, &[(40 * S, 3 * S / 10)]);
        assert_eq!(cpu_rate(&mut c, &mut b, "a"), Some(10.0));
    }

    #[test]
    fn skewed_node_clocks_do_not_matter() {
        // Node b's clock is an hour behind the hub's and node a's; each rate uses its own
        // node's times. The hub's clock (ManualClock) plays no part.
        let hub = ManualClock::new(Timestamp::from_secs(100_000));
        let mut c = RateCalculator::new(10);
        let mut b = batch("a", 1, &[(100_000 * S, 0), (100_010 * S, 2 * S)]);
        b.sets
            .extend(batch("b", 1, &[(96_400 * S, 0), (96_405 * S, 5 * S)]).sets);
        b.timestamp = hub.now();
        c.process(&mut b);
        assert_eq!(
            b.sets["a"].value("cpu/usage_rate"),
            Some(Value::Float(200.0))
        );
        assert_eq!(
            b.sets["b"].value("cpu/usage_rate"),
            Some(Value::Float(1000.0))
        );
    }

    #[test]
    fn duplicates_and_clock_going_back_give_no_pair() {
        let mut c = RateCalculator::new(10);
        let mut b = batch(
            "a",
            1,
            &[(10 * S, S), (10 * S, S), (9 * S, 2 * S), (10 * S, 3 * S)],
        );
        // 10 s (1 s of CPU), a duplicate, then back to 9 s: new run; 9 -> 10 s: 1 s of CPU
        // over 1 s = 1000 millicores.
        assert_eq!(cpu_rate(&mut c, &mut b, "a"), Some(1000.0));
        assert_eq!(c.stats().out_of_order, 1);
    }

    #[test]
    fn clamped_counters_never_wrap() {
        // Counters at u64 scale are clamped to i64::MAX by the core; a counter stuck there,
        // or one that wraps to a small value, gives 0 or no rate, never 2^64 - 25.
        let mut c = RateCalculator::new(10);
        let mut b = batch(
            "a",
            1,
            &[(10 * S, i64::MAX), (11 * S, i64::MAX), (12 * S, 25)],
        );
        assert_eq!(cpu_rate(&mut c, &mut b, "a"), Some(0.0));
        let mut b = batch("a", 1, &[(13 * S, 25 + S)]);
        assert_eq!(cpu_rate(&mut c, &mut b, "a"), Some(1000.0));
    }

    #[test]
    fn per_device_and_per_second_rates() {
        let mut c = RateCalculator::new(10);
        let mut b = DataBatch::default();
        let mut set = MetricSet::new(SetType::SysContainer, Labels::new([("type", "x")]));
        let rx = names::rate_index("network/rx").unwrap();
        let rd = names::rate_index("disk/io_read_bytes").unwrap();
        let points = [(0, 0), (2 * S, 4000)];
        set.counters.extend(window(rx, None, &points));
        set.counters.extend(window(rd, Some("sda"), &points));
        set.counters
            .extend(window(rd, Some("sdb"), &[(0, 0), (2 * S, 8000)]));
        b.sets.insert("a".into(), set);
        c.process(&mut b);
        let s = &b.sets["a"];
        assert_eq!(s.value("network/rx_rate"), Some(Value::Float(2000.0)));
        assert_eq!(
            s.labeled("disk/io_read_bytes_rate", "sda"),
            Some(Value::Float(2000.0))
        );
        assert_eq!(
            s.labeled("disk/io_read_bytes_rate", "sdb"),
            Some(Value::Float(4000.0))
        );
        assert_eq!(s.window, None, "no CPU counter, no CPU window");
    }

    #[test]
    fn forgotten_after_stale_batches() {
        let mut c = RateCalculator::new(2);
        cpu_rate(&mut c, &mut batch("a", 1, &[(10 * S, 0)]), "a");
        assert_eq!(c.stats().tracked, 1);
        c.process(&mut DataBatch::default());
        assert_eq!(c.stats().tracked, 1);
        c.process(&mut DataBatch::default());
        assert_eq!(c.stats().tracked, 0);
        assert!(c.heap_bytes() < 1000, "only the map's capacity is left");
    }
}
