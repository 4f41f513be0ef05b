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
