//! Input rules: what keys, values, arguments and settings we accept.
//! Checked before any request, so that refused input leaves storage untouched.

use super::Options;
use crate::error::{Error, ErrorCode, Result};
use crate::format::{canonical, Dialect};
use crate::storage::s3::S3Settings;
use serde_json::Value;
use std::time::Duration;

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

/// A version id, when given, is not empty (S3 would read it as "no marker").
pub fn version_id(name: &str, v: Option<&str>) -> Result<()> {
    match v {
        Some("") => Err(Error::new(
            ErrorCode::InvalidArgument,
            format!("{name} must not be empty"),
        )),
        _ => Ok(()),
    }
}

/// Protocol settings.
pub fn options(o: &Options) -> Result<()> {
    if o.read_concurrency == 0 || o.read_concurrency > 256 {
        return Err(Error::invalid_config(
            "readConcurrency must be between 1 and 256",
        ));
    }
    if o.list_page_size == 0 || o.list_page_size > 1000 {
        return Err(Error::invalid_config(
            "listPageSize must be between 1 and 1000",
        ));
    }
    if o.max_value_bytes == 0 {
        return Err(Error::invalid_config("maxValueBytes must be at least 1"));
    }
    if o.operation_timeout.is_zero() {
        return Err(Error::invalid_config("operationTimeoutMs must be positive"));
    }
    Ok(())
}

/// The S3 settings that can be checked without a request.
pub fn s3_settings(s: &S3Settings) -> Result<()> {
    if s.bucket.is_empty() {
        return Err(Error::invalid_config(
            "s3Bucket must be a non-empty bucket name",
        ));
    }
    if s.bucket.contains('/') || s.bucket.chars().any(char::is_whitespace) {
        return Err(Error::invalid_config(format!(
            "s3Bucket {:?} is not a bucket name",
            s.bucket
        )));
    }
    if s.region.is_empty() {
        return Err(Error::invalid_config(
            "s3Region must be a non-empty region name, e.g. us-east-1",
        ));
    }
    if let Some(url) = &s.endpoint_url {
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"));
        let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
        if host
            .is_none_or(|h| h.is_empty() || h.contains('@') || h.chars().any(char::is_whitespace))
        {
            return Err(Error::invalid_config(
                "overrides.endpointUrl must be an http:// or https:// URL with a host and no user info",
            ));
        }
    }
    if s.request_timeout.is_zero() || s.connect_timeout.is_zero() {
        return Err(Error::invalid_config(
            "requestTimeoutMs and connectTimeoutMs must be positive",
        ));
    }
    Ok(())
}

/// Milliseconds from a caller (JS numbers) as a duration; negative, NaN and
/// infinite values are configuration errors.
pub fn duration_ms(name: &str, ms: f64) -> Result<Duration> {
    if !ms.is_finite() || ms < 0.0 {
        return Err(Error::invalid_config(format!(
            "{name} must be a non-negative number of milliseconds, got {ms}"
        )));
    }
    Ok(Duration::from_millis(ms as u64))
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
