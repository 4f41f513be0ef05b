//! The sinks' on-disk queue read back after a crash: records are appended through the queue
//! itself, then the segment is cut at any length, one byte is changed and a cursor (valid or
//! not) is written, as a torn write or a bad disk leaves them; the queue is opened again and
//! drained. It must cut what is bad, never panic, never deliver a record it was not given
//! and never allocate for a length it did not check against the file.
//!
//! Input: `[records] [cut: u16] [flip at: u16] [flip xor] [cursor mode] [cursor seq: u64]`,
//! then the payloads, one per NUL-separated piece.
#![no_main]

use std::path::PathBuf;

use crowsnest_sinks::queue::{CURSOR_MAGIC, Queue, VERSION};
use libfuzzer_sys::fuzz_target;

const HEADER: usize = 1 + 2 + 2 + 1 + 1 + 8;

/// One directory per process, emptied before each input.
fn dir() -> PathBuf {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    base.join(format!("crowsnest-fuzz-queue-{}", std::process::id()))
}

fuzz_target!(|data: &[u8]| {
    if data.len() < HEADER {
        return;
    }
    let (h, payloads) = data.split_at(HEADER);
    let records = usize::from(h[0] % 16);
    let cut = usize::from(u16::from_le_bytes([h[1], h[2]]));
    let flip_at = usize::from(u16::from_le_bytes([h[3], h[4]]));
    let (flip, cursor_mode) = (h[5], h[6]);
    let cursor_seq = u64::from_le_bytes(h[7..15].try_into().expect("8 bytes"));

    let dir = dir();
    let _ = std::fs::remove_dir_all(&dir);
    let mut given: Vec<&[u8]> = Vec::new();
    {
        let mut q = Queue::open(&dir, 1 << 20).expect("a new queue opens");
        for p in payloads.split(|b| *b == 0).take(records) {
            q.append(p, 1).expect("an append within the budget");
            given.push(p);
        }
        q.sync().expect("sync");
    }
    // Tear the newest segment and change one byte.
    let mut segments: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the queue directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    segments.sort();
    if let Some(seg) = segments.last() {
        let mut bytes = std::fs::read(seg).expect("the segment");
        if cut < bytes.len() {
            bytes.truncate(cut);
        }
        if let Some(b) = bytes.get_mut(flip_at) {
            *b ^= flip;
        }
        std::fs::write(seg, &bytes).expect("write the segment");
    }
    match cursor_mode % 3 {
        0 => {}
        1 => {
            let mut b = [0u8; 20];
            b[..4].copy_from_slice(CURSOR_MAGIC);
            b[4..6].copy_from_slice(&VERSION.to_le_bytes());
            b[8..16].copy_from_slice(&cursor_seq.to_le_bytes());
            let crc = crc32fast::hash(&b[8..16]);
            b[16..20].copy_from_slice(&crc.to_le_bytes());
            std::fs::write(dir.join("cursor"), b).expect("write the cursor");
        }
        _ => std::fs::write(dir.join("cursor"), &h[7..]).expect("write the cursor"),
    }

    let mut q = Queue::open(&dir, 1 << 20).expect("a torn queue still opens");
    assert!(q.pending_records() <= given.len() as u64);
    let mut out = Vec::new();
    let mut delivered = 0;
    while let Some(p) = q.peek(1 << 10, &mut out).expect("peek") {
        delivered += p.records;
        assert!(
            delivered <= given.len() as u64,
            "more records than were appended"
        );
        q.commit(&p).expect("commit");
    }
    // What is delivered is a run of the payloads given, in order (the cursor says where it
    // starts; a changed byte is caught by its record's crc, and the records from there on
    // are cut).
    let n = delivered as usize;
    assert!(
        (0..=given.len() - n).any(|a| out == given[a..a + n].concat()),
        "delivered bytes that were not appended"
    );
    drop(q);
    let _ = std::fs::remove_dir_all(&dir);
});
