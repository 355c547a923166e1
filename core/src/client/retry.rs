//! The one retry policy.
//!
//! - Transient failures (5xx, SlowDown, timeouts, connection errors) of one
//!   request: a few attempts with exponential backoff and full jitter, so
//!   that an unreachable endpoint fails in seconds instead of hanging.
//! - Lost races for the log (412): retried until the call's deadline, with a
//!   delay that *shrinks* as a writer's `set` ages ([`before_retry`]).
//!   Writers that have waited longest retry first, so the oldest waiter tends
//!   to win the next slot and no writer starves while others commit. A client
//!   that is losing races also yields before the first try of its next set,
//!   so that a writer that just won (and knows the head) does not win again
//!   and again.

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

/// How long a conditional PUT may go unanswered before the client looks at
/// the object instead of waiting on (`looks` done so far): about three
/// appends (at least 25 ms) plus the body's upload at ~50 MB/s, then twice
/// as long before each further look, up to half a second more than the
/// upload (or the first wait, if that is longer). Some servers hold a
/// conditional PUT that lost to a concurrent write of the same object for a
/// second or more (SeaweedFS does); S3 answers it at once, so there a look
/// only follows an answer that is slow anyway.
pub fn before_look(append_rtt: Duration, body_len: usize, looks: u32) -> Duration {
    // Not clamped like a round: a slow server's answer is worth waiting for.
    let upload = Duration::from_micros(body_len as u64 / 50);
    let first = (append_rtt * 3).max(Duration::from_millis(25)) + upload;
    first
        .saturating_mul(1u32 << looks.min(16))
        .min((Duration::from_millis(500) + upload).max(first))
}

/// What a look at the object of an unanswered conditional PUT found.
pub(super) enum Look<T> {
    /// The PUT's outcome, known without its answer.
    Decided(T),
    /// Nothing yet: look again later.
    Again,
    /// Looking cannot tell: wait for the answer.
    Stop,
}

/// Waits for a conditional PUT's answer; while it goes unanswered
/// ([`before_look`], counting looks from `first_look`), runs `look`, racing
/// the answer, until a look decides the outcome. The log append and
/// key-object writes differ only in what they look at.
pub(super) async fn answer_or_look<S, T, P, L, LF>(
    inner: &Inner<S>,
    put: P,
    body_len: usize,
    first_look: u32,
    mut look: L,
) -> T
where
    S: Store,
    P: Future<Output = T>,
    L: FnMut() -> LF,
    LF: Future<Output = Look<T>>,
{
    use futures_util::future::{select, Either};
    let mut put = std::pin::pin!(put);
    let mut looks = first_look;
    loop {
        let wait = before_look(inner.append_rtt(), body_len, looks);
        if let Either::Left((out, _)) = select(put.as_mut(), inner.env.sleep(wait)).await {
            return out;
        }
        looks += 1;
        match select(put.as_mut(), std::pin::pin!(look())).await {
            Either::Left((out, _)) | Either::Right((Look::Decided(out), _)) => return out,
            Either::Right((Look::Stop, put)) => return put.await,
            Either::Right((Look::Again, _)) => {}
        }
    }
}

/// How many rounds of waiting halve a writer's yield.
const HALF_LIFE_ROUNDS: f64 = 2.0;
/// The most rounds a newcomer yields, however many writers contend.
pub const MAX_NEWCOMER_ROUNDS: f64 = 8.0;

/// One round of the base protocol (read the head, the HEADs, the append):
/// about three appends, each taken as 1–500 ms.
pub fn round(append_rtt: Duration) -> Duration {
    append_rtt.clamp(Duration::from_millis(1), Duration::from_millis(500)) * 3
}

/// Delay before a writer's next try at the log, given how long its `set` has
/// waited (`age`), how long one append takes, and how many rounds a newcomer
/// yields ([`newcomer_rounds`]), in [`round`]s. The yield shrinks as
/// a writer ages (halved after two rounds, a tenth after 18), so an older
/// writer tries far more often than a younger one: after each commit the
/// writers that have waited longest tend to read the new head first and win
/// the next slot. Close to first come, first served, with no coordination.
/// (Exponential backoff does the opposite: a newcomer overtakes a writer that
/// lost ten times.) A little jitter keeps equals apart.
pub fn before_retry(
    env: &dyn Env,
    age: Duration,
    append_rtt: Duration,
    newcomer_rounds: f64,
) -> Duration {
    let round = round(append_rtt);
    let r = round / 3;
    let rounds_waited = age.as_secs_f64() / round.as_secs_f64();
    let yield_for =
        round.mul_f64(newcomer_rounds * HALF_LIFE_ROUNDS / (HALF_LIFE_ROUNDS + rounds_waited));
    yield_for + jitter(env, Duration::ZERO, yield_for / 10 + r / 20)
}

/// After a lost race, the client's new sets yield for this many rounds
/// (as long as a newcomer yields at most).
pub const CONTENDED_ROUNDS: u32 = MAX_NEWCOMER_ROUNDS as u32;
/// Rounds without a lost race after which the client forgets how many
/// writers contended (not sooner: a writer that won a few sets in a row
/// must not start racing ahead of the others).
pub const FORGET_CONTENTION_ROUNDS: u32 = 100;

/// Rounds a newcomer yields, from the races this client's sets lose before
/// committing (about how many other writers try for each slot): the more
/// writers contend, the further the youngest stands back so that the oldest
/// get the slot. Measured on SeaweedFS at 20 ms, 20 writers: p99 set latency
/// 2.9x the mean (5.6x with a fixed one-round yield), for ~5-10% fewer
/// commits/s.
pub fn newcomer_rounds(lost_per_commit: f64) -> f64 {
    (1.0 + lost_per_commit).clamp(1.0, MAX_NEWCOMER_ROUNDS)
}

/// The client's smoothed count of races lost per commit (`None`: no
/// contention seen, or none for about a hundred rounds), after a set that
/// lost `lost` races. Bounded, so that one unlucky set is forgotten after a
/// few commits. The first set that lost a race is taken as it is: averaged
/// with zero, it would let the client's next sets race ahead of writers that
/// waited longer (20 writers x 10 sets at 20 ms on SeaweedFS, three runs
/// each: p99 set latency 2.6-2.7x the mean, against 3.0-3.5x; same
/// commits/s; 2.6-2.9x in two bench runs).
pub fn smooth_lost(lost_per_commit: Option<f64>, lost: u32) -> Option<f64> {
    let lost = f64::from(lost);
    match lost_per_commit {
        None if lost == 0.0 => None,
        None => Some(lost.min(2.0 * MAX_NEWCOMER_ROUNDS)),
        Some(avg) => Some((0.75 * avg + 0.25 * lost).min(2.0 * MAX_NEWCOMER_ROUNDS)),
    }
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
    fn looks_at_an_unanswered_put_come_later_and_later() {
        let rtt = Duration::from_millis(20);
        assert_eq!(before_look(rtt, 0, 0), Duration::from_millis(60));
        assert_eq!(before_look(rtt, 0, 1), Duration::from_millis(120));
        assert_eq!(before_look(rtt, 0, 3), Duration::from_millis(480));
        assert_eq!(before_look(rtt, 0, 4), Duration::from_millis(500));
        assert_eq!(before_look(rtt, 0, 40), Duration::from_millis(500));
        // A slow server: never sooner than the first look.
        let slow = Duration::from_millis(300);
        assert_eq!(before_look(slow, 0, 0), Duration::from_millis(900));
        assert_eq!(before_look(slow, 0, 5), Duration::from_millis(900));
        // A fast server still gets 25 ms; a large body its upload time.
        assert_eq!(
            before_look(Duration::from_millis(1), 0, 0),
            Duration::from_millis(25)
        );
        let upload = Duration::from_millis(80); // 4 MB at 50 MB/s
        assert_eq!(
            before_look(rtt, 4_000_000, 0),
            Duration::from_millis(60) + upload
        );
        assert_eq!(
            before_look(rtt, 4_000_000, 9),
            Duration::from_millis(500) + upload
        );
    }

    #[test]
    fn the_first_contended_set_counts_in_full() {
        let cap = 2.0 * MAX_NEWCOMER_ROUNDS;
        // No contention yet: nothing to count.
        assert_eq!(smooth_lost(None, 0), None);
        // The first set that lost races counts in full, not a quarter.
        assert_eq!(smooth_lost(None, 6), Some(6.0));
        assert_eq!(smooth_lost(None, 1000), Some(cap));
        // Then a moving average, bounded, that forgets an unlucky set.
        assert_eq!(smooth_lost(Some(4.0), 0), Some(3.0));
        assert_eq!(smooth_lost(Some(cap), 1000), Some(cap));
        let mut avg = smooth_lost(None, 12);
        for _ in 0..10 {
            avg = smooth_lost(avg, 0);
        }
        assert!(avg.is_some_and(|a| a < 1.0), "{avg:?}");
    }

    #[test]
    fn the_longest_waiter_retries_first() {
        let env = TokioEnv::default();
        let rtt = Duration::from_millis(30);
        let round = rtt * 3;
        for contenders in [0.0, 4.0, 20.0] {
            let n = newcomer_rounds(contenders);
            assert!((1.0..=MAX_NEWCOMER_ROUNDS).contains(&n));
            for _ in 0..100 {
                let newcomer = before_retry(&env, Duration::ZERO, rtt, n);
                let waited = before_retry(&env, round * 2, rtt, n);
                let old = before_retry(&env, round * 18, rtt, n);
                let older = before_retry(&env, round * 36, rtt, n);
                let full = round.mul_f64(n);
                assert!(
                    newcomer >= full && newcomer <= full * 11 / 10 + rtt / 20,
                    "{newcomer:?}"
                );
                assert!(waited >= full / 2 && waited < newcomer, "{waited:?}");
                assert!(
                    old < waited && old <= full / 10 + full / 100 + rtt / 20,
                    "{old:?}"
                );
                assert!(older < old, "{older:?} < {old:?}");
            }
        }
        // More contention: a newcomer stands back further.
        assert!(newcomer_rounds(6.0) > newcomer_rounds(2.0));
        assert_eq!(newcomer_rounds(100.0), MAX_NEWCOMER_ROUNDS);
    }
}
