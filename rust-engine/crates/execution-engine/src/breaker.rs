//! A circuit breaker on venue errors.
//!
//! `Closed` (requests go) → `Open` after N consecutive venue errors, or N within a window;
//! `Open` (requests refused) → `HalfOpen` once the cool-down has passed; `HalfOpen` lets one probe
//! through: its success closes the breaker, its failure opens it again for another cool-down.
//! Every change is returned as a [`Transition`] for the caller to log and publish. Time is passed
//! in (ms), never read here.

use std::collections::VecDeque;

/// When the breaker trips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trip {
    /// After this many errors in a row (a success resets the count).
    Consecutive(u32),
    /// After `count` errors within `window_ms`, successes or not.
    WithinWindow {
        /// Errors needed.
        count: u32,
        /// Window, ms.
        window_ms: u64,
    },
}

/// Breaker settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// When to open.
    pub trip: Trip,
    /// How long to stay open before a probe, ms.
    pub cool_down_ms: u64,
}

/// Settings that cannot work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BreakerError {
    /// A trip count of 0 would open the breaker with no error.
    #[error("breaker trip count must be at least 1")]
    ZeroCount,
    /// A window of 0 ms would never hold an error.
    #[error("breaker window must be at least 1 ms")]
    ZeroWindow,
}

/// The breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Requests go.
    Closed,
    /// Requests are refused until `until_ms`.
    Open {
        /// When it opened, ms.
        since_ms: u64,
        /// When a probe may go, ms.
        until_ms: u64,
    },
    /// One probe may go; its outcome decides.
    HalfOpen,
}

impl BreakerState {
    /// Short name for logs: `closed`, `open`, `half_open`.
    pub fn name(&self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open { .. } => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// What caused a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionCause {
    /// Too many errors while closed (the count that tripped it).
    Tripped(u32),
    /// The cool-down ended.
    CoolDownOver,
    /// The probe succeeded.
    ProbeSucceeded,
    /// The probe failed.
    ProbeFailed,
}

/// A state change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// State before.
    pub from: BreakerState,
    /// State after.
    pub to: BreakerState,
    /// Why.
    pub cause: TransitionCause,
    /// When, ms.
    pub at_ms: u64,
}

/// A refused request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Open; a probe may go in `retry_in_ms`.
    #[error("circuit open; probe allowed in {retry_in_ms} ms")]
    Open {
        /// Wait before the probe, ms.
        retry_in_ms: u64,
    },
    /// Half-open and the probe is still out.
    #[error("circuit half-open; waiting for the probe's outcome")]
    ProbeInFlight,
}

/// The circuit breaker.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    state: BreakerState,
    probe_in_flight: bool,
    consecutive: u32,
    recent: VecDeque<u64>,
}

impl CircuitBreaker {
    /// A closed breaker.
    ///
    /// # Errors
    /// [`BreakerError`] for a count or window of 0.
    pub fn new(config: BreakerConfig) -> Result<Self, BreakerError> {
        match config.trip {
            Trip::Consecutive(0) | Trip::WithinWindow { count: 0, .. } => {
                return Err(BreakerError::ZeroCount)
            }
            Trip::WithinWindow { window_ms: 0, .. } => return Err(BreakerError::ZeroWindow),
            _ => {}
        }
        Ok(CircuitBreaker {
            config,
            state: BreakerState::Closed,
            probe_in_flight: false,
            consecutive: 0,
            recent: VecDeque::new(),
        })
    }

    /// The current state (an `Open` breaker past its cool-down stays `Open` until
    /// [`Self::poll`] or [`Self::allow`]).
    pub fn state(&self) -> BreakerState {
        self.state
    }

    fn set(&mut self, to: BreakerState, cause: TransitionCause, at_ms: u64) -> Transition {
        let from = self.state;
        self.state = to;
        self.probe_in_flight = false;
        Transition {
            from,
            to,
            cause,
            at_ms,
        }
    }

    fn open(&mut self, cause: TransitionCause, now_ms: u64) -> Transition {
        self.consecutive = 0;
        self.recent.clear();
        self.set(
            BreakerState::Open {
                since_ms: now_ms,
                until_ms: now_ms.saturating_add(self.config.cool_down_ms),
            },
            cause,
            now_ms,
        )
    }

    /// Moves `Open` to `HalfOpen` once the cool-down is over.
    pub fn poll(&mut self, now_ms: u64) -> Option<Transition> {
        match self.state {
            BreakerState::Open { until_ms, .. } if now_ms >= until_ms => Some(self.set(
                BreakerState::HalfOpen,
                TransitionCause::CoolDownOver,
                now_ms,
            )),
            _ => None,
        }
    }

    /// Asks to send a request. `Ok` carries the transition to `HalfOpen` when this request is
    /// the probe that ends a cool-down.
    ///
    /// # Errors
    /// [`Refused`] while open, or half-open with the probe out.
    pub fn allow(&mut self, now_ms: u64) -> Result<Option<Transition>, Refused> {
        let transition = self.poll(now_ms);
        match self.state {
            BreakerState::Closed => Ok(transition),
            BreakerState::Open { until_ms, .. } => Err(Refused::Open {
                retry_in_ms: until_ms.saturating_sub(now_ms),
            }),
            BreakerState::HalfOpen if self.probe_in_flight => Err(Refused::ProbeInFlight),
            BreakerState::HalfOpen => {
                self.probe_in_flight = true;
                Ok(transition)
            }
        }
    }

    /// Records a success.
    pub fn on_success(&mut self, now_ms: u64) -> Option<Transition> {
        self.consecutive = 0;
        match self.state {
            BreakerState::HalfOpen => {
                self.recent.clear();
                Some(self.set(
                    BreakerState::Closed,
                    TransitionCause::ProbeSucceeded,
                    now_ms,
                ))
            }
            _ => None,
        }
    }

    /// Records a venue error.
    pub fn on_failure(&mut self, now_ms: u64) -> Option<Transition> {
        match self.state {
            BreakerState::HalfOpen => Some(self.open(TransitionCause::ProbeFailed, now_ms)),
            // Late answers of requests sent before it opened change nothing.
            BreakerState::Open { .. } => None,
            BreakerState::Closed => {
                self.consecutive = self.consecutive.saturating_add(1);
                let count = match self.config.trip {
                    Trip::Consecutive(n) => (self.consecutive >= n).then_some(self.consecutive),
                    Trip::WithinWindow { count, window_ms } => {
                        self.recent.push_back(now_ms);
                        while self
                            .recent
                            .front()
                            .is_some_and(|&t| now_ms.saturating_sub(t) >= window_ms)
                        {
                            self.recent.pop_front();
                        }
                        let seen = u32::try_from(self.recent.len()).unwrap_or(u32::MAX);
                        (seen >= count).then_some(seen)
                    }
                };
                count.map(|n| self.open(TransitionCause::Tripped(n), now_ms))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use BreakerState::{Closed, HalfOpen, Open};

    fn breaker(trip: Trip) -> CircuitBreaker {
        CircuitBreaker::new(BreakerConfig {
            trip,
            cool_down_ms: 30_000,
        })
        .unwrap()
    }

    #[test]
    fn opens_after_n_consecutive_errors() {
        let mut b = breaker(Trip::Consecutive(3));
        assert_eq!(b.on_failure(1), None);
        assert_eq!(b.on_failure(2), None);
        assert_eq!(b.on_success(3), None); // resets the run
        assert_eq!(b.on_failure(4), None);
        assert_eq!(b.on_failure(5), None);
        let t = b.on_failure(6).unwrap();
        assert_eq!(
            t,
            Transition {
                from: Closed,
                to: Open {
                    since_ms: 6,
                    until_ms: 30_006
                },
                cause: TransitionCause::Tripped(3),
                at_ms: 6
            }
        );
        assert_eq!(
            b.allow(10_006),
            Err(Refused::Open {
                retry_in_ms: 20_000
            })
        );
        assert_eq!(b.on_failure(10_007), None);
        assert_eq!(b.state().name(), "open");
    }

    #[test]
    fn half_open_probe_closes_on_success() {
        let mut b = breaker(Trip::Consecutive(1));
        b.on_failure(0).unwrap();
        assert_eq!(b.poll(29_999), None);
        let t = b.allow(30_000).unwrap().unwrap();
        assert_eq!(t.cause, TransitionCause::CoolDownOver);
        assert_eq!(t.to, HalfOpen);
        assert_eq!(b.state(), HalfOpen);
        assert_eq!(b.allow(30_001), Err(Refused::ProbeInFlight));
        let t = b.on_success(30_500).unwrap();
        assert_eq!(
            (t.from.name(), t.to, t.cause),
            ("half_open", Closed, TransitionCause::ProbeSucceeded)
        );
        assert_eq!(b.allow(30_501), Ok(None));
    }

    #[test]
    fn half_open_probe_failure_reopens() {
        let mut b = breaker(Trip::Consecutive(2));
        b.on_failure(0);
        b.on_failure(0).unwrap();
        assert!(b.poll(30_000).is_some());
        b.allow(30_000).unwrap();
        let t = b.on_failure(31_000).unwrap();
        assert_eq!(t.cause, TransitionCause::ProbeFailed);
        assert_eq!(
            t.to,
            Open {
                since_ms: 31_000,
                until_ms: 61_000
            }
        );
        // Closed again later: the count starts afresh.
        b.allow(61_000).unwrap();
        b.on_success(61_001).unwrap();
        assert_eq!(b.on_failure(61_002), None);
    }

    #[test]
    fn opens_after_n_errors_within_a_window() {
        let mut b = breaker(Trip::WithinWindow {
            count: 3,
            window_ms: 1_000,
        });
        assert_eq!(b.on_failure(0), None);
        assert_eq!(b.on_success(100), None); // successes do not clear the window
        assert_eq!(b.on_failure(500), None);
        // The error at 0 has left the window at 1000.
        assert_eq!(b.on_failure(1_000), None);
        let t = b.on_failure(1_400).unwrap();
        assert_eq!(t.cause, TransitionCause::Tripped(3));
    }

    #[test]
    fn bad_settings() {
        let cfg = |trip| BreakerConfig {
            trip,
            cool_down_ms: 1,
        };
        assert_eq!(
            CircuitBreaker::new(cfg(Trip::Consecutive(0))).unwrap_err(),
            BreakerError::ZeroCount
        );
        assert_eq!(
            CircuitBreaker::new(cfg(Trip::WithinWindow {
                count: 1,
                window_ms: 0
            }))
            .unwrap_err(),
            BreakerError::ZeroWindow
        );
    }

    proptest! {
        /// Every returned transition starts where the previous one ended, and the state only
        /// changes through returned transitions.
        #[test]
        fn transitions_chain(events in proptest::collection::vec((0u8..3, 0u64..20_000), 1..200)) {
            let mut b = breaker(Trip::Consecutive(2));
            let mut now = 0u64;
            for (kind, dt) in events {
                now += dt;
                let before = b.state();
                let t = match kind {
                    0 => b.allow(now).ok().flatten(),
                    1 => b.on_success(now),
                    _ => b.on_failure(now),
                };
                if let Some(t) = t {
                    prop_assert_eq!(t.from.name(), before.name());
                    prop_assert_eq!(t.to, b.state());
                } else {
                    // No transition, no change of state, whether the call was allowed or refused.
                    prop_assert_eq!(before.name(), b.state().name());
                }
            }
        }
    }
}
