//! The files of `deploy/`: every YAML parses and has the expected kinds and services, every
//! crowsnest command line in them (systemd `ExecStart`, compose `command:`, Kubernetes
//! `args:`) is accepted by the binary itself (`crowsnest config args ROLE FLAGS...`: its clap
//! definition and the role's validation), the systemd units pass `systemd-analyze verify`
//! with no warning, and the compose file is brought up for real on this machine's Docker
//! Engine with images built by `deploy/compose/build-images.sh` (the binary cargo built and
//! Debian's influxd, each `FROM scratch`): agent -> hub -> InfluxDB, queried back.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crowsnest_testkit::docker::{self, Container, Image, docker};
use crowsnest_testkit::missing;
use crowsnest_testkit::servers::{on_path, urlencode};
use serde_json::Value as Json;
use serde_yaml_ng::Value;

use crate::agent_container::get;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn deploy() -> PathBuf {
    repo().join("deploy")
}

/// Every file under `dir` whose name ends with one of `exts`, sorted.
fn files(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else if exts
                .iter()
                .any(|x| p.file_name().unwrap().to_string_lossy().ends_with(x))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Every YAML document of `path`.
fn yaml_docs(path: &Path) -> Vec<Value> {
    use serde::Deserialize;
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .filter(|v| !v.is_null())
        .collect()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|q| q.iter().map(|x| s(x).to_owned()).collect())
        .unwrap_or_default()
}

/// Every Kubernetes object of `deploy/kubernetes`, with the file it is in.
fn k8s_objects() -> Vec<(PathBuf, Value)> {
    files(&deploy().join("kubernetes"), &[".yaml", ".yml"])
        .into_iter()
        .flat_map(|p| yaml_docs(&p).into_iter().map(move |d| (p.clone(), d)))
        .collect()
}

fn object<'a>(objects: &'a [(PathBuf, Value)], kind: &str) -> &'a Value {
    objects
        .iter()
        .map(|(_, o)| o)
        .find(|o| s(&o["kind"]) == kind)
        .unwrap_or_else(|| panic!("no {kind} in deploy/kubernetes"))
}

fn compose() -> Value {
    let docs = yaml_docs(&deploy().join("compose/compose.yaml"));
    assert_eq!(docs.len(), 1, "compose.yaml is one document");
    docs.into_iter().next().unwrap()
}

#[test]
fn deploy_yaml_parses_with_the_expected_kinds_and_services() {
    let all = files(&deploy(), &[".yaml", ".yml"]);
    assert!(all.len() >= 7, "{all:?}");
    for f in &all {
        assert!(!yaml_docs(f).is_empty(), "{} has no document", f.display());
    }

    let objects = k8s_objects();
    let kinds: BTreeSet<&str> = objects.iter().map(|(_, o)| s(&o["kind"])).collect();
    for kind in [
        "Namespace",
        "DaemonSet",
        "Deployment",
        "Service",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "APIService",
    ] {
        assert!(
            kinds.contains(kind),
            "no {kind} in deploy/kubernetes: {kinds:?}"
        );
    }
    for (path, o) in &objects {
        assert!(
            !s(&o["apiVersion"]).is_empty() && !s(&o["metadata"]["name"]).is_empty(),
            "{}: an object without apiVersion or metadata.name: {o:?}",
            path.display()
        );
    }

    // The agent: read-only host mounts like cAdvisor, no host pid namespace, a read-only root,
    // every capability dropped but CAP_DAC_READ_SEARCH, on every node.
    let ds = object(&objects, "DaemonSet");
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["hostPID"].as_bool(), Some(false));
    assert!(
        pod["tolerations"]
            .as_sequence()
            .unwrap()
            .iter()
            .any(|t| s(&t["operator"]) == "Exists")
    );
    let agent = &pod["containers"][0];
    let sc = &agent["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(sc["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(strings(&sc["capabilities"]["drop"]), ["ALL"]);
    assert_eq!(strings(&sc["capabilities"]["add"]), ["DAC_READ_SEARCH"]);
    let host_paths: BTreeMap<&str, &str> = pod["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter(|v| !v["hostPath"].is_null())
        .map(|v| (s(&v["name"]), s(&v["hostPath"]["path"])))
        .collect();
    let mounts = agent["volumeMounts"].as_sequence().unwrap();
    let mut host_mounts = BTreeMap::new();
    for m in mounts {
        let Some(host) = host_paths.get(s(&m["name"])) else {
            continue;
        };
        let ro = m["readOnly"].as_bool() == Some(true);
        host_mounts.insert(s(&m["mountPath"]), (*host, ro));
    }
    for (inside, host) in [
        ("/rootfs", "/"),
        ("/var/run", "/var/run"),
        ("/sys", "/sys"),
        ("/var/lib/docker", "/var/lib/docker"),
    ] {
        assert_eq!(
            host_mounts.get(inside),
            Some(&(host, true)),
            "{inside} is the host's {host}, read-only"
        );
    }
    // The one host path written is the agent's own state.
    for (inside, (host, ro)) in &host_mounts {
        assert!(*ro || *host == "/var/lib/crowsnest", "{inside} is writable");
    }

    // The hub: nobody, no capability, its ServiceAccount bound to get/list/watch on nodes,
    // pods and namespaces, its Service on 8082, which the APIService names.
    let dep = object(&objects, "Deployment");
    let hub_pod = &dep["spec"]["template"]["spec"];
    assert_eq!(
        hub_pod["securityContext"]["runAsNonRoot"].as_bool(),
        Some(true)
    );
    let hub = &hub_pod["containers"][0];
    assert_eq!(
        strings(&hub["securityContext"]["capabilities"]["drop"]),
        ["ALL"]
    );
    assert!(hub["securityContext"]["capabilities"]["add"].is_null());
    assert_eq!(
        hub["securityContext"]["readOnlyRootFilesystem"].as_bool(),
        Some(true)
    );
    let sa = object(&objects, "ServiceAccount");
    assert_eq!(
        s(&hub_pod["serviceAccountName"]),
        s(&sa["metadata"]["name"])
    );
    let role = object(&objects, "ClusterRole");
    let binding = object(&objects, "ClusterRoleBinding");
    assert_eq!(s(&binding["roleRef"]["name"]), s(&role["metadata"]["name"]));
    assert_eq!(
        s(&binding["subjects"][0]["name"]),
        s(&sa["metadata"]["name"])
    );
    let mut granted = BTreeSet::new();
    for rule in role["rules"].as_sequence().unwrap() {
        assert_eq!(
            strings(&rule["verbs"]),
            ["get", "list", "watch"],
            "read-only"
        );
        granted.extend(strings(&rule["resources"]));
    }
    assert_eq!(
        granted,
        ["namespaces", "nodes", "pods"].map(String::from).into()
    );
    let svc = object(&objects, "Service");
    assert_eq!(svc["spec"]["ports"][0]["port"].as_u64(), Some(8082));
    let api = object(&objects, "APIService");
    assert_eq!(s(&api["metadata"]["name"]), "v1beta1.metrics.k8s.io");
    assert_eq!(s(&api["spec"]["group"]), "metrics.k8s.io");
    assert_eq!(
        s(&api["spec"]["service"]["name"]),
        s(&svc["metadata"]["name"])
    );
    assert_eq!(
        s(&api["spec"]["service"]["namespace"]),
        s(&svc["metadata"]["namespace"])
    );
    assert_eq!(api["spec"]["service"]["port"].as_u64(), Some(8082));
    let hub_args = strings(&hub["args"]);
    assert!(
        hub_args.contains(
            &"--source=kubernetes:https://kubernetes.default?inClusterConfig=true".into()
        ),
        "{hub_args:?}"
    );

    // Compose: the four services, the agent with cAdvisor's four read-only mounts, every port
    // published on 127.0.0.1 by default.
    let c = compose();
    let services: BTreeSet<&str> = c["services"].as_mapping().unwrap().keys().map(s).collect();
    assert_eq!(services, ["agent", "grafana", "hub", "influxdb"].into());
    let volumes = strings(&c["services"]["agent"]["volumes"]);
    for m in [
        "/:/rootfs:ro",
        "/var/run:/var/run:ro",
        "/sys:/sys:ro",
        "/var/lib/docker:/var/lib/docker:ro",
    ] {
        assert!(
            volumes.iter().any(|v| v == m),
            "agent mount {m}: {volumes:?}"
        );
    }
    assert_eq!(
        strings(&c["services"]["agent"]["cap_add"]),
        ["DAC_READ_SEARCH"]
    );
    for (name, svc) in c["services"].as_mapping().unwrap() {
        assert_eq!(strings(&svc["cap_drop"]), ["ALL"], "{name:?}");
        for p in strings(&svc["ports"]) {
            assert!(
                p.contains(":-127.0.0.1:"),
                "{name:?} publishes {p} beyond 127.0.0.1"
            );
        }
    }
    assert!(s(&c["services"]["agent"]["image"]).contains("${CROWSNEST_IMAGE:-"));
    assert!(s(&c["services"]["influxdb"]["image"]).contains("${INFLUXDB_IMAGE:-"));

    // Grafana: every mounted file exists, and the provisioned data sources have every uid the
    // mounted dashboards refer to.
    let compose_dir = deploy().join("compose");
    let mut uids_wanted = BTreeSet::new();
    let mut uids_given = BTreeSet::new();
    for v in strings(&c["services"]["grafana"]["volumes"]) {
        let Some((host, _)) = v.split_once(':') else {
            continue;
        };
        if !host.starts_with('.') {
            continue;
        }
        let host = compose_dir.join(host);
        assert!(
            host.is_file(),
            "grafana mounts {} (missing)",
            host.display()
        );
        let text = std::fs::read_to_string(&host).unwrap();
        if host.extension().is_some_and(|e| e == "json") {
            let dash: Json = serde_json::from_str(&text).unwrap();
            collect_uids(&dash, &mut uids_wanted);
        } else if v.contains("/datasources/") {
            for d in yaml_docs(&host) {
                for ds in d["datasources"].as_sequence().unwrap() {
                    uids_given.insert(s(&ds["uid"]).to_owned());
                }
            }
        }
    }
    assert!(!uids_wanted.is_empty());
    assert!(
        uids_wanted.is_subset(&uids_given),
        "dashboards want {uids_wanted:?}, provisioned {uids_given:?}"
    );
}

/// The data source uids a dashboard refers to (`"datasource": {"uid": ...}`).
fn collect_uids(v: &Json, out: &mut BTreeSet<String>) {
    match v {
        Json::Object(m) => {
            if let Some(uid) = m
                .get("datasource")
                .and_then(|d| d.get("uid"))
                .and_then(Json::as_str)
                && !uid.starts_with('$')
                && !uid.starts_with("-- ")
            {
                out.insert(uid.to_owned());
            }
            m.values().for_each(|x| collect_uids(x, out));
        }
        Json::Array(a) => a.iter().for_each(|x| collect_uids(x, out)),
        _ => {}
    }
}

/// One crowsnest command line found in `deploy/`: where, the role, its flags.
#[derive(Debug)]
struct CommandLine {
    place: String,
    role: String,
    flags: Vec<String>,
}

/// `ExecStart=` of a unit, its continuation lines joined, split on blanks (the units quote
/// nothing).
fn exec_start(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut line = String::new();
    let mut inside = false;
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("ExecStart=") {
            inside = true;
            line.push_str(rest);
        } else if inside {
            line.push(' ');
            line.push_str(l);
        } else {
            continue;
        }
        if line.ends_with('\\') {
            line.pop();
        } else {
            break;
        }
    }
    assert!(!line.is_empty(), "{}: no ExecStart", path.display());
    assert!(
        !line.contains(['"', '\'', '%']),
        "{}: quoting or specifiers",
        path.display()
    );
    line.split_whitespace().map(str::to_owned).collect()
}

/// Every crowsnest command line of `deploy/`.
fn command_lines() -> Vec<CommandLine> {
    let mut out = Vec::new();
    let split = |place: String, argv: Vec<String>| {
        let (role, flags) = argv.split_first().expect("a role");
        CommandLine {
            place,
            role: role.clone(),
            flags: flags.to_vec(),
        }
    };
    for unit in files(&deploy().join("systemd"), &[".service"]) {
        let argv = exec_start(&unit);
        assert!(argv[0].ends_with("/crowsnest"), "{argv:?}");
        out.push(split(unit.display().to_string(), argv[1..].to_vec()));
    }
    let c = compose();
    for (name, svc) in c["services"].as_mapping().unwrap() {
        if s(&svc["image"]).contains("CROWSNEST_IMAGE") {
            out.push(split(
                format!("compose.yaml services.{}", s(name)),
                strings(&svc["command"]),
            ));
        }
    }
    for (path, o) in k8s_objects() {
        let containers = &o["spec"]["template"]["spec"]["containers"];
        for ct in containers.as_sequence().into_iter().flatten() {
            if s(&ct["image"]).starts_with("crowsnest") {
                out.push(split(
                    format!("{} {}", path.display(), s(&ct["name"])),
                    strings(&ct["args"]),
                ));
            }
        }
    }
    out
}

/// Flags naming a file the role reads at start, with what to put in a stand-in.
const FILE_FLAGS: [&str; 6] = [
    "--tls-cert",
    "--tls-key",
    "--tls-client-ca",
    "--auth-token-file",
    "--agent-token-file",
    "--agent-ca",
];

/// `flags` with every file the role reads at start replaced by a real one in `dir` (a
/// self-signed certificate and its key, a token), since the deploy files name paths of the
/// target machine.
fn with_stand_ins(flags: &[String], dir: &Path) -> Vec<String> {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["crowsnest-hub.crowsnest.svc".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::write(dir.join("tls.crt"), cert.pem()).unwrap();
    std::fs::write(dir.join("tls.key"), key.serialize_pem()).unwrap();
    std::fs::write(dir.join("token"), "a-token-for-the-deploy-test\n").unwrap();
    flags
        .iter()
        .map(|f| {
            let Some((flag, _)) = f.split_once('=') else {
                return f.clone();
            };
            let file = match flag {
                "--tls-cert" | "--tls-client-ca" | "--agent-ca" => "tls.crt",
                "--tls-key" => "tls.key",
                "--auth-token-file" | "--agent-token-file" => "token",
                _ => return f.clone(),
            };
            assert!(FILE_FLAGS.contains(&flag));
            format!("{flag}={}", dir.join(file).display())
        })
        .collect()
}

/// `crowsnest config args ROLE FLAGS...`, without any CROWSNEST_* variable of ours.
fn config_args(role: &str, flags: &[String]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_crowsnest"));
    cmd.args(["config", "args", role]).args(flags);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("CROWSNEST_") {
            cmd.env_remove(k);
        }
    }
    cmd.stdin(Stdio::null()).output().unwrap()
}

#[test]
fn every_command_line_in_deploy_is_accepted_by_the_binary() {
    let lines = command_lines();
    let places: Vec<&str> = lines.iter().map(|l| l.place.as_str()).collect();
    // Two units, the compose file's agent and hub, the DaemonSet's and the Deployment's.
    assert_eq!(lines.len(), 6, "{places:?}");
    for role in ["agent", "hub"] {
        assert_eq!(
            lines.iter().filter(|l| l.role == role).count(),
            3,
            "{role}: {places:?}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    for l in &lines {
        let flags = with_stand_ins(&l.flags, dir.path());
        let out = config_args(&l.role, &flags);
        assert!(
            out.status.success(),
            "{}: `crowsnest {} {}` is refused: {}",
            l.place,
            l.role,
            flags.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        // Every flag given is in the resolved configuration as coming from the command line.
        let stdout = String::from_utf8_lossy(&out.stdout);
        let from_flags = stdout.lines().filter(|x| x.ends_with("# flag")).count();
        assert!(from_flags >= 1, "{}: {stdout}", l.place);

        // The check can fail: an unknown flag, and a bad value, each named.
        let mut wrong = flags.clone();
        wrong.push("--no-such-flag".into());
        let out = config_args(&l.role, &wrong);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("--no-such-flag"),
            "{}: {err}",
            l.place
        );
        let mut wrong = flags.clone();
        wrong.push("--listen=nowhere".into());
        let out = config_args(&l.role, &wrong);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("--listen"),
            "{}: {err}",
            l.place
        );
    }
    // A missing file is refused too (what the stand-ins are for).
    let hub = lines
        .iter()
        .find(|l| l.flags.iter().any(|f| f.starts_with("--tls-cert=")))
        .unwrap();
    let out = config_args(&hub.role, &hub.flags);
    assert!(
        !out.status.success(),
        "{}: /etc/crowsnest/tls is not on this machine",
        hub.place
    );
}

#[test]
fn systemd_units_verify_without_warnings_and_are_hardened() {
    if !on_path("systemd-analyze") {
        return missing("systemd-analyze (the systemd package)");
    }
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_crowsnest");
    for unit in files(&deploy().join("systemd"), &[".service"]) {
        let text = std::fs::read_to_string(&unit).unwrap();
        let keys: BTreeMap<&str, Vec<&str>> = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .filter(|(k, _)| !k.starts_with('#') && !k.starts_with(' '))
            .fold(BTreeMap::new(), |mut m, (k, v)| {
                m.entry(k).or_insert_with(Vec::new).push(v);
                m
            });
        let one = |k: &str| keys.get(k).map(|v| v.join(" ")).unwrap_or_default();
        let name = unit.file_name().unwrap().to_string_lossy().into_owned();
        for (k, v) in [
            ("ProtectSystem", "strict"),
            ("NoNewPrivileges", "yes"),
            ("PrivateTmp", "yes"),
            ("ProtectKernelTunables", "yes"),
            ("ProtectControlGroups", "yes"),
            ("MemoryDenyWriteExecute", "yes"),
            ("LockPersonality", "yes"),
            ("SystemCallArchitectures", "native"),
            (
                "RestrictAddressFamilies",
                "AF_UNIX AF_INET AF_INET6 AF_NETLINK",
            ),
        ] {
            assert_eq!(one(k), v, "{name}: {k}");
        }
        // Writable: the state directory only.
        let state = one("StateDirectory");
        let first = state.split_whitespace().next().unwrap();
        assert_eq!(one("ReadWritePaths"), format!("/var/lib/{first}"), "{name}");
        if name.contains("agent") {
            assert_eq!(
                one("CapabilityBoundingSet"),
                "CAP_DAC_READ_SEARCH",
                "{name}"
            );
            assert_eq!(one("ProtectHome"), "read-only", "{name}");
        } else {
            assert_eq!(one("CapabilityBoundingSet"), "", "{name}: no capability");
            assert_eq!(one("DynamicUser"), "yes", "{name}");
            assert_eq!(one("ProtectHome"), "yes", "{name}");
        }
        // systemd's own check, with ExecStart pointing at the binary cargo built (verify
        // wants it to exist); any warning (an unknown key, a bad value) fails.
        let copy = dir.path().join(&name);
        std::fs::write(&copy, text.replace("/usr/local/bin/crowsnest", bin)).unwrap();
        let out = Command::new("timeout")
            .args(["60", "systemd-analyze", "verify"])
            .arg(&copy)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && err.trim().is_empty(),
            "{name}: {err}"
        );
    }
    // The check can fail.
    let bad = dir.path().join("bad.service");
    std::fs::write(
        &bad,
        format!("[Service]\nExecStart={bin} agent\nProtectSystem=strict\nRestrictAddressFamilies=AF_BOGUS\n"),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("AF_BOGUS"));
}

/// `docker-compose -p <project> -f deploy/compose/compose.yaml <args>` with the test's
/// images and every port published on an ephemeral 127.0.0.1 port; `down -v` and the images
/// removed on drop.
struct Compose {
    project: String,
    images: [String; 2],
}

impl Compose {
    fn run(&self, args: &[&str]) -> Output {
        Command::new("timeout")
            .arg("300")
            .arg("docker-compose")
            .args(["-p", &self.project, "-f"])
            .arg(deploy().join("compose/compose.yaml"))
            .args(args)
            .env("CROWSNEST_IMAGE", &self.images[0])
            .env("INFLUXDB_IMAGE", &self.images[1])
            .env("CROWSNEST_AGENT_PUBLISH", "127.0.0.1:")
            .env("CROWSNEST_HUB_PUBLISH", "127.0.0.1:")
            .env("INFLUXDB_PUBLISH", "127.0.0.1:")
            .env("GRAFANA_PUBLISH", "127.0.0.1:")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "docker-compose {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Where `service`'s `port` is published (127.0.0.1:<ephemeral>).
    fn port(&self, service: &str, port: u16) -> SocketAddr {
        let text = self.ok(&["port", service, &port.to_string()]);
        text.parse()
            .unwrap_or_else(|_| panic!("{service}:{port} published at {text:?}"))
    }

    /// The Docker name of `service`'s container.
    fn container(&self, service: &str) -> String {
        let id = self.ok(&["ps", "-q", service]);
        docker::docker_ok(&["inspect", "-f", "{{.Name}}", &id])
            .trim_start_matches('/')
            .to_owned()
    }

    fn logs(&self) -> String {
        let out = self.run(&["logs", "--no-color", "--tail", "40"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("docker-compose logs of {}:\n{}", self.project, self.logs());
        }
        let _ = self.run(&["down", "-v", "--remove-orphans", "-t", "5"]);
        for image in &self.images {
            let _ = docker(&["rmi", image]);
        }
    }
}

/// The rows of an InfluxQL answer: `(tags, last value)` per series.
fn influx_series(addr: SocketAddr, db: &str, q: &str) -> Vec<(Json, f64)> {
    let path = format!("/query?db={db}&q={}", urlencode(q));
    let Some((200, body)) = get(addr, &path) else {
        return Vec::new();
    };
    let v: Json = serde_json::from_str(&body).unwrap_or(Json::Null);
    v["results"][0]["series"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let last = s["values"].as_array()?.last()?;
            Some((s["tags"].clone(), last[1].as_f64()?))
        })
        .collect()
}

fn measurements(addr: SocketAddr, db: &str) -> BTreeSet<String> {
    let path = format!("/query?db={db}&q={}", urlencode("SHOW MEASUREMENTS"));
    let Some((200, body)) = get(addr, &path) else {
        return BTreeSet::new();
    };
    let v: Json = serde_json::from_str(&body).unwrap_or(Json::Null);
    v["results"][0]["series"][0]["values"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r[0].as_str().map(str::to_owned))
        .collect()
}

/// The value of the `/metrics` series `name` whose labels contain `label`.
fn metric(text: &str, name: &str, label: &str) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(label))
        .find_map(|l| {
            l.rsplit_once('}')?
                .1
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
}

#[test]
fn compose_file_runs_end_to_end_agent_hub_influxdb() {
    if !docker::available() {
        return;
    }
    if !on_path("docker-compose") {
        return missing("docker-compose (apt-get install docker-compose)");
    }
    let Some(influxd) = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("influxd"))
            .find(|p| p.is_file())
    }) else {
        return missing("influxd (apt-get install influxdb)");
    };
    let project = format!("crowsnest-deploy-{}", std::process::id());
    let compose = Compose {
        images: [
            format!("crowsnest-deploy-test:{}", std::process::id()),
            format!("crowsnest-deploy-test-influxd:{}", std::process::id()),
        ],
        project,
    };
    let out = Command::new("timeout")
        .arg("600")
        .arg(deploy().join("compose/build-images.sh"))
        .arg(env!("CARGO_BIN_EXE_crowsnest"))
        .arg(&influxd)
        .env("CROWSNEST_IMAGE", &compose.images[0])
        .env("INFLUXDB_IMAGE", &compose.images[1])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "build-images.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A container whose layer holds 8 MiB in a directory only its user (1000) may enter: the
    // agent's one capability, CAP_DAC_READ_SEARCH, is what lets it count them.
    let busybox = Image::busybox();
    let private = Container::run(
        &[],
        &busybox,
        &[
            "sh",
            "-c",
            "mkdir -p /home/app/data && dd if=/dev/zero of=/home/app/data/blob bs=1M count=8 \
             2>/dev/null && chown -R 1000:1000 /home/app && chmod 0700 /home/app && \
             touch /tmp/ready && exec sleep 600",
        ],
    );
    assert!(
        private.wait_for("{{.State.Running}}", "true", Duration::from_secs(30)),
        "the private container runs"
    );

    // Grafana is named in the file but left out: its image cannot be pulled here.
    compose.ok(&["up", "-d", "--no-build", "agent", "hub", "influxdb"]);
    let agent = compose.port("agent", 8080);
    let hub = compose.port("hub", 8082);
    let influx = compose.port("influxdb", 8086);
    let influx_name = compose.container("influxdb");

    let start = Instant::now();
    let deadline = start + Duration::from_secs(90);
    let mut last = String::new();
    let (legacy, cadvisor, heapster) = loop {
        assert!(
            Instant::now() < deadline,
            "no data end to end within 90 s; last: {last}\n{}",
            compose.logs()
        );
        std::thread::sleep(Duration::from_secs(2));
        let q = format!(
            "SELECT last(value) FROM \"cpu/usage_ns_cumulative\" WHERE container_name = '{influx_name}' GROUP BY *"
        );
        let legacy = influx_series(influx, "k8s", &q);
        let q = format!(
            "SELECT last(value) FROM \"cpu_usage_total\" WHERE container_name = '{influx_name}' GROUP BY *"
        );
        let cadvisor = influx_series(influx, "cadvisor", &q);
        let heapster = measurements(influx, "heapster");
        last = format!("legacy {legacy:?} cadvisor {cadvisor:?} heapster {heapster:?}");
        if !legacy.is_empty() && !cadvisor.is_empty() && !heapster.is_empty() {
            break (legacy, cadvisor, heapster);
        }
    };
    eprintln!(
        "compose: agent -> hub -> influxdb in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    // The hub's legacy series for InfluxDB's own container: a real CPU counter, on the node
    // the hub's --node names.
    let (tags, v) = &legacy[0];
    assert!(*v > 0.0, "{legacy:?}");
    assert_eq!(tags["hostname"], "docker-host", "{tags}");
    assert!(cadvisor[0].1 > 0.0, "{cadvisor:?}");
    assert!(heapster.contains("cpu/usage"), "{heapster:?}");
    let k8s = measurements(influx, "k8s");
    for m in ["cpu/usage_ns_cumulative", "memory/working_set_bytes_gauge"] {
        assert!(k8s.contains(m), "{m} in {k8s:?}");
    }

    // The agent names every service's container and the private one; the hub reports the node.
    let (status, text) = get(agent, "/metrics").unwrap();
    assert_eq!(status, 200);
    for service in ["agent", "hub", "influxdb"] {
        let name = compose.container(service);
        let cpu = metric(
            &text,
            "container_cpu_usage_seconds_total",
            &format!("name=\"{name}\""),
        );
        assert!(cpu.is_some_and(|c| c > 0.0), "{name}: {cpu:?}");
    }
    let (status, body) = get(hub, "/api/v1/model/nodes/").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("docker-host"), "{body}");

    // The disk usage walker counted the 8 MiB behind the 0700 directory (bounded wait: one
    // walk per --disk-usage-interval, 1m by default).
    let want = format!("name=\"{}\"", private.name());
    let deadline = Instant::now() + Duration::from_secs(150);
    loop {
        let text = get(agent, "/metrics").map(|(_, t)| t).unwrap_or_default();
        let usage = metric(&text, "container_fs_usage_bytes", &want);
        if usage.is_some_and(|u| u >= 8.0 * 1024.0 * 1024.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "fs usage of {} is {usage:?}, want at least 8 MiB",
            private.name()
        );
        std::thread::sleep(Duration::from_secs(3));
    }
}
