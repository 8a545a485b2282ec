//! The engine's core loop: one task owns the executor; it serves commands, feeds market trades to
//! resting orders, and runs the shutdown sequence (cancel open orders, announce, stop).

use common::message::{
    Command, DataMessage, ErrorCode, ErrorResponse, Response, StateChange, Success, Trade,
};
use common::time::now_ns;
use data_bridge::publisher::{snapshot_of, BookFeed};
use execution_engine::PaperExecutor;
use feed_handler::FeedState;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

/// Channels of the core loop.
pub struct Core {
    /// The executor.
    pub executor: PaperExecutor,
    /// The book as the publisher sees it (for `RequestSnapshot` and fills).
    pub feed: BookFeed,
    /// Commands from the PULL socket.
    pub commands: mpsc::Receiver<Command>,
    /// Trades from the feed.
    pub trades: mpsc::Receiver<Trade>,
    /// Responses to the response PUB socket.
    pub responses: mpsc::Sender<Response>,
    /// Data to the data PUB socket.
    pub data: mpsc::Sender<DataMessage>,
    /// The feed's state: `halted` halts the engine until the feed is live again.
    pub feed_state: watch::Receiver<FeedState>,
    /// True while new orders are refused.
    pub halted: bool,
}

/// Why the core loop ended.
#[derive(Debug)]
pub enum Exit {
    /// A `Shutdown` command.
    Command(String),
    /// A signal.
    Signal,
}

impl Core {
    /// Serves until a `Shutdown` command or a signal; then cancels every open order.
    pub async fn run(mut self, mut signal: watch::Receiver<bool>) -> Exit {
        self.announce("starting", "running", "engine ready").await;
        let exit = loop {
            tokio::select! {
                biased;
                _ = signal.changed() => break Exit::Signal,
                Some(cmd) = self.commands.recv() => {
                    if let Some(reason) = self.on_command(cmd).await {
                        break Exit::Command(reason);
                    }
                }
                Ok(()) = self.feed_state.changed() => {
                    let state = *self.feed_state.borrow_and_update();
                    self.on_feed_state(state).await;
                }
                Some(trade) = self.trades.recv() => {
                    let out = self.executor.on_trade(&trade, now_ns());
                    self.respond(out).await;
                }
                else => break Exit::Signal,
            }
        };
        let canceled = self.executor.cancel_all(now_ns());
        info!(
            open_orders_canceled = canceled.len(),
            ?exit,
            "engine stopping"
        );
        self.respond(canceled).await;
        let reason = match &exit {
            Exit::Command(r) => format!("Shutdown command: {r}"),
            Exit::Signal => "signal".to_owned(),
        };
        let from = if self.halted { "halted" } else { "running" };
        self.announce(from, "stopped", &reason).await;
        exit
    }

    /// The engine's own halt: a halted feed cancels every open order and refuses new ones until the
    /// feed is live again.
    async fn on_feed_state(&mut self, state: FeedState) {
        match (self.halted, state) {
            (false, FeedState::Halted) => {
                self.halted = true;
                let canceled = self.executor.cancel_all(now_ns());
                warn!(
                    open_orders_canceled = canceled.len(),
                    "feed halted: engine halted"
                );
                self.respond(canceled).await;
                self.announce("running", "halted", "feed halted: reconnects keep failing")
                    .await;
            }
            (true, FeedState::Live) => {
                self.halted = false;
                info!("feed live again: engine running");
                self.announce("halted", "running", "feed live again").await;
            }
            _ => {}
        }
    }

    async fn respond(&self, out: Vec<Response>) {
        for r in out {
            if self.responses.send(r).await.is_err() {
                warn!("response publisher gone");
            }
        }
    }

    async fn announce(&self, previous: &str, current: &str, reason: &str) {
        let msg = StateChange {
            ts_ns: now_ns(),
            component: "engine".into(),
            previous: previous.into(),
            current: current.into(),
            reason: reason.into(),
        };
        let _ = self.data.send(DataMessage::StateChange(msg)).await;
    }

    /// Serves one command; returns the reason when it is `Shutdown`.
    async fn on_command(&mut self, cmd: Command) -> Option<String> {
        let now = now_ns();
        let out = match &cmd {
            Command::PlaceOrder(p) if self.halted => vec![Response::Error(ErrorResponse {
                command_id: Some(p.command_id.clone()),
                ts_ns: now,
                code: ErrorCode::Halted,
                field: None,
                message: "engine halted: the feed is down; orders are refused until it is live"
                    .into(),
            })],
            Command::PlaceOrder(p) => {
                let book = self.feed.book.read();
                let out = self.executor.place(p, &book, now);
                drop(book);
                for r in &out {
                    info!(command_id = %p.command_id, client_order_id = %p.client_order_id, response = ?r, "order");
                }
                out
            }
            Command::CancelOrder(c) => self.executor.cancel(c, now),
            Command::QueryOrder(q) => vec![self.executor.query(q, now)],
            Command::QueryOpenOrders(q) => vec![self.executor.open_orders(q, now)],
            Command::RequestSnapshot(r) => vec![self.snapshot(&r.command_id, &r.symbol, now).await],
            Command::Shutdown(s) => {
                self.respond(vec![Response::Success(Success {
                    command_id: Some(s.command_id.clone()),
                    ts_ns: now,
                    message: "shutting down".into(),
                })])
                .await;
                return Some(s.reason.clone());
            }
        };
        self.respond(out).await;
        None
    }

    async fn snapshot(&self, command_id: &str, symbol: &str, now: u64) -> Response {
        let err = |code, field: Option<&str>, message: String| {
            Response::Error(ErrorResponse {
                command_id: Some(command_id.to_owned()),
                ts_ns: now,
                code,
                field: field.map(str::to_owned),
                message,
            })
        };
        if symbol != self.feed.symbol {
            return err(
                ErrorCode::Validation,
                Some("symbol"),
                format!(
                    "unknown symbol {symbol}; this engine trades {}",
                    self.feed.symbol
                ),
            );
        }
        match snapshot_of(&self.feed) {
            Some(snap) => {
                let id = snap.update_id;
                let _ = self.data.send(DataMessage::OrderBookSnapshot(snap)).await;
                Response::Success(Success {
                    command_id: Some(command_id.to_owned()),
                    ts_ns: now,
                    message: format!("snapshot of {symbol} published, update_id {id}"),
                })
            }
            None => err(
                ErrorCode::NotSynced,
                None,
                "the order book is not in sync".into(),
            ),
        }
    }
}
