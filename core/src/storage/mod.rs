//! Object-store access: the few S3 operations the protocol needs, with
//! answers already sorted into the cases the protocol distinguishes.
//!
//! [`s3::S3Store`] is the real one; [`memory::MemoryStore`] is an in-memory
//! store with fault injection for fast protocol tests.

pub mod memory;
pub mod s3;

use std::fmt;
use std::future::Future;

/// An object read back.
#[derive(Clone, Debug)]
pub struct Object {
    pub body: Vec<u8>,
    pub etag: Option<String>,
    pub version_id: Option<String>,
}

/// What a HEAD or a successful PUT tells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    pub etag: String,
    /// `None` when the bucket does not version (no VersionId in the answer).
    pub version_id: Option<String>,
}

/// The condition of a conditional PUT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Precondition {
    /// `If-Match: <etag>`
    IfMatch(String),
    /// `If-None-Match: *`
    IfNoneMatch,
}

impl Precondition {
    /// `If-Match` on the given ETag, or `If-None-Match: *` when there is none.
    pub fn expecting(etag: Option<&str>) -> Self {
        etag.map_or(Precondition::IfNoneMatch, |e| {
            Precondition::IfMatch(e.to_string())
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PutOutcome {
    Written(Meta),
    /// The condition did not hold: 412, or 404 for `If-Match` on a missing
    /// object (AWS), or 409 for a concurrent conditional write (AWS). None of
    /// them applied the write.
    PreconditionFailed,
}

/// One page of the versions of a single object, newest first (delete
/// markers left out).
#[derive(Clone, Debug, Default)]
pub struct VersionPage {
    pub version_ids: Vec<String>,
    /// Version id to continue after, when the object has more versions.
    pub next: Option<String>,
}

/// One page of object paths under a prefix, in S3's (UTF-8 byte) order.
#[derive(Clone, Debug, Default)]
pub struct KeyPage {
    pub paths: Vec<String>,
    pub continuation: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreErrorKind {
    AccessDenied,
    /// The bucket does not exist.
    NoSuchBucket,
    /// 400-class answer that retrying will not change.
    BadRequest,
    /// 429/503 SlowDown, 5xx, timeouts, connection failures: worth retrying.
    Transient,
    /// Anything else (the request could not even be built, an unexpected
    /// answer).
    Other,
}

/// A failed store request, with the context a user needs to act on it.
#[derive(Clone, Debug)]
pub struct StoreError {
    pub kind: StoreErrorKind,
    /// S3 operation name, e.g. `PutObject`.
    pub operation: &'static str,
    pub bucket: String,
    pub path: String,
    pub status: Option<u16>,
    /// The underlying cause with the SDK's full context, secrets removed.
    pub cause: String,
    /// The request may have been applied although it failed (lost answer,
    /// timeout, 5xx). Only PUTs care.
    pub maybe_applied: bool,
}

impl StoreError {
    pub fn is_transient(&self) -> bool {
        self.kind == StoreErrorKind::Transient
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} s3://{}/{} failed: {}",
            self.operation, self.bucket, self.path, self.cause
        )
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The operations ImmuKV runs against one bucket. Paths are full object keys.
/// Implementations do not retry: the retry policy lives in the client.
pub trait Store: Send + Sync + 'static {
    fn bucket(&self) -> &str;

    /// GetObject, latest or a given version; `None` when absent.
    fn get(
        &self,
        path: &str,
        version_id: Option<&str>,
    ) -> impl Future<Output = StoreResult<Option<Object>>> + Send;

    /// HeadObject of the latest version; `None` when absent.
    fn head(&self, path: &str) -> impl Future<Output = StoreResult<Option<Meta>>> + Send;

    /// Conditional PutObject.
    fn put(
        &self,
        path: &str,
        body: Vec<u8>,
        condition: Precondition,
    ) -> impl Future<Output = StoreResult<PutOutcome>> + Send;

    /// ListObjectVersions of exactly `path`, newest first, after `after`
    /// (a version id of `path`), at most `max`.
    fn list_versions(
        &self,
        path: &str,
        after: Option<&str>,
        max: u32,
    ) -> impl Future<Output = StoreResult<VersionPage>> + Send;

    /// ListObjectsV2 under `prefix`, after `start_after`, at most `max`.
    fn list_paths(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        continuation: Option<&str>,
        max: u32,
    ) -> impl Future<Output = StoreResult<KeyPage>> + Send;

    /// GetBucketVersioning: `Some(true)` when enabled, `None` when the
    /// answer is unavailable (for example not permitted).
    fn versioning_enabled(&self) -> impl Future<Output = StoreResult<Option<bool>>> + Send;
}
