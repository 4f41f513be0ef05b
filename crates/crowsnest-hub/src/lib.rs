//! The crowsnest hub: the Heapster role for a cluster.
//!
//! It owns node discovery ([`source`]: static lists and Heapster's hot-reloaded hosts file),
//! scraping every node's agent over HTTP ([`scrape`], scheduled by [`schedule`]), the
//! processors in Heapster's order ([`process`]: rates, enrichment, pod / namespace / node /
//! cluster aggregation, node utilization), the bounded model of the processed series
//! ([`model`]) and the HTTP API: Heapster's model API, `metrics.k8s.io`, `/metrics` and
//! `/healthz` ([`http`]).
//!
//! The hub talks to agents over HTTP only: it never reads `/proc` or `/sys`, and it must never
//! import `crowsnest-collect` or `crowsnest-agent` (the architecture test enforces it).

pub mod batch;
pub mod config;
pub mod error;
pub mod http;
pub mod model;
pub mod names;
pub mod process;
pub mod schedule;
pub mod scrape;
pub mod source;
pub mod state;
pub mod status;

pub use config::{HubConfig, NodeAddr, SourceSpec};
pub use error::{Error, Result};

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};

use crowsnest_core::{Clock, SystemClock};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::model::memory::MemoryModel;
use crate::source::Sources;
use crate::state::{HubState, Shared, lock};
use crate::status::HubMetrics;

/// A running hub: its address, its state, and how to stop it.
#[derive(Debug)]
pub struct HubHandle {
    /// Where the HTTP API listens.
    pub addr: SocketAddr,
    /// The shared state (for tests and the bench).
    pub state: Shared,
    stop: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    tasks: Vec<JoinHandle<()>>,
}

impl HubHandle {
    /// Stops every task and waits (at most 10 s) for them to end.
    pub async fn stop(self) -> Result<()> {
        let _ = self.stop.send(true);
        let wait = async {
            for t in self.tasks {
                let _ = t.await;
            }
            self.server.await
        };
        match tokio::time::timeout(std::time::Duration::from_secs(10), wait).await {
            Ok(Ok(Ok(()))) | Err(_) | Ok(Err(_)) => Ok(()),
            Ok(Ok(Err(e))) => Err(Error::Serve(e)),
        }
    }
}

/// Starts the hub on the current tokio runtime with `clock` for batch times and health.
pub async fn start(config: HubConfig, clock: Arc<dyn Clock>) -> Result<HubHandle> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| Error::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| Error::Bind {
        addr: config.listen,
        source,
    })?;
    let now = clock.now();
    let sources = Sources::new(&config.sources, now);
    let sinks = if config.sinks.is_empty() {
        None
    } else {
        let sinks = crowsnest_sinks::Sinks::start(&config.sinks, &config.sink_queue_dir)?;
        for s in &config.sinks {
            tracing::info!(sink = %s.display, "sending processed batches");
        }
        Some(Arc::new(sinks))
    };
    let shared: Shared = Arc::new(HubState {
        model: RwLock::new(Box::new(MemoryModel::new(
            config.retention,
            config.model_memory_limit,
        ))),
        nodes: Mutex::new(Default::default()),
        sources: Mutex::new(sources.status()),
        metrics: Mutex::new(HubMetrics::default()),
        started: now,
        sinks,
        clock,
        config,
    });
    let sources = Arc::new(Mutex::new(sources));
    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let sched = schedule::Scheduler::new(shared.clone(), sources.clone());
    tasks.push(tokio::spawn(sched.run(stop_rx.clone())));
    tasks.push(tokio::spawn(poll_sources(
        shared.clone(),
        sources,
        stop_rx.clone(),
    )));
    let app = http::router(shared.clone());
    let mut server_stop = stop_rx;
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = server_stop.wait_for(|s| *s).await;
            })
            .await
    });
    tracing::info!(%addr, "hub listening");
    Ok(HubHandle {
        addr,
        state: shared,
        stop,
        server,
        tasks,
    })
}

/// Re-reads the hosts files every `hosts_poll_interval` until `stop`.
async fn poll_sources(
    shared: Shared,
    sources: Arc<Mutex<Sources>>,
    mut stop: watch::Receiver<bool>,
) {
    let every = shared.config.hosts_poll_interval;
    while !*stop.borrow() {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.changed() => break,
        }
        let (s, sh) = (sources.clone(), shared.clone());
        let polled = tokio::task::spawn_blocking(move || {
            let mut s = lock(&s);
            s.poll(sh.clock.now());
            s.status()
        })
        .await;
        if let Ok(status) = polled {
            *lock(&shared.sources) = status;
        }
    }
}

/// Runs the hub until `shutdown` completes.
pub async fn run(
    config: HubConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let handle = start(config, Arc::new(SystemClock)).await?;
    shutdown.await;
    handle.stop().await
}
