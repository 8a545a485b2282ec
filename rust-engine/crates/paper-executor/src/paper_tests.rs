//! Unit tests of the paper executor (beside it, in their own file).

use super::*;
use common::message::Aggressor;
use feed_handler::book::Level;
use feed_handler::fixed::parse_units;
use feed_handler::shared::BookState;

fn d(s: &str) -> Dec {
    s.parse().unwrap()
}

fn lv(p: &str, q: &str) -> Level {
    Level {
        price: parse_units(p).unwrap(),
        qty: parse_units(q).unwrap(),
    }
}

pub(crate) fn book() -> BookState {
    let mut st = BookState {
        synced: true,
        ..BookState::default()
    };
    st.book.reset(
        1,
        &[lv("0.1583", "100"), lv("0.1582", "300")],
        &[
            lv("0.1584", "100"),
            lv("0.1585", "200"),
            lv("0.1590", "1000"),
        ],
    );
    st
}

pub(crate) fn exec() -> PaperExecutor {
    exec_with_fees("0.001", "0.001")
}

/// A paper executor on the test filters with these maker and taker rates.
fn exec_with_fees(maker: &str, taker: &str) -> PaperExecutor {
    PaperExecutor::new(
        order_rules::fixtures::polusdt_filters(),
        Limits {
            max_order_notional: d("1000"),
            max_open_orders: 3,
        },
        Fees {
            maker: d(maker),
            taker: d(taker),
        },
        FillRule::TradeThrough,
    )
}

pub(crate) fn place(
    t: OrderType,
    side: Side,
    qty: &str,
    price: Option<&str>,
    tif: Option<TimeInForce>,
    id: &str,
) -> PlaceOrder {
    PlaceOrder {
        command_id: format!("cmd-{id}"),
        ts_ns: 0,
        client_order_id: id.into(),
        symbol: "POLUSDT".into(),
        side,
        order_type: t,
        time_in_force: tif,
        quantity: d(qty),
        price: price.map(d),
    }
}

/// A GTC limit buy of 100 at 0.1500, under the test book's touch: it rests.
pub(crate) fn resting_bid(id: &str) -> PlaceOrder {
    place(
        OrderType::Limit,
        Side::Buy,
        "100",
        Some("0.1500"),
        Some(TimeInForce::Gtc),
        id,
    )
}

fn fills(r: &[Response]) -> Vec<(String, String, OrderStatus)> {
    r.iter()
        .filter_map(|x| match x {
            Response::OrderExecution(e) => Some((
                e.last_price.to_string(),
                e.last_quantity.to_string(),
                e.status,
            )),
            _ => None,
        })
        .collect()
}

/// A market trade of POLUSDT at `price` (a taker sell).
pub(crate) fn trade(price: f64, quantity: f64) -> Trade {
    Trade {
        symbol: "POLUSDT".into(),
        exchange_ts_ns: 0,
        local_ts_ns: 0,
        trade_id: 1,
        price,
        quantity,
        aggressor: Aggressor::Sell,
    }
}

fn placed_status(r: &[Response]) -> OrderStatus {
    match &r[0] {
        Response::OrderPlaced(p) => p.status,
        other => panic!("{other:?}"),
    }
}

#[test]
fn market_buy_walks_the_book_with_taker_fees() {
    let mut x = exec();
    let r = x.place(
        &place(OrderType::Market, Side::Buy, "250", None, None, "a"),
        &book(),
        5,
    );
    assert_eq!(placed_status(&r), OrderStatus::Filled);
    assert_eq!(
        fills(&r),
        vec![
            ("0.1584".into(), "100".into(), OrderStatus::PartiallyFilled),
            ("0.1585".into(), "150".into(), OrderStatus::Filled)
        ]
    );
    let Response::OrderExecution(e) = &r[2] else {
        panic!()
    };
    // Binance spot takes a buy's commission from the coins bought.
    assert_eq!(
        (e.fee.to_string(), e.fee_asset.as_str()),
        ("0.15".into(), "POL")
    ); // 150 × 0.001
    assert_eq!(e.liquidity, Liquidity::Taker);
    assert_eq!(e.command_id.as_deref(), Some("cmd-a"));
}

/// With taker slippage every level a taker takes is that much worse, a buy's higher and a sell's
/// lower, rounded to 8 decimals; a maker fill keeps its own price.
#[test]
fn taker_slippage_worsens_each_level_taken() {
    let mut x = exec().with_taker_slippage_bps(d("10").0);
    let r = x.place(
        &place(OrderType::Market, Side::Buy, "250", None, None, "a"),
        &book(),
        5,
    );
    assert_eq!(
        fills(&r),
        vec![
            (
                "0.1585584".into(),
                "100".into(),
                OrderStatus::PartiallyFilled
            ),
            ("0.1586585".into(), "150".into(), OrderStatus::Filled)
        ]
    );
    let r = x.place(
        &place(OrderType::Market, Side::Sell, "100", None, None, "b"),
        &book(),
        6,
    );
    assert_eq!(
        fills(&r),
        vec![("0.1581417".into(), "100".into(), OrderStatus::Filled)]
    );
    x.place(&resting_bid("c"), &book(), 7);
    let trade = trade(0.1499, 100.0);
    assert_eq!(
        fills(&x.on_trade(&trade, 8)),
        vec![("0.15".into(), "100".into(), OrderStatus::Filled)]
    );
}

#[test]
fn market_order_larger_than_the_book_expires() {
    let mut x = exec();
    let mut st = book();
    st.book
        .reset(1, &[lv("0.1583", "100")], &[lv("0.1584", "100")]);
    let r = x.place(
        &place(OrderType::Market, Side::Buy, "150", None, None, "a"),
        &st,
        5,
    );
    assert_eq!(placed_status(&r), OrderStatus::Expired);
    assert_eq!(fills(&r).len(), 1);
    assert_eq!(x.open_count(), 0);
}

#[test]
fn limit_takes_then_rests_then_fills_on_trade_through() {
    let mut x = exec();
    let r = x.place(
        &place(
            OrderType::Limit,
            Side::Buy,
            "150",
            Some("0.1584"),
            Some(TimeInForce::Gtc),
            "a",
        ),
        &book(),
        5,
    );
    assert_eq!(placed_status(&r), OrderStatus::PartiallyFilled);
    assert_eq!(
        fills(&r),
        vec![("0.1584".into(), "100".into(), OrderStatus::PartiallyFilled)]
    );
    assert_eq!(x.open_count(), 1);
    // At the price: no fill under trade-through.
    assert!(x.on_trade(&trade(0.1584, 500.0), 6).is_empty());
    // Through the price, smaller than the remainder: partial maker fill at the limit price.
    let r = x.on_trade(&trade(0.1583, 20.0), 7);
    assert_eq!(
        fills(&r),
        vec![("0.1584".into(), "20".into(), OrderStatus::PartiallyFilled)]
    );
    let r = x.on_trade(&trade(0.1580, 500.0), 8);
    assert_eq!(
        fills(&r),
        vec![("0.1584".into(), "30".into(), OrderStatus::Filled)]
    );
    assert_eq!(x.open_count(), 0);
}

#[test]
fn ioc_fok_and_limit_maker() {
    let mut x = exec();
    let r = x.place(
        &place(
            OrderType::Limit,
            Side::Buy,
            "150",
            Some("0.1584"),
            Some(TimeInForce::Ioc),
            "a",
        ),
        &book(),
        5,
    );
    assert_eq!(placed_status(&r), OrderStatus::Expired);
    assert_eq!(fills(&r).len(), 1);
    let r = x.place(
        &place(
            OrderType::Limit,
            Side::Buy,
            "150",
            Some("0.1584"),
            Some(TimeInForce::Fok),
            "b",
        ),
        &book(),
        5,
    );
    assert_eq!(placed_status(&r), OrderStatus::Expired);
    assert!(fills(&r).is_empty());
    let r = x.place(
        &place(
            OrderType::LimitMaker,
            Side::Buy,
            "100",
            Some("0.1584"),
            None,
            "c",
        ),
        &book(),
        5,
    );
    assert!(matches!(&r[0], Response::Error(e) if e.code == ErrorCode::Venue));
    let r = x.place(
        &place(
            OrderType::LimitMaker,
            Side::Buy,
            "100",
            Some("0.1583"),
            None,
            "d",
        ),
        &book(),
        5,
    );
    assert_eq!(placed_status(&r), OrderStatus::New);
}

#[test]
fn duplicate_unknown_cancel_query_and_not_synced() {
    let mut x = exec();
    let o = place(
        OrderType::Limit,
        Side::Sell,
        "100",
        Some("0.1600"),
        Some(TimeInForce::Gtc),
        "a",
    );
    assert_eq!(placed_status(&x.place(&o, &book(), 1)), OrderStatus::New);
    let r = x.place(&o, &book(), 2);
    assert!(matches!(&r[0], Response::Error(e) if e.code == ErrorCode::DuplicateOrder));
    let q = QueryOrder {
        command_id: "q".into(),
        ts_ns: 0,
        symbol: "POLUSDT".into(),
        client_order_id: "a".into(),
    };
    assert!(
        matches!(x.query(&q, 3), Response::OrderStatus(s) if s.order.status == OrderStatus::New)
    );
    let c = CancelOrder {
        command_id: "c".into(),
        ts_ns: 0,
        symbol: "POLUSDT".into(),
        client_order_id: "a".into(),
    };
    assert!(matches!(&x.cancel(&c, 4)[0], Response::OrderCanceled(_)));
    assert!(matches!(&x.cancel(&c, 5)[0], Response::Error(e) if e.code == ErrorCode::UnknownOrder));
    let q2 = QueryOrder {
        client_order_id: "zzz".into(),
        ..q
    };
    assert!(matches!(x.query(&q2, 6), Response::Error(e) if e.code == ErrorCode::UnknownOrder));
    let mut st = book();
    st.synced = false;
    let r = x.place(
        &place(OrderType::Market, Side::Buy, "100", None, None, "b"),
        &st,
        7,
    );
    assert!(matches!(&r[0], Response::Error(e) if e.code == ErrorCode::NotSynced));
}

#[test]
fn balances_follow_fills_fees_and_open_orders() {
    let mut ex = exec().with_quote_balance(d("1000").0);
    let q = QueryBalances {
        command_id: "b".into(),
        ts_ns: 0,
    };
    let assets = |r: Response| match r {
        Response::Balances(b) => b
            .balances
            .into_iter()
            .map(|a| (a.asset, a.free.to_string(), a.locked.to_string()))
            .collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    // Market buy of 150: 100 at 0.1584 + 50 at 0.1585 = 23.765 quote; taker fee 0.15 POL, so
    // 149.85 POL held.
    ex.place(
        &place(OrderType::Market, Side::Buy, "150", None, None, "m"),
        &book(),
        1,
    );
    // A market sell of 49.8 at the bid 0.1583 = 7.88334 quote, less its fee in the quote asset
    // (0.00788334); 100.05 POL left.
    ex.place(
        &place(OrderType::Market, Side::Sell, "49.8", None, None, "s"),
        &book(),
        1,
    );
    // A resting bid of 100 at 0.1500 holds 15 quote; a resting ask of 50 at 0.1600 holds 50 base.
    ex.place(&resting_bid("bid"), &book(), 2);
    ex.place(
        &place(
            OrderType::Limit,
            Side::Sell,
            "50",
            Some("0.1600"),
            Some(TimeInForce::Gtc),
            "ask",
        ),
        &book(),
        3,
    );
    assert_eq!(
        assets(ex.balances(&q, 4)),
        [
            ("POL".to_owned(), "50.05".to_owned(), "50".to_owned()),
            (
                "USDT".to_owned(),
                "969.11045666".to_owned(),
                "15".to_owned()
            ),
        ]
    );
}

/// Fees follow the liquidity of each fill: the taker rate on what an order takes on arrival,
/// the maker rate on a resting order filled by a later trade (rates differ here so a swap shows).
#[test]
fn taker_and_maker_fills_use_their_own_fee_rates() {
    let mut x = exec_with_fees("0.001", "0.002");
    let r = x.place(
        &place(OrderType::Market, Side::Buy, "100", None, None, "t"),
        &book(),
        5,
    );
    let Response::OrderExecution(taker) = &r[1] else {
        panic!("{r:?}")
    };
    assert_eq!(taker.liquidity, Liquidity::Taker);
    assert_eq!((taker.fee, taker.fee_asset.as_str()), (d("0.2"), "POL")); // 100 × 0.002
    let r = x.place(
        &place(
            OrderType::Limit,
            Side::Buy,
            "100",
            Some("0.1583"),
            Some(TimeInForce::Gtc),
            "m",
        ),
        &book(),
        6,
    );
    assert_eq!(placed_status(&r), OrderStatus::New);
    let r = x.on_trade(&trade(0.1582, 100.0), 7);
    let [Response::OrderExecution(maker)] = r.as_slice() else {
        panic!("{r:?}")
    };
    assert_eq!(maker.liquidity, Liquidity::Maker);
    assert_eq!(maker.last_price, d("0.1583"));
    // 100 × 0.001 POL
    assert_eq!((maker.fee, maker.fee_asset.as_str()), (d("0.1"), "POL"));
    // A sell pays in the quote asset: taker at the bid, 0.1583 × 100 × 0.002.
    let r = x.place(
        &place(OrderType::Market, Side::Sell, "100", None, None, "s"),
        &book(),
        8,
    );
    let Response::OrderExecution(sell) = &r[1] else {
        panic!("{r:?}")
    };
    assert_eq!((sell.fee, sell.fee_asset.as_str()), (d("0.03166"), "USDT"));
}

/// A FOK order the book can fill exactly (to the last unit) fills in full at once; only a
/// shortfall expires it.
#[test]
fn fok_filled_exactly_by_the_book_fills() {
    let mut x = exec();
    // 100 at 0.1584 + 200 at 0.1585 = exactly 300 up to 0.1585.
    let r = x.place(
        &place(
            OrderType::Limit,
            Side::Buy,
            "300",
            Some("0.1585"),
            Some(TimeInForce::Fok),
            "f",
        ),
        &book(),
        5,
    );
    assert_eq!(placed_status(&r), OrderStatus::Filled);
    assert_eq!(
        fills(&r),
        vec![
            ("0.1584".into(), "100".into(), OrderStatus::PartiallyFilled),
            ("0.1585".into(), "200".into(), OrderStatus::Filled)
        ]
    );
}

/// A resting order filled by a market trade fills whole steps of `LOT_SIZE` only: a trade of
/// 20.05 (step 0.1) fills 20.
#[test]
fn a_trade_fill_is_rounded_down_to_the_step_size() {
    let mut x = exec();
    let r = x.place(
        &place(
            OrderType::Limit,
            Side::Buy,
            "150",
            Some("0.1583"),
            Some(TimeInForce::Gtc),
            "s",
        ),
        &book(),
        5,
    );
    assert_eq!(placed_status(&r), OrderStatus::New);
    let r = x.on_trade(&trade(0.1582, 20.05), 6);
    assert_eq!(
        fills(&r),
        vec![("0.1583".into(), "20".into(), OrderStatus::PartiallyFilled)]
    );
}

/// The fee cases shared with exchange-sim and the backtest's venue (`tests/fee_cases/cases.json`):
/// a buy's fee in the coins bought, a sell's in the quote asset, rounded down to 8 decimals, and
/// the account's totals moved by exactly that.
#[test]
fn fees_follow_the_shared_cases() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../tests/fee_cases/cases.json"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let s = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap().to_owned();
    let mut st = BookState {
        synced: true,
        ..BookState::default()
    };
    st.book.reset(
        1,
        &[lv(&s(&doc, "bid"), "1000")],
        &[lv(&s(&doc, "ask"), "1000")],
    );
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 4);
    for case in cases {
        let name = s(case, "name");
        let mut x = exec_with_fees(&s(&doc, "maker_rate"), &s(&doc, "taker_rate"))
            .with_quote_balance(d("1000").0);
        let side: Side = serde_json::from_value(case["side"].clone()).unwrap();
        let r = x.place(
            &place(OrderType::Market, side, &s(case, "qty"), None, None, "f"),
            &st,
            1,
        );
        let [Response::OrderPlaced(_), Response::OrderExecution(e)] = r.as_slice() else {
            panic!("{name}: {r:?}")
        };
        assert_eq!(
            (e.fee, e.fee_asset.clone()),
            (d(&s(case, "fee")), s(case, "fee_asset")),
            "{name}"
        );
        let Response::Balances(b) = x.balances(
            &QueryBalances {
                command_id: "b".into(),
                ts_ns: 0,
            },
            2,
        ) else {
            panic!()
        };
        let total = |asset: &str| {
            let a = b.balances.iter().find(|a| a.asset == asset).unwrap();
            a.free.0 + a.locked.0
        };
        assert_eq!(total("POL"), d(&s(case, "base_change")).0, "{name}");
        assert_eq!(
            total("USDT") - d("1000").0,
            d(&s(case, "quote_change")).0,
            "{name}"
        );
    }
}

/// Book units (1e-8) convert exactly, up to the largest a level can hold (`u64::MAX`, beyond
/// `i64`: it once came out negative).
#[test]
fn book_units_convert_exactly_up_to_u64_max() {
    assert_eq!(units_to_dec(1), "0.00000001".parse::<Decimal>().unwrap());
    assert_eq!(
        units_to_dec(2_150_000_000),
        "21.5".parse::<Decimal>().unwrap()
    );
    assert_eq!(
        units_to_dec(u64::MAX),
        "184467440737.09551615".parse::<Decimal>().unwrap()
    );
}

/// Bad market data never fills: a trade at a price of zero or less, or not a number, leaves a
/// resting buy alone; a book level of no quantity or no price is skipped by a market order (it
/// neither fills nor is the touch).
#[test]
fn bad_prices_and_empty_levels_fill_nothing() {
    let mut x = exec();
    x.place(&resting_bid("r"), &book(), 1);
    for price in [0.0, -1.0, f64::NAN, f64::NEG_INFINITY, 0.000_000_001] {
        assert!(x.on_trade(&trade(price, 100.0), 2).is_empty(), "{price}");
    }
    assert_eq!(x.open_count(), 1);
    // A book as any `Depth` may hand it over (the engine's own drops empty levels itself).
    struct Raw(Vec<super::Level>, Vec<super::Level>);
    impl Depth for Raw {
        fn synced(&self) -> bool {
            true
        }
        fn levels(&self, side: Side) -> impl Iterator<Item = super::Level> + Clone + '_ {
            match side {
                Side::Buy => self.0.iter(),
                Side::Sell => self.1.iter(),
            }
            .copied()
        }
    }
    let level = |p: &str, q: &str| super::Level {
        price: parse_units(p).unwrap(),
        qty: parse_units(q).unwrap(),
    };
    let raw = Raw(
        vec![level("0.1583", "100")],
        vec![
            level("0.1584", "0"),
            level("0", "50"),
            level("0.1585", "200"),
        ],
    );
    let r = x.place(
        &place(OrderType::Market, Side::Buy, "100", None, None, "m"),
        &raw,
        3,
    );
    assert_eq!(
        fills(&r),
        vec![("0.1585".into(), "100".into(), OrderStatus::Filled)]
    );
}

/// Slippage never fills a limit order past its price: a buy limited at 0.1585 takes the 0.1584 level
/// at 0.1585 (slipped 0.1585584, capped) and the 0.1585 level at 0.1585; a sell limited at 0.1583
/// gets 0.1583, not the slipped 0.1581417.
#[test]
fn slippage_stops_at_the_limit_price() {
    let mut x = exec().with_taker_slippage_bps(d("10").0);
    let r = x.place(
        &place(
            OrderType::Limit,
            Side::Buy,
            "250",
            Some("0.1585"),
            Some(TimeInForce::Ioc),
            "a",
        ),
        &book(),
        5,
    );
    assert_eq!(
        fills(&r),
        vec![
            ("0.1585".into(), "100".into(), OrderStatus::PartiallyFilled),
            ("0.1585".into(), "150".into(), OrderStatus::Filled)
        ]
    );
    let r = x.place(
        &place(
            OrderType::Limit,
            Side::Sell,
            "100",
            Some("0.1583"),
            Some(TimeInForce::Ioc),
            "b",
        ),
        &book(),
        6,
    );
    assert_eq!(
        fills(&r),
        vec![("0.1583".into(), "100".into(), OrderStatus::Filled)]
    );
}

/// With its funds checked, a buy the free cash cannot pay for is refused as Binance refuses it
/// (`-2010`'s message, `Venue`), and nothing is placed: a limit buy needs price × quantity of the
/// cash the open buys leave free, a market buy what its walk of the book costs. Sells are not
/// concerned; without the check the same buys go through (the cash goes negative).
#[test]
fn a_buy_the_free_cash_cannot_pay_for_is_refused() {
    let refused = |r: &[Response]| {
        matches!(r, [Response::Error(e)] if e.code == ErrorCode::Venue
            && e.message == INSUFFICIENT_BALANCE && e.field.is_none())
    };
    // 30 USDT: a resting bid of 100 at 0.15 holds 15 of it.
    let mut x = exec().with_quote_balance(d("30").0).with_funds_checked();
    assert!(!refused(&x.place(&resting_bid("a"), &book(), 1)));
    assert!(
        !refused(&x.place(&resting_bid("b"), &book(), 2)),
        "15 + 15 = 30: just paid for"
    );
    assert!(
        refused(&x.place(&resting_bid("c"), &book(), 3)),
        "a third bid: 0 free"
    );
    assert_eq!(x.open_count(), 2);
    // Canceling one frees its 15: a market buy of 90 costs 90 × 0.1584 = 14.256.
    x.cancel(
        &CancelOrder {
            command_id: "x".into(),
            ts_ns: 0,
            client_order_id: "a".into(),
            symbol: "POLUSDT".into(),
        },
        4,
    );
    assert!(!refused(&x.place(
        &place(OrderType::Market, Side::Buy, "90", None, None, "m"),
        &book(),
        5
    )));
    // 0.744 left: another bid (15) is refused; a sell of what is held is not.
    assert!(refused(&x.place(&resting_bid("n"), &book(), 6)));
    assert!(!refused(&x.place(
        &place(OrderType::Market, Side::Sell, "80", None, None, "s"),
        &book(),
        7
    )));
    // Unchecked, the same account's third bid rests.
    let mut y = exec().with_quote_balance(d("30").0);
    for (id, t) in [("a", 1), ("b", 2), ("c", 3)] {
        assert!(!refused(&y.place(&resting_bid(id), &book(), t)));
    }
    assert_eq!(y.open_count(), 3);
}

/// Takers consume the book: a second market sell on the same state of the book (its update id) meets
/// what the first left, 20 at 0.1583 then 0.1582, not the 100 the book still shows; the next state
/// of the book is the venue's own again.
#[test]
fn takers_on_one_state_of_the_book_meet_what_those_before_them_left() {
    let mut x = exec();
    let sell = |id: &str| place(OrderType::Market, Side::Sell, "80", None, None, id);
    let r = x.place(&sell("a"), &book(), 1);
    assert_eq!(
        fills(&r),
        vec![("0.1583".into(), "80".into(), OrderStatus::Filled)]
    );
    let r = x.place(&sell("b"), &book(), 2);
    assert_eq!(
        fills(&r),
        vec![
            ("0.1583".into(), "20".into(), OrderStatus::PartiallyFilled),
            ("0.1582".into(), "60".into(), OrderStatus::Filled)
        ]
    );
    let mut next = book();
    next.book.set_update_id(2);
    let r = x.place(&sell("c"), &next, 3);
    assert_eq!(
        fills(&r),
        vec![("0.1583".into(), "80".into(), OrderStatus::Filled)]
    );
}
