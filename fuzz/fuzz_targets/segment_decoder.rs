//! The store's segment decoder on arbitrary bytes: header, record scan and resync, pages,
//! block index, chunks, timelines and every column codec. It must return errors, never
//! panic, loop forever or allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = crowsnest_store::check_segment_bytes(std::path::Path::new("fuzz.seg"), data);
});
