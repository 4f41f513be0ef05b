//! A fake runtime for tests: an HTTP server on a unix socket in a temp dir that answers each
//! path with recorded bytes, optionally in pieces with pauses, and records what was asked.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One answer: pieces written with a pause before each.
#[derive(Debug, Clone)]
pub(crate) struct Answer(pub(crate) Vec<(Duration, Vec<u8>)>);

impl Answer {
    /// A whole response at once.
    pub(crate) fn now(bytes: impl Into<Vec<u8>>) -> Answer {
        Answer(vec![(Duration::ZERO, bytes.into())])
    }

    /// `200 OK` with a JSON body and Content-Length.
    pub(crate) fn json(status: u16, body: &str) -> Answer {
        Answer::now(format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ))
    }

    /// Never answers (holds the connection for `hold`).
    pub(crate) fn silent(hold: Duration) -> Answer {
        Answer(vec![(hold, Vec::new())])
    }
}

/// The fake server; stops and removes its socket on drop.
pub(crate) struct FakeRuntime {
    dir: tempfile::TempDir,
    socket: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    asked: Arc<Mutex<Vec<String>>>,
}

impl FakeRuntime {
    /// Serves `routes` (path with query → answer); other paths get 404.
    pub(crate) fn start(routes: Vec<(&str, Answer)>) -> FakeRuntime {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("runtime.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        listener.set_nonblocking(true).unwrap();
        let routes: HashMap<String, Answer> =
            routes.into_iter().map(|(p, a)| (p.to_owned(), a)).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let asked = Arc::new(Mutex::new(Vec::new()));
        let (stop2, asked2) = (stop.clone(), asked.clone());
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut workers = Vec::new();
            while !stop2.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(120) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (routes, asked, stop) = (routes.clone(), asked2.clone(), stop2.clone());
                        workers.push(std::thread::spawn(move || {
                            serve(conn, &routes, &asked, &stop)
                        }));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            for w in workers {
                let _ = w.join();
            }
        });
        FakeRuntime {
            dir,
            socket,
            stop,
            thread: Some(thread),
            asked,
        }
    }

    pub(crate) fn socket(&self) -> &Path {
        &self.socket
    }

    /// The request paths received so far.
    pub(crate) fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }

    #[allow(dead_code, reason = "kept for tests that need the directory")]
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for FakeRuntime {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    mut conn: UnixStream,
    routes: &HashMap<String, Answer>,
    asked: &Mutex<Vec<String>>,
    stop: &AtomicBool,
) {
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 65536 {
        match conn.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let text = String::from_utf8_lossy(&head);
    let path = text.split(' ').nth(1).unwrap_or_default().to_owned();
    asked.lock().unwrap().push(path.clone());
    let answer = routes
        .get(&path)
        .cloned()
        .unwrap_or_else(|| Answer::json(404, r#"{"message":"no such container"}"#));
    for (pause, bytes) in answer.0 {
        let until = Instant::now() + pause;
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(5));
        }
        if stop.load(Ordering::Relaxed) || conn.write_all(&bytes).is_err() {
            return;
        }
    }
}
