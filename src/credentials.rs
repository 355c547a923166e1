//! A JavaScript credentials function as a core credentials source. The
//! TypeScript layer calls the user's function, checks what it returns, and
//! hands over JSON: the credentials, or `{ "errorId", "message" }` when it
//! threw, so that the user's own error object can become the `cause` of the
//! CREDENTIALS_ERROR this turns into. A function that never settles is
//! bounded by the core (requestTimeoutMs).

use immukv_core::storage::s3::{CredentialsFn, KeyPair, ProviderError};
use napi::bindgen_prelude::Promise;
use napi::threadsafe_function::ThreadsafeFunction;
use napi::Status;
use serde::Deserialize;
use std::fmt;
use std::sync::Arc;

pub type JsProvider = ThreadsafeFunction<(), Promise<String>, (), Status, false, true>;

/// What awaiting a `Promise` fails with when the promise was collected
/// without settling (the channel's `Canceled`, as napi-rs words it). The
/// TypeScript side turns whatever the user's function throws or rejects
/// with into an answer, so its promise never rejects.
const PROMISE_COLLECTED: &str = "oneshot canceled";

/// The user's function failed; `id` names its error object on the JS side.
#[derive(Debug)]
pub struct JsFailure {
    pub id: u32,
    pub message: String,
}

impl fmt::Display for JsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for JsFailure {}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    session_token: Option<String>,
    expiration: Option<f64>,
    error_id: Option<u32>,
    message: Option<String>,
}

pub fn function(f: JsProvider) -> CredentialsFn {
    let f = Arc::new(f);
    Arc::new(move || {
        let f = f.clone();
        Box::pin(async move {
            let fail =
                |message: String| -> ProviderError { Box::new(JsFailure { id: 0, message }) };
            let promise = f.call_async(()).await.map_err(|e| fail(e.reason.clone()))?;
            let text = match promise.await {
                Ok(text) => text,
                // Its promise was garbage-collected unsettled (napi-rs then
                // drops the channel it would have answered on): it never
                // settles. Waited for like any promise that has not settled
                // yet, so that the core's bound (requestTimeoutMs) decides,
                // with the same error whenever the collector runs.
                Err(e) if e.reason == PROMISE_COLLECTED => std::future::pending().await,
                Err(e) => return Err(fail(e.reason.clone())),
            };
            let a: Answer = serde_json::from_str(&text).map_err(|e| fail(e.to_string()))?;
            if let Some(id) = a.error_id {
                return Err(Box::new(JsFailure {
                    id,
                    message: a.message.unwrap_or_default(),
                }) as ProviderError);
            }
            Ok(KeyPair {
                access_key_id: a.access_key_id.unwrap_or_default(),
                secret_access_key: a.secret_access_key.unwrap_or_default(),
                session_token: a.session_token,
                expires_at_ms: a
                    .expiration
                    .filter(|x| x.is_finite() && *x > 0.0)
                    .map(|x| x as u64),
            })
        })
    })
}
