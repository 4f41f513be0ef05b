//! The delivery task of one sink: reads the queue in order, batches by size and time, sends,
//! retries what may succeed later with backoff and jitter, drops (and counts) what the far
//! end refuses for good, and never spins.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use rand::Rng;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::uri::Common;
use crate::{Deliver, DeliveryError, DropReason, Shared};

/// The task's settings (from the URI's common options).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunConfig {
    pub(crate) batch_bytes: u64,
    pub(crate) flush: Duration,
    pub(crate) timeout: Duration,
    pub(crate) backoff_min: Duration,
    pub(crate) backoff_max: Duration,
}

impl From<&Common> for RunConfig {
    fn from(c: &Common) -> Self {
        RunConfig {
            batch_bytes: c.batch_bytes,
            flush: c.flush,
            timeout: c.timeout,
            backoff_min: c.backoff_min,
            backoff_max: c.backoff_max,
        }
    }
}

/// Exponential backoff with jitter: each delay is drawn from [d/2, d], d doubling from the
/// minimum up to the maximum.
#[derive(Debug)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max,
            next: min,
        }
    }

    pub(crate) fn reset(&mut self) {
        self.next = self.min;
    }

    pub(crate) fn next_delay(&mut self) -> Duration {
        let d = self.next.min(self.max);
        self.next = (self.next * 2).min(self.max);
        let lo = d / 2;
        let span = (d - lo).as_nanos() as u64;
        lo + Duration::from_nanos(rand::rng().random_range(0..=span))
    }
}

/// Waits until woken, stopped or `deadline`. Returns `true` when stopped.
async fn wait(shared: &Shared, stop: &mut watch::Receiver<bool>, deadline: Instant) -> bool {
    tokio::select! {
        _ = shared.wake.notified() => false,
        r = stop.changed() => r.is_err() || *stop.borrow(),
        _ = tokio::time::sleep_until(deadline) => false,
    }
}

/// Sleeps `d` unless stopped first. Returns `true` when stopped.
async fn sleep(stop: &mut watch::Receiver<bool>, d: Duration) -> bool {
    let deadline = Instant::now() + d;
    loop {
        tokio::select! {
            r = stop.changed() => {
                if r.is_err() || *stop.borrow() {
                    return true;
                }
            }
            _ = tokio::time::sleep_until(deadline) => return false,
        }
    }
}

/// How often appended records are flushed to the disk.
const SYNC_EVERY: Duration = Duration::from_secs(1);
/// How often the encoder's state is saved (when it changed).
const SAVE_STATE_EVERY: Duration = Duration::from_secs(10);

pub(crate) async fn run<D: Deliver>(
    shared: Arc<Shared>,
    mut d: D,
    cfg: RunConfig,
    mut stop: watch::Receiver<bool>,
) {
    let name = shared.name.clone();
    let mut body = Vec::new();
    let mut backoff = Backoff::new(cfg.backoff_min, cfg.backoff_max);
    let mut waiting_since: Option<Instant> = None;
    let mut max_bytes = cfg.batch_bytes;
    let mut rejected_logged: HashSet<u16> = HashSet::new();
    // When delivery started failing, and how many attempts have failed since.
    let mut failing: Option<(Instant, u64)> = None;
    let mut last_sync = Instant::now();
    let mut last_save = Instant::now();
    loop {
        if *stop.borrow() {
            return;
        }
        if last_save.elapsed() >= SAVE_STATE_EVERY {
            last_save = Instant::now();
            let sh = shared.clone();
            tokio::task::spawn_blocking(move || sh.save_state());
        }
        let (pending, pending_bytes, sync) = {
            let q = shared.queue();
            let sync = (last_sync.elapsed() >= SYNC_EVERY)
                .then(|| q.sync_handle())
                .flatten();
            (q.pending_records(), q.pending_bytes(), sync)
        };
        if let Some(f) = sync {
            last_sync = Instant::now();
            tokio::task::spawn_blocking(move || f.sync_data());
        }
        if pending == 0 {
            waiting_since = None;
            if wait(&shared, &mut stop, Instant::now() + SYNC_EVERY).await {
                return;
            }
            continue;
        }
        let due = *waiting_since.get_or_insert_with(Instant::now) + cfg.flush;
        if pending_bytes < max_bytes && Instant::now() < due {
            if wait(&shared, &mut stop, due).await {
                return;
            }
            continue;
        }
        body.clear();
        let peek = shared.queue().peek(max_bytes, &mut body);
        let peeked = match peek {
            Ok(Some(p)) => p,
            Ok(None) => continue,
            Err(e) => {
                tracing::error!(sink = %name, error = %e, "cannot read the queue");
                shared.metrics.set_error(Some(e.to_string()));
                if sleep(&mut stop, backoff.next_delay()).await {
                    return;
                }
                continue;
            }
        };
        let started = Instant::now();
        let result = match tokio::time::timeout(cfg.timeout, d.deliver(&body)).await {
            Ok(r) => r,
            Err(_) => Err(DeliveryError::Retryable(format!(
                "no answer within {:?}",
                cfg.timeout
            ))),
        };
        let m = &shared.metrics;
        let commit = |what: &str| {
            if let Err(e) = shared.queue().commit(&peeked) {
                tracing::error!(sink = %name, error = %e, "cannot record {what} records in the queue");
            }
        };
        let refused = match result {
            Ok(()) => {
                commit("delivered");
                m.delivered(
                    peeked.records,
                    peeked.items,
                    peeked.bytes,
                    started.elapsed(),
                );
                if let Some((since, attempts)) = failing.take() {
                    tracing::info!(
                        sink = %name,
                        failed_attempts = attempts,
                        after = ?since.elapsed(),
                        "delivering again"
                    );
                }
                backoff.reset();
                rejected_logged.clear();
                max_bytes = cfg.batch_bytes;
                if shared.queue().pending_records() == 0 {
                    waiting_since = None;
                }
                None
            }
            Err(DeliveryError::Retryable(msg)) => {
                shared.queue().abandon();
                m.retries.fetch_add(1, Relaxed);
                m.set_error(Some(msg.clone()));
                match &mut failing {
                    None => {
                        tracing::warn!(sink = %name, error = %msg, pending, "delivery failed; retrying with backoff, data stays queued");
                        failing = Some((Instant::now(), 1));
                    }
                    Some((_, n)) => {
                        *n += 1;
                        tracing::debug!(sink = %name, error = %msg, attempts = *n, "delivery failed again");
                    }
                }
                if sleep(&mut stop, backoff.next_delay()).await {
                    return;
                }
                None
            }
            Err(DeliveryError::TooLarge(msg)) if peeked.records > 1 => {
                shared.queue().abandon();
                max_bytes = (peeked.bytes / 2).max(1);
                tracing::debug!(sink = %name, error = %msg, max_bytes, "request too large; sending smaller ones");
                None
            }
            Err(DeliveryError::TooLarge(msg)) => Some((413, msg)),
            Err(DeliveryError::Rejected { status, message }) => Some((status, message)),
        };
        if let Some((status, msg)) = refused {
            if rejected_logged.insert(status) {
                tracing::error!(
                    sink = %name,
                    status,
                    error = %msg,
                    first = %d.first_item(&body),
                    records = peeked.records,
                    items = peeked.items,
                    "the far end refused the data; dropped it (counted as rejected). Later \
                     refusals with this status are counted, not logged, until a delivery succeeds"
                );
            }
            m.set_error(Some(format!("HTTP {status}: {msg}")));
            m.drop(DropReason::Rejected, peeked.records, peeked.items);
            commit("rejected");
            max_bytes = cfg.batch_bytes;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_maximum() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let ds: Vec<Duration> = (0..8).map(|_| b.next_delay()).collect();
        let caps = [100, 200, 400, 800, 1000, 1000, 1000, 1000];
        for (d, cap) in ds.iter().zip(caps) {
            let cap = Duration::from_millis(cap);
            assert!(
                *d >= cap / 2 && *d <= cap,
                "{d:?} within [{:?}, {cap:?}]",
                cap / 2
            );
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
