//! Errors of the collector. Each names the file and what was wrong with it.

use std::path::PathBuf;

/// What went wrong while reading the kernel.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file had content we could not understand.
    #[error("cannot parse {path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the offending text.
        reason: String,
    },
    /// No cgroup hierarchy was found under the root.
    #[error("no cgroup hierarchy found under {root}: {reason}")]
    NoCgroups {
        /// The configured cgroup root.
        root: PathBuf,
        /// What was looked for.
        reason: String,
    },
    /// The cgroup no longer exists (removed while we held it).
    #[error("cgroup {name} is gone")]
    Gone {
        /// The container name.
        name: String,
    },
    /// inotify could not be set up.
    #[error("cannot watch {path}: {source}")]
    Watch {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Result with the collector's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn parse(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Parse {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
