//! Fault injection: the venue misbehaving on purpose so that tests can prove the engine's book
//! survives it. Every fault is switched on from the command line or a scenario file
//! ([`crate::scenario`]), logged when it takes effect, and counted in `/sim/stats`.
//!
//! * Per connection ([`Faults`], drawn per frame by an [`Injector`] seeded by `--seed` and the
//!   connection's number, so a run is reproducible): dropped depth events, duplicates, reordering
//!   within a window, malformed JSON, NaN/negative prices, a constant delivery delay (latency), a
//!   hang-up every N seconds, refused reconnects after a hang-up, and REST snapshots older than the
//!   stream.
//! * At given times after the replay starts ([`Scheduled`], applied to every connection by
//!   [`run_schedule`]): hang up, stall (stop sending for a while), refuse new connections for a
//!   while.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;
use tracing::info;

use crate::venue::Venue;

/// Which faults, how often (probabilities per frame).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Faults {
    /// Drop this fraction of depth events (the client sees gaps).
    pub drop_depth: f64,
    /// Send this fraction of frames twice.
    pub duplicate: f64,
    /// Replace this fraction of frames by broken JSON.
    pub malformed: f64,
    /// Give this fraction of trades a price of `NaN` or `-1`.
    pub bad_price: f64,
    /// Hold back this fraction of frames behind up to [`reorder_window`](Self::reorder_window)
    /// later ones.
    pub reorder: f64,
    /// Most later frames a held-back frame waits behind (at least 1).
    pub reorder_window: u32,
    /// Deliver every frame this much later than the replay emits it (latency).
    pub latency: Duration,
    /// Close every connection after this long.
    pub disconnect_every: Option<Duration>,
    /// After the venue hangs up on purpose, refuse new connections for this long.
    pub refuse_reconnects: Option<Duration>,
    /// Serve this fraction of REST snapshots from the past, older than the stream.
    pub stale_snapshot: f64,
    /// How many updates behind a stale snapshot is.
    pub stale_snapshot_updates: u32,
}

/// Default of [`Faults::reorder_window`].
pub const DEFAULT_REORDER_WINDOW: u32 = 3;
/// Default of [`Faults::stale_snapshot_updates`]: five seconds of 100-ms updates.
pub const DEFAULT_STALE_SNAPSHOT_UPDATES: u32 = 50;

/// A fault applied to every connection at a given time after the replay starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scheduled {
    /// Time after the replay's start (wall clock).
    pub at: Duration,
    /// What happens then.
    pub fault: TimedFault,
}

/// What a [`Scheduled`] fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimedFault {
    /// Every connection is closed with a close frame.
    Disconnect,
    /// Every connection stops sending for this long, then delivers what it held back.
    Stall(Duration),
    /// New connections are refused (HTTP 503) for this long.
    Refuse(Duration),
}

impl std::fmt::Display for TimedFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TimedFault::Disconnect => write!(f, "disconnect"),
            TimedFault::Stall(d) => write!(f, "stall for {:.3} s", d.as_secs_f64()),
            TimedFault::Refuse(d) => write!(f, "refuse connections for {:.3} s", d.as_secs_f64()),
        }
    }
}

/// What connections must do now, broadcast by the venue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Control {
    /// Increases each time every connection must hang up.
    pub kicks: u64,
    /// Connections send nothing until then.
    pub stalled_until: Option<Instant>,
}

/// Applies `schedule` to `venue`'s connections, timed from the replay's start; returns when the
/// last fault has been applied.
pub async fn run_schedule(venue: Arc<Venue>, mut schedule: Vec<Scheduled>) {
    if schedule.is_empty() {
        return;
    }
    schedule.sort_by_key(|s| s.at);
    while !venue.stats.replay_started.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let start = Instant::now();
    for s in schedule {
        tokio::time::sleep_until(start + s.at).await;
        info!(at_secs = s.at.as_secs_f64(), fault = %s.fault, "scheduled fault");
        match s.fault {
            TimedFault::Disconnect => venue.kick_all(),
            TimedFault::Stall(d) => {
                venue.fault_counts.stalls.fetch_add(1, Ordering::Relaxed);
                venue.stall_all(d);
            }
            TimedFault::Refuse(d) => venue.refuse_for(d),
        }
    }
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            drop_depth: 0.0,
            duplicate: 0.0,
            malformed: 0.0,
            bad_price: 0.0,
            reorder: 0.0,
            reorder_window: DEFAULT_REORDER_WINDOW,
            latency: Duration::ZERO,
            disconnect_every: None,
            refuse_reconnects: None,
            stale_snapshot: 0.0,
            stale_snapshot_updates: DEFAULT_STALE_SNAPSHOT_UPDATES,
        }
    }
}

impl Faults {
    /// True when any fault is on.
    pub fn any(&self) -> bool {
        *self != Faults::default()
    }
}

/// Faults of the order API (`--order-timeout`, `--order-reject`, `--order-latency-ms`), applied to
/// `POST /api/v3/order` requests that passed the key, signature and timestamp checks.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OrderFaults {
    /// This fraction of new orders is executed but never answered (the client times out).
    pub timeout: f64,
    /// This fraction of new orders is executed, then answered HTTP 503 with -1007.
    pub reject: f64,
    /// Every order request (new, query, cancel, ...) is delayed this much before it is executed.
    pub latency: Duration,
    /// This fraction of user data stream events (executionReport, outboundAccountPosition) is
    /// never sent to any subscriber.
    pub drop_user_events: f64,
}

impl OrderFaults {
    /// True when any order fault is set.
    pub fn any(&self) -> bool {
        *self != OrderFaults::default()
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
    /// Frames held back behind later ones.
    pub reordered: AtomicU64,
    /// Connections closed on purpose.
    pub disconnects: AtomicU64,
    /// Connections refused.
    pub refused: AtomicU64,
    /// Stalls applied.
    pub stalls: AtomicU64,
    /// Snapshots served from the past.
    pub stale_snapshots: AtomicU64,
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
        /// Hold it back behind this many later frames.
        hold: Option<u32>,
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
            let mut cut = text.len() / 2;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text[..cut].to_owned()
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
        let hold = self.hit(self.faults.reorder).then(|| {
            counts.reordered.fetch_add(1, Ordering::Relaxed);
            self.rng.gen_range(1..=self.faults.reorder_window.max(1))
        });
        Action::Send { text, twice, hold }
    }

    /// How long a connection may live, if limited.
    pub fn lifetime(&self) -> Option<Duration> {
        self.faults.disconnect_every
    }
}

/// Frames on their way out of one connection: each is due [`Faults::latency`] after it was
/// queued, and a held-back frame goes out right after the frame that ends its wait.
#[derive(Debug)]
pub struct Outbox {
    latency: Duration,
    due: VecDeque<(Instant, String)>,
    held: Vec<(u32, String)>,
}

impl Outbox {
    /// An empty outbox delaying frames by `latency`.
    pub fn new(latency: Duration) -> Self {
        Outbox {
            latency,
            due: VecDeque::new(),
            held: Vec::new(),
        }
    }

    /// Queues `text` at `now`, or holds it behind `hold` later frames.
    pub fn push(&mut self, text: String, hold: Option<u32>, now: Instant) {
        if let Some(n) = hold {
            self.held.push((n, text));
            return;
        }
        let at = now + self.latency;
        self.due.push_back((at, text));
        let mut i = 0;
        while i < self.held.len() {
            self.held[i].0 -= 1;
            if self.held[i].0 == 0 {
                let (_, t) = self.held.remove(i);
                self.due.push_back((at, t));
            } else {
                i += 1;
            }
        }
    }

    /// When the next frame is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.due.front().map(|(at, _)| *at)
    }

    /// The next frame due at `now`.
    pub fn pop_ready(&mut self, now: Instant) -> Option<String> {
        if self.due.front()?.0 <= now {
            self.due.pop_front().map(|(_, t)| t)
        } else {
            None
        }
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
                    twice: false,
                    hold: None
                }
            );
        }
    }

    /// A malformed frame is the first half of the text, cut on a character boundary: a frame with
    /// multi-byte characters around its middle is broken, never a panic.
    #[test]
    fn a_malformed_frame_is_cut_on_a_character_boundary() {
        let f = Faults {
            malformed: 1.0,
            ..Faults::default()
        };
        let mut inj = Injector::new(f, 1, 1);
        let c = FaultCounts::default();
        for text in ["{\"s\":\"ÀÀÀÀ\"}", "ééééé", "{\"e\":\"trade\"}"] {
            let Action::Send { text: cut, .. } = inj.apply(text.to_owned(), false, true, &c) else {
                panic!("a malformed frame is sent");
            };
            assert!(
                text.starts_with(&cut) && cut.len() < text.len(),
                "{text:?} -> {cut:?}"
            );
            assert!(text.len() / 2 - cut.len() < 4, "{text:?} -> {cut:?}");
        }
        assert_eq!(c.malformed.load(Ordering::Relaxed), 3);
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

    /// `--drop-depth` drops depth events only: trades (and anything else) always go out.
    #[test]
    fn drop_depth_spares_trades() {
        let f = Faults {
            drop_depth: 1.0,
            ..Faults::default()
        };
        let mut inj = Injector::new(f, 3, 1);
        let c = FaultCounts::default();
        for _ in 0..50 {
            assert_eq!(inj.apply("d".into(), true, false, &c), Action::Drop);
            assert_eq!(
                inj.apply("t".into(), false, true, &c),
                Action::Send {
                    text: "t".into(),
                    twice: false,
                    hold: None
                }
            );
        }
        assert_eq!(c.dropped.load(Ordering::Relaxed), 50);
    }

    /// `--bad-price` touches trades only, and gives them `NaN` or `-1`, both drawn.
    #[test]
    fn bad_prices_are_nan_or_negative_and_only_on_trades() {
        let f = Faults {
            bad_price: 1.0,
            ..Faults::default()
        };
        let mut inj = Injector::new(f, 9, 2);
        let c = FaultCounts::default();
        let depth = r#"{"e":"depthUpdate","p":"0.1","b":[]}"#;
        let Action::Send { text, .. } = inj.apply(depth.into(), true, false, &c) else {
            panic!("depth is not dropped")
        };
        assert_eq!(text, depth, "depth events keep their text");
        assert_eq!(c.bad_prices.load(Ordering::Relaxed), 0);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..100 {
            let Action::Send { text, .. } = inj.apply(
                r#"{"e":"trade","p":"0.15830000","q":"1"}"#.into(),
                false,
                true,
                &c,
            ) else {
                panic!("trades are not dropped")
            };
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            seen.insert(v["p"].as_str().unwrap().to_owned());
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["-1", "NaN"]);
        assert_eq!(c.bad_prices.load(Ordering::Relaxed), 100);
    }

    /// The schedule is applied in time order whatever its order as given, from the replay's start:
    /// a hang-up (then reconnects refused for `--refuse-reconnects`), a stall lasting its whole
    /// length, a refusal lasting its whole length; each counted and logged.
    #[tokio::test(start_paused = true)]
    async fn the_schedule_runs_in_time_order_for_the_given_lengths() {
        use crate::book::Book;
        use crate::exchange_info::SymbolSpec;
        use crate::venue::VenueOptions;
        let logs = crate::log_capture::LogBuf::default();
        let _logging = tracing::subscriber::set_default(logs.subscriber());
        let spec = SymbolSpec::new_checked("POLUSDT", 10_000, 10_000_000, 500_000_000).unwrap();
        let opts = VenueOptions {
            faults: Faults {
                refuse_reconnects: Some(Duration::from_secs(1)),
                ..Faults::default()
            },
            ..VenueOptions::new(spec)
        };
        let venue = Venue::new(opts, Book::empty(1), None);
        let secs = Duration::from_secs;
        let schedule = vec![
            Scheduled {
                at: secs(10),
                fault: TimedFault::Refuse(secs(4)),
            },
            Scheduled {
                at: secs(5),
                fault: TimedFault::Stall(secs(3)),
            },
            Scheduled {
                at: secs(2),
                fault: TimedFault::Disconnect,
            },
        ];
        let run = tokio::spawn(run_schedule(venue.clone(), schedule));
        // Nothing happens before the replay starts.
        tokio::time::sleep(secs(60)).await;
        assert_eq!(*venue.control.borrow(), Control::default());
        venue.stats.replay_started.store(true, Ordering::Relaxed);
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let count = |a: &AtomicU64| a.load(Ordering::Relaxed);

        tokio::time::sleep_until(at(2_500)).await;
        assert_eq!(
            *venue.control.borrow(),
            Control {
                kicks: 1,
                stalled_until: None
            }
        );
        assert!(
            venue.refuses_connection(),
            "refused right after the hang-up"
        );
        tokio::time::sleep_until(at(3_500)).await;
        assert!(!venue.refuses_connection(), "refused only for 1 s");

        tokio::time::sleep_until(at(5_500)).await;
        let stalled_until = venue
            .control
            .borrow()
            .stalled_until
            .expect("stalled at 5 s");
        assert!(
            (at(8_000)..at(8_100)).contains(&stalled_until),
            "a 3-s stall from 5 s"
        );
        assert_eq!(count(&venue.fault_counts.stalls), 1);
        assert!(!venue.refuses_connection());

        tokio::time::sleep_until(at(13_500)).await;
        assert!(venue.refuses_connection(), "refused from 10 s for 4 s");
        tokio::time::sleep_until(at(14_500)).await;
        assert!(!venue.refuses_connection());
        run.await.unwrap();
        assert_eq!(count(&venue.fault_counts.refused), 2);
        assert_eq!(venue.control.borrow().kicks, 1);
        let logged = logs.lines_with("scheduled fault");
        assert_eq!(logged.len(), 3, "{logged:?}");
        for (line, fault) in logged.iter().zip([
            "fault=disconnect",
            "fault=stall for 3.000 s",
            "fault=refuse connections for 4.000 s",
        ]) {
            assert!(line.contains(fault), "{line}");
        }
        assert_eq!(logs.lines_with("fault: refusing new connections").len(), 2);
    }

    #[test]
    fn outbox_delays_and_reorders() {
        let t0 = Instant::now();
        let mut out = Outbox::new(Duration::from_millis(100));
        out.push("a".into(), Some(2), t0);
        out.push("b".into(), None, t0);
        assert_eq!(out.pop_ready(t0), None, "not due before the latency");
        out.push("c".into(), None, t0);
        let later = t0 + Duration::from_millis(100);
        assert_eq!(out.next_due(), Some(later));
        let sent: Vec<String> = std::iter::from_fn(|| out.pop_ready(later)).collect();
        assert_eq!(sent, ["b", "c", "a"]);
    }

    #[test]
    fn reorder_holds_frames_within_the_window() {
        let f = Faults {
            reorder: 0.5,
            reorder_window: 3,
            ..Faults::default()
        };
        let mut inj = Injector::new(f, 5, 1);
        let c = FaultCounts::default();
        let mut out = Outbox::new(Duration::ZERO);
        let now = Instant::now();
        for i in 0..200u32 {
            let Action::Send { text, hold, .. } = inj.apply(i.to_string(), true, false, &c) else {
                panic!("nothing is dropped")
            };
            assert!(hold.is_none_or(|h| (1..=3).contains(&h)));
            out.push(text, hold, now);
        }
        let sent: Vec<u32> = std::iter::from_fn(|| out.pop_ready(now))
            .map(|t| t.parse().unwrap())
            .collect();
        let moved = sent
            .iter()
            .enumerate()
            .filter(|(i, &v)| *i as u32 != v)
            .count();
        assert!(c.reordered.load(Ordering::Relaxed) > 50 && moved > 50);
        for (pos, &v) in sent.iter().enumerate() {
            assert!(pos as u32 <= v + 3 * 4, "frame {v} sent at {pos}");
        }
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
