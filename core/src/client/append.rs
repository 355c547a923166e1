//! One set's tries at the log: the commit loop (lost races, transient
//! failures, the yield between tries), one attempt (build the entry after
//! the chain's head or the head read from the log, the conditional PUT), the
//! append itself (looking at the log while its answer is slow), and giving
//! up (one last settling of attempts in doubt).

use super::pipeline::Job;
use super::retry::{self, Look};
use super::{settle::Attempt, Head, Inner, LogHead};
use crate::error::{Error, ErrorCode, Result};
use crate::format::{Dialect, Entry, Json};
use crate::stats::Event;
use crate::storage::{Precondition, PutOutcome, Store};
use futures_util::future::{select, Either, FutureExt};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// How a log append ended.
pub(super) enum Appended {
    /// The store answered (or the slot after the base showed the answer).
    Answered(PutOutcome),
    /// Unanswered while the log moved on past the slot: settled later.
    Overtaken,
}

pub(super) enum Outcome {
    Committed(Entry),
    /// Another writer appended first.
    Lost,
}

impl<S: Store> Inner<S> {
    pub(super) async fn commit(self: &Arc<Self>, job: &Job, deadline: Duration) -> Result<Entry> {
        let value = job.value.clone().await?;
        self.ensure_object_lock(deadline)
            .await
            .map_err(|e| e.with_commit_state(false))?;
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
    pub(super) async fn give_up(
        self: &Arc<Self>,
        e: Error,
        job: &Job,
        pending: &mut Vec<Attempt>,
    ) -> Result<Entry> {
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

    pub(super) async fn attempt(
        self: &Arc<Self>,
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
        // A pipelined client waits for room in its window, and for the key
        // object of its entry of this key still being written, before it
        // reads that key's ETag (window.rs).
        let (base, key_etag) = match chain {
            Some(head) => {
                self.make_room(&job.key, head.entry.sequence + 1, deadline)
                    .await?;
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
                    self.make_room(&job.key, 0, deadline).await?;
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
                    self.make_room(&job.key, h.entry.sequence + 1, deadline)
                        .await?;
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
        entry.pipeline_depth = self.pipelined();
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
    pub(super) async fn append(
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
            .put(self.log_path(), body, condition, self.write_retention())
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

    /// We never extend a log whose head fails its hash check or lives in an
    /// unversioned bucket.
    pub(super) fn check_writable(&self, head: &Head) -> Result<()> {
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
    pub(super) async fn ensure_versioning(&self, deadline: Duration) -> Result<()> {
        if self.state().versioning_checked {
            return Ok(());
        }
        let versioning = retry::idempotent(self, deadline, || self.store.versioning()).await?;
        if matches!(
            versioning,
            crate::bucket::Versioning::Suspended | crate::bucket::Versioning::Off
        ) {
            return Err(self.versioning_disabled());
        }
        self.state().versioning_checked = true;
        Ok(())
    }

    pub(super) fn versioning_disabled(&self) -> Error {
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

    /// The yield before a try at the log (retry::before_retry), leaving at
    /// least half of what remains of the call's time, less one round, for
    /// trying: a long yield never turns into a give-up.
    pub(super) fn race_delay(&self, started: Duration, deadline: Duration) -> Duration {
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

    pub(super) fn append_rtt(&self) -> Duration {
        self.state().append_rtt.unwrap_or(Duration::from_millis(20))
    }

    pub(super) fn note_append_rtt(&self, took: Duration) {
        let mut st = self.state();
        st.append_rtt = Some(match st.append_rtt {
            Some(avg) => (avg * 7 + took) / 8,
            None => took,
        });
    }
}
