//! `set`: the two-phase append of PROTOCOL.md, with two additions.
//!
//! **Exactly once.** The SDK does not retry (storage/s3.rs); we do, and we
//! remember every attempt whose log PUT may have been applied although it
//! failed (lost answer, timeout, 5xx). Before building another entry we look
//! at the log slot each such attempt aimed for (walking back from the head
//! by `previous_version_id`): if it holds our hash, that attempt committed
//! and `set` returns it instead of appending a duplicate. An attempt whose
//! slot holds another entry can never commit (its `If-Match` is stale).
//!
//! **Fast path.** A writer that wrote the current head itself knows, without
//! reading, everything steps 1-3 would fetch:
//! - Step 1 (GET log): skipped. We send the append with `If-Match` on the
//!   ETag of our own last append. S3 applies it only if nobody appended since,
//!   so a stale cache costs one 412 and a fallback to the full protocol,
//!   never a wrong link.
//! - Step 2 (pre-flight repair): skipped when our phase 2 wrote the head's key
//!   object (`clean`); otherwise we repair from the cached entry. Every older
//!   entry was repaired by whoever appended after it, so only the head can be
//!   an orphan.
//! - Step 3 (HEAD key object): skipped when we know the key object's ETag
//!   from our own phase-2 write *and* every append since was ours (the cache
//!   is dropped whenever anyone else's append is seen). Key objects change
//!   only through the head's phase 2 or repair, so the ETag is still current;
//!   if it were not, phase 2's `If-Match` would fail and leave an orphan for
//!   the next writer to repair, as in the base protocol.
//!
//! Steady state: 2 requests (known key) or 3 (HEAD of a new key). After a
//! fast-path 412 the fast path stays off until this client sees its own last
//! append as the head again, so alternating writers pay at most the base
//! protocol's 5 requests per attempt.

use super::{retry, validate, Client, Head, HeadCache};
use crate::error::{Error, ErrorCode, Result};
use crate::format::{Dialect, Entry};
use crate::storage::{Precondition, PutOutcome, Store};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Outcome of phase 2 or a repair.
pub(super) enum KeyWrite {
    /// We wrote it; the key object's new ETag.
    Written(String),
    /// 412/404: already repaired or superseded.
    Handled,
}

enum Attempt {
    Committed(Entry),
    Conflict,
}

/// What the fast path takes from the cache.
struct Cached {
    head: Head,
    clean: bool,
    key_etag: Option<String>,
}

impl<S: Store> Client<S> {
    /// Appends `key = value` to the log and updates the key object.
    pub async fn set(&self, key: &str, value: Value) -> Result<Entry> {
        self.check_open()?;
        self.check_key(key)?;
        validate::value(&value, self.opts.max_value_bytes)?;
        if self.opts.read_only {
            return Err(Error::new(
                ErrorCode::ReadOnly,
                "the client is read-only (readOnly: true); set is not allowed",
            ));
        }
        let deadline = self.deadline();
        let mut pending: Vec<Entry> = Vec::new();
        let mut retries = 0u32;
        let mut transient = 0u32;
        loop {
            let failure = match self.attempt(key, &value, &mut pending, deadline).await {
                Ok(Attempt::Committed(entry)) => return Ok(entry),
                Ok(Attempt::Conflict) => None,
                Err(e) if e.transient && transient + 1 < retry::TRANSIENT_ATTEMPTS => {
                    transient += 1;
                    Some(e)
                }
                Err(e) => {
                    return self
                        .give_up(e, &mut pending, deadline + self.opts.operation_timeout)
                        .await
                }
            };
            retries += 1;
            let delay = retry::backoff(retries);
            if Instant::now() + delay >= deadline {
                let e = failure.unwrap_or_else(|| {
                    Error::new(
                        ErrorCode::WriteConflict,
                        format!(
                            "set of {key:?}: other writers kept winning the append to s3://{}/{} for {} ms ({retries} attempts)",
                            self.store.bucket(),
                            self.log_path,
                            self.opts.operation_timeout.as_millis()
                        ),
                    )
                });
                return self
                    .give_up(e, &mut pending, deadline + self.opts.operation_timeout)
                    .await;
            }
            tokio::time::sleep(delay).await;
        }
    }

    /// When `set` gives up: one last look at the log settles whether an
    /// ambiguous attempt committed after all (then it is the answer).
    async fn give_up(
        &self,
        e: Error,
        pending: &mut Vec<Entry>,
        deadline: Instant,
    ) -> Result<Entry> {
        if pending.is_empty() {
            return Err(e.with_commit_state(false));
        }
        if let Ok(head) = self.read_head(deadline).await {
            if let Ok(Some(done)) = self.resolve_pending(pending, head.as_ref(), deadline).await {
                let _ = self.write_key_object(&done, deadline).await;
                return Ok(done);
            }
        }
        // Attempts whose log slot now holds another entry can never commit;
        // resolve_pending dropped them.
        let may_have_committed = !pending.is_empty();
        Err(e.with_commit_state(may_have_committed))
    }

    async fn attempt(
        &self,
        key: &str,
        value: &Value,
        pending: &mut Vec<Entry>,
        deadline: Instant,
    ) -> Result<Attempt> {
        let cached = if pending.is_empty() {
            self.cached_base(key)
        } else {
            None
        };
        let via_cache = cached.is_some();
        let (base, key_etag) = match cached {
            Some(c) => {
                let mut key_etag = c.key_etag;
                if !c.clean {
                    // Our own phase 2 failed last time: repair from memory.
                    if let KeyWrite::Written(etag) =
                        self.write_key_object(&c.head.entry, deadline).await?
                    {
                        if c.head.entry.key == key {
                            key_etag = Some(etag);
                        }
                    }
                }
                let key_etag = match key_etag {
                    Some(e) => Some(e),
                    None => self.key_etag(key, deadline).await?,
                };
                (Some(c.head), key_etag)
            }
            None => {
                let head = self.read_head(deadline).await?;
                self.note_head(head.as_ref());
                if let Some(done) = self
                    .resolve_pending(pending, head.as_ref(), deadline)
                    .await?
                {
                    self.forget_cache(false);
                    let _ = self.write_key_object(&done, deadline).await; // phase 2 of the committed attempt
                    return Ok(Attempt::Committed(done));
                }
                let known = match &head {
                    Some(h) => {
                        self.check_writable_head(h)?;
                        self.preflight_repair(h, key, deadline).await?
                    }
                    None => {
                        self.ensure_versioning().await?;
                        None
                    }
                };
                let key_etag = match known {
                    Some(k) => k,
                    None => self.key_etag(key, deadline).await?,
                };
                (head, key_etag)
            }
        };

        let mut entry = Entry::next(
            base.as_ref().map(|h| h.entry.as_ref()),
            key.to_string(),
            value.clone(),
            now_ms(),
            key_etag,
        )
        .map_err(|e| Error::new(ErrorCode::InvalidValue, e.0))?;
        let body = entry
            .log_object(Dialect::Js)
            .map_err(|e| Error::new(ErrorCode::InvalidValue, e.0))?;
        let condition = Precondition::expecting(base.as_ref().map(|h| h.etag.as_str()));
        match self
            .store
            .put(&self.log_path, body.into_bytes(), condition)
            .await
        {
            Ok(PutOutcome::Written(meta)) => {
                let Some(version) = meta.version_id.filter(|v| v != "null") else {
                    return Err(self.versioning_disabled());
                };
                entry.version_id = version;
                let phase2 = self.write_key_object(&entry, deadline).await;
                self.remember_append(
                    base.map(|h| h.etag),
                    via_cache,
                    &entry,
                    meta.etag,
                    phase2.ok(),
                );
                Ok(Attempt::Committed(entry))
            }
            Ok(PutOutcome::PreconditionFailed) => {
                self.forget_cache(via_cache);
                Ok(Attempt::Conflict)
            }
            Err(e) => {
                if e.maybe_applied {
                    pending.push(entry);
                }
                self.forget_cache(via_cache);
                Err(e.into())
            }
        }
    }

    /// Settles ambiguous attempts against the log as now read. Returns the
    /// attempt that committed, if one did; drops those that cannot.
    async fn resolve_pending(
        &self,
        pending: &mut Vec<Entry>,
        head: Option<&Head>,
        deadline: Instant,
    ) -> Result<Option<Entry>> {
        let Some(head) = head else { return Ok(None) };
        pending.sort_by_key(|e| std::cmp::Reverse(e.sequence));
        let mut cursor: Entry = (*head.entry).clone();
        let mut settled = Vec::new();
        for (i, attempt) in pending.iter().enumerate() {
            while cursor.sequence > attempt.sequence {
                let prev = cursor.previous_version_id.clone().ok_or_else(|| {
                    Error::corrupt(
                        self.store.bucket(),
                        &self.log_path,
                        Some(&cursor.version_id),
                        "entry after the first has no previous_version_id",
                    )
                })?;
                cursor = self
                    .read_log_version(&prev, deadline)
                    .await?
                    .ok_or_else(|| {
                        Error::corrupt(
                            self.store.bucket(),
                            &self.log_path,
                            Some(&prev),
                            "previous_version_id names a missing version",
                        )
                    })?;
            }
            if cursor.sequence == attempt.sequence {
                if cursor.hash == attempt.hash {
                    pending.clear();
                    return Ok(Some(cursor));
                }
                settled.push(i); // its slot holds another entry: it can never commit
            }
        }
        for i in settled.into_iter().rev() {
            pending.remove(i);
        }
        Ok(None)
    }

    /// Step 2 for a head read from the log. Returns the ETag of `key`'s
    /// object when this step learnt it (`Some(None)`: absent).
    async fn preflight_repair(
        &self,
        head: &Head,
        key: &str,
        deadline: Instant,
    ) -> Result<Option<Option<String>>> {
        if head.entry.key != key {
            // Blind conditional repair: one request whether or not the head is
            // an orphan (412 when it is not), which keeps the full protocol at
            // the base protocol's 5 requests. It runs alongside step 3: only
            // the head's key object can change while the head stands, so
            // `key`'s ETag does not depend on the repair. That takes a round
            // trip off the path between reading the head and appending,
            // which bounds throughput under contention.
            let (repair, etag) = tokio::join!(
                self.write_key_object(&head.entry, deadline),
                self.key_etag(key, deadline)
            );
            repair?;
            return Ok(Some(etag?));
        }
        // Same key: the HEAD we need anyway tells whether the head is an
        // orphan (its key object still has the ETag the entry recorded).
        let now = self.key_etag(key, deadline).await?;
        if now != head.entry.previous_key_object_etag {
            return Ok(Some(now));
        }
        match self.write_key_object(&head.entry, deadline).await? {
            KeyWrite::Written(etag) => Ok(Some(Some(etag))),
            KeyWrite::Handled => Ok(None), // someone repaired it meanwhile: HEAD again
        }
    }

    /// Phase 2, and repair: the key object of `entry`, conditional on the ETag
    /// the entry recorded. Written in the entry's own dialect so that an
    /// earlier client's entry keeps verifying.
    pub(super) async fn write_key_object(
        &self,
        entry: &Entry,
        deadline: Instant,
    ) -> Result<KeyWrite> {
        let dialect = entry.hash_dialect().unwrap_or(Dialect::Js);
        let body = entry
            .key_object(dialect)
            .map_err(|e| Error::new(ErrorCode::InvalidValue, e.0))?;
        let path = self.key_path(&entry.key);
        let condition = Precondition::expecting(entry.previous_key_object_etag.as_deref());
        let outcome = retry::idempotent(deadline, || {
            self.store
                .put(&path, body.clone().into_bytes(), condition.clone())
        })
        .await;
        match outcome {
            Ok(PutOutcome::Written(meta)) => Ok(KeyWrite::Written(meta.etag)),
            Ok(PutOutcome::PreconditionFailed) => Ok(KeyWrite::Handled),
            Err(e) => {
                if e.kind == crate::storage::StoreErrorKind::AccessDenied {
                    self.state().repairs_refused = true;
                }
                Err(e.into())
            }
        }
    }

    async fn key_etag(&self, key: &str, deadline: Instant) -> Result<Option<String>> {
        let path = self.key_path(key);
        Ok(retry::idempotent(deadline, || self.store.head(&path))
            .await?
            .map(|m| m.etag))
    }

    /// We never extend a log whose head fails its hash check or lives in an
    /// unversioned bucket.
    fn check_writable_head(&self, head: &Head) -> Result<()> {
        if head.entry.version_id == "null" {
            return Err(self.versioning_disabled());
        }
        if head.entry.hash_dialect().is_none() {
            return Err(Error::corrupt(
                self.store.bucket(),
                &self.log_path,
                Some(&head.entry.version_id),
                "the log head fails its hash check; refusing to extend a tampered chain (run verifyLog)",
            ));
        }
        Ok(())
    }

    /// Before the first append of a new log: refuse an unversioned bucket
    /// before writing anything to it.
    async fn ensure_versioning(&self) -> Result<()> {
        if self.state().versioning_checked {
            return Ok(());
        }
        if self.store.versioning_enabled().await? == Some(false) {
            return Err(self.versioning_disabled());
        }
        self.state().versioning_checked = true;
        Ok(())
    }

    fn versioning_disabled(&self) -> Error {
        Error {
            bucket: Some(self.store.bucket().to_string()),
            ..Error::new(
                ErrorCode::VersioningDisabled,
                format!(
                    "bucket {} does not have versioning enabled; ImmuKV keeps every entry as an object version. \
                     Enable it with: aws s3api put-bucket-versioning --bucket {} --versioning-configuration Status=Enabled",
                    self.store.bucket(),
                    self.store.bucket()
                ),
            )
        }
    }

    fn cached_base(&self, key: &str) -> Option<Cached> {
        let st = self.state();
        if st.fast_path_off {
            return None;
        }
        let c = st.cache.as_ref()?;
        Some(Cached {
            head: c.head.clone(),
            clean: c.clean,
            key_etag: c.key_etags.get(key).cloned(),
        })
    }

    fn forget_cache(&self, fast_path_missed: bool) {
        let mut st = self.state();
        st.cache = None;
        if fast_path_missed {
            st.fast_path_off = true;
        }
    }

    /// Records our own append as the new cached head.
    fn remember_append(
        &self,
        base_etag: Option<String>,
        via_cache: bool,
        entry: &Entry,
        log_etag: String,
        phase2: Option<KeyWrite>,
    ) {
        let mut st = self.state();
        let mut key_etags = match st.cache.take() {
            // Still valid only if nothing but our own appends happened since.
            Some(c) if via_cache && Some(&c.head.etag) == base_etag.as_ref() => c.key_etags,
            _ => Default::default(),
        };
        match &phase2 {
            Some(KeyWrite::Written(etag)) => key_etags.insert(entry.key.clone(), etag.clone()),
            _ => key_etags.remove(&entry.key),
        };
        if key_etags.len() > 10_000 {
            key_etags.clear(); // bound memory; costs a HEAD per key afterwards
        }
        st.last_own_head = Some(log_etag.clone());
        st.cache = Some(HeadCache {
            head: Head {
                etag: log_etag,
                entry: Arc::new(entry.clone()),
            },
            clean: phase2.is_some(),
            key_etags,
        });
    }

    /// Called when a full read finds `head`: our own last append still being
    /// the head means nobody else is writing, so the fast path pays again.
    fn note_head(&self, head: Option<&Head>) {
        let mut st = self.state();
        if st.fast_path_off && head.is_some_and(|h| st.last_own_head.as_ref() == Some(&h.etag)) {
            st.fast_path_off = false;
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(1)
        .max(1)
}
