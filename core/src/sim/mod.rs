//! A deterministic simulation of the protocol, in the spirit of
//! FoundationDB's simulator and SlateDB's DST: several clients run against
//! one simulated bucket, on a seeded scheduler that interleaves their tasks
//! and requests, with a virtual clock, and with faults: requests failing
//! before the store, answers lost after it applied them, requests held past
//! their timeout and applied late, clients killed between the two phases of
//! a write, a plain delete of the log. After each run the invariants are
//! checked; a tamper mode changes the bucket behind the clients' backs and
//! checks that `verify_log` locates it. A seed replays exactly.
//!
//! `cargo run -p immukv-core --features sim --example sim -- --seeds 10000`

mod executor;
mod store;

pub use executor::{RunEnd, World};
pub use store::{Faults, SimStore};

use crate::client::{Client, Mutation, Options, VerifyOptions};
use crate::error::ErrorCode;
use crate::format::{Dialect, Entry, Json};
use crate::storage::memory::MemoryStore;
use crate::verify::FailureKind;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What one run does.
#[derive(Clone, Debug)]
pub struct Config {
    pub clients: usize,
    pub ops_per_client: usize,
    pub keys: usize,
    pub faults: Faults,
    /// Kill a client (all its tasks) at a random moment, with this chance per run.
    pub crash_chance: f64,
    /// Delete the log without a version id (a delete marker), with this chance.
    pub delete_marker_chance: f64,
    /// Delete one key object without a version id (a delete marker) while
    /// the clients write, with this chance: its writers must still keep
    /// their entries in the key's history (a failed conditional key-object
    /// write is decided by looking, never assumed), and the audit may
    /// report only that key.
    pub key_delete_chance: f64,
    /// Each client pipelines its writes (`pipeline_depth` 2, 4 or 8, else 1)
    /// with this chance. Checked at every log append that lands: an orphan
    /// (an entry no key-object version names) has only entries of its own
    /// writer after it, and is among its writer's newest depth entries; at
    /// the end, what the earlier clients read (key objects, head-only
    /// repair) is stale only for such orphans.
    pub pipeline_chance: f64,
    /// After the run, tamper with the bucket and check that it is located.
    pub tamper: bool,
    /// A protocol step every client leaves out (`Mutation::None`: the
    /// protocol as it is): the mutation check, which must make seeds fail.
    pub mutation: Mutation,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            clients: 3,
            ops_per_client: 8,
            keys: 4,
            faults: Faults {
                before: 30_000,
                lost_answer: 30_000,
                late: 10_000,
            },
            crash_chance: 0.3,
            delete_marker_chance: 0.05,
            key_delete_chance: 0.1,
            pipeline_chance: 0.0,
            tamper: false,
            mutation: Mutation::None,
        }
    }
}

/// What one run found.
#[derive(Debug, Default)]
pub struct Outcome {
    pub seed: u64,
    /// Broken invariants, each described.
    pub violations: Vec<String>,
    pub acknowledged: usize,
    pub failed: usize,
    pub log_entries: usize,
    pub virtual_ms: u128,
}

#[derive(Default)]
struct Record {
    /// (client, key, hash, sequence) of every acknowledged set.
    acked: Vec<(usize, String, String, u64)>,
    /// Wall-clock ms at which each acknowledged set was called.
    acked_called_at: Vec<u64>,
    /// Values of sets that failed saying they were not committed.
    not_committed: Vec<String>,
    failed: usize,
    violations: Vec<String>,
    /// Read-your-writes violations, kept apart: a deleted log may be forked
    /// by a request held on the wire (see `run`).
    stale_reads: Vec<String>,
    /// When the log was deleted (a delete marker), in wall-clock ms.
    deleted_log_at: Option<u64>,
    /// The key whose key object was deleted (a delete marker), if one was.
    deleted_key: Option<String>,
}

/// The wall clock at virtual time zero.
const WALL_START: u64 = 1_700_000_000_000;

fn opts() -> Options {
    Options {
        repair_check_interval: Duration::ZERO,
        operation_timeout: Duration::from_secs(20),
        list_page_size: 7, // small pages: paging paths get exercised
        ..Options::default()
    }
}

/// One simulated run.
pub fn run(seed: u64, cfg: &Config) -> Outcome {
    let world = World::new(seed);
    let store = Arc::new(SimStore::new(world.clone(), cfg.faults));
    let record = Arc::new(Mutex::new(Record::default()));
    let depths: Vec<u32> = (0..cfg.clients)
        .map(|_| match world.chance(cfg.pipeline_chance) {
            true => [2, 4, 8][world.below(3) as usize],
            false => 1,
        })
        .collect();
    let clients: Vec<Client<SimStore>> = (0..cfg.clients)
        .map(|c| {
            let opts = Options {
                pipeline_depth: depths[c],
                ..opts()
            };
            let client = Client::with_env(store.clone(), opts, world.env(Some(c), WALL_START))
                .expect("client");
            client.mutate(cfg.mutation);
            client
        })
        .collect();
    if cfg.pipeline_chance > 0.0 {
        let record = record.clone();
        let depths = depths.clone();
        store.on_append(Box::new(move |memory| {
            if let Some(v) = window_violation(memory, &depths, false) {
                record.lock().unwrap().violations.push(v);
            }
        }));
    }
    for (c, client) in clients.iter().enumerate() {
        let client = client.clone();
        let world2 = world.clone();
        let record = record.clone();
        let cfg = cfg.clone();
        world.spawn(
            Some(c),
            Box::pin(async move { workload(c, client, world2, record, cfg).await }),
        );
    }
    if world.chance(cfg.delete_marker_chance) {
        // An operator's `aws s3 rm` of the log, at a random moment once the
        // log has entries. Not while a first-entry PUT may still land: one
        // held on the wire since before the log had entries would land over
        // the delete marker (`If-None-Match: *` passes it) and fork the log,
        // which no client can prevent (docs/PROTOCOL.md says so).
        let store2 = store.clone();
        let w = world.clone();
        let record = record.clone();
        let at = Duration::from_millis(world.below(400));
        world.spawn(
            None,
            Box::pin(async move {
                w.sleep(at).await;
                loop {
                    if !store2.memory.versions("_log.json").is_empty()
                        && !store2.genesis_in_flight()
                    {
                        w.sleep(Duration::from_millis(200)).await;
                        if !store2.genesis_in_flight() {
                            break;
                        }
                    }
                    w.sleep(Duration::from_millis(50)).await;
                    if w.now() > Duration::from_secs(60) {
                        return;
                    }
                }
                store2.memory.raw_delete("_log.json", None);
                record.lock().unwrap().deleted_log_at =
                    Some(WALL_START + w.now().as_millis() as u64);
            }),
        );
    }
    if world.chance(cfg.key_delete_chance) {
        // An operator's `aws s3 rm` of one key object, at a random moment.
        let store2 = store.clone();
        let w = world.clone();
        let record = record.clone();
        let at = Duration::from_millis(world.below(400));
        let key = format!("k{}", world.below(cfg.keys as u64));
        world.spawn(
            None,
            Box::pin(async move {
                w.sleep(at).await;
                let path = format!("keys/{key}.json");
                if !store2.memory.versions(&path).is_empty() {
                    store2.memory.raw_delete(&path, None);
                    record.lock().unwrap().deleted_key = Some(key);
                }
            }),
        );
    }
    // At most one crash, at a random moment.
    let crash_at = world.chance(cfg.crash_chance).then(|| {
        (
            Duration::from_millis(world.below(300)),
            world.below(cfg.clients as u64) as usize,
        )
    });
    let mut crashed = false;
    let end = executor::run(&world, Duration::from_secs(600), |w| match crash_at {
        Some((at, victim)) if !crashed && w.now() >= at => {
            crashed = true;
            Some(victim)
        }
        _ => None,
    });
    store.on_append(Box::new(|_| {}));
    let mut out = Outcome {
        seed,
        virtual_ms: world.now().as_millis(),
        ..Outcome::default()
    };
    if end != RunEnd::Done {
        out.violations.push(format!("the run ended {end:?}"));
    }

    // The audit, with faults off.
    store.set_faults(Faults::NONE);
    let rec = std::mem::take(&mut *record.lock().unwrap());
    out.violations.extend(rec.violations.iter().cloned());
    // A plain delete of the log (a delete marker) lets a first-entry PUT
    // that was held on the wire since before the log had entries land again
    // (`If-None-Match: *` passes over a delete marker), forking the log. No
    // client can prevent that; our writers must never start a chain
    // themselves, and verifyLog must report the result.
    if rec.deleted_log_at.is_none() {
        // A reader of a key whose object was deleted may find it gone: that
        // is the tampering, not a client's fault.
        let touched = |v: &&String| {
            rec.deleted_key
                .as_ref()
                .is_some_and(|k| v.contains(&format!(" {k} ")))
        };
        out.violations
            .extend(rec.stale_reads.iter().filter(|v| !touched(v)).cloned());
    }
    out.acknowledged = rec.acked.len();
    out.failed = rec.failed;
    let log: Vec<Entry> = store
        .memory
        .version_ids("_log.json")
        .iter()
        .zip(store.memory.versions("_log.json"))
        .filter_map(|(v, b)| Entry::from_log_object(&b, v).ok())
        .collect();
    out.log_entries = log.len();
    check_log(&log, &rec, &mut out.violations);
    if cfg.pipeline_chance > 0.0 {
        out.violations
            .extend(window_violation(&store.memory, &depths, true));
    }

    let auditor =
        Client::with_env(store.clone(), opts(), world.env(None, WALL_START)).expect("auditor");
    let report = block_on(&world, async move {
        auditor.verify_log(&VerifyOptions::default()).await
    });
    match report {
        Some(Ok(r)) if rec.deleted_log_at.is_some() => {
            if r.ok {
                out.violations
                    .push("verifyLog did not report the deleted log".into());
            }
        }
        Some(Ok(r)) => {
            // With a key object deleted, only that key may be reported.
            let deleted = rec.deleted_key.as_ref().map(|k| format!("keys/{k}.json"));
            let unexpected: Vec<_> = r
                .failures
                .iter()
                .filter(|f| deleted.is_none() || f.path != deleted)
                .collect();
            if !unexpected.is_empty() {
                out.violations.push(format!(
                    "verifyLog failed on an untampered bucket{}: {unexpected:?}",
                    if deleted.is_some() {
                        " (but for one deleted key object)"
                    } else {
                        ""
                    }
                ));
            }
            // Every acknowledged set is held by a version of its key object,
            // unless it is the orphan head, or (a key object deleted) its
            // writer crashed before it could write it and the deletion hid
            // the orphan from the next writer.
            let excused = deleted
                .is_some()
                .then_some(crash_at.filter(|_| crashed).map(|(_, v)| v))
                .flatten();
            check_history(&store, &log, &rec, excused, &depths, &mut out.violations);
        }
        other => out
            .violations
            .push(format!("verifyLog did not finish: {other:?}")),
    }
    if cfg.tamper && rec.deleted_log_at.is_none() && log.len() >= 3 {
        tamper(&world, &store, &log, &mut out.violations);
    }
    out
}

/// Runs one future to completion on the world's executor.
fn block_on<T: Send + 'static>(
    world: &World,
    fut: impl std::future::Future<Output = T> + Send + 'static,
) -> Option<T> {
    let slot = Arc::new(Mutex::new(None));
    let s = slot.clone();
    world.spawn(
        None,
        Box::pin(async move {
            let v = fut.await;
            *s.lock().unwrap() = Some(v);
        }),
    );
    executor::run(world, world.now() + Duration::from_secs(600), |_| None);
    let v = slot.lock().unwrap().take();
    v
}

/// One client's work: sets (some in concurrent bursts), reads of its own
/// writes, history and log reads.
async fn workload(
    c: usize,
    client: Client<SimStore>,
    world: World,
    record: Arc<Mutex<Record>>,
    cfg: Config,
) {
    let mut i = 0;
    while i < cfg.ops_per_client {
        let dice = world.below(100);
        if dice < 20 {
            // A burst of concurrent sets on this one client.
            let n = 2 + world.below(4) as usize;
            let sets: Vec<_> = (0..n)
                .map(|k| {
                    let key = format!("k{}", world.below(cfg.keys as u64));
                    let value = format!("{{\"c\":{c},\"i\":{i},\"b\":{k}}}");
                    let client = client.clone();
                    let called = WALL_START + world.now().as_millis() as u64;
                    async move {
                        let r = client.set(&key, &Json::parse(value.clone()).unwrap()).await;
                        (key, value, r, called)
                    }
                })
                .collect();
            for (key, value, r, called) in futures_util::future::join_all(sets).await {
                note_set(c, &client, &record, key, value, r, called).await;
            }
            i += 1;
        } else if dice < 85 {
            let key = format!("k{}", world.below(cfg.keys as u64));
            let value = format!("{{\"c\":{c},\"i\":{i}}}");
            let called = WALL_START + world.now().as_millis() as u64;
            let r = client.set(&key, &Json::parse(value.clone()).unwrap()).await;
            note_set(c, &client, &record, key, value, r, called).await;
            i += 1;
        } else if dice < 93 {
            let key = format!("k{}", world.below(cfg.keys as u64));
            let _ = client.history(&key, None, Some(3)).await;
            i += 1;
        } else {
            let _ = client.log_entries(None, Some(5)).await;
            i += 1;
        }
        world.sleep(Duration::from_millis(world.below(30))).await;
    }
}

async fn note_set(
    c: usize,
    client: &Client<SimStore>,
    record: &Mutex<Record>,
    key: String,
    value: String,
    r: crate::Result<Entry>,
    called: u64,
) {
    match r {
        Ok(e) => {
            let (hash, seq) = (e.hash.clone(), e.sequence);
            {
                let mut rec = record.lock().unwrap();
                rec.acked.push((c, key.clone(), hash, seq));
                rec.acked_called_at.push(called);
            }
            // Read-your-writes: this client's get sees this entry or a later one.
            // (Other failures of the read, injected faults, are not violations.)
            match client.get(&key).await {
                Ok(got) if got.sequence < seq => {
                    record.lock().unwrap().stale_reads.push(format!(
                        "client {c} read {key} at sequence {} after its set at {seq} was acknowledged",
                        got.sequence
                    ));
                }
                Err(e) if e.code == crate::ErrorCode::KeyNotFound => {
                    record.lock().unwrap().stale_reads.push(format!(
                        "client {c} found no {key} after its set at {seq} was acknowledged"
                    ));
                }
                _ => {}
            }
        }
        Err(e) => {
            let mut r = record.lock().unwrap();
            r.failed += 1;
            if e.may_have_committed == Some(false) {
                r.not_committed.push(value);
            }
            if e.code == ErrorCode::Internal {
                r.violations.push(format!("client {c}: internal error {e}"));
            }
        }
    }
}

/// The log is one chain, every acknowledged set is in it exactly once, and
/// nothing said to be not committed is.
fn check_log(log: &[Entry], rec: &Record, violations: &mut Vec<String>) {
    if let Some(at) = rec.deleted_log_at {
        // A set called after the delete must not succeed: our writers never
        // start a chain over a log that has versions.
        for ((c, key, _, seq), called) in rec.acked.iter().zip(&rec.acked_called_at) {
            if *called > at {
                violations.push(format!(
                    "client {c}'s set of {key}, called after the log was deleted, was acknowledged at sequence {seq}"
                ));
            }
        }
        return check_acknowledged(log, rec, violations);
    }
    for (i, e) in log.iter().enumerate() {
        if e.sequence != i as u64 {
            violations.push(format!(
                "log version {} has sequence {}, expected {i} (a fork or a gap)",
                e.version_id, e.sequence
            ));
            break;
        }
        if e.hash_dialect().is_none() {
            violations.push(format!("log entry {i} fails its hash"));
        }
        if i > 0 {
            let prev = &log[i - 1];
            if e.previous_hash != prev.hash
                || e.previous_version_id.as_deref() != Some(prev.version_id.as_str())
            {
                violations.push(format!("log entry {i} does not link to entry {}", i - 1));
            }
        }
    }
    check_acknowledged(log, rec, violations);
}

/// Every acknowledged set is in the log exactly once; nothing said to be
/// not committed is.
fn check_acknowledged(log: &[Entry], rec: &Record, violations: &mut Vec<String>) {
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for e in log {
        *count.entry(e.hash.as_str()).or_default() += 1;
    }
    for (c, key, hash, seq) in &rec.acked {
        match count.get(hash.as_str()) {
            Some(1) => {}
            n => violations.push(format!(
                "client {c}'s acknowledged set of {key} (sequence {seq}) is in the log {} times",
                n.copied().unwrap_or(0)
            )),
        }
    }
    let values: BTreeSet<&str> = log.iter().map(|e| e.value.as_str()).collect();
    for v in &rec.not_committed {
        if values.contains(v.as_str()) {
            violations.push(format!("a set said not committed is in the log: {v}"));
        }
    }
}

/// The writer of a sim entry: its value is `{"c": client, ...}`.
fn writer_of(e: &Entry) -> Option<usize> {
    serde_json::from_str::<serde_json::Value>(e.value.as_str())
        .ok()?
        .get("c")?
        .as_u64()
        .map(|c| c as usize)
}

/// The pipelining rule, checked on the bucket as it is: an orphan (an entry
/// that no version of its key object names) has only entries of its own
/// writer after it, and is among that writer's newest `depth` entries. With
/// `legacy`, also what the earlier clients read: a key object (with
/// head-only repair) is behind its key's latest entry only when that entry
/// is such an orphan. Looks at the newest 24 entries (an orphan breaks the
/// rule at the append that buries it, when it is among the newest 9).
fn window_violation(memory: &MemoryStore, depths: &[u32], legacy: bool) -> Option<String> {
    let ids = memory.version_ids("_log.json");
    let bodies = memory.versions("_log.json");
    let from = ids.len().saturating_sub(24);
    let log: Vec<Entry> = ids[from..]
        .iter()
        .zip(&bodies[from..])
        .filter_map(|(v, b)| Entry::from_log_object(b, v).ok())
        .collect();
    let named = |e: &Entry| {
        memory
            .versions(&format!("keys/{}.json", e.key))
            .iter()
            .filter_map(|b| Entry::from_key_object(b).ok())
            .any(|k| k.version_id == e.version_id)
    };
    for (i, e) in log.iter().enumerate() {
        if named(e) {
            continue;
        }
        let w = writer_of(e);
        let after = &log[i + 1..];
        if let Some(other) = after.iter().find(|a| writer_of(a) != w) {
            return Some(format!(
                "orphan at sequence {} (client {w:?}) has an entry of client {:?} (sequence {}) after it: that writer did not repair it",
                e.sequence,
                writer_of(other),
                other.sequence
            ));
        }
        let depth = w.and_then(|c| depths.get(c)).copied().unwrap_or(1) as usize;
        if after.len() >= depth {
            return Some(format!(
                "orphan at sequence {} (client {w:?}, depth {depth}) has {} entries after it",
                e.sequence,
                after.len()
            ));
        }
    }
    if legacy {
        // The earlier clients read the key object (and serve the head when
        // it is an orphan). Stale only for an orphan allowed above.
        let mut latest: BTreeMap<&str, &Entry> = BTreeMap::new();
        for e in &log {
            latest.insert(e.key.as_str(), e);
        }
        let head = log.last()?;
        for (key, e) in latest {
            let view = memory
                .versions(&format!("keys/{key}.json"))
                .last()
                .and_then(|b| Entry::from_key_object(b).ok());
            let behind = view.as_ref().is_none_or(|v| v.sequence < e.sequence);
            if behind && !named(e) && e.version_id != head.version_id {
                let w = writer_of(e);
                let tail = log.iter().filter(|a| a.sequence > e.sequence);
                if tail.clone().any(|a| writer_of(a) != w) {
                    return Some(format!(
                        "an earlier client reads {key} at sequence {:?} while sequence {} is in the log, buried by another writer",
                        view.map(|v| v.sequence),
                        e.sequence
                    ));
                }
            }
        }
    }
    None
}

/// Every acknowledged set's entry is named by a version of its key object
/// (the head excepted: it may be an orphan until the next write).
fn check_history(
    store: &SimStore,
    log: &[Entry],
    rec: &Record,
    excused: Option<usize>,
    depths: &[u32],
    violations: &mut Vec<String>,
) {
    let head = log.last().map(|e| e.hash.as_str());
    for (c, key, hash, seq) in &rec.acked {
        if Some(hash.as_str()) == head || Some(*c) == excused {
            continue;
        }
        let Some(at) = log.iter().position(|e| &e.hash == hash) else {
            continue; // reported by check_acknowledged
        };
        let entry = &log[at];
        // A pipelined writer's entry may still be an orphan in its window,
        // while only its own entries follow (window_violation checks that).
        let depth = depths.get(*c).copied().unwrap_or(1) as usize;
        let after = &log[at + 1..];
        if after.len() < depth && after.iter().all(|a| writer_of(a) == Some(*c)) {
            continue;
        }
        let held = store
            .memory
            .versions(&format!("keys/{key}.json"))
            .iter()
            .filter_map(|b| Entry::from_key_object(b).ok())
            .any(|k| k.version_id == entry.version_id);
        if !held {
            violations.push(format!(
                "client {c}'s acknowledged set of {key} (sequence {seq}) is in no version of its key object"
            ));
        }
    }
}

/// Changes the bucket as an attacker would, then checks that verify_log
/// reports it where it happened.
fn tamper(world: &World, store: &Arc<SimStore>, log: &[Entry], violations: &mut Vec<String>) {
    let memory = &store.memory;
    let ids = memory.version_ids("_log.json");
    let n = log.len();
    // (what, expected failure kind, expected sequence or path)
    let (what, expect_kind, expect_at): (String, FailureKind, Option<u64>) = match world.below(4) {
        0 => {
            // Delete a log version in the middle.
            let i = 1 + world.below(n as u64 - 2) as usize;
            memory.raw_delete("_log.json", Some(&ids[i]));
            (
                format!("deleted log entry {i}"),
                FailureKind::SequenceGap,
                Some(i as u64 + 1),
            )
        }
        1 => {
            // A forged entry on top, hash recomputed but linked to nothing.
            let head = &log[n - 1];
            let mut forged = Entry::next(
                Some(head.link()),
                head.key.clone(),
                Json::null(),
                head.timestamp_ms + 1,
                None,
            )
            .expect("entry");
            forged.previous_hash = format!("sha256:{}", "0".repeat(64));
            forged.hash = crate::format::hash::hash(&forged.hashed(), Dialect::Js).expect("hash");
            memory.raw_put(
                "_log.json",
                forged.log_object(Dialect::Js).expect("bytes").as_bytes(),
            );
            (
                "forged head".into(),
                FailureKind::BrokenLink,
                Some(n as u64),
            )
        }
        2 => {
            // A key object for a key never set, naming a made-up log version.
            let head = &log[n - 1];
            let mut ghost = Entry::next(
                Some(head.link()),
                "ghost".into(),
                Json::null(),
                head.timestamp_ms,
                None,
            )
            .expect("entry");
            ghost.version_id = "v9999999999".into();
            memory.raw_put(
                "keys/ghost.json",
                ghost.key_object(Dialect::Js).expect("bytes").as_bytes(),
            );
            (
                "forged key object".into(),
                FailureKind::KeyObjectForged,
                None,
            )
        }
        _ => {
            // A value changed in place: the log version replaced by an altered copy.
            let i = world.below(n as u64 - 1) as usize;
            let mut altered = log[i].clone();
            altered.value = Json::parse("\"altered\"").expect("json");
            memory.raw_delete("_log.json", Some(&ids[i]));
            memory.raw_put(
                "_log.json",
                altered.log_object(Dialect::Js).expect("bytes").as_bytes(),
            );
            (
                format!("altered log entry {i}"),
                FailureKind::HashMismatch,
                Some(i as u64),
            )
        }
    };
    let auditor =
        Client::with_env(store.clone(), opts(), world.env(None, WALL_START)).expect("auditor");
    let report = block_on(world, async move {
        auditor.verify_log(&VerifyOptions::default()).await
    });
    match report {
        Some(Ok(r)) => {
            let found = r
                .failures
                .iter()
                .any(|f| f.kind == expect_kind && (expect_at.is_none() || f.sequence == expect_at));
            if !found {
                violations.push(format!(
                    "tamper ({what}) not located: expected {expect_kind:?} at {expect_at:?}, got {:?}",
                    r.failures.iter().map(|f| (f.kind, f.sequence)).collect::<Vec<_>>()
                ));
            }
        }
        other => violations.push(format!(
            "verifyLog after tampering did not finish: {other:?}"
        )),
    }
}
