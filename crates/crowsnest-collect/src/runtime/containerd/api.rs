//! containerd's own gRPC API on its unix socket (`--containerd`, cargo feature `containerd`):
//! `Containers.Get` for labels, image, creation time and the OCI spec (environment), `Tasks.Get`
//! for the init pid, and `Snapshots.Mounts` for the writable layer (the overlay `upperdir`),
//! all in the namespace `--containerd-namespace` (Kubernetes' `k8s.io`, Docker's `moby`).
//!
//! The client library is asynchronous (tonic); this crate is not. [`Client`] keeps a
//! single-threaded tokio runtime of its own and blocks on each call, bounded by the runtime
//! timeout, so to its callers it is a blocking client like the others of [`super::super`].

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use containerd_client::services::v1::containers_client::ContainersClient;
use containerd_client::services::v1::snapshots::MountsRequest;
use containerd_client::services::v1::snapshots::snapshots_client::SnapshotsClient;
use containerd_client::services::v1::tasks_client::TasksClient;
use containerd_client::services::v1::{Container, GetContainerRequest, GetRequest};
use containerd_client::tonic::metadata::MetadataValue;
use containerd_client::tonic::transport::Channel;
use containerd_client::tonic::{Code, Request, Status};
use crowsnest_core::Timestamp;
use serde::Deserialize;
use tokio::time::error::Elapsed;

use super::super::{Error, Kind, Metadata, NetworkRole, Result, Storage, allowed_envs, kubernetes};

/// The part of an OCI runtime spec read here.
#[derive(Debug, Default, Deserialize)]
struct Spec {
    #[serde(default)]
    process: Option<Process>,
}

#[derive(Debug, Default, Deserialize)]
struct Process {
    #[serde(default)]
    env: Option<Vec<String>>,
}

/// A blocking client of containerd's API in one namespace.
pub struct Client {
    socket: PathBuf,
    namespace: String,
    timeout: Duration,
    rt: tokio::runtime::Runtime,
    /// The connection, made on first use and made again after it broke.
    channel: Mutex<Option<Channel>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("socket", &self.socket)
            .field("namespace", &self.namespace)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Client {
    /// A client of the containerd at `socket`, asking about namespace `namespace`, each call
    /// bounded by `timeout`. Nothing is connected yet.
    pub fn new(socket: &Path, namespace: &str, timeout: Duration) -> std::io::Result<Client> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Client {
            socket: socket.to_owned(),
            namespace: namespace.to_owned(),
            timeout,
            rt,
            channel: Mutex::new(None),
        })
    }

    /// The socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Runs `fut` on this client's runtime for at most the timeout (`Err` when it ran out).
    fn bounded<T>(&self, fut: impl Future<Output = T>) -> std::result::Result<T, Elapsed> {
        self.rt
            .block_on(async { tokio::time::timeout(self.timeout, fut).await })
    }

    fn channel(&self) -> Result<Channel> {
        let mut held = self.channel.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = held.as_ref() {
            return Ok(c.clone());
        }
        let connect = containerd_client::connect(&self.socket);
        let channel = match self.bounded(connect) {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                return Err(Error::Connect {
                    socket: self.socket.clone(),
                    source: std::io::Error::other(chain(&e)),
                });
            }
            Err(_) => {
                return Err(Error::Timeout {
                    socket: self.socket.clone(),
                    path: "connect".to_owned(),
                    after: self.timeout,
                });
            }
        };
        *held = Some(channel.clone());
        Ok(channel)
    }

    /// `message` with the namespace header containerd reads.
    fn request<T>(&self, message: T, method: &str) -> Result<Request<T>> {
        let mut req = Request::new(message);
        let ns = MetadataValue::try_from(self.namespace.as_str()).map_err(|_| Error::Grpc {
            socket: self.socket.clone(),
            method: method.to_owned(),
            code: "InvalidArgument".to_owned(),
            message: format!("namespace {:?} is not a valid header value", self.namespace),
        })?;
        req.metadata_mut().insert("containerd-namespace", ns);
        Ok(req)
    }

    /// Runs one call, bounded by the timeout; maps what went wrong to [`Error`]. A broken
    /// connection is dropped, so the next call connects again.
    fn call<T>(
        &self,
        method: &str,
        id: &str,
        fut: impl Future<Output = std::result::Result<containerd_client::tonic::Response<T>, Status>>,
    ) -> Result<T> {
        match self.bounded(fut) {
            Ok(Ok(r)) => Ok(r.into_inner()),
            Ok(Err(status)) => Err(self.status_error(method, id, &status)),
            Err(_) => {
                self.forget_channel();
                Err(Error::Timeout {
                    socket: self.socket.clone(),
                    path: method.to_owned(),
                    after: self.timeout,
                })
            }
        }
    }

    fn forget_channel(&self) {
        self.channel
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }

    fn status_error(&self, method: &str, id: &str, status: &Status) -> Error {
        match status.code() {
            Code::NotFound => Error::NotFound {
                socket: self.socket.clone(),
                id: id.to_owned(),
            },
            // The connection broke (containerd restarting): connect again next time.
            Code::Unavailable => {
                self.forget_channel();
                Error::Io {
                    socket: self.socket.clone(),
                    path: method.to_owned(),
                    source: std::io::Error::other(status.message().to_owned()),
                }
            }
            code => Error::Grpc {
                socket: self.socket.clone(),
                method: method.to_owned(),
                code: format!("{code:?}"),
                message: status.message().to_owned(),
            },
        }
    }

    /// `Containers.Get`.
    pub fn container(&self, id: &str) -> Result<Container> {
        const METHOD: &str = "containerd.services.containers.v1.Containers/Get";
        let channel = self.channel()?;
        let req = self.request(GetContainerRequest { id: id.to_owned() }, METHOD)?;
        let answer = self.call(METHOD, id, async move {
            ContainersClient::new(channel).get(req).await
        })?;
        answer.container.ok_or_else(|| Error::NotFound {
            socket: self.socket.clone(),
            id: id.to_owned(),
        })
    }

    /// `Tasks.Get`: the pid of the container's init process; `None` when it has no task
    /// (created, not started) or the pid is 0.
    pub fn task_pid(&self, id: &str) -> Result<Option<u32>> {
        const METHOD: &str = "containerd.services.tasks.v1.Tasks/Get";
        let channel = self.channel()?;
        let req = self.request(
            GetRequest {
                container_id: id.to_owned(),
                exec_id: String::new(),
            },
            METHOD,
        )?;
        match self.call(METHOD, id, async move {
            TasksClient::new(channel).get(req).await
        }) {
            Ok(r) => Ok(r.process.map(|p| p.pid).filter(|p| *p > 0)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `Snapshots.Mounts`: the overlay `upperdir` of snapshot `key` of `snapshotter`, when
    /// its mounts name one.
    pub fn upper_dir(&self, snapshotter: &str, key: &str) -> Result<Option<PathBuf>> {
        const METHOD: &str = "containerd.services.snapshots.v1.Snapshots/Mounts";
        let channel = self.channel()?;
        let req = self.request(
            MountsRequest {
                snapshotter: snapshotter.to_owned(),
                key: key.to_owned(),
            },
            METHOD,
        )?;
        let r = self.call(METHOD, key, async move {
            SnapshotsClient::new(channel).mounts(req).await
        })?;
        Ok(r.mounts
            .iter()
            .flat_map(|m| &m.options)
            .find_map(|o| o.strip_prefix("upperdir="))
            .map(PathBuf::from))
    }

    /// What containerd says about container `id` at cgroup `cgroup`: aliases `[<id>,
    /// <cgroup>]` (cAdvisor's containerd handler), labels, image, creation time, allow-listed
    /// environment from the OCI spec, the init pid, the pod from the `io.kubernetes.*` labels
    /// and the path, and the writable layer.
    pub fn metadata(&self, cgroup: &str, id: &str, env_allowlist: &[String]) -> Result<Metadata> {
        let c = self.container(id)?;
        let pid = self.task_pid(id)?;
        let mut labels: BTreeMap<String, String> = c.labels.into_iter().collect();
        let env = c
            .spec
            .as_ref()
            .and_then(|any| serde_json::from_slice::<Spec>(&any.value).ok())
            .and_then(|s| s.process)
            .and_then(|p| p.env)
            .unwrap_or_default();
        let envs = allowed_envs(env.iter().map(String::as_str), env_allowlist);
        let network = match kubernetes::is_sandbox(&labels) {
            Some(true) => NetworkRole::Owner,
            Some(false) => NetworkRole::Joined,
            None => NetworkRole::Unknown,
        };
        let pod = match (
            kubernetes::pod_from_labels(&labels),
            kubernetes::pod_from_path(cgroup),
        ) {
            (Some(a), Some(b)) => Some(a.or(b)),
            (a, b) => a.or(b),
        };
        kubernetes::label_uid(&mut labels, pod.as_ref());
        let layer = if c.snapshotter.is_empty() || c.snapshot_key.is_empty() {
            None
        } else {
            match self.upper_dir(&c.snapshotter, &c.snapshot_key) {
                Ok(dir) => dir,
                Err(e) => {
                    tracing::debug!(container = id, error = %e, "no writable layer from containerd");
                    None
                }
            }
        };
        let created = c
            .created_at
            .map(|t| Timestamp::from_secs(t.seconds).add_nanos(i64::from(t.nanos)));
        Ok(Metadata {
            kind: Some(Kind::Containerd),
            id: id.to_owned(),
            aliases: vec![id.to_owned(), cgroup.to_owned()],
            labels,
            envs,
            image: c.image,
            created,
            pid,
            network,
            health: None,
            restart_count: None,
            pod,
            storage: Storage { layer, logs: None },
        })
    }
}

/// An error with its causes, `: `-joined (tonic's transport errors say little at the top).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
