//! The store's errors. Each names the file, the offset and the part or field concerned, so a
//! log line or an HTTP error says where to look.

use std::path::PathBuf;

use crate::codec::DecodeError;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call on a file or directory failed.
    #[error("{}: {op}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done (`open`, `write`, `fsync`, ...).
        op: &'static str,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// The file does not start with the magic of the kind of file expected.
    #[error("{}: not a crowsnest {expected} file (bad magic)", path.display())]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// `segment`, `wal` or `series log`.
        expected: &'static str,
    },
    /// The file was written by a format version this build does not read.
    #[error("{}: format version {found}, this build reads version {supported}", path.display())]
    Version {
        /// The file.
        path: PathBuf,
        /// The version in the file.
        found: u16,
        /// The version this build reads.
        supported: u16,
    },
    /// A record's stored checksum does not match its bytes.
    #[error(
        "{}: offset {offset}: {part}: crc mismatch (stored {stored:#010x}, computed {computed:#010x})",
        path.display()
    )]
    Crc {
        /// The file.
        path: PathBuf,
        /// Byte offset of the record.
        offset: u64,
        /// What the record is (`file header`, `chunk page`, `block index`, ...).
        part: &'static str,
        /// The checksum stored in the file.
        stored: u32,
        /// The checksum of the bytes read.
        computed: u32,
    },
    /// Bytes that cannot be what they should be.
    #[error("{}: offset {offset}: {part}: {field}: {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// Byte offset of the record (or region) concerned.
        offset: u64,
        /// What the record is.
        part: &'static str,
        /// Which field.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Another process (or another `Store` in this one) has the directory open.
    #[error("{}: another store has this directory open", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// A query would return more points than the store's bound
    /// ([`crate::Store::set_query_max_points`]); nothing was returned.
    #[error(
        "the query would return more than {limit} points (the query limit); ask for a shorter time range, a coarser step or fewer series"
    )]
    QueryTooLarge {
        /// The bound.
        limit: u64,
    },
    /// The configuration cannot work.
    #[error("store config: {field}: {reason}")]
    Config {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
}

/// `Result` with the store's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, op: &'static str, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            op,
            source,
        }
    }

    pub(crate) fn malformed(
        path: impl Into<PathBuf>,
        offset: u64,
        part: &'static str,
        e: DecodeError,
    ) -> Self {
        Error::Malformed {
            path: path.into(),
            offset,
            part,
            field: e.field,
            reason: e.reason,
        }
    }
}
