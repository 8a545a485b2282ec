//! The real executor: answers the paper executor's commands with the same responses, against
//! Binance through a [`RestClient`].
//!
//! * Every order passes [`crate::validate::check`] first (a market order's notional uses the
//!   touch of the [`SharedBook`] given with [`RealExecutor::with_book`]); a client order id the
//!   executor has already used is refused before anything is sent.
//! * `newClientOrderId` is the command's `client_order_id`, so an order can always be found again.
//! * **Idempotency.** A new order whose outcome is unknown (timeout, broken connection, `5XX`,
//!   `-1007`, unreadable success) is never re-sent: the executor queries it by
//!   `origClientOrderId`, retrying with backoff for [`ExecutorConfig::unknown_outcome_window`]
//!   (at least `recvWindow` + the request timeout + a margin: the venue may forward the order
//!   up to `recvWindow` after it was sent). Found, it is answered as if placed, with its real
//!   status and fills (from `myTrades`); still "does not exist" (`-2013`) after the window, it
//!   is answered placed all the same when the user data stream reported it meanwhile (its held
//!   events are the proof), else the answer is an `Error` naming the unknown outcome. Queries
//!   failing for the whole window leave the order *unresolved*, answered `UNKNOWN_OUTCOME` (it
//!   may be live): [`RealExecutor::reconcile`] settles it later. One command makes at most one
//!   venue order.
//! * Fills are reported once each (by trade id), whether they come from the new-order answer,
//!   `myTrades` or the user data stream; stream events that arrive while the order's answer is
//!   still out are held and applied after it.
//! * `QueryBalances` is answered from the balances the user data stream keeps
//!   (`account_balances`, `balance_cache`), seeded by `GET /api/v3/account` at the first query of
//!   each subscription.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::message::{
    CancelOrder, ErrorCode, OpenOrders, OrderStatus, OrderStatusReport, PlaceOrder,
    QueryOpenOrders, QueryOrder, Response, Side,
};
use common::time::now_ns;
use common::Dec;
use feed_handler::backoff::Backoff;
use feed_handler::shared::SharedBook;
use rust_decimal::Decimal;

use crate::binance_order::OrderReport;
use crate::exposure::OpenQuantities;
use crate::filters::SymbolFilters;
use crate::order::{error, Order};
use crate::real::balance_cache::BalanceCache;
use crate::real::client::{RestClient, RestConfig, RestError};
use crate::real::error_response::error_response;
use crate::real::mapping::{full_fills, order_canceled, order_info, Fill};
use crate::real::tracked::{
    absorb_report, apply_held, new_executions, CancelRequest, Orders, Phase, Tracked,
};
use crate::validate::{self, Limits};

/// How long a failed cancel of every open order (a halt, a shutdown) is asked again: within the
/// engine's 30 s wait for the venue at shutdown.
pub const CANCEL_ALL_RETRY_FOR: Duration = Duration::from_secs(25);

/// Settings of the real executor.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// The traded symbol's filters.
    pub filters: SymbolFilters,
    /// `[risk]` limits.
    pub limits: Limits,
    /// How long an order whose outcome is unknown is looked for before answering;
    /// [`RealExecutor::new`] raises it to [`ExecutorConfig::min_unknown_outcome_window`] of its
    /// client's settings (see [`ExecutorConfig::window_floor`]).
    pub unknown_outcome_window: Duration,
    /// First delay between those queries (doubling, with jitter).
    pub query_backoff_initial: Duration,
    /// Largest delay between those queries.
    pub query_backoff_max: Duration,
    /// Whether [`RealExecutor::new`] raises `unknown_outcome_window` to the client's
    /// [`ExecutorConfig::min_unknown_outcome_window`] (true). Only a test against a stub venue,
    /// which never executes an order after answering, may set it false.
    pub window_floor: bool,
}

/// What the unknown-outcome window adds to `recvWindow` and the request timeout (see
/// [`ExecutorConfig::min_unknown_outcome_window`]).
pub const UNKNOWN_OUTCOME_MARGIN: Duration = Duration::from_secs(5);

impl ExecutorConfig {
    /// Defaults: look for an unknown outcome for 15 s (longer than the venue's 10 s backend
    /// timeout; raised by [`RealExecutor::new`] for a longer `recvWindow`), queries 100 ms apart at
    /// first, at most 2 s.
    pub fn new(filters: SymbolFilters, limits: Limits) -> Self {
        ExecutorConfig {
            filters,
            limits,
            unknown_outcome_window: Duration::from_secs(15),
            query_backoff_initial: Duration::from_millis(100),
            query_backoff_max: Duration::from_secs(2),
            window_floor: true,
        }
    }

    /// The shortest unknown-outcome window for a client of settings `rest`: its `recvWindow`, its
    /// request timeout and [`UNKNOWN_OUTCOME_MARGIN`]. Binance forwards a request to the
    /// matching engine while `serverTime - timestamp <= recvWindow` (notes §2.1), so an order
    /// whose answer failed may still be placed up to `recvWindow` after it was sent: declared "not
    /// placed" before then, it could execute afterwards. 15 s at the defaults (5 s `recvWindow`,
    /// 5 s timeout); 70 s for the largest `recvWindow`, 60 s.
    pub fn min_unknown_outcome_window(rest: &RestConfig) -> Duration {
        Duration::from_millis(rest.recv_window.ms())
            .saturating_add(rest.request_timeout)
            .saturating_add(UNKNOWN_OUTCOME_MARGIN)
    }
}

/// The real executor of one symbol. Share it (`Arc`) between the command loop and the
/// [`crate::real::UserStream`].
#[derive(Debug)]
pub struct RealExecutor {
    client: Arc<RestClient>,
    config: ExecutorConfig,
    /// `[risk]` limits in force (starts as `config.limits`; `set_limits` replaces them).
    limits: std::sync::RwLock<Limits>,
    book: Option<SharedBook>,
    orders: Mutex<Orders>,
    balances: Mutex<BalanceCache>,
}

impl RealExecutor {
    /// An executor sending through `client`. The unknown-outcome window is raised to the
    /// client's [`ExecutorConfig::min_unknown_outcome_window`] when shorter (unless
    /// [`ExecutorConfig::window_floor`] is false).
    pub fn new(client: Arc<RestClient>, mut config: ExecutorConfig) -> Self {
        let floor = ExecutorConfig::min_unknown_outcome_window(client.config());
        if config.window_floor && config.unknown_outcome_window < floor {
            tracing::info!(
                configured_ms = config.unknown_outcome_window.as_millis() as u64,
                window_ms = floor.as_millis() as u64,
                recv_window_ms = client.config().recv_window.ms(),
                "unknown-outcome window raised to recvWindow + request timeout + margin"
            );
            config.unknown_outcome_window = floor;
        }
        RealExecutor {
            client,
            limits: std::sync::RwLock::new(config.limits.clone()),
            config,
            book: None,
            orders: Mutex::new(Orders::default()),
            balances: Mutex::new(BalanceCache::default()),
        }
    }

    /// Uses `book`'s touch as a market order's reference price for validation (without a book,
    /// market orders are refused).
    pub fn with_book(mut self, book: SharedBook) -> Self {
        self.book = Some(book);
        self
    }

    /// The `[risk]` limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the `[risk]` limits new orders are checked against (a config reload).
    pub fn set_limits(&self, limits: Limits) {
        *self.limits.write().unwrap_or_else(|e| e.into_inner()) = limits;
    }

    /// The REST client.
    pub fn client(&self) -> &Arc<RestClient> {
        &self.client
    }

    /// The settings.
    pub fn config(&self) -> &ExecutorConfig {
        &self.config
    }

    pub(super) fn orders(&self) -> MutexGuard<'_, Orders> {
        self.orders.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn balance_cache(&self) -> MutexGuard<'_, BalanceCache> {
        self.balances.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True when `symbol` is the one this executor trades.
    pub fn trades(&self, symbol: &str) -> bool {
        symbol == self.config.filters.symbol
    }

    /// Orders of the traded symbol counted as open: working ones, and those whose outcome is
    /// not known yet.
    pub fn open_count(&self) -> usize {
        self.orders().open_count(&self.config.filters.symbol)
    }

    /// What is left of the open orders of the traded symbol, per side (orders whose outcome is
    /// not known yet count as open).
    pub fn open_quantities(&self) -> OpenQuantities {
        self.open_quantities_with(std::iter::empty())
    }

    /// As [`Self::open_quantities`], with the orders of `queued` (client order id, side,
    /// quantity) this executor does not track yet: orders waiting for their turn, counted in the
    /// same look at the tracked ones (an order is tracked before it leaves the queue, so none is
    /// ever missed between the two).
    pub fn open_quantities_with<'a>(
        &self,
        queued: impl IntoIterator<Item = (&'a str, Side, Decimal)>,
    ) -> OpenQuantities {
        let orders = self.orders();
        let mut q = OpenQuantities::of(
            orders
                .by_client
                .values()
                .filter(|t| t.order.info.symbol == self.config.filters.symbol)
                .filter(|t| t.counts_as_open())
                .map(|t| &t.order.info),
        );
        for (client_order_id, side, quantity) in queued {
            if !orders.by_client.contains_key(client_order_id) {
                q.add(side, quantity);
            }
        }
        q
    }

    /// The executor's view of an order.
    pub fn order(&self, client_order_id: &str) -> Option<Order> {
        self.orders()
            .by_client
            .get(client_order_id)
            .map(|t| t.order.clone())
    }

    /// Client order ids whose outcome is still unknown (see [`Self::reconcile`]).
    pub fn unresolved(&self) -> Vec<String> {
        self.orders()
            .by_client
            .values()
            .filter(|t| t.phase == Phase::Unresolved)
            .map(|t| t.order.info.client_order_id.clone())
            .collect()
    }

    /// Seeds an order known before a restart (e.g. from persisted state), so that
    /// [`Self::reconcile`] looks it up and reports what happened to it meanwhile. Fills up to
    /// `order.filled` count as already reported.
    pub fn track(&self, order: Order) {
        self.orders().by_client.insert(
            order.info.client_order_id.clone(),
            Tracked::new(order, Phase::Known),
        );
    }

    /// The touch a MARKET order of `side` takes from, to value its notional. While the book is not
    /// in sync (resyncing, the feed down) a buy has none (it is refused), a sell goes on the last
    /// book's touch: an exit or a flatten must not wait for the feed, and the venue fills it at
    /// its own prices.
    fn reference_price(&self, side: Side) -> Option<Dec> {
        let book = self.book.as_ref()?;
        let st = book.read();
        if !st.synced && side == Side::Buy {
            return None;
        }
        let level = match side {
            Side::Buy => st.book.best_ask(),
            Side::Sell => st.book.best_bid(),
        }?;
        let units = i64::try_from(level.price).ok()?;
        Some(Dec(Decimal::new(units, 8).normalize()))
    }

    /// Places an order: validation, one `POST /api/v3/order`, and on an unknown outcome the
    /// bounded query described in the module docs. Answers as the paper executor does:
    /// `OrderPlaced` (status after the immediate fills), then one `OrderExecution` per fill, or
    /// one `Error`.
    pub async fn place(&self, cmd: &PlaceOrder) -> Vec<Response> {
        self.place_by(cmd, None).await
    }

    /// [`RealExecutor::place`], not sent after `deadline` (an entry decided on a market that is
    /// gone by then): refused as `VALIDATION` of `ts_ns` when the rate limits, a pause or the clock
    /// sync hold it back until then.
    pub async fn place_by(&self, cmd: &PlaceOrder, deadline: Option<Instant>) -> Vec<Response> {
        let now = now_ns();
        let id = Some(cmd.command_id.as_str());
        let reference = match cmd.order_type {
            common::message::OrderType::Market => self.reference_price(cmd.side),
            _ => None,
        };
        {
            let mut orders = self.orders();
            if orders.by_client.contains_key(&cmd.client_order_id)
                || orders.absent.contains(&cmd.client_order_id)
            {
                return vec![error(
                    id,
                    now,
                    ErrorCode::DuplicateOrder,
                    Some("client_order_id"),
                    format!("client_order_id {} was already used", cmd.client_order_id),
                )];
            }
            if let Err(r) = validate::check(
                cmd,
                &self.config.filters,
                &self.limits.read().unwrap_or_else(|e| e.into_inner()),
                orders.open_count(&self.config.filters.symbol),
                reference,
            ) {
                return vec![error(
                    id,
                    now,
                    ErrorCode::Validation,
                    Some(r.field),
                    r.message,
                )];
            }
            orders.by_client.insert(
                cmd.client_order_id.clone(),
                Tracked::new(Order::new(cmd, String::new(), now), Phase::InFlight),
            );
        }
        match self
            .client
            .new_order(cmd, &self.config.filters, deadline)
            .await
        {
            Ok(report) => {
                let fills = full_fills(&report);
                self.answer_placed(&cmd.client_order_id, &report, &fills, now_ns())
            }
            Err(e) if e.is_unknown_outcome() => {
                tracing::warn!(client_order_id = %cmd.client_order_id, error = %e, "new order outcome unknown; querying it");
                self.resolve_unknown(cmd, &e).await
            }
            Err(e) => {
                self.orders().by_client.remove(&cmd.client_order_id);
                vec![error_response(id, &e, now_ns())]
            }
        }
    }

    /// `OrderPlaced` + new executions for an order the venue has, then the stream events held
    /// while its answer was out.
    pub(super) fn answer_placed(
        &self,
        client_order_id: &str,
        report: &OrderReport,
        fills: &[Fill],
        now: u64,
    ) -> Vec<Response> {
        let mut orders = self.orders();
        let Some(t) = orders.by_client.get_mut(client_order_id) else {
            return Vec::new();
        };
        t.order.info.exchange_order_id = report.order_id.to_string();
        let status = report.order_status().unwrap_or(OrderStatus::New);
        let mut out = vec![t.order.placed(status, now)];
        out.extend(new_executions(t, fills, now));
        absorb_report(&mut t.order, report, now);
        if report.state.is_none() {
            t.order.info.status = OrderStatus::New;
        }
        t.phase = Phase::Known;
        apply_held(t, now, &mut out);
        out
    }

    /// The venue's fills of `report`'s order when it has any (an empty list when `myTrades`
    /// fails: the stream or a later reconcile reports them).
    pub(super) async fn fills_of(&self, report: &OrderReport) -> Vec<Fill> {
        let executed = report
            .state
            .as_ref()
            .map_or(Decimal::ZERO, |s| s.executed_qty);
        if executed.is_zero() {
            return Vec::new();
        }
        match self.client.my_trades(&report.symbol, report.order_id).await {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(order_id = report.order_id, error = %e, "myTrades failed; fills not reported yet");
                Vec::new()
            }
        }
    }

    /// Queries an order by client order id until found, or until the window is over (`None`: the
    /// venue still has no such order).
    async fn look_for(
        &self,
        symbol: &str,
        client_order_id: &str,
    ) -> Result<Option<OrderReport>, RestError> {
        let deadline = Instant::now() + self.config.unknown_outcome_window;
        let mut backoff = Backoff::new(
            u64::try_from(self.config.query_backoff_initial.as_millis()).unwrap_or(u64::MAX),
            u64::try_from(self.config.query_backoff_max.as_millis()).unwrap_or(u64::MAX),
        );
        loop {
            let result = self.client.query_order(symbol, client_order_id).await;
            let now = Instant::now();
            match result {
                Ok(report) => return Ok(Some(report)),
                Err(e) if now >= deadline => {
                    return if e.is_unknown_order() {
                        Ok(None)
                    } else {
                        Err(e)
                    };
                }
                Err(e) => {
                    tracing::debug!(client_order_id, error = %e, "order not settled yet");
                }
            }
            let delay = backoff.next_delay().min(deadline - now);
            tokio::time::sleep(delay.max(Duration::from_millis(1))).await;
        }
    }

    async fn resolve_unknown(&self, cmd: &PlaceOrder, first: &RestError) -> Vec<Response> {
        let id = Some(cmd.command_id.as_str());
        let window_ms = self.config.unknown_outcome_window.as_millis();
        match self.look_for(&cmd.symbol, &cmd.client_order_id).await {
            Ok(Some(report)) => {
                let fills = self.fills_of(&report).await;
                self.answer_placed(&cmd.client_order_id, &report, &fills, now_ns())
            }
            Ok(None) => match self.settle_not_found(&cmd.client_order_id).await {
                Some(placed) => placed,
                None => vec![error(
                    id,
                    now_ns(),
                    ErrorCode::Venue,
                    None,
                    format!(
                        "unknown outcome of new order {}: {first}; the venue still has no such order after {window_ms} ms, so it was not placed",
                        cmd.client_order_id
                    ),
                )],
            },
            Err(e) => {
                if let Some(t) = self.orders().by_client.get_mut(&cmd.client_order_id) {
                    t.phase = Phase::Unresolved;
                }
                vec![error(
                    id,
                    now_ns(),
                    ErrorCode::UnknownOutcome,
                    None,
                    format!(
                        "unknown outcome of new order {}: {first}; querying it failed for {window_ms} ms ({e}); it stays unresolved until reconcile",
                        cmd.client_order_id
                    ),
                )]
            }
        }
    }

    /// Settles a new order whose outcome was unknown and that the venue's queries did not find
    /// (`-2013` to the end of the window, or at a reconcile). When the user data stream reported
    /// events of it meanwhile (held while its answer was out), the venue has it, whatever the
    /// queries said (notes §3.1: the status of a `5XX` / `-1007` "is UNKNOWN and could have been a
    /// success"): it is answered placed, `OrderPlaced` then what those events report (fills,
    /// cancel, expiry), plus the fills the events did not carry (their cumulative quantity is
    /// higher), from `myTrades` by the events' order id. Returns that answer; `None` when no event
    /// came: the order is settled as not placed (untracked, its client order id kept as used).
    pub(super) async fn settle_not_found(&self, client_order_id: &str) -> Option<Vec<Response>> {
        let (mut out, symbol, order_id, behind) = {
            let mut orders = self.orders();
            let t = orders.by_client.get_mut(client_order_id)?;
            if t.held.is_empty() {
                orders.by_client.remove(client_order_id);
                orders.absent.insert(client_order_id.to_owned());
                return None;
            }
            let now = now_ns();
            let order_id = t.held[0].order_id;
            tracing::warn!(
                client_order_id,
                order_id,
                held = t.held.len(),
                "the venue's queries did not find the order, but the user data stream reported it: answered placed"
            );
            t.order.info.exchange_order_id = order_id.to_string();
            t.phase = Phase::Known;
            let mut out = vec![t.order.placed(OrderStatus::New, now)];
            apply_held(t, now, &mut out);
            let behind = t.unreported();
            (out, t.order.info.symbol.clone(), order_id, behind)
        };
        if behind {
            match self.client.my_trades(&symbol, order_id).await {
                Ok(fills) => {
                    if let Some(t) = self.orders().by_client.get_mut(client_order_id) {
                        out.extend(new_executions(t, &fills, now_ns()));
                    }
                }
                Err(e) => {
                    tracing::warn!(order_id, error = %e, "myTrades failed; fills not reported yet (the next reconcile asks again)");
                }
            }
        }
        Some(out)
    }

    /// Cancels an order by client order id (`DELETE /api/v3/order`). Answers `OrderCanceled`,
    /// or an `Error` (`UNKNOWN_ORDER` when the venue has no such open order). A cancel whose
    /// outcome is unknown is settled by querying the order. The user data stream's report of the
    /// cancel, while the request is out, is left to this answer (see `settle_cancel`).
    pub async fn cancel(&self, cmd: &CancelOrder) -> Vec<Response> {
        if let Some(t) = self.orders().by_client.get_mut(&cmd.client_order_id) {
            t.cancel = CancelRequest::Out;
        }
        let answer = self.cancel_at_venue(cmd).await;
        self.settle_cancel(cmd, answer)
    }

    /// Ends the cancel request of `cmd`'s order with the venue's `answer`. When the stream
    /// reported the order canceled while the request was out and `answer` does not report the
    /// cancel (an unknown outcome whose queries failed — notes §3.1, a `5XX`: "the execution
    /// status is UNKNOWN and could have been a success" — or `-2011`), the executor holds the
    /// order canceled and nothing else will report it: the cancel is answered `OrderCanceled`.
    fn settle_cancel(&self, cmd: &CancelOrder, answer: Vec<Response>) -> Vec<Response> {
        let mut orders = self.orders();
        let Some(t) = orders.by_client.get_mut(&cmd.client_order_id) else {
            return answer;
        };
        let request = std::mem::replace(&mut t.cancel, CancelRequest::Idle);
        let reported = answer
            .iter()
            .any(|r| matches!(r, Response::OrderCanceled(_)));
        if request != CancelRequest::OutCanceledMeanwhile || reported {
            return answer;
        }
        tracing::warn!(
            client_order_id = %cmd.client_order_id,
            venue_answer = ?answer,
            "cancel request not confirmed, but the stream reported the order canceled: answered OrderCanceled"
        );
        vec![t.order.canceled(Some(cmd.command_id.clone()), now_ns())]
    }

    async fn cancel_at_venue(&self, cmd: &CancelOrder) -> Vec<Response> {
        let id = Some(cmd.command_id.as_str());
        let report = match self
            .client
            .cancel_order(&cmd.symbol, &cmd.client_order_id)
            .await
        {
            Ok(report) => report,
            Err(e) if e.is_unknown_order() => {
                return vec![error(
                    id,
                    now_ns(),
                    ErrorCode::UnknownOrder,
                    Some("client_order_id"),
                    format!(
                        "Unknown order sent: {} {} ({e})",
                        cmd.symbol, cmd.client_order_id
                    ),
                )]
            }
            Err(e) if e.is_unknown_outcome() => {
                match self.look_for(&cmd.symbol, &cmd.client_order_id).await {
                    Ok(Some(r)) if r.order_status() == Some(OrderStatus::Canceled) => r,
                    Ok(Some(r)) => {
                        self.absorb(&r);
                        return vec![error(
                            id,
                            now_ns(),
                            ErrorCode::Venue,
                            None,
                            format!(
                                "unknown outcome of cancel {}: {e}; the order is {:?}",
                                cmd.client_order_id,
                                r.order_status()
                            ),
                        )];
                    }
                    Ok(None) => {
                        return vec![error(
                            id,
                            now_ns(),
                            ErrorCode::UnknownOrder,
                            Some("client_order_id"),
                            format!(
                                "Order does not exist: {} {}",
                                cmd.symbol, cmd.client_order_id
                            ),
                        )]
                    }
                    Err(q) => {
                        return vec![error(
                            id,
                            now_ns(),
                            ErrorCode::Venue,
                            None,
                            format!(
                                "unknown outcome of cancel {}: {e}; querying it failed: {q}",
                                cmd.client_order_id
                            ),
                        )]
                    }
                }
            }
            Err(e) => return vec![error_response(id, &e, now_ns())],
        };
        self.absorb(&report);
        let executed = report
            .state
            .as_ref()
            .map_or(Decimal::ZERO, |s| s.executed_qty);
        vec![order_canceled(
            Some(cmd.command_id.clone()),
            report.order_client_id(),
            &report.order_id.to_string(),
            &report.symbol,
            executed,
            now_ns(),
        )]
    }

    /// Records the venue's view of a tracked order (no responses).
    fn absorb(&self, report: &OrderReport) {
        let now = now_ns();
        if let Some(t) = self.orders().by_client.get_mut(report.order_client_id()) {
            absorb_report(&mut t.order, report, now);
        }
    }

    /// Cancels every open order of the symbol (`DELETE /api/v3/openOrders`, halt and shutdown);
    /// the `OrderCanceled` answers carry no command id, and come after the `OrderExecution`s of
    /// the fills an answer reveals that were not reported yet (from `myTrades`). A failed request
    /// is asked again (0.5 s, doubling to 4 s) for up to [`CANCEL_ALL_RETRY_FOR`]: a halt or a
    /// shutdown must not leave an order resting because one request failed.
    pub async fn cancel_all(&self) -> Vec<Response> {
        let deadline = Instant::now() + CANCEL_ALL_RETRY_FOR;
        let mut delay = Duration::from_millis(500);
        let reports = loop {
            match self
                .client
                .cancel_open_orders(&self.config.filters.symbol)
                .await
            {
                Ok(reports) => break reports,
                Err(e) if Instant::now() + delay < deadline => {
                    tracing::warn!(error = %e, retry_ms = delay.as_millis() as u64, "cancel of every open order failed: asking again");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(4));
                }
                Err(e) => {
                    tracing::error!(error = %e, "cancel of every open order failed: orders may still rest at the venue");
                    return vec![error_response(None, &e, now_ns())];
                }
            }
        };
        let mut out = Vec::new();
        for r in &reports {
            out.extend(self.catch_up(r).await);
            let now = now_ns();
            let mut orders = self.orders();
            if let Some(t) = orders.by_client.get_mut(r.order_client_id()) {
                if t.order.info.status == OrderStatus::Canceled {
                    continue;
                }
                absorb_report(&mut t.order, r, now);
            }
            let executed = r.state.as_ref().map_or(Decimal::ZERO, |s| s.executed_qty);
            out.push(order_canceled(
                None,
                r.order_client_id(),
                &r.order_id.to_string(),
                &r.symbol,
                executed,
                now,
            ));
        }
        out
    }

    /// Answers `QueryOrder` from the venue (`GET /api/v3/order`): its `OrderStatus`, after the
    /// `OrderExecution`s, from `myTrades` with their real fees, of the fills not reported yet (all
    /// of them for an order this executor did not track, placed before a restart).
    pub async fn query(&self, cmd: &QueryOrder) -> Vec<Response> {
        let id = Some(cmd.command_id.as_str());
        match self
            .client
            .query_order(&cmd.symbol, &cmd.client_order_id)
            .await
        {
            Ok(report) => {
                let tracked = self
                    .orders()
                    .by_client
                    .contains_key(report.order_client_id());
                let mut out = if tracked {
                    self.catch_up(&report).await
                } else {
                    self.adopt(&report).await
                };
                self.absorb(&report);
                let Some(mut info) = order_info(&report) else {
                    return vec![error(
                        id,
                        now_ns(),
                        ErrorCode::Venue,
                        None,
                        format!(
                            "order {} has a type this engine does not serve",
                            cmd.client_order_id
                        ),
                    )];
                };
                if let Some(t) = self.orders().by_client.get(&cmd.client_order_id) {
                    info.created_ts_ns = t.order.info.created_ts_ns;
                }
                out.push(Response::OrderStatus(OrderStatusReport {
                    command_id: Some(cmd.command_id.clone()),
                    ts_ns: now_ns(),
                    order: info,
                }));
                out
            }
            Err(e) if e.is_unknown_order() => vec![error(
                id,
                now_ns(),
                ErrorCode::UnknownOrder,
                Some("client_order_id"),
                format!(
                    "Order does not exist: {} {}",
                    cmd.symbol, cmd.client_order_id
                ),
            )],
            Err(e) => vec![error_response(id, &e, now_ns())],
        }
    }

    /// Answers `QueryOpenOrders` from the venue (`GET /api/v3/openOrders`).
    pub async fn open_orders(&self, cmd: &QueryOpenOrders) -> Response {
        match self.client.open_orders(cmd.symbol.as_deref()).await {
            Ok(reports) => Response::OpenOrders(OpenOrders {
                command_id: Some(cmd.command_id.clone()),
                ts_ns: now_ns(),
                symbol: cmd.symbol.clone(),
                orders: reports.iter().filter_map(order_info).collect(),
                net_position: None, // the engine's core fills it in (`Core::respond`)
            }),
            Err(e) => error_response(Some(&cmd.command_id), &e, now_ns()),
        }
    }
}
