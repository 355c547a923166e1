//! Node binding: a thin napi-rs layer over `immukv-core`.
//!
//! - `client.rs`: the native client class (S3 or in-memory), one method per
//!   core call
//! - `config.rs`: JavaScript config to core settings
//! - `entry.rs`: entries, digests and reports as JavaScript objects
//! - `error.rs`: core errors as JavaScript error objects
//! - `credentials.rs`: a JavaScript credentials function as a core provider
//! - `logging.rs`: `IMMUKV_LOG` to stderr
//!
//! Values cross as JSON text (one JSON.parse on the JavaScript side beats
//! converting objects property by property). The TypeScript layer (ts/)
//! owns what is JavaScript's: argument types, codecs, AbortSignal wiring and
//! error classes.

// The futures of a call nest deeply (the SDK's, inside ours).
#![recursion_limit = "256"]

mod client;
mod config;
mod credentials;
mod entry;
mod error;
mod logging;

use immukv_core::format::{Dialect, Entry, Json};
use napi_derive::napi;

/// The runtime every call runs on: napi-rs's own, with larger worker
/// stacks. A call's future nests the AWS SDK's inside ours; polled without
/// the optimiser (debug builds) its frames overflowed tokio's default 2 MiB
/// (a segfault in `get`). Built once per process: every worker thread that
/// loads the addon runs its calls on the same runtime.
#[napi_derive::module_init]
fn init_runtime() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        match tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_stack_size(16 * 1024 * 1024)
            .build()
        {
            Ok(rt) => napi::bindgen_prelude::create_custom_tokio_runtime(rt),
            // napi-rs then builds its default runtime on first use.
            Err(e) => {
                eprintln!("immukv: could not build the async runtime ({e}); using the default")
            }
        }
    });
}

/// The core's defaults by config name (the README's table is checked
/// against these).
#[napi]
pub fn config_defaults() -> std::collections::HashMap<String, f64> {
    immukv_core::defaults::ALL
        .iter()
        .map(|(k, v)| (k.to_string(), *v as f64))
        .collect()
}

/// Every error code, as the core defines them.
#[napi]
pub fn error_codes() -> Vec<&'static str> {
    immukv_core::ErrorCode::ALL
        .iter()
        .map(|c| c.as_str())
        .collect()
}

/// Recomputes an entry's hash from the given value text (either dialect).
#[napi]
pub fn verify_entry(entry: entry::EntryFields, value_json: String) -> bool {
    let whole = |n: f64| (n.is_finite() && n >= 0.0 && n.fract() == 0.0).then_some(n as u64);
    if entry.sequence > immukv_core::format::MAX_SEQUENCE as f64 {
        return false; // no stored entry has one (see MAX_SEQUENCE)
    }
    let (Some(sequence), Some(timestamp_ms)) = (whole(entry.sequence), whole(entry.timestamp_ms))
    else {
        return false;
    };
    let e = Entry {
        key: entry.key,
        value: Json::from_js(value_json),
        timestamp_ms,
        sequence,
        previous_hash: entry.previous_hash,
        hash: entry.hash,
        previous_version_id: None,
        previous_key_object_etag: None,
        version_id: String::new(),
        pipeline_depth: None,
    };
    e.hash_dialect()
        .is_some_and(|d| matches!(d, Dialect::Js | Dialect::Python))
}
