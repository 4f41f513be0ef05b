//! The hub's loop (Heapster's manager): at every multiple of `--resolution` of the hub's
//! clock, each node's scrape starts after its own random jitter (at most 8 ms per node, 4 s,
//! or a quarter of the resolution) and must end within the scrape timeout. The batch is made
//! when every node has answered, or half a resolution after the start (at most jitter + 5 s),
//! whichever comes first: a slow node never holds up the batch or the other nodes. Its
//! answer, if it comes before its timeout, goes into the next batch (nothing is lost: rates
//! use the samples' own times). A node whose previous scrape is still running is skipped.
//!
//! Then the processors run and the model takes the batch, on a blocking thread.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crowsnest_core::Timestamp;
use rand::Rng;
use tokio::sync::{Notify, watch};

use crate::batch::{DataBatch, NodeMachine};
use crate::config::NodeAddr;
use crate::error::Error;
use crate::kubernetes::Cluster;
use crate::process::rate::RateStats;
use crate::process::{self, Processor};
use crate::scrape::{HttpClient, NodeScrapeState, Scraped};
use crate::source::{Scraper, Sources};
use crate::state::{Shared, lock};
use crate::status::{NodeStatus, RECENT_CYCLES};

/// What the hub keeps per node between scrapes: the scrape's state and the node's processors
/// (its rate state). Label sets are not kept: the model keeps its own compact copy.
struct NodeWork {
    scrape: NodeScrapeState,
    pipeline: Vec<Box<dyn Processor>>,
}

impl NodeWork {
    /// Heap bytes kept between scrapes (not counting label sets, which the model holds).
    fn heap_bytes(&self) -> usize {
        self.pipeline.iter().map(|p| p.heap_bytes()).sum::<usize>() + self.scrape.heap_bytes()
    }
}

/// One node the loop scrapes.
struct NodeRuntime {
    addr: NodeAddr,
    scraper: Scraper,
    work: Arc<tokio::sync::Mutex<NodeWork>>,
}

/// A successful scrape waiting for its batch.
struct Outcome {
    cycle: u64,
    scraped: Scraped,
}

/// The scheduler's state between cycles.
pub(crate) struct Scheduler {
    shared: Shared,
    sources: Arc<Mutex<Sources>>,
    client: HttpClient,
    nodes: HashMap<String, NodeRuntime>,
    inbox: Arc<Mutex<Vec<Outcome>>>,
    pending: Arc<AtomicUsize>,
    done: Arc<Notify>,
    processors: Option<Vec<Box<dyn Processor>>>,
    machines: BTreeMap<String, NodeMachine>,
    stale_scrapes: u64,
    clusters: Vec<Arc<Cluster>>,
}

/// The largest jitter before a node's scrape.
pub fn max_jitter(nodes: usize, resolution: Duration) -> Duration {
    (Duration::from_millis(8) * u32::try_from(nodes).unwrap_or(u32::MAX))
        .min(Duration::from_secs(4))
        .min(resolution / 4)
}

/// How long after a cycle's start its batch is made at the latest.
pub fn batch_offset(nodes: usize, resolution: Duration) -> Duration {
    (resolution / 2).min(max_jitter(nodes, resolution) + Duration::from_secs(5))
}

/// Scrapes a container is remembered by its node's rate calculator without being seen: the
/// retention (at least 3).
fn stale_scrapes(shared: &Shared) -> u64 {
    let c = &shared.config;
    let n = c.retention.as_nanos() / c.resolution.as_nanos().max(1);
    u64::try_from(n).unwrap_or(u64::MAX).max(3)
}

impl Scheduler {
    pub(crate) fn new(
        shared: Shared,
        sources: Arc<Mutex<Sources>>,
        client: HttpClient,
    ) -> Scheduler {
        let clusters = lock(&sources).clusters();
        Scheduler {
            stale_scrapes: stale_scrapes(&shared),
            shared,
            sources,
            client,
            nodes: HashMap::new(),
            inbox: Arc::new(Mutex::new(Vec::new())),
            pending: Arc::new(AtomicUsize::new(0)),
            done: Arc::new(Notify::new()),
            processors: Some(crate::kubernetes::enrich::batch_pipeline(&clusters)),
            clusters,
            machines: BTreeMap::new(),
        }
    }

    /// Runs cycles until `stop` turns true.
    pub(crate) async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let res = self.shared.config.resolution;
        let res_nanos = i64::try_from(res.as_nanos()).unwrap_or(i64::MAX).max(1);
        let mut cycle = 0u64;
        while !*stop.borrow() {
            let now = self.shared.clock.now();
            let boundary = Timestamp((now.nanos().div_euclid(res_nanos) + 1) * res_nanos);
            let wait =
                Duration::from_nanos(u64::try_from(boundary.nanos() - now.nanos()).unwrap_or(0));
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = stop.changed() => break,
            }
            cycle += 1;
            let started = Instant::now();
            self.reconcile();
            let deadline = started + batch_offset(self.nodes.len(), res);
            self.start_scrapes(cycle);
            loop {
                if self.pending.load(Ordering::SeqCst) == 0 {
                    break;
                }
                let notified = self.done.notified();
                tokio::select! {
                    () = notified => {}
                    () = tokio::time::sleep_until(deadline.into()) => break,
                    _ = stop.changed() => return,
                }
            }
            self.make_batch(boundary, cycle, started).await;
        }
    }

    /// Follows the sources' node list: new nodes get a scrape state, gone ones are dropped.
    fn reconcile(&mut self) {
        let list = match self.sources.lock() {
            Ok(mut s) => s.nodes(),
            Err(_) => return,
        };
        let mut statuses = lock(&self.shared.nodes);
        self.nodes.retain(|name, rt| {
            let keep = list
                .iter()
                .any(|n| n.addr == rt.addr && n.scraper == rt.scraper);
            if !keep {
                tracing::info!(node = %name, "node removed");
                statuses.remove(name);
            }
            keep
        });
        for n in list {
            if self.nodes.contains_key(&n.addr.name) {
                continue;
            }
            let url = match &n.scraper {
                Scraper::Agent(access) => self.client.base_url(&n.addr, access),
                Scraper::KubeletSummary(_) => n.addr.base_url(),
            };
            tracing::info!(node = %n.addr.name, %url, source = %n.source, "node added");
            statuses.insert(
                n.addr.name.clone(),
                NodeStatus {
                    name: n.addr.name.clone(),
                    url,
                    source: n.source.clone(),
                    ..Default::default()
                },
            );
            self.nodes.insert(
                n.addr.name.clone(),
                NodeRuntime {
                    addr: n.addr,
                    scraper: n.scraper,
                    work: Arc::new(tokio::sync::Mutex::new(NodeWork {
                        scrape: NodeScrapeState::default(),
                        pipeline: process::node_pipeline(self.stale_scrapes),
                    })),
                },
            );
        }
        self.machines.retain(|n, _| self.nodes.contains_key(n));
    }

    fn start_scrapes(&mut self, cycle: u64) {
        let cfg = &self.shared.config;
        let jitter_max = max_jitter(self.nodes.len(), cfg.resolution);
        let timeout = cfg.scrape_timeout;
        for rt in self.nodes.values() {
            let Ok(mut guard) = rt.work.clone().try_lock_owned() else {
                if let Some(s) = lock(&self.shared.nodes).get_mut(&rt.addr.name) {
                    s.skipped += 1;
                }
                continue;
            };
            let jitter = Duration::from_millis(
                rand::rng().random_range(0..=u64::try_from(jitter_max.as_millis()).unwrap_or(0)),
            );
            let (client, addr, scraper, shared) = (
                self.client.clone(),
                rt.addr.clone(),
                rt.scraper.clone(),
                self.shared.clone(),
            );
            let (inbox, pending, done) =
                (self.inbox.clone(), self.pending.clone(), self.done.clone());
            pending.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                tokio::time::sleep(jitter).await;
                let started = Instant::now();
                let scrape = crate::source::scrape(&client, &scraper, &addr, &mut guard.scrape);
                let result = match tokio::time::timeout(timeout, scrape).await {
                    Ok(r) => r.map(|sc| process_node(&mut guard, sc, &shared)),
                    Err(_) => Err(Error::Scrape {
                        node: addr.name.clone(),
                        url: addr.base_url(),
                        reason: format!("no answer within {timeout:?}"),
                    }),
                };
                let state_bytes = guard.heap_bytes() as u64;
                let tracked = guard
                    .pipeline
                    .iter()
                    .find_map(|p| p.rate_stats())
                    .map_or(0, |r| r.tracked);
                drop(guard);
                let took = started.elapsed().as_secs_f64();
                let now = shared.clock.now();
                lock(&shared.metrics).scrape_seconds.observe(took);
                if let Some(s) = lock(&shared.nodes).get_mut(&addr.name) {
                    s.scrapes += 1;
                    s.state_bytes = state_bytes;
                    s.tracked = tracked;
                    s.last_attempt = Some(now);
                    s.last_duration_seconds = Some(took);
                    match &result {
                        Ok(sc) => {
                            s.last_success = Some(now);
                            s.consecutive_failures = 0;
                            s.containers = sc.sets.len() as u64;
                            s.samples = sc.samples as u64;
                        }
                        Err(e) => {
                            if s.consecutive_failures == 0 {
                                tracing::warn!(error = %e, "scrape failed");
                            } else {
                                tracing::debug!(error = %e, "scrape failed again");
                            }
                            s.failures += 1;
                            s.consecutive_failures += 1;
                            s.last_error = Some(e.to_string());
                            s.last_error_time = Some(now);
                        }
                    }
                }
                if let Ok(scraped) = result {
                    lock(&inbox).push(Outcome { cycle, scraped });
                }
                pending.fetch_sub(1, Ordering::SeqCst);
                done.notify_one();
            });
        }
    }

    async fn make_batch(&mut self, timestamp: Timestamp, cycle: u64, started: Instant) {
        let outcomes = std::mem::take(&mut *lock(&self.inbox));
        let mut batch = DataBatch {
            timestamp,
            ..Default::default()
        };
        let mut late = 0u64;
        for o in outcomes {
            if !self.nodes.contains_key(&o.scraped.node) {
                continue;
            }
            late += u64::from(o.cycle < cycle);
            if let Some(m) = o.scraped.machine {
                self.machines.insert(o.scraped.node.clone(), m);
            }
            // A later answer of the same node replaces an earlier one's sets.
            batch.sets.extend(o.scraped.sets);
        }
        batch.machines = self.machines.clone();
        let Some(mut procs) = self.processors.take() else {
            return;
        };
        let shared = self.shared.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let processing = Instant::now();
            let durations = process::run(&mut procs, &mut batch);
            let mut by_type: BTreeMap<&'static str, u64> = BTreeMap::new();
            for s in batch.sets.values() {
                *by_type.entry(s.set_type.as_str()).or_default() += 1;
            }
            let model_stats = {
                let mut m = shared.model.write().unwrap_or_else(|p| p.into_inner());
                m.insert(&batch);
                m.stats()
            };
            if let Some(sinks) = &shared.sinks {
                sinks.send(&batch.to_core_batch());
            }
            let processing = processing.elapsed();
            drop(batch);
            crate::release_free_memory();
            (procs, durations, by_type, model_stats, processing)
        })
        .await;
        match joined {
            Ok((procs, durations, by_type, model_stats, processing)) => {
                self.processors = Some(procs);
                let cycle = started.elapsed().as_secs_f64();
                let node_bytes = lock(&self.shared.nodes)
                    .values()
                    .map(|n| n.state_bytes)
                    .sum();
                let mut m = lock(&self.shared.metrics);
                m.cycle_seconds.observe(cycle);
                if m.recent_cycles.len() >= RECENT_CYCLES {
                    m.recent_cycles.pop_front();
                }
                m.recent_cycles.push_back((cycle, processing.as_secs_f64()));
                m.processor_bytes = node_bytes;
                let per_node = std::mem::take(&mut m.node_processor_seconds);
                m.processor_seconds = per_node
                    .into_iter()
                    .chain(durations.into_iter().map(|(n, d)| (n, d.as_secs_f64())))
                    .collect();
                m.batches += 1;
                m.late_results += late;
                m.sets_by_type = by_type;
                m.model = model_stats;
            }
            Err(e) => {
                tracing::error!(error = %e, "processing a batch failed; starting the processors again");
                self.processors = Some(crate::kubernetes::enrich::batch_pipeline(&self.clusters));
            }
        }
    }
}

/// Runs a node's own processors (rates, enrichment) on its answer, and shares label sets that
/// did not change with the previous answer's (and so with the model).
fn process_node(work: &mut NodeWork, mut scraped: Scraped, shared: &Shared) -> Scraped {
    let mut batch = DataBatch {
        sets: std::mem::take(&mut scraped.sets).into_iter().collect(),
        ..Default::default()
    };
    let before = rate_counts(work);
    let durations = process::run(&mut work.pipeline, &mut batch);
    let after = rate_counts(work);
    {
        let mut m = lock(&shared.metrics);
        m.rates.counter_resets += after.counter_resets - before.counter_resets;
        m.rates.restarts += after.restarts - before.restarts;
        m.rates.out_of_order += after.out_of_order - before.out_of_order;
        for (name, d) in durations {
            match m
                .node_processor_seconds
                .iter_mut()
                .find(|(n, _)| *n == name)
            {
                Some((_, s)) => *s += d.as_secs_f64(),
                None => m.node_processor_seconds.push((name, d.as_secs_f64())),
            }
        }
    }
    scraped.sets = batch.sets.into_iter().collect();
    scraped
}

fn rate_counts(work: &NodeWork) -> RateStats {
    work.pipeline
        .iter()
        .find_map(|p| p.rate_stats())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_and_offset_follow_heapster_within_the_resolution() {
        let ten = Duration::from_secs(10);
        assert_eq!(max_jitter(3, ten), Duration::from_millis(24));
        assert_eq!(max_jitter(200, ten), Duration::from_millis(1600));
        assert_eq!(
            max_jitter(5000, Duration::from_secs(60)),
            Duration::from_secs(4)
        );
        assert_eq!(
            max_jitter(200, Duration::from_secs(1)),
            Duration::from_millis(250)
        );
        assert_eq!(batch_offset(3, ten), Duration::from_secs(5));
        assert_eq!(
            batch_offset(3, Duration::from_secs(60)),
            Duration::from_millis(5024)
        );
    }
}
