//! The engine's executor: the paper executor, answered inline, or the real Binance executor behind a
//! worker task that serves its orders one at a time in arrival order (so a cancel never overtakes
//! the order it cancels) while the core loop keeps serving market data and halts.
//!
//! Both answer through the core: the paper executor by returning its responses, the real one by
//! sending them (with the user data stream's `OrderExecution`s) on the channel the core reads.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::message::{
    Command, ErrorCode, ErrorResponse, OrderType, PlaceOrder, Response, Side, Trade,
};
use common::time::now_ns;
use execution_engine::exposure::OpenQuantities;
use execution_engine::order::Order;
use execution_engine::paper::{Depth, Fees, FillRule, Level};
use execution_engine::real::{RealExecutor, RestClient, StreamStats, UserStream};
use execution_engine::PaperAccount;
use execution_engine::{Limits, PaperExecutor};
use feed_handler::shared::BookState;
use rust_decimal::Decimal;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{info, warn};

use crate::position_file::{FlattenOrder, Held};

/// Longest wait at shutdown for the venue to confirm the cancels. The cancels queue behind the order
/// jobs sent before them, and a new order whose outcome is unknown is looked for during the real
/// executor's `unknown_outcome_window` (15 s) plus one last query (the REST client's 5 s timeout):
/// the wait covers that and the cancels' own requests, so a shutdown never leaves an order resting at
/// the venue for lack of time. The buys still queued are refused unsent (`halted_refusal`): only an
/// order already at the venue, or a sell, stands before the cancels. The launcher (`Session.stop`)
/// and docker-compose (`stop_grace_period`) give the engine longer than this before they kill it.
pub(crate) const SHUTDOWN_CANCEL_WAIT: Duration = Duration::from_secs(30);

/// The live book as it last was, in sync or not: a paper flatten sells on it even while the feed is
/// down (a halted feed's flatten), as a real one is sent to the venue then.
struct LastBook<'a>(&'a BookState);

impl Depth for LastBook<'_> {
    fn synced(&self) -> bool {
        true
    }

    fn levels(&self, side: Side) -> impl Iterator<Item = Level> + Clone + '_ {
        self.0.levels(side)
    }

    fn version(&self) -> Option<u64> {
        self.0.version()
    }
}

/// Where a cancel of every open order stands.
pub enum Canceling {
    /// Answered (the paper executor): its responses.
    Done(Vec<Response>),
    /// Queued for the venue (the real executor): told when answered.
    Pending(oneshot::Receiver<()>),
}

/// One piece of work for the real executor's worker.
enum Job {
    /// `PlaceOrder`, `CancelOrder`, `QueryOrder`, `QueryOpenOrders` or `QueryBalances`, with the
    /// number of halts before it was queued (a buy queued before a halt is never sent, even when a
    /// `Resume` comes before its turn).
    Order(Command, u64),
    /// Cancel every open order; `done` is told when finished (the fills the cancels revealed sent).
    CancelAll { done: Option<oneshot::Sender<()>> },
    /// Place these market sells of a flatten, one after the other.
    Flatten(Vec<PlaceOrder>),
    /// Ask the venue what the user data stream may have missed.
    Reconcile,
}

/// The real executor, its worker and its user data stream.
pub struct Real {
    executor: Arc<RealExecutor>,
    jobs: mpsc::UnboundedSender<Job>,
    stream: Option<UserStream>,
    /// The queue's state, shared with the worker.
    queue: Queue,
}

impl Real {
    /// Starts the worker; its responses, and those of `stream` (started on the same `results`
    /// channel), go to `results`. The worker reports a `418` ban on `banned`, refuses a buy that
    /// waited longer than `max_entry_delay` for its turn, and reconciles every `reconcile_every`
    /// (never when zero).
    pub fn start(
        executor: Arc<RealExecutor>,
        stream: UserStream,
        results: mpsc::UnboundedSender<Response>,
        banned: watch::Sender<Option<String>>,
        max_entry_delay: Duration,
        reconcile_every: Duration,
    ) -> Self {
        let (jobs, jobs_rx) = mpsc::unbounded_channel();
        let queue = Queue::default();
        tokio::spawn(serve(
            Arc::clone(&executor),
            jobs_rx,
            results,
            banned,
            max_entry_delay,
            queue.clone(),
        ));
        if !reconcile_every.is_zero() {
            let jobs = jobs.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(reconcile_every);
                tick.tick().await; // the stream reconciles on connect
                loop {
                    tick.tick().await;
                    if jobs.send(Job::Reconcile).is_err() {
                        return;
                    }
                }
            });
        }
        Real {
            executor,
            jobs,
            stream: Some(stream),
            queue,
        }
    }

    fn submit(&self, job: Job) {
        if self.jobs.send(job).is_err() {
            warn!("real executor worker gone");
        }
    }
}

/// A buy that waited in the queue more than `max` since its command was sent (`ts_ns`, the
/// strategy's clock: the same host's) is refused before it reaches the venue: the market it was
/// decided on is gone. Sells (targets, exits, flattens) always go.
fn stale_entry(p: &PlaceOrder, now_ns: u64, max: Duration) -> Option<Response> {
    let waited = Duration::from_nanos(now_ns.saturating_sub(p.ts_ns));
    (p.side == Side::Buy && waited > max).then(|| {
        Response::Error(ErrorResponse {
            command_id: Some(p.command_id.clone()),
            ts_ns: now_ns,
            code: ErrorCode::Validation,
            field: Some("ts_ns".into()),
            message: format!(
                "ts_ns: this buy waited {} ms in the engine before it could go to the venue, over [risk] max_entry_delay_ms {}: not sent",
                waited.as_millis(),
                max.as_millis()
            ),
        })
    })
}

/// The instant after which the buy `p`, not stale at `now_ns`, is not sent either: the REST
/// client's waits (rate limits, a pause the venue asked for, the clock sync) count in its delay
/// too. Sells have none.
fn entry_deadline(p: &PlaceOrder, now_ns: u64, max: Duration) -> Option<Instant> {
    let waited = Duration::from_nanos(now_ns.saturating_sub(p.ts_ns));
    (p.side == Side::Buy).then(|| Instant::now() + max.saturating_sub(waited))
}

/// A buy still queued when the engine halts or shuts down is refused before the venue (`HALTED`),
/// as the engine refuses a new one then: the halt or the shutdown would cancel it, after waiting for
/// it. Sells go.
fn halted_refusal(p: &PlaceOrder, now_ns: u64) -> Option<Response> {
    (p.side == Side::Buy).then(|| {
        Response::Error(ErrorResponse {
            command_id: Some(p.command_id.clone()),
            ts_ns: now_ns,
            code: ErrorCode::Halted,
            field: None,
            message: "the engine is halted or shutting down: this buy was not sent".into(),
        })
    })
}

/// Reports a ban that stopped trading (`418`, answered to this client or to the feed) on `banned`:
/// the engine halts on it.
fn report_ban(executor: &RealExecutor, banned: &watch::Sender<Option<String>>) {
    // An IP ban (418) or refused credentials: the ban names which.
    let ban = executor.client().trading_stopped().map(|b| b.to_string());
    banned.send_if_modified(|current| {
        if ban.is_some() && *current != ban {
            *current = ban;
            true
        } else {
            false
        }
    });
}

/// What the engine and the worker share about the worker's queue.
#[derive(Clone, Default)]
struct Queue {
    /// Set while the engine is halted or shutting down: the buys still queued are refused unsent
    /// (the halt or the shutdown cancels what it finds open).
    buys_refused: Arc<AtomicBool>,
    /// Halts and shutdowns so far: a buy queued before one is refused unsent.
    halts: Arc<AtomicU64>,
    /// The orders queued, by client order id (side, quantity): they count in the position limits
    /// before they are at the venue.
    orders: Arc<Mutex<HashMap<String, (Side, Decimal)>>>,
}

impl Queue {
    /// A halt or a shutdown: the buys queued now are refused unsent, and so are those queued
    /// later until [`Executor::refuse_buys`] lifts it.
    fn halt(&self) {
        self.halts.fetch_add(1, Ordering::SeqCst);
        self.buys_refused.store(true, Ordering::SeqCst);
    }

    /// Whether a buy queued after `halts_before` halts is refused now.
    fn refuses(&self, halts_before: u64) -> bool {
        self.buys_refused.load(Ordering::SeqCst)
            || self.halts.load(Ordering::SeqCst) != halts_before
    }

    fn orders(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Side, Decimal)>> {
        self.orders.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Serves jobs in order until the engine drops the sender.
async fn serve(
    executor: Arc<RealExecutor>,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    results: mpsc::UnboundedSender<Response>,
    banned: watch::Sender<Option<String>>,
    max_entry_delay: Duration,
    queue: Queue,
) {
    // Every second without a job, a ban the feed met is looked for too: it stops trading even while
    // no order is sent.
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let job = tokio::select! {
            job = jobs.recv() => match job {
                Some(job) => job,
                None => return,
            },
            _ = tick.tick() => {
                executor.client().note_shared_ban();
                report_ban(&executor, &banned);
                continue;
            }
        };
        let (out, done) = match job {
            Job::Order(cmd, halts_before) => {
                let refused = match &cmd {
                    Command::PlaceOrder(p) if queue.refuses(halts_before) => {
                        halted_refusal(p, now_ns())
                    }
                    _ => None,
                };
                let out = match refused {
                    Some(r) => vec![r],
                    None => order(&executor, &cmd, max_entry_delay).await,
                };
                if let Command::PlaceOrder(p) = &cmd {
                    // Tracked by the executor from its first step on, or refused: off the queue.
                    queue.orders().remove(&p.client_order_id);
                }
                (out, None)
            }
            Job::CancelAll { done } => (executor.cancel_all().await, done),
            Job::Flatten(orders) => {
                let mut out = Vec::new();
                for p in orders {
                    info!(client_order_id = %p.client_order_id, side = ?p.side, quantity = %p.quantity, "flattening");
                    out.extend(executor.place(&p).await);
                    // Tracked by the executor from its first step on, or refused: off the queue.
                    queue.orders().remove(&p.client_order_id);
                }
                (out, None)
            }
            Job::Reconcile => {
                let out = executor.reconcile().await;
                if !out.is_empty() {
                    info!(
                        responses = out.len(),
                        "periodic reconcile found what the stream missed"
                    );
                }
                (out, None)
            }
        };
        for r in out {
            if results.send(r).is_err() {
                return;
            }
        }
        if let Some(done) = done {
            let _ = done.send(());
        }
        report_ban(&executor, &banned);
    }
}

async fn order(executor: &RealExecutor, cmd: &Command, max_entry_delay: Duration) -> Vec<Response> {
    let out = match cmd {
        Command::PlaceOrder(p) => {
            let now = now_ns();
            match stale_entry(p, now, max_entry_delay) {
                Some(refused) => vec![refused],
                None => {
                    executor
                        .place_by(p, entry_deadline(p, now, max_entry_delay))
                        .await
                }
            }
        }
        Command::CancelOrder(c) => executor.cancel(c).await,
        Command::QueryOrder(q) => executor.query(q).await,
        Command::QueryOpenOrders(q) => vec![executor.open_orders(q).await],
        Command::QueryBalances(q) => vec![executor.balances(q).await],
        other => {
            warn!(command = ?other, "not an order command: ignored by the real executor");
            Vec::new()
        }
    };
    if let Command::PlaceOrder(p) = cmd {
        for r in &out {
            info!(command_id = %p.command_id, client_order_id = %p.client_order_id, response = ?r, "order");
        }
    }
    out
}

/// Paper or real.
pub enum Executor {
    /// Fills against the engine's book.
    Paper(Box<PaperExecutor>),
    /// Binance's signed REST API and user data stream.
    Real(Real),
}

impl Executor {
    /// Serves an order command (`PlaceOrder`, `CancelOrder`, `QueryOrder`, `QueryOpenOrders`,
    /// `QueryBalances`):
    /// the paper executor's answers now, the real executor's later on the results channel.
    pub fn order(&mut self, cmd: Command, book: &BookState, now: u64) -> Vec<Response> {
        match self {
            Executor::Paper(p) => match &cmd {
                Command::PlaceOrder(o) => {
                    let out = p.place(o, book, now);
                    for r in &out {
                        info!(command_id = %o.command_id, client_order_id = %o.client_order_id, response = ?r, "order");
                    }
                    out
                }
                Command::CancelOrder(c) => p.cancel(c, now),
                Command::QueryOrder(q) => vec![p.query(q, now)],
                Command::QueryOpenOrders(q) => vec![p.open_orders(q, now)],
                Command::QueryBalances(q) => vec![p.balances(q, now)],
                other => {
                    warn!(command = ?other, "not an order command: ignored by the paper executor");
                    Vec::new()
                }
            },
            Executor::Real(r) => {
                if let Command::PlaceOrder(p) = &cmd {
                    r.queue
                        .orders()
                        .insert(p.client_order_id.clone(), (p.side, p.quantity.0));
                }
                r.submit(Job::Order(cmd, r.queue.halts.load(Ordering::SeqCst)));
                Vec::new()
            }
        }
    }

    /// A market trade: fills resting paper orders (the venue fills real ones).
    pub fn on_trade(&mut self, trade: &Trade, now: u64) -> Vec<Response> {
        match self {
            Executor::Paper(p) => p.on_trade(trade, now),
            Executor::Real(_) => Vec::new(),
        }
    }

    /// New `[risk]` limits and, for paper, fees and fill rule (a config reload; the venue sets the
    /// real executor's fees).
    pub fn reconfigure(&mut self, limits: Limits, fees: Fees, fill_rule: FillRule) {
        match self {
            Executor::Paper(p) => p.reconfigure(limits, fees, fill_rule),
            Executor::Real(r) => r.executor.set_limits(limits),
        }
    }

    /// The largest quantity of one MARKET sell valued at `price` (the venue's filters and the
    /// `[risk]` limits in force), `None` when nothing bounds it: a flatten is cut in orders of it.
    pub fn largest_market_quantity(&self, price: Option<Decimal>) -> Option<Decimal> {
        match self {
            Executor::Paper(p) => {
                execution_engine::validate::largest_market_quantity(p.filters(), p.limits(), price)
            }
            Executor::Real(r) => execution_engine::validate::largest_market_quantity(
                self.filters(),
                &r.executor.limits(),
                price,
            ),
        }
    }

    /// The traded symbol's filters at the venue.
    pub fn filters(&self) -> &execution_engine::SymbolFilters {
        match self {
            Executor::Paper(p) => p.filters(),
            Executor::Real(r) => &r.executor.config().filters,
        }
    }

    /// The traded symbol's `LOT_SIZE` step (zero: no step).
    pub fn step_size(&self) -> Decimal {
        self.filters().step_size.0
    }

    /// The real executor's REST client (rate limits, breaker, venue clock).
    pub fn client(&self) -> Option<Arc<RestClient>> {
        match self {
            Executor::Paper(_) => None,
            Executor::Real(r) => Some(Arc::clone(r.executor.client())),
        }
    }

    /// The user data stream's counters (real mode).
    pub fn stream_stats(&self) -> Option<Arc<StreamStats>> {
        match self {
            Executor::Paper(_) => None,
            Executor::Real(r) => r.stream.as_ref().map(|s| Arc::clone(s.stats())),
        }
    }

    /// Cancels every open order: the paper executor now ([`Canceling::Done`], its answers); the real
    /// one behind the orders already submitted ([`Canceling::Pending`], told when the venue answered
    /// and the fills its answers revealed are on the results channel). The buys still queued for
    /// the venue are refused unsent.
    pub fn cancel_all(&mut self, now: u64) -> Canceling {
        match self {
            Executor::Paper(p) => Canceling::Done(p.cancel_all(now)),
            Executor::Real(r) => {
                // A halt: the buys queued before its cancels are not sent, even if a Resume comes
                // before their turn (the core announces the halt after this, which sets the flag).
                r.queue.halt();
                let (done, answered) = oneshot::channel();
                r.submit(Job::CancelAll { done: Some(done) });
                Canceling::Pending(answered)
            }
        }
    }

    /// Places the market sells of a flatten: the paper executor on the last book, in sync or not
    /// (answers now); the real one at the venue, after the work already queued.
    pub fn flatten(
        &mut self,
        orders: Vec<PlaceOrder>,
        book: &BookState,
        now: u64,
    ) -> Vec<Response> {
        match self {
            Executor::Paper(p) => {
                let mut out = Vec::new();
                for f in orders {
                    info!(client_order_id = %f.client_order_id, side = ?f.side, quantity = %f.quantity, "flattening");
                    out.extend(p.place(&f, &LastBook(book), now));
                }
                out
            }
            Executor::Real(r) => {
                if !orders.is_empty() {
                    // Queued, they count as open until the executor tracks them (or refuses them):
                    // see [`Executor::flatten_settled`].
                    let mut queued = r.queue.orders();
                    for p in &orders {
                        queued.insert(p.client_order_id.clone(), (p.side, p.quantity.0));
                    }
                    drop(queued);
                    r.submit(Job::Flatten(orders));
                }
                Vec::new()
            }
        }
    }

    /// Real mode: the flatten's sells sent before a restart whose fills may not be counted
    /// (`flattens`, from the position file), looked up at the venue by client order id: they are
    /// tracked as orders of unknown outcome and a reconcile is queued (ahead of the restart's
    /// cancels), which reports their fills and status, or settles them as never placed.
    pub fn recover_flattens(&self, flattens: &[FlattenOrder], symbol: &str) {
        let Executor::Real(r) = self else {
            return;
        };
        for f in flattens {
            let cmd = PlaceOrder {
                command_id: f.command_id.clone(),
                ts_ns: f.ts_ns,
                client_order_id: f.client_order_id.clone(),
                symbol: symbol.to_owned(),
                side: Side::Sell,
                order_type: OrderType::Market,
                time_in_force: None,
                quantity: f.quantity,
                price: None,
            };
            r.executor
                .track_unresolved(Order::new(&cmd, String::new(), f.ts_ns));
        }
        if !flattens.is_empty() {
            r.submit(Job::Reconcile);
        }
    }

    /// Real mode: asks the venue now what the user data stream may have missed (the periodic
    /// reconcile's job, queued behind the work already queued).
    pub fn reconcile_now(&self) {
        if let Executor::Real(r) = self {
            r.submit(Job::Reconcile);
        }
    }

    /// Whether the flatten's sell `client_order_id` is settled with respect to the net position
    /// `held`: not waiting in the queue, and refused, unknown to the venue, or final with every
    /// fill the venue reported counted in `held`. Paper mode: always (its flatten is answered at
    /// once).
    pub fn flatten_settled(&self, client_order_id: &str, held: &Held) -> bool {
        match self {
            Executor::Paper(_) => true,
            Executor::Real(r) => {
                !r.queue.orders().contains_key(client_order_id)
                    && r.executor
                        .settled_trades(client_order_id)
                        .is_some_and(|trades| trades.iter().all(|t| held.counted(*t)))
            }
        }
    }

    /// At shutdown: cancels every open order and, for the real executor, waits (until `deadline`)
    /// until the venue answered it and every order job queued before, then stops the user data
    /// stream.
    pub async fn cancel_all_and_stop(
        &mut self,
        now: u64,
        deadline: tokio::time::Instant,
    ) -> Vec<Response> {
        match self {
            Executor::Paper(p) => p.cancel_all(now),
            Executor::Real(r) => {
                r.queue.halt();
                let (done, finished) = oneshot::channel();
                r.submit(Job::CancelAll { done: Some(done) });
                if tokio::time::timeout_at(deadline, finished).await.is_err() {
                    warn!(
                        secs = SHUTDOWN_CANCEL_WAIT.as_secs(),
                        "the venue did not confirm the cancels in time"
                    );
                }
                if let Some(stream) = r.stream.take() {
                    stream.shutdown().await;
                }
                Vec::new()
            }
        }
    }

    /// Whether the real executor's worker refuses the buys still queued (the engine halted or
    /// stopping); the paper executor has no queue.
    pub fn refuse_buys(&self, on: bool) {
        if let Executor::Real(r) = self {
            r.queue.buys_refused.store(on, Ordering::SeqCst);
        }
    }

    /// The paper account to save (paper mode).
    pub fn paper_account(&self) -> Option<PaperAccount> {
        match self {
            Executor::Paper(p) => Some(p.account()),
            Executor::Real(_) => None,
        }
    }

    /// What is left of the open orders, per side.
    pub fn open_quantities(&self) -> OpenQuantities {
        match self {
            Executor::Paper(p) => p.open_quantities(),
            Executor::Real(r) => {
                let queued = r.queue.orders();
                r.executor.open_quantities_with(
                    queued
                        .iter()
                        .map(|(id, &(side, quantity))| (id.as_str(), side, quantity)),
                )
            }
        }
    }

    /// Lifts a venue ban if it is over; false while still banned.
    pub fn resume_venue(&self) -> bool {
        match self {
            Executor::Paper(_) => true,
            Executor::Real(r) => r.executor.client().resume_trading(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use execution_engine::real::{ExecutorConfig, RestConfig};

    /// Halted or shutting down, a queued buy is refused unsent, a sell is not.
    #[test]
    fn a_buy_queued_when_halted_is_refused_a_sell_goes() {
        let mut p = buy(1);
        let Some(Response::Error(e)) = halted_refusal(&p, 2) else {
            panic!("a buy goes at shutdown");
        };
        assert_eq!(
            (e.code, e.command_id.as_deref()),
            (ErrorCode::Halted, Some("c1"))
        );
        p.side = Side::Sell;
        assert_eq!(halted_refusal(&p, 2), None);
    }

    /// A limit buy sent at `ts_ns`.
    fn buy(ts_ns: u64) -> PlaceOrder {
        PlaceOrder {
            command_id: "c1".into(),
            ts_ns,
            client_order_id: "fc-1".into(),
            symbol: "POLUSDT".into(),
            side: Side::Buy,
            order_type: OrderType::Limit,
            time_in_force: None,
            quantity: "500".parse().unwrap(),
            price: Some("0.2".parse().unwrap()),
        }
    }

    /// A buy that waited past the limit for its turn is refused (VALIDATION on `ts_ns`, with the
    /// wait); at the limit it goes, and a sell goes whatever its wait.
    #[test]
    fn a_buy_that_waited_too_long_is_refused_a_sell_never() {
        let max = Duration::from_secs(2);
        let sent = 1_760_000_000_000_000_000;
        let mut p = buy(sent);
        assert_eq!(stale_entry(&p, sent + 2_000_000_000, max), None);
        let Some(Response::Error(e)) = stale_entry(&p, sent + 15_300_000_000, max) else {
            panic!("a buy 15.3 s late goes");
        };
        assert_eq!(
            (e.code, e.field.as_deref(), e.command_id.as_deref()),
            (ErrorCode::Validation, Some("ts_ns"), Some("c1"))
        );
        assert!(e.message.contains("waited 15300 ms"), "{}", e.message);
        assert!(
            e.message.contains("[risk] max_entry_delay_ms 2000"),
            "{}",
            e.message
        );
        // A time ahead of the clock is no wait.
        assert_eq!(stale_entry(&p, sent - 5, max), None);
        p.side = Side::Sell;
        assert_eq!(stale_entry(&p, sent + 60_000_000_000, max), None);
    }

    /// A buy that waited 0.5 s of its 2 s has 1.5 s left for the REST client's waits; a sell has no
    /// deadline.
    #[test]
    fn a_buy_has_what_is_left_of_its_delay_to_reach_the_venue() {
        let max = Duration::from_secs(2);
        let sent = 1_760_000_000_000_000_000;
        let mut p = buy(sent);
        let before = Instant::now();
        let deadline = entry_deadline(&p, sent + 500_000_000, max).expect("a buy has one");
        assert!(deadline >= before + Duration::from_millis(1500));
        assert!(deadline <= Instant::now() + Duration::from_millis(1500));
        p.side = Side::Sell;
        assert_eq!(entry_deadline(&p, sent + 500_000_000, max), None);
    }

    /// The shutdown's wait for its cancels outlasts what can be queued before them: an order whose
    /// outcome is unknown, looked for over the real executor's window and one last query, then the
    /// cancel's own request (the engine's settings are these defaults).
    #[test]
    fn the_shutdown_wait_outlasts_an_unknown_outcome() {
        let limits = Limits {
            max_order_notional: "1000".parse().unwrap(),
            max_open_orders: 5,
        };
        let executor = ExecutorConfig::new(execution_engine::fixtures::polusdt_filters(), limits);
        let rest = RestConfig::new("http://venue");
        assert!(SHUTDOWN_CANCEL_WAIT >= executor.unknown_outcome_window + 2 * rest.request_timeout);
    }
}
