//! The agent's side of the runtime layer: asking the runtimes about containers without ever
//! holding up housekeeping.
//!
//! The housekeeping thread only claims cgroups by path ([`Runtimes::claim`], no I/O) and
//! queues the ones that need a runtime's answer. One worker thread asks the runtimes, every
//! call bounded by the configured timeout; a runtime that is unreachable (missing socket,
//! refused, timed out) is left alone for a back-off period, and its requests fail at once
//! meanwhile, so a dead socket costs nothing per container. One thread per runtime with an
//! event stream (Docker, Podman) follows `/events` and reports containers whose metadata may
//! have changed, and each (re)connection, after which containers whose metadata failed are
//! asked again. Answers come back over a channel that the housekeeping thread drains between
//! passes; until an answer arrives a container is reported under its cgroup name.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crowsnest_collect::runtime::docker::Engine;
use crowsnest_collect::runtime::{Claim, Config, Identity, Kind, Metadata, Runtimes};

/// Longest a thread of this module waits before looking at its stop flag.
const POLL: Duration = Duration::from_millis(200);

/// First back-off after a runtime was unreachable; doubled up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_secs(1);

/// Longest back-off from an unreachable runtime.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Most updates applied per drain, so one drain is bounded too.
const MAX_DRAIN: usize = 100_000;

/// Why a runtime gave no metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// What went wrong, naming the socket.
    pub(crate) message: String,
    /// Whether the runtime itself was unreachable (then it is being backed off from).
    pub(crate) unreachable: bool,
}

/// What the runtime threads tell the housekeeping thread.
#[derive(Debug)]
pub(crate) enum Update {
    /// The answer about container `name`.
    Metadata {
        /// The cgroup name asked about.
        name: String,
        /// Who it was claimed as.
        identity: Identity,
        /// The answer (boxed: it is large, the other updates small).
        result: Result<Box<Metadata>, Failure>,
    },
    /// Container `id` of runtime `kind` changed (an event).
    Changed {
        /// The runtime.
        kind: Kind,
        /// The runtime's id.
        id: String,
    },
    /// Runtime `kind`'s event stream (re)connected: it is reachable.
    Connected {
        /// The runtime.
        kind: Kind,
    },
}

struct Request {
    name: String,
    identity: Identity,
}

/// The runtimes, the worker and event threads, and the requests in flight.
pub(crate) struct RuntimeLayer {
    runtimes: Arc<Runtimes>,
    requests: Sender<Request>,
    updates: Receiver<Update>,
    /// Names asked about and not answered yet.
    pending: HashSet<String>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for RuntimeLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeLayer")
            .field("runtimes", &self.runtimes)
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl RuntimeLayer {
    /// The runtimes of `config`, with the worker thread and one event thread per runtime that
    /// has an event stream. A thread that cannot be spawned is logged and done without
    /// (requests then stay pending; containers keep their cgroup names).
    pub(crate) fn start(config: &Config) -> RuntimeLayer {
        let runtimes = Arc::new(Runtimes::new(config));
        let (requests, requests_rx) = mpsc::channel::<Request>();
        let (updates_tx, updates) = mpsc::channel::<Update>();
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        // Always: even without sockets, containerd and CRI-O containers are named from their
        // paths by the same handlers.
        let (r, tx, st) = (runtimes.clone(), updates_tx.clone(), stop.clone());
        spawn(&mut threads, "runtime-metadata", move || {
            worker(&r, &requests_rx, &tx, &st);
        });
        for engine in runtimes.event_sources() {
            let (tx, st) = (updates_tx.clone(), stop.clone());
            let name = format!("runtime-events-{}", engine.kind());
            spawn(&mut threads, &name, move || {
                follow_events(&engine, &tx, &st)
            });
        }
        RuntimeLayer {
            runtimes,
            requests,
            updates,
            pending: HashSet::new(),
            stop,
            threads,
        }
    }

    /// Which runtime owns cgroup `name` (from the path alone).
    pub(crate) fn claim(&self, name: &str) -> Claim {
        self.runtimes.claim(name)
    }

    /// Queues a question about `name` unless one is in flight already.
    pub(crate) fn request(&mut self, name: &str, identity: &Identity) {
        if !identity.kind.has_api() || self.pending.contains(name) {
            return;
        }
        let sent = self.requests.send(Request {
            name: name.to_owned(),
            identity: identity.clone(),
        });
        if sent.is_ok() {
            self.pending.insert(name.to_owned());
        }
    }

    /// Whether questions are in flight.
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Takes the updates that arrived, without waiting (at most [`MAX_DRAIN`]).
    pub(crate) fn drain(&mut self, out: &mut Vec<Update>) {
        for _ in 0..MAX_DRAIN {
            match self.updates.try_recv() {
                Ok(u) => {
                    if let Update::Metadata { name, .. } = &u {
                        self.pending.remove(name);
                    }
                    out.push(u);
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return,
            }
        }
    }
}

impl Drop for RuntimeLayer {
    /// Tells the threads to stop. They notice within [`POLL`] or one runtime call's timeout;
    /// they are not waited for, so dropping never blocks on a stuck socket.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Dropping the handles detaches the threads.
        self.threads.clear();
    }
}

fn spawn(threads: &mut Vec<JoinHandle<()>>, name: &str, f: impl FnOnce() + Send + 'static) {
    match std::thread::Builder::new().name(name.to_owned()).spawn(f) {
        Ok(t) => threads.push(t),
        Err(e) => {
            tracing::warn!(thread = name, error = %e, "cannot start a runtime thread; containers keep their cgroup names")
        }
    }
}

/// Back-off state of one runtime.
#[derive(Debug, Default)]
struct Backoff {
    until: Option<Instant>,
    next: Option<Duration>,
    /// Whether the current outage was logged.
    logged: bool,
}

/// Answers requests one at a time until the layer is dropped.
fn worker(
    runtimes: &Runtimes,
    requests: &Receiver<Request>,
    updates: &Sender<Update>,
    stop: &AtomicBool,
) {
    let mut backoff: HashMap<Kind, Backoff> = HashMap::new();
    while !stop.load(Ordering::Relaxed) {
        let req = match requests.recv_timeout(POLL) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let kind = req.identity.kind;
        let asked = Instant::now();
        let b = backoff.entry(kind).or_default();
        let result = match b.until {
            Some(until) if Instant::now() < until => Err(Failure {
                message: format!("{kind} was unreachable moments ago; not asked"),
                unreachable: true,
            }),
            _ => match runtimes.inspect(&req.name, &req.identity) {
                Ok(m) => {
                    if b.logged {
                        tracing::info!(runtime = %kind, "runtime reachable again");
                    }
                    *b = Backoff::default();
                    Ok(Box::new(m))
                }
                Err(e) => {
                    let unreachable = e.is_unreachable();
                    if unreachable {
                        let wait = b.next.unwrap_or(MIN_BACKOFF);
                        b.until = Some(Instant::now() + wait);
                        b.next = Some((wait * 2).min(MAX_BACKOFF));
                        if !b.logged {
                            b.logged = true;
                            tracing::warn!(runtime = %kind, error = %e, "runtime unreachable; its containers keep their cgroup names until it answers");
                        }
                    }
                    Err(Failure {
                        message: e.to_string(),
                        unreachable,
                    })
                }
            },
        };
        tracing::trace!(container = req.name, runtime = %kind, took = ?asked.elapsed(), ok = result.is_ok(), "runtime answered");
        let update = Update::Metadata {
            name: req.name,
            identity: req.identity,
            result,
        };
        if updates.send(update).is_err() {
            return;
        }
    }
}

/// Follows `engine`'s `/events` until stopped, reconnecting with back-off.
fn follow_events(engine: &Engine, updates: &Sender<Update>, stop: &AtomicBool) {
    let kind = engine.kind();
    let mut wait = MIN_BACKOFF;
    let mut logged = false;
    while !stop.load(Ordering::Relaxed) {
        match engine.events() {
            Ok(mut events) => {
                wait = MIN_BACKOFF;
                logged = false;
                tracing::debug!(runtime = %kind, socket = %engine.socket().display(), "following runtime events");
                if updates.send(Update::Connected { kind }).is_err() {
                    return;
                }
                while !stop.load(Ordering::Relaxed) {
                    match events.next(POLL) {
                        Ok(Some(ev)) if ev.refreshes_metadata() => {
                            let update = Update::Changed { kind, id: ev.id };
                            if updates.send(update).is_err() {
                                return;
                            }
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::debug!(runtime = %kind, error = %e, "runtime event stream ended; reconnecting");
                            break;
                        }
                    }
                }
            }
            Err(e) if !logged => {
                logged = true;
                tracing::debug!(runtime = %kind, error = %e, "cannot follow runtime events; retrying with back-off");
            }
            Err(_) => {}
        }
        let until = Instant::now() + wait;
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(POLL.min(until.saturating_duration_since(Instant::now())));
        }
        wait = (wait * 2).min(MAX_BACKOFF);
    }
}
