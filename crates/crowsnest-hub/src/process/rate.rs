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

use std::sync::Arc;

use crowsnest_core::Timestamp;
use crowsnest_core::batch::Value;

use crate::batch::{CounterWindow, DataBatch};
use crate::names::RATES;
use crate::packed::PackedMap;
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
#[derive(Debug, Clone, Copy)]
struct Last {
    value: (Timestamp, i64),
    /// The device: an index in [`RateCalculator::resources`] plus one, 0 for none.
    resource: u32,
    rate: u8,
}

/// What the calculator remembers of one container: its counters are
/// `lasts[first..first + count]`, with room up to `first + room`.
#[derive(Debug, Clone, Copy)]
struct Run {
    create_time: Timestamp,
    seen_cycle: u64,
    first: u32,
    count: u16,
    room: u16,
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
///
/// One calculator serves one node. Its state is three buffers whatever the number of
/// containers (see [`crate::packed`]): the containers by key, every container's counters one
/// after another, and the devices met.
#[derive(Debug)]
pub struct RateCalculator {
    runs: PackedMap<Run>,
    lasts: Vec<Last>,
    /// Slots of `lasts` no run uses any more.
    dead: usize,
    resources: Vec<Arc<str>>,
    cycle: u64,
    stale_after: u64,
    stats: RateStats,
}

impl RateCalculator {
    /// A calculator that forgets a container not seen for `stale_after` batches.
    pub fn new(stale_after: u64) -> RateCalculator {
        RateCalculator {
            runs: PackedMap::default(),
            lasts: Vec::new(),
            dead: 0,
            resources: Vec::new(),
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

    /// Heap bytes held for the containers remembered.
    pub fn heap_bytes(&self) -> usize {
        self.runs.heap_bytes()
            + self.lasts.capacity() * std::mem::size_of::<Last>()
            + self.resources.capacity() * std::mem::size_of::<Arc<str>>()
            + self.resources.iter().map(|r| r.len() + 16).sum::<usize>()
    }

    /// The index (plus one) of a device, added when new.
    fn resource_index(&mut self, r: Option<&Arc<str>>) -> u32 {
        let Some(r) = r else { return 0 };
        let i = match self.resources.iter().position(|x| **x == **r) {
            Some(i) => i,
            None => {
                self.resources.push(r.clone());
                self.resources.len() - 1
            }
        };
        u32::try_from(i + 1).unwrap_or(u32::MAX)
    }

    /// Folds one window into the run of a container, adding its valid pairs to `acc`.
    fn fold(&mut self, run: &mut Run, w: CounterWindow, acc: &mut Vec<Acc>) {
        let (mut delta, mut nanos) = (w.delta, w.nanos);
        self.stats.counter_resets += u64::from(w.resets);
        self.stats.out_of_order += u64::from(w.out_of_order);
        let resource = self.resource_index(w.resource.as_ref());
        let (first, count) = (run.first as usize, usize::from(run.count));
        let slot = self.lasts.get_mut(first..first + count).and_then(|ls| {
            ls.iter_mut()
                .find(|l| l.rate == w.rate && l.resource == resource)
        });
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
            None => self.add_last(
                run,
                Last {
                    value: w.last,
                    resource,
                    rate: w.rate,
                },
            ),
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

    /// Adds a counter to a run: in its room, or at the end of `lasts` with the run's others.
    fn add_last(&mut self, run: &mut Run, last: Last) {
        let (first, count) = (run.first as usize, usize::from(run.count));
        if run.count == u16::MAX {
            return;
        }
        if run.count < run.room
            && let Some(l) = self.lasts.get_mut(first + count)
        {
            *l = last;
            run.count += 1;
            return;
        }
        let at = self.lasts.len();
        self.lasts.extend_from_within(first..first + count);
        self.lasts.push(last);
        self.dead += usize::from(run.room);
        run.first = u32::try_from(at).unwrap_or(u32::MAX);
        run.count += 1;
        run.room = run.count;
    }

    /// Moves every run's counters together when the unused slots outnumber the used.
    fn compact(&mut self) {
        if self.dead == 0 || self.dead * 2 < self.lasts.len() {
            return;
        }
        let used: usize = self.runs.iter().map(|(_, r)| usize::from(r.count)).sum();
        let mut lasts = Vec::with_capacity(used);
        for r in self.runs.values_mut() {
            let (first, count) = (r.first as usize, usize::from(r.count));
            let at = u32::try_from(lasts.len()).unwrap_or(u32::MAX);
            lasts.extend_from_slice(self.lasts.get(first..first + count).unwrap_or(&[]));
            r.first = at;
            r.room = r.count;
        }
        // Devices no counter uses any more go too.
        let mut used_res = vec![0u32; self.resources.len()];
        let mut resources = Vec::new();
        for l in &mut lasts {
            let Some(i) = (l.resource as usize).checked_sub(1) else {
                continue;
            };
            if used_res[i] == 0 {
                resources.push(self.resources[i].clone());
                used_res[i] = u32::try_from(resources.len()).unwrap_or(u32::MAX);
            }
            l.resource = used_res[i];
        }
        self.lasts = lasts;
        self.resources = resources;
        self.dead = 0;
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
            let (run, new) = self.runs.get_or_insert_with(key, || Run {
                create_time: set.create_time,
                seen_cycle: 0,
                first: 0,
                count: 0,
                room: 0,
            });
            if !new && run.create_time != set.create_time {
                // A new container under the same name: its counters start a new run.
                self.stats.restarts += 1;
                run.create_time = set.create_time;
                run.count = 0;
            }
            run.seen_cycle = self.cycle;
            let mut r = *run;
            acc.clear();
            for w in std::mem::take(&mut set.counters) {
                self.fold(&mut r, w, &mut acc);
            }
            if let Some(run) = self.runs.get_mut(key) {
                *run = r;
            }
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
        let before = self.runs.len();
        let mut gone = 0usize;
        self.runs.retain(|_, r| {
            let keep = cycle.saturating_sub(r.seen_cycle) < stale;
            if !keep {
                gone += usize::from(r.room);
            }
            keep
        });
        if self.runs.len() != before {
            self.dead += gone;
            if self.runs.is_empty() {
                self.lasts = Vec::new();
                self.resources = Vec::new();
                self.dead = 0;
            }
        }
        self.compact();
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
    fn counters_moved_and_compacted_keep_their_values() {
        // 40 containers; each batch gives container i a CPU counter growing by i ms per
        // second, and from batch 3 on a new device every other batch (its counters move to
        // the end of the calculator's buffer). Containers 0..20 stop after batch 5 and are
        // forgotten, which compacts the buffer; the others' rates stay exact throughout.
        let mut c = RateCalculator::new(2);
        let rd = names::rate_index("disk/io_read_bytes").unwrap();
        for step in 0..12i64 {
            let mut b = DataBatch::default();
            for i in 0..40i64 {
                if i < 20 && step > 5 {
                    continue;
                }
                let mut set = MetricSet::new(SetType::SysContainer, Labels::new([("type", "x")]));
                set.create_time = Timestamp(1);
                let t = step * S;
                set.counters
                    .extend(window(0, None, &[(t, i * 1_000_000 * step)]));
                for d in 0..(step - 1).max(0) / 2 {
                    let dev = format!("sd{d}");
                    set.counters
                        .extend(window(rd, Some(&dev), &[(t, (d + 1) * 100 * step)]));
                }
                b.sets.insert(format!("c{i}"), set);
            }
            c.process(&mut b);
            for (k, set) in &b.sets {
                let i: i64 = k[1..].parse().unwrap();
                if step == 0 {
                    assert_eq!(set.value("cpu/usage_rate"), None);
                    continue;
                }
                assert_eq!(
                    set.value("cpu/usage_rate"),
                    Some(Value::Float(i as f64)),
                    "{k} at {step}"
                );
                for d in 0..(step - 2).max(0) / 2 {
                    assert_eq!(
                        set.labeled("disk/io_read_bytes_rate", &format!("sd{d}")),
                        Some(Value::Float(((d + 1) * 100) as f64)),
                        "{k} sd{d} at {step}"
                    );
                }
            }
        }
        assert_eq!(c.stats().tracked, 20);
        assert_eq!(c.stats().counter_resets, 0);
        assert!(
            c.dead * 2 < c.lasts.len().max(1) || c.dead == 0,
            "compacted"
        );
        let used: usize = c.runs.iter().map(|(_, r)| usize::from(r.count)).sum();
        assert_eq!(used, 20 * 6, "cpu and five devices each");
        assert!(
            c.lasts.len() <= 2 * used,
            "{} slots for {used}",
            c.lasts.len()
        );
        assert_eq!(c.resources.len(), 5);
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
