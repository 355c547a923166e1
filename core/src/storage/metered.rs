//! A store wrapper that counts requests, failures and bytes into a
//! client's [`Stats`] (and the current call's meter), traces each request
//! with its status and duration, and runs each one as the client's
//! ([`Stats::requesting`]: a wait for credentials is known to the client).
//!
//! A request is counted when it is sent: one whose answer the client stops
//! waiting for (its future dropped) is counted all the same, and traced as
//! abandoned.

use super::{
    KeyPage, Latest, ListFrom, Meta, Object, Precondition, PutOutcome, Store, StoreResult,
    VersionPage,
};
use crate::bucket::{Encryption, ObjectLock, Retention, Versioning};
use crate::stats::{Request, Stats};
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

pub struct Metered<S> {
    inner: Arc<S>,
    stats: Arc<Stats>,
}

/// A request sent and not answered yet.
struct InFlight<'a> {
    operation: &'static str,
    path: &'a str,
    sent: Instant,
    answered: bool,
}

impl InFlight<'_> {
    fn duration_ms(&self) -> f64 {
        self.sent.elapsed().as_micros() as f64 / 1000.0
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.answered {
            tracing::trace!(target: "immukv::s3", operation = self.operation, path = self.path, duration_ms = self.duration_ms(), "request abandoned (its answer no longer awaited)");
        }
    }
}

/// An HTTP status in a log line: `-` when there is none (no answer).
struct Status(Option<u16>);

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(s) => write!(f, "{s}"),
            None => f.write_str("-"),
        }
    }
}

/// The status S3 answers a found or an absent object with.
fn found<T>(v: &Option<T>) -> Option<u16> {
    Some(if v.is_some() { 200 } else { 404 })
}

fn ok<T>(_: &T) -> Option<u16> {
    Some(200)
}

impl<S: Store> Metered<S> {
    pub fn new(inner: Arc<S>, stats: Arc<Stats>) -> Self {
        Metered { inner, stats }
    }

    pub fn inner(&self) -> &Arc<S> {
        &self.inner
    }

    fn send<'a>(&self, request: Request, path: &'a str) -> InFlight<'a> {
        self.send_as(request, request.operation(), path)
    }

    /// [`Metered::send`] of a request counted under a kind that covers more
    /// than one operation (the bucket's settings).
    fn send_as<'a>(
        &self,
        request: Request,
        operation: &'static str,
        path: &'a str,
    ) -> InFlight<'a> {
        self.stats.request(request);
        InFlight {
            operation,
            path,
            sent: Instant::now(),
            answered: false,
        }
    }

    fn answered<T>(
        &self,
        mut r: InFlight<'_>,
        out: StoreResult<T>,
        status: impl Fn(&T) -> Option<u16>,
    ) -> StoreResult<T> {
        r.answered = true;
        let duration_ms = r.duration_ms();
        match &out {
            Ok(v) => {
                tracing::trace!(target: "immukv::s3", operation = r.operation, path = r.path, status = %Status(status(v)), duration_ms, "request");
            }
            Err(e) => {
                self.stats.request_failed();
                tracing::debug!(target: "immukv::s3", operation = e.operation, path = r.path, status = %Status(e.status), duration_ms, error = %e.detail, transient = e.is_transient(), "request failed");
            }
        }
        out
    }
}

impl<S: Store> Store for Metered<S> {
    fn bucket(&self) -> &str {
        self.inner.bucket()
    }

    fn kms_key_id(&self) -> Option<&str> {
        self.inner.kms_key_id()
    }

    async fn get(&self, path: &str, version_id: Option<&str>) -> StoreResult<Option<Object>> {
        let r = self.send(Request::Get, path);
        let out = self
            .stats
            .requesting(self.inner.get(path, version_id))
            .await;
        if let Ok(Some(o)) = &out {
            self.stats.received(o.body.len());
        }
        self.answered(r, out, found)
    }

    async fn get_if_changed(&self, path: &str, etag: Option<&str>) -> StoreResult<Latest> {
        let r = self.send(Request::Get, path);
        let out = self
            .stats
            .requesting(self.inner.get_if_changed(path, etag))
            .await;
        if let Ok(Latest::Changed(o)) = &out {
            self.stats.received(o.body.len());
        }
        self.answered(r, out, |l| {
            Some(match l {
                Latest::Unchanged => 304,
                Latest::Absent => 404,
                Latest::Changed(_) => 200,
            })
        })
    }

    async fn head(&self, path: &str, version_id: Option<&str>) -> StoreResult<Option<Meta>> {
        let r = self.send(Request::Head, path);
        let out = self
            .stats
            .requesting(self.inner.head(path, version_id))
            .await;
        self.answered(r, out, found)
    }

    async fn put(
        &self,
        path: &str,
        body: Vec<u8>,
        condition: Precondition,
        retention: Option<Retention>,
    ) -> StoreResult<PutOutcome> {
        let r = self.send(Request::Put, path);
        self.stats.sent(body.len());
        let out = self
            .stats
            .requesting(self.inner.put(path, body, condition, retention))
            .await;
        self.answered(r, out, |o| match o {
            PutOutcome::Written(_) => Some(200),
            PutOutcome::PreconditionFailed => Some(412),
        })
    }

    async fn list_versions(
        &self,
        path: &str,
        from: &ListFrom,
        max: u32,
    ) -> StoreResult<VersionPage> {
        let r = self.send(Request::ListVersions, path);
        let out = self
            .stats
            .requesting(self.inner.list_versions(path, from, max))
            .await;
        self.answered(r, out, ok)
    }

    async fn list_paths(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        continuation: Option<&str>,
        max: u32,
    ) -> StoreResult<KeyPage> {
        let r = self.send(Request::ListPaths, prefix);
        let out = self
            .stats
            .requesting(
                self.inner
                    .list_paths(prefix, start_after, continuation, max),
            )
            .await;
        self.answered(r, out, ok)
    }

    async fn versioning(&self) -> StoreResult<Versioning> {
        let r = self.send(Request::Versioning, "");
        let out = self.stats.requesting(self.inner.versioning()).await;
        // Known only when the server said: a 403 or 501 reads as "unknown".
        self.answered(r, out, |v| match v {
            Versioning::Unknown(_) => None,
            _ => Some(200),
        })
    }

    async fn object_lock(&self) -> StoreResult<ObjectLock> {
        let r = self.send_as(Request::BucketConfig, "GetObjectLockConfiguration", "");
        let out = self.stats.requesting(self.inner.object_lock()).await;
        // "No configuration" (a 404) is an answer too: no status told.
        self.answered(r, out, |_| None)
    }

    async fn encryption(&self) -> StoreResult<Encryption> {
        let r = self.send_as(Request::BucketConfig, "GetBucketEncryption", "");
        let out = self.stats.requesting(self.inner.encryption()).await;
        self.answered(r, out, |_| None)
    }

    async fn retention(&self, path: &str, version_id: &str) -> StoreResult<Option<Retention>> {
        let r = self.send(Request::Retention, path);
        let out = self
            .stats
            .requesting(self.inner.retention(path, version_id))
            .await;
        self.answered(r, out, found)
    }

    async fn lifecycle(&self) -> StoreResult<crate::lifecycle::Lifecycle> {
        let r = self.send(Request::BucketConfig, "");
        let out = self.stats.requesting(self.inner.lifecycle()).await;
        // "No lifecycle configuration" (a 404) is an answer too: no status told.
        self.answered(r, out, |_| None)
    }
}
