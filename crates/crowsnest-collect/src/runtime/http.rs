//! A small blocking HTTP/1.1 client over a unix socket, enough for the runtimes' local APIs
//! (Docker and Podman Engine API, CRI-O's info endpoint): `GET` only, `Content-Length`,
//! chunked and read-to-close bodies, and a long-lived chunked stream for `/events`.
//!
//! Every wait is bounded: connecting, writing and reading share one deadline per request
//! ([`UnixHttp::timeout`]), bodies are capped at [`MAX_BODY`], headers at [`MAX_HEAD`]. A
//! stream waits at most its poll timeout per [`EventStream::poll`].

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{Error, Result};

/// Largest response body accepted (an inspect answer is a few KiB).
pub const MAX_BODY: usize = 8 << 20;

/// Largest status line plus headers accepted.
pub const MAX_HEAD: usize = 64 << 10;

/// A response: status code and the whole (de-chunked) body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

/// A client of one unix socket.
#[derive(Debug, Clone)]
pub struct UnixHttp {
    socket: PathBuf,
    host: &'static str,
    timeout: Duration,
}

impl UnixHttp {
    /// A client of `socket` sending `Host: <host>`, each request bounded by `timeout`.
    pub fn new(socket: impl Into<PathBuf>, host: &'static str, timeout: Duration) -> Self {
        UnixHttp {
            socket: socket.into(),
            host,
            timeout,
        }
    }

    /// The socket path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The bound of one request.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn connect(&self, path: &str, deadline: Instant) -> Result<UnixStream> {
        let stream = UnixStream::connect(&self.socket).map_err(|source| Error::Connect {
            socket: self.socket.clone(),
            source,
        })?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: crowsnest/{}\r\nAccept: application/json\r\n\r\n",
            self.host,
            env!("CARGO_PKG_VERSION")
        );
        set_timeouts(&stream, deadline).map_err(|e| self.io(path, e))?;
        (&stream)
            .write_all(request.as_bytes())
            .map_err(|e| self.io(path, e))?;
        Ok(stream)
    }

    fn io(&self, path: &str, source: io::Error) -> Error {
        if is_timeout(&source) {
            Error::Timeout {
                socket: self.socket.clone(),
                path: path.to_owned(),
                after: self.timeout,
            }
        } else {
            Error::Io {
                socket: self.socket.clone(),
                path: path.to_owned(),
                source,
            }
        }
    }

    fn protocol(&self, path: &str, reason: impl Into<String>) -> Error {
        Error::Protocol {
            socket: self.socket.clone(),
            path: path.to_owned(),
            reason: reason.into(),
        }
    }

    /// `GET path`: the status and whole body, within the timeout.
    pub fn get(&self, path: &str) -> Result<Response> {
        let deadline = Instant::now() + self.timeout;
        let mut stream = self.connect(path, deadline)?;
        let mut conn = Conn::default();
        let head = loop {
            if let Some(head) = conn.take_head().map_err(|r| self.protocol(path, r))? {
                break head;
            }
            if conn
                .fill(&mut stream, deadline)
                .map_err(|e| self.io(path, e))?
                == 0
            {
                return Err(self.protocol(path, "connection closed before the headers ended"));
            }
        };
        let mut body = Vec::new();
        let mut framing = head.framing;
        loop {
            let done = framing
                .decode(&mut conn.raw, &mut body)
                .map_err(|r| self.protocol(path, r))?;
            if body.len() > MAX_BODY {
                return Err(self.protocol(path, format!("body larger than {MAX_BODY} bytes")));
            }
            if done {
                break;
            }
            if conn
                .fill(&mut stream, deadline)
                .map_err(|e| self.io(path, e))?
                == 0
            {
                if matches!(framing, Framing::UntilClose) {
                    break;
                }
                return Err(self.protocol(path, "connection closed in the middle of the body"));
            }
        }
        Ok(Response {
            status: head.status,
            body,
        })
    }

    /// `GET path` for a response that streams (`/events`): returns once the headers are in
    /// (within the timeout), with a status check left to the caller; the body is read with
    /// [`EventStream::poll`].
    pub fn stream(&self, path: &str) -> Result<EventStream> {
        let deadline = Instant::now() + self.timeout;
        let mut stream = self.connect(path, deadline)?;
        let mut conn = Conn::default();
        let head = loop {
            if let Some(head) = conn.take_head().map_err(|r| self.protocol(path, r))? {
                break head;
            }
            if conn
                .fill(&mut stream, deadline)
                .map_err(|e| self.io(path, e))?
                == 0
            {
                return Err(self.protocol(path, "connection closed before the headers ended"));
            }
        };
        Ok(EventStream {
            client: self.clone(),
            path: path.to_owned(),
            stream,
            conn,
            status: head.status,
            framing: head.framing,
            body: Vec::new(),
            ended: false,
        })
    }
}

/// An open streaming response: the de-chunked body arrives piece by piece.
#[derive(Debug)]
pub struct EventStream {
    client: UnixHttp,
    path: String,
    stream: UnixStream,
    conn: Conn,
    status: u16,
    framing: Framing,
    /// Body bytes received and not taken yet.
    body: Vec<u8>,
    ended: bool,
}

impl EventStream {
    /// The response's status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Body bytes received and not consumed yet; the caller drains what it has parsed.
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.body
    }

    /// Waits at most `wait` for more of the body. `Ok(true)` when bytes arrived (or were
    /// already buffered), `Ok(false)` when nothing came in time; an error when the stream
    /// ended or broke: reconnect.
    pub fn poll(&mut self, wait: Duration) -> Result<bool> {
        let before = self.body.len();
        let done = self
            .framing
            .decode(&mut self.conn.raw, &mut self.body)
            .map_err(|r| self.client.protocol(&self.path, r))?;
        if self.body.len() > MAX_BODY {
            return Err(self
                .client
                .protocol(&self.path, "unparsed stream data over the cap"));
        }
        if self.body.len() > before {
            return Ok(true);
        }
        if done || self.ended {
            return Err(self.client.protocol(&self.path, "the stream ended"));
        }
        match self.conn.fill(&mut self.stream, Instant::now() + wait) {
            Ok(0) => {
                self.ended = true;
                if matches!(self.framing, Framing::UntilClose) {
                    return Ok(false);
                }
                Err(self.client.protocol(&self.path, "the stream ended"))
            }
            Ok(_) => {
                let done = self
                    .framing
                    .decode(&mut self.conn.raw, &mut self.body)
                    .map_err(|r| self.client.protocol(&self.path, r))?;
                self.ended |= done;
                Ok(self.body.len() > before)
            }
            Err(e) if is_timeout(&e) => Ok(false),
            Err(e) => Err(self.client.io(&self.path, e)),
        }
    }
}

/// Raw bytes read from the socket and not decoded yet.
#[derive(Debug, Default)]
struct Conn {
    raw: Vec<u8>,
}

/// The status line and headers that matter.
#[derive(Debug)]
struct Head {
    status: u16,
    framing: Framing,
}

impl Conn {
    /// Reads what is there (at most 64 KiB), waiting until `deadline`. Returns the number of
    /// bytes read, 0 at end of stream.
    fn fill(&mut self, stream: &mut UnixStream, deadline: Instant) -> io::Result<usize> {
        if Instant::now() >= deadline {
            return Err(io::ErrorKind::TimedOut.into());
        }
        set_timeouts(stream, deadline)?;
        let mut chunk = [0u8; 64 << 10];
        loop {
            match stream.read(&mut chunk) {
                Ok(n) => {
                    self.raw.extend_from_slice(&chunk[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    if Instant::now() >= deadline {
                        return Err(io::ErrorKind::TimedOut.into());
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The head, once it is complete, removed from the raw bytes.
    fn take_head(&mut self) -> Result<Option<Head>, String> {
        let Some(end) = find(&self.raw, b"\r\n\r\n") else {
            if self.raw.len() > MAX_HEAD {
                return Err(format!("headers longer than {MAX_HEAD} bytes"));
            }
            return Ok(None);
        };
        let text = std::str::from_utf8(&self.raw[..end]).map_err(|_| "headers are not UTF-8")?;
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.splitn(3, ' ');
        let (version, code) = (parts.next(), parts.next());
        if !version.is_some_and(|v| v.starts_with("HTTP/1.")) {
            return Err(format!("not an HTTP/1 response: {status_line:?}"));
        }
        let status = code
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("bad status line {status_line:?}"))?;
        let mut framing = Framing::UntilClose;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("transfer-encoding")
                && value.to_ascii_lowercase().contains("chunked")
            {
                framing = Framing::Chunked(Chunked::default());
            } else if name.eq_ignore_ascii_case("content-length")
                && !matches!(framing, Framing::Chunked(_))
            {
                let len: usize = value
                    .parse()
                    .map_err(|_| format!("bad Content-Length {value:?}"))?;
                if len > MAX_BODY {
                    return Err(format!("Content-Length {len} over the cap of {MAX_BODY}"));
                }
                framing = Framing::Length(len);
            }
        }
        if status == 204 || status == 304 {
            framing = Framing::Length(0);
        }
        self.raw.drain(..end + 4);
        Ok(Some(Head { status, framing }))
    }
}

/// How the body is delimited.
#[derive(Debug)]
enum Framing {
    /// This many bytes are still to come.
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked(Chunked),
    /// Until the server closes.
    UntilClose,
}

impl Framing {
    /// Moves body bytes from `raw` into `out`. Returns whether the body is complete.
    fn decode(&mut self, raw: &mut Vec<u8>, out: &mut Vec<u8>) -> Result<bool, String> {
        match self {
            Framing::Length(left) => {
                let n = (*left).min(raw.len());
                out.extend_from_slice(&raw[..n]);
                raw.drain(..n);
                *left -= n;
                Ok(*left == 0)
            }
            Framing::Chunked(c) => c.decode(raw, out),
            Framing::UntilClose => {
                out.append(raw);
                Ok(false)
            }
        }
    }
}

/// A resumable decoder of the chunked transfer coding: any split of the input works.
#[derive(Debug, Default)]
struct Chunked {
    state: ChunkState,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Expecting a size line.
    #[default]
    Size,
    /// In chunk data, this many bytes left.
    Data(usize),
    /// Expecting the CRLF after chunk data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one.
    Trailer,
    /// Complete.
    Done,
}

/// Longest chunk size or trailer line accepted.
const MAX_LINE: usize = 4096;

impl Chunked {
    fn decode(&mut self, raw: &mut Vec<u8>, out: &mut Vec<u8>) -> Result<bool, String> {
        let mut pos = 0;
        let result = loop {
            match self.state {
                ChunkState::Done => break Ok(true),
                ChunkState::Size | ChunkState::Trailer => {
                    let Some(len) = find(&raw[pos..], b"\r\n") else {
                        if raw.len() - pos > MAX_LINE {
                            break Err("chunk size line too long".to_owned());
                        }
                        break Ok(false);
                    };
                    let line = &raw[pos..pos + len];
                    pos += len + 2;
                    if self.state == ChunkState::Trailer {
                        if line.is_empty() {
                            self.state = ChunkState::Done;
                        }
                        continue;
                    }
                    let text = std::str::from_utf8(line).map_err(|_| "chunk size not UTF-8")?;
                    let hex = text.split(';').next().unwrap_or_default().trim();
                    let size = usize::from_str_radix(hex, 16)
                        .map_err(|_| format!("bad chunk size {text:?}"))?;
                    if size > MAX_BODY {
                        break Err(format!("chunk of {size} bytes over the cap"));
                    }
                    self.state = if size == 0 {
                        ChunkState::Trailer
                    } else {
                        ChunkState::Data(size)
                    };
                }
                ChunkState::Data(left) => {
                    let n = left.min(raw.len() - pos);
                    if n == 0 {
                        break Ok(false);
                    }
                    out.extend_from_slice(&raw[pos..pos + n]);
                    pos += n;
                    self.state = if n == left {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left - n)
                    };
                }
                ChunkState::DataEnd => {
                    if raw.len() - pos < 2 {
                        break Ok(false);
                    }
                    if &raw[pos..pos + 2] != b"\r\n" {
                        break Err("chunk data not followed by CRLF".to_owned());
                    }
                    pos += 2;
                    self.state = ChunkState::Size;
                }
            }
        };
        raw.drain(..pos);
        result
    }
}

/// Decodes a whole response held in memory, received in pieces of at most `piece` bytes (0:
/// one piece), the way [`UnixHttp::get`] does: the status and the body, or what is wrong. For
/// the fuzz targets in `fuzz/`.
#[doc(hidden)]
pub fn decode_response(bytes: &[u8], piece: usize) -> Result<(u16, Vec<u8>), String> {
    let piece = if piece == 0 {
        bytes.len().max(1)
    } else {
        piece
    };
    let mut pieces = bytes.chunks(piece);
    let mut conn = Conn::default();
    let head = loop {
        if let Some(head) = conn.take_head()? {
            break head;
        }
        let Some(p) = pieces.next() else {
            return Err("connection closed before the headers ended".to_owned());
        };
        conn.raw.extend_from_slice(p);
    };
    let mut body = Vec::new();
    let mut framing = head.framing;
    loop {
        let done = framing.decode(&mut conn.raw, &mut body)?;
        if body.len() > MAX_BODY {
            return Err(format!("body larger than {MAX_BODY} bytes"));
        }
        if done {
            break;
        }
        let Some(p) = pieces.next() else {
            if matches!(framing, Framing::UntilClose) {
                break;
            }
            return Err("connection closed in the middle of the body".to_owned());
        };
        conn.raw.extend_from_slice(p);
    }
    Ok((head.status, body))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Sets the socket's read and write timeouts to the time left until `deadline` (at least
/// 1 ms: a zero timeout means "block forever" to the OS).
fn set_timeouts(stream: &UnixStream, deadline: Instant) -> io::Result<()> {
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    stream.set_read_timeout(Some(left))?;
    stream.set_write_timeout(Some(left))
}

#[cfg(test)]
mod tests;
