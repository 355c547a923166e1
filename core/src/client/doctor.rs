//! `check_store`: is the bucket fit for a store, and may these credentials
//! do what the store needs? Found out with requests that change nothing:
//! reads of the bucket's settings and of the log, and one PUT whose
//! `If-Match` cannot hold (not sent by a read-only client). Judged by
//! [`crate::doctor`]. And the IAM policy a store needs ([`crate::policy`]).

use super::{retry, Client, Inner};
use crate::bucket::{Encryption, ObjectLock, Versioning};
use crate::doctor::{Access, Facts, Log, Probe, StoreCheck};
use crate::error::Result;
use crate::format::Entry;
use crate::lifecycle::Lifecycle;
use crate::storage::s3::S3Store;
use crate::storage::{
    ListFrom, Precondition, PutOutcome, Store, StoreError, StoreErrorKind, StoreResult,
};

/// The probe PUT's `If-Match`: no object has this ETag (S3's are quoted
/// hex digests), so the condition cannot hold and nothing is written.
const NO_SUCH_ETAG: &str = "\"immukv-doctor-probe\"";

/// What a request's answer says about the credentials: allowed (answered),
/// denied (403); any other failure (credentials missing or refused as such:
/// a wrong secret, an unknown key; the network; not an S3 server) ends the
/// doctor with an error: it could not look.
fn probed<T>(answer: StoreResult<T>) -> Result<std::result::Result<T, StoreError>> {
    match answer {
        Ok(t) => Ok(Ok(t)),
        Err(e) if e.kind == StoreErrorKind::AccessDenied && !e.credentials_rejected() => Ok(Err(e)),
        Err(e) => Err(e.into()),
    }
}

/// A bucket setting read as "could not be read: why" tells about its
/// permission too (the storage layer says "not permitted (...)" for a 403).
fn setting_access(unknown: Option<&str>) -> Access {
    match unknown {
        None => Access::Allowed,
        Some(why) if why.starts_with("not permitted") => Access::Denied,
        Some(why) => Access::Unknown(why.to_string()),
    }
}

impl<S: Store> Inner<S> {
    pub(super) async fn check_store(&self) -> Result<StoreCheck> {
        let deadline = self.deadline();
        let log_path = self.log_path().to_string();
        let keys_prefix = self.layout.keys_prefix().to_string();
        let mut facts = Facts {
            bucket: self.bucket().to_string(),
            prefix: self.opts.prefix.clone(),
            log_path: log_path.clone(),
            keys_prefix: keys_prefix.clone(),
            writer: !self.opts.read_only,
            object_lock_config: self.opts.object_lock,
            kms_key_id: self.store.kms_key_id().map(str::to_string),
            now_ms: self.env.wall_ms(),
            bucket_exists: true,
            versioning: Versioning::Unknown("not read".into()),
            object_lock: ObjectLock::Unknown("not read".into()),
            encryption: Encryption::Unknown("not read".into()),
            lifecycle: Lifecycle::Unknown("not read".into()),
            log: Log::Unknown("not read".into()),
            head_retention: None,
            probes: Vec::new(),
            probe_written: None,
        };
        let probe = |action, access, how: &str| Probe {
            action,
            access,
            how: how.to_string(),
        };

        // The bucket's settings; the first answer also tells whether the
        // bucket exists.
        facts.versioning = match retry::idempotent(self, deadline, || self.store.versioning()).await
        {
            Err(e) if e.kind == StoreErrorKind::NoSuchBucket => {
                facts.bucket_exists = false;
                return Ok(StoreCheck::from(facts));
            }
            other => other?,
        };
        let (lock, encryption, lifecycle) = tokio::join!(
            retry::idempotent(self, deadline, || self.store.object_lock()),
            retry::idempotent(self, deadline, || self.store.encryption()),
            retry::idempotent(self, deadline, || self.store.lifecycle()),
        );
        facts.object_lock = lock?;
        facts.encryption = encryption?;
        facts.lifecycle = lifecycle?;
        let unknown = |v: &Versioning| match v {
            Versioning::Unknown(why) => Some(why.clone()),
            _ => None,
        };
        facts.probes.push(probe(
            "s3:GetBucketVersioning",
            setting_access(unknown(&facts.versioning).as_deref()),
            "GetBucketVersioning",
        ));
        facts.probes.push(probe(
            "s3:GetBucketObjectLockConfiguration",
            setting_access(match &facts.object_lock {
                ObjectLock::Unknown(why) => Some(why),
                _ => None,
            }),
            "GetObjectLockConfiguration",
        ));
        facts.probes.push(probe(
            "s3:GetEncryptionConfiguration",
            setting_access(match &facts.encryption {
                Encryption::Unknown(why) => Some(why),
                _ => None,
            }),
            "GetBucketEncryption",
        ));
        facts.probes.push(probe(
            "s3:GetLifecycleConfiguration",
            setting_access(match &facts.lifecycle {
                Lifecycle::Unknown(why) => Some(why),
                _ => None,
            }),
            "GetBucketLifecycleConfiguration",
        ));

        // The log: its latest version, its listing, and the key objects'
        // listing.
        let (head, listed, keys) = tokio::join!(
            retry::idempotent(self, deadline, || self.store.get(&log_path, None)),
            retry::idempotent(self, deadline, || {
                self.store.list_versions(&log_path, &ListFrom::Newest, 1)
            }),
            retry::idempotent(self, deadline, || {
                self.store.list_paths(&keys_prefix, None, None, 1)
            }),
        );
        let get_how = format!("GetObject of {log_path}");
        // What the GET says about the log when it does not return it.
        let (get_access, head) = match head {
            Ok(h) => (Access::Allowed, Ok(h)),
            // Permitted, but the object cannot be read (archived, too
            // large): the log head is unusable.
            Err(e) if super::audit::cannot_be_read(&e) => {
                (Access::Allowed, Err(Log::Unreadable(e.detail)))
            }
            Err(e) if e.kind == StoreErrorKind::AccessDenied && !e.credentials_rejected() => (
                Access::Denied,
                Err(Log::Unknown("not permitted to read it".into())),
            ),
            Err(e) => return Err(e.into()),
        };
        facts
            .probes
            .push(probe("s3:GetObject", get_access, &get_how));
        let listed = probed(listed)?;
        facts.probes.push(probe(
            "s3:ListBucketVersions",
            if listed.is_ok() {
                Access::Allowed
            } else {
                Access::Denied
            },
            &format!("ListObjectVersions of {log_path}"),
        ));
        facts.probes.push(probe(
            "s3:ListBucket",
            if probed(keys)?.is_ok() {
                Access::Allowed
            } else {
                Access::Denied
            },
            &format!("ListObjectsV2 under {keys_prefix}"),
        ));
        facts.log = match (head, &listed) {
            (Ok(Some(obj)), _) => {
                let version = obj.version_id.clone().unwrap_or_else(|| "null".into());
                match Entry::from_log_object(&obj.body, &version) {
                    Ok(e) => Log::Present {
                        sequence: e.sequence,
                        version_id: version,
                        timestamp_ms: e.timestamp_ms,
                    },
                    Err(why) => Log::Unreadable(format!(
                        "its latest version {version} is not an entry: {}",
                        why.0
                    )),
                }
            }
            (Ok(None), Ok(page)) => match &page.latest_delete_marker {
                Some(marker) => Log::Deleted {
                    marker: Some(marker.clone()),
                },
                None if page.version_ids.is_empty() => Log::Empty,
                None => Log::Unknown("it was written while the doctor looked: run it again".into()),
            },
            (Ok(None), Err(_)) => Log::Unknown("its versions cannot be listed".into()),
            (Err(log), _) => log,
        };

        // A version of the log, and its retention, when there is one.
        let head_version = match &facts.log {
            Log::Present { version_id, .. } => Some(version_id.clone()),
            _ => None,
        };
        match &head_version {
            Some(v) => {
                let (by_version, retention) = tokio::join!(
                    retry::idempotent(self, deadline, || self.store.get(&log_path, Some(v))),
                    retry::idempotent(self, deadline, || self.store.retention(&log_path, v)),
                );
                let how = format!("GetObject of {log_path} version {v}");
                let access = match by_version {
                    Ok(_) => Access::Allowed,
                    Err(e) if super::audit::cannot_be_read(&e) => Access::Allowed,
                    Err(e)
                        if e.kind == StoreErrorKind::AccessDenied && !e.credentials_rejected() =>
                    {
                        Access::Denied
                    }
                    Err(e) => return Err(e.into()),
                };
                facts
                    .probes
                    .push(probe("s3:GetObjectVersion", access, &how));
                let how = format!("GetObjectRetention of {log_path} version {v}");
                let access = match retention {
                    Ok(r) => {
                        facts.head_retention = Some(r);
                        Access::Allowed
                    }
                    Err(e)
                        if e.kind == StoreErrorKind::AccessDenied && !e.credentials_rejected() =>
                    {
                        Access::Denied
                    }
                    Err(e)
                        if matches!(e.kind, StoreErrorKind::BadRequest | StoreErrorKind::Other) =>
                    {
                        Access::Unknown(e.detail)
                    }
                    Err(e) => return Err(e.into()),
                };
                facts
                    .probes
                    .push(probe("s3:GetObjectRetention", access, &how));
            }
            None => {
                for action in ["s3:GetObjectVersion", "s3:GetObjectRetention"] {
                    facts.probes.push(probe(
                        action,
                        Access::NotChecked("the log has no version to read".into()),
                        "",
                    ));
                }
            }
        }

        // May it write? A PUT beside the store whose condition cannot hold.
        let (access, how) = self.probe_put(&mut facts).await?;
        facts
            .probes
            .push(probe("s3:PutObject", access.clone(), &how));
        if self.opts.object_lock.is_some() {
            facts
                .probes
                .push(probe("s3:PutObjectRetention", access, &how));
        }
        Ok(StoreCheck::from(facts))
    }

    /// The PUT probe: `If-Match` on an ETag no object has, to a path beside
    /// the store (`P_immukv-doctor-probe`: never the log, in case a server
    /// ignores the condition), with the retention writes ask for. A 412 (or
    /// AWS's 404 for a missing object) says the PUT was allowed and nothing
    /// was written; 403 says denied.
    async fn probe_put(&self, facts: &mut Facts) -> Result<(Access, String)> {
        if self.opts.read_only {
            return Ok((
                Access::NotChecked("a read-only client sends no PUT".into()),
                String::new(),
            ));
        }
        let path = format!("{}_immukv-doctor-probe", self.opts.prefix);
        let lock = match self.opts.object_lock {
            Some(_) => " with the retention headers of objectLock (AWS then checks s3:PutObjectRetention too)",
            None => "",
        };
        let how = format!(
            "PutObject of {path} with an If-Match no object meets{lock}: refused, nothing written"
        );
        let body = b"{}".to_vec();
        let condition = Precondition::IfMatch(NO_SUCH_ETAG.into());
        let sent = self
            .store
            .put(&path, body, condition, self.write_retention())
            .await;
        Ok(match sent {
            Ok(PutOutcome::PreconditionFailed) => (Access::Allowed, how),
            Ok(PutOutcome::Written(_)) => {
                facts.probe_written = Some(path.clone());
                (Access::Allowed, format!("PutObject of {path}"))
            }
            Err(e) if e.kind == StoreErrorKind::AccessDenied && !e.credentials_rejected() => {
                (Access::Denied, how)
            }
            Err(e) if e.kind == StoreErrorKind::Credentials => return Err(e.into()),
            Err(e) => (
                Access::Unknown(e.detail),
                format!("PutObject of {path}{lock}"),
            ),
        })
    }
}

impl<S: Store> Client<S> {
    /// Checks the bucket and the credentials for use as a store: versioning,
    /// Object Lock, lifecycle rules, default encryption, each permission the
    /// store needs, and the log under the prefix. Sends nothing that changes
    /// the bucket. A failure to look at all (credentials, network, not an S3
    /// server) is an error; everything else is a finding.
    pub async fn check_store(&self) -> Result<StoreCheck> {
        self.inner
            .call("checkStore", None, self.inner.check_store())
            .await
    }
}

impl Client<S3Store> {
    /// The least-privilege IAM policy document for this client's bucket,
    /// prefix, `kmsKeyId` and `objectLock` (see [`crate::policy`]).
    pub fn policy(&self, read_only: bool) -> serde_json::Value {
        let store = self.store();
        crate::policy::document(&crate::policy::Scope {
            bucket: store.bucket(),
            prefix: &self.inner.opts.prefix,
            region: store.region(),
            kms_key_id: store.kms_key_id(),
            object_lock: self.inner.opts.object_lock.is_some(),
            read_only,
        })
    }
}
