//! What every call shares: refusing calls after `close()` while the ones in
//! flight finish, the `operation_timeout` bound, cancellation, and the log
//! line of each call (`immukv::call` at debug: operation, key, sequence,
//! requests, duration, outcome).

use super::Inner;
use crate::env::Cancel;
use crate::error::{Error, ErrorCode, Result};
use crate::format::Entry;
use crate::stats::CallMeter;
use crate::storage::Store;
use crate::verify::{Digest, Report};
use futures_util::future::{select, Either};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// A call, as its log line and its timeout error name it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Call<'a> {
    pub(super) operation: &'static str,
    pub(super) key: Option<&'a str>,
}

impl From<&'static str> for Call<'static> {
    fn from(operation: &'static str) -> Self {
        Call {
            operation,
            key: None,
        }
    }
}

/// A call about one key: `("get", key)`.
impl<'a> From<(&'static str, &'a str)> for Call<'a> {
    fn from((operation, key): (&'static str, &'a str)) -> Self {
        Call {
            operation,
            key: Some(key),
        }
    }
}

/// What a call's log line tells of its result: the sequence of the entry it
/// returned (the newest, for a page; the head, for a digest or a report).
pub(super) trait Logged {
    fn sequence(&self) -> Option<u64> {
        None
    }
}

impl Logged for Entry {
    fn sequence(&self) -> Option<u64> {
        Some(self.sequence)
    }
}

impl Logged for Vec<Entry> {
    fn sequence(&self) -> Option<u64> {
        self.first().map(|e| e.sequence)
    }
}

impl Logged for (Vec<Entry>, Option<String>) {
    fn sequence(&self) -> Option<u64> {
        self.0.sequence()
    }
}

impl Logged for Option<Digest> {
    fn sequence(&self) -> Option<u64> {
        self.as_ref().map(|d| d.sequence)
    }
}

impl Logged for crate::doctor::StoreCheck {}

impl Logged for Report {
    fn sequence(&self) -> Option<u64> {
        self.head.sequence()
    }
}

impl Logged for Vec<String> {}

#[derive(Default)]
pub(super) struct Calls {
    closed: AtomicBool,
    in_flight: AtomicUsize,
    idle: Notify,
    /// Woken by `close()`: calls that would otherwise never end (a feed
    /// waiting for new entries) end then.
    closing: Notify,
}

/// Held while a call (or the append pipeline) is running.
pub(super) struct CallGuard<'a>(&'a Calls);

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        self.0.leave();
    }
}

/// A [`CallGuard`] that owns its client, for a future that outlives the
/// call that made it (a `set` is queued when called, awaited later).
pub(super) struct OwnedCallGuard<S: Store>(pub(super) std::sync::Arc<Inner<S>>);

impl<S: Store> OwnedCallGuard<S> {
    /// Work the client started itself (the append pipeline), counted as in
    /// flight even after the client is closed.
    pub(super) fn internal(inner: std::sync::Arc<Inner<S>>) -> Self {
        inner.calls.in_flight.fetch_add(1, Ordering::SeqCst);
        OwnedCallGuard(inner)
    }
}

impl<S: Store> Drop for OwnedCallGuard<S> {
    fn drop(&mut self) {
        self.0.calls.leave();
    }
}

impl Calls {
    fn leave(&self) {
        if self.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }

    pub(super) fn enter(&self) -> Result<CallGuard<'_>> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let guard = CallGuard(self);
        if self.closed.load(Ordering::SeqCst) {
            return Err(Error::new(ErrorCode::Closed, "the client is closed"));
        }
        Ok(guard)
    }

    pub(super) async fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.closing.notify_waiters();
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.in_flight.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }

    /// Resolves once `close()` has been called.
    pub(super) async fn closed(&self) {
        loop {
            let closing = self.closing.notified();
            tokio::pin!(closing);
            closing.as_mut().enable();
            if self.closed.load(Ordering::SeqCst) {
                return;
            }
            closing.await;
        }
    }
}

impl<S: Store> Inner<S> {
    /// [`Calls::enter`], owning the client.
    pub(super) fn enter_owned(self: &std::sync::Arc<Self>) -> Result<OwnedCallGuard<S>> {
        let guard = self.calls.enter()?;
        std::mem::forget(guard); // handed over to the owned guard
        Ok(OwnedCallGuard(self.clone()))
    }

    /// Runs one call: refused once closed, bounded by `operation_timeout`,
    /// ended early by `cancel`. `what` names the call in the timeout error
    /// and its log line.
    pub(super) async fn call<'k, T, F>(
        &self,
        what: impl Into<Call<'k>>,
        cancel: Option<&Cancel>,
        fut: F,
    ) -> Result<T>
    where
        T: Logged,
        F: Future<Output = Result<T>>,
    {
        self.call_within(what, cancel, Some(self.opts.operation_timeout), fut)
            .await
    }

    /// [`Inner::call`] with another bound (`None`: only `cancel` ends it),
    /// for calls whose length grows with the store (`verifyLog`).
    pub(super) async fn call_within<'k, T, F>(
        &self,
        what: impl Into<Call<'k>>,
        cancel: Option<&Cancel>,
        bound: Option<std::time::Duration>,
        fut: F,
    ) -> Result<T>
    where
        T: Logged,
        F: Future<Output = Result<T>>,
    {
        let what = what.into();
        let _guard = self.calls.enter()?;
        let (meter, started) = (Arc::new(CallMeter::default()), self.now());
        let timeout = async {
            match bound {
                Some(d) => self.env.sleep(d).await,
                None => std::future::pending().await,
            }
        };
        let stop = async {
            match cancel {
                Some(c) => match select(Box::pin(timeout), Box::pin(c.cancelled())).await {
                    Either::Left(_) => false,
                    Either::Right(_) => true,
                },
                None => {
                    timeout.await;
                    false
                }
            }
        };
        let out = match select(Box::pin(meter.measure(fut)), Box::pin(stop)).await {
            Either::Left((out, _)) => out,
            Either::Right((true, _)) => Err(Error::aborted()),
            Either::Right((false, _)) => Err(self.timed_out(what.operation)),
        };
        self.log_call(what, &out, &meter, started);
        out
    }

    /// The debug line of a call that has answered: its requests are those
    /// sent by its own work until then (see [`CallMeter`]).
    pub(super) fn log_call<T: Logged>(
        &self,
        what: Call<'_>,
        out: &Result<T>,
        meter: &CallMeter,
        started: Duration,
    ) {
        if !tracing::enabled!(target: "immukv::call", tracing::Level::DEBUG) {
            return;
        }
        let (operation, requests) = (what.operation, meter.requests());
        let duration_ms = self.now().saturating_sub(started).as_micros() as f64 / 1000.0;
        let outcome = match out {
            Ok(_) => "ok",
            Err(e) => e.code.as_str(),
        };
        let sequence = out.as_ref().ok().and_then(Logged::sequence);
        match (what.key, sequence) {
            (Some(key), Some(sequence)) => {
                tracing::debug!(target: "immukv::call", operation, key, sequence, requests, duration_ms, outcome, "call")
            }
            (Some(key), None) => {
                tracing::debug!(target: "immukv::call", operation, key, requests, duration_ms, outcome, "call")
            }
            (None, Some(sequence)) => {
                tracing::debug!(target: "immukv::call", operation, sequence, requests, duration_ms, outcome, "call")
            }
            (None, None) => {
                tracing::debug!(target: "immukv::call", operation, requests, duration_ms, outcome, "call")
            }
        }
    }

    /// The error of a call that ran out of time: CREDENTIALS_ERROR when the
    /// client's requests were waiting for credentials (a credentials
    /// function that has not settled), like the error the credentials
    /// provider gives once requestTimeoutMs has passed.
    pub(super) fn timed_out(&self, what: &str) -> Error {
        let budget = self.opts.operation_timeout.as_millis();
        if self.stats.is_waiting_for_credentials() {
            return Error::new(
                ErrorCode::Credentials,
                format!(
                    "{what} did not finish within operationTimeoutMs ({budget} ms): it was \
                     waiting for credentials, which have not come (a credentials function that \
                     has not settled)"
                ),
            );
        }
        Error::new(
            ErrorCode::Storage,
            format!("{what} did not finish within operationTimeoutMs ({budget} ms)"),
        )
    }
}
