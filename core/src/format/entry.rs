//! An entry and its two stored forms: the log object (one S3 version of
//! `_log.json` per entry) and the key object (`keys/{key}.json`).

use super::canonical::{self, object_to_string, Dialect, Field, NotRepresentable};
use super::hash::{self, Hashed, GENESIS};
use serde_json::{Map, Value};

/// One write, as it sits in the log.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub key: String,
    /// As stored: numbers keep their stored text (see canonical.rs).
    pub value: Value,
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

impl Entry {
    /// The entry that follows `previous` (or the first entry), hashed in the
    /// JS dialect, which is the one we write.
    pub fn next(
        previous: Option<&Entry>,
        key: String,
        value: Value,
        timestamp_ms: u64,
        previous_key_object_etag: Option<String>,
    ) -> Result<Entry, NotRepresentable> {
        let (sequence, previous_hash, previous_version_id) = match previous {
            Some(p) => (p.sequence + 1, p.hash.clone(), Some(p.version_id.clone())),
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

    pub fn hashed(&self) -> Hashed<'_> {
        Hashed {
            key: &self.key,
            previous_hash: &self.previous_hash,
            sequence: self.sequence,
            timestamp_ms: self.timestamp_ms,
            value: &self.value,
        }
    }

    /// The dialect whose hash matches the stored one; `None` means tampered.
    pub fn hash_dialect(&self) -> Option<Dialect> {
        hash::matching_dialect(&self.hashed(), &self.hash)
    }

    /// Like [`Entry::hash_dialect`] for a value that has been through a
    /// reader (JavaScript turns a Python writer's `1.0` into `1`): `stored`,
    /// the value as read from storage, stands in for `self.value` when both
    /// mean the same, so a changed value is still caught.
    pub fn hash_dialect_as_stored(&self, stored: Option<&Value>) -> Option<Dialect> {
        self.hash_dialect().or_else(|| {
            let stored = stored?;
            let same = |a: &Value, b: &Value| {
                canonical::to_string(a, Dialect::Js)
                    .ok()
                    .is_some_and(|x| canonical::to_string(b, Dialect::Js).ok() == Some(x))
            };
            if !same(stored, &self.value) {
                return None;
            }
            let hashed = Hashed {
                value: stored,
                ..self.hashed()
            };
            hash::matching_dialect(&hashed, &self.hash)
        })
    }

    /// Log object bytes. A Python writer omits a null value.
    pub fn log_object(&self, dialect: Dialect) -> Result<String, NotRepresentable> {
        let mut fields = self.common_fields();
        if let Some(v) = &self.previous_version_id {
            fields.push(("previous_version_id", Field::Str(v)));
        }
        if let Some(e) = &self.previous_key_object_etag {
            fields.push(("previous_key_object_etag", Field::Str(e)));
        }
        if dialect == Dialect::Python && self.value.is_null() {
            fields.retain(|(name, _)| *name != "value");
        }
        object_to_string(&mut fields, dialect)
    }

    /// Key object bytes. Written in the dialect of the entry's own hash, so a
    /// repaired Python entry keeps its number text and still verifies.
    pub fn key_object(&self, dialect: Dialect) -> Result<String, NotRepresentable> {
        let mut fields = self.common_fields();
        fields.push(("log_version_id", Field::Str(&self.version_id)));
        object_to_string(&mut fields, dialect)
    }

    fn common_fields(&self) -> Vec<(&'static str, Field<'_>)> {
        vec![
            ("hash", Field::Str(&self.hash)),
            ("key", Field::Str(&self.key)),
            ("previous_hash", Field::Str(&self.previous_hash)),
            ("sequence", Field::UInt(self.sequence)),
            ("timestamp_ms", Field::UInt(self.timestamp_ms)),
            ("value", Field::Json(&self.value)),
        ]
    }

    /// Parses a log object; `version_id` is the S3 version it was read from.
    pub fn from_log_object(body: &[u8], version_id: &str) -> Result<Entry, ParseError> {
        let mut map = parse_object(body)?;
        let mut entry = common_from(&mut map)?;
        entry.previous_version_id = opt_str(&mut map, "previous_version_id")?;
        entry.previous_key_object_etag = opt_str(&mut map, "previous_key_object_etag")?;
        entry.version_id = version_id.to_string();
        Ok(entry)
    }

    /// Parses a key object; its entry's version id is `log_version_id`.
    pub fn from_key_object(body: &[u8]) -> Result<Entry, ParseError> {
        let mut map = parse_object(body)?;
        let mut entry = common_from(&mut map)?;
        entry.version_id = req_str(&mut map, "log_version_id")?;
        Ok(entry)
    }
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ParseError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ParseError("stored entry is not a JSON object".into())),
        Err(e) => Err(ParseError(format!("stored entry is not valid JSON: {e}"))),
    }
}

fn common_from(map: &mut Map<String, Value>) -> Result<Entry, ParseError> {
    Ok(Entry {
        key: req_str(map, "key")?,
        value: map.remove("value").unwrap_or(Value::Null),
        timestamp_ms: req_uint(map, "timestamp_ms")?,
        sequence: req_uint(map, "sequence")?,
        previous_hash: req_str(map, "previous_hash")?,
        hash: req_str(map, "hash")?,
        previous_version_id: None,
        previous_key_object_etag: None,
        version_id: String::new(),
    })
}

fn req_str(map: &mut Map<String, Value>, name: &str) -> Result<String, ParseError> {
    opt_str(map, name)?.ok_or_else(|| ParseError(format!("stored entry has no \"{name}\"")))
}

fn opt_str(map: &mut Map<String, Value>, name: &str) -> Result<Option<String>, ParseError> {
    match map.remove(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ParseError(format!(
            "stored entry's \"{name}\" is not a string"
        ))),
    }
}

fn req_uint(map: &mut Map<String, Value>, name: &str) -> Result<u64, ParseError> {
    map.remove(name).and_then(|v| v.as_u64()).ok_or_else(|| {
        ParseError(format!(
            "stored entry's \"{name}\" is missing or not a non-negative integer"
        ))
    })
}
