//! Every case of ../shared/vectors/canonical-v1.json, both dialects: what we
//! write (JS) byte for byte, and what we verify (JS and Python).

use immukv_core::format::{canonical, hash, Dialect, Entry};
use serde_json::Value;

fn vectors() -> Vec<Value> {
    let path = std::env::var("IMMUKV_VECTORS").unwrap_or_else(|_| {
        format!(
            "{}/../../shared/vectors/canonical-v1.json",
            env!("CARGO_MANIFEST_DIR")
        )
    });
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

fn entry_from_case(case: &Value, value: Value) -> Entry {
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
    }
}

#[test]
fn js_dialect_writes_byte_identical_objects() {
    for case in vectors() {
        let name = s(&case["name"]);
        let js = &case["js"];
        let value: Value = serde_json::from_str(case["value_json"].as_str().unwrap()).unwrap();
        let mut entry = entry_from_case(&case, value);
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
        let previous = e["sequence"]
            .as_u64()
            .unwrap()
            .checked_sub(1)
            .map(|seq| Entry {
                key: "p".into(),
                value: Value::Null,
                timestamp_ms: 1,
                sequence: seq,
                previous_hash: String::new(),
                hash: s(&e["previous_hash"]),
                previous_version_id: None,
                previous_key_object_etag: None,
                version_id: e.get("previous_version_id").map(s).unwrap_or_default(),
            });
        if previous.as_ref().is_some_and(|p| p.version_id.is_empty()) {
            continue; // a vector that states no previous version id cannot come from next()
        }
        let value: Value = serde_json::from_str(case["value_json"].as_str().unwrap()).unwrap();
        let built = Entry::next(
            previous.as_ref(),
            s(&e["key"]),
            value,
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
            bad.value = serde_json::json!({"tampered": true});
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
            canonical::to_string(&py.value, Dialect::Js).unwrap(),
            canonical::to_string(&js.value, Dialect::Js).unwrap(),
            "{}",
            case["name"]
        );
    }
}

#[test]
fn a_python_value_read_as_js_numbers_verifies_with_its_stored_text() {
    let case = vectors()
        .into_iter()
        .find(|c| c["name"] == "integral-float")
        .unwrap();
    let stored = Entry::from_log_object(s(&case["python"]["log_object"]).as_bytes(), "v").unwrap();
    let mut as_read = stored.clone();
    as_read.value = serde_json::json!([1, 2.5, 100]); // what JSON.parse makes of [1.0,2.5,100.0]
    assert_eq!(as_read.hash_dialect(), None);
    assert_eq!(
        as_read.hash_dialect_as_stored(Some(&stored.value)),
        Some(Dialect::Python)
    );
    as_read.value = serde_json::json!([1, 2.5, 101]); // changed: the stored text no longer stands in
    assert_eq!(as_read.hash_dialect_as_stored(Some(&stored.value)), None);
}
