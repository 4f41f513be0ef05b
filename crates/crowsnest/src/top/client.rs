//! A small blocking HTTP/1.1 client for `crowsnest top`: `GET` over plain TCP with one
//! deadline per request, `Content-Length`, chunked or read-to-close bodies, capped sizes.
//! `top` asks one agent or hub a few small questions a second; it needs nothing more.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The largest body accepted (an agent with thousands of containers answers a few MiB).
const MAX_BODY: usize = 256 << 20;

/// Where the agent or hub is: `http://host:port/prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    host: String,
    port: u16,
    /// The path prefix without a trailing slash (`""` or `/monitor`).
    prefix: String,
    /// Sent as `Authorization: Bearer` (`--token-file`), for an agent or hub that asks for one.
    token: Option<String>,
}

/// A status and a body.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

impl Endpoint {
    /// Parses `http://host[:port][/prefix]` (port 80 by default). `https` is refused with a
    /// reason.
    pub(crate) fn parse(url: &str) -> anyhow::Result<Endpoint> {
        let rest = if let Some(r) = url.strip_prefix("http://") {
            r
        } else if url.starts_with("https://") {
            bail!(
                "--url {url}: https is not supported; reach the agent over http (e.g. through a local tunnel)"
            );
        } else if url.contains("://") {
            bail!("--url {url}: only http:// URLs are supported");
        } else {
            url
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.is_empty() {
            bail!("--url {url}: no host");
        }
        let (host, port_text) = if let Some(r) = authority.strip_prefix('[') {
            let (h, after) = r
                .split_once(']')
                .with_context(|| format!("--url {url}: no closing ] after the IPv6 address"))?;
            (h, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        let port = match port_text {
            Some(p) => p
                .parse::<u16>()
                .with_context(|| format!("--url {url}: port {p:?} is not a number"))?,
            None => 80,
        };
        if host.is_empty() {
            bail!("--url {url}: no host");
        }
        let prefix = path.trim_end_matches('/').to_owned();
        Ok(Endpoint {
            host: host.to_owned(),
            port,
            prefix,
            token: None,
        })
    }

    /// The same endpoint, sending `token` as a bearer token with every request.
    pub(crate) fn with_token(mut self, token: String) -> Endpoint {
        self.token = Some(token);
        self
    }

    /// `http://host:port/prefix`, as shown to the user.
    pub(crate) fn display(&self) -> String {
        if self.host.contains(':') {
            format!("http://[{}]:{}{}", self.host, self.port, self.prefix)
        } else {
            format!("http://{}:{}{}", self.host, self.port, self.prefix)
        }
    }

    /// `GET <prefix><path_and_query>`, all of it within `timeout`.
    pub(crate) fn get(&self, path_and_query: &str, timeout: Duration) -> anyhow::Result<Response> {
        let deadline = Instant::now() + timeout;
        let addrs: Vec<SocketAddr> = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .with_context(|| format!("resolve {}", self.host))?
            .collect();
        let mut last = None;
        let mut stream = None;
        for a in addrs {
            match TcpStream::connect_timeout(&a, remaining(deadline)?) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let Some(mut stream) = stream else {
            return Err(match last {
                Some(e) => anyhow::Error::new(e),
                None => anyhow::anyhow!("no address"),
            })
            .with_context(|| format!("connect to {}", self.display()));
        };
        stream.set_nodelay(true).ok();
        stream.set_write_timeout(Some(remaining(deadline)?))?;
        let host = if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        };
        let auth = self
            .token
            .as_ref()
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let req = format!(
            "GET {}{} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: crowsnest-top\r\nAccept: */*\r\n{auth}Connection: close\r\n\r\n",
            self.prefix, path_and_query
        );
        stream.write_all(req.as_bytes())?;
        let mut reader = BufReader::new(Deadlined { stream, deadline });
        read_response(&mut reader)
            .with_context(|| format!("GET {}{path_and_query}", self.display()))
    }
}

fn remaining(deadline: Instant) -> anyhow::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        bail!("timed out");
    }
    Ok(left)
}

/// A stream whose every read is bounded by what is left of one deadline.
struct Deadlined {
    stream: TcpStream,
    deadline: Instant,
}

impl Read for Deadlined {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "timed out",
            ));
        }
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf)
    }
}

/// Reads a status line, headers and the body from `r`.
pub(crate) fn read_response<R: BufRead>(r: &mut R) -> anyhow::Result<Response> {
    let mut line = String::new();
    r.read_line(&mut line).context("read the status line")?;
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .with_context(|| format!("not an HTTP answer: {:?}", line.trim_end()))?;
    let mut length: Option<usize> = None;
    let mut chunked = false;
    loop {
        line.clear();
        if r.read_line(&mut line).context("read a header")? == 0 {
            bail!("connection closed in the headers");
        }
        let h = line.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let (k, v) = (k.trim(), v.trim());
            if k.eq_ignore_ascii_case("content-length") {
                length = Some(v.parse().context("Content-Length")?);
            } else if k.eq_ignore_ascii_case("transfer-encoding")
                && v.to_ascii_lowercase().contains("chunked")
            {
                chunked = true;
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line).context("read a chunk size")?;
            let size_text = line.trim_end().split(';').next().unwrap_or("");
            let size = usize::from_str_radix(size_text.trim(), 16)
                .with_context(|| format!("chunk size {size_text:?}"))?;
            if size == 0 {
                break;
            }
            if body.len() + size > MAX_BODY {
                bail!("answer larger than {MAX_BODY} bytes");
            }
            let at = body.len();
            body.resize(at + size, 0);
            r.read_exact(&mut body[at..]).context("read a chunk")?;
            line.clear();
            r.read_line(&mut line).context("read a chunk end")?;
        }
    } else if let Some(n) = length {
        if n > MAX_BODY {
            bail!("answer larger than {MAX_BODY} bytes");
        }
        body.resize(n, 0);
        r.read_exact(&mut body).context("read the body")?;
    } else {
        r.take(MAX_BODY as u64 + 1)
            .read_to_end(&mut body)
            .context("read the body")?;
        if body.len() > MAX_BODY {
            bail!("answer larger than {MAX_BODY} bytes");
        }
    }
    Ok(Response { status, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_into_host_port_and_prefix() {
        let e = Endpoint::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.prefix.as_str()),
            ("127.0.0.1", 8080, "")
        );
        let e = Endpoint::parse("http://node-a/monitor/").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.prefix.as_str()),
            ("node-a", 80, "/monitor")
        );
        let e = Endpoint::parse("localhost:8082").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("localhost", 8082));
        let e = Endpoint::parse("http://[::1]:9000/x").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.prefix.as_str()),
            ("::1", 9000, "/x")
        );
        assert_eq!(e.display(), "http://[::1]:9000/x");
        assert!(
            Endpoint::parse("https://a:1")
                .unwrap_err()
                .to_string()
                .contains("https is not supported")
        );
        assert!(Endpoint::parse("http://a:x").is_err());
        assert!(Endpoint::parse("http://").is_err());
    }

    #[test]
    fn bodies_by_length_by_chunks_and_to_close() {
        let mut r = &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloextra"[..];
        let resp = read_response(&mut r).unwrap();
        assert_eq!((resp.status, resp.body.as_slice()), (200, &b"hello"[..]));
        let mut r =
            &b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=1\r\nde\r\n0\r\n\r\n"[..];
        let resp = read_response(&mut r).unwrap();
        assert_eq!((resp.status, resp.body.as_slice()), (404, &b"abcde"[..]));
        let mut r = &b"HTTP/1.0 200 OK\r\n\r\nto the end"[..];
        assert_eq!(read_response(&mut r).unwrap().body, b"to the end");
        let mut r = &b"SSH-2.0-OpenSSH\r\n"[..];
        assert!(read_response(&mut r).is_err());
    }
}
