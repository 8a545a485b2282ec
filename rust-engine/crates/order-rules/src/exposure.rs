//! The engine's position limits:
//!
//! * exposure (`[risk] max_position_notional`): the position the engine would hold if every open
//!   order and the new one filled, valued at the new order's price, may not pass the limit, unless
//!   the new order lowers that worst case (a sell that reduces a long);
//! * what is held ([`check_sell`]): the engine trades spot, long only (its flatten sells the net
//!   long, never more), so a sell may not take the open sells past the net position held, but for
//!   the dust of fees ([`DUST_SHARE`] of a lot); Binance would refuse it `-2010` "Account has
//!   insufficient balance for requested action." and the paper venues would open a short;
//! * concurrent positions (`[risk] max_positions`): the strategy buys in lots of `[symbol]
//!   order_quantity`, so the engine counts a position per open buy order plus one per lot (or part
//!   of one) of its net long; a buy that would make one more than the limit is refused. Dust is no
//!   position ([`dust`]): up to [`DUST_SHARE`] of a lot (a fee taken from the coins bought leaves
//!   less than a quantity step unsold after a partly filled entry) or what is worth less than
//!   `[symbol] min_notional` at the order's price (no sell of it would be taken); the strategy
//!   writes both off, so they add up in the account and must not hold a position's place for good.

use common::config::Config;
use common::message::{OrderInfo, PlaceOrder, Side};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use crate::validate::Rejection;

/// Remaining quantities of the open orders, per side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenQuantities {
    /// Open buy quantity not yet filled.
    pub buy: Decimal,
    /// Open sell quantity not yet filled.
    pub sell: Decimal,
    /// Open buy orders.
    pub buy_orders: usize,
}

impl OpenQuantities {
    /// Sums what is left of each open order in `orders` (those not in a final state). A sum past
    /// the largest decimal stays at it (orders taken over from the venue can be of any size): an
    /// exposure that large is refused.
    pub fn of<'a>(orders: impl IntoIterator<Item = &'a OrderInfo>) -> Self {
        let mut q = OpenQuantities::default();
        for o in orders.into_iter().filter(|o| !o.status.is_terminal()) {
            q.add(o.side, o.quantity.0.saturating_sub(o.filled_quantity.0));
        }
        q
    }

    /// Adds an open order on `side` with `left` still to fill (a negative `left` counts as none).
    pub fn add(&mut self, side: Side, left: Decimal) {
        let left = left.max(Decimal::ZERO);
        match side {
            Side::Buy => {
                self.buy = self.buy.saturating_add(left);
                self.buy_orders += 1;
            }
            Side::Sell => self.sell = self.sell.saturating_add(left),
        }
    }

    /// The largest absolute position reachable if every open order fills, from `position`; `None`
    /// when it is past the largest decimal.
    fn worst(&self, position: Decimal) -> Option<Decimal> {
        let long = position.checked_add(self.buy)?;
        let short = position.checked_sub(self.sell)?;
        Some(long.abs().max(short.abs()))
    }
}

/// The position limits of `[risk]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PositionLimits {
    /// `[risk] max_position_notional`.
    pub max_notional: Decimal,
    /// `[risk] max_positions`.
    pub max_positions: u64,
    /// `[symbol] order_quantity`: the strategy's lot.
    pub lot: Decimal,
    /// `[symbol] min_notional`: a remainder worth less is dust (see [`dust`]).
    pub min_notional: Decimal,
}

impl PositionLimits {
    /// The position limits in `cfg`.
    pub fn from_config(cfg: &Config) -> Self {
        PositionLimits {
            max_notional: cfg.risk.max_position_notional.0,
            max_positions: cfg.risk.max_positions,
            lot: cfg.symbol.order_quantity.0,
            min_notional: cfg.symbol.min_notional.0,
        }
    }

    /// [`PositionLimits::check`] of `order`, valued at its price, or (a market order) at the
    /// `touch` it takes from: the best price on the other side, asked for only then.
    ///
    /// # Errors
    /// The first [`Rejection`].
    pub fn check_order(
        &self,
        order: &PlaceOrder,
        touch: impl FnOnce() -> Option<Decimal>,
        position: Decimal,
        open: OpenQuantities,
    ) -> Result<(), Rejection> {
        let price = order.price.map(|p| p.0).or_else(touch);
        self.check(order.side, order.quantity.0, price, position, open)
    }

    /// Checks a new order against the limits ([`check_positions`], [`check_sell`] with the dust of
    /// fees, [`DUST_SHARE`] of a lot, then [`check`]), given the net `position` and the `open`
    /// orders. `price` values it (a market order: the touch it takes from); `None` leaves the
    /// exposure to the order's validation, which refuses a market order without a price on the
    /// book (a sell is still checked against what is held).
    ///
    /// # Errors
    /// The first [`Rejection`].
    pub fn check(
        &self,
        side: Side,
        quantity: Decimal,
        price: Option<Decimal>,
        position: Decimal,
        open: OpenQuantities,
    ) -> Result<(), Rejection> {
        let dust = dust(self.lot, self.min_notional, price);
        check_positions(side, position, open, self.lot, dust, self.max_positions)?;
        check_sell(
            side,
            quantity,
            position,
            open,
            self.lot.saturating_mul(DUST_SHARE),
        )?;
        match price {
            Some(price) => check(side, quantity, price, position, open, self.max_notional),
            None => Ok(()),
        }
    }
}

/// Checks a new sell of `quantity` against what is held: with the `open` sells, it may not pass
/// the net `position` by more than `tolerance` (the dust of fees: a position the fees left a little
/// under what the strategy counts). Buys always pass.
///
/// # Errors
/// A [`Rejection`] of `quantity` naming the sell, the open sells and the position.
pub fn check_sell(
    side: Side,
    quantity: Decimal,
    position: Decimal,
    open: OpenQuantities,
    tolerance: Decimal,
) -> Result<(), Rejection> {
    if side != Side::Sell {
        return Ok(());
    }
    let selling = open.sell.checked_add(quantity);
    let most = position.saturating_add(tolerance.max(Decimal::ZERO));
    if selling.is_some_and(|s| s <= most) {
        return Ok(());
    }
    Err(Rejection {
        field: "quantity",
        message: format!(
            "SELL {quantity} with open sells {} would sell more than the net position held \
             {position} (dust allowance {tolerance}): spot is long only",
            open.sell
        ),
    })
}

/// Checks a new order of `quantity` on `side` at `price` against `max_notional`, given the net
/// `position` and the `open` orders (the exposure alone: [`check_sell`] refuses a sell of more
/// than is held).
///
/// # Errors
/// A [`Rejection`] of `quantity` naming the limit and the figures, or the figures when the
/// exposure is too large to compute (past the largest decimal).
pub fn check(
    side: Side,
    quantity: Decimal,
    price: Decimal,
    position: Decimal,
    open: OpenQuantities,
    max_notional: Decimal,
) -> Result<(), Rejection> {
    let too_large = || Rejection {
        field: "quantity",
        message: format!(
            "exposure of this {} {quantity} at {price} (position {position}, \
             open buys {}, open sells {}) is too large to compute",
            side.as_str(),
            open.buy,
            open.sell
        ),
    };
    let before = open.worst(position).ok_or_else(too_large)?;
    let mut after = open;
    let added = match side {
        Side::Buy => &mut after.buy,
        Side::Sell => &mut after.sell,
    };
    *added = added.checked_add(quantity).ok_or_else(too_large)?;
    let worst = after.worst(position).ok_or_else(too_large)?;
    let notional = worst.checked_mul(price).ok_or_else(too_large)?;
    if notional > max_notional && worst > before {
        return Err(Rejection {
            field: "quantity",
            message: format!(
                "exposure {notional} (position {position}, open buys {}, open sells {}, this {} {quantity}, at {price}) above [risk] max_position_notional {max_notional}",
                open.buy,
                open.sell,
                side.as_str()
            ),
        });
    }
    Ok(())
}

/// The share of a lot of the net long that is dust, not a position (1 %).
pub const DUST_SHARE: Decimal = Decimal::from_parts(1, 0, 0, false, 2);

/// How much of the net long is dust, not a position: [`DUST_SHARE`] of a lot (a fee taken from the
/// coins bought), or, at `price`, what is worth less than `min_notional` (the strategy writes off a
/// remainder no sell of which the venue would take), whichever is more.
pub fn dust(lot: Decimal, min_notional: Decimal, price: Option<Decimal>) -> Decimal {
    let share = lot.saturating_mul(DUST_SHARE);
    let unsellable = price
        .filter(|p| *p > Decimal::ZERO)
        .and_then(|p| min_notional.checked_div(p))
        .unwrap_or(Decimal::ZERO);
    share.max(unsellable)
}

/// Positions the engine holds: one per open buy order, plus the lots (rounded up) of its net long
/// beyond the `dust` (see [`dust`]).
pub fn positions(position: Decimal, open: OpenQuantities, lot: Decimal, dust: Decimal) -> u64 {
    let counted = position.saturating_sub(dust);
    let lots = if counted > Decimal::ZERO && lot > Decimal::ZERO {
        counted
            .checked_div(lot)
            .and_then(|n| n.ceil().to_u64())
            .unwrap_or(u64::MAX)
    } else {
        0
    };
    lots.saturating_add(open.buy_orders as u64)
}

/// Checks a new buy against `[risk] max_positions`; sells never open a position.
///
/// # Errors
/// A [`Rejection`] naming the limit and the count.
pub fn check_positions(
    side: Side,
    position: Decimal,
    open: OpenQuantities,
    lot: Decimal,
    dust: Decimal,
    max_positions: u64,
) -> Result<(), Rejection> {
    let held = positions(position, open, lot, dust);
    if side == Side::Buy && held >= max_positions {
        return Err(Rejection {
            field: "side",
            message: format!(
                "{held} positions already (net long {position} in lots of {lot}, {} open buys) at [risk] max_positions {max_positions}",
                open.buy_orders
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`positions`] with the dust of fees alone (1 % of a lot).
    fn lots(position: Decimal, open: OpenQuantities, lot: Decimal) -> u64 {
        positions(position, open, lot, lot * DUST_SHARE)
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn open(buy: &str, sell: &str) -> OpenQuantities {
        OpenQuantities {
            buy: d(buy),
            sell: d(sell),
            buy_orders: usize::from(!d(buy).is_zero()),
        }
    }

    #[test]
    fn positions_are_open_buys_plus_lots_of_the_long() {
        let two_bids = OpenQuantities {
            buy: d("1000"),
            buy_orders: 2,
            ..OpenQuantities::default()
        };
        assert_eq!(lots(d("0"), two_bids, d("500")), 2);
        // 600 long in lots of 500: two lots (one partly filled) plus two bids.
        assert_eq!(lots(d("600"), two_bids, d("500")), 4);
        assert_eq!(lots(d("-600"), two_bids, d("500")), 2);
        // Dust, what fees in the coins bought leave unsold (up to 1 % of a lot), is no position,
        // alone or beside a lot; more than that is part of one.
        assert_eq!(lots(d("0.0766"), two_bids, d("500")), 2);
        assert_eq!(lots(d("5"), two_bids, d("500")), 2);
        assert_eq!(lots(d("504.5"), two_bids, d("500")), 3);
        assert_eq!(lots(d("5.1"), two_bids, d("500")), 3);
        let e = check_positions(Side::Buy, d("500"), two_bids, d("500"), d("5"), 3).unwrap_err();
        assert!(e.message.contains("3 positions already"), "{e}");
        check_positions(Side::Sell, d("500"), two_bids, d("500"), d("5"), 3).unwrap();
        check_positions(Side::Buy, d("0"), two_bids, d("500"), d("5"), 3).unwrap();
    }

    #[test]
    fn a_buy_over_the_limit_is_refused_with_the_figures() {
        // 1000 long plus 500 bid resting plus 600 more at 1.0 = 2100 > 2000.
        let e = check(
            Side::Buy,
            d("600"),
            d("1.0"),
            d("1000"),
            open("500", "0"),
            d("2000"),
        )
        .unwrap_err();
        assert_eq!(e.field, "quantity");
        assert!(e.message.contains("max_position_notional 2000"), "{e}");
        assert!(e.message.contains("open buys 500"), "{e}");
        check(
            Side::Buy,
            d("500"),
            d("1.0"),
            d("1000"),
            open("500", "0"),
            d("2000"),
        )
        .unwrap();
    }

    /// Both limits of `[risk]` together: positions first (a buy past max_positions is refused for
    /// that, whatever its exposure), then the exposure at the price given; without a price (a
    /// market order on an empty side) only the positions are checked.
    #[test]
    fn position_limits_check_positions_then_exposure() {
        let limits = PositionLimits {
            max_notional: d("150"),
            max_positions: 2,
            lot: d("500"),
            min_notional: d("5"),
        };
        let two_buys = OpenQuantities {
            buy: d("1000"),
            sell: Decimal::ZERO,
            buy_orders: 2,
        };
        let r = limits
            .check(Side::Buy, d("500"), Some(d("0.2")), Decimal::ZERO, two_buys)
            .unwrap_err();
        assert_eq!(r.field, "side");
        assert!(r.message.contains("at [risk] max_positions 2"), "{r}");
        let none = OpenQuantities::default();
        let r = limits
            .check(Side::Buy, d("1000"), Some(d("0.2")), Decimal::ZERO, none)
            .unwrap_err();
        assert_eq!(r.field, "quantity");
        assert!(
            r.message
                .ends_with("above [risk] max_position_notional 150"),
            "{r}"
        );
        assert_eq!(
            limits.check(Side::Buy, d("1000"), None, Decimal::ZERO, none),
            Ok(())
        );
        assert_eq!(
            limits.check(Side::Buy, d("500"), Some(d("0.2")), Decimal::ZERO, none),
            Ok(())
        );
        // A remainder worth less than the minimum notional at the price (under 25 at 0.2) is
        // dust, however much of a lot it is: with two open buys a third goes beside 24.9 held,
        // not beside 25.1.
        let two = OpenQuantities {
            buy: d("1000"),
            sell: Decimal::ZERO,
            buy_orders: 2,
        };
        let limits = PositionLimits {
            max_notional: d("3000"),
            max_positions: 3,
            ..limits
        };
        let buy = |held: &str| limits.check(Side::Buy, d("500"), Some(d("0.2")), d(held), two);
        assert_eq!(buy("24.9"), Ok(()));
        assert_eq!(buy("25.1").unwrap_err().field, "side");
        assert_eq!(dust(d("500"), d("5"), Some(d("0.2"))), d("25"));
        assert_eq!(dust(d("500"), d("5"), Some(d("2"))), d("5"));
        assert_eq!(dust(d("500"), d("5"), None), d("5"));
        assert_eq!(dust(d("500"), d("5"), Some(Decimal::ZERO)), d("5"));
    }

    /// A limit order is valued at its price (the touch is not asked for), a market order at the
    /// touch; without one the exposure is left to validation.
    #[test]
    fn an_order_is_valued_at_its_price_or_the_touch() {
        use common::message::OrderType;
        use common::Dec;
        let limits = PositionLimits {
            max_notional: d("100"),
            max_positions: 3,
            lot: d("500"),
            min_notional: d("5"),
        };
        let order = |price: Option<&str>| PlaceOrder {
            command_id: "c".into(),
            ts_ns: 0,
            client_order_id: "o".into(),
            symbol: "POLUSDT".into(),
            side: Side::Buy,
            order_type: if price.is_some() {
                OrderType::Limit
            } else {
                OrderType::Market
            },
            time_in_force: None,
            quantity: Dec(d("500")),
            price: price.map(|p| Dec(d(p))),
        };
        let none = OpenQuantities::default();
        let check = |o: &PlaceOrder, touch: Option<&str>| {
            limits.check_order(o, || touch.map(d), Decimal::ZERO, none)
        };
        let limit = order(Some("0.2")); // 100: at the limit
        assert_eq!(
            limits.check_order(&limit, || unreachable!(), Decimal::ZERO, none),
            Ok(())
        );
        let market = order(None);
        assert_eq!(check(&market, Some("0.2")), Ok(()));
        assert_eq!(
            check(&market, Some("0.2001")).unwrap_err().field,
            "quantity"
        );
        assert_eq!(check(&market, None), Ok(()));
    }

    #[test]
    fn a_sell_that_reduces_the_position_always_goes() {
        // The price rose: the long alone is over the limit, yet selling it must stay possible.
        check(
            Side::Sell,
            d("3000"),
            d("1.0"),
            d("3000"),
            open("0", "0"),
            d("2000"),
        )
        .unwrap();
        // Selling more than the position opens a short larger than the long was: refused.
        assert!(check(
            Side::Sell,
            d("7000"),
            d("1.0"),
            d("3000"),
            open("0", "0"),
            d("2000")
        )
        .is_err());
    }

    /// Long-only spot: a sell that, with the open sells, would sell more than the net position
    /// held is refused naming the figures, whatever its notional: a SELL of 1000 holding 500, any
    /// sell from flat, a sell beside an open sell that already takes the position. A sell of what
    /// is held, or of up to the dust of fees (1 % of a lot) more, goes; buys are not concerned.
    #[test]
    fn a_sell_of_more_than_is_held_is_refused() {
        let limits = PositionLimits {
            max_notional: d("100"),
            max_positions: 1,
            lot: d("10"),
            min_notional: d("1"),
        };
        let none = OpenQuantities::default();
        let sell = |qty: &str, position: &str, open: OpenQuantities| {
            limits.check(Side::Sell, d(qty), Some(d("1.0")), d(position), open)
        };
        let e = sell("1000", "500", none).unwrap_err();
        assert_eq!(e.field, "quantity");
        assert!(
            e.message.contains("SELL 1000 with open sells 0")
                && e.message.contains("net position held 500"),
            "{e}"
        );
        let e = sell("50", "0", none).unwrap_err();
        assert!(e.message.contains("net position held 0"), "{e}");
        // Without a price (a market sell on an empty book side) too.
        assert!(limits
            .check(Side::Sell, d("50"), None, Decimal::ZERO, none)
            .is_err());
        // 300 already on sale of 500 held: 250 more is 50 too many, 200 is all of it.
        let e = sell("250", "500", open("0", "300")).unwrap_err();
        assert!(e.message.contains("open sells 300"), "{e}");
        assert_eq!(sell("200", "500", open("0", "300")), Ok(()));
        assert_eq!(sell("500", "500", none), Ok(()));
        // The dust of fees: 0.1 (1 % of a lot of 10) over what is held goes, more does not.
        assert_eq!(sell("500", "499.9", none), Ok(()));
        assert!(sell("500", "499.8", none).is_err());
        // Buys are left to the other limits.
        assert_eq!(
            limits.check(Side::Buy, d("50"), Some(d("1.0")), Decimal::ZERO, none),
            Ok(())
        );
        assert_eq!(
            check_sell(Side::Sell, Decimal::MAX, d("1"), open("0", "1"), d("0"))
                .map_err(|e| e.field),
            Err("quantity")
        );
    }

    /// Figures whose exposure is past the largest decimal are refused naming `quantity` and the
    /// figures, never a panic: a huge quantity at a huge price, a huge quantity added to huge open
    /// orders, and a long past the largest decimal.
    #[test]
    fn an_exposure_too_large_to_compute_is_refused_with_the_figures() {
        let max = Decimal::MAX.to_string();
        for (side, qty, price, position, open_buy, open_sell) in [
            (
                Side::Buy,
                "1000000000000000000000",
                "1000000000",
                "0",
                "0",
                "0",
            ),
            (Side::Buy, max.as_str(), "0.2", "0", "1", "0"),
            (Side::Sell, max.as_str(), "0.2", "-1", "0", "1"),
            (Side::Buy, "1", "0.2", max.as_str(), "1", "0"),
        ] {
            let e = check(
                side,
                d(qty),
                d(price),
                d(position),
                open(open_buy, open_sell),
                d("3000"),
            )
            .unwrap_err();
            assert_eq!(e.field, "quantity", "{e}");
            assert!(e.message.contains("too large to compute"), "{e}");
            assert!(
                e.message
                    .contains(&format!("{} {qty} at {price}", side.as_str())),
                "{e}"
            );
        }
        assert_eq!(lots(d(&max), open("0", "0"), Decimal::new(1, 28)), u64::MAX);
        assert_eq!(lots(-Decimal::MAX, open("0", "0"), d("500")), 0);
    }

    #[test]
    fn only_open_orders_count_with_what_is_left_of_them() {
        use common::message::{OrderStatus, OrderType};
        use common::Dec;
        let order = |side, qty: &str, filled: &str, status| OrderInfo {
            client_order_id: String::new(),
            exchange_order_id: String::new(),
            symbol: "POLUSDT".into(),
            side,
            order_type: OrderType::Limit,
            time_in_force: None,
            quantity: Dec(d(qty)),
            price: None,
            filled_quantity: Dec(d(filled)),
            quote_filled: Dec(Decimal::ZERO),
            status,
            created_ts_ns: 0,
            updated_ts_ns: 0,
        };
        let orders = [
            order(Side::Buy, "100", "40", OrderStatus::PartiallyFilled),
            order(Side::Buy, "100", "0", OrderStatus::Canceled),
            order(Side::Sell, "30", "0", OrderStatus::New),
        ];
        let q = OpenQuantities::of(&orders);
        assert_eq!((q.buy, q.sell, q.buy_orders), (d("60"), d("30"), 1));
        // Open orders past the largest decimal together (taken over from the venue) stay at it.
        let max = Decimal::MAX.to_string();
        let huge = [
            order(Side::Buy, &max, "0", OrderStatus::New),
            order(Side::Buy, &max, "0", OrderStatus::New),
        ];
        let q = OpenQuantities::of(&huge);
        assert_eq!((q.buy, q.buy_orders), (Decimal::MAX, 2));
    }
}
