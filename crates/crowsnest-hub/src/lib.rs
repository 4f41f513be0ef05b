//! The crowsnest hub: the Heapster role for a cluster.
//!
//! It owns node discovery ([`source`]: static lists, Heapster's hot-reloaded hosts file and
//! Kubernetes clusters followed through their API server, [`kubernetes`]),
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
pub mod kubernetes;
pub mod model;
pub mod names;
mod packed;
pub mod process;
pub mod schedule;
pub mod scrape;
pub mod source;
pub mod state;
pub mod status;

pub use config::{
    AgentAccess, AgentClientConfig, HubConfig, ModelBackend, NodeAddr, Scheme, SourceSpec,
};
pub use error::{Error, Result};

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};

use crowsnest_core::{Clock, SystemClock};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::model::ModelStore;
use crate::model::memory::MemoryModel;
use crate::model::store::StoreModel;
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
    /// Stops every task and waits (at most 10 s) for them to end; then closes the model (an
    /// embedded store in a temporary directory is removed).
    pub async fn stop(self) -> Result<()> {
        let _ = self.stop.send(true);
        let wait = async {
            for t in self.tasks {
                let _ = t.await;
            }
            self.server.await
        };
        let done = tokio::time::timeout(std::time::Duration::from_secs(10), wait).await;
        // The scheduler has sent its last batch: stop the sinks and write their queues through
        // to the disk (what is still queued is sent after a restart).
        if let Some(sinks) = &self.state.sinks {
            sinks.shutdown(std::time::Duration::from_secs(5)).await;
        }
        let empty = MemoryModel::new(std::time::Duration::from_secs(1), 0);
        let old = std::mem::replace(
            &mut *self.state.model.write().unwrap_or_else(|p| p.into_inner()),
            Box::new(empty),
        );
        drop(old);
        match done {
            Ok(Ok(Ok(()))) | Err(_) | Ok(Err(_)) => Ok(()),
            Ok(Ok(Err(e))) => Err(Error::Serve(e)),
        }
    }
}

/// Starts the hub on the current tokio runtime with `clock` for batch times and health.
pub async fn start(config: HubConfig, clock: Arc<dyn Clock>) -> Result<HubHandle> {
    tune_allocator();
    // TLS and auth files (the listener's and toward agents) are read first: a mistake in
    // them stops the hub before it starts.
    let server = crowsnest_serve::Server::new(&config.serve)?;
    let client = scrape::HttpClient::for_agents(config.scrape_timeout, &config.agents)?;
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
    let sources = Sources::new(&config.sources, now)?;
    let clusters = sources.clusters();
    let sinks = if config.sinks.is_empty() {
        None
    } else {
        let sinks = crowsnest_sinks::Sinks::start(&config.sinks, &config.sink_queue_dir)?;
        for s in &config.sinks {
            tracing::info!(sink = %s.display, "sending processed batches");
        }
        Some(Arc::new(sinks))
    };
    let model: Box<dyn ModelStore> = match config.model_store {
        ModelBackend::Memory => Box::new(MemoryModel::new(
            config.retention,
            config.model_memory_limit,
        )),
        ModelBackend::Store => {
            let m = StoreModel::open(
                config.model_dir.as_deref(),
                config.retention,
                config.model_memory_limit,
                clock.clone(),
            )
            .map_err(|(dir, reason)| Error::ModelStore { dir, reason })?;
            tracing::info!(dir = %m.dir().display(), "model in the embedded store");
            Box::new(m)
        }
    };
    let maintenance = model.maintenance();
    let shared: Shared = Arc::new(HubState {
        model: RwLock::new(model),
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
    for c in clusters {
        tasks.push(tokio::spawn(c.run(shared.clock.clone(), stop_rx.clone())));
    }
    if let Some(m) = maintenance {
        tasks.push(tokio::spawn(maintain_model(Arc::from(m), stop_rx.clone())));
    }
    let sched = schedule::Scheduler::new(shared.clone(), sources.clone(), client);
    tasks.push(tokio::spawn(sched.run(stop_rx.clone())));
    tasks.push(tokio::spawn(poll_sources(
        shared.clone(),
        sources,
        stop_rx.clone(),
    )));
    let app = crowsnest_serve::prefix::under(
        http::router(shared.clone()),
        &shared.config.url_base_prefix,
    );
    let mut server_stop = stop_rx;
    let (scheme, auth) = (server.scheme(), server.authenticates());
    let server = tokio::spawn(server.serve(listener, app, async move {
        let _ = server_stop.wait_for(|s| *s).await;
    }));
    tracing::info!(%addr, scheme, auth, "hub listening");
    Ok(HubHandle {
        addr,
        state: shared,
        stop,
        server,
        tasks,
    })
}

/// Gives the allocator's free memory back to the system. glibc keeps what a batch freed (the
/// answers, the sets of every container) in its arenas, and a hub's batch is large and comes
/// every resolution: without this the process's resident memory holds a batch's worth of
/// freed memory on top of what it uses.
pub(crate) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim has no preconditions; it only walks the allocator's free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Has buffers of 256 KiB and more (an agent's answer, a batch's vectors) mapped and unmapped
/// on their own rather than carved from the heap, where what they leave when freed fragments
/// the arenas between long-lived model rows. glibc would otherwise raise this threshold to
/// the size of the largest buffer freed, so that every answer comes from the heap.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 10);
    }
}

/// Runs the model's maintenance (the store's compaction and retention) every 10 s, on a
/// blocking thread, until `stop`.
async fn maintain_model(work: Arc<dyn Fn() + Send + Sync>, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_secs(10)) => {}
            _ = stop.changed() => break,
        }
        let w = work.clone();
        let _ = tokio::task::spawn_blocking(move || w()).await;
    }
}

/// Re-reads the hosts files (and refreshes every source's status) every `hosts_poll_interval` until `stop`.
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

/// Entry points for the fuzz targets in `fuzz/` (a workspace of its own) to parsers that are
/// not public. Not part of the API.
#[doc(hidden)]
pub mod fuzzing {
    /// A `metrics.k8s.io` `labelSelector`: the number of requirements, or what is wrong.
    pub fn label_selector(text: &str) -> std::result::Result<usize, String> {
        crate::http::metrics_api::parse_selector(text).map(|r| r.len())
    }

    /// The model API's query (`start`, `end`, `labels`), or what is wrong.
    pub fn model_query(query: Option<&str>) -> std::result::Result<(), String> {
        crate::http::model_api::parse_query(query).map(drop)
    }
}
