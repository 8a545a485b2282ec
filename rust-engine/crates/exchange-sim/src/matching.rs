//! The account and its orders: balances locked by open orders and moved by fills, and the matching
//! model (`docs/EXCHANGE_SIM.md` "Matching model"). Every amount is an integer count of 10⁻⁸
//! ([`crate::units`]); nothing here reads a clock or a socket, so it is tested directly.
//!
//! * A MARKET order, and the marketable part of a LIMIT order, takes liquidity from the venue's
//!   authoritative book (the one `/api/v3/depth` serves), best level first, each level at most
//!   once: it is a taker (taker fee). The book itself is not changed by the user's orders.
//! * The rest of a GTC LIMIT (or a LIMIT_MAKER) order rests; it is filled, as a maker (maker fee) at
//!   its own price, by replayed trades that trade **through** its price (a buy by trades below it, a
//!   sell by trades above it), up to each trade's quantity, shared by price then time priority.
//!   Trades at exactly its price do not fill it (its queue position is unknown).
//! * IOC expires the part not filled at once; FOK expires the whole order unless the book fills all
//!   of it; a MARKET order expires the part the book cannot fill; a LIMIT_MAKER that would take is
//!   refused (`-2010`), as is an order the balances cannot pay for: refused, it gets no order id
//!   and nothing on the user data stream.
//! * Commission is charged in the asset received (base for a buy, quote for a sell), rounded down.

use std::collections::{BTreeMap, HashMap};

use crate::avg_price::AvgPrice;
use crate::book::Book;
use crate::exchange_info::SymbolSpec;
use crate::orders::{
    Balance, Event, Exec, Fill, NewOrder, Order, OrderError, OrderKind, OrderSide, Report, Status,
    Tif, UserTrade,
};
use crate::units::SCALE;

/// Largest price accepted (`PRICE_FILTER.maxPrice`), units.
pub const MAX_PRICE: u64 = 1_000_000 * SCALE;
/// Largest quantity accepted (`LOT_SIZE.maxQty`), units.
pub const MAX_QTY: u64 = 9_000_000 * SCALE;
/// Largest quantity of a MARKET order (`MARKET_LOT_SIZE.maxQty`; its minimum and step are 0, as
/// Binance lists BTCUSDT's), units.
pub const MAX_MARKET_QTY: u64 = 900_000 * SCALE;
/// Largest notional accepted (`NOTIONAL.maxNotional`), units.
pub const MAX_NOTIONAL: u64 = 9_000_000 * SCALE;
/// `NOTIONAL.applyMinToMarket`: MARKET orders are held to `minNotional`.
pub const APPLY_MIN_TO_MARKET: bool = true;
/// `NOTIONAL.applyMaxToMarket`: MARKET orders are not held to [`MAX_NOTIONAL`].
pub const APPLY_MAX_TO_MARKET: bool = false;
/// First order id handed out.
pub const FIRST_ORDER_ID: u64 = 1;
/// First trade id of the user's fills (far from the replayed trades' ids).
pub const FIRST_TRADE_ID: u64 = 900_000_000;

/// `a * b` in units (both in units), rounded down.
pub fn mul_floor(a: u64, b: u64) -> u64 {
    u64::try_from(u128::from(a) * u128::from(b) / u128::from(SCALE)).unwrap_or(u64::MAX)
}

/// `a * b` in units, rounded up.
pub fn mul_ceil(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    u64::try_from(p.div_ceil(u128::from(SCALE))).unwrap_or(u64::MAX)
}

/// Account settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSettings {
    /// Starting balances, asset → units.
    pub balances: Vec<(String, u64)>,
    /// Maker commission rate, units (0.001 = 100_000).
    pub maker_fee: u64,
    /// Taker commission rate, units.
    pub taker_fee: u64,
}

impl Default for AccountSettings {
    fn default() -> Self {
        AccountSettings {
            balances: vec![("USDT".to_owned(), 10_000 * SCALE)],
            maker_fee: SCALE / 1000,
            taker_fee: SCALE / 1000,
        }
    }
}

/// The account, its orders and the matching.
#[derive(Debug, Clone)]
pub struct Exchange {
    spec: SymbolSpec,
    balances: BTreeMap<String, Balance>,
    orders: BTreeMap<u64, Order>,
    by_client: HashMap<String, u64>,
    trades: Vec<UserTrade>,
    /// The replayed trades that price MARKET orders for the NOTIONAL filter.
    avg_price: AvgPrice,
    next_order_id: u64,
    next_trade_id: u64,
    next_exec_id: u64,
    /// Maker commission rate, units.
    pub maker_fee: u64,
    /// Taker commission rate, units.
    pub taker_fee: u64,
    /// Last balance change, ms.
    pub update_time: i64,
}

/// The outcome of [`Exchange::place`]: the order (as after matching) and its fills, or the refusal.
pub type Placed = Result<(Order, Vec<Fill>), OrderError>;

/// A level taken from the book: price, quantity.
type Take = (u64, u64);

impl Exchange {
    /// An account for `spec` with `settings`; the symbol's base and quote always have a balance.
    pub fn new(spec: SymbolSpec, settings: &AccountSettings) -> Self {
        let mut balances = BTreeMap::new();
        balances.insert(spec.base.clone(), Balance::default());
        balances.insert(spec.quote.clone(), Balance::default());
        for (a, v) in &settings.balances {
            balances.insert(
                a.clone(),
                Balance {
                    free: *v,
                    locked: 0,
                },
            );
        }
        Exchange {
            spec,
            balances,
            orders: BTreeMap::new(),
            by_client: HashMap::new(),
            trades: Vec::new(),
            avg_price: AvgPrice::default(),
            next_order_id: FIRST_ORDER_ID,
            next_trade_id: FIRST_TRADE_ID,
            next_exec_id: 1,
            maker_fee: settings.maker_fee,
            taker_fee: settings.taker_fee,
            update_time: 0,
        }
    }

    /// The symbol.
    pub fn spec(&self) -> &SymbolSpec {
        &self.spec
    }

    /// Every balance.
    pub fn balances(&self) -> &BTreeMap<String, Balance> {
        &self.balances
    }

    /// One asset's balance.
    pub fn balance(&self, asset: &str) -> Balance {
        self.balances.get(asset).copied().unwrap_or_default()
    }

    /// Open orders, oldest first.
    pub fn open_orders(&self) -> Vec<Order> {
        self.orders
            .values()
            .filter(|o| o.status.is_open())
            .cloned()
            .collect()
    }

    /// The account's trades, oldest first.
    pub fn trades(&self) -> &[UserTrade] {
        &self.trades
    }

    /// Every order kept.
    pub fn orders(&self) -> impl Iterator<Item = &Order> {
        self.orders.values()
    }

    /// True when an open order has `client_id`.
    pub fn client_id_open(&self, client_id: &str) -> bool {
        self.by_client
            .get(client_id)
            .and_then(|id| self.orders.get(id))
            .is_some_and(|o| o.status.is_open())
    }

    /// Finds an order by id, or by client id (the latest with it); with both, the order found by
    /// id must carry the client id.
    pub fn find(&self, order_id: Option<u64>, client_id: Option<&str>) -> Option<&Order> {
        match (order_id, client_id) {
            (Some(id), c) => self
                .orders
                .get(&id)
                .filter(|o| c.is_none_or(|c| o.client_id == c)),
            (None, Some(c)) => self.by_client.get(c).and_then(|id| self.orders.get(id)),
            (None, None) => None,
        }
    }

    /// The order's checks that do not depend on the account: PRICE_FILTER, LOT_SIZE,
    /// MARKET_LOT_SIZE and NOTIONAL of `exchangeInfo`, at `replay_ms` on the replay clock (a
    /// MARKET order's notional at the average price of the trades of the last `avgPriceMins`,
    /// [`crate::avg_price::AvgPrice`], where Binance values it).
    ///
    /// # Errors
    /// [`OrderError::Filter`].
    pub fn check_filters(
        &self,
        req: &NewOrder,
        book: &Book,
        replay_ms: i64,
    ) -> Result<(), OrderError> {
        let s = &self.spec;
        if let Some(p) = req.price {
            if p < s.tick || p > MAX_PRICE || p % s.tick != 0 {
                return Err(OrderError::Filter("PRICE_FILTER"));
            }
        }
        if let Some(q) = req.qty {
            if q < s.step || q > MAX_QTY || q % s.step != 0 {
                return Err(OrderError::Filter("LOT_SIZE"));
            }
            if req.kind == OrderKind::Market && q > MAX_MARKET_QTY {
                return Err(OrderError::Filter("MARKET_LOT_SIZE"));
            }
        }
        self.check_notional(req, book, replay_ms)
    }

    /// NOTIONAL (notes §5): price × quantity from `minNotional` to [`MAX_NOTIONAL`]. A MARKET
    /// order has no price: by `quoteOrderQty` its notional is that amount, by quantity it is
    /// valued at [`Exchange::market_price`]; it is held to the minimum as [`APPLY_MIN_TO_MARKET`]
    /// says and to the maximum as [`APPLY_MAX_TO_MARKET`] says.
    fn check_notional(
        &self,
        req: &NewOrder,
        book: &Book,
        replay_ms: i64,
    ) -> Result<(), OrderError> {
        let market = req.kind == OrderKind::Market;
        let notional = match (market, req.price, req.qty, req.quote_qty) {
            (true, _, _, Some(quote)) => Some(quote),
            (true, _, Some(q), None) => self
                .market_price(req.side, book, replay_ms)
                .map(|p| mul_floor(p, q)),
            (false, Some(p), Some(q), _) => Some(mul_floor(p, q)),
            _ => None,
        };
        let Some(n) = notional else {
            return Ok(());
        };
        let (min_applies, max_applies) = if market {
            (APPLY_MIN_TO_MARKET, APPLY_MAX_TO_MARKET)
        } else {
            (true, true)
        };
        if (min_applies && n < self.spec.min_notional) || (max_applies && n > MAX_NOTIONAL) {
            return Err(OrderError::Filter("NOTIONAL"));
        }
        Ok(())
    }

    /// The price a MARKET order by quantity is valued at for NOTIONAL: the average price of the
    /// replayed trades of the last `avgPriceMins` minutes up to `replay_ms`, the last replayed
    /// event's time ([`AvgPrice`]; in a recording gap, the minutes before it); when none was
    /// replayed in them (before the replay's first trade), the touch
    /// it would take from (the venue's choice: the notes say nothing of an average without
    /// trades).
    fn market_price(&self, side: OrderSide, book: &Book, replay_ms: i64) -> Option<u64> {
        self.avg_price.at(replay_ms).or_else(|| {
            let (bid, ask) = book.touch();
            match side {
                OrderSide::Buy => ask.or(bid),
                OrderSide::Sell => bid.or(ask),
            }
        })
    }

    fn asset(&mut self, side_received: bool, side: OrderSide) -> &mut Balance {
        // received: base for a buy, quote for a sell; paid: the other.
        let base = (side == OrderSide::Buy) == side_received;
        let name = if base {
            &self.spec.base
        } else {
            &self.spec.quote
        };
        self.balances.entry(name.clone()).or_default()
    }

    fn position(&self, time: i64) -> Event {
        let b = |a: &String| (a.clone(), self.balance(a));
        Event::Position {
            time,
            balances: vec![b(&self.spec.base), b(&self.spec.quote)],
        }
    }

    fn report(
        &mut self,
        order: &Order,
        exec: Exec,
        fill: Option<Fill>,
        maker: bool,
        time: i64,
    ) -> Event {
        let exec_id = self.next_exec_id;
        self.next_exec_id += 1;
        Event::Report(Box::new(Report {
            order: order.clone(),
            exec,
            fill,
            maker,
            cancel_client_id: None,
            time,
            exec_id,
        }))
    }

    /// What a taker order takes from `book` (price, quantity), best first, within `limit`.
    fn walk(&self, req: &NewOrder, book: &Book, limit: Option<u64>) -> Vec<Take> {
        let levels: Box<dyn Iterator<Item = (&u64, &u64)>> = match req.side {
            OrderSide::Buy => Box::new(book.asks.iter()),
            OrderSide::Sell => Box::new(book.bids.iter().rev()),
        };
        let within = |p: u64| match (limit, req.side) {
            (None, _) => true,
            (Some(l), OrderSide::Buy) => p <= l,
            (Some(l), OrderSide::Sell) => p >= l,
        };
        let mut left_qty = req.qty;
        let mut left_quote = req.quote_qty;
        let mut out = Vec::new();
        for (&p, &avail) in levels {
            if !within(p) || p == 0 {
                break;
            }
            let mut q = avail;
            if let Some(l) = left_qty {
                q = q.min(l);
            }
            if let Some(lq) = left_quote {
                let most = u64::try_from(u128::from(lq) * u128::from(SCALE) / u128::from(p))
                    .unwrap_or(u64::MAX);
                q = q.min(most - most % self.spec.step.max(1));
            }
            if q == 0 {
                break;
            }
            out.push((p, q));
            if let Some(l) = left_qty.as_mut() {
                *l -= q;
                if *l == 0 {
                    break;
                }
            }
            if let Some(lq) = left_quote.as_mut() {
                *lq = lq.saturating_sub(mul_ceil(p, q));
            }
        }
        out
    }

    /// Places an order at `now` (server time) against `book`, its filters checked at `replay_ms`
    /// on the replay clock. Returns the order (as after matching) and its fills, or the refusal;
    /// and the user-stream events it caused, in order.
    ///
    /// A refusal (insufficient balance, a LIMIT_MAKER that would take) causes none: the notes
    /// document the `REJECTED` execution type for a cancel-replace whose new order is refused
    /// (§4.4: "e.g. Cancel Replace Orders wherein the new order placement is rejected but the
    /// request to cancel request succeeds"), and a plain new order refused `-2010` is answered by
    /// its error only (§3.5, fixture `errors.json` `insufficient_balance`,
    /// `limit_maker_would_take`).
    pub fn place(
        &mut self,
        req: &NewOrder,
        book: &Book,
        now: i64,
        replay_ms: i64,
    ) -> (Placed, Vec<Event>) {
        if self.client_id_open(&req.client_id) {
            return (Err(OrderError::Duplicate), Vec::new());
        }
        if let Err(e) = self.check_filters(req, book, replay_ms) {
            return (Err(e), Vec::new());
        }
        let limit = match req.kind {
            OrderKind::Market => None,
            _ => req.price,
        };
        let takes = self.walk(req, book, limit);
        let base_free = self.balance(&self.spec.base.clone()).free;
        let quote_free = self.balance(&self.spec.quote.clone()).free;
        let taken_qty: u64 = takes.iter().map(|t| t.1).sum();
        let taken_cost: u64 = takes.iter().map(|&(p, q)| mul_floor(p, q)).sum();
        // The account's check: a resting order locks all it may spend; a market order needs all it
        // asks to trade, whatever the book can take of it (Binance refuses the whole order -2010
        // "Account has insufficient balance for requested action.", notes §3.5): a sell its
        // `quantity` of the base asset, a buy its `quoteOrderQty` of the quote asset. What the
        // order itself does not fix (the quote a buy of a base `quantity` pays, the base a sell of
        // a `quoteOrderQty` gives) is what it takes from the book (`walk` never takes more than
        // the order's quantity or quoteOrderQty).
        let (lock, reject) = match (req.kind, req.side) {
            (OrderKind::Market, OrderSide::Buy) => {
                (0, req.quote_qty.unwrap_or(taken_cost) > quote_free)
            }
            (OrderKind::Market, OrderSide::Sell) => (0, req.qty.unwrap_or(taken_qty) > base_free),
            (_, OrderSide::Buy) => {
                let l = mul_ceil(req.price.unwrap_or(0), req.qty.unwrap_or(0));
                (l, l > quote_free)
            }
            (_, OrderSide::Sell) => {
                let l = req.qty.unwrap_or(0);
                (l, l > base_free)
            }
        };
        if req.kind == OrderKind::LimitMaker && !takes.is_empty() {
            return (Err(OrderError::WouldTake), Vec::new());
        }
        if reject {
            return (Err(OrderError::Insufficient), Vec::new());
        }
        let id = self.next_order_id;
        self.next_order_id += 1;
        let mut order = Order {
            id,
            client_id: req.client_id.clone(),
            side: req.side,
            kind: req.kind,
            tif: req.tif.unwrap_or(Tif::Gtc),
            price: limit.unwrap_or(0),
            orig_qty: req.qty.unwrap_or(0),
            orig_quote_qty: req.quote_qty.unwrap_or(0),
            executed: 0,
            cum_quote: 0,
            status: Status::New,
            time: now,
            update_time: now,
            working_time: None,
            locked: 0,
        };
        self.by_client.insert(order.client_id.clone(), id);
        order.locked = lock;
        order.working_time = Some(now);
        {
            let paid = self.asset(false, req.side);
            paid.free -= lock;
            paid.locked += lock;
        }
        if order.kind == OrderKind::Market && order.orig_qty == 0 {
            // By quote quantity: its base quantity is what the book gives for it.
            order.orig_qty = taken_qty;
        }
        let mut events = vec![self.report(&order, Exec::New, None, false, now)];
        let fok_short = req.tif == Some(Tif::Fok) && taken_qty < req.qty.unwrap_or(0);
        let mut fills = Vec::new();
        if !fok_short {
            for (p, q) in takes {
                let fill = self.fill(&mut order, p, q, false, now);
                fills.push(fill.clone());
                events.push(self.report(&order, Exec::Trade, Some(fill), false, now));
            }
        }
        let done = order.status == Status::Filled;
        let rests = !done
            && !fok_short
            && matches!(req.kind, OrderKind::Limit | OrderKind::LimitMaker)
            && order.tif == Tif::Gtc;
        if !rests && !done {
            self.release(&mut order);
            order.status = Status::Expired;
            events.push(self.report(&order, Exec::Expired, None, false, now));
        }
        self.update_time = now;
        events.push(self.position(now));
        self.orders.insert(id, order.clone());
        (Ok((order, fills)), events)
    }

    /// Fills `qty` of `order` at `price`, as maker or taker.
    fn fill(&mut self, order: &mut Order, price: u64, qty: u64, maker: bool, now: i64) -> Fill {
        let fee = if maker {
            self.maker_fee
        } else {
            self.taker_fee
        };
        let quote = mul_floor(price, qty);
        let before = order.executed;
        order.executed += qty;
        order.cum_quote += quote;
        let (commission, asset) = match order.side {
            OrderSide::Buy => {
                // Release what the lock held for this quantity (all of it on the last fill).
                let release = if order.kind == OrderKind::Market {
                    0
                } else {
                    (mul_ceil(order.price, order.executed) - mul_ceil(order.price, before))
                        .min(order.locked)
                };
                order.locked -= release;
                let q = self.asset(false, OrderSide::Buy);
                q.locked -= release;
                q.free = q.free + release - quote;
                let c = mul_floor(qty, fee);
                let b = self.asset(true, OrderSide::Buy);
                b.free += qty - c;
                (c, self.spec.base.clone())
            }
            OrderSide::Sell => {
                let b = self.asset(false, OrderSide::Sell);
                if order.kind == OrderKind::Market {
                    b.free -= qty;
                } else {
                    b.locked -= qty;
                    order.locked -= qty;
                }
                let c = mul_floor(quote, fee);
                let q = self.asset(true, OrderSide::Sell);
                q.free += quote - c;
                (c, self.spec.quote.clone())
            }
        };
        order.status = if order.orig_qty != 0 && order.executed >= order.orig_qty {
            Status::Filled
        } else {
            Status::PartiallyFilled
        };
        if order.status == Status::Filled {
            self.release(order);
        }
        order.update_time = now;
        let trade_id = self.next_trade_id;
        self.next_trade_id += 1;
        let fill = Fill {
            price,
            qty,
            commission,
            commission_asset: asset,
            trade_id,
        };
        self.trades.push(UserTrade {
            fill: fill.clone(),
            order_id: order.id,
            side: order.side,
            maker,
            time: now,
        });
        fill
    }

    /// Unlocks whatever `order` still holds.
    fn release(&mut self, order: &mut Order) {
        let l = std::mem::take(&mut order.locked);
        let b = self.asset(false, order.side);
        b.locked -= l;
        b.free += l;
    }

    /// Cancels an open order found by id or client id; `cancel_client_id` names the request.
    ///
    /// # Errors
    /// [`OrderError::UnknownOrder`] when no open order matches.
    pub fn cancel(
        &mut self,
        order_id: Option<u64>,
        client_id: Option<&str>,
        cancel_client_id: String,
        now: i64,
    ) -> Result<(Order, Vec<Event>), OrderError> {
        let id = self
            .find(order_id, client_id)
            .filter(|o| o.status.is_open())
            .map(|o| o.id)
            .ok_or(OrderError::UnknownOrder)?;
        let mut order = self.orders.remove(&id).ok_or(OrderError::UnknownOrder)?;
        self.release(&mut order);
        order.status = Status::Canceled;
        order.update_time = now;
        self.update_time = now;
        let mut ev = self.report(&order, Exec::Canceled, None, false, now);
        if let Event::Report(r) = &mut ev {
            r.cancel_client_id = Some(cancel_client_id);
        }
        self.orders.insert(id, order.clone());
        Ok((order, vec![ev, self.position(now)]))
    }

    /// [`Self::on_trade_at`] with the account's update time `now` as well.
    pub fn on_trade(&mut self, price: u64, qty: u64, now: i64) -> Vec<Event> {
        self.on_trade_at(price, qty, now, now)
    }

    /// A replayed trade at `price` for `qty` (at `now` on the replay clock): counts in the
    /// average price and fills resting orders it trades through, best price first, then oldest
    /// first, up to `qty` in all. The fills carry the trade's time, as the trade stream does; the
    /// account's update (`outboundAccountPosition`'s `u`, the account's `updateTime`) is
    /// `account_ms`, the server's clock, on which a client orders account updates against its own
    /// requests (away from speed 1 the replay clock is not the server's).
    pub fn on_trade_at(&mut self, price: u64, qty: u64, now: i64, account_ms: i64) -> Vec<Event> {
        self.avg_price.record(now, price, qty);
        let mut hit: Vec<(u64, u64, u64)> = self
            .orders
            .values()
            .filter(|o| o.status.is_open())
            .filter(|o| match o.side {
                OrderSide::Buy => price < o.price,
                OrderSide::Sell => price > o.price,
            })
            .map(|o| {
                let key = match o.side {
                    OrderSide::Buy => u64::MAX - o.price,
                    OrderSide::Sell => o.price,
                };
                (key, o.id, o.remaining())
            })
            .collect();
        if hit.is_empty() {
            return Vec::new();
        }
        hit.sort_unstable();
        let mut left = qty;
        let mut events = Vec::new();
        for (_, id, remaining) in hit {
            if left == 0 {
                break;
            }
            let q = remaining.min(left);
            left -= q;
            let Some(mut order) = self.orders.remove(&id) else {
                continue;
            };
            let price = order.price;
            let fill = self.fill(&mut order, price, q, true, now);
            events.push(self.report(&order, Exec::Trade, Some(fill), true, now));
            self.orders.insert(id, order);
        }
        self.update_time = account_ms;
        events.push(self.position(account_ms));
        events
    }
}

#[cfg(test)]
#[path = "matching_tests.rs"]
mod tests;
