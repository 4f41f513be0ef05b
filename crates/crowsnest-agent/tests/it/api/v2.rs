//! v2.0/v2.1: `version`, `machine`, `attributes`, `spec`, `stats`, `summary`,
//! `machinestats`, with `type`, `recursive` and `count`.

use axum::http::StatusCode;
use serde_json::json;

use super::{DOCKER_ID, SSHD, get, get_json, timestamps};

#[tokio::test]
async fn v2_version_is_a_bare_string() {
    let r = get("/api/v2.0/version").await;
    assert_eq!(
        (r.status, r.content_type.as_str()),
        (StatusCode::OK, "application/json")
    );
    assert_eq!(r.text(), "\"0.1.0\"");
    assert_eq!(get("/api/v2.1/version").await.text(), "\"0.1.0\"");
}

#[tokio::test]
async fn v2_machine_and_attributes() {
    assert_eq!(get_json("/api/v2.0/machine").await["num_cores"], json!(4));
    let a = get_json("/api/v2.1/attributes").await;
    assert_eq!(a["kernel_version"], json!("6.8.0"));
    assert_eq!(a["cadvisor_version"], json!("0.1.0"));
    assert_eq!(a["num_cores"], json!(4));
    assert_eq!(a["memory_capacity"], json!(8u64 << 30));
    for key in [
        "docker_version",
        "cpu_frequency_khz",
        "filesystems",
        "disk_map",
        "topology",
        "instance_type",
    ] {
        assert!(a.get(key).is_some(), "attributes lacks {key}");
    }
}

#[tokio::test]
async fn v2_spec_moves_aliases_and_namespace_inside() {
    let v = get_json(&format!("/api/v2.0/spec/docker/{DOCKER_ID}")).await;
    let name = format!("/docker/{DOCKER_ID}");
    assert_eq!(
        v,
        json!({ name: {
            "creation_time": "2025-12-31T23:00:00Z",
            "aliases": ["web", DOCKER_ID],
            "namespace": "docker",
            "labels": {"team": "a&b"},
            "has_cpu": true,
            "cpu": {"limit": 0, "max_limit": 0},
            "has_memory": true,
            "memory": {"limit": 8u64 << 30},
            "has_hugetlb": false,
            "has_custom_metrics": false,
            "has_processes": false,
            "processes": {},
            "has_network": false,
            "has_filesystem": false,
            "has_diskio": false,
            "image": "nginx:1.27"
        }})
    );
    let v = get_json("/api/v2.0/spec/system.slice?recursive=true").await;
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["/system.slice", SSHD]);
}

#[tokio::test]
async fn v2_1_stats_are_keyed_by_name_with_exact_cpu_inst() {
    let v = get_json("/api/v2.1/stats/system.slice?recursive=true&count=3").await;
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["/system.slice", SSHD]);
    let sshd = &v[SSHD];
    assert_eq!(sshd["spec"]["has_cpu"], json!(true));
    assert_eq!(sshd["spec"]["cpu"]["quota"], json!(50000));
    let stats = &sshd["stats"];
    assert_eq!(
        timestamps(stats),
        [
            "2026-01-01T00:00:04.5Z",
            "2026-01-01T00:00:06Z",
            "2026-01-01T00:00:07.5Z"
        ]
    );
    assert!(
        stats[0].get("cpu_inst").is_none(),
        "the oldest returned sample has no rate"
    );
    // 0.7 s of CPU over 1.5 s: 466_666_666.67 nanocores, rounded down.
    assert_eq!(
        stats[1]["cpu_inst"]["usage"]["total"],
        json!(466_666_666u64)
    );
    // Samples 4 → 5: Δtotal 0.9 s, Δper-CPU 0.45 s, Δuser 0.54 s, Δsystem 0.27 s, over 1.5 s.
    assert_eq!(
        stats[2]["cpu_inst"],
        json!({"usage": {
            "total": 600_000_000u64,
            "per_cpu_usage": [300_000_000u64, 300_000_000u64],
            "user": 360_000_000u64,
            "system": 180_000_000u64
        }})
    );
    assert_eq!(stats[2]["cpu"]["usage"]["total"], json!(2_500_000_000u64));
    assert_eq!(stats[2]["memory"]["working_set"], json!(8_005_000));
    assert_eq!(
        stats[2]["processes"],
        json!({"process_count": 1, "threads_current": 2})
    );
    assert!(stats[2].get("network").is_none(), "has_network is false");
    assert!(stats[2].get("filesystem").is_none());
    assert_eq!(
        v["/system.slice"]["stats"][2].get("processes"),
        None,
        "has_processes is false"
    );

    // count=-1 is all; the default is 64; "/" is never in the map.
    let v = get_json("/api/v2.1/stats/system.slice/sshd.service?count=-1").await;
    assert_eq!(v[SSHD]["stats"].as_array().unwrap().len(), 6);
    let v = get_json("/api/v2.1/stats/?recursive=true").await;
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 4);
    assert!(!keys.iter().any(|k| *k == "/"));
    assert!(
        v["/docker"].get("stats").is_none(),
        "no samples, no stats key"
    );
    assert_eq!(get_json("/api/v2.1/stats/").await, json!({}));
}

#[tokio::test]
async fn v2_0_stats_are_deprecated_shape_with_has_flags() {
    let v = get_json("/api/v2.0/stats/system.slice/sshd.service?count=2").await;
    let stats = &v[SSHD];
    assert_eq!(
        timestamps(stats),
        ["2026-01-01T00:00:06Z", "2026-01-01T00:00:07.5Z"]
    );
    let s = &stats[1];
    for (flag, want) in [
        ("has_cpu", true),
        ("has_memory", true),
        ("has_processes", true),
        ("has_network", false),
        ("has_filesystem", false),
        ("has_diskio", false),
        ("has_hugetlb", false),
        ("has_load", false),
        ("has_custom_metrics", false),
    ] {
        assert_eq!(s[flag], json!(want), "{flag}");
    }
    assert_eq!(s["cpu_inst"]["usage"]["total"], json!(600_000_000u64));
    assert!(s.get("network").is_none() && s.get("diskio").is_none());
    assert!(stats[0].get("cpu_inst").is_none());
    // v2.0 keeps "/" and its interfaces, not inlined.
    let v = get_json("/api/v2.0/stats/?count=1").await;
    assert_eq!(v["/"][0]["network"]["interfaces"][1]["name"], json!("lo"));
    assert!(v["/"][0]["network"].get("name").is_none());
}

#[tokio::test]
async fn v2_summary_has_latest_usage_in_millicores() {
    let v = get_json("/api/v2.0/summary/system.slice/sshd.service").await;
    // Rates between consecutive samples: 66, 200, 333, 466, 600 millicores.
    let cpu = json!({
        "present": true, "mean": 333, "std": 188, "max": 600, "fifty": 333, "ninety": 600,
        "ninetyfive": 600, "count": 5
    });
    let memory = json!({
        "present": true, "mean": 8_002_500, "std": 1_707, "max": 8_005_000, "fifty": 8_002_500,
        "ninety": 8_005_000, "ninetyfive": 8_005_000, "count": 6
    });
    let absent = json!({
        "present": false, "mean": 0, "std": 0, "max": 0, "fifty": 0, "ninety": 0,
        "ninetyfive": 0, "count": 0
    });
    assert_eq!(
        v,
        json!({ SSHD: {
            "timestamp": "2026-01-01T00:00:07.5Z",
            "latest_usage": {"cpu": 600, "memory": 8_005_000},
            "minute_usage": {"percent_complete": 12, "cpu": cpu, "memory": memory},
            "hour_usage": {"percent_complete": 0, "cpu": absent, "memory": absent},
            "day_usage": {"percent_complete": 0, "cpu": absent, "memory": absent}
        }})
    );
    // Recursive from the root: every container with samples ("/docker" has none).
    let v = get_json("/api/v2.0/summary/?recursive=true").await;
    assert_eq!(v.as_object().unwrap().len(), 4);
    assert!(v.get("/docker").is_none());
}

#[tokio::test]
async fn v2_docker_and_podman_types() {
    let name = format!("/docker/{DOCKER_ID}");
    for uri in [
        "/api/v2.1/stats/?type=docker&recursive=true",
        "/api/v2.1/stats/web?type=docker",
    ] {
        let v = get_json(uri).await;
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, [&name], "{uri}");
        assert_eq!(v[&name]["spec"]["aliases"], json!(["web", DOCKER_ID]));
    }
    assert_eq!(
        get_json("/api/v2.0/spec/?type=podman&recursive=true").await,
        json!({})
    );
    assert_eq!(
        get("/api/v2.0/spec/nope?type=docker").await.status,
        StatusCode::NOT_FOUND
    );
    let r = get("/api/v2.0/spec/system.slice?type=docker&recursive=true").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid option recursive=")
    );
}

#[tokio::test]
async fn v2_1_machinestats_are_the_roots_samples() {
    let v = get_json("/api/v2.1/machinestats?count=2").await;
    let stats = v.as_array().unwrap();
    assert_eq!(
        timestamps(&v),
        ["2026-01-01T00:00:06Z", "2026-01-01T00:00:07.5Z"]
    );
    // 3 s of CPU over 1.5 s: 2 cores.
    assert_eq!(
        stats[1]["cpu_inst"]["usage"]["total"],
        json!(2_000_000_000u64)
    );
    assert_eq!(
        stats[1]["filesystem"],
        json!([{
            "device": "/dev/vda1", "type": "ext4", "capacity": 100000, "usage": 40000,
            "available": 60000, "inodes_free": 900, "inline": {}
        }])
    );
    assert_eq!(stats[1]["network"]["interfaces"][0]["name"], json!("eth0"));
}
