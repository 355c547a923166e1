//! Canonical JSON in the two dialects of PROTOCOL.md.
//!
//! The same entry must always give the same bytes (hence the same ETag and
//! hash), so this is the only place that turns a value into text that is
//! stored or hashed.

use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::fmt::Write;

/// Which earlier writer's rules to follow. We write [`Dialect::Js`]; we
/// verify both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// TypeScript writer: ECMAScript number text, array-index keys first.
    Js,
    /// Python writer: numbers exactly as stored, keys by code point, DEL escaped.
    Python,
}

/// A value that cannot be written as canonical JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotRepresentable(pub String);

/// One member of an object written field by field (hash input, stored objects).
pub enum Field<'a> {
    Str(&'a str),
    UInt(u64),
    Json(&'a Value),
}

/// Canonical JSON text of `value`.
pub fn to_string(value: &Value, dialect: Dialect) -> Result<String, NotRepresentable> {
    let mut out = String::new();
    write_value(&mut out, value, dialect)?;
    Ok(out)
}

/// Canonical JSON text of an object given as fields; the order is fixed here,
/// not by the caller.
pub fn object_to_string(
    fields: &mut [(&str, Field<'_>)],
    dialect: Dialect,
) -> Result<String, NotRepresentable> {
    fields.sort_by(|a, b| key_order(a.0, b.0, dialect));
    let mut out = String::from("{");
    for (i, (name, field)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(&mut out, name, dialect);
        out.push(':');
        match field {
            Field::Str(s) => write_string(&mut out, s, dialect),
            Field::UInt(n) => write!(out, "{n}").expect("write to String"),
            Field::Json(v) => write_value(&mut out, v, dialect)?,
        }
    }
    out.push('}');
    Ok(out)
}

fn write_value(out: &mut String, value: &Value, dialect: Dialect) -> Result<(), NotRepresentable> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, &n.to_string(), dialect)?,
        Value::String(s) => write_string(out, s, dialect),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item, dialect)?;
            }
            out.push(']');
        }
        Value::Object(map) => write_object(out, map, dialect)?,
    }
    Ok(())
}

fn write_object(
    out: &mut String,
    map: &Map<String, Value>,
    dialect: Dialect,
) -> Result<(), NotRepresentable> {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort_by(|a, b| key_order(a, b, dialect));
    out.push('{');
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, k, dialect);
        out.push(':');
        write_value(out, &map[k.as_str()], dialect)?;
    }
    out.push('}');
    Ok(())
}

/// Number text. The JS writer held IEEE doubles and printed them with
/// `Number::toString`; the Python writer's text is kept exactly as stored,
/// because Python's `repr` of what it held is what it wrote.
fn write_number(out: &mut String, text: &str, dialect: Dialect) -> Result<(), NotRepresentable> {
    match dialect {
        Dialect::Python => out.push_str(text),
        Dialect::Js => {
            let f: f64 = text
                .parse()
                .map_err(|_| NotRepresentable(format!("number {text} is not valid JSON")))?;
            if !f.is_finite() {
                return Err(NotRepresentable(format!(
                    "number {text} is out of the range of a double"
                )));
            }
            if f == 0.0 {
                out.push('0'); // -0 prints as 0 in ECMAScript
            } else {
                out.push_str(ryu_js::Buffer::new().format_finite(f));
            }
        }
    }
    Ok(())
}

fn write_string(out: &mut String, s: &str, dialect: Dialect) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => write!(out, "\\u{:04x}", c as u32).expect("write to String"),
            '\u{7f}' if dialect == Dialect::Js => out.push(c),
            c if (c as u32) < 0x7f => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(out, "\\u{:04x}", unit).expect("write to String");
                }
            }
        }
    }
    out.push('"');
}

/// Member order. JS: an object built from `Object.keys(o).sort()` lists
/// array-index keys first, numerically, then the rest by UTF-16 code units.
/// Python: all keys by code point, which is Rust's `str` order.
fn key_order(a: &str, b: &str, dialect: Dialect) -> Ordering {
    match dialect {
        Dialect::Python => a.cmp(b),
        Dialect::Js => match (array_index(a), array_index(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => a.encode_utf16().cmp(b.encode_utf16()),
        },
    }
}

/// ECMAScript array index: canonical decimal integer in 0 ..= 2^32 - 2.
fn array_index(key: &str) -> Option<u32> {
    let canonical = key == "0"
        || (!key.starts_with('0') && !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit()));
    if !canonical || key.len() > 10 {
        return None;
    }
    let n: u64 = key.parse().ok()?;
    (n <= 4_294_967_294).then_some(n as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn js(text: &str) -> String {
        to_string(&serde_json::from_str(text).unwrap(), Dialect::Js).unwrap()
    }

    #[test]
    fn js_numbers_follow_number_to_string() {
        assert_eq!(
            js("[1.0,-0,1e21,1e16,1e-7,0.1,5e-324,-2.50]"),
            "[1,0,1e+21,10000000000000000,1e-7,0.1,5e-324,-2.5]"
        );
    }

    #[test]
    fn array_index_keys_first() {
        assert_eq!(
            js(r#"{"b":1,"4294967294":0,"4294967295":0,"10":2,"2":3,"01":5,"-1":6}"#),
            r#"{"2":3,"10":2,"4294967294":0,"-1":6,"01":5,"4294967295":0,"b":1}"#
        );
    }

    #[test]
    fn out_of_range_number_is_refused() {
        assert!(to_string(&serde_json::from_str("1e400").unwrap(), Dialect::Js).is_err());
    }
}
