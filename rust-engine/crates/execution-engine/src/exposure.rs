//! The per-symbol exposure limit (`[risk] max_position_notional`): the position the engine would
//! hold if every open order and the new one filled, valued at the new order's price, may not pass
//! the limit, unless the new order lowers that worst case (a sell that reduces a long).

use common::message::Side;
use rust_decimal::Decimal;

use crate::order::Order;
use crate::validate::Rejection;

/// Remaining quantities of the open orders, per side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenQuantities {
    /// Open buy quantity not yet filled.
    pub buy: Decimal,
    /// Open sell quantity not yet filled.
    pub sell: Decimal,
}

impl OpenQuantities {
    /// Sums what is left of each open order in `orders`.
    pub fn of<'a>(orders: impl IntoIterator<Item = &'a Order>) -> Self {
        let mut q = OpenQuantities::default();
        for o in orders.into_iter().filter(|o| o.is_open()) {
            let left = (o.quantity.0 - o.filled.0).max(Decimal::ZERO);
            match o.side {
                Side::Buy => q.buy += left,
                Side::Sell => q.sell += left,
            }
        }
        q
    }

    /// The largest absolute position reachable if every open order fills, from `position`.
    fn worst(&self, position: Decimal) -> Decimal {
        (position + self.buy)
            .abs()
            .max((position - self.sell).abs())
    }
}

/// Checks a new order of `quantity` on `side` at `price` against `max_notional`, given the net
/// `position` and the `open` orders.
///
/// # Errors
/// A [`Rejection`] of `quantity` naming the limit and the figures.
pub fn check(
    side: Side,
    quantity: Decimal,
    price: Decimal,
    position: Decimal,
    open: OpenQuantities,
    max_notional: Decimal,
) -> Result<(), Rejection> {
    let before = open.worst(position);
    let mut after = open;
    match side {
        Side::Buy => after.buy += quantity,
        Side::Sell => after.sell += quantity,
    }
    let worst = after.worst(position);
    let notional = worst * price;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn open(buy: &str, sell: &str) -> OpenQuantities {
        OpenQuantities {
            buy: d(buy),
            sell: d(sell),
        }
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

    #[test]
    fn only_open_orders_count_with_what_is_left_of_them() {
        use common::message::{OrderStatus, OrderType};
        use common::Dec;
        let order = |side, qty: &str, filled: &str, status| Order {
            command_id: String::new(),
            client_order_id: String::new(),
            exchange_order_id: String::new(),
            symbol: "POLUSDT".into(),
            side,
            order_type: OrderType::Limit,
            time_in_force: None,
            quantity: Dec(d(qty)),
            price: None,
            filled: Dec(d(filled)),
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
        assert_eq!(OpenQuantities::of(&orders), open("60", "30"));
    }
}
