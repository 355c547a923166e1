//! The entry hash: SHA-256 over the canonical JSON of five fields, named per
//! dialect (PROTOCOL.md, "Hash").

use super::canonical::{object_to_string, Dialect, Field, NotRepresentable};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// `previous_hash` of the first entry.
pub const GENESIS: &str = "sha256:genesis";

/// The fields a hash covers, borrowed from an entry.
pub struct Hashed<'a> {
    pub key: &'a str,
    pub previous_hash: &'a str,
    pub sequence: u64,
    pub timestamp_ms: u64,
    pub value: &'a Value,
}

/// The canonical hash input H of PROTOCOL.md.
pub fn hash_input(h: &Hashed<'_>, dialect: Dialect) -> Result<String, NotRepresentable> {
    let (prev, ts) = match dialect {
        Dialect::Js => ("previousHash", "timestampMs"),
        Dialect::Python => ("previous_hash", "timestamp_ms"),
    };
    object_to_string(
        &mut [
            ("key", Field::Str(h.key)),
            (prev, Field::Str(h.previous_hash)),
            ("sequence", Field::UInt(h.sequence)),
            (ts, Field::UInt(h.timestamp_ms)),
            ("value", Field::Json(h.value)),
        ],
        dialect,
    )
}

/// `sha256:` + lowercase hex of SHA-256 of the hash input.
pub fn hash(h: &Hashed<'_>, dialect: Dialect) -> Result<String, NotRepresentable> {
    Ok(sha256_tag(hash_input(h, dialect)?.as_bytes()))
}

/// The dialect whose hash equals `stored`, if any. An entry is intact when
/// one matches; a log may mix dialects.
pub fn matching_dialect(h: &Hashed<'_>, stored: &str) -> Option<Dialect> {
    [Dialect::Js, Dialect::Python]
        .into_iter()
        .find(|d| hash(h, *d).is_ok_and(|computed| computed == stored))
}

fn sha256_tag(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for b in digest {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
    }
    out
}
