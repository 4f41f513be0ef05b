//! What the hub decodes from Kubernetes: the kubelet's Summary API (then turned into metric
//! sets) and the API server's lists and watch events of nodes, pods and namespaces. The
//! first byte picks the document, the rest is the JSON. Errors, never panics.
#![no_main]

use crowsnest_hub::kubernetes::cluster::{NodeInfo, PodInfo};
use crowsnest_hub::kubernetes::summary::{self, NodeLabels, Summary};
use crowsnest_hub::kubernetes::types::{List, Namespace, Node, Pod, Status, WatchEvent};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, json)) = data.split_first() else {
        return;
    };
    match selector % 5 {
        0 => {
            if let Ok(s) = serde_json::from_slice::<Summary>(json) {
                let node = NodeLabels {
                    name: "node",
                    hostname: "node.example",
                    host_id: "",
                };
                let _ = summary::decode(&s, node);
            }
        }
        1 => {
            if let Ok(l) = serde_json::from_slice::<List<Node>>(json) {
                for n in &l.items {
                    let _ = NodeInfo::from_node(n, Some("cloud/id"));
                }
            }
        }
        2 => {
            if let Ok(l) = serde_json::from_slice::<List<Pod>>(json) {
                for p in &l.items {
                    let _ = PodInfo::from_pod(p);
                }
            }
        }
        3 => drop(serde_json::from_slice::<List<Namespace>>(json)),
        _ => {
            if let Ok(ev) = serde_json::from_slice::<WatchEvent>(json) {
                let _ = serde_json::from_value::<Node>(ev.object.clone())
                    .map(|n| NodeInfo::from_node(&n, None));
                let _ =
                    serde_json::from_value::<Pod>(ev.object.clone()).map(|p| PodInfo::from_pod(&p));
                let _ = serde_json::from_value::<Status>(ev.object);
            }
        }
    }
});
