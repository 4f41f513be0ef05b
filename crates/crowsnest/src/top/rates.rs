//! Rates from two samples of an agent: the increase of each counter over the time between the
//! samples' own timestamps. A counter that went down (the container was made again, a
//! counter reset) or a pair that is not in time order gives no rate for that interval, never
//! a negative or a wrapped one; a counter the kernel does not give gives none either.

/// Per interface: name, bytes received, bytes sent.
pub(crate) type NetCounters = Vec<(String, u64, u64)>;
/// Per block device: (major, minor), bytes read, bytes written.
pub(crate) type DiskCounters = Vec<((u64, u64), u64, u64)>;

/// One container's counters and gauges at one sample time, as the agent reported them.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Counters {
    /// The sample's time, nanoseconds since the epoch.
    pub(crate) at_ns: i64,
    /// CPU time, all cores, nanoseconds.
    pub(crate) cpu_ns: Option<u64>,
    /// Per interface: name, bytes received, bytes sent.
    pub(crate) net: Option<NetCounters>,
    /// Per block device: (major, minor), bytes read, bytes written.
    pub(crate) disk: Option<DiskCounters>,
    /// Working set, bytes.
    pub(crate) working_set: Option<u64>,
    /// Processes.
    pub(crate) pids: Option<u64>,
}

/// A container's figures at one time: gauges as read, rates over the interval ending then.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Point {
    /// When, milliseconds since the epoch.
    pub(crate) at_ms: i64,
    /// CPU, cores.
    pub(crate) cpu: Option<f64>,
    /// Working set, bytes.
    pub(crate) memory: Option<u64>,
    /// Bytes received per second.
    pub(crate) rx: Option<f64>,
    /// Bytes sent per second.
    pub(crate) tx: Option<f64>,
    /// Bytes read per second.
    pub(crate) read: Option<f64>,
    /// Bytes written per second.
    pub(crate) write: Option<f64>,
    /// Processes.
    pub(crate) pids: Option<u64>,
}

/// `(next − prev) / seconds`, or `None` when either is absent, the counter went down or
/// `dt_ns` is not positive.
pub(crate) fn rate(prev: Option<u64>, next: Option<u64>, dt_ns: i64) -> Option<f64> {
    let (p, n) = (prev?, next?);
    if dt_ns <= 0 || n < p {
        return None;
    }
    Some((n - p) as f64 / (dt_ns as f64 / 1e9))
}

/// The sum of the increases of the keys present in both lists, per second; `None` when no
/// key is in both or any of them went down.
fn keyed_rates<K: PartialEq>(
    prev: Option<&[(K, u64, u64)]>,
    next: Option<&[(K, u64, u64)]>,
    dt_ns: i64,
) -> (Option<f64>, Option<f64>) {
    let (Some(prev), Some(next)) = (prev, next) else {
        return (None, None);
    };
    if dt_ns <= 0 {
        return (None, None);
    }
    let (mut a, mut b) = (Some(0u64), Some(0u64));
    let mut common = false;
    for (k, na, nb) in next {
        let Some((_, pa, pb)) = prev.iter().find(|(pk, _, _)| pk == k) else {
            continue;
        };
        common = true;
        a = a.and_then(|s| na.checked_sub(*pa).map(|d| s + d));
        b = b.and_then(|s| nb.checked_sub(*pb).map(|d| s + d));
    }
    if !common {
        return (None, None);
    }
    let secs = dt_ns as f64 / 1e9;
    (a.map(|v| v as f64 / secs), b.map(|v| v as f64 / secs))
}

/// The point of sample `next`, with rates over the interval since `prev` when there is one.
pub(crate) fn point(prev: Option<&Counters>, next: &Counters) -> Point {
    let mut p = Point {
        at_ms: next.at_ns.div_euclid(1_000_000),
        memory: next.working_set,
        pids: next.pids,
        ..Point::default()
    };
    if let Some(prev) = prev {
        let dt = next.at_ns - prev.at_ns;
        p.cpu = rate(prev.cpu_ns, next.cpu_ns, dt).map(|ns_per_s| ns_per_s / 1e9);
        (p.rx, p.tx) = keyed_rates(prev.net.as_deref(), next.net.as_deref(), dt);
        (p.read, p.write) = keyed_rates(prev.disk.as_deref(), next.disk.as_deref(), dt);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(at_s: i64, cpu: u64, rx: u64) -> Counters {
        Counters {
            at_ns: at_s * 1_000_000_000,
            cpu_ns: Some(cpu),
            net: Some(vec![("eth0".to_owned(), rx, 2 * rx)]),
            disk: None,
            working_set: Some(4096),
            pids: Some(3),
        }
    }

    #[test]
    fn a_rate_is_the_increase_over_the_samples_own_interval() {
        let p = point(Some(&c(10, 1_000_000_000, 100)), &c(12, 2_500_000_000, 300));
        assert_eq!(p.at_ms, 12_000);
        assert_eq!(p.cpu, Some(0.75));
        assert_eq!((p.rx, p.tx), (Some(100.0), Some(200.0)));
        assert_eq!(
            (p.read, p.write),
            (None, None),
            "no disk figures: absent, not 0"
        );
        assert_eq!((p.memory, p.pids), (Some(4096), Some(3)));
    }

    #[test]
    fn a_counter_reset_or_time_going_back_gives_no_rate_never_a_negative_one() {
        let p = point(Some(&c(10, 9_000_000_000, 500)), &c(11, 1_000, 10));
        assert_eq!((p.cpu, p.rx, p.tx), (None, None, None));
        assert_eq!(p.memory, Some(4096), "gauges are still shown");
        let p = point(Some(&c(11, 1, 1)), &c(10, 2, 2));
        assert_eq!((p.cpu, p.rx), (None, None));
        assert_eq!(rate(Some(1), Some(1), 0), None);
    }

    #[test]
    fn the_first_sample_has_gauges_only() {
        let p = point(None, &c(10, 5, 5));
        assert_eq!((p.cpu, p.rx, p.memory), (None, None, Some(4096)));
    }

    #[test]
    fn interfaces_are_matched_by_name_and_devices_by_number() {
        let mut a = c(1, 0, 0);
        let mut b = c(2, 0, 0);
        a.net = Some(vec![("eth0".into(), 100, 0), ("eth1".into(), 50, 0)]);
        // eth1 went away and eth2 came: only eth0 counts.
        b.net = Some(vec![("eth0".into(), 150, 10), ("eth2".into(), 999, 999)]);
        a.disk = Some(vec![((8, 0), 10, 20)]);
        b.disk = Some(vec![((8, 0), 110, 20), ((8, 16), 7, 7)]);
        let p = point(Some(&a), &b);
        assert_eq!((p.rx, p.tx), (Some(50.0), Some(10.0)));
        assert_eq!((p.read, p.write), (Some(100.0), Some(0.0)));
        b.net = Some(vec![("eth2".into(), 1, 1)]);
        assert_eq!(point(Some(&a), &b).rx, None, "no interface in common");
    }
}
