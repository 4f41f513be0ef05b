//! Container runtimes: which runtime owns a cgroup, and what that runtime says about it
//! (name, image, labels, allow-listed environment, pid, health, restart count, pod).
//!
//! The seam is cAdvisor's (shared/reference/cadvisor.md §5.2): a [`Factory`] per runtime says
//! from the cgroup path alone, without I/O, whether it owns a container ([`Factory::claim`]);
//! its handler ([`Factory::inspect`]) asks the runtime for the container's [`Metadata`], talking
//! to the runtime's unix socket when it has one, every call bounded by [`Config::timeout`].
//! The factories are listed once, in order, in [`Runtimes::new`]; the first claim wins and raw
//! comes last, taking everything the others left.
//!
//! Everything here is blocking and synchronous: the agent calls [`Factory::inspect`] from a
//! worker thread of its own so that a slow or missing socket never holds up collection.
//!
//! | Runtime | Owns | Metadata from |
//! |---|---|---|
//! | [`systemd`] | `*.mount` (ignored), then units `*.service`, `*.scope`, `*.slice` | the path |
//! | [`docker`] | `/docker/<id>`, `docker-<id>.scope` | Docker Engine API (`--docker`) |
//! | [`podman`] | `libpod-<id>.scope`, `/libpod_parent/libpod-<id>` | its Docker-compatible API (`--podman`) |
//! | [`crio`] | `crio-<id>.scope`, `crio-<id>` | CRI-O's info endpoint (`GET /containers/<id>`) |
//! | [`containerd`] | `cri-containerd-<id>.scope`, a bare `<id>` (e.g. `/kubepods/<qos>/pod<uid>/<id>`) | Docker if it knows the id, else containerd's API (`--containerd`, feature `containerd`), else the path and [`kubernetes`] |
//! | [`raw`] | everything else (with `--docker-only`: `/` and allow-listed prefixes) | nothing |
//!
//! `<id>` is 64 lower-case hex digits everywhere.

pub mod containerd;
pub mod crio;
pub mod docker;
pub mod http;
pub mod kubernetes;
pub mod podman;
pub mod raw;
pub mod systemd;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crowsnest_core::Timestamp;
use crowsnest_core::model::ContainerReference;

pub use kubernetes::Pod;

/// A container runtime, or none (raw).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Docker Engine.
    Docker,
    /// Podman.
    Podman,
    /// containerd (through the CRI or not).
    Containerd,
    /// CRI-O.
    Crio,
    /// A systemd unit that is not a runtime's container.
    Systemd,
    /// A plain cgroup.
    Raw,
}

impl Kind {
    /// cAdvisor's namespace of the runtime's aliases (`docker`, `podman`, `containerd`,
    /// `crio`); empty for systemd units and raw cgroups, which have no aliases.
    pub fn namespace(self) -> &'static str {
        match self {
            Kind::Docker => "docker",
            Kind::Podman => "podman",
            Kind::Containerd => "containerd",
            Kind::Crio => "crio",
            Kind::Systemd | Kind::Raw => "",
        }
    }

    /// Whether the handler may do I/O (so the agent calls it off the housekeeping thread).
    pub fn has_api(self) -> bool {
        !matches!(self, Kind::Systemd | Kind::Raw)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Systemd => "systemd",
            Kind::Raw => "raw",
            other => other.namespace(),
        })
    }
}

/// What a factory says about a cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Not this runtime's: ask the next factory.
    No,
    /// This runtime's, but not to be reported (`*.mount`, a raw cgroup under
    /// `--docker-only`).
    Ignore,
    /// A container of this runtime.
    Yes(Identity),
}

/// Who a claimed container is, from its path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    /// The runtime that claimed it.
    pub kind: Kind,
    /// The runtime's id (64 hex digits); the unit name for systemd; empty for raw.
    pub id: String,
}

/// Whether a container's network namespace is its own to report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NetworkRole {
    /// It owns its namespace (a plain Docker container, a pod's sandbox): report it here.
    Owner,
    /// It joined another container's namespace (`--net=container:`, an application container
    /// of a pod): never report it here, so it is not counted twice.
    Joined,
    /// The runtime does not say: the first container seen in a namespace reports it.
    #[default]
    Unknown,
}

/// What the runtime says about one container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// The runtime that answered (a bare id claimed by containerd may turn out Docker's).
    pub kind: Option<Kind>,
    /// The runtime's id.
    pub id: String,
    /// cAdvisor's aliases: Docker and Podman `[<name>, <id>]`, containerd `[<id>, <cgroup
    /// name>]`, CRI-O `[<name>, <id>]`.
    pub aliases: Vec<String>,
    /// Runtime labels, plus cAdvisor's synthetic `restartcount` when above 0.
    pub labels: BTreeMap<String, String>,
    /// Environment variables whose names start with an allow-listed prefix; names
    /// lower-cased as cAdvisor does.
    pub envs: BTreeMap<String, String>,
    /// The image as the user named it (`Config.Image` for Docker).
    pub image: String,
    /// When the runtime created the container.
    pub created: Option<Timestamp>,
    /// The container's init process, whose network namespace is the container's.
    pub pid: Option<u32>,
    /// Whether that namespace is this container's to report.
    pub network: NetworkRole,
    /// Docker's health status (`healthy`, `unhealthy`, `starting`); `None` without a check.
    pub health: Option<String>,
    /// How often the runtime restarted the container; `None` when it does not say.
    pub restart_count: Option<u64>,
    /// The Kubernetes pod, from `io.kubernetes.*` labels and `/kubepods/...` paths.
    pub pod: Option<Pod>,
    /// Where the container's own bytes are on the host, for its filesystem usage.
    pub storage: Storage,
}

/// Where a container's own bytes are on the host (host paths, as the runtime gives them):
/// what its filesystem usage (`container_fs_usage_bytes`) is measured over, as cAdvisor does
/// with `du` over the writable layer and the container's directory of logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Storage {
    /// The writable layer: the overlay upper directory (Docker's and Podman's
    /// `GraphDriver.Data.UpperDir`, also with fuse-overlayfs; containerd's snapshot `upperdir`).
    /// Its usage is cAdvisor's `base_usage`.
    pub layer: Option<PathBuf>,
    /// Logs: Docker's `/var/lib/docker/containers/<id>` (the directory of `LogPath`, as
    /// cAdvisor counts it), or the log file itself when it lies elsewhere.
    pub logs: Option<PathBuf>,
}

impl Storage {
    /// Whether there is anything to measure.
    pub fn is_empty(&self) -> bool {
        self.layer.is_none() && self.logs.is_none()
    }

    /// The trees to walk, the layer first.
    pub fn roots(&self) -> Vec<PathBuf> {
        self.layer.iter().chain(&self.logs).cloned().collect()
    }

    /// The logs of container `id` from a runtime's log path: the directory holding it when
    /// that directory is named after the id (Docker's layout), else the file itself.
    pub fn logs_from(log_path: &str, id: &str) -> Option<PathBuf> {
        let path = PathBuf::from(log_path.trim());
        if !path.is_absolute() {
            return None;
        }
        match path.parent() {
            Some(dir) if !id.is_empty() && dir.file_name().is_some_and(|n| n == id) => {
                Some(dir.to_owned())
            }
            _ => Some(path),
        }
    }
}

impl Metadata {
    /// The namespace of the aliases (`docker`, ...), empty when no runtime answered.
    pub fn namespace(&self) -> &'static str {
        self.kind.map_or("", Kind::namespace)
    }

    /// cAdvisor's reference of the container at cgroup `name`.
    pub fn reference(&self, name: &str) -> ContainerReference {
        if self.namespace().is_empty() {
            return ContainerReference {
                name: name.to_owned(),
                ..Default::default()
            };
        }
        ContainerReference {
            id: self.id.clone(),
            name: name.to_owned(),
            aliases: self.aliases.clone(),
            namespace: self.namespace().to_owned(),
        }
    }

    /// Sets cAdvisor's `restartcount` label when the count is above 0.
    pub(crate) fn set_restart_count(&mut self, count: Option<u64>) {
        self.restart_count = count;
        if let Some(n) = count.filter(|n| *n > 0) {
            self.labels.insert("restartcount".to_owned(), n.to_string());
        }
    }
}

/// What the runtimes need to know: sockets, the bound of every call, the allow-lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Docker Engine socket (`--docker`); `None` turns Docker off.
    pub docker: Option<PathBuf>,
    /// Podman API socket (`--podman`); `None` turns Podman off.
    pub podman: Option<PathBuf>,
    /// CRI-O socket (`--crio`); `None` turns CRI-O's info endpoint off (its containers are
    /// still named from their paths).
    pub crio: Option<PathBuf>,
    /// containerd's socket (`--containerd`), asked only when built with the `containerd`
    /// feature; with `None`, or without the feature, containerd containers are named from
    /// their paths and Kubernetes labels.
    pub containerd: Option<PathBuf>,
    /// The containerd namespace asked about (`--containerd-namespace`): `k8s.io` for
    /// Kubernetes, `moby` for Docker's own containerd.
    pub containerd_namespace: String,
    /// Bound of one call to a runtime, connect to last byte.
    pub timeout: Duration,
    /// Prefixes of environment variable names to report (`--env-metadata-allowlist`).
    pub env_allowlist: Vec<String>,
    /// Report only runtime containers, `/` and [`Config::raw_prefix_allowlist`]
    /// (`--docker-only`).
    pub docker_only: bool,
    /// cgroup name prefixes kept under `--docker-only`.
    pub raw_prefix_allowlist: Vec<String>,
}

/// Default bound of one runtime call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// cAdvisor's default containerd namespace (Kubernetes' CRI plugin).
pub const DEFAULT_CONTAINERD_NAMESPACE: &str = "k8s.io";

impl Default for Config {
    /// No runtime sockets (tests and embedders opt in); the command line's defaults are
    /// cAdvisor's sockets.
    fn default() -> Self {
        Config {
            docker: None,
            podman: None,
            crio: None,
            containerd: None,
            containerd_namespace: DEFAULT_CONTAINERD_NAMESPACE.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            env_allowlist: Vec::new(),
            docker_only: false,
            raw_prefix_allowlist: Vec::new(),
        }
    }
}

/// A runtime: claims cgroups by path, and its handler inspects what it claimed.
pub trait Factory: Send + Sync + std::fmt::Debug {
    /// The runtime.
    fn kind(&self) -> Kind;

    /// Whether this runtime owns cgroup `name` (`/docker/<id>`), from the path alone.
    fn claim(&self, name: &str) -> Claim;

    /// The handler: what the runtime says about container `id` at cgroup `name`. Bounded by
    /// [`Config::timeout`] per call to the runtime.
    fn inspect(&self, name: &str, id: &str) -> Result<Metadata>;
}

/// Every runtime, in the order they are asked.
#[derive(Debug)]
pub struct Runtimes {
    factories: Vec<Box<dyn Factory>>,
    docker: Option<docker::Engine>,
    podman: Option<docker::Engine>,
}

impl Runtimes {
    /// The runtimes of `config`, in cAdvisor's order with raw last. This is the one place
    /// that lists them.
    pub fn new(config: &Config) -> Runtimes {
        let engine = |socket: &Option<PathBuf>, kind| {
            socket
                .as_ref()
                .map(|s| docker::Engine::new(s, kind, config.timeout))
        };
        let docker = engine(&config.docker, Kind::Docker);
        let podman = engine(&config.podman, Kind::Podman);
        let raw = raw::Policy::new(config.docker_only, &config.raw_prefix_allowlist);
        let envs = config.env_allowlist.clone();
        let factories: Vec<Box<dyn Factory>> = vec![
            Box::new(systemd::Factory::mounts()),
            Box::new(docker::Factory::new(docker.clone(), envs.clone())),
            Box::new(podman::factory(podman.clone(), envs.clone())),
            Box::new(crio::Factory::new(config.crio.as_ref(), config.timeout)),
            Box::new(containerd::Factory::new(docker.clone(), envs).with_api(config)),
            Box::new(systemd::Factory::units(raw.clone())),
            Box::new(raw::Factory::new(raw)),
        ];
        Runtimes {
            factories,
            docker,
            podman,
        }
    }

    /// The first claim on `name` that is not [`Claim::No`]. Raw claims everything, so the
    /// answer is [`Claim::Yes`] or [`Claim::Ignore`].
    pub fn claim(&self, name: &str) -> Claim {
        for f in &self.factories {
            match f.claim(name) {
                Claim::No => {}
                other => return other,
            }
        }
        Claim::Ignore
    }

    /// The metadata of a claimed container, from the factory that claimed it.
    pub fn inspect(&self, name: &str, identity: &Identity) -> Result<Metadata> {
        self.factories
            .iter()
            .find(|f| f.kind() == identity.kind)
            .map_or_else(
                || Ok(Metadata::default()),
                |f| f.inspect(name, &identity.id),
            )
    }

    /// The runtimes with an event stream (Docker and Podman), to watch for changes.
    pub fn event_sources(&self) -> Vec<docker::Engine> {
        self.docker.iter().chain(&self.podman).cloned().collect()
    }
}

/// A runtime socket from an endpoint as typed: `unix:///var/run/docker.sock` or a plain
/// absolute path. An empty endpoint means the runtime is off (`None`).
pub fn parse_endpoint(endpoint: &str) -> Result<Option<PathBuf>> {
    let e = endpoint.trim();
    if e.is_empty() {
        return Ok(None);
    }
    let path = match e.split_once("://") {
        Some(("unix", path)) => path,
        Some(_) => {
            return Err(Error::Endpoint {
                endpoint: endpoint.to_owned(),
                reason: "only unix:// sockets are supported",
            });
        }
        None => e,
    };
    if !path.starts_with('/') {
        return Err(Error::Endpoint {
            endpoint: endpoint.to_owned(),
            reason: "the socket path must be absolute (unix:///path/to.sock)",
        });
    }
    Ok(Some(PathBuf::from(path)))
}

/// Whether `s` is a runtime id: 64 lower-case hex digits.
pub fn is_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The last component of a cgroup name (`/a/b.scope` → `b.scope`).
pub fn base_name(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// `KEY=value` entries whose key starts with one of `prefixes`, keys lower-cased (cAdvisor's
/// `--env_metadata_whitelist`). Empty prefixes match nothing.
pub fn allowed_envs<'a>(
    env: impl IntoIterator<Item = &'a str>,
    prefixes: &[String],
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if prefixes.iter().all(String::is_empty) {
        return out;
    }
    for entry in env {
        let Some((key, value)) = entry.split_once('=') else {
            continue;
        };
        if prefixes
            .iter()
            .any(|p| !p.is_empty() && key.starts_with(p.as_str()))
        {
            out.insert(key.to_lowercase(), value.to_owned());
        }
    }
    out
}

/// What went wrong talking to a runtime. Each names the socket and the request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An endpoint flag could not be used.
    #[error("runtime endpoint {endpoint:?}: {reason}")]
    Endpoint {
        /// As typed.
        endpoint: String,
        /// Why not.
        reason: &'static str,
    },
    /// The socket did not accept a connection (missing, refused, no permission).
    #[error("cannot connect to {socket}: {source}")]
    Connect {
        /// The socket.
        socket: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The runtime did not answer within the bound.
    #[error("{socket}: GET {path} got no answer within {after:?}")]
    Timeout {
        /// The socket.
        socket: PathBuf,
        /// The request path.
        path: String,
        /// The bound.
        after: Duration,
    },
    /// Reading or writing the socket failed.
    #[error("{socket}: GET {path}: {source}")]
    Io {
        /// The socket.
        socket: PathBuf,
        /// The request path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The answer was not the HTTP we understand.
    #[error("{socket}: GET {path}: {reason}")]
    Protocol {
        /// The socket.
        socket: PathBuf,
        /// The request path.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// The runtime does not know the container.
    #[error("{socket}: no container {id}")]
    NotFound {
        /// The socket.
        socket: PathBuf,
        /// The id asked for.
        id: String,
    },
    /// The runtime answered with an error status.
    #[error("{socket}: GET {path} answered {status}: {message}")]
    Status {
        /// The socket.
        socket: PathBuf,
        /// The request path.
        path: String,
        /// The status code.
        status: u16,
        /// The start of the body.
        message: String,
    },
    /// A gRPC call (containerd) answered with an error status.
    #[error("{socket}: {method} answered {code}: {message}")]
    Grpc {
        /// The socket.
        socket: PathBuf,
        /// The gRPC method.
        method: String,
        /// The status code's name.
        code: String,
        /// The status message.
        message: String,
    },
    /// The answer's JSON did not have the fields we read (the message names the field).
    #[error("{socket}: GET {path}: cannot decode the answer: {source}")]
    Decode {
        /// The socket.
        socket: PathBuf,
        /// The request path.
        path: String,
        /// The cause, naming the field.
        source: serde_json::Error,
    },
}

impl Error {
    /// Whether the runtime itself is unreachable or stuck (as opposed to an answer about one
    /// container): the caller backs off from the whole runtime.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            Error::Connect { .. } | Error::Timeout { .. } | Error::Io { .. }
        )
    }
}

/// Result with the runtime [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Decodes a JSON answer, naming the socket and request on failure.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    http: &http::UnixHttp,
    path: &str,
    response: &http::Response,
) -> Result<T> {
    if !(200..300).contains(&response.status) {
        let end = response.body.len().min(200);
        return Err(Error::Status {
            socket: http.socket().to_owned(),
            path: path.to_owned(),
            status: response.status,
            message: String::from_utf8_lossy(&response.body[..end])
                .trim()
                .to_owned(),
        });
    }
    serde_json::from_slice(&response.body).map_err(|source| Error::Decode {
        socket: http.socket().to_owned(),
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;
