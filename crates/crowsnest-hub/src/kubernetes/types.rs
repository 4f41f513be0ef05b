//! The few fields of the Kubernetes API's objects the hub reads (core/v1 `Node`, `Pod`,
//! `Namespace`, their lists, watch events and `Status`), as serde types. Everything else in
//! an object is skipped while parsing, so a large pod list costs what the hub keeps of it.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `metadata` of an object.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ObjectMeta {
    /// The object's name.
    pub name: String,
    /// Its namespace (pods).
    pub namespace: String,
    /// Its UID.
    pub uid: String,
    /// The version the API server gave it.
    pub resource_version: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its annotations.
    pub annotations: BTreeMap<String, String>,
}

/// `metadata` of a list.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ListMeta {
    /// The version to watch from.
    pub resource_version: String,
}

/// A list (`NodeList`, `PodList`, `NamespaceList`).
#[derive(Debug, Clone, Deserialize)]
#[serde(bound = "T: Deserialize<'de>")]
pub struct List<T> {
    /// Its metadata.
    #[serde(default)]
    pub metadata: ListMeta,
    /// Its items (`null` in some answers).
    #[serde(default, deserialize_with = "null_is_empty")]
    pub items: Vec<T>,
}

fn null_is_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// One line of a watch stream.
#[derive(Debug, Clone, Deserialize)]
pub struct WatchEvent {
    /// `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK` or `ERROR`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The object (a `Status` for `ERROR`).
    pub object: serde_json::Value,
}

/// A `Status` (an error answer, or the object of an `ERROR` watch event).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Status {
    /// The HTTP code it stands for (410 for an expired resource version).
    pub code: u16,
    /// Why, in one word (`Expired`, `Gone`, `Forbidden`).
    pub reason: String,
    /// What happened.
    pub message: String,
}

/// A node.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Node {
    /// Its metadata.
    pub metadata: ObjectMeta,
    /// Its spec.
    pub spec: NodeSpec,
    /// Its status.
    pub status: NodeStatus,
}

/// `spec` of a node.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NodeSpec {
    /// Heapster's `host_id` (deprecated in Kubernetes, empty on new clusters).
    #[serde(rename = "externalID")]
    pub external_id: String,
    /// The cloud's id of the machine.
    #[serde(rename = "providerID")]
    pub provider_id: String,
    /// Cordoned.
    pub unschedulable: bool,
}

/// `status` of a node.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NodeStatus {
    /// Its addresses (`InternalIP`, `ExternalIP`, `Hostname`, ...).
    pub addresses: Vec<NodeAddress>,
    /// Its conditions (`Ready`, ...).
    pub conditions: Vec<Condition>,
    /// What the machine has (`cpu`, `memory`, ...), as quantities.
    pub capacity: BTreeMap<String, String>,
    /// What pods may use.
    pub allocatable: BTreeMap<String, String>,
}

/// One address of a node.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NodeAddress {
    /// `InternalIP`, `ExternalIP`, `Hostname`, `LegacyHostIP`, `InternalDNS`, `ExternalDNS`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The address.
    pub address: String,
}

/// One condition of a node.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Condition {
    /// `Ready`, `MemoryPressure`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
}

/// A pod.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Pod {
    /// Its metadata.
    pub metadata: ObjectMeta,
    /// Its spec.
    pub spec: PodSpec,
    /// Its status.
    pub status: PodStatus,
}

/// `spec` of a pod.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PodSpec {
    /// The node it runs on.
    pub node_name: String,
    /// Its containers.
    pub containers: Vec<Container>,
}

/// A container of a pod's spec.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Container {
    /// Its name.
    pub name: String,
    /// Its image.
    pub image: String,
    /// Its requests and limits.
    pub resources: Resources,
}

/// `resources` of a container.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Resources {
    /// `requests` (`cpu`, `memory`, ...), as quantities.
    pub requests: BTreeMap<String, String>,
    /// `limits`.
    pub limits: BTreeMap<String, String>,
}

/// `status` of a pod.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PodStatus {
    /// `Pending`, `Running`, `Succeeded`, `Failed`, `Unknown`.
    pub phase: String,
    /// Its containers' states.
    pub container_statuses: Vec<ContainerStatus>,
}

/// One container's state.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerStatus {
    /// The container's name.
    pub name: String,
    /// How often it restarted.
    pub restart_count: i64,
}

/// A namespace.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Namespace {
    /// Its metadata.
    pub metadata: ObjectMeta,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_events_parse_with_unknown_fields_and_nulls() {
        let l: List<Node> = serde_json::from_str(
            r#"{"kind":"NodeList","apiVersion":"v1","metadata":{"resourceVersion":"12"},
                "items":[{"metadata":{"name":"a","uid":"u"},"spec":{"podCIDR":"10.0.0.0/24"},
                "status":{"addresses":[{"type":"InternalIP","address":"10.0.0.1"}],
                "capacity":{"cpu":"4"}}}]}"#,
        )
        .unwrap();
        assert_eq!(l.metadata.resource_version, "12");
        assert_eq!(l.items[0].status.addresses[0].address, "10.0.0.1");
        let l: List<Pod> = serde_json::from_str(r#"{"metadata":{},"items":null}"#).unwrap();
        assert!(l.items.is_empty());
        let e: WatchEvent = serde_json::from_str(
            r#"{"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired"}}"#,
        )
        .unwrap();
        let s: Status = serde_json::from_value(e.object).unwrap();
        assert_eq!((e.kind.as_str(), s.code), ("ERROR", 410));
    }
}
