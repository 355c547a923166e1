//! The bucket doctor's verdicts: what a bucket's settings, and what the
//! client's credentials could and could not do there, mean for an ImmuKV
//! store, each problem with its fix. Pure: `client/doctor.rs` gathers the
//! facts (with requests that change nothing).

use crate::bucket::{self, Encryption, LockMode, LockRule, ObjectLock, Retention, Versioning};
use crate::lifecycle::{Lifecycle, Rule};

/// What a finding is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    Bucket,
    Versioning,
    ObjectLock,
    Lifecycle,
    Encryption,
    Permission,
    /// Whether the server honours conditional writes.
    ConditionalWrites,
    Log,
}

impl Check {
    pub fn as_str(self) -> &'static str {
        match self {
            Check::Bucket => "bucket",
            Check::Versioning => "versioning",
            Check::ObjectLock => "object_lock",
            Check::Lifecycle => "lifecycle",
            Check::Encryption => "encryption",
            Check::Permission => "permission",
            Check::ConditionalWrites => "conditional_writes",
            Check::Log => "log",
        }
    }
}

/// How a finding bears on using the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// As it should be.
    Ok,
    /// Worth knowing; nothing to fix.
    Info,
    /// The store works, but history or its audit is at risk.
    Warning,
    /// The store cannot be used until it is fixed.
    Blocking,
    /// Could not be determined (not permitted, or the server does not
    /// implement the request): said so rather than guessed.
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Info => "info",
            Status::Warning => "warning",
            Status::Blocking => "blocking",
            Status::Unknown => "unknown",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub check: Check,
    pub status: Status,
    /// What was found and what it means, in words.
    pub summary: String,
    /// The command (or step) that fixes it.
    pub fix: Option<String>,
    /// What it is about within its check: the IAM action of a permission,
    /// the id of a lifecycle rule.
    pub subject: Option<String>,
}

impl Finding {
    fn new(check: Check, status: Status, summary: impl Into<String>) -> Self {
        Finding {
            check,
            status,
            summary: summary.into(),
            fix: None,
            subject: None,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }
}

/// What a probe found the credentials may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    Allowed,
    Denied,
    /// Not tried: why (a read-only client sends no PUT, say).
    NotChecked(String),
    /// Tried, but the answer does not tell (a server without the API).
    Unknown(String),
}

/// One action the store needs, and what a request that changes nothing
/// found about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    /// The IAM action, e.g. `s3:GetObject`.
    pub action: &'static str,
    pub access: Access,
    /// The request that told, e.g. "ListObjectVersions of audit/_log.json".
    pub how: String,
}

/// The log under the prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Log {
    Present {
        sequence: u64,
        version_id: String,
        /// The writer's clock when the head was written.
        timestamp_ms: u64,
    },
    /// No version and no delete marker: nothing was ever written here.
    Empty,
    /// The latest version is a delete marker over entries.
    Deleted { marker: Option<String> },
    /// The head is there but cannot be used: why.
    Unreadable(String),
    /// Could not be looked at: why.
    Unknown(String),
}

/// Everything the doctor found out.
#[derive(Clone, Debug)]
pub struct Facts {
    pub bucket: String,
    pub prefix: String,
    pub log_path: String,
    pub keys_prefix: String,
    /// The client may write (not `readOnly`).
    pub writer: bool,
    /// The config's `objectLock`.
    pub object_lock_config: Option<LockRule>,
    pub kms_key_id: Option<String>,
    pub now_ms: u64,
    /// `false`: the bucket does not exist (nothing else was looked at).
    pub bucket_exists: bool,
    pub versioning: Versioning,
    pub object_lock: ObjectLock,
    pub encryption: Encryption,
    pub lifecycle: Lifecycle,
    pub log: Log,
    /// The log head's retention, when it was read.
    pub head_retention: Option<Option<Retention>>,
    pub probes: Vec<Probe>,
    /// The PUT that could not meet its condition was applied anyway: the
    /// object it wrote.
    pub probe_written: Option<String>,
}

/// The doctor's report.
#[derive(Clone, Debug)]
pub struct StoreCheck {
    /// Nothing blocks using the store.
    pub ok: bool,
    pub bucket: String,
    pub prefix: String,
    pub versioning: Versioning,
    pub object_lock: ObjectLock,
    pub encryption: Encryption,
    pub log: Log,
    /// Every finding, most serious first.
    pub findings: Vec<Finding>,
}

impl From<Facts> for StoreCheck {
    fn from(facts: Facts) -> Self {
        let mut findings = findings(&facts);
        findings.sort_by_key(|f| std::cmp::Reverse(severity(f.status)));
        StoreCheck {
            ok: !findings.iter().any(|f| f.status == Status::Blocking),
            bucket: facts.bucket,
            prefix: facts.prefix,
            versioning: facts.versioning,
            object_lock: facts.object_lock,
            encryption: facts.encryption,
            log: facts.log,
            findings,
        }
    }
}

/// Order of a report: what blocks first, then warnings, unknowns, notes,
/// and what is fine.
fn severity(s: Status) -> u8 {
    match s {
        Status::Blocking => 4,
        Status::Warning => 3,
        Status::Unknown => 2,
        Status::Info => 1,
        Status::Ok => 0,
    }
}

/// The findings, in the order of the checks.
pub fn findings(f: &Facts) -> Vec<Finding> {
    if !f.bucket_exists {
        return vec![Finding::new(
            Check::Bucket,
            Status::Blocking,
            format!("bucket {} does not exist", f.bucket),
        )
        .fix(format!(
            "aws s3api create-bucket --bucket {} --object-lock-enabled-for-bucket (Object Lock \
             turns versioning on too; add --create-bucket-configuration \
             LocationConstraint=REGION outside us-east-1), or set s3Bucket to an existing bucket",
            f.bucket
        ))];
    }
    let mut out = Vec::new();
    out.push(versioning(f));
    out.extend(object_lock(f));
    out.extend(lifecycle(f));
    out.push(encryption(f));
    out.extend(permissions(f));
    if let Some(path) = &f.probe_written {
        out.push(
            Finding::new(
                Check::ConditionalWrites,
                Status::Blocking,
                format!(
                    "the server applied a PUT whose If-Match could not hold (it wrote {path}): it \
                     does not honour conditional writes, so writers would overwrite each other's \
                     appends. ImmuKV needs a server that does (S3, SeaweedFS, MinIO and others)"
                ),
            )
            .fix(format!(
                "use another server; remove the probe object: aws s3api delete-object --bucket {} \
                 --key {path}",
                f.bucket
            )),
        );
    }
    out.push(log(f));
    out
}

fn versioning(f: &Facts) -> Finding {
    let fix = format!(
        "aws s3api put-bucket-versioning --bucket {} --versioning-configuration Status=Enabled",
        f.bucket
    );
    match &f.versioning {
        Versioning::Enabled => Finding::new(Check::Versioning, Status::Ok, "versioning is enabled"),
        Versioning::Suspended => Finding::new(
            Check::Versioning,
            Status::Blocking,
            "versioning is suspended: a write replaces the object's `null` version in place, \
             so history is not kept and writers refuse the bucket (VERSIONING_DISABLED)",
        )
        .fix(fix),
        Versioning::Off => Finding::new(
            Check::Versioning,
            Status::Blocking,
            "versioning is off: ImmuKV keeps every entry as an object version, so writers refuse \
             the bucket (VERSIONING_DISABLED)",
        )
        .fix(fix),
        Versioning::Unknown(why) => Finding::new(
            Check::Versioning,
            Status::Unknown,
            format!(
                "versioning could not be read ({why}); writers then learn it from their first \
                 write's answer"
            ),
        ),
    }
}

fn lock_fix(bucket: &str, rule: Option<LockRule>) -> String {
    let config = match rule {
        Some(r) => format!(
            "{{\"ObjectLockEnabled\":\"Enabled\",\"Rule\":{{\"DefaultRetention\":{{\"Mode\":\"{}\",\"Days\":{}}}}}}}",
            r.mode.as_str(),
            r.days
        ),
        None => "{\"ObjectLockEnabled\":\"Enabled\"}".to_string(),
    };
    format!(
        "aws s3api put-object-lock-configuration --bucket {bucket} --object-lock-configuration \
         '{config}' (versioning must be on)"
    )
}

fn object_lock(f: &Facts) -> Vec<Finding> {
    let config = f.object_lock_config;
    let mut out = Vec::new();
    let governance = "GOVERNANCE: users with s3:BypassGovernanceRetention can still delete \
                      versions early; COMPLIANCE lets nobody, the account root included";
    match &f.object_lock {
        ObjectLock::Disabled => out.push(match config {
            Some(rule) => Finding::new(
                Check::ObjectLock,
                Status::Blocking,
                format!(
                    "objectLock ({}) is configured, but the bucket has no Object Lock: writers \
                     refuse it (OBJECT_LOCK_DISABLED) before writing anything",
                    rule.describe()
                ),
            )
            .fix(format!(
                "{}, or leave objectLock out of the config",
                lock_fix(&f.bucket, None)
            )),
            None => Finding::new(
                Check::ObjectLock,
                Status::Info,
                "no Object Lock: anyone allowed to delete versions (s3:DeleteObjectVersion) can \
                 remove history; verifyLog finds that afterwards but cannot bring it back",
            )
            .fix(format!(
                "{} makes S3 refuse such deletes (versions written before stay unlocked)",
                lock_fix(
                    &f.bucket,
                    Some(LockRule {
                        mode: LockMode::Compliance,
                        days: 365
                    })
                )
            )),
        }),
        ObjectLock::Enabled { default } => {
            let effective = config.or(*default);
            let mut summary = match (default, config) {
                (Some(d), Some(c)) => format!(
                    "Object Lock is enabled, default retention {}; writes ask for {} \
                     (objectLock; a version's own retention overrides the default)",
                    d.describe(),
                    c.describe()
                ),
                (Some(d), None) => format!(
                    "Object Lock is enabled, default retention {}: every version is retained that \
                     long after it is written",
                    d.describe()
                ),
                (None, Some(c)) => format!(
                    "Object Lock is enabled (no default retention); writes ask for {} (objectLock)",
                    c.describe()
                ),
                (None, None) => String::new(),
            };
            match effective {
                None => out.push(
                    Finding::new(
                        Check::ObjectLock,
                        Status::Warning,
                        "Object Lock is enabled, but nothing retains ImmuKV's writes: the bucket \
                         has no default retention rule and the config no objectLock, so versions \
                         are written unlocked",
                    )
                    .fix(format!(
                        "{}, or set objectLock in the config",
                        lock_fix(
                            &f.bucket,
                            Some(LockRule {
                                mode: LockMode::Compliance,
                                days: 365
                            })
                        )
                    )),
                ),
                Some(rule) => {
                    if rule.mode == LockMode::Governance {
                        summary.push_str(&format!(" ({governance})"));
                    }
                    out.push(Finding::new(Check::ObjectLock, Status::Ok, summary));
                }
            }
            if let (Some(r), Log::Present { sequence, .. }) = (&f.head_retention, &f.log) {
                out.push(head_retention(f, *sequence, r.as_ref(), effective));
            }
        }
        ObjectLock::Unknown(why) => {
            let then = match config {
                Some(_) => "; writers with objectLock go on, and the server refuses their writes if the bucket has no Object Lock",
                None => "",
            };
            out.push(Finding::new(
                Check::ObjectLock,
                Status::Unknown,
                format!("Object Lock could not be read ({why}){then}"),
            ));
            if let (Some(r), Log::Present { sequence, .. }) = (&f.head_retention, &f.log) {
                out.push(head_retention(f, *sequence, r.as_ref(), config));
            }
        }
    }
    out
}

/// What the log head's retention says (proof that locking works, or not).
fn head_retention(
    f: &Facts,
    sequence: u64,
    found: Option<&Retention>,
    required: Option<LockRule>,
) -> Finding {
    let written = match &f.log {
        Log::Present { timestamp_ms, .. } => Some(*timestamp_ms),
        _ => None,
    };
    match bucket::retention_problem(found, required.as_ref(), written, f.now_ms) {
        None => Finding::new(
            Check::ObjectLock,
            Status::Ok,
            format!(
                "the log head (sequence {sequence}) is retained: {}",
                found.map_or_else(String::new, Retention::describe)
            ),
        ),
        Some(why) => Finding::new(
            Check::ObjectLock,
            Status::Warning,
            format!(
                "the log head (sequence {sequence}): {why}; verifyLog({{ checkRetention: true }}) \
                 lists every version that falls short"
            ),
        ),
    }
}

/// Which of ImmuKV's objects a rule acts on: the log, and key objects
/// (all of them, or those under a longer prefix).
fn targets(rule: &Rule, f: &Facts) -> (bool, bool) {
    let log = f.log_path.starts_with(&rule.prefix);
    let keys = f.keys_prefix.starts_with(&rule.prefix) || rule.prefix.starts_with(&f.keys_prefix);
    (log, keys)
}

fn lifecycle(f: &Facts) -> Vec<Finding> {
    let rules = match &f.lifecycle {
        Lifecycle::Unknown(why) => {
            return vec![Finding::new(
                Check::Lifecycle,
                Status::Unknown,
                format!(
                    "lifecycle rules could not be read ({why}): verifyLog cannot tell log versions \
                     a rule expired from deleted ones (its horizon says 'oldest_missing')"
                ),
            )]
        }
        Lifecycle::Rules(rules) => rules,
    };
    let fix = format!(
        "aws s3api get-bucket-lifecycle-configuration --bucket {b} > lifecycle.json; remove \
         that action from the rule (or narrow its filter); aws s3api \
         put-bucket-lifecycle-configuration --bucket {b} --lifecycle-configuration \
         file://lifecycle.json",
        b = f.bucket
    );
    let mut out = Vec::new();
    for rule in rules.iter().filter(|r| r.enabled) {
        let (log, keys) = targets(rule, f);
        if !log && !keys {
            continue;
        }
        let name = rule.name();
        let subject = rule.id.clone().unwrap_or_default();
        if rule.needs_tags {
            out.push(
                Finding::new(
                    Check::Lifecycle,
                    Status::Info,
                    format!("{name} filters on object tags: it never applies to ImmuKV's objects (ImmuKV writes no tags)"),
                )
                .subject(subject),
            );
            continue;
        }
        let mut say = |status, summary: String| {
            let finding = Finding::new(Check::Lifecycle, status, summary).subject(subject.clone());
            out.push(if matches!(status, Status::Warning | Status::Blocking) {
                finding.fix(fix.clone())
            } else {
                finding
            });
        };
        let what = |is_log: bool| {
            if is_log {
                f.log_path.clone()
            } else {
                format!("the key objects under {}", f.keys_prefix)
            }
        };
        let on: Vec<bool> = [(log, true), (keys, false)]
            .into_iter()
            .filter(|(applies, _)| *applies)
            .map(|(_, is_log)| is_log)
            .collect();
        let when = match (rule.expiration_days, &rule.expiration_date) {
            (Some(d), _) => Some(format!("{d} days after they are written")),
            (None, Some(date)) => Some(format!("on {date}")),
            _ => None,
        };
        for &is_log in &on {
            if let Some(when) = &when {
                let effect = if is_log {
                    "S3 then puts a delete marker on the log, and writers stop with LOG_DELETED \
                     (readers see an empty log)"
                } else {
                    "S3 then puts delete markers on them: get answers KEY_NOT_FOUND for a key not \
                     written since, and verifyLog reports key_object_mismatch"
                };
                say(
                    Status::Blocking,
                    format!(
                        "{name} expires the current versions of {} {when}: {effect}",
                        what(is_log)
                    ),
                );
            }
            if let Some((days, class)) = &rule.transition {
                let (status, effect) = match archived(class) {
                    true if is_log => (
                        Status::Blocking,
                        "writers and readers can no longer read the log head (InvalidObjectState)",
                    ),
                    true => (
                        Status::Blocking,
                        "get fails on a key not written since (InvalidObjectState) until it is \
                         restored",
                    ),
                    false => (Status::Info, "they stay readable"),
                };
                say(
                    status,
                    format!(
                        "{name} moves the current versions of {} to {class} {days} days after \
                         they are written: {effect}",
                        what(is_log)
                    ),
                );
            }
            if rule.expires_noncurrent() {
                let effect = if is_log {
                    let held = match f.object_lock_config.or(match &f.object_lock {
                        ObjectLock::Enabled { default } => *default,
                        _ => None,
                    }) {
                        Some(r) => format!(
                            "; Object Lock keeps each version at least until its retention date \
                             ({} after it was written), the rule removes it after that",
                            r.describe()
                        ),
                        None => String::new(),
                    };
                    format!(
                        "older history is gone for good: verifyLog verifies from a retention \
                         horizon (report.horizon, naming this rule), and a trusted digest older \
                         than it can be neither proven nor refuted ('expired'){held}"
                    )
                } else {
                    "history(key) shows a key's entries only as far back as its versions left; \
                     verifyLog does not count the removed ones as missing"
                        .to_string()
                };
                say(
                    Status::Warning,
                    format!(
                        "{name}, on {}: {}: {effect}",
                        what(is_log),
                        rule.noncurrent_expiry()
                    ),
                );
            }
            if let Some((days, class)) = &rule.noncurrent_transition {
                let (status, effect) = match archived(class) {
                    true => (
                        Status::Warning,
                        "verifyLog reports them unreadable, and history, logEntries and verified \
                         reads fail on them until they are restored",
                    ),
                    false => (Status::Info, "they stay readable"),
                };
                say(
                    status,
                    format!(
                        "{name} moves noncurrent versions of {} to {class} {days} days after \
                         they become noncurrent: {effect}",
                        what(is_log)
                    ),
                );
            }
        }
    }
    if out.is_empty() {
        out.push(Finding::new(
            Check::Lifecycle,
            Status::Ok,
            format!(
                "no lifecycle rule expires or moves the log or key objects under prefix {:?}",
                f.prefix
            ),
        ));
    }
    out
}

/// Storage classes whose objects cannot be read without a restore.
fn archived(class: &str) -> bool {
    matches!(class, "GLACIER" | "DEEP_ARCHIVE")
}

fn encryption(f: &Facts) -> Finding {
    let kms = f
        .kms_key_id
        .as_ref()
        .map(|k| format!("; writes ask for SSE-KMS with key {k} (kmsKeyId)"))
        .unwrap_or_default();
    match &f.encryption {
        Encryption::S3 => Finding::new(
            Check::Encryption,
            Status::Ok,
            format!("default encryption: SSE-S3 (AES256){kms}"),
        ),
        Encryption::Kms { key } => Finding::new(
            Check::Encryption,
            Status::Ok,
            format!(
                "default encryption: SSE-KMS with key {}{kms}; every reader needs kms:Decrypt on \
                 it",
                key.as_deref().unwrap_or("aws/s3 (the AWS-managed key)")
            ),
        ),
        Encryption::Other(algorithm) => Finding::new(
            Check::Encryption,
            Status::Info,
            format!("default encryption: {algorithm}{kms}"),
        ),
        Encryption::None if f.kms_key_id.is_some() => Finding::new(
            Check::Encryption,
            Status::Ok,
            format!("no default encryption{kms}"),
        ),
        Encryption::None => Finding::new(
            Check::Encryption,
            Status::Info,
            "no default encryption: this server stores objects as they are sent (AWS encrypts \
             with SSE-S3 anyway)",
        )
        .fix(format!(
            "aws s3api put-bucket-encryption --bucket {} --server-side-encryption-configuration \
             '{{\"Rules\":[{{\"ApplyServerSideEncryptionByDefault\":{{\"SSEAlgorithm\":\"AES256\"}}}}]}}', \
             or set kmsKeyId",
            f.bucket
        )),
        Encryption::Unknown(why) => Finding::new(
            Check::Encryption,
            Status::Unknown,
            format!("default encryption could not be read ({why}){kms}"),
        ),
    }
}

/// What a denied action costs: blocking for what every call needs (and a
/// writer's PUT), else what stops working.
fn denied(action: &str, writer: bool) -> (Status, &'static str) {
    match action {
        "s3:GetObject" | "s3:GetObjectVersion" | "s3:ListBucket" | "s3:ListBucketVersions" => {
            (Status::Blocking, "reads and writes need it")
        }
        "s3:PutObject" if writer => (
            Status::Blocking,
            "sets are refused (a read-only client does not need it)",
        ),
        "s3:PutObject" => (Status::Info, "a read-only client does not need it"),
        "s3:GetBucketVersioning" => (
            Status::Warning,
            "writers cannot check versioning before a new log's first write",
        ),
        "s3:GetLifecycleConfiguration" => (
            Status::Warning,
            "verifyLog cannot tell log versions a lifecycle rule expired from deleted ones",
        ),
        "s3:GetBucketObjectLockConfiguration" => (
            Status::Warning,
            "writers with objectLock cannot check the bucket before writing, and checkRetention \
             cannot read the default retention",
        ),
        "s3:GetObjectRetention" => (
            Status::Warning,
            "verifyLog({ checkRetention: true }) cannot read retention",
        ),
        _ => (Status::Info, "the doctor cannot read this setting"),
    }
}

fn permissions(f: &Facts) -> Vec<Finding> {
    let fix = format!(
        "grant it (immukv policy{} prints the IAM policy this client needs)",
        if f.writer { "" } else { " --read-only" }
    );
    let mut out: Vec<Finding> = f
        .probes
        .iter()
        .map(|p| {
            let (status, summary) = match &p.access {
                Access::Allowed => (Status::Ok, format!("{}: allowed ({})", p.action, p.how)),
                Access::Denied => {
                    let (status, why) = denied(p.action, f.writer);
                    (status, format!("{}: denied ({}): {why}", p.action, p.how))
                }
                Access::NotChecked(why) => {
                    (Status::Info, format!("{}: not checked ({why})", p.action))
                }
                Access::Unknown(why) => (
                    Status::Unknown,
                    format!("{}: could not be told ({}: {why})", p.action, p.how),
                ),
            };
            let finding = Finding::new(Check::Permission, status, summary).subject(p.action);
            if p.access == Access::Denied && matches!(status, Status::Warning | Status::Blocking) {
                finding.fix(fix.clone())
            } else {
                finding
            }
        })
        .collect();
    if let Some(key) = &f.kms_key_id {
        out.push(
            Finding::new(
                Check::Permission,
                Status::Info,
                format!(
                    "kms:GenerateDataKey (writers) and kms:Decrypt (everyone) on key {key}: not \
                     checked (only a write, or a read of an object encrypted with it, tells)"
                ),
            )
            .subject("kms"),
        );
    }
    out
}

fn log(f: &Facts) -> Finding {
    match &f.log {
        Log::Present {
            sequence,
            version_id,
            ..
        } => Finding::new(
            Check::Log,
            Status::Ok,
            format!(
                "the log {} is there: head sequence {sequence} (version {version_id})",
                f.log_path
            ),
        ),
        Log::Empty => Finding::new(
            Check::Log,
            Status::Info,
            format!(
                "no log under prefix {:?} yet (no version of {}): the first set starts one; if one \
                 should be here, check s3Bucket and s3Prefix",
                f.prefix, f.log_path
            ),
        ),
        Log::Deleted { marker } => {
            let fix = match marker {
                Some(id) => format!(
                    "aws s3api delete-object --bucket {} --key {} --version-id {id}",
                    f.bucket, f.log_path
                ),
                None => format!(
                    "list the versions of {} and delete its newest delete marker",
                    f.log_path
                ),
            };
            Finding::new(
                Check::Log,
                Status::Blocking,
                format!(
                    "the log {} has entries, but its latest version is a delete marker: readers \
                     see it empty and writers stop with LOG_DELETED",
                    f.log_path
                ),
            )
            .fix(fix)
        }
        Log::Unreadable(why) => Finding::new(
            Check::Log,
            Status::Blocking,
            format!("the log head cannot be used: {why}"),
        )
        .fix("run immukv verify to locate the problem"),
        Log::Unknown(why) => Finding::new(
            Check::Log,
            Status::Unknown,
            format!("the log could not be looked at ({why})"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            bucket: "b".into(),
            prefix: "audit/".into(),
            log_path: "audit/_log.json".into(),
            keys_prefix: "audit/keys/".into(),
            writer: true,
            object_lock_config: None,
            kms_key_id: None,
            now_ms: 1_800_000_000_000,
            bucket_exists: true,
            versioning: Versioning::Enabled,
            object_lock: ObjectLock::Disabled,
            encryption: Encryption::S3,
            lifecycle: Lifecycle::Rules(Vec::new()),
            log: Log::Empty,
            head_retention: None,
            probes: Vec::new(),
            probe_written: None,
        }
    }

    fn of(f: Facts, check: Check) -> Vec<Finding> {
        StoreCheck::from(f)
            .findings
            .into_iter()
            .filter(|x| x.check == check)
            .collect()
    }

    #[test]
    fn a_plain_versioned_bucket_blocks_nothing() {
        let r = StoreCheck::from(facts());
        assert!(r.ok, "{:?}", r.findings);
        assert!(r.findings.iter().all(|f| f.status != Status::Warning));
    }

    #[test]
    fn versioning_off_or_suspended_blocks_with_the_fix() {
        for v in [Versioning::Off, Versioning::Suspended] {
            let r = StoreCheck::from(Facts {
                versioning: v,
                ..facts()
            });
            assert!(!r.ok);
            let f = &r.findings[0];
            assert_eq!((f.check, f.status), (Check::Versioning, Status::Blocking));
            assert!(f.fix.as_deref().unwrap().contains("Status=Enabled"));
        }
        let unknown = of(
            Facts {
                versioning: Versioning::Unknown("not permitted (s3:GetBucketVersioning)".into()),
                ..facts()
            },
            Check::Versioning,
        );
        assert_eq!(unknown[0].status, Status::Unknown);
    }

    #[test]
    fn object_lock_configured_on_a_bucket_without_it_blocks() {
        let rule = LockRule {
            mode: LockMode::Compliance,
            days: 30,
        };
        let f = of(
            Facts {
                object_lock_config: Some(rule),
                ..facts()
            },
            Check::ObjectLock,
        );
        assert_eq!(f[0].status, Status::Blocking);
        assert!(f[0].summary.contains("OBJECT_LOCK_DISABLED"));
        let enabled_no_rule = of(
            Facts {
                object_lock: ObjectLock::Enabled { default: None },
                ..facts()
            },
            Check::ObjectLock,
        );
        assert_eq!(enabled_no_rule[0].status, Status::Warning);
        let governance = of(
            Facts {
                object_lock: ObjectLock::Enabled {
                    default: Some(LockRule {
                        mode: LockMode::Governance,
                        days: 7,
                    }),
                },
                log: Log::Present {
                    sequence: 3,
                    version_id: "v".into(),
                    timestamp_ms: 1_800_000_000_000,
                },
                head_retention: Some(None),
                ..facts()
            },
            Check::ObjectLock,
        );
        assert!(governance[1].summary.contains("BypassGovernanceRetention"));
        assert_eq!(governance[0].status, Status::Warning); // the head has none
        assert!(governance[0].summary.contains("no Object Lock retention"));
    }

    #[test]
    fn lifecycle_rules_are_read_for_what_they_do_to_the_store() {
        let rule = |id: &str, prefix: &str| Rule {
            id: Some(id.into()),
            enabled: true,
            prefix: prefix.into(),
            ..Rule::default()
        };
        let rules = vec![
            Rule {
                expiration_days: Some(30),
                ..rule("current", "")
            },
            Rule {
                noncurrent_days: Some(90),
                newer_noncurrent: Some(5),
                ..rule("history", "audit/_log.json")
            },
            Rule {
                noncurrent_transition: Some((10, "DEEP_ARCHIVE".into())),
                ..rule("cold", "audit/keys/tenant-1/")
            },
            Rule {
                transition: Some((30, "STANDARD_IA".into())),
                ..rule("ia", "audit/keys/")
            },
            Rule {
                expiration_days: Some(1),
                ..rule("elsewhere", "other/")
            },
            Rule {
                expiration_days: Some(1),
                needs_tags: true,
                ..rule("tagged", "")
            },
            Rule {
                expiration_days: Some(1),
                enabled: false,
                ..rule("off", "")
            },
        ];
        let found = of(
            Facts {
                lifecycle: Lifecycle::Rules(rules),
                ..facts()
            },
            Check::Lifecycle,
        );
        let by = |id: &str| -> Vec<&Finding> {
            found
                .iter()
                .filter(|f| f.subject.as_deref() == Some(id))
                .collect()
        };
        // Current versions expire: a delete marker on the log and on keys.
        let current = by("current");
        assert_eq!(current.len(), 2);
        assert!(current.iter().all(|f| f.status == Status::Blocking));
        assert!(current.iter().any(|f| f.summary.contains("LOG_DELETED")));
        assert!(current.iter().all(|f| f.fix.is_some()));
        let history = by("history");
        assert_eq!(history[0].status, Status::Warning);
        assert!(history[0].summary.contains("horizon"));
        assert!(history[0].summary.contains("keeping the newest 5"));
        assert_eq!(by("cold")[0].status, Status::Warning);
        assert!(by("cold")[0].summary.contains("unreadable"));
        assert_eq!(by("ia")[0].status, Status::Info);
        assert!(by("elsewhere").is_empty());
        assert!(by("off").is_empty());
        assert_eq!(by("tagged")[0].status, Status::Info);
        let unknown = of(
            Facts {
                lifecycle: Lifecycle::Unknown(
                    "not permitted (s3:GetLifecycleConfiguration)".into(),
                ),
                ..facts()
            },
            Check::Lifecycle,
        );
        assert_eq!(unknown[0].status, Status::Unknown);
    }

    #[test]
    fn denied_permissions_block_what_every_call_needs() {
        let probe = |action, access| Probe {
            action,
            access,
            how: "a request".into(),
        };
        let r = StoreCheck::from(Facts {
            probes: vec![
                probe("s3:GetObject", Access::Allowed),
                probe("s3:PutObject", Access::Denied),
                probe("s3:GetLifecycleConfiguration", Access::Denied),
                probe(
                    "s3:GetObjectRetention",
                    Access::NotChecked("the log has no version".into()),
                ),
            ],
            ..facts()
        });
        assert!(!r.ok);
        let put = r
            .findings
            .iter()
            .find(|f| f.subject.as_deref() == Some("s3:PutObject"))
            .unwrap();
        assert_eq!(put.status, Status::Blocking);
        assert!(put.fix.as_deref().unwrap().contains("immukv policy"));
        let reader = StoreCheck::from(Facts {
            writer: false,
            probes: vec![probe("s3:PutObject", Access::Denied)],
            ..facts()
        });
        assert!(reader.ok);
    }

    #[test]
    fn a_deleted_log_blocks_with_the_marker_to_remove() {
        let r = StoreCheck::from(Facts {
            log: Log::Deleted {
                marker: Some("m1".into()),
            },
            ..facts()
        });
        assert!(!r.ok);
        assert!(r.findings[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("--version-id m1"));
        let missing = StoreCheck::from(Facts {
            bucket_exists: false,
            ..facts()
        });
        assert!(!missing.ok);
        assert_eq!(missing.findings.len(), 1);
    }
}
