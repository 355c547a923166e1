//! `verify_log` and `digest`: read the log (and key objects), then check
//! with `crate::verify`.

use super::{retry, Client};
use crate::error::{ErrorCode, Result};
use crate::format::Entry;
use crate::storage::Store;
use crate::verify::{self, Digest, Failure, FailureKind, Report};
use futures_util::{stream, StreamExt};
use std::collections::HashSet;

/// Key objects checked by default, at most (one GET each).
pub const DEFAULT_KEY_CHECKS: usize = 10_000;

#[derive(Clone, Debug, Default)]
pub struct VerifyOptions {
    /// Newest entries to check; all when `None`.
    pub limit: Option<u32>,
    /// A digest saved earlier: the log must still contain it and extend it.
    pub trusted: Option<Digest>,
    /// Also compare each key's latest entry in range with its key object.
    pub check_key_objects: bool,
}

impl<S: Store> Client<S> {
    /// The current head, or `None` for an empty log.
    pub async fn digest(&self) -> Result<Option<Digest>> {
        self.check_open()?;
        Ok(self
            .read_head(self.deadline())
            .await?
            .map(|h| Digest::from(h.entry.as_ref())))
    }

    /// Verifies the newest `limit` entries (all when omitted); every problem
    /// found is reported with the entry it was found at.
    pub async fn verify_log(&self, opts: &VerifyOptions) -> Result<Report> {
        self.check_open()?;
        super::validate::limit(opts.limit)?;
        let deadline = self.deadline();
        // With a trusted digest the window must reach back to it.
        let mut window = opts.limit;
        if let (Some(l), Some(t)) = (window, &opts.trusted) {
            if let Ok(Some(head)) = self.read_head(deadline).await {
                let span = head.entry.sequence.saturating_sub(t.sequence) + 1;
                window = Some(l.max(u32::try_from(span).unwrap_or(u32::MAX)));
            }
        }
        // Read every listed version; one that is not an entry is reported
        // where it stands instead of failing the whole check.
        let log_path = self.log_path.clone();
        let versions = self
            .list_versions(&log_path, None, window.map(|w| w as usize), deadline)
            .await?;
        let read = self
            .fetch_all(
                &versions,
                deadline,
                |body, v| Ok(Entry::from_log_object(body, v)),
                &log_path,
            )
            .await?;
        let mut failures = Vec::new();
        let mut entries = Vec::with_capacity(read.len());
        for (parsed, v) in read.into_iter().zip(&versions) {
            match parsed {
                Ok(e) => entries.push(e),
                Err(e) => failures.push(Failure {
                    sequence: None,
                    version_id: Some(v.clone()),
                    kind: FailureKind::Unreadable,
                    detail: format!("log version {v} is not an entry: {}", e.0),
                }),
            }
        }
        let complete = window.is_none_or(|w| versions.len() < w as usize);
        failures.extend(verify::check_chain(&entries, complete));
        // Versions listed but no latest version: a delete marker hides the
        // log, so readers see it empty and a writer would start a new chain.
        let hidden = match self.read_head(deadline).await {
            Ok(head) => head.is_none(),
            Err(e) if e.code == ErrorCode::CorruptEntry => false, // reported above as unreadable
            Err(e) => return Err(e),
        };
        if !versions.is_empty() && hidden {
            failures.push(Failure {
                sequence: None,
                version_id: None,
                kind: FailureKind::HiddenHead,
                detail: format!(
                    "the latest version of {log_path} is a delete marker over {} entries",
                    versions.len()
                ),
            });
        }
        if let Some(t) = &opts.trusted {
            failures.extend(verify::check_trusted(&entries, t));
        }
        if opts.check_key_objects {
            failures.extend(self.check_key_objects(&entries).await?);
        }
        failures.sort_by_key(|f| std::cmp::Reverse(f.sequence));
        Ok(Report {
            ok: failures.is_empty(),
            checked: entries.len(),
            failures,
            head: entries.first().map(Digest::from),
        })
    }

    /// For each key whose latest entry is in `newest_first`, its key object
    /// must hold that entry. The head may be an orphan (not yet repaired):
    /// that is the protocol working, not tampering.
    async fn check_key_objects(&self, newest_first: &[Entry]) -> Result<Vec<Failure>> {
        let deadline = self.deadline();
        let mut seen = HashSet::new();
        let latest: Vec<Entry> = newest_first
            .iter()
            .filter(|e| seen.insert(e.key.as_str()))
            .take(DEFAULT_KEY_CHECKS)
            .cloned()
            .collect();
        let head_seq = newest_first.first().map(|e| e.sequence);
        let results: Vec<Result<Option<Failure>>> = stream::iter(latest)
            .map(|e: Entry| async move {
                let e = &e;
                let path = self.key_path(&e.key);
                let obj = retry::idempotent(deadline, || self.store.get(&path, None)).await?;
                let fail = |detail: String| Ok(Some(Failure::at(e, FailureKind::KeyObjectMismatch, detail)));
                let Some(obj) = obj else {
                    if Some(e.sequence) == head_seq && e.previous_key_object_etag.is_none() {
                        return Ok(None); // orphan head of a new key
                    }
                    return fail(format!("key object {path} is missing"));
                };
                let k = match Entry::from_key_object(&obj.body) {
                    Ok(k) => k,
                    Err(err) => return fail(format!("key object {path} is not an entry: {}", err.0)),
                };
                if Some(e.sequence) == head_seq && obj.etag == e.previous_key_object_etag {
                    return Ok(None); // orphan head: its key object is the one before
                }
                if k.hash_dialect().is_none() {
                    return fail(format!("key object {path} fails its hash check"));
                }
                if k.sequence != e.sequence || k.hash != e.hash || k.version_id != e.version_id {
                    return fail(format!(
                        "key object {path} holds sequence {} (hash {}, log version {}), but the key's latest log entry is sequence {} (hash {}, log version {})",
                        k.sequence, k.hash, k.version_id, e.sequence, e.hash, e.version_id
                    ));
                }
                Ok(None)
            })
            .buffer_unordered(self.opts.read_concurrency)
            .collect()
            .await;
        results.into_iter().filter_map(|r| r.transpose()).collect()
    }
}
