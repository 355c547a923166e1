//! Orphans: log entries whose key object was not written (the writer failed
//! or died between its two PUTs). Only the head can be one: every writer
//! writes its key object before the next append, and repairs the head it
//! appends after. Repair writes the key object built from the log entry,
//! conditional on the ETag the entry recorded: every repairer writes the
//! same bytes, so a 412 means "already repaired or superseded".
//!
//! A repair that can never succeed (a key no common server stores, or a
//! refusal that retrying will not change) is reported, counted and passed
//! over: one bad entry must not stop the log from growing.

use super::retry::{self, Look};
use super::{Head, Inner, LogHead};
use crate::error::{Error, ErrorCode, Result};
use crate::format::{Dialect, Entry};
use crate::stats::Event;
use crate::storage::{Precondition, PutOutcome, Store, StoreErrorKind};
use std::sync::Arc;
use std::time::Duration;

/// Writes over what a key object holds, after a failed condition, at most
/// this many times before the write fails (transiently): each one means the
/// object changed again between the look and the write.
const KEY_WRITE_LOOKS: usize = 4;

/// What a key object holds when a write to it failed its condition.
enum KeyObjectNow {
    /// The entry being written, or a later entry of the same key.
    Holds,
    /// Something else: nothing (`None`, deleted), an older entry, or an
    /// object that is not an entry of this key; its ETag.
    Replaced(Option<String>),
}

/// Outcome of writing a key object (phase 2, or a repair).
#[derive(Debug)]
pub(super) enum KeyWrite {
    /// We wrote it; the key object's new ETag.
    Written(String),
    /// The condition failed, and the object holds this entry (someone wrote
    /// it already) or a later entry of the key (which superseded it).
    AlreadyWritten,
    /// It can never be written (reported and counted).
    Unwritable,
}

impl<S: Store> Inner<S> {
    /// Writes the key object of `entry`, conditional on the ETag the entry
    /// recorded, in the entry's own dialect (a repaired Python entry keeps
    /// its number text and still verifies).
    ///
    /// A failed condition is decided by looking at the object, never
    /// assumed to mean "already written": it does when a repairer wrote this
    /// entry's key object first, or when a later entry of the key superseded
    /// it, but the object may also have been deleted (a delete marker: S3
    /// answers If-Match with 404, SeaweedFS with 412) or replaced by hand.
    /// Taking that for success loses an acknowledged entry from its key's
    /// history for good (no reader repairs an entry below the head). So the
    /// object is read: this entry, or a later one of the key, decides the
    /// write; anything else (absent, an older entry, not an entry) is
    /// written over, conditional on what was seen, so that a concurrent
    /// writer of a later entry still wins.
    pub(super) async fn write_key_object(
        &self,
        entry: &Entry,
        deadline: Duration,
    ) -> Result<KeyWrite> {
        if let Err(e) = self.layout.check_key(&entry.key) {
            return Ok(self.unwritable(entry, &e.0));
        }
        let dialect = entry.hash_dialect().unwrap_or(Dialect::Js);
        let body = match entry.key_object(dialect) {
            Ok(b) => b,
            Err(e) => return Ok(self.unwritable(entry, &e.0)),
        };
        self.ensure_object_lock(deadline).await?;
        let path = self.layout.key_path(&entry.key);
        let mut expected = entry.previous_key_object_etag.clone();
        for _ in 0..KEY_WRITE_LOOKS {
            let condition = Precondition::expecting(expected.as_deref());
            let put = retry::idempotent(self, deadline, || {
                let retention = self.write_retention();
                self.store.put(
                    &path,
                    body.clone().into_bytes(),
                    condition.clone(),
                    retention,
                )
            });
            let outcome = self
                .unless_moved_on(put, &path, expected.as_deref(), body.len())
                .await;
            match outcome {
                Ok(PutOutcome::Written(meta)) => return Ok(KeyWrite::Written(meta.etag)),
                Ok(PutOutcome::PreconditionFailed) => {}
                Err(e) => {
                    if e.kind == StoreErrorKind::AccessDenied {
                        self.state().repairs_refused = true;
                    }
                    return Err(e.into());
                }
            }
            match self.key_object_now(entry, &path, deadline).await? {
                KeyObjectNow::Holds => return Ok(KeyWrite::AlreadyWritten),
                KeyObjectNow::Replaced(etag) => {
                    tracing::warn!(target: "immukv::repair", key = %entry.key, sequence = entry.sequence, found = if etag.is_some() { "another object" } else { "no object (deleted?)" }, "a key-object write found neither this entry nor a later one; writing it over what is there");
                    expected = etag;
                }
            }
        }
        Err(Error {
            bucket: Some(self.bucket().to_string()),
            path: Some(path.clone()),
            transient: true,
            ..Error::new(
                ErrorCode::Storage,
                format!(
                    "the key object s3://{}/{path} kept changing while sequence {} was written to it",
                    self.bucket(),
                    entry.sequence
                ),
            )
        })
    }

    /// After a key-object write's condition failed: what the object holds
    /// now. Read with a GET, since only the entry inside tells whether the
    /// write is done.
    async fn key_object_now(
        &self,
        entry: &Entry,
        path: &str,
        deadline: Duration,
    ) -> Result<KeyObjectNow> {
        let got = retry::idempotent(self, deadline, || self.store.get(path, None)).await?;
        let Some(obj) = got else {
            return Ok(KeyObjectNow::Replaced(None));
        };
        let holds = Entry::from_key_object(&obj.body).is_ok_and(|k| {
            k.key == entry.key && (k.version_id == entry.version_id || k.sequence > entry.sequence)
        });
        Ok(if holds {
            KeyObjectNow::Holds
        } else {
            KeyObjectNow::Replaced(Some(obj.etag.unwrap_or_default()))
        })
    }

    /// Waits for a key-object PUT conditional on `expected`; while it goes
    /// unanswered (retry::before_look), a HEAD looks whether the object now
    /// has an ETag other than `expected`. Then the PUT's condition can never
    /// hold again (a key object's ETag never comes back: each holds a
    /// different entry), and the write is decided without its answer, as a
    /// failed condition: the object holds this entry, written by a repairer
    /// (or by this PUT, its answer still on the way), or a later one. This
    /// matters when a writer and a repairer write the same key object at
    /// once: some servers hold the loser's PUT for a second (SeaweedFS),
    /// which stalled the writer's pipeline or the repairer's append. An
    /// absent object decides nothing here (the PUT's own answer does).
    async fn unless_moved_on(
        &self,
        put: impl std::future::Future<Output = crate::storage::StoreResult<PutOutcome>>,
        path: &str,
        expected: Option<&str>,
        body_len: usize,
    ) -> crate::storage::StoreResult<PutOutcome> {
        // A key-object write rarely loses (only to a repairer), unlike a
        // contended append: its first look comes one step later, so that an
        // answer merely slow costs no HEAD.
        retry::answer_or_look(self, put, body_len, 1, || async move {
            match self.store.head(path, None).await {
                Ok(Some(now)) if !now.etag.is_empty() && Some(now.etag.as_str()) != expected => {
                    tracing::debug!(target: "immukv::repair", path, "a key-object write is decided (the object has moved past the ETag its condition expects); not waiting for its answer");
                    Look::Decided(Ok(PutOutcome::PreconditionFailed))
                }
                // A HEAD refused for good (403, say): only the PUT can tell.
                Err(e) if !e.is_transient() => Look::Stop,
                _ => Look::Again, // unmoved (ours may still land), or no answer
            }
        })
        .await
    }

    fn unwritable(&self, entry: &Entry, why: &str) -> KeyWrite {
        self.stats.event(Event::RepairFailed);
        tracing::warn!(target: "immukv::repair", sequence = entry.sequence, version_id = %entry.version_id, key = %entry.key, reason = why, "the key object of this log entry cannot be written; the log goes on without it (verifyLog reports it as key_object_mismatch)");
        KeyWrite::Unwritable
    }

    /// Repairs a head read from the log before appending after it. Errors
    /// that retrying cannot cure are reported and passed over; a 403 means
    /// this client cannot write at all; transient failures fail the call.
    pub(super) async fn repair_before_append(
        &self,
        head: &Entry,
        deadline: Duration,
    ) -> Result<KeyWrite> {
        match self.write_key_object(head, deadline).await {
            Ok(KeyWrite::Written(etag)) => {
                self.stats.event(Event::Repair);
                tracing::info!(target: "immukv::repair", sequence = head.sequence, key = %head.key, "repaired the orphan log head");
                Ok(KeyWrite::Written(etag))
            }
            Ok(other) => Ok(other),
            Err(e) if e.code == ErrorCode::AccessDenied || e.transient => Err(e),
            Err(e) => Ok(self.unwritable(head, &e.message)),
        }
    }

    /// The reader side of repair, at most once per interval. Returns the
    /// orphans found when checked: the head, and below a pipelined head its
    /// window's (window.rs), each repaired now or, when it cannot be, kept in
    /// `orphans` and served until the next check. Never fails the read it
    /// serves: a check that fails is tried again at the next read.
    pub(super) async fn repair_check(&self, deadline: Duration) -> Vec<Arc<Entry>> {
        {
            let mut st = self.state();
            let now = self.now();
            let due = st
                .last_repair_check
                .is_none_or(|t| now.saturating_sub(t) >= self.opts.repair_check_interval);
            if !due {
                return st.orphans.clone();
            }
            st.last_repair_check = Some(now);
        }
        let found = match self.find_orphans(deadline).await {
            Ok(found) => found,
            Err(e) => {
                // Only a failure that may pass is tried again at the next
                // read; anything else waits for the next interval.
                let mut st = self.state();
                if e.transient {
                    st.last_repair_check = None;
                }
                return st.orphans.clone();
            }
        };
        let mut kept = Vec::new();
        for orphan in &found {
            let may_repair = !self.opts.read_only && !self.state().repairs_refused;
            let repaired = may_repair
                && match self.write_key_object(orphan, deadline).await {
                    Ok(KeyWrite::Written(_)) => {
                        self.stats.event(Event::Repair);
                        true
                    }
                    Ok(KeyWrite::AlreadyWritten) => true,
                    Ok(KeyWrite::Unwritable) => false,
                    Err(e) => {
                        if e.transient {
                            self.state().last_repair_check = None; // may pass: retry at the next read
                        }
                        false
                    }
                };
            if !repaired {
                kept.push(orphan.clone());
            }
        }
        self.state().orphans = kept;
        found
    }

    /// The orphans of the log: the head if its key object was never written
    /// (the key object still has the ETag the entry recorded, or is still
    /// absent), and, when the head carries a pipeline mark, the orphans among
    /// the newest entries it names (window.rs).
    async fn find_orphans(&self, deadline: Duration) -> Result<Vec<Arc<Entry>>> {
        let LogHead::Head(Head { entry: head, .. }) = self.read_head(deadline).await? else {
            return Ok(Vec::new());
        };
        let mut found = match head.pipeline_depth.filter(|&n| n > 1) {
            Some(n) => {
                let n = n.min(crate::defaults::MAX_PIPELINE_DEPTH);
                match self.window_orphans(&head, n, deadline).await {
                    Ok(found) => found,
                    Err(e) if e.code == ErrorCode::AccessDenied => Vec::new(),
                    Err(e) => return Err(e),
                }
            }
            None => Vec::new(),
        };
        if self.layout.check_key(&head.key).is_err() || head.hash_dialect().is_none() {
            return Ok(found); // no key object can exist for it, or it is not intact
        }
        let path = self.layout.key_path(&head.key);
        let now = match retry::idempotent(self, deadline, || self.store.head(&path, None)).await {
            Ok(meta) => meta.map(|m| m.etag),
            Err(e) if e.kind == StoreErrorKind::AccessDenied => return Ok(found),
            Err(e) => return Err(e.into()),
        };
        if self.never_written(&head, now.as_deref(), deadline).await? {
            found.insert(0, head);
        }
        Ok(found)
    }

    /// Whether the key object of `e` was never written, given the ETag the
    /// object has now (`None`: absent): it still has the ETag `e` recorded
    /// (or is still absent when `e` recorded none). Or, when `e` recorded one
    /// and the object is absent now (deleted: a delete marker over its
    /// versions), the newest version under the marker still has it: had `e`'s
    /// key object been written, it would be the newer one. Taking such an
    /// `e` for written buried it: the next entry of its key was written over
    /// the marker, and `e`'s own writer, finding that later entry, took its
    /// write as done, so no version ever held `e`. One listing and one HEAD,
    /// only for an absent key object.
    pub(super) async fn never_written(
        &self,
        e: &Entry,
        now: Option<&str>,
        deadline: Duration,
    ) -> Result<bool> {
        if now == e.previous_key_object_etag.as_deref() {
            return Ok(true);
        }
        let (Some(recorded), None) = (e.previous_key_object_etag.as_deref(), now) else {
            return Ok(false);
        };
        let path = self.layout.key_path(&e.key);
        let (ids, _) = self.list_versions(&path, None, Some(1), deadline).await?;
        let Some(newest) = ids.first() else {
            return Ok(false); // every version gone: nothing tells
        };
        let meta =
            retry::idempotent(self, deadline, || self.store.head(&path, Some(newest))).await?;
        Ok(meta.is_some_and(|m| m.etag == recorded))
    }

    /// Entries this client appended whose key object is not known to be
    /// written, for keys matching `want`: each is tried once more (one
    /// request), and all are returned, to be served: a read that runs
    /// alongside the repair may not see it yet.
    pub(super) async fn own_orphans(
        &self,
        want: impl Fn(&str) -> bool,
        deadline: Duration,
    ) -> Vec<Arc<Entry>> {
        // Both maps read under one lock: an entry moves from one to the
        // other when its key-object write fails.
        let (mut mine, writing): (Vec<Arc<Entry>>, Vec<Arc<Entry>>) = {
            let st = self.state();
            (
                st.own_orphans
                    .values()
                    .filter(|e| want(&e.key))
                    .cloned()
                    .collect(),
                st.key_writes
                    .values()
                    .filter(|e| want(&e.key))
                    .cloned()
                    .collect(),
            )
        };
        let may_repair = !self.opts.read_only && !self.state().repairs_refused;
        for e in &mine {
            let done = may_repair
                && matches!(
                    self.write_key_object(e, deadline).await,
                    Ok(KeyWrite::Written(_) | KeyWrite::AlreadyWritten)
                );
            if done {
                self.forget_own_orphan(e);
            }
        }
        // Entries whose key-object write is under way count as our own too.
        mine.extend(writing);
        mine
    }

    pub(super) fn forget_own_orphan(&self, e: &Entry) {
        let mut st = self.state();
        if st
            .own_orphans
            .get(&e.key)
            .is_some_and(|o| o.version_id == e.version_id)
        {
            st.own_orphans.remove(&e.key);
        }
    }

    /// A key object's entry, if a read may return it: its key must be the
    /// one asked for (not a forged or misplaced object) and its hash must
    /// hold. One exception: a key object that another client repaired in its
    /// own dialect holds the entry's values in other number text (an earlier
    /// TypeScript client writes `1` for a Python writer's `1.0`), which the
    /// entry's hash cannot cover; such an object is checked against the log
    /// version it names (one more request, for these objects only), which
    /// must be intact and hold the same entry by meaning
    /// ([`Entry::same_entry`]), and the log's entry is returned.
    pub(super) async fn checked(
        &self,
        entry: Entry,
        key: &str,
        path: &str,
        version: Option<&str>,
        deadline: Duration,
    ) -> Result<Entry> {
        let corrupt = |why: &str| Error::corrupt(self.bucket(), path, version, why);
        if entry.key != key {
            return Err(corrupt(&format!(
                "it holds key {:?}, not {key:?}",
                entry.key
            )));
        }
        if entry.hash_dialect().is_some() {
            return Ok(entry);
        }
        match self.read_log_version(&entry.version_id, deadline).await? {
            Some(l) if l.hash_dialect().is_some() && l.same_entry(&entry) => Ok(l),
            _ => Err(corrupt("its hash does not match its content")),
        }
    }
}
