//! The entry hash: SHA-256 over the canonical JSON of five fields, named per
//! dialect (docs/PROTOCOL.md, "Hash").

use super::canonical::{self, Dialect, NotRepresentable};
use super::value::Json;
use sha2::{Digest, Sha256};
use std::fmt::Write;

/// `previous_hash` of the first entry.
pub const GENESIS: &str = "sha256:genesis";

/// The fields a hash covers, borrowed from an entry.
pub struct Hashed<'a> {
    pub key: &'a str,
    pub previous_hash: &'a str,
    pub sequence: u64,
    pub timestamp_ms: u64,
    pub value: &'a Json,
}

/// The canonical hash input H, up to its value: every member but `value`
/// sorts before it in both dialects, so H is this, the value, then `}`.
fn head(h: &Hashed<'_>, dialect: Dialect) -> String {
    let (prev, ts) = match dialect {
        Dialect::Js => ("previousHash", "timestampMs"),
        Dialect::Python => ("previous_hash", "timestamp_ms"),
    };
    let mut out = String::with_capacity(h.key.len() + 160);
    out.push_str("{\"key\":");
    canonical::write_string(&mut out, h.key, dialect);
    write!(out, ",\"{prev}\":").expect("write to String");
    canonical::write_string(&mut out, h.previous_hash, dialect);
    write!(
        out,
        ",\"sequence\":{},\"{ts}\":{},\"value\":",
        h.sequence, h.timestamp_ms
    )
    .expect("write to String");
    out
}

/// The canonical hash input H of docs/PROTOCOL.md, as text.
pub fn hash_input(h: &Hashed<'_>, dialect: Dialect) -> Result<String, NotRepresentable> {
    let mut out = head(h, dialect);
    out.push_str(&h.value.canonical(dialect)?);
    out.push('}');
    Ok(out)
}

/// `sha256:` + lowercase hex of SHA-256 of the hash input, streamed: the
/// value (megabytes, possibly) is not copied into the input.
pub fn hash(h: &Hashed<'_>, dialect: Dialect) -> Result<String, NotRepresentable> {
    let value = h.value.canonical(dialect)?;
    let mut sha = Sha256::new();
    sha.update(head(h, dialect).as_bytes());
    sha.update(value.as_bytes());
    sha.update(b"}");
    Ok(tag(&sha.finalize()))
}

/// The dialect whose hash equals `stored`, if any. An entry is intact when
/// one matches; a log may mix dialects.
///
/// The value's text is first hashed as it is: a canonical writer stored the
/// very text it hashed, so one SHA-256 settles it without re-writing a
/// value of megabytes. Only text that is not canonical (a writer that added
/// whitespace, say) is canonicalized.
pub fn matching_dialect(h: &Hashed<'_>, stored: &str) -> Option<Dialect> {
    let raw = |d: Dialect| {
        let mut sha = Sha256::new();
        sha.update(head(h, d).as_bytes());
        sha.update(h.value.as_str().as_bytes());
        sha.update(b"}");
        tag(&sha.finalize()) == stored
    };
    [Dialect::Js, Dialect::Python]
        .into_iter()
        .find(|d| raw(*d))
        .or_else(|| {
            [Dialect::Js, Dialect::Python]
                .into_iter()
                .find(|d| hash(h, *d).is_ok_and(|computed| computed == stored))
        })
}

fn tag(digest: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for b in digest {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
    }
    out
}
