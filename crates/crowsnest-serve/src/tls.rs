//! TLS with rustls and the ring provider: the server's certificate and key re-read when their
//! files change (a [`ResolvesServerCert`] over a [`Watched`] value, looked at no more often than
//! every [`RELOAD_EVERY`]; a bad new pair keeps the old one), optional client certificates
//! checked against a CA (mutual TLS), and a listener that runs each handshake in its own task
//! so that a slow or failing client never holds up the others. [`root_store`] reads a CA file
//! for the client side (the hub verifying its agents).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::TlsFiles;
use crate::error::{Error, Result, read_file};
use crate::log_limit::RateLimitedLog;
use crate::watch::Watched;

/// How often the certificate and key files are looked at for changes, at most.
pub const RELOAD_EVERY: Duration = Duration::from_secs(2);
/// How long a client has to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes under way at once, at most; a connection past it is closed at once.
const HANDSHAKES_AT_ONCE: usize = 1024;
/// The largest PEM file read.
const MAX_PEM_BYTES: u64 = 1 << 20;

/// The one crypto provider: ring.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificates of the PEM file `path` given by `flag` (at least one).
pub fn load_certs(flag: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let pem = read_file(flag, path, MAX_PEM_BYTES)?;
    let invalid = |reason: String| Error::Invalid {
        flag,
        path: path.to_owned(),
        reason,
    };
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(
            "no certificate in the file (expected PEM, -----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    Ok(certs)
}

/// A trust store of the CA certificates in the PEM file `path` given by `flag`.
pub fn root_store(flag: &'static str, path: &Path) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for (i, c) in load_certs(flag, path)?.into_iter().enumerate() {
        roots.add(c).map_err(|e| Error::Invalid {
            flag,
            path: path.to_owned(),
            reason: format!("certificate {} is not a usable CA certificate: {e}", i + 1),
        })?;
    }
    Ok(roots)
}

/// The private key in the PEM file `path` given by `flag`.
pub fn load_key(flag: &'static str, path: &Path) -> Result<PrivateKeyDer<'static>> {
    let pem = read_file(flag, path, MAX_PEM_BYTES)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| Error::Invalid {
        flag,
        path: path.to_owned(),
        reason: format!("no private key in the file (expected PEM, PKCS#8, PKCS#1 or SEC1): {e}"),
    })
}

/// A client's TLS configuration (ring; TLS 1.2 and 1.3) trusting `roots`, presenting the
/// certificate and key files of `identity` (`(cert flag, cert, key flag, key)`) when given.
pub fn client_config(
    roots: RootCertStore,
    identity: Option<(&'static str, &Path, &'static str, &Path)>,
) -> Result<rustls::ClientConfig> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Flags(format!("TLS: {e}")))?
        .with_root_certificates(roots);
    match identity {
        None => Ok(builder.with_no_client_auth()),
        Some((cert_flag, cert, key_flag, key)) => {
            let certs = load_certs(cert_flag, cert)?;
            let k = load_key(key_flag, key)?;
            builder
                .with_client_auth_cert(certs, k)
                .map_err(|e| Error::Invalid {
                    flag: key_flag,
                    path: key.to_owned(),
                    reason: format!(
                        "cannot use it with the certificate of {cert_flag} {}: {e}",
                        cert.display()
                    ),
                })
        }
    }
}

/// The certificate chain and key of `files`, checked to match.
fn load_certified(files: &TlsFiles) -> Result<CertifiedKey> {
    let certs = load_certs("--tls-cert", &files.cert)?;
    let key = load_key("--tls-key", &files.key)?;
    CertifiedKey::from_der(certs, key, &provider()).map_err(|e| Error::Invalid {
        flag: "--tls-key",
        path: files.key.clone(),
        reason: format!(
            "cannot use it with the certificate of --tls-cert {}: {e}",
            files.cert.display()
        ),
    })
}

/// Gives every handshake the newest good certificate.
struct Resolver(Watched<CertifiedKey>);

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Resolver")
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.get())
    }
}

/// The server's TLS configuration for `files` (every file read and checked now).
pub(crate) fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>> {
    let f = files.clone();
    let resolver = Resolver(Watched::open(
        "--tls-cert and --tls-key",
        vec![files.cert.clone(), files.key.clone()],
        RELOAD_EVERY,
        move || load_certified(&f),
    )?);
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Flags(format!("TLS: {e}")))?;
    let builder = match &files.client_ca {
        Some(ca) => {
            let roots = root_store("--tls-client-ca", ca)?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| Error::Invalid {
                    flag: "--tls-client-ca",
                    path: ca.clone(),
                    reason: e.to_string(),
                })?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A TCP listener whose connections come out of a TLS handshake, each run in its own task.
pub(crate) struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    tx: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
    rx: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    turns: Arc<Semaphore>,
    failures: Arc<RateLimitedLog>,
}

impl TlsListener {
    pub(crate) fn new(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> TlsListener {
        let (tx, rx) = mpsc::channel(64);
        TlsListener {
            tcp,
            acceptor: TlsAcceptor::from(config),
            tx,
            rx,
            turns: Arc::new(Semaphore::new(HANDSHAKES_AT_ONCE)),
            failures: Arc::new(RateLimitedLog::new(Duration::from_secs(10))),
        }
    }

    fn start_handshake(&self, tcp: TcpStream, addr: SocketAddr) {
        let Ok(turn) = self.turns.clone().try_acquire_owned() else {
            if let Some(suppressed) = self.failures.hit(Instant::now()) {
                tracing::warn!(%addr, suppressed, "too many TLS handshakes under way; connection closed");
            }
            return;
        };
        let (acceptor, tx, failures) = (
            self.acceptor.clone(),
            self.tx.clone(),
            self.failures.clone(),
        );
        tokio::spawn(async move {
            let _turn = turn;
            let error = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => {
                    let _ = tx.send((stream, addr)).await;
                    return;
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("no handshake within {HANDSHAKE_TIMEOUT:?}"),
            };
            if let Some(suppressed) = failures.hit(Instant::now()) {
                tracing::warn!(
                    %addr,
                    %error,
                    suppressed,
                    "TLS handshake failed (at most one line per 10 s; `suppressed` counts those left out since)"
                );
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            tokio::select! {
                done = self.rx.recv() => {
                    if let Some(done) = done {
                        return done;
                    }
                }
                r = self.tcp.accept() => match r {
                    Ok((tcp, addr)) => {
                        let _ = tcp.set_nodelay(true);
                        self.start_handshake(tcp, addr);
                    }
                    Err(e) => accept_error(e).await,
                },
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// What axum's own TCP listener does on an accept error: go on at once after a connection's
/// own error, wait a second after others (out of file descriptors, most often).
async fn accept_error(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed; trying again in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(name: &str) -> (String, String) {
        let k = rcgen::KeyPair::generate().unwrap();
        let c = rcgen::CertificateParams::new(vec![name.to_owned()])
            .unwrap()
            .self_signed(&k)
            .unwrap();
        (c.pem(), k.serialize_pem())
    }

    #[test]
    fn certificate_errors_name_the_flag_and_a_new_pair_is_served() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        let files = TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
            client_ca: None,
        };
        let e = server_config(&files).unwrap_err().to_string();
        assert!(
            e.starts_with("--tls-cert ") && e.contains("cannot read"),
            "{e}"
        );
        let (c1, k1) = pair("one.test");
        let (c2, k2) = pair("two.test");
        std::fs::write(&cert, "hello").unwrap();
        std::fs::write(&key, &k1).unwrap();
        let e = server_config(&files).unwrap_err().to_string();
        assert!(e.contains("no certificate in the file"), "{e}");
        std::fs::write(&cert, &c1).unwrap();
        std::fs::write(&key, &k2).unwrap();
        let e = server_config(&files).unwrap_err().to_string();
        assert!(
            e.starts_with("--tls-key ") && e.contains("cannot use it"),
            "{e}"
        );
        std::fs::write(&key, &k1).unwrap();
        let f = files.clone();
        let w = Watched::open(
            "pair",
            vec![cert.clone(), key.clone()],
            RELOAD_EVERY,
            move || load_certified(&f),
        )
        .unwrap();
        let first = w.get().cert[0].clone();
        let t = Instant::now() + Duration::from_secs(3);
        // The certificate alone changes first: the pair does not match, the old one stays.
        std::fs::write(&cert, &c2).unwrap();
        assert_eq!(w.get_at(t).cert[0], first);
        std::fs::write(&key, &k2).unwrap();
        let second = w.get_at(t + Duration::from_secs(3)).cert[0].clone();
        assert_ne!(second, first);
        let e = root_store("--tls-client-ca", &key).unwrap_err().to_string();
        assert!(
            e.contains("--tls-client-ca") && e.contains("no certificate"),
            "{e}"
        );
        assert_eq!(root_store("--tls-client-ca", &cert).unwrap().len(), 1);
    }
}
