//! The host clock's offset from the venue's, learnt from `GET /api/v3/time` (answer
//! `{"serverTime": 1499827319559}`, ms since the epoch), so that the feed's latency (the venue's
//! time at receipt minus the event's time) does not count the host clock's error: a host clock
//! 0.5 s ahead of the venue's would otherwise add 0.5 s to every latency (the feed would report
//! `lagging` and reconnect for a clock that reconnecting cannot fix), and one behind it would hide
//! real latency.
//!
//! A sample assumes the venue read its clock at the midpoint of the request's round trip:
//! `offset = serverTime - (sent + received) / 2`, true to within half the round trip. Of the recent
//! samples, the one with the smallest round trip is kept (its bound is the tightest: a request
//! slowed by a TCP or TLS handshake, or a busy network, is not taken over a quick one). A failed
//! request changes nothing: the last estimate stays (0 before the first).

use std::time::{Duration, Instant};

use serde::Deserialize;

/// Samples kept (the estimate is the one of them with the smallest round trip).
pub const MAX_SAMPLES: usize = 8;
/// Samples older than this are dropped (the host clock drifts, or is stepped by NTP).
pub const MAX_SAMPLE_AGE: Duration = Duration::from_secs(30 * 60);
/// Slack, beyond the two samples' half round trips, within which a new sample agrees with the
/// estimate: `serverTime` is whole milliseconds, and the venue's servers differ by a few.
pub const STEP_SLACK_NS: u64 = 10_000_000;
/// Offsets up to this (either way) are not worth a log line.
pub const WARN_OFFSET_MS: u64 = 100;

/// One answered `GET /api/v3/time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeSample {
    /// The venue's `serverTime`, ms since the epoch.
    pub server_ms: u64,
    /// The local wall clock when the request was sent, ns since the epoch.
    pub sent_local_ns: u64,
    /// From sending the request to reading the answer (monotonic clock).
    pub round_trip: Duration,
}

impl TimeSample {
    /// The round trip, ns.
    pub fn round_trip_ns(&self) -> u64 {
        u64::try_from(self.round_trip.as_nanos()).unwrap_or(u64::MAX)
    }

    /// Venue time minus local time, ns: `serverTime` minus the local time at the middle of the
    /// round trip.
    pub fn offset_ns(&self) -> i64 {
        let midpoint = i128::from(self.sent_local_ns) + i128::from(self.round_trip_ns() / 2);
        let offset = i128::from(self.server_ms) * 1_000_000 - midpoint;
        i64::try_from(offset).unwrap_or(if offset < 0 { i64::MIN } else { i64::MAX })
    }
}

#[derive(Deserialize)]
struct ServerTime {
    #[serde(rename = "serverTime")]
    server_time: u64,
}

/// Reads the body of a `GET /api/v3/time` answer.
///
/// # Errors
/// The reason, when it is not `{"serverTime": <ms>}` with a positive time.
pub fn parse_server_time(body: &str) -> Result<u64, String> {
    match serde_json::from_str::<ServerTime>(body) {
        Ok(t) if t.server_time > 0 => Ok(t.server_time),
        Ok(_) => Err("serverTime 0".into()),
        Err(e) => Err(format!("unreadable server time: {e}")),
    }
}

/// How large an offset is, for the warning: `None` within [`WARN_OFFSET_MS`]; otherwise whether
/// the venue's clock is ahead of the host's, and `k` with `|offset|` in
/// `[100 ms * 2^k, 100 ms * 2^(k+1))` (whole milliseconds).
pub fn magnitude(offset_ns: i64) -> Option<(bool, u32)> {
    let ms = offset_ns.unsigned_abs() / 1_000_000;
    (ms > WARN_OFFSET_MS).then(|| (offset_ns > 0, (ms / WARN_OFFSET_MS).ilog2()))
}

#[derive(Debug, Clone, Copy)]
struct Kept {
    offset_ns: i64,
    round_trip_ns: u64,
    at: Instant,
}

/// The estimate of the host clock's offset from the venue's.
#[derive(Debug, Clone, Default)]
pub struct ClockOffset {
    samples: Vec<Kept>,
    offset_ns: i64,
    round_trip_ns: Option<u64>,
    failures_in_row: u64,
    /// The magnitude last reported ([`Self::magnitude_changed`]).
    reported: Option<(bool, u32)>,
}

impl ClockOffset {
    /// Venue time minus local time, ns (0 before the first sample).
    pub fn offset_ns(&self) -> i64 {
        self.offset_ns
    }

    /// Venue time minus local time, ms.
    pub fn offset_ms(&self) -> i64 {
        self.offset_ns / 1_000_000
    }

    /// The round trip of the sample the estimate comes from (`None` before the first).
    pub fn round_trip(&self) -> Option<Duration> {
        self.round_trip_ns.map(Duration::from_nanos)
    }

    /// The venue's time when the local clock reads `local_ns`, ns since the epoch.
    pub fn venue_ns(&self, local_ns: u64) -> u64 {
        local_ns.saturating_add_signed(self.offset_ns)
    }

    /// Takes a sample answered at `now`; returns the new estimate, ns. Samples older than
    /// [`MAX_SAMPLE_AGE`] are dropped first; one that disagrees with the estimate by more than the
    /// two round trips allow (a clock was stepped) drops the others.
    pub fn record(&mut self, sample: TimeSample, now: Instant) -> i64 {
        self.failures_in_row = 0;
        let kept = Kept {
            offset_ns: sample.offset_ns(),
            round_trip_ns: sample.round_trip_ns(),
            at: now,
        };
        self.samples
            .retain(|k| now.saturating_duration_since(k.at) <= MAX_SAMPLE_AGE);
        if let Some(best) = self.best() {
            let bound = (best.round_trip_ns / 2)
                .saturating_add(kept.round_trip_ns / 2)
                .saturating_add(STEP_SLACK_NS);
            if best.offset_ns.abs_diff(kept.offset_ns) > bound {
                self.samples.clear();
            }
        }
        if self.samples.len() >= MAX_SAMPLES {
            self.samples.remove(0);
        }
        self.samples.push(kept);
        if let Some(best) = self.best() {
            self.offset_ns = best.offset_ns;
            self.round_trip_ns = Some(best.round_trip_ns);
        }
        self.offset_ns
    }

    /// Counts a failed request (the estimate stays); returns the failures in a row.
    pub fn failed(&mut self) -> u64 {
        self.failures_in_row += 1;
        self.failures_in_row
    }

    /// The estimate's [`magnitude`] when it differs from the one last returned here (`None`
    /// inside: back within [`WARN_OFFSET_MS`]); `None` when unchanged.
    pub fn magnitude_changed(&mut self) -> Option<Option<(bool, u32)>> {
        let now = magnitude(self.offset_ns);
        (now != self.reported).then(|| {
            self.reported = now;
            now
        })
    }

    /// The kept sample of the smallest round trip (of equal ones, the latest).
    fn best(&self) -> Option<Kept> {
        self.samples
            .iter()
            .rev()
            .min_by_key(|k| k.round_trip_ns)
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    /// A sample whose offset is `offset_ms` with a round trip of `rtt_ms`.
    fn sample(offset_ms: i64, rtt_ms: u64) -> TimeSample {
        let sent_ms = 1_760_000_000_000u64;
        TimeSample {
            server_ms: (sent_ms + rtt_ms / 2).saturating_add_signed(offset_ms),
            sent_local_ns: sent_ms * MS,
            round_trip: Duration::from_millis(rtt_ms),
        }
    }

    /// `serverTime` minus the middle of the round trip: the venue 500 ms behind the host.
    #[test]
    fn a_sample_is_server_time_minus_the_middle_of_the_round_trip() {
        let s = TimeSample {
            server_ms: 9_505,
            sent_local_ns: 10_000 * MS,
            round_trip: Duration::from_millis(10),
        };
        assert_eq!(s.offset_ns(), -500 * MS as i64);
        let mut c = ClockOffset::default();
        c.record(s, Instant::now());
        assert_eq!(c.offset_ms(), -500);
        assert_eq!(c.venue_ns(20_000 * MS), 19_500 * MS);
        assert_eq!(c.round_trip(), Some(Duration::from_millis(10)));
    }

    /// Of the recent samples, the one with the smallest round trip gives the estimate, whatever
    /// their order.
    #[test]
    fn the_smallest_round_trip_wins() {
        let now = Instant::now();
        let mut c = ClockOffset::default();
        assert_eq!(c.record(sample(500, 60), now), 500 * MS as i64);
        assert_eq!(c.record(sample(480, 4), now), 480 * MS as i64);
        assert_eq!(c.record(sample(505, 50), now), 480 * MS as i64);
        assert_eq!(c.offset_ms(), 480);
        assert_eq!(c.round_trip(), Some(Duration::from_millis(4)));
        // A quicker one later replaces it.
        assert_eq!(c.record(sample(482, 2), now), 482 * MS as i64);
    }

    /// A failed request keeps the last estimate (0 before any); failures in a row are counted and
    /// a sample starts the count over.
    #[test]
    fn a_failure_keeps_the_last_estimate() {
        let mut c = ClockOffset::default();
        assert_eq!(c.failed(), 1);
        assert_eq!(c.offset_ns(), 0);
        c.record(sample(-800, 3), Instant::now());
        assert_eq!(c.failed(), 1);
        assert_eq!(c.failed(), 2);
        assert_eq!(c.offset_ms(), -800);
        c.record(sample(-801, 3), Instant::now());
        assert_eq!(c.failed(), 1);
    }

    /// A quick sample older than `MAX_SAMPLE_AGE` no longer counts; only the last `MAX_SAMPLES`
    /// are kept.
    #[test]
    fn old_samples_age_out() {
        let t0 = Instant::now();
        let mut c = ClockOffset::default();
        c.record(sample(300, 1), t0);
        let later = t0 + MAX_SAMPLE_AGE + Duration::from_secs(1);
        assert_eq!(c.record(sample(310, 40), later), 310 * MS as i64);
        let mut c = ClockOffset::default();
        c.record(sample(300, 1), t0);
        for _ in 0..MAX_SAMPLES {
            c.record(sample(305, 20), t0);
        }
        assert_eq!(c.offset_ms(), 305);
    }

    /// A sample the estimate's round trips cannot explain (the host clock was stepped by a second)
    /// replaces the quicker older ones at once.
    #[test]
    fn a_clock_step_replaces_the_estimate() {
        let now = Instant::now();
        let mut c = ClockOffset::default();
        c.record(sample(-800, 2), now);
        assert_eq!(c.record(sample(200, 30), now), 200 * MS as i64);
        // Within the round trips plus slack: the quicker one stays.
        let mut c = ClockOffset::default();
        c.record(sample(-800, 2), now);
        assert_eq!(c.record(sample(-780, 30), now), -800 * MS as i64);
    }

    /// The warning's magnitude changes at 100, 200, 400... ms either way, and is reported once per
    /// change.
    #[test]
    fn the_magnitude_is_reported_once_per_change() {
        assert_eq!(magnitude(0), None);
        assert_eq!(magnitude(100 * MS as i64), None);
        assert_eq!(magnitude(-(101 * MS as i64)), Some((false, 0)));
        assert_eq!(magnitude(250 * MS as i64), Some((true, 1)));
        assert_eq!(magnitude(-(800 * MS as i64)), Some((false, 3)));
        let now = Instant::now();
        let mut c = ClockOffset::default();
        assert_eq!(c.magnitude_changed(), None);
        c.record(sample(-800, 2), now);
        assert_eq!(c.magnitude_changed(), Some(Some((false, 3))));
        c.record(sample(-805, 1), now);
        assert_eq!(c.magnitude_changed(), None);
        c.record(sample(-30, 1), now);
        assert_eq!(c.magnitude_changed(), Some(None));
        assert_eq!(c.magnitude_changed(), None);
    }

    /// The docs' answer, and what is not one.
    #[test]
    fn server_time_is_read_from_the_answer() {
        assert_eq!(
            parse_server_time(r#"{"serverTime": 1499827319559}"#),
            Ok(1_499_827_319_559)
        );
        for bad in [
            "",
            "{}",
            r#"{"serverTime":"1"}"#,
            r#"{"serverTime":0}"#,
            r#"{"serverTime":-5}"#,
            r#"{"lastUpdateId":1,"bids":[],"asks":[]}"#,
        ] {
            assert!(parse_server_time(bad).is_err(), "{bad}");
        }
    }
}
