//! CRI-O: containers at `crio-<id>.scope` (systemd driver) and `crio-<id>` (cgroupfs),
//! described by CRI-O's info endpoint on its socket (`GET /containers/<id>`, the endpoint
//! `crictl inspect` and cAdvisor use). Without the socket, a container is still named from its
//! path: aliases `[<id>, <cgroup name>]` and the pod uid from `/kubepods/...`.
//!
//! As cAdvisor: `crio-conmon-<id>` is not a container (it stays raw); under the systemd
//! driver (a `.slice` parent), a `crio-<id>` without `.scope` is a sandbox's leftover and is
//! ignored; only the sandbox (`io.kubernetes.container.name=POD`) reports the pod's network.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crowsnest_core::Timestamp;
use serde::Deserialize;

use super::http::UnixHttp;
use super::kubernetes::{self, Pod};
use super::{
    Claim, Error, Identity, Kind, Metadata, NetworkRole, Result, Storage, base_name, decode, is_id,
};

/// The annotation holding the kubelet's restart count.
const RESTART_COUNT: &str = "io.kubernetes.container.restartCount";

/// What CRI-O's `GET /containers/<id>` answers (its `ContainerInfo`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Info {
    /// CRI-O's container name (`k8s_<container>_<pod>_<namespace>_<uid>_<attempt>`).
    #[serde(default)]
    pub name: String,
    /// Init process on the host.
    #[serde(default)]
    pub pid: i64,
    /// The image.
    #[serde(default)]
    pub image: String,
    /// Creation time, ns since the epoch.
    #[serde(default)]
    pub created_time: i64,
    /// Labels (the kubelet's `io.kubernetes.*` among them).
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    /// Annotations (the restart count among them).
    #[serde(default)]
    pub annotations: Option<BTreeMap<String, String>>,
    /// The sandbox's id.
    #[serde(default)]
    pub sandbox: String,
    /// The container's root filesystem, mounted (`.../overlay/<layer>/merged`).
    #[serde(default)]
    pub root: String,
    /// The container's log file (`/var/log/pods/...`).
    #[serde(default)]
    pub log_path: String,
}

impl Info {
    /// cAdvisor's view: aliases `[<name>, <id>]`, labels with `restartcount` when above 0.
    pub fn into_metadata(self, cgroup: &str, id: &str) -> Metadata {
        let labels = self.labels.unwrap_or_default();
        let restarts = self
            .annotations
            .as_ref()
            .and_then(|a| a.get(RESTART_COUNT))
            .and_then(|n| n.parse().ok());
        let network = match kubernetes::is_sandbox(&labels) {
            Some(true) => NetworkRole::Owner,
            Some(false) => NetworkRole::Joined,
            None => NetworkRole::Unknown,
        };
        let pod = pod_of(&labels, cgroup);
        // cAdvisor's rule for overlay: the writable layer is `diff` beside the mounted `merged`.
        let root = Path::new(&self.root);
        let layer = root
            .parent()
            .filter(|_| root.is_absolute() && root.ends_with("merged"))
            .map(|layer| layer.join("diff"));
        let storage = Storage {
            layer,
            logs: Storage::logs_from(&self.log_path, id),
        };
        let mut m = Metadata {
            kind: Some(Kind::Crio),
            id: id.to_owned(),
            aliases: vec![self.name, id.to_owned()],
            labels,
            image: self.image,
            created: (self.created_time > 0)
                .then(|| Timestamp::from_secs(0).add_nanos(self.created_time)),
            pid: u32::try_from(self.pid).ok().filter(|p| *p > 0),
            network,
            pod,
            storage,
            ..Metadata::default()
        };
        m.set_restart_count(restarts);
        m
    }
}

/// The pod from the labels, completed by the path.
fn pod_of(labels: &BTreeMap<String, String>, cgroup: &str) -> Option<Pod> {
    match (
        kubernetes::pod_from_labels(labels),
        kubernetes::pod_from_path(cgroup),
    ) {
        (Some(a), Some(b)) => Some(a.or(b)),
        (a, b) => a.or(b),
    }
}

/// What the path alone says of a container (no socket, or the socket does not know it):
/// containerd's and CRI-O's path-only naming, aliases `[<id>, <cgroup name>]`.
pub(crate) fn from_path(kind: Kind, cgroup: &str, id: &str) -> Metadata {
    let pod = kubernetes::pod_from_path(cgroup);
    let mut labels = BTreeMap::new();
    kubernetes::label_uid(&mut labels, pod.as_ref());
    Metadata {
        kind: Some(kind),
        id: id.to_owned(),
        aliases: vec![id.to_owned(), cgroup.to_owned()],
        labels,
        pod,
        ..Metadata::default()
    }
}

/// The id of a CRI-O cgroup and whether it is a scope: `crio-<id>.scope`, `crio-<id>`.
pub fn id_from_path(name: &str) -> Option<(&str, bool)> {
    let rest = base_name(name).strip_prefix("crio-")?;
    let (id, scope) = match rest.strip_suffix(".scope") {
        Some(id) => (id, true),
        None => (rest, false),
    };
    is_id(id).then_some((id, scope))
}

/// The CRI-O factory.
#[derive(Debug, Clone)]
pub struct Factory {
    http: Option<UnixHttp>,
}

impl Factory {
    /// CRI-O, asking its socket when there is one.
    pub fn new(socket: Option<&PathBuf>, timeout: Duration) -> Factory {
        Factory {
            http: socket.map(|s| UnixHttp::new(s, "crio", timeout)),
        }
    }

    /// `GET /containers/<id>`.
    pub fn info(&self, http: &UnixHttp, id: &str) -> Result<Info> {
        let path = format!("/containers/{id}");
        let r = http.get(&path)?;
        if r.status == 404 {
            return Err(Error::NotFound {
                socket: http.socket().to_owned(),
                id: id.to_owned(),
            });
        }
        decode(http, &path, &r)
    }
}

impl super::Factory for Factory {
    fn kind(&self) -> Kind {
        Kind::Crio
    }

    fn claim(&self, name: &str) -> Claim {
        let Some((id, scope)) = id_from_path(name) else {
            return Claim::No;
        };
        let parent = &name[..name.len() - base_name(name).len()];
        if !scope && parent.trim_end_matches('/').ends_with(".slice") {
            return Claim::Ignore;
        }
        Claim::Yes(Identity {
            kind: Kind::Crio,
            id: id.to_owned(),
        })
    }

    fn inspect(&self, name: &str, id: &str) -> Result<Metadata> {
        match &self.http {
            Some(http) => match self.info(http, id) {
                Ok(info) => Ok(info.into_metadata(name, id)),
                Err(Error::NotFound { .. } | Error::Connect { .. }) => {
                    Ok(from_path(Kind::Crio, name, id))
                }
                Err(e) => Err(e),
            },
            None => Ok(from_path(Kind::Crio, name, id)),
        }
    }
}

#[cfg(test)]
mod tests;
