//! Reconnect delays: exponential from an initial delay to a cap, with full jitter.

use std::time::Duration;

use rand::Rng;

/// Exponential backoff with jitter.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial_ms: u64,
    max_ms: u64,
    attempt: u32,
}

impl Backoff {
    /// New backoff; `max_ms` is raised to `initial_ms` if lower.
    pub fn new(initial_ms: u64, max_ms: u64) -> Self {
        Backoff {
            initial_ms,
            max_ms: max_ms.max(initial_ms),
            attempt: 0,
        }
    }

    /// Ceiling of the next delay (before jitter).
    pub fn ceiling_ms(&self) -> u64 {
        let factor = 1u64 << self.attempt.min(32);
        self.initial_ms.saturating_mul(factor).min(self.max_ms)
    }

    /// Next delay: uniform in [ceiling/2, ceiling], then the ceiling doubles.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling_ms();
        self.attempt = self.attempt.saturating_add(1);
        let ms = rand::thread_rng().gen_range(ceiling / 2..=ceiling);
        Duration::from_millis(ms)
    }

    /// Failed attempts since the last success.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// After a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap_with_jitter_inside() {
        let mut b = Backoff::new(100, 1000);
        let ceilings: Vec<u64> = (0..6)
            .map(|_| {
                let c = b.ceiling_ms();
                let d = b.next_delay().as_millis() as u64;
                assert!(d >= c / 2 && d <= c, "{d} outside [{}, {c}]", c / 2);
                c
            })
            .collect();
        assert_eq!(ceilings, vec![100, 200, 400, 800, 1000, 1000]);
        b.reset();
        assert_eq!(b.ceiling_ms(), 100);
    }

    /// With the feed's settings (0.5 s, capped at 60 s) the delay stays within the cap however many
    /// attempts fail, and it is jittered: draws at the cap are not all the same.
    #[test]
    fn capped_at_sixty_seconds_with_jitter_after_many_attempts() {
        let mut b = Backoff::new(500, 60_000);
        let delays: Vec<u64> = (0..200)
            .map(|_| b.next_delay().as_millis() as u64)
            .collect();
        assert_eq!(b.ceiling_ms(), 60_000);
        assert!(delays.iter().all(|&d| d <= 60_000), "{delays:?}");
        let at_cap = &delays[100..];
        assert!(at_cap.iter().all(|&d| d >= 30_000), "{at_cap:?}");
        // 100 uniform draws from 30 001 values are all equal with probability 30001^-99.
        assert!(
            at_cap.iter().any(|&d| d != at_cap[0]),
            "no jitter: {at_cap:?}"
        );
    }
}
