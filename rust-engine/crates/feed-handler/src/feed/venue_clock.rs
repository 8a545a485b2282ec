//! The feed's venue clock: `GET /api/v3/time` (weight 1) at each connection's start, beside its
//! first snapshot, and every [`CLOCK_CHECK_PERIOD`] while connected, under the same per-IP pause
//! after a 429 or 418 as the snapshots. Each check is two requests back to back: the first may pay
//! for a TCP and TLS handshake (the pooled connection idles out between checks), which widens its
//! round trip; the estimate takes the quickest. A failed check keeps the last estimate and never
//! ends the connection.

use std::time::Duration;

use common::time::now_ns;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::FeedTask;
use crate::rest::{self, RestError};
use crate::venue_time::{parse_server_time, TimeSample, WARN_OFFSET_MS};

/// Time between checks of the venue's clock while connected.
pub const CLOCK_CHECK_PERIOD: Duration = Duration::from_secs(5 * 60);
/// Requests per check.
const REQUESTS_PER_CHECK: usize = 2;
/// After this many failed checks in a row, one warning per this many (the others are debug).
const FAILURE_WARN_EVERY: u64 = 12;

/// What one check brought back: the samples answered, and the failure that ended it, if any.
#[derive(Debug, Default)]
pub(super) struct TimeCheck {
    pub(super) samples: Vec<TimeSample>,
    pub(super) error: Option<RestError>,
}

pub(super) type TimeTask = JoinHandle<TimeCheck>;

impl FeedTask {
    pub(super) fn time_url(&self) -> String {
        format!("{}/api/v3/time", self.cfg.rest_url.trim_end_matches('/'))
    }

    /// Checks the venue's clock after `delay`, or later while a rate-limit pause lasts.
    pub(super) fn fetch_time(&self, delay: Duration) -> TimeTask {
        let url = self.time_url();
        let delay = self.rest_delay(delay, self.ip_pause.now_ms());
        let http = self.http.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let mut check = TimeCheck::default();
            for _ in 0..REQUESTS_PER_CHECK {
                let sent_local_ns = now_ns();
                let sent = std::time::Instant::now();
                let answer = rest::get(&http, &url).await;
                let round_trip = sent.elapsed();
                let read = answer.and_then(|body| {
                    parse_server_time(&body).map_err(|reason| RestError::Failed {
                        url: url.clone(),
                        reason,
                    })
                });
                match read {
                    Ok(server_ms) => check.samples.push(TimeSample {
                        server_ms,
                        sent_local_ns,
                        round_trip,
                    }),
                    Err(e) => {
                        check.error = Some(e);
                        break;
                    }
                }
            }
            check
        })
    }

    /// Whether the periodic clock check is sent at `now_ms` (the pause's clock): not while REST
    /// requests are paused after a 429 or 418.
    pub(super) fn time_check_due(&self, now_ms: u64) -> bool {
        self.rest_delay(Duration::ZERO, now_ms).is_zero()
    }

    /// Takes a check's samples into the estimate; a failure keeps it (and a 429 or 418 pauses
    /// REST requests). Logs the offset (info) once per change of magnitude past [`WARN_OFFSET_MS`].
    pub(super) fn on_time(&mut self, check: TimeCheck) {
        let now = Instant::now().into_std();
        for s in &check.samples {
            self.venue_clock.record(*s, now);
        }
        let offset_ms = self.venue_clock.offset_ms();
        if !check.samples.is_empty() {
            debug!(
                offset_ms,
                round_trip_ms = self
                    .venue_clock
                    .round_trip()
                    .map_or(0, |d| d.as_millis() as u64),
                "venue clock offset (venue time minus local time)"
            );
        }
        if let Some(e) = &check.error {
            self.note_rest_error(e, self.ip_pause.now_ms());
            if check.samples.is_empty() {
                let n = self.venue_clock.failed();
                if n == 1 || n.is_multiple_of(FAILURE_WARN_EVERY) {
                    warn!(error = %e, failures_in_row = n, offset_ms, "venue time request failed: feed latency stays corrected by the last offset");
                } else {
                    debug!(error = %e, failures_in_row = n, offset_ms, "venue time request failed");
                }
            } else {
                debug!(error = %e, "second venue time request of the check failed");
            }
        }
        match self.venue_clock.magnitude_changed() {
            None => {}
            Some(Some((venue_ahead, _))) => {
                let ms = offset_ms.unsigned_abs();
                let way = if venue_ahead { "behind" } else { "ahead of" };
                // Info, not a warning: the feed corrects for it, and whether the host clock needs
                // fixing is the watchdog's finding, against the configured
                // `[monitoring] watchdog_clock_drift_ms` (exchange-sim's clock is shifted by up to
                // 500 ms on purpose, which warned "fix NTP" on every demo).
                info!(
                    offset_ms,
                    "host clock is {ms} ms {way} the venue's (GET /api/v3/time): the feed's latency is corrected for it; the watchdog reports a drift past [monitoring] watchdog_clock_drift_ms"
                );
            }
            Some(None) => info!(
                offset_ms,
                "host clock within {WARN_OFFSET_MS} ms of the venue's again"
            ),
        }
    }

    pub(super) fn time_task_failed(&self, e: &tokio::task::JoinError) -> TimeCheck {
        TimeCheck {
            samples: Vec::new(),
            error: Some(RestError::Failed {
                url: self.time_url(),
                reason: format!("venue time task failed: {e}"),
            }),
        }
    }
}
