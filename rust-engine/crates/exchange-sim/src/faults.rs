//! Fault injection, per client connection: the venue misbehaving on purpose so that tests can prove
//! the engine's book survives it. Every fault is switched on from the command line, logged when the
//! connection starts, and counted in `/sim/stats`. Draws come from a generator seeded by `--seed` and
//! the connection's number, so a run is reproducible.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Which faults, how often (probabilities per frame).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Faults {
    /// Drop this fraction of depth events (the client sees gaps).
    pub drop_depth: f64,
    /// Send this fraction of frames twice.
    pub duplicate: f64,
    /// Replace this fraction of frames by broken JSON.
    pub malformed: f64,
    /// Give this fraction of trades a price of `NaN` or `-1`.
    pub bad_price: f64,
    /// Close every connection after this long.
    pub disconnect_every: Option<Duration>,
}

impl Faults {
    /// True when any fault is on.
    pub fn any(&self) -> bool {
        *self != Faults::default()
    }
}

/// Injected faults, counted.
#[derive(Debug, Default)]
pub struct FaultCounts {
    /// Depth events dropped.
    pub dropped: AtomicU64,
    /// Frames duplicated.
    pub duplicated: AtomicU64,
    /// Frames broken.
    pub malformed: AtomicU64,
    /// Trades with a bad price.
    pub bad_prices: AtomicU64,
    /// Connections closed on purpose.
    pub disconnects: AtomicU64,
}

/// What to do with one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send it, once or twice.
    Send {
        /// The text to send.
        text: String,
        /// Send it a second time.
        twice: bool,
    },
    /// Do not send it.
    Drop,
}

/// The faults of one connection.
#[derive(Debug)]
pub struct Injector {
    faults: Faults,
    rng: StdRng,
}

impl Injector {
    /// Faults for connection number `conn`.
    pub fn new(faults: Faults, seed: u64, conn: u64) -> Self {
        Injector {
            faults,
            rng: StdRng::seed_from_u64(seed ^ conn.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        }
    }

    fn hit(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.gen::<f64>() < p
    }

    /// Decides the fate of a frame; `depth` and `trade` say what it carries.
    pub fn apply(
        &mut self,
        text: String,
        depth: bool,
        trade: bool,
        counts: &FaultCounts,
    ) -> Action {
        if depth && self.hit(self.faults.drop_depth) {
            counts.dropped.fetch_add(1, Ordering::Relaxed);
            return Action::Drop;
        }
        let text = if self.hit(self.faults.malformed) {
            counts.malformed.fetch_add(1, Ordering::Relaxed);
            text[..text.len() / 2].to_owned()
        } else if trade && self.hit(self.faults.bad_price) {
            counts.bad_prices.fetch_add(1, Ordering::Relaxed);
            let bad = if self.rng.gen_bool(0.5) { "NaN" } else { "-1" };
            replace_price(&text, bad)
        } else {
            text
        };
        let twice = self.hit(self.faults.duplicate);
        if twice {
            counts.duplicated.fetch_add(1, Ordering::Relaxed);
        }
        Action::Send { text, twice }
    }

    /// How long a connection may live, if limited.
    pub fn lifetime(&self) -> Option<Duration> {
        self.faults.disconnect_every
    }
}

/// Replaces the value of the first `"p":"..."` by `bad`.
fn replace_price(text: &str, bad: &str) -> String {
    match text.find("\"p\":\"") {
        Some(i) => {
            let start = i + 5;
            let end = text[start..].find('"').map_or(text.len(), |j| start + j);
            format!("{}{bad}{}", &text[..start], &text[end..])
        }
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_faults_passes_everything() {
        let mut inj = Injector::new(Faults::default(), 1, 1);
        let c = FaultCounts::default();
        for _ in 0..100 {
            assert_eq!(
                inj.apply("x".into(), true, false, &c),
                Action::Send {
                    text: "x".into(),
                    twice: false
                }
            );
        }
    }

    #[test]
    fn rates_are_roughly_the_asked_ones_and_reproducible() {
        let f = Faults {
            drop_depth: 0.1,
            duplicate: 0.1,
            ..Faults::default()
        };
        let run = || {
            let mut inj = Injector::new(f, 7, 3);
            let c = FaultCounts::default();
            let acts: Vec<Action> = (0..2000)
                .map(|_| inj.apply("{}".into(), true, false, &c))
                .collect();
            (
                acts,
                c.dropped.load(Ordering::Relaxed),
                c.duplicated.load(Ordering::Relaxed),
            )
        };
        let (a, dropped, dup) = run();
        assert!((150..250).contains(&dropped), "{dropped}");
        assert!((120..240).contains(&dup), "{dup}");
        assert_eq!(a, run().0);
    }

    #[test]
    fn bad_price_and_malformed() {
        assert_eq!(
            replace_price(r#"{"a":1,"p":"0.15830000","q":"1"}"#, "NaN"),
            r#"{"a":1,"p":"NaN","q":"1"}"#
        );
        let f = Faults {
            malformed: 1.0,
            ..Faults::default()
        };
        let mut inj = Injector::new(f, 1, 1);
        let c = FaultCounts::default();
        match inj.apply(r#"{"e":"trade","p":"1"}"#.into(), false, true, &c) {
            Action::Send { text, .. } => {
                assert!(serde_json::from_str::<serde_json::Value>(&text).is_err())
            }
            Action::Drop => panic!("malformed frames are sent"),
        }
    }
}
