//! The hub's errors. Each variant names what it is about: the file and line, the field, the
//! node and its address.

use std::path::PathBuf;

/// A hub error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A sink could not start (its queue directory, most often).
    #[error("cannot start sinks: {0}")]
    Sinks(#[from] crowsnest_sinks::SinkError),
    /// A TLS or authentication file (of the listener or toward agents) could not be used.
    #[error(transparent)]
    Guard(#[from] crowsnest_serve::Error),
    /// A `--source` URI the hub does not understand.
    #[error("--source {uri:?}: {reason}")]
    SourceUri {
        /// The URI as given.
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `--node` entry that is not `NAME=HOST:PORT`.
    #[error("--node {entry:?}: {reason}")]
    NodeEntry {
        /// The entry as given.
        entry: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The hosts file could not be read.
    #[error("hosts file {}: {source}", path.display())]
    HostsFileRead {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The hosts file is larger than the hub reads.
    #[error("hosts file {}: {size} bytes is more than the {limit} bytes the hub reads", path.display())]
    HostsFileTooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The hosts file is not the JSON the hub expects, or an entry in it is wrong.
    #[error("hosts file {}: line {line}, column {column}: {field}: {reason}", path.display())]
    HostsFileSyntax {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// The field, e.g. `items[2].ip` (or `document` when the JSON itself is broken).
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A scrape of a node failed.
    #[error("node {node} ({url}): {reason}")]
    Scrape {
        /// The node's name.
        node: String,
        /// The URL asked.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The model's store could not be opened.
    #[error("model store in {}: {reason}", dir.display())]
    ModelStore {
        /// Its directory.
        dir: PathBuf,
        /// Why.
        reason: String,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The HTTP server failed.
    #[error("HTTP server failed: {0}")]
    Serve(std::io::Error),
}

/// The hub's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
