//! A bucket's own settings as ImmuKV reads them (versioning, Object Lock,
//! default encryption) and the Object Lock retention of an object version,
//! with what they mean for a store. Pure: the storage layer reads them;
//! writers, the audit and the bucket doctor ask questions of them (as of
//! [`crate::lifecycle`] for lifecycle rules).

use aws_smithy_types::date_time::{DateTime, Format};

pub const DAY_MS: u64 = 86_400_000;

/// The longest retention a config may ask for (a hundred years, as S3's own
/// default-retention limit).
pub const MAX_LOCK_DAYS: u32 = 36_500;

/// Tolerance for the writers' clocks when a bucket's rule (a retention, a
/// lifecycle rule's days) is compared with the time a version was written:
/// entry timestamps are the writer's clock.
pub const CLOCK_SKEW_MS: u64 = 3_600_000;

/// An Object Lock retention mode.
///
/// Ordered by strength: COMPLIANCE (nobody, the account root included, can
/// delete a version or shorten its retention before its date) is stronger
/// than GOVERNANCE (users with `s3:BypassGovernanceRetention` can).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LockMode {
    Governance,
    Compliance,
}

impl LockMode {
    pub fn as_str(self) -> &'static str {
        match self {
            LockMode::Governance => "GOVERNANCE",
            LockMode::Compliance => "COMPLIANCE",
        }
    }

    /// S3's spelling of a mode (`GOVERNANCE`, `COMPLIANCE`).
    pub fn parse(s: &str) -> Option<LockMode> {
        match s {
            "GOVERNANCE" => Some(LockMode::Governance),
            "COMPLIANCE" => Some(LockMode::Compliance),
            _ => None,
        }
    }
}

/// Versions are locked in `mode` for `days` after they are written: a
/// bucket's default retention rule, or the `objectLock` a client is
/// configured with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockRule {
    pub mode: LockMode,
    pub days: u32,
}

impl LockRule {
    /// The retention of a version written at `now_ms` under this rule.
    pub fn retention_from(&self, now_ms: u64) -> Retention {
        Retention {
            mode: self.mode,
            until_ms: now_ms.saturating_add(u64::from(self.days) * DAY_MS),
        }
    }

    pub fn describe(&self) -> String {
        let s = if self.days == 1 { "" } else { "s" };
        format!("{} for {} day{s}", self.mode.as_str(), self.days)
    }
}

/// The Object Lock retention of one object version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    pub mode: LockMode,
    /// Retained until then (epoch milliseconds).
    pub until_ms: u64,
}

impl Retention {
    pub fn describe(&self) -> String {
        format!("{} until {}", self.mode.as_str(), date(self.until_ms))
    }
}

/// An instant as S3 writes it: `2027-01-31T12:00:00Z`.
pub fn date(ms: u64) -> String {
    let t = DateTime::from_secs((ms / 1000).min(i64::MAX as u64) as i64);
    t.fmt(Format::DateTime)
        .unwrap_or_else(|_| format!("{ms} ms"))
}

/// GetBucketVersioning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Versioning {
    Enabled,
    /// Was enabled once: new writes get the `null` version id.
    Suspended,
    /// Never enabled.
    Off,
    /// Could not be read: why ("not permitted (...)", or the server does
    /// not implement it).
    Unknown(String),
}

impl Versioning {
    pub fn as_str(&self) -> &'static str {
        match self {
            Versioning::Enabled => "enabled",
            Versioning::Suspended => "suspended",
            Versioning::Off => "off",
            Versioning::Unknown(_) => "unknown",
        }
    }
}

/// GetObjectLockConfiguration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ObjectLock {
    /// Object Lock is on; versions written without retention of their own
    /// get the default rule's, when there is one.
    Enabled { default: Option<LockRule> },
    /// The bucket has no Object Lock: any version can be deleted by whoever
    /// may delete versions.
    Disabled,
    /// Could not be read: why.
    Unknown(String),
}

/// GetBucketEncryption: how objects are encrypted when a PUT does not say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Encryption {
    /// No default encryption configured (AWS encrypts with SSE-S3 anyway
    /// since 2023; other servers may not).
    None,
    /// SSE-S3 (AES256).
    S3,
    /// SSE-KMS (or DSSE-KMS), with this key when one is named.
    Kms { key: Option<String> },
    /// An algorithm this client does not know.
    Other(String),
    /// Could not be read: why.
    Unknown(String),
}

/// Why a retention-checked version falls short: no retention, a retention
/// already over, a weaker mode than `required`, or one shorter than
/// `required` counted from when it was written (`written_ms`, when known).
/// `None` when it is protected as required.
pub fn retention_problem(
    found: Option<&Retention>,
    required: Option<&LockRule>,
    written_ms: Option<u64>,
    now_ms: u64,
) -> Option<String> {
    let Some(r) = found else {
        return Some(
            "it has no Object Lock retention: anyone allowed to delete versions can remove it"
                .into(),
        );
    };
    if r.until_ms <= now_ms {
        return Some(format!(
            "its retention ({}) is over: it can be deleted now",
            r.describe()
        ));
    }
    let required = required?;
    if r.mode < required.mode {
        return Some(format!(
            "it is retained in {} mode, weaker than the required {} (users with \
             s3:BypassGovernanceRetention can delete it)",
            r.mode.as_str(),
            required.mode.as_str()
        ));
    }
    if let Some(written) = written_ms {
        let due = required.retention_from(written).until_ms;
        if r.until_ms.saturating_add(CLOCK_SKEW_MS) < due {
            return Some(format!(
                "it is retained until {}, shorter than the required {} from when it was \
                 written ({}): until {}",
                date(r.until_ms),
                required.describe(),
                date(written),
                date(due)
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000;

    #[test]
    fn a_retention_falls_short_when_missing_over_weaker_or_shorter() {
        let rule = LockRule {
            mode: LockMode::Compliance,
            days: 30,
        };
        let written = NOW - 10 * DAY_MS;
        let good = rule.retention_from(written);
        assert_eq!(
            retention_problem(Some(&good), Some(&rule), Some(written), NOW),
            None
        );
        assert!(retention_problem(None, Some(&rule), Some(written), NOW)
            .unwrap()
            .contains("no Object Lock retention"));
        let over = Retention {
            until_ms: NOW - 1,
            ..good
        };
        assert!(retention_problem(Some(&over), None, None, NOW)
            .unwrap()
            .contains("is over"));
        let weaker = Retention {
            mode: LockMode::Governance,
            ..good
        };
        assert!(
            retention_problem(Some(&weaker), Some(&rule), Some(written), NOW)
                .unwrap()
                .contains("weaker")
        );
        // A stronger mode than asked for is fine.
        let gov = LockRule {
            mode: LockMode::Governance,
            ..rule
        };
        assert_eq!(
            retention_problem(Some(&good), Some(&gov), Some(written), NOW),
            None
        );
        let short = Retention {
            until_ms: written + 20 * DAY_MS,
            ..good
        };
        assert!(
            retention_problem(Some(&short), Some(&rule), Some(written), NOW)
                .unwrap()
                .contains("shorter than the required COMPLIANCE for 30 days")
        );
        // Within the writers' clock tolerance.
        let close = Retention {
            until_ms: good.until_ms - CLOCK_SKEW_MS / 2,
            ..good
        };
        assert_eq!(
            retention_problem(Some(&close), Some(&rule), Some(written), NOW),
            None
        );
        // Without a required rule only absence and expiry count.
        assert_eq!(
            retention_problem(Some(&short), None, Some(written), NOW),
            None
        );
    }

    #[test]
    fn modes_and_dates_read_as_s3_writes_them() {
        assert_eq!(LockMode::parse("COMPLIANCE"), Some(LockMode::Compliance));
        assert_eq!(LockMode::parse("compliance"), None);
        assert!(LockMode::Compliance > LockMode::Governance);
        assert_eq!(date(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            LockRule {
                mode: LockMode::Governance,
                days: 1
            }
            .describe(),
            "GOVERNANCE for 1 day"
        );
    }
}
