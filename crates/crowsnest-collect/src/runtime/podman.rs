//! Podman (rootful): containers at `/libpod_parent/libpod-<id>` (cgroupfs manager) and
//! `libpod-<id>.scope` (systemd manager, under `machine.slice`), described by Podman's
//! Docker-compatible API on its unix socket (`--podman`), with the same client as Docker.
//! conmon's cgroups (`libpod-conmon-<id>.scope`, `libpod_parent/conmon`) are not containers
//! and stay raw, as in cAdvisor.

use super::docker::{Engine, Factory};
use super::{Kind, base_name, is_id};

/// The id of a Podman cgroup: `libpod-<id>` or `libpod-<id>.scope`.
pub fn id_from_path(name: &str) -> Option<&str> {
    let rest = base_name(name).strip_prefix("libpod-")?;
    let id = rest.strip_suffix(".scope").unwrap_or(rest);
    is_id(id).then_some(id)
}

/// The Podman factory: Docker's, with Podman's path rule.
pub fn factory(engine: Option<Engine>, env_allowlist: Vec<String>) -> Factory {
    Factory::for_engine(Kind::Podman, id_from_path, engine, env_allowlist)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn podman_paths() {
        assert_eq!(
            id_from_path(&format!("/libpod_parent/libpod-{ID}")),
            Some(ID)
        );
        assert_eq!(
            id_from_path(&format!("/machine.slice/libpod-{ID}.scope")),
            Some(ID)
        );
        assert_eq!(
            id_from_path(&format!("/machine.slice/libpod-conmon-{ID}.scope")),
            None
        );
        assert_eq!(id_from_path("/libpod_parent/conmon"), None);
        assert_eq!(id_from_path("/libpod_parent/libpod-abc"), None);
    }
}
