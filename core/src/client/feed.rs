//! Following the log: its entries in sequence order, each read once,
//! verified (its hash) and linked to the one before it, whatever the number
//! of writers. The one home of "poll, list the new versions, verify the
//! link, hand over": `watch()` in the bindings is a [`Feed`], and the entries
//! an S3 event notification names are checked the same way
//! ([`Inner::verified_log_versions`]).
//!
//! How it follows (docs/PROTOCOL.md, "Following the log"):
//! - **Idle**: one conditional GET of the log's latest version per poll,
//!   `If-None-Match` on the ETag last seen: a 304, no body.
//! - **Something new**: that GET returned the new head. The versions below
//!   it are listed, newest first, down to the last entry read (one page per
//!   1000 entries behind), and read oldest first, `read_concurrency` at a
//!   time, at most [`BATCH`] per call.
//! - **Verified**: every version read must be intact and follow the one
//!   listed below it by the chain rule (`verify::check_chain`): sequence +1,
//!   `previous_hash`, `previous_version_id`. The listing, not an entry's own
//!   claim, says which version is below which, so a version PUT by hand
//!   (a replayed or forged entry) breaks the chain where it stands. The
//!   first entry read links to the entry before the starting point (read
//!   and checked at the start), or is a proper first entry.
//! - **Resumable**: the position is the last entry read and verified
//!   ([`Feed::position`]); a new feed started after it (or at its sequence
//!   + 1) hands over exactly the entries that follow.

use super::{retry, Inner, LogHead};
use crate::error::{Error, ErrorCode, Result};
use crate::format::Entry;
use crate::storage::{Latest, Store};
use crate::verify::{self, Digest, Summary};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

/// Entries read per call at most: bounds the memory a feed far behind holds
/// (values included) while it catches up.
pub const BATCH: usize = 100;

/// How often a feed looks for new entries by default.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(1000);

/// The longest poll interval accepted (a day).
pub const MAX_POLL_INTERVAL: Duration = Duration::from_secs(86_400);

/// Where a feed starts.
#[derive(Clone, Debug, Default)]
pub enum FeedStart {
    /// After the log's head when the feed starts: the entries appended from
    /// then on (from the first entry when the log is empty).
    #[default]
    Head,
    /// The entry with this sequence, and every one after it.
    Sequence(u64),
    /// The entries after this one: a digest of the last entry handled (a
    /// feed's [`Feed::position`]). The log must still hold it, unchanged.
    After(Digest),
}

/// Which entries a feed hands over (it reads and verifies them all).
#[derive(Clone, Debug, Default)]
pub struct KeyFilter {
    /// Exactly these keys.
    pub keys: Vec<String>,
    /// Keys starting with this.
    pub prefix: Option<String>,
}

impl KeyFilter {
    fn wants(&self, key: &str) -> bool {
        self.keys.iter().any(|k| k == key)
            || self.prefix.as_deref().is_some_and(|p| key.starts_with(p))
    }
}

#[derive(Clone, Debug)]
pub struct FeedOptions {
    pub start: FeedStart,
    /// Only entries of these keys are handed over; all when `None`.
    pub filter: Option<KeyFilter>,
    /// Time between two looks at the log while nothing is new.
    pub poll_interval: Duration,
}

impl Default for FeedOptions {
    fn default() -> Self {
        FeedOptions {
            start: FeedStart::Head,
            filter: None,
            poll_interval: DEFAULT_POLL_INTERVAL,
        }
    }
}

/// A log version after the position, listed (or already read: the head).
#[derive(Clone)]
enum Pending {
    Listed(String),
    Read(Entry),
}

/// Follows the log; see the module documentation. Made by
/// [`crate::Client::feed`].
pub struct Feed<S: Store> {
    inner: Arc<Inner<S>>,
    opts: FeedOptions,
    started: bool,
    /// The last entry read and verified: the next must follow it. `None`:
    /// the next is the first entry of the log.
    cursor: Option<Summary>,
    /// The log head's ETag when last read: while it holds, nothing is new.
    head_etag: Option<String>,
    /// Log versions after the cursor, oldest first, not yet handed over.
    pending: VecDeque<Pending>,
    /// The log was seen empty (no version, no delete marker): while it
    /// stays absent it is still empty, and costs one request per poll.
    seen_empty: bool,
    /// A broken chain found after entries that were handed over first: the
    /// feed ends with it at the next call.
    failed: Option<Error>,
}

impl<S: Store> Feed<S> {
    pub(super) fn new(inner: Arc<Inner<S>>, opts: FeedOptions) -> Result<Self> {
        if opts.poll_interval.is_zero() || opts.poll_interval > MAX_POLL_INTERVAL {
            return Err(Error::invalid_argument(format!(
                "pollIntervalMs must be from 1 to {} ms",
                MAX_POLL_INTERVAL.as_millis()
            )));
        }
        if let Some(f) = &opts.filter {
            for k in &f.keys {
                inner.check_key(k)?;
            }
            if let Some(p) = &f.prefix {
                inner
                    .layout
                    .check_key_prefix(p)
                    .map_err(|e| Error::new(ErrorCode::InvalidArgument, e.0))?;
            }
        }
        if let FeedStart::After(d) = &opts.start {
            super::read::check_version_id("after.versionId", Some(&d.version_id))?;
        }
        Ok(Feed {
            inner,
            opts,
            started: false,
            cursor: None,
            head_etag: None,
            pending: VecDeque::new(),
            seen_empty: false,
            failed: None,
        })
    }

    /// The last entry read and verified (handed over or passed over by the
    /// filter): a new feed started after it goes on from here. `None` before
    /// the first entry of the log.
    pub fn position(&self) -> Option<Digest> {
        self.cursor.as_ref().map(Digest::from)
    }

    /// Finds the starting point (reads the head, and the entry before the
    /// start). Bounded by `operationTimeoutMs`. [`Feed::next`] starts the
    /// feed itself when this was not called.
    pub async fn start(&mut self) -> Result<()> {
        let inner = self.inner.clone();
        let start = async {
            // Transient failures are tried again, as polls are, within the
            // call's bound.
            loop {
                match self.start_here().await {
                    Ok(()) => return Ok(self.position()),
                    Err(e) if e.transient => {
                        tracing::warn!(target: "immukv::feed", error = %e, "starting to watch the log: a read failed; trying again");
                        inner
                            .env
                            .sleep(self.opts.poll_interval.min(Duration::from_secs(5)))
                            .await;
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        inner.call("watch", None, start).await.map(|_| ())
    }

    /// The next entries, oldest first: waits, looking at the log every
    /// poll interval, until at least one entry the filter wants follows the
    /// position. Ends with `CLIENT_CLOSED` when the client is closed.
    /// Transient failures are retried at the next poll; they end the feed
    /// (`STORAGE_ERROR`) only once no poll has succeeded for
    /// `operationTimeoutMs`. A broken chain ends it with `CORRUPT_ENTRY`,
    /// after the verified entries before it were handed over.
    pub async fn next(&mut self) -> Result<Vec<Entry>> {
        use futures_util::future::{select, Either};
        let inner = self.inner.clone();
        let follow = async {
            match select(Box::pin(self.follow()), Box::pin(inner.calls.closed())).await {
                Either::Left((out, _)) => out,
                Either::Right(_) => Err(Error::new(
                    ErrorCode::Closed,
                    "the client was closed while watching the log",
                )),
            }
        };
        inner.call_within("watch", None, None, follow).await
    }

    /// One look at the log: the entries that follow the position (those
    /// the filter wants), maybe none. Bounded by `operationTimeoutMs`.
    pub async fn poll(&mut self) -> Result<Vec<Entry>> {
        let inner = self.inner.clone();
        inner
            .call("watch", None, async {
                if !self.started {
                    self.start_here().await?;
                }
                self.poll_once().await
            })
            .await
    }

    async fn follow(&mut self) -> Result<Vec<Entry>> {
        let inner = self.inner.clone();
        let mut failing_since: Option<Duration> = None;
        loop {
            let attempt = async {
                if !self.started {
                    self.start_here().await?;
                }
                self.poll_once().await
            };
            let wait = match attempt.await {
                Ok(entries) if !entries.is_empty() => return Ok(entries),
                Ok(_) => {
                    failing_since = None;
                    // Entries listed but all passed over: read on at once.
                    if !self.pending.is_empty() {
                        continue;
                    }
                    self.opts.poll_interval
                }
                Err(e) if e.transient => {
                    let since = *failing_since.get_or_insert(inner.now());
                    if inner.now().saturating_sub(since) >= inner.opts.operation_timeout {
                        return Err(e);
                    }
                    tracing::warn!(target: "immukv::feed", error = %e, "watching the log: a poll failed; trying again");
                    self.opts.poll_interval.min(Duration::from_secs(5))
                }
                Err(e) => return Err(e),
            };
            inner.env.sleep(wait).await;
        }
    }

    /// Reads the head, and for a start in the past the entry before it
    /// and the versions in between.
    async fn start_here(&mut self) -> Result<()> {
        let inner = self.inner.clone();
        let deadline = inner.deadline();
        let start = self.opts.start.clone();
        if let FeedStart::Sequence(0) = start {
            // From the first entry: nothing to anchor.
            self.started = true;
            return Ok(());
        }
        let head = match inner.read_head(deadline).await? {
            LogHead::Deleted { marker } => return Err(inner.log_deleted(marker.as_deref())),
            LogHead::Empty => None,
            LogHead::Head(h) => Some(h),
        };
        let Some(head) = head else {
            return match start {
                FeedStart::Head => {
                    self.seen_empty = true;
                    self.started = true;
                    Ok(())
                }
                FeedStart::Sequence(s) => Err(Error::invalid_argument(format!(
                    "fromSequence {s} is beyond the log's next sequence 0 (the log is empty)"
                ))),
                FeedStart::After(d) => Err(self.not_in_log(&d, "the log is empty")),
            };
        };
        let entry = head.entry.as_ref().clone();
        let (anchor, between) = match start {
            FeedStart::Head => (entry.clone(), Vec::new()),
            FeedStart::Sequence(s) if s > entry.sequence + 1 => {
                return Err(Error::invalid_argument(format!(
                    "fromSequence {s} is beyond the log's next sequence {}",
                    entry.sequence + 1
                )))
            }
            FeedStart::Sequence(s) if s == entry.sequence + 1 => (entry.clone(), Vec::new()),
            FeedStart::Sequence(s) => {
                // The head and the `behind` versions below it, if the log
                // counts down by one per version; the oldest is the anchor.
                let behind = (entry.sequence - (s - 1)) as usize;
                let (ids, _) = inner
                    .list_versions(
                        inner.log_path(),
                        Some(&entry.version_id),
                        Some(behind),
                        deadline,
                    )
                    .await?;
                let Some(oldest) = ids.last().filter(|_| ids.len() == behind) else {
                    return Err(Error::new(
                        ErrorCode::VersionNotFound,
                        format!(
                            "entry {} is no longer in the log s3://{}/{}: the log holds {} \
                             versions below its head (sequence {}), not {behind}. They expired \
                             under the bucket's lifecycle rules or were deleted (verifyLog tells \
                             which)",
                            s - 1,
                            inner.bucket(),
                            inner.log_path(),
                            ids.len(),
                            entry.sequence
                        ),
                    ));
                };
                let anchor = self.read_version(oldest, deadline).await?;
                if anchor.sequence != s - 1 {
                    return Err(self.broken(
                        &anchor.version_id,
                        &format!(
                            "it holds sequence {} where the log, counting down from its head \
                             (sequence {}), should hold {}: versions were added or removed",
                            anchor.sequence,
                            entry.sequence,
                            s - 1
                        ),
                    ));
                }
                let mut between = ids;
                between.pop();
                (anchor, between)
            }
            FeedStart::After(d) => {
                let anchor = if d.version_id == entry.version_id {
                    entry.clone()
                } else {
                    inner
                        .read_log_version(&d.version_id, deadline)
                        .await?
                        .ok_or_else(|| self.not_in_log(&d, "no such version"))?
                };
                if anchor.sequence != d.sequence || anchor.hash != d.hash {
                    return Err(self.broken(
                        &anchor.version_id,
                        &format!(
                            "the log holds sequence {} with hash {} where the digest had sequence \
                             {} with hash {}: the log was rewritten",
                            anchor.sequence, anchor.hash, d.sequence, d.hash
                        ),
                    ));
                }
                let between = if anchor.version_id == entry.version_id {
                    Vec::new()
                } else {
                    self.list_since(
                        &entry,
                        Some(&anchor.version_id),
                        Some(anchor.sequence),
                        deadline,
                    )
                    .await?
                };
                (anchor, between)
            }
        };
        let anchor = Summary::from(&anchor);
        if !anchor.intact {
            return Err(self.broken(
                &anchor.version_id,
                "the entry the feed starts after fails its hash check",
            ));
        }
        // The head itself is handed over only when the start is before it.
        let mut pending: VecDeque<Pending> =
            between.into_iter().rev().map(Pending::Listed).collect();
        if anchor.version_id != entry.version_id {
            pending.push_back(Pending::Read(entry));
        }
        self.cursor = Some(anchor);
        self.pending = pending;
        self.head_etag = Some(head.etag);
        self.started = true;
        Ok(())
    }

    /// Looks at the log (when nothing is pending), then reads and verifies
    /// up to [`BATCH`] pending versions.
    async fn poll_once(&mut self) -> Result<Vec<Entry>> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let deadline = self.inner.deadline();
        if self.pending.is_empty() {
            self.look(deadline).await?;
        }
        self.read_pending(deadline).await
    }

    /// One conditional GET of the head; when it changed, the versions
    /// between the position and it become pending.
    async fn look(&mut self, deadline: Duration) -> Result<()> {
        let inner = self.inner.clone();
        let path = inner.log_path().to_string();
        let etag = self.head_etag.clone();
        let latest = retry::idempotent(&inner, deadline, || {
            inner.store.get_if_changed(&path, etag.as_deref())
        })
        .await?;
        let obj = match latest {
            Latest::Unchanged => return Ok(()),
            Latest::Absent if self.cursor.is_none() && self.seen_empty => return Ok(()),
            Latest::Absent => {
                // Empty, or hidden by a delete marker: the listing tells.
                let listed = inner
                    .list_all_versions(&path, None, Some(1), deadline)
                    .await?;
                if listed.latest_delete_marker.is_some() {
                    return Err(inner.log_deleted(listed.latest_delete_marker.as_deref()));
                }
                if listed.ids.is_empty() {
                    if let Some(c) = &self.cursor {
                        return Err(self.broken(
                            &c.version_id,
                            "the log has no versions left, though the feed read this one: the \
                             log's versions were deleted",
                        ));
                    }
                    self.seen_empty = true;
                }
                // Else written since the GET: the next poll reads it.
                return Ok(());
            }
            Latest::Changed(obj) => obj,
        };
        let version = obj.version_id.unwrap_or_else(|| "null".into());
        let head = Entry::from_log_object(&obj.body, &version)
            .map_err(|e| inner.corrupt_log(&version, &e.0))?;
        let between = match &self.cursor {
            Some(c) if c.version_id == head.version_id => {
                self.head_etag = obj.etag;
                return Ok(());
            }
            Some(c) => {
                let (v, s) = (c.version_id.clone(), c.sequence);
                self.list_since(&head, Some(&v), Some(s), deadline).await?
            }
            None => self.list_since(&head, None, None, deadline).await?,
        };
        tracing::debug!(target: "immukv::feed", head = head.sequence, version = %head.version_id, between = between.len(), "the log has new entries");
        // Changed only now, all at once: a poll dropped half-way (aborted)
        // leaves the feed as it was.
        self.pending = between
            .into_iter()
            .rev()
            .map(Pending::Listed)
            .chain([Pending::Read(head)])
            .collect();
        self.head_etag = obj.etag;
        Ok(())
    }

    /// The versions below `head` and above `cursor` (the version last read,
    /// at sequence `at`), newest first; with no cursor, every version below
    /// the head. A cursor that the listing never reaches is no longer in
    /// the log: its versions were deleted.
    async fn list_since(
        &self,
        head: &Entry,
        cursor: Option<&str>,
        at: Option<u64>,
        deadline: Duration,
    ) -> Result<Vec<String>> {
        let inner = &self.inner;
        // When the log counts down by one per version, one page ends at the
        // cursor; otherwise paging goes on until it is found.
        let expected = match at {
            Some(s) => head.sequence.saturating_sub(s),
            None => head.sequence,
        }
        .clamp(1, 1000) as usize;
        let mut ids: Vec<String> = Vec::new();
        let mut before = head.version_id.clone();
        loop {
            let listing = inner
                .list_all_versions(inner.log_path(), Some(&before), Some(expected), deadline)
                .await?;
            let Some(last) = listing.ids.last().cloned() else {
                return self.listed_to_the_end(ids, cursor);
            };
            for id in listing.ids {
                if Some(id.as_str()) == cursor {
                    return Ok(ids);
                }
                ids.push(id);
            }
            if listing.complete {
                return self.listed_to_the_end(ids, cursor);
            }
            before = last;
        }
    }

    fn listed_to_the_end(&self, ids: Vec<String>, cursor: Option<&str>) -> Result<Vec<String>> {
        match (cursor, &self.cursor) {
            (None, _) => Ok(ids),
            (Some(v), c) => Err(self.broken(
                v,
                &format!(
                    "this version{}, the last the feed read, is no longer below the log's head: \
                     versions were deleted or the log was rewritten",
                    c.as_ref()
                        .map(|c| format!(" (sequence {})", c.sequence))
                        .unwrap_or_default()
                ),
            )),
        }
    }

    /// Reads the first [`BATCH`] pending versions, checks each against the
    /// one before it, and advances the cursor past the verified ones.
    async fn read_pending(&mut self, deadline: Duration) -> Result<Vec<Entry>> {
        let inner = self.inner.clone();
        let batch: Vec<Pending> = self.pending.iter().take(BATCH).cloned().collect();
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let listed: Vec<String> = batch
            .iter()
            .filter_map(|p| match p {
                Pending::Listed(v) => Some(v.clone()),
                Pending::Read(_) => None,
            })
            .collect();
        let log_path = inner.log_path().to_string();
        let mut read = inner
            .fetch_all(&listed, &log_path, deadline, Entry::from_log_object)
            .await?
            .into_iter();
        let mut cursor = self.cursor.clone();
        let mut out = Vec::new();
        let mut broken = None;
        for p in batch {
            let entry = match p {
                Pending::Listed(_) => read
                    .next()
                    .ok_or_else(|| Error::internal("feed: a listed version was not read"))?,
                Pending::Read(e) => e,
            };
            let summary = Summary::from(&entry);
            let failures = match &cursor {
                Some(c) => verify::check_chain(&[summary.clone(), c.clone()], false),
                None => verify::check_chain(std::slice::from_ref(&summary), true),
            };
            if let Some(f) = failures.first() {
                broken = Some(self.broken(
                    &entry.version_id,
                    &format!("{}: {}", f.kind.as_str(), f.detail),
                ));
                break;
            }
            cursor = Some(summary);
            out.push(entry);
        }
        tracing::debug!(target: "immukv::feed", read = out.len(), last = ?cursor.as_ref().map(|c| c.sequence), pending = self.pending.len() - out.len(), "verified");
        // Changed only now (see `look`).
        self.pending.drain(..out.len());
        self.cursor = cursor;
        if let Some(e) = broken {
            self.failed = Some(e.clone());
            if out.is_empty() {
                return Err(e);
            }
        }
        Ok(match &self.opts.filter {
            Some(f) => out.into_iter().filter(|e| f.wants(&e.key)).collect(),
            None => out,
        })
    }

    async fn read_version(&self, version_id: &str, deadline: Duration) -> Result<Entry> {
        let inner = &self.inner;
        inner
            .read_log_version(version_id, deadline)
            .await?
            .ok_or_else(|| {
                Error::corrupt(
                    inner.bucket(),
                    inner.log_path(),
                    Some(version_id),
                    "listed version vanished (deleted while reading?)",
                )
            })
    }

    /// The typed error of a broken chain (`CORRUPT_ENTRY`), at a log version.
    fn broken(&self, version_id: &str, detail: &str) -> Error {
        chain_broken(&self.inner, version_id, detail)
    }

    /// The starting digest's entry is gone.
    fn not_in_log(&self, d: &Digest, why: &str) -> Error {
        let inner = &self.inner;
        Error {
            bucket: Some(inner.bucket().to_string()),
            path: Some(inner.log_path().to_string()),
            ..Error::new(
                ErrorCode::VersionNotFound,
                format!(
                    "the entry to start after (sequence {}, version {}) is not in the log \
                     s3://{}/{} ({why}): it expired under the bucket's lifecycle rules or was \
                     deleted (verifyLog with it as trusted tells which)",
                    d.sequence,
                    d.version_id,
                    inner.bucket(),
                    inner.log_path()
                ),
            )
        }
    }
}

fn chain_broken<S: Store>(inner: &Inner<S>, version_id: &str, detail: &str) -> Error {
    Error {
        bucket: Some(inner.bucket().to_string()),
        path: Some(inner.log_path().to_string()),
        ..Error::new(
            ErrorCode::CorruptEntry,
            format!(
                "the log s3://{}/{} is broken at version {version_id}: {detail}",
                inner.bucket(),
                inner.log_path()
            ),
        )
    }
}

impl<S: Store> Inner<S> {
    /// The log entries held by these log versions (S3 event notifications
    /// name them), each once, in sequence order, each verified as a feed
    /// verifies: intact, and following the version listed right below it
    /// by the chain rule (or a proper first entry when none is below). Per
    /// version: a GET and a one-version listing, then a GET of the version
    /// below unless it is one of those asked for.
    pub(super) async fn verified_log_versions(&self, version_ids: &[String]) -> Result<Vec<Entry>> {
        let mut ids: Vec<String> = Vec::new();
        let mut seen = HashSet::new();
        for v in version_ids {
            super::read::check_version_id("versionId", Some(v))?;
            if seen.insert(v.as_str()) {
                ids.push(v.clone());
            }
        }
        let deadline = self.deadline();
        let log_path = self.log_path().to_string();
        use futures_util::{stream, StreamExt, TryStreamExt};
        // Each version and the one listed right below it.
        let read: Vec<(Entry, Option<String>)> = stream::iter(ids.iter().cloned())
            .map(|v| {
                let log_path = &log_path;
                async move {
                    let (entry, below) = tokio::join!(
                        self.read_log_version(&v, deadline),
                        self.list_versions(log_path, Some(&v), Some(1), deadline)
                    );
                    let entry = entry?.ok_or_else(|| Error {
                        bucket: Some(self.bucket().to_string()),
                        path: Some(log_path.clone()),
                        ..Error::new(
                            ErrorCode::VersionNotFound,
                            format!(
                                "log version {v} is not in s3://{}/{log_path}: it was deleted \
                                     (or expired) since the event named it",
                                self.bucket()
                            ),
                        )
                    })?;
                    Ok::<_, Error>((entry, below?.0.into_iter().next()))
                }
            })
            .buffered(self.opts.read_concurrency)
            .try_collect()
            .await?;
        let asked: HashMap<&str, &Entry> = read
            .iter()
            .map(|(e, _)| (e.version_id.as_str(), e))
            .collect();
        let missing: Vec<String> = read
            .iter()
            .filter_map(|(_, b)| b.clone())
            .filter(|b| !asked.contains_key(b.as_str()))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let below_read = self
            .fetch_all(&missing, &log_path, deadline, Entry::from_log_object)
            .await?;
        let below: HashMap<&str, &Entry> = asked
            .iter()
            .map(|(v, e)| (*v, *e))
            .chain(below_read.iter().map(|e| (e.version_id.as_str(), e)))
            .collect();
        for (e, b) in &read {
            let summary = Summary::from(e);
            let failures = match b {
                Some(b) => {
                    let prev = below.get(b.as_str()).ok_or_else(|| {
                        Error::internal("a version below an event's version was not read")
                    })?;
                    verify::check_chain(&[summary, Summary::from(*prev)], false)
                }
                None => verify::check_chain(&[summary], true),
            };
            if let Some(f) = failures.first() {
                return Err(chain_broken(
                    self,
                    &e.version_id,
                    &format!("{}: {}", f.kind.as_str(), f.detail),
                ));
            }
        }
        let mut out: Vec<Entry> = read.into_iter().map(|(e, _)| e).collect();
        out.sort_by_key(|e| e.sequence);
        Ok(out)
    }
}
