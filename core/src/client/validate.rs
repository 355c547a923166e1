//! Input rules: what keys, values and limits we accept. Checked before any
//! request, so that refused input leaves storage untouched.

use crate::error::{Error, ErrorCode, Result};
use crate::format::{canonical, Dialect};
use serde_json::Value;

/// S3's limit on an object key, in UTF-8 bytes.
const MAX_PATH_BYTES: usize = 1024;

/// A key becomes the path `{prefix}keys/{key}.json`. Refused: empty keys,
/// control characters (invisible in logs and consoles), and `.`, `..` or
/// empty path segments, which some S3-compatible servers normalise, so a key
/// like `../_log` could land on another object.
pub fn key(key: &str, path_len: usize) -> Result<()> {
    let bad = |why: &str| {
        Err(Error::new(
            ErrorCode::InvalidKey,
            format!("invalid key {key:?}: {why}"),
        ))
    };
    if key.is_empty() {
        return bad("keys must not be empty");
    }
    if key.chars().any(|c| c.is_control()) {
        return bad("keys must not contain control characters");
    }
    if key
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return bad("keys must not have empty, '.' or '..' path segments (no leading, trailing or double '/')");
    }
    if path_len > MAX_PATH_BYTES {
        return bad(&format!(
            "its object path would be {path_len} bytes of UTF-8; S3 allows {MAX_PATH_BYTES}"
        ));
    }
    Ok(())
}

/// A value must be representable in the JS dialect (finite numbers) and its
/// canonical form no larger than `max_bytes`.
pub fn value(value: &Value, max_bytes: usize) -> Result<()> {
    let text = canonical::to_string(value, Dialect::Js).map_err(|e| {
        Error::new(
            ErrorCode::InvalidValue,
            format!("value cannot be stored: {}", e.0),
        )
    })?;
    if text.len() > max_bytes {
        return Err(Error::new(
            ErrorCode::InvalidValue,
            format!(
                "value is {} bytes as canonical JSON; the limit (maxValueBytes) is {max_bytes}",
                text.len()
            ),
        ));
    }
    Ok(())
}

/// A page limit, when given, is at least 1.
pub fn limit(limit: Option<u32>) -> Result<()> {
    match limit {
        Some(0) => Err(Error::new(
            ErrorCode::InvalidArgument,
            "limit must be at least 1",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        for good in ["a", "tenant-1/devices/a b", "ключ-é", "a.b", "...x", "😀"] {
            assert!(key(good, 10).is_ok(), "{good}");
        }
        for bad in [
            "", "a\nb", "a\u{7f}", "../_log", "a/../b", "./a", "a//b", "/a", "a/", ".", "..",
        ] {
            assert_eq!(
                key(bad, 10).unwrap_err().code,
                ErrorCode::InvalidKey,
                "{bad:?}"
            );
        }
        assert!(key("a", 1025).is_err());
    }
}
