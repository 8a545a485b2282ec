//! Pure translations between the venue's answers and the engine's responses: a `FULL` new-order
//! answer into `OrderPlaced` + one `OrderExecution` per fill (as the paper executor answers), a
//! query answer into the *order map*, `myTrades` rows into executions, and the user data
//! stream's `executionReport` (PROTOCOL_NOTES §4.4) into executions and status changes (its
//! `outboundAccountPosition` is read by [`crate::balances::parse_account_position`]).

use common::message::{
    Liquidity, OrderCanceled, OrderExecution, OrderInfo, OrderStatus, OrderType, Response, Side,
    TimeInForce,
};
use common::time::ms_to_ns;
use common::Dec;
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::balances::{parse_account_position, AccountPosition};
use crate::binance_order::{broken_amount_rule, OrderReport, VenueOrderStatus};

/// Reads a venue order type (`LIMIT`, `MARKET`, `LIMIT_MAKER`); `None` for the types the engine
/// does not serve (stop and take-profit orders).
pub fn parse_order_type(s: &str) -> Option<OrderType> {
    match s {
        "LIMIT" => Some(OrderType::Limit),
        "MARKET" => Some(OrderType::Market),
        "LIMIT_MAKER" => Some(OrderType::LimitMaker),
        _ => None,
    }
}

/// Reads a venue time in force (`GTC`, `IOC`, `FOK`).
pub fn parse_time_in_force(s: &str) -> Option<TimeInForce> {
    match s {
        "GTC" => Some(TimeInForce::Gtc),
        "IOC" => Some(TimeInForce::Ioc),
        "FOK" => Some(TimeInForce::Fok),
        _ => None,
    }
}

fn norm(d: Decimal) -> Dec {
    Dec(d.normalize())
}

/// One fill, whatever its source (a `FULL` answer, `myTrades`, an `executionReport`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fill {
    /// Trade id.
    pub trade_id: u64,
    /// Price.
    pub price: Decimal,
    /// Quantity.
    pub qty: Decimal,
    /// Fee charged.
    pub commission: Decimal,
    /// Asset of the fee.
    pub commission_asset: String,
    /// Maker or taker.
    pub liquidity: Liquidity,
}

/// The fills of a `FULL` answer: taker fills (they happened on arrival).
pub fn full_fills(report: &OrderReport) -> Vec<Fill> {
    report
        .fills
        .iter()
        .flatten()
        .map(|f| Fill {
            trade_id: f.trade_id,
            price: f.price,
            qty: f.qty,
            commission: f.commission,
            commission_asset: f.commission_asset.clone(),
            liquidity: Liquidity::Taker,
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTrade {
    id: u64,
    order_id: u64,
    price: Dec,
    qty: Dec,
    commission: Dec,
    commission_asset: String,
    is_maker: bool,
}

/// Reads a `GET /api/v3/myTrades` answer, keeping the trades of `order_id`, oldest first.
///
/// # Errors
/// The serde message when the body is not such an answer; the field when a trade of `order_id` has
/// a price or quantity not above zero, or a negative commission.
pub fn parse_my_trades(body: &str, order_id: u64) -> Result<Vec<Fill>, String> {
    let raw: Vec<RawTrade> = serde_json::from_str(body).map_err(|e| e.to_string())?;
    for t in raw.iter().filter(|t| t.order_id == order_id) {
        amount("price", t.price, true)
            .and_then(|()| amount("qty", t.qty, true))
            .and_then(|()| amount("commission", t.commission, false))
            .map_err(|e| format!("trade {}: {e}", t.id))?;
    }
    let mut fills: Vec<Fill> = raw
        .into_iter()
        .filter(|t| t.order_id == order_id)
        .map(|t| Fill {
            trade_id: t.id,
            price: t.price.0,
            qty: t.qty.0,
            commission: t.commission.0,
            commission_asset: t.commission_asset,
            liquidity: if t.is_maker {
                Liquidity::Maker
            } else {
                Liquidity::Taker
            },
        })
        .collect();
    fills.sort_by_key(|f| f.trade_id);
    Ok(fills)
}

/// Identity of the order a fill belongs to, for [`execution`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FillContext<'a> {
    /// Id of the `PlaceOrder` that created the order.
    pub command_id: Option<&'a str>,
    /// Client order id.
    pub client_order_id: &'a str,
    /// Venue order id.
    pub exchange_order_id: &'a str,
    /// Symbol.
    pub symbol: &'a str,
    /// Side.
    pub side: Side,
    /// Ordered quantity.
    pub order_quantity: Dec,
}

/// An `OrderExecution` for `fill`, with `cumulative` filled after it; its status is `FILLED`
/// once the cumulative quantity reaches the ordered quantity.
pub fn execution(ctx: &FillContext<'_>, fill: &Fill, cumulative: Decimal, ts_ns: u64) -> Response {
    let status = if cumulative >= ctx.order_quantity.0 {
        OrderStatus::Filled
    } else {
        OrderStatus::PartiallyFilled
    };
    Response::OrderExecution(OrderExecution {
        command_id: ctx.command_id.map(str::to_owned),
        ts_ns,
        client_order_id: ctx.client_order_id.to_owned(),
        exchange_order_id: ctx.exchange_order_id.to_owned(),
        symbol: ctx.symbol.to_owned(),
        side: ctx.side,
        trade_id: fill.trade_id,
        last_price: norm(fill.price),
        last_quantity: norm(fill.qty),
        cumulative_quantity: norm(cumulative),
        order_quantity: ctx.order_quantity,
        status,
        liquidity: fill.liquidity,
        fee: norm(fill.commission),
        fee_asset: fill.commission_asset.clone(),
    })
}

/// The *order map* of a query, open-orders or cancel answer; `None` for an `ACK` or an order
/// type the engine does not serve. `created_ts_ns` is the transaction or update time.
pub fn order_info(report: &OrderReport) -> Option<OrderInfo> {
    let state = report.state.as_ref()?;
    let order_type = parse_order_type(&state.order_type)?;
    let ts = ms_to_ns(
        report
            .transact_time_ms
            .or(report.update_time_ms)
            .unwrap_or(0),
    );
    Some(OrderInfo {
        client_order_id: report.order_client_id().to_owned(),
        exchange_order_id: report.order_id.to_string(),
        symbol: report.symbol.clone(),
        side: state.side,
        order_type,
        time_in_force: match order_type {
            OrderType::Market => None,
            _ => state.time_in_force.as_deref().and_then(parse_time_in_force),
        },
        quantity: norm(state.orig_qty),
        price: (order_type != OrderType::Market).then(|| norm(state.price)),
        filled_quantity: norm(state.executed_qty),
        quote_filled: norm(state.cumulative_quote_qty),
        status: state.status.to_order_status(state.executed_qty),
        created_ts_ns: ts,
        updated_ts_ns: ts,
    })
}

/// `OrderCanceled` for a canceled order.
pub fn order_canceled(
    command_id: Option<String>,
    client_order_id: &str,
    exchange_order_id: &str,
    symbol: &str,
    filled: Decimal,
    ts_ns: u64,
) -> Response {
    Response::OrderCanceled(OrderCanceled {
        command_id,
        ts_ns,
        client_order_id: client_order_id.to_owned(),
        exchange_order_id: exchange_order_id.to_owned(),
        symbol: symbol.to_owned(),
        filled_quantity: norm(filled),
        status: OrderStatus::Canceled,
    })
}

/// An `executionReport` of the user data stream (the inner object; keys are case-sensitive).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ExecutionReport {
    /// `E`: event time, ms.
    #[serde(rename = "E")]
    pub event_time_ms: u64,
    /// `s`: symbol.
    #[serde(rename = "s")]
    pub symbol: String,
    /// `c`: client order id (on a cancel, the cancel request's own id).
    #[serde(rename = "c")]
    pub client_order_id: String,
    /// `S`: side.
    #[serde(rename = "S")]
    pub side: Side,
    /// `o`: order type.
    #[serde(rename = "o")]
    pub order_type: String,
    /// `f`: time in force.
    #[serde(rename = "f")]
    pub time_in_force: String,
    /// `q`: ordered quantity.
    #[serde(rename = "q")]
    pub quantity: Dec,
    /// `p`: limit price.
    #[serde(rename = "p")]
    pub price: Dec,
    /// `C`: the canceled order's client order id on a cancel, else empty.
    #[serde(rename = "C", default)]
    pub orig_client_order_id: Option<String>,
    /// `x`: execution type (`NEW`, `CANCELED`, `TRADE`, `EXPIRED`, ...).
    #[serde(rename = "x")]
    pub execution_type: String,
    /// `X`: order status.
    #[serde(rename = "X")]
    pub status: String,
    /// `r`: reject reason.
    #[serde(rename = "r", default)]
    pub reject_reason: String,
    /// `i`: venue order id.
    #[serde(rename = "i")]
    pub order_id: u64,
    /// `l`: last executed quantity.
    #[serde(rename = "l")]
    pub last_qty: Dec,
    /// `z`: cumulative filled quantity.
    #[serde(rename = "z")]
    pub cumulative_qty: Dec,
    /// `L`: last executed price.
    #[serde(rename = "L")]
    pub last_price: Dec,
    /// `n`: commission of this fill.
    #[serde(rename = "n")]
    pub commission: Dec,
    /// `N`: commission asset (null without a fill).
    #[serde(rename = "N")]
    pub commission_asset: Option<String>,
    /// `T`: transaction time, ms.
    #[serde(rename = "T")]
    pub transaction_time_ms: u64,
    /// `t`: trade id (-1 without a fill).
    #[serde(rename = "t")]
    pub trade_id: i64,
    /// `m`: the fill was on the maker side.
    #[serde(rename = "m")]
    pub is_maker: bool,
    /// `O`: order creation time, ms.
    #[serde(rename = "O", default)]
    pub created_ms: Option<u64>,
    /// `Z`: cumulative quote quantity.
    #[serde(rename = "Z")]
    pub cumulative_quote_qty: Dec,
}

/// `Err` naming the field when `value` breaks its amount rule ([`broken_amount_rule`]).
fn amount(field: &str, value: Dec, positive: bool) -> Result<(), String> {
    match broken_amount_rule(value.0, positive) {
        Some(rule) => Err(format!("{field} is {}: it must be {rule}", value.0)),
        None => Ok(()),
    }
}

impl ExecutionReport {
    /// Checks the amounts before anything reads them: none is negative, and a `TRADE`'s price and
    /// quantity are more than zero. `Err` names the field (Binance's letter).
    pub fn check(&self) -> Result<(), String> {
        let trade = self.execution_type == "TRADE";
        amount("q (quantity)", self.quantity, false)?;
        amount("p (price)", self.price, false)?;
        amount("l (last quantity)", self.last_qty, trade)?;
        amount("L (last price)", self.last_price, trade)?;
        amount("z (cumulative quantity)", self.cumulative_qty, false)?;
        amount("Z (cumulative quote)", self.cumulative_quote_qty, false)?;
        amount("n (commission)", self.commission, false)
    }

    /// The order's client order id: `C` when a cancel set it, else `c`.
    pub fn order_client_id(&self) -> &str {
        match self.orig_client_order_id.as_deref() {
            Some(c) if !c.is_empty() => c,
            _ => &self.client_order_id,
        }
    }

    /// The engine's status (`None` for a status the venue does not document).
    pub fn order_status(&self) -> Option<OrderStatus> {
        VenueOrderStatus::parse(&self.status).map(|s| s.to_order_status(self.cumulative_qty.0))
    }

    /// The trade id of the fill this event reports (`x = TRADE` with a trade id), if any.
    pub fn fill_trade_id(&self) -> Option<u64> {
        if self.execution_type != "TRADE" {
            return None;
        }
        u64::try_from(self.trade_id).ok()
    }

    /// The fill this event reports (`x = TRADE` with a trade id), if any.
    pub fn fill(&self) -> Option<Fill> {
        Some(Fill {
            trade_id: self.fill_trade_id()?,
            price: self.last_price.0,
            qty: self.last_qty.0,
            commission: self.commission.0,
            commission_asset: self.commission_asset.clone().unwrap_or_default(),
            liquidity: if self.is_maker {
                Liquidity::Maker
            } else {
                Liquidity::Taker
            },
        })
    }

    /// The *order map* this event describes (`None` for an order type the engine does not
    /// serve or an undocumented status).
    pub fn order_info(&self) -> Option<OrderInfo> {
        let order_type = parse_order_type(&self.order_type)?;
        Some(OrderInfo {
            client_order_id: self.order_client_id().to_owned(),
            exchange_order_id: self.order_id.to_string(),
            symbol: self.symbol.clone(),
            side: self.side,
            order_type,
            time_in_force: match order_type {
                OrderType::Market => None,
                _ => parse_time_in_force(&self.time_in_force),
            },
            quantity: norm(self.quantity.0),
            price: (order_type != OrderType::Market).then(|| norm(self.price.0)),
            filled_quantity: norm(self.cumulative_qty.0),
            quote_filled: norm(self.cumulative_quote_qty.0),
            status: self.order_status()?,
            created_ts_ns: ms_to_ns(self.created_ms.unwrap_or(self.transaction_time_ms)),
            updated_ts_ns: ms_to_ns(self.transaction_time_ms),
        })
    }
}

/// A user data stream frame.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// An `executionReport`.
    Execution(Box<ExecutionReport>),
    /// An `outboundAccountPosition`: the balances of the assets that changed.
    AccountPosition(AccountPosition),
    /// `eventStreamTerminated`: the subscription ended; resubscribe.
    Terminated,
    /// An event this executor does not act on (`balanceUpdate`, `listStatus`, ...), by its `e`.
    Other(String),
}

/// Reads a user data stream event, wrapped (`{"subscriptionId":0,"event":{..}}`, the WS API) or
/// raw (legacy listenKey streams).
///
/// # Errors
/// The serde message when the frame is not an event, or an `executionReport` is unreadable; the
/// field when one of its amounts breaks its rule ([`ExecutionReport::check`]); the
/// [`crate::balances::BalanceError`] of an unreadable `outboundAccountPosition`.
pub fn parse_stream_event(text: &str) -> Result<StreamEvent, String> {
    let mut v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let event = match v.get_mut("event") {
        Some(inner) => inner.take(),
        None => v,
    };
    let kind = event
        .get("e")
        .and_then(|e| e.as_str())
        .ok_or_else(|| "frame has no event type \"e\"".to_owned())?
        .to_owned();
    match kind.as_str() {
        "executionReport" => {
            let r = serde_json::from_value::<ExecutionReport>(event).map_err(|e| e.to_string())?;
            r.check()
                .map_err(|e| format!("executionReport of {}: {e}", r.order_client_id()))?;
            Ok(StreamEvent::Execution(Box::new(r)))
        }
        "outboundAccountPosition" => parse_account_position(event)
            .map(StreamEvent::AccountPosition)
            .map_err(|e| format!("outboundAccountPosition: {e}")),
        "eventStreamTerminated" => Ok(StreamEvent::Terminated),
        _ => Ok(StreamEvent::Other(kind)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binance_order::parse_order_response;

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/../../../tests/fixtures/binance/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(path).unwrap()
    }

    fn d(s: &str) -> Dec {
        s.parse().unwrap()
    }

    #[test]
    fn wrapped_new_report() {
        let StreamEvent::Execution(r) =
            parse_stream_event(&fixture("uds_execution_report_wrapped.json")).unwrap()
        else {
            panic!("not an execution")
        };
        assert_eq!(r.client_order_id, "mUvoqJxFIILMdfAW5iGSOW");
        assert_eq!(r.order_client_id(), "mUvoqJxFIILMdfAW5iGSOW");
        assert_eq!(r.order_status(), Some(OrderStatus::New));
        assert_eq!(r.fill(), None);
        let info = r.order_info().unwrap();
        assert_eq!(info.exchange_order_id, "4293153");
        assert_eq!(info.price, Some(d("0.1026441")));
        assert_eq!(info.quantity, d("1"));
        assert_eq!(info.time_in_force, Some(TimeInForce::Gtc));
    }

    #[test]
    fn raw_trade_and_cancel_reports() {
        let StreamEvent::Execution(r) =
            parse_stream_event(&fixture("uds_execution_report_trade_partial_nautilus.json"))
                .unwrap()
        else {
            panic!("not an execution")
        };
        let fill = r.fill().unwrap();
        assert_eq!(fill.trade_id, 98_765_432);
        assert_eq!(fill.liquidity, Liquidity::Maker);
        assert_eq!(fill.commission_asset, "ETH");
        assert_eq!(r.order_status(), Some(OrderStatus::PartiallyFilled));
        let StreamEvent::Execution(c) =
            parse_stream_event(&fixture("uds_execution_report_canceled_nautilus.json")).unwrap()
        else {
            panic!("not an execution")
        };
        assert_eq!(c.order_status(), Some(OrderStatus::Canceled));
        assert_eq!(c.order_info().unwrap().filled_quantity, d("0.1"));
        assert_eq!(
            parse_stream_event(&fixture("uds_event_stream_terminated_wrapped.json")).unwrap(),
            StreamEvent::Terminated
        );
        assert_eq!(
            parse_stream_event(&fixture("uds_balance_update_raw.json")).unwrap(),
            StreamEvent::Other("balanceUpdate".into())
        );
        assert!(parse_stream_event("{}").is_err());
    }

    /// An `outboundAccountPosition`, raw or wrapped, is read whole; one with a bad amount is an
    /// error (the stream counts it unreadable).
    #[test]
    fn account_positions_are_read_strictly() {
        let raw = fixture("uds_outbound_account_position_raw.json");
        let StreamEvent::AccountPosition(p) = parse_stream_event(&raw).unwrap() else {
            panic!("not an account position")
        };
        assert_eq!(p.last_update_ms, 1_564_034_571_073);
        assert_eq!(p.balances[0].asset, "ETH");
        assert_eq!(p.balances[0].free, d("10000"));
        let wrapped = format!("{{\"subscriptionId\":0,\"event\":{raw}}}");
        assert_eq!(
            parse_stream_event(&wrapped).unwrap(),
            StreamEvent::AccountPosition(p)
        );
        let bad = raw.replace("\"0.000000\"", "\"-1\"");
        let e = parse_stream_event(&bad).unwrap_err();
        assert!(
            e.contains("outboundAccountPosition: ETH locked is -1"),
            "{e}"
        );
    }

    #[test]
    fn query_answer_to_order_map() {
        let r = parse_order_response(&fixture("order_query_response.json")).unwrap();
        let info = order_info(&r).unwrap();
        assert_eq!(info.client_order_id, "myOrder1");
        assert_eq!(info.exchange_order_id, "1");
        assert_eq!(info.price, Some(d("0.1")));
        assert_eq!(info.status, OrderStatus::New);
        assert_eq!(info.created_ts_ns, 1_499_827_319_559_000_000);
        let cancel = parse_order_response(&fixture("order_cancel_response.json")).unwrap();
        assert_eq!(order_info(&cancel).unwrap().client_order_id, "myOrder1");
    }

    #[test]
    fn my_trades_filtered_and_sorted() {
        let body = r#"[
          {"symbol":"BNBBTC","id":29,"orderId":100,"orderListId":-1,"price":"4.1","qty":"2.0","quoteQty":"8.2","commission":"0.01","commissionAsset":"BNB","time":1,"isBuyer":true,"isMaker":true,"isBestMatch":true},
          {"symbol":"BNBBTC","id":28,"orderId":100,"orderListId":-1,"price":"4.0","qty":"1.0","quoteQty":"4.0","commission":"0.005","commissionAsset":"BNB","time":1,"isBuyer":true,"isMaker":false,"isBestMatch":true},
          {"symbol":"BNBBTC","id":30,"orderId":101,"orderListId":-1,"price":"4.0","qty":"1.0","quoteQty":"4.0","commission":"0.005","commissionAsset":"BNB","time":1,"isBuyer":true,"isMaker":false,"isBestMatch":true}
        ]"#;
        let fills = parse_my_trades(body, 100).unwrap();
        assert_eq!(
            fills.iter().map(|f| f.trade_id).collect::<Vec<_>>(),
            vec![28, 29]
        );
        assert_eq!(fills[0].liquidity, Liquidity::Taker);
        assert_eq!(fills[1].liquidity, Liquidity::Maker);
        assert!(parse_my_trades("{}", 1).is_err());
        // A trade of the order with a price of zero or a negative quantity is refused, naming it;
        // another order's trade is not read.
        for (field, good, bad) in [
            ("price", "4.1", "0.0"),
            ("qty", "2.0", "-1.0"),
            ("commission", "0.01", "-0.01"),
        ] {
            let was = format!("\"{field}\":\"{good}\"");
            let body = body.replacen(&was, &format!("\"{field}\":\"{bad}\""), 1);
            let e = parse_my_trades(&body, 100).unwrap_err();
            assert!(
                e.contains(&format!("trade 29: {field} is ")),
                "{field}: {e}"
            );
            assert_eq!(parse_my_trades(&body, 101).unwrap().len(), 1);
        }
    }

    /// An executionReport whose amounts break a rule is unreadable, with the field named: a fill
    /// (`x = TRADE`) at a price or of a quantity of zero or less, or any negative amount. The same
    /// event with zeros where no fill is reported (`x = NEW`) reads.
    #[test]
    fn execution_reports_with_amounts_out_of_range_are_refused() {
        let trade: serde_json::Value =
            serde_json::from_str(&fixture("uds_execution_report_trade_partial_nautilus.json"))
                .unwrap();
        let with = |key: &str, value: &str, x: &str| {
            let mut v = trade.clone();
            v[key] = value.into();
            v["x"] = x.into();
            parse_stream_event(&v.to_string())
        };
        for (key, value, field) in [
            ("L", "0.00000000", "L (last price)"),
            ("L", "-2499.5", "L (last price)"),
            ("l", "0", "l (last quantity)"),
            ("l", "-0.5", "l (last quantity)"),
            ("q", "-1", "q (quantity)"),
            ("p", "-2500", "p (price)"),
            ("z", "-0.5", "z (cumulative quantity)"),
            ("Z", "-1249.75", "Z (cumulative quote)"),
            ("n", "-0.0005", "n (commission)"),
        ] {
            let e = with(key, value, "TRADE").unwrap_err();
            assert!(
                e.contains("O-12345-test-trade") && e.contains(&format!("{field} is ")),
                "{key}={value}: {e}"
            );
        }
        for (key, value) in [("L", "0.00000000"), ("l", "0.00000000"), ("p", "0")] {
            assert!(
                matches!(with(key, value, "NEW"), Ok(StreamEvent::Execution(_))),
                "{key}={value} on NEW"
            );
        }
    }
}
