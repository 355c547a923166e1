//! The native client: one method per core call. Each call runs on the
//! tokio runtime and settles on the JavaScript thread, so a failure can
//! reject with a structured error (error.rs); a panic becomes an
//! INTERNAL_ERROR.

use crate::config::{self, NativeConfig, NativeMemoryConfig};
use crate::credentials::JsProvider;
use crate::entry::{
    NativeDigest, NativeEntry, NativeFeedBatch, NativeHistory, NativeLogLocation, NativeProgress,
    NativeReport, NativeStats, NativeStoreCheck, NativeVerifyOptions, NativeWatchOptions,
};
use crate::error;
use futures_util::FutureExt;
use immukv_core::client::{
    duration_ms, whole_number, At, Feed, FeedOptions, FeedStart, KeyFilter, Progress,
};
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

    /// The entry `key` had at a sequence of the log, or at a time (Unix
    /// milliseconds, by the writers' clocks); verified like `get` when asked.
    #[napi]
    #[allow(clippy::too_many_arguments)]
    pub fn get_at<'env>(
        &self,
        env: &'env Env,
        key: String,
        at_sequence: Option<f64>,
        at_ms: Option<f64>,
        verify: Option<bool>,
        trusted: Option<NativeDigest>,
        cancel: Option<&NativeCancel>,
    ) -> napi::Result<PromiseRaw<'env, NativeEntry>> {
        let cancel = cancel_of(cancel);
        let trusted = trusted.map(NativeDigest::into_core);
        let verified = verify.unwrap_or(false) || trusted.is_some();
        let fut = each!(self.inner.clone(), c => async move {
            let at = match (at_sequence, at_ms) {
                (Some(s), None) => At::Sequence(argument("atSequence", s)?),
                (None, Some(t)) => At::TimestampMs(argument("at", t)?),
                _ => return Err(Error::invalid_argument("give one of atSequence and at")),
            };
            abortable(cancel.as_ref(), async {
                if verified {
                    c.get_at_verified(&key, at, trusted.as_ref()).await
                } else {
                    c.get_at(&key, at).await
                }
            })
            .await
        });
        settle(env, fut, NativeEntry::read)
    }

    /// A feed of the log (see `NativeFeed`); options are checked here, no
    /// request is made until it is started.
    #[napi]
    pub fn watch(&self, env: Env, options: NativeWatchOptions) -> napi::Result<NativeFeed> {
        let feed = watch_options(options).and_then(|opts| match &self.inner {
            AnyClient::S3(c) => c.feed(opts).map(AnyFeed::S3),
            AnyClient::Memory(c) => c.feed(opts).map(AnyFeed::Memory),
        });
        Ok(NativeFeed {
            inner: Arc::new(tokio::sync::Mutex::new(feed.map_err(|e| thrown(&env, e))?)),
        })
    }

    /// The entries these log versions hold (an S3 event names them), each
    /// once, in sequence order, verified.
    #[napi]
    pub fn verified_log_versions<'env>(
        &self,
        env: &'env Env,
        version_ids: Vec<String>,
        cancel: Option<&NativeCancel>,
    ) -> napi::Result<PromiseRaw<'env, Vec<NativeEntry>>> {
        let cancel = cancel_of(cancel);
        let fut = each!(self.inner.clone(), c => async move {
            abortable(cancel.as_ref(), c.verified_log_versions(&version_ids)).await
        });
        settle(env, fut, |es: Vec<immukv_core::Entry>| {
            es.into_iter().map(NativeEntry::read).collect()
        })
    }

    /// The bucket and the log's object key.
    #[napi]
    pub fn log_location(&self) -> NativeLogLocation {
        let (bucket, path) = match &self.inner {
            AnyClient::S3(c) => c.log_location(),
            AnyClient::Memory(c) => c.log_location(),
        };
        NativeLogLocation {
            bucket: bucket.to_string(),
            path: path.to_string(),
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

/// A whole number argument, refused as `INVALID_ARGUMENT`.
fn argument(name: &str, n: f64) -> Result<u64> {
    whole_number(name, n).map_err(|e| Error::invalid_argument(e.message))
}

fn watch_options(o: NativeWatchOptions) -> Result<FeedOptions> {
    let start = match (o.from_sequence, o.after) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid_argument(
                "give fromSequence or after, not both",
            ))
        }
        (Some(s), None) => FeedStart::Sequence(argument("fromSequence", s)?),
        (None, Some(d)) => FeedStart::After(d.into_core()),
        (None, None) => FeedStart::Head,
    };
    let filter = (o.keys.is_some() || o.key_prefix.is_some()).then(|| KeyFilter {
        keys: o.keys.unwrap_or_default(),
        prefix: o.key_prefix,
    });
    let poll_interval = match o.poll_interval_ms {
        Some(ms) => {
            duration_ms("pollIntervalMs", ms).map_err(|e| Error::invalid_argument(e.message))?
        }
        None => FeedOptions::default().poll_interval,
    };
    Ok(FeedOptions {
        start,
        filter,
        poll_interval,
    })
}

/// The feed behind a `NativeFeed`, whatever the store.
enum AnyFeed {
    S3(Feed<S3Store>),
    Memory(Feed<MemoryStore>),
}

/// Follows the log (`watch()`): `next()` resolves with the next verified
/// entries. One call at a time (the TypeScript layer never overlaps them;
/// an overlapping one waits its turn). A call cancelled half-way leaves the
/// feed where it was.
#[napi]
pub struct NativeFeed {
    inner: Arc<tokio::sync::Mutex<AnyFeed>>,
}

#[napi]
impl NativeFeed {
    /// Finds the starting point (the head, for a feed of what follows it).
    #[napi]
    pub fn start<'env>(
        &self,
        env: &'env Env,
        cancel: Option<&NativeCancel>,
    ) -> napi::Result<PromiseRaw<'env, Option<NativeDigest>>> {
        let cancel = cancel_of(cancel);
        let feed = self.inner.clone();
        let fut = async move {
            abortable(cancel.as_ref(), async {
                let mut f = feed.lock().await;
                match &mut *f {
                    AnyFeed::S3(f) => f.start().await.map(|()| f.position()),
                    AnyFeed::Memory(f) => f.start().await.map(|()| f.position()),
                }
            })
            .await
        };
        settle(env, fut, |d: Option<immukv_core::Digest>| d.map(Into::into))
    }

    /// The next entries (at least one), waiting for them.
    #[napi]
    pub fn next<'env>(
        &self,
        env: &'env Env,
        cancel: Option<&NativeCancel>,
    ) -> napi::Result<PromiseRaw<'env, NativeFeedBatch>> {
        let cancel = cancel_of(cancel);
        let feed = self.inner.clone();
        let fut = async move {
            abortable(cancel.as_ref(), async {
                let mut f = feed.lock().await;
                match &mut *f {
                    AnyFeed::S3(f) => f.next().await.map(|es| (es, f.position())),
                    AnyFeed::Memory(f) => f.next().await.map(|es| (es, f.position())),
                }
            })
            .await
        };
        settle(
            env,
            fut,
            |(es, position): (Vec<immukv_core::Entry>, Option<immukv_core::Digest>)| {
                NativeFeedBatch {
                    entries: es.into_iter().map(NativeEntry::read).collect(),
                    position: position.map(Into::into),
                }
            },
        )
    }
}
