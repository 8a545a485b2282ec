use super::*;
use crate::signing::{ApiSecret, RecvWindow};
use proptest::prelude::*;
use std::str::FromStr;

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../../../tests/fixtures/binance/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).unwrap()
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn dec(s: &str) -> Dec {
    s.parse().unwrap()
}

fn btcusdt() -> SymbolFilters {
    SymbolFilters::from_exchange_info(
        &fixture("exchange_info_btcusdt_nautilus_2021.json"),
        "BTCUSDT",
    )
    .unwrap()
}

fn place(
    order_type: OrderType,
    tif: Option<TimeInForce>,
    qty: &str,
    price: Option<&str>,
) -> PlaceOrder {
    PlaceOrder {
        command_id: "cmd-1".into(),
        ts_ns: 0,
        client_order_id: "strat-42_a".into(),
        symbol: "BTCUSDT".into(),
        side: Side::Buy,
        order_type,
        time_in_force: tif,
        quantity: dec(qty),
        price: price.map(dec),
    }
}

fn signer() -> Signer {
    Signer::new(
        "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
        ApiSecret::new("NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"),
        RecvWindow::default(),
    )
}

#[test]
fn limit_order_params_on_tick_and_step() {
    let cmd = place(
        OrderType::Limit,
        Some(TimeInForce::Gtc),
        "0.001",
        Some("30000.5"),
    );
    let params = new_order_params(&cmd, &btcusdt()).unwrap();
    let expected: Vec<(&str, String)> = [
        ("symbol", "BTCUSDT"),
        ("side", "BUY"),
        ("type", "LIMIT"),
        ("timeInForce", "GTC"),
        ("quantity", "0.00100"),
        ("price", "30000.50"),
        ("newClientOrderId", "strat-42_a"),
        ("newOrderRespType", "FULL"),
    ]
    .iter()
    .map(|(k, v)| (*k, (*v).to_owned()))
    .collect();
    assert_eq!(params, expected);
}

#[test]
fn signed_new_order_request() {
    let cmd = place(
        OrderType::Limit,
        Some(TimeInForce::Gtc),
        "0.001",
        Some("30000.5"),
    );
    let req = signed_new_order(&cmd, &btcusdt(), &signer(), 1_499_827_319_559).unwrap();
    let unsigned = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.00100&price=30000.50&newClientOrderId=strat-42_a&newOrderRespType=FULL&recvWindow=5000&timestamp=1499827319559";
    // Computed independently: echo -n "$unsigned" | openssl dgst -sha256 -hmac "$secret".
    let signature = "a0fb5271c78718beecf62c72dbf007a5bfacc8cbc5833c083438737e2fa1e2e0";
    assert_eq!((req.method, req.path), ("POST", "/api/v3/order"));
    assert_eq!(req.params.signature, signature);
    assert_eq!(
        req.path_and_query(),
        format!("/api/v3/order?{unsigned}&signature={signature}")
    );
    assert!(req.params.body.is_empty());
}

#[test]
fn market_and_limit_maker_params() {
    let f = btcusdt();
    let m = new_order_params(&place(OrderType::Market, None, "0.5", Some("1")), &f).unwrap();
    let keys: Vec<&str> = m.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        keys,
        [
            "symbol",
            "side",
            "type",
            "quantity",
            "newClientOrderId",
            "newOrderRespType"
        ]
    );
    assert_eq!(m[3].1, "0.50000");
    let lm = new_order_params(
        &place(
            OrderType::LimitMaker,
            Some(TimeInForce::Gtc),
            "2",
            Some("100"),
        ),
        &f,
    )
    .unwrap();
    assert_eq!(lm[2].1, "LIMIT_MAKER");
    assert!(lm.iter().all(|(k, _)| *k != "timeInForce"));
    assert_eq!(lm[3], ("quantity", "2.00000".to_owned()));
    assert_eq!(lm[4], ("price", "100.00".to_owned()));
}

#[test]
fn build_errors() {
    let f = btcusdt();
    let e = |cmd: PlaceOrder| new_order_params(&cmd, &f).unwrap_err();
    assert_eq!(
        e(place(OrderType::Limit, None, "1", Some("1"))),
        OrderBuildError::Missing {
            order_type: "LIMIT",
            field: "timeInForce"
        }
    );
    assert_eq!(
        e(place(OrderType::LimitMaker, None, "1", None)),
        OrderBuildError::Missing {
            order_type: "LIMIT_MAKER",
            field: "price"
        }
    );
    assert_eq!(
        e(place(OrderType::Market, None, "0.000001", None)),
        OrderBuildError::OffIncrement {
            field: "quantity",
            value: dec("0.000001"),
            increment: dec("0.00001")
        }
    );
    assert_eq!(
        e(place(
            OrderType::Limit,
            Some(TimeInForce::Ioc),
            "1",
            Some("0.005")
        )),
        OrderBuildError::OffIncrement {
            field: "price",
            value: dec("0.005"),
            increment: dec("0.01")
        }
    );
    assert_eq!(
        e(place(OrderType::Market, None, "0", None)),
        OrderBuildError::NotPositive {
            field: "quantity",
            value: dec("0")
        }
    );
    let mut bad_id = place(OrderType::Market, None, "1", None);
    bad_id.client_order_id = "has.dot".into();
    assert_eq!(e(bad_id), OrderBuildError::ClientOrderId("has.dot".into()));
    let mut other = place(OrderType::Market, None, "1", None);
    other.symbol = "ETHUSDT".into();
    assert!(matches!(e(other), OrderBuildError::Symbol { .. }));
}

#[test]
fn formats_without_exponent() {
    assert_eq!(
        format_on_increment(dec("0.00000001"), dec("0.00000001"), "q").unwrap(),
        "0.00000001"
    );
    assert_eq!(
        format_on_increment(dec("1.10000000"), dec("0.1"), "q").unwrap(),
        "1.1"
    );
    assert_eq!(
        format_on_increment(dec("1200"), dec("100"), "q").unwrap(),
        "1200"
    );
    // Increment 0 = disabled: the value's own decimals.
    assert_eq!(
        format_on_increment(dec("3.1400"), dec("0"), "q").unwrap(),
        "3.14"
    );
    assert!(matches!(
        format_on_increment(dec("0.0000000000000000000001"), dec("0"), "q"),
        Err(OrderBuildError::TooManyDigits { .. })
    ));
}

#[test]
fn query_and_cancel_by_client_order_id() {
    let q = signed_query_order("BTCUSDT", "strat-42_a", &signer(), 7);
    assert_eq!(q.method, "GET");
    assert!(q
        .path_and_query()
        .starts_with("/api/v3/order?symbol=BTCUSDT&origClientOrderId=strat-42_a&recvWindow=5000&timestamp=7&signature="));
    let c = signed_cancel_order("BTCUSDT", "strat-42_a", &signer(), 7);
    assert_eq!(
        (c.method, c.params.query.clone()),
        ("DELETE", q.params.query)
    );
}

#[test]
fn ack_fixture() {
    let r = parse_order_response(&fixture("order_new_response_ack.json")).unwrap();
    assert_eq!(r.kind(), ResponseKind::Ack);
    assert_eq!(
        (r.symbol.as_str(), r.order_id, r.order_list_id),
        ("BTCUSDT", 28, -1)
    );
    assert_eq!(r.client_order_id, "6gCrw2kRUAF9CvJDGP16IP");
    assert_eq!(r.transact_time_ms, Some(1_507_725_176_595));
    assert_eq!(r.order_status(), None);
    assert_eq!(r.fills_qty(), Some(Decimal::ZERO));
}

#[test]
fn result_fixture() {
    let r = parse_order_response(&fixture("order_new_response_result.json")).unwrap();
    assert_eq!(r.kind(), ResponseKind::Result);
    let s = r.state.as_ref().unwrap();
    assert_eq!(s.status, VenueOrderStatus::Filled);
    assert_eq!((s.side, s.order_type.as_str()), (Side::Sell, "MARKET"));
    assert_eq!(s.executed_qty, d("10"));
    assert_eq!(s.orig_qty, d("10"));
    assert_eq!(s.cumulative_quote_qty, d("10"));
    assert_eq!(s.price, Decimal::ZERO);
    assert_eq!(r.order_status(), Some(OrderStatus::Filled));
    assert_eq!(r.fills, None);
}

#[test]
fn full_fixture() {
    let r = parse_order_response(&fixture("order_new_response_full.json")).unwrap();
    assert_eq!(r.kind(), ResponseKind::Full);
    let fills = r.fills.as_ref().unwrap();
    assert_eq!(fills.len(), 5);
    assert_eq!(
        fills[1],
        VenueFill {
            price: d("3999"),
            qty: d("5"),
            commission: d("19.995"),
            commission_asset: "USDT".into(),
            trade_id: 57
        }
    );
    assert_eq!(r.fills_qty(), Some(d("10")));
    assert_eq!(r.state.as_ref().unwrap().executed_qty, d("10"));
    // The docs' example is not self-consistent: its fills are worth 39983 USDT while its
    // cummulativeQuoteQty says 10. Both are reported as given.
    assert_eq!(r.fills_quote_qty(), Some(d("39983")));
    assert_eq!(r.state.as_ref().unwrap().cumulative_quote_qty, d("10"));
    assert_eq!(
        r.commissions(),
        Some(vec![("USDT".to_owned(), d("39.983"))])
    );
}

/// Fills whose totals are past the largest decimal give no total, never a panic: two quantities,
/// a price × quantity, two commissions.
#[test]
fn fill_totals_too_large_are_none() {
    let mut v: serde_json::Value =
        serde_json::from_str(&fixture("order_new_response_full.json")).unwrap();
    let max = Decimal::MAX.to_string();
    v["fills"][0]["qty"] = max.clone().into();
    v["fills"][1]["commission"] = max.clone().into();
    v["fills"][2]["commission"] = max.into();
    let r = parse_order_response(&v.to_string()).unwrap();
    assert_eq!(r.fills_qty(), None);
    assert_eq!(r.fills_quote_qty(), None);
    assert_eq!(r.commissions(), None);
}

/// Amounts the venue never sends are refused, naming the field: a negative one anywhere, a fill
/// at a price or of a quantity of zero.
#[test]
fn amounts_out_of_range_are_refused() {
    let full: serde_json::Value =
        serde_json::from_str(&fixture("order_new_response_full.json")).unwrap();
    let with = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v = full.clone();
        edit(&mut v);
        parse_order_response(&v.to_string())
    };
    for (field, edit) in [
        (
            "executedQty",
            &(|v: &mut serde_json::Value| v["executedQty"] = "-10.0".into())
                as &dyn Fn(&mut serde_json::Value),
        ),
        ("price", &|v| v["price"] = "-1".into()),
        ("cummulativeQuoteQty", &|v| {
            v["cummulativeQuoteQty"] = "-10".into()
        }),
        ("fills.price", &|v| {
            v["fills"][1]["price"] = "0.00000000".into()
        }),
        ("fills.qty", &|v| v["fills"][1]["qty"] = "0".into()),
        ("fills.commission", &|v| {
            v["fills"][1]["commission"] = "-1".into()
        }),
    ] {
        let e = with(edit).unwrap_err();
        assert!(
            matches!(e, OrderResponseError::OutOfRange { field: f, .. } if f == field),
            "{field}: {e}"
        );
        assert!(e.to_string().contains(field), "{e}");
    }
    // A MARKET order's price of zero is what Binance writes: read.
    assert!(with(&|v| v["price"] = "0.00000000".into()).is_ok());
}

#[test]
fn full_limit_new_ccxt_fixture() {
    let r = parse_order_response(&fixture("order_new_response_full_limit_new_ccxt.json")).unwrap();
    assert_eq!(r.kind(), ResponseKind::Full);
    assert_eq!(r.order_id, 9_780_331_417);
    let s = r.state.as_ref().unwrap();
    assert_eq!(s.status, VenueOrderStatus::New);
    assert_eq!(
        (s.price, s.orig_qty, s.executed_qty),
        (d("241"), d("0.05"), d("0"))
    );
    assert_eq!(s.time_in_force.as_deref(), Some("GTC"));
    assert_eq!(r.fills, Some(vec![]));
    assert_eq!(r.order_status(), Some(OrderStatus::New));
}

#[test]
fn query_fixture() {
    let r = parse_order_response(&fixture("order_query_response.json")).unwrap();
    assert_eq!(r.kind(), ResponseKind::Result);
    assert_eq!((r.symbol.as_str(), r.order_id), ("LTCBTC", 1));
    assert_eq!(r.order_client_id(), "myOrder1");
    assert_eq!(r.update_time_ms, Some(1_499_827_319_559));
    assert_eq!(r.transact_time_ms, None);
    let s = r.state.as_ref().unwrap();
    assert_eq!((s.status, s.side), (VenueOrderStatus::New, Side::Buy));
    assert_eq!(
        (s.price, s.orig_qty, s.executed_qty, s.cumulative_quote_qty),
        (d("0.1"), d("1"), d("0"), d("0"))
    );
}

#[test]
fn cancel_fixture() {
    let r = parse_order_response(&fixture("order_cancel_response.json")).unwrap();
    assert_eq!(r.client_order_id, "cancelMyOrder1");
    assert_eq!(r.orig_client_order_id.as_deref(), Some("myOrder1"));
    assert_eq!(r.order_client_id(), "myOrder1");
    assert_eq!(r.order_id, 4);
    assert_eq!(r.transact_time_ms, Some(1_684_804_350_068));
    let s = r.state.as_ref().unwrap();
    assert_eq!(s.status, VenueOrderStatus::Canceled);
    assert_eq!(
        (s.price, s.orig_qty, s.executed_qty),
        (d("2"), d("1"), d("0"))
    );
    assert_eq!(r.order_status(), Some(OrderStatus::Canceled));
}

#[test]
fn open_orders_fixture() {
    let all = parse_open_orders(&fixture("open_orders_response.json")).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(
        all[0],
        parse_order_response(&fixture("order_query_response.json")).unwrap()
    );
    assert_eq!(parse_open_orders("[]").unwrap(), vec![]);
}

#[test]
fn statuses() {
    for (s, v, terminal) in [
        ("NEW", VenueOrderStatus::New, false),
        ("PENDING_NEW", VenueOrderStatus::PendingNew, false),
        ("PARTIALLY_FILLED", VenueOrderStatus::PartiallyFilled, false),
        ("FILLED", VenueOrderStatus::Filled, true),
        ("CANCELED", VenueOrderStatus::Canceled, true),
        ("PENDING_CANCEL", VenueOrderStatus::PendingCancel, false),
        ("REJECTED", VenueOrderStatus::Rejected, true),
        ("EXPIRED", VenueOrderStatus::Expired, true),
        ("EXPIRED_IN_MATCH", VenueOrderStatus::ExpiredInMatch, true),
    ] {
        assert_eq!(VenueOrderStatus::parse(s), Some(v));
        assert_eq!(v.is_terminal(), terminal, "{s}");
    }
    assert_eq!(VenueOrderStatus::parse("new"), None);
    assert_eq!(
        VenueOrderStatus::ExpiredInMatch.to_order_status(d("1")),
        OrderStatus::Expired
    );
    assert_eq!(
        VenueOrderStatus::New.to_order_status(d("0.5")),
        OrderStatus::PartiallyFilled
    );
}

#[test]
fn response_errors() {
    let body = fixture("order_new_response_result.json");
    assert_eq!(
        parse_order_response(&body.replace("\"FILLED\"", "\"DONE\"")),
        Err(OrderResponseError::Status("DONE".into()))
    );
    assert_eq!(
        parse_order_response(&body.replace("\"10.00000000\"", "\"1e1\"")),
        Err(OrderResponseError::Decimal {
            field: "origQty",
            value: "1e1".into()
        })
    );
    assert_eq!(
        parse_order_response(&body.replace("\"executedQty\"", "\"x\"")),
        Err(OrderResponseError::Missing("executedQty"))
    );
    assert!(matches!(
        parse_order_response("{}"),
        Err(OrderResponseError::Malformed(_))
    ));
    assert!(matches!(
        parse_order_response(r#"{"code":-2010,"msg":"Duplicate order sent."}"#),
        Err(OrderResponseError::Malformed(_))
    ));
}

proptest! {
    #[test]
    fn random_bodies_never_panic(body in any::<String>()) {
        let _ = parse_order_response(&body);
        let _ = parse_open_orders(&body);
    }

    #[test]
    fn mutated_fixtures_never_panic(
        idx in 0usize..6,
        cut in any::<prop::sample::Index>(),
        insert in "[\\[\\]{}\",:0-9a-zA-Z.\\-]{0,8}",
    ) {
        let name = [
            "order_new_response_ack.json",
            "order_new_response_result.json",
            "order_new_response_full.json",
            "order_new_response_full_limit_new_ccxt.json",
            "order_query_response.json",
            "order_cancel_response.json",
        ][idx];
        let body = fixture(name);
        let at = cut.index(body.len() + 1);
        let mutated = format!("{}{insert}{}", &body[..at], &body[at..]);
        let _ = parse_order_response(&mutated);
    }

    #[test]
    fn on_increment_values_format_plainly(units in 1u64..10_000_000_000, scale in 0u32..=12) {
        let step = Dec(Decimal::new(1, scale));
        let value = Dec(Decimal::new(i64::try_from(units).unwrap(), scale));
        let text = format_on_increment(value, step, "q").unwrap();
        prop_assert!(!text.contains('e') && !text.contains('E'));
        prop_assert_eq!(Decimal::from_str(&text).unwrap(), value.0);
        prop_assert_eq!(text.split_once('.').map_or(0, |(_, f)| f.len()), scale as usize);
    }
}
