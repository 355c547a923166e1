//! The clock, the randomness and the task spawner the client runs on,
//! injected so that a deterministic simulation can replace them
//! (see `sim/`). [`TokioEnv`] is the real one.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

pub trait Env: Send + Sync + 'static {
    /// Time since an arbitrary start; never goes back.
    fn monotonic(&self) -> Duration;
    /// Wall clock, epoch milliseconds (entry timestamps).
    fn wall_ms(&self) -> u64;
    fn sleep(&self, d: Duration) -> BoxFuture<()>;
    /// Uniform random bits (retry jitter).
    fn random(&self) -> u64;
    /// Runs a task in the background.
    fn spawn(&self, task: BoxFuture<()>);
}

/// Tokio's timer and spawner, the system clock and fastrand.
pub struct TokioEnv {
    start: Instant,
}

impl Default for TokioEnv {
    fn default() -> Self {
        TokioEnv {
            start: Instant::now(),
        }
    }
}

impl Env for TokioEnv {
    fn monotonic(&self) -> Duration {
        self.start.elapsed()
    }

    fn wall_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_millis() as u64)
            .max(1)
    }

    fn sleep(&self, d: Duration) -> BoxFuture<()> {
        Box::pin(tokio::time::sleep(d))
    }

    fn random(&self) -> u64 {
        fastrand::u64(..)
    }

    fn spawn(&self, task: BoxFuture<()>) {
        tokio::spawn(task);
    }
}

/// A cancellation signal for one call (a JavaScript `AbortSignal`, say).
#[derive(Clone, Default)]
pub struct Cancel(Arc<CancelInner>);

#[derive(Default)]
struct CancelInner {
    cancelled: AtomicBool,
    notify: tokio::sync::Notify,
}

impl Cancel {
    pub fn new() -> Cancel {
        Cancel::default()
    }

    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }

    /// Resolves once [`Cancel::cancel`] has been called.
    pub async fn cancelled(&self) {
        let notified = self.0.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.is_cancelled() {
            return;
        }
        notified.await;
    }
}

/// Runs `fut` unless `cancel` fires first; then it is dropped (safe for
/// reads) and the call fails with `ABORTED`.
pub async fn abortable<T>(
    cancel: Option<&Cancel>,
    fut: impl Future<Output = crate::Result<T>>,
) -> crate::Result<T> {
    let Some(cancel) = cancel else {
        return fut.await;
    };
    if cancel.is_cancelled() {
        return Err(crate::Error::aborted());
    }
    use futures_util::future::{select, Either};
    match select(Box::pin(fut), Box::pin(cancel.cancelled())).await {
        Either::Left((out, _)) => out,
        Either::Right(_) => Err(crate::Error::aborted()),
    }
}
