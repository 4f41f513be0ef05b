//! History tests: the codec round-trips every field, and [`History`] behaves exactly like the
//! naive `VecDeque` it replaced, on hand-picked and generated sequences.

use std::collections::{BTreeMap, VecDeque};

use crowsnest_core::Timestamp;
use crowsnest_core::model::{
    ContainerStats, CpuCfs, CpuStats, CpuUsage, DiskIoStats, FsStats, Health, InterfaceStats,
    MemoryEvents, MemoryFaults, MemoryStats, NetworkStats, PerDiskStats, ProcessStats, PsiData,
    PsiStats,
};
use proptest::prelude::*;

use super::History;
use super::codec::{Frames, encode_head, encode_next};

mod strategies;

/// The implementation History replaced, kept as the model to compare against.
struct Naive {
    max_age_ns: i64,
    samples: VecDeque<ContainerStats>,
}

impl Naive {
    fn new(max_age_ns: i64) -> Self {
        Naive {
            max_age_ns,
            samples: VecDeque::new(),
        }
    }

    fn push(&mut self, s: &ContainerStats) -> bool {
        if self
            .samples
            .back()
            .is_some_and(|last| last.timestamp >= s.timestamp)
        {
            return false;
        }
        self.samples.push_back(s.clone());
        let horizon = s.timestamp.add_nanos(self.max_age_ns.saturating_neg());
        while self.samples.front().is_some_and(|f| f.timestamp < horizon) {
            self.samples.pop_front();
        }
        true
    }

    fn query(
        &self,
        start: Option<Timestamp>,
        end: Option<Timestamp>,
        max: Option<usize>,
    ) -> Vec<ContainerStats> {
        let in_range: Vec<&ContainerStats> = self
            .samples
            .iter()
            .filter(|s| {
                start.is_none_or(|t| s.timestamp >= t) && end.is_none_or(|t| s.timestamp <= t)
            })
            .collect();
        let skip = max.map_or(0, |m| in_range.len().saturating_sub(m));
        in_range.into_iter().skip(skip).cloned().collect()
    }
}

/// Hands out distinct numbers, floats and strings.
struct Distinct(u64);

impl Distinct {
    fn n(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
    fn some(&mut self) -> Option<u64> {
        Some(self.n())
    }
    fn f(&mut self) -> f64 {
        self.n() as f64 + 0.25
    }
    fn s(&mut self, prefix: &str) -> String {
        format!("{prefix}{}", self.n())
    }
    fn psi_data(&mut self) -> PsiData {
        PsiData {
            total: self.n(),
            avg10: self.f(),
            avg60: self.f(),
            avg300: self.f(),
        }
    }
    fn psi(&mut self) -> Option<PsiStats> {
        Some(PsiStats {
            full: Some(self.psi_data()),
            some: Some(self.psi_data()),
        })
    }
    fn disk(&mut self) -> PerDiskStats {
        let stats = BTreeMap::from([(self.s("Op"), self.n()), ("Read".into(), self.n())]);
        PerDiskStats {
            device: self.s("/dev/vd"),
            major: self.n(),
            minor: self.n(),
            stats,
        }
    }
    fn interface(&mut self) -> InterfaceStats {
        InterfaceStats {
            name: self.s("veth"),
            rx_bytes: self.n(),
            rx_packets: self.n(),
            rx_errors: self.n(),
            rx_dropped: self.n(),
            tx_bytes: self.n(),
            tx_packets: self.n(),
            tx_errors: self.n(),
            tx_dropped: self.n(),
        }
    }
    fn fs(&mut self) -> FsStats {
        FsStats {
            device: self.s("/dev/sd"),
            fs_type: self.s("fs"),
            capacity: self.n(),
            usage: self.n(),
            base_usage: self.some(),
            available: self.n(),
            has_inodes: true,
            inodes: self.some(),
            inodes_free: self.some(),
        }
    }
}

/// A sample with every `Option` `Some`, every vector and map non-empty and every value
/// distinct. The struct literals have no `..`: a field added to the model does not compile
/// here until it is given a value, and then [`every_field_round_trips`] checks the codec keeps
/// it.
fn full(seed: u64) -> ContainerStats {
    let mut d = Distinct(seed);
    ContainerStats {
        timestamp: Timestamp(i64::try_from(d.n()).unwrap_or(0)),
        cpu: Some(CpuStats {
            usage: CpuUsage {
                total: d.some(),
                per_cpu_usage: vec![d.n(), d.n(), d.n()],
                user: d.some(),
                system: d.some(),
            },
            cfs: Some(CpuCfs {
                periods: d.some(),
                throttled_periods: d.some(),
                throttled_time: d.some(),
                bursts_periods: d.some(),
                burst_time: d.some(),
            }),
            psi: d.psi(),
        }),
        diskio: Some(DiskIoStats {
            io_service_bytes: vec![d.disk(), d.disk()],
            io_serviced: vec![d.disk()],
            psi: d.psi(),
        }),
        memory: Some(MemoryStats {
            usage: d.some(),
            max_usage: d.some(),
            cache: d.some(),
            rss: d.some(),
            swap: d.some(),
            mapped_file: d.some(),
            working_set: d.some(),
            total_active_file: d.some(),
            total_inactive_file: d.some(),
            kernel: d.some(),
            failcnt: d.some(),
            container_data: MemoryFaults {
                pgfault: d.some(),
                pgmajfault: d.some(),
            },
            hierarchical_data: MemoryFaults {
                pgfault: d.some(),
                pgmajfault: d.some(),
            },
            events: Some(MemoryEvents {
                low: d.some(),
                high: d.some(),
                max: d.some(),
                oom: d.some(),
                oom_kill: d.some(),
            }),
            psi: d.psi(),
        }),
        network: Some(NetworkStats {
            interfaces: vec![d.interface(), d.interface()],
        }),
        filesystem: vec![d.fs(), d.fs()],
        processes: Some(ProcessStats {
            process_count: d.some(),
            fd_count: d.some(),
            socket_count: d.some(),
            threads_current: d.some(),
            threads_max: d.some(),
        }),
        oom_events: d.some(),
        health: Some(Health {
            status: d.s("healthy"),
        }),
    }
}

/// Decodes every frame of an encoded buffer.
fn decode_all(buf: &[u8]) -> Option<Vec<ContainerStats>> {
    let mut frames = Frames::new(buf);
    let mut stats = ContainerStats::default();
    let mut out = Vec::new();
    for f in frames.by_ref() {
        f.decode_into(&mut stats)?;
        out.push(stats.clone());
    }
    frames.at_end().then_some(out)
}

/// Encodes `samples` as a head frame and delta frames.
fn encode_all(samples: &[ContainerStats]) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut delta = 0;
    for (i, s) in samples.iter().enumerate() {
        match i.checked_sub(1).and_then(|p| samples.get(p)) {
            None => encode_head(&mut buf, s, 0),
            Some(prev) => delta = encode_next(&mut buf, s, prev, delta),
        }
    }
    buf
}

/// Equal, and with the same float bits (`-0.0` stays `-0.0`).
fn same(a: &[ContainerStats], b: &[ContainerStats]) -> bool {
    a == b && format!("{a:?}") == format!("{b:?}")
}

#[test]
fn every_field_round_trips() {
    // `full` fills every vector and map (and every `Option`, which JSON would leave out).
    let json = serde_json::to_string(&full(0)).unwrap_or_default();
    assert!(!json.contains("[]") && !json.contains("{}"), "{json}");
    // Every value distinct, so a field dropped or swapped by the codec shows; then all of it
    // changed, all of it gone (`None`, empty), all of it back, and all of it unchanged.
    let samples = [
        full(0),
        full(1_000),
        ContainerStats::default(),
        full(2_000),
        full(2_000),
    ];
    let samples: Vec<_> = samples
        .into_iter()
        .enumerate()
        .map(|(i, mut s)| {
            s.timestamp = Timestamp(i64::try_from(i).unwrap_or(0) * 1_000_000_000 + 17);
            s
        })
        .collect();
    let decoded = decode_all(&encode_all(&samples));
    assert_eq!(decoded.as_deref(), Some(&samples[..]));
}

#[test]
fn float_bits_round_trip() {
    let mut a = full(0);
    let mut b = full(0);
    b.timestamp = Timestamp(a.timestamp.nanos() + 1);
    let set = |s: &mut ContainerStats, v: f64| {
        if let Some(d) = s
            .cpu
            .as_mut()
            .and_then(|c| c.psi.as_mut())
            .and_then(|p| p.some.as_mut())
        {
            d.avg10 = v;
        }
    };
    set(&mut a, 0.0);
    set(&mut b, -0.0);
    let got = decode_all(&encode_all(&[a.clone(), b.clone()])).unwrap_or_default();
    assert!(same(&got, &[a.clone(), b.clone()]), "{got:?}");
    set(&mut a, f64::NAN);
    set(&mut b, f64::from_bits(f64::NAN.to_bits() ^ 1));
    let got = decode_all(&encode_all(&[a.clone(), b.clone()])).unwrap_or_default();
    assert_eq!(format!("{got:?}"), format!("{:?}", [a, b]));
}

#[test]
fn none_stays_none() {
    // `Some` of all-`None` is not `None`, and `Some(0)` is not `None` either.
    let mut a = full(0);
    a.memory = Some(MemoryStats::default());
    a.oom_events = Some(0);
    let mut samples = vec![
        a,
        ContainerStats::default(),
        full(7),
        ContainerStats::default(),
    ];
    for (i, s) in samples.iter_mut().enumerate() {
        s.timestamp = Timestamp(i64::try_from(i).unwrap_or(0));
    }
    assert_eq!(decode_all(&encode_all(&samples)), Some(samples));
}

fn at(secs: i64) -> ContainerStats {
    ContainerStats {
        timestamp: Timestamp::from_secs(secs),
        oom_events: Some(7),
        ..Default::default()
    }
}

#[test]
fn push_drops_samples_not_newer() {
    let mut h = History::new(60_000_000_000);
    assert!(h.is_empty());
    assert!(h.push(&at(10)));
    assert!(!h.push(&at(10)));
    assert!(!h.push(&at(9)));
    assert!(h.push(&at(11)));
    assert_eq!(h.len(), 2);
    assert_eq!(h.latest(), Some(at(11)));
}

#[test]
fn evicts_by_age_and_rebases_the_head() {
    let mut h = History::new(10_000_000_000);
    for t in 0..100 {
        let mut s = full(u64::try_from(t).unwrap_or(0) % 3);
        s.timestamp = Timestamp::from_secs(t);
        assert!(h.push(&s));
        assert_eq!(h.latest(), Some(s));
    }
    assert_eq!(h.len(), 11);
    let got = h.query(None, None, None);
    assert_eq!(
        got.first().map(|s| s.timestamp),
        Some(Timestamp::from_secs(89))
    );
    assert_eq!(got.last(), h.latest().as_ref());
    // A jump forward past the horizon leaves only the new sample.
    assert!(h.push(&at(1_000)));
    assert_eq!(h.query(None, None, None), vec![at(1_000)]);
}

#[test]
fn query_bounds_and_max() {
    let mut h = History::new(i64::MAX);
    for t in 1..=10 {
        h.push(&at(t));
    }
    let secs = |v: Vec<ContainerStats>| -> Vec<i64> {
        v.iter()
            .map(|s| s.timestamp.nanos() / 1_000_000_000)
            .collect()
    };
    let ts = |s: i64| Some(Timestamp::from_secs(s));
    assert_eq!(secs(h.query(ts(3), ts(5), None)), [3, 4, 5]);
    assert_eq!(secs(h.query(ts(3), None, Some(2))), [9, 10]);
    assert_eq!(secs(h.query(None, ts(4), Some(2))), [3, 4]);
    assert_eq!(secs(h.query(None, None, Some(1))), [10]);
    assert_eq!(secs(h.query(None, None, Some(0))), Vec::<i64>::new());
    assert_eq!(secs(h.query(ts(11), None, None)), Vec::<i64>::new());
    assert_eq!(secs(h.query(ts(5), ts(4), None)), Vec::<i64>::new());
}

#[test]
fn negative_max_age_keeps_nothing_like_before() {
    let mut h = History::new(-1);
    let mut m = Naive::new(-1);
    assert_eq!(h.push(&at(1)), m.push(&at(1)));
    assert_eq!(
        (h.len(), h.latest()),
        (m.samples.len(), m.samples.back().cloned())
    );
}

#[test]
fn corrupt_buffer_does_not_panic_and_recovers() {
    let mut h = History::new(5_000_000_000);
    for t in 0..10 {
        let mut s = full(u64::try_from(t).unwrap_or(0));
        s.timestamp = Timestamp::from_secs(t);
        h.push(&s);
    }
    for i in h.start..h.buf.len() {
        let mut c = h.clone();
        if let Some(b) = c.buf.get_mut(i) {
            *b ^= 0xa5;
        }
        let _ = c.query(None, None, None);
        let mut s = full(99);
        s.timestamp = Timestamp::from_secs(20);
        assert!(c.push(&s));
        assert_eq!(c.latest(), Some(s.clone()));
        assert_eq!(c.query(None, None, None).last(), Some(&s), "byte {i}");
    }
}

/// A raw cgroup v2 holding one sleeping process: CPU counters move a little now and then,
/// memory and PIDs stand still, no block I/O or network.
fn sleeping(i: u64, ts: i64) -> ContainerStats {
    let zero_psi = || {
        let z = PsiData {
            total: 0,
            avg10: 0.0,
            avg60: 0.0,
            avg300: 0.0,
        };
        Some(PsiStats {
            full: Some(z.clone()),
            some: Some(z),
        })
    };
    let wakeups = i / 5;
    ContainerStats {
        timestamp: Timestamp(ts),
        cpu: Some(CpuStats {
            usage: CpuUsage {
                total: Some(48_213_000 + wakeups * 61_000),
                per_cpu_usage: Vec::new(),
                user: Some(20_117_000 + wakeups * 23_000),
                system: Some(28_096_000 + wakeups * 38_000),
            },
            cfs: None,
            psi: zero_psi(),
        }),
        diskio: Some(DiskIoStats {
            psi: zero_psi(),
            ..Default::default()
        }),
        memory: Some(MemoryStats {
            usage: Some(1_302_528),
            max_usage: Some(2_088_960),
            cache: Some(4_096),
            rss: Some(126_976),
            swap: Some(0),
            mapped_file: Some(0),
            working_set: Some(1_298_432),
            total_active_file: Some(0),
            total_inactive_file: Some(4_096),
            kernel: Some(1_052_672),
            failcnt: None,
            container_data: MemoryFaults {
                pgfault: Some(1_104),
                pgmajfault: Some(0),
            },
            hierarchical_data: MemoryFaults {
                pgfault: Some(1_104),
                pgmajfault: Some(0),
            },
            events: Some(MemoryEvents {
                low: Some(0),
                high: Some(0),
                max: Some(0),
                oom: Some(0),
                oom_kill: Some(0),
            }),
            psi: zero_psi(),
        }),
        network: None,
        filesystem: Vec::new(),
        processes: Some(ProcessStats {
            process_count: Some(1),
            fd_count: Some(4),
            socket_count: Some(0),
            threads_current: Some(1),
            threads_max: Some(0),
        }),
        oom_events: Some(0),
        health: None,
    }
}

/// Bytes per sample of a two-minute history after pushing `samples`: (encoded frames only,
/// everything the history holds: the struct, the buffer's capacity, the decoded newest sample).
fn bytes_per_sample(samples: impl Iterator<Item = ContainerStats>) -> (f64, f64, History) {
    let mut h = History::new(120_000_000_000);
    for s in samples {
        assert!(h.push(&s));
    }
    let n = h.len() as f64;
    let all = h.heap_bytes() + std::mem::size_of::<History>();
    ((h.buf.len() - h.start) as f64 / n, all as f64 / n, h)
}

#[test]
fn sleeping_cgroup_bytes_per_sample() {
    let t0 = 1_764_000_000_000_000_000_i64;
    // A steady 1 s tick, then a housekeeping loop that drifts by up to ±2 ms.
    let exact = (0..240).map(|i| sleeping(i, t0 + i64::try_from(i).unwrap_or(0) * 1_000_000_000));
    let jitter = (0..240).map(|i: u64| {
        let j = i64::try_from(i.wrapping_mul(2_654_435_761) % 4_000_000).unwrap_or(0) - 2_000_000;
        sleeping(i, t0 + i64::try_from(i).unwrap_or(0) * 1_000_000_000 + j)
    });
    let (enc, all, h) = bytes_per_sample(exact);
    let (enc_j, all_j, _) = bytes_per_sample(jitter);
    println!(
        "sleeping cgroup, {} samples: exact 1 s: {enc:.1} B/sample encoded, {all:.1} B/sample \
         all in; ±2 ms jitter: {enc_j:.1} / {all_j:.1} (size_of::<History>() = {}, heap {} B)",
        h.len(),
        std::mem::size_of::<History>(),
        h.heap_bytes(),
    );
    assert_eq!(h.len(), 121);
    assert!(enc < 12.0 && enc_j < 12.0, "{enc} {enc_j}");
    assert!(all < 30.0 && all_j < 30.0, "{all} {all_j}");
}

#[test]
fn busy_container_bytes_per_sample() {
    let (enc, all, h) = bytes_per_sample((0..240).map(strategies::busy));
    println!(
        "busy container (eth0, one disk, v2), {} samples: {enc:.1} B/sample encoded, \
         {all:.1} B/sample all in",
        h.len()
    );
    assert!(enc < 160.0, "{enc}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn codec_round_trips(samples in prop::collection::vec(strategies::stats(), 1..8)) {
        let got = decode_all(&encode_all(&samples)).unwrap_or_default();
        prop_assert!(same(&got, &samples), "{:?}\n!=\n{:?}", got, samples);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn history_matches_the_naive_model(
        (max_age, samples, queries) in strategies::scenario(300),
    ) {
        let mut h = History::new(max_age);
        let mut m = Naive::new(max_age);
        for (i, s) in samples.iter().enumerate() {
            prop_assert_eq!(h.push(s), m.push(s));
            prop_assert_eq!(h.len(), m.samples.len());
            prop_assert_eq!(h.is_empty(), m.samples.is_empty());
            prop_assert_eq!(h.latest(), m.samples.back().cloned());
            if h.len() <= 16 || i % 32 == 0 {
                let (got, want) = (h.query(None, None, None), m.query(None, None, None));
                prop_assert!(same(&got, &want), "{:?}\n!=\n{:?}", got, want);
            }
        }
        for (start, end, max) in queries {
            let (got, want) = (h.query(start, end, max), m.query(start, end, max));
            prop_assert!(same(&got, &want), "{:?}\n!=\n{:?}", got, want);
        }
    }

    #[test]
    fn damaged_buffer_never_panics(
        (max_age, samples, _) in strategies::scenario(40),
        damage in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut h = History::new(max_age);
        for s in &samples {
            h.push(s);
        }
        if !h.buf.is_empty() {
            for (i, b) in &damage {
                let i = i.index(h.buf.len());
                h.buf[i] ^= b;
            }
            let keep = cut.index(h.buf.len() + 1).max(h.start);
            let mut cut_short = h.clone();
            cut_short.buf.truncate(keep);
            for mut c in [h, cut_short] {
                let _ = c.query(None, None, None);
                let _ = c.query(None, None, Some(1));
                let mut s = full(5);
                s.timestamp = Timestamp(i64::MAX);
                prop_assert!(c.push(&s) || c.latest().is_some_and(|l| l.timestamp == s.timestamp));
                let _ = c.query(None, None, None);
            }
        }
    }
}
