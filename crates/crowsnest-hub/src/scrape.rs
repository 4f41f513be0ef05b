//! Scraping one node's agent: `POST /api/v1.3/subcontainers/` with
//! `{"num_stats":-1,"start":...}` asks for every sample taken since the last scrape (not only
//! the newest), and each sample becomes canonical samples through
//! [`crowsnest_core::batch::container_samples`] with the node's name as `nodename`.
//!
//! Only the agent's own timestamps are used: `start` is the newest sample time seen from that
//! node (less a small overlap, so that a sample the agent wrote late is not missed), and
//! samples not newer than a container's last one are dropped. The machine (`/api/v1.3/machine`)
//! is read on the first success and every few minutes after.
//!
//! The hub keeps Heapster's metrics ([`names::is_hub_metric`]): the agent's finer figures
//! (pressure, CFS periods, swap, ...) stay with the agent.
//!
//! Agents are spoken to over HTTP or HTTPS (rustls, the agent's certificate verified against
//! `--agent-ca` or the system's roots; the hub's own certificate presented to agents that ask
//! for one), with `Authorization: Bearer` when a token is known:
//! the node's own (its hosts file item's `token` or `tokenFile`), else `--agent-token-file`'s.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crowsnest_core::Timestamp;
use crowsnest_core::batch::{ContainerContext, Kind, Value, container_samples, label};
use crowsnest_core::model::{ContainerInfo, ContainerReference, ContainerSpec};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::batch::{CounterWindow, MetricSet, NodeMachine, SetType, key};
use crate::config::{AgentAccess, AgentClientConfig, NodeAddr, Scheme};
use crate::error::{Error, Result};
use crate::names;
use crate::packed::PackedMap;

/// The largest response the hub reads from an agent.
pub const MAX_RESPONSE_BYTES: usize = 512 << 20;
/// How far before the newest sample seen a scrape starts, to catch a sample the agent wrote
/// a little after its timestamp (an agent stamps a container's sample, then reads its files).
const OVERLAP: Duration = Duration::from_millis(250);
/// How often a node's machine description is re-read.
const MACHINE_REFRESH: Duration = Duration::from_secs(300);
/// Samples asked for on a node's first scrape (two, so that rates start at once).
const FIRST_NUM_STATS: i64 = 2;
/// Answers read and decoded at once. Every node's request is sent at once; an answer waits
/// for its turn in its socket (the agent is slowed by TCP, not the hub's memory), so memory is
/// a few answers, whatever the number of nodes.
const BODIES_AT_ONCE: usize = 4;

/// An HTTP client shared by every node's scrapes.
#[derive(Clone)]
pub struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    bodies: Arc<Semaphore>,
    token: Option<Arc<crowsnest_serve::auth::tokens::TokenFile>>,
    scheme: Scheme,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HttpClient")
    }
}

/// An answer's body, read while holding one of the client's [`BODIES_AT_ONCE`] turns.
pub struct Body {
    /// The bytes.
    pub bytes: Bytes,
    _turn: OwnedSemaphorePermit,
}

impl HttpClient {
    /// A client whose connections give up after `connect_timeout`, for plain HTTP agents
    /// without a token (HTTPS ones are verified against the system's roots).
    pub fn new(connect_timeout: Duration) -> HttpClient {
        let tls = client_tls(system_roots());
        HttpClient::build(connect_timeout, tls, None, Scheme::Http)
    }

    /// A client for agents as `agents` says: its token file and CA file are read now (an
    /// error names the flag and the file).
    pub fn for_agents(connect_timeout: Duration, agents: &AgentClientConfig) -> Result<HttpClient> {
        let roots = match &agents.ca_file {
            Some(ca) => crowsnest_serve::tls::root_store("--agent-ca", ca)?,
            None => system_roots(),
        };
        let token = agents
            .token_file
            .as_deref()
            .map(|p| crowsnest_serve::auth::tokens::TokenFile::open("--agent-token-file", p))
            .transpose()?
            .map(Arc::new);
        let identity = agents.client_cert.as_ref().map(|(c, k)| {
            (
                "--agent-tls-cert",
                c.as_path(),
                "--agent-tls-key",
                k.as_path(),
            )
        });
        let tls = crowsnest_serve::tls::client_config(roots, identity)?;
        Ok(HttpClient::build(
            connect_timeout,
            tls,
            token,
            agents.scheme,
        ))
    }

    fn build(
        connect_timeout: Duration,
        tls: rustls::ClientConfig,
        token: Option<Arc<crowsnest_serve::auth::tokens::TokenFile>>,
        scheme: Scheme,
    ) -> HttpClient {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(connect_timeout));
        http.set_nodelay(true);
        http.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            // One connection per scrape: an idle connection would keep its read buffer
            // between scrapes, for every node (a new TCP connection every resolution costs
            // far less than that memory). Answers are read in pieces of at most 64 KiB.
            .pool_max_idle_per_host(0)
            .http1_max_buf_size(64 << 10)
            .build(connector);
        HttpClient {
            client,
            bodies: Arc::new(Semaphore::new(BODIES_AT_ONCE)),
            token,
            scheme,
        }
    }

    /// The base URL of `addr`'s agent: the node's scheme, else the client's.
    pub fn base_url(&self, addr: &NodeAddr, access: &AgentAccess) -> String {
        addr.url_with(access.scheme.unwrap_or(self.scheme))
    }

    /// The token sent to a node: its own, else the client's (the token file's first token).
    fn token_for(&self, access: &AgentAccess) -> Option<Arc<str>> {
        access
            .token
            .clone()
            .or_else(|| self.token.as_ref().map(|t| Arc::from(t.current().first())))
    }

    /// Sends a request and reads the whole answer (at most [`MAX_RESPONSE_BYTES`]); an
    /// answer other than 200 is an error carrying the start of its body.
    pub async fn fetch(&self, method: Method, url: &str, body: Vec<u8>) -> Result<Body, String> {
        self.fetch_with(method, url, body, None).await
    }

    /// [`HttpClient::fetch`] with `Authorization: Bearer token` when a token is given.
    pub async fn fetch_with(
        &self,
        method: Method,
        url: &str,
        body: Vec<u8>,
        token: Option<&str>,
    ) -> Result<Body, String> {
        let mut req = Request::builder()
            .method(method)
            .uri(url)
            .header(hyper::header::CONTENT_TYPE, "application/json");
        if let Some(t) = token {
            req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("bad request: {e}"))?;
        let resp = self.client.request(req).await.map_err(|e| {
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(": ");
                msg.push_str(&s.to_string());
                src = s.source();
            }
            msg
        })?;
        let turn = self
            .bodies
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| format!("no turn to read the answer: {e}"))?;
        let status = resp.status();
        let bytes = Limited::new(resp.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?
            .to_bytes();
        if status != StatusCode::OK {
            let start = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
            return Err(format!("HTTP {status}: {start}"));
        }
        Ok(Body { bytes, _turn: turn })
    }
}

/// The system's trust anchors (none, with a warning, when they cannot be read).
fn system_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::debug!(error = %e, "reading the system's CA certificates");
    }
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        tracing::debug!("no system CA certificate found; HTTPS agents need --agent-ca");
    }
    roots
}

/// The TLS client configuration toward agents: ring, TLS 1.2 and 1.3, `roots` trusted, no
/// client certificate.
fn client_tls(roots: rustls::RootCertStore) -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(crowsnest_serve::tls::provider())
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// What the hub remembers of a node between scrapes.
#[derive(Debug, Default)]
pub struct NodeScrapeState {
    /// The newest sample time seen from the node (its clock).
    pub last_seen: Option<Timestamp>,
    /// The newest sample time seen per container, and whether the answer being decoded
    /// named the container (kept in a few buffers per node, see [`crate::packed`]).
    pub(crate) containers: PackedMap<(Timestamp, bool)>,
    /// The node's machine, once read.
    pub machine: Option<NodeMachine>,
    /// When the machine was last read (the hub's monotonic clock).
    pub machine_read: Option<Instant>,
    /// Scrapes in a row that brought no new sample.
    pub empty_scrapes: u32,
}

impl NodeScrapeState {
    /// Heap bytes kept between scrapes.
    pub fn heap_bytes(&self) -> usize {
        self.containers.heap_bytes()
    }
}

/// What one successful scrape brought.
#[derive(Debug)]
pub struct Scraped {
    /// The node.
    pub node: String,
    /// One set per container with new samples, under a provisional key
    /// (`node:{n}` for `/`, `node:{n}/container:{cgroup name}` for the others).
    pub sets: Vec<(String, MetricSet)>,
    /// The node's machine, when known.
    pub machine: Option<NodeMachine>,
    /// Container samples received (after dropping those already seen).
    pub samples: usize,
}

#[derive(Deserialize)]
struct MachineFields {
    num_cores: Option<u64>,
    memory_capacity: Option<u64>,
}

/// Scrapes `addr` once, updating `state`, as the client says (its scheme and token).
pub async fn scrape_node(
    client: &HttpClient,
    addr: &NodeAddr,
    state: &mut NodeScrapeState,
) -> Result<Scraped> {
    scrape_agent(client, addr, &AgentAccess::default(), state).await
}

/// Scrapes `addr` once with the node's own `access` (scheme, token), updating `state`.
pub async fn scrape_agent(
    client: &HttpClient,
    addr: &NodeAddr,
    access: &AgentAccess,
    state: &mut NodeScrapeState,
) -> Result<Scraped> {
    let base = client.base_url(addr, access);
    let token = client.token_for(access);
    let err = |url: &str, reason: String| Error::Scrape {
        node: addr.name.clone(),
        url: url.to_owned(),
        reason,
    };
    if state
        .machine_read
        .is_none_or(|t| t.elapsed() >= MACHINE_REFRESH)
    {
        let murl = format!("{base}/api/v1.3/machine");
        let machine = client
            .fetch_with(Method::GET, &murl, Vec::new(), token.as_deref())
            .await;
        match machine.map(|b| serde_json::from_slice::<MachineFields>(&b.bytes)) {
            Ok(Ok(m)) => {
                state.machine = Some(NodeMachine {
                    cores: m.num_cores.filter(|c| *c > 0),
                    memory_capacity: m.memory_capacity.filter(|c| *c > 0),
                });
                state.machine_read = Some(Instant::now());
            }
            Ok(Err(e)) => {
                tracing::warn!(node = %addr.name, url = %murl, error = %e, "the machine description is not JSON the hub reads")
            }
            Err(e) => {
                tracing::warn!(node = %addr.name, url = %murl, error = %e, "cannot read the machine description")
            }
        }
    }
    let url = format!("{base}/api/v1.3/subcontainers/");
    let request = match state.last_seen {
        // After two empty answers in a row, ask for the newest samples without a start: the
        // node's clock may have gone back.
        Some(t) if state.empty_scrapes < 2 => {
            let start = t.add_nanos(-(OVERLAP.as_nanos() as i64));
            format!(r#"{{"num_stats":-1,"start":"{start}"}}"#)
        }
        _ => format!(r#"{{"num_stats":{FIRST_NUM_STATS}}}"#),
    };
    let body = client
        .fetch_with(Method::POST, &url, request.into_bytes(), token.as_deref())
        .await
        .map_err(|r| err(&url, r))?;
    // Each container is turned into its set as soon as it is parsed: only one container's
    // samples are ever held decoded.
    let mut decoder = Decoder::new(&addr.name, state);
    let mut de = serde_json::Deserializer::from_slice(&body.bytes);
    serde::de::DeserializeSeed::deserialize(Containers(&mut decoder), &mut de)
        .and_then(|()| de.end())
        .map_err(|e| err(&url, format!("the answer is not a list of containers: {e}")))?;
    drop(body);
    Ok(decoder.finish(state))
}

/// Feeds each element of a JSON array of containers to a [`Decoder`].
struct Containers<'a, 'b>(&'a mut Decoder<'b>);

impl<'de> serde::de::DeserializeSeed<'de> for Containers<'_, '_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Containers<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of containers")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(info) = seq.next_element::<ContainerInfo>()? {
            self.0.add(&info);
        }
        Ok(())
    }
}

/// Turns an agent's containers into sets, keeping only samples newer than those already
/// seen.
pub struct Decoder<'a> {
    node: &'a str,
    /// Every container's newest sample time, marked when this answer names it.
    known: PackedMap<(Timestamp, bool)>,
    sets: Vec<(String, MetricSet)>,
    total: usize,
    newest: Option<Timestamp>,
    /// Every container's newest sample time, kept only when the node's clock may have gone
    /// back.
    reported: Option<HashMap<String, Timestamp>>,
    went_back: bool,
}

impl<'a> Decoder<'a> {
    /// A decoder for one answer of `node`; it takes the per-container times from `state`.
    pub fn new(node: &'a str, state: &mut NodeScrapeState) -> Decoder<'a> {
        let suspicious = state.empty_scrapes >= 2;
        Decoder {
            node,
            known: std::mem::take(&mut state.containers),
            sets: Vec::new(),
            total: 0,
            newest: state.last_seen,
            reported: suspicious.then(HashMap::new),
            went_back: false,
        }
    }

    /// Records a container's newest sample time and that the answer named it.
    fn remember(&mut self, name: &str, t: Timestamp) {
        self.known.insert(name, (t, true));
    }

    /// Adds one container.
    pub fn add(&mut self, info: &ContainerInfo) {
        let name = &info.reference.name;
        let last = self.known.get(name).map(|&(t, _)| t);
        if let Some(reported) = &mut self.reported
            && let Some(n) = info.stats.iter().map(|s| s.timestamp).max()
        {
            reported.insert(name.clone(), n);
            self.went_back |= last.is_some_and(|l| n < l);
        }
        let fresh = || {
            info.stats
                .iter()
                .filter(move |s| last.is_none_or(|l| s.timestamp > l))
        };
        let Some(newest_sample) = fresh().next_back() else {
            if let Some(l) = last {
                self.remember(name, l);
            }
            return;
        };
        let ctx = ContainerContext { node: self.node };
        let mut samples = Vec::with_capacity(48);
        let mut counters = Vec::new();
        let mut labels = None;
        let mut count = 0;
        // Only the newest sample's labels and gauges are kept; the older samples give their
        // counters, which do not depend on the spec: they are mapped without its labels,
        // image and limits, so that their short-lived label sets cost less.
        let (bare_ref, bare_spec) = (
            ContainerReference {
                name: name.clone(),
                ..Default::default()
            },
            ContainerSpec::default(),
        );
        for st in fresh() {
            count += 1;
            samples.clear();
            let (r, spec) = if st.timestamp == newest_sample.timestamp {
                (&info.reference, &info.spec)
            } else {
                (&bare_ref, &bare_spec)
            };
            let l = container_samples(r, spec, st, &ctx, &mut samples);
            for s in &samples {
                if s.kind != Kind::Cumulative {
                    continue;
                }
                let (Some(rate), Value::Int(value)) = (names::rate_index(&s.metric), s.value)
                else {
                    continue;
                };
                let resource = if Arc::ptr_eq(&s.labels, &l) {
                    None
                } else {
                    s.labels.get(label::RESOURCE_ID)
                };
                match counters.iter_mut().find(|w: &&mut CounterWindow| {
                    w.rate == rate && w.resource.as_deref() == resource
                }) {
                    Some(w) => w.push(st.timestamp, value),
                    None => counters.push(CounterWindow::new(
                        rate,
                        resource.map(Arc::from),
                        st.timestamp,
                        value,
                    )),
                }
            }
            labels = Some(l);
        }
        let Some(labels) = labels else { return };
        self.total += count;
        let set_type = match labels.get(label::TYPE) {
            Some(label::TYPE_NODE) => SetType::Node,
            Some(label::TYPE_POD_CONTAINER) => SetType::PodContainer,
            _ => SetType::SysContainer,
        };
        let k = if set_type == SetType::Node {
            key::node(self.node)
        } else {
            key::sys_container(self.node, name)
        };
        samples.retain(|s| names::is_hub_metric(&s.metric));
        samples.shrink_to_fit();
        counters.shrink_to_fit();
        let mut set = MetricSet {
            set_type,
            labels,
            create_time: info.spec.creation_time,
            scrape_time: newest_sample.timestamp,
            samples,
            window: None,
            counters,
            cpu_shares: info.spec.has_cpu.then_some(info.spec.cpu.limit),
        };
        set.compact_labeled();
        self.sets.push((k, set));
        self.remember(name, newest_sample.timestamp);
        self.newest = self.newest.max(Some(newest_sample.timestamp));
    }

    /// What the answer brought; updates `state` for the next scrape.
    pub fn finish(mut self, state: &mut NodeScrapeState) -> Scraped {
        if self.went_back
            && let Some(reported) = self.reported.take()
        {
            // The node's clock went back: start again from what it says now.
            tracing::warn!(
                node = self.node,
                "the node's sample times went back; following its clock"
            );
            self.newest = reported.values().copied().max();
            self.known.clear();
            for (name, t) in reported {
                self.known.insert(&name, (t, true));
            }
        }
        // Containers the answer did not name are forgotten.
        self.known.retain(|_, (_, named)| std::mem::take(named));
        state.empty_scrapes = if self.total == 0 {
            state.empty_scrapes.saturating_add(1)
        } else {
            0
        };
        state.last_seen = self.newest;
        state.containers = self.known;
        Scraped {
            node: self.node.to_owned(),
            sets: self.sets,
            machine: state.machine,
            samples: self.total,
        }
    }
}

/// Turns a whole answer into sets (see [`Decoder`]).
pub fn decode(node: &str, infos: &[ContainerInfo], state: &mut NodeScrapeState) -> Scraped {
    let mut d = Decoder::new(node, state);
    for i in infos {
        d.add(i);
    }
    d.finish(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crowsnest_core::model::{ContainerReference, ContainerSpec, ContainerStats, CpuStats};

    fn info(name: &str, times: &[i64], cpu: &[u64]) -> ContainerInfo {
        ContainerInfo {
            reference: ContainerReference {
                name: name.into(),
                ..Default::default()
            },
            spec: ContainerSpec {
                creation_time: Timestamp::from_secs(1),
                has_cpu: true,
                ..Default::default()
            },
            stats: times
                .iter()
                .zip(cpu)
                .map(|(t, c)| ContainerStats {
                    timestamp: Timestamp::from_secs(*t),
                    cpu: Some(CpuStats {
                        usage: crowsnest_core::model::CpuUsage {
                            total: Some(*c),
                            ..Default::default()
                        },
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn every_new_sample_counts_and_old_ones_are_dropped() {
        let mut st = NodeScrapeState::default();
        let out = decode(
            "n1",
            &[info("/", &[10, 11], &[100, 200]), info("/a", &[10], &[5])],
            &mut st,
        );
        assert_eq!(out.samples, 3);
        assert_eq!(out.sets[0].0, "node:n1");
        assert_eq!(out.sets[0].1.set_type, SetType::Node);
        let w = &out.sets[0].1.counters;
        assert_eq!(w.len(), 1, "one window for the CPU counter");
        assert_eq!((w[0].delta, w[0].nanos), (100, 1_000_000_000));
        assert_eq!(out.sets[1].0, "node:n1/container:/a");
        assert_eq!(out.sets[1].1.labels.get("nodename"), Some("n1"));
        assert_eq!(st.last_seen, Some(Timestamp::from_secs(11)));
        // The overlap brings 11 again: only 12 and 13 are new.
        let out = decode(
            "n1",
            &[
                info("/", &[11, 12, 13], &[200, 300, 400]),
                info("/a", &[10], &[5]),
            ],
            &mut st,
        );
        assert_eq!(out.samples, 2);
        assert_eq!(out.sets.len(), 1, "/a brought nothing new");
        let w = &out.sets[0].1.counters[0];
        assert_eq!(w.first, (Timestamp::from_secs(12), 300));
        assert_eq!(w.last, (Timestamp::from_secs(13), 400));
        assert_eq!(out.sets[0].1.scrape_time, Timestamp::from_secs(13));
        assert!(st.containers.get("/a").is_some());
    }

    #[test]
    fn a_clock_gone_back_is_followed_after_two_empty_scrapes() {
        let mut st = NodeScrapeState::default();
        decode("n", &[info("/", &[100], &[1])], &mut st);
        for _ in 0..2 {
            let out = decode("n", &[info("/", &[50], &[2])], &mut st);
            assert_eq!(out.samples, 0);
        }
        decode("n", &[info("/", &[50], &[2])], &mut st);
        assert_eq!(st.last_seen, Some(Timestamp::from_secs(50)));
        let out = decode("n", &[info("/", &[51], &[3])], &mut st);
        assert_eq!(out.samples, 1);
    }
}
