//! What several test files share.

use immukv_core::env::{BoxFuture, Env, TokioEnv};
use std::time::Duration;

/// A wall clock `days` in the past: entries written "then" (lifecycle
/// rules and retention count days from an entry's timestamp).
pub struct DaysAgo(pub TokioEnv, pub u64);

impl DaysAgo {
    pub fn new(days: u64) -> DaysAgo {
        DaysAgo(TokioEnv::default(), days)
    }
}

impl Env for DaysAgo {
    fn monotonic(&self) -> Duration {
        self.0.monotonic()
    }
    fn wall_ms(&self) -> u64 {
        self.0.wall_ms() - self.1 * 86_400_000
    }
    fn sleep(&self, d: Duration) -> BoxFuture<()> {
        self.0.sleep(d)
    }
    fn random(&self) -> u64 {
        self.0.random()
    }
    fn spawn(&self, task: BoxFuture<()>) {
        self.0.spawn(task)
    }
}
