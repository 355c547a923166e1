//! `set`: the two-phase append of docs/PROTOCOL.md, run by one ordered
//! pipeline per client.
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

use super::retry::{self, Look};
use super::{settle::Attempt, Chain, Head, Inner, LogHead};
use crate::env::{BoxFuture, Cancel};
use crate::error::{Error, ErrorCode, Result};
use crate::format::{Dialect, Entry, Json, MAX_VALUE_DEPTH};
use crate::stats::Event;
use crate::storage::{Precondition, PutOutcome, Store};
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
    prefetched: HashMap<String, (u64, EtagFuture)>,
    /// When a set of this client last committed: queued sets wait as long
    /// as the pipeline moves (see [`Inner::wait_for`]).
    last_commit: Duration,
}

/// One `set` waiting for, or in, the pipeline.
struct Job {
    key: String,
    /// The value checked and made canonical, off the caller's thread and
    /// before any request for it. A value `set` refuses rejects its call at
    /// once, without waiting for its turn.
    value: Shared<BoxFuture<Result<Json>>>,
    /// When it was queued.
    queued_at: Duration,
    /// Its operation budget's end, set when its turn comes: time spent in
    /// this client's own queue is not spent on S3.
    deadline: std::sync::OnceLock<Duration>,
    /// Fired when its turn comes.
    turn: tokio::sync::Notify,
    /// The caller gave up (cancelled or timed out): do not start an attempt.
    cancelled: AtomicBool,
    /// A log PUT for it may have been applied and is not settled.
    in_doubt: AtomicBool,
    /// Its entry, once in the log: a caller that gives up after this point
    /// (during the key-object write) gets the entry, not an error.
    committed: Mutex<Option<Entry>>,
    reply: Mutex<Option<oneshot::Sender<Result<Entry>>>>,
}

impl Job {
    /// Its turn has come: its operation budget starts now.
    fn begin(&self, deadline: Duration) -> Duration {
        let d = *self.deadline.get_or_init(|| deadline);
        self.turn.notify_one();
        d
    }

    fn deadline(&self) -> Duration {
        self.deadline.get().copied().unwrap_or(Duration::MAX)
    }

    /// Records the committed entry; called before `in_doubt` is cleared.
    fn committed(&self, entry: &Entry) {
        *self.committed.lock().unwrap_or_else(|e| e.into_inner()) = Some(entry.clone());
    }

    fn committed_entry(&self) -> Option<Entry> {
        self.committed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn finish(&self, out: Result<Entry>) {
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

/// How a log append ended.
enum Appended {
    /// The store answered (or the slot after the base showed the answer).
    Answered(PutOutcome),
    /// Unanswered while the log moved on past the slot: settled later.
    Overtaken,
}

enum Outcome {
    Committed(Entry),
    /// Another writer appended first.
    Lost,
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
        let queued = self.enqueue_set(key, value);
        let me = self.clone();
        let cancel = cancel.cloned();
        let key = key.to_string();
        async move {
            let (job, rx, _guard) = queued?;
            me.wait_for(&job, rx, cancel.as_ref(), &key).await
        }
    }

    #[allow(clippy::type_complexity)]
    fn enqueue_set(
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
    async fn wait_for(
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
                    Stop::TimedOut => self.timed_out(&format!("set of {key:?}")),
                    Stop::QueuedTooLong => Error::new(
                        ErrorCode::Storage,
                        format!(
                            "set of {key:?} waited in this client's queue while no set of the \
                             client committed for operationTimeoutMs ({} ms); it was not sent",
                            self.opts.operation_timeout.as_millis()
                        ),
                    ),
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

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn enqueue(self: &Arc<Self>, job: Arc<Job>) {
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
    async fn drive(self: Arc<Self>) {
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
            let out = AssertUnwindSafe(self.commit(&job, deadline))
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
    fn prefetch(self: &Arc<Self>) {
        // Keys this client has an own orphan of are left out: the orphan's
        // repair (ours or a reader's) may change the key object after the HEAD.
        let (epoch, known) = {
            let st = self.state();
            match (&st.chain, st.fast_path_off) {
                (Some(c), false) => (
                    c.epoch,
                    c.key_etags
                        .keys()
                        .chain(st.own_orphans.keys())
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
                start.push(k.clone());
            }
            earlier.push(k.clone());
        }
        for key in start {
            let me = self.clone();
            let k = key.clone();
            let head: BoxFuture<std::result::Result<Option<String>, Error>> =
                Box::pin(async move { me.key_etag(&k, me.deadline()).await });
            let shared = head.shared();
            let driver = shared.clone();
            self.env.spawn(Box::pin(async move {
                let _ = driver.await;
            }));
            q.prefetched.insert(key, (epoch, shared));
        }
    }

    async fn commit(&self, job: &Job, deadline: Duration) -> Result<Entry> {
        let value = job.value.clone().await?;
        let mut pending: Vec<Attempt> = Vec::new();
        let mut lost = 0u32;
        let mut transient = 0u32;
        let started = deadline.saturating_sub(self.opts.operation_timeout);
        // Other clients are contending: yield like a newcomer before the
        // first try, instead of racing ahead of writers that waited longer.
        // No race lost for long: contention is over, forget its size.
        let contended = {
            let rtt = self.append_rtt();
            let mut st = self.state();
            let now = self.env.monotonic();
            if now >= st.contended_until + retry::round(rtt) * retry::FORGET_CONTENTION_ROUNDS {
                st.lost_per_commit = None;
            }
            now < st.contended_until
        };
        if contended {
            self.yield_for(job, self.race_delay(started, deadline))
                .await;
        }
        loop {
            if job.cancelled.load(Ordering::SeqCst) && pending.is_empty() {
                return Err(Error::aborted().with_commit_state(false));
            }
            let failure = match self.attempt(job, &value, &mut pending).await {
                Ok(Outcome::Committed(entry)) => {
                    self.stats.event(Event::Commit);
                    let mut st = self.state();
                    st.lost_per_commit = retry::smooth_lost(st.lost_per_commit, lost);
                    return Ok(entry);
                }
                Ok(Outcome::Lost) => {
                    lost += 1;
                    self.stats.event(Event::Conflict);
                    let rounds = retry::round(self.append_rtt()) * retry::CONTENDED_ROUNDS;
                    self.state().contended_until = self.env.monotonic() + rounds;
                    None
                }
                Err(e) if e.transient && transient + 1 < retry::TRANSIENT_ATTEMPTS => {
                    transient += 1;
                    self.stats.event(Event::Retry);
                    Some(e)
                }
                Err(e) => return self.give_up(e, job, &mut pending).await,
            };
            let delay = match &failure {
                None => self.race_delay(started, deadline),
                Some(_) => retry::backoff(self.env.as_ref(), transient),
            };
            if self.now() + delay >= deadline || job.cancelled.load(Ordering::SeqCst) {
                let e = failure.unwrap_or_else(|| {
                    Error::new(
                        ErrorCode::WriteConflict,
                        format!(
                            "set of {:?}: other writers kept winning the append to s3://{}/{} for {} ms ({lost} lost races)",
                            job.key,
                            self.bucket(),
                            self.log_path(),
                            self.opts.operation_timeout.as_millis()
                        ),
                    )
                });
                return self.give_up(e, job, &mut pending).await;
            }
            tracing::debug!(target: "immukv::write", key = %job.key, lost, transient, delay_ms = delay.as_millis() as u64, "append retried");
            self.yield_for(job, delay).await;
        }
    }

    /// When a job gives up: one last look at the log settles whether an
    /// ambiguous attempt committed after all (then it is the answer).
    async fn give_up(&self, e: Error, job: &Job, pending: &mut Vec<Attempt>) -> Result<Entry> {
        if pending.is_empty() {
            return Err(e.with_commit_state(false));
        }
        let extra = self.now() + self.opts.operation_timeout.min(Duration::from_secs(5));
        // Bounded as a whole: a request in flight is otherwise bounded only
        // by requestTimeoutMs, and the queued sets wait for this one.
        let settled = match select(
            std::pin::pin!(self.settle(pending, extra)),
            std::pin::pin!(self.env.sleep(extra.saturating_sub(self.now()))),
        )
        .await
        {
            Either::Left((out, _)) => out.ok().flatten(),
            Either::Right(_) => None,
        };
        if let Some(done) = settled {
            self.committed(job, &done);
            self.stats.event(Event::Commit);
            self.after_append(&done, None, extra).await;
            return Ok(done);
        }
        job.in_doubt.store(!pending.is_empty(), Ordering::SeqCst);
        Err(e.with_commit_state(!pending.is_empty()))
    }

    async fn attempt(
        &self,
        job: &Job,
        value: &Json,
        pending: &mut Vec<Attempt>,
    ) -> Result<Outcome> {
        let deadline = job.deadline();
        let chain = if pending.is_empty() {
            self.chain_head()
        } else {
            None
        };
        let via_chain = chain.is_some();
        let (base, key_etag) = match chain {
            Some(head) => {
                let etag = self.chained_etag(&head, &job.key, deadline).await?;
                (Some(head), etag)
            }
            None => match self.read_head(deadline).await? {
                LogHead::Deleted { marker } => return Err(self.log_deleted(marker.as_deref())),
                LogHead::Empty => {
                    // (An ambiguous earlier attempt at the first entry has not
                    // landed; if it lands later, this one's If-None-Match fails.)
                    // Key objects may exist under an empty log (a prefix used
                    // before): the key's ETag is read, not assumed absent.
                    let (versioning, etag) = tokio::join!(
                        self.ensure_versioning(deadline),
                        self.key_etag(&job.key, deadline)
                    );
                    versioning?;
                    (None, etag?)
                }
                LogHead::Head(h) => {
                    self.note_head(&h);
                    if !pending.is_empty() {
                        if let Some(done) = self.settle(pending, deadline).await? {
                            self.committed(job, &done);
                            job.in_doubt.store(false, Ordering::SeqCst);
                            self.after_append(&done, None, deadline).await;
                            return Ok(Outcome::Committed(done));
                        }
                    }
                    self.check_writable(&h)?;
                    let etag = self.prepare_after(&h, &job.key, deadline).await?;
                    (Some(h), etag)
                }
            },
        };

        let mut entry = Entry::next(
            base.as_ref().map(|h| h.entry.link()),
            job.key.clone(),
            value.clone(),
            self.env.wall_ms(),
            key_etag,
        )
        .map_err(|e| Error::new(ErrorCode::InvalidValue, e.0))?;
        let body = entry
            .log_object(Dialect::Js)
            .map_err(|e| Error::new(ErrorCode::InvalidValue, e.0))?;
        let condition = Precondition::expecting(base.as_ref().map(|h| h.etag.as_str()));
        job.in_doubt.store(true, Ordering::SeqCst);
        if job.cancelled.load(Ordering::SeqCst) {
            job.in_doubt.store(!pending.is_empty(), Ordering::SeqCst);
            return Err(Error::aborted());
        }
        let sent = self.now();
        let append = self.append(
            body.into_bytes(),
            condition,
            base.as_ref(),
            &entry,
            deadline,
        );
        let put = match select(std::pin::pin!(append), std::pin::pin!(self.given_up(job))).await {
            Either::Left((out, _)) => out,
            // The caller gave up while the PUT went unanswered (a server
            // holding it, a lost connection): stop waiting, as after a
            // timeout, so the sets queued behind do not wait out
            // requestTimeoutMs. The attempt is settled before the job ends;
            // if it lands later, the next append's condition fails and that
            // writer repairs it like any orphan head.
            Either::Right(_) => Err(crate::storage::StoreError {
                kind: crate::storage::StoreErrorKind::Transient,
                operation: "PutObject",
                bucket: self.bucket().to_string(),
                path: self.log_path().to_string(),
                status: None,
                detail: "the call was given up while the append was unanswered".into(),
                cause: None,
                maybe_applied: true,
            }),
        };
        match put {
            Ok(Appended::Answered(PutOutcome::Written(meta))) => {
                self.note_append_rtt(self.now().saturating_sub(sent));
                let Some(version) = meta.version_id.filter(|v| v != "null") else {
                    // Written, as an unversioned object: it is in the bucket.
                    return Err(self.versioning_disabled().with_commit_state(true));
                };
                entry.version_id = version;
                self.committed(job, &entry);
                job.in_doubt.store(false, Ordering::SeqCst);
                self.after_append(&entry, Some(meta.etag), deadline).await;
                Ok(Outcome::Committed(entry))
            }
            Ok(Appended::Answered(PutOutcome::PreconditionFailed)) => {
                job.in_doubt.store(!pending.is_empty(), Ordering::SeqCst);
                self.end_chain(via_chain);
                Ok(Outcome::Lost)
            }
            Ok(Appended::Overtaken) => {
                // The log moved on past its slot: lost, or (if it took the
                // slot and others followed) committed; settled by the next
                // attempt. Not a failure, so no retry budget is spent on it.
                pending.push(Attempt {
                    base_version: base.as_ref().map(|h| h.entry.version_id.clone()),
                    entry,
                });
                job.in_doubt.store(true, Ordering::SeqCst);
                self.end_chain(via_chain);
                Ok(Outcome::Lost)
            }
            Err(e) => {
                if e.maybe_applied {
                    pending.push(Attempt {
                        base_version: base.as_ref().map(|h| h.entry.version_id.clone()),
                        entry,
                    });
                }
                job.in_doubt.store(!pending.is_empty(), Ordering::SeqCst);
                self.end_chain(via_chain);
                Err(e.into())
            }
        }
    }

    /// The conditional log PUT of `entry` after `base`. While it is unanswered
    /// for longer than a few appends take (plus the body's upload time), the
    /// head is read (after a HEAD shows the log moved, unless this client is
    /// losing races), racing the PUT's answer. Once the slot after `base` is
    /// taken, the PUT's condition can never hold again (ETags are digests of
    /// entries, which never repeat), so it is not waited for: the slot tells
    /// the outcome (ours: committed; another entry: lost), and when the head
    /// has moved further, the attempt is settled as one whose answer was
    /// lost. Some servers hold a losing conditional PUT for a second or more
    /// while another write to the object is in progress (SeaweedFS does); S3
    /// answers at once.
    async fn append(
        &self,
        body: Vec<u8>,
        condition: Precondition,
        base: Option<&Head>,
        entry: &Entry,
        deadline: Duration,
    ) -> crate::storage::StoreResult<Appended> {
        let len = body.len();
        let put = self
            .store
            .put(self.log_path(), body, condition)
            .map(|out| out.map(Appended::Answered));
        let base_version = base.map(|h| h.entry.version_id.as_str());
        let base_etag = base.map(|h| h.etag.as_str());
        retry::answer_or_look(self, put, len, 0, move || async move {
            // Under contention the log has most likely moved: read the head
            // at once. Otherwise a HEAD first, so that a merely slow PUT (a
            // large body) costs no GET of the head.
            let contended = self.now() < self.state().contended_until;
            if !contended {
                let m = self.store.head(self.log_path(), None).await;
                if !matches!(&m, Ok(m) if m.as_ref().map(|m| m.etag.as_str()) != base_etag) {
                    return Look::Again; // unmoved (ours may still land), or no answer
                }
            }
            let now = match self.read_head(deadline).await {
                Ok(LogHead::Head(now)) if Some(now.etag.as_str()) != base_etag => now,
                _ => return Look::Again,
            };
            if now.entry.previous_version_id.as_deref() == base_version {
                // The slot after the base is decided.
                if now.entry.hash == entry.hash && now.entry.sequence == entry.sequence {
                    return Look::Decided(Ok(Appended::Answered(PutOutcome::Written(
                        crate::storage::Meta {
                            etag: now.etag,
                            version_id: Some(now.entry.version_id.clone()),
                        },
                    ))));
                }
                tracing::debug!(target: "immukv::write", "a log append lost its slot; not waiting for its answer");
                return Look::Decided(Ok(Appended::Answered(PutOutcome::PreconditionFailed)));
            }
            // Further appends since: which one took the slot is for
            // settling to find out (it may be ours).
            Look::Decided(Ok(Appended::Overtaken))
        })
        .await
    }

    /// A job's entry is in the log: this client's reads serve it from now
    /// on (read-your-writes even if the caller gets its answer before the
    /// key object is written), then the job may resolve.
    fn committed(&self, job: &Job, entry: &Entry) {
        self.state()
            .key_writes
            .insert(entry.key.clone(), Arc::new(entry.clone()));
        job.committed(entry);
    }

    /// Phase 2 of a committed entry, and what the chain learns from it.
    /// `log_etag` is the ETag of our append, when we know it (not for an
    /// attempt settled by reading the log).
    async fn after_append(&self, entry: &Entry, log_etag: Option<String>, deadline: Duration) {
        let own = self
            .state()
            .key_writes
            .get(&entry.key)
            .filter(|e| e.version_id == entry.version_id)
            .cloned()
            .unwrap_or_else(|| Arc::new(entry.clone()));
        let written = self.write_key_object(entry, deadline).await;
        let mut st = self.state();
        if st
            .key_writes
            .get(&entry.key)
            .is_some_and(|e| e.version_id == entry.version_id)
        {
            st.key_writes.remove(&entry.key);
        }
        match &written {
            Ok(super::repair::KeyWrite::Written(_) | super::repair::KeyWrite::AlreadyWritten) => {
                st.own_orphans.remove(&entry.key);
            }
            _ => {
                tracing::warn!(target: "immukv::write", key = %entry.key, sequence = entry.sequence, "the key object write failed; this entry is served from memory and repaired before the next append");
                st.own_orphans.insert(entry.key.clone(), own.clone());
            }
        }
        let Some(log_etag) = log_etag else {
            st.chain = None;
            return;
        };
        st.last_own_etag = Some(log_etag.clone());
        let head = Head {
            etag: log_etag,
            entry: own,
        };
        // The chain goes on if our append followed its head (or started it).
        let keep = st.chain.as_ref().is_some_and(|c| {
            Some(c.head.entry.version_id.as_str()) == entry.previous_version_id.as_deref()
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
        match written {
            Ok(super::repair::KeyWrite::Written(etag)) => {
                if chain.key_etags.len() >= 10_000 {
                    chain.key_etags.clear(); // bound memory; costs a HEAD per key afterwards
                }
                chain.key_etags.insert(entry.key.clone(), etag);
            }
            _ => {
                chain.key_etags.remove(&entry.key);
            }
        }
        st.chain = Some(chain);
    }

    /// The chain's head, when this client may append after it without
    /// reading the log.
    fn chain_head(&self) -> Option<Head> {
        let st = self.state();
        if st.fast_path_off {
            return None;
        }
        st.chain.as_ref().map(|c| c.head.clone())
    }

    /// The ETag `key`'s object has while the chain stands; repairs our own
    /// head first when its key object is not written yet.
    async fn chained_etag(
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
    async fn prepare_after(
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
            if head_etag? == head.entry.previous_key_object_etag {
                self.repair_before_append(&head.entry, deadline).await?;
            }
            return etag;
        }
        // Same key: the HEAD we need anyway tells whether the head is an
        // orphan (its key object still has the ETag the entry recorded).
        let now = self.key_etag(key, deadline).await?;
        if now != head.entry.previous_key_object_etag {
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

    /// We never extend a log whose head fails its hash check or lives in an
    /// unversioned bucket.
    fn check_writable(&self, head: &Head) -> Result<()> {
        if head.entry.version_id == "null" {
            return Err(self.versioning_disabled());
        }
        if head.entry.hash_dialect().is_none() {
            return Err(
                self.corrupt_head(&head.entry.version_id, "the log head fails its hash check")
            );
        }
        if head.entry.sequence >= crate::format::MAX_SEQUENCE {
            return Err(self.corrupt_head(
                &head.entry.version_id,
                "the log head has sequence 2^53 - 1, the largest any client holds exactly: the log cannot grow past it",
            ));
        }
        Ok(())
    }

    /// Before the first append of a new log: refuse an unversioned bucket
    /// before writing anything to it.
    async fn ensure_versioning(&self, deadline: Duration) -> Result<()> {
        if self.state().versioning_checked {
            return Ok(());
        }
        let enabled = retry::idempotent(self, deadline, || self.store.versioning_enabled()).await?;
        if enabled == Some(false) {
            return Err(self.versioning_disabled());
        }
        self.state().versioning_checked = true;
        Ok(())
    }

    fn versioning_disabled(&self) -> Error {
        Error {
            bucket: Some(self.bucket().to_string()),
            ..Error::new(
                ErrorCode::VersioningDisabled,
                format!(
                    "bucket {} does not have versioning enabled; ImmuKV keeps every entry as an object version. \
                     Enable it with: aws s3api put-bucket-versioning --bucket {} --versioning-configuration Status=Enabled",
                    self.bucket(),
                    self.bucket()
                ),
            )
        }
    }

    /// After a lost race or an ambiguous append: the chain is unknown. A miss
    /// on the chain's own guess also stops using it until our own append is
    /// seen as the head again.
    fn end_chain(&self, chain_missed: bool) {
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
    fn note_head(&self, head: &Head) {
        let mut st = self.state();
        if st.fast_path_off && st.last_own_etag.as_deref() == Some(head.etag.as_str()) {
            st.fast_path_off = false;
        }
    }

    /// The yield before a try at the log (retry::before_retry), leaving at
    /// least half of what remains of the call's time, less one round, for
    /// trying: a long yield never turns into a give-up.
    fn race_delay(&self, started: Duration, deadline: Duration) -> Duration {
        let rtt = self.append_rtt();
        let n = retry::newcomer_rounds(self.state().lost_per_commit.unwrap_or(0.0));
        let d = retry::before_retry(
            self.env.as_ref(),
            self.now().saturating_sub(started),
            rtt,
            n,
        );
        d.min(
            deadline
                .saturating_sub(self.now())
                .saturating_sub(retry::round(rtt))
                / 2,
        )
    }

    /// Resolves once the job's caller has given up (aborted or timed out).
    async fn given_up(&self, job: &Job) {
        while !job.cancelled.load(Ordering::SeqCst) {
            self.env.sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sleeps, but no longer than the caller waits: a set aborted while it
    /// waits does not hold the pipeline (the sets queued behind it) for the
    /// rest of the wait.
    async fn yield_for(&self, job: &Job, delay: Duration) {
        select(
            std::pin::pin!(self.env.sleep(delay)),
            std::pin::pin!(self.given_up(job)),
        )
        .await;
    }

    pub(super) fn append_rtt(&self) -> Duration {
        self.state().append_rtt.unwrap_or(Duration::from_millis(20))
    }

    fn note_append_rtt(&self, took: Duration) {
        let mut st = self.state();
        st.append_rtt = Some(match st.append_rtt {
            Some(avg) => (avg * 7 + took) / 8,
            None => took,
        });
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
