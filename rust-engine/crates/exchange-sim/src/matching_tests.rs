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
    let (o, _) = x.place(&r, &book(), 1, 1).0.unwrap();
    // 10 / 0.2001 = 49.97 → 49.9 (step 0.1)
    assert_eq!(o.executed, 499 * SCALE / 10);
    assert_eq!(o.orig_qty, o.executed);
    assert!(o.cum_quote <= 10 * SCALE);
    let (o, fills) = x
        .place(
            &req(OrderSide::Sell, OrderKind::Market, 50 * SCALE, None, "s"),
            &book(),
            2,
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
    let (res, ev) = x.place(&r, &book(), 2, 2);
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
    let (o, fills) = x.place(&r, &book(), 3, 3).0.unwrap();
    assert_eq!((o.status, o.executed, fills.len()), (Status::Expired, 0, 0));
    // LIMIT_MAKER crossing: refused -2010, with nothing on the user data stream.
    let m = req(
        OrderSide::Buy,
        OrderKind::LimitMaker,
        50 * SCALE,
        Some(20_010_000),
        "m",
    );
    assert_eq!(
        x.place(&m, &book(), 4, 4),
        (Err(OrderError::WouldTake), vec![])
    );
    let m = req(
        OrderSide::Buy,
        OrderKind::LimitMaker,
        50 * SCALE,
        Some(20_000_000),
        "m",
    );
    assert_eq!(x.place(&m, &book(), 5, 5).0.unwrap().0.status, Status::New);
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
        (
            req(
                OrderSide::Sell,
                OrderKind::Market,
                MAX_MARKET_QTY + STEP,
                None,
                "a",
            ),
            "MARKET_LOT_SIZE",
        ),
    ];
    for (r, f) in bad {
        assert_eq!(
            x.place(&r, &b, 1, 1),
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
    // Refused for the balances: -2010, nothing on the user data stream, no order id taken.
    assert_eq!(
        x.place(&r, &b, 1, 1),
        (Err(OrderError::Insufficient), vec![])
    );
    let r = req(OrderSide::Sell, OrderKind::Market, 100 * SCALE, None, "a");
    assert_eq!(
        x.place(&r, &b, 1, 1),
        (Err(OrderError::Insufficient), vec![])
    );
    let r = req(
        OrderSide::Buy,
        OrderKind::Limit,
        40 * SCALE,
        Some(19_000_000),
        "dup",
    );
    assert_eq!(
        x.place(&r, &b, 1, 1).0.map(|(o, _)| o.id),
        Ok(FIRST_ORDER_ID)
    );
    assert_eq!(x.place(&r, &b, 1, 1).0, Err(OrderError::Duplicate));
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
    assert!(x.place(&r, &b, 4, 4).0.is_ok());
    assert_eq!(x.find(None, Some("dup")).unwrap().status, Status::New);
    assert!(x.find(Some(o.id), Some("other")).is_none());
}

/// NOTIONAL values a MARKET order by quantity at the volume-weighted average price of the trades
/// replayed in the last `avgPriceMins` minutes (notes §5: "MARKET orders use the reference price /
/// volume weighted average price over `avgPriceMins`"), not at the touch; with no trade in them,
/// at the touch (the venue's choice).
#[test]
fn a_market_orders_notional_is_valued_at_the_average_price() {
    let mut x = ex(1000, 1000);
    let b = book();
    let notional = Err(OrderError::Filter("NOTIONAL"));
    let market = |side, qty| req(side, OrderKind::Market, qty, None, "m");
    // No trade yet: at the touch (ask 0.2001, bid 0.2000): 24.9 POL is under 5 USDT, 25 is not.
    for side in [OrderSide::Buy, OrderSide::Sell] {
        assert_eq!(x.check_filters(&market(side, 249 * STEP), &b, 0), notional);
        assert_eq!(x.check_filters(&market(side, 250 * STEP), &b, 0), Ok(()));
    }
    // Trades at 0.1000 and 0.1200 (1:3) in the last five minutes: the average is 0.1150, so
    // 43.4 POL is under 5 USDT (at the touch it would be 8.7) and 43.5 is not.
    x.on_trade(10_000_000, 10 * SCALE, 60_000);
    x.on_trade(12_000_000, 30 * SCALE, 120_000);
    for side in [OrderSide::Buy, OrderSide::Sell] {
        assert_eq!(
            x.check_filters(&market(side, 434 * STEP), &b, 120_000),
            notional
        );
        assert_eq!(
            x.check_filters(&market(side, 435 * STEP), &b, 120_000),
            Ok(())
        );
    }
    // Placing checks the same: refused, then filled at the book.
    assert_eq!(
        x.place(&market(OrderSide::Buy, 434 * STEP), &b, 1, 120_000),
        (Err(OrderError::Filter("NOTIONAL")), vec![])
    );
    let (o, _) = x
        .place(&market(OrderSide::Buy, 435 * STEP), &b, 1, 120_000)
        .0
        .unwrap();
    assert_eq!(o.status, Status::Filled);
    // A LIMIT order is valued at its own price, whatever the average.
    let limit = req(
        OrderSide::Buy,
        OrderKind::Limit,
        250 * STEP,
        Some(20_000_000),
        "l",
    );
    assert_eq!(x.check_filters(&limit, &b, 120_000), Ok(()));
    // The first trade leaves the window five minutes after it; after the second, the touch again.
    x.on_trade(20_000_000, 10 * SCALE, 200_000);
    // At 360 s: (0.12 × 30 + 0.2 × 10) / 40 = 0.14, 35.7 POL under 5 USDT, 35.8 not.
    assert_eq!(
        x.check_filters(&market(OrderSide::Buy, 357 * STEP), &b, 360_000),
        notional
    );
    assert_eq!(
        x.check_filters(&market(OrderSide::Buy, 358 * STEP), &b, 360_000),
        Ok(())
    );
    assert_eq!(
        x.check_filters(&market(OrderSide::Buy, 249 * STEP), &b, 500_000),
        notional
    );
    assert_eq!(
        x.check_filters(&market(OrderSide::Buy, 250 * STEP), &b, 500_000),
        Ok(())
    );
    // `applyMaxToMarket` false: a MARKET order worth more than maxNotional at the average passes,
    // a LIMIT order as large does not.
    x.on_trade(2_000_000_000, 1_000_000 * SCALE, 500_000);
    let big = 500_000 * SCALE;
    assert_eq!(
        x.check_filters(&market(OrderSide::Sell, big), &b, 500_000),
        Ok(())
    );
    let limit = req(
        OrderSide::Sell,
        OrderKind::Limit,
        big,
        Some(2_000_000_000),
        "l",
    );
    assert_eq!(x.check_filters(&limit, &b, 500_000), notional);
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
                0 => { let _ = x.place(&req(side, OrderKind::Market, qty, None, &format!("m{now}")), &b, now, now); }
                1 | 2 => { let _ = x.place(&req(side, OrderKind::Limit, qty, Some(price), &format!("l{now}")), &b, now, now); }
                3 => { let _ = x.place(&req(side, OrderKind::LimitMaker, qty, Some(price), &format!("k{now}")), &b, now, now); }
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
        // Nothing is created or lost: each asset's total is the start, plus what the fills brought
        // in, less what they paid out and their commissions (u64 cannot go negative: the
        // arithmetic above would have panicked).
        let (mut usdt, mut pol) = (300 * SCALE as i128, 500 * SCALE as i128);
        for o in x.orders() {
            let (quote, base) = (i128::from(o.cum_quote), i128::from(o.executed));
            match o.side {
                OrderSide::Buy => { usdt -= quote; pol += base; }
                OrderSide::Sell => { usdt += quote; pol -= base; }
            }
        }
        for t in x.trades() {
            let fee = i128::from(t.fill.commission);
            match t.fill.commission_asset.as_str() {
                "USDT" => usdt -= fee,
                "POL" => pol -= fee,
                other => prop_assert!(false, "commission in {}", other),
            }
        }
        prop_assert_eq!(i128::from(total(&x, "USDT")), usdt);
        prop_assert_eq!(i128::from(total(&x, "POL")), pol);
    }
}

/// The fee cases shared with the paper executor and the backtest's venue
/// (`tests/fee_cases/cases.json`): a buy's commission in the coins bought, a sell's in the quote
/// asset, rounded down to 8 decimals, and the balances moved by exactly that.
#[test]
fn fees_follow_the_shared_cases() {
    use crate::units::parse_units;
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../tests/fee_cases/cases.json"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let units = |v: &serde_json::Value, k: &str| parse_units(v[k].as_str().unwrap()).unwrap();
    let signed = |v: &serde_json::Value, k: &str| {
        let text = v[k].as_str().unwrap();
        match text.strip_prefix('-') {
            Some(abs) => -i128::from(parse_units(abs).unwrap()),
            None => i128::from(parse_units(text).unwrap()),
        }
    };
    let mut b = Book::empty(1);
    b.bids.insert(units(&doc, "bid"), 1000 * SCALE);
    b.asks.insert(units(&doc, "ask"), 1000 * SCALE);
    let (base, quote) = (
        doc["base_asset"].as_str().unwrap(),
        doc["quote_asset"].as_str().unwrap(),
    );
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 4);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let mut x = Exchange::new(
            spec(),
            &AccountSettings {
                balances: vec![(quote.into(), 1000 * SCALE), (base.into(), 1000 * SCALE)],
                maker_fee: units(&doc, "maker_rate"),
                taker_fee: units(&doc, "taker_rate"),
            },
        );
        let side = match case["side"].as_str().unwrap() {
            "BUY" => OrderSide::Buy,
            _ => OrderSide::Sell,
        };
        let (res, _) = x.place(
            &req(side, OrderKind::Market, units(case, "qty"), None, "f"),
            &b,
            1,
            1,
        );
        let (_, fills) = res.unwrap();
        let [fill] = fills.as_slice() else {
            panic!("{name}: {fills:?}")
        };
        assert_eq!(
            (fill.commission, fill.commission_asset.as_str()),
            (units(case, "fee"), case["fee_asset"].as_str().unwrap()),
            "{name}"
        );
        let moved = |asset: &str| {
            let bal = x.balance(asset);
            i128::from(bal.free + bal.locked) - i128::from(1000 * SCALE)
        };
        assert_eq!(moved(base), signed(case, "base_change"), "{name}");
        assert_eq!(moved(quote), signed(case, "quote_change"), "{name}");
    }
}

/// A market order is refused whole when the account cannot pay all it asks to trade, however thin
/// the book (Binance: -2010 "Account has insufficient balance for requested action.", notes
/// §3.5): a sell of 100 POL holding 50 on bids of 30 in all, a buy for 30 USDT of quote
/// (`quoteOrderQty`) holding 20 on asks worth 10. No order id is taken, no event sent, no balance
/// moved. What is held goes, and the rest the book cannot take expires.
#[test]
fn a_market_order_larger_than_the_balance_is_refused_on_a_thin_book() {
    let mut thin = Book::empty(1);
    thin.bids.insert(20_000_000, 30 * SCALE); // 30 POL of bids in all
    thin.asks.insert(20_000_000, 50 * SCALE); // 10 USDT of asks in all
    let mut x = ex(20, 50);
    let oversell = req(OrderSide::Sell, OrderKind::Market, 100 * SCALE, None, "s");
    assert_eq!(
        x.place(&oversell, &thin, 5, 5),
        (Err(OrderError::Insufficient), vec![])
    );
    let mut overbuy = req(OrderSide::Buy, OrderKind::Market, 0, None, "b");
    overbuy.qty = None;
    overbuy.quote_qty = Some(30 * SCALE);
    assert_eq!(
        x.place(&overbuy, &thin, 5, 5),
        (Err(OrderError::Insufficient), vec![])
    );
    assert_eq!(x.balance("POL").free, 50 * SCALE);
    assert_eq!(x.balance("USDT").free, 20 * SCALE);
    assert!(x.orders().next().is_none());
    // All that is held: the 30 the bids take fill, the other 20 expire.
    let held = req(OrderSide::Sell, OrderKind::Market, 50 * SCALE, None, "h");
    let (o, fills) = x.place(&held, &thin, 6, 6).0.unwrap();
    assert_eq!(o.id, FIRST_ORDER_ID);
    assert_eq!(fills.iter().map(|f| f.qty).sum::<u64>(), 30 * SCALE);
    assert_eq!(o.status, Status::Expired);
    assert_eq!(x.balance("POL").free, 20 * SCALE);
}
