use std::time::Duration;

use super::super::Factory as _;
use super::*;
use crate::runtime::fake::{Answer, FakeRuntime};

const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const SANDBOX: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

fn container_json() -> &'static str {
    include_str!("../../../tests/fixtures/runtime/crio-container.json")
}

fn sandbox_json() -> &'static str {
    include_str!("../../../tests/fixtures/runtime/crio-sandbox.json")
}

fn scope(id: &str) -> String {
    format!(
        "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1b2c3d4e_0000_4000_8000_0123456789ab.slice/crio-{id}.scope"
    )
}

#[test]
fn container_and_sandbox_from_the_info_endpoint() {
    let f = FakeRuntime::start(vec![
        (
            &format!("/containers/{ID}") as &str,
            Answer::json(200, container_json()),
        ),
        (
            &format!("/containers/{SANDBOX}"),
            Answer::json(200, sandbox_json()),
        ),
    ]);
    let factory = Factory::new(Some(&f.socket().to_owned()), Duration::from_secs(2));
    let name = scope(ID);
    assert_eq!(
        factory.claim(&name),
        Claim::Yes(Identity {
            kind: Kind::Crio,
            id: ID.into()
        })
    );
    let m = factory.inspect(&name, ID).unwrap();
    assert_eq!(m.namespace(), "crio");
    assert_eq!(
        m.aliases,
        [
            "k8s_api_api-7d9c-5f6b8_prod_1b2c3d4e-0000-4000-8000-0123456789ab_2",
            ID
        ]
    );
    assert_eq!(m.image, "registry.example/api:1.25");
    assert_eq!(m.pid, Some(4242));
    assert_eq!(m.labels["restartcount"], "2");
    assert_eq!(m.labels["io.kubernetes.pod.namespace"], "prod");
    assert_eq!(
        m.network,
        NetworkRole::Joined,
        "an app container joins the sandbox's netns"
    );
    assert_eq!(
        m.created,
        Some(Timestamp::from_secs(0).add_nanos(1_700_000_000_123_456_789))
    );
    assert_eq!(
        m.storage.layer,
        Some(PathBuf::from(
            "/var/lib/containers/storage/overlay/7c1e0d5f/diff"
        ))
    );
    assert_eq!(
        m.storage.logs,
        Some(PathBuf::from(
            "/var/log/pods/prod_api-7d9c-5f6b8_1b2c3d4e-0000-4000-8000-0123456789ab/api/2.log"
        ))
    );
    let pod = m.pod.unwrap();
    assert_eq!(pod.name.as_deref(), Some("api-7d9c-5f6b8"));
    assert_eq!(pod.container.as_deref(), Some("api"));
    assert_eq!(pod.qos.as_deref(), Some("burstable"));
    let s = factory.inspect(&scope(SANDBOX), SANDBOX).unwrap();
    assert_eq!(
        s.network,
        NetworkRole::Owner,
        "the sandbox reports the pod's network"
    );
    assert!(!s.labels.contains_key("restartcount"));
    assert_eq!(
        f.asked(),
        [
            format!("/containers/{ID}"),
            format!("/containers/{SANDBOX}")
        ]
    );
}

#[test]
fn without_the_socket_the_path_names_the_container() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("crio.sock");
    for factory in [
        Factory::new(None, Duration::from_secs(1)),
        Factory::new(Some(&missing), Duration::from_secs(1)),
    ] {
        let name = scope(ID);
        let m = factory.inspect(&name, ID).unwrap();
        assert_eq!(m.namespace(), "crio");
        assert_eq!(m.aliases, [ID.to_owned(), name.clone()]);
        assert_eq!(
            m.labels["io.kubernetes.pod.uid"],
            "1b2c3d4e-0000-4000-8000-0123456789ab"
        );
        assert_eq!(m.network, NetworkRole::Unknown);
    }
}

#[test]
fn crio_paths() {
    let f = Factory::new(None, Duration::from_secs(1));
    assert!(matches!(
        f.claim(&format!("/kubepods/besteffort/podx/crio-{ID}")),
        Claim::Yes(_)
    ));
    assert_eq!(
        f.claim(&format!("/kubepods.slice/crio-{ID}")),
        Claim::Ignore
    );
    assert_eq!(
        f.claim(&format!("/kubepods.slice/crio-conmon-{ID}.scope")),
        Claim::No
    );
    assert_eq!(f.claim("/system.slice/crio.service"), Claim::No);
}
