//! The hub's parsers of where its nodes are: Heapster's hosts file, `--node` entries,
//! `--source` URIs (with their Kubernetes options), kubeconfig files and Kubernetes
//! quantities; and of its HTTP API's queries (`labelSelector`, the model API's `start`,
//! `end` and `labels`). The first byte picks the parser, the rest is the text. Errors,
//! never panics.
#![no_main]

use std::path::Path;

use crowsnest_hub::kubernetes::{kubeconfig, quantity};
use crowsnest_hub::{NodeAddr, SourceSpec, fuzzing};
use libfuzzer_sys::fuzz_target;

const PARSERS: usize = 7;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let text = text.as_ref();
    match usize::from(selector) % PARSERS {
        0 => match crowsnest_hub::source::hosts_file::parse(Path::new("hosts"), text, 4194) {
            Ok(nodes) => {
                for n in &nodes {
                    assert!(!n.name.trim().is_empty() && n.port != 0);
                    let _ = n.base_url();
                }
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        },
        1 => {
            if let Ok(n) = NodeAddr::parse_entry(text, 4194) {
                assert!(!n.name.is_empty());
                let _ = n.base_url();
            }
        }
        2 => drop(SourceSpec::parse_uri(text, 4194)),
        3 => {
            // Paths named in the file are read: keep the fuzzer away from endless files.
            if !["/dev", "/proc", "/sys"].iter().any(|p| text.contains(p)) {
                let _ = kubeconfig::parse(text, Path::new("/nonexistent/kube"));
            }
        }
        4 => {
            let _ = quantity::parse(text);
            let _ = quantity::millicores(text);
            let _ = quantity::whole(text);
        }
        5 => drop(fuzzing::label_selector(text)),
        _ => drop(fuzzing::model_query(Some(text))),
    }
});
