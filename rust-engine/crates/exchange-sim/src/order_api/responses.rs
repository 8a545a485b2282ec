//! The JSON answers of the order endpoints, in Binance's shapes (the fixtures' keys), and their
//! builders.

use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::orders::{Fill, Order, OrderSide, UserTrade};
use crate::units::Units;

pub(super) fn json(body: String) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

pub(super) fn to_json(v: &impl Serialize) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "{}".to_owned())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Ack<'a> {
    symbol: &'a str,
    order_id: u64,
    order_list_id: i64,
    client_order_id: &'a str,
    transact_time: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FillJson<'a> {
    price: Units,
    qty: Units,
    commission: Units,
    commission_asset: &'a str,
    trade_id: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OrderResult<'a> {
    symbol: &'a str,
    order_id: u64,
    order_list_id: i64,
    client_order_id: &'a str,
    transact_time: i64,
    price: Units,
    orig_qty: Units,
    executed_qty: Units,
    orig_quote_order_qty: Units,
    cummulative_quote_qty: Units,
    status: &'static str,
    time_in_force: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    side: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    working_time: Option<i64>,
    self_trade_prevention_mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    fills: Option<Vec<FillJson<'a>>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct QueryJson<'a> {
    symbol: &'a str,
    order_id: u64,
    order_list_id: i64,
    client_order_id: &'a str,
    price: Units,
    orig_qty: Units,
    executed_qty: Units,
    cummulative_quote_qty: Units,
    status: &'static str,
    time_in_force: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    side: &'static str,
    stop_price: Units,
    iceberg_qty: Units,
    time: i64,
    update_time: i64,
    is_working: bool,
    working_time: i64,
    orig_quote_order_qty: Units,
    self_trade_prevention_mode: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CancelJson<'a> {
    symbol: &'a str,
    orig_client_order_id: &'a str,
    order_id: u64,
    order_list_id: i64,
    client_order_id: &'a str,
    transact_time: i64,
    price: Units,
    orig_qty: Units,
    executed_qty: Units,
    orig_quote_order_qty: Units,
    cummulative_quote_qty: Units,
    status: &'static str,
    time_in_force: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    side: &'static str,
    self_trade_prevention_mode: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TradeJson<'a> {
    symbol: &'a str,
    id: u64,
    order_id: u64,
    order_list_id: i64,
    price: Units,
    qty: Units,
    quote_qty: Units,
    commission: Units,
    commission_asset: &'a str,
    time: i64,
    is_buyer: bool,
    is_maker: bool,
    is_best_match: bool,
}

/// The `ACK` answer of a new order.
pub(super) fn ack_json<'a>(symbol: &'a str, o: &'a Order, now: i64) -> Ack<'a> {
    Ack {
        symbol,
        order_id: o.id,
        order_list_id: -1,
        client_order_id: &o.client_id,
        transact_time: now,
    }
}

pub(super) fn result_json<'a>(
    symbol: &'a str,
    o: &'a Order,
    fills: Option<&'a [Fill]>,
    now: i64,
) -> OrderResult<'a> {
    OrderResult {
        symbol,
        order_id: o.id,
        order_list_id: -1,
        client_order_id: &o.client_id,
        transact_time: now,
        price: Units(o.price),
        orig_qty: Units(o.orig_qty),
        executed_qty: Units(o.executed),
        orig_quote_order_qty: Units(o.orig_quote_qty),
        cummulative_quote_qty: Units(o.cum_quote),
        status: o.status.as_str(),
        time_in_force: o.tif.as_str(),
        kind: o.kind.as_str(),
        side: o.side.as_str(),
        working_time: o.working_time,
        self_trade_prevention_mode: "NONE",
        fills: fills.map(|f| {
            f.iter()
                .map(|f| FillJson {
                    price: Units(f.price),
                    qty: Units(f.qty),
                    commission: Units(f.commission),
                    commission_asset: &f.commission_asset,
                    trade_id: f.trade_id,
                })
                .collect()
        }),
    }
}

pub(super) fn query_json<'a>(symbol: &'a str, o: &'a Order) -> QueryJson<'a> {
    QueryJson {
        symbol,
        order_id: o.id,
        order_list_id: -1,
        client_order_id: &o.client_id,
        price: Units(o.price),
        orig_qty: Units(o.orig_qty),
        executed_qty: Units(o.executed),
        cummulative_quote_qty: Units(o.cum_quote),
        status: o.status.as_str(),
        time_in_force: o.tif.as_str(),
        kind: o.kind.as_str(),
        side: o.side.as_str(),
        stop_price: Units(0),
        iceberg_qty: Units(0),
        time: o.time,
        update_time: o.update_time,
        is_working: o.working_time.is_some(),
        working_time: o.working_time.unwrap_or(-1),
        orig_quote_order_qty: Units(o.orig_quote_qty),
        self_trade_prevention_mode: "NONE",
    }
}

pub(super) fn cancel_json<'a>(
    symbol: &'a str,
    o: &'a Order,
    cancel_id: &'a str,
    now: i64,
) -> CancelJson<'a> {
    CancelJson {
        symbol,
        orig_client_order_id: &o.client_id,
        order_id: o.id,
        order_list_id: -1,
        client_order_id: cancel_id,
        transact_time: now,
        price: Units(o.price),
        orig_qty: Units(o.orig_qty),
        executed_qty: Units(o.executed),
        orig_quote_order_qty: Units(o.orig_quote_qty),
        cummulative_quote_qty: Units(o.cum_quote),
        status: o.status.as_str(),
        time_in_force: o.tif.as_str(),
        kind: o.kind.as_str(),
        side: o.side.as_str(),
        self_trade_prevention_mode: "NONE",
    }
}

/// One trade of `GET /api/v3/myTrades`.
pub(super) fn trade_json<'a>(symbol: &'a str, t: &'a UserTrade) -> TradeJson<'a> {
    TradeJson {
        symbol,
        id: t.fill.trade_id,
        order_id: t.order_id,
        order_list_id: -1,
        price: Units(t.fill.price),
        qty: Units(t.fill.qty),
        quote_qty: Units(crate::matching::mul_floor(t.fill.price, t.fill.qty)),
        commission: Units(t.fill.commission),
        commission_asset: &t.fill.commission_asset,
        time: t.time,
        is_buyer: t.side == OrderSide::Buy,
        is_maker: t.maker,
        is_best_match: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::{OrderKind, Tif};
    use crate::test_fixtures::{fixture, keys};
    use crate::units::SCALE;

    fn order() -> Order {
        Order {
            id: 28,
            client_id: "6gCrw2kRUAF9CvJDGP16IP".into(),
            side: OrderSide::Sell,
            kind: OrderKind::Market,
            tif: Tif::Gtc,
            price: 0,
            orig_qty: 10 * SCALE,
            orig_quote_qty: 0,
            executed: 10 * SCALE,
            cum_quote: 10 * SCALE,
            status: crate::orders::Status::Filled,
            time: 1_507_725_176_595,
            update_time: 1_507_725_176_595,
            working_time: Some(1_507_725_176_595),
            locked: 0,
        }
    }

    fn value(v: &impl Serialize) -> serde_json::Value {
        serde_json::from_str(&to_json(v)).unwrap()
    }

    #[test]
    fn responses_match_the_fixtures() {
        let o = order();
        let fills = [Fill {
            price: 4000 * SCALE,
            qty: SCALE,
            commission: 4 * SCALE,
            commission_asset: "USDT".into(),
            trade_id: 56,
        }];
        let full = value(&result_json("BTCUSDT", &o, Some(&fills), 1_507_725_176_595));
        let fx = fixture("order_new_response_full.json");
        assert_eq!(keys(&full), keys(&fx));
        assert_eq!(full["fills"][0], fx["fills"][0]);
        for k in [
            "symbol",
            "orderId",
            "clientOrderId",
            "transactTime",
            "status",
            "type",
            "side",
            "origQty",
        ] {
            assert_eq!(full[k], fx[k], "{k}");
        }
        let result = value(&result_json("BTCUSDT", &o, None, 1));
        assert_eq!(
            keys(&result),
            keys(&fixture("order_new_response_result.json"))
        );
        let ack = value(&Ack {
            symbol: "BTCUSDT",
            order_id: 28,
            order_list_id: -1,
            client_order_id: "6gCrw2kRUAF9CvJDGP16IP",
            transact_time: 1_507_725_176_595,
        });
        assert_eq!(ack, fixture("order_new_response_ack.json"));
        let q = value(&query_json("LTCBTC", &o));
        assert_eq!(keys(&q), keys(&fixture("order_query_response.json")));
        let c = value(&cancel_json("LTCBTC", &o, "cancelMyOrder1", 1));
        assert_eq!(keys(&c), keys(&fixture("order_cancel_response.json")));
    }
}
