//! The paper executor: answers the same commands a venue would, filling against the live book.
//!
//! * A market order walks the opposite side of the book level by level (slippage from real depth);
//!   what the book cannot fill expires.
//! * A limit order first takes what the book offers at its price or better (taker); the rest rests
//!   (`GTC`), expires (`IOC`), or the whole order expires unless the book fills all of it (`FOK`).
//! * A resting order fills (maker, at its own price) when a market trade prints through its price
//!   (a buy below, a sell above; with `touch`, at the price too), up to the trade's quantity.
//! * `LIMIT_MAKER` is refused when it would trade on arrival, as Binance refuses it.
//! * With its funds checked ([`PaperExecutor::with_funds_checked`]: the engine's paper mode, the
//!   backtest), a buy the free quote balance cannot pay for is refused as Binance refuses it,
//!   `-2010` "Account has insufficient balance for requested action." (a limit buy needs its price
//!   × quantity, a market buy what walking the book would cost): a spot account holds no more than
//!   its cash buys.
//!
//! The book is the venue's, and the executor's takers consume it: an order that meets the same
//! state of the book ([`Depth::version`]: the live book's update id, the backtest's instant) as an
//! earlier one meets what that one left, as at a venue; the next state of the book is the venue's
//! own again (the engine's live book shows what was taken once the venue's next diff comes).
//!
//! Fees come from `[fees]` (maker or taker rate), charged as Binance spot charges them: a buy's
//! commission in the base asset, from the coins bought (`quantity × rate`), a sell's in the quote
//! asset (`price × quantity × rate`); rounded down to 8 decimals, as exchange-sim and the
//! backtest's venue (the shared cases of `tests/fee_cases/`).

use common::message::{
    AssetBalance, Balances, CancelOrder, ErrorCode, Liquidity, OpenOrders, OrderExecution,
    OrderStatus, OrderStatusReport, OrderType, PlaceOrder, QueryBalances, QueryOpenOrders,
    QueryOrder, Response, Side, TimeInForce, Trade,
};
use common::Dec;
use order_rules::exposure::OpenQuantities;
use order_rules::filters::SymbolFilters;
use order_rules::validate::{self, Limits};
use rust_decimal::prelude::FromPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::order::{error, Order};
use crate::order_list::OrderList;

/// What a taker of `qty` takes from `levels` (price, quantity available; best first): (price,
/// quantity) per level, until `qty` or the levels run out (what they lack is left unfilled).
fn walk(levels: &[(Decimal, Decimal)], qty: Decimal) -> Vec<(Decimal, Decimal)> {
    let mut left = qty;
    let mut takes = Vec::new();
    for &(price, available) in levels {
        if left.is_zero() {
            break;
        }
        let take = left.min(available);
        takes.push((price, take));
        left -= take;
    }
    takes
}

/// Binance's `-2010` message for an order the account's free balance cannot pay for.
pub const INSUFFICIENT_BALANCE: &str = "Account has insufficient balance for requested action.";

/// A price level: price and quantity in units of 10⁻⁸.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level {
    /// Price units.
    pub price: u64,
    /// Quantity units.
    pub qty: u64,
}

/// The book an order meets on arrival.
pub trait Depth {
    /// False while the book is (re)syncing: nothing may fill against it.
    fn synced(&self) -> bool;
    /// The levels of one side, best first.
    fn levels(&self, side: Side) -> impl Iterator<Item = Level> + Clone + '_;
    /// Names this state of the book: the takers that meet the same one meet what those before
    /// them left ([`PaperExecutor::place`]). `None`: each order meets the book afresh.
    fn version(&self) -> Option<u64> {
        None
    }
}

/// The engine's live book.
#[cfg(any(test, feature = "live-book"))]
impl Depth for feed_handler::shared::BookState {
    fn synced(&self) -> bool {
        self.synced
    }

    fn levels(&self, side: Side) -> impl Iterator<Item = Level> + Clone + '_ {
        let levels = match side {
            Side::Buy => self.book.bids(),
            Side::Sell => self.book.asks(),
        };
        levels.map(|l| Level {
            price: l.price,
            qty: l.qty,
        })
    }

    fn version(&self) -> Option<u64> {
        Some(self.book.update_id())
    }
}

/// Fee rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fees {
    /// Rate on maker fills.
    pub maker: Dec,
    /// Rate on taker fills.
    pub taker: Dec,
}

/// When a market trade fills a resting limit order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FillRule {
    /// Only when the trade prints strictly through the price.
    TradeThrough,
    /// Also when it prints at the price.
    Touch,
}

/// The paper executor of one symbol.
#[derive(Debug)]
pub struct PaperExecutor {
    filters: SymbolFilters,
    limits: Limits,
    fees: Fees,
    fill_rule: FillRule,
    /// Taker fills are this fraction worse than the level's price (a backtest's extra slippage; 0
    /// in the engine, whose live book has its real depth).
    slippage: Decimal,
    pub(crate) orders: OrderList,
    pub(crate) next_order: u64,
    pub(crate) next_trade_id: u64,
    /// Buys the free quote balance cannot pay for are refused.
    funds_checked: bool,
    /// What this executor's takers took from the state of the book named here ([`Depth::version`]):
    /// (the side of the book, price, quantity).
    taken: (Option<u64>, Vec<(Side, Decimal, Decimal)>),
    /// The paper account's base and quote totals (free + locked), moved by every fill and fee.
    pub(crate) base_total: Decimal,
    pub(crate) quote_total: Decimal,
}

/// A price or quantity of 10⁻⁸ units as a decimal (any `u64` fits).
pub fn units_to_dec(units: u64) -> Decimal {
    Decimal::from_i128_with_scale(i128::from(units), 8).normalize()
}

impl PaperExecutor {
    /// A paper executor for the symbol of `filters`.
    pub fn new(filters: SymbolFilters, limits: Limits, fees: Fees, fill_rule: FillRule) -> Self {
        PaperExecutor {
            filters,
            limits,
            fees,
            fill_rule,
            slippage: Decimal::ZERO,
            funds_checked: false,
            taken: (None, Vec::new()),
            orders: OrderList::default(),
            next_order: 1,
            next_trade_id: 1,
            base_total: Decimal::ZERO,
            quote_total: Decimal::ZERO,
        }
    }

    /// The traded symbol's filters.
    pub fn filters(&self) -> &SymbolFilters {
        &self.filters
    }

    /// The `[risk]` limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Replaces the `[risk]` limits, the fees and the fill rule (a config reload); open orders keep
    /// their place, later fills use the new fees and rule.
    pub fn reconfigure(&mut self, limits: Limits, fees: Fees, fill_rule: FillRule) {
        self.limits = limits;
        self.fees = fees;
        self.fill_rule = fill_rule;
    }

    /// Taker fills `bps` basis points worse than the book's price (a buy's higher, a sell's lower),
    /// rounded to 8 decimals.
    pub fn with_taker_slippage_bps(mut self, bps: Decimal) -> Self {
        self.slippage = bps / Decimal::from(10_000);
        self
    }

    /// Starts the paper account with `quote` of the quote asset (and no base).
    pub fn with_quote_balance(mut self, quote: Decimal) -> Self {
        self.quote_total = quote;
        self
    }

    /// Refuses a buy the free quote balance cannot pay for, as a venue does (without it the
    /// account's balances go negative instead: unit tests of fills alone).
    pub fn with_funds_checked(mut self) -> Self {
        self.funds_checked = true;
        self
    }

    /// The account starts holding `base` of the base asset (a backtest's test venue that sells
    /// first: spot sells only what is held).
    pub fn with_base_balance(mut self, base: Decimal) -> Self {
        self.base_total = base;
        self
    }

    /// What the open orders hold: (base, quote). A buy holds price × what is left of it in quote,
    /// a sell what is left of it in base.
    fn locked(&self) -> (Decimal, Decimal) {
        let (mut base_locked, mut quote_locked) = (Decimal::ZERO, Decimal::ZERO);
        for o in self.orders.open.iter().map(|p| &p.order) {
            let left = o.remaining().0;
            match o.info.side {
                Side::Buy => quote_locked += left * o.info.price.map_or(Decimal::ZERO, |p| p.0),
                Side::Sell => base_locked += left,
            }
        }
        (base_locked, quote_locked)
    }

    /// The paper account: base and quote totals less what the open orders hold (a buy holds price ×
    /// what is left of it in quote, a sell what is left of it in base). Without
    /// [`Self::with_funds_checked`] buys are never refused for lack of funds, so `free` can be
    /// negative.
    pub fn balances(&self, cmd: &QueryBalances, now: u64) -> Response {
        let (base_locked, quote_locked) = self.locked();
        let balance = |asset: &str, total: Decimal, locked: Decimal| AssetBalance {
            asset: asset.to_owned(),
            free: Dec((total - locked).normalize()),
            locked: Dec(locked.normalize()),
        };
        Response::Balances(Balances {
            command_id: Some(cmd.command_id.clone()),
            ts_ns: now,
            balances: vec![
                balance(&self.filters.base_asset, self.base_total, base_locked),
                balance(&self.filters.quote_asset, self.quote_total, quote_locked),
            ],
        })
    }

    /// The account's totals (free + locked) of the base and the quote asset.
    pub fn totals(&self) -> (Decimal, Decimal) {
        (self.base_total, self.quote_total)
    }

    /// Number of open orders.
    pub fn open_count(&self) -> usize {
        self.orders.open.len()
    }

    /// What is left of the open orders, per side.
    pub fn open_quantities(&self) -> OpenQuantities {
        OpenQuantities::of(self.orders.open.iter().map(|p| &p.order.info))
    }

    /// Places an order: validation, then immediate fills against `book`.
    pub fn place(&mut self, cmd: &PlaceOrder, book: &impl Depth, now: u64) -> Vec<Response> {
        let id = &cmd.command_id;
        if !book.synced() {
            return vec![error(
                Some(id),
                now,
                ErrorCode::NotSynced,
                None,
                "the order book is not in sync".into(),
            )];
        }
        if self.orders.knows(&cmd.client_order_id) {
            return vec![error(
                Some(id),
                now,
                ErrorCode::DuplicateOrder,
                Some("client_order_id"),
                format!("client_order_id {} was already used", cmd.client_order_id),
            )];
        }
        // An empty or unpriced level is none: it neither fills nor sets the touch.
        let opposite = book
            .levels(cmd.side.opposite())
            .filter(|l| l.price > 0 && l.qty > 0);
        let reference = opposite.clone().next().map(|l| Dec(units_to_dec(l.price)));
        if let Err(r) = validate::check(
            cmd,
            &self.filters,
            &self.limits,
            self.open_count(),
            reference,
        ) {
            return vec![error(
                Some(id),
                now,
                ErrorCode::Validation,
                Some(r.field),
                r.message,
            )];
        }
        let crosses = |p: Decimal, level: Decimal| match cmd.side {
            Side::Buy => level <= p,
            Side::Sell => level >= p,
        };
        if cmd.order_type == OrderType::LimitMaker {
            if let (Some(p), Some(best)) = (cmd.price, reference) {
                if crosses(p.0, best.0) {
                    return vec![error(
                        Some(id),
                        now,
                        ErrorCode::Venue,
                        Some("price"),
                        "Order would immediately match and take.".into(),
                    )];
                }
            }
        }

        let limit = cmd.price.map(|p| p.0);
        let version = book.version();
        if version.is_none() || self.taken.0 != version {
            self.taken = (version, Vec::new());
        }
        let side = cmd.side.opposite();
        let taken = |price: Decimal| -> Decimal {
            self.taken
                .1
                .iter()
                .filter(|(s, p, _)| *s == side && *p == price)
                .map(|t| t.2)
                .sum()
        };
        // (price, what is left of the level), best first.
        let takeable: Vec<(Decimal, Decimal)> = if cmd.order_type == OrderType::LimitMaker {
            Vec::new()
        } else {
            opposite
                .map(|l| (units_to_dec(l.price), units_to_dec(l.qty)))
                .take_while(|(price, _)| limit.is_none_or(|p| crosses(p, *price)))
                .map(|(price, qty)| (price, qty - taken(price)))
                .filter(|(_, qty)| *qty > Decimal::ZERO)
                .collect()
        };
        let fok_short = cmd.time_in_force == Some(TimeInForce::Fok)
            && takeable.iter().map(|l| l.1).sum::<Decimal>() < cmd.quantity.0;
        let takes = if fok_short {
            Vec::new()
        } else {
            walk(&takeable, cmd.quantity.0)
        };
        if cmd.side == Side::Buy && self.funds_checked {
            // A limit buy holds its price × quantity (Binance locks it whatever it fills at); a
            // market buy needs what its takes cost.
            let cost = match limit {
                Some(p) => p * cmd.quantity.0,
                None => takes
                    .iter()
                    .map(|&(level, qty)| self.taker_price(Side::Buy, level, None) * qty)
                    .sum(),
            };
            if cost > self.quote_total - self.locked().1 {
                return vec![error(
                    Some(id),
                    now,
                    ErrorCode::Venue,
                    None,
                    INSUFFICIENT_BALANCE.into(),
                )];
            }
        }
        let mut order = Order::new(cmd, format!("PAPER-{}", self.next_order), now);
        self.next_order += 1;
        let mut fills = Vec::with_capacity(takes.len());
        for (level, qty) in takes {
            let price = self.taker_price(cmd.side, level, limit);
            fills.push(self.fill(&mut order, price, qty, Liquidity::Taker, now));
            if version.is_some() {
                self.taken.1.push((side, level, qty));
            }
        }
        order.info.status = if order.remaining().0.is_zero() {
            OrderStatus::Filled
        } else if cmd.order_type == OrderType::Market
            || matches!(cmd.time_in_force, Some(TimeInForce::Ioc | TimeInForce::Fok))
        {
            OrderStatus::Expired
        } else if order.info.filled_quantity.0.is_zero() {
            OrderStatus::New
        } else {
            OrderStatus::PartiallyFilled
        };
        let mut out = Vec::with_capacity(1 + fills.len());
        out.push(order.placed(order.info.status, now));
        out.extend(fills);
        self.orders.push(order);
        out
    }

    /// What a taker pays (a buy) or gets (a sell) at a level of `price`, slippage included, never
    /// past the order's `limit` (no venue fills a limit order beyond its price).
    fn taker_price(&self, side: Side, price: Decimal, limit: Option<Decimal>) -> Decimal {
        if self.slippage.is_zero() {
            return price;
        }
        let (factor, worst): (_, fn(Decimal, Decimal) -> Decimal) = match side {
            Side::Buy => (Decimal::ONE + self.slippage, Decimal::min),
            Side::Sell => (Decimal::ONE - self.slippage, Decimal::max),
        };
        let slipped = (price * factor).round_dp(8);
        limit.map_or(slipped, |l| worst(slipped, l))
    }

    fn fill(
        &mut self,
        order: &mut Order,
        price: Decimal,
        qty: Decimal,
        liq: Liquidity,
        now: u64,
    ) -> Response {
        order.info.filled_quantity = Dec(order.info.filled_quantity.0 + qty);
        order.info.quote_filled = Dec(order.info.quote_filled.0 + price * qty);
        order.info.updated_ts_ns = now;
        let rate = match liq {
            Liquidity::Maker => self.fees.maker.0,
            Liquidity::Taker => self.fees.taker.0,
        };
        let (fee, fee_asset) = match order.info.side {
            Side::Buy => {
                let fee = (qty * rate).round_dp_with_strategy(8, RoundingStrategy::ToZero);
                self.base_total += qty - fee;
                self.quote_total -= price * qty;
                (fee, &self.filters.base_asset)
            }
            Side::Sell => {
                let fee = (price * qty * rate).round_dp_with_strategy(8, RoundingStrategy::ToZero);
                self.base_total -= qty;
                self.quote_total += price * qty - fee;
                (fee, &self.filters.quote_asset)
            }
        };
        let status = if order.remaining().0.is_zero() {
            OrderStatus::Filled
        } else {
            OrderStatus::PartiallyFilled
        };
        let trade_id = self.next_trade_id;
        self.next_trade_id += 1;
        Response::OrderExecution(OrderExecution {
            command_id: order.command_id.clone(),
            ts_ns: now,
            client_order_id: order.info.client_order_id.clone(),
            exchange_order_id: order.info.exchange_order_id.clone(),
            symbol: order.info.symbol.clone(),
            side: order.info.side,
            trade_id,
            last_price: Dec(price.normalize()),
            last_quantity: Dec(qty.normalize()),
            cumulative_quantity: Dec(order.info.filled_quantity.0.normalize()),
            order_quantity: order.info.quantity,
            status,
            liquidity: liq,
            fee: Dec(fee.normalize()),
            fee_asset: fee_asset.clone(),
        })
    }

    /// A market trade: fills resting orders it prints through (one at a price of zero or less, or
    /// not a number, fills nothing).
    pub fn on_trade(&mut self, trade: &Trade, now: u64) -> Vec<Response> {
        if self.orders.open.is_empty() || trade.symbol != self.filters.symbol {
            return Vec::new();
        }
        let (Some(px), Some(mut qty_left)) = (
            Decimal::from_f64(trade.price),
            Decimal::from_f64(trade.quantity),
        ) else {
            return Vec::new();
        };
        let px = px.round_dp(8);
        if px <= Decimal::ZERO {
            return Vec::new(); // no market prints at or below zero: nothing to fill on
        }
        let step = self.filters.step_size.0;
        let mut out = Vec::new();
        let open = std::mem::take(&mut self.orders.open);
        let mut still_open = Vec::with_capacity(open.len());
        let mut finished = Vec::new();
        for mut placed in open {
            let order = &mut placed.order;
            let Some(limit) = order.info.price.map(|p| p.0) else {
                still_open.push(placed);
                continue;
            };
            let through = match (order.info.side, self.fill_rule) {
                (Side::Buy, FillRule::TradeThrough) => px < limit,
                (Side::Buy, FillRule::Touch) => px <= limit,
                (Side::Sell, FillRule::TradeThrough) => px > limit,
                (Side::Sell, FillRule::Touch) => px >= limit,
            };
            let mut qty = order.remaining().0.min(qty_left);
            if !step.is_zero() {
                qty -= qty % step;
            }
            if through && qty > Decimal::ZERO {
                qty_left -= qty;
                out.push(self.fill(order, limit, qty, Liquidity::Maker, now));
                order.info.status = if order.remaining().0.is_zero() {
                    OrderStatus::Filled
                } else {
                    OrderStatus::PartiallyFilled
                };
            }
            if order.is_open() {
                still_open.push(placed);
            } else {
                finished.push(placed);
            }
        }
        self.orders.open = still_open;
        for placed in finished {
            self.orders.finish(placed);
        }
        out
    }

    /// Cancels an open order.
    pub fn cancel(&mut self, cmd: &CancelOrder, now: u64) -> Vec<Response> {
        let index = self.orders.open.iter().position(|p| {
            p.order.info.client_order_id == cmd.client_order_id && p.order.info.symbol == cmd.symbol
        });
        if let Some(index) = index {
            return vec![self.cancel_index(index, Some(cmd.command_id.clone()), now)];
        }
        vec![match self.orders.get(&cmd.client_order_id) {
            Some(o) if o.info.symbol == cmd.symbol => error(
                Some(&cmd.command_id),
                now,
                ErrorCode::UnknownOrder,
                Some("client_order_id"),
                format!(
                    "order {} is {:?}, not open",
                    cmd.client_order_id, o.info.status
                ),
            ),
            _ => error(
                Some(&cmd.command_id),
                now,
                ErrorCode::UnknownOrder,
                Some("client_order_id"),
                format!("Unknown order sent: {} {}", cmd.symbol, cmd.client_order_id),
            ),
        }]
    }

    fn cancel_index(&mut self, index: usize, command_id: Option<String>, now: u64) -> Response {
        let o = &mut self.orders.open[index].order;
        o.info.status = OrderStatus::Canceled;
        o.info.updated_ts_ns = now;
        self.orders.close(index).canceled(command_id, now)
    }

    /// Cancels every open order (halt, shutdown); the answers carry no command id.
    pub fn cancel_all(&mut self, now: u64) -> Vec<Response> {
        (0..self.orders.open.len())
            .map(|_| self.cancel_index(0, None, now))
            .collect()
    }

    /// Answers `QueryOrder`.
    pub fn query(&self, cmd: &QueryOrder, now: u64) -> Response {
        match self.orders.get(&cmd.client_order_id) {
            Some(o) if o.info.symbol == cmd.symbol => Response::OrderStatus(OrderStatusReport {
                command_id: Some(cmd.command_id.clone()),
                ts_ns: now,
                order: o.info.clone(),
            }),
            _ => error(
                Some(&cmd.command_id),
                now,
                ErrorCode::UnknownOrder,
                Some("client_order_id"),
                format!(
                    "Order does not exist: {} {}",
                    cmd.symbol, cmd.client_order_id
                ),
            ),
        }
    }

    /// Answers `QueryOpenOrders`.
    pub fn open_orders(&self, cmd: &QueryOpenOrders, now: u64) -> Response {
        let orders = self
            .orders
            .open
            .iter()
            .map(|p| &p.order)
            .filter(|o| cmd.symbol.as_ref().is_none_or(|s| *s == o.info.symbol))
            .map(|o| o.info.clone())
            .collect();
        Response::OpenOrders(OpenOrders {
            command_id: Some(cmd.command_id.clone()),
            ts_ns: now,
            symbol: cmd.symbol.clone(),
            orders,
            net_position: None, // the engine's core fills it in (`Core::respond`)
        })
    }
}

#[cfg(test)]
#[path = "paper_tests.rs"]
pub(crate) mod tests;
