//! A store wrapper that counts requests, failures and bytes into a
//! client's [`Stats`], and traces each request.

use super::{
    KeyPage, ListFrom, Meta, Object, Precondition, PutOutcome, Store, StoreResult, VersionPage,
};
use crate::stats::{Request, Stats};
use std::sync::Arc;

pub struct Metered<S> {
    inner: Arc<S>,
    stats: Arc<Stats>,
}

impl<S: Store> Metered<S> {
    pub fn new(inner: Arc<S>, stats: Arc<Stats>) -> Self {
        Metered { inner, stats }
    }

    pub fn inner(&self) -> &Arc<S> {
        &self.inner
    }

    fn counted<T>(&self, r: Request, path: &str, out: StoreResult<T>) -> StoreResult<T> {
        self.stats.request(r);
        if let Err(e) = &out {
            self.stats.request_failed();
            tracing::debug!(target: "immukv::s3", operation = e.operation, path, error = %e.detail, transient = e.is_transient(), "request failed");
        } else {
            tracing::trace!(target: "immukv::s3", request = ?r, path, "request done");
        }
        out
    }
}

impl<S: Store> Store for Metered<S> {
    fn bucket(&self) -> &str {
        self.inner.bucket()
    }

    async fn get(&self, path: &str, version_id: Option<&str>) -> StoreResult<Option<Object>> {
        let out = self.inner.get(path, version_id).await;
        if let Ok(Some(o)) = &out {
            self.stats.received(o.body.len());
        }
        self.counted(Request::Get, path, out)
    }

    async fn head(&self, path: &str, version_id: Option<&str>) -> StoreResult<Option<Meta>> {
        let out = self.inner.head(path, version_id).await;
        self.counted(Request::Head, path, out)
    }

    async fn put(
        &self,
        path: &str,
        body: Vec<u8>,
        condition: Precondition,
    ) -> StoreResult<PutOutcome> {
        self.stats.sent(body.len());
        let out = self.inner.put(path, body, condition).await;
        self.counted(Request::Put, path, out)
    }

    async fn list_versions(
        &self,
        path: &str,
        from: &ListFrom,
        max: u32,
    ) -> StoreResult<VersionPage> {
        let out = self.inner.list_versions(path, from, max).await;
        self.counted(Request::ListVersions, path, out)
    }

    async fn list_paths(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        continuation: Option<&str>,
        max: u32,
    ) -> StoreResult<KeyPage> {
        let out = self
            .inner
            .list_paths(prefix, start_after, continuation, max)
            .await;
        self.counted(Request::ListPaths, prefix, out)
    }

    async fn versioning_enabled(&self) -> StoreResult<Option<bool>> {
        let out = self.inner.versioning_enabled().await;
        self.counted(Request::Versioning, "", out)
    }

    async fn lifecycle(&self) -> StoreResult<crate::lifecycle::Lifecycle> {
        let out = self.inner.lifecycle().await;
        self.counted(Request::BucketConfig, "", out)
    }
}
