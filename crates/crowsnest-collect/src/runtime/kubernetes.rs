//! Kubernetes: the pod a container belongs to, from the kubelet's cgroup paths and from the
//! `io.kubernetes.*` labels the kubelet puts on every container through the CRI.
//!
//! Paths, cgroupfs driver: `/kubepods/pod<uid>/<id>` (Guaranteed) and
//! `/kubepods/<qos>/pod<uid>/<id>` (`burstable`, `besteffort`). systemd driver:
//! `/kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid with _ for ->.slice/<runtime>-<id>.scope`
//! and `/kubepods.slice/kubepods-pod<uid>.slice/...` (Guaranteed).

use std::collections::BTreeMap;

/// The pod's name label.
pub const POD_NAME: &str = "io.kubernetes.pod.name";
/// The pod's namespace label.
pub const POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
/// The pod's uid label.
pub const POD_UID: &str = "io.kubernetes.pod.uid";
/// The container's name in the pod spec (`POD` for the sandbox under CRI-O and dockershim).
pub const CONTAINER_NAME: &str = "io.kubernetes.container.name";

/// What is known of a container's pod. Fields the sources do not give are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pod {
    /// The pod's uid.
    pub uid: Option<String>,
    /// The pod's name.
    pub name: Option<String>,
    /// The pod's namespace.
    pub namespace: Option<String>,
    /// The container's name in the pod (`POD` for a sandbox).
    pub container: Option<String>,
    /// The QoS class from the path: `guaranteed`, `burstable` or `besteffort`.
    pub qos: Option<String>,
}

impl Pod {
    /// `self`, with what `other` knows filling what `self` does not.
    pub fn or(self, other: Pod) -> Pod {
        Pod {
            uid: self.uid.or(other.uid),
            name: self.name.or(other.name),
            namespace: self.namespace.or(other.namespace),
            container: self.container.or(other.container),
            qos: self.qos.or(other.qos),
        }
    }
}

/// The pod of cgroup `name`, when the path is under the kubelet's `kubepods` hierarchy and
/// names a pod.
pub fn pod_from_path(name: &str) -> Option<Pod> {
    let parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
    let top = parts
        .iter()
        .position(|p| *p == "kubepods" || *p == "kubepods.slice")?;
    let systemd = parts[top].ends_with(".slice");
    let mut qos = None;
    for part in &parts[top + 1..] {
        if systemd {
            let inner = part
                .strip_prefix("kubepods-")
                .and_then(|p| p.strip_suffix(".slice"))?;
            // `burstable`, `burstable-pod<uid>`, `pod<uid>`.
            let (level, pod) = match inner.split_once("pod") {
                Some((level, uid)) => (level.trim_end_matches('-'), Some(uid)),
                None => (inner, None),
            };
            if !level.is_empty() {
                qos = Some(level.to_owned());
            }
            if let Some(uid) = pod.filter(|u| !u.is_empty()) {
                return Some(Pod {
                    uid: Some(uid.replace('_', "-")),
                    qos: Some(qos.unwrap_or_else(|| "guaranteed".to_owned())),
                    ..Pod::default()
                });
            }
        } else if let Some(uid) = part.strip_prefix("pod").filter(|u| !u.is_empty()) {
            return Some(Pod {
                uid: Some(uid.to_owned()),
                qos: Some(qos.unwrap_or_else(|| "guaranteed".to_owned())),
                ..Pod::default()
            });
        } else if qos.is_none() && matches!(*part, "burstable" | "besteffort") {
            qos = Some((*part).to_owned());
        } else {
            return None;
        }
    }
    None
}

/// The pod the kubelet's labels describe, when there is any `io.kubernetes.*` label.
pub fn pod_from_labels(labels: &BTreeMap<String, String>) -> Option<Pod> {
    let get = |k: &str| labels.get(k).cloned();
    let pod = Pod {
        uid: get(POD_UID),
        name: get(POD_NAME),
        namespace: get(POD_NAMESPACE),
        container: get(CONTAINER_NAME),
        qos: None,
    };
    (pod != Pod::default()).then_some(pod)
}

/// Whether the labels say the container is a pod's sandbox (which holds the pod's network
/// namespace), an application container of a pod (which joined it), or neither.
pub fn is_sandbox(labels: &BTreeMap<String, String>) -> Option<bool> {
    let get = |k: &str| labels.get(k).map(String::as_str);
    if let Some(kind) = get("io.cri-containerd.kind") {
        return Some(kind == "sandbox");
    }
    if let Some(kind) = get("io.kubernetes.docker.type") {
        return Some(kind == "podsandbox");
    }
    get(CONTAINER_NAME).map(|c| c == "POD")
}

/// Adds `io.kubernetes.pod.uid` to `labels` from `pod` when the runtime gave no such label (a
/// container named from its path only), so pods are told apart in every output.
pub fn label_uid(labels: &mut BTreeMap<String, String>, pod: Option<&Pod>) {
    if let Some(uid) = pod.and_then(|p| p.uid.as_ref()) {
        labels
            .entry(POD_UID.to_owned())
            .or_insert_with(|| uid.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn pod(uid: &str, qos: &str) -> Option<Pod> {
        Some(Pod {
            uid: Some(uid.into()),
            qos: Some(qos.into()),
            ..Pod::default()
        })
    }

    #[test]
    fn cgroupfs_paths() {
        assert_eq!(
            pod_from_path(&format!("/kubepods/burstable/pod1b2c-3d/{ID}")),
            pod("1b2c-3d", "burstable")
        );
        assert_eq!(
            pod_from_path("/kubepods/besteffort/podabc"),
            pod("abc", "besteffort")
        );
        assert_eq!(
            pod_from_path(&format!("/kubepods/podabc/{ID}")),
            pod("abc", "guaranteed")
        );
        assert_eq!(pod_from_path("/kubepods/burstable"), None);
        assert_eq!(pod_from_path("/kubepods"), None);
        assert_eq!(pod_from_path("/docker/podabc"), None);
        assert_eq!(pod_from_path("/kubepods/weird/podabc"), None);
    }

    #[test]
    fn systemd_paths() {
        assert_eq!(
            pod_from_path(&format!(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12_34.slice/cri-containerd-{ID}.scope"
            )),
            pod("12-34", "burstable")
        );
        assert_eq!(
            pod_from_path("/kubepods.slice/kubepods-pod9_8.slice"),
            pod("9-8", "guaranteed")
        );
        assert_eq!(
            pod_from_path("/kubepods.slice/kubepods-besteffort.slice"),
            None
        );
        assert_eq!(pod_from_path("/kubepods.slice/other.slice"), None);
    }

    #[test]
    fn labels_and_sandbox() {
        let labels: BTreeMap<String, String> = [
            (POD_NAME, "api-7d9c"),
            (POD_NAMESPACE, "prod"),
            (CONTAINER_NAME, "POD"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let p = pod_from_labels(&labels).unwrap();
        assert_eq!(p.name.as_deref(), Some("api-7d9c"));
        assert_eq!(p.namespace.as_deref(), Some("prod"));
        assert_eq!(p.uid, None);
        assert_eq!(is_sandbox(&labels), Some(true));
        let merged = p.or(pod("u1", "burstable").unwrap());
        assert_eq!(merged.uid.as_deref(), Some("u1"));
        assert_eq!(merged.name.as_deref(), Some("api-7d9c"));
        assert_eq!(pod_from_labels(&BTreeMap::new()), None);
        assert_eq!(is_sandbox(&BTreeMap::new()), None);
        let containerd: BTreeMap<String, String> =
            [("io.cri-containerd.kind".to_owned(), "container".to_owned())].into();
        assert_eq!(is_sandbox(&containerd), Some(false));
        let mut l = BTreeMap::new();
        label_uid(&mut l, pod("u2", "burstable").as_ref());
        assert_eq!(l[POD_UID], "u2");
    }
}
