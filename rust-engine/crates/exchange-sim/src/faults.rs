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
//!   while, announce Binance's `serverShutdown` event and hang up a grace period later.

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
    /// Every market-data connection open at that time is sent Binance's `serverShutdown` event
    /// ([`crate::wire::server_shutdown`]) and is closed (close code 1001 "server shutdown") this
    /// long after the event was written to it (a stall or latency delays the event like every
    /// frame, and the close with it), unless its client leaves first. New connections are accepted
    /// throughout.
    ServerShutdown(Duration),
}

/// Default grace of [`TimedFault::ServerShutdown`]: how long after the `serverShutdown` event the
/// venue closes the connections its clients have not left yet.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

impl std::fmt::Display for TimedFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TimedFault::Disconnect => write!(f, "disconnect"),
            TimedFault::Stall(d) => write!(f, "stall for {:.3} s", d.as_secs_f64()),
            TimedFault::Refuse(d) => write!(f, "refuse connections for {:.3} s", d.as_secs_f64()),
            TimedFault::ServerShutdown(d) => {
                write!(f, "serverShutdown, closing after {:.3} s", d.as_secs_f64())
            }
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
    /// Increases each time every connection must be sent `serverShutdown`.
    pub shutdowns: u64,
    /// How long after the latest `serverShutdown` a connection is closed.
    pub shutdown_grace: Duration,
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
            TimedFault::ServerShutdown(grace) => venue.announce_shutdown(grace),
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
    /// This fraction of new orders is executed, then answered HTTP 500 with -1007.
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
    /// `serverShutdown` events sent (one per connection told).
    pub server_shutdowns: AtomicU64,
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
    due: VecDeque<(Instant, Outgoing)>,
    held: Vec<(u32, String)>,
}

/// A frame leaving an [`Outbox`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The text to send.
    pub text: String,
    /// Set on a `serverShutdown` event ([`TimedFault::ServerShutdown`]): its grace, which runs
    /// from when the frame is written to the socket (a stall or latency delays the close too).
    pub shutdown_grace: Option<Duration>,
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
        self.queue(
            Outgoing {
                text,
                shutdown_grace: None,
            },
            now,
        );
    }

    /// Queues the `serverShutdown` event `text` at `now`, never held back; it leaves marked with
    /// its `grace` ([`Outgoing::shutdown_grace`]).
    pub fn push_server_shutdown(&mut self, text: String, grace: Duration, now: Instant) {
        self.queue(
            Outgoing {
                text,
                shutdown_grace: Some(grace),
            },
            now,
        );
    }

    /// Queues `frame`, due after the latency, and the held frames whose wait it ends.
    fn queue(&mut self, frame: Outgoing, now: Instant) {
        let at = now + self.latency;
        self.due.push_back((at, frame));
        let mut i = 0;
        while i < self.held.len() {
            self.held[i].0 -= 1;
            if self.held[i].0 == 0 {
                let (_, text) = self.held.remove(i);
                self.due.push_back((at, plain(text)));
            } else {
                i += 1;
            }
        }
    }

    /// No later frame will come (the replay ended): the frames held behind later ones are due too,
    /// after those already queued.
    pub fn release_held(&mut self, now: Instant) {
        let at = now + self.latency;
        for (_, text) in self.held.drain(..) {
            self.due.push_back((at, plain(text)));
        }
    }

    /// When the next frame is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.due.front().map(|(at, _)| *at)
    }

    /// The next frame due at `now`.
    pub fn pop_ready(&mut self, now: Instant) -> Option<Outgoing> {
        if self.due.front()?.0 <= now {
            self.due.pop_front().map(|(_, f)| f)
        } else {
            None
        }
    }
}

/// A frame of the stream, not marked.
fn plain(text: String) -> Outgoing {
    Outgoing {
        text,
        shutdown_grace: None,
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
#[path = "faults_tests.rs"]
mod tests;
