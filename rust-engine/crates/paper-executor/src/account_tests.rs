//! Unit tests of the saved paper account (beside it, in their own file).

use super::*;
use crate::paper::tests::{book, exec, place, resting_bid, trade};
use common::message::{ErrorCode, OrderType, Response, Side};

/// The account saved and restored into a new executor (a restarted engine): its resting order rests
/// and fills as before, its totals and counters carry on, a client order id used before is still
/// refused, and only the latest finished orders are kept.
#[test]
fn a_restored_account_carries_on() {
    let mut x = exec();
    x.place(
        &place(OrderType::Market, Side::Buy, "100", None, None, "m"),
        &book(),
        1,
    );
    x.place(&resting_bid("r"), &book(), 2);
    let saved = x.account();
    let text = serde_json::to_string(&saved).unwrap();
    let back: PaperAccount = serde_json::from_str(&text).unwrap();
    assert_eq!(back, saved);
    let mut y = exec().restore(back).unwrap();
    assert_eq!(y.open_count(), 1);
    assert_eq!(y.totals(), x.totals());
    let dup = y.place(
        &place(OrderType::Market, Side::Buy, "100", None, None, "m"),
        &book(),
        3,
    );
    assert!(matches!(&dup[0], Response::Error(e) if e.code == ErrorCode::DuplicateOrder));
    let filled = y.on_trade(&trade(0.1499, 100.0), 4);
    let Response::OrderExecution(e) = &filled[0] else {
        panic!("{filled:?}")
    };
    assert_eq!((e.client_order_id.as_str(), e.trade_id), ("r", 2));
    let next = y.place(
        &place(OrderType::Market, Side::Sell, "100", None, None, "s"),
        &book(),
        5,
    );
    let Response::OrderPlaced(p) = &next[0] else {
        panic!("{next:?}")
    };
    assert_eq!(p.exchange_order_id, "PAPER-3");
    // Another symbol's account is refused.
    let mut other = x.account();
    other.orders[0].info.symbol = "BTCUSDT".into();
    assert!(matches!(
        exec().restore(other),
        Err(RestoreError::OtherSymbol { .. })
    ));
    // Only the latest finished orders are kept, with every open one (here the oldest order).
    let mut z = exec();
    z.place(&resting_bid("old"), &book(), 0);
    for i in 0..KEPT_FINISHED_ORDERS + 50 {
        z.place(
            &place(
                OrderType::Market,
                Side::Buy,
                "100",
                None,
                None,
                &format!("f{i}"),
            ),
            &book(),
            i as u64,
        );
    }
    let kept = z.account().orders;
    assert_eq!(kept.len(), KEPT_FINISHED_ORDERS + 1);
    assert_eq!(kept[0].info.client_order_id, "old");
    assert_eq!(kept[1].info.client_order_id, "f50");
}
