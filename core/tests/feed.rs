//! Following the log, point-in-time reads and the entries an S3 event
//! names, on the in-memory store (the same behaviours are tested over HTTP
//! against SeaweedFS and moto in __test__/feed.test.mjs).

use immukv_core::client::{At, FeedOptions, FeedStart, KeyFilter};
use immukv_core::format::{Dialect, Entry, Json};
use immukv_core::storage::memory::{FaultPoint, MemoryStore, Op};
use immukv_core::{Client, ErrorCode, Options};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

fn client(store: &Arc<MemoryStore>) -> Client<MemoryStore> {
    Client::new(
        store.clone(),
        Options {
            repair_check_interval: Duration::ZERO,
            ..Options::default()
        },
    )
    .unwrap()
}

fn j(v: serde_json::Value) -> Json {
    Json::from(v)
}

fn fast(start: FeedStart) -> FeedOptions {
    FeedOptions {
        start,
        poll_interval: Duration::from_millis(5),
        ..FeedOptions::default()
    }
}

/// Every log entry, oldest first, with their real version ids.
fn log(store: &MemoryStore) -> Vec<Entry> {
    let ids = store.version_ids("_log.json");
    store
        .versions("_log.json")
        .iter()
        .zip(ids)
        .map(|(b, v)| Entry::from_log_object(b, &v).unwrap())
        .collect()
}

/// Reads from `feed` until it has handed over `n` entries.
async fn take<S: immukv_core::storage::Store>(
    feed: &mut immukv_core::client::Feed<S>,
    n: usize,
) -> Vec<Entry> {
    let mut out = Vec::new();
    while out.len() < n {
        let got = tokio::time::timeout(Duration::from_secs(10), feed.next())
            .await
            .expect("the feed delivers")
            .unwrap();
        out.extend(got);
    }
    out
}

fn sequences(es: &[Entry]) -> Vec<u64> {
    es.iter().map(|e| e.sequence).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_writers_one_feed_every_entry_once_in_order() {
    let store = Arc::new(MemoryStore::default());
    let w = client(&store);
    w.set("before", &j(json!(0))).await.unwrap();
    let watcher = client(&store);
    let mut feed = watcher.feed(fast(FeedStart::Head)).unwrap();
    feed.start().await.unwrap();
    let writers: Vec<_> = (0..3)
        .map(|c| {
            let w = client(&store);
            tokio::spawn(async move {
                for i in 0..20 {
                    w.set(&format!("w{c}"), &j(json!(i))).await.unwrap();
                }
            })
        })
        .collect();
    let got = take(&mut feed, 60).await;
    for t in writers {
        t.await.unwrap();
    }
    assert_eq!(sequences(&got), (1..=60).collect::<Vec<_>>());
    let logged = log(&store);
    for e in &got {
        let l = &logged[e.sequence as usize];
        assert_eq!((&l.hash, &l.version_id), (&e.hash, &e.version_id));
    }
    // Nothing more, nothing twice.
    assert!(feed.poll().await.unwrap().is_empty());
    assert_eq!(feed.position().unwrap().sequence, 60);
}

#[tokio::test]
async fn restarted_from_a_cursor_misses_nothing() {
    let store = Arc::new(MemoryStore::default());
    let w = client(&store);
    for i in 0..10 {
        w.set(&format!("k{}", i % 3), &j(json!(i))).await.unwrap();
    }
    let c = client(&store);
    let mut feed = c.feed(fast(FeedStart::Sequence(0))).unwrap();
    let first = take(&mut feed, 4).await;
    let handled = first[3].clone();
    drop(feed);
    for i in 10..15 {
        w.set("k", &j(json!(i))).await.unwrap();
    }
    // By sequence, and by the digest of the last entry handled.
    for start in [
        FeedStart::Sequence(handled.sequence + 1),
        FeedStart::After(immukv_core::Digest::from(&handled)),
    ] {
        let mut again = c.feed(fast(start)).unwrap();
        let rest = take(&mut again, 11).await;
        assert_eq!(sequences(&rest), (4..15).collect::<Vec<_>>());
    }
    // A digest the log no longer holds unchanged is refused.
    let mut forged = immukv_core::Digest::from(&handled);
    forged.hash = format!("sha256:{}", "0".repeat(64));
    let err = c
        .feed(fast(FeedStart::After(forged)))
        .unwrap()
        .start()
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::CorruptEntry, "{}", err.message);
    // Beyond the next sequence: refused, not waited for.
    let err = c
        .feed(fast(FeedStart::Sequence(17)))
        .unwrap()
        .start()
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidArgument, "{}", err.message);
    let mut at_end = c.feed(fast(FeedStart::Sequence(15))).unwrap();
    at_end.start().await.unwrap();
    assert!(at_end.poll().await.unwrap().is_empty());
}

#[tokio::test]
async fn transient_failures_neither_skip_nor_repeat() {
    let store = Arc::new(MemoryStore::default());
    let w = client(&store);
    w.set("k", &j(json!(0))).await.unwrap();
    let c = client(&store);
    let mut feed = c.feed(fast(FeedStart::Head)).unwrap();
    feed.start().await.unwrap();
    let mut got = Vec::new();
    for round in 0..6 {
        for i in 0..3 {
            w.set("k", &j(json!([round, i]))).await.unwrap();
        }
        // More failures than one request's retries: the poll fails, and the
        // feed tries again at the next poll.
        store.inject(Op::Get, "_log.json", FaultPoint::Before, 5);
        store.inject(Op::ListVersions, "_log.json", FaultPoint::Before, 5);
        got.extend(take(&mut feed, 3).await);
    }
    assert_eq!(sequences(&got), (1..=18).collect::<Vec<_>>());
    assert!(c.stats().request_errors >= 10);
}

#[tokio::test]
async fn a_tampered_version_is_a_corrupt_entry_after_the_verified_ones() {
    // A version PUT by hand on top of the log: an altered copy of the head,
    // and a genuine older entry replayed (its hash holds, its link names its
    // real predecessor, but it is not what is listed below it).
    // "forked": a well-formed entry naming the last one read as its
    // predecessor, PUT over a genuine entry appended since: were the feed to
    // trust the head's own previous_version_id instead of the listing, it
    // would hand over the forgery and never the genuine entry.
    for case in ["altered", "replayed", "deleted below", "forked"] {
        let store = Arc::new(MemoryStore::default());
        let w = client(&store);
        for i in 0..3 {
            w.set("k", &j(json!(i))).await.unwrap();
        }
        let c = client(&store);
        let mut feed = c.feed(fast(FeedStart::Head)).unwrap();
        feed.start().await.unwrap();
        let entries = log(&store);
        match case {
            "altered" => {
                let mut forged = entries[2].clone();
                forged.value = j(json!("forged"));
                forged.sequence = 3;
                forged.previous_hash = entries[2].hash.clone();
                forged.previous_version_id = Some(entries[2].version_id.clone());
                store.raw_put(
                    "_log.json",
                    forged.log_object(Dialect::Js).unwrap().as_bytes(),
                );
            }
            "replayed" => {
                w.set("k", &j(json!(3))).await.unwrap();
                store.raw_put(
                    "_log.json",
                    entries[1].log_object(Dialect::Js).unwrap().as_bytes(),
                );
            }
            "forked" => {
                w.set("k", &j(json!(3))).await.unwrap();
                let forged = Entry::next(
                    Some(entries[2].link()),
                    "k".into(),
                    j(json!("forked")),
                    1,
                    None,
                )
                .unwrap();
                store.raw_put(
                    "_log.json",
                    forged.log_object(Dialect::Js).unwrap().as_bytes(),
                );
            }
            _ => {
                w.set("k", &j(json!(3))).await.unwrap();
                w.set("k", &j(json!(4))).await.unwrap();
                let ids = store.version_ids("_log.json");
                store.raw_delete("_log.json", Some(&ids[3]));
            }
        }
        let mut handed = Vec::new();
        let err = loop {
            match tokio::time::timeout(Duration::from_secs(5), feed.next())
                .await
                .unwrap()
            {
                Ok(es) => handed.extend(es),
                Err(e) => break e,
            }
        };
        assert_eq!(err.code, ErrorCode::CorruptEntry, "{case}: {}", err.message);
        let want: Vec<u64> = if matches!(case, "replayed" | "forked") {
            vec![3]
        } else {
            vec![]
        };
        assert_eq!(
            sequences(&handed),
            want,
            "{case}: the verified entries first"
        );
        // It stays ended.
        assert_eq!(feed.poll().await.unwrap_err().code, ErrorCode::CorruptEntry);
    }
}

#[tokio::test]
async fn idle_costs_one_request_per_poll_and_close_ends_a_waiting_feed() {
    let store = Arc::new(MemoryStore::default());
    let w = client(&store);
    w.set("k", &j(json!(1))).await.unwrap();
    let c = client(&store);
    let mut feed = c.feed(fast(FeedStart::Head)).unwrap();
    feed.start().await.unwrap();
    let before = c.stats().requests();
    for _ in 0..10 {
        assert!(feed.poll().await.unwrap().is_empty());
    }
    assert_eq!(c.stats().requests() - before, 10);
    // An empty log costs one request per poll too, once seen empty.
    let empty = Arc::new(MemoryStore::default());
    let e = client(&empty);
    let mut feed_e = e.feed(fast(FeedStart::Head)).unwrap();
    feed_e.start().await.unwrap();
    let before = e.stats().requests();
    for _ in 0..10 {
        assert!(feed_e.poll().await.unwrap().is_empty());
    }
    assert_eq!(e.stats().requests() - before, 10);
    // close() ends a feed waiting for entries, promptly.
    let closer = c.clone();
    let waiting = tokio::spawn(async move { feed.next().await });
    tokio::time::sleep(Duration::from_millis(30)).await;
    tokio::time::timeout(Duration::from_secs(1), closer.close())
        .await
        .expect("close does not wait for the feed");
    let err = waiting.await.unwrap().unwrap_err();
    assert_eq!(err.code, ErrorCode::Closed);
}

#[tokio::test]
async fn from_an_empty_log_the_first_entry_is_a_proper_one_and_the_filter_passes_over() {
    let store = Arc::new(MemoryStore::default());
    let c = client(&store);
    let mut feed = c
        .feed(FeedOptions {
            filter: Some(KeyFilter {
                keys: vec!["exact".into()],
                prefix: Some("p/".into()),
            }),
            ..fast(FeedStart::Head)
        })
        .unwrap();
    feed.start().await.unwrap();
    let w = client(&store);
    for k in ["other", "exact", "p/a", "exactly", "x/p/a", "p/b"] {
        w.set(k, &j(json!(k))).await.unwrap();
    }
    let got = take(&mut feed, 3).await;
    let keys: Vec<&str> = got.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["exact", "p/a", "p/b"]);
    assert_eq!(
        feed.position().unwrap().sequence,
        5,
        "the filtered entries were read"
    );
    // A log whose first entry is not one: refused.
    let bad = Arc::new(MemoryStore::default());
    let b = client(&bad);
    let mut e = Entry::next(None, "k".into(), j(json!(1)), 1, None).unwrap();
    e.sequence = 0;
    e.previous_hash = format!("sha256:{}", "1".repeat(64));
    e.hash = immukv_core::format::hash::hash(&e.hashed(), Dialect::Js).unwrap();
    bad.raw_put("_log.json", e.log_object(Dialect::Js).unwrap().as_bytes());
    let mut feed = b.feed(fast(FeedStart::Sequence(0))).unwrap();
    assert_eq!(feed.next().await.unwrap_err().code, ErrorCode::CorruptEntry);
    // A key filter is checked like keys are.
    let err = c
        .feed(FeedOptions {
            filter: Some(KeyFilter {
                keys: vec!["a//b".into()],
                prefix: None,
            }),
            ..FeedOptions::default()
        })
        .err()
        .unwrap();
    assert_eq!(err.code, ErrorCode::InvalidKey);
}

#[tokio::test]
async fn a_hidden_log_ends_the_feed_with_log_deleted() {
    let store = Arc::new(MemoryStore::default());
    let w = client(&store);
    w.set("k", &j(json!(1))).await.unwrap();
    let c = client(&store);
    let mut feed = c.feed(fast(FeedStart::Head)).unwrap();
    feed.start().await.unwrap();
    store.raw_delete("_log.json", None);
    assert_eq!(feed.next().await.unwrap_err().code, ErrorCode::LogDeleted);
}

#[tokio::test]
async fn point_in_time_reads_match_history() {
    let store = Arc::new(MemoryStore::default());
    let w = client(&store);
    let other = client(&store);
    let mut written = Vec::new();
    for i in 0..60u64 {
        let key = ["a", "b", "c"][(i * 7 % 5 % 3) as usize];
        let c = if i % 2 == 0 { &w } else { &other };
        written.push(c.set(key, &j(json!(i))).await.unwrap());
    }
    let r = client(&store);
    // Expected: the newest entry of the key with sequence <= s.
    let expect = |key: &str, s: u64| written.iter().rfind(|e| e.key == key && e.sequence <= s);
    let mut seed = 7u64;
    for _ in 0..60 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let s = (seed >> 33) % 60;
        for key in ["a", "b", "c"] {
            let got = r.get_at(key, At::Sequence(s)).await;
            match expect(key, s) {
                Some(e) => assert_eq!(got.unwrap().hash, e.hash, "{key} at {s}"),
                None => assert_eq!(
                    got.unwrap_err().code,
                    ErrorCode::KeyNotFound,
                    "{key} at {s}"
                ),
            }
        }
    }
    // By time: the newest entry stamped at or before.
    let e = &written[30];
    let got = r
        .get_at(&e.key, At::TimestampMs(e.timestamp_ms))
        .await
        .unwrap();
    let want = written
        .iter()
        .rfind(|x| x.key == e.key && x.timestamp_ms <= e.timestamp_ms)
        .unwrap();
    assert_eq!(got.hash, want.hash);
    assert_eq!(
        r.get_at("a", At::TimestampMs(0)).await.unwrap_err().code,
        ErrorCode::KeyNotFound
    );
    // Beyond the head: refused; verified: proven in the log.
    assert_eq!(
        r.get_at("a", At::Sequence(60)).await.unwrap_err().code,
        ErrorCode::InvalidArgument
    );
    let v = r
        .get_at_verified("b", At::Sequence(40), None)
        .await
        .unwrap();
    assert_eq!(v.hash, expect("b", 40).unwrap().hash);
    // Cost of a read deep in a key's history: the latest key object, one
    // listing, a binary search.
    let before = r.stats();
    r.get_at("a", At::Sequence(3)).await.unwrap();
    let after = r.stats();
    assert_eq!(after.list_versions - before.list_versions, 1);
    assert!(
        after.get - before.get <= 1 + 6,
        "{}",
        after.get - before.get
    );
}

/// `k` written twice; the second key-object write fails for good: that
/// entry is in the log (the head), its key object is not written. Returns
/// it, and a reader that may not repair (default repair-check interval).
async fn orphan_head_of_k(store: &Arc<MemoryStore>) -> (Entry, Client<MemoryStore>) {
    let w = client(store);
    w.set("k", &j(json!(1))).await.unwrap();
    store.inject(Op::Put, "keys/k.json", FaultPoint::Before, 100);
    let orphan = w.set("k", &j(json!(2))).await.unwrap();
    store.clear_faults();
    let reader = Client::new(
        store.clone(),
        Options {
            read_only: true,
            ..Options::default()
        },
    )
    .unwrap();
    (orphan, reader)
}

#[tokio::test]
async fn a_point_in_time_read_sees_an_orphan_head_of_its_key() {
    let store = Arc::new(MemoryStore::default());
    let (orphan, reader) = orphan_head_of_k(&store).await;
    let got = reader
        .get_at("k", At::Sequence(orphan.sequence))
        .await
        .unwrap();
    assert_eq!(got.hash, orphan.hash, "the log is the authority");
    assert_eq!(
        reader.get_at("k", At::Sequence(0)).await.unwrap().sequence,
        0
    );
}

/// Review: a reader keeps the orphans it found for a repair-check interval.
/// Once that orphan is repaired and a later entry of its key written, then
/// the key object hidden by a delete marker, a point-in-time read must not
/// answer with the orphan it remembers: the later entry is under the marker.
#[tokio::test]
async fn a_remembered_orphan_does_not_hide_a_later_entry_under_a_delete_marker() {
    let store = Arc::new(MemoryStore::default());
    // The reader's repair check is due once per 5 minutes (the default).
    let (orphan, reader) = orphan_head_of_k(&store).await;
    let got = reader.get_at("k", At::Sequence(1)).await.unwrap();
    assert_eq!(got.hash, orphan.hash);
    // Another writer repairs it, writes k again and one more entry; then
    // someone hides k's key object.
    let next = client(&store);
    next.set("j", &j(json!("x"))).await.unwrap();
    let later = next.set("k", &j(json!(2))).await.unwrap();
    next.set("j", &j(json!("y"))).await.unwrap();
    store.raw_delete("keys/k.json", None);
    let got = reader.get_at("k", At::Sequence(4)).await.unwrap();
    assert_eq!(
        got.sequence, later.sequence,
        "the later entry, not the remembered orphan"
    );
    let got = reader.get_at("k", At::Sequence(2)).await.unwrap();
    assert_eq!(got.sequence, orphan.sequence);
}

#[tokio::test]
async fn the_entries_an_event_names_are_verified_ordered_and_once() {
    let store = Arc::new(MemoryStore::default());
    let w = client(&store);
    for i in 0..6 {
        w.set("k", &j(json!(i))).await.unwrap();
    }
    let ids = store.version_ids("_log.json");
    let c = client(&store);
    let asked = vec![
        ids[4].clone(),
        ids[2].clone(),
        ids[4].clone(),
        ids[0].clone(),
    ];
    let got = c.verified_log_versions(&asked).await.unwrap();
    assert_eq!(sequences(&got), [0, 2, 4]);
    // A genuine entry PUT again on top: its hash and link hold, but it is
    // not what is listed below it.
    let replay = log(&store)[3].log_object(Dialect::Js).unwrap();
    let v = store.raw_put("_log.json", replay.as_bytes());
    let err = c.verified_log_versions(&[v]).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::CorruptEntry, "{}", err.message);
    let err = c.verified_log_versions(&["nope".into()]).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::VersionNotFound);
}

#[tokio::test]
async fn point_in_time_reads_over_more_than_a_listing_page() {
    let store = Arc::new(MemoryStore::default());
    let w = client(&store);
    let mut written = Vec::new();
    for i in 0..1100u64 {
        let key = if i % 50 == 7 { "b" } else { "a" };
        written.push(w.set(key, &j(json!(i))).await.unwrap());
    }
    let r = client(&store);
    for s in [0, 6, 7, 8, 49, 500, 1000, 1040, 1098, 1099] {
        for key in ["a", "b"] {
            let want = written.iter().rfind(|e| e.key == key && e.sequence <= s);
            let got = r.get_at(key, At::Sequence(s)).await;
            match want {
                Some(e) => assert_eq!(got.unwrap().hash, e.hash, "{key} at {s}"),
                None => assert_eq!(
                    got.unwrap_err().code,
                    ErrorCode::KeyNotFound,
                    "{key} at {s}"
                ),
            }
            let t = written[s as usize].timestamp_ms;
            let want = written
                .iter()
                .rfind(|e| e.key == key && e.timestamp_ms <= t);
            let got = r.get_at(key, At::TimestampMs(t)).await;
            match want {
                Some(e) => assert_eq!(got.unwrap().timestamp_ms, e.timestamp_ms, "{key} at {t} ms"),
                None => assert_eq!(
                    got.unwrap_err().code,
                    ErrorCode::KeyNotFound,
                    "{key} at {t} ms"
                ),
            }
        }
    }
    // Evenly written keys cost the latest key object, the listing and a few
    // probes, not log2(n).
    // (The latest, the oldest of each page not the last, then the probes;
    // the repair check, as for `get`, at most once per interval: done by a
    // first read.)
    let r = Client::new(store.clone(), Options::default()).unwrap();
    r.get_at("b", At::Sequence(1099)).await.unwrap();
    for (s, pages, most_gets) in [(300, 1, 1 + 1 + 3), (30, 2, 1 + 2 + 3)] {
        let before = r.stats();
        r.get_at("a", At::Sequence(s)).await.unwrap();
        let after = r.stats();
        let gets = after.get - before.get;
        assert_eq!(after.list_versions - before.list_versions, pages, "at {s}");
        assert!(gets <= most_gets, "at {s}: {gets} GETs");
    }
}
