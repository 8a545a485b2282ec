//! Feed figures for `HealthMetrics`: message rate and latency percentiles over an interval, and
//! counters since start.

use common::message::HealthMetrics;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Counters since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Sequence gaps.
    pub gaps: u64,
    /// Resyncs from a fresh snapshot (including the first sync).
    pub resyncs: u64,
    /// Reconnections: connections made after an earlier one (dial attempts that fail are not
    /// counted).
    pub reconnects: u64,
    /// Frames that were not valid JSON or not a known event.
    pub malformed: u64,
    /// Events with invalid values.
    pub rejected: u64,
    /// Stale events dropped.
    pub out_of_order: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Trades not published: jumps in the aggregate trade ids (missed while disconnected, lost on
    /// the way, or refused as malformed or invalid).
    pub trades_missed: u64,
    /// Snapshot checks that found a different book (repaired).
    pub snapshot_mismatches: u64,
    /// Snapshot checks that matched.
    pub snapshot_matches: u64,
    /// Rotations: a new connection took the stream over before the venue's 24-hour limit (the
    /// book handed over with no resync, unless the new stream left a gap: then counted there too).
    pub rotations: u64,
}

/// Latency samples (µs) and message count of the current interval. The sample buffer is kept
/// between intervals, so steady state does not allocate.
#[derive(Debug)]
pub struct Interval {
    samples: Vec<u32>,
    /// Latencies offered this interval (kept or not): the reservoir's count.
    offered: u64,
    /// Chooses which kept sample a new one replaces past `MAX_SAMPLES` (seeded: reproducible).
    rng: StdRng,
    messages: u64,
    started_ns: u64,
    /// Samples where the event time was ahead of the local clock (not counted as latency).
    pub clock_ahead: u64,
}

/// Latency summary of an interval, µs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LatencySummary {
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// Most samples kept per interval; beyond it the kept ones are a uniform random sample of all the
/// interval's latencies (reservoir sampling), so its mean and percentiles still describe the whole
/// interval, not its start.
const MAX_SAMPLES: usize = 1 << 16;

impl Interval {
    /// A new interval starting at `now_ns`.
    pub fn new(now_ns: u64) -> Self {
        Interval {
            samples: Vec::with_capacity(4096),
            offered: 0,
            rng: StdRng::seed_from_u64(0x9E37_79B9_7F4A_7C15),
            messages: 0,
            started_ns: now_ns,
            clock_ahead: 0,
        }
    }

    /// Counts one message.
    pub fn message(&mut self) {
        self.messages += 1;
    }

    /// Records receive minus event time; `local_ns` is the receive time on the venue's clock (the
    /// local clock corrected by its offset from the venue's, `GET /api/v3/time`). An event time
    /// ahead of it (an offset not yet known, or a replay running faster than real time) is counted
    /// apart and never becomes a negative latency.
    pub fn latency(&mut self, local_ns: u64, event_ns: u64) {
        if event_ns > local_ns {
            self.clock_ahead += 1;
            return;
        }
        let us = ((local_ns - event_ns) / 1_000).min(u64::from(u32::MAX)) as u32;
        self.offered += 1;
        if self.samples.len() < MAX_SAMPLES {
            self.samples.push(us);
            return;
        }
        // Algorithm R: the n-th latency replaces a random kept one with probability MAX / n.
        let slot = self.rng.gen_range(0..self.offered);
        if slot < MAX_SAMPLES as u64 {
            self.samples[slot as usize] = us;
        }
    }

    /// The interval's messages so far.
    pub fn messages(&self) -> u64 {
        self.messages
    }

    /// The interval's latency samples so far, µs.
    pub fn samples(&self) -> &[u32] {
        &self.samples
    }

    /// True when the interval holds latency samples.
    pub fn has_samples(&self) -> bool {
        !self.samples.is_empty()
    }

    /// Ends the interval: messages per second and latency, then starts a new one at `now_ns`.
    pub fn roll(&mut self, now_ns: u64) -> (f64, LatencySummary) {
        let secs = (now_ns.saturating_sub(self.started_ns)) as f64 / 1e9;
        let rate = if secs > 0.0 {
            self.messages as f64 / secs
        } else {
            0.0
        };
        let summary = summarize(&mut self.samples);
        self.samples.clear();
        self.offered = 0;
        self.messages = 0;
        self.started_ns = now_ns;
        (rate, summary)
    }
}

/// Mean, p50 and p99 of the samples (reorders them).
pub fn summarize(samples: &mut [u32]) -> LatencySummary {
    if samples.is_empty() {
        return LatencySummary::default();
    }
    let mean = samples.iter().map(|&s| f64::from(s)).sum::<f64>() / samples.len() as f64;
    let mut pick = |q: f64| {
        let k = ((samples.len() - 1) as f64 * q).round() as usize;
        f64::from(*samples.select_nth_unstable(k).1)
    };
    LatencySummary {
        mean,
        p50: pick(0.5),
        p99: pick(0.99),
    }
}

/// Raises when the mean latency stays above a threshold for a number of intervals in a row.
#[derive(Debug, Clone)]
pub struct LatencyAlarm {
    threshold_us: f64,
    needed: u32,
    over: u32,
}

impl LatencyAlarm {
    /// Alarm after `needed` intervals (at least one) above `threshold_us`.
    pub fn new(threshold_us: f64, needed: u32) -> Self {
        LatencyAlarm {
            threshold_us,
            needed: needed.max(1),
            over: 0,
        }
    }

    /// Feeds one interval's summary; true when the alarm is raised (then it starts counting anew).
    /// An interval without samples neither raises nor clears it.
    pub fn observe(&mut self, lat: &LatencySummary, samples: bool) -> bool {
        if !samples {
            return false;
        }
        if lat.mean > self.threshold_us {
            self.over += 1;
        } else {
            self.over = 0;
        }
        if self.over >= self.needed {
            self.over = 0;
            return true;
        }
        false
    }
}

/// Builds the wire message.
#[allow(clippy::too_many_arguments)]
pub fn metrics(
    ts_ns: u64,
    symbol: &str,
    state: &str,
    rate: f64,
    lat: LatencySummary,
    c: &Counters,
    levels: (usize, usize),
    snapshot_age_ms: u64,
    started_ts_ns: u64,
) -> HealthMetrics {
    HealthMetrics {
        ts_ns,
        symbol: symbol.to_owned(),
        feed_state: state.to_owned(),
        msgs_per_sec: rate,
        latency_mean_us: lat.mean,
        latency_p50_us: lat.p50,
        latency_p99_us: lat.p99,
        gap_count: c.gaps,
        resync_count: c.resyncs,
        reconnect_count: c.reconnects,
        bid_levels: levels.0 as u64,
        ask_levels: levels.1 as u64,
        snapshot_age_ms,
        malformed_count: c.malformed,
        rejected_count: c.rejected,
        out_of_order_count: c.out_of_order,
        duplicate_count: c.duplicates,
        trades_missed_count: c.trades_missed,
        snapshot_mismatch_count: c.snapshot_mismatches,
        started_ts_ns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_hand() {
        let mut v: Vec<u32> = (1..=100).collect();
        let s = summarize(&mut v);
        assert_eq!(s.mean, 50.5);
        assert_eq!(s.p50, 51.0); // index round(99 * 0.5) = 50 → value 51
        assert_eq!(s.p99, 99.0); // index round(99 * 0.99) = 98 → value 99
        assert_eq!(summarize(&mut []), LatencySummary::default());
    }

    #[test]
    fn alarm_needs_a_sustained_window() {
        let hi = LatencySummary {
            mean: 600_000.0,
            p50: 0.0,
            p99: 0.0,
        };
        let lo = LatencySummary {
            mean: 100.0,
            p50: 0.0,
            p99: 0.0,
        };
        let mut a = LatencyAlarm::new(500_000.0, 3);
        let seq = [
            (hi, true),
            (hi, true),
            (lo, true),
            (hi, true),
            (hi, true),
            (hi, false),
            (hi, true),
        ];
        let raised: Vec<bool> = seq.iter().map(|(l, s)| a.observe(l, *s)).collect();
        assert_eq!(raised, vec![false, false, false, false, false, false, true]);
        assert!(!a.observe(&hi, true), "counting starts anew after an alarm");
    }

    #[test]
    fn clock_ahead_is_not_a_latency() {
        let mut i = Interval::new(0);
        i.latency(1_000_000, 2_000_000);
        i.latency(3_000_000, 1_000_000);
        i.message();
        i.message();
        assert_eq!(i.clock_ahead, 1);
        let (rate, lat) = i.roll(1_000_000_000);
        assert_eq!(rate, 2.0);
        assert_eq!(lat.p50, 2000.0);
    }

    /// An event time equal to the receive time is a latency of zero, not a clock ahead.
    #[test]
    fn equal_times_are_a_zero_latency() {
        let mut i = Interval::new(0);
        i.message();
        i.latency(5_000_000, 5_000_000);
        assert_eq!(i.clock_ahead, 0);
        assert_eq!(i.samples(), [0]);
    }

    /// Rolling starts a new interval: the next summary holds only the next interval's samples and
    /// messages.
    #[test]
    fn roll_starts_afresh() {
        let mut i = Interval::new(0);
        for us in [1_000u64, 1_000, 1_000] {
            i.message();
            i.latency(us * 1_000, 0);
        }
        let (_, first) = i.roll(1_000_000_000);
        assert_eq!(first.mean, 1_000.0);
        assert!(!i.has_samples());
        assert_eq!(i.messages(), 0);
        i.message();
        i.latency(10_000_000, 0);
        let (rate, second) = i.roll(2_000_000_000);
        assert_eq!(rate, 1.0);
        assert_eq!(
            second,
            LatencySummary {
                mean: 10_000.0,
                p50: 10_000.0,
                p99: 10_000.0
            }
        );
    }

    /// Past `MAX_SAMPLES` an interval keeps no more samples, but newer samples still replace older
    /// ones.
    #[test]
    fn samples_stay_bounded_and_keep_taking_new_ones() {
        let mut i = Interval::new(0);
        for n in 0..3 * MAX_SAMPLES as u64 {
            let us = if n < MAX_SAMPLES as u64 { 1 } else { 1_000 };
            i.message();
            i.latency(us * 1_000, 0);
            assert!(i.samples().len() <= MAX_SAMPLES);
        }
        assert_eq!(i.samples().len(), MAX_SAMPLES);
        assert_eq!(i.samples().iter().max(), Some(&1_000));
    }

    /// Past `MAX_SAMPLES` the kept samples stay a fair sample of the whole interval: after 4 x
    /// `MAX_SAMPLES` latencies, a quarter at 1 µs then three quarters at 1 ms, about three quarters of
    /// the kept ones are 1 ms (a scheme that keeps the first ones, or replaces only some slots, keeps
    /// far more of the 1 µs), and the p50 is 1 ms.
    #[test]
    fn a_full_interval_keeps_a_uniform_sample_of_all_its_latencies() {
        let mut i = Interval::new(0);
        let n = 4 * MAX_SAMPLES as u64;
        for k in 0..n {
            let us = if k < n / 4 { 1 } else { 1_000 };
            i.message();
            i.latency(us * 1_000, 0);
        }
        let late = i.samples().iter().filter(|&&s| s == 1_000).count() as f64;
        let share = late / MAX_SAMPLES as f64;
        assert!(
            (0.72..0.78).contains(&share),
            "share of the last three quarters: {share}"
        );
        let (_, summary) = i.roll(1_000_000_000);
        assert_eq!(summary.p50, 1_000.0);
        assert!(i.samples().is_empty());
    }
}
