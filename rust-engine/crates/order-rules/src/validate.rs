//! Every `PlaceOrder` passes these checks before anything is sent or filled: known symbol, a valid
//! client order id, positive quantity on the step size and within `LOT_SIZE` (a MARKET order also
//! within `MARKET_LOT_SIZE`), price on the tick size and within `PRICE_FILTER`, notional within the
//! venue's `NOTIONAL` bounds (each as it applies to MARKET orders) and the configured maximum, and
//! room for one more open order.

use common::message::{OrderType, PlaceOrder, TimeInForce};
use common::Dec;
use rust_decimal::Decimal;

use crate::filters::SymbolFilters;

/// Limits from `[risk]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest notional of one order.
    pub max_order_notional: Dec,
    /// Most open orders at once.
    pub max_open_orders: usize,
}

/// A refused order: the field and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Rejection {
    /// The offending field.
    pub field: &'static str,
    /// The rule, with the values.
    pub message: String,
}

fn reject(field: &'static str, message: String) -> Rejection {
    Rejection { field, message }
}

/// True for Binance's `^[a-zA-Z0-9-_]{1,36}$`.
pub fn valid_client_order_id(id: &str) -> bool {
    (1..=36).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A quantity rule (`LOT_SIZE`, `MARKET_LOT_SIZE`): a multiple of `step`, at least `min`, at most
/// `max` (a step or maximum of 0 checks nothing).
fn lot_size(q: Dec, step: Dec, min: Dec, max: Dec, filter: &str) -> Result<(), Rejection> {
    if !q.is_multiple_of(step) {
        return Err(reject(
            "quantity",
            format!("quantity {q} is not a multiple of step size {step} ({filter})"),
        ));
    }
    if q.0 < min.0 || (!max.0.is_zero() && q.0 > max.0) {
        return Err(reject(
            "quantity",
            format!("quantity {q} outside [{min}, {max}] ({filter})"),
        ));
    }
    Ok(())
}

/// The largest quantity one MARKET order may have when its notional is valued at `price`: the
/// smallest of `LOT_SIZE`'s and `MARKET_LOT_SIZE`'s maxima, the venue's `NOTIONAL` maximum when it
/// holds MARKET orders, and `[risk] max_order_notional`, rounded down to the step sizes. `None` when
/// nothing bounds it (no maximum, and no price to value a notional at).
pub fn largest_market_quantity(
    filters: &SymbolFilters,
    limits: &Limits,
    price: Option<Decimal>,
) -> Option<Decimal> {
    let price = price.filter(|p| *p > Decimal::ZERO);
    let per_notional = |n: Decimal| price.and_then(|p| n.checked_div(p));
    let market_lot = filters.market_lot.as_ref();
    let bounds = [
        Some(filters.max_qty.0),
        market_lot.map(|l| l.max_qty.0),
        per_notional(limits.max_order_notional.0),
        filters
            .market_notional
            .max
            .then(|| per_notional(filters.max_notional.0))
            .flatten(),
    ];
    let largest = bounds
        .into_iter()
        .flatten()
        .filter(|b| !b.is_zero())
        .min()?;
    let steps = [
        filters.step_size.0,
        market_lot.map_or(Decimal::ZERO, |l| l.step_size.0),
    ];
    let mut q = largest;
    for step in steps.into_iter().filter(|s| !s.is_zero()) {
        q -= q % step;
    }
    Some(q)
}

/// Checks an order. `reference_price` is the price a market order is expected to fill at (the
/// touch on its side), used for its notional.
///
/// # Errors
/// The first [`Rejection`] found.
pub fn check(
    cmd: &PlaceOrder,
    filters: &SymbolFilters,
    limits: &Limits,
    open_orders: usize,
    reference_price: Option<Dec>,
) -> Result<(), Rejection> {
    if cmd.symbol != filters.symbol {
        return Err(reject(
            "symbol",
            format!(
                "unknown symbol {}; this engine trades {}",
                cmd.symbol, filters.symbol
            ),
        ));
    }
    if !valid_client_order_id(&cmd.client_order_id) {
        return Err(reject(
            "client_order_id",
            format!(
                "{:?} must match ^[a-zA-Z0-9-_]{{1,36}}$",
                cmd.client_order_id
            ),
        ));
    }
    let q = cmd.quantity;
    if !q.is_positive() {
        return Err(reject("quantity", format!("quantity {q} must be positive")));
    }
    lot_size(
        q,
        filters.step_size,
        filters.min_qty,
        filters.max_qty,
        "LOT_SIZE",
    )?;
    let market = cmd.order_type == OrderType::Market;
    if let Some(lot) = filters.market_lot.as_ref().filter(|_| market) {
        lot_size(
            q,
            lot.step_size,
            lot.min_qty,
            lot.max_qty,
            "MARKET_LOT_SIZE",
        )?;
    }
    let price = match (cmd.order_type, cmd.price) {
        (OrderType::Market, None) => {
            if cmd.time_in_force.is_some() {
                return Err(reject(
                    "time_in_force",
                    "a MARKET order takes no time_in_force".into(),
                ));
            }
            reference_price
                .ok_or_else(|| reject("symbol", "no price on the book for a MARKET order".into()))?
        }
        (OrderType::Market, Some(_)) => {
            return Err(reject("price", "a MARKET order takes no price".into()));
        }
        (_, None) => {
            return Err(reject(
                "price",
                format!("a {:?} order needs a price", cmd.order_type),
            ))
        }
        (t, Some(p)) => {
            if t == OrderType::Limit && cmd.time_in_force.is_none() {
                return Err(reject(
                    "time_in_force",
                    "a LIMIT order needs GTC, IOC or FOK".into(),
                ));
            }
            if t == OrderType::LimitMaker
                && cmd.time_in_force.is_some_and(|f| f != TimeInForce::Gtc)
            {
                return Err(reject(
                    "time_in_force",
                    "a LIMIT_MAKER order rests: GTC or nil".into(),
                ));
            }
            if !p.is_positive() || p.0 < filters.min_price.0 {
                return Err(reject(
                    "price",
                    format!("price {p} must be at least {}", filters.min_price),
                ));
            }
            if !filters.max_price.0.is_zero() && p.0 > filters.max_price.0 {
                return Err(reject(
                    "price",
                    format!(
                        "price {p} above the maximum {} (PRICE_FILTER)",
                        filters.max_price
                    ),
                ));
            }
            if !p.is_multiple_of(filters.tick_size) {
                return Err(reject(
                    "price",
                    format!(
                        "price {p} is not a multiple of tick size {}",
                        filters.tick_size
                    ),
                ));
            }
            p
        }
    };
    let notional: Decimal = q.0.checked_mul(price.0).ok_or_else(|| {
        reject(
            "quantity",
            format!("notional of quantity {q} at price {price} is too large to compute"),
        )
    })?;
    if notional < filters.min_notional.0 && (!market || filters.market_notional.min) {
        return Err(reject(
            "quantity",
            format!(
                "notional {} below the minimum {} (NOTIONAL)",
                notional.normalize(),
                filters.min_notional
            ),
        ));
    }
    if !filters.max_notional.0.is_zero()
        && notional > filters.max_notional.0
        && (!market || filters.market_notional.max)
    {
        return Err(reject(
            "quantity",
            format!(
                "notional {} above the maximum {} (NOTIONAL)",
                notional.normalize(),
                filters.max_notional
            ),
        ));
    }
    if notional > limits.max_order_notional.0 {
        return Err(reject(
            "quantity",
            format!(
                "notional {} above [risk] max_order_notional {}",
                notional.normalize(),
                limits.max_order_notional
            ),
        ));
    }
    if open_orders >= limits.max_open_orders {
        return Err(reject(
            "client_order_id",
            format!(
                "{open_orders} open orders already ([risk] max_open_orders = {})",
                limits.max_open_orders
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::message::Side;

    fn d(s: &str) -> Dec {
        s.parse().unwrap()
    }

    use crate::fixtures::polusdt_filters as filters;

    fn order(t: OrderType, qty: &str, price: Option<&str>) -> PlaceOrder {
        PlaceOrder {
            command_id: "c".into(),
            ts_ns: 0,
            client_order_id: "fc-1".into(),
            symbol: "POLUSDT".into(),
            side: Side::Buy,
            order_type: t,
            time_in_force: if t == OrderType::Limit {
                Some(TimeInForce::Gtc)
            } else {
                None
            },
            quantity: d(qty),
            price: price.map(d),
        }
    }

    #[test]
    fn table() {
        let limits = Limits {
            max_order_notional: d("100"),
            max_open_orders: 2,
        };
        struct Case {
            cmd: PlaceOrder,
            open: usize,
            field: Option<&'static str>,
        }
        let mut bad_symbol = order(OrderType::Limit, "100", Some("0.2"));
        bad_symbol.symbol = "BTCUSDT".into();
        let mut bad_id = order(OrderType::Limit, "100", Some("0.2"));
        bad_id.client_order_id = "has.dot".into();
        let mut no_tif = order(OrderType::Limit, "100", Some("0.2"));
        no_tif.time_in_force = None;
        let cases = [
            Case {
                cmd: order(OrderType::Limit, "100", Some("0.2")),
                open: 0,
                field: None,
            },
            Case {
                cmd: order(OrderType::Market, "100", None),
                open: 0,
                field: None,
            },
            Case {
                cmd: bad_symbol,
                open: 0,
                field: Some("symbol"),
            },
            Case {
                cmd: bad_id,
                open: 0,
                field: Some("client_order_id"),
            },
            Case {
                cmd: no_tif,
                open: 0,
                field: Some("time_in_force"),
            },
            Case {
                cmd: order(OrderType::Limit, "0", Some("0.2")),
                open: 0,
                field: Some("quantity"),
            },
            Case {
                cmd: order(OrderType::Limit, "100.05", Some("0.2")),
                open: 0,
                field: Some("quantity"),
            },
            Case {
                cmd: order(OrderType::Limit, "100", Some("0.20005")),
                open: 0,
                field: Some("price"),
            },
            Case {
                cmd: order(OrderType::Limit, "10", Some("0.2")),
                open: 0,
                field: Some("quantity"),
            },
            Case {
                cmd: order(OrderType::Limit, "1000", Some("0.2")),
                open: 0,
                field: Some("quantity"),
            },
            Case {
                cmd: order(OrderType::Market, "100", Some("0.2")),
                open: 0,
                field: Some("price"),
            },
            Case {
                cmd: order(OrderType::LimitMaker, "100", None),
                open: 0,
                field: Some("price"),
            },
            Case {
                cmd: order(OrderType::Limit, "100", Some("0.2")),
                open: 2,
                field: Some("client_order_id"),
            },
        ];
        for (i, c) in cases.iter().enumerate() {
            let r = check(&c.cmd, &filters(), &limits, c.open, Some(d("0.2")));
            assert_eq!(
                r.as_ref().err().map(|e| e.field),
                c.field,
                "case {i}: {r:?}"
            );
        }
    }

    /// `max_open_orders` refuses only the order that would pass the limit: with one slot left
    /// the order goes, with none it is refused naming `client_order_id`.
    #[test]
    fn the_last_open_order_slot_can_be_used() {
        let limits = Limits {
            max_order_notional: d("100"),
            max_open_orders: 3,
        };
        let cmd = order(OrderType::Limit, "100", Some("0.2"));
        check(&cmd, &filters(), &limits, 2, None).unwrap();
        let e = check(&cmd, &filters(), &limits, 3, None).unwrap_err();
        assert_eq!(e.field, "client_order_id", "{e}");
    }

    /// The notional bounds are inclusive: exactly the venue's minimum (`NOTIONAL`) and exactly
    /// `[risk] max_order_notional` are accepted; just outside either is refused.
    #[test]
    fn notional_bounds_are_inclusive() {
        let limits = Limits {
            max_order_notional: d("100"),
            max_open_orders: 2,
        };
        let f = filters();
        // 25 × 0.2 = 5 = min_notional; 500 × 0.2 = 100 = max_order_notional.
        check(
            &order(OrderType::Limit, "25", Some("0.2")),
            &f,
            &limits,
            0,
            None,
        )
        .unwrap();
        check(
            &order(OrderType::Limit, "500", Some("0.2")),
            &f,
            &limits,
            0,
            None,
        )
        .unwrap();
        let below = check(
            &order(OrderType::Limit, "24.9", Some("0.2")),
            &f,
            &limits,
            0,
            None,
        );
        assert!(
            below
                .as_ref()
                .is_err_and(|e| e.message.contains("NOTIONAL")),
            "{below:?}"
        );
        let above = check(
            &order(OrderType::Limit, "500.1", Some("0.2")),
            &f,
            &limits,
            0,
            None,
        );
        assert!(
            above
                .as_ref()
                .is_err_and(|e| e.message.contains("max_order_notional")),
            "{above:?}"
        );
    }

    /// `LOT_SIZE` bounds the quantity itself, whatever the notional: above `maxQty` or below
    /// `minQty` is refused naming `quantity` and the filter, even when the notional is fine.
    #[test]
    fn quantity_outside_lot_size_is_refused_even_with_a_fine_notional() {
        let limits = Limits {
            max_order_notional: d("100"),
            max_open_orders: 2,
        };
        let mut f = filters();
        f.max_qty = d("500");
        f.min_qty = d("200");
        // 600 × 0.01 = 6 and 100 × 0.06 = 6: inside [5, 100], outside [200, 500].
        for (qty, price) in [("600", "0.01"), ("100", "0.06")] {
            let e = check(
                &order(OrderType::Limit, qty, Some(price)),
                &f,
                &limits,
                0,
                None,
            )
            .unwrap_err();
            assert_eq!(e.field, "quantity", "{qty}: {e}");
            assert!(e.message.contains("LOT_SIZE"), "{qty}: {e}");
        }
        check(
            &order(OrderType::Limit, "500", Some("0.01")),
            &f,
            &limits,
            0,
            None,
        )
        .unwrap();
    }

    /// Time in force per order type: a MARKET order takes none, a LIMIT_MAKER order only GTC
    /// (or none); both refusals name `time_in_force`.
    #[test]
    fn time_in_force_per_order_type() {
        let limits = Limits {
            max_order_notional: d("100"),
            max_open_orders: 2,
        };
        let mut market = order(OrderType::Market, "100", None);
        market.time_in_force = Some(TimeInForce::Ioc);
        let e = check(&market, &filters(), &limits, 0, Some(d("0.2"))).unwrap_err();
        assert_eq!(e.field, "time_in_force", "{e}");
        for (tif, ok) in [
            (None, true),
            (Some(TimeInForce::Gtc), true),
            (Some(TimeInForce::Ioc), false),
            (Some(TimeInForce::Fok), false),
        ] {
            let mut maker = order(OrderType::LimitMaker, "100", Some("0.2"));
            maker.time_in_force = tif;
            let r = check(&maker, &filters(), &limits, 0, None);
            assert_eq!(
                r.as_ref().err().map(|e| e.field),
                (!ok).then_some("time_in_force"),
                "{tif:?}: {r:?}"
            );
        }
    }

    /// A quantity and price whose product is past the largest decimal (no `LOT_SIZE` maximum to
    /// stop it first) are refused naming `quantity` and both figures, never a panic.
    #[test]
    fn a_notional_too_large_to_compute_is_refused() {
        let limits = Limits {
            max_order_notional: d("1000"),
            max_open_orders: 2,
        };
        let mut f = filters();
        f.max_qty = d("0");
        let e = check(
            &order(
                OrderType::Limit,
                "1000000000000000000000",
                Some("1000000000"),
            ),
            &f,
            &limits,
            0,
            None,
        )
        .unwrap_err();
        assert_eq!(e.field, "quantity", "{e}");
        assert_eq!(
            e.message,
            "notional of quantity 1000000000000000000000 at price 1000000000 is too large to compute"
        );
        let e = check(
            &order(OrderType::Market, "10000000000000000000000000000", None),
            &f,
            &limits,
            0,
            Some(d("10")),
        )
        .unwrap_err();
        assert_eq!(e.field, "quantity", "{e}");
        assert!(e.message.contains("too large to compute"), "{e}");
    }

    /// MARKET_LOT_SIZE holds MARKET orders only: a MARKET order past its maximum or off its step
    /// is refused naming `quantity` and the filter, a LIMIT order of that size is not; a step of 0
    /// checks nothing.
    #[test]
    fn market_lot_size_holds_market_orders_only() {
        let limits = Limits {
            max_order_notional: d("1000"),
            max_open_orders: 2,
        };
        let mut f = filters();
        f.market_lot = Some(crate::MarketLot {
            min_qty: d("0"),
            max_qty: d("300"),
            step_size: d("0"),
        });
        let e = check(
            &order(OrderType::Market, "300.1", None),
            &f,
            &limits,
            0,
            Some(d("0.2")),
        )
        .unwrap_err();
        assert_eq!(e.field, "quantity", "{e}");
        assert!(e.message.contains("MARKET_LOT_SIZE"), "{e}");
        check(
            &order(OrderType::Market, "300", None),
            &f,
            &limits,
            0,
            Some(d("0.2")),
        )
        .unwrap();
        check(
            &order(OrderType::Limit, "300.1", Some("0.2")),
            &f,
            &limits,
            0,
            None,
        )
        .unwrap();
        f.market_lot.as_mut().unwrap().step_size = d("1");
        let e = check(
            &order(OrderType::Market, "100.5", None),
            &f,
            &limits,
            0,
            Some(d("0.2")),
        )
        .unwrap_err();
        assert!(e.message.contains("MARKET_LOT_SIZE"), "{e}");
    }

    /// PRICE_FILTER's maximum and NOTIONAL's: a price or notional above them is refused naming
    /// the filter; a MARKET order is held to each notional bound only as its flag says.
    #[test]
    fn maximum_price_and_notional_and_their_market_flags() {
        let limits = Limits {
            max_order_notional: d("100000"),
            max_open_orders: 2,
        };
        let mut f = filters();
        f.max_price = d("1");
        let e = check(
            &order(OrderType::Limit, "100", Some("1.0001")),
            &f,
            &limits,
            0,
            None,
        )
        .unwrap_err();
        assert_eq!(e.field, "price", "{e}");
        assert!(e.message.contains("PRICE_FILTER"), "{e}");
        f.max_notional = d("50");
        let above = order(OrderType::Limit, "300", Some("0.2")); // 60
        let e = check(&above, &f, &limits, 0, None).unwrap_err();
        assert_eq!(e.field, "quantity", "{e}");
        assert!(e.message.contains("above the maximum 50 (NOTIONAL)"), "{e}");
        let big_market = order(OrderType::Market, "300", None);
        let small_market = order(OrderType::Market, "10", None); // 2, under the minimum 5
        for (flags, big_ok, small_ok) in [
            ((true, true), false, false),
            ((false, true), false, true),
            ((true, false), true, false),
        ] {
            f.market_notional = crate::MarketNotional {
                min: flags.0,
                max: flags.1,
            };
            for (cmd, ok) in [(&big_market, big_ok), (&small_market, small_ok)] {
                let r = check(cmd, &f, &limits, 0, Some(d("0.2")));
                assert_eq!(r.is_ok(), ok, "{flags:?} {}: {r:?}", cmd.quantity);
            }
        }
        // A LIMIT order is held to both whatever the flags say.
        let e = check(
            &order(OrderType::Limit, "10", Some("0.2")),
            &f,
            &limits,
            0,
            None,
        )
        .unwrap_err();
        assert!(e.message.contains("NOTIONAL"), "{e}");
    }

    /// The largest MARKET quantity: the tightest of the quantity maxima and of the notional maxima
    /// at the price, on the step; nothing bounds it without maxima and without a price.
    #[test]
    fn the_largest_market_quantity_is_the_tightest_bound_on_the_step() {
        let limits = Limits {
            max_order_notional: d("1000"),
            max_open_orders: 2,
        };
        let f = filters(); // LOT_SIZE max 9,000,000, step 0.1
        assert_eq!(
            largest_market_quantity(&f, &limits, Some(d("0.3").0)),
            Some(d("3333.3").0)
        );
        assert_eq!(
            largest_market_quantity(&f, &limits, None),
            Some(d("9000000").0)
        );
        let mut g = f.clone();
        g.market_lot = Some(crate::MarketLot {
            min_qty: d("0"),
            max_qty: d("2000.05"),
            step_size: d("0"),
        });
        assert_eq!(
            largest_market_quantity(&g, &limits, Some(d("0.3").0)),
            Some(d("2000").0)
        );
        g.max_notional = d("150");
        assert_eq!(
            largest_market_quantity(&g, &limits, Some(d("0.3").0)),
            Some(d("500").0)
        );
        g.market_notional.max = false;
        assert_eq!(
            largest_market_quantity(&g, &limits, Some(d("0.3").0)),
            Some(d("2000").0)
        );
        g.max_qty = d("0");
        g.market_lot = None;
        assert_eq!(largest_market_quantity(&g, &limits, None), None);
    }

    #[test]
    fn client_order_ids() {
        assert!(valid_client_order_id("fc-0123456789abcdef0123456789abcdef"));
        assert!(valid_client_order_id("A_b-9"));
        // Exactly 36 characters is the longest accepted.
        assert!(valid_client_order_id(&"x".repeat(36)));
        assert!(!valid_client_order_id(""));
        assert!(!valid_client_order_id(&"x".repeat(37)));
        assert!(!valid_client_order_id("a b"));
    }
}
