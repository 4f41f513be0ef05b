//! The real binary against a real rootful Podman (API service on a socket in a temp dir):
//! its containers are named in `/api/v2.0/...?type=podman` and `/metrics`, not in Docker's
//! namespace, and leave every output when removed.

use serde_json::Value;

use crowsnest_testkit::podman::Podman;

use crate::e2e::{http, start_agent, wait_for};

#[test]
fn podman_containers_are_named_in_the_api_and_metrics() {
    let Some(podman) = Podman::start() else {
        return;
    };
    let image = podman.import_busybox();
    let (id, name) = podman.run(&["--label=app=cache"], &image, &["sleep", "600"]);
    let cgroup = Podman::cgroup(&id);
    let socket = format!("--podman=unix://{}", podman.socket().display());
    let agent = start_agent(&["--docker=", &socket]);
    let port = agent.port;
    let spec_path = format!("/api/v2.0/spec/{name}?type=podman");
    wait_for(
        || http(port, "GET", &spec_path, "").0 == 200,
        "the Podman container in /api/v2.0/spec/<name>?type=podman",
    );
    let (_, body) = http(port, "GET", &spec_path, "");
    let spec: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(spec[&cgroup]["namespace"], "podman");
    assert_eq!(spec[&cgroup]["aliases"], serde_json::json!([name, id]));
    assert_eq!(spec[&cgroup]["image"], image);
    assert_eq!(spec[&cgroup]["labels"]["app"], "cache");
    // By a unique id prefix too, and never as a Docker container.
    let (status, _) = http(
        port,
        "GET",
        &format!("/api/v2.0/spec/{}?type=podman", &id[..12]),
        "",
    );
    assert_eq!(status, 200);
    assert_eq!(
        http(port, "GET", &format!("/api/v1.3/docker/{name}"), "").0,
        404
    );
    let (_, all) = http(
        port,
        "GET",
        "/api/v2.0/spec/?type=podman&recursive=true",
        "",
    );
    let all: Value = serde_json::from_str(&all).unwrap();
    assert!(all.as_object().unwrap().contains_key(&cgroup));
    wait_for(
        || {
            let (_, metrics) = http(port, "GET", "/metrics", "");
            metrics.lines().any(|l| {
                l.starts_with("container_cpu_usage_seconds_total{")
                    && l.contains(&format!("id=\"{cgroup}\""))
                    && l.contains(&format!("name=\"{name}\""))
                    && l.contains("container_label_app=\"cache\"")
            })
        },
        "the Podman container named in /metrics",
    );
    podman.ok(&["rm", "-f", "-t", "0", &id]);
    wait_for(
        || http(port, "GET", &spec_path, "").0 == 404,
        "the removed container to leave the API",
    );
    let (_, metrics) = http(port, "GET", "/metrics", "");
    assert!(
        !metrics.contains(&id),
        "removed container still in /metrics"
    );
}
