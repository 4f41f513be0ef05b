//! Raw cgroups: every cgroup no runtime claimed, named by its path and reported with cgroup
//! data only (no aliases, no labels). Listed last, it claims everything; under
//! `--docker-only` it keeps only `/` and the allow-listed prefixes (cAdvisor's
//! `--docker_only` with `--raw_cgroup_prefix_whitelist`).

use super::{Claim, Identity, Kind, Metadata, Result};

/// Which raw cgroups are reported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    docker_only: bool,
    allowlist: Vec<String>,
}

impl Policy {
    /// Everything, or with `docker_only` only `/` and names starting with an allow-listed
    /// prefix (empty prefixes are dropped).
    pub fn new(docker_only: bool, allowlist: &[String]) -> Policy {
        Policy {
            docker_only,
            allowlist: allowlist
                .iter()
                .filter(|p| !p.is_empty())
                .cloned()
                .collect(),
        }
    }

    /// Whether the raw cgroup `name` is reported.
    pub fn accepts(&self, name: &str) -> bool {
        !self.docker_only
            || name == "/"
            || self.allowlist.iter().any(|p| name.starts_with(p.as_str()))
    }
}

/// The raw factory.
#[derive(Debug, Clone, Default)]
pub struct Factory {
    policy: Policy,
}

impl Factory {
    /// Raw cgroups kept by `policy`.
    pub fn new(policy: Policy) -> Factory {
        Factory { policy }
    }
}

impl super::Factory for Factory {
    fn kind(&self) -> Kind {
        Kind::Raw
    }

    fn claim(&self, name: &str) -> Claim {
        if self.policy.accepts(name) {
            Claim::Yes(Identity {
                kind: Kind::Raw,
                id: String::new(),
            })
        } else {
            Claim::Ignore
        }
    }

    fn inspect(&self, _name: &str, _id: &str) -> Result<Metadata> {
        Ok(Metadata {
            kind: Some(Kind::Raw),
            ..Metadata::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::Factory as _;
    use super::*;

    #[test]
    fn docker_only_keeps_root_and_allowlisted_prefixes() {
        let all = Factory::default();
        assert!(matches!(all.claim("/system.slice"), Claim::Yes(_)));
        let only = Factory::new(Policy::new(true, &["/kubepods".to_owned(), String::new()]));
        assert!(matches!(only.claim("/"), Claim::Yes(_)));
        assert!(matches!(only.claim("/kubepods/burstable"), Claim::Yes(_)));
        assert_eq!(only.claim("/system.slice"), Claim::Ignore);
        assert_eq!(only.claim("/user.slice"), Claim::Ignore);
    }
}
