//! The engine's core loop: one task owns the executor; it serves commands, feeds market trades to
//! resting orders, halts (a dead feed, an `EmergencyHalt`) and runs the shutdown sequence (cancel
//! open orders, announce, stop).

use common::message::{
    Command, DataMessage, EmergencyHalt, ErrorCode, ErrorResponse, OrderType, PlaceOrder, Response,
    Side, StateChange, Success, Trade,
};
use common::time::now_ns;
use common::Dec;
use data_bridge::publisher::{snapshot_of, BookFeed};
use execution_engine::PaperExecutor;
use feed_handler::FeedState;
use rust_decimal::Decimal;
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
    /// Why new orders are refused, if they are.
    pub halts: Halts,
    /// Net base position built by this engine's fills (positive = long).
    pub position: Decimal,
}

/// The reasons new orders are refused; orders flow only when there is none.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Halts {
    /// The feed is halted (reconnects keep failing); lifted when it is live again.
    pub feed: bool,
    /// An `EmergencyHalt` and its reason; lifted by `Resume`.
    pub emergency: Option<String>,
}

impl Halts {
    /// True when new orders are refused.
    pub fn any(&self) -> bool {
        self.feed || self.emergency.is_some()
    }

    /// The engine's state name for `StateChange`.
    pub fn state(&self) -> &'static str {
        if self.any() {
            "halted"
        } else {
            "running"
        }
    }

    /// Why orders are refused.
    pub fn describe(&self) -> String {
        match (&self.emergency, self.feed) {
            (Some(r), true) => format!("emergency halt ({r}) and the feed is down"),
            (Some(r), false) => format!("emergency halt ({r}); orders are refused until Resume"),
            (None, true) => "the feed is down; orders are refused until it is live".into(),
            (None, false) => "not halted".into(),
        }
    }
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
        self.announce(self.halts.state(), "stopped", &reason).await;
        exit
    }

    /// The engine's own halt: a halted feed cancels every open order and refuses new ones until the
    /// feed is live again.
    async fn on_feed_state(&mut self, state: FeedState) {
        let before = self.halts.state();
        match (self.halts.feed, state) {
            (false, FeedState::Halted) => {
                self.halts.feed = true;
                let canceled = self.executor.cancel_all(now_ns());
                warn!(
                    open_orders_canceled = canceled.len(),
                    "feed halted: engine halted"
                );
                self.respond(canceled).await;
                self.announce(before, "halted", "feed halted: reconnects keep failing")
                    .await;
            }
            (true, FeedState::Live) => {
                self.halts.feed = false;
                info!(halts = ?self.halts, "feed live again");
                self.announce(before, self.halts.state(), "feed live again")
                    .await;
            }
            _ => {}
        }
    }

    /// `EmergencyHalt`: cancel every open order, flatten if asked, refuse orders until `Resume`.
    async fn emergency_halt(&mut self, h: &EmergencyHalt, now: u64) -> Vec<Response> {
        let before = self.halts.state();
        self.halts.emergency = Some(h.reason.clone());
        let mut out = self.executor.cancel_all(now);
        warn!(command_id = %h.command_id, reason = %h.reason, open_orders_canceled = out.len(), flatten = h.flatten, position = %self.position, "emergency halt");
        let mut message = format!("halted: {} open orders canceled", out.len());
        if h.flatten && !self.position.is_zero() {
            let side = if self.position > Decimal::ZERO {
                Side::Sell
            } else {
                Side::Buy
            };
            let order = PlaceOrder {
                command_id: format!("{}-flatten", h.command_id),
                ts_ns: now,
                client_order_id: format!("flatten-{}", now / 1_000_000),
                symbol: self.feed.symbol.clone(),
                side,
                order_type: OrderType::Market,
                time_in_force: None,
                quantity: Dec(self.position.abs()),
                price: None,
            };
            let book = self.feed.book.read();
            let placed = self.executor.place(&order, &book, now);
            drop(book);
            info!(client_order_id = %order.client_order_id, side = ?side, quantity = %order.quantity, responses = ?placed, "flattening");
            message.push_str(&format!(
                "; flattening {} {} with {}",
                side.as_str(),
                order.quantity,
                order.client_order_id
            ));
            out.extend(placed);
        }
        self.announce(before, "halted", &format!("emergency halt: {}", h.reason))
            .await;
        out.push(Response::Success(Success {
            command_id: Some(h.command_id.clone()),
            ts_ns: now,
            message,
        }));
        out
    }

    /// Sends responses, keeping the net position up to date from fills.
    async fn respond(&mut self, out: Vec<Response>) {
        for r in &out {
            if let Response::OrderExecution(e) = r {
                match e.side {
                    Side::Buy => self.position += e.last_quantity.0,
                    Side::Sell => self.position -= e.last_quantity.0,
                }
            }
        }
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
            Command::PlaceOrder(p) if self.halts.any() => vec![Response::Error(ErrorResponse {
                command_id: Some(p.command_id.clone()),
                ts_ns: now,
                code: ErrorCode::Halted,
                field: None,
                message: format!("engine halted: {}", self.halts.describe()),
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
            Command::EmergencyHalt(h) => self.emergency_halt(h, now).await,
            Command::Resume(r) => {
                let before = self.halts.state();
                let lifted = self.halts.emergency.take();
                info!(command_id = %r.command_id, reason = %r.reason, lifted = ?lifted, halts = ?self.halts, "resume");
                if lifted.is_some() {
                    self.announce(before, self.halts.state(), &format!("resume: {}", r.reason))
                        .await;
                }
                vec![Response::Success(Success {
                    command_id: Some(r.command_id.clone()),
                    ts_ns: now,
                    message: match (lifted, self.halts.any()) {
                        (_, true) => format!("still halted: {}", self.halts.describe()),
                        (Some(_), false) => "emergency halt lifted: running".into(),
                        (None, false) => "not halted: running".into(),
                    },
                })]
            }
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
