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
//!   rejected.
//! * Commission is charged in the asset received (base for a buy, quote for a sell), rounded down.

use std::collections::{BTreeMap, HashMap};

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
/// Largest notional accepted for non-market orders (`NOTIONAL.maxNotional`), units.
pub const MAX_NOTIONAL: u64 = 9_000_000 * SCALE;
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

    /// The order's checks that do not depend on the account: PRICE_FILTER, LOT_SIZE and NOTIONAL of
    /// `exchangeInfo`. A MARKET order's notional is valued at the touch it would take from.
    ///
    /// # Errors
    /// [`OrderError::Filter`].
    pub fn check_filters(&self, req: &NewOrder, book: &Book) -> Result<(), OrderError> {
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
        }
        let notional = match (req.kind, req.price, req.qty, req.quote_qty) {
            (OrderKind::Market, _, _, Some(quote)) => Some(quote),
            (OrderKind::Market, _, Some(q), None) => {
                let (bid, ask) = book.touch();
                let reference = match req.side {
                    OrderSide::Buy => ask.or(bid),
                    OrderSide::Sell => bid.or(ask),
                };
                reference.map(|p| mul_floor(p, q))
            }
            (_, Some(p), Some(q), _) => {
                let n = mul_floor(p, q);
                if n > MAX_NOTIONAL {
                    return Err(OrderError::Filter("NOTIONAL"));
                }
                Some(n)
            }
            _ => None,
        };
        if notional.is_some_and(|n| n < s.min_notional) {
            return Err(OrderError::Filter("NOTIONAL"));
        }
        Ok(())
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
            reject_reason: "NONE",
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

    /// Places an order at `now` against `book`. Returns the order (as after matching) and its
    /// fills, or the refusal; and the user-stream events it caused, in order.
    pub fn place(&mut self, req: &NewOrder, book: &Book, now: i64) -> (Placed, Vec<Event>) {
        if self.client_id_open(&req.client_id) {
            return (Err(OrderError::Duplicate), Vec::new());
        }
        if let Err(e) = self.check_filters(req, book) {
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
        // The account's check: a resting order locks all it may spend; a market order needs what it
        // takes.
        let (lock, reject) = match (req.kind, req.side) {
            (OrderKind::Market, OrderSide::Buy) => (0, taken_cost > quote_free),
            (OrderKind::Market, OrderSide::Sell) => (0, taken_qty > base_free),
            (_, OrderSide::Buy) => {
                let l = mul_ceil(req.price.unwrap_or(0), req.qty.unwrap_or(0));
                (l, l > quote_free)
            }
            (_, OrderSide::Sell) => {
                let l = req.qty.unwrap_or(0);
                (l, l > base_free)
            }
        };
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
        let would_take = req.kind == OrderKind::LimitMaker && !takes.is_empty();
        if reject || would_take {
            order.status = Status::Rejected;
            let (err, why) = if would_take {
                (OrderError::WouldTake, "WOULD_MATCH_IMMEDIATELY")
            } else {
                (OrderError::Insufficient, "INSUFFICIENT_BALANCES")
            };
            let mut ev = self.report(&order, Exec::Rejected, None, false, now);
            if let Event::Report(r) = &mut ev {
                r.reject_reason = why;
            }
            return (Err(err), vec![ev]);
        }
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

    /// A replayed trade at `price` for `qty`: fills resting orders it trades through, best price
    /// first, then oldest first, up to `qty` in all.
    pub fn on_trade(&mut self, price: u64, qty: u64, now: i64) -> Vec<Event> {
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
        self.update_time = now;
        events.push(self.position(now));
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TICK: u64 = 10_000; // 0.0001
    const STEP: u64 = SCALE / 10; // 0.1

    fn spec() -> SymbolSpec {
        SymbolSpec::new_checked("POLUSDT", TICK, STEP, 5 * SCALE).unwrap()
    }

    fn ex(usdt: u64, pol: u64) -> Exchange {
        Exchange::new(
            spec(),
            &AccountSettings {
                balances: vec![("USDT".into(), usdt * SCALE), ("POL".into(), pol * SCALE)],
                ..AccountSettings::default()
            },
        )
    }

    /// Bids 0.2000, 0.1999, ...; asks 0.2001, 0.2002, ...; 100 POL each.
    fn book() -> Book {
        let mut b = Book::empty(1);
        for k in 0..5 {
            b.bids.insert(20_000_000 - k * TICK, 100 * SCALE);
            b.asks.insert(20_010_000 + k * TICK, 100 * SCALE);
        }
        b
    }

    fn req(side: OrderSide, kind: OrderKind, qty: u64, price: Option<u64>, id: &str) -> NewOrder {
        NewOrder {
            side,
            kind,
            tif: (kind == OrderKind::Limit).then_some(Tif::Gtc),
            qty: Some(qty),
            quote_qty: None,
            price,
            client_id: id.into(),
        }
    }

    fn reports(ev: &[Event]) -> Vec<(Exec, Status)> {
        ev.iter()
            .filter_map(|e| match e {
                Event::Report(r) => Some((r.exec, r.order.status)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn market_buy_walks_the_book_and_pays_fees_in_base() {
        let mut x = ex(1000, 0);
        let (res, ev) = x.place(
            &req(OrderSide::Buy, OrderKind::Market, 150 * SCALE, None, "a"),
            &book(),
            5,
        );
        let (o, fills) = res.unwrap();
        assert_eq!(o.status, Status::Filled);
        assert_eq!(
            fills.iter().map(|f| (f.price, f.qty)).collect::<Vec<_>>(),
            vec![(20_010_000, 100 * SCALE), (20_020_000, 50 * SCALE)]
        );
        // 100 * 0.2001 + 50 * 0.2002 = 30.02
        assert_eq!(o.cum_quote, 3_002_000_000);
        assert_eq!(fills[0].commission, SCALE / 10); // 0.1 POL
        assert_eq!(fills[0].commission_asset, "POL");
        assert_eq!(x.balance("USDT").free, 1000 * SCALE - 3_002_000_000);
        assert_eq!(x.balance("POL").free, 150 * SCALE - 15 * SCALE / 100);
        assert_eq!(
            reports(&ev),
            vec![
                (Exec::New, Status::New),
                (Exec::Trade, Status::PartiallyFilled),
                (Exec::Trade, Status::Filled)
            ]
        );
        assert!(matches!(ev.last(), Some(Event::Position { .. })));
    }

    #[test]
    fn market_by_quote_quantity_and_sell_fees_in_quote() {
        let mut x = ex(100, 10);
        let mut r = req(OrderSide::Buy, OrderKind::Market, 0, None, "q");
        r.qty = None;
        r.quote_qty = Some(10 * SCALE);
        let (o, _) = x.place(&r, &book(), 1).0.unwrap();
        // 10 / 0.2001 = 49.97 → 49.9 (step 0.1)
        assert_eq!(o.executed, 499 * SCALE / 10);
        assert_eq!(o.orig_qty, o.executed);
        assert!(o.cum_quote <= 10 * SCALE);
        let (o, fills) = x
            .place(
                &req(OrderSide::Sell, OrderKind::Market, 50 * SCALE, None, "s"),
                &book(),
                2,
            )
            .0
            .unwrap();
        assert_eq!(o.cum_quote, 10 * SCALE); // 50 * 0.2
        assert_eq!(fills[0].commission, SCALE / 100); // 0.01 USDT
        assert_eq!(fills[0].commission_asset, "USDT");
    }

    #[test]
    fn resting_limit_locks_then_fills_by_trades_through_its_price() {
        let mut x = ex(100, 0);
        let (o, fills) = x
            .place(
                &req(
                    OrderSide::Buy,
                    OrderKind::Limit,
                    100 * SCALE,
                    Some(19_000_000),
                    "r",
                ),
                &book(),
                1,
            )
            .0
            .unwrap();
        assert!(fills.is_empty());
        assert_eq!(o.status, Status::New);
        assert_eq!(x.balance("USDT").locked, 19 * SCALE);
        assert_eq!(x.balance("USDT").free, 81 * SCALE);
        // At the price: no fill. Through it: fills up to the trade's quantity.
        assert!(x.on_trade(19_000_000, 50 * SCALE, 2).is_empty());
        let ev = x.on_trade(18_990_000, 40 * SCALE, 3);
        assert_eq!(reports(&ev), vec![(Exec::Trade, Status::PartiallyFilled)]);
        let Event::Report(r) = &ev[0] else { panic!() };
        assert!(r.maker);
        assert_eq!(r.fill.as_ref().unwrap().price, 19_000_000);
        let ev = x.on_trade(18_000_000, 500 * SCALE, 4);
        assert_eq!(reports(&ev), vec![(Exec::Trade, Status::Filled)]);
        assert_eq!(
            x.balance("USDT"),
            Balance {
                free: 81 * SCALE,
                locked: 0
            }
        );
        assert_eq!(x.balance("POL").free, 100 * SCALE - SCALE / 10);
        assert!(x.open_orders().is_empty());
    }

    #[test]
    fn marketable_limit_ioc_fok_and_limit_maker() {
        let mut x = ex(1000, 0);
        // GTC: takes what is within the price, the rest rests.
        let (o, fills) = x
            .place(
                &req(
                    OrderSide::Buy,
                    OrderKind::Limit,
                    150 * SCALE,
                    Some(20_010_000),
                    "g",
                ),
                &book(),
                1,
            )
            .0
            .unwrap();
        assert_eq!((o.status, fills.len()), (Status::PartiallyFilled, 1));
        assert_eq!(x.balance("USDT").locked, mul_ceil(20_010_000, 50 * SCALE));
        // IOC: the rest expires.
        let mut r = req(
            OrderSide::Buy,
            OrderKind::Limit,
            150 * SCALE,
            Some(20_010_000),
            "i",
        );
        r.tif = Some(Tif::Ioc);
        let (res, ev) = x.place(&r, &book(), 2);
        assert_eq!(res.unwrap().0.status, Status::Expired);
        assert_eq!(
            reports(&ev),
            vec![
                (Exec::New, Status::New),
                (Exec::Trade, Status::PartiallyFilled),
                (Exec::Expired, Status::Expired)
            ]
        );
        // FOK: nothing unless all.
        r.tif = Some(Tif::Fok);
        r.client_id = "f".into();
        let (o, fills) = x.place(&r, &book(), 3).0.unwrap();
        assert_eq!((o.status, o.executed, fills.len()), (Status::Expired, 0, 0));
        // LIMIT_MAKER crossing: rejected.
        let m = req(
            OrderSide::Buy,
            OrderKind::LimitMaker,
            50 * SCALE,
            Some(20_010_000),
            "m",
        );
        let (res, ev) = x.place(&m, &book(), 4);
        assert_eq!(res.unwrap_err(), OrderError::WouldTake);
        assert_eq!(reports(&ev), vec![(Exec::Rejected, Status::Rejected)]);
        let m = req(
            OrderSide::Buy,
            OrderKind::LimitMaker,
            50 * SCALE,
            Some(20_000_000),
            "m",
        );
        assert_eq!(x.place(&m, &book(), 5).0.unwrap().0.status, Status::New);
        let locked = x.balance("USDT").locked;
        assert_eq!(locked, mul_ceil(20_010_000, 50 * SCALE) + 10 * SCALE);
    }

    #[test]
    fn refusals() {
        let mut x = ex(10, 0);
        let b = book();
        let bad = [
            (
                req(
                    OrderSide::Buy,
                    OrderKind::Limit,
                    100 * SCALE,
                    Some(19_999_999),
                    "a",
                ),
                "PRICE_FILTER",
            ),
            (
                req(
                    OrderSide::Buy,
                    OrderKind::Limit,
                    100 * SCALE + 1,
                    Some(20_000_000),
                    "a",
                ),
                "LOT_SIZE",
            ),
            (
                req(
                    OrderSide::Buy,
                    OrderKind::Limit,
                    SCALE,
                    Some(20_000_000),
                    "a",
                ),
                "NOTIONAL",
            ),
            (
                req(OrderSide::Buy, OrderKind::Market, SCALE, None, "a"),
                "NOTIONAL",
            ),
        ];
        for (r, f) in bad {
            assert_eq!(
                x.place(&r, &b, 1),
                (Err(OrderError::Filter(f)), vec![]),
                "{f}"
            );
        }
        let r = req(
            OrderSide::Buy,
            OrderKind::Limit,
            100 * SCALE,
            Some(20_000_000),
            "a",
        );
        assert_eq!(x.place(&r, &b, 1).0, Err(OrderError::Insufficient));
        let r = req(OrderSide::Sell, OrderKind::Market, 100 * SCALE, None, "a");
        assert_eq!(x.place(&r, &b, 1).0, Err(OrderError::Insufficient));
        let r = req(
            OrderSide::Buy,
            OrderKind::Limit,
            40 * SCALE,
            Some(19_000_000),
            "dup",
        );
        assert!(x.place(&r, &b, 1).0.is_ok());
        assert_eq!(x.place(&r, &b, 1).0, Err(OrderError::Duplicate));
        assert_eq!(
            x.cancel(None, Some("nope"), "c".into(), 2).unwrap_err(),
            OrderError::UnknownOrder
        );
        let (o, ev) = x.cancel(None, Some("dup"), "c".into(), 2).unwrap();
        assert_eq!(o.status, Status::Canceled);
        assert_eq!(reports(&ev), vec![(Exec::Canceled, Status::Canceled)]);
        assert_eq!(
            x.balance("USDT"),
            Balance {
                free: 10 * SCALE,
                locked: 0
            }
        );
        // Not open any more: the id may be used again, and cancelling again fails.
        assert!(x.cancel(Some(o.id), None, "c".into(), 3).is_err());
        assert!(x.place(&r, &b, 4).0.is_ok());
        assert_eq!(x.find(None, Some("dup")).unwrap().status, Status::New);
        assert!(x.find(Some(o.id), Some("other")).is_none());
    }

    fn total(x: &Exchange, a: &str) -> u64 {
        let b = x.balance(a);
        b.free + b.locked
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn random_sequences_keep_balances_and_quantities_sound(
            ops in proptest::collection::vec((0u8..6, 0u8..2, 1u64..400, 0u64..40), 1..60)
        ) {
            let mut x = ex(300, 500);
            let b = book();
            let mut now = 0;
            for (op, side, q, dp) in ops {
                now += 1;
                let side = if side == 0 { OrderSide::Buy } else { OrderSide::Sell };
                let price = 19_800_000 + dp * TICK;
                let qty = q * STEP;
                match op {
                    0 => { let _ = x.place(&req(side, OrderKind::Market, qty, None, &format!("m{now}")), &b, now); }
                    1 | 2 => { let _ = x.place(&req(side, OrderKind::Limit, qty, Some(price), &format!("l{now}")), &b, now); }
                    3 => { let _ = x.place(&req(side, OrderKind::LimitMaker, qty, Some(price), &format!("k{now}")), &b, now); }
                    4 => { x.on_trade(price, qty, now); }
                    _ => {
                        if let Some(o) = x.open_orders().first() {
                            let id = o.id;
                            x.cancel(Some(id), None, "c".into(), now).unwrap();
                        }
                    }
                }
                // Locked amounts equal what the open orders hold; nothing overfilled.
                let (mut lq, mut lb) = (0, 0);
                for o in x.orders() {
                    prop_assert!(o.orig_qty == 0 || o.executed <= o.orig_qty, "{o:?}");
                    if o.status.is_open() {
                        match o.side { OrderSide::Buy => lq += o.locked, OrderSide::Sell => lb += o.locked }
                    } else {
                        prop_assert_eq!(o.locked, 0);
                    }
                    if o.side == OrderSide::Sell && o.kind != OrderKind::Market && o.status.is_open() {
                        prop_assert_eq!(o.locked, o.remaining());
                    }
                }
                prop_assert_eq!(x.balance("USDT").locked, lq);
                prop_assert_eq!(x.balance("POL").locked, lb);
            }
            // u64 cannot go negative: the arithmetic above would have panicked. Totals stay finite.
            prop_assert!(total(&x, "USDT") < 1_000_000 * SCALE);
            prop_assert!(total(&x, "POL") < 1_000_000 * SCALE);
        }
    }
}
