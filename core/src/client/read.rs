//! Reads. Key objects are a cache of the log, never an authority: every
//! entry read from one is checked against its own hash and against the key
//! asked for. This client's own entries whose key object is not written yet
//! (and, for a client that may not repair, an orphan head) are served from
//! memory, so a client always reads its own acknowledged writes.

use super::{retry, Inner};
use crate::error::{Error, ErrorCode, Result};
use crate::format::Entry;
use crate::storage::{ListFrom, Store};
use futures_util::{stream, StreamExt, TryStreamExt};
use std::sync::Arc;
use std::time::Duration;

/// A `history` cursor that stands for "after the entry served from the log
/// on the previous page" (an orphan has no key-object version to point at).
/// S3 version ids never contain ':'.
const LOG_CURSOR: &str = "log:";

impl<S: Store> Inner<S> {
    /// The latest entry of `key`.
    pub(super) async fn get(&self, key: &str) -> Result<Entry> {
        self.check_key(key)?;
        let deadline = self.deadline();
        let path = self.layout.key_path(key);
        // The repair check (when due) and the read overlap; whichever knows
        // the newer entry for this key answers.
        let (orphans, own, object) = tokio::join!(
            self.repair_check(deadline),
            self.own_orphans(|k| k == key, deadline),
            retry::idempotent(self, deadline, || self.store.get(&path, None))
        );
        let stored = match object? {
            Some(o) => {
                let e = Entry::from_key_object(&o.body)
                    .map_err(|e| Error::corrupt(self.bucket(), &path, None, &e.0))?;
                Some(self.checked(e, key, &path, None, deadline).await?)
            }
            None => None,
        };
        let served = orphans
            .into_iter()
            .filter(|o| o.key == key)
            .chain(own)
            .max_by_key(|e| e.sequence);
        match (stored, served) {
            (Some(s), Some(o)) if o.sequence > s.sequence => Ok((*o).clone()),
            (Some(s), _) => Ok(s),
            (None, Some(o)) => Ok((*o).clone()),
            (None, None) => Err(Error {
                path: Some(path),
                ..Error::new(ErrorCode::KeyNotFound, format!("key {key:?} not found"))
            }),
        }
    }

    /// One log entry by its S3 version id.
    pub(super) async fn get_log_version(&self, version_id: &str) -> Result<Entry> {
        check_version_id("versionId", Some(version_id))?;
        self.read_log_version(version_id, self.deadline())
            .await?
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::VersionNotFound,
                    format!(
                        "log version {version_id:?} not found in s3://{}/{}",
                        self.bucket(),
                        self.log_path()
                    ),
                )
            })
    }

    /// Entries of `key`, newest first, from before the cursor `before`. The
    /// second item is the cursor for the next page: the oldest key-object
    /// version returned (`None` when nothing was returned).
    pub(super) async fn history(
        &self,
        key: &str,
        before: Option<&str>,
        limit: Option<u32>,
    ) -> Result<(Vec<Entry>, Option<String>)> {
        self.check_key(key)?;
        check_limit(limit)?;
        check_version_id("beforeVersionId", before)?;
        let deadline = self.deadline();
        let path = self.layout.key_path(key);
        // After a page that ended with an entry served from the log, the next
        // page holds the key's entries older than that one: its key object
        // (written since, perhaps) and any entry of the key appended since
        // are passed over.
        let (from, below) = match before.and_then(|b| b.strip_prefix(LOG_CURSOR)) {
            Some(v) => match self.read_log_version(v, deadline).await? {
                Some(served) => (None, Some(served.sequence)),
                None => {
                    return Err(Error::invalid_argument(format!(
                        "beforeVersionId {:?} names no log version",
                        before.unwrap_or_default()
                    )))
                }
            },
            None => (before.map(str::to_string), None),
        };
        let (orphans, own) = if before.is_none() {
            tokio::join!(
                self.repair_check(deadline),
                self.own_orphans(|k| k == key, deadline)
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let served = orphans
            .into_iter()
            .filter(|o| o.key == key)
            .chain(own)
            .max_by_key(|e| e.sequence);
        let want = limit.map_or(usize::MAX, |l| l as usize);
        let room = want - usize::from(served.is_some());
        // Entries with the key-object version each came from.
        let mut fetched: Vec<(Entry, String)> = Vec::new();
        let mut from = from;
        loop {
            // Passing over entries, list (and read) whole pages: a key written
            // often since the served entry must not cost a cycle per version.
            let ask = match below {
                Some(_) => (room - fetched.len()).max(64),
                None => room - fetched.len(),
            };
            let (versions, complete) = self
                .list_versions_checked(&path, from.as_deref(), Some(ask), deadline)
                .await?;
            let read = self
                .fetch_all(&versions, &path, deadline, |body, _| {
                    Entry::from_key_object(body)
                })
                .await?;
            for (e, v) in read.into_iter().zip(&versions) {
                let e = self.checked(e, key, &path, Some(v), deadline).await?;
                if below.is_none_or(|s| e.sequence < s) {
                    fetched.push((e, v.clone()));
                }
            }
            // Only passed-over entries can leave the page short.
            if below.is_none() || fetched.len() >= room || complete || versions.is_empty() {
                break;
            }
            from = versions.last().cloned();
        }
        fetched.truncate(room);
        let served =
            served.filter(|o| fetched.first().is_none_or(|(f, _)| f.sequence < o.sequence));
        // The cursor is the oldest key-object version returned (as before this
        // client served entries from memory); a page holding only a served
        // entry points past it.
        let cursor = match (fetched.last(), &served) {
            (Some((_, v)), _) => Some(v.clone()),
            (None, Some(o)) => Some(format!("{LOG_CURSOR}{}", o.version_id)),
            (None, None) => None,
        };
        let mut entries: Vec<Entry> = served.map(|o| (*o).clone()).into_iter().collect();
        entries.extend(fetched.into_iter().map(|(e, _)| e));
        Ok((entries, cursor))
    }

    /// Log entries, newest first, from before the log version `before`.
    pub(super) async fn log_entries(
        &self,
        before: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Vec<Entry>> {
        check_limit(limit)?;
        check_version_id("beforeVersionId", before)?;
        let deadline = self.deadline();
        let log_path = self.log_path().to_string();
        let (versions, _) = self
            .list_versions_checked(&log_path, before, limit.map(|l| l as usize), deadline)
            .await?;
        self.fetch_all(&versions, &log_path, deadline, Entry::from_log_object)
            .await
    }

    /// Keys under `prefix` in S3 order (UTF-8 bytes of `keys/{key}.json`),
    /// after the key `after`.
    pub(super) async fn list_keys(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Vec<String>> {
        check_limit(limit)?;
        self.layout
            .check_key_prefix(prefix)
            .map_err(|e| Error::new(ErrorCode::InvalidArgument, e.0))?;
        if let Some(a) = after {
            self.check_key(a)?;
        }
        let deadline = self.deadline();
        let (orphans, own) = tokio::join!(
            self.repair_check(deadline),
            self.own_orphans(|k| k.starts_with(prefix), deadline)
        );
        let start_after = after.map(|k| self.layout.key_path(k));
        let want = limit.map(|l| l as usize).unwrap_or(usize::MAX);
        let mut keys = self
            .list_key_names(prefix, after, want, true, deadline)
            .await?;
        // Entries served from memory may have no key object yet: list their
        // keys too, in S3 order, within the page.
        let served = orphans
            .into_iter()
            .filter(|o| o.key.starts_with(prefix))
            .chain(own);
        for o in served {
            let path = self.layout.key_path(&o.key);
            let beyond_page =
                keys.len() >= want && keys.last().is_some_and(|k| self.layout.key_path(k) < path);
            if start_after.as_ref().is_none_or(|a| *a < path)
                && !keys.contains(&o.key)
                && !beyond_page
            {
                let at = keys.partition_point(|k| self.layout.key_path(k) < path);
                keys.insert(at, o.key.clone());
            }
        }
        keys.truncate(want);
        Ok(keys)
    }

    /// Keys under `prefix` in S3 order, after the key `after`, at most
    /// `want`: a listing, nothing else (no repair, nothing served). With
    /// `valid_only`, names that break the key rules (objects put there by
    /// hand: `keys/.json`, `keys/e/.json`) are left out, as no `set` wrote
    /// them; the audit lists them all, to report them.
    pub(super) async fn list_key_names(
        &self,
        prefix: &str,
        after: Option<&str>,
        want: usize,
        valid_only: bool,
        deadline: Duration,
    ) -> Result<Vec<String>> {
        let list_prefix = format!("{}{prefix}", self.layout.keys_prefix());
        let start_after = after.map(|k| self.layout.key_path(k));
        let mut keys = Vec::new();
        let mut continuation: Option<String> = None;
        loop {
            let max = self
                .opts
                .list_page_size
                .min(want.saturating_sub(keys.len()).min(1000) as u32)
                .max(1);
            let page = retry::idempotent(self, deadline, || {
                self.store.list_paths(
                    &list_prefix,
                    start_after.as_deref(),
                    continuation.as_deref(),
                    max,
                )
            })
            .await?;
            // A page holds the right names (the next ones in UTF-8 order), but
            // SeaweedFS, asked for URL-encoded names, sorts them by their
            // encoded form: "é" (%C3%A9) before "a", "a+b" (a%2Bb) before
            // "a b" (a+b). Ordered here, every store gives S3's order, within
            // a page and across pages.
            let mut paths = page.paths;
            paths.sort_unstable();
            keys.extend(
                paths
                    .iter()
                    .filter_map(|p| self.layout.key_of(p))
                    .filter(|k| !valid_only || self.layout.check_key(k).is_ok())
                    .map(str::to_string),
            );
            continuation = page.continuation;
            if continuation.is_none() || keys.len() >= want {
                return Ok(keys);
            }
        }
    }

    /// Version ids of exactly `path`, newest first, after `before`, at most
    /// `limit`. A `before` that is not a version of `path` is refused (the
    /// check runs alongside the listing). The flag tells whether the listing
    /// is complete.
    pub(super) async fn list_versions_checked(
        &self,
        path: &str,
        before: Option<&str>,
        limit: Option<usize>,
        deadline: Duration,
    ) -> Result<(Vec<String>, bool)> {
        let check = async {
            match before {
                Some(v) => retry::idempotent(self, deadline, || self.store.head(path, Some(v)))
                    .await
                    .map(|m| m.is_some()),
                None => Ok(true),
            }
        };
        let (known, listed) =
            tokio::join!(check, self.list_versions(path, before, limit, deadline));
        if !known? {
            return Err(Error::invalid_argument(format!(
                "beforeVersionId {:?} is not a version of s3://{}/{path}",
                before.unwrap_or_default(),
                self.bucket()
            )));
        }
        listed
    }

    /// Version ids of exactly `path`, newest first, after `before`, at most
    /// `limit`; and whether the listing reached the oldest version.
    pub(super) async fn list_versions(
        &self,
        path: &str,
        before: Option<&str>,
        limit: Option<usize>,
        deadline: Duration,
    ) -> Result<(Vec<String>, bool)> {
        let listing = self
            .list_all_versions(path, before, limit, deadline)
            .await?;
        Ok((listing.ids, listing.complete))
    }

    /// [`Inner::list_versions`], also telling whether a delete marker is the
    /// object's latest version.
    pub(super) async fn list_all_versions(
        &self,
        path: &str,
        before: Option<&str>,
        limit: Option<usize>,
        deadline: Duration,
    ) -> Result<Listing> {
        let want = limit.unwrap_or(usize::MAX);
        let mut out = Listing::default();
        let mut from = match before {
            Some(v) => ListFrom::After(v.to_string()),
            None => ListFrom::Newest,
        };
        // Listing by prefix also returns longer names (`_log.json.bak`).
        // SeaweedFS counts them against the page size and then loses versions
        // of the object itself when it continues from its own markers, so:
        // pages never smaller than MIN_VERSION_PAGE, continue after the last
        // version of *this* object seen, and a page that holds only other
        // names is asked for again, larger.
        let mut floor = MIN_VERSION_PAGE;
        let mut on_server_cursor = false;
        loop {
            let wanted = (want - out.ids.len()).saturating_add(1);
            let max = wanted.clamp(floor, 1000) as u32;
            let page = retry::idempotent(self, deadline, || {
                self.store.list_versions(path, &from, max)
            })
            .await?;
            out.latest_delete_marker = out
                .latest_delete_marker
                .take()
                .or(page.latest_delete_marker);
            let last_seen = page.version_ids.last().cloned();
            out.ids.extend(page.version_ids);
            out.last_modified_ms.extend(page.last_modified_ms);
            if out.ids.len() >= want {
                out.complete = out.ids.len() == want && page.next.is_none();
                out.ids.truncate(want);
                out.last_modified_ms.truncate(want);
                return Ok(out);
            }
            let Some(next) = page.next else {
                // (Listing from an older version, finding none is the end.)
                if on_server_cursor && out.ids.is_empty() && before.is_none() {
                    self.hidden_versions(path, deadline).await?;
                }
                out.complete = true;
                return Ok(out);
            };
            from = match last_seen {
                Some(v) => ListFrom::After(v),
                None if max < 1000 => {
                    floor = (max as usize * 4).min(1000);
                    continue;
                }
                None => {
                    on_server_cursor = true;
                    ListFrom::Cursor(next)
                }
            };
        }
    }

    /// After a listing of `path` found no version behind a thousand other
    /// names: on S3 that means there is none (the exact name sorts first),
    /// but SeaweedFS lists such names first and then loses the object's own
    /// versions on its cursor. An existing object must not read as an empty
    /// history (or an intact, empty log), so that fails here.
    async fn hidden_versions(&self, path: &str, deadline: Duration) -> Result<()> {
        let exists = retry::idempotent(self, deadline, || self.store.head(path, None)).await?;
        if exists.is_none() {
            return Ok(());
        }
        Err(Error {
            bucket: Some(self.bucket().to_string()),
            path: Some(path.to_string()),
            ..Error::new(
                ErrorCode::Storage,
                format!(
                    "the versions of s3://{}/{path} cannot be listed: more than a thousand other \
                     objects whose names begin with its name come first in the listing, and this \
                     server loses the object's versions behind them; remove or rename those objects",
                    self.bucket()
                ),
            )
        })
    }

    /// GETs the given versions of `path` with at most `read_concurrency` in
    /// flight, keeping their order.
    pub(super) async fn fetch_all<T, P>(
        &self,
        versions: &[String],
        path: &str,
        deadline: Duration,
        parse: P,
    ) -> Result<Vec<T>>
    where
        T: Send,
        P: Fn(&[u8], &str) -> std::result::Result<T, crate::format::ParseError> + Sync,
    {
        let parse = &parse;
        // Owned items: a closure over borrowed ones makes the future's
        // lifetimes too general for it to be Send.
        stream::iter(versions.to_vec())
            .map(|v: String| async move {
                let obj =
                    retry::idempotent(self, deadline, || self.store.get(path, Some(&v))).await?;
                let vanished = "listed version vanished (deleted while reading?)";
                let obj =
                    obj.ok_or_else(|| Error::corrupt(self.bucket(), path, Some(&v), vanished))?;
                parse(&obj.body, &v)
                    .map_err(|e| Error::corrupt(self.bucket(), path, Some(&v), &e.0))
            })
            .buffered(self.opts.read_concurrency)
            .try_collect()
            .await
    }
}

/// Smallest page asked for when listing the versions of one object.
const MIN_VERSION_PAGE: usize = 64;

/// The versions of one object.
#[derive(Default)]
pub(super) struct Listing {
    /// Newest first, delete markers left out.
    pub ids: Vec<String>,
    /// When each of `ids` was written, by the server's clock, when known.
    pub last_modified_ms: Vec<Option<u64>>,
    /// The listing reached the oldest version.
    pub complete: bool,
    /// A delete marker is the object's latest version.
    pub latest_delete_marker: Option<String>,
}

/// A page limit, when given, is at least 1.
pub(super) fn check_limit(limit: Option<u32>) -> Result<()> {
    match limit {
        Some(0) => Err(Error::invalid_argument("limit must be at least 1")),
        _ => Ok(()),
    }
}

/// A version id, when given, is not empty (S3 would read it as "no marker").
pub(super) fn check_version_id(name: &str, v: Option<&str>) -> Result<()> {
    match v {
        Some("") => Err(Error::invalid_argument(format!("{name} must not be empty"))),
        Some(v) if v.chars().any(char::is_control) => Err(Error::invalid_argument(format!(
            "{name} must not contain control characters"
        ))),
        _ => Ok(()),
    }
}

/// The point of a point-in-time read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum At {
    /// Once the entry with this sequence was in the log.
    Sequence(u64),
    /// By the writers' clocks: the key's newest entry stamped at or before
    /// this time (Unix milliseconds).
    TimestampMs(u64),
}

impl At {
    /// The entry was in the log at this point (was written by then).
    fn holds(self, e: &Entry) -> bool {
        match self {
            At::Sequence(s) => e.sequence <= s,
            At::TimestampMs(t) => e.timestamp_ms <= t,
        }
    }
}

// Point-in-time reads. Key-object versions are written in entry order and
// each names its entry, so the key's value at a point is its newest
// key-object version that `holds` there: found by a binary search over the
// version listing, one GET per probe. The log is the authority: an entry of
// the key whose key object is not written yet (an orphan head, or a write
// under way) counts from the moment it is in the log.
impl<S: Store> Inner<S> {
    /// The entry `key` had at `at`: `KEY_NOT_FOUND` if it had none yet.
    /// Costs one GET of the latest key object (and the repair check when it
    /// is due, as `get`); when that entry holds at
    /// `at`, one GET of the log head (a newer entry of the key may be there
    /// without its key object; and `at` may not be beyond the head); when
    /// it does not, a listing of the key's versions (a page per 1000 newer
    /// than the answer, each page's oldest read) and a binary search: about
    /// log2(n) GETs for n versions listed.
    pub(super) async fn get_at(&self, key: &str, at: At) -> Result<Entry> {
        self.check_key(key)?;
        let deadline = self.deadline();
        let path = self.layout.key_path(key);
        // As `get`: entries of the key in the log without their key object
        // (orphans the repair check finds, below the head too when a
        // pipelined writer left them; this client's own, written or being
        // written in the background) count from the moment they are in the
        // log. They are newer than every key-object version of the key.
        let (orphans, own, latest) = tokio::join!(
            self.repair_check(deadline),
            self.own_orphans(|k| k == key, deadline),
            retry::idempotent(self, deadline, || self.store.get(&path, None))
        );
        let served = orphans
            .into_iter()
            .filter(|o| o.key == key)
            .chain(own)
            .filter(|e| at.holds(e))
            .max_by_key(|e| e.sequence);
        let latest = match latest? {
            Some(o) => {
                let version = o.version_id.clone();
                let e = Entry::from_key_object(&o.body)
                    .map_err(|e| Error::corrupt(self.bucket(), &path, version.as_deref(), &e.0))?;
                Some((
                    self.checked(e, key, &path, version.as_deref(), deadline)
                        .await?,
                    version,
                ))
            }
            None => None,
        };
        if let Some((l, v)) = &latest {
            if !at.holds(l) {
                return self
                    .search_versions(key, &path, at, v.as_deref().map(|v| (v, l)), deadline)
                    .await;
            }
        }
        // The latest key object holds at `at` (or there is none): the log
        // head may hold a newer entry of the key, and bounds `at`.
        let head = match self.read_head(deadline).await? {
            super::LogHead::Head(h) => Some(h.entry),
            super::LogHead::Empty => None,
            // Hidden: answered from the key objects, as `get` is.
            super::LogHead::Deleted { .. } => {
                let latest = latest.map(|(l, _)| l);
                return self
                    .newest_at(key, &path, at, latest, served, deadline)
                    .await;
            }
        };
        if let At::Sequence(s) = at {
            let next = head.as_ref().map_or(0, |h| h.sequence + 1);
            if s >= next {
                return Err(Error::invalid_argument(format!(
                    "atSequence {s} is beyond the log's head ({}): what the key holds there is not \
                     known yet",
                    head.as_ref()
                        .map_or("the log is empty".to_string(), |h| format!("sequence {}", h.sequence))
                )));
            }
        }
        // The newest of: the head (an entry of the key not yet in its key
        // object), an orphan or own entry, the latest key object.
        let head = head.filter(|h| h.key == key && at.holds(h) && h.hash_dialect().is_some());
        let from_log = head.into_iter().chain(served).max_by_key(|e| e.sequence);
        let latest = latest.map(|(l, _)| l);
        self.newest_at(key, &path, at, latest, from_log, deadline)
            .await
    }

    /// The answer from what was read: the newer of the latest key object's
    /// entry (holding at `at`) and an entry from the log whose key object is
    /// not written. With no key object (none yet, or hidden by a delete
    /// marker) the versions under the marker are searched too: an entry
    /// from the log may be stale there (a client keeps the orphans it found
    /// for a repair-check interval), and a later entry of the key may have
    /// been written, then hidden.
    async fn newest_at(
        &self,
        key: &str,
        path: &str,
        at: At,
        latest: Option<Entry>,
        from_log: Option<Arc<Entry>>,
        deadline: Duration,
    ) -> Result<Entry> {
        match (latest, from_log) {
            (Some(l), Some(o)) if o.sequence > l.sequence => Ok((*o).clone()),
            (Some(l), _) => Ok(l),
            (None, from_log) => {
                let found = self.search_versions(key, path, at, None, deadline).await;
                match (found, from_log) {
                    (Ok(f), Some(o)) if o.sequence > f.sequence => Ok((*o).clone()),
                    (Ok(f), _) => Ok(f),
                    (Err(e), Some(o)) if e.code == ErrorCode::KeyNotFound => Ok((*o).clone()),
                    (Err(e), _) => Err(e),
                }
            }
        }
    }

    /// The newest version of the key object at `path` whose entry holds at
    /// `at`; `newest`: the latest version and its entry, already read,
    /// which does not. An interpolation search: a key's versions name
    /// rising sequences (and, by the writers' clocks, times), so the
    /// position of `at` between two versions read is guessed from their
    /// sequences; when a guess does not halve the range, the next probe
    /// bisects it (at most about twice a binary search's probes).
    async fn search_versions(
        &self,
        key: &str,
        path: &str,
        at: At,
        newest: Option<(&str, &Entry)>,
        deadline: Duration,
    ) -> Result<Entry> {
        // ids[..lo] fail, the newest of them with value `fail_v`; ids[hi]
        // holds, with value `hold_v` (hi == ids.len(): none listed does).
        let mut ids: Vec<String> = Vec::new();
        let mut found: Option<(usize, Entry)> = None;
        let mut lo = 0;
        let mut fail_v: Option<i128> = None;
        loop {
            let (page, complete) = self
                .list_versions(path, ids.last().map(String::as_str), Some(1000), deadline)
                .await?;
            let first = page.first().map(String::as_str);
            if let Some((_, e)) = newest.filter(|(v, _)| ids.is_empty() && first == Some(*v)) {
                lo = 1;
                fail_v = Some(at.value(e));
            }
            let start = ids.len();
            ids.extend(page);
            if complete || ids.len() == start {
                break;
            }
            // Is the answer on this page? Its oldest version tells.
            let last = ids.len() - 1;
            let e = self.read_key_at(key, path, &ids[last], deadline).await?;
            if at.holds(&e) {
                found = Some((last, e));
                break;
            }
            lo = ids.len();
            fail_v = Some(at.value(&e));
        }
        let mut hi = found.as_ref().map_or(ids.len(), |(i, _)| *i);
        // Below the oldest version: no sequence is below 0.
        let mut hold_v: Option<i128> = match &found {
            Some((_, e)) => Some(at.value(e)),
            None if matches!(at, At::Sequence(_)) => Some(-1),
            None => None,
        };
        let mut bisect = false;
        while lo < hi {
            let target = at.target();
            let mid = match (fail_v, hold_v) {
                (Some(f), Some(h)) if !bisect && f > h && target < f => {
                    // Values fall from `f` (at lo - 1) to `h` (at hi).
                    let frac = (f - target) as f64 / (f - h) as f64;
                    (lo + ((hi - lo) as f64 * frac) as usize).clamp(lo, hi - 1)
                }
                _ => lo + (hi - lo) / 2,
            };
            let before = hi - lo;
            let e = self.read_key_at(key, path, &ids[mid], deadline).await?;
            if at.holds(&e) {
                hi = mid;
                hold_v = Some(at.value(&e));
                found = Some((mid, e));
            } else {
                lo = mid + 1;
                fail_v = Some(at.value(&e));
            }
            bisect = !bisect && (hi - lo) * 2 > before;
        }
        match found {
            Some((i, e)) if i == hi => Ok(e),
            _ => Err(Error {
                path: Some(path.to_string()),
                ..Error::new(
                    ErrorCode::KeyNotFound,
                    format!("key {key:?} had no entry yet at {}", at.describe()),
                )
            }),
        }
    }

    /// One version of a key object, checked as `get` checks it.
    async fn read_key_at(
        &self,
        key: &str,
        path: &str,
        version: &str,
        deadline: Duration,
    ) -> Result<Entry> {
        let obj = retry::idempotent(self, deadline, || self.store.get(path, Some(version))).await?;
        let obj = obj.ok_or_else(|| {
            Error::corrupt(
                self.bucket(),
                path,
                Some(version),
                "listed version vanished (deleted while reading?)",
            )
        })?;
        let e = Entry::from_key_object(&obj.body)
            .map_err(|e| Error::corrupt(self.bucket(), path, Some(version), &e.0))?;
        self.checked(e, key, path, Some(version), deadline).await
    }
}

impl At {
    /// What the search compares: the entry's sequence, or its time.
    fn value(self, e: &Entry) -> i128 {
        match self {
            At::Sequence(_) => i128::from(e.sequence),
            At::TimestampMs(_) => i128::from(e.timestamp_ms),
        }
    }

    fn target(self) -> i128 {
        match self {
            At::Sequence(s) => i128::from(s),
            At::TimestampMs(t) => i128::from(t),
        }
    }

    fn describe(self) -> String {
        match self {
            At::Sequence(s) => format!("sequence {s}"),
            At::TimestampMs(t) => format!("timestamp {t} ms"),
        }
    }
}
