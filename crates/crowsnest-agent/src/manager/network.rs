//! Network counters per container, each network namespace reported once.
//!
//! A container reports the interfaces of its network namespace, read from
//! `/proc/<pid>/net/dev` of its init process (the runtime's pid when it gave one, else the
//! first pid of `cgroup.procs`), unless that namespace is the host's. Several containers can
//! share a namespace (a pod's containers, `--net=container:`); only one of them, the
//! namespace's owner, reports it, so nothing is counted twice:
//!
//! - a container the runtime says joined another's namespace never reports it;
//! - a container the runtime says owns its namespace (a plain Docker container, a pod's
//!   sandbox) takes it over from an owner the runtime said nothing about;
//! - otherwise the first container seen in the namespace owns it, until it goes away.

use std::collections::HashMap;
use std::path::Path;

use crowsnest_collect::netdev::{NetReader, netns_inode};
use crowsnest_collect::runtime::NetworkRole;
use crowsnest_core::model::InterfaceStats;

/// One container's view of its network.
#[derive(Debug, Default)]
pub(super) struct NetSlot {
    /// The pid whose namespace was last looked at.
    pid: Option<u32>,
    /// Reader of that pid's `net/dev`, while this container owns the namespace.
    reader: Option<NetReader>,
    /// The namespace (when not the host's).
    netns: Option<u64>,
    /// [`NetState::epoch`] when the namespace was last looked at.
    epoch: u64,
}

impl NetSlot {
    /// Whether a `net/dev` is held (two descriptors).
    pub(super) fn is_open(&self) -> bool {
        self.reader.is_some()
    }
}

/// The host's namespace and who owns every other one.
#[derive(Debug, Default)]
pub(super) struct NetState {
    host_netns: Option<u64>,
    host: Option<NetReader>,
    /// Namespace → (owner, whether the runtime said it owns it).
    owners: HashMap<u64, (String, bool)>,
    /// Bumped whenever an owner lets go, so that containers left out look again.
    epoch: u64,
}

impl NetState {
    /// With the host's namespace inode.
    pub(super) fn new(host_netns: Option<u64>) -> NetState {
        NetState {
            host_netns,
            ..NetState::default()
        }
    }

    /// The root container's interfaces: pid 1's.
    pub(super) fn read_root(&mut self, proc_root: &Path, out: &mut Vec<InterfaceStats>) -> bool {
        if self.host.is_none() {
            self.host = NetReader::open(proc_root, 1).ok();
        }
        let ok = self.host.as_mut().is_some_and(|r| r.read(out).is_ok());
        if !ok {
            self.host = None;
        }
        ok
    }

    /// Reads container `name`'s interfaces into `out` when it owns a namespace. Returns
    /// `(read, newly)`: whether `out` holds its interfaces, and whether it started reporting
    /// a network just now.
    pub(super) fn read(
        &mut self,
        proc_root: &Path,
        name: &str,
        role: NetworkRole,
        pid: Option<u32>,
        slot: &mut NetSlot,
        out: &mut Vec<InterfaceStats>,
    ) -> (bool, bool) {
        if role == NetworkRole::Joined {
            self.let_go(name, slot);
            slot.pid = pid;
            return (false, false);
        }
        let had = slot.reader.is_some();
        if pid != slot.pid || (!had && slot.epoch != self.epoch) {
            self.let_go(name, slot);
            slot.pid = pid;
            slot.epoch = self.epoch;
            slot.netns = pid
                .and_then(|p| netns_inode(proc_root, p))
                .filter(|ns| self.host_netns.is_some_and(|h| h != *ns));
            if let (Some(ns), Some(p)) = (slot.netns, pid) {
                let by_role = role == NetworkRole::Owner;
                let mine = match self.owners.get(&ns) {
                    None => true,
                    Some((owner, _)) if owner == name => true,
                    Some((_, owner_by_role)) => by_role && !owner_by_role,
                };
                if mine {
                    slot.reader = NetReader::open(proc_root, p).ok();
                    if slot.reader.is_some()
                        && let Some((old, _)) = self.owners.insert(ns, (name.to_owned(), by_role))
                        && old != name
                    {
                        // Taken over: the old owner sees it at its next read.
                        self.epoch += 1;
                    }
                }
            }
        } else if let Some(ns) = slot.netns
            && had
            && self.owners.get(&ns).is_some_and(|(o, _)| o != name)
        {
            slot.reader = None;
        }
        let ok = slot.reader.as_mut().is_some_and(|r| r.read(out).is_ok());
        if !ok && slot.reader.is_some() {
            // The process is gone: look again with another pid next time.
            self.let_go(name, slot);
            slot.pid = None;
        }
        (ok, !had && ok)
    }

    /// Container `name` no longer reads its namespace (it left, or was removed).
    pub(super) fn let_go(&mut self, name: &str, slot: &mut NetSlot) {
        slot.reader = None;
        if let Some(ns) = slot.netns.take()
            && self.owners.get(&ns).is_some_and(|(o, _)| o == name)
        {
            self.owners.remove(&ns);
            self.epoch += 1;
        }
    }
}
