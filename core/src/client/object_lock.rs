//! S3 Object Lock as the client uses it: the retention every write asks
//! for (config `objectLock`), the check that the bucket can lock before a
//! client's first write, and `verifyLog`'s retention step
//! (`checkRetention`): which versions are not retained as they should be.

use super::{retry, Inner};
use crate::bucket::{self, LockRule, ObjectLock, Retention};
use crate::error::{Error, ErrorCode, Result};
use crate::format::Entry;
use crate::storage::Store;
use crate::verify::{Failure, FailureKind, Summary};
use futures_util::{stream, StreamExt, TryStreamExt};
use std::time::Duration;
use tokio::sync::Semaphore;

/// What the audit holds versions to.
pub(super) struct RetentionCheck {
    /// The rule every version must meet: the config's `objectLock`, else
    /// the bucket's default retention rule. Without either, only versions
    /// with no retention, or one that is over, fail.
    required: Option<LockRule>,
    /// The bucket has no Object Lock: no version can be retained. Reported
    /// once, not per version (each would cost a request to say the same).
    unlocked: bool,
    now_ms: u64,
}

impl<S: Store> Inner<S> {
    /// The retention a write made now asks for: `objectLock`'s, from now.
    pub(super) fn write_retention(&self) -> Option<Retention> {
        self.opts
            .object_lock
            .map(|l| l.retention_from(self.env.wall_ms()))
    }

    /// Before this client's first write (a set or a repair), when
    /// `objectLock` is configured: a bucket without Object Lock is refused,
    /// with the fix, before anything is written (S3 would refuse every
    /// write; some servers take the headers and lock nothing). Asked once
    /// per client. A bucket whose configuration cannot be read (not
    /// permitted, not implemented) is written to: the server decides.
    pub(super) async fn ensure_object_lock(&self, deadline: Duration) -> Result<()> {
        let Some(rule) = self.opts.object_lock else {
            return Ok(());
        };
        if self.state().object_lock_checked {
            return Ok(());
        }
        let lock = retry::idempotent(self, deadline, || self.store.object_lock()).await?;
        if lock == ObjectLock::Disabled {
            return Err(Error {
                bucket: Some(self.bucket().to_string()),
                ..Error::new(
                    ErrorCode::ObjectLockDisabled,
                    format!(
                        "bucket {b} does not have Object Lock enabled, but objectLock ({}) is \
                         configured: its writes would ask for a retention the bucket cannot keep. \
                         Nothing was written. Enable Object Lock on the bucket (versioning must \
                         be on): aws s3api put-object-lock-configuration --bucket {b} \
                         --object-lock-configuration '{{\"ObjectLockEnabled\":\"Enabled\"}}' \
                         (or create it with --object-lock-enabled-for-bucket), or leave \
                         objectLock out of the config",
                        rule.describe(),
                        b = self.bucket()
                    ),
                )
            });
        }
        self.state().object_lock_checked = true;
        Ok(())
    }

    /// What the audit's retention step holds versions to (one request: the
    /// bucket's Object Lock configuration).
    pub(super) async fn retention_check(&self, deadline: Duration) -> Result<RetentionCheck> {
        let bucket = retry::idempotent(self, deadline, || self.store.object_lock()).await?;
        let default = match &bucket {
            ObjectLock::Enabled { default } => *default,
            _ => None,
        };
        Ok(RetentionCheck {
            required: self.opts.object_lock.or(default),
            unlocked: bucket == ObjectLock::Disabled,
            now_ms: self.env.wall_ms(),
        })
    }

    /// The checked log entries whose versions are not retained as required
    /// (one GetObjectRetention each, `read_concurrency` at a time). A bucket
    /// without Object Lock is one failure at the log.
    pub(super) async fn log_retention(
        &self,
        check: &RetentionCheck,
        entries: &[Summary],
        deadline: Duration,
    ) -> Result<Vec<Failure>> {
        let log = self.log_path();
        if check.unlocked {
            return Ok(vec![Failure {
                sequence: None,
                version_id: None,
                path: Some(log.to_string()),
                kind: FailureKind::Retention,
                detail: format!(
                    "bucket {b} has no Object Lock, so no version of {log} or of any key object \
                     is retained: anyone allowed to delete versions can remove them (enable it: \
                     aws s3api put-object-lock-configuration --bucket {b} \
                     --object-lock-configuration '{{\"ObjectLockEnabled\":\"Enabled\",\"Rule\":\
                     {{\"DefaultRetention\":{{\"Mode\":\"COMPLIANCE\",\"Days\":DAYS}}}}}}'; \
                     versions written before keep no retention until one is set on each)",
                    b = self.bucket()
                ),
            }]);
        }
        // By index: a closure taking a borrowed item would not be Send for
        // every lifetime.
        let found: Vec<(&Summary, Option<Retention>)> = stream::iter(0..entries.len())
            .map(|i| async move {
                let e = &entries[i];
                let r =
                    retry::idempotent(self, deadline, || self.store.retention(log, &e.version_id))
                        .await?;
                Ok::<_, Error>((e, r))
            })
            .buffered(self.opts.read_concurrency)
            .try_collect()
            .await?;
        Ok(found
            .into_iter()
            .filter_map(|(e, r)| {
                let why = bucket::retention_problem(
                    r.as_ref(),
                    check.required.as_ref(),
                    Some(e.timestamp_ms),
                    check.now_ms,
                )?;
                Some(Failure::at(
                    e,
                    FailureKind::Retention,
                    self.retention_detail(log, &e.version_id, &why, check, Some(e.timestamp_ms)),
                ))
            })
            .collect())
    }

    /// The key-object versions read by the audit (each with the entry it
    /// holds, if it is one) that are not retained as required; at most
    /// `gate`'s permits of requests at once.
    pub(super) async fn key_retention(
        &self,
        check: &RetentionCheck,
        path: &str,
        versions: Vec<(&str, Option<&Entry>)>,
        gate: &Semaphore,
        deadline: Duration,
    ) -> Result<Vec<Failure>> {
        if check.unlocked {
            return Ok(Vec::new()); // reported once, at the log
        }
        let versions = &versions;
        let found: Vec<(&str, Option<&Entry>, Option<Retention>)> = stream::iter(0..versions.len())
            .map(|i| async move {
                let (v, e) = versions[i];
                let _permit = gate
                    .acquire()
                    .await
                    .map_err(|_| Error::internal("the audit's read gate closed"))?;
                let r = retry::idempotent(self, deadline, || self.store.retention(path, v)).await?;
                Ok::<_, Error>((v, e, r))
            })
            .buffered(self.opts.read_concurrency)
            .try_collect()
            .await?;
        Ok(found
            .into_iter()
            .filter_map(|(v, e, r)| {
                let written = e.map(|e| e.timestamp_ms);
                let why = bucket::retention_problem(
                    r.as_ref(),
                    check.required.as_ref(),
                    written,
                    check.now_ms,
                )?;
                Some(Failure {
                    sequence: e.map(|e| e.sequence),
                    version_id: Some(v.to_string()),
                    path: Some(path.to_string()),
                    kind: FailureKind::Retention,
                    detail: self.retention_detail(path, v, &why, check, written),
                })
            })
            .collect())
    }

    /// A retention failure in words, with the command that sets the
    /// retention the version should have (extending one is allowed in
    /// either mode).
    fn retention_detail(
        &self,
        path: &str,
        version: &str,
        why: &str,
        check: &RetentionCheck,
        written_ms: Option<u64>,
    ) -> String {
        let fix = match (check.required, written_ms) {
            (Some(rule), Some(written)) => {
                let due = rule
                    .retention_from(written)
                    .until_ms
                    .max(check.now_ms + bucket::DAY_MS);
                format!(
                    " (set it: aws s3api put-object-retention --bucket {} --key {path} \
                     --version-id {version} --retention Mode={},RetainUntilDate={})",
                    self.bucket(),
                    rule.mode.as_str(),
                    bucket::date(due)
                )
            }
            _ => String::new(),
        };
        format!("version {version} of {path}: {why}{fix}")
    }
}
