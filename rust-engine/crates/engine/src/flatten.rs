//! The flatten: market sells closing the engine's net long when it halts (an `EmergencyHalt` with
//! `flatten`, or any halt and the shutdown with `[execution] flatten_on_halt`). Its size is what is
//! held once every open order's cancel is answered: in paper mode at once; in real mode when the
//! venue answered the cancels and the fills their answers revealed are counted. A buy filling while
//! its cancel was on the way is sold too, and a target sold meanwhile is not sold again (a sell of
//! more than is held, which the venue refuses whole).

use common::message::{OrderType, PlaceOrder, Response, Side};
use common::time::now_ns;
use common::Dec;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use tokio::sync::oneshot;
use tracing::{info, warn};

use crate::core::Core;
use crate::executor::Canceling;

/// A flatten waiting for the real executor's cancels to be answered.
#[derive(Debug)]
pub struct PendingFlatten {
    /// Told when the venue answered the cancels.
    pub answered: oneshot::Receiver<()>,
    /// The flatten's command id.
    pub command_id: String,
}

impl Core {
    /// Cancels every open order and, with `flatten` (its command id), sells the net long once the
    /// cancels are answered: at once in paper mode; in real mode later
    /// ([`Core::flatten_after_cancels`]). A flatten still waiting is replaced (one sell, not two).
    /// Returns the answers so far and what the flatten does, for a halt's message.
    pub(crate) fn cancel_and_flatten(
        &mut self,
        flatten: Option<String>,
        now: u64,
    ) -> (Vec<Response>, String) {
        match self.executor.cancel_all(now) {
            Canceling::Done(mut out) => {
                let Some(command_id) = flatten else {
                    return (out, String::new());
                };
                let (sold, said) = self.sell_held(&command_id, now);
                out.extend(sold);
                (out, said)
            }
            Canceling::Pending(answered) => match flatten {
                Some(command_id) => {
                    // A flatten already waiting keeps its id (the first halt's, as answered).
                    let command_id = self
                        .pending_flatten
                        .take()
                        .map_or(command_id, |p| p.command_id);
                    self.pending_flatten = Some(PendingFlatten {
                        answered,
                        command_id,
                    });
                    let said = "; flattening what is held once the venue answered the cancels";
                    (Vec::new(), said.to_owned())
                }
                None => (Vec::new(), String::new()),
            },
        }
    }

    /// The real executor's cancels are answered: the fills they revealed (on the results channel
    /// already) are counted, then what is held now is sold.
    pub(crate) async fn flatten_after_cancels(&mut self) {
        let Some(pending) = self.pending_flatten.take() else {
            return;
        };
        let mut revealed = Vec::new();
        while let Ok(r) = self.results.try_recv() {
            revealed.push(r);
        }
        self.respond(revealed).await;
        let (out, said) = self.sell_held(&pending.command_id, now_ns());
        info!(position = %self.held.position, flatten = %said, "cancels answered: flattening what is held");
        self.respond(out).await;
    }

    /// Sells what is held now ([`Core::flatten_orders`] under `command_id`), on the last book in
    /// paper mode; the answers so far and what is sold, for a message.
    fn sell_held(&mut self, command_id: &str, now: u64) -> (Vec<Response>, String) {
        let orders = self.flatten_orders(command_id, now);
        let said = describe(&orders);
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
