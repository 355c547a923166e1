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
    /// Written by a client whose pipeline sends up to this many log PUTs
    /// before their key objects are written (config `pipelineDepth`, when
    /// above 1): orphans may be among the newest this many entries, and the
    /// next writer checks them all. In the log object only, not hashed.
    pub pipeline_depth: Option<u32>,
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
            pipeline_depth: None,
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
        if let Some(n) = self.pipeline_depth.filter(|&n| n > 1) {
            fields.push(("pipeline_depth", Field::UInt(u64::from(n))));
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
        read_stored(body, |s, value| {
            let mut entry = s.entry(value);
            entry.previous_version_id = s.previous_version_id.as_deref().map(str::to_string);
            entry.previous_key_object_etag =
                s.previous_key_object_etag.as_deref().map(str::to_string);
            entry.version_id = version_id.to_string();
            entry.pipeline_depth = s.pipeline_depth;
            Ok(entry)
        })
    }

    /// Parses a key object; its entry's version id is `log_version_id`.
    pub fn from_key_object(body: &[u8]) -> Result<Entry, ParseError> {
        read_stored(body, |s, value| {
            let mut entry = s.entry(value);
            entry.version_id = s
                .log_version_id
                .as_deref()
                .ok_or_else(|| ParseError("stored entry has no \"log_version_id\"".into()))?
                .to_string();
            Ok(entry)
        })
    }

    /// Whether `other` holds the same entry as `self`, by what the protocol
    /// makes an entry mean rather than by its bytes: the same key, sequence,
    /// timestamp, previous hash, hash and log version id (a key object's
    /// `log_version_id`, a log entry's own version), and values that mean
    /// the same to a JavaScript reader ([`Json::same_value`]: member order,
    /// whitespace and string escapes aside, numbers as the doubles they
    /// denote). This is how a key object read back is checked against the
    /// log entry it names: every client writes the key object in its own
    /// dialect (the earlier Python client writes `1e-05` where we wrote
    /// `0.00001`; the earlier TypeScript client `1` where Python wrote
    /// `1.0`), and the hash, which covers the value, still has to verify
    /// for the log entry. Neither hash is checked here; `previous_version_id`
    /// and `previous_key_object_etag`, which a key object does not carry,
    /// are not compared.
    pub fn same_entry(&self, other: &Entry) -> bool {
        self.key == other.key
            && self.sequence == other.sequence
            && self.timestamp_ms == other.timestamp_ms
            && self.previous_hash == other.previous_hash
            && self.hash == other.hash
            && self.version_id == other.version_id
            && self.value.same_value(&other.value)
    }
}

/// Parses a stored object and hands its members and value to `build`. A
/// value the earlier Python client wrote with `NaN`, `Infinity` or
/// `-Infinity` in it (its `json` module writes non-finite floats that way)
/// is not JSON: the tokens are masked for the parser, and the value keeps
/// the text as stored, flagged, so that its hash is checked over what that
/// client hashed. Anything else that is not JSON is refused.
fn read_stored<T>(
    body: &[u8],
    build: impl FnOnce(&Stored<'_>, Json) -> Result<T, ParseError>,
) -> Result<T, ParseError> {
    let refused = match Stored::parse(body) {
        Ok(s) => {
            let value = s
                .value
                .map_or_else(Json::null, |v| Json::from_checked(v.get()));
            return build(&s, value);
        }
        Err(e) => e,
    };
    let Some(masked) = canonical::mask_non_finite(body) else {
        return Err(refused);
    };
    let Ok(s) = Stored::parse(&masked.text) else {
        return Err(refused);
    };
    let value = match s.value {
        None => Json::null(),
        Some(v) => {
            // The same bytes of the original: masking kept every offset.
            let start = v.get().as_ptr() as usize - masked.text.as_ptr() as usize;
            let end = start + v.get().len();
            let text = std::str::from_utf8(&body[start..end])
                .map_err(|_| ParseError("stored value is not UTF-8".into()))?;
            let non_finite = masked
                .spans
                .iter()
                .any(|&(from, to)| from >= start && to <= end);
            Json::from_stored(text, non_finite)
        }
    };
    build(&s, value)
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
    #[serde(default)]
    pipeline_depth: Option<u32>,
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

    /// The entry, valued `value` (the stored value, or null when absent: a
    /// Python writer omits a null value).
    fn entry(&self, value: Json) -> Entry {
        Entry {
            key: self.key.to_string(),
            value,
            timestamp_ms: self.timestamp_ms,
            sequence: self.sequence,
            previous_hash: self.previous_hash.to_string(),
            hash: self.hash.to_string(),
            previous_version_id: None,
            previous_key_object_etag: None,
            version_id: String::new(),
            pipeline_depth: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key object with the given value text, hashed in `dialect`.
    fn stored(value: &str, dialect: Dialect) -> String {
        let mut e = Entry {
            key: "k".into(),
            value: Json::from_stored(value, false),
            timestamp_ms: 5,
            sequence: 3,
            previous_hash: "sha256:genesis".into(),
            hash: String::new(),
            previous_version_id: Some("v2".into()),
            previous_key_object_etag: None,
            version_id: "v3".into(),
            pipeline_depth: None,
        };
        e.hash = hash::hash(&e.hashed(), dialect).unwrap();
        e.key_object(dialect).unwrap()
    }

    #[test]
    fn python_non_finite_tokens_are_read_as_stored_and_flagged() {
        let body = stored(r#"{"a":[NaN,-Infinity],"b":Infinity}"#, Dialect::Python);
        let e = Entry::from_key_object(body.as_bytes()).unwrap();
        assert_eq!(e.value.as_str(), r#"{"a":[NaN,-Infinity],"b":Infinity}"#);
        assert!(e.value.non_finite());
        assert_eq!(e.hash_dialect(), Some(Dialect::Python));
        assert_eq!(e.version_id, "v3");
        // Plain values are not flagged, nor tokens in strings or elsewhere.
        let plain = stored(r#"["NaN",1.5]"#, Dialect::Js);
        assert!(!Entry::from_key_object(plain.as_bytes())
            .unwrap()
            .value
            .non_finite());
        let elsewhere = plain.replacen('{', r#"{"note":[NaN],"#, 1);
        let e = Entry::from_key_object(elsewhere.as_bytes()).unwrap();
        assert!(!e.value.non_finite());
        assert_eq!(e.hash_dialect(), Some(Dialect::Js));
    }

    #[test]
    fn tokens_where_an_entry_holds_no_number_or_misplaced_are_refused() {
        let body = stored("NaN", Dialect::Python);
        for bad in [
            body.replace("\"sequence\":3", "\"sequence\":NaN"),
            body.replace("\"timestamp_ms\":5", "\"timestamp_ms\":Infinity"),
            body.replace("\"key\":\"k\"", "\"key\":NaN"),
            body.replace(":NaN", ":NaNx"),
            body.replace(":NaN", ":-NaN"),
            body.replace(":NaN", ":nan"),
            body.replace(":NaN", ":[1 NaN]"),
        ] {
            assert!(Entry::from_key_object(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn same_entry_compares_by_meaning() {
        let js = Entry::from_key_object(
            stored(r#"{"a":0.00001,"b":[1,"\u00e9"]}"#, Dialect::Js).as_bytes(),
        )
        .unwrap();
        let mut py = js.clone();
        py.value = Json::from_stored("{\"b\":[1.0,\"\\u00e9\"], \"a\":1e-05}", false);
        assert!(js.same_entry(&py) && py.same_entry(&js));
        py.value = Json::from_stored(r#"{"b":[1.0,"\u00e9"],"a":1e-06}"#, false);
        assert!(!js.same_entry(&py));
        let nan = Entry::from_key_object(stored("[NaN]", Dialect::Python).as_bytes()).unwrap();
        let mut spaced = nan.clone();
        spaced.value = Json::from_stored("[ NaN ]", true);
        assert!(nan.same_entry(&spaced));
        spaced.value = Json::from_stored("[null]", false);
        assert!(!nan.same_entry(&spaced));
        let mut other_version = nan.clone();
        other_version.version_id = "v4".into();
        assert!(!nan.same_entry(&other_version));
    }
}
