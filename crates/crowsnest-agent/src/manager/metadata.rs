//! Applying what the runtimes answer (see [`crate::runtime`]) to the tracked containers and
//! to the stored references and specs, between housekeeping passes.

use std::time::{Duration, Instant};

use crowsnest_collect::runtime::{Identity, Kind, Metadata};

use super::{METADATA_REFRESH, Manager, RETRY_FIRST};
use crate::runtime::{Failure, Update};

impl Manager {
    /// Applies what the runtimes answered since the last call: metadata onto references and
    /// specs, and new questions for containers that changed. Never waits.
    pub(super) fn apply_runtime_updates(&mut self) {
        if !self.retries.is_empty() {
            let now = Instant::now();
            let mut due = Vec::new();
            self.retries.retain(|name, at| {
                let is_due = *at <= now;
                if is_due {
                    due.push(name.clone());
                }
                !is_due
            });
            for name in due {
                if let Some(t) = self.tracked.get(&name) {
                    self.runtime.request(&name, &t.identity);
                }
            }
        }
        let mut updates = std::mem::take(&mut self.updates);
        self.runtime.drain(&mut updates);
        for update in updates.drain(..) {
            match update {
                Update::Metadata {
                    name,
                    identity,
                    result,
                } => self.apply_metadata(&name, &identity, result),
                Update::Changed { kind, id } => {
                    tracing::trace!(runtime = %kind, id, "container changed");
                    let changed: Vec<(String, Identity)> = self
                        .tracked
                        .iter()
                        .filter(|(_, t)| t.identity.id == id)
                        .map(|(n, t)| (n.clone(), t.identity.clone()))
                        .collect();
                    for (name, identity) in changed {
                        self.runtime.request(&name, &identity);
                    }
                }
                Update::Connected { kind } => {
                    // Bare ids claimed by containerd are asked of Docker first.
                    let asks =
                        |k: Kind| k == kind || (k == Kind::Containerd && kind == Kind::Docker);
                    let retry: Vec<(String, Identity)> = self
                        .tracked
                        .iter()
                        .filter(|(_, t)| asks(t.identity.kind) && t.meta_failures > 0)
                        .map(|(n, t)| (n.clone(), t.identity.clone()))
                        .collect();
                    for (name, identity) in retry {
                        self.runtime.request(&name, &identity);
                    }
                }
            }
        }
        self.updates = updates;
        self.apply_disk_usage();
    }

    fn apply_metadata(
        &mut self,
        name: &str,
        identity: &Identity,
        result: Result<Box<Metadata>, Failure>,
    ) {
        let Some(t) = self.tracked.get_mut(name) else {
            tracing::trace!(
                container = name,
                "runtime answer for a container gone meanwhile"
            );
            return;
        };
        if t.identity != *identity {
            return;
        }
        let meta = match result {
            Ok(meta) => *meta,
            Err(failure) => {
                // Ask again soon (a container that was starting, a runtime that was
                // restarting), then less and less often.
                t.meta_failures = t.meta_failures.saturating_add(1);
                let wait = RETRY_FIRST
                    .saturating_mul(1 << t.meta_failures.min(8).saturating_sub(1))
                    .min(METADATA_REFRESH);
                self.retries.insert(name.to_owned(), Instant::now() + wait);
                if !failure.unreachable {
                    tracing::debug!(container = name, error = %failure.message, "no runtime metadata; reported under its cgroup name");
                }
                return;
            }
        };
        t.meta_failures = 0;
        self.retries.remove(name);
        t.meta_at = Some(Instant::now());
        if t.meta.as_ref().is_some_and(|m| m.network != meta.network) {
            // Its network role changed: look at its namespace afresh.
            self.net.let_go(name, &mut t.net);
        }
        let reference = meta.reference(name);
        let storage = meta.storage.clone();
        t.meta = Some(meta);
        self.track_disk_usage(name, &storage);
        let meta = self.tracked.get(name).and_then(|t| t.meta.as_ref());
        let spec = self
            .shared
            .read()
            .containers
            .get(name)
            .map(|c| c.spec.clone());
        let spec = spec.map(|s| self.adjusted_spec(name, s, meta));
        if let (Some(spec), Some(c)) = (spec, self.shared.write().containers.get_mut(name)) {
            c.reference = reference;
            c.spec = spec;
        }
        tracing::debug!(container = name, "runtime metadata applied");
    }

    /// Applies runtime answers until none is awaited or `timeout` passed; whether none is
    /// awaited. Tests and benchmarks use it; the housekeeping loop never waits for runtimes.
    pub fn wait_for_runtime(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            self.apply_runtime_updates();
            if !self.runtime.has_pending() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// What the runtime said about container `name`, once it answered (health, restart
    /// count, pod and pid are here; names, image and labels are also in the stored reference
    /// and spec).
    pub fn runtime_metadata(&self, name: &str) -> Option<&Metadata> {
        self.tracked.get(name)?.meta.as_ref()
    }
}
