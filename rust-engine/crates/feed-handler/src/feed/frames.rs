//! The feed's frames: each text frame parsed and checked, its depth event offered to the book by
//! Binance's sequence rules (applied, buffered, dropped and counted, or a resync), its trade checked
//! by its id and published.

use std::time::Duration;

use common::message::{DataMessage, Trade};
use common::time::ms_to_ns;
use tracing::{debug, info, warn};

use super::{Ended, FeedState, FeedTask, SnapshotTask};
use crate::binance::{
    is_server_shutdown, parse_frame_for, DepthUpdate, MarketEvent, ParseError, Snapshot, TradeEvent,
};
use crate::fixed::to_f64;
use crate::sync::{Applied, Resync};
use crate::trade_ids::TradeId;
use crate::verify::Verdict;

impl FeedTask {
    /// Handles one text frame received at `local_ns`; `Some` when the connection must end (the
    /// venue's `serverShutdown`).
    pub(super) async fn on_text(
        &mut self,
        text: &str,
        local_ns: u64,
        snapshot_task: &mut Option<SnapshotTask>,
    ) -> Option<Ended> {
        // The venue's time at receipt: the latency is the venue's delay, not the host clock's error.
        let venue_ns = self.venue_clock.venue_ns(local_ns);
        crate::metrics::touch(local_ns);
        self.interval.message();
        let event = parse_frame_for(text, &self.symbol)
            .and_then(|ev| self.clock.check(&ev, local_ns / 1_000_000).map(|()| ev));
        match event {
            Err(e) => self.count_parse_error(&e),
            Ok(MarketEvent::Depth(ev)) => {
                self.interval.latency(venue_ns, ms_to_ns(ev.event_ms));
                self.on_depth(&ev, local_ns, snapshot_task).await;
            }
            Ok(MarketEvent::Trade(t)) => {
                self.interval.latency(venue_ns, ms_to_ns(t.event_ms));
                self.on_trade(&t, local_ns).await;
            }
            Ok(MarketEvent::Other) if is_server_shutdown(text) => {
                // "Please establish a new connection as soon as possible."
                info!("venue announced serverShutdown, reconnecting");
                return Some(Ended::Dropped("venue announced serverShutdown".into()));
            }
            Ok(MarketEvent::Other) => debug!(frame = %text, "ignored frame"),
        }
        None
    }

    pub(super) fn count_parse_error(&mut self, e: &ParseError) {
        match e {
            ParseError::Malformed(_) => self.counters.malformed += 1,
            ParseError::Rejected { .. } => self.counters.rejected += 1,
        }
        let n = self.counters.malformed + self.counters.rejected;
        // The first few in full, then one line per thousand.
        if n <= 10 || n.is_multiple_of(1000) {
            warn!(error = %e, total = n, "feed frame dropped");
        }
    }

    /// Offers a depth event to the book under one write lock: applied (the book's times and
    /// `synced` set, the pending snapshot check decided), or the book marked not synced when it
    /// must be resynced, by the event or by the check it decided; readers never see a book marked
    /// synced that the feed has found corrupt.
    pub(super) fn apply_depth(
        &mut self,
        ev: &DepthUpdate,
        local_ns: u64,
    ) -> (Result<Applied, Resync>, Option<Verdict>) {
        let mut st = self.out.book.write();
        let r = self.sync.on_event(ev, &mut st.book);
        let mut verdict = None;
        if r == Ok(Applied::Applied) {
            st.exchange_ts_ns = ms_to_ns(ev.event_ms);
            st.local_ts_ns = local_ns;
            verdict = self.check.on_book(&mut st.book, ev);
            st.synced = !verdict.is_some_and(takes_the_book_down);
        } else if r.is_err() {
            st.synced = false;
        }
        (r, verdict)
    }

    /// Checks the book against a verification snapshot under one write lock; a book the check
    /// finds corrupt is marked not synced in that same lock.
    pub(super) fn check_snapshot(&mut self, snap: Snapshot) -> Option<Verdict> {
        let mut st = self.out.book.write();
        let verdict = self.check.offer(snap, &mut st.book);
        if verdict.is_some_and(takes_the_book_down) {
            st.synced = false;
        }
        verdict
    }

    async fn on_depth(
        &mut self,
        ev: &DepthUpdate,
        local_ns: u64,
        snapshot_task: &mut Option<SnapshotTask>,
    ) {
        let (outcome, verdict) = self.apply_depth(ev, local_ns);
        if self.on_verdict(verdict, snapshot_task).await {
            return;
        }
        match outcome {
            Ok(Applied::Buffered) => {
                // Only the connection's first buffer has no fetch under way: a resync starts one.
                if snapshot_task.is_none() {
                    *snapshot_task = Some(self.fetch_snapshot(Duration::ZERO));
                }
            }
            Ok(Applied::Applied) => {
                if self.state != FeedState::Live {
                    self.went_live().await;
                }
                self.out.book.notify();
            }
            Ok(Applied::Stale) => self.counters.out_of_order += 1,
            Ok(Applied::Duplicate) => self.counters.duplicates += 1,
            Ok(Applied::BeforeSnapshot | Applied::Overlap) => {}
            Err(resync) => {
                match resync {
                    Resync::Implausible { .. } => self.counters.rejected += 1,
                    Resync::StaleRun(_) => self.counters.out_of_order += 1,
                    _ => {}
                }
                self.resync(&resync, snapshot_task).await;
                // The event that revealed the gap starts the new buffer; one with implausible ids
                // is dropped.
                if !matches!(resync, Resync::Implausible { .. }) {
                    let mut st = self.out.book.write();
                    let _ = self.sync.on_event(ev, &mut st.book);
                }
            }
        }
    }

    async fn on_trade(&mut self, t: &TradeEvent, local_ns: u64) {
        match self.trade_ids.accept(t.trade_id) {
            // Delivered by the connection before a rotation.
            TradeId::Overlap => return,
            TradeId::Duplicate => {
                self.counters.duplicates += 1;
                return;
            }
            TradeId::Stale => {
                self.counters.out_of_order += 1;
                return;
            }
            TradeId::Suspect => {
                self.count_parse_error(&ParseError::Rejected {
                    field: "a",
                    value: format!(
                        "trade id {} jumps more than {} past the last one",
                        t.trade_id,
                        crate::trade_ids::MAX_TRADE_ID_JUMP
                    ),
                });
                return;
            }
            TradeId::Rebased { previous } => {
                warn!(
                    previous,
                    trade_id = t.trade_id,
                    "trade ids followed again from this one: the last id taken was wrong or left behind"
                );
            }
            TradeId::New { missed } => self.counters.trades_missed += missed,
        }
        let trade = Trade {
            symbol: self.symbol.clone(),
            exchange_ts_ns: ms_to_ns(t.trade_ms),
            local_ts_ns: local_ns,
            trade_id: t.trade_id,
            price: to_f64(t.price),
            quantity: to_f64(t.qty),
            aggressor: t.aggressor,
        };
        // Trades are never dropped: a full channel slows the reader down instead.
        let _ = self.out.trades.send(trade.clone()).await;
        let _ = self.out.data.send(DataMessage::Trade(trade)).await;
    }
}

/// Whether a snapshot check's verdict takes the book down for a resync.
fn takes_the_book_down(v: Verdict) -> bool {
    matches!(v, Verdict::Corrupt(_) | Verdict::BookAhead { .. })
}
