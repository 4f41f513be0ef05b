//! cAdvisor's v1.x request types (`cmd/internal/api/versions.go`):
//!
//! * `containers/<name>` (v1.0): one `ContainerInfo`, with the samples the options select.
//! * `machine` (v1.0): the `MachineInfo`.
//! * `subcontainers/<name>` (v1.1): `[ContainerInfo]` of the container and all its
//!   descendants, in name order.
//! * `docker[/<id-or-name>]` (v1.2): a map name → `ContainerInfo` of the containers in the
//!   `docker` namespace, or of the one whose id or alias is (or, uniquely, starts with) the
//!   argument.
//!
//! Options (`num_stats`, `start`, `end`) are described in [`super::options`]; samples older
//! than the in-memory history come from the store (see [`crate::history`]). cAdvisor's v1.3
//! `events` is not served.

use std::collections::BTreeMap;

use axum::response::Response;
use crowsnest_core::model::ContainerInfo;

use crate::http::error::ApiError;
use crate::http::{ApiRequest, Version, json, options, runtime_lookup, runtime_names};
use crate::state::Shared;

/// Answers a v1.x request.
pub(crate) fn handle(shared: &Shared, req: &ApiRequest<'_>) -> Result<Response, ApiError> {
    match req.kind {
        "machine" => {
            let machine = shared.read().machine.clone();
            json(&machine)
        }
        "containers" => {
            let query = options::v1_query(req.body, req.query)?;
            let info = shared.info(&req.name, &query)?;
            json(&info.ok_or_else(|| ApiError::UnknownContainer(req.name.clone()))?)
        }
        "subcontainers" if req.version >= Version::V1_1 => {
            let query = options::v1_query(req.body, req.query)?;
            let names: Vec<String> = shared
                .read()
                .names_under(&req.name, true)
                .into_iter()
                .map(str::to_owned)
                .collect();
            let infos: Vec<ContainerInfo> = shared
                .infos(&names, &query, true)?
                .into_iter()
                .map(|(_, i)| i)
                .collect();
            if infos.is_empty() {
                return Err(ApiError::UnknownContainer(req.name.clone()));
            }
            json(&infos)
        }
        "docker" if req.version >= Version::V1_2 => {
            let query = options::v1_query(req.body, req.query)?;
            let ids: Vec<&str> = req.args.split('/').filter(|p| !p.is_empty()).collect();
            let names = {
                let st = shared.read();
                match ids.as_slice() {
                    [] => runtime_names(&st, "docker"),
                    [id] => vec![runtime_lookup(&st, "docker", id)?],
                    _ => {
                        return Err(ApiError::BadPath {
                            path: req.args.to_owned(),
                            reason: "expected one Docker id or name",
                        });
                    }
                }
            };
            let infos: BTreeMap<String, ContainerInfo> =
                shared.infos(&names, &query, true)?.into_iter().collect();
            json(&infos)
        }
        other => Err(req.version.unknown_type(other)),
    }
}
