//! Authentication and TLS on the real binary, on 127.0.0.1: bearer tokens and htpasswd (basic)
//! on every route but `/healthz`, token files rewritten while running, TLS with a CA made here
//! at run time (rcgen), mutual TLS, certificate reload, and a hub that reaches a mutual-TLS
//! agent with a token, its CA and its own client certificate while a hub without the token
//! is refused.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64_free::basic;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use reqwest::blocking::{Client, Response};
use serde_json::Value;

/// A child process killed (and reaped) on drop.
struct Proc {
    child: Child,
    name: &'static str,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    fn assert_running(&mut self) {
        if let Ok(Some(st)) = self.child.try_wait() {
            panic!("{} exited early: {st}", self.name);
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(secs) {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out after {secs} s waiting for {what}");
}

/// Starts `crowsnest ARGS` and waits until `ready` (given the process) says it answers.
fn start(name: &'static str, args: &[String], mut ready: impl FnMut() -> bool) -> Proc {
    let child = Command::new(env!("CARGO_BIN_EXE_crowsnest"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start crowsnest");
    let mut p = Proc { child, name };
    wait_for(&format!("{name} to answer /healthz"), 30, || {
        p.assert_running();
        ready()
    });
    p
}

fn agent_args(port: u16, extra: &[String]) -> Vec<String> {
    let mut a = vec![
        "agent".to_owned(),
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "--housekeeping-interval".into(),
        "500ms".into(),
        "--store-dir=".into(),
        "--docker=".into(),
        "--podman=".into(),
    ];
    a.extend_from_slice(extra);
    a
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// `Basic base64(user:password)`, written out here so the test needs no base64 crate.
mod base64_free {
    pub(super) fn basic(user: &str, password: &str) -> String {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let input = format!("{user}:{password}").into_bytes();
        let mut out = String::new();
        for chunk in input.chunks(3) {
            let b = [
                chunk[0],
                chunk.get(1).copied().unwrap_or(0),
                chunk.get(2).copied().unwrap_or(0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        format!("Basic {out}")
    }
}

/// A GET with an optional `Authorization`: (status, WWW-Authenticate values, body); status
/// 0 when the request failed (refused, TLS error).
fn get(client: &Client, url: &str, auth: Option<&str>) -> (u16, Vec<String>, String) {
    let mut req = client.get(url);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    match req.send() {
        Ok(r) => {
            let status = r.status().as_u16();
            let www = r
                .headers()
                .get_all("www-authenticate")
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect();
            (status, www, r.text().unwrap_or_default())
        }
        Err(_) => (0, Vec::new(), String::new()),
    }
}

fn plain_client() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A CA made for this test, and certificates it signs, written as PEM files in `dir`.
struct Pki {
    dir: tempfile::TempDir,
    ca: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its key.
struct Leaf {
    cert: PathBuf,
    key: PathBuf,
    der: Vec<u8>,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        Pki { dir, ca }
    }

    fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn ca_der(&self) -> Vec<u8> {
        self.ca.der().to_vec()
    }

    /// A server (`client == false`) or client certificate for 127.0.0.1 and `dns`, serial
    /// `serial`, written as `{file}.pem` and `{file}.key`.
    fn leaf(&self, file: &str, dns: &str, serial: u8, client: bool) -> Leaf {
        let mut p = CertificateParams::new(vec![dns.to_owned()]).unwrap();
        p.subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
        p.distinguished_name.push(DnType::CommonName, dns);
        p.serial_number = Some(SerialNumber::from_slice(&[serial]));
        p.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.ca).unwrap();
        let (cp, kp) = (
            self.dir.path().join(format!("{file}.pem")),
            self.dir.path().join(format!("{file}.key")),
        );
        std::fs::write(&cp, cert.pem()).unwrap();
        std::fs::write(&kp, key.serialize_pem()).unwrap();
        Leaf {
            cert: cp,
            key: kp,
            der: cert.der().to_vec(),
        }
    }
}

/// An HTTPS client trusting `ca_der` only, presenting `identity` when given.
fn tls_client(ca_der: &[u8], identity: Option<&Leaf>) -> Client {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(ca_der.to_vec())).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match identity {
        Some(l) => {
            let certs = CertificateDer::pem_file_iter(&l.cert)
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_file(&l.key).unwrap();
            builder.with_client_auth_cert(certs, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    Client::builder()
        .tls_backend_preconfigured(config)
        .tls_info(true)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// The DER of the certificate the server presented.
fn peer_cert(r: &Response) -> Vec<u8> {
    r.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .expect("TLS info with the peer's certificate")
        .to_vec()
}

/// The container list is real: the root container with stats.
fn assert_real_containers(body: &str) {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(v["name"], "/", "{body:.300}");
    assert!(
        v["stats"].as_array().is_some_and(|s| !s.is_empty()),
        "stats of /: {body:.300}"
    );
}

#[test]
fn tokens_and_htpasswd_guard_every_route_but_healthz() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(
        &tokens,
        "# agent tokens\n\nfirst-token-0123\nsecond-token-4567\n",
    )
    .unwrap();
    let htpasswd = dir.path().join("htpasswd");
    let hash = bcrypt::hash("correct horse", 5).unwrap();
    std::fs::write(&htpasswd, format!("# users\nadmin:{hash}\n")).unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = plain_client();
    let args = agent_args(
        port,
        &[
            "--auth-token-file".into(),
            s(&tokens),
            // cAdvisor's spelling.
            format!("--http_auth_file={}", s(&htpasswd)),
        ],
    );
    let _agent = start("agent", &args, || {
        get(&client, &format!("{base}/healthz"), None).0 == 200
    });
    for path in [
        "/api/v1.3/containers/",
        "/metrics",
        "/",
        "/api/v2.0/machine",
    ] {
        let (status, www, body) = get(&client, &format!("{base}{path}"), None);
        assert_eq!(status, 401, "{path}: {body}");
        assert_eq!(
            www,
            [
                "Bearer realm=\"crowsnest\"",
                "Basic realm=\"crowsnest\", charset=\"UTF-8\""
            ],
            "{path}"
        );
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"], "unauthorized: missing Authorization header");
    }
    let url = format!("{base}/api/v1.3/containers/");
    let good = "Bearer second-token-4567";
    wait_for("the root container's stats", 20, || {
        let (st, _, body) = get(&client, &url, Some(good));
        st == 200 && body.contains("\"stats\":[{")
    });
    let (st, _, body) = get(&client, &url, Some(good));
    assert_eq!(st, 200);
    assert_real_containers(&body);
    let (st, _, metrics) = get(
        &client,
        &format!("{base}/metrics"),
        Some("Bearer first-token-0123"),
    );
    assert_eq!(st, 200);
    assert!(
        metrics.contains("container_cpu_usage_seconds_total"),
        "{metrics:.300}"
    );
    let (st, _, body) = get(&client, &url, Some("Bearer second-token-456"));
    assert_eq!(st, 401);
    assert!(body.contains("bad token"), "{body}");

    // Basic auth: bcrypt verified (and remembered), a wrong password refused.
    let (st, _, body) = get(&client, &url, Some(&basic("admin", "correct horse")));
    assert_eq!(st, 200, "{body}");
    assert_real_containers(&body);
    let started = Instant::now();
    for _ in 0..20 {
        assert_eq!(
            get(&client, &url, Some(&basic("admin", "correct horse"))).0,
            200
        );
    }
    let per_request = started.elapsed() / 20;
    let (st, _, body) = get(&client, &url, Some(&basic("admin", "wrong horse")));
    assert_eq!(st, 401);
    assert!(body.contains("bad user or password"), "{body}");
    assert_eq!(
        get(&client, &url, Some(&basic("nobody", "correct horse"))).0,
        401
    );
    eprintln!("basic auth, remembered credentials: {per_request:?} per request");

    // The token file rewritten: the old token is refused and the new one accepted within
    // a few seconds; a file emptied keeps the last good set.
    std::fs::write(&tokens, "rotated-token-89ab\n").unwrap();
    wait_for("the rotated token to be accepted", 10, || {
        get(&client, &url, Some("Bearer rotated-token-89ab")).0 == 200
    });
    assert_eq!(get(&client, &url, Some(good)).0, 401, "old token refused");
    std::fs::write(&tokens, "# nothing\n").unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        get(&client, &url, Some("Bearer rotated-token-89ab")).0,
        200,
        "an emptied file keeps the last good tokens"
    );
    assert_eq!(get(&client, &format!("{base}/healthz"), None).0, 200);
}

#[test]
fn bad_security_flags_stop_the_start_with_the_flag_named() {
    let dir = tempfile::tempdir().unwrap();
    let md5 = dir.path().join("htpasswd");
    std::fs::write(&md5, "# x\nadmin:$apr1$abc$def\n").unwrap();
    let empty = dir.path().join("tokens");
    std::fs::write(&empty, "# none\n").unwrap();
    let port = free_port().to_string();
    for (args, want) in [
        (
            vec!["--auth-htpasswd".to_owned(), s(&md5)],
            "line 2: user \"admin\" has an Apache MD5 hash",
        ),
        (
            vec!["--auth-token-file".to_owned(), s(&empty)],
            "no token in the file",
        ),
        (
            vec!["--tls-cert".to_owned(), s(&md5)],
            "--tls-cert needs --tls-key (give both or neither)",
        ),
        (
            vec![
                "--tls-cert".to_owned(),
                "/nonexistent/cert.pem".into(),
                "--tls-key".into(),
                "/nonexistent/key.pem".into(),
            ],
            "--tls-cert /nonexistent/cert.pem: cannot read",
        ),
    ] {
        let mut a = vec![
            "agent".to_owned(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
        ];
        a.extend(args);
        let out = Command::new(env!("CARGO_BIN_EXE_crowsnest"))
            .args(&a)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{a:?} started");
        assert!(err.contains(want), "{a:?}: {err}");
    }
}

#[test]
fn tls_mutual_tls_and_certificate_reload() {
    let pki = Pki::new("crowsnest");
    let server = pki.leaf("server", "agent.test", 1, false);
    let client_leaf = pki.leaf("client", "hub.test", 2, true);
    let other = Pki::new("other");
    let stranger = other.leaf("stranger", "stranger.test", 3, true);
    let tokens = pki.dir.path().join("tokens");
    std::fs::write(&tokens, "tls-token-0001\n").unwrap();
    let port = free_port();
    let base = format!("https://127.0.0.1:{port}");
    let good = tls_client(&pki.ca_der(), Some(&client_leaf));
    let args = agent_args(
        port,
        &[
            "--tls-cert".into(),
            s(&server.cert),
            "--tls-key".into(),
            s(&server.key),
            "--tls-client-ca".into(),
            s(&pki.ca_file()),
            "--auth-token-file".into(),
            s(&tokens),
        ],
    );
    let mut agent = start("TLS agent", &args, || {
        get(&good, &format!("{base}/healthz"), None).0 == 200
    });
    let url = format!("{base}/api/v1.3/containers/");
    let auth = Some("Bearer tls-token-0001");
    wait_for("the root container's stats over TLS", 20, || {
        let (st, _, body) = get(&good, &url, auth);
        st == 200 && body.contains("\"stats\":[{")
    });
    let r = good
        .get(&url)
        .header("authorization", "Bearer tls-token-0001")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(peer_cert(&r), server.der, "the server's certificate");
    assert_real_containers(&r.text().unwrap());
    // TLS and auth are separate: the right client certificate without a token is refused.
    assert_eq!(get(&good, &url, None).0, 401);

    // Plain HTTP to the TLS port gets no answer.
    let plain = plain_client();
    let (st, _, body) = get(&plain, &format!("http://127.0.0.1:{port}/healthz"), None);
    assert_eq!(st, 0, "plain HTTP answered {st}: {body}");
    // No client certificate, or one from another CA: refused in the handshake.
    let anonymous = tls_client(&pki.ca_der(), None);
    assert_eq!(get(&anonymous, &url, auth).0, 0, "no client certificate");
    let foreign = tls_client(&pki.ca_der(), Some(&stranger));
    assert_eq!(
        get(&foreign, &url, auth).0,
        0,
        "a client certificate of another CA"
    );
    // A client that does not trust the server's CA fails too.
    let distrustful = tls_client(&other.ca_der(), Some(&client_leaf));
    assert_eq!(get(&distrustful, &url, auth).0, 0, "an untrusted server");
    // Failed handshakes (and a connection that never starts one) leave the server serving.
    let idle = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    for _ in 0..20 {
        get(&anonymous, &url, auth);
        get(&plain, &format!("http://127.0.0.1:{port}/"), None);
    }
    assert_eq!(
        get(&good, &url, auth).0,
        200,
        "still serving after bad clients"
    );
    drop(idle);

    // Certificate reload: new files (another serial and name) are served within seconds.
    let renewed = pki.leaf("renewed", "renewed.test", 9, false);
    std::fs::copy(&renewed.key, &server.key).unwrap();
    std::fs::copy(&renewed.cert, &server.cert).unwrap();
    let mut served = Vec::new();
    wait_for("the renewed certificate to be served", 15, || {
        // A new client each time: a new connection, a new handshake.
        let c = tls_client(&pki.ca_der(), Some(&client_leaf));
        if let Ok(r) = c.get(format!("{base}/healthz")).send() {
            served = peer_cert(&r);
        }
        served == renewed.der
    });
    // A broken certificate file keeps the last good pair.
    std::fs::write(&server.cert, "not a certificate").unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let c = tls_client(&pki.ca_der(), Some(&client_leaf));
    let r = c.get(format!("{base}/healthz")).send().unwrap();
    assert_eq!(
        peer_cert(&r),
        renewed.der,
        "the last good certificate is kept"
    );

    // Graceful shutdown still works over TLS, with a connection that never finished its
    // handshake still open.
    let _idle = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let pid = i32::try_from(agent.child.id()).unwrap();
    assert!(pid > 0);
    // SAFETY: kill(2) on the positive pid of our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let asked = Instant::now();
    let status = loop {
        if let Some(st) = agent.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            asked.elapsed() < Duration::from_secs(15),
            "the TLS agent did not stop within 15 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    eprintln!("TLS agent stopped {:?} after SIGTERM", asked.elapsed());
}

/// The first node status named `node` in the hub's `/api/v1/hub/nodes`.
fn node_status(client: &Client, hub: &str, auth: Option<&str>, node: &str) -> Value {
    let (st, _, body) = get(client, &format!("{hub}/api/v1/hub/nodes"), auth);
    if st != 200 {
        return Value::Null;
    }
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let list = v
        .as_array()
        .cloned()
        .or_else(|| v["nodes"].as_array().cloned())
        .unwrap_or_default();
    list.into_iter()
        .find(|n| n["name"] == node)
        .unwrap_or(Value::Null)
}

#[test]
fn hub_reaches_a_tls_agent_with_its_token_and_ca() {
    let pki = Pki::new("fleet");
    let server = pki.leaf("agent", "agent.test", 1, false);
    let hub_server = pki.leaf("hub", "hub.test", 2, false);
    let hub_client = pki.leaf("hub-client", "hub.test", 3, true);
    let dir = pki.dir.path();
    let agent_tokens = dir.join("agent-tokens");
    std::fs::write(&agent_tokens, "# hubs\nfleet-token-aaaa\n").unwrap();
    let hub_tokens = dir.join("hub-tokens");
    std::fs::write(&hub_tokens, "hub-reader-bbbb\n").unwrap();
    let agent_port = free_port();
    // The agent asks for client certificates (mutual TLS) and a token.
    let tls = tls_client(&pki.ca_der(), Some(&hub_client));
    let agent_args = agent_args(
        agent_port,
        &[
            "--tls-cert".into(),
            s(&server.cert),
            "--tls-key".into(),
            s(&server.key),
            "--tls-client-ca".into(),
            s(&pki.ca_file()),
            "--auth-token-file".into(),
            s(&agent_tokens),
        ],
    );
    let client_cert = [
        "--agent-tls-cert".to_owned(),
        s(&hub_client.cert),
        "--agent-tls-key".into(),
        s(&hub_client.key),
    ];
    let _agent = start("TLS agent", &agent_args, || {
        get(
            &tls,
            &format!("https://127.0.0.1:{agent_port}/healthz"),
            None,
        )
        .0 == 200
    });
    let hub = |port: u16, extra: &[String]| {
        let mut a = vec![
            "hub".to_owned(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--resolution".into(),
            "1s".into(),
            "--model-store".into(),
            "memory".into(),
        ];
        a.extend_from_slice(extra);
        a
    };
    // Hub A: the global token and CA, agents over https; its own listener is TLS with a token.
    let port_a = free_port();
    let hub_a = format!("https://127.0.0.1:{port_a}");
    let args_a = hub(
        port_a,
        &[
            "--node".into(),
            format!("node-a=127.0.0.1:{agent_port}"),
            "--agent-scheme".into(),
            "https".into(),
            "--agent-token-file".into(),
            s(&agent_tokens),
            "--agent-ca".into(),
            s(&pki.ca_file()),
            "--tls-cert".into(),
            s(&hub_server.cert),
            "--tls-key".into(),
            s(&hub_server.key),
            "--auth-token-file".into(),
            s(&hub_tokens),
            client_cert[0].clone(),
            client_cert[1].clone(),
            client_cert[2].clone(),
            client_cert[3].clone(),
        ],
    );
    let _a = start("hub A", &args_a, || {
        get(&tls, &format!("{hub_a}/healthz"), None).0 != 0
    });
    // Hub B: a hosts file whose item says https and names a token file, the same CA.
    let token_copy = dir.join("node-token");
    std::fs::copy(&agent_tokens, &token_copy).unwrap();
    let hosts = dir.join("hosts");
    std::fs::write(
        &hosts,
        format!(
            r#"{{"items":[{{"name":"node-b","ip":"127.0.0.1","port":{agent_port},"scheme":"https","tokenFile":"{}"}}]}}"#,
            s(&token_copy)
        ),
    )
    .unwrap();
    let port_b = free_port();
    let hub_b = format!("http://127.0.0.1:{port_b}");
    let args_b = hub(
        port_b,
        &[
            "--external-hosts-file".into(),
            s(&hosts),
            "--agent-ca".into(),
            s(&pki.ca_file()),
            client_cert[0].clone(),
            client_cert[1].clone(),
            client_cert[2].clone(),
            client_cert[3].clone(),
        ],
    );
    let plain = plain_client();
    let _b = start("hub B", &args_b, || {
        get(&plain, &format!("{hub_b}/healthz"), None).0 != 0
    });
    // Hub C: the CA and the client certificate, but no token.
    let port_c = free_port();
    let hub_c = format!("http://127.0.0.1:{port_c}");
    let args_c = hub(
        port_c,
        &[
            "--node".into(),
            format!("node-c=127.0.0.1:{agent_port}"),
            "--agent-scheme=https".into(),
            "--agent-ca".into(),
            s(&pki.ca_file()),
            client_cert[0].clone(),
            client_cert[1].clone(),
            client_cert[2].clone(),
            client_cert[3].clone(),
        ],
    );
    let _c = start("hub C", &args_c, || {
        get(&plain, &format!("{hub_c}/healthz"), None).0 != 0
    });

    let auth_a = Some("Bearer hub-reader-bbbb");
    // Hub A's own listener: the model API needs its token, /healthz does not.
    let (st, www, _) = get(&tls, &format!("{hub_a}/api/v1/model/nodes/"), None);
    assert_eq!((st, www.len()), (401, 1), "{www:?}");
    let has_node = |client: &Client, hub: &str, auth: Option<&str>, node: &str| {
        let (st, _, body) = get(client, &format!("{hub}/api/v1/model/nodes/"), auth);
        st == 200 && body.contains(&format!("\"{node}\""))
    };
    wait_for("hub A to list node-a", 30, || {
        has_node(&tls, &hub_a, auth_a, "node-a")
    });
    wait_for("hub B to list node-b", 30, || {
        has_node(&plain, &hub_b, None, "node-b")
    });
    let st = node_status(&tls, &hub_a, auth_a, "node-a");
    assert!(
        st["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://")),
        "{st}"
    );
    assert!(
        st["last_success"].is_string() || st["lastSuccess"].is_string(),
        "{st}"
    );
    // Real containers: the node's metrics in the model.
    let (code, _, body) = get(
        &tls,
        &format!("{hub_a}/api/v1/model/nodes/node-a/metrics/"),
        auth_a,
    );
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("cpu/usage"), "{body}");

    // Hub C has no token: the agent refuses it, and the node's error says so.
    let mut last = Value::Null;
    wait_for("hub C to report the agent's refusal", 30, || {
        last = node_status(&plain, &hub_c, None, "node-c");
        let err = last["last_error"]
            .as_str()
            .or(last["lastError"].as_str())
            .unwrap_or("");
        err.contains("401")
    });
    assert!(
        !has_node(&plain, &hub_c, None, "node-c"),
        "no data without the token: {last}"
    );
}
