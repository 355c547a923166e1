use immukv_core::format::{canonical, Dialect, Entry, Json};
use std::time::Instant;

fn main() {
    let mut items = Vec::new();
    let mut size = 0;
    let mut i = 0u64;
    while size < 1 << 20 {
        let item = format!(
            r#"{{"id":{i},"name":"item-{i}","value":{},"tags":["a","b"],"ok":true}}"#,
            std::f64::consts::PI * i as f64
        );
        size += item.len() + 1;
        items.push(item);
        i += 1;
    }
    let text = format!(r#"{{"items":[{}]}}"#, items.join(","));
    let t = |label: &str, f: &mut dyn FnMut()| {
        let n = 20;
        let s = Instant::now();
        for _ in 0..n {
            f();
        }
        println!(
            "{label}: {:.2} ms",
            s.elapsed().as_secs_f64() * 1000.0 / n as f64
        );
    };
    t("canonicalize js", &mut || {
        canonical::canonicalize(&text, Dialect::Js).unwrap();
    });
    let (v, _) = Json::canonical_from(&text, Dialect::Js).unwrap();
    t("canonicalize js (already canonical)", &mut || {
        canonical::canonicalize(v.as_str(), Dialect::Js).unwrap();
    });
    t("serde RawValue validate", &mut || {
        serde_json::from_str::<&serde_json::value::RawValue>(&text).unwrap();
    });
    let mut e = Entry::next(None, "k".into(), v.clone(), 1, None).unwrap();
    e.version_id = "v".into();
    t("Entry::next (hash)", &mut || {
        Entry::next(None, "k".into(), v.clone(), 1, None).unwrap();
    });
    t("log_object", &mut || {
        e.log_object(Dialect::Js).unwrap();
    });
    let ko = e.key_object(Dialect::Js).unwrap();
    t("from_key_object", &mut || {
        Entry::from_key_object(ko.as_bytes()).unwrap();
    });
    let parsed = Entry::from_key_object(ko.as_bytes()).unwrap();
    t("hash_dialect (parsed)", &mut || {
        parsed.hash_dialect().unwrap();
    });
    use sha2::Digest;
    t("sha256 1 MiB", &mut || {
        sha2::Sha256::digest(text.as_bytes());
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = std::sync::Arc::new(immukv_core::storage::memory::MemoryStore::default());
    let c = immukv_core::Client::new(store, immukv_core::Options::default()).unwrap();
    let raw = Json::from_js(text.clone());
    rt.block_on(c.set("k", &raw)).unwrap();
    t("client.set (memory)", &mut || {
        rt.block_on(c.set("k", &raw)).unwrap();
    });
    t("client.get (memory)", &mut || {
        rt.block_on(c.get("k")).unwrap();
    });
}
