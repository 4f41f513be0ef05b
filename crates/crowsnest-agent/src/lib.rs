//! The crowsnest agent: the cAdvisor role on one host.
//!
//! It owns the container manager (discovery and the housekeeping loop that collects every
//! container's statistics on one thread), the per-container history, and the HTTP API
//! (cAdvisor's REST API v1.x/v2.x and Prometheus `/metrics`). Collection runs apart from
//! serving: the housekeeping thread writes samples into [`state::AgentState`]; HTTP handlers
//! only read what is stored, and never touch `/sys` or `/proc`.
//!
//! It must never import `crowsnest-hub`.

pub mod config;
pub mod history;
pub mod http;
pub mod manager;
mod runtime;
pub mod self_metrics;
pub mod state;

pub use config::AgentConfig;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crowsnest_core::{Clock, SystemClock};

/// Why the agent could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kernel's files could not be read at start.
    #[error(transparent)]
    Collect(#[from] crowsnest_collect::Error),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The HTTP server failed.
    #[error("HTTP server failed: {0}")]
    Serve(std::io::Error),
    /// The housekeeping thread could not start.
    #[error("cannot start the housekeeping thread: {0}")]
    Thread(std::io::Error),
    /// A sink could not start (its queue directory, most often).
    #[error("cannot start sinks: {0}")]
    Sinks(#[from] crowsnest_sinks::SinkError),
    /// The store could not be opened.
    #[error("cannot open the store in {}: {source}", dir.display())]
    Store {
        /// The store's directory.
        dir: std::path::PathBuf,
        /// The cause.
        source: crowsnest_store::Error,
    },
    /// The store's maintenance thread could not start.
    #[error("cannot start the store maintenance thread: {0}")]
    StoreThread(std::io::Error),
    /// A TLS or authentication file could not be used.
    #[error(transparent)]
    Guard(#[from] crowsnest_serve::Error),
}

/// How long the sinks' last deliveries may take at shutdown before they are stopped (their
/// records stay queued).
const SINK_SHUTDOWN_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// How often the store is maintained (sealed, compacted, rolled up, trimmed).
const STORE_MAINTAIN_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs `store.maintain()` every [`STORE_MAINTAIN_INTERVAL`] until `stop` is set (checked
/// every 200 ms).
fn maintain_store(store: &crowsnest_store::Store, stop: &AtomicBool) {
    let tick = std::time::Duration::from_millis(200);
    let mut next = std::time::Instant::now() + STORE_MAINTAIN_INTERVAL;
    let mut logged = false;
    while !stop.load(Ordering::Relaxed) {
        let now = std::time::Instant::now();
        if now < next {
            std::thread::sleep(tick.min(next - now));
            continue;
        }
        next = now + STORE_MAINTAIN_INTERVAL;
        match store.maintain() {
            Err(e) if !logged => {
                logged = true;
                tracing::warn!(error = %e, "store maintenance failed (logged once until it works again)");
            }
            Ok(report) => {
                if logged {
                    logged = false;
                    tracing::info!("store maintenance works again");
                }
                if report.series_removed > 0 {
                    // The removed series' tables are free: give the pages back.
                    manager::release_free_memory();
                }
            }
            Err(_) => {}
        }
    }
}

/// Runs the agent until `shutdown` completes: housekeeping on its own thread, the HTTP API on
/// the current tokio runtime.
pub async fn run(
    config: AgentConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    // TLS and auth files are read first: a mistake in them stops the agent before it starts.
    let mut serve = config.serve.clone();
    serve.open_paths = vec![format!("{}/healthz", config.url_base_prefix)];
    let server = crowsnest_serve::Server::new(&serve)?;
    manager::tune_allocator();
    let fd_limit = manager::raise_fd_limit();
    tracing::debug!(?fd_limit, "open file limit");
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let shared = state::Shared::default();
    let mut manager = tokio::task::block_in_place(|| {
        manager::Manager::new(config.clone(), clock.clone(), shared.clone())
    })?;
    let sinks = if config.sinks.is_empty() {
        None
    } else {
        let sinks = Arc::new(crowsnest_sinks::Sinks::start(
            &config.sinks,
            &config.sink_queue_dir,
        )?);
        for s in &config.sinks {
            tracing::info!(sink = %s.display, queue = %config.sink_queue_dir.display(), "sending samples");
        }
        manager.set_sinks(sinks.clone());
        shared.set_sinks(sinks.clone());
        Some(sinks)
    };
    let store = match config.store_config() {
        Some(sc) => {
            let dir = sc.dir.clone();
            let store =
                tokio::task::block_in_place(|| crowsnest_store::Store::open(sc, clock.clone()))
                    .map_err(|source| Error::Store {
                        dir: dir.clone(),
                        source,
                    })?;
            store.set_query_max_points(config.query_max_points);
            let store = Arc::new(store);
            tracing::info!(dir = %dir.display(), retention = ?config.retention, "keeping history in the store");
            manager.set_store(store.clone());
            shared.set_store(store.clone());
            Some(store)
        }
        None => None,
    };
    tracing::info!(
        containers = manager.container_count(),
        watches = manager.watch_count(),
        "containers found"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let thread_stop = stop.clone();
    let housekeeping = std::thread::Builder::new()
        .name("housekeeping".into())
        .spawn(move || manager.run(&thread_stop))
        .map_err(Error::Thread)?;
    let maintenance = match &store {
        Some(store) => {
            let (store, stop) = (store.clone(), stop.clone());
            Some(
                std::thread::Builder::new()
                    .name("store-maintain".into())
                    .spawn(move || maintain_store(&store, &stop))
                    .map_err(Error::StoreThread)?,
            )
        }
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| Error::Bind {
            addr: config.listen,
            source,
        })?;
    let local = listener.local_addr().map_err(Error::Serve)?;
    tracing::info!(
        address = %local,
        scheme = server.scheme(),
        auth = server.authenticates(),
        "serving cAdvisor API, /metrics and /healthz"
    );
    let app = http::router(shared.clone(), &config.url_base_prefix);
    let served = server.serve(listener, app, shutdown).await;
    stop.store(true, Ordering::Relaxed);
    let _ = tokio::task::spawn_blocking(move || housekeeping.join()).await;
    if let Some(m) = maintenance {
        let _ = tokio::task::spawn_blocking(move || m.join()).await;
    }
    // The housekeeping and maintenance threads have let go of the store; the HTTP handlers
    // hold it through `shared`, dropped here.
    drop(shared);
    if let Some(store) = store {
        match Arc::try_unwrap(store) {
            Ok(store) => {
                let dir = store.dir().to_path_buf();
                match tokio::task::spawn_blocking(move || store.close()).await {
                    Ok(Ok(())) => tracing::info!(dir = %dir.display(), "store closed"),
                    Ok(Err(e)) => {
                        tracing::warn!(dir = %dir.display(), error = %e, "cannot close the store")
                    }
                    Err(e) => tracing::warn!(error = %e, "store close panicked"),
                }
            }
            // A query still running: dropping syncs the log; the next start replays it.
            Err(_) => tracing::warn!(
                "store still in use at shutdown; it will replay its log at the next start"
            ),
        }
    }
    // The housekeeping thread has sent its last batch: stop the sinks and write their queues
    // through to the disk (what is still queued is sent after a restart). An HTTP handler
    // may still hold them, hence through the shared handle.
    if let Some(sinks) = sinks {
        sinks.shutdown(SINK_SHUTDOWN_WAIT).await;
    }
    served.map_err(Error::Serve)
}

/// Entry points for the fuzz targets in `fuzz/` (a workspace of its own) to the request
/// parsers of the HTTP API, which are not public. Not part of the API.
#[doc(hidden)]
pub mod fuzzing {
    use std::collections::HashMap;

    use crowsnest_core::Timestamp;

    /// The v1 options of a request (JSON body, then query string): `Err` holds the HTTP status
    /// and message of a refusal.
    pub fn v1_query(body: &[u8], query: Option<&str>) -> Result<(), (u16, String)> {
        crate::http::options::v1_query(body, query)
            .map(drop)
            .map_err(|e| (e.status().as_u16(), e.to_string()))
    }

    /// The v2 options of a query string, as [`v1_query`].
    pub fn v2_options(query: Option<&str>) -> Result<(), (u16, String)> {
        crate::http::options::v2_options(query)
            .map(drop)
            .map_err(|e| (e.status().as_u16(), e.to_string()))
    }

    /// The container name of a request path.
    pub fn container_name(args: &str) -> String {
        crate::http::container_name(args)
    }

    /// A query string's decoded pairs.
    pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
        crate::http::options::query_pairs(query)
    }

    /// The parameters of `/api/v1/query`, or what is wrong.
    pub fn store_query(params: &HashMap<String, String>, now: Timestamp) -> Result<(), String> {
        crate::http::query::parse(params, now).map(drop)
    }
}
