//! `set`: the two-phase append of docs/PROTOCOL.md, run by one ordered
//! pipeline per client. This file holds the queue and the task that works
//! through it; `append.rs` one set's tries at the log; `chain.rs` what a
//! writer knows between its appends and the key-object write after each.
//!
//! **One pipeline per client.** Every `set` of a client joins a queue that
//! one task works through in order, so a service's concurrent sets never
//! race each other for the log: each commit is one conditional log PUT and
//! one key-object PUT (plus a HEAD for a key not seen before, fetched ahead
//! of time while earlier entries commit).
//!
//! **The crash invariant, kept: only the head can be an orphan.** The
//! pipeline sends an entry's log PUT only after the previous entry's key
//! object PUT has answered (or a HEAD shows the object has moved past the
//! ETag the entry recorded: repair.rs `unless_moved_on`), so whenever the
//! process dies, every entry but the head has its key object, and the next
//! writer repairs the head. (A key object whose write fails is kept in
//! memory and served by this client's reads, read-your-writes, and repaired
//! before the next append.)
//!
//! **Exactly once.** The SDK does not retry (storage/s3); we do, and we
//! remember every attempt whose log PUT may have been applied although it
//! failed (lost answer, timeout, 5xx). Before building another entry, such
//! attempts are settled by reading the log (settle.rs): if one holds our
//! hash, it committed and `set` returns it instead of appending a duplicate.

use super::Inner;
use crate::env::{BoxFuture, Cancel};
use crate::error::{Error, ErrorCode, Result};
use crate::format::{Dialect, Entry, Json, MAX_VALUE_DEPTH};
use crate::storage::Store;
use futures_util::future::{select, Either, FutureExt, Shared};
use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// Queued HEADs look this far ahead.
const PREFETCH: usize = 32;

type EtagFuture = Shared<BoxFuture<std::result::Result<Option<String>, Error>>>;

/// The appends waiting for the pipeline.
#[derive(Default)]
pub(super) struct Queue {
    jobs: VecDeque<Arc<Job>>,
    running: bool,
    /// Key of the job being committed.
    current: Option<String>,
    /// HEADs of queued keys, started while chain `epoch` stood.
    pub(super) prefetched: HashMap<String, (u64, EtagFuture)>,
    /// When a set of this client last committed: queued sets wait as long
    /// as the pipeline moves (see [`Inner::wait_for`]).
    last_commit: Duration,
}

/// One `set` waiting for, or in, the pipeline.
pub(super) struct Job {
    pub(super) key: String,
    /// The value checked and made canonical, off the caller's thread and
    /// before any request for it. A value `set` refuses rejects its call at
    /// once, without waiting for its turn.
    pub(super) value: Shared<BoxFuture<Result<Json>>>,
    /// When it was queued.
    pub(super) queued_at: Duration,
    /// Its operation budget's end, set when its turn comes: time spent in
    /// this client's own queue is not spent on S3.
    pub(super) deadline: std::sync::OnceLock<Duration>,
    /// Fired when its turn comes.
    pub(super) turn: tokio::sync::Notify,
    /// The caller gave up (cancelled or timed out): do not start an attempt.
    pub(super) cancelled: AtomicBool,
    /// A log PUT for it may have been applied and is not settled.
    pub(super) in_doubt: AtomicBool,
    /// Its entry, once in the log: a caller that gives up after this point
    /// (during the key-object write) gets the entry, not an error.
    pub(super) committed: Mutex<Option<Entry>>,
    pub(super) reply: Mutex<Option<oneshot::Sender<Result<Entry>>>>,
    /// Counts the requests sent for it, by the pipeline too (calls.rs).
    pub(super) meter: Arc<crate::stats::CallMeter>,
}

impl Job {
    /// Its turn has come: its operation budget starts now.
    pub(super) fn begin(&self, deadline: Duration) -> Duration {
        let d = *self.deadline.get_or_init(|| deadline);
        self.turn.notify_one();
        d
    }

    pub(super) fn deadline(&self) -> Duration {
        self.deadline.get().copied().unwrap_or(Duration::MAX)
    }

    /// Records the committed entry; called before `in_doubt` is cleared.
    pub(super) fn committed(&self, entry: &Entry) {
        *self.committed.lock().unwrap_or_else(|e| e.into_inner()) = Some(entry.clone());
    }

    pub(super) fn committed_entry(&self) -> Option<Entry> {
        self.committed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(super) fn finish(&self, out: Result<Entry>) {
        if let Some(tx) = self.reply.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = tx.send(out);
        }
    }
}

/// Why a caller stopped waiting for its set.
enum Stop {
    Aborted,
    /// Its operation budget, counted from its turn, ran out.
    TimedOut,
    /// Still queued, behind a pipeline that committed nothing for the
    /// operation budget.
    QueuedTooLong,
}

impl<S: Store> Inner<S> {
    /// Appends `key = value` to the log and writes the key object. `value`
    /// is JSON text; it is stored in canonical form.
    /// Queues `key = value` at once, in call order, and returns the future
    /// that waits for its commit. The value is checked (and made canonical)
    /// by the pipeline, before any request for it.
    pub(super) fn set(
        self: &Arc<Self>,
        key: &str,
        value: &Json,
        cancel: Option<&Cancel>,
    ) -> impl std::future::Future<Output = Result<Entry>> + Send + 'static {
        let (started, queued) = (self.now(), self.enqueue_set(key, value));
        let me = self.clone();
        let cancel = cancel.cloned();
        let key = key.to_string();
        async move {
            let (job, rx, _guard) = queued?;
            let out = me.wait_for(&job, rx, cancel.as_ref(), &key).await;
            me.log_call(("set", key.as_str()).into(), &out, &job.meter, started);
            out
        }
    }

    #[allow(clippy::type_complexity)]
    pub(super) fn enqueue_set(
        self: &Arc<Self>,
        key: &str,
        value: &Json,
    ) -> Result<(
        Arc<Job>,
        oneshot::Receiver<Result<Entry>>,
        super::calls::OwnedCallGuard<S>,
    )> {
        let guard = self.enter_owned()?;
        self.check_key(key)?;
        if self.opts.read_only {
            return Err(Error::new(
                ErrorCode::ReadOnly,
                "the client is read-only (readOnly: true); set is not allowed",
            ));
        }
        let (tx, rx) = oneshot::channel();
        let (raw, max_bytes) = (value.clone(), self.opts.max_value_bytes);
        let checked: BoxFuture<Result<Json>> = Box::pin(async move {
            check_value(&raw, max_bytes).map_err(|e| e.with_commit_state(false))
        });
        let job = Arc::new(Job {
            key: key.to_string(),
            value: checked.shared(),
            queued_at: self.now(),
            deadline: std::sync::OnceLock::new(),
            turn: tokio::sync::Notify::new(),
            cancelled: AtomicBool::new(false),
            in_doubt: AtomicBool::new(false),
            committed: Mutex::new(None),
            reply: Mutex::new(Some(tx)),
            meter: Default::default(),
        });
        let check = job.clone();
        self.env.spawn(Box::pin(async move {
            if let Err(e) = check.value.clone().await {
                check.cancelled.store(true, Ordering::SeqCst);
                check.finish(Err(e));
            }
        }));
        self.enqueue(job.clone());
        Ok((job, rx, guard))
    }

    /// Waits for a queued set's outcome, or until its caller gives up: the
    /// signal, or the operation budget, which starts when the set's turn
    /// comes. Time in this client's own queue is not an S3 failure, so a
    /// bulk load of many overlapped sets commits them all; but a queued set
    /// does not wait for ever behind a pipeline that is stuck: it gives up
    /// (not sent) once no set of this client has committed for
    /// `operation_timeout` while it waited.
    pub(super) async fn wait_for(
        &self,
        job: &Job,
        rx: oneshot::Receiver<Result<Entry>>,
        cancel: Option<&Cancel>,
        key: &str,
    ) -> Result<Entry> {
        let limit = async {
            loop {
                if let Some(&deadline) = job.deadline.get() {
                    self.env.sleep(deadline.saturating_sub(self.now())).await;
                    return Stop::TimedOut;
                }
                let idle_until =
                    self.queue().last_commit.max(job.queued_at) + self.opts.operation_timeout;
                let now = self.now();
                if now >= idle_until {
                    return Stop::QueuedTooLong;
                }
                select(
                    std::pin::pin!(job.turn.notified()),
                    self.env.sleep(idle_until - now),
                )
                .await;
            }
        };
        let stop = async {
            match cancel {
                Some(c) => match select(std::pin::pin!(limit), Box::pin(c.cancelled())).await {
                    Either::Left((why, _)) => why,
                    Either::Right(_) => Stop::Aborted,
                },
                None => limit.await,
            }
        };
        match select(rx, Box::pin(stop)).await {
            Either::Left((Ok(out), _)) => out,
            Either::Left((Err(_), _)) => Err(Error::internal("the append pipeline stopped")),
            Either::Right((why, rx)) => {
                // Either the pipeline sees `cancelled` before it sends, or we
                // see `in_doubt`: both are SeqCst, so one of them wins. The
                // pipeline records a commit before it clears `in_doubt`, so
                // a cleared `in_doubt` after a commit shows the entry here.
                job.cancelled.store(true, Ordering::SeqCst);
                let in_doubt = job.in_doubt.load(Ordering::SeqCst);
                if let Some(entry) = job.committed_entry() {
                    return Ok(entry); // too late to abort: it is in the log
                }
                let e = match why {
                    Stop::Aborted => Error::aborted(),
                    // Not sent (unless its turn came as it gave up: then
                    // its append may be out, and it is a timeout).
                    Stop::QueuedTooLong if !in_doubt => Error::new(
                        ErrorCode::Storage,
                        format!(
                            "set of {key:?} waited in this client's queue while no set of the \
                             client committed for operationTimeoutMs ({} ms); it was not sent",
                            self.opts.operation_timeout.as_millis()
                        ),
                    ),
                    Stop::TimedOut | Stop::QueuedTooLong => {
                        self.timed_out(&format!("set of {key:?}"))
                    }
                };
                if !in_doubt {
                    return Err(e.with_commit_state(false));
                }
                // The outcome may already be there.
                match rx.now_or_never() {
                    Some(Ok(Ok(entry))) => Ok(entry),
                    _ => Err(e.with_commit_state(true)),
                }
            }
        }
    }

    pub(super) fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn enqueue(self: &Arc<Self>, job: Arc<Job>) {
        let start = {
            let mut q = self.queue();
            q.jobs.push_back(job);
            !std::mem::replace(&mut q.running, true)
        };
        if start {
            // Counted in flight from now, not from its first poll: close()
            // waits for queued jobs even if every caller dropped its future.
            let guard = super::calls::OwnedCallGuard::internal(self.clone());
            let me = self.clone();
            self.env.spawn(Box::pin(async move {
                let _guard = guard;
                me.drive().await
            }));
        }
    }

    /// The pipeline: commits queued jobs one after another.
    pub(super) async fn drive(self: Arc<Self>) {
        loop {
            let job = {
                let mut q = self.queue();
                match q.jobs.pop_front() {
                    Some(job) => {
                        q.current = Some(job.key.clone());
                        job
                    }
                    None => {
                        q.running = false;
                        q.current = None;
                        return;
                    }
                }
            };
            if job.cancelled.load(Ordering::SeqCst) {
                continue;
            }
            self.prefetch();
            let deadline = job.begin(self.deadline());
            let out = AssertUnwindSafe(job.meter.measure(self.commit(&job, deadline)))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err(Error::internal("the append pipeline panicked")));
            if out.is_ok() {
                self.queue().last_commit = self.now();
            }
            job.finish(out);
        }
    }

    /// Starts HEADs for queued keys whose key-object ETag the chain will
    /// need and does not know.
    pub(super) fn prefetch(self: &Arc<Self>) {
        // Keys this client has an own orphan of are left out: the orphan's
        // repair (ours or a reader's) may change the key object after the
        // HEAD. So are keys whose key object a pipelined client is still
        // writing in the background (window.rs): that write changes it.
        let (epoch, known) = {
            let st = self.state();
            match (&st.chain, st.fast_path_off) {
                (Some(c), false) => (
                    c.epoch,
                    c.key_etags
                        .keys()
                        .chain(st.own_orphans.keys())
                        .chain(st.in_flight.values())
                        .cloned()
                        .collect::<Vec<_>>(),
                ),
                _ => return,
            }
        };
        let mut q = self.queue();
        q.prefetched.retain(|_, (e, _)| *e == epoch);
        // A key written by an earlier job in the queue gets its ETag from
        // that job's key-object PUT, not from a HEAD.
        let mut earlier: Vec<String> = q.current.iter().cloned().collect();
        let mut start = Vec::new();
        for job in q.jobs.iter().take(PREFETCH) {
            let k = &job.key;
            // Only for a value already accepted: a refused set sends nothing.
            let accepted = matches!(job.value.peek(), Some(Ok(_)));
            if accepted
                && !earlier.contains(k)
                && !known.contains(k)
                && !q.prefetched.contains_key(k)
            {
                start.push((k.clone(), job.meter.clone()));
            }
            earlier.push(k.clone());
        }
        for (key, meter) in start {
            let me = self.clone();
            let k = key.clone();
            let head: BoxFuture<std::result::Result<Option<String>, Error>> =
                Box::pin(meter.measure(async move { me.key_etag(&k, me.deadline()).await }));
            let shared = head.shared();
            let driver = shared.clone();
            self.env.spawn(Box::pin(async move {
                let _ = driver.await;
            }));
            q.prefetched.insert(key, (epoch, shared));
        }
    }

    /// Resolves once the job's caller has given up (aborted or timed out).
    pub(super) async fn given_up(&self, job: &Job) {
        while !job.cancelled.load(Ordering::SeqCst) {
            self.env.sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sleeps, but no longer than the caller waits: a set aborted while it
    /// waits does not hold the pipeline (the sets queued behind it) for the
    /// rest of the wait.
    pub(super) async fn yield_for(&self, job: &Job, delay: Duration) {
        select(
            std::pin::pin!(self.env.sleep(delay)),
            std::pin::pin!(self.given_up(job)),
        )
        .await;
    }
}

/// The canonical text of a value, if `set` accepts it.
fn check_value(value: &Json, max_value_bytes: usize) -> Result<Json> {
    let (canonical, depth) = Json::canonical_from(value.as_str(), Dialect::Js).map_err(|e| {
        Error::new(
            ErrorCode::InvalidValue,
            format!("value cannot be stored: {e}"),
        )
    })?;
    if depth > MAX_VALUE_DEPTH {
        return Err(Error::new(
            ErrorCode::InvalidValue,
            format!(
                "value is nested {depth} levels deep; at most {MAX_VALUE_DEPTH} are accepted, so \
                 that every client (the earlier Python client's json module stops near 1000) can read it"
            ),
        ));
    }
    let len = canonical.as_str().len();
    if len > max_value_bytes {
        return Err(Error::new(
            ErrorCode::InvalidValue,
            format!(
                "value is {len} bytes as canonical JSON; the limit (maxValueBytes) is {}",
                max_value_bytes
            ),
        ));
    }
    Ok(canonical)
}
