//! What the hub decodes from an agent: the v1.3 containers answer (a JSON array of
//! containers with their specs and samples) turned into metric sets, twice with the same
//! node state as successive scrapes do. Errors, never panics.
#![no_main]

use crowsnest_core::model::ContainerInfo;
use crowsnest_hub::scrape::{NodeScrapeState, decode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(infos) = serde_json::from_slice::<Vec<ContainerInfo>>(data) else {
        return;
    };
    let mut state = NodeScrapeState::default();
    for _ in 0..2 {
        let scraped = decode("node", &infos, &mut state);
        assert!(scraped.sets.len() <= infos.len());
    }
});
