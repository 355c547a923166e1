//! The protocol's decisions, on the in-memory store (fast; the same
//! behaviours are tested over HTTP against SeaweedFS and moto in __test__/).

use immukv_core::format::Entry;
use immukv_core::storage::memory::{FaultPoint, MemoryStore, Op};
use immukv_core::{Client, ErrorCode, FailureKind, Options, VerifyOptions};
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

fn log_entries(store: &MemoryStore) -> Vec<Entry> {
    store
        .versions("_log.json")
        .iter()
        .enumerate()
        .map(|(i, b)| Entry::from_log_object(b, &format!("{i}")).unwrap())
        .collect()
}

async fn assert_log_sound(c: &Client<MemoryStore>) {
    let report = c
        .verify_log(&VerifyOptions {
            check_key_objects: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(report.ok, "{:?}", report.failures);
}

#[tokio::test]
async fn set_get_and_chain() {
    let store = Arc::new(MemoryStore::default());
    let c = client(&store);
    let a = c.set("a", json!({"v": 1})).await.unwrap();
    let b = c.set("b", json!([1.5, "x"])).await.unwrap();
    assert_eq!((a.sequence, b.sequence), (0, 1));
    assert_eq!(b.previous_hash, a.hash);
    assert_eq!(
        b.previous_version_id.as_deref(),
        Some(a.version_id.as_str())
    );
    let got = c.get("b").await.unwrap();
    assert_eq!(
        (got.sequence, &got.hash, &got.version_id, &got.value),
        (1, &b.hash, &b.version_id, &b.value)
    );
    assert_eq!(c.get("zz").await.unwrap_err().code, ErrorCode::KeyNotFound);
    assert_log_sound(&c).await;
}

#[tokio::test]
async fn request_counts_per_set() {
    let store = Arc::new(MemoryStore::default());
    let c = client(&store);
    c.set("a", json!(1)).await.unwrap();
    let before = store.total_requests();
    c.set("a", json!(2)).await.unwrap(); // own head, key known: PUT log + PUT key
    assert_eq!(store.total_requests() - before, 2);
    let before = store.total_requests();
    c.set("new", json!(3)).await.unwrap(); // own head, new key: + HEAD
    assert_eq!(store.total_requests() - before, 3);
    // Another writer appends: the next set pays one 412, then the full path.
    let other = client(&store);
    other.set("b", json!(4)).await.unwrap();
    let before = store.total_requests();
    c.set("a", json!(5)).await.unwrap();
    assert!(store.total_requests() - before <= 6);
    // Alternating now: the fast path stays off, full protocol is at most 5.
    other.set("b", json!(6)).await.unwrap();
    let before = store.total_requests();
    c.set("a", json!(7)).await.unwrap();
    assert!(
        store.total_requests() - before <= 5,
        "{}",
        store.total_requests() - before
    );
    assert_log_sound(&c).await;
}

#[tokio::test]
async fn stale_cached_key_etag_is_never_used_after_foreign_appends() {
    let store = Arc::new(MemoryStore::default());
    let (a, b) = (client(&store), client(&store));
    a.set("k", json!("a1")).await.unwrap();
    b.set("k", json!("b1")).await.unwrap(); // k's object changed behind a's cache
    let e = a.set("k", json!("a2")).await.unwrap();
    assert_eq!(
        a.get("k").await.unwrap().hash,
        e.hash,
        "key object holds the latest entry"
    );
    assert_log_sound(&a).await;
}

#[tokio::test]
async fn lost_answer_of_the_log_append_is_not_appended_twice() {
    let store = Arc::new(MemoryStore::default());
    let c = client(&store);
    c.set("a", json!(0)).await.unwrap();
    store.inject(Op::Put, "_log.json", FaultPoint::AfterApply, 1);
    let e = c.set("a", json!(1)).await.unwrap();
    let log = log_entries(&store);
    assert_eq!(log.len(), 2, "exactly once");
    assert_eq!(log[1].hash, e.hash);
    assert_eq!(c.get("a").await.unwrap().hash, e.hash);
    assert_log_sound(&c).await;
}

#[tokio::test]
async fn lost_answer_then_another_writer_still_found() {
    let store = Arc::new(MemoryStore::default());
    let c = client(&store);
    let other = client(&store);
    c.set("a", json!(0)).await.unwrap();
    // Lost answer, and the head read that follows fails too, so another
    // writer appends before we look: our entry is then below the head.
    store.inject(Op::Put, "_log.json", FaultPoint::AfterApply, 1);
    store.inject(Op::Get, "_log.json", FaultPoint::Before, 1);
    let (mine, theirs) = tokio::join!(c.set("a", json!("mine")), async {
        tokio::time::sleep(Duration::from_millis(1)).await;
        other.set("b", json!("theirs")).await
    });
    let (mine, theirs) = (mine.unwrap(), theirs.unwrap());
    let log = log_entries(&store);
    assert_eq!(log.iter().filter(|e| e.value == json!("mine")).count(), 1);
    assert_eq!(log.len(), 3);
    assert_ne!(mine.sequence, theirs.sequence);
    assert_log_sound(&c).await;
}

#[tokio::test]
async fn failed_phase_two_leaves_an_orphan_that_the_next_writer_repairs() {
    let store = Arc::new(MemoryStore::default());
    let c = client(&store);
    store.inject(Op::Put, "keys/", FaultPoint::Before, 10);
    let e = c.set("k", json!(1)).await.unwrap(); // phase 2 fails: set still succeeds
    assert!(store.versions("keys/k.json").is_empty());
    let other = client(&store);
    other.set("j", json!(2)).await.unwrap(); // pre-flight repair
    assert_eq!(
        Entry::from_key_object(&store.versions("keys/k.json")[0])
            .unwrap()
            .hash,
        e.hash
    );
    assert_log_sound(&c).await;
}

#[tokio::test]
async fn readers_repair_and_read_only_readers_serve_the_orphan() {
    let store = Arc::new(MemoryStore::default());
    let w = client(&store);
    w.set("k", json!(1)).await.unwrap();
    store.inject(
        Op::Put,
        "keys/",
        FaultPoint::Before,
        immukv_core::client::retry::TRANSIENT_ATTEMPTS as usize,
    );
    let e = w.set("k", json!(2)).await.unwrap();
    let ro = Client::new(
        store.clone(),
        Options {
            read_only: true,
            repair_check_interval: Duration::ZERO,
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(
        ro.get("k").await.unwrap().hash,
        e.hash,
        "read-only serves the orphan from the log"
    );
    assert_eq!(ro.history("k", None, None).await.unwrap().0[0].hash, e.hash);
    assert_eq!(
        store.versions("keys/k.json").len(),
        1,
        "read-only wrote nothing"
    );
    assert_eq!(
        ro.set("k", json!(3)).await.unwrap_err().code,
        ErrorCode::ReadOnly
    );
    let reader = client(&store);
    assert_eq!(reader.get("k").await.unwrap().hash, e.hash);
    assert_eq!(store.versions("keys/k.json").len(), 2, "reader repaired it");
}

#[tokio::test]
async fn history_and_log_paging() {
    let store = Arc::new(MemoryStore::default());
    let c = Client::new(
        store.clone(),
        Options {
            list_page_size: 3,
            ..Options::default()
        },
    )
    .unwrap();
    for i in 0..10 {
        c.set(if i % 2 == 0 { "even" } else { "odd" }, json!(i))
            .await
            .unwrap();
    }
    let (page1, cursor) = c.history("even", None, Some(3)).await.unwrap();
    assert_eq!(
        page1
            .iter()
            .map(|e| e.value.as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![8, 6, 4]
    );
    let (page2, _) = c.history("even", cursor.as_deref(), None).await.unwrap();
    assert_eq!(
        page2
            .iter()
            .map(|e| e.value.as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![2, 0]
    );
    let all = c.log_entries(None, None).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.sequence).collect::<Vec<_>>(),
        (0..10).rev().collect::<Vec<_>>()
    );
    let older = c
        .log_entries(Some(&all[4].version_id), Some(2))
        .await
        .unwrap();
    assert_eq!(
        older.iter().map(|e| e.sequence).collect::<Vec<_>>(),
        vec![4, 3]
    );
    assert_eq!(c.list_keys(None, None).await.unwrap(), vec!["even", "odd"]);
}

#[tokio::test]
async fn tampering_is_located() {
    let store = Arc::new(MemoryStore::default());
    let c = client(&store);
    for i in 0..4 {
        c.set("k", json!(i)).await.unwrap();
    }
    let digest = c.digest().await.unwrap().unwrap();
    let head = log_entries(&store).pop().unwrap();
    let mut forged = head.clone();
    forged.value = json!("forged");
    forged.sequence += 1;
    store.raw_put(
        "_log.json",
        forged
            .log_object(immukv_core::format::Dialect::Js)
            .unwrap()
            .as_bytes(),
    );
    let r = c
        .verify_log(&VerifyOptions {
            trusted: Some(digest),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!r.ok);
    assert!(
        r.failures
            .iter()
            .any(|f| f.sequence == Some(4) && f.kind == FailureKind::HashMismatch),
        "{:?}",
        r.failures
    );
    assert!(r.failures.iter().any(|f| f.kind == FailureKind::BrokenLink));
    let err = c.set("k", json!(9)).await.unwrap_err();
    assert_eq!(
        err.code,
        ErrorCode::CorruptEntry,
        "never extends a tampered head"
    );
}

#[tokio::test]
async fn bad_input_touches_nothing() {
    let store = Arc::new(MemoryStore::default());
    let c = Client::new(
        store.clone(),
        Options {
            max_value_bytes: 100,
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(
        c.set("../_log", json!(1)).await.unwrap_err().code,
        ErrorCode::InvalidKey
    );
    assert_eq!(
        c.set("", json!(1)).await.unwrap_err().code,
        ErrorCode::InvalidKey
    );
    assert_eq!(
        c.set("k", json!("x".repeat(200))).await.unwrap_err().code,
        ErrorCode::InvalidValue
    );
    assert_eq!(store.total_requests(), 0);
}
