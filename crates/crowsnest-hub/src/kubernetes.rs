//! The Kubernetes source (Heapster's `--source=kubernetes:...` and
//! `kubernetes.summary_api:...`): the nodes to scrape come from the API server (listed and
//! watched), each node is scraped either through the crowsnest agent on it (`--agent-port`,
//! the default) or through its kubelet's Summary API (`/stats/summary`, with
//! `useKubeletSummary=true` or the `kubernetes.summary_api` kind), and the pods and namespaces
//! the API server knows enrich the sets (pod labels and UIDs, images, requests, limits,
//! restarts, namespace UIDs, node labels, capacity and allocatable).
//!
//! The client is small and hand-written over reqwest (already the sinks' client): the hub
//! reads three lists and their watch streams, a handful of fields each, so kube-rs and
//! k8s-openapi (hundreds of generated types, a long build) would cost more than they save.
//! See docs/ARCHITECTURE.md.

pub mod client;
pub mod cluster;
pub mod config;
pub mod enrich;
pub mod kubeconfig;
pub mod quantity;
pub mod summary;
pub mod types;

pub use cluster::Cluster;
pub use config::KubernetesSpec;

/// Heapster's `host_id` label.
pub const HOST_ID: &str = "host_id";
/// Heapster's `namespace_id` label.
pub const NAMESPACE_ID: &str = "namespace_id";
/// Heapster's `schedulable` label (nodes).
pub const SCHEDULABLE: &str = "schedulable";

/// Percent-encodes a query parameter value.
pub(crate) fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
