//! The one retry policy: exponential backoff with full jitter, bounded by a
//! time budget for conflicts and by a count for transient failures, so that
//! an unreachable endpoint fails in a second or two instead of hanging.

use crate::storage::StoreResult;
use std::future::Future;
use std::time::{Duration, Instant};

const BASE: Duration = Duration::from_millis(5);
const CAP: Duration = Duration::from_millis(1000);
/// Attempts of one request that failed transiently (5xx, SlowDown, timeout,
/// connection error) before the error is reported.
pub const TRANSIENT_ATTEMPTS: u32 = 4;

/// Delay before retry number `retry` (1-based): uniform in
/// [d/2, d] with d = min(CAP, BASE * 2^retry). The floor keeps contending
/// writers from spinning; the jitter spreads them out.
pub fn backoff(retry: u32) -> Duration {
    let d = BASE.saturating_mul(1u32 << retry.min(16)).min(CAP);
    let half = d / 2;
    half + Duration::from_micros(fastrand::u64(0..=half.as_micros() as u64))
}

/// Runs an idempotent store request, retrying transient failures.
pub async fn idempotent<T, F, Fut>(deadline: Instant, mut op: F) -> StoreResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = StoreResult<T>>,
{
    let mut retry = 0;
    loop {
        match op().await {
            Err(e) if e.is_transient() && retry + 1 < TRANSIENT_ATTEMPTS => {
                retry += 1;
                let delay = backoff(retry);
                if Instant::now() + delay >= deadline {
                    return Err(e);
                }
                tokio::time::sleep(delay).await;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        for retry in 1..30 {
            let d = backoff(retry);
            let top = BASE.saturating_mul(1u32 << retry.min(16)).min(CAP);
            assert!(d >= top / 2 && d <= top, "retry {retry}: {d:?}");
        }
        assert!(backoff(20) >= CAP / 2);
    }
}
