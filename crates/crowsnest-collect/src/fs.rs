//! The host's disk filesystems: which block devices are mounted where (from `mountinfo`) and
//! how full they are (`statvfs`).

use std::collections::BTreeSet;
use std::ffi::CString;
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crowsnest_core::machine::FsInfo;
use crowsnest_core::model::FsStats;

use crate::procfs::{self, MountInfo};
use crate::{Error, Result, Roots};

/// Filesystem types that live on a block device. `overlay`, `tmpfs`, network and pseudo
/// filesystems are not in the list.
pub const DISK_FS_TYPES: [&str; 14] = [
    "ext2", "ext3", "ext4", "xfs", "btrfs", "zfs", "f2fs", "vfat", "exfat", "ntfs", "ntfs3", "jfs",
    "reiserfs", "fuseblk",
];

/// A mounted block-device filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The mount source: `/dev/vda1`, or the dataset name for zfs.
    pub device: String,
    /// Where it is mounted (the first mount of the device in `mountinfo`).
    pub mount_point: PathBuf,
    /// Filesystem type, e.g. `ext4`.
    pub fs_type: String,
    /// Major device number (for btrfs, that of the block device, not the anonymous one
    /// `mountinfo` shows, when the device node can be stat'ed).
    pub major: u64,
    /// Minor device number.
    pub minor: u64,
}

/// The block-device filesystems of the host's mount namespace, from `<proc>/1/mountinfo`
/// (falling back to `<proc>/self/mountinfo` when pid 1's is unreadable): mounts whose type
/// is in [`DISK_FS_TYPES`] and whose source is a `/dev/` path (zfs: any source), one per
/// device, the first mount point winning (bind mounts and btrfs subvolumes come later).
///
/// Under a rootfs ([`Roots::rootfs`], an agent in a container), pid 1's mount points are the
/// host's and are looked up under the rootfs ([`Roots::host_path`]) for `statvfs`.
pub fn host_mounts(roots: &Roots) -> Result<Vec<Mount>> {
    let mounts = match procfs::read_mountinfo(roots, "1") {
        Ok(m) => {
            let mut mounts = disk_mounts(&m);
            for m in &mut mounts {
                m.mount_point = roots.host_path(&m.mount_point);
            }
            return Ok(mounts);
        }
        Err(first) => {
            tracing::debug!(error = %first, "falling back to self/mountinfo");
            procfs::read_mountinfo(roots, "self")?
        }
    };
    Ok(disk_mounts(&mounts))
}

/// The block-device filesystems among `mounts` (see [`host_mounts`]).
pub fn disk_mounts(mounts: &[MountInfo]) -> Vec<Mount> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for m in mounts {
        if !DISK_FS_TYPES.contains(&m.fs_type.as_str()) {
            continue;
        }
        if m.fs_type != "zfs" && !m.source.starts_with("/dev/") {
            continue;
        }
        if !seen.insert(m.source.clone()) {
            continue;
        }
        let (mut major, mut minor) = (m.major, m.minor);
        if m.fs_type == "btrfs" && major == 0 {
            // btrfs shows an anonymous device number; the block device has the real one.
            if let Ok(meta) = std::fs::metadata(&m.source) {
                let rdev = meta.rdev();
                (major, minor) = (libc::major(rdev).into(), libc::minor(rdev).into());
            }
        }
        out.push(Mount {
            device: m.source.clone(),
            mount_point: m.mount_point.clone(),
            fs_type: m.fs_type.clone(),
            major,
            minor,
        });
    }
    out
}

/// Size, usage and inodes of the filesystem mounted at `mount.mount_point`, from `statvfs`:
/// capacity = `f_blocks`·`f_frsize`, available = `f_bavail`·`f_frsize` (what unprivileged
/// users may still write), usage = (`f_blocks` − `f_bfree`)·`f_frsize`.
pub fn statfs(mount: &Mount) -> Result<FsStats> {
    let st = statvfs(&mount.mount_point).map_err(|e| Error::io(&mount.mount_point, e))?;
    let frsize = st.f_frsize as u64;
    let blocks = st.f_blocks as u64;
    Ok(FsStats {
        device: mount.device.clone(),
        fs_type: mount.fs_type.clone(),
        capacity: blocks.saturating_mul(frsize),
        usage: blocks
            .saturating_sub(st.f_bfree as u64)
            .saturating_mul(frsize),
        base_usage: None,
        available: (st.f_bavail as u64).saturating_mul(frsize),
        has_inodes: true,
        inodes: Some(st.f_files as u64),
        inodes_free: Some(st.f_ffree as u64),
    })
}

fn statvfs(path: &Path) -> std::io::Result<libc::statvfs> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let mut buf = MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a NUL-terminated string that outlives the call, and `buf` is valid for
    // writes of one `statvfs`, which is all the call writes.
    let rc = unsafe { libc::statvfs(c.as_ptr(), buf.as_mut_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled in the whole struct.
    Ok(unsafe { buf.assume_init() })
}

/// The filesystems of `MachineInfo`: one per mount whose `statvfs` succeeds (a mount that
/// vanished or cannot be read is logged and left out).
pub fn machine_filesystems(mounts: &[Mount]) -> Vec<FsInfo> {
    mounts
        .iter()
        .filter_map(|m| match statfs(m) {
            // `has_inodes` tells whether `inodes` is known; cAdvisor's field is not optional.
            Ok(s) => Some(FsInfo {
                device: s.device,
                capacity: s.capacity,
                fs_type: s.fs_type,
                has_inodes: s.inodes.is_some(),
                inodes: s.inodes.unwrap_or_default(),
            }),
            Err(e) => {
                tracing::warn!(error = %e, device = %m.device, "leaving filesystem out");
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procfs::testdata::fixture_roots;

    #[test]
    fn fixture_mounts() {
        let m = host_mounts(&fixture_roots()).unwrap();
        let devices: Vec<&str> = m.iter().map(|m| m.device.as_str()).collect();
        // vda1 once (the bind of /var/lib/docker is dropped); no proc, tmpfs, overlay, fuse
        // or squashfs.
        assert_eq!(devices, ["/dev/vda1", "/dev/vdb", "/dev/vdc"]);
        assert_eq!(m[0].mount_point, Path::new("/"));
        assert_eq!((m[0].major, m[0].minor), (254, 1));
        assert_eq!(m[1].mount_point, Path::new("/mnt/my data\tdisk"));
        assert_eq!(m[1].fs_type, "xfs");
        assert_eq!(m[2].fs_type, "btrfs");
    }

    #[test]
    fn falls_back_to_self_mountinfo() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("self")).unwrap();
        std::fs::write(
            dir.path().join("self/mountinfo"),
            "27 1 8:1 / / rw - ext4 /dev/sda1 rw\n\
             28 27 0:40 / /tank rw - zfs tank/data rw\n",
        )
        .unwrap();
        let roots = Roots {
            proc: dir.path().to_owned(),
            ..fixture_roots()
        };
        let m = host_mounts(&roots).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].device, "tank/data");
        let roots = Roots {
            proc: dir.path().join("none"),
            ..fixture_roots()
        };
        let e = host_mounts(&roots).unwrap_err().to_string();
        assert!(e.contains("self/mountinfo"), "{e}");
    }

    #[test]
    fn statfs_of_the_root_filesystem() {
        let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let mounts = procfs::parse_mountinfo(&text).unwrap();
        let root = mounts
            .iter()
            .rev()
            .find(|m| m.mount_point == Path::new("/"))
            .unwrap();
        let mount = Mount {
            device: root.source.clone(),
            mount_point: root.mount_point.clone(),
            fs_type: root.fs_type.clone(),
            major: root.major,
            minor: root.minor,
        };
        let s = statfs(&mount).unwrap();
        assert_eq!(s.device, root.source);
        assert!(s.capacity > 0, "{s:?}");
        assert!(s.capacity >= s.usage, "{s:?}");
        // Reserved blocks make available smaller than free; never larger (1 MiB of slack for
        // writes between the fields being read).
        assert!(s.available <= s.capacity - s.usage + (1 << 20), "{s:?}");
        assert!(s.has_inodes);
        assert!(
            s.inodes.is_some_and(|i| i > 0) || root.fs_type == "btrfs",
            "{s:?}"
        );
        assert!(s.inodes_free <= s.inodes, "{s:?}");

        let fs = machine_filesystems(std::slice::from_ref(&mount));
        assert_eq!(fs.len(), 1);
        assert_eq!(fs[0].capacity, s.capacity);
        let gone = Mount {
            mount_point: PathBuf::from("/no/such/mount"),
            ..mount
        };
        assert!(
            statfs(&gone)
                .unwrap_err()
                .to_string()
                .contains("/no/such/mount")
        );
        assert!(machine_filesystems(&[gone]).is_empty());
    }
}
