//! Per-client counters a service can export: requests by operation, bytes,
//! and what the protocol did (retries, conflicts, repairs); and the requests
//! of one call, for its log line.
//!
//! A request is counted when it is sent, not when its answer arrives: a
//! request the client stopped waiting for (an append decided by reading the
//! log head, a call aborted or timed out) was sent all the same.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Live counters, shared by a client and its store.
#[derive(Debug, Default)]
pub struct Stats {
    get: AtomicU64,
    head: AtomicU64,
    put: AtomicU64,
    list_versions: AtomicU64,
    list_paths: AtomicU64,
    versioning: AtomicU64,
    bucket_config: AtomicU64,
    retention: AtomicU64,
    request_errors: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    retries: AtomicU64,
    conflicts: AtomicU64,
    repairs: AtomicU64,
    repairs_failed: AtomicU64,
    commits: AtomicU64,
    settled: AtomicU64,
    /// Requests of this client waiting for credentials now (a gauge the
    /// timeout errors read, not exported).
    credential_waits: AtomicU64,
}

/// A request kind, as counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    Get,
    Head,
    Put,
    ListVersions,
    ListPaths,
    Versioning,
    /// Another read of the bucket's configuration (lifecycle rules, Object
    /// Lock, default encryption).
    BucketConfig,
    /// GetObjectRetention of one version.
    Retention,
}

/// Something the protocol did, as counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A request retried after a transient failure.
    Retry,
    /// A log append lost to another writer (412).
    Conflict,
    /// A key object written for an entry whose own writer did not.
    Repair,
    /// A repair that failed; the log went on without it.
    RepairFailed,
    /// A `set` committed.
    Commit,
    /// An attempt whose answer was lost, settled by reading the log.
    Settled,
}

/// Counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub get: u64,
    pub head: u64,
    pub put: u64,
    pub list_versions: u64,
    pub list_paths: u64,
    pub versioning: u64,
    /// Other reads of the bucket's configuration (lifecycle rules, Object
    /// Lock, default encryption).
    pub bucket_config: u64,
    /// GetObjectRetention requests (`verifyLog`'s retention check, the
    /// doctor).
    pub retention: u64,
    /// Requests that failed (any reason, retried or not).
    pub request_errors: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub retries: u64,
    pub conflicts: u64,
    pub repairs: u64,
    pub repairs_failed: u64,
    pub commits: u64,
    pub settled: u64,
}

impl StatsSnapshot {
    /// Requests of every kind.
    pub fn requests(&self) -> u64 {
        self.get
            + self.head
            + self.put
            + self.list_versions
            + self.list_paths
            + self.versioning
            + self.bucket_config
            + self.retention
    }
}

impl Request {
    /// The S3 operation, as errors and logs name it.
    pub fn operation(self) -> &'static str {
        match self {
            Request::Get => "GetObject",
            Request::Head => "HeadObject",
            Request::Put => "PutObject",
            Request::ListVersions => "ListObjectVersions",
            Request::ListPaths => "ListObjectsV2",
            Request::Versioning => "GetBucketVersioning",
            // Also GetObjectLockConfiguration and GetBucketEncryption, which
            // the store's wrapper names itself.
            Request::BucketConfig => "GetBucketLifecycleConfiguration",
            Request::Retention => "GetObjectRetention",
        }
    }
}

/// The requests one call sent. The work of a call runs with its meter as a
/// task-local ([`CallMeter::measure`]); a request is counted into the meter
/// of the work that sends it, so concurrent calls never count each other's.
/// Work that runs in a task of its own (the append pipeline of a `set`, a
/// HEAD fetched ahead for a queued key) is measured with the meter of the
/// call it does the work for.
#[derive(Debug, Default)]
pub struct CallMeter {
    requests: AtomicU64,
}

tokio::task_local! {
    static CURRENT: Arc<CallMeter>;
    /// The client a request being made belongs to, and when it was sent
    /// (see [`Stats::requesting`]).
    static REQUESTING: (Arc<Stats>, Instant);
}

impl CallMeter {
    /// Runs `fut` with the requests it sends counted here.
    pub fn measure<F: Future>(self: &Arc<Self>, fut: F) -> impl Future<Output = F::Output> {
        CURRENT.scope(self.clone(), fut)
    }

    /// Requests sent so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Counts a request sent now into the meter of the work sending it, if
    /// that work belongs to a call.
    fn sent() {
        let _ = CURRENT.try_with(|m| m.requests.fetch_add(1, Ordering::Relaxed));
    }
}

/// Marks a request as waiting for credentials while it lives.
pub struct CredentialsWait {
    stats: Arc<Stats>,
    sent: Instant,
}

impl CredentialsWait {
    /// When the waiting request was sent: its requestTimeoutMs runs from
    /// then, its wait for credentials included.
    pub fn sent(&self) -> Instant {
        self.sent
    }
}

impl Drop for CredentialsWait {
    fn drop(&mut self) {
        self.stats.credential_waits.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Stats {
    /// Runs a request's future, sent now: what the storage layer reports
    /// from inside it ([`Stats::waiting_for_credentials`]) goes to this
    /// client.
    pub fn requesting<F: Future>(self: &Arc<Self>, fut: F) -> impl Future<Output = F::Output> {
        REQUESTING.scope((self.clone(), Instant::now()), fut)
    }

    /// Called by a credentials provider when a request starts waiting for
    /// credentials: until the guard is dropped, the client's timeouts say
    /// what they were waiting for. (While one request loads credentials,
    /// the client's others wait for the same load.)
    pub fn waiting_for_credentials() -> Option<CredentialsWait> {
        REQUESTING
            .try_with(|(stats, sent)| {
                stats.credential_waits.fetch_add(1, Ordering::SeqCst);
                CredentialsWait {
                    stats: stats.clone(),
                    sent: *sent,
                }
            })
            .ok()
    }

    /// Whether a request of this client is waiting for credentials now.
    pub fn is_waiting_for_credentials(&self) -> bool {
        self.credential_waits.load(Ordering::SeqCst) > 0
    }

    /// A request sent (answered or not: see the module comment).
    pub fn request(&self, r: Request) {
        CallMeter::sent();
        let c = match r {
            Request::Get => &self.get,
            Request::Head => &self.head,
            Request::Put => &self.put,
            Request::ListVersions => &self.list_versions,
            Request::ListPaths => &self.list_paths,
            Request::Versioning => &self.versioning,
            Request::BucketConfig => &self.bucket_config,
            Request::Retention => &self.retention,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn request_failed(&self) {
        self.request_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn sent(&self, bytes: usize) {
        self.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub fn received(&self, bytes: usize) {
        self.bytes_received
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub fn event(&self, e: Event) {
        let c = match e {
            Event::Retry => &self.retries,
            Event::Conflict => &self.conflicts,
            Event::Repair => &self.repairs,
            Event::RepairFailed => &self.repairs_failed,
            Event::Commit => &self.commits,
            Event::Settled => &self.settled,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            get: l(&self.get),
            head: l(&self.head),
            put: l(&self.put),
            list_versions: l(&self.list_versions),
            list_paths: l(&self.list_paths),
            versioning: l(&self.versioning),
            bucket_config: l(&self.bucket_config),
            retention: l(&self.retention),
            request_errors: l(&self.request_errors),
            bytes_sent: l(&self.bytes_sent),
            bytes_received: l(&self.bytes_received),
            retries: l(&self.retries),
            conflicts: l(&self.conflicts),
            repairs: l(&self.repairs),
            repairs_failed: l(&self.repairs_failed),
            commits: l(&self.commits),
            settled: l(&self.settled),
        }
    }
}
