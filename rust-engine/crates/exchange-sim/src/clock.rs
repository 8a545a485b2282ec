//! The replay clock: how fast event time runs against the wall clock, and which time base the
//! emitted event times (`E`, `T`) use.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use crate::error::ConfigError;

/// How fast event time runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// Event time runs this many times faster than the wall clock (> 0, finite).
    Factor(f64),
    /// As fast as possible, yielding to the runtime and waiting (boundedly) for slow clients.
    Max,
}

impl FromStr for Speed {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        if s.eq_ignore_ascii_case("max") {
            return Ok(Speed::Max);
        }
        match s.parse::<f64>() {
            Ok(f) if f.is_finite() && f > 0.0 => Ok(Speed::Factor(f)),
            _ => Err(ConfigError::invalid(
                "speed",
                s,
                "expected a positive number or 'max'",
            )),
        }
    }
}

impl fmt::Display for Speed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Speed::Factor(x) => write!(f, "{x}x"),
            Speed::Max => f.write_str("max"),
        }
    }
}

/// Which time base emitted event times use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeBase {
    /// Shifted by a constant so that the first replayed event is stamped with the wall clock at the
    /// start of the replay, as a live venue stamps events.
    #[default]
    Rebased,
    /// As recorded.
    Original,
}

impl FromStr for TimeBase {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s {
            "rebased" => Ok(TimeBase::Rebased),
            "original" => Ok(TimeBase::Original),
            _ => Err(ConfigError::invalid(
                "timestamps",
                s,
                "expected 'rebased' or 'original'",
            )),
        }
    }
}

/// Wall clock, ms since the epoch.
pub fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Maps event time to wall time for a [`Speed::Factor`] replay.
#[derive(Debug, Clone, Copy)]
pub struct Pacer {
    start: Instant,
    t0_us: i64,
    factor: f64,
}

impl Pacer {
    /// Event time `t0_us` is now; event time then runs `factor` times faster than the wall clock.
    pub fn new(t0_us: i64, factor: f64) -> Self {
        Pacer {
            start: Instant::now(),
            t0_us,
            factor,
        }
    }

    /// The same pacer with event time `t0_us` due `lead_ms` from its start (earlier when negative:
    /// the events up to then are due at once).
    pub fn led_by(self, lead_ms: i64) -> Self {
        let by = Duration::from_millis(lead_ms.unsigned_abs());
        let start = if lead_ms >= 0 {
            self.start + by
        } else {
            self.start.checked_sub(by).unwrap_or(self.start)
        };
        Pacer { start, ..self }
    }

    /// When event time `event_us` is due.
    pub fn due(&self, event_us: i64) -> Instant {
        let secs = (event_us - self.t0_us).max(0) as f64 / 1e6 / self.factor;
        self.start
            + Duration::try_from_secs_f64(secs).unwrap_or(Duration::from_secs(u32::MAX.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_speeds() {
        assert_eq!("30".parse::<Speed>(), Ok(Speed::Factor(30.0)));
        assert_eq!("0.5".parse::<Speed>(), Ok(Speed::Factor(0.5)));
        assert_eq!("max".parse::<Speed>(), Ok(Speed::Max));
        for bad in ["0", "-1", "NaN", "inf", "fast", ""] {
            assert!(bad.parse::<Speed>().is_err(), "{bad}");
        }
        assert_eq!("original".parse::<TimeBase>(), Ok(TimeBase::Original));
        assert!("utc".parse::<TimeBase>().is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn pacer_scales_event_time() {
        let p = Pacer::new(1_000_000, 10.0);
        let start = Instant::now();
        assert_eq!(p.due(1_000_000), start);
        assert_eq!(p.due(11_000_000) - start, Duration::from_secs(1));
        assert_eq!(p.due(0), start);
        // Led by 300 ms, or 200 ms late: the same scale from a moved start.
        let led = p.led_by(300);
        assert_eq!(led.due(1_000_000) - start, Duration::from_millis(300));
        assert_eq!(led.due(11_000_000) - start, Duration::from_millis(1_300));
        let late = p.led_by(-200);
        assert_eq!(start - late.due(1_000_000), Duration::from_millis(200));
        assert_eq!(late.due(11_000_000) - start, Duration::from_millis(800));
    }
}
