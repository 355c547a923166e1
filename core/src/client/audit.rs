//! `verify_log`, `digest` and verified reads: read the log (and key
//! objects), then check with `crate::verify`.

use super::read::check_limit;
use super::{retry, Inner, LogHead};
use crate::error::{Error, ErrorCode, Result};
use crate::format::Entry;
use crate::storage::Store;
use crate::verify::{self, Digest, Failure, FailureKind, Report};
use futures_util::{stream, StreamExt, TryStreamExt};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct VerifyOptions {
    /// Newest entries to check; all when `None`.
    pub limit: Option<u32>,
    /// A digest saved earlier: the log must still contain it and extend it.
    pub trusted: Option<Digest>,
    /// Also check key objects: every version must be backed, byte for byte,
    /// by the log entry it names, and each key's latest object must hold the
    /// key's latest entry.
    pub check_key_objects: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            limit: None,
            trusted: None,
            check_key_objects: true,
        }
    }
}

/// What `verify_log` is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyPhase {
    /// Listing the log's versions (`done` so far, total unknown).
    ListingLog,
    /// Reading and checking log entries.
    CheckingLog,
    /// Listing key objects and their versions.
    ListingKeys,
    /// Reading and checking key-object versions.
    CheckingKeyObjects,
}

#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub phase: VerifyPhase,
    pub done: u64,
    pub total: Option<u64>,
}

pub type ProgressFn<'a> = &'a (dyn Fn(Progress) + Send + Sync);

/// Per key, each key-object version read: its position (newest first), the
/// sequence it names and its version id.
type NamedSequences = HashMap<String, Vec<(usize, u64, String)>>;

impl<S: Store> Inner<S> {
    /// The current head, or `None` for an empty log.
    pub(super) async fn digest(&self) -> Result<Option<Digest>> {
        match self.read_head(self.deadline()).await? {
            LogHead::Empty => Ok(None),
            LogHead::Deleted { marker } => Err(self.log_deleted(marker.as_deref())),
            LogHead::Head(h) => Ok(Some(Digest::from(h.entry.as_ref()))),
        }
    }

    /// Verifies the newest `limit` entries (all when omitted); every problem
    /// found is reported with the entry or object it was found at.
    pub(super) async fn verify_log(
        &self,
        opts: &VerifyOptions,
        progress: Option<ProgressFn<'_>>,
    ) -> Result<Report> {
        check_limit(opts.limit)?;
        let deadline = self.audit_deadline();
        let report = |phase, done, total| {
            if let Some(p) = progress {
                p(super::Progress { phase, done, total });
            }
        };
        // The head read keeps the call's usual bound: it retries while the
        // log changes under it.
        let head = self.read_head(self.deadline()).await;
        // With a trusted digest the window must reach back to it.
        let mut window = opts.limit;
        if let (Some(l), Some(t), Ok(LogHead::Head(h))) = (window, &opts.trusted, &head) {
            let span = h.entry.sequence.saturating_sub(t.sequence) + 1;
            window = Some(l.max(u32::try_from(span).unwrap_or(u32::MAX)));
        }
        let log_path = self.log_path().to_string();
        report(VerifyPhase::ListingLog, 0, None);
        let (versions, complete) = self
            .list_versions(&log_path, None, window.map(|w| w as usize), deadline)
            .await?;
        let total = versions.len() as u64;
        report(VerifyPhase::CheckingLog, 0, Some(total));
        // Every listed version is read; one that is not an entry is reported
        // where it stands instead of failing the whole check.
        let read: Vec<std::result::Result<Entry, crate::format::ParseError>> =
            stream::iter(versions.iter().cloned().enumerate())
                .map(|(i, v)| async move {
                    let obj = match retry::idempotent(self, deadline, || {
                        self.store.get(self.log_path(), Some(&v))
                    })
                    .await
                    {
                        Err(e) if cannot_be_read(&e) => {
                            return Ok(Err(crate::format::ParseError(e.to_string())))
                        }
                        other => other?,
                    };
                    if i.is_multiple_of(64) {
                        report(VerifyPhase::CheckingLog, i as u64, Some(total));
                    }
                    Ok::<_, Error>(match obj {
                        Some(o) => Entry::from_log_object(&o.body, &v),
                        None => Err(crate::format::ParseError(
                            "listed version vanished (deleted while reading?)".into(),
                        )),
                    })
                })
                .buffered(self.opts.read_concurrency)
                .try_collect()
                .await?;
        report(VerifyPhase::CheckingLog, total, Some(total));
        let mut failures = Vec::new();
        let mut entries = Vec::with_capacity(read.len());
        for (parsed, v) in read.into_iter().zip(&versions) {
            match parsed {
                Ok(e) => entries.push(e),
                Err(e) => failures.push(Failure {
                    sequence: None,
                    version_id: Some(v.clone()),
                    path: Some(log_path.clone()),
                    kind: FailureKind::Unreadable,
                    detail: format!("log version {v} is not an entry: {}", e.0),
                }),
            }
        }
        failures.extend(verify::check_chain(&entries, complete));
        // Versions listed but no latest version: a delete marker hides the
        // log, so readers see it empty and a writer would start a new chain.
        let empty = versions.is_empty() && matches!(head, Ok(LogHead::Empty));
        let hidden = match head {
            Ok(LogHead::Deleted { .. }) => true,
            Ok(_) => false,
            // Reported above as unreadable.
            Err(e)
                if e.code == ErrorCode::CorruptEntry
                    || std::error::Error::source(&e)
                        .and_then(|s| s.downcast_ref::<crate::storage::StoreError>())
                        .is_some_and(cannot_be_read) =>
            {
                false
            }
            Err(e) => return Err(e),
        };
        if hidden {
            failures.push(Failure {
                sequence: None,
                version_id: None,
                path: Some(log_path.clone()),
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
            failures.extend(
                self.check_key_objects(&entries, complete, opts.limit.is_none(), &report)
                    .await?,
            );
        }
        failures.sort_by(|a, b| {
            b.sequence
                .cmp(&a.sequence)
                .then_with(|| a.path.cmp(&b.path))
        });
        Ok(Report {
            ok: failures.is_empty(),
            checked: entries.len(),
            failures,
            head: entries.first().map(Digest::from),
            empty,
        })
    }

    /// The deadline of an audit's requests: far away, since an audit is
    /// ended by its caller, not by `operationTimeoutMs` (its length grows
    /// with the store). Transient failures still get their few retries.
    fn audit_deadline(&self) -> Duration {
        self.now() + Duration::from_secs(366 * 24 * 3600)
    }

    /// Key objects are a cache of the log: every version of every key object
    /// must be the key object of the log entry it names, byte for byte, and
    /// each key's latest object must hold the key's latest entry (or the one
    /// before it, when that entry is the orphan head). With `all_keys`, every
    /// key object in the store is checked, else the keys of `newest_first`.
    async fn check_key_objects(
        &self,
        newest_first: &[Entry],
        log_complete: bool,
        all_keys: bool,
        report: &(impl Fn(VerifyPhase, u64, Option<u64>) + Sync),
    ) -> Result<Vec<Failure>> {
        let deadline = self.audit_deadline();
        report(VerifyPhase::ListingKeys, 0, None);
        // Listed without the reads' side effects: an audit repairs nothing.
        let mut keys: Vec<String> = if all_keys {
            self.list_key_names("", None, usize::MAX, false, deadline)
                .await?
        } else {
            Vec::new()
        };
        let mut seen: HashSet<String> = keys.iter().cloned().collect();
        for e in newest_first {
            if seen.insert(e.key.clone()) && self.layout.check_key(&e.key).is_ok() {
                keys.push(e.key.clone());
            }
        }
        let by_version: HashMap<&str, &Entry> = newest_first
            .iter()
            .map(|e| (e.version_id.as_str(), e))
            .collect();
        let mut latest: HashMap<&str, &Entry> = HashMap::new();
        for e in newest_first {
            latest.entry(e.key.as_str()).or_insert(e);
        }
        let oldest_checked = newest_first.last().map(|e| e.sequence);
        let head = newest_first.first();

        // Versions of each key object, listed concurrently. A key object whose
        // latest version is a delete marker is missing, whatever it had before.
        let listed: Vec<(String, Vec<String>, bool)> = stream::iter(keys)
            .map(|key| async move {
                let path = self.layout.key_path(&key);
                let l = self.list_all_versions(&path, None, None, deadline).await?;
                Ok::<_, Error>((key, l.ids, l.latest_delete_marker.is_some()))
            })
            .buffer_unordered(self.opts.read_concurrency)
            .try_collect()
            .await?;
        let total: u64 = listed.iter().map(|(_, v, _)| v.len() as u64).sum();
        report(VerifyPhase::CheckingKeyObjects, 0, Some(total));
        let jobs: Vec<(String, String, usize, bool)> = listed
            .iter()
            .flat_map(|(k, vs, deleted)| {
                vs.iter()
                    .enumerate()
                    .map(move |(i, v)| (k.clone(), v.clone(), i, i == 0 && !deleted))
            })
            .collect();
        let done = std::sync::atomic::AtomicU64::new(0);
        // The log versions that versions of the head's key object name, and
        // what each key's newest version names: to tell an orphan head (its
        // key object never written) from one whose key object was rolled
        // back or deleted after it was written.
        let head_named: Mutex<HashSet<String>> = Mutex::default();
        let newest_names: Mutex<HashMap<String, String>> = Mutex::default();
        let named_sequences: Mutex<NamedSequences> = Mutex::default();
        let checked: Vec<Vec<Failure>> = stream::iter(jobs)
            .map(|(key, version, position, newest)| {
                let by_version = &by_version;
                let latest = &latest;
                let done = &done;
                let (head_named, newest_names) = (&head_named, &newest_names);
                let named_sequences = &named_sequences;
                async move {
                    let path = self.layout.key_path(&key);
                    let obj = match retry::idempotent(self, deadline, || self.store.get(&path, Some(&version))).await {
                        Err(e) if cannot_be_read(&e) => Err(e.to_string()),
                        other => Ok(other?),
                    };
                    let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n.is_multiple_of(64) {
                        report(VerifyPhase::CheckingKeyObjects, n, Some(total));
                    }
                    let at = |kind, detail: String| Failure {
                        sequence: None,
                        version_id: Some(version.clone()),
                        path: Some(path.clone()),
                        kind,
                        detail,
                    };
                    // The protocol never deletes a key-object version.
                    let obj = match obj {
                        Ok(Some(obj)) => obj,
                        Ok(None) => {
                            return Ok(vec![at(
                                FailureKind::Unreadable,
                                format!("key object version {version} of {path} was listed but is gone (deleted while reading?)"),
                            )])
                        }
                        Err(why) => {
                            return Ok(vec![at(
                                FailureKind::Unreadable,
                                format!("key object version {version} of {path} cannot be read: {why}"),
                            )])
                        }
                    };
                    let k = match Entry::from_key_object(&obj.body) {
                        Ok(k) => k,
                        Err(e) => {
                            return Ok(vec![at(
                                FailureKind::KeyObjectForged,
                                format!("key object version {version} of {path} is not an entry: {}", e.0),
                            )])
                        }
                    };
                    if head.is_some_and(|h| h.key == key) {
                        lock(head_named).insert(k.version_id.clone());
                    }
                    if newest {
                        lock(newest_names).insert(key.clone(), k.version_id.clone());
                    }
                    let mut out = Vec::new();
                    if k.key != key {
                        out.push(at(
                            FailureKind::KeyObjectForged,
                            format!("key object version {version} of {path} holds key {:?}", k.key),
                        ));
                    }
                    match by_version.get(k.version_id.as_str()) {
                        Some(e) => {
                            if !e.same_entry(&k) {
                                out.push(Failure {
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
                            // Not among the entries read: forged, unless it is
                            // older than the window that was checked.
                            let outside = !log_complete && oldest_checked.is_none_or(|o| k.sequence < o);
                            if !outside {
                                out.push(at(
                                    FailureKind::KeyObjectForged,
                                    format!(
                                        "key object version {version} of {path} names log version {} (sequence {}), which is not in the log",
                                        k.version_id, k.sequence
                                    ),
                                ));
                            }
                        }
                    }
                    // Only versions that hold the entry they name (or one
                    // older than the window) take part in the order check: a
                    // forged sequence must not make a genuine version look
                    // rolled back.
                    if out.is_empty() {
                        lock(named_sequences).entry(key.clone()).or_default().push((position, k.sequence, version.clone()));
                    }
                    if newest {
                        out.extend(self.check_latest(&key, &k, &obj.etag, latest_of(latest, &key), head, &path));
                    }
                    Ok::<_, Error>(out)
                }
            })
            .buffer_unordered(self.opts.read_concurrency)
            .try_collect()
            .await?;
        report(VerifyPhase::CheckingKeyObjects, total, Some(total));
        let mut failures: Vec<Failure> = checked.into_iter().flatten().collect();
        // A key with entries in the log but no key object at all.
        let listed_keys: HashSet<&str> = listed
            .iter()
            .filter(|(_, v, deleted)| !v.is_empty() && !deleted)
            .map(|(k, _, _)| k.as_str())
            .collect();
        for (key, e) in &latest {
            if let Err(why) = self.layout.check_key(key) {
                failures.push(Failure::at(
                    e,
                    FailureKind::KeyObjectMismatch,
                    format!("this entry's key cannot be stored as an object, so it has no key object: {why}"),
                ));
                continue;
            }
            if listed_keys.contains(key) {
                continue;
            }
            let orphan_head = head.is_some_and(|h| h.version_id == e.version_id)
                && e.previous_key_object_etag.is_none();
            if !orphan_head {
                failures.push(Failure::at(
                    e,
                    FailureKind::KeyObjectMismatch,
                    format!("key object {} is missing", self.layout.key_path(key)),
                ));
            }
        }
        // Key-object writes are conditional on the version before, so the
        // sequences a key's versions name never go down: an older entry's
        // key object written again after a newer one was rolled back (even
        // if a repair has since written the newer one again). The newest
        // version is left to check_latest and the head check, which
        // already report it.
        let mut named_sequences = named_sequences
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        for (key, versions) in named_sequences.iter_mut() {
            versions.sort_by_key(|(position, _, _)| *position);
            for pair in versions.windows(2) {
                let ((position, newer, version), (_, older, _)) = (&pair[0], &pair[1]);
                let why = if newer == older {
                    // Each entry's key object is written once (conditional on
                    // the version before): two in a row holding one entry
                    // means one was written again, by hand.
                    format!("holds sequence {newer}, as the version before it does: an entry's key object is written once, so this one was written again (replayed)")
                } else if *position > 0 && newer < older {
                    format!("holds sequence {newer}, written after a version holding sequence {older}: an older key object was written again (rolled back)")
                } else {
                    continue;
                };
                let path = self.layout.key_path(key);
                failures.push(Failure {
                    sequence: Some(*newer),
                    version_id: Some(version.clone()),
                    path: Some(path.clone()),
                    kind: FailureKind::KeyObjectForged,
                    detail: format!("key object version {version} of {path} {why}"),
                });
            }
        }
        // The head is let off as an orphan above only if its key object was
        // never written: once a version of it held the head, the newest must.
        if let Some(h) = head {
            let written = lock(&head_named).contains(&h.version_id);
            let holds = lock(&newest_names).get(&h.key) == Some(&h.version_id);
            let reported = failures.iter().any(|f| {
                f.kind == FailureKind::KeyObjectMismatch && f.sequence == Some(h.sequence)
            });
            if written
                && !holds
                && !reported
                && latest
                    .get(h.key.as_str())
                    .is_some_and(|e| e.version_id == h.version_id)
            {
                let path = self.layout.key_path(&h.key);
                failures.push(Failure {
                    path: Some(path.clone()),
                    ..Failure::at(
                        h,
                        FailureKind::KeyObjectMismatch,
                        format!("key object {path} once held this entry (the head) and no longer does: its latest version was rolled back or deleted"),
                    )
                });
            }
        }
        Ok(failures)
    }

    /// The latest key object of `key` must hold the key's latest entry. The
    /// head may be an orphan (not yet repaired): that is the protocol
    /// working, not tampering.
    fn check_latest(
        &self,
        _key: &str,
        k: &Entry,
        etag: &Option<String>,
        latest: Option<&Entry>,
        head: Option<&Entry>,
        path: &str,
    ) -> Option<Failure> {
        let e = latest?;
        let is_head = head.is_some_and(|h| h.version_id == e.version_id);
        if is_head && etag.as_deref() == e.previous_key_object_etag.as_deref() {
            return None; // orphan head: its key object is the one before
        }
        if k.sequence != e.sequence || k.hash != e.hash || k.version_id != e.version_id {
            return Some(Failure::at(
                e,
                FailureKind::KeyObjectMismatch,
                format!(
                    "key object {path} holds sequence {} (hash {}, log version {}), but the key's latest log entry is sequence {} (hash {}, log version {})",
                    k.sequence, k.hash, k.version_id, e.sequence, e.hash, e.version_id
                ),
            ));
        }
        None
    }

    /// `get`, then proof that the entry is in the log: the log version its
    /// key object names is read and must be intact and hold the same entry
    /// ([`Entry::same_entry`]). With a
    /// `trusted` digest, the entries between it and the digest are read too,
    /// and must link up. Costs the `get`, one GET, and with `trusted` one GET
    /// per entry between the two (read `read_concurrency` at a time) plus a
    /// listing page per thousand.
    pub(super) async fn get_verified(&self, key: &str, trusted: Option<&Digest>) -> Result<Entry> {
        let entry = self.get(key).await?;
        let deadline = self.deadline();
        let path = self.layout.key_path(key);
        let fail = |detail: String| {
            Error::corrupt(
                self.bucket(),
                &path,
                None,
                &format!("verification failed: {detail}"),
            )
        };
        let logged = self
            .read_log_version(&entry.version_id, deadline)
            .await?
            .ok_or_else(|| {
                fail(format!(
                    "it names log version {}, which is not in the log",
                    entry.version_id
                ))
            })?;
        if logged.hash_dialect().is_none() {
            return Err(fail(format!(
                "log version {} fails its hash check",
                logged.version_id
            )));
        }
        // By meaning, not bytes: the key object may have been written by
        // another client in its own dialect (a repair).
        if !logged.same_entry(&entry) {
            return Err(fail(format!(
                "it differs from log version {} (sequence {}) that it names",
                logged.version_id, logged.sequence
            )));
        }
        if let Some(t) = trusted {
            self.prove_link(&logged, t, deadline)
                .await
                .map_err(|e| match e.code {
                    ErrorCode::CorruptEntry => fail(e.message),
                    _ => e,
                })?;
        }
        Ok(logged_with_value(entry, logged))
    }

    /// The entries between `entry` and the trusted digest link up. Reads the
    /// newer of the two, then the `span` versions listed after it.
    async fn prove_link(&self, entry: &Entry, trusted: &Digest, deadline: Duration) -> Result<()> {
        let broken = |detail: String| {
            Error::new(
                ErrorCode::CorruptEntry,
                format!("the entry is not in the chain that extends the trusted digest: {detail}"),
            )
        };
        let span = entry.sequence.abs_diff(trusted.sequence) as usize;
        let (newer, older) = if entry.sequence >= trusted.sequence {
            (entry.clone(), trusted.version_id.clone())
        } else {
            let t = self
                .read_log_version(&trusted.version_id, deadline)
                .await?
                .ok_or_else(|| {
                    broken(format!(
                        "trusted log version {} is not in the log",
                        trusted.version_id
                    ))
                })?;
            (t, entry.version_id.clone())
        };
        let log_path = self.log_path().to_string();
        let (ids, _) = self
            .list_versions(&log_path, Some(&newer.version_id), Some(span), deadline)
            .await?;
        let mut run = vec![newer];
        run.extend(
            self.fetch_all(&ids, &log_path, deadline, Entry::from_log_object)
                .await?,
        );
        if let Some(f) = verify::check_chain(&run, false).first() {
            return Err(broken(f.detail.clone()));
        }
        if run.last().map(|e| e.version_id.as_str()) != Some(older.as_str()) {
            return Err(broken(format!(
                "log version {older} is not {span} entries before the newer one"
            )));
        }
        let trusted_ok = run.iter().any(|e| {
            e.version_id == trusted.version_id
                && e.hash == trusted.hash
                && e.sequence == trusted.sequence
        });
        if !trusted_ok {
            return Err(broken("the trusted entry differs from the log's".into()));
        }
        Ok(())
    }
}

fn latest_of<'a>(latest: &HashMap<&str, &'a Entry>, key: &str) -> Option<&'a Entry> {
    latest.get(key).copied()
}

/// The verified entry as the log holds it (with its links), valued as read.
fn logged_with_value(read: Entry, mut logged: Entry) -> Entry {
    logged.value = read.value;
    logged
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A version that this client cannot read but that does not stop the audit:
/// archived, encrypted with a key we do not hold, or larger than any entry.
/// It is reported where it stands; anything else (access, credentials, the
/// network) fails the check.
fn cannot_be_read(e: &crate::storage::StoreError) -> bool {
    matches!(
        e.kind,
        crate::storage::StoreErrorKind::Unreadable | crate::storage::StoreErrorKind::TooLarge
    )
}
