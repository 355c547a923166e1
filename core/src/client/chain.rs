//! What a writer knows between its appends (the chain), how it prepares an
//! append after a head it read, and the key-object write after each append.
//!
//! **The chain.** A client that wrote the current head knows, without
//! reading, everything steps 1-3 of the protocol would fetch:
//! - Step 1 (GET log): skipped. The append carries `If-Match` on the ETag of
//!   our own last append. S3 applies it only if nobody appended since, so a
//!   stale chain costs one 412 and a fall back to the full protocol, never a
//!   wrong link. After such a miss the chain is not used again until a read
//!   of the log shows our own last append as the head (alternating writers
//!   pay the base protocol, not a 412 on top of it).
//! - Step 2 (pre-flight repair): the head is our own entry, whose key object
//!   we wrote (or keep as an own orphan and repair first).
//! - Step 3 (HEAD key object): skipped when we know the key object's ETag
//!   from our own write in this chain. Key objects change only through the
//!   head's phase 2 or repair, and every append since was ours, so it is
//!   current. A HEAD started while this chain stood (prefetched for a queued
//!   key) is current for the same reason; one from an older chain is not used.

use super::pipeline::Job;
use super::{retry, Chain, Head, Inner};
use crate::error::Result;
use crate::format::Entry;
use crate::storage::Store;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

impl<S: Store> Inner<S> {
    /// A job's entry is in the log: this client's reads serve it from now
    /// on (read-your-writes even if the caller gets its answer before the
    /// key object is written), then the job may resolve.
    pub(super) fn committed(&self, job: &Job, entry: &Entry) {
        self.state()
            .key_writes
            .insert(entry.key.clone(), Arc::new(entry.clone()));
        job.committed(entry);
    }

    /// What follows a commit: the chain learns the new head, then phase 2
    /// writes the key object: at once, or in the background for a pipelined
    /// client (window.rs). `log_etag` is the ETag of our append, when we know
    /// it (not for an attempt settled by reading the log).
    pub(super) async fn after_append(
        self: &Arc<Self>,
        entry: &Entry,
        log_etag: Option<String>,
        deadline: Duration,
    ) {
        let own = self
            .state()
            .key_writes
            .get(&entry.key)
            .filter(|e| e.version_id == entry.version_id)
            .cloned()
            .unwrap_or_else(|| Arc::new(entry.clone()));
        let epoch = self.note_own_head(&own, log_etag);
        if self.pipelined().is_some() {
            self.write_in_background(own, epoch);
        } else {
            self.phase_two(&own, epoch, deadline).await;
        }
    }

    /// Our append is the head: the chain goes on (or starts) with it.
    /// Returns the chain's epoch, `None` when there is no chain (an attempt
    /// settled by reading the log: its ETag is not known).
    fn note_own_head(&self, own: &Arc<Entry>, log_etag: Option<String>) -> Option<u64> {
        let mut st = self.state();
        let Some(log_etag) = log_etag else {
            st.chain = None;
            return None;
        };
        st.last_own_etag = Some(log_etag.clone());
        let head = Head {
            etag: log_etag,
            entry: own.clone(),
        };
        // The chain goes on if our append followed its head (or started it).
        let keep = st.chain.as_ref().is_some_and(|c| {
            Some(c.head.entry.version_id.as_str()) == own.previous_version_id.as_deref()
        });
        let mut chain = if keep {
            st.chain.take().expect("chain")
        } else {
            st.epoch += 1;
            Chain {
                head: head.clone(),
                epoch: st.epoch,
                key_etags: HashMap::new(),
            }
        };
        chain.head = head;
        // Unknown until its key object is written (phase_two).
        chain.key_etags.remove(&own.key);
        let epoch = chain.epoch;
        st.chain = Some(chain);
        Some(epoch)
    }

    /// Phase 2: the key object of a committed entry. Until it is written the
    /// entry is served from memory (read-your-writes); if it cannot be, it is
    /// kept as an own orphan and repaired before it could be buried. The
    /// chain of `epoch` learns the key object's new ETag.
    pub(super) async fn phase_two(&self, own: &Arc<Entry>, epoch: Option<u64>, deadline: Duration) {
        let written = self.write_key_object(own, deadline).await;
        let mut st = self.state();
        if st
            .key_writes
            .get(&own.key)
            .is_some_and(|e| e.version_id == own.version_id)
        {
            st.key_writes.remove(&own.key);
        }
        match &written {
            Ok(super::repair::KeyWrite::Written(_) | super::repair::KeyWrite::AlreadyWritten) => {
                st.own_orphans.remove(&own.key);
            }
            _ => {
                tracing::warn!(target: "immukv::write", key = %own.key, sequence = own.sequence, "the key object write failed; this entry is served from memory and repaired before the next append");
                st.own_orphans.insert(own.key.clone(), own.clone());
            }
        }
        let Some(chain) = st.chain.as_mut().filter(|c| Some(c.epoch) == epoch) else {
            return;
        };
        if let Ok(super::repair::KeyWrite::Written(etag)) = written {
            if chain.key_etags.len() >= 10_000 {
                chain.key_etags.clear(); // bound memory; costs a HEAD per key afterwards
            }
            chain.key_etags.insert(own.key.clone(), etag);
        }
    }

    /// The chain's head, when this client may append after it without
    /// reading the log.
    pub(super) fn chain_head(&self) -> Option<Head> {
        let st = self.state();
        if st.fast_path_off {
            return None;
        }
        st.chain.as_ref().map(|c| c.head.clone())
    }

    /// The ETag `key`'s object has while the chain stands; repairs our own
    /// head first when its key object is not written yet.
    pub(super) async fn chained_etag(
        &self,
        head: &Head,
        key: &str,
        deadline: Duration,
    ) -> Result<Option<String>> {
        let own_orphan = self
            .state()
            .own_orphans
            .get(&head.entry.key)
            .is_some_and(|o| o.version_id == head.entry.version_id);
        if own_orphan {
            // Our phase 2 failed last time: repair from memory before the log
            // moves on, so that only the head can ever be an orphan.
            match self.repair_before_append(&head.entry, deadline).await? {
                super::repair::KeyWrite::Written(etag) => {
                    self.forget_own_orphan(&head.entry);
                    if let Some(c) = self.state().chain.as_mut() {
                        c.key_etags.insert(head.entry.key.clone(), etag);
                    }
                }
                _ => {
                    self.forget_own_orphan(&head.entry);
                    if let Some(c) = self.state().chain.as_mut() {
                        c.key_etags.remove(&head.entry.key);
                    }
                    // Its object changed without our knowing the new ETag.
                    self.queue().prefetched.remove(&head.entry.key);
                }
            }
        }
        let (known, epoch) = {
            let st = self.state();
            let c = st.chain.as_ref();
            (
                c.and_then(|c| c.key_etags.get(key).cloned()),
                c.map(|c| c.epoch),
            )
        };
        if let Some(etag) = known {
            return Ok(Some(etag));
        }
        let prefetched = {
            let mut q = self.queue();
            match q.prefetched.remove(key) {
                Some((e, f)) if Some(e) == epoch => Some(f),
                _ => None,
            }
        };
        match prefetched {
            Some(f) => f.await,
            None => self.key_etag(key, deadline).await,
        }
    }

    /// Steps 2 and 3 for a head read from the log. Returns the ETag of
    /// `key`'s object (`None`: absent).
    pub(super) async fn prepare_after(
        &self,
        head: &Head,
        key: &str,
        deadline: Duration,
    ) -> Result<Option<String>> {
        let own = self.state().last_own_etag.as_deref() == Some(head.etag.as_str())
            && !self.state().own_orphans.contains_key(&head.entry.key);
        if own {
            return self.key_etag(key, deadline).await; // our own head, key object written
        }
        // A pipelined writer's head: the orphans below it first (one of them
        // may be of `key`, whose ETag is read after).
        #[cfg(feature = "sim")]
        let skip = self.state().mutation == super::Mutation::SkipWindowRepair;
        #[cfg(not(feature = "sim"))]
        let skip = false;
        if !skip {
            self.repair_window(head, deadline).await?;
        }
        if head.entry.key != key {
            // Is the head an orphan? Its key object still has the ETag the
            // entry recorded. That HEAD runs alongside the one `key` needs:
            // only the head's key object can change while the head stands, so
            // `key`'s ETag does not depend on the repair. A HEAD, not a blind
            // conditional PUT: no upload of a large value, and no 412 (which
            // some servers hold for a second under contention).
            if self.layout.check_key(&head.entry.key).is_err() {
                self.repair_before_append(&head.entry, deadline).await?; // counted, passed over
                return self.key_etag(key, deadline).await;
            }
            let (head_etag, etag) = tokio::join!(
                self.key_etag(&head.entry.key, deadline),
                self.key_etag(key, deadline)
            );
            if self
                .never_written(&head.entry, head_etag?.as_deref(), deadline)
                .await?
            {
                self.repair_before_append(&head.entry, deadline).await?;
            }
            return etag;
        }
        // Same key: the HEAD we need anyway tells whether the head is an
        // orphan (its key object still has the ETag the entry recorded).
        let now = self.key_etag(key, deadline).await?;
        if !self
            .never_written(&head.entry, now.as_deref(), deadline)
            .await?
        {
            return Ok(now);
        }
        match self.repair_before_append(&head.entry, deadline).await? {
            super::repair::KeyWrite::Written(etag) => Ok(Some(etag)),
            super::repair::KeyWrite::AlreadyWritten => self.key_etag(key, deadline).await,
            super::repair::KeyWrite::Unwritable => Ok(now),
        }
    }

    pub(super) async fn key_etag(&self, key: &str, deadline: Duration) -> Result<Option<String>> {
        let path = self.layout.key_path(key);
        Ok(
            retry::idempotent(self, deadline, || self.store.head(&path, None))
                .await?
                .map(|m| m.etag),
        )
    }

    /// After a lost race or an ambiguous append: the chain is unknown. A miss
    /// on the chain's own guess also stops using it until our own append is
    /// seen as the head again.
    pub(super) fn end_chain(&self, chain_missed: bool) {
        let mut st = self.state();
        st.chain = None;
        if chain_missed {
            st.fast_path_off = true;
        }
        drop(st);
        self.queue().prefetched.clear();
    }

    /// A full read found `head`: our own last append still being the head
    /// means nobody else is writing, so the chain pays again.
    pub(super) fn note_head(&self, head: &Head) {
        let mut st = self.state();
        if st.fast_path_off && st.last_own_etag.as_deref() == Some(head.etag.as_str()) {
            st.fast_path_off = false;
        }
    }
}
