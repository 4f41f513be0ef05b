//! What can be wrong with a listener's files and flags.

use std::path::PathBuf;

/// Why a listener's guard cannot be built. Every variant names the flag and the file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("{flag} {}: cannot read: {source}", path.display())]
    Read {
        /// The flag naming the file.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file was read but is not what the flag needs.
    #[error("{flag} {}: {reason}", path.display())]
    Invalid {
        /// The flag naming the file.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// One line of a file is wrong.
    #[error("{flag} {} line {line}: {reason}", path.display())]
    Line {
        /// The flag naming the file.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// Flags that do not go together.
    #[error("{0}")]
    Flags(String),
}

/// This crate's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Reads `path` (at most `limit` bytes) for `flag`.
pub(crate) fn read_file(flag: &'static str, path: &std::path::Path, limit: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit + 1).read_to_end(&mut buf))
        .map_err(|source| Error::Read {
            flag,
            path: path.to_owned(),
            source,
        })?;
    if buf.len() as u64 > limit {
        return Err(Error::Invalid {
            flag,
            path: path.to_owned(),
            reason: format!("larger than {limit} bytes"),
        });
    }
    Ok(buf)
}
