//! The client: runs the write, repair and read protocol of docs/PROTOCOL.md
//! over a [`Store`].
//!
//! - `pipeline.rs`: `set`, and the ordered append pipeline each client runs;
//!   `append.rs`: one set's tries at the log; `chain.rs`: what a writer knows
//!   between its appends, and the key-object write after each
//! - `settle.rs`: deciding whether an attempt whose answer was lost committed
//! - `repair.rs`: orphans (log entries whose key object was not written)
//! - `read.rs`: `get`, `history`, `log_entries`, `list_keys`, point-in-time
//!   reads (`get_at`)
//! - `feed.rs`: following the log (`feed`), and the entries an S3 event
//!   names
//! - `audit.rs`: `verify_log`, `digest`, verified reads; `key_objects.rs`:
//!   the audit of key objects against the log
//! - `window.rs`: pipelined writes (`pipelineDepth` > 1): the window of
//!   entries whose key objects may not be written yet
//! - `object_lock.rs`: the retention writes ask for, the bucket check before
//!   the first write, and the audit's retention step
//! - `doctor.rs`: `check_store` (is the bucket fit for a store?) and the IAM
//!   policy a store needs
//! - `retry.rs`: the retry policy; `options.rs`: settings and their rules
//! - `calls.rs`: what every call shares: closing, timeouts, cancellation

mod append;
mod audit;
mod calls;
mod chain;
mod doctor;
pub mod feed;
mod key_objects;
mod object_lock;
pub mod options;
mod pipeline;
mod read;
mod repair;
pub mod retry;
mod settle;
mod window;

pub use audit::{Progress, VerifyOptions, VerifyPhase};
pub use feed::{Feed, FeedOptions, FeedStart, KeyFilter};
pub use options::{duration_ms, whole_number, Options};
pub use read::At;

use crate::env::{Cancel, Env, TokioEnv};
use crate::error::{Error, ErrorCode, Result};
use crate::format::{Entry, Json, Layout};
use crate::stats::{Stats, StatsSnapshot};
use crate::storage::memory::MemoryStore;
use crate::storage::metered::Metered;
use crate::storage::s3::{resolve_region, S3Settings, S3Store};
use crate::storage::Store;
use crate::verify::{Digest, Report};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The latest log version as read: its ETag (for the conditional append)
/// and its entry.
#[derive(Clone, Debug)]
struct Head {
    etag: String,
    entry: Arc<Entry>,
}

/// What reading the latest log version found.
enum LogHead {
    /// The log has no versions at all.
    Empty,
    /// The latest version is a delete marker over existing entries.
    Deleted {
        marker: Option<String>,
    },
    Head(Head),
}

/// What this client knows about the log while it is the only one
/// appending; see chain.rs.
struct Chain {
    head: Head,
    /// Changes whenever the chain is re-read: facts from an older epoch
    /// (prefetched key ETags) are not used.
    epoch: u64,
    /// Key-object ETags known to be current while `head` is the log head.
    key_etags: HashMap<String, String>,
}

#[derive(Default)]
struct State {
    chain: Option<Chain>,
    epoch: u64,
    /// Entries this client appended whose key object is not known to be
    /// written: served by its reads (read-your-writes) and repaired first.
    own_orphans: BTreeMap<String, Arc<Entry>>,
    /// Entries whose key-object write is under way: served by reads, not
    /// repaired (a `set` whose caller gave up resolves before it ends).
    key_writes: BTreeMap<String, Arc<Entry>>,
    /// A pipelined client's background key-object writes, by sequence
    /// (window.rs).
    in_flight: BTreeMap<u64, String>,
    last_repair_check: Option<Duration>,
    /// Orphans this client found and may not repair (the head, and below a
    /// pipelined head its window's): served by its reads.
    orphans: Vec<Arc<Entry>>,
    /// A repair write was refused with 403: act as a read-only client.
    repairs_refused: bool,
    versioning_checked: bool,
    /// The bucket's Object Lock was checked before the first write.
    object_lock_checked: bool,
    /// Smoothed duration of a log append, for the retry policy.
    append_rtt: Option<Duration>,
    /// ETag of the last log version this client wrote; seeing it again as
    /// the head re-enables the chain.
    last_own_etag: Option<String>,
    /// The chain missed (another writer appended): read the log first.
    fast_path_off: bool,
    /// Until when other clients are taken to be contending for the log (a
    /// race was lost recently): new sets yield before their first try.
    contended_until: Duration,
    /// Smoothed count of races this client's sets lose before committing:
    /// how many other writers contend (retry::smooth_lost). `None`: no
    /// contention seen lately.
    lost_per_commit: Option<f64>,
    /// A protocol step left out on purpose (simulation only).
    #[cfg(feature = "sim")]
    mutation: Mutation,
}

/// A step of the pipelined protocol that the simulation may leave out, to
/// check that it catches the omission (the mutation check in
/// `core/tests/sim.rs`). Never compiled into the product.
#[cfg(feature = "sim")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mutation {
    #[default]
    None,
    /// Append after a pipelined head without repairing the orphans of its
    /// window first (chain.rs).
    SkipWindowRepair,
    /// Append without waiting for room in the window: more than N - 1 own
    /// entries, or one of the same key, without their key objects
    /// (window.rs, `make_room`).
    SkipWindowWait,
}

pub(crate) struct Inner<S: Store> {
    store: Metered<S>,
    env: Arc<dyn Env>,
    opts: Options,
    layout: Layout,
    stats: Arc<Stats>,
    state: Mutex<State>,
    queue: Mutex<pipeline::Queue>,
    /// Fired when a background key-object write ends (window.rs).
    window: tokio::sync::Notify,
    calls: calls::Calls,
}

/// An ImmuKV client over a store. Clones share everything (connection,
/// append pipeline, caches): clone it rather than open another.
pub struct Client<S: Store> {
    inner: Arc<Inner<S>>,
}

impl<S: Store> Clone for Client<S> {
    fn clone(&self) -> Self {
        Client {
            inner: self.inner.clone(),
        }
    }
}

impl Client<S3Store> {
    /// A client on S3. Validates the configuration and finds the region;
    /// makes no request.
    pub fn connect(s3: S3Settings, opts: Options) -> Result<Self> {
        options::check_s3(&s3)?;
        let region = match s3.region.clone() {
            Some(r) => r,
            None => resolve_region().ok_or_else(|| {
                Error::invalid_config(
                    "no region: set s3Region, or AWS_REGION / AWS_DEFAULT_REGION, or a region in \
                     the AWS profile (AWS_PROFILE, else \"default\")",
                )
            })?,
        };
        Client::new(Arc::new(S3Store::new(s3, region)), opts)
    }
}

impl Client<MemoryStore> {
    /// A client on an in-memory store: the process-wide one called `name`
    /// (shared by every client opened on it), or a private one. For tests and
    /// local development only.
    pub fn in_memory(name: Option<&str>, opts: Options) -> Result<Self> {
        let store = match name {
            Some(n) => MemoryStore::named(n),
            None => Arc::new(MemoryStore::new("memory")),
        };
        Client::new(store, opts)
    }
}

impl<S: Store> Client<S> {
    pub fn new(store: Arc<S>, opts: Options) -> Result<Self> {
        Client::with_env(store, opts, Arc::new(TokioEnv::default()))
    }

    /// A client whose clock, randomness and task spawner are `env`.
    pub fn with_env(store: Arc<S>, opts: Options, env: Arc<dyn Env>) -> Result<Self> {
        opts.check()?;
        let layout = Layout::new(&opts.prefix).map_err(|e| Error::invalid_config(e.0))?;
        let stats = Arc::new(Stats::default());
        Ok(Client {
            inner: Arc::new(Inner {
                store: Metered::new(store, stats.clone()),
                env,
                layout,
                opts,
                stats,
                state: Mutex::new(State::default()),
                queue: Mutex::new(pipeline::Queue::default()),
                window: tokio::sync::Notify::new(),
                calls: calls::Calls::default(),
            }),
        })
    }

    /// Leaves a protocol step out (simulation only: the mutation check).
    #[cfg(feature = "sim")]
    pub fn mutate(&self, m: Mutation) {
        self.inner.state().mutation = m;
    }

    /// The store, for tests that tamper with it.
    pub fn store(&self) -> &Arc<S> {
        self.inner.store.inner()
    }

    pub fn options(&self) -> &Options {
        &self.inner.opts
    }

    /// The bucket and the log's object key (`<prefix>_log.json`): what an
    /// S3 event notification names.
    pub fn log_location(&self) -> (&str, &str) {
        (self.inner.bucket(), self.inner.log_path())
    }

    /// Counters since the client was made.
    pub fn stats(&self) -> StatsSnapshot {
        self.inner.stats.snapshot()
    }

    /// Refuses further calls; calls in flight (and appends queued by them)
    /// finish first, then this resolves.
    pub async fn close(&self) {
        self.inner.calls.close().await;
    }
}

impl<S: Store> Inner<S> {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bucket(&self) -> &str {
        self.store.bucket()
    }

    fn log_path(&self) -> &str {
        self.layout.log_path()
    }

    fn now(&self) -> Duration {
        self.env.monotonic()
    }

    /// When a call started now must give up.
    fn deadline(&self) -> Duration {
        self.now() + self.opts.operation_timeout
    }

    fn check_key(&self, key: &str) -> Result<()> {
        self.layout
            .check_key(key)
            .map_err(|e| Error::new(ErrorCode::InvalidKey, e.0))
    }

    /// A log version that is not a well-formed entry.
    fn corrupt_log(&self, version: &str, detail: &str) -> Error {
        Error::corrupt(self.bucket(), self.log_path(), Some(version), detail)
    }

    /// A log head that writers will not extend, with the way out: nothing
    /// but removing the version lets the log grow again (a writer appending
    /// after it would build on a forgery; appending beside it would fork).
    fn corrupt_head(&self, version: &str, detail: &str) -> Error {
        self.corrupt_log(
            version,
            &format!(
                "{detail}. Writers do not extend a log head that is not an intact entry: run \
                 verifyLog, and if this version is not a genuine entry, remove it to let writers \
                 go on (aws s3api delete-object --bucket {} --key {} --version-id {version}; \
                 needs s3:DeleteObjectVersion)",
                self.bucket(),
                self.log_path()
            ),
        )
    }

    /// The latest log version.
    async fn read_head(&self, deadline: Duration) -> Result<LogHead> {
        loop {
            let got =
                retry::idempotent(self, deadline, || self.store.get(self.log_path(), None)).await?;
            if let Some(obj) = got {
                let version = obj.version_id.as_deref().unwrap_or("null");
                let entry = Entry::from_log_object(&obj.body, version)
                    .map_err(|e| self.corrupt_head(version, &e.0))?;
                return Ok(LogHead::Head(Head {
                    etag: obj.etag.unwrap_or_default(),
                    entry: Arc::new(entry),
                }));
            }
            // Absent: never written, or hidden by a delete marker. Only the
            // first may start a chain.
            let listed = self
                .list_all_versions(self.log_path(), None, Some(1), deadline)
                .await?;
            if listed.latest_delete_marker.is_some() {
                return Ok(LogHead::Deleted {
                    marker: listed.latest_delete_marker,
                });
            }
            if listed.ids.is_empty() {
                return Ok(LogHead::Empty);
            }
            // Written since the GET: read it again.
            if self.now() >= deadline {
                return Err(self.timed_out("reading the log head"));
            }
        }
    }

    /// One log entry by version id; `None` when there is no such version.
    async fn read_log_version(
        &self,
        version_id: &str,
        deadline: Duration,
    ) -> Result<Option<Entry>> {
        let obj = retry::idempotent(self, deadline, || {
            self.store.get(self.log_path(), Some(version_id))
        })
        .await?;
        obj.map(|o| {
            Entry::from_log_object(&o.body, version_id)
                .map_err(|e| self.corrupt_log(version_id, &e.0))
        })
        .transpose()
    }

    /// The error for a log hidden by a delete marker.
    fn log_deleted(&self, marker: Option<&str>) -> Error {
        let how = match marker {
            Some(id) => format!(
                "aws s3api delete-object --bucket {} --key {} --version-id {id}",
                self.bucket(),
                self.log_path()
            ),
            None => format!(
                "list the versions of {} and delete its newest delete marker",
                self.log_path()
            ),
        };
        Error {
            bucket: Some(self.bucket().to_string()),
            path: Some(self.log_path().to_string()),
            ..Error::new(
                ErrorCode::LogDeleted,
                format!(
                    "the log s3://{}/{} has entries, but its latest version is a delete marker (a \
                     plain DeleteObject, such as `aws s3 rm`), so it reads as empty. Refusing to \
                     start a new chain over it; nothing was written. Recover by deleting the \
                     marker: {how}",
                    self.bucket(),
                    self.log_path()
                ),
            )
        }
    }
}

/// The public API. Every call is refused once the client is closed, and
/// bounded by `operation_timeout`. Reads can be cancelled by dropping their
/// future (or with [`crate::env::abortable`]); `set` takes a [`Cancel`] so
/// that a cancelled append can say whether it may have committed.
impl<S: Store> Client<S> {
    /// Appends `key = value` to the log and writes the key object. `value` is
    /// JSON text; it is stored as canonical JSON. The set is queued when this
    /// is called (a client's sets commit in the order they were made); the
    /// future waits for the commit.
    pub fn set(
        &self,
        key: &str,
        value: &Json,
    ) -> impl std::future::Future<Output = Result<Entry>> + Send + 'static {
        self.inner.set(key, value, None)
    }

    /// [`Client::set`], ended early by `cancel`: the error then says whether
    /// the entry may have been committed (`may_have_committed`).
    pub fn set_with(
        &self,
        key: &str,
        value: &Json,
        cancel: Option<&Cancel>,
    ) -> impl std::future::Future<Output = Result<Entry>> + Send + 'static {
        self.inner.set(key, value, cancel)
    }

    /// The latest entry of `key`: one GET of its key object, whose hash and
    /// key are checked.
    pub async fn get(&self, key: &str) -> Result<Entry> {
        self.inner
            .call(("get", key), None, self.inner.get(key))
            .await
    }

    /// [`Client::get`], then proof that the entry is in the log (and, given a
    /// trusted digest, in the chain that extends it). See docs/PROTOCOL.md
    /// for its request cost.
    pub async fn get_verified(&self, key: &str, trusted: Option<&Digest>) -> Result<Entry> {
        self.inner
            .call(
                ("verified get", key),
                None,
                self.inner.get_verified(key, trusted),
            )
            .await
    }

    /// The entry `key` had at a point of the log (a sequence, or a time by
    /// the writers' clocks): `KEY_NOT_FOUND` if it had none yet. See
    /// docs/PROTOCOL.md for its request cost.
    pub async fn get_at(&self, key: &str, at: At) -> Result<Entry> {
        self.inner
            .call(("get", key), None, self.inner.get_at(key, at))
            .await
    }

    /// [`Client::get_at`], then proof that the entry is in the log (and,
    /// given a trusted digest, in the chain that extends it).
    pub async fn get_at_verified(
        &self,
        key: &str,
        at: At,
        trusted: Option<&Digest>,
    ) -> Result<Entry> {
        let inner = &self.inner;
        let read = async {
            let entry = inner.get_at(key, at).await?;
            inner.prove_logged(entry, key, trusted).await
        };
        inner.call(("verified get", key), None, read).await
    }

    /// Follows the log from `opts.start`: see [`Feed`]. Makes no request
    /// until the feed is started or polled.
    pub fn feed(&self, opts: FeedOptions) -> Result<Feed<S>> {
        Feed::new(self.inner.clone(), opts)
    }

    /// The entries these log versions hold (an S3 event names them), each
    /// once, in sequence order, each verified: intact and linked to the
    /// version below it.
    pub async fn verified_log_versions(&self, version_ids: &[String]) -> Result<Vec<Entry>> {
        self.inner
            .call(
                "entries of an event",
                None,
                self.inner.verified_log_versions(version_ids),
            )
            .await
    }

    /// One log entry by its S3 version id.
    pub async fn get_log_version(&self, version_id: &str) -> Result<Entry> {
        self.inner
            .call(
                "getLogVersion",
                None,
                self.inner.get_log_version(version_id),
            )
            .await
    }

    /// Entries of `key`, newest first, from before the cursor `before`; the
    /// second item is the cursor of the next page (`None` after the last).
    pub async fn history(
        &self,
        key: &str,
        before: Option<&str>,
        limit: Option<u32>,
    ) -> Result<(Vec<Entry>, Option<String>)> {
        self.inner
            .call(
                ("history", key),
                None,
                self.inner.history(key, before, limit),
            )
            .await
    }

    /// Log entries, newest first, from before the log version `before`.
    pub async fn log_entries(
        &self,
        before: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Vec<Entry>> {
        self.inner
            .call("logEntries", None, self.inner.log_entries(before, limit))
            .await
    }

    /// Keys starting with `prefix` (`""`: all), in S3 order, after `after`.
    pub async fn list_keys(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Vec<String>> {
        self.inner
            .call("listKeys", None, self.inner.list_keys(prefix, after, limit))
            .await
    }

    /// The current head, or `None` for an empty log.
    pub async fn digest(&self) -> Result<Option<Digest>> {
        self.inner.call("digest", None, self.inner.digest()).await
    }

    /// Verifies the newest `limit` entries (all when omitted) and, unless
    /// told not to, the key objects; every problem is located.
    pub async fn verify_log(&self, opts: &VerifyOptions) -> Result<Report> {
        self.verify_log_with_progress(opts, None).await
    }

    /// [`Client::verify_log`], reporting its progress as it goes.
    pub async fn verify_log_with_progress(
        &self,
        opts: &VerifyOptions,
        progress: Option<&(dyn Fn(Progress) + Send + Sync)>,
    ) -> Result<Report> {
        // Not bounded by operationTimeoutMs: its length grows with the log.
        // Each request keeps its own timeout and retries.
        self.inner
            .call_within(
                "verifyLog",
                None,
                None,
                self.inner.verify_log(opts, progress),
            )
            .await
    }
}
