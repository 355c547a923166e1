//! Canonical JSON in the two dialects of docs/PROTOCOL.md.
//!
//! The same entry must always give the same bytes (hence the same ETag and
//! hash), so this is the only place that turns a value into text that is
//! stored or hashed. It works on JSON *text*, not on a parsed tree: values
//! are kept as the text they arrived in (a Python writer's `1.0` stays
//! `1.0`), and the scan is iterative, so no depth of nesting can overflow
//! the stack of a reader.
//!
//! Stored text may also hold `NaN`, `Infinity` and `-Infinity` where a
//! number goes: the earlier Python client's `json` module writes a
//! non-finite float that way (not JSON). The Python dialect keeps those
//! tokens, as that writer hashed and stored them; the JS dialect has no form
//! for them (`JSON.stringify` writes `null`), so `set`, which writes JS,
//! refuses them.

use std::cmp::Ordering;
use std::fmt::Write;

/// Which earlier writer's rules to follow. We write [`Dialect::Js`]; we
/// verify both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// TypeScript writer: ECMAScript number text, array-index keys first.
    Js,
    /// Python writer: numbers exactly as stored, keys by code point, DEL escaped.
    Python,
}

/// A value that cannot be written as canonical JSON in a dialect (not JSON
/// at all, or a number out of the range of a double in the JS dialect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotRepresentable(pub String);

impl std::fmt::Display for NotRepresentable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotRepresentable {}

/// Canonical text of a JSON value, and how deeply it nests (`[]` is 1, a
/// scalar 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canonical {
    pub text: String,
    pub depth: usize,
    /// Every string is valid Unicode (no lone surrogate escapes, which a
    /// writer that held UTF-16 could store, but which are not text).
    pub well_formed: bool,
    /// The value holds `NaN`, `Infinity` or `-Infinity` (only the Python
    /// dialect keeps them).
    pub non_finite: bool,
}

/// Canonical JSON text of the JSON value `text`. The Python dialect also
/// reads the earlier Python client's `NaN`, `Infinity` and `-Infinity`
/// (and writes them as they are); the JS dialect refuses them.
pub fn canonicalize(text: &str, dialect: Dialect) -> Result<Canonical, NotRepresentable> {
    Canonicalizer::new(text, dialect, false).run()
}

/// Text that two values share exactly when a JavaScript reader holds equal
/// values: the JS dialect's canonical text (so member order, whitespace and
/// string escapes do not count, a repeated member keeps its last value, and
/// each number is the double it denotes, `1.0`, `1` and `1e0` alike, `-0`
/// as `0`), except that a number a JavaScript reader holds as NaN or
/// ±Infinity (the tokens, or a number beyond the range of a double, which
/// `JSON.parse` reads as ±Infinity) is written `NaN`, `Infinity` or
/// `-Infinity`. How two stored forms of one entry are compared (a key object
/// that another client repaired in its own dialect).
pub fn meaning(text: &str) -> Result<String, NotRepresentable> {
    Canonicalizer::new(text, Dialect::Js, true)
        .run()
        .map(|c| c.text)
}

/// The tokens Python's `json` writes for non-finite floats, each with a JSON
/// number of the same length: a float, which no integer member of an entry
/// takes.
const NON_FINITE: [(&[u8], &[u8]); 3] = [
    (b"NaN", b"0e0"),
    (b"Infinity", b"0.000000"),
    (b"-Infinity", b"-0.000000"),
];

/// Stored text with the earlier Python client's non-finite tokens masked.
pub(crate) struct Masked {
    /// The text, each token replaced by a number of the same length, so
    /// that every other byte keeps its offset.
    pub text: Vec<u8>,
    /// Where the tokens were, as byte ranges.
    pub spans: Vec<(usize, usize)>,
}

/// `text` with each `NaN`, `Infinity` and `-Infinity` that stands where a
/// value goes (outside strings, between delimiters) replaced by a number of
/// the same length; `None` when there is none. A standard JSON parser can
/// then read the structure of a stored object that the earlier Python
/// client wrote with such tokens, and the caller takes the value's text from
/// the original at the same offsets. The masked text parses exactly when the
/// original is JSON in Python's sense (tokens as whole values only), since a
/// masked number is bounded by the same delimiters the token was.
pub(crate) fn mask_non_finite(text: &[u8]) -> Option<Masked> {
    let mut masked: Option<Masked> = None;
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'"' => {
                // Skip the string: tokens inside it are text.
                i += 1;
                while i < text.len() && text[i] != b'"' {
                    i += if text[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'N' | b'I' | b'-' => {
                let opens = i == 0
                    || matches!(
                        text[i - 1],
                        b'[' | b',' | b':' | b' ' | b'\t' | b'\n' | b'\r'
                    );
                let token = NON_FINITE
                    .iter()
                    .find(|(token, _)| text[i..].starts_with(token))
                    .filter(|(token, _)| {
                        let end = i + token.len();
                        opens
                            && (end == text.len()
                                || matches!(
                                    text[end],
                                    b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r'
                                ))
                    });
                match token {
                    Some((token, number)) => {
                        let end = i + token.len();
                        let m = masked.get_or_insert_with(|| Masked {
                            text: text.to_vec(),
                            spans: Vec::new(),
                        });
                        m.text[i..end].copy_from_slice(number);
                        m.spans.push((i, end));
                        i = end;
                    }
                    None => i += 1,
                }
            }
            _ => i += 1,
        }
    }
    masked
}

/// Canonical text of a string (quotes included), appended to `out`.
pub fn write_string(out: &mut String, s: &str, dialect: Dialect) {
    let mut bytes = Vec::with_capacity(s.len() + 2);
    bytes.push(b'"');
    for c in s.chars() {
        push_char(&mut bytes, c, dialect);
    }
    bytes.push(b'"');
    out.push_str(&String::from_utf8(bytes).expect("escapes are ASCII"));
}

/// One member of an object written field by field (hash input, stored
/// objects). The value is canonical text already.
pub enum Field<'a> {
    Str(&'a str),
    UInt(u64),
    Raw(&'a str),
}

/// Canonical JSON text of an object given as fields. The member order is
/// fixed here by the dialect's rule, not by the caller.
pub fn object(fields: &mut [(&str, Field<'_>)], dialect: Dialect) -> String {
    fields.sort_by(|a, b| {
        compare_keys(
            &a.0.encode_utf16().collect::<Vec<_>>(),
            &b.0.encode_utf16().collect::<Vec<_>>(),
            dialect,
        )
    });
    let extra: usize = fields
        .iter()
        .map(|(_, f)| match f {
            Field::Raw(r) => r.len(),
            Field::Str(s) => s.len() + 2,
            Field::UInt(_) => 20,
        })
        .sum();
    let mut out = String::with_capacity(extra + 32 * fields.len());
    out.push('{');
    for (i, (name, field)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(&mut out, name, dialect);
        out.push(':');
        match field {
            Field::Str(s) => write_string(&mut out, s, dialect),
            Field::UInt(n) => write!(out, "{n}").expect("write to String"),
            Field::Raw(r) => out.push_str(r),
        }
    }
    out.push('}');
    out
}

fn push_char(out: &mut Vec<u8>, c: char, dialect: Dialect) {
    let mut units = [0u16; 2];
    for unit in c.encode_utf16(&mut units) {
        emit_unit(out, *unit, dialect);
    }
}

/// One UTF-16 code unit of a string, escaped as both dialects do: quotes,
/// backslashes and controls escaped, every unit above 0x7F as `\uXXXX`
/// (a lone surrogate too), and DEL escaped by the Python writer only.
fn emit_unit(out: &mut Vec<u8>, unit: u16, dialect: Dialect) {
    match unit {
        0x22 => out.extend_from_slice(b"\\\""),
        0x5c => out.extend_from_slice(b"\\\\"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        0x0a => out.extend_from_slice(b"\\n"),
        0x0d => out.extend_from_slice(b"\\r"),
        0x09 => out.extend_from_slice(b"\\t"),
        0x00..=0x1f => push_unit(out, unit),
        0x7f if dialect == Dialect::Python => push_unit(out, unit),
        0x20..=0x7f => out.push(unit as u8),
        _ => push_unit(out, unit),
    }
}

fn push_unit(out: &mut Vec<u8>, unit: u16) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(b"\\u");
    for shift in [12, 8, 4, 0] {
        out.push(HEX[((unit >> shift) & 15) as usize]);
    }
}

/// Member order. JS: an object built from `Object.keys(o).sort()` lists
/// array-index keys first, numerically, then the rest by UTF-16 code units.
/// Python: all keys by code point.
fn compare_keys(a: &[u16], b: &[u16], dialect: Dialect) -> Ordering {
    match dialect {
        Dialect::Python => code_points(a).cmp(code_points(b)),
        Dialect::Js => match (array_index(a), array_index(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => a.cmp(b),
        },
    }
}

/// Member order by key: bytes for plain ASCII keys (the same order as their
/// UTF-16 units and code points), UTF-16 units otherwise.
fn member_order(out: &[u8], a: &Member, b: &Member, dialect: Dialect) -> Ordering {
    let text = |m: &Member| &out[m.key.0..m.key.1];
    match (&a.units, &b.units) {
        (None, None) => {
            let (x, y) = (text(a), text(b));
            match dialect {
                Dialect::Python => x.cmp(y),
                Dialect::Js => match (array_index_ascii(x), array_index_ascii(y)) {
                    (Some(i), Some(j)) => i.cmp(&j),
                    (Some(_), None) => Ordering::Less,
                    (None, Some(_)) => Ordering::Greater,
                    (None, None) => x.cmp(y),
                },
            }
        }
        _ => {
            let units = |m: &Member| -> Vec<u16> {
                match &m.units {
                    Some(u) => u.to_vec(),
                    None => text(m).iter().map(|&b| u16::from(b)).collect(),
                }
            };
            compare_keys(&units(a), &units(b), dialect)
        }
    }
}

fn array_index_ascii(key: &[u8]) -> Option<u32> {
    if key.is_empty()
        || key.len() > 10
        || !key.iter().all(u8::is_ascii_digit)
        || (key[0] == b'0' && key.len() > 1)
    {
        return None;
    }
    let n: u64 = key.iter().fold(0, |n, &d| n * 10 + u64::from(d - b'0'));
    (n <= 4_294_967_294).then_some(n as u32)
}

/// Code points of UTF-16 text; a lone surrogate stands for itself, as in
/// Python's `str`.
fn code_points(units: &[u16]) -> impl Iterator<Item = u32> + '_ {
    char::decode_utf16(units.iter().copied())
        .map(|r| r.map_or_else(|e| e.unpaired_surrogate() as u32, |c| c as u32))
}

/// ECMAScript array index: canonical decimal integer in 0 ..= 2^32 - 2.
fn array_index(key: &[u16]) -> Option<u32> {
    if key.is_empty() || key.len() > 10 || (key[0] == u16::from(b'0') && key.len() > 1) {
        return None;
    }
    let mut n: u64 = 0;
    for &u in key {
        if !(u16::from(b'0')..=u16::from(b'9')).contains(&u) {
            return None;
        }
        n = n * 10 + u64::from(u - u16::from(b'0'));
    }
    (n <= 4_294_967_294).then_some(n as u32)
}

/// An object being rewritten: where it starts in the output, and where its
/// members start in the canonicalizer's member list.
struct ObjectFrame {
    start: usize,
    members_from: usize,
}

/// One member of an object being rewritten.
struct Member {
    /// The key's canonical text in the output, quotes excluded.
    key: (usize, usize),
    /// The key's UTF-16 units when its canonical text is not the key itself
    /// (escapes, non-ASCII); `None` for plain printable ASCII, the common case.
    units: Option<Box<[u16]>>,
    /// The member's span in the output (without the separating comma).
    span: (usize, usize),
}

enum Frame {
    Array,
    Object(ObjectFrame),
}

struct Canonicalizer<'a> {
    src: &'a [u8],
    pos: usize,
    /// Canonical output: ASCII only (both dialects escape the rest).
    out: Vec<u8>,
    dialect: Dialect,
    /// The JS dialect as a comparison form ([`meaning`]): non-finite
    /// numbers are written as tokens instead of refused.
    meaning: bool,
    well_formed: bool,
    non_finite: bool,
    /// Members of every open object, innermost last.
    members: Vec<Member>,
    /// Reused when an object's members are put in order.
    scratch: Vec<u8>,
}

impl<'a> Canonicalizer<'a> {
    fn new(text: &'a str, dialect: Dialect, meaning: bool) -> Self {
        Canonicalizer {
            src: text.as_bytes(),
            pos: 0,
            out: Vec::with_capacity(text.len() + text.len() / 8),
            dialect,
            meaning,
            well_formed: true,
            non_finite: false,
            members: Vec::new(),
            scratch: Vec::new(),
        }
    }

    fn run(mut self) -> Result<Canonical, NotRepresentable> {
        let mut stack: Vec<Frame> = Vec::new();
        let mut depth = 0usize;
        // Iterative: each turn writes one scalar or opens a container, then
        // closes every container that ends right after it.
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b'{') => {
                    self.pos += 1;
                    let start = self.out.len();
                    self.out.push(b'{');
                    let frame = ObjectFrame {
                        start,
                        members_from: self.members.len(),
                    };
                    self.skip_ws();
                    if self.peek() == Some(b'}') {
                        self.pos += 1;
                        self.out.push(b'}');
                    } else {
                        self.member_key()?;
                        stack.push(Frame::Object(frame));
                        depth = depth.max(stack.len());
                        continue;
                    }
                    depth = depth.max(stack.len() + 1);
                }
                Some(b'[') => {
                    self.pos += 1;
                    self.out.push(b'[');
                    self.skip_ws();
                    if self.peek() == Some(b']') {
                        self.pos += 1;
                        self.out.push(b']');
                        depth = depth.max(stack.len() + 1);
                    } else {
                        stack.push(Frame::Array);
                        depth = depth.max(stack.len());
                        continue;
                    }
                }
                Some(b'"') => self.string_value()?,
                Some(b't') => self.literal("true")?,
                Some(b'f') => self.literal("false")?,
                Some(b'n') => self.literal("null")?,
                Some(b'N') => self.non_finite("NaN")?,
                Some(b'I') => self.non_finite("Infinity")?,
                Some(b'-') if self.src[self.pos..].starts_with(b"-I") => {
                    self.non_finite("-Infinity")?
                }
                Some(b'-' | b'0'..=b'9') => self.number()?,
                _ => return Err(self.error("expected a JSON value")),
            }
            // A value is complete: close containers until one continues.
            loop {
                let Some(frame) = stack.last_mut() else {
                    self.skip_ws();
                    if self.pos != self.src.len() {
                        return Err(self.error("unexpected text after the value"));
                    }
                    return Ok(Canonical {
                        text: String::from_utf8(self.out).expect("canonical JSON is ASCII"),
                        depth,
                        well_formed: self.well_formed,
                        non_finite: self.non_finite,
                    });
                };
                self.skip_ws();
                match frame {
                    Frame::Array => match self.next_byte() {
                        Some(b',') => {
                            self.out.push(b',');
                            break;
                        }
                        Some(b']') => {
                            self.out.push(b']');
                            stack.pop();
                        }
                        _ => return Err(self.error("expected ',' or ']'")),
                    },
                    Frame::Object(_) => {
                        let end = self.out.len();
                        self.members.last_mut().expect("member").span.1 = end;
                        match self.next_byte() {
                            Some(b',') => {
                                self.out.push(b',');
                                self.member_key()?;
                                break;
                            }
                            Some(b'}') => {
                                if let Some(Frame::Object(obj)) = stack.pop() {
                                    self.close_object(obj);
                                }
                            }
                            _ => return Err(self.error("expected ',' or '}'")),
                        }
                    }
                }
            }
        }
    }

    /// Reads `"key":` and writes its canonical form; the value follows.
    fn member_key(&mut self) -> Result<(), NotRepresentable> {
        self.skip_ws();
        if self.peek() != Some(b'"') {
            return Err(self.error("expected an object key"));
        }
        let start = self.out.len();
        // Plain printable ASCII (no quote, backslash or DEL) is its own
        // canonical text in both dialects: copied, compared as bytes.
        let from = self.pos + 1;
        let mut end = from;
        while let Some(&b) = self.src.get(end) {
            if !(0x20..0x7f).contains(&b) || b == b'"' || b == b'\\' {
                break;
            }
            end += 1;
        }
        let units = if self.src.get(end) == Some(&b'"') {
            self.out.push(b'"');
            self.out.extend_from_slice(&self.src[from..end]);
            self.out.push(b'"');
            self.pos = end + 1;
            None
        } else {
            let key = self.string()?;
            if char::decode_utf16(key.iter().copied()).any(|r| r.is_err()) {
                self.well_formed = false;
            }
            self.write_units(&key);
            Some(key.into_boxed_slice())
        };
        let key = (start + 1, self.out.len() - 1);
        self.skip_ws();
        if self.next_byte() != Some(b':') {
            return Err(self.error("expected ':'"));
        }
        self.out.push(b':');
        self.members.push(Member {
            key,
            units,
            span: (start, start),
        });
        Ok(())
    }

    /// Puts the members of a finished object in canonical order. A key that
    /// appears twice keeps its last value, as `JSON.parse` and Python do.
    fn close_object(&mut self, obj: ObjectFrame) {
        let dialect = self.dialect;
        let mut members = std::mem::take(&mut self.members);
        let mine = &mut members[obj.members_from..];
        let out = self.out.as_slice();
        let order = |a: &Member, b: &Member| member_order(out, a, b, dialect);
        if !mine
            .windows(2)
            .all(|w| order(&w[0], &w[1]) == Ordering::Less)
        {
            // Stable sort, then keep the last of equal keys. Objects are small
            // as a rule: insertion sort allocates nothing.
            if mine.len() <= 24 {
                for i in 1..mine.len() {
                    let mut j = i;
                    while j > 0 && order(&mine[j - 1], &mine[j]) == Ordering::Greater {
                        mine.swap(j - 1, j);
                        j -= 1;
                    }
                }
            } else {
                mine.sort_by(order);
            }
            self.scratch.clear();
            self.scratch.push(b'{');
            let mut first = true;
            for (i, m) in mine.iter().enumerate() {
                if mine
                    .get(i + 1)
                    .is_some_and(|next| order(m, next) == Ordering::Equal)
                {
                    continue;
                }
                if !first {
                    self.scratch.push(b',');
                }
                first = false;
                self.scratch.extend_from_slice(&out[m.span.0..m.span.1]);
            }
            self.out.truncate(obj.start);
            self.out.extend_from_slice(&self.scratch);
        }
        self.out.push(b'}');
        members.truncate(obj.members_from);
        self.members = members;
    }

    fn write_units(&mut self, units: &[u16]) {
        self.out.push(b'"');
        for &unit in units {
            emit_unit(&mut self.out, unit, self.dialect);
        }
        self.out.push(b'"');
    }

    /// A string value at `pos`, written canonically as it is read: runs of
    /// plain ASCII are copied at once (values can be megabytes).
    fn string_value(&mut self) -> Result<(), NotRepresentable> {
        self.pos += 1; // opening quote
        self.out.push(b'"');
        // A high surrogate escape waiting for its low half.
        let mut high = false;
        loop {
            let run = self.pos;
            while let Some(&b) = self.src.get(self.pos) {
                if b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b) {
                    break;
                }
                self.pos += 1;
            }
            self.out.extend_from_slice(&self.src[run..self.pos]);
            // A high surrogate must be followed at once by a low one's escape.
            if high && (self.pos > run || self.peek() != Some(b'\\')) {
                self.well_formed = false;
                high = false;
            }
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    self.out.push(b'"');
                    return Ok(());
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let unit = self.escape()?;
                    match unit {
                        0xD800..=0xDBFF => {
                            if high {
                                self.well_formed = false;
                            }
                            high = true;
                        }
                        0xDC00..=0xDFFF => {
                            if !high {
                                self.well_formed = false;
                            }
                            high = false;
                        }
                        _ => {
                            if high {
                                self.well_formed = false;
                            }
                            high = false;
                        }
                    }
                    emit_unit(&mut self.out, unit, self.dialect);
                }
                Some(0x7f) => {
                    self.pos += 1;
                    emit_unit(&mut self.out, 0x7f, self.dialect);
                }
                Some(0x80..) => {
                    let from = self.pos;
                    while self.peek().is_some_and(|b| b >= 0x80) {
                        self.pos += 1;
                    }
                    let text = std::str::from_utf8(&self.src[from..self.pos])
                        .map_err(|_| self.error("invalid UTF-8 in a string"))?;
                    for unit in text.encode_utf16() {
                        emit_unit(&mut self.out, unit, self.dialect);
                    }
                }
                Some(_) => return Err(self.error("control character in a string")),
                None => return Err(self.error("unterminated string")),
            }
        }
    }

    /// A string (an object key) at `pos`, decoded to UTF-16 code units.
    fn string(&mut self) -> Result<Vec<u16>, NotRepresentable> {
        self.pos += 1; // opening quote
        let mut units = Vec::new();
        loop {
            let run = self.pos;
            while let Some(&b) = self.src.get(self.pos) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            let text = std::str::from_utf8(&self.src[run..self.pos])
                .map_err(|_| self.error("invalid UTF-8 in a string"))?;
            units.extend(text.encode_utf16());
            match self.next_byte() {
                Some(b'"') => return Ok(units),
                Some(b'\\') => units.push(self.escape()?),
                Some(_) => return Err(self.error("control character in a string")),
                None => return Err(self.error("unterminated string")),
            }
        }
    }

    /// The code unit of the escape after a backslash.
    fn escape(&mut self) -> Result<u16, NotRepresentable> {
        Ok(match self.next_byte() {
            Some(b'"') => 0x22,
            Some(b'\\') => 0x5c,
            Some(b'/') => 0x2f,
            Some(b'b') => 0x08,
            Some(b'f') => 0x0c,
            Some(b'n') => 0x0a,
            Some(b'r') => 0x0d,
            Some(b't') => 0x09,
            Some(b'u') => self.hex4()?,
            _ => return Err(self.error("invalid escape in a string")),
        })
    }

    fn hex4(&mut self) -> Result<u16, NotRepresentable> {
        let digits = self
            .src
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.error("truncated \\u escape"))?;
        let text = std::str::from_utf8(digits).map_err(|_| self.error("invalid \\u escape"))?;
        let unit = u16::from_str_radix(text, 16).map_err(|_| self.error("invalid \\u escape"))?;
        if !digits.iter().all(u8::is_ascii_hexdigit) {
            return Err(self.error("invalid \\u escape"));
        }
        self.pos += 4;
        Ok(unit)
    }

    fn literal(&mut self, word: &str) -> Result<(), NotRepresentable> {
        if self.src[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            self.out.extend_from_slice(word.as_bytes());
            Ok(())
        } else {
            Err(self.error("expected a JSON value"))
        }
    }

    /// The earlier Python client's token for a non-finite float: kept by the
    /// Python dialect (and the comparison form), refused by the JS dialect,
    /// which has no form for it.
    fn non_finite(&mut self, word: &str) -> Result<(), NotRepresentable> {
        if !self.src[self.pos..].starts_with(word.as_bytes()) {
            return Err(self.error("expected a JSON value"));
        }
        if self.dialect == Dialect::Js && !self.meaning {
            return Err(self.error(&format!(
                "{word} (JSON cannot carry NaN or Infinity; only values read from the earlier Python client hold them)"
            )));
        }
        self.pos += word.len();
        self.non_finite = true;
        self.out.extend_from_slice(word.as_bytes());
        Ok(())
    }

    /// A number token: kept as written (Python), or as ECMAScript prints the
    /// double it denotes (JS).
    fn number(&mut self) -> Result<(), NotRepresentable> {
        let start = self.pos;
        let digits = |s: &mut Self| {
            let from = s.pos;
            while s.peek().is_some_and(|b| b.is_ascii_digit()) {
                s.pos += 1;
            }
            s.pos - from
        };
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return Err(self.error("invalid number")),
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            integer = false;
            self.pos += 1;
            if digits(self) == 0 {
                return Err(self.error("invalid number"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            integer = false;
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if digits(self) == 0 {
                return Err(self.error("invalid number"));
            }
        }
        let token = std::str::from_utf8(&self.src[start..self.pos]).expect("ASCII");
        match self.dialect {
            Dialect::Python => self.out.extend_from_slice(token.as_bytes()),
            Dialect::Js => {
                // Integers below 2^53 print as themselves (but -0 prints 0).
                if integer && token.len() <= 15 && token != "-0" {
                    self.out.extend_from_slice(token.as_bytes());
                } else {
                    write_js_number(&mut self.out, token, self.meaning)?;
                }
            }
        }
        Ok(())
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn next_byte(&mut self) -> Option<u8> {
        let b = self.peek();
        if b.is_some() {
            self.pos += 1;
        }
        b
    }

    fn error(&self, what: &str) -> NotRepresentable {
        NotRepresentable(format!("not valid JSON at byte {}: {what}", self.pos))
    }
}

/// ECMAScript `Number::toString` of the double `token` denotes. Beyond the
/// range of a double there is none: refused, or in the comparison form
/// written as the ±Infinity that `JSON.parse` makes of it.
fn write_js_number(out: &mut Vec<u8>, token: &str, meaning: bool) -> Result<(), NotRepresentable> {
    let f: f64 = token
        .parse()
        .map_err(|_| NotRepresentable(format!("number {token} is not valid JSON")))?;
    if !f.is_finite() {
        if meaning {
            out.extend_from_slice(if f > 0.0 { b"Infinity" } else { b"-Infinity" });
            return Ok(());
        }
        return Err(NotRepresentable(format!(
            "number {token} is out of the range of a double"
        )));
    }
    if f == 0.0 {
        out.push(b'0'); // -0 prints as 0 in ECMAScript
    } else {
        out.extend_from_slice(ryu_js::Buffer::new().format_finite(f).as_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn js(text: &str) -> String {
        canonicalize(text, Dialect::Js).unwrap().text
    }

    fn py(text: &str) -> String {
        canonicalize(text, Dialect::Python).unwrap().text
    }

    #[test]
    fn js_numbers_follow_number_to_string() {
        assert_eq!(
            js("[1.0,-0,1e21,1e16,1e-7,0.1,5e-324,-2.50,123456789012345678]"),
            "[1,0,1e+21,10000000000000000,1e-7,0.1,5e-324,-2.5,123456789012345680]"
        );
    }

    #[test]
    fn python_numbers_keep_their_text() {
        assert_eq!(py("[1.0, 1e+16, 1e-07, 10]"), "[1.0,1e+16,1e-07,10]");
    }

    #[test]
    fn array_index_keys_first() {
        assert_eq!(
            js(r#"{"b":1,"4294967294":0,"4294967295":0,"10":2,"2":3,"01":5,"-1":6}"#),
            r#"{"2":3,"10":2,"4294967294":0,"-1":6,"01":5,"4294967295":0,"b":1}"#
        );
        assert_eq!(py(r#"{"b":1,"10":2,"2":3}"#), r#"{"10":2,"2":3,"b":1}"#);
    }

    #[test]
    fn strings_escape_per_dialect() {
        assert_eq!(
            js("\"a\u{7f}é😀/\\u0001\""),
            "\"a\u{7f}\\u00e9\\ud83d\\ude00/\\u0001\""
        );
        assert_eq!(py("\"a\u{7f}\""), "\"a\\u007f\"");
        // A lone surrogate survives as its escape, but is not text.
        assert_eq!(js(r#""\ud800""#), r#""\ud800""#);
        for (text, ok) in [
            (r#""\ud83d\ude00""#, true),
            (r#""😀""#, true),
            (r#""\ud800""#, false),
            (r#""\ude00""#, false),
            (r#""\ud83dx""#, false),
            (r#""\ud83d\u0041""#, false),
            (r#"{"\ud800":1}"#, false),
        ] {
            assert_eq!(
                canonicalize(text, Dialect::Js).unwrap().well_formed,
                ok,
                "{text}"
            );
        }
    }

    #[test]
    fn keys_sort_by_utf16_in_js_and_code_point_in_python() {
        // U+FF21 sorts after U+1F600 by UTF-16 units (0xFF21 > 0xD83D), before it by code point.
        let text = "{\"\u{1F600}\":1,\"\u{FF21}\":2}";
        assert_eq!(js(text), "{\"\\ud83d\\ude00\":1,\"\\uff21\":2}");
        assert_eq!(py(text), "{\"\\uff21\":2,\"\\ud83d\\ude00\":1}");
    }

    #[test]
    fn nested_objects_and_whitespace() {
        assert_eq!(
            js(r#" { "z" : [ 1 , { "b" : null , "a" : true } ] , "a" : { } } "#),
            r#"{"a":{},"z":[1,{"a":true,"b":null}]}"#
        );
    }

    #[test]
    fn duplicate_keys_keep_the_last_value() {
        assert_eq!(js(r#"{"a":1,"b":2,"a":3}"#), r#"{"a":3,"b":2}"#);
    }

    #[test]
    fn depth_is_measured_without_recursion() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let c = canonicalize(&deep, Dialect::Js).unwrap();
        assert_eq!(c.depth, 100_000);
        assert_eq!(c.text, deep);
        let objects = format!("{}1{}", "{\"a\":".repeat(50_000), "}".repeat(50_000));
        assert_eq!(
            canonicalize(&objects, Dialect::Python).unwrap().depth,
            50_000
        );
        assert_eq!(canonicalize("1", Dialect::Js).unwrap().depth, 0);
        assert_eq!(canonicalize("[[],{}]", Dialect::Js).unwrap().depth, 2);
    }

    #[test]
    fn invalid_text_and_out_of_range_numbers_are_refused() {
        for bad in [
            "", "[1,]", "{\"a\"}", "01", "1.", "\"\\x\"", "[1] 2", "nul", "1e400",
        ] {
            assert!(canonicalize(bad, Dialect::Js).is_err(), "{bad:?}");
        }
        assert_eq!(py("1e400"), "1e400");
    }

    #[test]
    fn python_non_finite_tokens_are_kept_by_python_and_refused_by_js() {
        let text = r#"{"b":[NaN,Infinity,-Infinity,{"x":-Infinity}],"a":NaN}"#;
        let c = canonicalize(text, Dialect::Python).unwrap();
        assert_eq!(
            c.text,
            r#"{"a":NaN,"b":[NaN,Infinity,-Infinity,{"x":-Infinity}]}"#
        );
        assert!(c.non_finite);
        assert!(!canonicalize("[1,2]", Dialect::Python).unwrap().non_finite);
        // Only where a value goes, and only these spellings (Python's own).
        for bad in [
            "-NaN",
            "nan",
            "+Infinity",
            "Infinite",
            "[NaNa]",
            "{NaN:1}",
            "Infinity1",
        ] {
            assert!(canonicalize(bad, Dialect::Python).is_err(), "{bad}");
        }
        // The JS dialect, which `set` writes, has no form for them.
        for token in ["NaN", "Infinity", "-Infinity", "[1,[NaN]]"] {
            let e = canonicalize(token, Dialect::Js).unwrap_err();
            assert!(e.0.contains("NaN or Infinity"), "{e}");
        }
        // Inside strings they are text.
        assert_eq!(js(r#"["NaN","-Infinity"]"#), r#"["NaN","-Infinity"]"#);
    }

    #[test]
    fn meaning_reads_numbers_as_doubles_and_keeps_non_finite_tokens() {
        let same =
            |a: &str, b: &str| assert_eq!(meaning(a).unwrap(), meaning(b).unwrap(), "{a} vs {b}");
        let differ =
            |a: &str, b: &str| assert_ne!(meaning(a).unwrap(), meaning(b).unwrap(), "{a} vs {b}");
        same("1e-05", "0.00001");
        same("1.0", "1");
        same("1e+16", "10000000000000000");
        same("-0.0", "0");
        same("9007199254740993", "9007199254740992");
        same("123456789012345678901234567890", "1.2345678901234568e+29");
        same(
            r#"{"b":1,"a":"\u00e9\u007f"}"#,
            "{\"a\":\"\u{e9}\u{7f}\",\"b\":1.0}",
        );
        same(r#"{"a":1,"a":2}"#, r#"{"a":2}"#);
        same("[NaN, Infinity]", "[NaN,Infinity]");
        same("1e400", "Infinity");
        same("-1e400", "-Infinity");
        differ("NaN", "Infinity");
        differ("NaN", "null");
        differ("0.1", "0.10000000000000002");
        differ("[1,2]", "[2,1]");
        differ(r#""1""#, "1");
        assert_eq!(
            meaning("[NaN,-Infinity,1e400]").unwrap(),
            "[NaN,-Infinity,Infinity]"
        );
        assert!(meaning("[1,").is_err());
    }

    #[test]
    fn masking_replaces_value_tokens_in_place() {
        let text = br#"{"a":NaN,"b":[Infinity, -Infinity],"s":"NaN -Infinity","c":-1}"#;
        let m = mask_non_finite(text).unwrap();
        assert_eq!(m.text.len(), text.len());
        assert_eq!(
            std::str::from_utf8(&m.text).unwrap(),
            r#"{"a":0e0,"b":[0.000000, -0.000000],"s":"NaN -Infinity","c":-1}"#
        );
        assert_eq!(m.spans, vec![(5, 8), (14, 22), (24, 33)]);
        serde_json::from_slice::<serde_json::Value>(&m.text).unwrap();
        // Strings (escaped quotes too), and tokens glued to other text, are left alone.
        for plain in [
            &br#"{"a":"x\"NaN"}"#[..],
            br#"[1NaN]"#,
            br#"[NaN1]"#,
            br#"[--Infinity]"#,
            br#"[-1,2]"#,
            br#"[true]"#,
        ] {
            assert!(
                mask_non_finite(plain).is_none(),
                "{}",
                String::from_utf8_lossy(plain)
            );
        }
        assert_eq!(mask_non_finite(b"NaN").unwrap().text, b"0e0");
    }
}
