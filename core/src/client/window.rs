//! Pipelined writes (`pipelineDepth` N > 1): the window of newest entries
//! whose key objects may not be written yet. The one home of that rule:
//!
//! - **The writer's window.** A client with depth N sends the log PUT of an
//!   entry at sequence s while the key-object PUTs of its entries among the
//!   N - 1 before it (s - N + 1 .. s - 1) are still unanswered (or failed and
//!   not yet repaired); an older one is waited for (or repaired) first. Each
//!   entry's key object is written in the background, and its `set` resolves
//!   once the entry is in the log. Before an entry of a key whose earlier entry's key
//!   object is not written yet, the pipeline waits for that write (or
//!   repairs it from memory): the new entry must record the ETag that write
//!   gives, and no entry of a key is ever left an orphan under a later
//!   entry of the same key. So orphans exist only among the newest N
//!   entries, at most one per key, the newest of its key.
//! - **The mark.** Entries written with depth N > 1 carry `pipeline_depth: N`
//!   in their log object (not hashed; absent at depth 1, so the default
//!   writes the shared format byte for byte).
//! - **Everyone else.** A client of this package appending after a head that
//!   carries the mark, and was not written by itself, first reads the newest
//!   N entries and repairs every orphan among them; readers do the same when
//!   their repair check is due (`repairCheckIntervalMs`), and serve what they
//!   may not repair. The earlier clients repair only the head: a pipelined
//!   writer's orphans below the head stay until a client of this package
//!   appends or checks (docs/PROTOCOL.md, "Pipelined writes").

use super::{Head, Inner};
use crate::error::{Error, Result};
use crate::format::Entry;
use crate::storage::Store;
use futures_util::future::{select, Either};
use futures_util::{stream, StreamExt, TryStreamExt};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

impl<S: Store> Inner<S> {
    /// This client's pipeline depth, when it pipelines.
    pub(super) fn pipelined(&self) -> Option<u32> {
        (self.opts.pipeline_depth > 1).then_some(self.opts.pipeline_depth)
    }

    /// Before a pipelined client appends an entry of `key` at sequence
    /// `next`: waits until every entry of its own whose key object is not
    /// written is among the N - 1 entries before `next`, and none is of
    /// `key`. An entry whose background write failed is repaired here, from
    /// memory, instead of waited for.
    pub(super) async fn make_room(&self, key: &str, next: u64, deadline: Duration) -> Result<()> {
        let Some(depth) = self.pipelined() else {
            return Ok(());
        };
        #[cfg(feature = "sim")]
        if self.state().mutation == super::Mutation::SkipWindowWait {
            return Ok(());
        }
        // Entries at or below this sequence leave the window with `next`.
        let leaving = |seq: u64| seq + u64::from(depth) <= next;
        loop {
            let notified = self.window.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable(); // before looking: no change is missed
            let (blocked, failed) = {
                let st = self.state();
                let in_flight = st
                    .in_flight
                    .iter()
                    .any(|(&seq, k)| k == key || leaving(seq));
                let failed = st
                    .own_orphans
                    .values()
                    .filter(|e| e.key == key || leaving(e.sequence))
                    .filter(|e| !st.in_flight.contains_key(&e.sequence))
                    .min_by_key(|e| e.sequence)
                    .cloned();
                (in_flight, failed)
            };
            if let Some(e) = failed {
                self.repair_before_append(&e, deadline).await?;
                self.forget_own_orphan(&e);
                continue;
            }
            if !blocked {
                return Ok(());
            }
            let left = deadline.saturating_sub(self.now());
            let waited = select(notified, self.env.sleep(left)).await;
            if matches!(waited, Either::Right(_)) {
                return Err(self.timed_out("waiting for this client's earlier key-object writes"));
            }
        }
    }

    /// Phase 2 of a pipelined client's entry, in the background: the set has
    /// resolved; the window tracks the write until it answers.
    pub(super) fn write_in_background(self: &Arc<Self>, entry: Arc<Entry>, epoch: Option<u64>) {
        self.state()
            .in_flight
            .insert(entry.sequence, entry.key.clone());
        // Counted in flight: close() waits for it.
        let guard = super::calls::OwnedCallGuard::internal(self.clone());
        let me = self.clone();
        self.env.spawn(Box::pin(async move {
            let _guard = guard;
            let deadline = me.deadline();
            me.phase_two(&entry, epoch, deadline).await;
            me.state().in_flight.remove(&entry.sequence);
            me.window.notify_waiters();
        }));
    }

    /// The newest `depth` entries below a marked head (the head excepted:
    /// its own check is the base protocol's) that are orphans: for each key,
    /// its newest entry there, when its key object still has the ETag the
    /// entry recorded. Costs a listing, `depth - 1` GETs and a HEAD per key.
    pub(super) async fn window_orphans(
        &self,
        head: &Entry,
        depth: u32,
        deadline: Duration,
    ) -> Result<Vec<Arc<Entry>>> {
        let log_path = self.log_path().to_string();
        let (ids, _) = self
            .list_versions(&log_path, None, Some(depth as usize), deadline)
            .await?;
        let below: Vec<String> = ids.into_iter().filter(|v| *v != head.version_id).collect();
        let entries = self
            .fetch_all(&below, &log_path, deadline, Entry::from_log_object)
            .await?;
        // An older entry of a key with a newer one in the window has its key
        // object (the writer waited for it): only the newest of each key.
        let mut seen: HashSet<String> = HashSet::from([head.key.clone()]);
        // Owned items: a closure over borrowed ones makes the future's
        // lifetimes too general for it to be Send.
        // Only a pipelined writer's entry, within its own window (its mark,
        // which nobody can change: the head's is not hashed), can be one.
        let own_window = |e: &Entry| {
            e.pipeline_depth.filter(|&n| n > 1).is_some_and(|n| {
                e.sequence + u64::from(n.min(crate::defaults::MAX_PIPELINE_DEPTH)) > head.sequence
            })
        };
        let candidates: Vec<Entry> = entries
            .into_iter()
            .filter(|e| seen.insert(e.key.clone()))
            .filter(|e| own_window(e))
            .filter(|e| self.layout.check_key(&e.key).is_ok() && e.hash_dialect().is_some())
            .collect();
        let orphans: Vec<Option<Arc<Entry>>> = stream::iter(candidates)
            .map(|e: Entry| async move {
                let now = self.key_etag(&e.key, deadline).await?;
                let orphan = self.never_written(&e, now.as_deref(), deadline).await?;
                Ok::<_, Error>(orphan.then(|| Arc::new(e)))
            })
            .buffer_unordered(self.opts.read_concurrency)
            .try_collect()
            .await?;
        Ok(orphans.into_iter().flatten().collect())
    }

    /// Before appending after `head`, read from the log: when a pipelined
    /// client (not this one) wrote it, repair every orphan among the newest
    /// entries its mark names.
    pub(super) async fn repair_window(&self, head: &Head, deadline: Duration) -> Result<()> {
        let Some(depth) = head.entry.pipeline_depth.filter(|&n| n > 1) else {
            return Ok(());
        };
        if self.state().last_own_etag.as_deref() == Some(head.etag.as_str()) {
            return Ok(()); // our own: our pipeline keeps its window
        }
        let depth = depth.min(crate::defaults::MAX_PIPELINE_DEPTH);
        for orphan in self.window_orphans(&head.entry, depth, deadline).await? {
            tracing::info!(target: "immukv::repair", sequence = orphan.sequence, key = %orphan.key, "repairing an orphan below a pipelined head");
            self.repair_before_append(&orphan, deadline).await?;
        }
        Ok(())
    }
}
