//! Settling attempts whose log PUT may have been applied although it failed
//! (a lost answer, a timeout, a 5xx).
//!
//! An attempt appended after a base version (or as the first entry). At most
//! one entry can ever follow a given version, because every append is
//! conditional on the ETag of the version it follows: the version listed
//! right after the base decides. If it holds our hash, the attempt committed;
//! if it holds another entry, the attempt never can; if nothing follows the
//! base yet, it may still land (a request held past its timeout), so it stays
//! pending. One listing page names a thousand versions, so settling costs
//! requests in proportion to the entries appended since the attempt, not to
//! the length of the log.

use super::Inner;
use crate::error::Result;
use crate::format::Entry;
use crate::stats::Event;
use crate::storage::Store;
use std::time::Duration;

/// An append whose outcome is not known.
pub(super) struct Attempt {
    pub entry: Entry,
    /// The log version it was appended after; `None` for a first entry.
    pub base_version: Option<String>,
}

impl<S: Store> Inner<S> {
    /// Settles `pending`: returns the attempt that committed (as stored),
    /// if one did; drops those that cannot commit any more.
    pub(super) async fn settle(
        &self,
        pending: &mut Vec<Attempt>,
        deadline: Duration,
    ) -> Result<Option<Entry>> {
        if pending.is_empty() {
            return Ok(None);
        }
        self.stats.event(Event::Settled);
        let need_first = pending.iter().any(|a| a.base_version.is_none());
        // Newest first, down to the oldest base (or the first entry): a page
        // names a thousand, and fewer than that are appended in between
        // almost always; list further only when needed.
        let mut want = 1000usize;
        let ids = loop {
            let listed = self
                .list_all_versions(
                    self.log_path(),
                    None,
                    (!need_first).then_some(want),
                    deadline,
                )
                .await?;
            let all_bases_seen = pending.iter().all(|a| {
                a.base_version
                    .as_ref()
                    .is_none_or(|b| listed.ids.iter().any(|id| id == b))
            });
            if need_first || all_bases_seen || listed.complete {
                break listed.ids;
            }
            want *= 10;
        };
        let mut settled = Vec::new();
        for (i, attempt) in pending.iter().enumerate() {
            let slot = match &attempt.base_version {
                None => ids.last(),
                Some(b) => match ids.iter().position(|id| id == b) {
                    Some(0) | None => None, // nothing after the base (yet), or base not listed
                    Some(p) => ids.get(p - 1),
                },
            };
            let Some(slot) = slot else { continue };
            let Some(occupant) = self.read_log_version(slot, deadline).await? else {
                continue;
            };
            if occupant.previous_version_id != attempt.base_version {
                continue; // not the entry after the base: leave it pending
            }
            if occupant.hash == attempt.entry.hash && occupant.sequence == attempt.entry.sequence {
                tracing::debug!(target: "immukv::write", key = %occupant.key, sequence = occupant.sequence, "an append whose answer was lost had committed");
                pending.clear();
                return Ok(Some(occupant));
            }
            settled.push(i); // its slot holds another entry: it can never commit
        }
        for i in settled.into_iter().rev() {
            pending.remove(i);
        }
        Ok(None)
    }
}
