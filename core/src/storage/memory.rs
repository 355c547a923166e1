//! An in-memory versioned bucket with atomic conditional writes, request
//! counting and fault injection, for fast protocol tests. Real-server tests
//! cover the same behaviour over HTTP.

use super::{
    KeyPage, Meta, Object, Precondition, PutOutcome, Store, StoreError, StoreErrorKind,
    StoreResult, VersionPage,
};
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
}

struct Fault {
    op: Op,
    path_contains: String,
    point: FaultPoint,
    remaining: usize,
}

#[derive(Default)]
struct State {
    objects: BTreeMap<String, Vec<(String, Vec<u8>, String)>>, // path -> versions (id, body, etag), oldest first
    next_id: u64,
    faults: Vec<Fault>,
    requests: Vec<Op>,
}

pub struct MemoryStore {
    state: Mutex<State>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore {
            state: Mutex::new(State::default()),
        }
    }
}

impl MemoryStore {
    /// Makes the next `times` requests of `op` on a path containing
    /// `path_contains` fail at `point`.
    pub fn inject(&self, op: Op, path_contains: &str, point: FaultPoint, times: usize) {
        self.state.lock().unwrap().faults.push(Fault {
            op,
            path_contains: path_contains.into(),
            point,
            remaining: times,
        });
    }

    /// Requests made so far.
    pub fn total_requests(&self) -> usize {
        self.state.lock().unwrap().requests.len()
    }

    /// An unconditional write, as another tool would do it.
    pub fn raw_put(&self, path: &str, body: &[u8]) -> String {
        let mut s = self.state.lock().unwrap();
        apply_put(&mut s, path, body.to_vec()).version_id.unwrap()
    }

    /// Bodies of every version of `path`, oldest first.
    pub fn versions(&self, path: &str) -> Vec<Vec<u8>> {
        let s = self.state.lock().unwrap();
        s.objects
            .get(path)
            .map(|v| v.iter().map(|(_, b, _)| b.clone()).collect())
            .unwrap_or_default()
    }

    fn begin(&self, op: Op, path: &str) -> Result<Option<FaultPoint>, StoreError> {
        let mut s = self.state.lock().unwrap();
        s.requests.push(op);
        let hit = s
            .faults
            .iter_mut()
            .find(|f| f.op == op && f.remaining > 0 && path.contains(&f.path_contains));
        match hit {
            Some(f) => {
                f.remaining -= 1;
                match f.point {
                    FaultPoint::Before => Err(injected(op, path, false)),
                    FaultPoint::AfterApply => Ok(Some(FaultPoint::AfterApply)),
                }
            }
            None => Ok(None),
        }
    }
}

fn injected(op: Op, path: &str, maybe_applied: bool) -> StoreError {
    StoreError {
        kind: StoreErrorKind::Transient,
        operation: match op {
            Op::Get => "GetObject",
            Op::Head => "HeadObject",
            Op::Put => "PutObject",
            Op::ListVersions => "ListObjectVersions",
            Op::ListPaths => "ListObjectsV2",
        },
        bucket: "memory".into(),
        path: path.into(),
        status: Some(503),
        cause: "injected fault".into(),
        // A fault before the request reaches the store is indistinguishable,
        // to a client, from one after: both are "may have been applied".
        maybe_applied: maybe_applied || op == Op::Put,
    }
}

fn apply_put(s: &mut State, path: &str, body: Vec<u8>) -> Meta {
    s.next_id += 1;
    let id = format!("v{:08}", s.next_id);
    let etag = format!("\"{:016x}{:016x}\"", s.next_id, body.len()); // unique per write, like SSE-KMS ETags
    s.objects
        .entry(path.to_string())
        .or_default()
        .push((id.clone(), body, etag.clone()));
    Meta {
        etag,
        version_id: Some(id),
    }
}

impl Store for MemoryStore {
    fn bucket(&self) -> &str {
        "memory"
    }

    async fn get(&self, path: &str, version_id: Option<&str>) -> StoreResult<Option<Object>> {
        let after = self.begin(Op::Get, path)?;
        let s = self.state.lock().unwrap();
        let found = s.objects.get(path).and_then(|versions| match version_id {
            None => versions.last(),
            Some(v) => versions.iter().find(|(id, _, _)| id == v),
        });
        let out = found.map(|(id, body, etag)| Object {
            body: body.clone(),
            etag: Some(etag.clone()),
            version_id: Some(id.clone()),
        });
        if after.is_some() {
            return Err(injected(Op::Get, path, true));
        }
        Ok(out)
    }

    async fn head(&self, path: &str) -> StoreResult<Option<Meta>> {
        let after = self.begin(Op::Head, path)?;
        let s = self.state.lock().unwrap();
        let out = s
            .objects
            .get(path)
            .and_then(|v| v.last())
            .map(|(id, _, etag)| Meta {
                etag: etag.clone(),
                version_id: Some(id.clone()),
            });
        if after.is_some() {
            return Err(injected(Op::Head, path, true));
        }
        Ok(out)
    }

    async fn put(
        &self,
        path: &str,
        body: Vec<u8>,
        condition: Precondition,
    ) -> StoreResult<PutOutcome> {
        let after = self.begin(Op::Put, path)?;
        let mut s = self.state.lock().unwrap();
        let current = s
            .objects
            .get(path)
            .and_then(|v| v.last())
            .map(|(_, _, e)| e.clone());
        let holds = match (&condition, &current) {
            (Precondition::IfNoneMatch, None) => true,
            (Precondition::IfMatch(want), Some(have)) => want == have,
            _ => false,
        };
        let out = if holds {
            PutOutcome::Written(apply_put(&mut s, path, body))
        } else {
            PutOutcome::PreconditionFailed
        };
        if after.is_some() {
            return Err(injected(Op::Put, path, true));
        }
        Ok(out)
    }

    async fn list_versions(
        &self,
        path: &str,
        after: Option<&str>,
        max: u32,
    ) -> StoreResult<VersionPage> {
        self.begin(Op::ListVersions, path)?;
        let s = self.state.lock().unwrap();
        let mut ids: Vec<String> = s
            .objects
            .get(path)
            .map(|v| v.iter().rev().map(|(id, _, _)| id.clone()).collect())
            .unwrap_or_default();
        if let Some(a) = after {
            match ids.iter().position(|id| id == a) {
                Some(i) => ids.drain(..=i),
                None => ids.drain(..),
            };
        }
        let next = (ids.len() > max as usize).then(|| ids[max as usize - 1].clone());
        ids.truncate(max as usize);
        Ok(VersionPage {
            version_ids: ids,
            next,
        })
    }

    async fn list_paths(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        continuation: Option<&str>,
        max: u32,
    ) -> StoreResult<KeyPage> {
        self.begin(Op::ListPaths, prefix)?;
        let s = self.state.lock().unwrap();
        let from = continuation.or(start_after).unwrap_or("");
        let mut paths: Vec<String> = s
            .objects
            .keys()
            .filter(|p| p.starts_with(prefix) && p.as_str() > from)
            .cloned()
            .collect();
        let continuation = (paths.len() > max as usize).then(|| paths[max as usize - 1].clone());
        paths.truncate(max as usize);
        Ok(KeyPage {
            paths,
            continuation,
        })
    }

    async fn versioning_enabled(&self) -> StoreResult<Option<bool>> {
        Ok(Some(true))
    }
}
