//! The native client: one method per core call. Each call runs on the
//! tokio runtime and settles on the JavaScript thread, so a failure can
//! reject with a structured error (error.rs); a panic becomes an
//! INTERNAL_ERROR.

use crate::config::{self, NativeConfig, NativeMemoryConfig};
use crate::credentials::JsProvider;
use crate::entry::{
    NativeDigest, NativeEntry, NativeHistory, NativeProgress, NativeReport, NativeStats,
    NativeStoreCheck, NativeVerifyOptions,
};
use crate::error;
use futures_util::FutureExt;
use immukv_core::client::{whole_number, Progress};
use immukv_core::env::{abortable, Cancel};
use immukv_core::storage::memory::MemoryStore;
use immukv_core::storage::s3::S3Store;
use immukv_core::{Client, Error, Json, Result, VerifyOptions};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

/// The store behind a client.
#[derive(Clone)]
enum AnyClient {
    S3(Client<S3Store>),
    Memory(Client<MemoryStore>),
}

/// Runs `$body` with `$c` bound to the client, whatever its store.
macro_rules! each {
    ($any:expr, $c:ident => $body:expr) => {
        match $any {
            AnyClient::S3($c) => $body.boxed(),
            AnyClient::Memory($c) => $body.boxed(),
        }
    };
}

/// A cancellation token for one call (the TypeScript layer fires it from an
/// `AbortSignal`).
#[napi]
pub struct NativeCancel {
    inner: Cancel,
}

#[napi]
impl NativeCancel {
    #[napi(constructor)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        NativeCancel {
            inner: Cancel::new(),
        }
    }

    #[napi]
    pub fn cancel(&self) {
        self.inner.cancel();
    }
}

/// One in-memory store. The TypeScript layer keeps the named ones of each
/// JavaScript environment (a worker thread, a test file's context) on that
/// environment's global object, so that test files running side by side in
/// one process never share a store by accident; the process-wide ones are
/// for sharing on purpose, across threads.
#[napi]
pub struct NativeMemoryStore {
    inner: Arc<MemoryStore>,
}

#[napi]
impl NativeMemoryStore {
    /// A new, empty store; `name` is what errors call its bucket.
    #[napi(constructor)]
    pub fn new(name: String) -> Self {
        NativeMemoryStore {
            inner: Arc::new(MemoryStore::new(&name)),
        }
    }

    /// The store called `name` that every thread of the process shares,
    /// created empty on first use.
    #[napi(factory)]
    pub fn process_wide(name: String) -> Self {
        NativeMemoryStore {
            inner: MemoryStore::named(&name),
        }
    }

    /// Forgets the process-wide store called `name` (clients still holding
    /// it keep it).
    #[napi]
    pub fn drop_process_wide(name: String) -> bool {
        MemoryStore::drop_named(&name)
    }
}

type ProgressFn = ThreadsafeFunction<NativeProgress, (), NativeProgress, Status, false, true>;

#[napi]
pub struct NativeClient {
    inner: AnyClient,
}

/// Runs `fut` on the runtime; settles the promise on the JavaScript thread
/// with `out(value)`, or with the error as a JavaScript object.
fn settle<'env, T, V, F>(
    env: &'env Env,
    fut: F,
    out: impl FnOnce(T) -> V + Send + 'static,
) -> napi::Result<PromiseRaw<'env, V>>
where
    T: Send + 'static,
    V: ToNapiValue + 'static,
    F: Future<Output = Result<T>> + Send + 'static,
{
    let guarded = AssertUnwindSafe(fut)
        .catch_unwind()
        .map(|r| Ok(r.unwrap_or_else(|p| Err(error::from_panic(p)))));
    env.spawn_future_with_callback(guarded, move |env, r: Result<T>| match r {
        Ok(v) => Ok(out(v)),
        Err(e) => Err(error::to_js(env, &e)),
    })
}

fn cancel_of(c: Option<&NativeCancel>) -> Option<Cancel> {
    c.map(|c| c.inner.clone())
}

/// A JavaScript number as a page limit (the core checks it is at least 1).
fn limit(v: Option<f64>) -> Result<Option<u32>> {
    v.map(|n| {
        whole_number("limit", n)
            .map(|n| n.min(u64::from(u32::MAX)) as u32)
            .map_err(|e| Error::invalid_argument(e.message))
    })
    .transpose()
}

/// Synchronous failures (construction) as thrown JavaScript errors.
fn thrown(env: &Env, e: Error) -> napi::Error {
    error::throw(env, &e)
}

#[napi]
impl NativeClient {
    #[napi(constructor)]
    pub fn new(
        env: Env,
        config: NativeConfig,
        #[napi(ts_arg_type = "() => Promise<string>")] credentials: Option<JsProvider>,
    ) -> napi::Result<Self> {
        crate::logging::init();
        let client =
            config::s3(config, credentials).and_then(|(s3, opts)| Client::connect(s3, opts));
        Ok(NativeClient {
            inner: AnyClient::S3(client.map_err(|e| thrown(&env, e))?),
        })
    }

    /// A client on an in-memory store (the TypeScript layer picks which:
    /// private, this JavaScript environment's, or the process-wide one).
    #[napi(factory)]
    pub fn in_memory(
        env: Env,
        store: &NativeMemoryStore,
        options: NativeMemoryConfig,
    ) -> napi::Result<Self> {
        crate::logging::init();
        let client =
            config::memory(options).and_then(|opts| Client::new(store.inner.clone(), opts));
        Ok(NativeClient {
            inner: AnyClient::Memory(client.map_err(|e| thrown(&env, e))?),
        })
    }

    #[napi]
    pub fn set<'env>(
        &self,
        env: &'env Env,
        key: String,
        value_json: String,
        cancel: Option<&NativeCancel>,
    ) -> napi::Result<PromiseRaw<'env, NativeEntry>> {
        let cancel = cancel_of(cancel);
        let value = Json::from_js(value_json);
        // Queued now, on the JavaScript thread: one client's sets commit in
        // the order they were called.
        // Enqueueing may start the pipeline task, which needs the runtime.
        let fut = napi::bindgen_prelude::within_runtime_if_available(|| match &self.inner {
            AnyClient::S3(c) => c.set_with(&key, &value, cancel.as_ref()).boxed(),
            AnyClient::Memory(c) => c.set_with(&key, &value, cancel.as_ref()).boxed(),
        });
        settle(env, fut, NativeEntry::written)
    }

    #[napi]
    pub fn get<'env>(
        &self,
        env: &'env Env,
        key: String,
        verify: Option<bool>,
        trusted: Option<NativeDigest>,
        cancel: Option<&NativeCancel>,
    ) -> napi::Result<PromiseRaw<'env, NativeEntry>> {
        let cancel = cancel_of(cancel);
        let trusted = trusted.map(NativeDigest::into_core);
        let verified = verify.unwrap_or(false) || trusted.is_some();
        let fut = each!(self.inner.clone(), c => async move {
            abortable(cancel.as_ref(), async {
                if verified {
                    c.get_verified(&key, trusted.as_ref()).await
                } else {
                    c.get(&key).await
                }
            })
            .await
        });
        settle(env, fut, NativeEntry::read)
    }

    #[napi]
    pub fn get_log_version<'env>(
        &self,
        env: &'env Env,
        version_id: String,
        cancel: Option<&NativeCancel>,
    ) -> napi::Result<PromiseRaw<'env, NativeEntry>> {
        let cancel = cancel_of(cancel);
        let fut = each!(self.inner.clone(), c => async move {
            abortable(cancel.as_ref(), c.get_log_version(&version_id)).await
        });
        settle(env, fut, NativeEntry::read)
    }

    #[napi]
    pub fn history<'env>(
        &self,
        env: &'env Env,
        key: String,
        before_version_id: Option<String>,
        page_limit: Option<f64>,
        cancel: Option<&NativeCancel>,
    ) -> napi::Result<PromiseRaw<'env, NativeHistory>> {
        let cancel = cancel_of(cancel);
        let fut = each!(self.inner.clone(), c => async move {
            let l = limit(page_limit)?;
            abortable(cancel.as_ref(), c.history(&key, before_version_id.as_deref(), l)).await
        });
        settle(
            env,
            fut,
            |(entries, next): (Vec<immukv_core::Entry>, Option<String>)| NativeHistory {
                entries: entries.into_iter().map(NativeEntry::read).collect(),
                next_cursor: next,
            },
        )
    }

    #[napi]
    pub fn log_entries<'env>(
        &self,
        env: &'env Env,
        before_version_id: Option<String>,
        page_limit: Option<f64>,
        cancel: Option<&NativeCancel>,
    ) -> napi::Result<PromiseRaw<'env, Vec<NativeEntry>>> {
        let cancel = cancel_of(cancel);
        let fut = each!(self.inner.clone(), c => async move {
            let l = limit(page_limit)?;
            abortable(cancel.as_ref(), c.log_entries(before_version_id.as_deref(), l)).await
        });
        settle(env, fut, |es: Vec<immukv_core::Entry>| {
            es.into_iter().map(NativeEntry::read).collect()
        })
    }

    /// Keys starting with `prefix` (`""`: all), in S3 order, after `afterKey`.
    #[napi]
    pub fn list_keys<'env>(
        &self,
        env: &'env Env,
        prefix: String,
        after_key: Option<String>,
        page_limit: Option<f64>,
        cancel: Option<&NativeCancel>,
    ) -> napi::Result<PromiseRaw<'env, Vec<String>>> {
        let cancel = cancel_of(cancel);
        let fut = each!(self.inner.clone(), c => async move {
            let l = limit(page_limit)?;
            abortable(cancel.as_ref(), c.list_keys(&prefix, after_key.as_deref(), l)).await
        });
        settle(env, fut, |keys| keys)
    }

    #[napi]
    pub fn verify_log<'env>(
        &self,
        env: &'env Env,
        options: NativeVerifyOptions,
        #[napi(ts_arg_type = "(progress: NativeProgress) => void")] progress: Option<ProgressFn>,
        cancel: Option<&NativeCancel>,
    ) -> napi::Result<PromiseRaw<'env, NativeReport>> {
        let cancel = cancel_of(cancel);
        let fut = each!(self.inner.clone(), c => async move {
            let opts = VerifyOptions {
                limit: limit(options.limit)?,
                trusted: options.trusted.map(NativeDigest::into_core),
                check_key_objects: options.check_key_objects.unwrap_or(true),
                check_retention: options.check_retention.unwrap_or(false),
            };
            let report = move |p: Progress| {
                if let Some(f) = &progress {
                    f.call(NativeProgress::from(p), ThreadsafeFunctionCallMode::NonBlocking);
                }
            };
            abortable(cancel.as_ref(), c.verify_log_with_progress(&opts, Some(&report))).await
        });
        settle(env, fut, NativeReport::from)
    }

    #[napi]
    pub fn digest<'env>(
        &self,
        env: &'env Env,
        cancel: Option<&NativeCancel>,
    ) -> napi::Result<PromiseRaw<'env, Option<NativeDigest>>> {
        let cancel = cancel_of(cancel);
        let fut = each!(self.inner.clone(), c => async move { abortable(cancel.as_ref(), c.digest()).await });
        settle(env, fut, |d: Option<immukv_core::Digest>| d.map(Into::into))
    }

    /// The doctor: the bucket and the credentials checked for use as a
    /// store, with requests that change nothing.
    #[napi]
    pub fn check_store<'env>(
        &self,
        env: &'env Env,
        cancel: Option<&NativeCancel>,
    ) -> napi::Result<PromiseRaw<'env, NativeStoreCheck>> {
        let cancel = cancel_of(cancel);
        let fut = each!(self.inner.clone(), c => async move { abortable(cancel.as_ref(), c.check_store()).await });
        settle(env, fut, NativeStoreCheck::from)
    }

    /// The least-privilege IAM policy document for this client's bucket and
    /// prefix, as JSON text.
    #[napi]
    pub fn policy(&self, env: Env, read_only: bool) -> napi::Result<String> {
        match &self.inner {
            AnyClient::S3(c) => Ok(c.policy(read_only).to_string()),
            AnyClient::Memory(_) => Err(thrown(
                &env,
                Error::invalid_argument(
                    "an in-memory store has no IAM policy: policy() is for clients on S3",
                ),
            )),
        }
    }

    /// Counters since the client was made.
    #[napi]
    pub fn stats(&self) -> NativeStats {
        match &self.inner {
            AnyClient::S3(c) => c.stats().into(),
            AnyClient::Memory(c) => c.stats().into(),
        }
    }

    /// Refuses new calls; resolves once the calls in flight have finished.
    #[napi]
    pub fn close<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        let fut = each!(self.inner.clone(), c => async move {
            c.close().await;
            Ok::<(), Error>(())
        });
        settle(env, fut, |()| ())
    }
}
