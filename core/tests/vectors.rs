//! Every case of tests/data/canonical-v1.json (the team's byte-exact vectors,
//! both dialects): what we write (JS) byte for byte, and what we verify (JS
//! and Python).

use immukv_core::format::{hash, Dialect, Entry, Json, Link};
use serde_json::Value;

fn vectors() -> Vec<Value> {
    let path = format!(
        "{}/tests/data/canonical-v1.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read vectors at {path}: {e}"));
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["format"], "immukv-vectors-1");
    let cases = doc["vectors"].as_array().unwrap().clone();
    assert!(
        cases.len() >= 18,
        "expected the full vector set, found {}",
        cases.len()
    );
    cases
}

fn s(v: &Value) -> String {
    v.as_str().unwrap().to_string()
}

fn js_value(case: &Value) -> Json {
    Json::canonical_from(case["value_json"].as_str().unwrap(), Dialect::Js)
        .unwrap()
        .0
}

fn entry_from_case(case: &Value, value: Json) -> Entry {
    let e = &case["entry"];
    Entry {
        key: s(&e["key"]),
        value,
        timestamp_ms: e["timestamp_ms"].as_u64().unwrap(),
        sequence: e["sequence"].as_u64().unwrap(),
        previous_hash: s(&e["previous_hash"]),
        hash: String::new(),
        previous_version_id: e.get("previous_version_id").map(s),
        previous_key_object_etag: e.get("previous_key_object_etag").map(s),
        version_id: s(&e["log_version_id"]),
        pipeline_depth: None,
    }
}

#[test]
fn js_dialect_writes_byte_identical_objects() {
    for case in vectors() {
        let name = s(&case["name"]);
        let js = &case["js"];
        let mut entry = entry_from_case(&case, js_value(&case));
        assert_eq!(
            hash::hash_input(&entry.hashed(), Dialect::Js).unwrap(),
            s(&js["hash_input"]),
            "{name}: hash input"
        );
        entry.hash = hash::hash(&entry.hashed(), Dialect::Js).unwrap();
        assert_eq!(entry.hash, s(&js["hash"]), "{name}: hash");
        assert_eq!(
            entry.log_object(Dialect::Js).unwrap(),
            s(&js["log_object"]),
            "{name}: log object"
        );
        assert_eq!(
            entry.key_object(Dialect::Js).unwrap(),
            s(&js["key_object"]),
            "{name}: key object"
        );
    }
}

#[test]
fn entry_next_builds_the_js_vector() {
    for case in vectors() {
        let e = &case["entry"];
        let previous_version = e.get("previous_version_id").map(s);
        let previous_hash = s(&e["previous_hash"]);
        let sequence = e["sequence"].as_u64().unwrap();
        let link = match (sequence.checked_sub(1), &previous_version) {
            (None, _) => None,
            (Some(seq), Some(v)) => Some(Link {
                sequence: seq,
                hash: &previous_hash,
                version_id: v,
            }),
            (Some(_), None) => continue, // states no previous version id: not from next()
        };
        let built = Entry::next(
            link,
            s(&e["key"]),
            js_value(&case),
            e["timestamp_ms"].as_u64().unwrap(),
            e.get("previous_key_object_etag").map(s),
        )
        .unwrap();
        assert_eq!(
            built.log_object(Dialect::Js).unwrap(),
            s(&case["js"]["log_object"]),
            "{}",
            case["name"]
        );
    }
}

#[test]
fn both_dialects_verify_from_stored_bytes() {
    for case in vectors() {
        let name = s(&case["name"]);
        let version = s(&case["entry"]["log_version_id"]);
        for (dialect, side) in [(Dialect::Js, "js"), (Dialect::Python, "python")] {
            let d = &case[side];
            for (what, parsed) in [
                (
                    "log object",
                    Entry::from_log_object(s(&d["log_object"]).as_bytes(), &version).unwrap(),
                ),
                (
                    "key object",
                    Entry::from_key_object(s(&d["key_object"]).as_bytes()).unwrap(),
                ),
            ] {
                assert_eq!(
                    parsed.hash_dialect(),
                    Some(dialect),
                    "{name} {side} {what}: verifies in its own dialect"
                );
                assert_eq!(parsed.hash, s(&d["hash"]), "{name} {side} {what}");
                assert_eq!(
                    hash::hash_input(&parsed.hashed(), dialect).unwrap(),
                    s(&d["hash_input"]),
                    "{name} {side} {what}: hash input"
                );
                // Re-emitting in the entry's own dialect gives the stored bytes back
                // (repair writes key objects this way).
                assert_eq!(
                    parsed.key_object(dialect).unwrap(),
                    s(&d["key_object"]),
                    "{name} {side} {what}: key bytes"
                );
                if what == "log object" {
                    assert_eq!(
                        parsed.log_object(dialect).unwrap(),
                        s(&d["log_object"]),
                        "{name} {side}: log bytes"
                    );
                }
            }
        }
    }
}

#[test]
fn altered_entries_verify_in_neither_dialect() {
    for case in vectors() {
        for side in ["js", "python"] {
            let stored = s(&case[side]["log_object"]);
            let good = Entry::from_log_object(stored.as_bytes(), "v").unwrap();
            let mut bad = good.clone();
            bad.value = Json::parse(r#"{"tampered":true}"#).unwrap();
            assert_eq!(
                bad.hash_dialect(),
                None,
                "{} {side}: altered value",
                case["name"]
            );
            let mut bad = good.clone();
            bad.timestamp_ms += 1;
            assert_eq!(
                bad.hash_dialect(),
                None,
                "{} {side}: altered timestamp",
                case["name"]
            );
            let mut bad = good;
            bad.key.push('x');
            assert_eq!(
                bad.hash_dialect(),
                None,
                "{} {side}: altered key",
                case["name"]
            );
        }
    }
}

#[test]
fn js_canonical_of_python_numbers_matches_js_vector_values() {
    // Reading a Python-written value and writing it again as JS gives the JS
    // vector's value text: the dialects differ only in form.
    for case in vectors() {
        let py = Entry::from_log_object(s(&case["python"]["log_object"]).as_bytes(), "v").unwrap();
        let js = Entry::from_log_object(s(&case["js"]["log_object"]).as_bytes(), "v").unwrap();
        assert_eq!(
            py.value.canonical(Dialect::Js).unwrap(),
            js.value.canonical(Dialect::Js).unwrap(),
            "{}",
            case["name"]
        );
    }
}

#[test]
fn stored_objects_of_any_depth_parse_and_verify() {
    // The earlier Python client writes values ~1000 deep; serde_json's
    // default recursion limit is 128. Nothing on the read path recurses.
    for depth in [127, 128, 300, 1000, 20_000] {
        let value = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let (v, d) = Json::canonical_from(&value, Dialect::Js).unwrap();
        assert_eq!(d, depth);
        let mut e = Entry::next(None, "deep".into(), v, 1_700_000_000_000, None).unwrap();
        e.version_id = "v1".into();
        let stored = e.log_object(Dialect::Js).unwrap();
        let parsed = Entry::from_log_object(stored.as_bytes(), "v1").unwrap();
        assert_eq!(parsed.hash_dialect(), Some(Dialect::Js), "depth {depth}");
        let key_object =
            Entry::from_key_object(e.key_object(Dialect::Js).unwrap().as_bytes()).unwrap();
        assert_eq!(key_object.hash, e.hash);
    }
}

/// tests/data/python-client-v1.json: what the earlier Python client (PyPI
/// immukv 0.1.30) writes, made with its own functions by
/// `__test__/support/make-python-client-vectors.py`.
fn python_client() -> Value {
    let path = format!(
        "{}/tests/data/python-client-v1.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read vectors at {path}: {e}"));
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["format"], "immukv-python-client-1");
    doc
}

#[test]
fn python_non_finite_entries_read_verify_and_repair_in_their_own_dialect() {
    let cases = python_client()["non_finite"].as_array().unwrap().clone();
    assert_eq!(cases.len(), 5);
    for case in cases {
        let name = s(&case["name"]);
        let (log_object, key_object) = (s(&case["log_object"]), s(&case["key_object"]));
        let log = Entry::from_log_object(log_object.as_bytes(), &s(&case["log_version_id"]))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // The value is the text as stored, flagged for JavaScript readers.
        assert!(log.value.non_finite(), "{name}");
        assert!(
            log_object.contains(&format!("\"value\":{}", log.value.as_str())),
            "{name}"
        );
        assert_eq!(log.hash_dialect(), Some(Dialect::Python), "{name}");
        let key = Entry::from_key_object(key_object.as_bytes()).unwrap();
        assert_eq!(key.hash_dialect(), Some(Dialect::Python), "{name}");
        assert!(key.value.non_finite(), "{name}");
        // Our repair writes Python's bytes; the JS dialect has no form for it.
        assert_eq!(
            log.key_object(Dialect::Python).unwrap(),
            key_object,
            "{name}"
        );
        assert!(log.key_object(Dialect::Js).is_err(), "{name}");
        assert!(log.same_entry(&key) && key.same_entry(&log), "{name}");
        assert_eq!(
            log.log_object(Dialect::Python).unwrap(),
            log_object,
            "{name}"
        );
        // Appending after it.
        let next = Entry::next(
            Some(log.link()),
            "after".into(),
            Json::parse("1").unwrap(),
            1,
            None,
        )
        .unwrap();
        assert_eq!(next.previous_hash, log.hash);
        // Another non-finite value in its place does not verify.
        let v = log.value.as_str();
        let swapped = if v.contains("NaN") {
            v.replacen("NaN", "Infinity", 1)
        } else if v.contains("-Infinity") {
            v.replacen("-Infinity", "Infinity", 1)
        } else {
            v.replacen("Infinity", "NaN", 1)
        };
        let altered =
            key_object.replace(&format!("\"value\":{v}"), &format!("\"value\":{swapped}"));
        let altered = Entry::from_key_object(altered.as_bytes()).unwrap();
        assert_eq!(altered.hash_dialect(), None, "{name}: altered");
        assert!(!altered.same_entry(&log), "{name}: altered");
        // `set` refuses such a value in either dialect.
        for d in [Dialect::Js, Dialect::Python] {
            assert!(
                Json::canonical_from(log.value.as_str(), d).is_err(),
                "{name}"
            );
        }
    }
}

#[test]
fn python_repairs_of_our_entries_hold_the_same_entry() {
    let doc = python_client();
    let repairs = doc["repairs_of_js"].as_array().unwrap();
    let cases = vectors();
    assert_eq!(repairs.len(), cases.len());
    let mut differ_in_bytes = Vec::new();
    for (case, repair) in cases.iter().zip(repairs) {
        let name = s(&case["name"]);
        assert_eq!(s(&repair["name"]), name);
        let ours = Entry::from_log_object(
            s(&case["js"]["log_object"]).as_bytes(),
            &s(&case["entry"]["log_version_id"]),
        )
        .unwrap();
        let body = s(&repair["key_object"]);
        let theirs = Entry::from_key_object(body.as_bytes()).unwrap();
        assert!(ours.same_entry(&theirs), "{name}");
        assert!(theirs.same_entry(&ours), "{name}");
        // Python keeps the meaning, so our hash still covers its text.
        assert_eq!(theirs.hash_dialect(), Some(Dialect::Js), "{name}");
        if [Dialect::Js, Dialect::Python]
            .iter()
            .all(|d| ours.key_object(*d).unwrap() != body)
        {
            differ_in_bytes.push(name.clone());
        }
        // Any field changed is another entry.
        for change in [
            |e: &mut Entry| e.sequence += 1,
            |e: &mut Entry| e.timestamp_ms += 1,
            |e: &mut Entry| e.key.push('x'),
            |e: &mut Entry| e.hash.push('0'),
            |e: &mut Entry| e.previous_hash.push('0'),
            |e: &mut Entry| e.version_id.push('0'),
            |e: &mut Entry| e.value = Json::parse(r#"{"other":1}"#).unwrap(),
        ] {
            let mut other = theirs.clone();
            change(&mut other);
            assert!(!ours.same_entry(&other), "{name}: changed");
        }
    }
    // What a byte comparison took for forged: Python's `1e-07` for our `1e-7`.
    assert!(
        differ_in_bytes.contains(&"large-exponents".to_string()),
        "{differ_in_bytes:?}"
    );
}

#[test]
fn earlier_typescript_repairs_of_python_entries_hold_the_same_entry() {
    // The earlier TypeScript client repaired with JSON.parse and its
    // canonical JSON: a Python entry's key object in JS number text, which
    // the entry's Python hash does not cover.
    let mut unhashed = Vec::new();
    for case in vectors() {
        let name = s(&case["name"]);
        let python = Entry::from_log_object(
            s(&case["python"]["log_object"]).as_bytes(),
            &s(&case["entry"]["log_version_id"]),
        )
        .unwrap();
        let body = python.key_object(Dialect::Js).unwrap();
        assert_eq!(
            body,
            s(&case["js"]["key_object"])
                .replace(&s(&case["js"]["hash"]), &s(&case["python"]["hash"])),
            "{name}"
        );
        let repaired = Entry::from_key_object(body.as_bytes()).unwrap();
        assert!(python.same_entry(&repaired), "{name}");
        if repaired.hash_dialect().is_none() {
            unhashed.push(name);
        }
    }
    for name in ["integral-float", "large-exponents", "big-integer"] {
        assert!(unhashed.contains(&name.to_string()), "{name}: {unhashed:?}");
    }
}
