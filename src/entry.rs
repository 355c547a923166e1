//! Entries, digests, reports and counters as JavaScript objects.

use immukv_core::bucket::{Encryption, LockRule, ObjectLock};
use immukv_core::client::{Progress, VerifyPhase};
use immukv_core::doctor::{Log, StoreCheck};
use immukv_core::{Digest, Entry, Report, StatsSnapshot};
use napi_derive::napi;

#[napi(object)]
pub struct NativeEntry {
    pub key: String,
    /// The stored value as JSON text; absent on the entry `set` returns (the
    /// caller has the value).
    pub value_json: Option<String>,
    /// `value_json` holds `NaN`, `Infinity` or `-Infinity` (written by the
    /// earlier Python client): `JSON.parse` refuses it, so the TypeScript
    /// layer reads it with its own parser.
    pub value_non_finite: bool,
    pub timestamp_ms: f64,
    pub version_id: String,
    pub sequence: f64,
    pub previous_version_id: Option<String>,
    pub hash: String,
    pub previous_hash: String,
    pub previous_key_object_etag: Option<String>,
}

impl NativeEntry {
    pub fn read(e: Entry) -> Self {
        let value = Some(e.value.as_str().to_string());
        NativeEntry::with_value(e, value)
    }

    pub fn written(e: Entry) -> Self {
        NativeEntry::with_value(e, None)
    }

    fn with_value(e: Entry, value_json: Option<String>) -> Self {
        NativeEntry {
            value_non_finite: value_json.is_some() && e.value.non_finite(),
            value_json,
            key: e.key,
            timestamp_ms: e.timestamp_ms as f64,
            version_id: e.version_id,
            sequence: e.sequence as f64,
            previous_version_id: e.previous_version_id,
            hash: e.hash,
            previous_hash: e.previous_hash,
            previous_key_object_etag: e.previous_key_object_etag,
        }
    }
}

/// The fields a hash covers, for `verifyEntry`.
#[napi(object)]
pub struct EntryFields {
    pub key: String,
    pub timestamp_ms: f64,
    pub sequence: f64,
    pub previous_hash: String,
    pub hash: String,
}

#[napi(object)]
pub struct NativeHistory {
    pub entries: Vec<NativeEntry>,
    pub next_cursor: Option<String>,
}

#[napi(object)]
pub struct NativeDigest {
    pub sequence: f64,
    pub version_id: String,
    pub hash: String,
}

impl From<Digest> for NativeDigest {
    fn from(d: Digest) -> Self {
        NativeDigest {
            sequence: d.sequence as f64,
            version_id: d.version_id,
            hash: d.hash,
        }
    }
}

impl NativeDigest {
    pub fn into_core(self) -> Digest {
        Digest {
            sequence: self.sequence as u64,
            version_id: self.version_id,
            hash: self.hash,
        }
    }
}

#[napi(object)]
pub struct NativeFailure {
    pub sequence: Option<f64>,
    pub version_id: Option<String>,
    pub path: Option<String>,
    pub kind: String,
    pub detail: String,
}

#[napi(object)]
pub struct NativeReport {
    pub ok: bool,
    pub checked: u32,
    pub failures: Vec<NativeFailure>,
    pub head: Option<NativeDigest>,
    pub empty: bool,
    pub horizon: Option<NativeHorizon>,
    /// `verified`, `expired` or `failed`, when a trusted digest was given.
    pub trusted: Option<String>,
}

#[napi(object)]
pub struct NativeHorizon {
    pub sequence: f64,
    pub version_id: String,
    /// `lifecycle` or `oldest_missing`.
    pub reason: String,
    pub detail: String,
}

impl From<Report> for NativeReport {
    fn from(r: Report) -> Self {
        NativeReport {
            ok: r.ok,
            checked: r.checked as u32,
            failures: r
                .failures
                .into_iter()
                .map(|f| NativeFailure {
                    sequence: f.sequence.map(|s| s as f64),
                    version_id: f.version_id,
                    path: f.path,
                    kind: f.kind.as_str().to_string(),
                    detail: f.detail,
                })
                .collect(),
            head: r.head.map(Into::into),
            empty: r.empty,
            horizon: r.horizon.map(|h| NativeHorizon {
                sequence: h.sequence as f64,
                version_id: h.version_id,
                reason: h.reason.as_str().to_string(),
                detail: h.detail,
            }),
            trusted: r.trusted.map(|t| t.as_str().to_string()),
        }
    }
}

#[napi(object)]
pub struct NativeVerifyOptions {
    pub limit: Option<f64>,
    pub trusted: Option<NativeDigest>,
    pub check_key_objects: Option<bool>,
    pub check_retention: Option<bool>,
}

/// `verifyLog`'s progress, for a progress bar.
#[napi(object)]
pub struct NativeProgress {
    pub phase: String,
    pub done: f64,
    pub total: Option<f64>,
}

impl From<Progress> for NativeProgress {
    fn from(p: Progress) -> Self {
        NativeProgress {
            phase: match p.phase {
                VerifyPhase::ListingLog => "listing log",
                VerifyPhase::CheckingLog => "checking log",
                VerifyPhase::ListingKeys => "listing keys",
                VerifyPhase::CheckingKeyObjects => "checking key objects",
            }
            .to_string(),
            done: p.done as f64,
            total: p.total.map(|t| t as f64),
        }
    }
}

/// Counters since the client was made.
#[napi(object)]
pub struct NativeStats {
    pub requests: NativeRequests,
    pub request_errors: f64,
    pub bytes_sent: f64,
    pub bytes_received: f64,
    pub retries: f64,
    pub conflicts: f64,
    pub repairs: f64,
    pub repairs_failed: f64,
    pub commits: f64,
    pub settled: f64,
}

#[napi(object)]
pub struct NativeRequests {
    pub get: f64,
    pub head: f64,
    pub put: f64,
    pub list_versions: f64,
    pub list_objects: f64,
    pub get_bucket_versioning: f64,
    pub bucket_config: f64,
    pub get_object_retention: f64,
    pub total: f64,
}

impl From<StatsSnapshot> for NativeStats {
    fn from(s: StatsSnapshot) -> Self {
        let n = |v: u64| v as f64;
        NativeStats {
            requests: NativeRequests {
                get: n(s.get),
                head: n(s.head),
                put: n(s.put),
                list_versions: n(s.list_versions),
                list_objects: n(s.list_paths),
                get_bucket_versioning: n(s.versioning),
                bucket_config: n(s.bucket_config),
                get_object_retention: n(s.retention),
                total: n(s.requests()),
            },
            request_errors: n(s.request_errors),
            bytes_sent: n(s.bytes_sent),
            bytes_received: n(s.bytes_received),
            retries: n(s.retries),
            conflicts: n(s.conflicts),
            repairs: n(s.repairs),
            repairs_failed: n(s.repairs_failed),
            commits: n(s.commits),
            settled: n(s.settled),
        }
    }
}

/// `checkStore`'s report.
#[napi(object)]
pub struct NativeStoreCheck {
    pub ok: bool,
    pub bucket: String,
    pub prefix: String,
    /// `enabled`, `suspended`, `off` or `unknown`.
    pub versioning: String,
    pub object_lock: NativeObjectLockState,
    pub encryption: NativeEncryptionState,
    pub log: NativeLogState,
    pub findings: Vec<NativeFinding>,
}

#[napi(object)]
pub struct NativeObjectLockState {
    /// `enabled`, `disabled` or `unknown`.
    pub state: String,
    pub default_mode: Option<String>,
    pub default_days: Option<f64>,
    /// Why it could not be read.
    pub detail: Option<String>,
}

#[napi(object)]
pub struct NativeEncryptionState {
    /// `SSE-S3`, `SSE-KMS`, `none`, `other` or `unknown`.
    pub state: String,
    pub kms_key_id: Option<String>,
    /// The algorithm (`other`), or why it could not be read.
    pub detail: Option<String>,
}

#[napi(object)]
pub struct NativeLogState {
    /// `present`, `empty`, `deleted`, `unreadable` or `unknown`.
    pub state: String,
    pub sequence: Option<f64>,
    /// The head's version, or the delete marker's.
    pub version_id: Option<String>,
    pub detail: Option<String>,
}

#[napi(object)]
pub struct NativeFinding {
    pub check: String,
    pub status: String,
    pub summary: String,
    pub fix: Option<String>,
    pub subject: Option<String>,
}

impl From<StoreCheck> for NativeStoreCheck {
    fn from(r: StoreCheck) -> Self {
        let rule = |r: Option<LockRule>| {
            (
                r.map(|r| r.mode.as_str().to_string()),
                r.map(|r| f64::from(r.days)),
            )
        };
        let object_lock = match r.object_lock {
            ObjectLock::Enabled { default } => {
                let (default_mode, default_days) = rule(default);
                NativeObjectLockState {
                    state: "enabled".into(),
                    default_mode,
                    default_days,
                    detail: None,
                }
            }
            ObjectLock::Disabled => NativeObjectLockState {
                state: "disabled".into(),
                default_mode: None,
                default_days: None,
                detail: None,
            },
            ObjectLock::Unknown(why) => NativeObjectLockState {
                state: "unknown".into(),
                default_mode: None,
                default_days: None,
                detail: Some(why),
            },
        };
        let enc = |state: &str, kms_key_id: Option<String>, detail: Option<String>| {
            NativeEncryptionState {
                state: state.into(),
                kms_key_id,
                detail,
            }
        };
        let encryption = match r.encryption {
            Encryption::None => enc("none", None, None),
            Encryption::S3 => enc("SSE-S3", None, None),
            Encryption::Kms { key } => enc("SSE-KMS", key, None),
            Encryption::Other(a) => enc("other", None, Some(a)),
            Encryption::Unknown(why) => enc("unknown", None, Some(why)),
        };
        let log = |state: &str,
                   sequence: Option<u64>,
                   version_id: Option<String>,
                   detail: Option<String>| NativeLogState {
            state: state.into(),
            sequence: sequence.map(|s| s as f64),
            version_id,
            detail,
        };
        let log = match r.log {
            Log::Present {
                sequence,
                version_id,
                ..
            } => log("present", Some(sequence), Some(version_id), None),
            Log::Empty => log("empty", None, None, None),
            Log::Deleted { marker } => log("deleted", None, marker, None),
            Log::Unreadable(why) => log("unreadable", None, None, Some(why)),
            Log::Unknown(why) => log("unknown", None, None, Some(why)),
        };
        NativeStoreCheck {
            ok: r.ok,
            bucket: r.bucket,
            prefix: r.prefix,
            versioning: r.versioning.as_str().to_string(),
            object_lock,
            encryption,
            log,
            findings: r
                .findings
                .into_iter()
                .map(|f| NativeFinding {
                    check: f.check.as_str().to_string(),
                    status: f.status.as_str().to_string(),
                    summary: f.summary,
                    fix: f.fix,
                    subject: f.subject,
                })
                .collect(),
        }
    }
}

/// `watch()`'s options, checked by the TypeScript layer for types.
#[napi(object)]
pub struct NativeWatchOptions {
    pub from_sequence: Option<f64>,
    pub after: Option<NativeDigest>,
    pub keys: Option<Vec<String>>,
    pub key_prefix: Option<String>,
    pub poll_interval_ms: Option<f64>,
}

/// Entries a feed hands over, and where it stands.
#[napi(object)]
pub struct NativeFeedBatch {
    pub entries: Vec<NativeEntry>,
    /// The last entry read and verified (handed over or passed over by the
    /// key filter): start a new feed after it to go on from here.
    pub position: Option<NativeDigest>,
}

/// Where a client's log lives (what an S3 event notification names).
#[napi(object)]
pub struct NativeLogLocation {
    pub bucket: String,
    pub path: String,
}
