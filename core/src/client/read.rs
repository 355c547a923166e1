//! Reads, and the reader side of repair.

use super::{retry, validate, Client};
use crate::error::{Error, ErrorCode, Result};
use crate::format::Entry;
use crate::storage::{Store, StoreErrorKind};
use futures_util::{stream, StreamExt, TryStreamExt};
use std::sync::Arc;
use std::time::Instant;

impl<S: Store> Client<S> {
    /// The latest entry of `key`.
    pub async fn get(&self, key: &str) -> Result<Entry> {
        self.check_open()?;
        self.check_key(key)?;
        let deadline = self.deadline();
        // The repair check (when due) and the read overlap; whichever knows
        // the newer entry for this key answers.
        let path = self.key_path(key);
        let (orphan, object) = tokio::join!(self.repair_check(deadline), async {
            retry::idempotent(deadline, || self.store.get(&path, None)).await
        });
        let orphan = orphan.filter(|o| o.key == key);
        let stored = object?
            .map(|o| {
                Entry::from_key_object(&o.body)
                    .map_err(|e| Error::corrupt(self.store.bucket(), &path, None, &e.0))
            })
            .transpose()?;
        match (stored, orphan) {
            (Some(s), Some(o)) if o.sequence > s.sequence => Ok((*o).clone()),
            (Some(s), _) => Ok(s),
            (None, Some(o)) => Ok((*o).clone()),
            (None, None) => Err(Error {
                path: Some(path),
                ..Error::new(ErrorCode::KeyNotFound, format!("key {key:?} not found"))
            }),
        }
    }

    /// One log entry by its S3 version id.
    pub async fn get_log_version(&self, version_id: &str) -> Result<Entry> {
        self.check_open()?;
        validate::version_id("versionId", Some(version_id))?;
        self.read_log_version(version_id, self.deadline())
            .await?
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::VersionNotFound,
                    format!(
                        "log version {version_id:?} not found in s3://{}/{}",
                        self.store.bucket(),
                        self.log_path
                    ),
                )
            })
    }

    /// Entries of `key`, newest first, from before the key-object version
    /// `before`. The second item is the oldest key-object version id
    /// returned, to pass as `before` for the next page.
    pub async fn history(
        &self,
        key: &str,
        before: Option<&str>,
        limit: Option<u32>,
    ) -> Result<(Vec<Entry>, Option<String>)> {
        self.check_open()?;
        self.check_key(key)?;
        validate::limit(limit)?;
        validate::version_id("beforeVersionId", before)?;
        let deadline = self.deadline();
        let orphan = self.repair_check(deadline).await.filter(|o| o.key == key);
        let path = self.key_path(key);
        let mut entries = Vec::new();
        if let (None, Some(o)) = (before, &orphan) {
            entries.push((**o).clone()); // served from the log: its key object is not written (yet)
        }
        let want = limit.map(|l| l as usize);
        let versions = self
            .list_versions(
                &path,
                before,
                want.map(|w| w - entries.len().min(w)),
                deadline,
            )
            .await?;
        let fetched: Vec<Entry> = self
            .fetch_all(
                &versions,
                deadline,
                |obj_body, _| Entry::from_key_object(obj_body),
                &path,
            )
            .await?;
        if let (Some(first), Some(o)) = (fetched.first(), entries.first()) {
            if first.sequence >= o.sequence {
                entries.clear(); // repaired meanwhile: the key object has it
            }
        }
        entries.extend(fetched);
        if let Some(w) = want {
            entries.truncate(w);
        }
        let oldest = versions.last().cloned();
        Ok((entries, oldest))
    }

    /// Log entries, newest first, from before the log version `before`.
    pub async fn log_entries(
        &self,
        before: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Vec<Entry>> {
        self.check_open()?;
        validate::limit(limit)?;
        validate::version_id("beforeVersionId", before)?;
        let deadline = self.deadline();
        let log_path = self.log_path.clone();
        let versions = self
            .list_versions(&log_path, before, limit.map(|l| l as usize), deadline)
            .await?;
        self.fetch_all(&versions, deadline, Entry::from_log_object, &log_path)
            .await
    }

    /// Keys in S3 order (UTF-8 bytes of `keys/{key}.json`), after `after`.
    pub async fn list_keys(&self, after: Option<&str>, limit: Option<u32>) -> Result<Vec<String>> {
        self.list_keys_with_prefix("", after, limit).await
    }

    pub async fn list_keys_with_prefix(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Vec<String>> {
        self.check_open()?;
        validate::limit(limit)?;
        let deadline = self.deadline();
        let orphan = self.repair_check(deadline).await;
        let keys_prefix = self.keys_prefix();
        let list_prefix = format!("{keys_prefix}{prefix}");
        let start_after = after.map(|k| self.key_path(k));
        let want = limit.map(|l| l as usize).unwrap_or(usize::MAX);
        let mut keys = Vec::new();
        let mut continuation: Option<String> = None;
        loop {
            let max = self
                .opts
                .list_page_size
                .min(want.saturating_sub(keys.len()).min(1000) as u32)
                .max(1);
            let page = retry::idempotent(deadline, || {
                self.store.list_paths(
                    &list_prefix,
                    start_after.as_deref(),
                    continuation.as_deref(),
                    max,
                )
            })
            .await?;
            keys.extend(
                page.paths
                    .iter()
                    .filter_map(|p| p.strip_prefix(&keys_prefix)?.strip_suffix(".json"))
                    .map(str::to_string),
            );
            continuation = page.continuation;
            if continuation.is_none() || keys.len() >= want {
                break;
            }
        }
        // A read-only client serves an orphan head whose key object may not
        // exist yet: list its key too, in S3 order.
        if let Some(o) = orphan.filter(|o| o.key.starts_with(prefix)) {
            let path = self.key_path(&o.key);
            let beyond_page =
                keys.len() >= want && keys.last().is_some_and(|k| self.key_path(k) < path);
            if start_after.as_ref().is_none_or(|a| *a < path)
                && !keys.contains(&o.key)
                && !beyond_page
            {
                let at = keys.partition_point(|k| self.key_path(k) < path);
                keys.insert(at, o.key.clone());
            }
        }
        keys.truncate(want);
        Ok(keys)
    }

    /// Version ids of `path`, newest first, after `before`, at most `limit`.
    pub(super) async fn list_versions(
        &self,
        path: &str,
        before: Option<&str>,
        limit: Option<usize>,
        deadline: Instant,
    ) -> Result<Vec<String>> {
        let want = limit.unwrap_or(usize::MAX);
        let mut ids: Vec<String> = Vec::new();
        let mut after = before.map(str::to_string);
        while ids.len() < want {
            let max = (want - ids.len()).min(self.opts.list_page_size as usize) as u32;
            let page = retry::idempotent(deadline, || {
                self.store.list_versions(path, after.as_deref(), max)
            })
            .await?;
            ids.extend(page.version_ids);
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        ids.truncate(want);
        Ok(ids)
    }

    /// GETs the given versions of `path` with at most `read_concurrency` in
    /// flight, keeping their order.
    pub(super) async fn fetch_all<T, P>(
        &self,
        versions: &[String],
        deadline: Instant,
        parse: P,
        path: &str,
    ) -> Result<Vec<T>>
    where
        T: Send,
        P: Fn(&[u8], &str) -> std::result::Result<T, crate::format::ParseError> + Sync,
    {
        let parse = &parse;
        // Owned items: a closure over borrowed ones makes the future's
        // lifetimes too general for it to be Send.
        stream::iter(versions.to_vec())
            .map(|v: String| async move {
                let obj = retry::idempotent(deadline, || self.store.get(path, Some(&v))).await?;
                let vanished = "listed version vanished (deleted while reading?)";
                let obj = obj
                    .ok_or_else(|| Error::corrupt(self.store.bucket(), path, Some(&v), vanished))?;
                parse(&obj.body, &v)
                    .map_err(|e| Error::corrupt(self.store.bucket(), path, Some(&v), &e.0))
            })
            .buffered(self.opts.read_concurrency)
            .try_collect()
            .await
    }

    /// The reader side of repair, at most once per interval. Returns the head
    /// entry if it was an orphan when checked (repaired now, or not: then it
    /// is also kept as `orphan` to be served until the next check). Never
    /// fails the read it serves: a check that fails is retried at the next.
    pub(super) async fn repair_check(&self, deadline: Instant) -> Option<Arc<Entry>> {
        {
            let mut st = self.state();
            let due = st
                .last_repair_check
                .is_none_or(|t| t.elapsed() >= self.opts.repair_check_interval);
            if !due {
                return st.orphan.clone();
            }
            st.last_repair_check = Some(Instant::now());
        }
        let orphan = match self.find_orphan(deadline).await {
            Ok(Some(o)) => o,
            Ok(None) => {
                self.state().orphan = None;
                return None;
            }
            Err(_) => {
                let mut st = self.state();
                st.last_repair_check = None;
                return st.orphan.clone();
            }
        };
        let may_repair = !self.opts.read_only && !self.state().repairs_refused;
        let repaired = may_repair
            && match self.write_key_object(&orphan, deadline).await {
                Ok(_) => true,
                Err(e) => {
                    if e.code != ErrorCode::AccessDenied {
                        self.state().last_repair_check = None; // 403 made us read-only; others: retry
                    }
                    false
                }
            };
        self.state().orphan = if repaired { None } else { Some(orphan.clone()) };
        Some(orphan)
    }

    /// The head entry if its key object was never written: the key object
    /// still has the ETag the entry recorded (or is still absent).
    async fn find_orphan(&self, deadline: Instant) -> Result<Option<Arc<Entry>>> {
        let Some(head) = self.read_head(deadline).await? else {
            return Ok(None);
        };
        let path = self.key_path(&head.entry.key);
        let now = match retry::idempotent(deadline, || self.store.head(&path)).await {
            Ok(meta) => meta.map(|m| m.etag),
            Err(e) if e.kind == StoreErrorKind::AccessDenied => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok((now == head.entry.previous_key_object_etag).then_some(head.entry))
    }
}
