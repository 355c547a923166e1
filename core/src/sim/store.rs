//! The simulated bucket: the in-memory store's S3 semantics, with every
//! request taking virtual time and failing the ways real ones do.

use super::executor::World;
use crate::bucket::{Encryption, ObjectLock, Retention, Versioning};
use crate::storage::memory::MemoryStore;
use crate::storage::{
    KeyPage, Latest, ListFrom, Meta, Object, Precondition, PutOutcome, Store, StoreError,
    StoreErrorKind, StoreResult, VersionPage,
};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How requests fail, in parts per million.
#[derive(Clone, Copy, Debug)]
pub struct Faults {
    /// Fails before reaching the store (nothing applied).
    pub before: u32,
    /// Applied, then the answer is lost.
    pub lost_answer: u32,
    /// Held past the client's patience: the client sees a timeout, and the
    /// request is applied later (or never).
    pub late: u32,
}

impl Faults {
    pub const NONE: Faults = Faults {
        before: 0,
        lost_answer: 0,
        late: 0,
    };
}

pub struct SimStore {
    pub memory: Arc<MemoryStore>,
    world: World,
    /// Parts per million; changed during a run (off for the final audit).
    before: AtomicU32,
    lost_answer: AtomicU32,
    late: AtomicU32,
    /// First-entry PUTs (`If-None-Match` on the log) not yet applied or dropped.
    genesis_in_flight: Arc<AtomicU32>,
    /// Called with the bucket each time a log append lands, to check
    /// invariants at that very moment.
    on_append: Arc<std::sync::Mutex<Option<AppendHook>>>,
}

/// See [`SimStore::on_append`].
pub type AppendHook = Box<dyn Fn(&MemoryStore) + Send + Sync>;

enum Fate {
    Ok,
    Before,
    LostAnswer,
    Late,
}

impl SimStore {
    pub fn new(world: World, faults: Faults) -> SimStore {
        SimStore {
            memory: Arc::new(MemoryStore::new("sim")),
            world,
            before: AtomicU32::new(faults.before),
            lost_answer: AtomicU32::new(faults.lost_answer),
            late: AtomicU32::new(faults.late),
            genesis_in_flight: Arc::new(AtomicU32::new(0)),
            on_append: Arc::default(),
        }
    }

    /// Runs `hook` each time a log append lands (the bucket as it is then).
    pub fn on_append(&self, hook: AppendHook) {
        *self.on_append.lock().unwrap_or_else(|e| e.into_inner()) = Some(hook);
    }

    /// Whether a first-entry PUT of the log may still land.
    pub fn genesis_in_flight(&self) -> bool {
        self.genesis_in_flight.load(Ordering::SeqCst) > 0
    }

    pub fn set_faults(&self, f: Faults) {
        self.before.store(f.before, Ordering::SeqCst);
        self.lost_answer.store(f.lost_answer, Ordering::SeqCst);
        self.late.store(f.late, Ordering::SeqCst);
    }

    fn fate(&self) -> Fate {
        let r = self.world.below(1_000_000) as u32;
        let b = self.before.load(Ordering::SeqCst);
        let l = self.lost_answer.load(Ordering::SeqCst);
        let t = self.late.load(Ordering::SeqCst);
        if r < b {
            Fate::Before
        } else if r < b + l {
            Fate::LostAnswer
        } else if r < b + l + t {
            Fate::Late
        } else {
            Fate::Ok
        }
    }

    /// One to twenty milliseconds, like a nearby S3.
    fn latency(&self) -> Duration {
        Duration::from_micros(1_000 + self.world.below(19_000))
    }

    fn error(&self, operation: &'static str, path: &str, detail: &str) -> StoreError {
        StoreError {
            kind: StoreErrorKind::Transient,
            operation,
            bucket: "sim".into(),
            path: path.into(),
            status: Some(503),
            detail: detail.into(),
            cause: None,
            maybe_applied: true,
        }
    }

    /// A read: takes its time, may fail (reads apply nothing).
    async fn read<T>(
        &self,
        operation: &'static str,
        path: &str,
        apply: impl FnOnce() -> T,
    ) -> StoreResult<T> {
        let fate = self.fate();
        self.world.sleep(self.latency()).await;
        match fate {
            Fate::Ok => Ok(apply()),
            _ => Err(self.error(operation, path, "simulated failure")),
        }
    }
}

/// Applies a PUT, then tells the hook when it was a log append that landed.
fn apply_put(
    memory: &MemoryStore,
    hook: &std::sync::Mutex<Option<AppendHook>>,
    path: &str,
    body: Vec<u8>,
    condition: &Precondition,
    retention: Option<Retention>,
) -> PutOutcome {
    let out = memory.apply_put(path, body, condition, retention);
    if path.ends_with("_log.json") && matches!(out, PutOutcome::Written(_)) {
        if let Some(h) = hook.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            h(memory);
        }
    }
    out
}

impl Store for SimStore {
    fn bucket(&self) -> &str {
        "sim"
    }

    async fn get(&self, path: &str, version_id: Option<&str>) -> StoreResult<Option<Object>> {
        self.read("GetObject", path, || {
            self.memory.apply_get(path, version_id)
        })
        .await
    }

    async fn get_if_changed(&self, path: &str, etag: Option<&str>) -> StoreResult<Latest> {
        self.read("GetObject", path, || {
            self.memory.apply_get_if_changed(path, etag)
        })
        .await
    }

    async fn head(&self, path: &str, version_id: Option<&str>) -> StoreResult<Option<Meta>> {
        self.read("HeadObject", path, || {
            self.memory.apply_head(path, version_id)
        })
        .await
    }

    async fn put(
        &self,
        path: &str,
        body: Vec<u8>,
        condition: Precondition,
        retention: Option<Retention>,
    ) -> StoreResult<PutOutcome> {
        if let Some(refused) = self.memory.lock_refusal(path, retention) {
            self.world.sleep(self.latency()).await;
            return Err(refused);
        }
        let fate = self.fate();
        let latency = self.latency();
        let genesis = path.ends_with("_log.json") && condition == Precondition::IfNoneMatch;
        let counter = self.genesis_in_flight.clone();
        if genesis {
            counter.fetch_add(1, Ordering::SeqCst);
        }
        // Counted until applied or dropped, also when the sender is killed.
        let _landed = Landed(genesis.then_some(counter.clone()));
        match fate {
            Fate::Ok => {
                self.world.sleep(latency).await;
                Ok(apply_put(
                    &self.memory,
                    &self.on_append,
                    path,
                    body,
                    &condition,
                    retention,
                ))
            }
            Fate::Before => {
                self.world.sleep(latency).await;
                Err(self.error("PutObject", path, "simulated failure before the store"))
            }
            Fate::LostAnswer => {
                self.world.sleep(latency).await;
                apply_put(
                    &self.memory,
                    &self.on_append,
                    path,
                    body,
                    &condition,
                    retention,
                );
                Err(self.error("PutObject", path, "simulated lost answer"))
            }
            Fate::Late => {
                // The request stays on the wire: applied after the client
                // has given up on it, or dropped.
                let memory = self.memory.clone();
                let hook = self.on_append.clone();
                let world = self.world.clone();
                let path_owned = path.to_string();
                let delay = Duration::from_millis(1 + self.world.below(3_000));
                let applies = self.world.chance(0.7);
                let held = Landed(genesis.then_some(counter.clone()));
                if genesis {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
                self.world.spawn(
                    None,
                    Box::pin(async move {
                        world.sleep(delay).await;
                        if applies {
                            apply_put(&memory, &hook, &path_owned, body, &condition, retention);
                        }
                        drop(held);
                    }),
                );
                self.world.sleep(latency * 5).await;
                Err(self.error("PutObject", path, "simulated timeout"))
            }
        }
    }

    async fn list_versions(
        &self,
        path: &str,
        from: &ListFrom,
        max: u32,
    ) -> StoreResult<VersionPage> {
        self.read("ListObjectVersions", path, || {
            self.memory.apply_list_versions(path, from, max)
        })
        .await
    }

    async fn list_paths(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        continuation: Option<&str>,
        max: u32,
    ) -> StoreResult<KeyPage> {
        self.read("ListObjectsV2", prefix, || {
            self.memory
                .apply_list_paths(prefix, start_after, continuation, max)
        })
        .await
    }

    async fn versioning(&self) -> StoreResult<Versioning> {
        self.read("GetBucketVersioning", "", || self.memory.apply_versioning())
            .await
    }

    async fn object_lock(&self) -> StoreResult<ObjectLock> {
        self.read("GetObjectLockConfiguration", "", || {
            self.memory.apply_object_lock()
        })
        .await
    }

    async fn encryption(&self) -> StoreResult<Encryption> {
        self.read("GetBucketEncryption", "", || self.memory.apply_encryption())
            .await
    }

    async fn retention(&self, path: &str, version_id: &str) -> StoreResult<Option<Retention>> {
        self.read("GetObjectRetention", path, || {
            self.memory.apply_retention(path, version_id)
        })
        .await
    }

    async fn lifecycle(&self) -> StoreResult<crate::lifecycle::Lifecycle> {
        self.read("GetBucketLifecycleConfiguration", "", || {
            crate::lifecycle::Lifecycle::Rules(Vec::new())
        })
        .await
    }
}

/// Decrements a first-entry counter when dropped.
struct Landed(Option<Arc<AtomicU32>>);

impl Drop for Landed {
    fn drop(&mut self) {
        if let Some(c) = &self.0 {
            c.fetch_sub(1, Ordering::SeqCst);
        }
    }
}
