//! The audit of key objects against the log (part of `verify_log`).
//!
//! Key objects are a cache of the log, never an authority. Every version of
//! a key object must hold the entry of the log version it names (the same
//! fields, and a value that means the same); each key's newest version must
//! hold the key's latest entry (unless that entry is the orphan head); the
//! sequences a key's versions name never go down; and every log entry must
//! be held by some version of its key object, or `history` has lost it.
//!
//! Memory: keys are checked a few at a time, and at most `read_concurrency`
//! objects are held at once across all of them (a semaphore around each
//! read); what is kept per key is a few ids and sequences.

use super::audit::{cannot_be_read, Retention};
use super::{retry, Inner};
use crate::error::{Error, Result};
use crate::format::Entry;
use crate::storage::Store;
use crate::verify::{Failure, FailureKind, Summary};
use futures_util::{stream, StreamExt, TryStreamExt};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::sync::Semaphore;

/// What the key-object check knows of the log entries checked.
pub(super) struct Checked<'a> {
    /// Entries checked, by log version id.
    pub by_version: HashMap<&'a str, &'a Summary>,
    /// Entries checked, per key, newest first.
    pub by_key: HashMap<&'a str, Vec<&'a Summary>>,
    pub head: Option<&'a Summary>,
    /// The listing of the log reached its oldest version.
    pub complete: bool,
    /// The oldest sequence checked (the window's start, or the horizon).
    pub oldest: Option<u64>,
    /// The retention horizon's sequence, when the oldest versions are gone.
    pub horizon: Option<u64>,
    /// Read every version of every key object; otherwise (a `limit`), only
    /// those that hold the checked entries, and the newest.
    pub all_versions: bool,
    /// Also check the retention of every version read (`check_retention`).
    pub retention: Option<&'a super::object_lock::RetentionCheck>,
}

/// One key-object version, as read.
struct Read {
    position: usize,
    version: String,
    /// The entry it holds, if it is one.
    entry: Option<Entry>,
    etag: Option<String>,
    failures: Vec<Failure>,
    /// It holds the entry of the log version it names (or one older than
    /// what was checked), so it takes part in the order check.
    sound: bool,
    /// It holds an entry appended after the audit read the log (a writer at
    /// work), found in the log when read again: newer than what is checked.
    newer: bool,
}

impl<S: Store> Inner<S> {
    /// Checks the key objects of `keys` (each with whether a listing of the
    /// bucket showed it), `read_concurrency` keys at a time.
    pub(super) async fn check_key_objects(
        &self,
        keys: Vec<(String, bool)>,
        checked: &Checked<'_>,
        retention: &Retention<'_, S>,
        report: &(impl Fn(u64, u64) + Sync),
    ) -> Result<Vec<Failure>> {
        let gate = Semaphore::new(self.opts.read_concurrency);
        let total = keys.len() as u64;
        let done = std::sync::atomic::AtomicU64::new(0);
        let per_key: Vec<Vec<Failure>> = stream::iter(keys)
            .map(|(key, listed)| {
                let (gate, done) = (&gate, &done);
                async move {
                    let out = self.audit_key(&key, listed, checked, retention, gate).await;
                    let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                    if n.is_multiple_of(16) || n == total {
                        report(n, total);
                    }
                    out
                }
            })
            .buffer_unordered(self.opts.read_concurrency)
            .try_collect()
            .await?;
        Ok(per_key.into_iter().flatten().collect())
    }

    async fn audit_key(
        &self,
        key: &str,
        listed: bool,
        checked: &Checked<'_>,
        retention: &Retention<'_, S>,
        gate: &Semaphore,
    ) -> Result<Vec<Failure>> {
        let deadline = self.audit_deadline();
        let path = self.layout.key_path(key);
        let listing = self.list_all_versions(&path, None, None, deadline).await?;
        let deleted = listing.latest_delete_marker.is_some();
        let entries: &[&Summary] = checked.by_key.get(key).map_or(&[], |v| v.as_slice());
        let mut failures = Vec::new();
        if listed && listing.ids.is_empty() && !deleted {
            // The bucket listing showed the object, but a listing of its
            // versions by that exact name finds none: the server gives the
            // name back changed (SeaweedFS turns a control character into
            // U+FFFD). It cannot be checked; it is not passed over either.
            failures.push(Failure {
                sequence: None,
                version_id: None,
                path: Some(path.clone()),
                kind: FailureKind::Unreadable,
                detail: format!(
                    "{path} is listed in the bucket, but a listing of its versions by its exact \
                     name finds none (the server changes such names in version listings), so it \
                     cannot be checked"
                ),
            });
        }

        // Read the versions, newest first, a batch at a time. With a limit,
        // only until every checked entry of the key is found, or a version
        // older than what was checked is reached.
        let mut reads: Vec<Read> = Vec::new();
        let most = self.opts.read_concurrency.max(1);
        // With a limit, first as many as the key has checked entries and
        // one more (the version before them), then twice as many each time:
        // a key written often costs what the window holds, not its history.
        let mut batch = if checked.all_versions {
            most
        } else {
            (entries.len() + 1).min(most)
        };
        let mut from = 0;
        while from < listing.ids.len() {
            let to = (from + batch).min(listing.ids.len());
            let got: Vec<Read> = stream::iter(listing.ids[from..to].iter().cloned().enumerate())
                .map(|(i, version)| {
                    let path = &path;
                    async move {
                        let _permit = gate
                            .acquire()
                            .await
                            .map_err(|_| Error::internal("the audit's read gate closed"))?;
                        self.read_key_version(key, path, from + i, version, checked, deadline)
                            .await
                    }
                })
                .buffered(most)
                .try_collect()
                .await?;
            reads.extend(got);
            from = to;
            if !checked.all_versions {
                let named: HashSet<&str> = reads
                    .iter()
                    .filter_map(|r| r.entry.as_ref().map(|e| e.version_id.as_str()))
                    .collect();
                let all_found = entries
                    .iter()
                    .all(|e| named.contains(e.version_id.as_str()));
                let below = reads.iter().any(|r| {
                    r.entry
                        .as_ref()
                        .is_some_and(|e| checked.oldest.is_some_and(|o| e.sequence < o))
                });
                if all_found || below {
                    break;
                }
                batch = (batch * 2).min(most);
            }
        }
        for r in &mut reads {
            failures.append(&mut r.failures);
        }
        if let Some(check) = checked.retention {
            let versions = reads.iter().map(|r| (r.version.as_str(), r.entry.as_ref()));
            let found = self.key_retention(check, &path, versions.collect(), gate, deadline);
            failures.extend(found.await?);
        }
        let newest = reads.first().filter(|r| r.position == 0 && !deleted);
        let latest = entries.first().copied();
        let is_head = |e: &Summary| checked.head.is_some_and(|h| h.version_id == e.version_id);
        // Entries whose key object may not be written yet: the head, and
        // below a pipelined head the entries of a pipelined writer among its
        // own newest N (window.rs). N is the entry's own mark, which nobody
        // can change (a new head can carry any mark: it is not hashed), and
        // at most what a client may pipeline.
        let marked = |e: &Summary| {
            e.pipeline_depth
                .filter(|&n| n > 1)
                .map(|n| u64::from(n.min(crate::defaults::MAX_PIPELINE_DEPTH)))
        };
        let in_window = |e: &Summary| {
            checked.head.is_some_and(|h| {
                h.version_id == e.version_id
                    || (marked(h).is_some()
                        && marked(e).is_some_and(|n| e.sequence + n > h.sequence))
            })
        };
        // The log version each version names, whatever it holds.
        let named: HashSet<&str> = reads
            .iter()
            .filter_map(|r| r.entry.as_ref().map(|e| e.version_id.as_str()))
            .collect();
        // The head (or, below a pipelined head, the newest entry of a key in
        // its window) is an orphan while its key object still has the ETag
        // the entry recorded (or is still absent) and no version ever held
        // it: that is the protocol working (the next writer repairs it).
        let orphan_head = latest.is_some_and(|e| {
            in_window(e)
                && !named.contains(e.version_id.as_str())
                && newest.and_then(|n| n.etag.as_deref()) == e.previous_key_object_etag.as_deref()
        });

        // The key's latest entry and its newest key object.
        if let Some(e) = latest {
            if let Err(why) = self.layout.check_key(key) {
                failures.push(Failure::at(
                    e,
                    FailureKind::KeyObjectMismatch,
                    format!("this entry's key cannot be stored as an object, so it has no key object: {why}"),
                ));
                return Ok(failures);
            }
            // A newest version that holds an entry appended since the audit
            // read the log says nothing about the entries checked (the
            // check that each is held by a version still runs).
            match newest.filter(|n| !n.newer).and_then(|n| n.entry.as_ref()) {
                None if newest.is_none() && !orphan_head => {
                    let detail = if is_head(e) && named.contains(e.version_id.as_str()) {
                        format!("key object {path} once held this entry (the head) and no longer does: it was deleted")
                    } else {
                        format!("key object {path} is missing")
                    };
                    failures.push(Failure {
                        path: Some(path.clone()),
                        ..Failure::at(e, FailureKind::KeyObjectMismatch, detail)
                    });
                }
                Some(k)
                    if !orphan_head
                        && (k.sequence != e.sequence
                            || k.hash != e.hash
                            || k.version_id != e.version_id) =>
                {
                    let written = named.contains(e.version_id.as_str());
                    let detail = if is_head(e) && written {
                        format!("key object {path} once held this entry (the head) and no longer does: its latest version was rolled back or deleted")
                    } else {
                        format!(
                            "key object {path} holds sequence {} (hash {}, log version {}), but the key's latest log entry is sequence {} (hash {}, log version {})",
                            k.sequence, k.hash, k.version_id, e.sequence, e.hash, e.version_id
                        )
                    };
                    failures.push(Failure {
                        path: Some(path.clone()),
                        ..Failure::at(e, FailureKind::KeyObjectMismatch, detail)
                    });
                }
                _ => {}
            }
        }

        // Every checked entry is held by a version of its key object, or the
        // key's history has lost it.
        let reported: HashSet<u64> = failures
            .iter()
            .filter(|f| f.kind == FailureKind::KeyObjectMismatch)
            .filter_map(|f| f.sequence)
            .collect();
        let oldest_held = reads
            .iter()
            .filter_map(|r| r.entry.as_ref().map(|e| e.sequence))
            .min();
        for e in entries {
            if named.contains(e.version_id.as_str())
                || reported.contains(&e.sequence)
                || !e.intact
                || (orphan_head && latest.is_some_and(|l| l.version_id == e.version_id))
            {
                continue;
            }
            // Older than every version left of the key object, which a
            // lifecycle rule removes: expired, not lost, if the rule could
            // have removed it by now. The newest version removed became
            // noncurrent when the oldest one left was written, by the
            // server's clock (LastModified, which no writer chooses; older
            // removed versions became noncurrent before it). A store that
            // does not say: when the key's next entry was written, by its
            // writer's clock. The key's latest entry is current.
            let before_oldest = oldest_held.is_none_or(|o| e.sequence < o);
            let next = entries
                .iter()
                .filter(|x| x.sequence > e.sequence)
                .min_by_key(|x| x.sequence);
            if let (true, Some(next)) = (before_oldest, next) {
                let noncurrent_left = listing.ids.len().saturating_sub(usize::from(!deleted));
                let since_ms = listing
                    .last_modified_ms
                    .last()
                    .copied()
                    .flatten()
                    .unwrap_or(next.timestamp_ms);
                if retention
                    .may_have_expired(&path, since_ms, noncurrent_left as u64)
                    .await?
                {
                    continue;
                }
            }
            failures.push(Failure {
                path: Some(path.clone()),
                ..Failure::at(
                    e,
                    FailureKind::KeyObjectMissing,
                    format!(
                        "no version of {path} holds this entry, so the key's history does not show it (its key object was never written, or that version was deleted)"
                    ),
                )
            });
        }

        // Key-object writes are conditional on the version before, so the
        // sequences a key's versions name never go down: an older entry's
        // key object written again after a newer one (even if a repair has
        // since written the newer one again). The newest version is left to
        // the latest-entry check above, which already reports it.
        let sound: Vec<(usize, u64, &str)> = reads
            .iter()
            .filter(|r| r.sound)
            .filter_map(|r| {
                r.entry
                    .as_ref()
                    .map(|e| (r.position, e.sequence, r.version.as_str()))
            })
            .collect();
        for pair in sound.windows(2) {
            let ((position, newer, version), (_, older, _)) = (pair[0], pair[1]);
            let why = if newer == older {
                format!("holds sequence {newer}, as the version before it does: an entry's key object is written once, so this one was written again (replayed)")
            } else if position > 0 && newer < older {
                format!("holds sequence {newer}, written after a version holding sequence {older}: an older key object was written again (rolled back)")
            } else {
                continue;
            };
            failures.push(Failure {
                sequence: Some(newer),
                version_id: Some(version.to_string()),
                path: Some(path.clone()),
                kind: FailureKind::KeyObjectForged,
                detail: format!("key object version {version} of {path} {why}"),
            });
        }
        Ok(failures)
    }

    /// Reads one key-object version and checks it against the log entry it
    /// names.
    async fn read_key_version(
        &self,
        key: &str,
        path: &str,
        position: usize,
        version: String,
        checked: &Checked<'_>,
        deadline: Duration,
    ) -> Result<Read> {
        let mut read = Read {
            position,
            version: version.clone(),
            entry: None,
            etag: None,
            failures: Vec::new(),
            sound: false,
            newer: false,
        };
        let at = |kind, detail: String| Failure {
            sequence: None,
            version_id: Some(version.clone()),
            path: Some(path.to_string()),
            kind,
            detail,
        };
        let obj = match retry::idempotent(self, deadline, || self.store.get(path, Some(&version)))
            .await
        {
            Err(e) if cannot_be_read(&e) => {
                read.failures.push(at(
                    FailureKind::Unreadable,
                    format!("key object version {version} of {path} cannot be read: {e}"),
                ));
                return Ok(read);
            }
            // The protocol never deletes a key-object version.
            Ok(None) => {
                read.failures.push(at(
                    FailureKind::Unreadable,
                    format!("key object version {version} of {path} was listed but is gone (deleted while reading?)"),
                ));
                return Ok(read);
            }
            Ok(Some(obj)) => obj,
            Err(e) => return Err(e.into()),
        };
        read.etag = obj.etag.clone();
        let k = match Entry::from_key_object(&obj.body) {
            Ok(k) => k,
            Err(e) => {
                read.failures.push(at(
                    FailureKind::KeyObjectForged,
                    format!(
                        "key object version {version} of {path} is not an entry: {}",
                        e.0
                    ),
                ));
                return Ok(read);
            }
        };
        drop(obj);
        if k.key != key {
            read.failures.push(at(
                FailureKind::KeyObjectForged,
                format!(
                    "key object version {version} of {path} holds key {:?}",
                    k.key
                ),
            ));
        }
        match checked.by_version.get(k.version_id.as_str()) {
            Some(e) => {
                if !self.holds_entry(&k, e, deadline).await? {
                    read.failures.push(Failure {
                        sequence: Some(e.sequence),
                        ..at(
                            FailureKind::KeyObjectForged,
                            format!(
                                "key object version {version} of {path} names log version {} (sequence {}) but differs from it",
                                e.version_id, e.sequence
                            ),
                        )
                    });
                }
            }
            None => {
                // Not among the entries read: forged, unless it is older than
                // what was checked (a window, or versions expired under the
                // bucket's retention), or newer: appended since the audit read
                // the log (writers go on during an audit). Such a version is
                // checked against the log read again, so that a forged
                // "future" version is still found.
                let before_window =
                    !checked.complete && checked.oldest.is_none_or(|o| k.sequence < o);
                let expired = checked.horizon.is_some_and(|h| k.sequence < h);
                let after_head = checked.head.is_some_and(|h| k.sequence > h.sequence);
                if after_head {
                    read.newer = match self.read_log_version(&k.version_id, deadline).await {
                        Ok(Some(l)) => l.hash_dialect().is_some() && l.same_entry(&k),
                        Ok(None) => false,
                        Err(e) if e.code == crate::error::ErrorCode::CorruptEntry => false,
                        Err(e) => return Err(e),
                    };
                }
                if !before_window && !expired && !read.newer {
                    read.failures.push(at(
                        FailureKind::KeyObjectForged,
                        format!(
                            "key object version {version} of {path} names log version {} (sequence {}), which is not in the log",
                            k.version_id, k.sequence
                        ),
                    ));
                }
            }
        }
        // Only versions that hold the entry they name (or one older than
        // what was checked) take part in the order check: a forged sequence
        // must not make a genuine version look rolled back.
        read.sound = read.failures.is_empty();
        // Kept without its value: a key's versions are held until the key is
        // done, and an audit's memory must not grow with the values.
        read.entry = Some(Entry {
            value: crate::format::Json::null(),
            ..k
        });
        Ok(read)
    }

    /// Whether key object `k` holds the log entry `e`: the same fields, and a
    /// value that means the same. When `k`'s own hash verifies and equals
    /// `e`'s, the values are the same by the hash (whatever the number text:
    /// an earlier client may have written `1e-05` where the log has
    /// `0.00001`); otherwise the log version is read and compared by meaning
    /// ([`Entry::same_entry`]: an earlier TypeScript client wrote a Python
    /// entry's `1.0` as `1`).
    async fn holds_entry(&self, k: &Entry, e: &Summary, deadline: Duration) -> Result<bool> {
        let fields = k.key == e.key
            && k.sequence == e.sequence
            && k.timestamp_ms == e.timestamp_ms
            && k.previous_hash == e.previous_hash
            && k.hash == e.hash
            && k.version_id == e.version_id;
        if !fields {
            return Ok(false);
        }
        if k.hash_dialect().is_some() {
            return Ok(true);
        }
        let Some(logged) = self.read_log_version(&e.version_id, deadline).await? else {
            return Ok(false);
        };
        Ok(logged.same_entry(k))
    }
}
