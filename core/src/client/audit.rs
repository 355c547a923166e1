//! `verify_log`, `digest` and verified reads: read the log (and key
//! objects), then check with `crate::verify`. The key-object half of the
//! audit is `key_objects.rs`.
//!
//! An audit's memory does not grow with the values it reads: each log
//! version is reduced to a [`Summary`] (its fields and whether its hash
//! holds) as it is read, and at most `read_concurrency` objects are held at
//! once.

use super::key_objects::Checked;
use super::read::check_limit;
use super::{retry, Inner, LogHead};
use crate::bucket::{CLOCK_SKEW_MS, DAY_MS};
use crate::error::{Error, ErrorCode, Result};
use crate::format::Entry;
use crate::lifecycle::Lifecycle;
use crate::storage::Store;
use crate::verify::{
    self, Digest, Failure, FailureKind, Horizon, HorizonReason, Report, Summary, TrustedCheck,
};
use futures_util::{stream, StreamExt, TryStreamExt};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct VerifyOptions {
    /// Newest entries to check; all when `None`.
    pub limit: Option<u32>,
    /// A digest saved earlier: the log must still contain it and extend it.
    pub trusted: Option<Digest>,
    /// Also check key objects: every version must hold the log entry it
    /// names, each key's latest object must hold the key's latest entry, and
    /// every checked entry must be held by a version of its key object.
    pub check_key_objects: bool,
    /// Also check that every version read (log, and key objects when they
    /// are checked) is retained by S3 Object Lock as required (see
    /// `object_lock.rs`): one GetObjectRetention per version.
    pub check_retention: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            limit: None,
            trusted: None,
            check_key_objects: true,
            check_retention: false,
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
    /// Listing key objects.
    ListingKeys,
    /// Checking key objects, key by key (`done` and `total` count keys).
    CheckingKeyObjects,
}

#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub phase: VerifyPhase,
    pub done: u64,
    pub total: Option<u64>,
}

pub type ProgressFn<'a> = &'a (dyn Fn(Progress) + Send + Sync);

/// The bucket's lifecycle rules, read once and only if an audit needs them
/// (versions are missing): what S3 itself may have removed.
pub(super) struct Retention<'a, S: Store> {
    inner: &'a Inner<S>,
    rules: tokio::sync::OnceCell<Lifecycle>,
}

impl<'a, S: Store> Retention<'a, S> {
    fn new(inner: &'a Inner<S>) -> Self {
        Retention {
            inner,
            rules: tokio::sync::OnceCell::new(),
        }
    }

    async fn rules(&self) -> Result<&Lifecycle> {
        let inner = self.inner;
        self.rules
            .get_or_try_init(|| async move {
                retry::idempotent(inner, inner.audit_deadline(), || inner.store.lifecycle())
                    .await
                    .map_err(Into::into)
            })
            .await
    }

    /// A version of `path` that became noncurrent at `since_ms` (wall
    /// clock), with `noncurrent_left` noncurrent versions of `path` left, may
    /// be gone under the bucket's rules: a rule (one with a size filter
    /// included) could have removed it by now, or the rules cannot be read
    /// to tell.
    pub(super) async fn may_have_expired(
        &self,
        path: &str,
        since_ms: u64,
        noncurrent_left: u64,
    ) -> Result<bool> {
        Ok(match self.rules().await? {
            Lifecycle::Unknown(_) => true,
            rules => rules.may_expire(path).into_iter().any(|r| {
                self.inner
                    .could_have_removed(r, since_ms, noncurrent_left, "")
                    .is_ok()
            }),
        })
    }
}

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
        let listing = self
            .list_all_versions(&log_path, None, window.map(|w| w as usize), deadline)
            .await?;
        let (versions, complete) = (listing.ids, listing.complete);
        // When the oldest version listed was written, by the server's clock.
        let oldest_written = listing.last_modified_ms.last().copied().flatten();
        let total = versions.len() as u64;
        report(VerifyPhase::CheckingLog, 0, Some(total));
        // Every listed version is read and kept as its summary; one that is
        // not an entry is reported where it stands instead of failing the
        // whole check.
        let read: Vec<std::result::Result<Summary, String>> =
            stream::iter(versions.iter().cloned().enumerate())
                .map(|(i, v)| async move {
                    let obj = match retry::idempotent(self, deadline, || {
                        self.store.get(self.log_path(), Some(&v))
                    })
                    .await
                    {
                        Err(e) if cannot_be_read(&e) => return Ok(Err(e.to_string())),
                        other => other?,
                    };
                    if i.is_multiple_of(64) {
                        report(VerifyPhase::CheckingLog, i as u64, Some(total));
                    }
                    Ok::<_, Error>(match obj {
                        Some(o) => Entry::from_log_object(&o.body, &v)
                            .map(|e| Summary::from(&e))
                            .map_err(|e| e.0),
                        None => Err("listed version vanished (deleted while reading?)".into()),
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
                Err(why) => failures.push(Failure {
                    sequence: None,
                    version_id: Some(v.clone()),
                    path: Some(log_path.clone()),
                    kind: FailureKind::Unreadable,
                    detail: format!("log version {v} is not an entry: {why}"),
                }),
            }
        }
        // The whole log was listed but does not start with a first entry:
        // gone under the bucket's retention rules, or deleted.
        let retention = Retention::new(self);
        let mut horizon = None;
        let mut genesis_detail = None;
        if complete {
            match self
                .horizon(&entries, versions.len(), oldest_written, &retention)
                .await?
            {
                Some(Ok(h)) => horizon = Some(h),
                Some(Err(why)) => genesis_detail = Some(why),
                None => {}
            }
        }
        let mut chain = verify::check_chain(&entries, complete && horizon.is_none());
        if let Some(why) = genesis_detail {
            for f in chain
                .iter_mut()
                .filter(|f| f.kind == FailureKind::BadGenesis)
            {
                f.detail = format!("{}: {why}", f.detail);
            }
        }
        failures.extend(chain);
        let lock_check = match opts.check_retention {
            true => Some(self.retention_check(deadline).await?),
            false => None,
        };
        if let Some(check) = &lock_check {
            failures.extend(self.log_retention(check, &entries, deadline).await?);
        }
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
        // A trusted digest older than the horizon expired with the versions
        // around it: it can be neither proven nor refuted.
        let trusted = opts.trusted.as_ref().map(|t| {
            if horizon.as_ref().is_some_and(|h| t.sequence < h.sequence) {
                return TrustedCheck::Expired;
            }
            match verify::check_trusted(&entries, t) {
                Some(f) => {
                    failures.push(f);
                    TrustedCheck::Failed
                }
                None => TrustedCheck::Verified,
            }
        });
        if opts.check_key_objects {
            report(VerifyPhase::ListingKeys, 0, None);
            let keys = self.keys_to_check(&entries, opts.limit.is_none()).await?;
            report(VerifyPhase::ListingKeys, keys.len() as u64, None);
            let mut by_key: HashMap<&str, Vec<&Summary>> = HashMap::new();
            for e in &entries {
                by_key.entry(e.key.as_str()).or_default().push(e);
            }
            let checked = Checked {
                by_version: entries.iter().map(|e| (e.version_id.as_str(), e)).collect(),
                by_key,
                head: entries.first(),
                complete,
                oldest: entries.last().map(|e| e.sequence),
                horizon: horizon.as_ref().map(|h| h.sequence),
                all_versions: opts.limit.is_none(),
                retention: lock_check.as_ref(),
            };
            report(VerifyPhase::CheckingKeyObjects, 0, Some(keys.len() as u64));
            failures.extend(
                self.check_key_objects(keys, &checked, &retention, &|done, total| {
                    report(VerifyPhase::CheckingKeyObjects, done, Some(total))
                })
                .await?,
            );
        }
        failures.sort_by(|a, b| {
            b.sequence
                .cmp(&a.sequence)
                .then_with(|| a.path.cmp(&b.path))
        });
        Ok(Report {
            ok: failures.is_empty() && trusted != Some(TrustedCheck::Expired),
            checked: entries.len(),
            failures,
            head: entries.first().map(Digest::from),
            empty,
            horizon,
            trusted,
        })
    }

    /// The keys whose objects an audit checks, each with whether the bucket
    /// listing showed it: every key object in the store (with `all`), and
    /// every storable key of the checked entries.
    async fn keys_to_check(&self, entries: &[Summary], all: bool) -> Result<Vec<(String, bool)>> {
        // Listed without the reads' side effects: an audit repairs nothing.
        let listed: Vec<String> = if all {
            self.list_key_names("", None, usize::MAX, false, self.audit_deadline())
                .await?
        } else {
            Vec::new()
        };
        let mut seen: HashSet<String> = listed.iter().cloned().collect();
        let mut keys: Vec<(String, bool)> = listed.into_iter().map(|k| (k, true)).collect();
        for e in entries {
            if seen.insert(e.key.clone()) {
                keys.push((e.key.clone(), false));
            }
        }
        Ok(keys)
    }

    /// When the whole log was listed and its oldest entry is not a first
    /// entry: `Ok(horizon)` if the bucket's rules explain the missing
    /// versions (or cannot be read to tell), `Err(why)` if they do not (the
    /// versions were deleted). `None` when the log starts where it should.
    async fn horizon(
        &self,
        newest_first: &[Summary],
        listed: usize,
        oldest_written: Option<u64>,
        retention: &Retention<'_, S>,
    ) -> Result<Option<std::result::Result<Horizon, String>>> {
        let Some(oldest) = newest_first.last() else {
            return Ok(None);
        };
        let first = oldest.sequence == 0
            && oldest.previous_hash == crate::format::hash::GENESIS
            && oldest.previous_version_id.is_none();
        if first {
            return Ok(None);
        }
        let log_path = self.log_path();
        let horizon = |reason, detail| Horizon {
            sequence: oldest.sequence,
            version_id: oldest.version_id.clone(),
            reason,
            detail,
        };
        let rules = match retention.rules().await? {
            Lifecycle::Unknown(why) => {
                return Ok(Some(Ok(horizon(
                    HorizonReason::OldestMissing,
                    format!(
                        "the log versions before sequence {} are gone, and the bucket's lifecycle \
                         rules could not be read ({why}), so removal by a rule cannot be told \
                         from deletion",
                        oldest.sequence
                    ),
                ))))
            }
            rules => rules,
        };
        // S3 removes a version as soon as any rule says so: one rule that
        // could have removed them explains them.
        let mut why_not = Vec::new();
        let mut sized = None;
        for rule in rules.may_expire(log_path) {
            let what = format!("the version before sequence {}", oldest.sequence);
            let noncurrent = listed.saturating_sub(1) as u64;
            // The newest removed version became noncurrent when the oldest
            // one left was written: by the server's clock (LastModified),
            // which no writer chooses; the entry's own timestamp only for a
            // store that does not say.
            let since_ms = oldest_written.unwrap_or(oldest.timestamp_ms);
            match self.could_have_removed(rule, since_ms, noncurrent, &what) {
                Err(why) => why_not.push(why),
                Ok(()) if rule.sized => {
                    sized.get_or_insert(rule);
                }
                Ok(()) => {
                    return Ok(Some(Ok(horizon(
                        HorizonReason::Lifecycle,
                        format!(
                            "{} {}: the log versions before sequence {} have expired",
                            rule.name(),
                            rule.noncurrent_expiry(),
                            oldest.sequence
                        ),
                    ))))
                }
            }
        }
        // A rule that filters on object size removed the versions of some
        // sizes: theirs went with them.
        if let Some(rule) = sized {
            return Ok(Some(Ok(horizon(
                HorizonReason::OldestMissing,
                format!(
                    "the log versions before sequence {} are gone, and {} {} only for objects of \
                     some sizes, so removal by it cannot be told from deletion",
                    oldest.sequence,
                    rule.name(),
                    rule.noncurrent_expiry(),
                ),
            ))));
        }
        if why_not.is_empty() {
            return Ok(Some(Err(format!(
                "the bucket has no enabled lifecycle rule that removes noncurrent versions \
                 of {log_path}, so the versions before it were deleted"
            ))));
        }
        Ok(Some(Err(why_not.join("; "))))
    }

    /// Whether `rule` could have removed `what`, a version that became
    /// noncurrent at `since_ms` (wall clock; a log version when the next
    /// entry was written), with `noncurrent_left` noncurrent versions of its
    /// object left: a rule removes versions only once they are old enough,
    /// and one that went sooner was deleted.
    pub(super) fn could_have_removed(
        &self,
        rule: &crate::lifecycle::Rule,
        since_ms: u64,
        noncurrent_left: u64,
        what: &str,
    ) -> std::result::Result<(), String> {
        if let Some(keep) = rule.newer_noncurrent {
            if noncurrent_left < u64::from(keep) {
                return Err(format!(
                    "{} keeps the newest {keep} noncurrent versions, but only {noncurrent_left} \
                     are left: older ones were deleted",
                    rule.name()
                ));
            }
        }
        if let Some(days) = rule.noncurrent_days {
            // S3 removes a version no sooner than the rule's days after it
            // became noncurrent.
            let since = self.env.wall_ms().saturating_sub(since_ms);
            if since + CLOCK_SKEW_MS < u64::from(days) * DAY_MS {
                return Err(format!(
                    "{} removes noncurrent versions {days} days after they become noncurrent, but \
                     {what} became noncurrent {} hours ago: it was deleted",
                    rule.name(),
                    since / 3_600_000
                ));
            }
        }
        Ok(())
    }

    /// The deadline of an audit's requests: far away, since an audit is
    /// ended by its caller, not by `operationTimeoutMs` (its length grows
    /// with the store). Transient failures still get their few retries.
    pub(super) fn audit_deadline(&self) -> Duration {
        self.now() + Duration::from_secs(366 * 24 * 3600)
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
        self.prove_logged(entry, key, trusted).await
    }

    /// The proof of a verified read, for an entry of `key` already read
    /// (by `get`, or a point-in-time read).
    pub(super) async fn prove_logged(
        &self,
        entry: Entry,
        key: &str,
        trusted: Option<&Digest>,
    ) -> Result<Entry> {
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
        // Each kept as its summary: the values between the two need not be
        // held (the chain check reads the hashes).
        let mut run = vec![Summary::from(&newer)];
        run.extend(
            self.fetch_all(&ids, &log_path, deadline, |b, v| {
                Entry::from_log_object(b, v).map(|e| Summary::from(&e))
            })
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

/// The verified entry as the log holds it (with its links), valued as read.
fn logged_with_value(read: Entry, mut logged: Entry) -> Entry {
    logged.value = read.value;
    logged
}

/// A version that this client cannot read but that does not stop the audit:
/// archived, encrypted with a key we do not hold, or larger than any entry.
/// It is reported where it stands; anything else (access, credentials, the
/// network) fails the check.
pub(super) fn cannot_be_read(e: &crate::storage::StoreError) -> bool {
    matches!(
        e.kind,
        crate::storage::StoreErrorKind::Unreadable | crate::storage::StoreErrorKind::TooLarge
    )
}
