//! What every call shares: refusing calls after `close()` while the ones in
//! flight finish, the `operation_timeout` bound, and cancellation.

use super::Inner;
use crate::env::Cancel;
use crate::error::{Error, ErrorCode, Result};
use crate::storage::Store;
use futures_util::future::{select, Either};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio::sync::Notify;

#[derive(Default)]
pub(super) struct Calls {
    closed: AtomicBool,
    in_flight: AtomicUsize,
    idle: Notify,
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
}

impl<S: Store> Inner<S> {
    /// [`Calls::enter`], owning the client.
    pub(super) fn enter_owned(self: &std::sync::Arc<Self>) -> Result<OwnedCallGuard<S>> {
        let guard = self.calls.enter()?;
        std::mem::forget(guard); // handed over to the owned guard
        Ok(OwnedCallGuard(self.clone()))
    }

    /// Runs one call: refused once closed, bounded by `operation_timeout`,
    /// ended early by `cancel`. `what` names the call in the timeout error.
    pub(super) async fn call<T, F>(&self, what: &str, cancel: Option<&Cancel>, fut: F) -> Result<T>
    where
        F: Future<Output = Result<T>>,
    {
        self.call_within(what, cancel, Some(self.opts.operation_timeout), fut)
            .await
    }

    /// [`Inner::call`] with another bound (`None`: only `cancel` ends it),
    /// for calls whose length grows with the store (`verifyLog`).
    pub(super) async fn call_within<T, F>(
        &self,
        what: &str,
        cancel: Option<&Cancel>,
        bound: Option<std::time::Duration>,
        fut: F,
    ) -> Result<T>
    where
        F: Future<Output = Result<T>>,
    {
        let _guard = self.calls.enter()?;
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
        match select(Box::pin(fut), Box::pin(stop)).await {
            Either::Left((out, _)) => out,
            Either::Right((true, _)) => Err(Error::aborted()),
            Either::Right((false, _)) => Err(self.timed_out(what)),
        }
    }

    pub(super) fn timed_out(&self, what: &str) -> Error {
        Error::new(
            ErrorCode::Storage,
            format!(
                "{what} did not finish within operationTimeoutMs ({} ms)",
                self.opts.operation_timeout.as_millis()
            ),
        )
    }
}
