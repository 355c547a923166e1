//! An entry and its two stored forms: the log object (one S3 version of
//! `_log.json` per entry) and the key object (`keys/{key}.json`).

use super::canonical::{self, Dialect, Field, NotRepresentable};
use super::hash::{self, Hashed, GENESIS};
use super::value::Json;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// One write, as it sits in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    /// The value's JSON text as stored (numbers keep their stored text).
    pub value: Json,
    pub timestamp_ms: u64,
    pub sequence: u64,
    pub previous_hash: String,
    pub hash: String,
    /// Log version id of the previous entry; absent on the first.
    pub previous_version_id: Option<String>,
    /// ETag of the key object just before this entry, quotes included.
    pub previous_key_object_etag: Option<String>,
    /// S3 version id of the log version holding this entry; empty until written.
    pub version_id: String,
}

/// A stored object that is not a well-formed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

/// Where a link of the chain starts: the entry a new one follows.
pub struct Link<'a> {
    pub sequence: u64,
    pub hash: &'a str,
    pub version_id: &'a str,
}

impl Entry {
    /// The entry that follows `previous` (or the first entry), hashed in the
    /// JS dialect, which is the one we write. `value` must be canonical JS
    /// text ([`Json::canonical_from`]).
    pub fn next(
        previous: Option<Link<'_>>,
        key: String,
        value: Json,
        timestamp_ms: u64,
        previous_key_object_etag: Option<String>,
    ) -> Result<Entry, NotRepresentable> {
        let (sequence, previous_hash, previous_version_id) = match previous {
            Some(p) if p.sequence >= super::MAX_SEQUENCE => {
                return Err(NotRepresentable(format!(
                    "the log has reached sequence {}, the largest any client holds exactly",
                    p.sequence
                )))
            }
            Some(p) => (
                p.sequence + 1,
                p.hash.to_string(),
                Some(p.version_id.to_string()),
            ),
            None => (0, GENESIS.to_string(), None),
        };
        let mut entry = Entry {
            key,
            value,
            timestamp_ms,
            sequence,
            previous_hash,
            hash: String::new(),
            previous_version_id,
            previous_key_object_etag,
            version_id: String::new(),
        };
        entry.hash = hash::hash(&entry.hashed(), Dialect::Js)?;
        Ok(entry)
    }

    /// Where the entry after this one links to.
    pub fn link(&self) -> Link<'_> {
        Link {
            sequence: self.sequence,
            hash: &self.hash,
            version_id: &self.version_id,
        }
    }

    pub fn hashed(&self) -> Hashed<'_> {
        Hashed {
            key: &self.key,
            previous_hash: &self.previous_hash,
            sequence: self.sequence,
            timestamp_ms: self.timestamp_ms,
            value: &self.value,
        }
    }

    /// The dialect whose hash matches the stored one; `None` means the
    /// entry is not what its writer hashed (tampered, or not an entry).
    pub fn hash_dialect(&self) -> Option<Dialect> {
        hash::matching_dialect(&self.hashed(), &self.hash)
    }

    /// Log object bytes. A Python writer omits a null value.
    pub fn log_object(&self, dialect: Dialect) -> Result<String, NotRepresentable> {
        let value = self.value.canonical(dialect)?;
        let mut fields = self.common_fields(&value);
        if let Some(v) = &self.previous_version_id {
            fields.push(("previous_version_id", Field::Str(v)));
        }
        if let Some(e) = &self.previous_key_object_etag {
            fields.push(("previous_key_object_etag", Field::Str(e)));
        }
        if dialect == Dialect::Python && self.value.is_null() {
            fields.retain(|(name, _)| *name != "value");
        }
        Ok(canonical::object(&mut fields, dialect))
    }

    /// Key object bytes. Written in the dialect of the entry's own hash, so a
    /// repaired Python entry keeps its number text and still verifies.
    pub fn key_object(&self, dialect: Dialect) -> Result<String, NotRepresentable> {
        let value = self.value.canonical(dialect)?;
        let mut fields = self.common_fields(&value);
        fields.push(("log_version_id", Field::Str(&self.version_id)));
        Ok(canonical::object(&mut fields, dialect))
    }

    fn common_fields<'a>(&'a self, value: &'a str) -> Vec<(&'static str, Field<'a>)> {
        vec![
            ("hash", Field::Str(&self.hash)),
            ("key", Field::Str(&self.key)),
            ("previous_hash", Field::Str(&self.previous_hash)),
            ("sequence", Field::UInt(self.sequence)),
            ("timestamp_ms", Field::UInt(self.timestamp_ms)),
            ("value", Field::Raw(value)),
        ]
    }

    /// Parses a log object; `version_id` is the S3 version it was read from.
    pub fn from_log_object(body: &[u8], version_id: &str) -> Result<Entry, ParseError> {
        let s = Stored::parse(body)?;
        let mut entry = s.entry()?;
        entry.previous_version_id = s.previous_version_id.map(Cow::into_owned);
        entry.previous_key_object_etag = s.previous_key_object_etag.map(Cow::into_owned);
        entry.version_id = version_id.to_string();
        Ok(entry)
    }

    /// Parses a key object; its entry's version id is `log_version_id`.
    pub fn from_key_object(body: &[u8]) -> Result<Entry, ParseError> {
        let s = Stored::parse(body)?;
        let mut entry = s.entry()?;
        entry.version_id = s
            .log_version_id
            .ok_or_else(|| ParseError("stored entry has no \"log_version_id\"".into()))?
            .into_owned();
        Ok(entry)
    }
}

/// The members of either stored object. The value is borrowed as raw text,
/// and unknown members are skipped, both without recursion, so a stored
/// object of any depth parses.
#[derive(Deserialize)]
struct Stored<'a> {
    #[serde(borrow)]
    key: Cow<'a, str>,
    #[serde(borrow, default)]
    value: Option<&'a RawValue>,
    sequence: u64,
    timestamp_ms: u64,
    #[serde(borrow)]
    previous_hash: Cow<'a, str>,
    #[serde(borrow)]
    hash: Cow<'a, str>,
    #[serde(borrow, default)]
    previous_version_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    previous_key_object_etag: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    log_version_id: Option<Cow<'a, str>>,
}

impl<'a> Stored<'a> {
    fn parse(body: &'a [u8]) -> Result<Stored<'a>, ParseError> {
        let stored: Stored<'a> = serde_json::from_slice(body).map_err(|e| {
            ParseError(if e.is_data() {
                format!("stored object is not an entry: {e}")
            } else {
                format!("stored object is not valid JSON: {e}")
            })
        })?;
        if stored.sequence > super::MAX_SEQUENCE {
            return Err(ParseError(format!(
                "stored entry has sequence {}, above {} (2^53 - 1), the largest any client holds exactly",
                stored.sequence,
                super::MAX_SEQUENCE
            )));
        }
        Ok(stored)
    }

    fn entry(&self) -> Result<Entry, ParseError> {
        Ok(Entry {
            key: self.key.to_string(),
            // A Python writer omits a null value; `null` itself reads as absent.
            value: self
                .value
                .map_or_else(Json::null, |v| Json::from_checked(v.get())),
            timestamp_ms: self.timestamp_ms,
            sequence: self.sequence,
            previous_hash: self.previous_hash.to_string(),
            hash: self.hash.to_string(),
            previous_version_id: None,
            previous_key_object_etag: None,
            version_id: String::new(),
        })
    }
}
