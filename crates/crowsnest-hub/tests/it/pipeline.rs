//! The whole hub against fake agents: known rates come out of the model API and
//! metrics.k8s.io, aggregates are the sums they should be, slow, dead, reset, restarted and
//! skewed nodes give no nonsense, and the hosts file is followed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crowsnest_core::{Clock, SystemClock};
use crowsnest_hub::config::default_scrape_timeout;
use crowsnest_hub::{HubConfig, HubHandle, NodeAddr, SourceSpec};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::fake::{FakeAgent, FakeContainer};

const RES: Duration = Duration::from_millis(500);

fn node(name: &str, a: &FakeAgent) -> NodeAddr {
    NodeAddr {
        name: name.into(),
        host: "127.0.0.1".into(),
        port: a.addr.port(),
    }
}

async fn hub(sources: Vec<SourceSpec>) -> HubHandle {
    let mut c = HubConfig::new("127.0.0.1:0".parse().unwrap(), sources);
    c.resolution = RES;
    c.scrape_timeout = default_scrape_timeout(RES);
    c.hosts_poll_interval = Duration::from_millis(100);
    crowsnest_hub::start(c, Arc::new(SystemClock))
        .await
        .unwrap()
}

/// A GET over plain HTTP/1.0: (status, body).
async fn get(h: &HubHandle, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(h.addr).await.unwrap();
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
    let v = get_json(h, path).await;
    v["metrics"]
        .as_array()
        .unwrap_or_else(|| panic!("{path}: {v}"))
        .iter()
        .map(|p| p["floatValue"].as_f64().unwrap())
        .collect()
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

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 0.01
}

async fn last(h: &HubHandle, path: &str) -> Option<f64> {
    values(h, path).await.last().copied()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_rates_aggregate_to_pods_namespaces_nodes_and_cluster() {
    let mut infra = FakeContainer::pod("prod", "web", "POD", 1);
    infra.labels.insert("app".into(), "web".into());
    infra.network = true;
    let mut nginx = FakeContainer::pod("prod", "web", "nginx", 100);
    nginx.shares = 102;
    let mut sidecar = FakeContainer::pod("prod", "web", "sidecar", 50);
    sidecar.shares = 51;
    let mut db = FakeContainer::pod("prod", "db", "main", 30);
    db.shares = 2;
    let a = FakeAgent::start(vec![
        FakeContainer::new("/system.slice/a.service", 250),
        infra,
        nginx,
        sidecar,
        db,
    ])
    .await;
    let b = FakeAgent::start(vec![FakeContainer::new("/b", 500)]).await;
    let h = hub(vec![SourceSpec::Static(vec![
        node("n1", &a),
        node("n2", &b),
    ])])
    .await;

    wait_for("the cluster's CPU rate", 15, || async {
        last(&h, "/api/v1/model/metrics/cpu/usage_rate")
            .await
            .is_some()
    })
    .await;
    // Free (system) containers, pods, namespaces, nodes and the cluster.
    let free = get_json(&h, "/api/v1/model/nodes/n1/freecontainers").await;
    assert_eq!(free, serde_json::json!(["system.slice/a.service"]));
    let p = "/api/v1/model/nodes/n1/freecontainers/system.slice/a.service/metrics/cpu/usage_rate";
    assert!(
        values(&h, p).await.iter().all(|v| close(*v, 250.0)),
        "{:?}",
        values(&h, p).await
    );
    assert_eq!(
        get_json(&h, "/api/v1/model/nodes").await,
        serde_json::json!(["n1", "n2"])
    );
    assert_eq!(
        get_json(&h, "/api/v1/model/namespaces").await,
        serde_json::json!(["prod"])
    );
    assert_eq!(
        get_json(&h, "/api/v1/model/namespaces/prod/pods").await,
        serde_json::json!(["db", "web"])
    );
    assert_eq!(
        get_json(&h, "/api/v1/model/namespaces/prod/pods/web/containers").await,
        serde_json::json!(["nginx", "sidecar"]),
        "the sandbox is not a container of the pod"
    );
    let web = "/api/v1/model/namespaces/prod/pods/web/metrics";
    assert!(close(
        last(&h, &format!("{web}/cpu-usage")).await.unwrap(),
        150.0
    ));
    assert_eq!(
        last(&h, &format!("{web}/memory/working_set")).await,
        Some(2.0 * (64 << 20) as f64)
    );
    assert_eq!(last(&h, &format!("{web}/cpu/request")).await, Some(150.0));
    assert!(
        last(&h, &format!("{web}/network/rx_rate")).await.is_some(),
        "network comes from the sandbox"
    );
    let c = "/api/v1/model/namespaces/prod/pods/web/containers/nginx/metrics";
    assert!(close(
        last(&h, &format!("{c}/cpu/usage_rate")).await.unwrap(),
        100.0
    ));
    assert_eq!(last(&h, &format!("{c}/cpu/request")).await, Some(100.0));
    assert!(
        last(&h, &format!("{c}/network/rx")).await.is_none(),
        "network is the pod's"
    );
    assert!(close(
        last(&h, "/api/v1/model/namespaces/prod/metrics/cpu/usage_rate")
            .await
            .unwrap(),
        180.0
    ));
    assert_eq!(
        last(&h, "/api/v1/model/namespaces/prod/metrics/cpu/request").await,
        Some(150.0)
    );
    assert!(
        last(&h, "/api/v1/model/namespaces/prod/metrics/memory/limit")
            .await
            .is_none()
    );
    // Node usage is its root's (containers + 100m of its own), requests are its pods'.
    let n1 = last(&h, "/api/v1/model/nodes/n1/metrics/cpu/usage_rate")
        .await
        .unwrap();
    let n2 = last(&h, "/api/v1/model/nodes/n2/metrics/cpu/usage_rate")
        .await
        .unwrap();
    assert!(close(n1, 531.0) && close(n2, 600.0), "{n1} {n2}");
    assert_eq!(
        last(&h, "/api/v1/model/nodes/n1/metrics/cpu/request").await,
        Some(150.0)
    );
    let util = last(&h, "/api/v1/model/nodes/n1/metrics/cpu/node_utilization")
        .await
        .unwrap();
    assert!((util - 531.0 / 4000.0).abs() < 1e-4, "{util}");
    let cluster = last(&h, "/api/v1/model/metrics/cpu/usage_rate")
        .await
        .unwrap();
    assert!(
        close(cluster, n1 + n2),
        "cluster {cluster} = nodes {n1} + {n2}"
    );
    assert_eq!(
        last(&h, "/api/v1/model/metrics/cpu/request").await,
        Some(150.0)
    );
    // Heapster's shapes: integer value next to the float; pod-list in request order.
    let v = get_json(&h, "/api/v1/model/nodes/n1/metrics/cpu/usage_rate").await;
    let p0 = &v["metrics"][0];
    assert_eq!(
        p0["value"].as_u64(),
        Some(p0["floatValue"].as_f64().unwrap().trunc() as u64)
    );
    assert!(v["latestTimestamp"].as_str().unwrap().ends_with('Z'));
    let list = get_json(
        &h,
        "/api/v1/model/namespaces/prod/pod-list/web,nope,db/metrics/cpu-usage",
    )
    .await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[1]["metrics"], serde_json::json!([]));
    assert_eq!(items[1]["latestTimestamp"], "0001-01-01T00:00:00Z");
    assert!(close(
        items[2]["metrics"][0]["floatValue"].as_f64().unwrap(),
        30.0
    ));
    let keys = get_json(&h, "/api/v1/model/debug/allkeys").await;
    for k in [
        "cluster",
        "namespace:prod",
        "namespace:prod/pod:web",
        "namespace:prod/pod:web/container:nginx",
        "node:n1",
        "node:n1/container:system.slice/a.service",
    ] {
        assert!(
            keys.as_array().unwrap().iter().any(|x| x == k),
            "{k} in {keys}"
        );
    }
    let names = get_json(&h, "/api/v1/model/nodes/n1/metrics").await;
    assert!(
        names
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == "cpu/node_capacity"),
        "{names}"
    );
    // metrics.k8s.io, as kubectl top reads it.
    let pod = get_json(&h, "/apis/metrics.k8s.io/v1beta1/namespaces/prod/pods/web").await;
    assert_eq!(pod["kind"], "PodMetrics");
    assert_eq!(pod["metadata"]["labels"]["app"], "web");
    let cs = pod["containers"].as_array().unwrap();
    assert_eq!(cs[0]["name"], "nginx");
    assert_eq!(cs[0]["usage"]["cpu"], "100m");
    assert_eq!(cs[0]["usage"]["memory"], "64Mi");
    let sel = get_json(
        &h,
        "/apis/metrics.k8s.io/v1beta1/namespaces/prod/pods?labelSelector=app%3Dweb",
    )
    .await;
    assert_eq!(sel["items"].as_array().unwrap().len(), 1);
    let sel = get_json(
        &h,
        "/apis/metrics.k8s.io/v1beta1/pods?labelSelector=app%3Ddb",
    )
    .await;
    assert_eq!(sel["items"].as_array().unwrap().len(), 0);
    let nodes = get_json(&h, "/apis/metrics.k8s.io/v1beta1/nodes").await;
    assert_eq!(nodes["kind"], "NodeMetricsList");
    assert_eq!(nodes["items"][1]["usage"]["cpu"], "600m");
    assert_eq!(nodes["items"][1]["usage"]["memory"], "512Mi");
    assert!(nodes["items"][1]["window"].as_str().unwrap().ends_with('s'));
    let (status, body) = get(&h, "/apis/metrics.k8s.io/v1beta1/nodes/nope").await;
    assert_eq!(status, 404);
    assert!(body.contains("\"reason\":\"NotFound\""), "{body}");
    let (status, _) = get(&h, "/api/v1/model/metrics/cpu/usage_rate?start=yesterday").await;
    assert_eq!(status, 400);
    // /metrics: the hub's own and the aggregated series, in text promtool accepts.
    let (_, text) = get(&h, "/metrics").await;
    assert!(
        text.contains("crowsnest_hub_node_healthy{node=\"n1\"} 1\n"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("crowsnest_cpu_usage_rate_millicores{")
                && l.contains("type=\"cluster\""))
    );
    let containers = |t: &str| {
        t.lines()
            .any(|l| l.starts_with("crowsnest_memory_usage_bytes{") && l.contains("sys_container"))
    };
    assert!(!containers(&text), "containers only with ?containers=true");
    let (_, all) = get(&h, "/metrics?containers=true").await;
    assert!(containers(&all));
    let _ = crowsnest_testkit::promtool::check_metrics(&all);
    h.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_dead_nodes_never_hold_up_the_others() {
    let good = FakeAgent::start(vec![FakeContainer::new("/g", 200)]).await;
    let slow = FakeAgent::start(vec![FakeContainer::new("/s", 100)]).await;
    slow.with(|s| s.delay = Duration::from_secs(2));
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = NodeAddr {
        name: "dead".into(),
        host: "127.0.0.1".into(),
        port: dead_port,
    };
    let h = hub(vec![SourceSpec::Static(vec![
        node("good", &good),
        node("slow", &slow),
        dead,
    ])])
    .await;
    let started = Instant::now();
    wait_for("four batches with the good node", 10, || async {
        values(&h, "/api/v1/model/nodes/good/metrics/cpu/usage_rate")
            .await
            .len()
            >= 4
    })
    .await;
    assert!(started.elapsed() < RES * 8, "{:?}", started.elapsed());
    let nodes = get_json(&h, "/api/v1/hub/nodes").await;
    let by = |n: &str| {
        nodes
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(by("good")["healthy"], true);
    assert_eq!(by("slow")["healthy"], false);
    assert!(
        by("slow")["last_error"]
            .as_str()
            .unwrap()
            .contains("no answer within"),
        "{nodes}"
    );
    assert_eq!(by("dead")["healthy"], false);
    assert!(
        by("dead")["last_error"]
            .as_str()
            .unwrap()
            .contains("refused"),
        "{nodes}"
    );
    let (status, body) = get(&h, "/healthz").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("node dead (") && body.contains("down"),
        "{body}"
    );
    // Cycles are not stretched by the slow node.
    let (_, text) = get(&h, "/metrics").await;
    let metric = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let (sum, count) = (
        metric("crowsnest_hub_cycle_duration_seconds_sum "),
        metric("crowsnest_hub_cycle_duration_seconds_count "),
    );
    assert!(
        count >= 3.0 && sum / count < RES.as_secs_f64(),
        "{sum} / {count}"
    );
    // The slow node recovers; the dead one comes up on its port.
    slow.with(|s| s.delay = Duration::ZERO);
    wait_for("the slow node's rate", 10, || async {
        last(
            &h,
            "/api/v1/model/nodes/slow/freecontainers/s/metrics/cpu/usage_rate",
        )
        .await
        .is_some_and(|v| close(v, 100.0))
    })
    .await;
    h.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resets_restarts_and_agent_restarts_give_no_negative_or_absurd_rate() {
    let a = FakeAgent::start(vec![FakeContainer::new("/c", 200)]).await;
    let h = hub(vec![SourceSpec::Static(vec![node("n", &a)])]).await;
    let path = "/api/v1/model/nodes/n/freecontainers/c/metrics/cpu/usage_rate";
    wait_for("a rate", 10, || async { last(&h, path).await.is_some() }).await;
    a.reset_counters();
    tokio::time::sleep(RES * 3).await;
    a.with(|s| {
        let c = &mut s.containers[0];
        c.created = crowsnest_core::Timestamp::from_secs(2_000);
        c.cpu_base = 5;
    });
    tokio::time::sleep(RES * 3).await;
    // The agent goes away and comes back on the same port: its history starts again.
    a.with(|s| s.fail = true);
    tokio::time::sleep(RES * 3).await;
    a.with(|s| {
        s.fail = false;
        s.since = SystemClock.now();
    });
    tokio::time::sleep(RES * 4).await;
    let v = values(&h, path).await;
    assert!(v.len() >= 6, "{v:?}");
    assert!(
        v.iter().all(|r| (0.0..=200.01).contains(r)),
        "never negative or absurd: {v:?}"
    );
    assert!(close(*v.last().unwrap(), 200.0), "{v:?}");
    let node = values(&h, "/api/v1/model/nodes/n/metrics/cpu/usage_rate").await;
    assert!(node.iter().all(|r| (0.0..=300.01).contains(r)), "{node:?}");
    let (_, text) = get(&h, "/metrics").await;
    let metric = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    assert!(metric("crowsnest_hub_rate_resets_total ") >= 1.0, "{text}");
    assert!(
        metric("crowsnest_hub_container_restarts_total ") >= 1.0,
        "{text}"
    );
    h.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_clocks_an_hour_apart_give_the_same_rates() {
    let mut agents = Vec::new();
    for skew in [0i64, 3600, -3600] {
        let a = FakeAgent::start(vec![FakeContainer::new("/c", 300)]).await;
        a.with(|s| {
            s.skew = skew * 1_000_000_000;
            s.containers[0].t0 = s.containers[0].t0.add_nanos(s.skew);
        });
        agents.push(a);
    }
    let nodes = agents
        .iter()
        .enumerate()
        .map(|(i, a)| node(&format!("n{i}"), a))
        .collect();
    let h = hub(vec![SourceSpec::Static(nodes)]).await;
    for i in 0..3 {
        let p = format!("/api/v1/model/nodes/n{i}/freecontainers/c/metrics/cpu/usage_rate");
        wait_for("a rate on every node", 10, || async {
            last(&h, &p).await.is_some()
        })
        .await;
        let v = values(&h, &p).await;
        assert!(v.iter().all(|r| close(*r, 300.0)), "n{i}: {v:?}");
    }
    h.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hosts_file_is_followed_and_a_bad_one_keeps_the_last_good_list() {
    let a = FakeAgent::start(vec![FakeContainer::new("/c", 10)]).await;
    let b = FakeAgent::start(vec![FakeContainer::new("/c", 20)]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hosts");
    let item = |n: &str, ag: &FakeAgent| {
        format!(
            r#"{{"name":"{n}","ip":"127.0.0.1","port":{}}}"#,
            ag.addr.port()
        )
    };
    std::fs::write(&path, format!(r#"{{"items":[{}]}}"#, item("a", &a))).unwrap();
    let h = hub(vec![SourceSpec::HostsFile {
        path: path.clone(),
        port: 1,
    }])
    .await;
    let names = |v: Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|n| n["name"].as_str().unwrap().to_owned())
            .collect()
    };
    wait_for("node a", 10, || async {
        names(get_json(&h, "/api/v1/hub/nodes").await) == ["a"]
    })
    .await;
    std::fs::write(
        &path,
        format!("{{\"items\":[\n{},\n{}\n]}}", item("a", &a), item("b", &b)),
    )
    .unwrap();
    wait_for("node b in the model", 10, || async {
        get_json(&h, "/api/v1/model/nodes").await == serde_json::json!(["a", "b"])
    })
    .await;
    std::fs::write(
        &path,
        "{\"items\":[\n{\"name\":\"a\",\"ip\":\"127.0.0.1\"},\n{\"name\":\"b\"}\n]}",
    )
    .unwrap();
    wait_for("the error to show", 10, || async {
        get_json(&h, "/api/v1/hub/sources").await[0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("line 3, column 1: items[1].ip: missing"))
    })
    .await;
    assert_eq!(
        names(get_json(&h, "/api/v1/hub/nodes").await),
        ["a", "b"],
        "the last good list"
    );
    let (_, text) = get(&h, "/metrics").await;
    assert!(
        text.contains("crowsnest_hub_source_ok{source=\"hosts file "),
        "{text}"
    );
    std::fs::write(&path, format!(r#"{{"items":[{}]}}"#, item("b", &b))).unwrap();
    wait_for("node a to go", 10, || async {
        names(get_json(&h, "/api/v1/hub/nodes").await) == ["b"]
    })
    .await;
    h.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_fails_when_no_node_answers() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = NodeAddr {
        name: "gone".into(),
        host: "127.0.0.1".into(),
        port,
    };
    let h = hub(vec![SourceSpec::Static(vec![dead])]).await;
    tokio::time::sleep(RES * 2).await;
    let (status, body) = get(&h, "/healthz").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.starts_with("unhealthy: 0 of 1 nodes") && body.contains("node gone"),
        "{body}"
    );
    assert_eq!(
        get_json(&h, "/api/v1/model/nodes").await,
        serde_json::json!([])
    );
    assert_eq!(
        get_json(&h, "/apis/metrics.k8s.io/v1beta1/nodes").await["items"],
        serde_json::json!([])
    );
    h.stop().await.unwrap();
}
