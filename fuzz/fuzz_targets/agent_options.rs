//! The agent's HTTP request parsing: the v1 options (JSON body, then query string), the v2
//! query string, container names from request paths, the store query's parameters, and the
//! RFC 3339 times and metric lists these carry. The first byte picks the parser; for the v1
//! options a NUL separates the body from the query string. A refusal is a 4xx with a message,
//! never a 5xx or a panic.
#![no_main]

use std::collections::HashMap;

use crowsnest_agent::fuzzing;
use crowsnest_core::Timestamp;
use crowsnest_core::metrics::MetricSet;
use libfuzzer_sys::fuzz_target;

fn refusal_is_4xx(r: Result<(), (u16, String)>) {
    if let Err((status, message)) = r {
        assert!((400..500).contains(&status), "{status}: {message}");
        assert!(!message.is_empty());
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let text = text.as_ref();
    match selector % 6 {
        0 => {
            let (body, query) = match rest.iter().position(|b| *b == 0) {
                Some(i) => (&rest[..i], std::str::from_utf8(&rest[i + 1..]).ok()),
                None => (rest, None),
            };
            refusal_is_4xx(fuzzing::v1_query(body, query));
        }
        1 => refusal_is_4xx(fuzzing::v2_options(Some(text))),
        2 => {
            let name = fuzzing::container_name(text);
            assert!(name.starts_with('/'), "{name:?}");
            assert!(!name.split('/').any(|p| p == ".." || p == "."), "{name:?}");
        }
        3 => {
            let params: HashMap<String, String> =
                fuzzing::query_pairs(Some(text)).into_iter().collect();
            let _ = fuzzing::store_query(&params, Timestamp::from_secs(1_700_000_000));
        }
        4 => {
            if let Ok(t) = Timestamp::parse_rfc3339(text) {
                // What is written reads back the same.
                assert_eq!(
                    Timestamp::parse_rfc3339(&t.to_string()).ok(),
                    Some(t),
                    "{text:?}"
                );
            }
        }
        _ => drop(MetricSet::parse_list(text)),
    }
});
