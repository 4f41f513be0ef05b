//! What the agent decodes from container runtimes over their sockets: the HTTP/1 response
//! (status line, headers, chunked or sized body, received in pieces), Docker's and Podman's
//! container inspect JSON and CRI-O's container info, each then turned into metadata. The
//! first byte picks the document, the rest is the input. Errors, never panics.
#![no_main]

use crowsnest_collect::runtime::{Kind, crio, docker, http};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let cgroup = "/system.slice/docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope";
    match selector % 4 {
        0 | 1 => {
            // The response arrives whole, or in pieces of 1 to 64 bytes (at most 64 pieces:
            // the head is searched again after each piece, as after each read).
            let piece = if selector % 4 == 0 {
                0
            } else {
                (usize::from(selector >> 2) + 1).max(input.len() / 64)
            };
            if let Ok((_, body)) = http::decode_response(input, piece) {
                assert!(body.len() <= input.len());
            }
        }
        2 => {
            if let Ok(inspect) = serde_json::from_slice::<docker::Inspect>(input) {
                let kind = if selector & 4 == 0 {
                    Kind::Docker
                } else {
                    Kind::Podman
                };
                let allow = ["PATH".to_owned()];
                let m = inspect.into_metadata(kind, cgroup, &allow);
                assert!(m.envs.keys().all(|k| k == "PATH"));
            }
        }
        _ => {
            if let Ok(info) = serde_json::from_slice::<crio::Info>(input) {
                let _ = info.into_metadata(cgroup, "0123456789abcdef");
            }
        }
    }
});
