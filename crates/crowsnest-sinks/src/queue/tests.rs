use std::collections::VecDeque;
use std::fs;

use proptest::prelude::*;

use super::*;

fn payload(i: u64, len: usize) -> Vec<u8> {
    let mut p = i.to_le_bytes().to_vec();
    p.resize(len.max(8), b'x');
    p
}

/// Peeks and commits everything, one record at a time; returns the payloads.
fn drain(q: &mut Queue) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for _ in 0..100_000 {
        let mut buf = Vec::new();
        let Some(p) = q.peek(1, &mut buf).unwrap() else {
            return out;
        };
        assert_eq!(p.records, 1);
        out.push(buf);
        q.commit(&p).unwrap();
    }
    panic!("queue did not drain");
}

#[test]
fn records_come_out_in_order_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut q = Queue::open(dir.path(), 1 << 20).unwrap();
    for i in 0..10 {
        q.append(&payload(i, 100), 3).unwrap();
    }
    assert_eq!(
        (q.pending_records(), q.pending_items(), q.pending_bytes()),
        (10, 30, 1000)
    );
    // Deliver 4 in one peek (400 bytes fit), then reopen: the other 6 are still there.
    let mut buf = Vec::new();
    let p = q.peek(450, &mut buf).unwrap().unwrap();
    assert_eq!((p.records, p.items, p.bytes), (4, 12, 400));
    assert_eq!(&buf[..8], &0u64.to_le_bytes());
    q.commit(&p).unwrap();
    drop(q);
    let mut q = Queue::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(q.pending_records(), 6);
    assert_eq!(q.pending_items(), 18);
    let got = drain(&mut q);
    assert_eq!(got, (4..10).map(|i| payload(i, 100)).collect::<Vec<_>>());
    // Appends after a drain and reopen continue the numbering.
    q.append(&payload(10, 10), 1).unwrap();
    drop(q);
    let mut q = Queue::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(drain(&mut q), vec![payload(10, 10)]);
    assert_eq!(q.drops(), Drops::default());
}

#[test]
fn a_peek_does_not_consume_without_a_commit() {
    let dir = tempfile::tempdir().unwrap();
    let mut q = Queue::open(dir.path(), 1 << 20).unwrap();
    q.append(b"one", 1).unwrap();
    let mut a = Vec::new();
    q.peek(100, &mut a).unwrap().unwrap();
    let mut b = Vec::new();
    let p = q.peek(100, &mut b).unwrap().unwrap();
    assert_eq!(a, b, "the same record until committed");
    q.commit(&p).unwrap();
    assert!(q.peek(100, &mut Vec::new()).unwrap().is_none());
}

#[test]
fn a_torn_tail_is_cut_on_open_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut q = Queue::open(dir.path(), 1 << 20).unwrap();
    for i in 0..3 {
        q.append(&payload(i, 50), 1).unwrap();
    }
    drop(q);
    let seg = dir.path().join(segment_name(0));
    let len = fs::metadata(&seg).unwrap().len();
    // Cut the last record short, as a crash during a write would.
    let f = OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(len - 7).unwrap();
    drop(f);
    let mut q = Queue::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(q.drops().corrupt, 1);
    assert_eq!(q.pending_records(), 2);
    q.append(&payload(3, 50), 1).unwrap();
    assert_eq!(
        drain(&mut q),
        vec![payload(0, 50), payload(1, 50), payload(3, 50)]
    );
    // A flipped byte in a record's payload: cut from there on open.
    let mut q2 = {
        drop(q);
        Queue::open(dir.path(), 1 << 20).unwrap()
    };
    q2.append(&payload(4, 50), 1).unwrap();
    q2.append(&payload(5, 50), 1).unwrap();
    drop(q2);
    let seg = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .max()
        .unwrap();
    let mut bytes = fs::read(&seg).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 0xff;
    fs::write(&seg, bytes).unwrap();
    let mut q = Queue::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(q.drops().corrupt, 1);
    assert_eq!(drain(&mut q), vec![payload(4, 50)]);
}

#[test]
fn a_file_that_is_not_a_segment_is_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(segment_name(7)), b"garbage!garbage").unwrap();
    fs::write(dir.path().join("notes.txt"), b"left alone").unwrap();
    let mut q = Queue::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(q.pending_records(), 0);
    assert!(dir.path().join(format!("{:020}.corrupt", 7)).exists());
    assert!(dir.path().join("notes.txt").exists());
    q.append(b"x", 1).unwrap();
    assert_eq!(drain(&mut q), vec![b"x".to_vec()]);
}

#[test]
fn a_corrupt_cursor_means_delivering_from_the_oldest_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut q = Queue::open(dir.path(), 1 << 20).unwrap();
    for i in 0..3 {
        q.append(&payload(i, 20), 1).unwrap();
    }
    let mut buf = Vec::new();
    let p = q.peek(20, &mut buf).unwrap().unwrap();
    q.commit(&p).unwrap();
    drop(q);
    let mut c = fs::read(dir.path().join("cursor")).unwrap();
    c[10] ^= 1;
    fs::write(dir.path().join("cursor"), c).unwrap();
    let mut q = Queue::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(
        drain(&mut q).len(),
        3,
        "at least once: the delivered one again"
    );
}

#[test]
fn a_full_budget_drops_the_oldest_records_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    // 1 MiB budget: segments of 64 KiB; records of ~10 KiB.
    let mut q = Queue::open(dir.path(), 1 << 20).unwrap();
    let n = 300u64;
    let mut dropped = 0;
    for i in 0..n {
        dropped += q.append(&payload(i, 10_000), 2).unwrap();
        assert!(q.bytes() <= 1 << 20, "never over budget");
    }
    let d = q.drops();
    assert_eq!(d.disk_full, dropped);
    assert_eq!(d.disk_full_items, 2 * dropped);
    assert!(dropped > 0);
    assert_eq!(q.pending_records(), n - dropped);
    let got = drain(&mut q);
    let first = u64::from_le_bytes(got[0][..8].try_into().unwrap());
    assert_eq!(first, dropped, "the oldest went first");
    let want: Vec<Vec<u8>> = (dropped..n).map(|i| payload(i, 10_000)).collect();
    assert_eq!(got, want, "the rest in order");
}

#[test]
fn a_record_larger_than_the_budget_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut q = Queue::open(dir.path(), 1 << 20).unwrap();
    let err = q.append(&vec![0; 2 << 20], 1).unwrap_err();
    assert!(
        err.to_string()
            .contains("exceeds the queue's 1048576 bytes"),
        "{err}"
    );
}

#[test]
fn records_being_sent_are_not_dropped_for_room_the_next_oldest_are() {
    let dir = tempfile::tempdir().unwrap();
    let mut q = Queue::open(dir.path(), 1 << 20).unwrap();
    q.append(&payload(0, 10_000), 1).unwrap();
    // Segments hold 6 records of ~10 KB (64 KiB each); 0..6 share the first.
    let mut buf = Vec::new();
    let p = q.peek(1, &mut buf).unwrap().unwrap();
    // While record 0 is "in flight", enough appends to need room.
    let mut dropped = 0;
    for i in 1..200 {
        dropped += q.append(&payload(i, 10_000), 1).unwrap();
    }
    assert!(dropped > 0);
    assert_eq!(q.drops().disk_full, dropped);
    q.commit(&p).unwrap();
    let rest = drain(&mut q);
    let ids: Vec<u64> = rest
        .iter()
        .map(|r| u64::from_le_bytes(r[..8].try_into().unwrap()))
        .collect();
    assert_eq!(ids.len() as u64 + 1 + dropped, 200, "delivered or counted");
    assert_eq!(&ids[..5], &[1, 2, 3, 4, 5], "the in-flight segment stayed");
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(*ids.last().unwrap(), 199);
    // Once nothing is in flight, the oldest goes first again.
    let mut q = Queue::open(dir.path(), 1 << 20).unwrap();
    for i in 200..400 {
        q.append(&payload(i, 10_000), 1).unwrap();
    }
    let first = u64::from_le_bytes(drain(&mut q)[0][..8].try_into().unwrap());
    assert!(first > 200, "oldest dropped: first left is {first}");
}

#[derive(Debug, Clone)]
enum Op {
    Append(u16),
    Deliver(u16),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1u16..9000).prop_map(Op::Append),
        3 => (1u16..30_000).prop_map(Op::Deliver),
        1 => Just(Op::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Against a model: what comes out is what went in, in order, minus exactly the records
    /// counted as dropped (always the oldest), across reopens.
    #[test]
    fn the_queue_behaves_like_a_bounded_fifo(ops in proptest::collection::vec(op(), 1..120)) {
        let dir = tempfile::tempdir().unwrap();
        let budget = 1 << 20;
        let mut q = Queue::open(dir.path(), budget).unwrap();
        let mut model: VecDeque<(u64, usize)> = VecDeque::new();
        let mut next = 0u64;
        for op in ops {
            match op {
                Op::Append(kb) => {
                    let len = usize::from(kb) * 50;
                    let dropped = q.append(&payload(next, len), 1).unwrap();
                    model.push_back((next, len));
                    next += 1;
                    for _ in 0..dropped {
                        model.pop_front();
                    }
                    prop_assert!(q.bytes() <= budget);
                }
                Op::Deliver(max) => {
                    let mut buf = Vec::new();
                    if let Some(p) = q.peek(u64::from(max), &mut buf).unwrap() {
                        let mut at = 0;
                        for _ in 0..p.records {
                            let (i, len) = model.pop_front().unwrap();
                            prop_assert_eq!(&buf[at..at + len.max(8)], &payload(i, len)[..]);
                            at += len.max(8);
                        }
                        prop_assert_eq!(at, buf.len());
                        q.commit(&p).unwrap();
                    } else {
                        prop_assert!(model.is_empty());
                    }
                }
                Op::Reopen => {
                    drop(q);
                    q = Queue::open(dir.path(), budget).unwrap();
                    prop_assert_eq!(q.drops().corrupt, 0);
                }
            }
            prop_assert_eq!(q.pending_records(), model.len() as u64);
        }
    }
}
