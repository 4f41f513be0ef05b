//! Canonical label names (Heapster's, plus `id`, cAdvisor's absolute cgroup name).

/// The absolute cgroup name of a container (`/docker/<id>`), cAdvisor's `id`.
pub const ID: &str = "id";
/// What the series describes: `node`, `pod`, `pod_container`, `sys_container`, `ns`,
/// `cluster`.
pub const TYPE: &str = "type";
/// The container's name: the runtime's name (first alias) or the cgroup name.
pub const CONTAINER_NAME: &str = "container_name";
/// The image a container runs.
pub const CONTAINER_BASE_IMAGE: &str = "container_base_image";
/// The node (host) name.
pub const NODENAME: &str = "nodename";
/// The host's name as the machine knows it.
pub const HOSTNAME: &str = "hostname";
/// Pod name.
pub const POD_NAME: &str = "pod_name";
/// Pod UID.
pub const POD_ID: &str = "pod_id";
/// Namespace name.
pub const NAMESPACE_NAME: &str = "namespace_name";
/// Runtime labels as `k:v,k:v`, sorted.
pub const LABELS: &str = "labels";
/// Which filesystem or device a labeled metric is about.
pub const RESOURCE_ID: &str = "resource_id";

/// `type` of a container outside any pod.
pub const TYPE_SYS_CONTAINER: &str = "sys_container";
/// `type` of a container in a Kubernetes pod.
pub const TYPE_POD_CONTAINER: &str = "pod_container";
/// `type` of a node (the root container).
pub const TYPE_NODE: &str = "node";

/// Kubernetes' runtime labels on containers.
pub const K8S_POD_NAME: &str = "io.kubernetes.pod.name";
/// Kubernetes' runtime label: namespace.
pub const K8S_POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
/// Kubernetes' runtime label: pod UID.
pub const K8S_POD_UID: &str = "io.kubernetes.pod.uid";
/// Kubernetes' runtime label: container name.
pub const K8S_CONTAINER_NAME: &str = "io.kubernetes.container.name";
