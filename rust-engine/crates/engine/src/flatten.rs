//! The flatten: market sells closing the engine's net long when it halts (an `EmergencyHalt` with
//! `flatten`, or any halt and the shutdown with `[execution] flatten_on_halt`). Its size is what is
//! held once every open order's cancel is answered: in paper mode at once; in real mode when the
//! venue answered the cancels and the fills their answers revealed are counted. A buy filling while
//! its cancel was on the way is sold too, and a target sold meanwhile is not sold again (a sell of
//! more than is held, which the venue refuses whole).
//!
//! A flatten that cannot go yet waits ([`PendingFlatten`]): while the book has no bid (an engine
//! started halted has none until its feed syncs, and a MARKET sell without a price is refused), and
//! while flatten orders sent before it are not settled (what they sold is not counted yet: it would
//! be sold twice). It is looked at again every [`FLATTEN_RECHECK`], logged as an error once it waited
//! [`FLATTEN_WAIT`], and waits on until it can go, a `Resume` drops it, or the engine stops.
//!
//! In real mode the flatten's sells are written to the position file before they are sent, and
//! dropped from it once settled: an engine killed while their answer was out looks them up at the
//! venue when started again, counts their fills and tells them as `OrderExecution`s.

use std::fmt;
use std::time::Duration;

use common::message::{OrderType, PlaceOrder, Response, Side};
use common::time::now_ns;
use common::Dec;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::core::Core;
use crate::executor::{Canceling, Executor};
use crate::position_file::{FlattenOrder, SaveBy};

/// How often a flatten that cannot go yet (no bid on the book, earlier flatten orders not settled)
/// looks again.
pub(crate) const FLATTEN_RECHECK: Duration = Duration::from_millis(100);

/// How long a flatten waits for a bid on the book (an engine started halted: the feed syncs its
/// book a few seconds after the start) or for earlier flatten orders to settle before the wait is
/// logged as an error. It waits on after that, until it can go, a `Resume` drops it or the engine
/// stops.
pub(crate) const FLATTEN_WAIT: Duration = Duration::from_secs(30);

/// How often, while a flatten waits for earlier flatten orders to settle, the venue is asked what
/// became of them (real mode).
const FLATTEN_RECONCILE_EVERY: Duration = Duration::from_secs(5);

/// A flatten that cannot be sent yet: it waits for the real executor's cancels to be answered,
/// then until the book has a bid (a MARKET sell is valued at it, and refused without one) and the
/// flatten orders sent before it are settled (what they sold counted: not sold twice).
#[derive(Debug)]
pub struct PendingFlatten {
    /// Told when the venue answered the cancels; `None` once answered (and in paper mode).
    pub answered: Option<oneshot::Receiver<()>>,
    /// The flatten's command id.
    pub command_id: String,
    /// When it began to wait for a bid or earlier flatten orders.
    waiting_since: Option<Instant>,
    /// What it waits for, as last logged.
    logged: Option<String>,
    /// Its wait outlasted [`FLATTEN_WAIT`] (logged once as an error).
    overdue: bool,
    /// A `Resume` came while it waited for the cancels: once they are answered it goes only if it
    /// can at once.
    resumed: bool,
    /// When the venue was last asked about the earlier flatten orders.
    reconciled: Option<Instant>,
}

impl PendingFlatten {
    /// The flatten `command_id`, waiting for the cancels (`answered`) or, without, for a bid or
    /// earlier flatten orders.
    pub fn new(command_id: String, answered: Option<oneshot::Receiver<()>>) -> Self {
        PendingFlatten {
            answered,
            command_id,
            waiting_since: None,
            logged: None,
            overdue: false,
            resumed: false,
            reconciled: None,
        }
    }

    /// It waits for a bid or earlier flatten orders (its cancels are answered).
    pub fn rechecks(&self) -> bool {
        self.answered.is_none()
    }
}

/// Why a flatten cannot be sent now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Blocked {
    /// Flatten orders sent before (these client order ids) are not settled at the venue yet.
    Unsettled(Vec<String>),
    /// The book has no bid: a MARKET sell has no price.
    NoBid,
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Blocked::Unsettled(ids) => write!(
                f,
                "the flatten orders sent before ({}) are settled at the venue and their fills counted",
                ids.join(", ")
            ),
            Blocked::NoBid => f.write_str("the book has a bid (the feed is not in sync yet)"),
        }
    }
}

impl Core {
    /// Cancels every open order and, with `flatten` (its command id), sells the net long once the
    /// cancels are answered: at once in paper mode; in real mode later
    /// ([`Core::flatten_after_cancels`]). Either way the sale waits ([`Core::try_flatten`]) while
    /// the book has no bid or earlier flatten orders are not settled. A flatten still waiting is
    /// replaced (one sell, not two). Returns the answers so far and what the flatten does, for a
    /// halt's message.
    pub(crate) fn cancel_and_flatten(
        &mut self,
        flatten: Option<String>,
        now: u64,
    ) -> (Vec<Response>, String) {
        let canceling = self.executor.cancel_all(now);
        let Some(command_id) = flatten else {
            return match canceling {
                Canceling::Done(out) => (out, String::new()),
                Canceling::Pending(_) => (Vec::new(), String::new()),
            };
        };
        // A flatten already waiting keeps its id (the first halt's, as answered).
        let command_id = self
            .pending_flatten
            .take()
            .map_or(command_id, |p| p.command_id);
        match canceling {
            Canceling::Done(mut out) => {
                self.settle_flattens();
                if let Some(why) = self.flatten_blocked() {
                    let mut pending = PendingFlatten::new(command_id, None);
                    note_wait(&mut pending, &why);
                    self.pending_flatten = Some(pending);
                    return (out, format!("; flattening what is held once {why}"));
                }
                let (sold, said) = self.sell_held(&command_id, now);
                out.extend(sold);
                (out, said)
            }
            Canceling::Pending(answered) => {
                self.pending_flatten = Some(PendingFlatten::new(command_id, Some(answered)));
                let said = "; flattening what is held once the venue answered the cancels";
                (Vec::new(), said.to_owned())
            }
        }
    }

    /// The real executor's cancels are answered (or the wait for them is over): the fills they
    /// revealed (on the results channel already) are counted, then what is held now is sold, or
    /// the flatten waits on ([`Core::try_flatten`]).
    pub(crate) async fn flatten_after_cancels(&mut self) {
        let Some(pending) = self.pending_flatten.as_mut() else {
            return;
        };
        pending.answered = None;
        let mut revealed = Vec::new();
        while let Ok(r) = self.results.try_recv() {
            revealed.push(r);
        }
        self.respond(revealed).await;
        self.try_flatten().await;
    }

    /// Sends the flatten waiting, if its cancels are answered and nothing keeps it back; else
    /// logs what it waits for (once per cause, and as an error past [`FLATTEN_WAIT`]) and, while
    /// earlier flatten orders are not settled, asks the venue about them every few seconds. A
    /// flatten a `Resume` came for is dropped instead of waiting.
    pub(crate) async fn try_flatten(&mut self) {
        if !self.pending_flatten.as_ref().is_some_and(|p| p.rechecks()) {
            return;
        }
        self.settle_flattens();
        let why = self.flatten_blocked();
        let Some(pending) = self.pending_flatten.as_mut() else {
            return;
        };
        let Some(why) = why else {
            let pending = self.pending_flatten.take().expect("checked");
            let (out, said) = self.sell_held(&pending.command_id, now_ns());
            let sold = said.strip_prefix("; ").unwrap_or("nothing to sell");
            info!(command_id = %pending.command_id, position = %self.held.position, flatten = %sold, waited = pending.logged.is_some(), "flattening what is held");
            self.respond(out).await;
            return;
        };
        if pending.resumed {
            info!(command_id = %pending.command_id, waits_for = %why, "flatten dropped: a Resume came while it waited");
            self.pending_flatten = None;
            return;
        }
        note_wait(pending, &why);
        if matches!(why, Blocked::Unsettled(_))
            && pending
                .reconciled
                .is_none_or(|at| at.elapsed() >= FLATTEN_RECONCILE_EVERY)
        {
            pending.reconciled = Some(Instant::now());
            self.executor.reconcile_now();
        }
    }

    /// A `Resume`: a flatten waiting for a bid or earlier flatten orders is dropped (the halt it
    /// belonged to is lifted); one waiting for the venue to answer the cancels still goes once they
    /// are, if it can then at once (orders are refused until then: a sell sent meanwhile would be
    /// sold twice, or lock the coins).
    pub(crate) fn resume_flatten(&mut self) {
        let Some(pending) = self.pending_flatten.as_mut() else {
            return;
        };
        if pending.rechecks() {
            info!(command_id = %pending.command_id, waited_for = ?pending.logged, "resume: the flatten waiting is dropped");
            self.pending_flatten = None;
        } else {
            pending.resumed = true;
        }
    }

    /// What keeps a flatten from being sent now, if anything: flatten orders sent before it not
    /// settled yet (what they sold may be missing from the net position), or, with something to
    /// sell, no bid on the book (the last book's, in sync or not: a halted feed's flatten goes on
    /// it; an engine just started has none until the feed syncs).
    pub(crate) fn flatten_blocked(&self) -> Option<Blocked> {
        let unsettled: Vec<String> = self
            .held
            .flattens
            .iter()
            .filter(|f| {
                !self
                    .executor
                    .flatten_settled(&f.client_order_id, &self.held)
            })
            .map(|f| f.client_order_id.clone())
            .collect();
        if !unsettled.is_empty() {
            return Some(Blocked::Unsettled(unsettled));
        }
        let step = self.executor.step_size();
        let sells =
            self.held.position > Decimal::ZERO && !on_step(self.held.position, step).is_zero();
        let bid = self.feed.book.read().book.best_bid().is_some();
        (sells && !bid).then_some(Blocked::NoBid)
    }

    /// Drops from the position file the flatten's sells that are settled (refused, unknown to the
    /// venue, or final with every fill counted in the net position).
    pub(crate) fn settle_flattens(&mut self) {
        if self.held.flattens.is_empty() {
            return;
        }
        let executor = &self.executor;
        let held = &self.held;
        let (settled, open): (Vec<FlattenOrder>, Vec<FlattenOrder>) = held
            .flattens
            .iter()
            .cloned()
            .partition(|f| executor.flatten_settled(&f.client_order_id, held));
        if settled.is_empty() {
            return;
        }
        self.held.flattens = open;
        let ids: Vec<&str> = settled.iter().map(|f| f.client_order_id.as_str()).collect();
        info!(orders = ?ids, position = %self.held.position, "flatten orders settled: their fills are counted");
        self.save_position(SaveBy::BeforeAnswering);
    }

    /// Sells what is held now ([`Core::flatten_orders`] under `command_id`), on the last book in
    /// paper mode; the answers so far and what is sold, for a message. In real mode the sells are
    /// written to the position file before they are sent: an engine killed before their answer
    /// looks them up at the venue when started again ([`Executor::recover_flattens`]).
    fn sell_held(&mut self, command_id: &str, now: u64) -> (Vec<Response>, String) {
        let orders = self.flatten_orders(command_id, now);
        let said = describe(&orders);
        if matches!(self.executor, Executor::Real(_)) && !orders.is_empty() {
            self.held
                .flattens
                .extend(orders.iter().map(|o| FlattenOrder {
                    client_order_id: o.client_order_id.clone(),
                    command_id: o.command_id.clone(),
                    quantity: o.quantity,
                    ts_ns: o.ts_ns,
                }));
            self.save_position(SaveBy::BeforeAnswering);
        }
        let book = self.feed.book.read();
        (self.executor.flatten(orders, &book, now), said)
    }

    /// The command id of the flatten a halt or stop of `kind` makes with `[execution]
    /// flatten_on_halt` (`<kind>-<ms>`), `None` without it.
    pub(crate) fn configured_flatten(&self, kind: &str, now: u64) -> Option<String> {
        self.flatten_on_halt
            .then(|| format!("{kind}-{}", now / 1_000_000))
    }

    /// The market sells closing the engine's net long, if it holds one: its size rounded down to
    /// the symbol's step (a fee taken in the base asset leaves a position off the grid; what is
    /// below one step is dust the venue would refuse to trade), cut in orders no larger than one
    /// MARKET order may be (`[risk] max_order_notional` at the bid, the venue's maxima), so that no
    /// limit meant for entries refuses the flatten. The first is `flatten-<ms>` (`command_id`),
    /// the next ones `flatten-<ms>-<n>` (`command_id-<n>`). The system is long-only spot: a flatten
    /// never buys, so a net short (a restarted engine, starting from zero, that took over a partly
    /// filled sell) flattens nothing and is logged.
    pub(crate) fn flatten_orders(&self, command_id: &str, now: u64) -> Vec<PlaceOrder> {
        if self.held.position < Decimal::ZERO {
            warn!(position = %self.held.position, "net position is short: a flatten never buys, nothing to sell");
            return Vec::new();
        }
        let step = self.executor.step_size();
        let total = on_step(self.held.position, step);
        if total.is_zero() {
            return Vec::new();
        }
        // The last book's bid, in sync or not (the feed may be down: the flatten goes anyway).
        let bid = self
            .feed
            .book
            .read()
            .book
            .best_bid()
            .map(|l| execution_engine::paper::units_to_dec(l.price));
        let chunk = self
            .executor
            .largest_market_quantity(bid)
            .filter(|c| *c > Decimal::ZERO)
            .unwrap_or(total);
        let quantities = split(total, chunk, step);
        let mut orders = Vec::new();
        for quantity in quantities {
            let n = orders.len();
            let suffix = if n == 0 {
                String::new()
            } else {
                format!("-{n}")
            };
            orders.push(PlaceOrder {
                command_id: format!("{command_id}{suffix}"),
                ts_ns: now,
                client_order_id: format!("flatten-{}{suffix}", now / 1_000_000),
                symbol: self.feed.symbol.clone(),
                side: Side::Sell,
                order_type: OrderType::Market,
                time_in_force: None,
                quantity: Dec(quantity),
                price: None,
            });
        }
        orders
    }
}

/// Logs what the flatten `pending` waits for (once per cause) and, once, that it waited past
/// [`FLATTEN_WAIT`].
fn note_wait(pending: &mut PendingFlatten, why: &Blocked) {
    let since = *pending.waiting_since.get_or_insert_with(Instant::now);
    let said = why.to_string();
    if pending.logged.as_deref() != Some(said.as_str()) {
        warn!(command_id = %pending.command_id, waits_until = %said, "flatten not sent yet: it waits");
        pending.logged = Some(said);
    }
    if !pending.overdue && since.elapsed() >= FLATTEN_WAIT {
        pending.overdue = true;
        error!(command_id = %pending.command_id, waits_until = %why, secs = since.elapsed().as_secs(), "flatten still not sent: it keeps waiting until it can go, a Resume drops it or the engine stops");
    }
}

/// `; flattening SELL <total> with <first id> (<n> orders)`, or nothing without orders.
fn describe(orders: &[PlaceOrder]) -> String {
    let Some(first) = orders.first() else {
        return String::new();
    };
    let total: Decimal = orders.iter().map(|o| o.quantity.0).sum();
    let more = match orders.len() {
        1 => String::new(),
        n => format!(" ({n} orders)"),
    };
    format!(
        "; flattening {} {} with {}{more}",
        first.side.as_str(),
        total,
        first.client_order_id
    )
}

/// `total` in as few orders of at most `chunk` as it takes, of about equal size on the `step` grid
/// (the last takes what rounding leaves): no small remainder the venue's minimum notional would
/// refuse, as cutting full chunks first could leave.
pub(crate) fn split(total: Decimal, chunk: Decimal, step: Decimal) -> Vec<Decimal> {
    let mut n = (total / chunk).ceil().max(Decimal::ONE);
    loop {
        let each = on_step(total / n, step);
        let count = n.to_usize().unwrap_or(usize::MAX);
        let last = total - each * (n - Decimal::ONE);
        if each.is_zero() || count > 10_000 {
            return vec![total]; // a chunk under one step: one order, refused naming why
        }
        if last <= chunk {
            let mut out = vec![each; count - 1];
            out.push(last);
            return out;
        }
        n += Decimal::ONE;
    }
}

/// `quantity` (zero or more) rounded down to a multiple of `step` (unchanged when `step` is zero);
/// exact for any size (no quotient that could overflow).
pub(crate) fn on_step(quantity: Decimal, step: Decimal) -> Decimal {
    if step.is_zero() {
        quantity
    } else {
        quantity - quantity % step
    }
}
