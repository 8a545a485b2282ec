//! The replay: takes a source's events in event-time order, puts them on the replay clock, applies
//! book changes to the authoritative book (numbering them as Binance numbers its updates), merges
//! them into the 1000-ms stream, and publishes every event to the connections.
//!
//! Ordering guarantee: a book change is applied to the authoritative book before its event is
//! published, so a REST snapshot taken after a client subscribed is never newer than the first
//! event that client has not yet received — Binance's sync procedure then always succeeds.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tracing::{info, warn};

use crate::clock::{Pacer, Speed};
use crate::depth_batch::{batch_end, DepthBatch};
use crate::source::{DepthChange, EventSource, SourceEvent, UpdateIds};
use crate::trades_csv::TradeRow;
use crate::venue::{Frame, Venue, VenueOptions};
use crate::wire;

/// Events between two voluntary yields to the runtime when the replay runs ahead of its clock.
pub const YIELD_EVERY: u64 = 64;
/// At `--speed max`, the longest the replay waits for the ring to drain without any progress. A
/// client that stops reading is disconnected after [`crate::connection::SEND_TIMEOUT`], which frees
/// the ring sooner; this is only a safety net.
pub const MAX_STALL: Duration = Duration::from_secs(10);

/// When the replay clock starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// At once.
    Immediately,
    /// When the first market-data WebSocket client connects.
    OnFirstClient,
}

/// What a finished replay emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplaySummary {
    /// Trades emitted (each as one `aggTrade` and one `trade`).
    pub trades: u64,
    /// 100-ms depth updates emitted.
    pub depth_updates: u64,
    /// `u` of the last depth update (the book's final update id).
    pub last_update_id: u64,
}

impl fmt::Display for ReplaySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "trades={} depth_updates={} last_update_id={}",
            self.trades, self.depth_updates, self.last_update_id
        )
    }
}

/// A replay of one source.
pub struct Replay {
    venue: Arc<Venue>,
    source: Box<dyn EventSource>,
    speed: Speed,
}

impl Replay {
    /// Sets up the venue around the source's initial book.
    pub fn new(opts: VenueOptions, source: Box<dyn EventSource>, speed: Speed) -> Self {
        let venue = Venue::new(opts, source.initial_book(), source.first_time_us());
        Replay {
            venue,
            source,
            speed,
        }
    }

    /// The venue this replay feeds.
    pub fn venue(&self) -> &Arc<Venue> {
        &self.venue
    }

    /// Runs the replay to its end.
    pub async fn run(mut self, start: Start) -> ReplaySummary {
        if start == Start::OnFirstClient {
            let mut seen = self.venue.client_seen.subscribe();
            // The sender lives in the venue, which this replay holds: the wait ends only on a client.
            let _ = seen.wait_for(|s| *s).await;
        }
        let mut emitter = Emitter::new(Arc::clone(&self.venue));
        let Some(t0) = self.source.first_time_us() else {
            info!("nothing to replay");
            return emitter.finish(None);
        };
        let wall_speed = self.speed == Speed::Factor(1.0);
        let lead_ms = self.venue.rebase_now(t0, wall_speed);
        self.venue
            .stats
            .replay_started
            .store(true, Ordering::Relaxed);
        info!(source = %self.source.describe(), speed = %self.speed, "replay started");
        let mut pace = Pace::new(self.speed, t0, if wall_speed { lead_ms } else { 0 });
        let mut last_ts = t0;
        while let Some(ev) = self.source.next_event() {
            let ts = ev.ts_us().max(last_ts);
            last_ts = ts;
            emitter.close_batches_before(ts);
            pace.wait(ts, &self.venue).await;
            match ev {
                SourceEvent::Trade(t) => emitter.trade(&t),
                SourceEvent::Depth(d) => emitter.depth(&d),
            }
            emitter
                .venue
                .stats
                .event_time_ms
                .store(self.venue.emitted_ms(ts), Ordering::Relaxed);
        }
        emitter.finish(Some(last_ts))
    }
}

/// Waits for each event's time on the replay clock.
struct Pace {
    speed: Speed,
    pacer: Pacer,
    events: u64,
    /// A stalled client was given up on; do not wait for the ring to drain until it has.
    ignoring_backlog: bool,
}

impl Pace {
    /// Event time `t0` is due `lead_ms` from now (its stamp's lead over the venue's clock).
    fn new(speed: Speed, t0: i64, lead_ms: i64) -> Self {
        let factor = match speed {
            Speed::Factor(f) => f,
            Speed::Max => 1.0,
        };
        Pace {
            speed,
            pacer: Pacer::new(t0, factor).led_by(lead_ms),
            events: 0,
            ignoring_backlog: false,
        }
    }

    async fn wait(&mut self, ts: i64, venue: &Venue) {
        self.events += 1;
        if let Speed::Factor(_) = self.speed {
            let due = self.pacer.due(ts);
            if due > Instant::now() {
                tokio::time::sleep_until(due).await;
                return;
            }
        } else {
            self.make_room(venue).await;
        }
        if self.events % YIELD_EVERY == 0 {
            tokio::task::yield_now().await;
        }
    }

    /// At max speed: while the slowest client has more than half the ring to read, wait for it. A
    /// client that keeps reading slows the replay to its pace; one that stops reading holds it for
    /// at most [`crate::connection::SEND_TIMEOUT`], then is disconnected and the replay goes on.
    async fn make_room(&mut self, venue: &Venue) {
        let high = venue.queue_capacity / 2;
        let mut queued = venue.queued();
        if queued <= high {
            self.ignoring_backlog = false;
            return;
        }
        if self.ignoring_backlog {
            return;
        }
        let mut progress_at = Instant::now();
        while queued > high {
            tokio::time::sleep(Duration::from_millis(1)).await;
            let now_queued = venue.queued();
            if now_queued < queued {
                progress_at = Instant::now();
            } else if progress_at.elapsed() >= MAX_STALL {
                warn!(
                    queued = now_queued,
                    "a client has stopped reading: replaying on without it"
                );
                self.ignoring_backlog = true;
                return;
            }
            queued = now_queued;
        }
    }
}

/// Turns source events into frames.
struct Emitter {
    venue: Arc<Venue>,
    next_agg_id: Option<u64>,
    batch: DepthBatch,
    /// End of the open 1000-ms batch (event time, µs).
    batch_end_us: Option<i64>,
    trades: u64,
    depth_updates: u64,
}

impl Emitter {
    fn new(venue: Arc<Venue>) -> Self {
        Emitter {
            venue,
            next_agg_id: None,
            batch: DepthBatch::default(),
            batch_end_us: None,
            trades: 0,
            depth_updates: 0,
        }
    }

    fn symbol(&self) -> &str {
        &self.venue.spec.symbol
    }

    /// Emits the 1000-ms update of every batch that ends before `ts`.
    fn close_batches_before(&mut self, ts: i64) {
        match self.batch_end_us {
            Some(end) if ts > end => {
                self.flush_batch(end);
                self.batch_end_us = Some(batch_end(ts));
            }
            Some(_) => {}
            None => self.batch_end_us = Some(batch_end(ts)),
        }
    }

    fn flush_batch(&mut self, end_us: i64) {
        if let Some(m) = self.batch.take() {
            let e = self.venue.emitted_ms(end_us);
            let text = wire::depth_update(
                self.symbol(),
                e,
                m.first,
                m.last,
                &m.diff.bids,
                &m.diff.asks,
            );
            self.venue.publish(Frame::Depth1s(text));
            self.venue
                .stats
                .depth_1s_updates_sent
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    fn trade(&mut self, t: &TradeRow) {
        let ms = self.venue.emitted_ms(t.ts_us);
        let agg_id = *self.next_agg_id.get_or_insert(t.id);
        self.next_agg_id = Some(agg_id + 1);
        let agg = wire::agg_trade(self.symbol(), ms, agg_id, t, ms);
        let raw = wire::trade(self.symbol(), ms, t, ms);
        // Resting orders this trade trades through are filled before the trade is published.
        self.venue
            .trading
            .on_trade(t.price, t.qty, ms, self.venue.server_time_ms());
        self.venue.publish(Frame::AggTrade(agg));
        self.venue.publish(Frame::Trade(raw));
        self.trades += 1;
        self.venue.stats.trades_sent.fetch_add(1, Ordering::Relaxed);
    }

    fn depth(&mut self, d: &DepthChange) {
        let current = self.venue.update_id();
        let (first, last) = match d.ids {
            UpdateIds::Assign => (current + 1, current + d.diff.len() as u64),
            UpdateIds::Recorded { first, last } => (first, last),
        };
        if d.diff.is_empty() || last <= current {
            return;
        }
        self.venue.apply(&d.diff, last);
        let e = self.venue.emitted_ms(d.ts_us);
        let text = wire::depth_update(self.symbol(), e, first, last, &d.diff.bids, &d.diff.asks);
        self.venue.publish(Frame::Depth100ms(text));
        self.batch.add(first, last, &d.diff);
        self.depth_updates += 1;
        self.venue
            .stats
            .depth_updates_sent
            .fetch_add(1, Ordering::Relaxed);
    }

    fn finish(mut self, last_ts: Option<i64>) -> ReplaySummary {
        if let Some(ts) = last_ts {
            self.flush_batch(batch_end(ts));
        }
        self.venue.stats.replay_done.store(true, Ordering::Relaxed);
        let summary = ReplaySummary {
            trades: self.trades,
            depth_updates: self.depth_updates,
            last_update_id: self.venue.update_id(),
        };
        info!(%summary, "replay finished");
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::Book;
    use crate::clock::TimeBase;
    use crate::exchange_info::SymbolSpec;
    use crate::model::ModelParams;
    use crate::synthetic::SyntheticSource;
    use crate::units::SCALE;
    use crate::venue::INITIAL_UPDATE_ID;
    use serde_json::Value;

    fn trades() -> Vec<TradeRow> {
        (0..200u64)
            .map(|k| TradeRow {
                ts_us: 1_760_130_000_000_000 + k as i64 * 43_000,
                id: 1000 + k,
                price: 15_830_000 + 10_000 * (crate::model::mix(k) % 9),
                qty: SCALE,
                taker_sell: k % 3 == 0,
            })
            .collect()
    }

    fn replay() -> Replay {
        let spec = SymbolSpec::new_checked("POLUSDT", 10_000, SCALE / 10, 5 * SCALE).unwrap();
        let params = ModelParams {
            tick: 10_000,
            step: SCALE / 10,
            levels: 20,
            seed: 7,
        };
        let opts = VenueOptions {
            time_base: TimeBase::Original,
            ..VenueOptions::new(spec)
        };
        let source = SyntheticSource::new(trades(), params, INITIAL_UPDATE_ID);
        Replay::new(opts, Box::new(source), Speed::Max)
    }

    /// Everything published, in order, collected by a subscriber that keeps up.
    async fn run_collecting() -> (ReplaySummary, Vec<Frame>, Book, Arc<Venue>) {
        let r = replay();
        let venue = Arc::clone(r.venue());
        let initial = venue.book();
        let mut rx = venue.subscribe();
        let collector = tokio::spawn(async move {
            let mut frames = Vec::new();
            while let Ok(f) = rx.recv().await {
                if *f == Frame::End {
                    break;
                }
                frames.push((*f).clone());
            }
            frames
        });
        let summary = r.run(Start::Immediately).await;
        venue.close_all();
        (summary, collector.await.unwrap(), initial, venue)
    }

    fn json(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    fn apply(book: &mut Book, ev: &Value) {
        let lv = |side: &str| -> Vec<(u64, u64)> {
            ev[side]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| {
                    let u = |i: usize| crate::units::parse_units(l[i].as_str().unwrap()).unwrap();
                    (u(0), u(1))
                })
                .collect()
        };
        let diff = crate::book::Diff {
            bids: lv("b"),
            asks: lv("a"),
        };
        book.apply(&diff, ev["u"].as_u64().unwrap());
    }

    #[tokio::test]
    async fn ids_chain_and_every_update_reproduces_the_venue_history() {
        let (summary, frames, initial, venue) = run_collecting().await;
        assert_eq!(summary.trades, 200);
        let mut book = initial.clone();
        let mut prev_u = INITIAL_UPDATE_ID;
        let mut prev_e = 0;
        let mut agg = Vec::new();
        let mut depth_times = Vec::new();
        for f in &frames {
            match f {
                Frame::Depth100ms(t) => {
                    let ev = json(t);
                    let (first, last) = (ev["U"].as_u64().unwrap(), ev["u"].as_u64().unwrap());
                    assert_eq!(first, prev_u + 1);
                    let changes =
                        ev["b"].as_array().unwrap().len() + ev["a"].as_array().unwrap().len();
                    assert_eq!(last, first + changes as u64 - 1);
                    prev_u = last;
                    apply(&mut book, &ev);
                    assert!(!book.is_crossed());
                    assert_eq!(Some(book.checksum()), venue.checksum_at(last), "at {last}");
                    depth_times.push(ev["E"].as_i64().unwrap());
                }
                Frame::AggTrade(t) => agg.push(json(t)["a"].as_u64().unwrap()),
                _ => {}
            }
            let e = match f {
                Frame::Depth100ms(t) | Frame::AggTrade(t) | Frame::Trade(t) => {
                    json(t)["E"].as_i64().unwrap()
                }
                _ => prev_e,
            };
            assert!(e >= prev_e, "E went back");
            prev_e = e;
        }
        assert_eq!(prev_u, summary.last_update_id);
        assert_eq!(book, venue.book());
        assert_eq!(book.update_id, venue.update_id());
        assert_eq!(agg, (1000..1200).collect::<Vec<_>>());
        assert!(
            depth_times.windows(2).all(|w| w[1] - w[0] == 100),
            "depth stream went quiet"
        );
        assert_eq!(summary.depth_updates, depth_times.len() as u64);
    }

    #[tokio::test]
    async fn the_1s_stream_merges_whole_seconds_and_syncs_too() {
        let (_, frames, initial, venue) = run_collecting().await;
        let mut book = initial.clone();
        let mut prev_u = INITIAL_UPDATE_ID;
        let mut times = Vec::new();
        for f in &frames {
            if let Frame::Depth1s(t) = f {
                let ev = json(t);
                assert_eq!(ev["U"].as_u64().unwrap(), prev_u + 1);
                prev_u = ev["u"].as_u64().unwrap();
                apply(&mut book, &ev);
                times.push(ev["E"].as_i64().unwrap());
            }
        }
        assert!(times.iter().all(|t| t % 1000 == 0), "{times:?}");
        assert!(times.windows(2).all(|w| w[1] - w[0] == 1000));
        assert_eq!(book, venue.book());
    }

    #[tokio::test]
    async fn summary_formats_as_the_finished_line_wants() {
        let s = ReplaySummary {
            trades: 3,
            depth_updates: 4,
            last_update_id: 5,
        };
        assert_eq!(s.to_string(), "trades=3 depth_updates=4 last_update_id=5");
    }
}
