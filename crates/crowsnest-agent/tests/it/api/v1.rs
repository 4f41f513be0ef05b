//! v1.x: `containers`, `subcontainers`, `machine`, `docker`; sample selection with
//! `num_stats`, `start` and `end`.

use axum::http::StatusCode;
use serde_json::json;

use super::{DOCKER_ID, Reply, SSHD, app, get, get_json, send, timestamps};

#[tokio::test]
async fn v1_container_has_cadvisor_shape() {
    let v = get_json("/api/v1.3/containers/system.slice/sshd.service").await;
    assert_eq!(v["name"], json!(SSHD));
    assert!(v.get("id").is_none() && v.get("aliases").is_none() && v.get("namespace").is_none());
    assert!(
        v.get("subcontainers").is_none(),
        "a leaf has no subcontainers key"
    );
    assert_eq!(
        v["spec"],
        json!({
            "creation_time": "2025-12-31T23:00:00Z",
            "has_cpu": true,
            "cpu": {"limit": 1024, "max_limit": 0, "mask": "0-3", "quota": 50000, "period": 100000},
            "has_memory": true,
            "memory": {"limit": 536870912},
            "has_hugetlb": false,
            "has_network": false,
            "has_processes": true,
            "processes": {"limit": 4915},
            "has_filesystem": false,
            "has_diskio": false,
            "has_custom_metrics": false
        })
    );
    let stats = &v["stats"];
    assert_eq!(
        timestamps(stats),
        [
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:01.5Z",
            "2026-01-01T00:00:03Z",
            "2026-01-01T00:00:04.5Z",
            "2026-01-01T00:00:06Z",
            "2026-01-01T00:00:07.5Z"
        ]
    );
    assert_eq!(
        stats[5],
        json!({
            "timestamp": "2026-01-01T00:00:07.5Z",
            "cpu": {"usage": {
                "total": 2_500_000_000u64,
                "per_cpu_usage": [1_250_000_000u64, 1_250_000_000u64],
                "user": 1_500_000_000u64,
                "system": 750_000_000u64
            }},
            "memory": {
                "usage": 10_005_000,
                "cache": 2_000_000,
                "rss": 6_000_000,
                "working_set": 8_005_000,
                "container_data": {"pgfault": 500, "pgmajfault": 5},
                "hierarchical_data": {"pgfault": 500, "pgmajfault": 5}
            },
            "processes": {"process_count": 1, "threads_current": 2}
        })
    );
    assert!(
        stats[5]["memory"].get("swap").is_none(),
        "absent swap is omitted, not 0"
    );
}

#[tokio::test]
async fn v1_root_lists_direct_children_and_inlines_the_first_interface() {
    for uri in [
        "/api/v1.3/containers",
        "/api/v1.3/containers/",
        "/api/v1.0/containers/a/..",
    ] {
        let v = get_json(uri).await;
        assert_eq!(v["name"], json!("/"), "{uri}");
        assert_eq!(
            v["subcontainers"],
            json!([{"name": "/docker"}, {"name": "/system.slice"}])
        );
    }
    let v = get_json("/api/v1.3/containers/").await;
    let iface = |name: &str, k: u64| {
        json!({
            "name": name, "rx_bytes": 6_000 * k, "rx_packets": 60 * k, "rx_errors": 0,
            "rx_dropped": 0, "tx_bytes": 3_000 * k, "tx_packets": 30 * k, "tx_errors": 0,
            "tx_dropped": 0
        })
    };
    let mut want = iface("eth0", 1);
    want["interfaces"] = json!([iface("eth0", 1), iface("lo", 2)]);
    assert_eq!(v["stats"][5]["network"], want);
    assert_eq!(
        v["stats"][5]["filesystem"],
        json!([{
            "device": "/dev/vda1", "type": "ext4", "capacity": 100000, "usage": 40000,
            "available": 60000, "has_inodes": true, "inodes": 1000, "inodes_free": 900
        }])
    );
}

#[tokio::test]
async fn v1_num_stats_start_end_from_body_and_query() {
    let app = app();
    let uri = "/api/v1.3/containers/system.slice/sshd.service";
    let stats = |r: Reply| r.json()["stats"].clone();
    // The web UI's request: newest 60 of 6.
    let r = send(&app, "POST", uri, r#"{"num_stats":60,"num_samples":0}"#).await;
    assert_eq!(timestamps(&stats(r)).len(), 6);
    let r = send(&app, "POST", uri, r#"{"num_stats":2}"#).await;
    assert_eq!(
        timestamps(&stats(r)),
        ["2026-01-01T00:00:06Z", "2026-01-01T00:00:07.5Z"]
    );
    // [start, end] inclusive, then the newest num_stats of those, oldest first.
    let body =
        r#"{"num_stats":2,"start":"2026-01-01T00:00:03Z","end":"2026-01-01T01:00:06+01:00"}"#;
    let r = send(&app, "PUT", uri, body).await;
    assert_eq!(
        timestamps(&stats(r)),
        ["2026-01-01T00:00:04.5Z", "2026-01-01T00:00:06Z"]
    );
    // The query overrides the body.
    let r = send(
        &app,
        "POST",
        &format!("{uri}?num_stats=1"),
        r#"{"num_stats":5}"#,
    )
    .await;
    assert_eq!(timestamps(&stats(r)), ["2026-01-01T00:00:07.5Z"]);
    let r = send(
        &app,
        "GET",
        &format!("{uri}?start=2026-01-01T00:00:06Z&num_stats=-1"),
        "",
    )
    .await;
    assert_eq!(
        timestamps(&stats(r)),
        ["2026-01-01T00:00:06Z", "2026-01-01T00:00:07.5Z"]
    );
    // Go clients send zero times for "no bound".
    let body = r#"{"num_stats":-1,"start":"0001-01-01T00:00:00Z","end":"0001-01-01T00:00:00Z"}"#;
    assert_eq!(
        timestamps(&stats(send(&app, "POST", uri, body).await)).len(),
        6
    );
    // No samples selected: no stats key at all.
    let r = send(&app, "GET", &format!("{uri}?num_stats=0"), "").await;
    assert!(r.json().get("stats").is_none());
    let r = send(
        &app,
        "GET",
        &format!("{uri}?start=2027-01-01T00:00:00Z"),
        "",
    )
    .await;
    assert!(r.json().get("stats").is_none());
}

#[tokio::test]
async fn v1_subcontainers_are_the_container_and_all_descendants() {
    let v = get_json("/api/v1.1/subcontainers/system.slice").await;
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["/system.slice", SSHD]);
    assert_eq!(v[0]["subcontainers"], json!([{"name": SSHD}]));
    let v = get_json("/api/v1.3/subcontainers/?num_stats=1").await;
    assert_eq!(v.as_array().unwrap().len(), 5);
    assert!(v.as_array().unwrap().iter().all(|c| {
        c.get("stats")
            .is_none_or(|s| s.as_array().unwrap().len() == 1)
    }));
}

#[tokio::test]
async fn v1_machine_and_docker() {
    let v = get_json("/api/v1.0/machine").await;
    assert_eq!(v["num_cores"], json!(4));
    assert_eq!(v["memory_capacity"], json!(8u64 << 30));
    assert_eq!(v["machine_id"], json!("abc123"));
    assert_eq!(v["timestamp"], json!("2026-01-01T00:00:00Z"));

    let name = format!("/docker/{DOCKER_ID}");
    for uri in [
        "/api/v1.2/docker",
        "/api/v1.3/docker/",
        "/api/v1.3/docker/web",
        "/api/v1.3/docker/4f2a9c",
    ] {
        let v = get_json(uri).await;
        assert_eq!(v.as_object().unwrap().len(), 1, "{uri}");
        let c = &v[&name];
        assert_eq!(c["id"], json!(DOCKER_ID), "{uri}");
        assert_eq!(c["aliases"], json!(["web", DOCKER_ID]));
        assert_eq!(c["namespace"], json!("docker"));
        assert_eq!(c["spec"]["image"], json!("nginx:1.27"));
    }
    assert_eq!(
        get("/api/v1.3/docker/nope").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get("/api/v1.1/docker/").await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn json_escapes_like_go() {
    let r = get(&format!("/api/v1.3/containers/docker/{DOCKER_ID}")).await;
    assert!(
        r.text().contains(r#""labels":{"team":"a\u0026b"}"#),
        "{}",
        r.text()
    );
    assert_eq!(r.json()["spec"]["labels"]["team"], json!("a&b"));
}
