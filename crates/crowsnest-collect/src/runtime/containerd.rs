//! containerd: containers at `cri-containerd-<id>.scope` (systemd driver) and at a bare
//! `<id>` directory (cgroupfs driver, e.g. `/kubepods/<qos>/pod<uid>/<id>`; cAdvisor's rule:
//! a base name of 64 hex digits).
//!
//! containerd's own API is gRPC. Built with the cargo feature `containerd` (which needs
//! protoc), crowsnest asks it ([`api`]: `--containerd`, `--containerd-namespace`) for the
//! container's labels (the kubelet's `io.kubernetes.*` among them), image, creation time,
//! allow-listed environment, init pid and writable layer. Without the feature, without the
//! socket, or when containerd does not know the id, a containerd container is named from its
//! path: id, aliases `[<id>, <cgroup name>]` as cAdvisor's containerd handler, and the pod
//! uid from the `/kubepods/...` path as the `io.kubernetes.pod.uid` label. A bare `<id>` may
//! be Docker's (a `--cgroup-parent`, or Kubernetes through cri-dockerd): when Docker is
//! configured it is asked first, and the container is Docker's when Docker knows it.

#[cfg(feature = "containerd")]
pub mod api;

use super::docker::Engine;
use super::{Claim, Config, Error, Identity, Kind, Metadata, Result, base_name, crio, is_id};

/// The id of a containerd cgroup: `cri-containerd-<id>.scope` or a bare `<id>`.
pub fn id_from_path(name: &str) -> Option<&str> {
    let base = base_name(name);
    let id = base
        .strip_prefix("cri-containerd-")
        .and_then(|b| b.strip_suffix(".scope"))
        .unwrap_or(base);
    is_id(id).then_some(id)
}

/// The containerd factory.
#[derive(Debug, Clone)]
pub struct Factory {
    docker: Option<Engine>,
    env_allowlist: Vec<String>,
    #[cfg(feature = "containerd")]
    api: Option<std::sync::Arc<api::Client>>,
}

impl Factory {
    /// containerd, asking `docker` first about bare ids when Docker is configured; named
    /// from paths until [`Factory::with_api`].
    pub fn new(docker: Option<Engine>, env_allowlist: Vec<String>) -> Factory {
        Factory {
            docker,
            env_allowlist,
            #[cfg(feature = "containerd")]
            api: None,
        }
    }

    /// Also asks containerd's API at `config.containerd` (namespace
    /// `config.containerd_namespace`), when built with the `containerd` feature; otherwise
    /// unchanged.
    pub fn with_api(self, config: &Config) -> Factory {
        #[cfg(feature = "containerd")]
        {
            let api = config.containerd.as_ref().and_then(|socket| {
                api::Client::new(socket, &config.containerd_namespace, config.timeout)
                    .map_err(|e| {
                        tracing::warn!(error = %e, "cannot start containerd's client; containerd containers are named from their paths");
                    })
                    .ok()
                    .map(std::sync::Arc::new)
            });
            Factory { api, ..self }
        }
        #[cfg(not(feature = "containerd"))]
        {
            if config.containerd.is_some() {
                tracing::debug!(
                    "built without the `containerd` feature: containerd containers are named from their paths"
                );
            }
            self
        }
    }

    /// What containerd's API says, when there is one; `None` to fall back to the path (the
    /// socket is missing, or containerd does not know the id).
    #[cfg(feature = "containerd")]
    fn ask_api(&self, name: &str, id: &str) -> Result<Option<Metadata>> {
        let Some(api) = &self.api else {
            return Ok(None);
        };
        match api.metadata(name, id, &self.env_allowlist) {
            Ok(m) => Ok(Some(m)),
            Err(Error::NotFound { .. } | Error::Connect { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    #[cfg(not(feature = "containerd"))]
    fn ask_api(&self, _name: &str, _id: &str) -> Result<Option<Metadata>> {
        Ok(None)
    }
}

impl super::Factory for Factory {
    fn kind(&self) -> Kind {
        Kind::Containerd
    }

    fn claim(&self, name: &str) -> Claim {
        // `/docker/<id>` is Docker's even when Docker is off.
        if super::docker::id_from_path(name).is_some() {
            return Claim::No;
        }
        match id_from_path(name) {
            Some(id) => Claim::Yes(Identity {
                kind: Kind::Containerd,
                id: id.to_owned(),
            }),
            None => Claim::No,
        }
    }

    fn inspect(&self, name: &str, id: &str) -> Result<Metadata> {
        let bare = base_name(name) == id;
        if let (true, Some(docker)) = (bare, &self.docker) {
            match docker.metadata(name, id, &self.env_allowlist) {
                Ok(m) => return Ok(m),
                Err(Error::NotFound { .. } | Error::Connect { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        if let Some(m) = self.ask_api(name, id)? {
            return Ok(m);
        }
        Ok(crio::from_path(Kind::Containerd, name, id))
    }
}

#[cfg(test)]
mod tests {
    use super::super::Factory as _;
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn named_from_the_path_with_the_pod_uid() {
        let f = Factory::new(None, Vec::new());
        let name = format!("/kubepods/burstable/pod7f3a-11/{ID}");
        assert_eq!(
            f.claim(&name),
            Claim::Yes(Identity {
                kind: Kind::Containerd,
                id: ID.into()
            })
        );
        let m = f.inspect(&name, ID).unwrap();
        assert_eq!(m.namespace(), "containerd");
        assert_eq!(m.aliases, [ID.to_owned(), name.clone()]);
        assert_eq!(m.labels["io.kubernetes.pod.uid"], "7f3a-11");
        let pod = m.pod.unwrap();
        assert_eq!(pod.qos.as_deref(), Some("burstable"));
        let scope = format!(
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1_2.slice/cri-containerd-{ID}.scope"
        );
        assert_eq!(id_from_path(&scope), Some(ID));
        let m = f.inspect(&scope, ID).unwrap();
        assert_eq!(m.labels["io.kubernetes.pod.uid"], "1-2");
        assert_eq!(id_from_path("/kubepods/burstable/pod7f3a-11"), None);
    }

    #[test]
    fn without_a_containerd_socket_containers_are_named_from_their_paths() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            containerd: Some(dir.path().join("containerd.sock")),
            ..Config::default()
        };
        let f = Factory::new(None, Vec::new()).with_api(&config);
        let name = format!("/kubepods/burstable/pod7f3a-11/{ID}");
        let m = f.inspect(&name, ID).unwrap();
        assert_eq!(m.namespace(), "containerd");
        assert_eq!(m.aliases, [ID.to_owned(), name]);
        assert_eq!(m.labels["io.kubernetes.pod.uid"], "7f3a-11");
        assert_eq!(m.pid, None);
    }
}
