//! systemd: `*.mount` cgroups are claimed and ignored (cAdvisor's systemd factory), and units
//! (`*.service`, `*.scope`, `*.slice`, `*.socket`) that no runtime claimed are named by their
//! unit. Their outputs stay those of raw cgroups (no aliases, no namespace), as in cAdvisor:
//! dashboards select runtime containers with `name!=""`, and a unit name there would break
//! that. The unit is in [`Metadata::id`] for consumers that want it.

use super::{Claim, Identity, Kind, Metadata, Result, base_name, raw};

/// Unit suffixes named as units.
const UNIT_SUFFIXES: [&str; 4] = [".service", ".scope", ".slice", ".socket"];

/// The systemd factory: one instance ignores mounts (asked first), another names units
/// (asked after the runtimes, before raw).
#[derive(Debug, Clone)]
pub struct Factory {
    units: Option<raw::Policy>,
}

impl Factory {
    /// Claims `*.mount` and ignores it.
    pub fn mounts() -> Factory {
        Factory { units: None }
    }

    /// Claims units, reporting those `policy` keeps (units are not runtime containers, so
    /// `--docker-only` drops them like raw cgroups).
    pub fn units(policy: raw::Policy) -> Factory {
        Factory {
            units: Some(policy),
        }
    }
}

impl super::Factory for Factory {
    fn kind(&self) -> Kind {
        Kind::Systemd
    }

    fn claim(&self, name: &str) -> Claim {
        let base = base_name(name);
        match &self.units {
            None if base.ends_with(".mount") => Claim::Ignore,
            None => Claim::No,
            Some(policy) if UNIT_SUFFIXES.iter().any(|s| base.ends_with(s)) => {
                if policy.accepts(name) {
                    Claim::Yes(Identity {
                        kind: Kind::Systemd,
                        id: base.to_owned(),
                    })
                } else {
                    Claim::Ignore
                }
            }
            Some(_) => Claim::No,
        }
    }

    fn inspect(&self, _name: &str, id: &str) -> Result<Metadata> {
        Ok(Metadata {
            kind: Some(Kind::Systemd),
            id: id.to_owned(),
            ..Metadata::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::Factory as _;
    use super::*;

    #[test]
    fn mounts_are_ignored_and_units_named() {
        let mounts = Factory::mounts();
        assert_eq!(mounts.claim("/system.slice/boot.mount"), Claim::Ignore);
        assert_eq!(mounts.claim("/system.slice/sshd.service"), Claim::No);
        let units = Factory::units(raw::Policy::default());
        assert_eq!(
            units.claim("/system.slice/sshd.service"),
            Claim::Yes(Identity {
                kind: Kind::Systemd,
                id: "sshd.service".into()
            })
        );
        assert!(matches!(units.claim("/user.slice"), Claim::Yes(_)));
        assert_eq!(units.claim("/docker"), Claim::No);
        let docker_only = Factory::units(raw::Policy::new(true, &[]));
        assert_eq!(
            docker_only.claim("/system.slice/sshd.service"),
            Claim::Ignore
        );
        let m = units
            .inspect("/system.slice/sshd.service", "sshd.service")
            .unwrap();
        assert_eq!(m.id, "sshd.service");
        assert_eq!(m.namespace(), "");
        assert_eq!(
            m.reference("/system.slice/sshd.service").aliases,
            Vec::<String>::new()
        );
    }
}
