//! The Kubernetes source against a local API server and local kubelets that replay recorded
//! answers (tests/fixtures/kubernetes, see its README): nodes come and go as the watch says,
//! a 410 leads to a new list, the kubelet Summary API's counters become the right rates, and
//! the API's pods, namespaces and nodes enrich the model (labels, requests, limits,
//! allocatable). With agents instead of the Summary API, the API still enriches what the
//! agents report.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crowsnest_core::SystemClock;
use crowsnest_hub::config::default_scrape_timeout;
use crowsnest_hub::{HubConfig, HubHandle, SourceSpec};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::fake::{FakeAgent, FakeContainer};

const RES: Duration = Duration::from_millis(500);
/// The longest a test server keeps a watch open without events.
const IDLE_WATCH: Duration = Duration::from_secs(30);

fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/kubernetes")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// What the fake API server saw and does.
struct Api {
    /// Requests by path and query, in order.
    requests: Mutex<Vec<String>>,
    /// Node lists answered.
    node_lists: Mutex<u32>,
    /// Watch events of the first node watch are sent one per permit.
    release: Semaphore,
}

/// A request's first line: (path, query pairs).
fn parse_target(target: &str) -> (String, BTreeMap<String, String>) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let q = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    (path.to_owned(), q)
}

async fn read_request(s: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut b = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut b))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&b[..n]);
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    Some(text.split(' ').nth(1)?.to_owned())
}

async fn respond(s: &mut TcpStream, status: &str, body: &str) {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(head.as_bytes()).await;
    let _ = s.write_all(body.as_bytes()).await;
    let _ = s.shutdown().await;
}

/// Starts a watch answer: the body ends when the connection closes, as a chunked stream does.
async fn start_stream(s: &mut TcpStream) {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n";
    let _ = s.write_all(head.as_bytes()).await;
}

async fn idle_watch(mut s: TcpStream) {
    start_stream(&mut s).await;
    // Nothing happens; the watch ends after a while (or when the hub goes).
    let mut b = [0u8; 16];
    let _ = tokio::time::timeout(IDLE_WATCH, s.read(&mut b)).await;
    let _ = s.shutdown().await;
}

async fn serve_api(api: Arc<Api>, mut s: TcpStream) {
    let Some(target) = read_request(&mut s).await else {
        return;
    };
    api.requests.lock().unwrap().push(target.clone());
    let (path, q) = parse_target(&target);
    let watch = q.get("watch").is_some_and(|w| w == "1" || w == "true");
    match (path.as_str(), watch) {
        ("/api/v1/nodes", false) => {
            let n = {
                let mut l = api.node_lists.lock().unwrap();
                *l += 1;
                *l
            };
            let body = if n == 1 {
                fixture("nodes-list.json")
            } else {
                fixture("nodes-relist.json")
            };
            respond(&mut s, "200 OK", &body).await;
        }
        ("/api/v1/nodes", true) => match q.get("resourceVersion").map(String::as_str) {
            Some("4501") => {
                start_stream(&mut s).await;
                for line in fixture("nodes-watch.jsonl").lines() {
                    let permit =
                        tokio::time::timeout(Duration::from_secs(60), api.release.acquire()).await;
                    let Ok(Ok(permit)) = permit else { return };
                    permit.forget();
                    if s.write_all(format!("{line}\n").as_bytes()).await.is_err() {
                        return;
                    }
                }
                // The stream ends (the server's timeout): the hub watches again from 4504.
                let _ = s.shutdown().await;
            }
            Some("4504") => {
                start_stream(&mut s).await;
                let _ = s
                    .write_all(fixture("nodes-watch-expired.jsonl").as_bytes())
                    .await;
                let _ = s.shutdown().await;
            }
            _ => idle_watch(s).await,
        },
        ("/api/v1/pods", false) => respond(&mut s, "200 OK", &fixture("pods-list.json")).await,
        ("/api/v1/namespaces", false) => {
            respond(&mut s, "200 OK", &fixture("namespaces-list.json")).await;
        }
        ("/api/v1/pods" | "/api/v1/namespaces", true) => idle_watch(s).await,
        _ => {
            let body = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server could not find the requested resource","reason":"NotFound","code":404}"#;
            respond(&mut s, "404 Not Found", body).await;
        }
    }
}

/// The fake API server on 127.0.0.1.
async fn start_api() -> (Arc<Api>, SocketAddr, tokio::task::JoinHandle<()>) {
    let api = Arc::new(Api {
        requests: Mutex::new(Vec::new()),
        node_lists: Mutex::new(0),
        release: Semaphore::new(0),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let a = api.clone();
    let task = tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(serve_api(a.clone(), s));
        }
    });
    (api, addr, task)
}

/// Kubelets answering `/stats/summary` from fixtures, one per node address, all on one port.
struct Kubelets {
    port: u16,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Kubelets {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Listeners on each of `ips` with one common port.
async fn listeners_on(ips: &[&str]) -> (u16, Vec<TcpListener>) {
    for _ in 0..20 {
        let first = TcpListener::bind(format!("{}:0", ips[0])).await.unwrap();
        let port = first.local_addr().unwrap().port();
        let mut all = vec![first];
        for ip in &ips[1..] {
            match TcpListener::bind(format!("{ip}:{port}")).await {
                Ok(l) => all.push(l),
                Err(_) => break,
            }
        }
        if all.len() == ips.len() {
            return (port, all);
        }
    }
    panic!("no port free on every one of {ips:?}");
}

async fn start_kubelets() -> Kubelets {
    // node-a answers its first summary, then the second (10 s later by its clock) every time.
    let nodes: [(&str, &[&str]); 4] = [
        (
            "127.0.0.11",
            &["summary-node-a-1.json", "summary-node-a-2.json"],
        ),
        ("127.0.0.12", &["summary-node-b.json"]),
        ("127.0.0.13", &["summary-node-c.json"]),
        ("127.0.0.14", &["summary-node-b.json"]),
    ];
    let ips: Vec<&str> = nodes.iter().map(|n| n.0).collect();
    let (port, listeners) = listeners_on(&ips).await;
    let mut tasks = Vec::new();
    for ((_, files), listener) in nodes.iter().zip(listeners) {
        let bodies: Vec<String> = files.iter().map(|f| fixture(f)).collect();
        let served = Arc::new(Mutex::new(0usize));
        tasks.push(tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let (bodies, served) = (bodies.clone(), served.clone());
                tokio::spawn(async move {
                    let Some(target) = read_request(&mut s).await else {
                        return;
                    };
                    if parse_target(&target).0 != "/stats/summary" {
                        respond(&mut s, "404 Not Found", "404 page not found").await;
                        return;
                    }
                    let i = {
                        let mut n = served.lock().unwrap();
                        *n += 1;
                        (*n - 1).min(bodies.len() - 1)
                    };
                    respond(&mut s, "200 OK", &bodies[i]).await;
                });
            }
        }));
    }
    Kubelets { port, tasks }
}

async fn hub(source: &str, agent_port: u16) -> HubHandle {
    let spec = SourceSpec::parse_uri(source, agent_port).unwrap();
    let mut c = HubConfig::new("127.0.0.1:0".parse().unwrap(), vec![spec]);
    c.resolution = RES;
    c.scrape_timeout = default_scrape_timeout(RES);
    c.hosts_poll_interval = Duration::from_millis(100);
    crowsnest_hub::start(c, Arc::new(SystemClock))
        .await
        .unwrap()
}

/// A GET over plain HTTP/1.0: (status, body).
async fn get(h: &HubHandle, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut resp = String::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_string(&mut resp))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, body.to_owned())
}

async fn get_json(h: &HubHandle, path: &str) -> Value {
    let (status, body) = get(h, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

/// Every `floatValue` of a model API result.
async fn values(h: &HubHandle, path: &str) -> Vec<f64> {
    get_json(h, path).await["metrics"]
        .as_array()
        .unwrap_or_else(|| panic!("{path}"))
        .iter()
        .map(|p| p["floatValue"].as_f64().unwrap())
        .collect()
}

async fn last(h: &HubHandle, path: &str) -> Option<f64> {
    values(h, path).await.last().copied()
}

async fn wait_for<F, Fut>(what: &str, secs: u64, mut ok: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(secs) {
        if ok().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out after {secs} s waiting for {what}");
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect()
}

async fn model_nodes(h: &HubHandle) -> Vec<String> {
    names(&get_json(h, "/api/v1/model/nodes").await)
}

async fn scraped_nodes(h: &HubHandle) -> Vec<String> {
    get_json(h, "/api/v1/hub/nodes")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_owned())
        .collect()
}

const WEB: &str = "/api/v1/model/namespaces/prod/pods/web-7c9f8d6b5-x2x9q";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_api_nodes_follow_the_watch_and_rates_and_enrichment_are_right() {
    let (api, api_addr, api_task) = start_api().await;
    let kubelets = start_kubelets().await;
    let h = hub(
        &format!(
            "kubernetes:http://{api_addr}?inClusterConfig=false&useKubeletSummary=true\
             &kubeletPort={}",
            kubelets.port
        ),
        8080,
    )
    .await;

    // The list: node-a and node-b; node-x is not ready and is not scraped.
    wait_for("node-a and node-b in the model", 20, || async {
        model_nodes(&h).await == ["node-a", "node-b"]
    })
    .await;
    assert_eq!(scraped_nodes(&h).await, ["node-a", "node-b"]);

    // Rates from the summary's counters (10 s apart by the kubelet's clock).
    let node_a = "/api/v1/model/nodes/node-a/metrics";
    wait_for("node-a's CPU rate", 20, || async {
        last(&h, &format!("{node_a}/cpu/usage_rate"))
            .await
            .is_some()
    })
    .await;
    let cpu = values(&h, &format!("{node_a}/cpu/usage_rate")).await;
    assert_eq!(
        cpu,
        [1200.0],
        "12 s of CPU in 10 s, once: the later answers repeat it"
    );
    let nginx = format!("{WEB}/containers/nginx/metrics");
    let shipper = format!("{WEB}/containers/log-shipper/metrics");
    assert_eq!(
        values(&h, &format!("{nginx}/cpu/usage_rate")).await,
        [250.0]
    );
    assert_eq!(
        values(&h, &format!("{shipper}/cpu/usage_rate")).await,
        [40.0]
    );
    assert_eq!(
        last(&h, &format!("{WEB}/metrics/cpu/usage_rate")).await,
        Some(295.0),
        "the pod's own counter (sandbox included) is kept over the sum of its containers"
    );
    assert_eq!(
        last(&h, &format!("{nginx}/memory/working_set")).await,
        Some(31_457_280.0)
    );
    // 10000 page faults and 10 MB received in 10 s.
    assert_eq!(
        last(&h, &format!("{node_a}/memory/page_faults_rate")).await,
        Some(1000.0)
    );
    assert_eq!(
        last(&h, &format!("{node_a}/network/rx_rate")).await,
        Some(1_000_000.0)
    );
    assert_eq!(
        last(
            &h,
            &format!("{node_a}/filesystem/usage?labels=resource_id:/")
        )
        .await,
        Some(33_263_639_823.0)
    );

    // Requests and limits from the pod's spec, restarts from its status; absent stays absent.
    assert_eq!(last(&h, &format!("{nginx}/cpu/request")).await, Some(250.0));
    assert_eq!(last(&h, &format!("{nginx}/cpu/limit")).await, Some(500.0));
    assert_eq!(
        last(&h, &format!("{nginx}/memory/request")).await,
        Some(67_108_864.0)
    );
    assert_eq!(
        last(&h, &format!("{nginx}/memory/limit")).await,
        Some(134_217_728.0)
    );
    assert_eq!(last(&h, &format!("{shipper}/memory/limit")).await, None);
    assert_eq!(
        last(&h, &format!("{shipper}/restart_count")).await,
        Some(2.0)
    );
    assert_eq!(
        last(&h, &format!("{WEB}/metrics/cpu/request")).await,
        Some(300.0)
    );
    assert_eq!(
        last(&h, "/api/v1/model/namespaces/prod/metrics/cpu/request").await,
        Some(300.0)
    );
    assert_eq!(
        last(&h, &format!("{node_a}/cpu/request")).await,
        Some(300.0)
    );

    // Node utilization against allocatable (3920m, 15243004Ki), not capacity.
    assert_eq!(
        last(&h, &format!("{node_a}/cpu/node_allocatable")).await,
        Some(3920.0)
    );
    assert_eq!(
        last(&h, &format!("{node_a}/cpu/node_capacity")).await,
        Some(4000.0)
    );
    let util = last(&h, &format!("{node_a}/cpu/node_utilization"))
        .await
        .unwrap();
    // The model keeps a ratio to a ten-thousandth.
    assert!((util - 1200.0 / 3920.0).abs() < 1e-4, "{util}");
    assert_eq!(
        last(&h, &format!("{node_a}/memory/node_allocatable")).await,
        Some(15_243_004.0 * 1024.0)
    );

    // Pod labels through metrics.k8s.io's labelSelector, and the pod's metrics there.
    let pods = get_json(
        &h,
        "/apis/metrics.k8s.io/v1beta1/namespaces/prod/pods?labelSelector=app%3Dweb,tier%3Dfront",
    )
    .await;
    let items = pods["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{pods}");
    assert_eq!(items[0]["metadata"]["name"], "web-7c9f8d6b5-x2x9q");
    assert_eq!(
        items[0]["metadata"]["labels"]["pod-template-hash"],
        "7c9f8d6b5"
    );
    let none = get_json(
        &h,
        "/apis/metrics.k8s.io/v1beta1/namespaces/prod/pods?labelSelector=app%3Ddb",
    )
    .await;
    assert_eq!(none["items"], serde_json::json!([]));
    let keys = names(&get_json(&h, "/api/v1/model/debug/allkeys").await);
    for k in [
        "namespace:prod/pod:web-7c9f8d6b5-x2x9q/container:nginx",
        "node:node-b/container:kubelet",
        "node:node-a/container:docker-daemon",
        "namespace:prod",
        "cluster",
    ] {
        assert!(keys.iter().any(|x| x == k), "{k} in {keys:?}");
    }

    // The watch: node-c is added.
    api.release.add_permits(1);
    wait_for("node-c", 20, || async {
        model_nodes(&h).await == ["node-a", "node-b", "node-c"]
    })
    .await;
    wait_for("CoreDNS on node-c", 20, || async {
        get_json(&h, "/api/v1/model/namespaces/kube-system/pods").await
            == serde_json::json!(["coredns-5d78c9869d-4kq2p"])
    })
    .await;
    assert_eq!(
        last(
            &h,
            "/api/v1/model/namespaces/kube-system/pods/coredns-5d78c9869d-4kq2p/containers/coredns/metrics/memory/limit"
        )
        .await,
        Some(170.0 * 1024.0 * 1024.0)
    );
    // node-a is modified (a label), node-b is deleted: it is no longer scraped and leaves the
    // model's list after two batches.
    api.release.add_permits(2);
    // (The 410 and the new list follow at once, so node-d may already be there.)
    wait_for("node-b to go", 20, || async {
        let (s, m) = (scraped_nodes(&h).await, model_nodes(&h).await);
        s.starts_with(&["node-a".into(), "node-c".into()])
            && m.starts_with(&["node-a".into(), "node-c".into()])
            && !s.contains(&"node-b".into())
            && !m.contains(&"node-b".into())
    })
    .await;

    // The stream ended; the next watch (from 4504) gets 410 Expired; the new list has node-d,
    // which no event announced.
    wait_for("node-d from the new list", 20, || async {
        model_nodes(&h).await == ["node-a", "node-c", "node-d"]
    })
    .await;
    assert_eq!(*api.node_lists.lock().unwrap(), 2, "one list, one relist");
    let reqs = api.requests.lock().unwrap().clone();
    let watches: Vec<&String> = reqs
        .iter()
        .filter(|r| r.starts_with("/api/v1/nodes?watch=1"))
        .collect();
    assert!(
        watches.len() >= 3
            && watches[0].contains("resourceVersion=4501")
            && watches[1].contains("resourceVersion=4504")
            && watches[2].contains("resourceVersion=4600"),
        "{watches:?}"
    );
    let sources = get_json(&h, "/api/v1/hub/sources").await;
    assert_eq!(sources[0]["nodes"], 3, "{sources}");
    assert!(
        sources[0]["source"]
            .as_str()
            .unwrap()
            .starts_with("kubernetes http://127.0.0.1"),
        "{sources}"
    );
    h.stop().await.unwrap();
    api_task.abort();
    drop(kubelets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_on_the_api_servers_nodes_are_enriched_from_it() {
    let (_api, api_addr, api_task) = start_api().await;
    // Agents on node-a's and node-b's addresses (one port: --agent-port).
    let (port, mut listeners) = listeners_on(&["127.0.0.11", "127.0.0.12"]).await;
    let mut nginx = FakeContainer::pod("prod", "web-7c9f8d6b5-x2x9q", "nginx", 120);
    nginx.shares = 1024;
    let mut sandbox = FakeContainer::pod("prod", "web-7c9f8d6b5-x2x9q", "POD", 1);
    sandbox.labels.insert("app".into(), "stale".into());
    let b_listener = listeners.pop().unwrap();
    let a_listener = listeners.pop().unwrap();
    let agent_a = FakeAgent::start_on(
        a_listener,
        vec![FakeContainer::new("/", 900), nginx, sandbox],
    )
    .await;
    let agent_b = FakeAgent::start_on(b_listener, vec![FakeContainer::new("/", 100)]).await;
    let h = hub(
        &format!("kubernetes:http://{api_addr}?inClusterConfig=false"),
        port,
    )
    .await;
    wait_for("both agents scraped", 20, || async {
        model_nodes(&h).await == ["node-a", "node-b"]
    })
    .await;
    let nginx = format!("{WEB}/containers/nginx/metrics");
    wait_for("nginx's CPU rate", 20, || async {
        last(&h, &format!("{nginx}/cpu/usage_rate")).await.is_some()
    })
    .await;
    let rate = last(&h, &format!("{nginx}/cpu/usage_rate")).await.unwrap();
    assert!((rate - 120.0).abs() < 0.5, "{rate}");
    // The spec's request (250m), not the one read back from cpu.shares (1000m).
    assert_eq!(last(&h, &format!("{nginx}/cpu/request")).await, Some(250.0));
    assert_eq!(last(&h, &format!("{nginx}/cpu/limit")).await, Some(500.0));
    // The pod's labels are the API's, not the sandbox's runtime labels.
    let pods = get_json(
        &h,
        "/apis/metrics.k8s.io/v1beta1/namespaces/prod/pods?labelSelector=app%3Dweb",
    )
    .await;
    assert_eq!(pods["items"].as_array().unwrap().len(), 1, "{pods}");
    let allocatable = last(
        &h,
        "/api/v1/model/nodes/node-a/metrics/memory/node_allocatable",
    )
    .await;
    assert_eq!(allocatable, Some(15_243_004.0 * 1024.0));
    h.stop().await.unwrap();
    api_task.abort();
    drop((agent_a, agent_b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_api_server_is_reported_and_a_bad_option_refused() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let h = hub(
        &format!("kubernetes:http://127.0.0.1:{port}?inClusterConfig=false"),
        8080,
    )
    .await;
    wait_for("the error in the source's status", 20, || async {
        get_json(&h, "/api/v1/hub/sources").await[0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("list /api/v1/nodes") && e.contains("onnect"))
    })
    .await;
    h.stop().await.unwrap();
    let e = SourceSpec::parse_uri("kubernetes:https://k8s?kubeletPrt=10250", 8080)
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown option \"kubeletPrt\""), "{e}");
    let mut c = HubConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        vec![
            SourceSpec::parse_uri(
                "kubernetes:?inClusterConfig=false&auth=/nonexistent/kubeconfig",
                8080,
            )
            .unwrap(),
        ],
    );
    c.resolution = RES;
    let e = crowsnest_hub::start(c, Arc::new(SystemClock))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/kubeconfig"), "{e}");
}
