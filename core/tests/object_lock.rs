//! Object Lock (retention on every write, the bucket check before the first
//! write, `verify_log`'s retention step) and the bucket doctor, on the
//! in-memory store; the same behaviours are tested against moto, SeaweedFS
//! and LocalStack in __test__/object-lock.test.mjs and doctor.test.mjs.

mod common;

use immukv_core::bucket::{
    Encryption, LockMode, LockRule, ObjectLock, Retention, Versioning, DAY_MS,
};
use immukv_core::doctor::{Check, Log, Status};
use immukv_core::env::{Env, TokioEnv};
use immukv_core::format::Json;
use immukv_core::lifecycle::{Lifecycle, Rule};
use immukv_core::storage::memory::MemoryStore;
use immukv_core::storage::Store;
use immukv_core::{Client, ErrorCode, FailureKind, Options, VerifyOptions};
use std::sync::Arc;
use std::time::Duration;

const COMPLIANCE_30: LockRule = LockRule {
    mode: LockMode::Compliance,
    days: 30,
};

fn locked(store: &Arc<MemoryStore>, lock: Option<LockRule>) -> Client<MemoryStore> {
    Client::new(
        store.clone(),
        Options {
            repair_check_interval: Duration::ZERO,
            object_lock: lock,
            ..Options::default()
        },
    )
    .unwrap()
}

fn j(v: i64) -> Json {
    Json::from(serde_json::json!(v))
}

fn now() -> u64 {
    TokioEnv::default().wall_ms()
}

fn locked_bucket(default: Option<LockRule>) -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::default());
    store.set_object_lock(ObjectLock::Enabled { default });
    store
}

async fn retention_failures(c: &Client<MemoryStore>) -> Vec<immukv_core::Failure> {
    let r = c
        .verify_log(&VerifyOptions {
            check_retention: true,
            ..VerifyOptions::default()
        })
        .await
        .unwrap();
    r.failures
        .into_iter()
        .filter(|f| f.kind == FailureKind::Retention)
        .collect()
}

#[tokio::test]
async fn every_write_carries_the_configured_retention() {
    let store = locked_bucket(None);
    let c = locked(&store, Some(COMPLIANCE_30));
    let before = now();
    let e = c.set("k", &j(1)).await.unwrap();
    let after = now();
    let key_version = store.version_ids("keys/k.json")[0].clone();
    for (path, version) in [
        ("_log.json", e.version_id.as_str()),
        ("keys/k.json", &key_version),
    ] {
        let r = store.retention(path, version).await.unwrap().expect(path);
        assert_eq!(r.mode, LockMode::Compliance);
        assert!(r.until_ms >= before + 30 * DAY_MS && r.until_ms <= after + 30 * DAY_MS);
    }
    // A locked version cannot be deleted; the log stays intact.
    assert!(!store.raw_delete("_log.json", Some(&e.version_id)));
    assert!(retention_failures(&c).await.is_empty());
    assert!(c.verify_log(&VerifyOptions::default()).await.unwrap().ok);
}

#[tokio::test]
async fn a_bucket_without_object_lock_is_refused_before_anything_is_written() {
    let store = Arc::new(MemoryStore::default());
    let c = locked(&store, Some(COMPLIANCE_30));
    let err = c.set("k", &j(1)).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::ObjectLockDisabled);
    assert_eq!(err.may_have_committed, Some(false));
    assert!(
        err.message.contains("put-object-lock-configuration"),
        "{}",
        err.message
    );
    assert!(store.versions("_log.json").is_empty());
    // Once per client: the bucket's configuration is asked again only by a
    // client that has not seen it enabled.
    store.set_object_lock(ObjectLock::Enabled { default: None });
    c.set("k", &j(1)).await.unwrap();
    c.set("k", &j(2)).await.unwrap();
    assert_eq!(c.stats().bucket_config, 2);
}

#[tokio::test]
async fn a_reader_with_object_lock_does_not_repair_into_a_bucket_without_it() {
    let store = Arc::new(MemoryStore::default());
    let writer = locked(&store, None);
    writer.set("k", &j(1)).await.unwrap();
    // An orphan head: its key object's version removed by hand.
    let e = writer.set("k", &j(2)).await.unwrap();
    let ids = store.version_ids("keys/k.json");
    store.raw_delete("keys/k.json", Some(&ids[1]));
    let reader = locked(&store, Some(COMPLIANCE_30));
    let got = reader.get("k").await.unwrap();
    assert_eq!(got.sequence, e.sequence); // served from the log
    assert_eq!(store.version_ids("keys/k.json").len(), 1); // nothing written
}

#[tokio::test]
async fn the_default_rule_retains_writes_without_config() {
    let store = locked_bucket(Some(LockRule {
        mode: LockMode::Governance,
        days: 7,
    }));
    let c = locked(&store, None);
    let e = c.set("k", &j(1)).await.unwrap();
    let r = store.retention("_log.json", &e.version_id).await.unwrap();
    assert_eq!(r.map(|r| r.mode), Some(LockMode::Governance));
    assert!(retention_failures(&c).await.is_empty());
}

#[tokio::test]
async fn check_retention_reports_missing_expired_weaker_and_shorter_versions() {
    let store = locked_bucket(None);
    let c = locked(&store, Some(COMPLIANCE_30));
    for i in 0..4 {
        c.set("k", &j(i)).await.unwrap();
    }
    let log = store.version_ids("_log.json");
    let keys = store.version_ids("keys/k.json");
    let written = |r: Retention| r.until_ms - 30 * DAY_MS;
    let r0 = store
        .retention("_log.json", &log[0])
        .await
        .unwrap()
        .unwrap();
    // As S3 would allow with governance bypass, or with no lock at all:
    store.raw_set_retention("_log.json", &log[0], None);
    store.raw_set_retention(
        "_log.json",
        &log[1],
        Some(Retention {
            mode: LockMode::Compliance,
            until_ms: now() - 1,
        }),
    );
    store.raw_set_retention(
        "_log.json",
        &log[2],
        Some(Retention {
            mode: LockMode::Governance,
            ..r0
        }),
    );
    store.raw_set_retention(
        "keys/k.json",
        &keys[3],
        Some(Retention {
            until_ms: written(r0) + 10 * DAY_MS,
            ..r0
        }),
    );
    let failures = retention_failures(&c).await;
    let at = |seq: u64, path: Option<&str>| {
        failures
            .iter()
            .find(|f| f.sequence == Some(seq) && f.path.as_deref() == path)
            .unwrap_or_else(|| panic!("sequence {seq} {path:?}: {failures:?}"))
    };
    assert!(at(0, None).detail.contains("no Object Lock retention"));
    assert!(at(1, None).detail.contains("is over"));
    assert!(at(2, None).detail.contains("weaker"));
    let short = at(3, Some("keys/k.json"));
    assert!(short.detail.contains("shorter"), "{}", short.detail);
    assert!(
        short.detail.contains("put-object-retention"),
        "{}",
        short.detail
    );
    assert_eq!(short.version_id.as_deref(), Some(keys[3].as_str()));
    assert_eq!(failures.len(), 4, "{failures:?}");
    // Not asked for: not checked, and no retention request sent.
    let plain = c.verify_log(&VerifyOptions::default()).await.unwrap();
    assert!(plain.ok, "{:?}", plain.failures);

    // Written 40 days ago with 30 days of retention: over.
    let old_store = locked_bucket(None);
    let old = Client::with_env(
        old_store.clone(),
        Options {
            object_lock: Some(COMPLIANCE_30),
            ..Options::default()
        },
        Arc::new(common::DaysAgo::new(40)),
    )
    .unwrap();
    old.set("k", &j(1)).await.unwrap();
    let failures = retention_failures(&locked(&old_store, Some(COMPLIANCE_30))).await;
    assert_eq!(failures.len(), 2, "{failures:?}"); // the log version and the key object's
    assert!(failures.iter().all(|f| f.detail.contains("is over")));
}

#[tokio::test]
async fn check_retention_on_a_bucket_without_object_lock_is_one_failure() {
    let store = Arc::new(MemoryStore::default());
    let c = locked(&store, None);
    for i in 0..3 {
        c.set("k", &j(i)).await.unwrap();
    }
    let before = c.stats().retention;
    let failures = retention_failures(&c).await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].path.as_deref(), Some("_log.json"));
    assert!(failures[0].detail.contains("has no Object Lock"));
    assert_eq!(c.stats().retention, before); // nothing asked per version
}

#[tokio::test]
async fn the_doctor_finds_each_case() {
    let store = Arc::new(MemoryStore::default());
    let c = locked(&store, None);
    let r = c.check_store().await.unwrap();
    assert!(r.ok, "{:?}", r.findings);
    assert_eq!(r.log, Log::Empty);
    let status = |r: &immukv_core::doctor::StoreCheck, check: Check| {
        r.findings
            .iter()
            .filter(|f| f.check == check)
            .map(|f| f.status)
            .collect::<Vec<_>>()
    };
    assert_eq!(status(&r, Check::Versioning), vec![Status::Ok]);
    assert_eq!(status(&r, Check::ObjectLock), vec![Status::Info]);
    // The probe PUT wrote nothing.
    assert!(store.versions("_immukv-doctor-probe").is_empty());
    assert!(r
        .findings
        .iter()
        .any(|f| f.subject.as_deref() == Some("s3:PutObject") && f.status == Status::Ok));

    c.set("k", &j(1)).await.unwrap();
    store.set_versioning(Versioning::Suspended);
    store.set_encryption(Encryption::None);
    store.set_lifecycle(Lifecycle::Rules(vec![Rule {
        id: Some("tidy".into()),
        enabled: true,
        prefix: String::new(),
        expiration_days: Some(30),
        ..Rule::default()
    }]));
    let r = c.check_store().await.unwrap();
    assert!(!r.ok);
    assert_eq!(status(&r, Check::Versioning), vec![Status::Blocking]);
    assert_eq!(status(&r, Check::Encryption), vec![Status::Info]);
    assert_eq!(
        status(&r, Check::Lifecycle),
        vec![Status::Blocking, Status::Blocking]
    );
    assert!(matches!(r.log, Log::Present { sequence: 0, .. }));

    // objectLock configured, bucket without it: blocking; once enabled with
    // a default, the head's retention is read.
    store.set_versioning(Versioning::Enabled);
    store.set_lifecycle(Lifecycle::Rules(Vec::new()));
    let wants = locked(&store, Some(COMPLIANCE_30));
    let r = wants.check_store().await.unwrap();
    assert!(!r.ok);
    assert_eq!(status(&r, Check::ObjectLock), vec![Status::Blocking]);
    store.set_object_lock(ObjectLock::Enabled { default: None });
    wants.set("k", &j(2)).await.unwrap();
    let r = wants.check_store().await.unwrap();
    assert!(r.ok, "{:?}", r.findings);
    assert_eq!(
        status(&r, Check::ObjectLock),
        vec![Status::Ok, Status::Ok],
        "{:?}",
        r.findings
    );
    // The deleted log.
    store.raw_delete("_log.json", None);
    let r = wants.check_store().await.unwrap();
    assert!(!r.ok);
    assert!(matches!(r.log, Log::Deleted { .. }));
}
