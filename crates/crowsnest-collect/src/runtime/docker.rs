//! Docker: containers at `/docker/<id>` (cgroupfs driver) and `docker-<id>.scope` (systemd
//! driver), described by the Docker Engine API on its unix socket (`--docker`).
//!
//! [`Engine`] is the client, shared with Podman's Docker-compatible API: `GET
//! /containers/<id>/json` (inspect) and the `GET /events` stream. Paths carry no API version,
//! so any Engine version answers with its own; only the fields read here are decoded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crowsnest_core::Timestamp;
use serde::Deserialize;

use super::http::{EventStream, UnixHttp};
use super::kubernetes;
use super::{
    Claim, Error, Identity, Kind, Metadata, NetworkRole, Result, Storage, allowed_envs, base_name,
    decode, is_id,
};

/// A client of the Docker Engine API (Docker's, or Podman's compatible one).
#[derive(Debug, Clone)]
pub struct Engine {
    http: UnixHttp,
    kind: Kind,
}

impl Engine {
    /// A client of the Engine API at `socket`, answering as runtime `kind` (Docker or
    /// Podman), each call bounded by `timeout`.
    pub fn new(socket: &Path, kind: Kind, timeout: Duration) -> Engine {
        Engine {
            http: UnixHttp::new(socket, "docker", timeout),
            kind,
        }
    }

    /// The runtime this engine answers for.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The socket.
    pub fn socket(&self) -> &Path {
        self.http.socket()
    }

    /// `GET /_ping`: whether the engine answers.
    pub fn ping(&self) -> Result<()> {
        let path = "/_ping";
        let r = self.http.get(path)?;
        if r.status == 200 {
            Ok(())
        } else {
            Err(Error::Status {
                socket: self.socket().to_owned(),
                path: path.to_owned(),
                status: r.status,
                message: String::from_utf8_lossy(&r.body).into_owned(),
            })
        }
    }

    /// `GET /containers/<id>/json`.
    pub fn inspect(&self, id: &str) -> Result<Inspect> {
        let path = format!("/containers/{id}/json");
        let r = self.http.get(&path)?;
        if r.status == 404 {
            return Err(Error::NotFound {
                socket: self.socket().to_owned(),
                id: id.to_owned(),
            });
        }
        decode(&self.http, &path, &r)
    }

    /// The metadata of container `id` found at cgroup `name`, with environment variables
    /// kept by `env_allowlist`.
    pub fn metadata(&self, name: &str, id: &str, env_allowlist: &[String]) -> Result<Metadata> {
        Ok(self
            .inspect(id)?
            .into_metadata(self.kind, name, env_allowlist))
    }

    /// Opens `GET /events` for container events.
    pub fn events(&self) -> Result<Events> {
        // filters={"type":["container"]}
        let path = "/events?filters=%7B%22type%22%3A%5B%22container%22%5D%7D";
        let stream = self.http.stream(path)?;
        if stream.status() != 200 {
            return Err(Error::Status {
                socket: self.socket().to_owned(),
                path: path.to_owned(),
                status: stream.status(),
                message: String::new(),
            });
        }
        Ok(Events {
            stream,
            socket: self.socket().to_owned(),
        })
    }
}

/// The fields of an inspect answer that crowsnest reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Inspect {
    /// Full id.
    pub id: String,
    /// `/<name>`.
    #[serde(default)]
    pub name: String,
    /// RFC 3339 creation time.
    #[serde(default)]
    pub created: Option<String>,
    /// Restarts by the restart policy.
    #[serde(default)]
    pub restart_count: Option<u64>,
    /// Run state.
    #[serde(default)]
    pub state: State,
    /// Configuration.
    #[serde(default)]
    pub config: Config,
    /// Host configuration.
    #[serde(default)]
    pub host_config: HostConfig,
    /// The storage driver and its directories.
    #[serde(default)]
    pub graph_driver: Option<GraphDriver>,
    /// The json-file log (empty or absent with other log drivers).
    #[serde(default)]
    pub log_path: Option<String>,
}

/// `GraphDriver`: `{"Name": "overlay2", "Data": {"UpperDir": ..., ...}}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GraphDriver {
    /// `overlay2`, `fuse-overlayfs`, `overlay` (Podman), `vfs`, ...
    #[serde(default)]
    pub name: String,
    /// Driver-specific; the overlay drivers give `UpperDir`.
    #[serde(default)]
    pub data: Option<BTreeMap<String, serde_json::Value>>,
}

impl GraphDriver {
    /// The writable layer: `Data.UpperDir` (overlay2, fuse-overlayfs, Podman's overlay).
    pub fn upper_dir(&self) -> Option<PathBuf> {
        let dir = self.data.as_ref()?.get("UpperDir")?.as_str()?;
        (!dir.is_empty() && dir.starts_with('/')).then(|| PathBuf::from(dir))
    }
}

/// `State`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct State {
    /// Whether it runs.
    #[serde(default)]
    pub running: bool,
    /// Init process on the host (0 when not running).
    #[serde(default)]
    pub pid: i64,
    /// Health check state, when there is a check.
    #[serde(default)]
    pub health: Option<Health>,
}

/// `State.Health`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    /// `starting`, `healthy`, `unhealthy`.
    #[serde(default)]
    pub status: String,
}

/// `Config`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    /// The image as given to `docker run`.
    #[serde(default)]
    pub image: String,
    /// Labels (`null` when none).
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    /// `KEY=value` entries (`null` when none).
    #[serde(default)]
    pub env: Option<Vec<String>>,
}

/// `HostConfig`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostConfig {
    /// `default`, `bridge`, `host`, `none`, `container:<id>`, a network name.
    #[serde(default)]
    pub network_mode: Option<String>,
}

impl Inspect {
    /// cAdvisor's view of it: aliases `[<name>, <id>]`, labels with `restartcount` when above
    /// 0, image `Config.Image`, allow-listed env, health, pid.
    pub fn into_metadata(self, kind: Kind, cgroup: &str, env_allowlist: &[String]) -> Metadata {
        let labels = self.config.labels.unwrap_or_default();
        let envs = allowed_envs(
            self.config.env.iter().flatten().map(String::as_str),
            env_allowlist,
        );
        let joined = self
            .host_config
            .network_mode
            .as_deref()
            .is_some_and(|m| m.starts_with("container:"));
        let network = match kubernetes::is_sandbox(&labels) {
            _ if joined => NetworkRole::Joined,
            Some(false) => NetworkRole::Joined,
            Some(true) | None => NetworkRole::Owner,
        };
        let pod = match (
            kubernetes::pod_from_labels(&labels),
            kubernetes::pod_from_path(cgroup),
        ) {
            (Some(a), Some(b)) => Some(a.or(b)),
            (a, b) => a.or(b),
        };
        let storage = Storage {
            layer: self.graph_driver.as_ref().and_then(GraphDriver::upper_dir),
            logs: self
                .log_path
                .as_deref()
                .filter(|p| !p.is_empty())
                .and_then(|p| Storage::logs_from(p, &self.id)),
        };
        let mut m = Metadata {
            kind: Some(kind),
            aliases: vec![
                self.name.trim_start_matches('/').to_owned(),
                self.id.clone(),
            ],
            id: self.id,
            labels,
            envs,
            image: self.config.image,
            created: self
                .created
                .as_deref()
                .and_then(|t| Timestamp::parse_rfc3339(t).ok()),
            pid: u32::try_from(self.state.pid).ok().filter(|p| *p > 0),
            network,
            health: self
                .state
                .health
                .map(|h| h.status)
                .filter(|s| !s.is_empty()),
            restart_count: None,
            pod,
            storage,
        };
        m.set_restart_count(self.restart_count);
        m
    }
}

/// One container event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The container's id.
    pub id: String,
    /// What happened (`start`, `die`, `rename`, `health_status: healthy`, ...).
    pub action: String,
}

#[derive(Debug, Deserialize)]
struct RawEvent {
    #[serde(rename = "Type", default)]
    kind: String,
    #[serde(rename = "Action", default)]
    action: String,
    #[serde(rename = "Actor", default)]
    actor: Option<Actor>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Actor {
    #[serde(rename = "ID", default)]
    id: String,
}

impl Event {
    /// Whether the event may change what inspect says (name, labels, health, restarts, pid).
    /// Health checks run as execs, so `exec_*` events come every check interval; they, and
    /// `attach`, `resize`, `top` and the like, are not worth an inspect.
    pub fn refreshes_metadata(&self) -> bool {
        matches!(
            self.action.as_str(),
            "create" | "start" | "restart" | "rename" | "update" | "pause" | "unpause"
        ) || self.action.starts_with("health_status")
    }
}

/// The open `/events` stream of an engine.
#[derive(Debug)]
pub struct Events {
    stream: EventStream,
    socket: PathBuf,
}

impl Events {
    /// The next container event, waiting at most `wait`; `Ok(None)` when none came. An error
    /// when the stream broke or ended: open a new one.
    pub fn next(&mut self, wait: Duration) -> Result<Option<Event>> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(ev) = self.parse_one()? {
                return Ok(Some(ev));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !self.stream.poll(left)? {
                return Ok(None);
            }
        }
    }

    /// Takes whole JSON objects off the buffer until a container event; `None` when the
    /// buffer holds no whole object.
    fn parse_one(&mut self) -> Result<Option<Event>> {
        let buf = self.stream.buffer();
        loop {
            let start = buf
                .iter()
                .position(|b| !b.is_ascii_whitespace())
                .unwrap_or(buf.len());
            buf.drain(..start);
            if buf.is_empty() {
                return Ok(None);
            }
            let mut it = serde_json::Deserializer::from_slice(buf).into_iter::<RawEvent>();
            let parsed = it.next();
            let used = it.byte_offset();
            match parsed {
                None => return Ok(None),
                Some(Err(e)) if e.is_eof() => return Ok(None),
                Some(Err(e)) => {
                    return Err(Error::Protocol {
                        socket: self.socket.clone(),
                        path: "/events".to_owned(),
                        reason: format!("bad event: {e}"),
                    });
                }
                Some(Ok(ev)) => {
                    buf.drain(..used);
                    if !ev.kind.is_empty() && ev.kind != "container" {
                        continue;
                    }
                    let id = ev.actor.map(|a| a.id).filter(|i| !i.is_empty()).or(ev.id);
                    let action = if ev.action.is_empty() {
                        ev.status.unwrap_or_default()
                    } else {
                        ev.action
                    };
                    if let Some(id) = id {
                        return Ok(Some(Event { id, action }));
                    }
                }
            }
        }
    }
}

/// The id of a Docker cgroup: `/docker/<id>` (any depth) or `docker-<id>.scope`.
pub fn id_from_path(name: &str) -> Option<&str> {
    let base = base_name(name);
    if let Some(id) = base
        .strip_prefix("docker-")
        .and_then(|b| b.strip_suffix(".scope"))
    {
        return is_id(id).then_some(id);
    }
    let parent = name[..name.len() - base.len()].trim_end_matches('/');
    (is_id(base) && base_name(parent) == "docker").then_some(base)
}

/// The factory of a runtime that speaks the Docker Engine API (Docker itself, and Podman's
/// compatible API): it claims the cgroups its path rule recognises and asks its engine.
#[derive(Debug, Clone)]
pub struct Factory {
    kind: Kind,
    id_from_path: fn(&str) -> Option<&str>,
    engine: Option<Engine>,
    env_allowlist: Vec<String>,
}

impl Factory {
    /// Docker through `engine` (`None`: Docker is off and claims nothing).
    pub fn new(engine: Option<Engine>, env_allowlist: Vec<String>) -> Factory {
        Factory::for_engine(Kind::Docker, id_from_path, engine, env_allowlist)
    }

    /// A runtime of `kind` whose containers `id_from_path` recognises, through `engine`.
    pub fn for_engine(
        kind: Kind,
        id_from_path: fn(&str) -> Option<&str>,
        engine: Option<Engine>,
        env_allowlist: Vec<String>,
    ) -> Factory {
        Factory {
            kind,
            id_from_path,
            engine,
            env_allowlist,
        }
    }
}

impl super::Factory for Factory {
    fn kind(&self) -> Kind {
        self.kind
    }

    fn claim(&self, name: &str) -> Claim {
        match (&self.engine, (self.id_from_path)(name)) {
            (Some(_), Some(id)) => Claim::Yes(Identity {
                kind: self.kind,
                id: id.to_owned(),
            }),
            _ => Claim::No,
        }
    }

    fn inspect(&self, name: &str, id: &str) -> Result<Metadata> {
        match &self.engine {
            Some(engine) => engine.metadata(name, id, &self.env_allowlist),
            None => Ok(Metadata::default()),
        }
    }
}

#[cfg(test)]
mod tests;
