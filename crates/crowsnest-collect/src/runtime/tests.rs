use super::*;

const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn all_on(docker_only: bool) -> Runtimes {
    Runtimes::new(&Config {
        docker: Some("/nonexistent/docker.sock".into()),
        podman: Some("/nonexistent/podman.sock".into()),
        crio: None,
        docker_only,
        raw_prefix_allowlist: vec!["/kubepods".into()],
        ..Config::default()
    })
}

fn kind_of(r: &Runtimes, name: &str) -> Option<Kind> {
    match r.claim(name) {
        Claim::Yes(i) => Some(i.kind),
        Claim::Ignore => None,
        Claim::No => panic!("raw claims everything"),
    }
}

#[test]
fn each_path_goes_to_its_runtime_in_order() {
    let r = all_on(false);
    let cases = [
        ("/", Some(Kind::Raw)),
        ("/docker", Some(Kind::Raw)),
        (&format!("/docker/{ID}") as &str, Some(Kind::Docker)),
        (
            &format!("/system.slice/docker-{ID}.scope"),
            Some(Kind::Docker),
        ),
        (&format!("/libpod_parent/libpod-{ID}"), Some(Kind::Podman)),
        (
            &format!("/machine.slice/libpod-{ID}.scope"),
            Some(Kind::Podman),
        ),
        (
            &format!("/machine.slice/libpod-conmon-{ID}.scope"),
            Some(Kind::Systemd),
        ),
        (
            &format!("/kubepods/burstable/podu1/crio-{ID}"),
            Some(Kind::Crio),
        ),
        (
            &format!("/kubepods.slice/x.slice/crio-{ID}.scope"),
            Some(Kind::Crio),
        ),
        (
            &format!("/kubepods.slice/x.slice/cri-containerd-{ID}.scope"),
            Some(Kind::Containerd),
        ),
        (
            &format!("/kubepods/burstable/podu1/{ID}"),
            Some(Kind::Containerd),
        ),
        ("/kubepods/burstable/podu1", Some(Kind::Raw)),
        ("/system.slice/sshd.service", Some(Kind::Systemd)),
        ("/system.slice/var-lib-docker.mount", None),
        (&format!("/system.slice/docker-{ID}.scope/x.mount"), None),
    ];
    for (name, want) in cases {
        assert_eq!(kind_of(&r, name), want, "{name}");
    }
    // Docker off: its paths are raw, never containerd's.
    let off = Runtimes::new(&Config::default());
    assert_eq!(kind_of(&off, &format!("/docker/{ID}")), Some(Kind::Raw));
    assert_eq!(
        kind_of(&off, &format!("/libpod_parent/libpod-{ID}")),
        Some(Kind::Raw)
    );
    assert!(off.event_sources().is_empty());
    assert_eq!(r.event_sources().len(), 2);
}

#[test]
fn docker_only_keeps_runtime_containers_root_and_allowlisted_prefixes() {
    let r = all_on(true);
    assert_eq!(kind_of(&r, "/"), Some(Kind::Raw));
    assert_eq!(kind_of(&r, &format!("/docker/{ID}")), Some(Kind::Docker));
    assert_eq!(
        kind_of(&r, &format!("/libpod_parent/libpod-{ID}")),
        Some(Kind::Podman)
    );
    assert_eq!(kind_of(&r, "/kubepods/burstable"), Some(Kind::Raw));
    assert_eq!(kind_of(&r, "/docker"), None);
    assert_eq!(kind_of(&r, "/system.slice/sshd.service"), None);
    assert_eq!(kind_of(&r, "/user.slice"), None);
}

#[test]
fn inspect_of_local_kinds_needs_no_socket() {
    let r = all_on(false);
    let raw = r
        .inspect(
            "/x",
            &Identity {
                kind: Kind::Raw,
                id: String::new(),
            },
        )
        .unwrap();
    assert_eq!(raw.reference("/x").namespace, "");
    assert!(!Kind::Raw.has_api() && !Kind::Systemd.has_api() && Kind::Docker.has_api());
    // Docker's socket is missing: a connect error that names it, and counts as unreachable.
    let e = r
        .inspect(
            &format!("/docker/{ID}"),
            &Identity {
                kind: Kind::Docker,
                id: ID.into(),
            },
        )
        .unwrap_err();
    assert!(e.is_unreachable(), "{e}");
    assert!(e.to_string().contains("/nonexistent/docker.sock"), "{e}");
    // A bare id with Docker unreachable: named by containerd from its path.
    let name = format!("/kubepods/burstable/podu1/{ID}");
    let m = r
        .inspect(
            &name,
            &Identity {
                kind: Kind::Containerd,
                id: ID.into(),
            },
        )
        .unwrap();
    assert_eq!(m.namespace(), "containerd");
}

#[test]
fn endpoints() {
    assert_eq!(
        parse_endpoint("unix:///var/run/docker.sock").unwrap(),
        Some(PathBuf::from("/var/run/docker.sock"))
    );
    assert_eq!(
        parse_endpoint("/run/podman/podman.sock").unwrap(),
        Some("/run/podman/podman.sock".into())
    );
    assert_eq!(parse_endpoint("  ").unwrap(), None);
    let e = parse_endpoint("tcp://10.0.0.1:2375")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("tcp://10.0.0.1:2375") && e.contains("unix://"),
        "{e}"
    );
    assert!(parse_endpoint("unix://relative.sock").is_err());
}

#[test]
fn env_allowlist_by_prefix() {
    let env = [
        "APP_MODE=prod",
        "APP_X=a=b",
        "PATH=/bin",
        "NOVALUE",
        "SECRET=s",
    ];
    let got = allowed_envs(env, &["APP_".into(), "PA".into()]);
    let got: Vec<(&str, &str)> = got.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        got,
        [("app_mode", "prod"), ("app_x", "a=b"), ("path", "/bin")]
    );
    assert!(allowed_envs(env, &[]).is_empty());
    assert!(
        allowed_envs(env, &[String::new()]).is_empty(),
        "an empty prefix matches nothing"
    );
}

#[test]
fn ids() {
    assert!(is_id(ID));
    assert!(!is_id(&ID.to_uppercase()));
    assert!(!is_id(&ID[1..]));
    assert_eq!(base_name("/a/b.scope"), "b.scope");
    assert_eq!(base_name("/"), "");
}
