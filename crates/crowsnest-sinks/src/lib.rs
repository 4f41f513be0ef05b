//! Sinks: where crowsnest sends its batches besides its own store.
//!
//! This crate owns delivery: InfluxDB 1.x and 2.x ([`influxdb`]), Prometheus remote write
//! ([`remote_write`]) and JSON lines on stdout ([`stdout`]), each behind its own durable
//! on-disk [`queue`]. The pipeline calls [`SinkHandle::send`], which encodes the batch and
//! appends it to the queue and never waits for the network; a task per sink delivers the
//! queue in order, retrying with backoff and jitter, so a slow or dead sink never stalls
//! collection or another sink. What a sink drops is counted by reason ([`SinkStats`]).
//! Sinks are configured by Heapster-style URIs ([`uri`]); cAdvisor's storage-driver flags map
//! to them ([`storage_driver`]).
//!
//! It depends on `crowsnest-core` (batches) and `crowsnest-formats` (encoders) only, and
//! never on the agent, the hub, the store or the collector.

pub mod influxdb;
pub mod queue;
pub mod remote_write;
pub mod stdout;
pub mod storage_driver;
pub mod uri;

mod http;
mod metrics;
mod runner;
mod state;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crowsnest_core::batch::Batch;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use metrics::{DropReason, SinkStats, encode_metrics};
pub use queue::{Queue, QueueError};
pub use uri::{Common, Kind, SinkSpec, UriError, parse as parse_uri};

/// What a sink's encoder wrote for one batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Encoded {
    /// Items written (lines, series, JSON objects).
    pub items: u32,
    /// Samples that could not be written (counted as [`DropReason::Unencodable`]).
    pub unencodable: u64,
}

/// Turns batches into a sink's wire format. Encoded batches concatenate: two of them in a
/// row are one valid request body.
pub trait Encode: Send {
    /// Appends the encoding of `batch` to `out`.
    fn encode(&mut self, batch: &Batch, out: &mut Vec<u8>) -> Encoded;

    /// State to keep across restarts (saved beside the queue), if the encoder has any.
    fn state(&self) -> Option<Vec<u8>> {
        None
    }

    /// Takes back what [`Encode::state`] gave before a restart.
    fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        let _ = state;
        Ok(())
    }
}

/// Why a delivery attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryError {
    /// Worth retrying: no connection, a timeout, 429 or 5xx.
    Retryable(String),
    /// Refused for good (a 4xx): the data is dropped and counted.
    Rejected {
        /// HTTP status.
        status: u16,
        /// The far end's message.
        message: String,
    },
    /// The body is too large (413): sent again in smaller requests, or dropped when it is one
    /// record.
    TooLarge(String),
}

/// Sends request bodies to the far end.
pub trait Deliver: Send + 'static {
    /// Sends one body (one or more encoded batches).
    fn deliver(&mut self, body: &[u8]) -> impl Future<Output = Result<(), DeliveryError>> + Send;

    /// The first item of a body (a line, a series), for the log of a rejection.
    fn first_item(&self, body: &[u8]) -> String;
}

/// A sink that cannot start or take a batch.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The queue failed.
    #[error("sink {name}: {source}")]
    Queue {
        /// The sink.
        name: String,
        /// The cause.
        source: QueueError,
    },
    /// Not called inside a tokio runtime.
    #[error("sink {name}: must be started inside a tokio runtime")]
    NoRuntime {
        /// The sink.
        name: String,
    },
    /// The HTTP client cannot be built.
    #[error("sink {name}: HTTP client: {source}")]
    Http {
        /// The sink.
        name: String,
        /// The cause.
        source: reqwest::Error,
    },
    /// Two sinks with one name (they would share a queue directory).
    #[error("two sinks are named {name:?}; give one of them name=...")]
    DuplicateName {
        /// The name.
        name: String,
    },
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the caller's `send` and the delivery task share.
pub(crate) struct Shared {
    pub(crate) name: String,
    dir: PathBuf,
    pub(crate) queue: Mutex<Queue>,
    encoder: Mutex<(Box<dyn Encode>, Vec<u8>)>,
    saved_state: Mutex<Option<Vec<u8>>>,
    pub(crate) wake: Notify,
    pub(crate) metrics: metrics::Metrics,
}

impl Shared {
    pub(crate) fn queue(&self) -> MutexGuard<'_, Queue> {
        lock(&self.queue)
    }

    /// Saves the encoder's state when it changed since the last save.
    pub(crate) fn save_state(&self) {
        let Some(state) = lock(&self.encoder).0.state() else {
            return;
        };
        let mut saved = lock(&self.saved_state);
        if saved.as_ref() == Some(&state) {
            return;
        }
        match state::save(&self.dir, &state) {
            Ok(()) => *saved = Some(state),
            Err(e) => {
                tracing::error!(sink = %self.name, dir = %self.dir.display(), error = %e, "cannot save the encoder state")
            }
        }
    }
}

/// A running sink: [`SinkHandle::send`] queues, a task delivers. Dropping it stops the task
/// (what is queued stays on disk for the next start).
pub struct SinkHandle {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for SinkHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkHandle")
            .field("name", &self.shared.name)
            .finish_non_exhaustive()
    }
}

impl SinkHandle {
    /// Opens the sink's queue (`<queue_root>/<name>` unless the URI names one) and starts its
    /// delivery task on the current tokio runtime.
    pub fn start(spec: &SinkSpec, queue_root: &Path) -> Result<SinkHandle, SinkError> {
        let name = spec.common.name.clone();
        let dir = spec
            .common
            .queue_dir
            .clone()
            .unwrap_or_else(|| queue_root.join(&name));
        match &spec.kind {
            Kind::Influxdb(c) => {
                let d = influxdb::sink::InfluxDeliver::new(c, &spec.common).map_err(|source| {
                    SinkError::Http {
                        name: name.clone(),
                        source,
                    }
                })?;
                let e = influxdb::sink::InfluxEncode::new(c);
                Self::start_with(name, &dir, spec, Box::new(e), d)
            }
            Kind::RemoteWrite(c) => {
                let d = remote_write::sink::RemoteWriteDeliver::new(c, &spec.common).map_err(
                    |source| SinkError::Http {
                        name: name.clone(),
                        source,
                    },
                )?;
                let e = remote_write::sink::RemoteWriteEncode::default();
                Self::start_with(name, &dir, spec, Box::new(e), d)
            }
            Kind::Stdout(_) => {
                let d = stdout::sink::StdoutDeliver::new(Box::new(tokio::io::stdout()));
                Self::start_with(name, &dir, spec, Box::new(stdout::sink::StdoutEncode), d)
            }
        }
    }

    /// Starts a sink from its parts (tests use it with their own writers).
    pub fn start_with<D: Deliver>(
        name: String,
        dir: &Path,
        spec: &SinkSpec,
        mut encoder: Box<dyn Encode>,
        deliver: D,
    ) -> Result<SinkHandle, SinkError> {
        let rt = tokio::runtime::Handle::try_current()
            .map_err(|_| SinkError::NoRuntime { name: name.clone() })?;
        let queue =
            Queue::open(dir, spec.common.queue_bytes).map_err(|source| SinkError::Queue {
                name: name.clone(),
                source,
            })?;
        tracing::info!(
            sink = %name,
            uri = %spec.display,
            queue = %dir.display(),
            pending = queue.pending_records(),
            "sink started"
        );
        if let Some(st) = state::load(dir)
            && let Err(e) = encoder.restore(&st)
        {
            tracing::error!(sink = %name, error = %e, "cannot take back the encoder state; starting without it");
        }
        let shared = Arc::new(Shared {
            name,
            dir: dir.to_owned(),
            queue: Mutex::new(queue),
            encoder: Mutex::new((encoder, Vec::new())),
            saved_state: Mutex::new(None),
            wake: Notify::new(),
            metrics: metrics::Metrics::default(),
        });
        let (stop, stop_rx) = watch::channel(false);
        let task = rt.spawn(runner::run(
            shared.clone(),
            deliver,
            runner::RunConfig::from(&spec.common),
            stop_rx,
        ));
        Ok(SinkHandle {
            shared,
            stop,
            task: Mutex::new(Some(task)),
        })
    }

    /// The sink's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Encodes `batch` and appends it to the queue; never waits for the network. The task
    /// is woken to deliver it. An error means the queue could not be written (the batch is
    /// counted as dropped, [`DropReason::QueueError`]).
    pub fn send(&self, batch: &Batch) -> Result<(), SinkError> {
        let mut enc = lock(&self.shared.encoder);
        let (encoder, buf) = &mut *enc;
        buf.clear();
        let e = encoder.encode(batch, buf);
        let m = &self.shared.metrics;
        if e.unencodable > 0 {
            m.drop(DropReason::Unencodable, 0, e.unencodable);
        }
        if e.items == 0 {
            return Ok(());
        }
        let appended = self.shared.queue().append(buf, e.items);
        drop(enc);
        match appended {
            Ok(_) => {
                m.queued_records
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                m.queued_items
                    .fetch_add(u64::from(e.items), std::sync::atomic::Ordering::Relaxed);
                self.shared.wake.notify_one();
                Ok(())
            }
            Err(source) => {
                m.drop(DropReason::QueueError, 1, u64::from(e.items));
                Err(SinkError::Queue {
                    name: self.shared.name.clone(),
                    source,
                })
            }
        }
    }

    /// The sink's counters now.
    pub fn stats(&self) -> SinkStats {
        let mut s = self.shared.metrics.snapshot(&self.shared.name);
        let q = self.shared.queue();
        let d = q.drops();
        for (reason, n, items) in [
            (DropReason::DiskFull, d.disk_full, d.disk_full_items),
            (DropReason::Corrupt, d.corrupt, 0),
        ] {
            for (list, add) in [(&mut s.dropped_records, n), (&mut s.dropped_items, items)] {
                if let Some(e) = list.iter_mut().find(|(r, _)| *r == reason.as_str()) {
                    e.1 += add;
                }
            }
        }
        s.pending_records = q.pending_records();
        s.pending_items = q.pending_items();
        s.pending_bytes = q.pending_bytes();
        s.queue_disk_bytes = q.bytes();
        s
    }

    /// Stops the delivery task after its current attempt, waiting at most `wait`. What is
    /// still queued stays on disk.
    pub async fn close(self, wait: Duration) {
        self.shutdown(Instant::now() + wait).await;
    }

    /// Stops the delivery task after its current attempt (aborting it at `deadline`), then
    /// writes the queue and the encoder's state through to the disk and logs what stays
    /// queued for the next start. Works through a shared reference: the sink may still be
    /// held elsewhere (an HTTP handler reading its counters).
    pub async fn shutdown(&self, deadline: Instant) {
        let _ = self.stop.send(true);
        let task = lock(&self.task).take();
        if let Some(mut task) = task
            && tokio::time::timeout_at(deadline, &mut task).await.is_err()
        {
            task.abort();
            tracing::warn!(sink = %self.shared.name, "delivery still running at the shutdown deadline; stopped it (the records it was sending stay queued)");
        }
        let shared = self.shared.clone();
        let flushed = tokio::task::spawn_blocking(move || {
            shared.save_state();
            shared.queue().sync()
        })
        .await;
        match flushed {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(sink = %self.shared.name, error = %e, "cannot write the queue through to the disk")
            }
            Err(e) => tracing::error!(sink = %self.shared.name, error = %e, "queue sync failed"),
        }
        let q = self.shared.queue();
        if q.pending_records() > 0 {
            tracing::info!(
                sink = %self.shared.name,
                records = q.pending_records(),
                items = q.pending_items(),
                bytes = q.pending_bytes(),
                queue = %q.dir().display(),
                "sink stopped; undelivered records stay queued on disk and are sent after the next start"
            );
        } else {
            tracing::info!(sink = %self.shared.name, "sink stopped; nothing pending");
        }
    }
}

impl Drop for SinkHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = lock(&self.task).take() {
            t.abort();
        }
        self.shared.save_state();
    }
}

/// Several sinks fed the same batches.
#[derive(Debug, Default)]
pub struct Sinks {
    sinks: Vec<SinkHandle>,
}

impl Sinks {
    /// Starts one sink per spec, queues under `queue_root`. Names must be unique.
    pub fn start(specs: &[SinkSpec], queue_root: &Path) -> Result<Sinks, SinkError> {
        let mut names = std::collections::HashSet::new();
        for s in specs {
            let dir: PathBuf = s
                .common
                .queue_dir
                .clone()
                .unwrap_or_else(|| queue_root.join(&s.common.name));
            if !names.insert(dir) {
                return Err(SinkError::DuplicateName {
                    name: s.common.name.clone(),
                });
            }
        }
        let sinks = specs
            .iter()
            .map(|s| SinkHandle::start(s, queue_root))
            .collect::<Result<_, _>>()?;
        Ok(Sinks { sinks })
    }

    /// Sends `batch` to every sink; a failing sink is logged and does not stop the others.
    pub fn send(&self, batch: &Batch) {
        for s in &self.sinks {
            if let Err(e) = s.send(batch) {
                tracing::error!(sink = s.name(), error = %e, "batch not queued");
            }
        }
    }

    /// Every sink's counters.
    pub fn stats(&self) -> Vec<SinkStats> {
        self.sinks.iter().map(SinkHandle::stats).collect()
    }

    /// The sinks.
    pub fn handles(&self) -> &[SinkHandle] {
        &self.sinks
    }

    /// Stops every sink, waiting at most `wait` in all.
    pub async fn close(self, wait: Duration) {
        self.shutdown(wait).await;
    }

    /// Stops every sink at once, waiting at most `wait` in all for their current deliveries,
    /// then writes every queue through to the disk (see [`SinkHandle::shutdown`]).
    pub async fn shutdown(&self, wait: Duration) {
        let deadline = Instant::now() + wait;
        for s in &self.sinks {
            let _ = s.stop.send(true);
        }
        for s in &self.sinks {
            s.shutdown(deadline).await;
        }
    }
}
