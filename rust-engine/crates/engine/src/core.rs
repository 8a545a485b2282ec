//! The engine's core loop: one task owns the executor; it serves commands, feeds market trades to
//! resting orders, halts (a dead feed, an `EmergencyHalt`) and runs the shutdown sequence (cancel
//! open orders, announce, stop).

use common::message::{
    Command, DataMessage, EmergencyHalt, ErrorCode, ErrorResponse, OrderExecution, PlaceOrder,
    Response, Side, StateChange, Success, Trade,
};
use common::time::now_ns;
use common::Dec;
use data_bridge::publisher::{snapshot_of, BookFeed};
use feed_handler::FeedState;
use rust_decimal::Decimal;
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use crate::executor::{Executor, SHUTDOWN_CANCEL_WAIT};
use crate::flatten::{PendingFlatten, FLATTEN_RECHECK};
use crate::metrics::{EngineMetrics, RoundTrips};
use crate::position_file::{Held, PositionStore, SaveBy};
pub use crate::reload::Reloadable;
use crate::watchdog;
use common::config::{Config, PaperFill};
pub use execution_engine::exposure::PositionLimits;
use execution_engine::paper::{Fees, FillRule};
use execution_engine::{Limits, Rejection};

/// Channels of the core loop.
pub struct Core {
    /// The executor.
    pub executor: Executor,
    /// Responses the real executor and its user data stream produce on their own.
    pub results: mpsc::UnboundedReceiver<Response>,
    /// A venue ban (`418`) reported by the real executor.
    pub banned: watch::Receiver<Option<String>>,
    /// The engine's own halt also flattens the net position.
    pub flatten_on_halt: bool,
    /// `[risk] max_positions`, `max_position_notional` and the lot they count in.
    pub position_limits: PositionLimits,
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
    /// Net base position built by this engine's fills (positive = long) and the latest trades
    /// counted in it. It starts from what the position file holds, or zero without one, so an
    /// engine that takes over a partly filled sell can see it short.
    pub held: Held,
    /// Where the net position (and in paper mode the paper account) is kept across restarts.
    pub position_file: Option<PositionStore>,
    /// Watchdog findings raised and cleared.
    pub watchdog: mpsc::Receiver<watchdog::Event>,
    /// What `ReloadConfig` reads and whom it tells.
    pub reload: Reloadable,
    /// Order commands waiting for their first answer.
    pub round_trips: RoundTrips,
    /// A flatten waiting for the real executor's cancels to be answered.
    pub pending_flatten: Option<PendingFlatten>,
}

/// The executor's `[risk]` limits, fees and paper fill rule in `cfg`.
pub fn executor_settings(cfg: &Config) -> (Limits, Fees, FillRule) {
    (
        Limits {
            max_order_notional: cfg.risk.max_order_notional,
            max_open_orders: cfg.risk.max_open_orders,
        },
        Fees {
            maker: cfg.fees.maker_rate,
            taker: cfg.fees.taker_rate,
        },
        match cfg.execution.paper_fill {
            PaperFill::TradeThrough => FillRule::TradeThrough,
            PaperFill::Touch => FillRule::Touch,
        },
    )
}

/// The reasons new orders are refused; orders flow only when there is none.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Halts {
    /// The feed is halted (reconnects keep failing); lifted when it is live again.
    pub feed: bool,
    /// An `EmergencyHalt` and its reason; lifted by `Resume`.
    pub emergency: Option<String>,
    /// The venue stopped this engine (a `418` ban); lifted by `Resume` once the ban is over.
    pub venue: Option<String>,
}

impl Halts {
    /// True when new orders are refused.
    pub fn any(&self) -> bool {
        self.feed || self.emergency.is_some() || self.venue.is_some()
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
        let mut why = Vec::new();
        if let Some(r) = &self.emergency {
            why.push(format!(
                "emergency halt ({r}); orders are refused until Resume"
            ));
        }
        if let Some(r) = &self.venue {
            why.push(format!(
                "{r}; orders are refused until Resume after the ban"
            ));
        }
        if self.feed {
            why.push("the feed is down; orders are refused until it is live".into());
        }
        if why.is_empty() {
            "not halted".into()
        } else {
            why.join(", and ")
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
        if !self.held.flattens.is_empty() {
            // Sent before the restart, their answer never counted: what they sold is looked up at
            // the venue (ahead of the cancels below), and no flatten goes until it is counted.
            let ids: Vec<&str> = self
                .held
                .flattens
                .iter()
                .map(|f| f.client_order_id.as_str())
                .collect();
            warn!(orders = ?ids, position = %self.held.position, "flatten orders sent before the restart are not settled: looking them up at the venue");
            self.executor
                .recover_flattens(&self.held.flattens, &self.feed.symbol);
        }
        if self.halts.any() {
            let why = format!("engine ready, halted: {}", self.halts.describe());
            warn!(reason = %why, "engine starts halted");
            // Halted when it stopped, perhaps before its cancels (and a flatten) were done: the
            // venue's open orders are canceled now, and with `flatten_on_halt` what is held sold.
            let now = now_ns();
            let flatten = self.configured_flatten("restart-halt", now);
            let (out, flattening) = self.cancel_and_flatten(flatten, now);
            info!(flatten = %flattening.trim_start_matches("; "), position = %self.held.position, "started halted: canceling every open order");
            self.respond(out).await;
            self.announce("starting", "halted", &why).await;
        } else {
            self.announce("starting", "running", "engine ready").await;
        }
        // A flatten that cannot go yet (no bid on the book, earlier flatten orders not settled)
        // looks again at this pace.
        let mut flatten_recheck = tokio::time::interval(FLATTEN_RECHECK);
        flatten_recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let exit = loop {
            tokio::select! {
                biased;
                _ = signal.changed() => break Exit::Signal,
                Some(cmd) = self.commands.recv() => {
                    self.apply_queued_trades().await;
                    if let Some(reason) = self.on_command(cmd).await {
                        break Exit::Command(reason);
                    }
                }
                Ok(()) = self.feed_state.changed() => {
                    let state = *self.feed_state.borrow_and_update();
                    self.on_feed_state(state).await;
                }
                Some(trade) = self.trades.recv() => self.on_market_trade(&trade).await,
                Some(r) = self.results.recv() => {
                    self.respond(vec![r]).await;
                    self.settle_flattens();
                }
                _ = async {
                    let answered = self.pending_flatten.as_mut().and_then(|p| p.answered.as_mut());
                    answered.expect("guarded").await
                }, if self.pending_flatten.as_ref().is_some_and(|p| !p.rechecks()) => {
                    self.flatten_after_cancels().await
                }
                _ = flatten_recheck.tick(), if self.pending_flatten.as_ref().is_some_and(|p| p.rechecks()) => {
                    self.try_flatten().await
                }
                Some(ev) = self.watchdog.recv() => self.on_watchdog(ev).await,
                Ok(()) = self.banned.changed() => {
                    let ban = self.banned.borrow_and_update().clone();
                    self.on_ban(ban).await;
                }
                else => break Exit::Signal,
            }
        };
        info!(
            ?exit,
            flatten = self.flatten_on_halt,
            "engine stopping: canceling every open order"
        );
        let now = now_ns();
        // With `flatten_on_halt`, a stop flattens the net position as a halt does. A flatten waiting
        // for the real executor's cancels (this one, or a halt's) waits for them, bounded, and is
        // queued before the final cancel, so the worker has done both when it answers.
        let mut canceled = match self.configured_flatten("shutdown", now) {
            Some(id) => self.cancel_and_flatten(Some(id), now).0,
            None => Vec::new(),
        };
        // One deadline for the whole sequence: the launcher and docker-compose kill the engine
        // after 40 s.
        let deadline = tokio::time::Instant::now() + SHUTDOWN_CANCEL_WAIT;
        if let Some(answered) = self
            .pending_flatten
            .as_mut()
            .and_then(|p| p.answered.as_mut())
        {
            if tokio::time::timeout_at(deadline, answered).await.is_err() {
                warn!("the venue did not answer the cancels in time: flattening what is held");
            }
        }
        if self.pending_flatten.is_some() {
            self.flatten_after_cancels().await;
            // No bid to sell at, or earlier flatten orders not settled (their ids stay in the
            // position file: the next start looks them up): no sale now.
            if let Some(pending) = self.pending_flatten.take() {
                error!(command_id = %pending.command_id, waits_until = ?self.flatten_blocked().map(|b| b.to_string()), position = %self.held.position, "engine stopping: the flatten waiting was not sent");
            }
        }
        canceled.extend(self.executor.cancel_all_and_stop(now, deadline).await);
        while let Ok(r) = self.results.try_recv() {
            canceled.push(r);
        }
        info!(responses = canceled.len(), "open orders canceled");
        self.respond(canceled).await;
        self.settle_flattens();
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
                let now = now_ns();
                let flatten = self.configured_flatten("feed-halt", now);
                let (canceled, _) = self.cancel_and_flatten(flatten, now);
                warn!(
                    responses = canceled.len(),
                    flatten = self.flatten_on_halt,
                    position = %self.held.position,
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

    /// A venue ban appeared (or was lifted by `Resume`).
    async fn on_ban(&mut self, ban: Option<String>) {
        let Some(reason) = ban else { return };
        let before = self.halts.state();
        warn!(%reason, "venue ban: engine halted");
        self.halts.venue = Some(reason.clone());
        self.announce(before, "halted", &reason).await;
    }

    /// Why `p` would break `[risk] max_positions` or `max_position_notional`, if it would. A
    /// market order is valued at the touch it takes from; without a touch the exposure check is
    /// left to the executor's validation (which refuses a market order without a book).
    fn position_refusal(&self, p: &PlaceOrder) -> Option<Rejection> {
        let touch = || {
            let book = self.feed.book.read();
            let touch = match p.side {
                Side::Buy => book.book.best_ask(),
                Side::Sell => book.book.best_bid(),
            }?;
            Some(execution_engine::paper::units_to_dec(touch.price))
        };
        self.position_limits
            .check_order(
                p,
                touch,
                self.held.position,
                self.executor.open_quantities(),
            )
            .err()
    }

    /// `EmergencyHalt`: cancel every open order, flatten if asked (or configured), refuse orders
    /// until `Resume`.
    async fn emergency_halt(&mut self, h: &EmergencyHalt, now: u64) -> Vec<Response> {
        warn!(command_id = %h.command_id, reason = %h.reason, flatten = h.flatten, position = %self.held.position, "emergency halt");
        let (mut out, message) = self
            .halt(
                &h.reason,
                h.flatten,
                &format!("{}-flatten", h.command_id),
                &format!("emergency halt: {}", h.reason),
                now,
            )
            .await;
        out.push(Response::Success(Success {
            command_id: Some(h.command_id.clone()),
            ts_ns: now,
            message,
        }));
        out
    }

    /// Halts as an `EmergencyHalt` does (lifted by `Resume`): cancels every open order, flattens
    /// when asked or configured, announces `halted` with `announced`. Returns the responses and a
    /// summary.
    async fn halt(
        &mut self,
        reason: &str,
        flatten: bool,
        flatten_id: &str,
        announced: &str,
        now: u64,
    ) -> (Vec<Response>, String) {
        let before = self.halts.state();
        self.halts.emergency = Some(reason.to_owned());
        self.save_position(SaveBy::BeforeAnswering); // a restart starts halted
        let flatten = (flatten || self.flatten_on_halt).then(|| flatten_id.to_owned());
        let (out, flattening) = self.cancel_and_flatten(flatten, now);
        let mut message = match &self.executor {
            Executor::Paper(_) => {
                let canceled = out
                    .iter()
                    .filter(|r| matches!(r, Response::OrderCanceled(_)))
                    .count();
                format!("halted: {canceled} open orders canceled")
            }
            Executor::Real(_) => "halted: canceling every open order at the venue".to_owned(),
        };
        message.push_str(&flattening);
        self.announce(before, "halted", announced).await;
        (out, message)
    }

    /// A watchdog finding raised or cleared: announce it; with `watchdog_action = "halt"`, a raised
    /// one halts the engine until `Resume`.
    async fn on_watchdog(&mut self, ev: watchdog::Event) {
        let (previous, current) = if ev.raised {
            ("ok", ev.finding.name())
        } else {
            (ev.finding.name(), "ok")
        };
        info!(finding = ev.finding.name(), raised = ev.raised, reason = %ev.reason, "watchdog");
        self.state_change("watchdog", previous, current, &ev.reason)
            .await;
        if ev.raised && ev.halt {
            let now = now_ns();
            let why = format!("watchdog: {}: {}", ev.finding.name(), ev.reason);
            warn!(finding = ev.finding.name(), reason = %ev.reason, "watchdog halt");
            let (out, _) = self
                .halt(
                    &why,
                    false,
                    &format!("watchdog-{}", now / 1_000_000),
                    &why,
                    now,
                )
                .await;
            self.respond(out).await;
        }
    }

    /// Feeds the resting orders every market trade already queued, before a command is served. A
    /// venue matches a trade before it publishes it, so nothing decided on the market data can
    /// reach the book ahead of a trade printed with it; here the trade reaches the strategy and the
    /// paper executor by two channels, and a command sent on one trade (a cancel on a gap) could
    /// otherwise overtake the next trade of the same instant still queued (the command branch of
    /// the loop goes first): the paper order was not filled by it, where the venue, and the
    /// backtest's venue, fill it. Only the trades queued now: a flood of trades cannot hold a
    /// command back.
    async fn apply_queued_trades(&mut self) {
        let queued = self.trades.len();
        for _ in 0..queued {
            let Ok(trade) = self.trades.try_recv() else {
                break;
            };
            self.on_market_trade(&trade).await;
        }
    }

    /// A market trade through the executor's resting orders (paper mode fills them), answered.
    async fn on_market_trade(&mut self, trade: &Trade) {
        let out = self.executor.on_trade(trade, now_ns());
        self.respond(out).await;
    }

    /// Sends responses, keeping the net position up to date from fills of the engine's symbol
    /// (a fill of another symbol is logged and left out of it; a trade counted already, reported
    /// again for an order taken over after a restart, too), and its file once they are counted.
    pub(crate) async fn respond(&mut self, mut out: Vec<Response>) {
        let before = self.held.position;
        // The paper account is the venue's state: saved after every order of the engine's symbol
        // placed, canceled or filled.
        let symbol = self.feed.symbol.as_str();
        let paper_moved = matches!(self.executor, Executor::Paper(_))
            && out.iter().any(|r| match r {
                Response::OrderPlaced(p) => p.symbol == symbol,
                Response::OrderCanceled(c) => c.symbol == symbol,
                Response::OrderExecution(e) => e.symbol == symbol,
                _ => false,
            });
        for r in &mut out {
            if let Response::OpenOrders(o) = r {
                // The position as of this answer: the fills before it in `out` are counted, the
                // ones after it are not (they are published after it).
                o.net_position = Some(Dec(self.held.position));
            }
            if let Response::OrderExecution(e) = r {
                if e.symbol != self.feed.symbol {
                    warn!(
                        symbol = %e.symbol,
                        engine_symbol = %self.feed.symbol,
                        client_order_id = %e.client_order_id,
                        trade_id = e.trade_id,
                        "fill of another symbol: left out of the net position"
                    );
                    continue;
                }
                if self.held.counted(e.trade_id) {
                    info!(
                        client_order_id = %e.client_order_id,
                        trade_id = e.trade_id,
                        "fill counted before: left out of the net position"
                    );
                    continue;
                }
                match held_change(e, &self.feed.symbol)
                    .and_then(|c| self.held.position.checked_add(c))
                {
                    Some(position) => self.held.count(e.trade_id, position),
                    None => warn!(
                        client_order_id = %e.client_order_id,
                        trade_id = e.trade_id,
                        side = e.side.as_str(),
                        last_quantity = %e.last_quantity,
                        fee = %e.fee,
                        position = %self.held.position,
                        "fill too large to add to the net position: left out of it"
                    ),
                }
            }
        }
        if self.held.position != before || paper_moved {
            // A fill is on disk before it is heard; an order placed or canceled may follow soon.
            let filled = out.iter().any(|r| matches!(r, Response::OrderExecution(_)));
            self.save_position(if filled {
                SaveBy::BeforeAnswering
            } else {
                SaveBy::Soon
            });
        }
        for r in out {
            self.round_trips.finish(&r);
            log_response(&r);
            if self.responses.send(r).await.is_err() {
                warn!("response publisher gone");
            }
        }
    }

    /// Writes the net position (and the paper account) to its file, `by` when (see [`SaveBy`]). A
    /// failed write is logged and counted: the engine trades on, and the next fill writes again.
    pub(crate) fn save_position(&self, by: SaveBy) {
        let Some(file) = &self.position_file else {
            return;
        };
        let halt = self.halts.emergency.as_deref();
        if let Err(e) = file.save(
            &self.held,
            self.executor.paper_account(),
            halt,
            now_ns(),
            by,
        ) {
            EngineMetrics::global().position_file_errors.inc();
            error!(error = %e, position = %self.held.position, "net position not saved");
        }
    }

    async fn announce(&self, previous: &str, current: &str, reason: &str) {
        EngineMetrics::global()
            .halted
            .set(i64::from(current == "halted"));
        self.executor
            .refuse_buys(current == "halted" || current == "stopped");
        self.state_change("engine", previous, current, reason).await;
    }

    /// Publishes a `StateChange` of `component` on the data channel.
    pub(crate) async fn state_change(
        &self,
        component: &str,
        previous: &str,
        current: &str,
        reason: &str,
    ) {
        let msg = StateChange {
            ts_ns: now_ns(),
            component: component.into(),
            previous: previous.into(),
            current: current.into(),
            reason: reason.into(),
        };
        let _ = self.data.send(DataMessage::StateChange(msg)).await;
    }

    /// Serves one command; returns the reason when it is `Shutdown`.
    async fn on_command(&mut self, cmd: Command) -> Option<String> {
        let now = now_ns();
        self.round_trips.start(&cmd);
        if let Command::PlaceOrder(p) = &cmd {
            info!(command_id = %p.command_id, client_order_id = %p.client_order_id, side = p.side.as_str(), order_type = ?p.order_type, quantity = %p.quantity, price = ?p.price.map(|x| x.to_string()), "order command");
        }
        if let Command::CancelOrder(c) = &cmd {
            info!(command_id = %c.command_id, client_order_id = %c.client_order_id, "cancel command");
        }
        let out = match &cmd {
            Command::PlaceOrder(p) if self.halts.any() => vec![Response::Error(ErrorResponse {
                command_id: Some(p.command_id.clone()),
                ts_ns: now,
                code: ErrorCode::Halted,
                field: None,
                message: format!("engine halted: {}", self.halts.describe()),
            })],
            // A flatten waiting for the venue's answer to the cancels sells what is held then: an
            // order sent before it (a Resume came meanwhile) would be sold twice, or lock the coins.
            Command::PlaceOrder(p) if self.pending_flatten.is_some() => {
                vec![Response::Error(ErrorResponse {
                    command_id: Some(p.command_id.clone()),
                    ts_ns: now,
                    code: ErrorCode::Halted,
                    field: None,
                    message: "a flatten waits (for the venue to answer the cancels of every open order, for a bid on the book, or for the flatten orders sent before it to settle); orders are refused until it is sent".into(),
                })]
            }
            Command::PlaceOrder(p) => match self.position_refusal(p) {
                Some(r) => {
                    warn!(command_id = %p.command_id, client_order_id = %p.client_order_id, reason = %r, "order refused");
                    vec![Response::Error(ErrorResponse {
                        command_id: Some(p.command_id.clone()),
                        ts_ns: now,
                        code: ErrorCode::Validation,
                        field: Some(r.field.into()),
                        message: format!("{}: {}", r.field, r.message),
                    })]
                }
                None => {
                    let book = self.feed.book.read();
                    self.executor.order(cmd.clone(), &book, now)
                }
            },
            Command::CancelOrder(_)
            | Command::QueryOrder(_)
            | Command::QueryOpenOrders(_)
            | Command::QueryBalances(_) => {
                let book = self.feed.book.read();
                self.executor.order(cmd.clone(), &book, now)
            }
            Command::RequestSnapshot(r) => vec![self.snapshot(&r.command_id, &r.symbol, now).await],
            Command::EmergencyHalt(h) => self.emergency_halt(h, now).await,
            Command::ReloadConfig(r) => vec![self.reload_config(&r.command_id, now).await],
            Command::Resume(r) => {
                let before = self.halts.state();
                let mut lifted = self.halts.emergency.take();
                if lifted.is_some() {
                    self.save_position(SaveBy::BeforeAnswering);
                }
                if self.halts.venue.is_some() && self.executor.resume_venue() {
                    lifted = lifted.or(self.halts.venue.take());
                }
                info!(command_id = %r.command_id, reason = %r.reason, lifted = ?lifted, halts = ?self.halts, "resume");
                self.resume_flatten();
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

/// Logs an order response with its `command_id` and `client_order_id`, so that one order can be
/// followed across the engine's and the strategy's logs.
fn log_response(r: &Response) {
    match r {
        Response::OrderPlaced(x) => {
            info!(command_id = x.command_id.as_deref().unwrap_or(""), client_order_id = %x.client_order_id, exchange_order_id = %x.exchange_order_id, status = ?x.status, "order placed")
        }
        Response::OrderExecution(x) => {
            info!(command_id = x.command_id.as_deref().unwrap_or(""), client_order_id = %x.client_order_id, trade_id = x.trade_id, last_price = %x.last_price, last_quantity = %x.last_quantity, status = ?x.status, "order execution")
        }
        Response::OrderCanceled(x) => {
            info!(command_id = x.command_id.as_deref().unwrap_or(""), client_order_id = %x.client_order_id, filled_quantity = %x.filled_quantity, "order canceled")
        }
        Response::Error(x) => {
            info!(command_id = x.command_id.as_deref().unwrap_or(""), code = ?x.code, field = ?x.field, message = %x.message, "command refused")
        }
        _ => {}
    }
}

/// What a fill changes in the base asset held: its quantity bought or sold, less a fee the venue took
/// in the base asset (Binance takes a buy's commission from the coins bought), so that a flatten
/// never sells more than is held. `None` when the venue's figures are too large to combine.
fn held_change(e: &OrderExecution, symbol: &str) -> Option<Decimal> {
    let traded = match e.side {
        Side::Buy => e.last_quantity.0,
        Side::Sell => -e.last_quantity.0,
    };
    let asset = e.fee_asset.as_str();
    let in_base = !asset.is_empty() && symbol.len() > asset.len() && symbol.starts_with(asset);
    if in_base {
        traded.checked_sub(e.fee.0)
    } else {
        Some(traded)
    }
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
