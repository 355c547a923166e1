//! The one retry policy.
//!
//! - Transient failures (5xx, SlowDown, timeouts, connection errors) of one
//!   request: a few attempts with exponential backoff and full jitter, so
//!   that an unreachable endpoint fails in seconds instead of hanging.
//! - Lost races for the log (412): retried until the call's deadline, with a
//!   delay that *shrinks* as a writer keeps losing. Writers that have waited
//!   longest retry first, so the oldest waiter tends to win the next slot:
//!   no writer starves while others commit (exponential backoff would do the
//!   opposite, and let a newcomer overtake a writer that lost ten times).

use super::Inner;
use crate::env::Env;
use crate::stats::Event;
use crate::storage::{Store, StoreResult};
use std::future::Future;
use std::time::Duration;

const BASE: Duration = Duration::from_millis(5);
const CAP: Duration = Duration::from_millis(1000);
/// Attempts of one request that failed transiently before the error is
/// reported.
pub const TRANSIENT_ATTEMPTS: u32 = 4;

/// Delay before transient retry number `retry` (1-based): uniform in
/// [d/2, d] with d = min(CAP, BASE * 2^retry).
pub fn backoff(env: &dyn Env, retry: u32) -> Duration {
    let d = BASE.saturating_mul(1u32 << retry.min(16)).min(CAP);
    jitter(env, d / 2, d)
}

/// Losses after which a writer retries at once.
const PATIENCE: u32 = 6;

/// Delay after a writer's `lost`-th lost race for the log: uniform in
/// [0, r * (1 - lost / PATIENCE)] where r is the time of one append. A
/// newcomer waits up to a round trip; a writer that lost PATIENCE times
/// retries at once, ahead of everyone who lost fewer times.
pub fn after_conflict(env: &dyn Env, lost: u32, append_rtt: Duration) -> Duration {
    let r = append_rtt.clamp(Duration::from_millis(1), Duration::from_millis(500));
    let left = PATIENCE.saturating_sub(lost);
    jitter(env, Duration::ZERO, r * left / PATIENCE)
}

fn jitter(env: &dyn Env, lo: Duration, hi: Duration) -> Duration {
    let span = hi.saturating_sub(lo).as_micros() as u64;
    lo + Duration::from_micros(if span == 0 {
        0
    } else {
        env.random() % (span + 1)
    })
}

/// Runs an idempotent store request, retrying transient failures while the
/// deadline allows.
pub(super) async fn idempotent<S, T, F, Fut>(
    inner: &Inner<S>,
    deadline: Duration,
    mut op: F,
) -> StoreResult<T>
where
    S: Store,
    F: FnMut() -> Fut,
    Fut: Future<Output = StoreResult<T>>,
{
    let mut retry = 0;
    loop {
        match op().await {
            Err(e) if e.is_transient() && retry + 1 < TRANSIENT_ATTEMPTS => {
                retry += 1;
                let delay = backoff(inner.env.as_ref(), retry);
                if inner.now() + delay >= deadline {
                    return Err(e);
                }
                inner.stats.event(Event::Retry);
                tracing::debug!(target: "immukv::retry", operation = e.operation, path = %e.path, error = %e.detail, retry, delay_ms = delay.as_millis() as u64, "retrying a transient failure");
                inner.env.sleep(delay).await;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::TokioEnv;

    #[test]
    fn backoff_grows_and_is_capped() {
        let env = TokioEnv::default();
        for retry in 1..30 {
            let d = backoff(&env, retry);
            let top = BASE.saturating_mul(1u32 << retry.min(16)).min(CAP);
            assert!(d >= top / 2 && d <= top, "retry {retry}: {d:?}");
        }
    }

    #[test]
    fn losers_retry_sooner() {
        let env = TokioEnv::default();
        let rtt = Duration::from_millis(30);
        for _ in 0..100 {
            assert!(after_conflict(&env, 1, rtt) <= rtt);
            assert!(after_conflict(&env, 3, rtt) <= rtt / 2);
            assert_eq!(after_conflict(&env, PATIENCE, rtt), Duration::ZERO);
        }
    }
}
