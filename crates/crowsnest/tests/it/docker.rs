//! The real binary against the real Docker Engine: containers are named in cAdvisor's API
//! (`/api/v1.3/docker/<name or id prefix>`, `/api/v2.0/...?type=docker`) and in `/metrics`
//! (`name`, `image`, `container_label_*`, `container_env_*` with the label-union rule;
//! `?type=docker`), the label flags limit what `/metrics` shows, `--docker-only` keeps only
//! runtime containers and `/`, and a removed container leaves every output.

use serde_json::Value;

use crowsnest_testkit::docker::{self, Container, Image};

use crate::e2e::{http, start_agent, wait_for};

fn get_json(port: u16, path: &str) -> (u16, Value) {
    let (status, body) = http(port, "GET", path, "");
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// The `/metrics` line of `family` for container id `cgroup`.
fn series<'a>(metrics: &'a str, family: &str, cgroup: &str) -> Option<&'a str> {
    let id = format!("id=\"{cgroup}\"");
    metrics
        .lines()
        .find(|l| l.starts_with(&format!("{family}{{")) && l.contains(&id))
}

#[test]
fn docker_containers_are_named_in_the_api_and_metrics() {
    if !docker::available() {
        return;
    }
    let image = Image::busybox();
    let web = Container::run(
        &[
            "--label=app=web",
            "--label=com.example.team=blue",
            "-e",
            "APP_MODE=prod",
            "-e",
            "SECRET_TOKEN=hunter2",
            "--memory=64m",
        ],
        &image,
        &["sleep", "600"],
    );
    let db = Container::run(&["--label=app=db"], &image, &["sleep", "600"]);
    let restarted = Container::run(
        &["--restart=on-failure:1"],
        &image,
        &[
            "sh",
            "-c",
            "if [ -f /tmp/ran ]; then exec sleep 600; fi; touch /tmp/ran; exit 1",
        ],
    );
    assert!(restarted.wait_for(
        "{{.RestartCount}} {{.State.Running}}",
        "1 true",
        std::time::Duration::from_secs(30)
    ));
    let agent = start_agent(&[
        "--docker=unix:///var/run/docker.sock",
        "--podman=",
        "--env-metadata-allowlist=APP_",
    ]);
    let port = agent.port;
    let by_name = format!("/api/v1.3/docker/{}", web.name());
    // Names arrive from Docker off the housekeeping thread: a container that is still
    // starting (Docker holds its lock) is named a moment later.
    for c in [&web, &db, &restarted] {
        let path = format!("/api/v1.3/docker/{}", c.name());
        wait_for(
            || {
                let (status, v) = get_json(port, &path);
                status == 200 && v[c.cgroup()]["namespace"] == "docker"
            },
            "each container named in /api/v1.3/docker/<name>",
        );
    }

    // By name, and by a unique prefix of the id: one entry keyed by the cgroup name.
    let (_, v) = get_json(port, &by_name);
    let info = &v[web.cgroup()];
    assert_eq!(v.as_object().unwrap().len(), 1);
    assert_eq!(info["id"], web.id());
    assert_eq!(info["aliases"], serde_json::json!([web.name(), web.id()]));
    assert_eq!(info["spec"]["image"], image.tag());
    assert_eq!(info["spec"]["labels"]["app"], "web");
    assert_eq!(
        info["spec"]["envs"],
        serde_json::json!({"app_mode": "prod"})
    );
    assert_eq!(info["spec"]["memory"]["limit"], 64 << 20);
    assert!(!info["stats"].as_array().unwrap().is_empty());
    let (status, by_prefix) = get_json(port, &format!("/api/v1.3/docker/{}", &web.id()[..12]));
    assert_eq!(status, 200);
    assert_eq!(by_prefix[web.cgroup()]["aliases"][0], web.name());
    // `crowsnest-test-` starts every name here: not unique.
    let (status, _) = get_json(port, "/api/v1.3/docker/crowsnest-test-");
    assert_eq!(status, 400);
    // All Docker containers, and only those.
    let (_, all) = get_json(port, "/api/v1.3/docker/");
    let all = all.as_object().unwrap();
    for c in [&web, &db, &restarted] {
        assert!(
            all.contains_key(&c.cgroup()),
            "{} in /api/v1.3/docker/",
            c.name()
        );
    }
    assert!(all.values().all(|i| i["namespace"] == "docker"));
    // v2 with type=docker.
    let (status, spec) = get_json(port, &format!("/api/v2.0/spec/{}?type=docker", db.name()));
    assert_eq!(status, 200);
    assert_eq!(spec[db.cgroup()]["aliases"][0], db.name());
    assert_eq!(spec[db.cgroup()]["namespace"], "docker");
    let (_, stats) = get_json(port, "/api/v2.0/stats/?type=docker&recursive=true&count=1");
    assert!(stats.as_object().unwrap().contains_key(&web.cgroup()));

    // /metrics: cAdvisor's labels, the union rule filling "" for containers without them.
    let (_, metrics) = http(port, "GET", "/metrics", "");
    let line = series(&metrics, "container_memory_usage_bytes", &web.cgroup())
        .unwrap_or_else(|| panic!("no memory series for {}", web.name()));
    for label in [
        format!("name=\"{}\"", web.name()),
        format!("image=\"{}\"", image.tag()),
        "container_label_app=\"web\"".to_owned(),
        "container_label_com_example_team=\"blue\"".to_owned(),
        "container_env_app_mode=\"prod\"".to_owned(),
    ] {
        assert!(line.contains(&label), "{label} missing in {line}");
    }
    assert!(
        !metrics.contains("hunter2"),
        "env outside the allow-list leaked"
    );
    let root = series(&metrics, "container_memory_usage_bytes", "/").unwrap();
    assert!(
        root.contains("name=\"\"") && root.contains("container_label_app=\"\""),
        "{root}"
    );
    let line = series(
        &metrics,
        "container_memory_usage_bytes",
        &restarted.cgroup(),
    )
    .unwrap();
    assert!(
        line.contains("container_label_restartcount=\"1\""),
        "{line}"
    );
    // ?type=docker: only Docker's containers.
    let (_, only) = http(port, "GET", "/metrics?type=docker", "");
    assert!(series(&only, "container_memory_usage_bytes", &web.cgroup()).is_some());
    assert!(series(&only, "container_memory_usage_bytes", "/").is_none());
    if let Some(lints) = crowsnest_testkit::promtool::check_metrics(&metrics) {
        for l in lints {
            assert!(metrics.contains(&format!("# TYPE {l} ")), "{l}");
        }
    }

    // Removal: gone from the API and /metrics.
    web.remove();
    wait_for(
        || http(port, "GET", &by_name, "").0 == 404,
        "the removed container to leave /api/v1.3/docker/<name>",
    );
    let (_, metrics) = http(port, "GET", "/metrics", "");
    assert!(
        !metrics.contains(web.id()),
        "removed container still in /metrics"
    );
    let (_, all) = get_json(port, "/api/v1.3/docker/");
    assert!(!all.as_object().unwrap().contains_key(&web.cgroup()));
}

#[test]
fn label_allowlist_and_docker_only() {
    if !docker::available() {
        return;
    }
    let image = Image::busybox();
    let c = Container::run(
        &["--label=app=web", "--label=com.example.team=blue"],
        &image,
        &["sleep", "600"],
    );
    let agent = start_agent(&[
        "--docker=unix:///var/run/docker.sock",
        "--podman=",
        "--docker_only",
        "--store_container_labels=false",
        "--whitelisted_container_labels=app",
    ]);
    let port = agent.port;
    wait_for(
        || {
            let (_, metrics) = http(port, "GET", "/metrics", "");
            series(&metrics, "container_memory_usage_bytes", &c.cgroup())
                .is_some_and(|l| l.contains(&format!("name=\"{}\"", c.name())))
        },
        "the container named in /metrics",
    );
    let (_, metrics) = http(port, "GET", "/metrics", "");
    let line = series(&metrics, "container_memory_usage_bytes", &c.cgroup()).unwrap();
    assert!(line.contains("container_label_app=\"web\""), "{line}");
    assert!(
        !metrics.contains("container_label_com_example_team"),
        "{line}"
    );
    // The API keeps every label.
    let (_, v) = get_json(port, &format!("/api/v1.3/docker/{}", c.name()));
    assert_eq!(v[c.cgroup()]["spec"]["labels"]["com.example.team"], "blue");
    // --docker-only: the root and runtime containers, no raw cgroup.
    let (_, subs) = get_json(port, "/api/v1.3/subcontainers/");
    let names: Vec<&str> = subs
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"/") && names.contains(&c.cgroup().as_str()));
    for n in names {
        assert!(
            n == "/" || n.strip_prefix("/docker/").is_some_and(docker::is_id),
            "{n} is not a runtime container"
        );
    }
}
