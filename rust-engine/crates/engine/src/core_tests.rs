//! Unit tests of the core loop's helpers (beside it, in their own file).

use super::*;
use common::message::{Liquidity, OrderStatus};

fn fill(side: Side, qty: &str, fee: &str, asset: &str) -> OrderExecution {
    OrderExecution {
        command_id: None,
        ts_ns: 1,
        client_order_id: "c".into(),
        exchange_order_id: "1".into(),
        symbol: "POLUSDT".into(),
        side,
        trade_id: 1,
        last_price: "0.2".parse().unwrap(),
        last_quantity: qty.parse().unwrap(),
        cumulative_quantity: qty.parse().unwrap(),
        order_quantity: qty.parse().unwrap(),
        status: OrderStatus::Filled,
        liquidity: Liquidity::Taker,
        fee: fee.parse().unwrap(),
        fee_asset: asset.into(),
    }
}

/// A buy's fee taken from the coins bought leaves less held; a fee in the quote asset or in BNB
/// does not change what is held.
#[test]
fn a_fee_in_the_base_asset_is_held_less() {
    for (side, qty, fee, asset, held) in [
        (Side::Buy, "500", "0.5", "POL", "499.5"),
        (Side::Buy, "500", "0.1", "USDT", "500"),
        (Side::Buy, "500", "0.01", "BNB", "500"),
        (Side::Sell, "499.5", "0.1", "USDT", "-499.5"),
        (Side::Buy, "500", "0", "", "500"),
    ] {
        let change = held_change(&fill(side, qty, fee, asset), "POLUSDT");
        assert_eq!(
            change,
            held.parse::<Decimal>().unwrap(),
            "{side:?} {qty} fee {fee} {asset}"
        );
    }
}

/// The fills of the fee cases every venue of the system shares (`tests/fee_cases/cases.json`):
/// the engine's net position moves as the venue's base balance does.
#[test]
fn held_change_follows_the_shared_fee_cases() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../tests/fee_cases/cases.json"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let s = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap().to_owned();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 4);
    for case in cases {
        let side: Side = serde_json::from_value(case["side"].clone()).unwrap();
        let f = fill(
            side,
            &s(case, "qty"),
            &s(case, "fee"),
            &s(case, "fee_asset"),
        );
        assert_eq!(
            held_change(&f, &s(&doc, "symbol")),
            s(case, "base_change").parse::<Decimal>().unwrap(),
            "{}",
            s(case, "name")
        );
    }
}

/// A flatten sells what is held on the symbol's step: 511.7877 held (512.3 bought, 0.5123 of
/// fee) sells 511.7 on a 0.1 step; less than a step sells nothing.
#[test]
fn a_flatten_is_rounded_down_to_the_step() {
    let d = |s: &str| s.parse::<Decimal>().unwrap();
    assert_eq!(on_step(d("511.7877"), d("0.1")), d("511.7"));
    assert_eq!(on_step(d("511.7"), d("0.1")), d("511.7"));
    assert_eq!(on_step(d("0.0877"), d("0.1")), Decimal::ZERO);
    assert_eq!(on_step(d("511.7877"), Decimal::ZERO), d("511.7877"));
}
