use std::time::{Duration, Instant};

use super::*;
use crate::runtime::fake::{Answer, FakeRuntime};

const T: Duration = Duration::from_secs(2);

fn client(f: &FakeRuntime, timeout: Duration) -> UnixHttp {
    UnixHttp::new(f.socket(), "docker", timeout)
}

#[test]
fn content_length_body() {
    let f = FakeRuntime::start(vec![("/a", Answer::json(200, r#"{"Id":"x"}"#))]);
    let r = client(&f, T).get("/a").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, br#"{"Id":"x"}"#);
    let r = client(&f, T).get("/nope").unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(f.asked(), ["/a", "/nope"]);
}

#[test]
fn chunked_body_in_pieces_with_pauses() {
    let ms = Duration::from_millis(30);
    let answer = Answer(vec![
        (
            Duration::ZERO,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n".to_vec(),
        ),
        (ms, b"\r\n5\r\nhel".to_vec()),
        (ms, b"lo\r\n6;ext=1\r\n world\r".to_vec()),
        (ms, b"\n0\r\nX-Trailer: y\r\n\r\n".to_vec()),
    ]);
    let f = FakeRuntime::start(vec![("/c", answer)]);
    let r = client(&f, T).get("/c").unwrap();
    assert_eq!(String::from_utf8(r.body).unwrap(), "hello world");
}

#[test]
fn chunked_decoder_accepts_every_split() {
    let wire = b"4\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n";
    for split in 0..wire.len() {
        let mut c = Chunked::default();
        let (mut raw, mut out) = (wire[..split].to_vec(), Vec::new());
        let done = c.decode(&mut raw, &mut out).unwrap();
        assert!(!done || split == wire.len());
        raw.extend_from_slice(&wire[split..]);
        assert!(c.decode(&mut raw, &mut out).unwrap(), "split {split}");
        assert_eq!(out, b"Wikipedia in\r\n\r\nchunks.");
    }
    let mut raw = b"zz\r\n".to_vec();
    assert!(
        Chunked::default()
            .decode(&mut raw, &mut Vec::new())
            .is_err()
    );
}

#[test]
fn body_until_close() {
    let f = FakeRuntime::start(vec![(
        "/u",
        Answer::now("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it"),
    )]);
    assert_eq!(client(&f, T).get("/u").unwrap().body, b"all of it");
}

#[test]
fn a_silent_runtime_times_out_within_the_bound() {
    let f = FakeRuntime::start(vec![("/slow", Answer::silent(Duration::from_secs(30)))]);
    let started = Instant::now();
    let e = client(&f, Duration::from_millis(300))
        .get("/slow")
        .unwrap_err();
    let took = started.elapsed();
    assert!(matches!(e, Error::Timeout { .. }), "{e}");
    assert!(e.is_unreachable());
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert!(
        e.to_string().contains("/slow") && e.to_string().contains("runtime.sock"),
        "{e}"
    );
}

#[test]
fn a_trickling_runtime_is_cut_at_the_deadline() {
    let mut pieces = vec![(
        Duration::ZERO,
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n".to_vec(),
    )];
    pieces.extend((0..200).map(|_| (Duration::from_millis(10), b"x".to_vec())));
    let f = FakeRuntime::start(vec![("/trickle", Answer(pieces))]);
    let started = Instant::now();
    let e = client(&f, Duration::from_millis(300))
        .get("/trickle")
        .unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e}");
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn a_missing_socket_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let e = UnixHttp::new(dir.path().join("none.sock"), "docker", T)
        .get("/x")
        .unwrap_err();
    assert!(matches!(e, Error::Connect { .. }), "{e}");
    assert!(e.to_string().contains("none.sock"), "{e}");
}

#[test]
fn oversized_and_malformed_answers_are_refused() {
    let f = FakeRuntime::start(vec![
        (
            "/big",
            Answer::now(format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                MAX_BODY + 1
            )),
        ),
        ("/junk", Answer::now("SSH-2.0-OpenSSH\r\n\r\n")),
        (
            "/cut",
            Answer::now("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"),
        ),
    ]);
    for path in ["/big", "/junk", "/cut"] {
        let e = client(&f, T).get(path).unwrap_err();
        assert!(matches!(e, Error::Protocol { .. }), "{path}: {e}");
    }
}

#[test]
fn a_stream_delivers_pieces_and_reports_quiet_periods() {
    let answer = Answer(vec![
        (
            Duration::ZERO,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
        ),
        (Duration::from_millis(20), b"3\r\nabc\r\n".to_vec()),
        (Duration::from_millis(400), b"2\r\nde\r\n0\r\n\r\n".to_vec()),
    ]);
    let f = FakeRuntime::start(vec![("/events", answer)]);
    let mut s = client(&f, T).stream("/events").unwrap();
    assert_eq!(s.status(), 200);
    let mut got = Vec::new();
    let mut quiet = 0;
    let started = Instant::now();
    let end = loop {
        assert!(started.elapsed() < Duration::from_secs(5));
        match s.poll(Duration::from_millis(100)) {
            Ok(true) => got.append(s.buffer()),
            Ok(false) => quiet += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(got, b"abcde");
    assert!(quiet >= 2, "the 400 ms pause shows as quiet polls: {quiet}");
    assert!(end.to_string().contains("ended"), "{end}");
}
