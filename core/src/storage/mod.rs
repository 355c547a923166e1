//! Object-store access: the few S3 operations the protocol needs, with
//! answers already sorted into the cases the protocol distinguishes.
//!
//! [`s3::S3Store`] is the real one; [`memory::MemoryStore`] keeps a
//! versioned bucket in memory (tests and local development); [`metered`]
//! counts what either does.

pub mod memory;
pub mod metered;
pub mod s3;

use crate::bucket::{Encryption, ObjectLock, Retention, Versioning};
use crate::lifecycle::Lifecycle;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

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

/// What a conditional GET of an object's latest version found.
#[derive(Clone, Debug)]
pub enum Latest {
    /// Its ETag is still the one given (HTTP 304): nothing was sent.
    Unchanged,
    /// No such object (or its latest version is a delete marker).
    Absent,
    Changed(Object),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PutOutcome {
    Written(Meta),
    /// The condition did not hold: 412, or 404 for `If-Match` on a missing
    /// object (AWS), or 409 for a concurrent conditional write (AWS). None of
    /// them applied the write.
    PreconditionFailed,
}

/// Where a listing of versions starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListFrom {
    /// The newest version.
    Newest,
    /// Just after (older than) this version id of the listed object.
    After(String),
    /// Where the previous page ended (opaque).
    Cursor(PageCursor),
}

/// Continuation of a version listing, as the server gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageCursor {
    pub key_marker: String,
    pub version_id_marker: String,
}

/// One page of the versions of a single object, newest first. Only versions
/// of exactly that object: a listing by prefix also returns longer names
/// (`_log.json.bak`), which are skipped here.
#[derive(Clone, Debug, Default)]
pub struct VersionPage {
    pub version_ids: Vec<String>,
    /// When each of `version_ids` was written, by the server's clock
    /// (LastModified, epoch milliseconds), when the server says: what a
    /// writer cannot choose, unlike an entry's timestamp.
    pub last_modified_ms: Vec<Option<u64>>,
    /// A delete marker that is the object's latest version, if this page
    /// shows one: the object then reads as absent although it has versions.
    pub latest_delete_marker: Option<String>,
    /// Where to continue; `None` when the listing is complete.
    pub next: Option<PageCursor>,
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
    /// Credentials could not be had (provider failed, none found, invalid).
    Credentials,
    /// 400-class answer that retrying will not change.
    BadRequest,
    /// 429/503 SlowDown, 5xx, timeouts, connection failures: worth retrying.
    Transient,
    /// An answer that is not S3's (a 404 without an S3 error code, say):
    /// the endpoint is probably not an S3 server.
    NotS3,
    /// A stored object larger than any entry a client writes (not read).
    TooLarge,
    /// A stored object whose state prevents reading it (archived, or
    /// encrypted with a customer key).
    Unreadable,
    /// Anything else (the request could not even be built, an unexpected
    /// answer).
    Other,
}

/// The underlying error a store failure came from (the SDK's, with its own
/// sources), shareable so that errors can be cloned.
pub type Cause = Arc<dyn std::error::Error + Send + Sync>;

/// A failed store request, with the context a user needs to act on it.
#[derive(Clone)]
pub struct StoreError {
    pub kind: StoreErrorKind,
    /// S3 operation name, e.g. `PutObject`.
    pub operation: &'static str,
    pub bucket: String,
    pub path: String,
    pub status: Option<u16>,
    /// What went wrong, one line, secrets removed.
    pub detail: String,
    /// The error it came from; its text is redacted the same way.
    pub cause: Option<Cause>,
    /// The request may have been applied although it failed (lost answer,
    /// timeout, 5xx). Only PUTs care.
    pub maybe_applied: bool,
}

impl StoreError {
    pub fn is_transient(&self) -> bool {
        self.kind == StoreErrorKind::Transient
    }

    /// A 403 that refuses the credentials themselves (an unknown access
    /// key, a wrong secret, an invalid token), whatever the request: it says
    /// nothing about what these credentials may do. Still `AccessDenied`
    /// for callers (the code users see), but the doctor must not read it as
    /// "this action is not permitted".
    pub fn credentials_rejected(&self) -> bool {
        self.kind == StoreErrorKind::AccessDenied
            && s3::errors::REJECTED_CREDENTIALS
                .iter()
                .any(|code| self.detail.starts_with(&format!("HTTP 403 {code}:")))
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} s3://{}/{} failed: {}",
            self.operation, self.bucket, self.path, self.detail
        )
    }
}

impl fmt::Debug for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreError")
            .field("kind", &self.kind)
            .field("operation", &self.operation)
            .field("bucket", &self.bucket)
            .field("path", &self.path)
            .field("status", &self.status)
            .field("detail", &self.detail)
            .field("maybe_applied", &self.maybe_applied)
            .finish()
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause.as_deref().map(|c| c as _)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The operations ImmuKV runs against one bucket. Paths are full object keys.
/// Implementations do not retry: the retry policy lives in the client.
pub trait Store: Send + Sync + 'static {
    fn bucket(&self) -> &str;

    /// The KMS key every PUT asks SSE-KMS to use, when there is one.
    fn kms_key_id(&self) -> Option<&str> {
        None
    }

    /// GetObject, latest or a given version; `None` only when the store says
    /// there is no such object or version (S3's NoSuchKey/NoSuchVersion).
    fn get(
        &self,
        path: &str,
        version_id: Option<&str>,
    ) -> impl Future<Output = StoreResult<Option<Object>>> + Send;

    /// GetObject of the latest version with `If-None-Match: <etag>` (a plain
    /// GET without an ETag): following an object costs one request and no
    /// body while it does not change.
    fn get_if_changed(
        &self,
        path: &str,
        etag: Option<&str>,
    ) -> impl Future<Output = StoreResult<Latest>> + Send;

    /// HeadObject, latest or a given version; `None` when absent.
    fn head(
        &self,
        path: &str,
        version_id: Option<&str>,
    ) -> impl Future<Output = StoreResult<Option<Meta>>> + Send;

    /// Conditional PutObject, locked until `retention`'s date when given
    /// (a bucket without Object Lock refuses it).
    fn put(
        &self,
        path: &str,
        body: Vec<u8>,
        condition: Precondition,
        retention: Option<Retention>,
    ) -> impl Future<Output = StoreResult<PutOutcome>> + Send;

    /// One page of ListObjectVersions of exactly `path`, newest first, at
    /// most `max` entries listed (of any name: the page may hold fewer
    /// versions of `path`).
    fn list_versions(
        &self,
        path: &str,
        from: &ListFrom,
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

    /// GetBucketVersioning, or why it could not be read (not permitted,
    /// not implemented by the server).
    fn versioning(&self) -> impl Future<Output = StoreResult<Versioning>> + Send;

    /// GetObjectLockConfiguration: whether the bucket has Object Lock, and
    /// its default retention rule; or why it could not be read.
    fn object_lock(&self) -> impl Future<Output = StoreResult<ObjectLock>> + Send;

    /// GetBucketEncryption: the bucket's default encryption, or why it could
    /// not be read.
    fn encryption(&self) -> impl Future<Output = StoreResult<Encryption>> + Send;

    /// GetObjectRetention of one version: `None` when it has none (also in a
    /// bucket without Object Lock, and for a version that is gone).
    fn retention(
        &self,
        path: &str,
        version_id: &str,
    ) -> impl Future<Output = StoreResult<Option<Retention>>> + Send;

    /// GetBucketLifecycleConfiguration: the rules (none when the bucket has
    /// no configuration), or why they could not be read (not permitted, not
    /// implemented by the server).
    fn lifecycle(&self) -> impl Future<Output = StoreResult<Lifecycle>> + Send;
}
