//! Spool unit tests: framing, recovery from torn and corrupt tails, cursors, eviction.
#![allow(clippy::unwrap_used)]

use super::*;

fn opts() -> SpoolOptions {
    SpoolOptions {
        max_bytes: 64 << 10,
        segment_bytes: 8 << 10,
        sync: SyncPolicy::default(),
    }
}

fn full(name: &str) -> DestFilter {
    DestFilter {
        name: name.into(),
        full: true,
        event_types: None,
    }
}

fn put(s: &mut Spool, n: usize) -> Vec<u64> {
    (0..n)
        .map(|i| {
            s.append(None, "alert", |seq, b| {
                b.extend_from_slice(format!("{{\"i\":{i},\"seq\":{seq}}}").as_bytes())
            })
            .unwrap()
        })
        .collect()
}

fn read_all(s: &mut Spool, d: usize) -> Vec<u64> {
    let mut out = Vec::new();
    s.read(d, usize::MAX, &mut out).unwrap();
    out.iter().map(|r| r.seq).collect()
}

fn seg_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    v
}

#[test]
fn acked_records_are_not_resent_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path(), opts(), vec![full("a")]).unwrap();
    let id = s.instance().to_string();
    assert_eq!(put(&mut s, 100), (0..100).collect::<Vec<_>>());
    assert_eq!(read_all(&mut s, 0), (0..100).collect::<Vec<_>>());
    s.ack_until(0, 60).unwrap();
    s.close().unwrap();
    drop(s);
    let mut s = Spool::open(dir.path(), opts(), vec![full("a")]).unwrap();
    assert_eq!(s.instance(), id, "the spool id survives a reopen");
    assert_eq!(s.next_seq(), 100);
    assert_eq!(read_all(&mut s, 0), (60..100).collect::<Vec<_>>());
    assert_eq!(put(&mut s, 1), vec![100]);
    assert_eq!(read_all(&mut s, 0), vec![100]);
}

#[test]
fn fully_acked_segments_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path(), opts(), vec![full("a"), full("b")]).unwrap();
    put(&mut s, 1000);
    assert!(seg_files(dir.path()).len() > 3);
    read_all(&mut s, 0);
    read_all(&mut s, 1);
    s.ack_until(0, 1000).unwrap();
    assert!(seg_files(dir.path()).len() > 3, "b still needs them");
    s.ack_until(1, 1000).unwrap();
    assert_eq!(
        seg_files(dir.path()).len(),
        1,
        "only the active segment stays"
    );
    assert!(s.stats().bytes < 8 << 10);
}

#[test]
fn torn_tail_is_truncated_and_numbering_continues() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path(), opts(), vec![full("a")]).unwrap();
    put(&mut s, 50);
    s.sync().unwrap();
    drop(s);
    let last = seg_files(dir.path()).pop().unwrap();
    let len = fs::metadata(&last).unwrap().len();
    // Cut the last record in half, as a power cut during a write would.
    OpenOptions::new()
        .write(true)
        .open(&last)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    let mut s = Spool::open(dir.path(), opts(), vec![full("a")]).unwrap();
    assert!(s.stats().truncated_bytes > 0);
    // Record 49 may have been published before the crash: never reuse its id.
    assert_eq!(s.next_seq(), RESERVE_BLOCK);
    assert_eq!(read_all(&mut s, 0), (0..49).collect::<Vec<_>>());
    assert_eq!(put(&mut s, 2), vec![RESERVE_BLOCK, RESERVE_BLOCK + 1]);
    s.close().unwrap();
    drop(s);
    let mut s = Spool::open(dir.path(), opts(), vec![full("a")]).unwrap();
    assert_eq!(s.stats().truncated_bytes, 0, "the repaired file is clean");
    let mut want: Vec<u64> = (0..49).collect();
    want.extend([RESERVE_BLOCK, RESERVE_BLOCK + 1]);
    assert_eq!(read_all(&mut s, 0), want);
    assert_eq!(s.next_seq(), RESERVE_BLOCK + 2);
}

#[test]
fn corrupt_record_cuts_the_rest_of_its_segment_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path(), opts(), vec![full("a")]).unwrap();
    put(&mut s, 400);
    s.sync().unwrap();
    drop(s);
    let segs = seg_files(dir.path());
    assert!(segs.len() >= 3);
    // Flip a byte in the middle of the first segment.
    let mut data = fs::read(&segs[0]).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0x55;
    fs::write(&segs[0], &data).unwrap();
    let mut s = Spool::open(dir.path(), opts(), vec![full("a")]).unwrap();
    assert!(s.stats().truncated_bytes > 0);
    let got = read_all(&mut s, 0);
    assert!(got.len() < 400 && got.len() > 300, "{}", got.len());
    assert!(got.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(*got.last().unwrap(), 399, "later segments are intact");
    // Garbage that is not a record at all.
    fs::write(dir.path().join("cursors.json"), b"{not json").unwrap();
    drop(s);
    let mut s = Spool::open(dir.path(), opts(), vec![full("a")]).unwrap();
    assert_eq!(read_all(&mut s, 0), got, "bad cursors: resend, never lose");
}

#[test]
fn full_spool_evicts_oldest_and_counts_per_destination() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path(), opts(), vec![full("a"), full("b")]).unwrap();
    put(&mut s, 100);
    read_all(&mut s, 0);
    s.ack_until(0, 100).unwrap();
    // b is offline: keep writing far past the bound.
    put(&mut s, 5000);
    let st = s.stats();
    assert!(st.bytes <= 64 << 10, "{st:?}");
    assert!(st.evicted_segments > 0);
    let got_a = read_all(&mut s, 0);
    let got_b = read_all(&mut s, 1);
    // a was caught up before eviction started, but records it had not read
    // yet were evicted too; what each lost plus what it reads adds up.
    assert_eq!(got_a.len() as u64 + s.dropped_full(0), 5000);
    assert_eq!(got_b.len() as u64 + s.dropped_full(1), 5100);
    assert_eq!(*got_b.last().unwrap(), 5099);
    assert!(
        got_b.windows(2).all(|w| w[1] == w[0] + 1),
        "a suffix, no holes"
    );
}

#[test]
fn filters_and_targeted_records() {
    let dir = tempfile::tempdir().unwrap();
    let alerts_only = DestFilter {
        name: "n".into(),
        full: true,
        event_types: Some(vec!["alert".into()]),
    };
    let summary = DestFilter {
        name: "grc".into(),
        full: false,
        event_types: None,
    };
    let mut s = Spool::open(dir.path(), opts(), vec![alerts_only, summary, full("all")]).unwrap();
    s.append(None, "alert", |_, b| b.push(b'1')).unwrap();
    s.append(None, "flow", |_, b| b.push(b'2')).unwrap();
    s.append(Some("grc"), "alert_summary", |_, b| b.push(b'3'))
        .unwrap();
    assert_eq!(read_all(&mut s, 0), vec![0]);
    assert_eq!(read_all(&mut s, 1), vec![2]);
    assert_eq!(read_all(&mut s, 2), vec![0, 1]);
}

#[test]
fn records_larger_than_a_read_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let o = SpoolOptions {
        max_bytes: 16 << 20,
        segment_bytes: 4 << 20,
        sync: SyncPolicy::default(),
    };
    let mut s = Spool::open(dir.path(), o, vec![full("a")]).unwrap();
    let big = vec![b'x'; 600 << 10];
    for _ in 0..3 {
        s.append(None, "alert", |_, b| b.extend_from_slice(&big))
            .unwrap();
    }
    let mut out = Vec::new();
    s.read(0, 10, &mut out).unwrap();
    assert_eq!(out.len(), 3);
    assert!(out.iter().all(|r| r.payload == big));
}

#[test]
fn bad_options_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let o = SpoolOptions {
        max_bytes: 10_000,
        segment_bytes: 8_000,
        sync: SyncPolicy::default(),
    };
    assert!(matches!(
        Spool::open(dir.path(), o, vec![]),
        Err(UplinkError::InvalidConfig(_))
    ));
}

#[test]
fn sequence_numbers_are_never_reused_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path(), opts(), vec![full("a")]).unwrap();
    put(&mut s, 10);
    s.close().unwrap();
    drop(s);
    let mut s = Spool::open(dir.path(), opts(), vec![full("a")]).unwrap();
    assert_eq!(s.next_seq(), 10, "a clean close continues exactly");
    put(&mut s, 5);
    // Crash without close, and the segment's tail never reached the disk.
    drop(s);
    for seg in seg_files(dir.path()) {
        OpenOptions::new()
            .write(true)
            .open(&seg)
            .unwrap()
            .set_len(0)
            .unwrap();
    }
    let mut s = Spool::open(dir.path(), opts(), vec![full("a")]).unwrap();
    assert!(s.next_seq() >= 15, "{} would reuse ids", s.next_seq());
    assert!(read_all(&mut s, 0).is_empty());
    assert_eq!(s.read_seq(0), s.next_seq(), "the reader is at the end");
}
