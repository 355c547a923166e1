//! A value as JSON text. Values are never turned into a tree: the text a
//! writer gave (or a bucket holds) is kept, canonicalized when hashed or
//! stored, and handed to JavaScript as is, so a read costs one scan.

use super::canonical::{self, Dialect, NotRepresentable};
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// Valid JSON text of one value. Cheap to clone.
#[derive(Clone, PartialEq, Eq)]
pub struct Json {
    text: Arc<str>,
    /// The dialect whose canonical form `text` already is, when known, so
    /// that hashing and storing skip a second scan.
    canonical_in: Option<Dialect>,
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
        })
    }

    /// Canonical text in `dialect` of `text`, with its nesting depth.
    /// Strings must be valid Unicode (no lone surrogates).
    pub fn canonical_from(text: &str, dialect: Dialect) -> Result<(Json, usize), NotRepresentable> {
        let c = canonical::canonicalize(text, dialect)?;
        if !c.well_formed {
            return Err(NotRepresentable(
                "a string contains a lone surrogate (not valid Unicode)".into(),
            ));
        }
        Ok((
            Json {
                text: c.text.into(),
                canonical_in: Some(dialect),
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
        }
    }

    /// Text already checked by a JSON parser (a stored object's member).
    pub(crate) fn from_checked(text: &str) -> Json {
        Json {
            text: text.into(),
            canonical_in: None,
        }
    }

    pub fn null() -> Json {
        Json {
            text: "null".into(),
            canonical_in: None,
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
