//! A value as JSON text. Values are never turned into a tree: the text a
//! writer gave (or a bucket holds) is kept, canonicalized when hashed or
//! stored, and handed to JavaScript as is, so a read costs one scan.

use super::canonical::{self, Dialect, NotRepresentable};
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// Valid JSON text of one value (or, read from storage, JSON in the earlier
/// Python client's sense: see [`Json::non_finite`]). Cheap to clone.
#[derive(Clone, PartialEq, Eq)]
pub struct Json {
    text: Arc<str>,
    /// The dialect whose canonical form `text` already is, when known, so
    /// that hashing and storing skip a second scan.
    canonical_in: Option<Dialect>,
    /// `text` holds `NaN`, `Infinity` or `-Infinity`.
    non_finite: bool,
}

impl Json {
    /// Checks that `text` is one JSON value. Any depth is accepted.
    pub fn parse(text: impl Into<String>) -> Result<Json, NotRepresentable> {
        let text: String = text.into();
        serde_json::from_str::<&serde_json::value::RawValue>(&text)
            .map_err(|e| NotRepresentable(format!("not valid JSON: {e}")))?;
        Ok(Json {
            text: text.into(),
            canonical_in: None,
            non_finite: false,
        })
    }

    /// Canonical text in `dialect` of `text`, with its nesting depth: what
    /// `set` stores. Strings must be valid Unicode (no lone surrogates), and
    /// numbers finite (no `NaN` or `Infinity`, whatever the dialect: only
    /// values read from the earlier Python client hold them).
    pub fn canonical_from(text: &str, dialect: Dialect) -> Result<(Json, usize), NotRepresentable> {
        let c = canonical::canonicalize(text, dialect)?;
        if !c.well_formed {
            return Err(NotRepresentable(
                "a string contains a lone surrogate (not valid Unicode)".into(),
            ));
        }
        if c.non_finite {
            return Err(NotRepresentable(
                "the value holds NaN or Infinity, which JSON cannot carry".into(),
            ));
        }
        Ok((
            Json {
                text: c.text.into(),
                canonical_in: Some(dialect),
                non_finite: false,
            },
            c.depth,
        ))
    }

    /// Text a JSON serializer made (`JSON.stringify`), not checked here:
    /// whatever uses it canonicalizes it, which refuses text that is not JSON.
    pub fn from_js(text: String) -> Json {
        Json {
            text: text.into(),
            canonical_in: None,
            non_finite: false,
        }
    }

    /// Text already checked by a JSON parser (a stored object's member).
    pub(crate) fn from_checked(text: &str) -> Json {
        Json::from_stored(text, false)
    }

    /// A stored object's value, checked by a JSON parser after the earlier
    /// Python client's non-finite tokens were masked (`non_finite`: it
    /// holds some).
    pub(crate) fn from_stored(text: &str, non_finite: bool) -> Json {
        Json {
            text: text.into(),
            canonical_in: None,
            non_finite,
        }
    }

    pub fn null() -> Json {
        Json::from_stored("null", false)
    }

    /// The text holds `NaN`, `Infinity` or `-Infinity` where numbers go: the
    /// earlier Python client writes a non-finite float that way. Such a
    /// value is read, verified and repaired in the Python dialect, but it is
    /// not JSON: `JSON.parse` and other standard parsers refuse it.
    pub fn non_finite(&self) -> bool {
        self.non_finite
    }

    /// Whether the two values mean the same to a JavaScript reader
    /// ([`canonical::meaning`]): equal text, or equal after member order,
    /// whitespace and string escapes are set aside and every number is read
    /// as the double it denotes (`NaN` equal to itself). Two stored forms of
    /// one entry are compared this way: each client writes the value in its
    /// own dialect (`1e-05` from Python, `0.00001` from us).
    pub fn same_value(&self, other: &Json) -> bool {
        if self.text == other.text {
            return true;
        }
        match (
            canonical::meaning(&self.text),
            canonical::meaning(&other.text),
        ) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The canonical text in `dialect` (borrowed when it already is).
    pub fn canonical(&self, dialect: Dialect) -> Result<Cow<'_, str>, NotRepresentable> {
        if self.canonical_in == Some(dialect) {
            return Ok(Cow::Borrowed(&self.text));
        }
        Ok(Cow::Owned(
            canonical::canonicalize(&self.text, dialect)?.text,
        ))
    }

    pub fn is_null(&self) -> bool {
        self.text.trim() == "null"
    }
}

impl fmt::Debug for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 200;
        match self.text.char_indices().nth(SHOWN) {
            Some((cut, _)) => write!(f, "Json({}… {} bytes)", &self.text[..cut], self.text.len()),
            None => write!(f, "Json({})", self.text),
        }
    }
}

impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl From<&serde_json::Value> for Json {
    fn from(v: &serde_json::Value) -> Json {
        Json::from_checked(&v.to_string())
    }
}

impl From<serde_json::Value> for Json {
    fn from(v: serde_json::Value) -> Json {
        Json::from(&v)
    }
}
