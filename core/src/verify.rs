//! Log verification over entries already read: per-entry hash, links,
//! sequences, and a trusted digest. Pure; `client/audit.rs` does the reads.

use crate::format::hash::GENESIS;
use crate::format::Entry;

/// An entry without its value: what the chain and key-object checks need,
/// so that an audit keeps a few hundred bytes per entry, whatever the
/// values it read (the value is checked, through the hash, as it is read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub key: String,
    pub sequence: u64,
    pub timestamp_ms: u64,
    pub previous_hash: String,
    pub hash: String,
    pub previous_version_id: Option<String>,
    pub previous_key_object_etag: Option<String>,
    pub version_id: String,
    /// Its stored hash matches one dialect's hash of its fields.
    pub intact: bool,
    /// Its writer's pipeline depth, when above 1 (window.rs).
    pub pipeline_depth: Option<u32>,
}

impl From<&Entry> for Summary {
    fn from(e: &Entry) -> Self {
        Summary {
            key: e.key.clone(),
            sequence: e.sequence,
            timestamp_ms: e.timestamp_ms,
            previous_hash: e.previous_hash.clone(),
            hash: e.hash.clone(),
            previous_version_id: e.previous_version_id.clone(),
            previous_key_object_etag: e.previous_key_object_etag.clone(),
            version_id: e.version_id.clone(),
            intact: e.hash_dialect().is_some(),
            pipeline_depth: e.pipeline_depth,
        }
    }
}

/// The head of a log at some moment: save it, and later prove that the log
/// still contains that entry unchanged and extends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digest {
    pub sequence: u64,
    pub version_id: String,
    pub hash: String,
}

impl From<&Entry> for Digest {
    fn from(e: &Entry) -> Self {
        Digest {
            sequence: e.sequence,
            version_id: e.version_id.clone(),
            hash: e.hash.clone(),
        }
    }
}

impl From<&Summary> for Digest {
    fn from(e: &Summary) -> Self {
        Digest {
            sequence: e.sequence,
            version_id: e.version_id.clone(),
            hash: e.hash.clone(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// The stored hash matches neither dialect's hash of the entry.
    HashMismatch,
    /// `previous_hash` is not the previous entry's hash.
    BrokenLink,
    /// Sequences are not contiguous (an entry missing, or a forged one).
    SequenceGap,
    /// `previous_version_id` does not name the previous log version.
    WrongPreviousVersion,
    /// The oldest entry of a complete log is not a proper first entry.
    BadGenesis,
    /// A key's latest entry and its key object disagree.
    KeyObjectMismatch,
    /// A log entry that no version of its key object holds: the key's
    /// history lost it (never written, or that version deleted).
    KeyObjectMissing,
    /// A key-object version that is not the key object of the log entry it
    /// names (forged, altered, or naming a log version that does not exist).
    KeyObjectForged,
    /// The trusted digest's entry is not in the log, or differs.
    TrustedMismatch,
    /// The log is shorter than the trusted digest.
    Truncated,
    /// A stored object could not be read as an entry.
    Unreadable,
    /// The log's latest version is a delete marker.
    HiddenHead,
    /// A log or key-object version without the Object Lock retention it
    /// should have (none, over, weaker or shorter than required), or a
    /// bucket without Object Lock; only with `check_retention`.
    Retention,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::HashMismatch => "hash_mismatch",
            FailureKind::BrokenLink => "broken_link",
            FailureKind::SequenceGap => "sequence_gap",
            FailureKind::WrongPreviousVersion => "wrong_previous_version",
            FailureKind::BadGenesis => "bad_genesis",
            FailureKind::KeyObjectMismatch => "key_object_mismatch",
            FailureKind::KeyObjectMissing => "key_object_missing",
            FailureKind::KeyObjectForged => "key_object_forged",
            FailureKind::TrustedMismatch => "trusted_mismatch",
            FailureKind::Truncated => "truncated",
            FailureKind::Unreadable => "unreadable",
            FailureKind::HiddenHead => "hidden_head",
            FailureKind::Retention => "retention",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The log entry concerned, when there is one.
    pub sequence: Option<u64>,
    /// The version concerned: of the log, or of the object at `path`.
    pub version_id: Option<String>,
    /// The object concerned, when it is not the log entry itself.
    pub path: Option<String>,
    pub kind: FailureKind,
    pub detail: String,
}

impl Failure {
    /// A failure located at a log entry.
    pub fn at(e: &Summary, kind: FailureKind, detail: String) -> Self {
        Failure {
            sequence: Some(e.sequence),
            version_id: Some(e.version_id.clone()),
            path: None,
            kind,
            detail,
        }
    }
}

/// Where the verified range starts when it is not the start of the log: the
/// oldest log versions are gone, and the bucket's own rules explain it (or
/// cannot be read to tell).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Horizon {
    /// The oldest entry still in the log: the verified range starts here.
    pub sequence: u64,
    pub version_id: String,
    pub reason: HorizonReason,
    /// In words: the rule and what it does, or why the rules could not be read.
    pub detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HorizonReason {
    /// A lifecycle rule of the bucket removes noncurrent log versions.
    Lifecycle,
    /// The bucket's lifecycle rules could not be read, so a rule cannot be
    /// told from a deletion: the oldest versions are missing.
    OldestMissing,
}

impl HorizonReason {
    pub fn as_str(self) -> &'static str {
        match self {
            HorizonReason::Lifecycle => "lifecycle",
            HorizonReason::OldestMissing => "oldest_missing",
        }
    }
}

/// What became of a trusted digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrustedCheck {
    /// The log still holds it, unchanged, and extends it.
    Verified,
    /// It is older than the retention horizon: its entry expired under the
    /// bucket's rules, so it can be neither proven nor refuted.
    Expired,
    /// The log does not hold it (see the failures).
    Failed,
}

impl TrustedCheck {
    pub fn as_str(self) -> &'static str {
        match self {
            TrustedCheck::Verified => "verified",
            TrustedCheck::Expired => "expired",
            TrustedCheck::Failed => "failed",
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Report {
    /// No failure, and a trusted digest (if one was given) was proven.
    pub ok: bool,
    /// Entries checked.
    pub checked: usize,
    pub failures: Vec<Failure>,
    /// The head at the time of the check (save it as the next `trusted`).
    pub head: Option<Digest>,
    /// No log here at all: the prefix holds no version of the log and no
    /// delete marker (never written, or a mistyped bucket or prefix). An
    /// empty log is intact, but an audit of a fixed prefix should not pass
    /// on it: callers tell "nothing to check" from "checked and intact".
    pub empty: bool,
    /// Where the verified range starts, when the oldest log versions are
    /// gone under the bucket's retention rules (`None`: the range starts at
    /// the first entry, or the check was limited to the newest entries).
    pub horizon: Option<Horizon>,
    /// What became of the trusted digest, when one was given.
    pub trusted: Option<TrustedCheck>,
}

/// Checks a run of log versions given newest first, as listed. `complete`:
/// the run reaches the start of the log, so its oldest entry must be a
/// proper first entry.
pub fn check_chain(newest_first: &[Summary], complete: bool) -> Vec<Failure> {
    let mut failures = Vec::new();
    for e in newest_first {
        if !e.intact {
            failures.push(Failure::at(
                e,
                FailureKind::HashMismatch,
                format!(
                    "stored hash {} matches neither dialect's hash of the entry",
                    e.hash
                ),
            ));
        }
    }
    for pair in newest_first.windows(2) {
        let (e, prev) = (&pair[0], &pair[1]);
        if prev.sequence.checked_add(1) != Some(e.sequence) {
            failures.push(Failure::at(
                e,
                FailureKind::SequenceGap,
                format!(
                    "sequence {} follows log version {} with sequence {}",
                    e.sequence, prev.version_id, prev.sequence
                ),
            ));
        }
        if e.previous_hash != prev.hash {
            failures.push(Failure::at(
                e,
                FailureKind::BrokenLink,
                format!(
                    "previous_hash {} is not the hash {} of the previous log version {}",
                    e.previous_hash, prev.hash, prev.version_id
                ),
            ));
        }
        if e.previous_version_id.as_deref() != Some(prev.version_id.as_str()) {
            failures.push(Failure::at(
                e,
                FailureKind::WrongPreviousVersion,
                format!(
                    "previous_version_id {} does not name the previous log version {}",
                    named(e.previous_version_id.as_deref()),
                    prev.version_id
                ),
            ));
        }
    }
    if let (true, Some(first)) = (complete, newest_first.last()) {
        if first.sequence != 0
            || first.previous_hash != GENESIS
            || first.previous_version_id.is_some()
        {
            failures.push(Failure::at(
                first,
                FailureKind::BadGenesis,
                format!(
                    "the oldest log version has sequence {}, previous_hash {}, previous_version_id {}; a first entry has 0, {GENESIS} and none",
                    first.sequence,
                    first.previous_hash,
                    named(first.previous_version_id.as_deref())
                ),
            ));
        }
    }
    failures
}

/// An optional version id in a message: the id, or "none" (never Rust's
/// `Option` text).
fn named(v: Option<&str>) -> String {
    v.map_or_else(|| "none".to_string(), |v| format!("\"{v}\""))
}

/// Checks that the log (newest first, reaching at least back to the
/// trusted sequence when the log is intact) still holds the trusted entry.
pub fn check_trusted(newest_first: &[Summary], trusted: &Digest) -> Option<Failure> {
    let head_seq = newest_first.first().map(|e| e.sequence);
    if head_seq.is_none_or(|s| s < trusted.sequence) {
        let ends = match head_seq {
            Some(s) => format!("the log ends at sequence {s}"),
            None => "the log has no entries".to_string(),
        };
        return Some(Failure {
            sequence: Some(trusted.sequence),
            version_id: Some(trusted.version_id.clone()),
            path: None,
            kind: FailureKind::Truncated,
            detail: format!("{ends}, before the trusted sequence {}", trusted.sequence),
        });
    }
    match newest_first.iter().find(|e| e.version_id == trusted.version_id) {
        Some(e) if e.sequence == trusted.sequence && e.hash == trusted.hash => None,
        Some(e) => Some(Failure::at(
            e,
            FailureKind::TrustedMismatch,
            format!("trusted version {} had sequence {} and hash {}; the log now says {} and {}", trusted.version_id, trusted.sequence, trusted.hash, e.sequence, e.hash),
        )),
        None => Some(Failure {
            sequence: Some(trusted.sequence),
            version_id: Some(trusted.version_id.clone()),
            path: None,
            kind: FailureKind::TrustedMismatch,
            detail: format!(
                "trusted log version {} (sequence {}) is no longer in the log: history was rewritten or deleted",
                trusted.version_id, trusted.sequence
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{Dialect, Json};
    use serde_json::json;

    fn chain(n: u64) -> Vec<Summary> {
        entries(n).iter().map(Summary::from).collect()
    }

    fn entries(n: u64) -> Vec<Entry> {
        let mut out: Vec<Entry> = Vec::new();
        for i in 0..n {
            let value = Json::canonical_from(&json!({"i": i}).to_string(), Dialect::Js)
                .unwrap()
                .0;
            let mut e = Entry::next(
                out.last().map(Entry::link),
                format!("k{}", i % 3),
                value,
                1_700_000_000_000 + i,
                None,
            )
            .unwrap();
            e.version_id = format!("v{i}");
            out.push(e);
        }
        out.reverse();
        out
    }

    fn kinds(f: &[Failure]) -> Vec<(Option<u64>, FailureKind)> {
        f.iter().map(|f| (f.sequence, f.kind)).collect()
    }

    #[test]
    fn intact_chain_passes() {
        assert!(check_chain(&chain(5), true).is_empty());
    }

    #[test]
    fn a_missing_entry_is_located() {
        let mut c = chain(5);
        c.remove(2); // sequence 2
        assert_eq!(
            kinds(&check_chain(&c, true)),
            vec![
                (Some(3), FailureKind::SequenceGap),
                (Some(3), FailureKind::BrokenLink),
                (Some(3), FailureKind::WrongPreviousVersion)
            ]
        );
    }

    #[test]
    fn altered_value_is_a_hash_mismatch_at_that_entry() {
        let mut e = entries(4);
        e[2].value = Json::parse(r#""forged""#).unwrap();
        let c: Vec<Summary> = e.iter().map(Summary::from).collect();
        assert_eq!(
            kinds(&check_chain(&c, true)),
            vec![(Some(1), FailureKind::HashMismatch)]
        );
    }

    #[test]
    fn trusted_digest_detects_rewrite_and_truncation() {
        let c = chain(4);
        let d = Digest::from(&c[1]);
        assert_eq!(check_trusted(&c, &d), None);
        let rewritten: Vec<Summary> = c
            .iter()
            .cloned()
            .map(|mut e| {
                e.version_id.push('x');
                e
            })
            .collect();
        assert_eq!(
            check_trusted(&rewritten, &d).unwrap().kind,
            FailureKind::TrustedMismatch
        );
        assert_eq!(
            check_trusted(&c[3..], &d).unwrap().kind,
            FailureKind::Truncated
        );
    }
}
