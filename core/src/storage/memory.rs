//! A versioned bucket in memory: S3's object versioning, delete markers and
//! atomic conditional writes, with no server. For tests and local
//! development only: nothing is persisted, and it lives as long as the
//! process.
//!
//! A store is shared by the clients given the same `Arc`. The Node binding
//! keeps named stores per JavaScript environment (README "Testing without
//! S3"); [`MemoryStore::named`] is the process-wide registry, for sharing a
//! store across threads on purpose. Tests can also inject faults and tamper
//! with objects the way another tool would.

use super::{
    KeyPage, Latest, ListFrom, Meta, Object, PageCursor, Precondition, PutOutcome, Store,
    StoreError, StoreErrorKind, StoreResult, VersionPage,
};
use crate::bucket::{Encryption, ObjectLock, Retention, Versioning};
use crate::lifecycle::Lifecycle;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

/// The operations, for fault injection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Get,
    Head,
    Put,
    ListVersions,
    ListPaths,
}

/// When an injected failure strikes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultPoint {
    /// The request fails and nothing is applied.
    Before,
    /// The request is applied, then its answer is lost.
    AfterApply,
    /// The request waits this long before it is applied and answered (a
    /// server holding it; only PUTs). A caller that stops waiting cancels
    /// it: it never reaches the store.
    Held(std::time::Duration),
}

struct Fault {
    op: Op,
    path_contains: String,
    point: FaultPoint,
    remaining: usize,
}

/// One version of an object: content, or a delete marker.
#[derive(Clone, Debug)]
struct Version {
    id: String,
    /// `None` for a delete marker.
    body: Option<Arc<Vec<u8>>>,
    etag: String,
    retention: Option<Retention>,
    /// When it was written (LastModified), epoch milliseconds.
    written_ms: u64,
}

struct State {
    /// path -> versions, oldest first.
    objects: BTreeMap<String, Vec<Version>>,
    next_id: u64,
    faults: Vec<Fault>,
    /// What GetBucketLifecycleConfiguration answers (nothing expires here:
    /// tests remove versions themselves, as a rule would).
    lifecycle: Lifecycle,
    /// What the bucket settings read as. Object Lock is enforced (a write
    /// with retention is refused without it, a locked version cannot be
    /// deleted, the default rule applies); versioning is only answered
    /// (every write makes a version).
    object_lock: ObjectLock,
    encryption: Encryption,
    versioning: Versioning,
}

impl Default for State {
    fn default() -> Self {
        State {
            objects: BTreeMap::new(),
            next_id: 0,
            faults: Vec::new(),
            lifecycle: Lifecycle::Rules(Vec::new()),
            object_lock: ObjectLock::Disabled,
            encryption: Encryption::S3,
            versioning: Versioning::Enabled,
        }
    }
}

/// An in-memory versioned bucket.
pub struct MemoryStore {
    name: String,
    state: Mutex<State>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new("memory")
    }
}

fn registry() -> &'static Mutex<HashMap<String, Arc<MemoryStore>>> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<MemoryStore>>>> = OnceLock::new();
    STORES.get_or_init(Default::default)
}

impl MemoryStore {
    /// A new, empty, private store. `name` is what errors call the bucket.
    pub fn new(name: &str) -> MemoryStore {
        MemoryStore {
            name: name.to_string(),
            state: Mutex::new(State::default()),
        }
    }

    /// The process-wide store called `name` (every thread of the process
    /// sees the same one), created empty on first use.
    pub fn named(name: &str) -> Arc<MemoryStore> {
        let mut stores = registry().lock().unwrap_or_else(|e| e.into_inner());
        stores
            .entry(name.to_string())
            .or_insert_with(|| Arc::new(MemoryStore::new(name)))
            .clone()
    }

    /// Forgets the process-wide store called `name` (clients still holding it
    /// keep it); the next [`MemoryStore::named`] starts empty.
    pub fn drop_named(name: &str) -> bool {
        let mut stores = registry().lock().unwrap_or_else(|e| e.into_inner());
        stores.remove(name).is_some()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes the next `times` requests of `op` on a path containing
    /// `path_contains` fail at `point`.
    pub fn inject(&self, op: Op, path_contains: &str, point: FaultPoint, times: usize) {
        self.state().faults.push(Fault {
            op,
            path_contains: path_contains.into(),
            point,
            remaining: times,
        });
    }

    /// Sets what the store answers for its lifecycle configuration.
    pub fn set_lifecycle(&self, lifecycle: Lifecycle) {
        self.state().lifecycle = lifecycle;
    }

    /// Sets the bucket's Object Lock configuration (enforced: see
    /// [`MemoryStore::raw_delete`]).
    pub fn set_object_lock(&self, object_lock: ObjectLock) {
        self.state().object_lock = object_lock;
    }

    /// Sets what the store answers for its default encryption.
    pub fn set_encryption(&self, encryption: Encryption) {
        self.state().encryption = encryption;
    }

    /// Sets what the store answers for its versioning (every write makes a
    /// version all the same).
    pub fn set_versioning(&self, versioning: Versioning) {
        self.state().versioning = versioning;
    }

    /// Sets (or removes) a version's retention, as PutObjectRetention with
    /// governance bypass would: for tests of versions that are not
    /// protected as they should be.
    pub fn raw_set_retention(&self, path: &str, version_id: &str, retention: Option<Retention>) {
        let mut s = self.state();
        if let Some(v) = s
            .objects
            .get_mut(path)
            .and_then(|vs| vs.iter_mut().find(|v| v.id == version_id))
        {
            v.retention = retention;
        }
    }

    /// Makes every version stored so far look `by_ms` older (LastModified),
    /// as versions written that long ago would: tests of lifecycle rules.
    pub fn backdate(&self, by_ms: u64) {
        for v in self.state().objects.values_mut().flatten() {
            v.written_ms = v.written_ms.saturating_sub(by_ms);
        }
    }

    /// Removes every injected fault.
    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    /// An unconditional write, as another tool would do it. Returns the
    /// new version id.
    pub fn raw_put(&self, path: &str, body: &[u8]) -> String {
        let mut s = self.state();
        let meta = apply_put(&mut s, path, Some(body.to_vec()), None);
        meta.version_id.expect("versioned")
    }

    /// DeleteObject: with a version id, that version is gone, unless Object
    /// Lock retains it (then nothing changes and this returns false, as S3
    /// answers 403); without one, a delete marker becomes the latest
    /// version (Object Lock allows that).
    pub fn raw_delete(&self, path: &str, version_id: Option<&str>) -> bool {
        let now = wall_ms();
        let mut s = self.state();
        match version_id {
            Some(v) => {
                if let Some(versions) = s.objects.get_mut(path) {
                    let locked = versions
                        .iter()
                        .any(|x| x.id == v && x.retention.is_some_and(|r| r.until_ms > now));
                    if locked {
                        return false;
                    }
                    versions.retain(|x| x.id != v);
                }
            }
            None => {
                apply_put(&mut s, path, None, None);
            }
        }
        true
    }

    /// A write with retention to a bucket without Object Lock: refused, as
    /// S3 does (400 InvalidRequest).
    pub(crate) fn lock_refusal(
        &self,
        path: &str,
        retention: Option<Retention>,
    ) -> Option<StoreError> {
        let enabled = matches!(self.state().object_lock, ObjectLock::Enabled { .. });
        (retention.is_some() && !enabled).then(|| StoreError {
            kind: StoreErrorKind::BadRequest,
            operation: "PutObject",
            bucket: self.name.clone(),
            path: path.into(),
            status: Some(400),
            detail: "HTTP 400 InvalidRequest: Bucket is missing Object Lock Configuration".into(),
            cause: None,
            maybe_applied: false,
        })
    }

    /// Bodies of every version of `path`, oldest first (delete markers left out).
    pub fn versions(&self, path: &str) -> Vec<Vec<u8>> {
        self.state()
            .objects
            .get(path)
            .map(|v| {
                v.iter()
                    .filter_map(|x| x.body.as_ref().map(|b| b.to_vec()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Version ids of `path`, oldest first (delete markers left out).
    pub fn version_ids(&self, path: &str) -> Vec<String> {
        self.state()
            .objects
            .get(path)
            .map(|v| {
                v.iter()
                    .filter(|x| x.body.is_some())
                    .map(|x| x.id.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn fault(&self, op: Op, path: &str) -> Option<FaultPoint> {
        let mut s = self.state();
        let hit = s
            .faults
            .iter_mut()
            .find(|f| f.op == op && f.remaining > 0 && path.contains(&f.path_contains))?;
        hit.remaining -= 1;
        Some(hit.point)
    }

    fn injected(&self, op: Op, path: &str) -> StoreError {
        StoreError {
            kind: StoreErrorKind::Transient,
            operation: op.name(),
            bucket: self.name.clone(),
            path: path.into(),
            status: Some(503),
            detail: "injected fault".into(),
            cause: None,
            // A client cannot tell a failure before the request reached the
            // store from one after: both may have been applied.
            maybe_applied: op == Op::Put,
        }
    }

    /// A read fails when a fault is injected for it (before or after: a
    /// read applies nothing).
    fn check_read_fault(&self, op: Op, path: &str) -> StoreResult<()> {
        match self.fault(op, path) {
            Some(_) => Err(self.injected(op, path)),
            None => Ok(()),
        }
    }

    // The operations as plain functions of the state, for the simulator,
    // which decides when each one is applied.

    pub(crate) fn apply_get(&self, path: &str, version_id: Option<&str>) -> Option<Object> {
        let s = self.state();
        let found = s.objects.get(path).and_then(|versions| match version_id {
            None => versions.last(),
            Some(v) => versions.iter().find(|x| x.id == v),
        })?;
        Some(Object {
            body: found.body.as_ref()?.to_vec(),
            etag: Some(found.etag.clone()),
            version_id: Some(found.id.clone()),
        })
    }

    pub(crate) fn apply_get_if_changed(&self, path: &str, etag: Option<&str>) -> Latest {
        match self.apply_get(path, None) {
            None => Latest::Absent,
            Some(o) if etag.is_some() && o.etag.as_deref() == etag => Latest::Unchanged,
            Some(o) => Latest::Changed(o),
        }
    }

    pub(crate) fn apply_head(&self, path: &str, version_id: Option<&str>) -> Option<Meta> {
        let s = self.state();
        let found = s.objects.get(path).and_then(|versions| match version_id {
            None => versions.last(),
            Some(v) => versions.iter().find(|x| x.id == v),
        })?;
        found.body.as_ref()?;
        Some(Meta {
            etag: found.etag.clone(),
            version_id: Some(found.id.clone()),
        })
    }

    pub(crate) fn apply_put(
        &self,
        path: &str,
        body: Vec<u8>,
        condition: &Precondition,
        retention: Option<Retention>,
    ) -> PutOutcome {
        let mut s = self.state();
        let current = s
            .objects
            .get(path)
            .and_then(|v| v.last())
            .filter(|v| v.body.is_some())
            .map(|v| v.etag.clone());
        let holds = match (condition, &current) {
            (Precondition::IfNoneMatch, None) => true,
            (Precondition::IfMatch(want), Some(have)) => want == have,
            _ => false,
        };
        if holds {
            PutOutcome::Written(apply_put(&mut s, path, Some(body), retention))
        } else {
            PutOutcome::PreconditionFailed
        }
    }

    pub(crate) fn apply_versioning(&self) -> Versioning {
        self.state().versioning.clone()
    }

    pub(crate) fn apply_object_lock(&self) -> ObjectLock {
        self.state().object_lock.clone()
    }

    pub(crate) fn apply_encryption(&self) -> Encryption {
        self.state().encryption.clone()
    }

    pub(crate) fn apply_retention(&self, path: &str, version_id: &str) -> Option<Retention> {
        self.state()
            .objects
            .get(path)?
            .iter()
            .find(|v| v.id == version_id)?
            .retention
    }

    pub(crate) fn apply_list_versions(&self, path: &str, from: &ListFrom, max: u32) -> VersionPage {
        let s = self.state();
        let all: Vec<&Version> = s
            .objects
            .get(path)
            .map(|v| v.iter().rev().collect())
            .unwrap_or_default();
        let start = match from {
            ListFrom::Newest => 0,
            ListFrom::After(id) => all
                .iter()
                .position(|v| &v.id == id)
                .map_or(all.len(), |i| i + 1),
            ListFrom::Cursor(c) => all
                .iter()
                .position(|v| v.id == c.version_id_marker)
                .map_or(all.len(), |i| i + 1),
        };
        let page: Vec<&&Version> = all[start..].iter().take(max as usize).collect();
        let latest_delete_marker = all
            .first()
            .filter(|v| v.body.is_none() && start == 0)
            .map(|v| v.id.clone());
        let next = (start + page.len() < all.len()).then(|| PageCursor {
            key_marker: path.to_string(),
            version_id_marker: page.last().map(|v| v.id.clone()).unwrap_or_default(),
        });
        VersionPage {
            version_ids: page
                .iter()
                .filter(|v| v.body.is_some())
                .map(|v| v.id.clone())
                .collect(),
            last_modified_ms: page
                .iter()
                .filter(|v| v.body.is_some())
                .map(|v| Some(v.written_ms))
                .collect(),
            latest_delete_marker,
            next,
        }
    }

    pub(crate) fn apply_list_paths(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        continuation: Option<&str>,
        max: u32,
    ) -> KeyPage {
        let s = self.state();
        let from = continuation.or(start_after).unwrap_or("");
        let mut paths: Vec<String> = s
            .objects
            .iter()
            .filter(|(p, v)| {
                p.starts_with(prefix)
                    && p.as_str() > from
                    && v.last().is_some_and(|x| x.body.is_some())
            })
            .map(|(p, _)| p.clone())
            .take(max as usize + 1)
            .collect();
        let continuation = (paths.len() > max as usize).then(|| paths[max as usize - 1].clone());
        paths.truncate(max as usize);
        KeyPage {
            paths,
            continuation,
        }
    }
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Get => "GetObject",
            Op::Head => "HeadObject",
            Op::Put => "PutObject",
            Op::ListVersions => "ListObjectVersions",
            Op::ListPaths => "ListObjectsV2",
        }
    }
}

/// The wall clock, for retention dates (a memory store lives in real time).
fn wall_ms() -> u64 {
    use crate::env::Env;
    crate::env::TokioEnv::default().wall_ms()
}

/// S3's ETag of a single-part upload is a digest of the body; so is this one.
fn etag_of(body: &[u8]) -> String {
    let d = Sha256::digest(body);
    let hex: String = d[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

fn apply_put(
    s: &mut State,
    path: &str,
    body: Option<Vec<u8>>,
    retention: Option<Retention>,
) -> Meta {
    s.next_id += 1;
    let id = format!("v{:010}", s.next_id);
    let etag = body.as_deref().map(etag_of).unwrap_or_default();
    // A version written without retention of its own gets the bucket's
    // default (delete markers get none).
    let retention = match (&s.object_lock, &body) {
        (
            ObjectLock::Enabled {
                default: Some(rule),
            },
            Some(_),
        ) if retention.is_none() => Some(rule.retention_from(wall_ms())),
        _ => retention,
    };
    s.objects
        .entry(path.to_string())
        .or_default()
        .push(Version {
            id: id.clone(),
            body: body.map(Arc::new),
            etag: etag.clone(),
            retention,
            written_ms: wall_ms(),
        });
    Meta {
        etag,
        version_id: Some(id),
    }
}

impl Store for MemoryStore {
    fn bucket(&self) -> &str {
        &self.name
    }

    async fn get(&self, path: &str, version_id: Option<&str>) -> StoreResult<Option<Object>> {
        self.check_read_fault(Op::Get, path)?;
        Ok(self.apply_get(path, version_id))
    }

    async fn get_if_changed(&self, path: &str, etag: Option<&str>) -> StoreResult<Latest> {
        self.check_read_fault(Op::Get, path)?;
        Ok(self.apply_get_if_changed(path, etag))
    }

    async fn head(&self, path: &str, version_id: Option<&str>) -> StoreResult<Option<Meta>> {
        self.check_read_fault(Op::Head, path)?;
        Ok(self.apply_head(path, version_id))
    }

    async fn put(
        &self,
        path: &str,
        body: Vec<u8>,
        condition: Precondition,
        retention: Option<Retention>,
    ) -> StoreResult<PutOutcome> {
        if let Some(refused) = self.lock_refusal(path, retention) {
            return Err(refused);
        }
        let fault = self.fault(Op::Put, path);
        if fault == Some(FaultPoint::Before) {
            return Err(self.injected(Op::Put, path));
        }
        if let Some(FaultPoint::Held(d)) = fault {
            tokio::time::sleep(d).await;
        }
        let out = self.apply_put(path, body, &condition, retention);
        if fault == Some(FaultPoint::AfterApply) {
            return Err(self.injected(Op::Put, path));
        }
        Ok(out)
    }

    async fn list_versions(
        &self,
        path: &str,
        from: &ListFrom,
        max: u32,
    ) -> StoreResult<VersionPage> {
        self.check_read_fault(Op::ListVersions, path)?;
        Ok(self.apply_list_versions(path, from, max))
    }

    async fn list_paths(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        continuation: Option<&str>,
        max: u32,
    ) -> StoreResult<KeyPage> {
        self.check_read_fault(Op::ListPaths, prefix)?;
        Ok(self.apply_list_paths(prefix, start_after, continuation, max))
    }

    async fn versioning(&self) -> StoreResult<Versioning> {
        Ok(self.apply_versioning())
    }

    async fn object_lock(&self) -> StoreResult<ObjectLock> {
        Ok(self.apply_object_lock())
    }

    async fn encryption(&self) -> StoreResult<Encryption> {
        Ok(self.apply_encryption())
    }

    async fn retention(&self, path: &str, version_id: &str) -> StoreResult<Option<Retention>> {
        Ok(self.apply_retention(path, version_id))
    }

    async fn lifecycle(&self) -> StoreResult<Lifecycle> {
        Ok(self.state().lifecycle.clone())
    }
}
