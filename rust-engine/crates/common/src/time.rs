//! Wall-clock time. Every timestamp on the wire is nanoseconds since the Unix epoch, UTC.

use std::time::{SystemTime, UNIX_EPOCH};

/// Current wall-clock time in nanoseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Converts Binance milliseconds to nanoseconds, saturating instead of overflowing.
pub fn ms_to_ns(ms: u64) -> u64 {
    ms.saturating_mul(1_000_000)
}
