//! The client: runs the write, repair and read protocol of PROTOCOL.md over
//! a [`Store`].
//!
//! - `write.rs`: `set` (two-phase append, pre-flight repair, exactly-once
//!   under lost answers, the cached-head fast path)
//! - `read.rs`: `get`, `history`, `log_entries`, `list_keys`, reader repair
//! - `audit.rs`: `verify_log` and `digest` (reads, then `crate::verify`)
//! - `retry.rs`: the retry policy; `validate.rs`: the input rules

mod audit;
mod read;
pub mod retry;
pub mod validate;
mod write;

use crate::error::{Error, ErrorCode, Result};
use crate::format::Entry;
use crate::storage::s3::{S3Settings, S3Store};
use crate::storage::Store;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use audit::{VerifyOptions, DEFAULT_KEY_CHECKS};
pub use validate::duration_ms;

/// Protocol settings (the S3 connection is configured in [`S3Settings`]).
#[derive(Clone, Debug)]
pub struct Options {
    /// Prepended verbatim to every object path (`""` allowed).
    pub prefix: String,
    /// Readers look for and repair an orphan head at most this often.
    pub repair_check_interval: Duration,
    /// Never write anything, not even a repair.
    pub read_only: bool,
    /// Time budget of one call, retries included (a contended `set` retries
    /// until it runs out).
    pub operation_timeout: Duration,
    /// Object reads in flight at once in `history`, `log_entries`, `verify_log`.
    pub read_concurrency: usize,
    /// Objects per list request (S3 caps it at 1000).
    pub list_page_size: u32,
    /// Largest value accepted by `set`, as canonical JSON bytes.
    pub max_value_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            prefix: String::new(),
            repair_check_interval: Duration::from_millis(300_000),
            read_only: false,
            operation_timeout: Duration::from_secs(30),
            read_concurrency: 32,
            list_page_size: 1000,
            max_value_bytes: 4 * 1024 * 1024,
        }
    }
}

/// The latest log version as read: its ETag (for the conditional append)
/// and its entry.
#[derive(Clone, Debug)]
struct Head {
    etag: String,
    entry: Arc<Entry>,
}

/// What this client learnt from its own last append; see write.rs.
struct HeadCache {
    head: Head,
    /// Our phase 2 wrote the head's key object, so the head is no orphan.
    clean: bool,
    /// Key-object ETags known to be current while `head` is the log head.
    key_etags: HashMap<String, String>,
}

#[derive(Default)]
struct State {
    cache: Option<HeadCache>,
    /// ETag of the last log version this client wrote; seeing it again as
    /// the head re-enables the fast path.
    last_own_head: Option<String>,
    fast_path_off: bool,
    last_repair_check: Option<Instant>,
    /// A repair write was refused with 403: act as a read-only client.
    repairs_refused: bool,
    /// The orphan head, when this client may not repair it: served by reads.
    orphan: Option<Arc<Entry>>,
    versioning_checked: bool,
}

/// An ImmuKV client over a store. Cheap to fork (shares the store).
pub struct Client<S: Store> {
    store: Arc<S>,
    opts: Arc<Options>,
    log_path: Arc<str>,
    state: Mutex<State>,
    closed: AtomicBool,
}

impl Client<S3Store> {
    /// A client on S3. Validates the configuration; makes no request.
    pub fn connect(s3: S3Settings, opts: Options) -> Result<Self> {
        validate::s3_settings(&s3)?;
        Client::new(Arc::new(S3Store::new(s3)), opts)
    }
}

impl<S: Store> Client<S> {
    pub fn new(store: Arc<S>, opts: Options) -> Result<Self> {
        validate::options(&opts)?;
        Ok(Client {
            log_path: format!("{}_log.json", opts.prefix).into(),
            store,
            opts: Arc::new(opts),
            state: Mutex::new(State::default()),
            closed: AtomicBool::new(false),
        })
    }

    /// Another client on the same store and connection pool, with its own
    /// repair and cache state.
    pub fn fork(&self) -> Self {
        Client {
            store: self.store.clone(),
            opts: self.opts.clone(),
            log_path: self.log_path.clone(),
            state: Mutex::new(State::default()),
            closed: AtomicBool::new(false),
        }
    }

    /// Refuses further calls; calls in flight finish.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(Error::new(ErrorCode::Closed, "the client is closed"));
        }
        Ok(())
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("client state lock")
    }

    fn key_path(&self, key: &str) -> String {
        format!("{}keys/{key}.json", self.opts.prefix)
    }

    fn keys_prefix(&self) -> String {
        format!("{}keys/", self.opts.prefix)
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.opts.operation_timeout
    }

    fn check_key(&self, key: &str) -> Result<()> {
        validate::key(key, self.key_path(key).len())
    }

    /// The latest log version, or `None` for an empty log.
    async fn read_head(&self, deadline: Instant) -> Result<Option<Head>> {
        let Some(obj) =
            retry::idempotent(deadline, || self.store.get(&self.log_path, None)).await?
        else {
            return Ok(None);
        };
        let version = obj.version_id.as_deref().unwrap_or("null");
        let entry = Entry::from_log_object(&obj.body, version).map_err(|e| {
            Error::corrupt(self.store.bucket(), &self.log_path, Some(version), &e.0)
        })?;
        Ok(Some(Head {
            etag: obj.etag.unwrap_or_default(),
            entry: Arc::new(entry),
        }))
    }

    /// One log entry by version id.
    async fn read_log_version(&self, version_id: &str, deadline: Instant) -> Result<Option<Entry>> {
        let obj = retry::idempotent(deadline, || {
            self.store.get(&self.log_path, Some(version_id))
        })
        .await?;
        obj.map(|o| {
            Entry::from_log_object(&o.body, version_id).map_err(|e| {
                Error::corrupt(self.store.bucket(), &self.log_path, Some(version_id), &e.0)
            })
        })
        .transpose()
    }
}
