//! The open-file limit: the readers hold about 16 descriptors per container.

/// The soft limit of open files.
pub(super) fn open_file_limit() -> Option<usize> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    usize::try_from(lim.rlim_cur).ok()
}

/// Open files the agent asks for: enough to hold every file of a few thousand containers.
const WANTED_OPEN_FILES: u64 = 1 << 16;

/// Raises the limit of open files: the agent holds about 16 descriptors per container, and the
/// default soft limit of 1,024 runs out near sixty containers. The soft limit goes up to the
/// hard limit, and both to [`WANTED_OPEN_FILES`] when the process may (root). Returns the new
/// soft limit.
pub fn raise_fd_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    if lim.rlim_max < WANTED_OPEN_FILES {
        let want = libc::rlimit {
            rlim_cur: WANTED_OPEN_FILES,
            rlim_max: WANTED_OPEN_FILES,
        };
        // SAFETY: `want` is a valid rlimit; raising the hard limit fails without privilege.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } == 0 {
            return Some(WANTED_OPEN_FILES);
        }
    }
    if lim.rlim_cur < lim.rlim_max {
        let want = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: `want` is a valid rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } == 0 {
            return Some(want.rlim_cur);
        }
    }
    Some(lim.rlim_cur)
}
