//! `/proc/<pid>/mountinfo` (`proc(5)`):
//!
//! ```text
//! 36 35 98:0 /mnt1 /mnt/my\040disk rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//! (1)(2)(3)   (4)   (5)             (6)      (7)    (8) (9)   (10)      (11)
//! ```
//!
//! Fields 4, 5 and 10 escape space, tab, newline and backslash as `\ooo` octal.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use super::ParseError;

/// One mount of a mount namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    /// Mount id.
    pub mount_id: u32,
    /// Id of the parent mount.
    pub parent_id: u32,
    /// Major number of `st_dev` for files on this filesystem.
    pub major: u64,
    /// Minor number of `st_dev`.
    pub minor: u64,
    /// The directory of the filesystem that forms the root of this mount.
    pub root: PathBuf,
    /// Where it is mounted, relative to the process's root (unescaped).
    pub mount_point: PathBuf,
    /// Per-mount options.
    pub options: String,
    /// Filesystem type, e.g. `ext4`, `fuse.sshfs` (`type.subtype` as printed).
    pub fs_type: String,
    /// Mount source, e.g. `/dev/vda1`, `tmpfs`, `none` (unescaped).
    pub source: String,
    /// Per-superblock options.
    pub super_options: String,
}

/// Parses `/proc/<pid>/mountinfo`. Blank lines are skipped; any other line without the fields
/// above is an error.
pub fn parse_mountinfo(text: &str) -> Result<Vec<MountInfo>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        out.push(parse_line(line).map_err(|reason| ParseError::new(i + 1, reason))?);
    }
    Ok(out)
}

fn parse_line(line: &str) -> Result<MountInfo, String> {
    let (head, tail) = line
        .split_once(" - ")
        .ok_or_else(|| format!("no ` - ` separator: {line:?}"))?;
    let mut head = head.split(' ');
    let mut next = |what: &str| head.next().ok_or_else(|| format!("no {what}: {line:?}"));
    let mount_id = next("mount id")?;
    let parent_id = next("parent id")?;
    let dev = next("major:minor")?;
    let root = next("root")?;
    let mount_point = next("mount point")?;
    let options = next("mount options")?;
    // Optional fields (`shared:1 master:2 ...`) follow until the separator; we skip them.
    let mut tail = tail.split(' ');
    let fs_type = tail.next().filter(|s| !s.is_empty());
    let fs_type = fs_type.ok_or_else(|| format!("no filesystem type: {line:?}"))?;
    let source = tail
        .next()
        .ok_or_else(|| format!("no mount source: {line:?}"))?;
    let super_options = tail.next().unwrap_or("");

    let number = |what: &str, s: &str| -> Result<u64, String> {
        s.parse()
            .map_err(|_| format!("{what} is not a number: {s:?} in {line:?}"))
    };
    let (major, minor) = dev
        .split_once(':')
        .ok_or_else(|| format!("device {dev:?} is not major:minor"))?;
    let id = |what: &str, s: &str| -> Result<u32, String> {
        s.parse()
            .map_err(|_| format!("{what} is not a number: {s:?} in {line:?}"))
    };
    Ok(MountInfo {
        mount_id: id("mount id", mount_id)?,
        parent_id: id("parent id", parent_id)?,
        major: number("major", major)?,
        minor: number("minor", minor)?,
        root: unescape_path(root),
        mount_point: unescape_path(mount_point),
        options: options.to_owned(),
        fs_type: fs_type.to_owned(),
        source: String::from_utf8_lossy(&unescape(source)).into_owned(),
        super_options: super_options.to_owned(),
    })
}

/// Undoes the kernel's `mangle()`: `\ooo` (three octal digits) becomes that byte. A backslash
/// not followed by three octal digits is kept as it is.
pub(crate) fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if let (b'\\', Some(digits)) = (b[i], b.get(i + 1..i + 4))
            && let Some(byte) = octal_byte(digits)
        {
            out.push(byte);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Three octal digits as a byte: `040` -> b' '; `None` for anything else (`777` included).
fn octal_byte(digits: &[u8]) -> Option<u8> {
    let mut v: u32 = 0;
    for d in digits {
        if !(b'0'..=b'7').contains(d) {
            return None;
        }
        v = v * 8 + u32::from(d - b'0');
    }
    u8::try_from(v).ok()
}

fn unescape_path(s: &str) -> PathBuf {
    PathBuf::from(OsString::from_vec(unescape(s)))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const MOUNTINFO: &str = include_str!("../../tests/fixtures/proc/1/mountinfo");

    #[test]
    fn parses_the_fixture() {
        let m = parse_mountinfo(MOUNTINFO).unwrap();
        assert_eq!(m.len(), 11);
        let root = &m[0];
        assert_eq!((root.mount_id, root.parent_id), (27, 1));
        assert_eq!((root.major, root.minor), (254, 1));
        assert_eq!(root.mount_point, Path::new("/"));
        assert_eq!(root.fs_type, "ext4");
        assert_eq!(root.source, "/dev/vda1");
        assert_eq!(root.options, "rw,relatime");
        assert_eq!(root.super_options, "rw,discard");
    }

    #[test]
    fn escaped_spaces_and_optional_fields() {
        let m = parse_mountinfo(MOUNTINFO).unwrap();
        let data = m.iter().find(|m| m.source == "/dev/vdb").unwrap();
        assert_eq!(data.mount_point, Path::new("/mnt/my data\tdisk"));
        assert_eq!(data.fs_type, "xfs");
        let fuse = m.iter().find(|m| m.fs_type == "fuse.sshfs").unwrap();
        assert_eq!(fuse.source, "user@host:/a b");
        assert_eq!(fuse.mount_point, Path::new("/mnt/back\\slash"));
    }

    #[test]
    fn unescape_rules() {
        assert_eq!(unescape(r"a\040b"), b"a b");
        assert_eq!(unescape(r"\134"), b"\\");
        assert_eq!(unescape(r"\012\011"), b"\n\t");
        // Not an escape: kept verbatim.
        assert_eq!(unescape(r"a\04"), br"a\04");
        assert_eq!(unescape(r"a\9zz"), br"a\9zz");
        assert_eq!(unescape(r"\777"), br"\777");
        assert_eq!(unescape("\\"), b"\\");
    }

    #[test]
    fn malformed_lines() {
        let e = parse_mountinfo("\n22 27 0:21 / /proc rw proc proc rw\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.reason.contains("separator"), "{e}");
        assert!(parse_mountinfo("22 27 0-21 / /proc rw - proc proc rw\n").is_err());
        assert!(parse_mountinfo("x 27 0:21 / /proc rw - proc proc rw\n").is_err());
        assert!(parse_mountinfo("22 27 0:21 / /proc - proc proc rw\n").is_err());
        assert!(parse_mountinfo("22 27 0:21 / /proc rw - proc\n").is_err());
    }
}
