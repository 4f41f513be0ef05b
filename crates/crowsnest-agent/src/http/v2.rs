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
//! selects the newest samples (default 64, -1 all).
//! cAdvisor's `storage`, `ps`, `events` and `appmetrics` are not served.

use std::collections::BTreeMap;

use axum::response::Response;
use crowsnest_formats::v2 as convert;

use crate::http::error::ApiError;
use crate::http::options::{self, V2Options};
use crate::http::{ApiRequest, Version, json, runtime_lookup, runtime_names};
use crate::state::{AgentState, Container, Shared};

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
            let summaries = per_container(&shared.read(), &req.name, &opts, |_, c| {
                convert::derived_stats(&c.spec, &c.history.query(None, None, None))
            })?;
            json(&summaries)
        }
        "stats" if req.version == Version::V2_0 => {
            let stats = per_container(&shared.read(), &req.name, &opts, |_, c| {
                Some(convert::deprecated_stats(
                    &c.spec,
                    &c.history.query(None, None, opts.count),
                ))
            })?;
            json(&stats)
        }
        "stats" => {
            let infos = per_container(&shared.read(), &req.name, &opts, |name, c| {
                let stats = c.history.query(None, None, opts.count);
                (name != "/").then(|| convert::container_info(&c.reference, &c.spec, &stats))
            })?;
            json(&infos)
        }
        "machinestats" if req.version >= Version::V2_1 => {
            let stats = {
                let st = shared.read();
                let root = st
                    .containers
                    .get("/")
                    .ok_or_else(|| ApiError::UnknownContainer("/".into()))?;
                convert::machine_stats(&root.spec, &root.history.query(None, None, opts.count))
            };
            json(&stats)
        }
        other => Err(req.version.unknown_type(other)),
    }
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
