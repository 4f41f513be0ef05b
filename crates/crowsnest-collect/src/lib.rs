//! The kernel side of crowsnest.
//!
//! This crate owns everything that reads the kernel: it finds the cgroup layout (v1, v2 or
//! hybrid) under a configurable root, lists and watches cgroups, reads each container's
//! statistics and limits from cgroup files through held file descriptors, and reads the
//! machine (procfs, sysfs, statfs). It also asks the container runtimes what each container is
//! ([`runtime`]: Docker, Podman and CRI-O over their local unix sockets with a small blocking
//! HTTP client; containerd, systemd and Kubernetes from paths and labels). Every root path
//! comes from [`Roots`]; nothing here hard-codes `/sys` or `/proc`, so tests point it at
//! fixture trees or real cgroups they make.
//!
//! It returns plain values from `crowsnest-core` and never stores, encodes or serves them. It
//! must never import `crowsnest-store`, `crowsnest-formats`, `crowsnest-sinks` or anything
//! async. (One exception, behind the cargo feature `containerd`: containerd's client library
//! is async, and [`runtime::containerd`] hides it behind a blocking client with a private
//! single-threaded runtime.)

pub mod cgroup;
pub mod discover;
pub mod du;
mod error;
pub mod fs;
pub mod machine;
pub mod netdev;
pub mod procfs;
mod roots;
pub mod runtime;
pub mod watch;

pub use error::{Error, Result};
pub use roots::{CONTAINER_ROOTFS, Roots, detect_rootfs, rootfs_in_container};

/// Entry points for the fuzz targets in `fuzz/` (a workspace of its own) to parsers that are
/// not public. Not part of the API.
#[doc(hidden)]
pub mod fuzzing {
    use crowsnest_core::model::PerDiskStats;

    use crate::cgroup::DeviceNames;

    /// v1 `blkio.*` lines into `list`, updated in place as the reader does.
    pub fn blkio_into(text: &str, list: &mut Vec<PerDiskStats>, devices: &DeviceNames) {
        let mut masks = Vec::new();
        crate::cgroup::parse::blkio_into(Some(text), list, &mut masks, devices);
    }

    /// v2 `io.stat` into `bytes` and `ops`, updated in place as the reader does.
    pub fn io_stat_into(
        text: &str,
        bytes: &mut Vec<PerDiskStats>,
        ops: &mut Vec<PerDiskStats>,
        devices: &DeviceNames,
    ) {
        let mut masks = Vec::new();
        crate::cgroup::parse::io_stat_into(text, bytes, ops, &mut masks, devices);
    }

    /// A sysfs CPU list (`0-3,8`).
    pub fn cpu_list(text: &str) -> Option<Vec<u32>> {
        crate::machine::parse_cpu_list(text)
    }

    /// `PRETTY_NAME` of an os-release file.
    pub fn pretty_name(text: &str) -> Option<String> {
        crate::machine::pretty_name(text)
    }

    /// The bracketed choice of a sysfs list (`none [mq-deadline] kyber`).
    pub fn bracketed(text: &str) -> Option<&str> {
        crate::machine::bracketed(text)
    }

    /// A mountinfo field with its octal escapes (`\040`) decoded.
    pub fn mount_unescape(text: &str) -> Vec<u8> {
        crate::procfs::mountinfo::unescape(text)
    }
}
