//! Core errors as JavaScript error objects. napi's `async fn` can only
//! reject with a generic error, so calls settle on the JavaScript thread
//! (`Env::spawn_future_with_callback`) and reject with an `Error` that
//! carries the code and context; the TypeScript layer turns it into an
//! `ImmuKVError` of the right class, with the cause chain as real errors.

use crate::credentials::JsFailure;
use immukv_core::Error;
use napi::bindgen_prelude::*;
use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Info {
    immukv: bool,
    code: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    operation: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bucket: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    may_have_committed: Option<bool>,
    /// Messages of the cause chain, outermost first (secrets removed).
    causes: Vec<String>,
    /// The user's credentials function threw: its error object's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    credentials_error_id: Option<u32>,
}

fn info(e: &Error) -> Info {
    let credentials_error_id = e
        .source_chain()
        .find_map(|s| s.downcast_ref::<JsFailure>())
        .map(|f| f.id)
        .filter(|id| *id > 0);
    Info {
        immukv: true,
        code: e.code.as_str(),
        message: e.message.clone(),
        operation: e.operation,
        bucket: e.bucket.clone(),
        path: e.path.clone(),
        may_have_committed: e.may_have_committed,
        causes: e.causes(),
        credentials_error_id,
    }
}

/// The JavaScript value a failed call rejects with.
pub fn to_js(env: &Env, e: &Error) -> napi::Error {
    match env.to_js_value(&info(e)) {
        Ok(v) => napi::Error::from(v),
        Err(err) => err,
    }
}

/// Throws the error (for synchronous calls: construction), as the value
/// `to_js` would reject with.
pub fn throw(env: &Env, e: &Error) -> napi::Error {
    match env.to_js_value(&info(e)).and_then(|v| env.throw(v)) {
        // napi sees the pending exception and does not throw again.
        Ok(()) => napi::Error::new(Status::PendingException, e.message.clone()),
        Err(err) => err,
    }
}

/// A panic's payload as an INTERNAL_ERROR (no panic ever reaches JS).
pub fn from_panic(payload: Box<dyn std::any::Any + Send>) -> Error {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    Error::internal(format!("ImmuKV panicked (a bug, please report it): {what}"))
}
