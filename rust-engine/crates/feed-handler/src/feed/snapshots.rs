//! The feed's REST side: the depth snapshots that (re)build the book and verify it, the resyncs
//! that ask for them, and the pause a 429 or 418 answer imposes on every REST request.

use std::time::Duration;

use common::time::{ms_to_ns, now_ns};
use tokio::time::Instant;
use tracing::{debug, warn};

use super::{FeedState, FeedTask, SnapshotTask};
use crate::binance::snapshot::{self, Snapshot};
use crate::rest::{self, RestError};
use crate::sync::{Resync, SnapshotOutcome};
use crate::verify::Verdict;

impl FeedTask {
    /// Counts the outcome of a snapshot check (a mismatch was already repaired by the check). A
    /// repair that left the book crossed, or a book far past the snapshot (it took a corrupt id),
    /// takes it down for a resync from a fresh snapshot, as a corrupt update does; true when it did.
    /// (The check's caller marked the book not synced in the lock it checked it under.)
    pub(super) async fn on_verdict(
        &mut self,
        verdict: Option<Verdict>,
        snapshot_task: &mut Option<SnapshotTask>,
    ) -> bool {
        match verdict {
            None => {}
            Some(Verdict::Match) => {
                self.counters.snapshot_matches += 1;
                debug!(
                    matches = self.counters.snapshot_matches,
                    "book equals the venue's snapshot"
                );
            }
            Some(Verdict::Repaired) => {
                self.counters.snapshot_mismatches += 1;
                let id = self.out.book.read().book.update_id();
                warn!(
                    update_id = id,
                    mismatches = self.counters.snapshot_mismatches,
                    "book differed from the venue's snapshot: repaired"
                );
                self.out.book.notify();
            }
            Some(Verdict::Unverifiable) => {
                debug!("snapshot check skipped: an event spanned the snapshot's id")
            }
            Some(Verdict::Corrupt(update_id)) => {
                self.counters.snapshot_mismatches += 1;
                warn!(
                    update_id,
                    mismatches = self.counters.snapshot_mismatches,
                    "book differed from the venue's snapshot, which is crossed"
                );
                self.resync(&Resync::Corrupt(update_id), snapshot_task)
                    .await;
                return true;
            }
            Some(Verdict::BookAhead { book, snapshot }) => {
                self.counters.snapshot_mismatches += 1;
                warn!(
                    book,
                    snapshot, "book far past the venue's snapshot: it took a corrupt update id"
                );
                let why = Resync::Implausible {
                    first: book,
                    last: book,
                    reference: snapshot,
                };
                self.resync(&why, snapshot_task).await;
                return true;
            }
        }
        false
    }

    pub(super) async fn went_live(&mut self) {
        self.counters.resyncs += 1;
        self.live_since = Some(Instant::now());
        let id = self.out.book.read().book.update_id();
        self.set_state(FeedState::Live, &format!("book in sync at update {id}"))
            .await;
    }

    /// Takes the book down (not synced, `resyncing`) and asks for a fresh snapshot after
    /// [`Self::resync_delay`].
    pub(super) async fn resync(&mut self, why: &Resync, snapshot_task: &mut Option<SnapshotTask>) {
        if matches!(why, Resync::Gap { .. } | Resync::PrevMismatch { .. }) {
            self.counters.gaps += 1;
        }
        if let Some(t) = snapshot_task.take() {
            t.abort();
        }
        self.sync.restart();
        self.check.clear();
        self.out.book.write().synced = false;
        let delay = self.resync_delay();
        warn!(reason = %why, delay_ms = delay.as_millis() as u64, "book resync");
        self.set_state(FeedState::Resyncing, &why.to_string()).await;
        *snapshot_task = Some(self.fetch_snapshot(delay));
    }

    /// The delay before the snapshot of a resync: the next of `snapshot_retry`, started over first
    /// when the book had stayed live for [`super::STABLE_BOOK`] since it last synced (a new
    /// incident, not the same one again).
    pub(super) fn resync_delay(&mut self) -> Duration {
        if self
            .live_since
            .take()
            .is_some_and(|t| t.elapsed() >= super::STABLE_BOOK)
        {
            self.snapshot_retry.reset();
        }
        self.snapshot_retry.next_delay()
    }

    pub(super) async fn on_snapshot(
        &mut self,
        res: Result<Snapshot, RestError>,
        snapshot_task: &mut Option<SnapshotTask>,
    ) {
        let snap = match res {
            Ok(s) => s,
            Err(e) => {
                self.note_rest_error(&e, self.ip_pause.now_ms());
                let delay = self
                    .snapshot_retry
                    .next_delay()
                    .max(Duration::from_millis(500));
                warn!(error = %e, delay_ms = delay.as_millis() as u64, "snapshot failed, retrying");
                *snapshot_task = Some(self.fetch_snapshot(delay));
                return;
            }
        };
        self.snapshot_at = Some(Instant::now());
        let outcome = {
            let mut st = self.out.book.write();
            let r = self.sync.on_snapshot(&snap, &mut st.book);
            if let Ok(SnapshotOutcome::Synced { event_ms, .. }) = r {
                st.synced = true;
                st.exchange_ts_ns = ms_to_ns(event_ms);
                st.local_ts_ns = now_ns();
            }
            r
        };
        match outcome {
            Ok(SnapshotOutcome::Synced { replayed, .. }) => {
                // `snapshot_retry` goes on: it starts over once the book has stayed live.
                debug!(replayed, id = snap.last_update_id, "snapshot applied");
                self.went_live().await;
                self.out.book.notify();
            }
            Ok(SnapshotOutcome::Waiting) => {}
            Ok(SnapshotOutcome::TooOld {
                last_update_id,
                first_buffered,
            }) => {
                debug!(
                    last_update_id,
                    first_buffered, "snapshot older than the stream, fetching again"
                );
                let delay = self.snapshot_retry.next_delay();
                *snapshot_task = Some(self.fetch_snapshot(delay));
            }
            Err(resync) => {
                if matches!(resync, Resync::Implausible { .. }) {
                    self.counters.rejected += 1;
                }
                self.resync(&resync, snapshot_task).await;
            }
        }
    }

    /// After a 429 or 418 answer, no REST request (of the feed, and of the order executor when
    /// the pause is shared) before the wait it asked for has passed (from `now_ms`, the pause's clock);
    /// other failures change nothing.
    pub(super) fn note_rest_error(&mut self, e: &RestError, now_ms: u64) {
        let RestError::RateLimited {
            status,
            retry_after,
            ..
        } = e
        else {
            return;
        };
        self.ip_pause.pause(*status, *retry_after, now_ms);
        warn!(
            status,
            wait_s = retry_after.as_secs(),
            "venue rate limit: no REST request before the wait is over"
        );
    }

    /// The delay before a REST request asked for with `requested` at `now_ms` (the pause's clock): at
    /// least until a rate-limit pause is over.
    pub(super) fn rest_delay(&self, requested: Duration, now_ms: u64) -> Duration {
        let pause = self
            .ip_pause
            .remaining(now_ms)
            .map_or(Duration::ZERO, |(wait, _)| wait);
        requested.max(pause)
    }

    /// Whether the periodic verification snapshot is fetched at `now_ms`: live, no check pending,
    /// and not pausing REST requests after a 429 or 418.
    pub(super) fn verify_due(&self, now_ms: u64) -> bool {
        self.state == FeedState::Live
            && !self.check.is_waiting()
            && self.rest_delay(Duration::ZERO, now_ms).is_zero()
    }

    pub(super) fn snapshot_url(&self) -> String {
        format!(
            "{}/api/v3/depth?symbol={}&limit={}",
            self.cfg.rest_url.trim_end_matches('/'),
            self.symbol,
            self.cfg.snapshot_limit
        )
    }

    pub(super) fn task_failed(&self, e: &tokio::task::JoinError) -> RestError {
        RestError::Failed {
            url: self.snapshot_url(),
            reason: format!("snapshot task failed: {e}"),
        }
    }

    /// Fetches a snapshot after `delay`, or later while a rate-limit pause lasts.
    pub(super) fn fetch_snapshot(&self, delay: Duration) -> SnapshotTask {
        let url = self.snapshot_url();
        let delay = self.rest_delay(delay, self.ip_pause.now_ms());
        let http = self.http.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let body = rest::get(&http, &url).await?;
            snapshot::parse(&body).map_err(|e| RestError::Failed {
                url,
                reason: e.to_string(),
            })
        })
    }
}
