//! The agent run the way the seeds run cAdvisor: the real binary in a `FROM scratch` image,
//! started with `-v /:/rootfs:ro -v /var/run:/var/run:ro -v /sys:/sys:ro
//! -v /var/lib/docker/:/var/lib/docker:ro` and nothing else (no `--privileged`, no
//! `--pid=host`, no `--rootfs`: the agent finds `/rootfs` itself). It must see and name every
//! container running on the host, with image and labels, and read a container's network
//! through the host's procfs.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use crowsnest_testkit::agent_image::{AgentContainer, AgentImage};
use crowsnest_testkit::docker::{self, Container, Image, docker_ok};
use serde_json::Value;

/// A GET over HTTP/1.0: `(status, body)`; `None` when nothing answers.
pub(crate) fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

/// The JSON of a 200 answer, `Value::Null` otherwise.
pub(crate) fn get_json(addr: SocketAddr, path: &str) -> Value {
    match get(addr, path) {
        Some((200, body)) => serde_json::from_str(&body).unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

/// Polls `ok` every 250 ms for at most `secs`; panics with `what` (and `context()`) then.
pub(crate) fn wait_until(
    secs: u64,
    what: &str,
    mut ok: impl FnMut() -> bool,
    context: impl Fn() -> String,
) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(secs) {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("timed out after {secs} s waiting for {what}\n{}", context());
}

/// The agent image of the binary under test; `None` (skipped loudly) without Docker.
pub(crate) fn agent_image() -> Option<AgentImage> {
    AgentImage::get(Path::new(env!("CARGO_BIN_EXE_crowsnest")))
}

/// `docker ps`: id → name of every running container.
fn running() -> BTreeMap<String, String> {
    docker_ok(&["ps", "--no-trunc", "--format", "{{.ID}} {{.Names}}"])
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(id, name)| (id.to_owned(), name.to_owned()))
        .collect()
}

/// The received bytes of a container's interfaces in its newest sample.
fn rx_bytes(info: &Value) -> Option<u64> {
    let last = info["stats"].as_array()?.last()?;
    let ifaces = last["network"]["interfaces"].as_array()?;
    Some(ifaces.iter().filter_map(|i| i["rx_bytes"].as_u64()).sum())
}

/// eth0's received bytes as the container's own `/proc/net/dev` says.
fn rx_bytes_inside(c: &Container) -> u64 {
    let text = c.exec(&["cat", "/proc/net/dev"]);
    text.lines()
        .find_map(|l| l.trim_start().strip_prefix("eth0:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .expect("eth0 in the container's /proc/net/dev")
}

#[test]
fn the_agent_in_a_scratch_container_names_every_container_on_the_host() {
    let Some(agent_image) = agent_image() else {
        return;
    };
    let busybox = Image::busybox();
    let web = Container::run(
        &["--label=app=web", "--label=com.example.team=blue"],
        &busybox,
        &["sleep", "600"],
    );
    let db = Container::run(&["--label=app=db"], &busybox, &["sleep", "600"]);
    let agent = AgentContainer::run(
        &agent_image,
        &["-p", "127.0.0.1::8080"],
        // The image holds no CA certificates: a plain http:// sink (here to a closed port, so
        // its batches queue) must not stop the agent from starting.
        &[
            "agent",
            "--housekeeping-interval=1s",
            "--store-dir=",
            "--sink=influxdb:http://127.0.0.1:9?db=cadvisor",
        ],
    );
    let mut addr = None;
    wait_until(
        30,
        "the agent's /healthz through the published port",
        || {
            addr = addr.or_else(|| agent.published(8080));
            addr.and_then(|a| get(a, "/healthz"))
                .is_some_and(|(s, _)| s == 200)
        },
        || agent.logs(30),
    );
    let addr = addr.expect("published");

    // The host's machine id, read through /rootfs (the image has no /etc).
    let machine = get_json(addr, "/api/v1.3/machine");
    let host_id = std::fs::read_to_string("/etc/machine-id").unwrap_or_default();
    if !host_id.trim().is_empty() {
        assert_eq!(machine["machine_id"], host_id.trim(), "{machine}");
    }
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap();
    let cores = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    assert_eq!(machine["num_cores"], cores as u64, "{machine}");

    // Every running container, named, in /api/v1.3/docker/ and /api/v2.0/spec?type=docker.
    // Other containers may come and go meanwhile: compare with `docker ps` taken before and
    // after each read of the agent.
    let last = std::cell::RefCell::new(String::new());
    wait_until(
        40,
        "the agent to name every running container",
        || {
            let before = running();
            let v1 = get_json(addr, "/api/v1.3/docker/");
            let v2 = get_json(addr, "/api/v2.0/spec/?type=docker&recursive=true");
            let after = running();
            let (Some(v1), Some(v2)) = (v1.as_object(), v2.as_object()) else {
                *last.borrow_mut() = "no answer".into();
                return false;
            };
            let steady: BTreeMap<&String, &String> = before
                .iter()
                .filter(|(id, _)| after.contains_key(*id))
                .collect();
            let ever: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
            // By Docker's id (aliases are `[name, id]`), whatever the cgroup path
            // (`/docker/<id>` here, another with `--cgroup-parent`).
            let by_id = |m: &serde_json::Map<String, Value>| -> BTreeMap<String, Value> {
                m.values()
                    .filter_map(|i| Some((i["aliases"][1].as_str()?.to_owned(), i.clone())))
                    .collect()
            };
            let (v1, v2) = (by_id(v1), by_id(v2));
            let mut wrong = Vec::new();
            for (id, name) in &steady {
                let aliases = v1.get(*id).map_or(Value::Null, |i| i["aliases"].clone());
                if aliases != serde_json::json!([name, id]) {
                    wrong.push(format!("v1 {name}: {aliases}"));
                }
                let spec = v2.get(*id).map_or(Value::Null, Clone::clone);
                if spec["aliases"][0] != name.as_str() || spec["namespace"] != "docker" {
                    wrong.push(format!("v2 {name}: {spec}"));
                }
            }
            for id in v1.keys().chain(v2.keys()) {
                if !ever.contains(id) {
                    wrong.push(format!("{id} is not running"));
                }
            }
            *last.borrow_mut() = wrong.join("\n");
            wrong.is_empty()
        },
        || format!("{}\n{}", last.borrow(), agent.logs(20)),
    );
    // The agent sees itself and the two test containers among them.
    let v1 = get_json(addr, "/api/v1.3/docker/");
    for id in [agent.id(), web.id(), db.id()] {
        assert!(
            v1.get(format!("/docker/{id}")).is_some(),
            "{id} in /api/v1.3/docker/"
        );
    }
    // Image and labels as Docker has them, for every container it names.
    for (key, info) in v1.as_object().unwrap() {
        let id = info["id"].as_str().unwrap_or_default();
        let out = docker::docker(&[
            "inspect",
            "-f",
            "{{.Config.Image}}|{{json .Config.Labels}}",
            id,
        ]);
        if !out.status.success() {
            continue; // gone since
        }
        let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let (image, labels) = text.split_once('|').unwrap();
        assert_eq!(info["spec"]["image"], image, "{key}");
        let labels: Value = serde_json::from_str(labels).unwrap();
        for (k, v) in labels.as_object().into_iter().flatten() {
            assert_eq!(&info["spec"]["labels"][k], v, "{key} label {k}");
        }
    }
    let spec = get_json(addr, &format!("/api/v2.0/spec/{}?type=docker", web.name()));
    let web_spec = &spec[format!("/docker/{}", web.id())];
    assert_eq!(web_spec["image"], busybox.tag());
    assert_eq!(web_spec["labels"]["app"], "web");
    assert_eq!(web_spec["labels"]["com.example.team"], "blue");
    assert_eq!(agent.inspect("{{.HostConfig.PidMode}}"), "");
    assert_eq!(agent.inspect("{{.HostConfig.Privileged}}"), "false");

    // Network: datagrams sent from the host to web arrive in web's namespace, which the
    // agent reads at /rootfs/proc/<web's pid>/net/dev.
    let web_path = format!("/api/v1.3/docker/{}", web.name());
    let web_key = format!("/docker/{}", web.id());
    let mut before = None;
    wait_until(
        20,
        "network figures for web",
        || {
            before = rx_bytes(&get_json(addr, &web_path)[&web_key]);
            before.is_some()
        },
        || format!("{}", get_json(addr, &web_path)),
    );
    let before = before.expect("seen");
    let ip = web.inspect("{{.NetworkSettings.IPAddress}}");
    let sock = UdpSocket::bind("0.0.0.0:0").unwrap();
    const DATAGRAMS: u64 = 200;
    const PAYLOAD: usize = 1000;
    for _ in 0..DATAGRAMS {
        sock.send_to(&[7u8; PAYLOAD], (ip.as_str(), 9)).unwrap();
    }
    let sent = DATAGRAMS * PAYLOAD as u64;
    let seen = std::cell::Cell::new(before);
    wait_until(
        20,
        "web's rx_bytes to grow by what the host sent",
        || {
            seen.set(rx_bytes(&get_json(addr, &web_path)[&web_key]).unwrap_or(0));
            seen.get() >= before + sent
        },
        || format!("rx_bytes {before} -> {}, sent {sent}", seen.get()),
    );
    let seen = seen.get();
    let inside = rx_bytes_inside(&web);
    assert!(
        seen <= inside,
        "the agent's {seen} is more than the container's own {inside}"
    );
    // The agent's own container too (the test's requests reach it over the bridge), though
    // its `cgroup.procs` lists its own pid namespace: Docker's pid is read in /rootfs/proc.
    let own = format!("/docker/{}", agent.id());
    wait_until(
        20,
        "network figures for the agent's own container",
        || rx_bytes(&get_json(addr, "/api/v1.3/docker/")[&own]).is_some_and(|b| b > 0),
        || agent.logs(10),
    );
    // db got nothing from the host: far less than what web got.
    let db_rx = rx_bytes(
        &get_json(addr, &format!("/api/v1.3/docker/{}", db.name()))[format!("/docker/{}", db.id())],
    )
    .expect("db's network figures");
    assert!(db_rx < sent, "db rx {db_rx}");

    // A container removed on the host leaves the agent.
    db.remove();
    wait_until(
        20,
        "the removed container to leave the agent",
        || get(addr, &format!("/api/v1.3/docker/{}", db.name())).is_some_and(|(s, _)| s == 404),
        || agent.logs(10),
    );
}
