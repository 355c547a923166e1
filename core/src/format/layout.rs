//! Where objects live in the bucket, and which keys and prefixes can live
//! there on every common S3-compatible server.
//!
//! A key becomes the object `{prefix}keys/{key}.json`; the log is
//! `{prefix}_log.json`. Keys are refused before any request when some
//! server would store them under another name or not at all, so that what
//! one client writes, every client reads back under the same key.

use std::fmt;

/// S3's limit on an object key, in UTF-8 bytes.
pub const MAX_PATH_BYTES: usize = 1024;
/// Filesystem-backed servers (SeaweedFS, MinIO) keep each path segment as a
/// file name: at most 255 bytes.
pub const MAX_SEGMENT_BYTES: usize = 255;
/// The last segment of a versioned object: SeaweedFS keeps its versions in
/// a directory named `{segment}.versions`, so 255 - 9 bytes; it answers 500
/// to longer names.
pub const MAX_OBJECT_NAME_BYTES: usize = MAX_SEGMENT_BYTES - ".versions".len();

const KEY_SUFFIX: &str = ".json";
const LOG_NAME: &str = "_log.json";

/// Why a key or prefix is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Object paths under one prefix.
#[derive(Clone, Debug)]
pub struct Layout {
    prefix: String,
    log_path: String,
    keys_prefix: String,
}

impl Layout {
    /// The prefix is used verbatim (`""` allowed, normally ending in `/`).
    pub fn new(prefix: &str) -> Result<Layout, Refused> {
        check_characters(prefix).map_err(|why| Refused(format!("s3Prefix {prefix:?} {why}")))?;
        // Its last segment is empty when it ends in '/', as it normally does.
        let mut segments: Vec<&str> = prefix.split('/').collect();
        segments.pop();
        if segments
            .iter()
            .any(|seg| seg.is_empty() || *seg == "." || *seg == "..")
        {
            return Err(Refused(format!(
                "s3Prefix {prefix:?} must not have empty, '.' or '..' path segments (no leading or double '/')"
            )));
        }
        let log_path = format!("{prefix}{LOG_NAME}");
        check_segments(&log_path).map_err(|why| {
            Refused(format!(
                "s3Prefix {prefix:?}: the log path {log_path:?} {why}"
            ))
        })?;
        Ok(Layout {
            keys_prefix: format!("{prefix}keys/"),
            prefix: prefix.to_string(),
            log_path,
        })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn log_path(&self) -> &str {
        &self.log_path
    }

    /// Where every key object lives: `{prefix}keys/`.
    pub fn keys_prefix(&self) -> &str {
        &self.keys_prefix
    }

    /// The key object of `key` (no check: see [`Layout::check_key`]).
    pub fn key_path(&self, key: &str) -> String {
        format!("{}{key}{KEY_SUFFIX}", self.keys_prefix)
    }

    /// The key whose object is `path`, if `path` is a key object.
    pub fn key_of<'p>(&self, path: &'p str) -> Option<&'p str> {
        path.strip_prefix(&self.keys_prefix)?
            .strip_suffix(KEY_SUFFIX)
    }

    /// The key rules. Refused: empty keys; control characters (invisible in
    /// logs and consoles); Unicode noncharacters (S3's XML listings cannot
    /// carry U+FFFE/U+FFFF); `\` (SeaweedFS reads it as `/`, so `a\b` would
    /// be `a/b`); `.`, `..` or empty segments (some servers normalise them,
    /// so `../_log` could land on another object); a segment longer than
    /// filesystem-backed servers store; a path longer than S3's 1024 bytes.
    pub fn check_key(&self, key: &str) -> Result<(), Refused> {
        let bad = |why: String| Err(Refused(format!("invalid key {key:?}: {why}")));
        if key.is_empty() {
            return bad("keys must not be empty".into());
        }
        if let Err(why) = check_characters(key) {
            return bad(why);
        }
        if key
            .split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == "..")
        {
            return bad(
                "keys must not have empty, '.' or '..' path segments (no leading, trailing or double '/')"
                    .into(),
            );
        }
        // SeaweedFS keeps the versions of `x.json` in a directory named
        // `x.json.versions`: a key with such a directory would be read inside
        // another key's versions.
        let mut segments: Vec<&str> = key.split('/').collect();
        segments.pop();
        if segments.iter().any(|seg| seg.ends_with(".json.versions")) {
            return bad("a path segment must not end in \".json.versions\" (some servers keep versions there)".into());
        }
        let path = self.key_path(key);
        if let Err(why) = check_segments(&path) {
            return bad(format!("its object path {why}"));
        }
        Ok(())
    }
}

impl Layout {
    /// A prefix of keys to list: the characters no key may hold are refused
    /// (no key could match, and some servers would read `\` as `/`).
    pub fn check_key_prefix(&self, prefix: &str) -> Result<(), Refused> {
        check_characters(prefix)
            .map_err(|why| Refused(format!("invalid key prefix {prefix:?}: {why}")))?;
        let path = self.key_path(prefix);
        if path.len() > MAX_PATH_BYTES {
            return Err(Refused(format!(
                "invalid key prefix {prefix:?}: its object path would be {} bytes of UTF-8; S3 allows {MAX_PATH_BYTES}",
                path.len()
            )));
        }
        Ok(())
    }
}

/// Characters no key or prefix may hold.
fn check_characters(s: &str) -> Result<(), String> {
    if let Some(c) = s.chars().find(|c| c.is_control()) {
        return Err(format!(
            "must not contain control characters (found U+{:04X})",
            c as u32
        ));
    }
    if let Some(c) = s.chars().find(|c| is_noncharacter(*c)) {
        return Err(format!(
            "must not contain Unicode noncharacters (found U+{:04X})",
            c as u32
        ));
    }
    if s.contains('\\') {
        return Err("must not contain '\\' (some S3-compatible servers read it as '/')".into());
    }
    Ok(())
}

/// Segment and length limits of a full object path.
fn check_segments(path: &str) -> Result<(), String> {
    if path.len() > MAX_PATH_BYTES {
        return Err(format!(
            "would be {} bytes of UTF-8; S3 allows {MAX_PATH_BYTES}",
            path.len()
        ));
    }
    let mut segments = path.split('/').peekable();
    while let Some(seg) = segments.next() {
        let last = segments.peek().is_none();
        let limit = if last {
            MAX_OBJECT_NAME_BYTES
        } else {
            MAX_SEGMENT_BYTES
        };
        if seg.len() > limit {
            return Err(format!(
                "has a segment of {} bytes ({}…); servers that keep objects as files allow {limit}{}",
                seg.len(),
                seg.chars().take(16).collect::<String>(),
                if last { " for the object name" } else { "" }
            ));
        }
    }
    Ok(())
}

/// U+FDD0..U+FDEF and the last two code points of every plane.
pub fn is_noncharacter(c: char) -> bool {
    let n = c as u32;
    (0xFDD0..=0xFDEF).contains(&n) || (n & 0xFFFE) == 0xFFFE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let l = Layout::new("").unwrap();
        let name_max = "k".repeat(MAX_OBJECT_NAME_BYTES - 5);
        let dir_max = "d".repeat(MAX_SEGMENT_BYTES);
        for good in [
            "a",
            "tenant-1/devices/a b",
            "ключ-é",
            "a.b",
            "...x",
            "😀",
            "\u{FFFD}",
            name_max.as_str(),
            &format!("{dir_max}/x"),
        ] {
            assert!(l.check_key(good).is_ok(), "{good}");
        }
        let name_over = "k".repeat(MAX_OBJECT_NAME_BYTES - 4);
        let dir_over = format!("{}/x", "d".repeat(MAX_SEGMENT_BYTES + 1));
        let too_long = format!("{}/x", ["s"; 600].join("/"));
        for bad in [
            "",
            "a\nb",
            "a\u{7f}",
            "a\u{85}",
            "../_log",
            "a/../b",
            "./a",
            "a//b",
            "/a",
            "a/",
            ".",
            "..",
            "a\\b",
            "..\\x",
            "a\u{FFFE}",
            "a\u{FFFF}",
            "a\u{FDD0}",
            "a\u{10FFFF}",
            "a.json.versions/b",
            name_over.as_str(),
            dir_over.as_str(),
            too_long.as_str(),
        ] {
            assert!(l.check_key(bad).is_err(), "{bad:?}");
        }
        // The prefix counts towards the segment it joins.
        let p = Layout::new("tenant/").unwrap();
        assert!(p.check_key(&name_max).is_ok());
        assert!(Layout::new("x\\y/").is_err());
        for bad in ["/", "a//", "./", "a/../", "/a/"] {
            assert!(Layout::new(bad).is_err(), "{bad:?}");
        }
        for good in ["", "a/", "a/b/", "a", "a/b"] {
            assert!(Layout::new(good).is_ok(), "{good:?}");
        }
        assert!(Layout::new(&"p".repeat(240)).is_err());
        assert!(Layout::new(&format!("{}/", "p".repeat(240))).is_ok());
    }

    #[test]
    fn paths() {
        let l = Layout::new("app/").unwrap();
        assert_eq!(l.log_path(), "app/_log.json");
        assert_eq!(l.key_path("a/b"), "app/keys/a/b.json");
        assert_eq!(l.key_of("app/keys/a/b.json"), Some("a/b"));
        assert_eq!(l.key_of("app/_log.json"), None);
    }
}
