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
}

/// Runs the agent until `shutdown` completes: housekeeping on its own thread, the HTTP API on
/// the current tokio runtime.
pub async fn run(
    config: AgentConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let fd_limit = manager::raise_fd_limit();
    tracing::debug!(?fd_limit, "open file limit");
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let shared = state::Shared::default();
    let mut manager = tokio::task::block_in_place(|| {
        manager::Manager::new(config.clone(), clock, shared.clone())
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
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| Error::Bind {
            addr: config.listen,
            source,
        })?;
    let local = listener.local_addr().map_err(Error::Serve)?;
    tracing::info!(address = %local, "serving cAdvisor API, /metrics and /healthz");
    let app = http::router(shared, &config.url_base_prefix);
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    stop.store(true, Ordering::Relaxed);
    let _ = tokio::task::spawn_blocking(move || housekeeping.join()).await;
    // The housekeeping thread has let go of its handle: close the sinks (what is still queued
    // stays on disk and is sent after a restart).
    if let Some(sinks) = sinks.and_then(|s| Arc::try_unwrap(s).ok()) {
        sinks.close(std::time::Duration::from_secs(5)).await;
    }
    served.map_err(Error::Serve)
}
