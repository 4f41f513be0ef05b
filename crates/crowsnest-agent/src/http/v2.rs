//! cAdvisor's v2.0/v2.1 request types (`cmd/internal/api/versions.go`), answered with the
//! shapes of `crowsnest_core::model::v2` built by `crowsnest_formats::v2`:
//!
//! * `version`: the crowsnest version as a bare JSON string.
//! * `attributes`: the host's `Attributes`. `machine`: the v1 `MachineInfo`.
//! * `spec/<id>`: map name → v2 spec.
//! * `summary/<id>`: map name → `DerivedStats` (containers without samples are left out).
//! * `stats/<id>`: v2.0, map name → `[DeprecatedContainerStats]`; v2.1, map name →
//!   `{spec, stats}`, leaving out `/` as cAdvisor does (the root's samples are
//!   `machinestats`).
//! * `machinestats` (v2.1): `[MachineStats]` of the root container.
//!
//! `<id>` is read according to the `type` option: with `name` (the default) it is a
//! container name, and `recursive=true` adds every descendant; with `docker` or `podman` it is
//! an id or alias (or a unique prefix of one) of a container in that runtime namespace, and
//! `recursive=true` is only allowed for `/`, meaning every container of the runtime (the
//! manager sets the namespace once the runtime has answered; see `crate::runtime`). `count`
//! selects the newest samples (default 64, -1 all); samples older than the in-memory history
//! come from the store (see [`crate::history`]), and `summary` reads the store for the last
//! minute when the in-memory history is shorter (after a restart).
//! cAdvisor's `storage`, `ps`, `events` and `appmetrics` are not served.

use std::collections::BTreeMap;

use axum::response::Response;
use crowsnest_core::Timestamp;
use crowsnest_core::model::ContainerInfo;
use crowsnest_formats::v2 as convert;

use crate::http::error::ApiError;
use crate::http::options::{self, V2Options};
use crate::http::{ApiRequest, Version, json, runtime_lookup, runtime_names};
use crate::state::{AgentState, Container, Shared, StatsQuery};

/// Answers a v2.x request.
pub(crate) fn handle(shared: &Shared, req: &ApiRequest<'_>) -> Result<Response, ApiError> {
    let opts = options::v2_options(req.query)?;
    match req.kind {
        "version" => {
            let version = shared.read().version.cadvisor_version.clone();
            json(&version)
        }
        "attributes" => {
            let attributes = {
                let st = shared.read();
                convert::attributes(&st.machine, &st.version)
            };
            json(&attributes)
        }
        "machine" => {
            let machine = shared.read().machine.clone();
            json(&machine)
        }
        "spec" => {
            let specs = per_container(&shared.read(), &req.name, &opts, |_, c| {
                Some(convert::spec(&c.spec, &c.reference))
            })?;
            json(&specs)
        }
        "summary" => {
            // The ring, and when it holds less than the minute the figures are over (after a
            // restart), the store for the rest of that minute: whole again at once.
            let from = shared.store().map(|s| s.now().add_nanos(-SUMMARY_REACH_NS));
            let infos = samples(shared, &req.name, &opts, None, from)?;
            let summaries: BTreeMap<String, _> = infos
                .into_iter()
                .filter_map(|(n, i)| Some((n, convert::derived_stats(&i.spec, &i.stats)?)))
                .collect();
            json(&summaries)
        }
        "stats" if req.version == Version::V2_0 => {
            let infos = samples(shared, &req.name, &opts, opts.count, None)?;
            let stats: BTreeMap<String, _> = infos
                .into_iter()
                .map(|(n, i)| (n, convert::deprecated_stats(&i.spec, &i.stats)))
                .collect();
            json(&stats)
        }
        "stats" => {
            let infos = samples(shared, &req.name, &opts, opts.count, None)?;
            let stats: BTreeMap<String, _> = infos
                .into_iter()
                .filter(|(n, _)| n != "/")
                .map(|(n, i)| (n, convert::container_info(&i.reference, &i.spec, &i.stats)))
                .collect();
            json(&stats)
        }
        "machinestats" if req.version >= Version::V2_1 => {
            let query = StatsQuery {
                max: opts.count,
                ..StatsQuery::default()
            };
            let (_, root) = shared
                .infos(&["/".to_owned()], &query, false)?
                .pop()
                .ok_or_else(|| ApiError::UnknownContainer("/".into()))?;
            json(&convert::machine_stats(&root.spec, &root.stats))
        }
        other => Err(req.version.unknown_type(other)),
    }
}

/// How far back the store fills a `summary`: the minute its figures are over, and a second
/// (a ring that covers this never reads the store).
const SUMMARY_REACH_NS: i64 = 61_000_000_000;

/// `(name, ContainerInfo)` of the requested containers with up to `max` of their newest
/// samples, the store filling in older ones (no further back than `store_from`).
fn samples(
    shared: &Shared,
    name: &str,
    opts: &V2Options,
    max: Option<usize>,
    store_from: Option<Timestamp>,
) -> Result<Vec<(String, ContainerInfo)>, ApiError> {
    let names = requested(&shared.read(), name, opts)?;
    let query = StatsQuery {
        max,
        ..StatsQuery::default()
    };
    Ok(shared.infos_reaching(&names, &query, false, store_from)?)
}

/// The names a v2 request selects (see the module docs).
fn requested(st: &AgentState, name: &str, opts: &V2Options) -> Result<Vec<String>, ApiError> {
    match opts.id_type.namespace() {
        None => {
            let names: Vec<String> = st
                .names_under(name, opts.recursive)
                .into_iter()
                .map(str::to_owned)
                .collect();
            if names.is_empty() {
                return Err(ApiError::UnknownContainer(name.to_owned()));
            }
            Ok(names)
        }
        Some(ns) if opts.recursive => {
            if name != "/" {
                return Err(ApiError::bad_option(
                    "recursive",
                    "true",
                    format!("with type={ns} only / can be recursive, not {name:?}"),
                ));
            }
            Ok(runtime_names(st, ns))
        }
        Some(ns) => Ok(vec![runtime_lookup(st, ns, name.trim_start_matches('/'))?]),
    }
}

/// Map name → `f(name, container)` over the requested containers, leaving out those for
/// which `f` gives `None`.
fn per_container<T>(
    st: &AgentState,
    name: &str,
    opts: &V2Options,
    f: impl Fn(&str, &Container) -> Option<T>,
) -> Result<BTreeMap<String, T>, ApiError> {
    let names = requested(st, name, opts)?;
    Ok(names
        .into_iter()
        .filter_map(|n| {
            let value = f(&n, st.containers.get(&n)?)?;
            Some((n, value))
        })
        .collect())
}
