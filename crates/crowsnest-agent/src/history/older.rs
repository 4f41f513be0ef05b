//! Samples older than the ring, read back from the embedded store: the container's canonical
//! samples (every series whose `id` label is the container's name) grouped by time and turned
//! back into [`ContainerStats`] by `crowsnest_core::batch::restore`, which is exact for every
//! field a sample carries and leaves the others absent.

use std::collections::BTreeMap;

use crowsnest_core::Timestamp;
use crowsnest_core::batch::label;
use crowsnest_core::batch::restore::{StoredSample, container_stats};
use crowsnest_core::machine::MachineInfo;
use crowsnest_core::model::ContainerStats;
use crowsnest_store::{Agg, Query, Selector, Store};

/// Why the store could not fill a request.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The answer would hold more points than a query may return (`--query-max-points`).
    #[error(
        "the samples asked for would take more than {limit} stored points (--query-max-points); ask for fewer (num_stats, count) or a shorter start/end range"
    )]
    TooLarge {
        /// The bound, in points (one value of one series).
        limit: u64,
    },
    /// The store failed to read.
    #[error("reading the store: {0}")]
    Store(crowsnest_store::Error),
}

impl From<crowsnest_store::Error> for HistoryError {
    fn from(e: crowsnest_store::Error) -> Self {
        match e {
            crowsnest_store::Error::QueryTooLarge { limit } => HistoryError::TooLarge { limit },
            e => HistoryError::Store(e),
        }
    }
}

/// What a request may still read from the store, in points, across its containers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    left: u64,
    limit: u64,
}

impl Budget {
    /// A request's budget: the store's bound on one query.
    pub(crate) fn of(store: &Store) -> Self {
        let limit = store.query_max_points();
        Budget { left: limit, limit }
    }
}

/// Which older samples of one container to read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reach {
    /// First time included, if bounded.
    pub(crate) from: Option<Timestamp>,
    /// Last time included.
    pub(crate) to: Timestamp,
    /// At most the newest this many.
    pub(crate) want: Option<usize>,
    /// About how far apart samples are, in nanoseconds.
    pub(crate) step_ns: i64,
}

/// What [`read`] found.
#[derive(Debug, Default)]
pub(crate) struct Older {
    /// The samples, oldest first.
    pub(crate) stats: Vec<ContainerStats>,
    /// When nothing was found and everything stored up to `reach.to` was searched: that
    /// time. The store never gets samples older than the ring's oldest later (the ring and
    /// the store take the same samples, in time order), so the answer stays true.
    pub(crate) none_up_to: Option<Timestamp>,
}

/// The samples of container `name` that `reach` selects, oldest first. With `want`, the range
/// is read backwards from `to` in growing windows (starting from `want` samples at `step_ns`
/// apart) until enough are found or `from` (or the oldest stored sample) is reached, so that
/// a request for the last few samples does not read days of history.
pub(crate) fn read(
    store: &Store,
    machine: &MachineInfo,
    name: &str,
    reach: Reach,
    budget: &mut Budget,
) -> Result<Older, HistoryError> {
    let to = reach.to;
    let Some(oldest) = store.oldest() else {
        return Ok(Older {
            stats: Vec::new(),
            none_up_to: Some(to),
        });
    };
    let whole = reach.from.is_none_or(|f| f <= oldest);
    let found = |stats: Vec<ContainerStats>| Older {
        none_up_to: (whole && stats.is_empty()).then_some(to),
        stats,
    };
    let floor = reach.from.map_or(oldest, |f| f.max(oldest));
    if to < floor {
        return Ok(found(Vec::new()));
    }
    let Some(want) = reach.want else {
        return samples(store, machine, name, floor, to, budget).map(found);
    };
    if want == 0 {
        return Ok(Older::default());
    }
    let mut span = (want as i64)
        .saturating_mul(reach.step_ns.max(1_000_000_000))
        .saturating_mul(2);
    // A round whose answer is read again by the next one is not charged.
    let left = budget.left;
    // Bounded: the span grows fourfold each time and covers any range within 32 rounds.
    for _ in 0..32 {
        let start = Timestamp(to.nanos().saturating_sub(span)).max(floor);
        budget.left = left;
        let mut got = samples(store, machine, name, start, to, budget)?;
        if got.len() >= want || start == floor {
            let extra = got.len().saturating_sub(want);
            got.drain(..extra);
            return Ok(found(got));
        }
        span = span.saturating_mul(4);
    }
    Ok(Older::default())
}

/// Every stored sample of container `name` in `[start, end]`, as `ContainerStats`.
fn samples(
    store: &Store,
    machine: &MachineInfo,
    name: &str,
    start: Timestamp,
    end: Timestamp,
    budget: &mut Budget,
) -> Result<Vec<ContainerStats>, HistoryError> {
    let q = Query {
        selector: Selector::default().with(label::ID, name),
        start,
        end,
        step: None,
        agg: Agg::Raw,
    };
    let series = store.query_limited(&q, budget.left).map_err(|e| match e {
        // The request's budget, not one query's, ran out: name the configured bound.
        crowsnest_store::Error::QueryTooLarge { .. } => HistoryError::TooLarge {
            limit: budget.limit,
        },
        e => e.into(),
    })?;
    let points: u64 = series.iter().map(|s| s.points.len() as u64).sum();
    budget.left = budget.left.saturating_sub(points);
    // Every series of the container (label sets may change over its life, e.g. once its
    // runtime names it): grouped by time.
    let mut at: BTreeMap<i64, Vec<StoredSample<'_>>> = BTreeMap::new();
    for s in &series {
        let resource_id = s.labels.get(label::RESOURCE_ID);
        for &(t, value) in &s.points {
            at.entry(t.nanos()).or_default().push(StoredSample {
                metric: &s.metric,
                resource_id,
                value,
            });
        }
    }
    Ok(at
        .into_iter()
        .map(|(t, samples)| container_stats(Timestamp(t), samples, machine))
        .collect())
}
