//! Binance spot order requests and answers (binance-spot-api-docs `rest-api.md`, "New order",
//! "Cancel order", "Query order", "Current open orders"; `enums.md` "Order status").
//!
//! * `POST /api/v3/order`: `symbol, side, type, [timeInForce], quantity, [price],
//!   newClientOrderId, newOrderRespType=FULL`, then `recvWindow, timestamp, signature` added by
//!   [`Signer::sign_query`]. `newClientOrderId` is the strategy's client order id, so an order
//!   whose outcome is unknown can be found again with `origClientOrderId`. Prices and quantities
//!   are written on the symbol's tick and step (as many decimals as the increment), never with
//!   an exponent (`^([0-9]{1,20})(\.[0-9]{1,20})?$`).
//! * Answers: `ACK` (ids only), `RESULT` (+ status and quantities), `FULL` (+ `fills`), and the
//!   query, cancel and open-orders answers, all read into an [`OrderReport`]. Note the venue's
//!   spelling `cummulativeQuoteQty`.

use common::message::{OrderStatus, OrderType, PlaceOrder, Side, TimeInForce};
use common::Dec;
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::filters::SymbolFilters;
use crate::signing::{SignedParams, Signer};
use crate::validate::valid_client_order_id;

/// Path of new order, cancel and query.
pub const ORDER_PATH: &str = "/api/v3/order";
/// Path of the open orders query.
pub const OPEN_ORDERS_PATH: &str = "/api/v3/openOrders";

/// A `PlaceOrder` that cannot be written as a Binance request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderBuildError {
    /// The order is for another symbol than the filters.
    #[error("order for {got} but the filters are for {expected}")]
    Symbol {
        /// The filters' symbol.
        expected: String,
        /// The order's symbol.
        got: String,
    },
    /// The client order id breaks `^[a-zA-Z0-9-_]{1,36}$`.
    #[error("client order id {0:?} does not match ^[a-zA-Z0-9-_]{{1,36}}$")]
    ClientOrderId(String),
    /// A field the order type needs is missing.
    #[error("{order_type} order needs {field}")]
    Missing {
        /// Binance order type.
        order_type: &'static str,
        /// Parameter.
        field: &'static str,
    },
    /// A price or quantity of zero or less.
    #[error("{field} {value} must be positive")]
    NotPositive {
        /// Parameter.
        field: &'static str,
        /// Value.
        value: Dec,
    },
    /// A price or quantity off the tick or step size.
    #[error("{field} {value} is not a multiple of {increment}")]
    OffIncrement {
        /// Parameter.
        field: &'static str,
        /// Value.
        value: Dec,
        /// Tick or step size.
        increment: Dec,
    },
    /// More than 20 integer or fraction digits.
    #[error("{field} {value} has more digits than the venue accepts (20.20)")]
    TooManyDigits {
        /// Parameter.
        field: &'static str,
        /// Value.
        value: Dec,
    },
}

/// Writes `value` with the decimals of `increment` (its own, normalized, when the increment is 0
/// = disabled), after checking it is positive and a multiple of the increment.
///
/// # Errors
/// [`OrderBuildError`] naming `field`.
pub fn format_on_increment(
    value: Dec,
    increment: Dec,
    field: &'static str,
) -> Result<String, OrderBuildError> {
    if !value.is_positive() {
        return Err(OrderBuildError::NotPositive { field, value });
    }
    if !value.is_multiple_of(increment) {
        return Err(OrderBuildError::OffIncrement {
            field,
            value,
            increment,
        });
    }
    let scale = if increment.0.is_zero() {
        value.0.normalize().scale()
    } else {
        increment.0.normalize().scale()
    };
    let mut v = value.0;
    v.rescale(scale);
    let text = v.to_string();
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    if int.len() > 20 || frac.len() > 20 {
        return Err(OrderBuildError::TooManyDigits { field, value });
    }
    Ok(text)
}

fn order_type_str(t: OrderType) -> &'static str {
    match t {
        OrderType::Limit => "LIMIT",
        OrderType::Market => "MARKET",
        OrderType::LimitMaker => "LIMIT_MAKER",
    }
}

fn time_in_force_str(t: TimeInForce) -> &'static str {
    match t {
        TimeInForce::Gtc => "GTC",
        TimeInForce::Ioc => "IOC",
        TimeInForce::Fok => "FOK",
    }
}

/// The parameters of `POST /api/v3/order` for `cmd`, in the order sent, before `recvWindow`,
/// `timestamp` and `signature`.
///
/// # Errors
/// [`OrderBuildError`] when the order cannot be written for these filters.
pub fn new_order_params(
    cmd: &PlaceOrder,
    filters: &SymbolFilters,
) -> Result<Vec<(&'static str, String)>, OrderBuildError> {
    if cmd.symbol != filters.symbol {
        return Err(OrderBuildError::Symbol {
            expected: filters.symbol.clone(),
            got: cmd.symbol.clone(),
        });
    }
    if !valid_client_order_id(&cmd.client_order_id) {
        return Err(OrderBuildError::ClientOrderId(cmd.client_order_id.clone()));
    }
    let order_type = order_type_str(cmd.order_type);
    let mut params = vec![
        ("symbol", cmd.symbol.clone()),
        ("side", cmd.side.as_str().to_owned()),
        ("type", order_type.to_owned()),
    ];
    if cmd.order_type == OrderType::Limit {
        let tif = cmd.time_in_force.ok_or(OrderBuildError::Missing {
            order_type,
            field: "timeInForce",
        })?;
        params.push(("timeInForce", time_in_force_str(tif).to_owned()));
    }
    params.push((
        "quantity",
        format_on_increment(cmd.quantity, filters.step_size, "quantity")?,
    ));
    if cmd.order_type != OrderType::Market {
        let price = cmd.price.ok_or(OrderBuildError::Missing {
            order_type,
            field: "price",
        })?;
        params.push((
            "price",
            format_on_increment(price, filters.tick_size, "price")?,
        ));
    }
    params.push(("newClientOrderId", cmd.client_order_id.clone()));
    params.push(("newOrderRespType", "FULL".to_owned()));
    Ok(params)
}

/// A signed REST request, ready to send with the `X-MBX-APIKEY` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// HTTP method.
    pub method: &'static str,
    /// Path.
    pub path: &'static str,
    /// Query string and body, signed.
    pub params: SignedParams,
}

impl SignedRequest {
    /// `path?query`.
    pub fn path_and_query(&self) -> String {
        format!("{}?{}", self.path, self.params.query)
    }
}

/// The signed `POST /api/v3/order` for `cmd`, with `timestamp = timestamp_ms` (take it from
/// [`crate::signing::ServerClock::now_ms`]).
///
/// # Errors
/// See [`new_order_params`].
pub fn signed_new_order(
    cmd: &PlaceOrder,
    filters: &SymbolFilters,
    signer: &Signer,
    timestamp_ms: u64,
) -> Result<SignedRequest, OrderBuildError> {
    let params = new_order_params(cmd, filters)?;
    Ok(SignedRequest {
        method: "POST",
        path: ORDER_PATH,
        params: signer.sign_query(&params, timestamp_ms),
    })
}

/// The signed `GET /api/v3/order` by client order id: what to send when an order's outcome is
/// unknown.
pub fn signed_query_order(
    symbol: &str,
    client_order_id: &str,
    signer: &Signer,
    timestamp_ms: u64,
) -> SignedRequest {
    let params = [("symbol", symbol), ("origClientOrderId", client_order_id)];
    SignedRequest {
        method: "GET",
        path: ORDER_PATH,
        params: signer.sign_query(&params, timestamp_ms),
    }
}

/// The signed `DELETE /api/v3/order` by client order id.
pub fn signed_cancel_order(
    symbol: &str,
    client_order_id: &str,
    signer: &Signer,
    timestamp_ms: u64,
) -> SignedRequest {
    let params = [("symbol", symbol), ("origClientOrderId", client_order_id)];
    SignedRequest {
        method: "DELETE",
        path: ORDER_PATH,
        params: signer.sign_query(&params, timestamp_ms),
    }
}

/// Order status as the venue reports it (`enums.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VenueOrderStatus {
    /// `NEW`.
    New,
    /// `PENDING_NEW` (part of an order list not yet working).
    PendingNew,
    /// `PARTIALLY_FILLED`.
    PartiallyFilled,
    /// `FILLED`.
    Filled,
    /// `CANCELED`.
    Canceled,
    /// `PENDING_CANCEL` ("currently unused").
    PendingCancel,
    /// `REJECTED`.
    Rejected,
    /// `EXPIRED` (IOC/FOK remainder, or by the venue).
    Expired,
    /// `EXPIRED_IN_MATCH` (self-trade prevention).
    ExpiredInMatch,
}

impl VenueOrderStatus {
    /// Reads the venue's spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "NEW" => Self::New,
            "PENDING_NEW" => Self::PendingNew,
            "PARTIALLY_FILLED" => Self::PartiallyFilled,
            "FILLED" => Self::Filled,
            "CANCELED" => Self::Canceled,
            "PENDING_CANCEL" => Self::PendingCancel,
            "REJECTED" => Self::Rejected,
            "EXPIRED" => Self::Expired,
            "EXPIRED_IN_MATCH" => Self::ExpiredInMatch,
            _ => return None,
        })
    }

    /// True once the order can no longer change.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Filled | Self::Canceled | Self::Rejected | Self::Expired | Self::ExpiredInMatch
        )
    }

    /// The engine's status, given the executed quantity (a pending or new order with fills is
    /// partially filled; `EXPIRED_IN_MATCH` is expired).
    pub fn to_order_status(self, executed_qty: Decimal) -> OrderStatus {
        match self {
            Self::New | Self::PendingNew | Self::PendingCancel if executed_qty > Decimal::ZERO => {
                OrderStatus::PartiallyFilled
            }
            Self::New | Self::PendingNew | Self::PendingCancel => OrderStatus::New,
            Self::PartiallyFilled => OrderStatus::PartiallyFilled,
            Self::Filled => OrderStatus::Filled,
            Self::Canceled => OrderStatus::Canceled,
            Self::Rejected => OrderStatus::Rejected,
            Self::Expired | Self::ExpiredInMatch => OrderStatus::Expired,
        }
    }
}

/// One fill of a `FULL` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueFill {
    /// Price.
    pub price: Decimal,
    /// Quantity.
    pub qty: Decimal,
    /// Commission charged.
    pub commission: Decimal,
    /// Asset the commission is charged in.
    pub commission_asset: String,
    /// Trade id.
    pub trade_id: u64,
}

/// Status and quantities (absent from `ACK` answers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderState {
    /// Status.
    pub status: VenueOrderStatus,
    /// Side.
    pub side: Side,
    /// Venue order type, e.g. `LIMIT`.
    pub order_type: String,
    /// Time in force, when given.
    pub time_in_force: Option<String>,
    /// Limit price (0 for market orders).
    pub price: Decimal,
    /// Ordered quantity.
    pub orig_qty: Decimal,
    /// Executed quantity.
    pub executed_qty: Decimal,
    /// Cumulative quote quantity (`cummulativeQuoteQty`).
    pub cumulative_quote_qty: Decimal,
}

/// Which answer shape a report came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseKind {
    /// Ids only.
    Ack,
    /// Status and quantities (also query and cancel answers).
    Result,
    /// Status, quantities and fills.
    Full,
}

/// An order answer (new, query, cancel, or one element of open orders).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderReport {
    /// Symbol.
    pub symbol: String,
    /// Venue order id.
    pub order_id: u64,
    /// Order list id (-1 outside lists).
    pub order_list_id: i64,
    /// `clientOrderId`: the order's, or on a cancel the cancel request's own id.
    pub client_order_id: String,
    /// `origClientOrderId` of a cancel answer: the canceled order's client order id.
    pub orig_client_order_id: Option<String>,
    /// `transactTime`, ms (new and cancel answers).
    pub transact_time_ms: Option<u64>,
    /// `updateTime`, ms (query answers).
    pub update_time_ms: Option<u64>,
    /// Status and quantities (`None` for `ACK`).
    pub state: Option<OrderState>,
    /// Fills (`Some` for `FULL` only, possibly empty).
    pub fills: Option<Vec<VenueFill>>,
}

impl OrderReport {
    /// The answer's shape.
    pub fn kind(&self) -> ResponseKind {
        match (&self.state, &self.fills) {
            (None, _) => ResponseKind::Ack,
            (Some(_), None) => ResponseKind::Result,
            (Some(_), Some(_)) => ResponseKind::Full,
        }
    }

    /// The strategy's client order id: `origClientOrderId` on a cancel answer, else
    /// `clientOrderId`.
    pub fn order_client_id(&self) -> &str {
        self.orig_client_order_id
            .as_deref()
            .unwrap_or(&self.client_order_id)
    }

    /// The engine's status (`None` for `ACK`).
    pub fn order_status(&self) -> Option<OrderStatus> {
        self.state
            .as_ref()
            .map(|s| s.status.to_order_status(s.executed_qty))
    }

    /// Sum of the fills' quantities.
    pub fn fills_qty(&self) -> Decimal {
        self.fills.iter().flatten().map(|f| f.qty).sum()
    }

    /// Sum of the fills' price × quantity.
    pub fn fills_quote_qty(&self) -> Decimal {
        self.fills.iter().flatten().map(|f| f.price * f.qty).sum()
    }

    /// Commission per asset, in order of first appearance.
    pub fn commissions(&self) -> Vec<(String, Decimal)> {
        let mut out: Vec<(String, Decimal)> = Vec::new();
        for f in self.fills.iter().flatten() {
            match out.iter_mut().find(|(a, _)| *a == f.commission_asset) {
                Some((_, total)) => *total += f.commission,
                None => out.push((f.commission_asset.clone(), f.commission)),
            }
        }
        out
    }
}

/// An order answer that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderResponseError {
    /// Not the expected JSON.
    #[error("order answer is not valid: {0}")]
    Malformed(String),
    /// A field the answer's shape needs is missing.
    #[error("order answer has status but no {0}")]
    Missing(&'static str),
    /// A number that is not a plain decimal string.
    #[error("order answer field {field} is not a plain decimal: {value:?}")]
    Decimal {
        /// Field.
        field: &'static str,
        /// Value.
        value: String,
    },
    /// A status this code does not know.
    #[error("unknown order status {0:?}")]
    Status(String),
    /// A side other than `BUY`/`SELL`.
    #[error("unknown side {0:?}")]
    Side(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawFill {
    price: String,
    qty: String,
    commission: String,
    commission_asset: String,
    trade_id: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawOrder {
    symbol: String,
    order_id: u64,
    #[serde(default = "no_list")]
    order_list_id: i64,
    client_order_id: String,
    orig_client_order_id: Option<String>,
    transact_time: Option<u64>,
    update_time: Option<u64>,
    status: Option<String>,
    side: Option<String>,
    #[serde(rename = "type")]
    order_type: Option<String>,
    time_in_force: Option<String>,
    price: Option<String>,
    orig_qty: Option<String>,
    executed_qty: Option<String>,
    #[serde(rename = "cummulativeQuoteQty")]
    cumulative_quote_qty: Option<String>,
    fills: Option<Vec<RawFill>>,
}

fn no_list() -> i64 {
    -1
}

fn decimal(field: &'static str, value: &str) -> Result<Decimal, OrderResponseError> {
    value
        .parse::<Dec>()
        .map(|d| d.0)
        .map_err(|_| OrderResponseError::Decimal {
            field,
            value: value.to_owned(),
        })
}

fn required(field: &'static str, value: Option<String>) -> Result<String, OrderResponseError> {
    value.ok_or(OrderResponseError::Missing(field))
}

impl TryFrom<RawOrder> for OrderReport {
    type Error = OrderResponseError;

    fn try_from(r: RawOrder) -> Result<Self, Self::Error> {
        let state = match r.status {
            None => None,
            Some(status) => {
                let status = VenueOrderStatus::parse(&status)
                    .ok_or_else(|| OrderResponseError::Status(status.clone()))?;
                let side = match required("side", r.side)?.as_str() {
                    "BUY" => Side::Buy,
                    "SELL" => Side::Sell,
                    other => return Err(OrderResponseError::Side(other.to_owned())),
                };
                Some(OrderState {
                    status,
                    side,
                    order_type: required("type", r.order_type)?,
                    time_in_force: r.time_in_force,
                    price: decimal("price", &required("price", r.price)?)?,
                    orig_qty: decimal("origQty", &required("origQty", r.orig_qty)?)?,
                    executed_qty: decimal(
                        "executedQty",
                        &required("executedQty", r.executed_qty)?,
                    )?,
                    cumulative_quote_qty: decimal(
                        "cummulativeQuoteQty",
                        &required("cummulativeQuoteQty", r.cumulative_quote_qty)?,
                    )?,
                })
            }
        };
        let fills = match r.fills {
            None => None,
            Some(raw) => Some(
                raw.into_iter()
                    .map(|f| {
                        Ok(VenueFill {
                            price: decimal("fills.price", &f.price)?,
                            qty: decimal("fills.qty", &f.qty)?,
                            commission: decimal("fills.commission", &f.commission)?,
                            commission_asset: f.commission_asset,
                            trade_id: f.trade_id,
                        })
                    })
                    .collect::<Result<Vec<_>, OrderResponseError>>()?,
            ),
        };
        if fills.is_some() && state.is_none() {
            return Err(OrderResponseError::Missing("status"));
        }
        Ok(OrderReport {
            symbol: r.symbol,
            order_id: r.order_id,
            order_list_id: r.order_list_id,
            client_order_id: r.client_order_id,
            orig_client_order_id: r.orig_client_order_id,
            transact_time_ms: r.transact_time,
            update_time_ms: r.update_time,
            state,
            fills,
        })
    }
}

/// Reads a new order (`ACK`, `RESULT`, `FULL`), query or cancel answer.
///
/// # Errors
/// [`OrderResponseError`] when the body is not such an answer.
pub fn parse_order_response(body: &str) -> Result<OrderReport, OrderResponseError> {
    let raw: RawOrder =
        serde_json::from_str(body).map_err(|e| OrderResponseError::Malformed(e.to_string()))?;
    OrderReport::try_from(raw)
}

/// Reads a `GET /api/v3/openOrders` answer.
///
/// # Errors
/// [`OrderResponseError`] when the body or one of its orders is unreadable.
pub fn parse_open_orders(body: &str) -> Result<Vec<OrderReport>, OrderResponseError> {
    let raw: Vec<RawOrder> =
        serde_json::from_str(body).map_err(|e| OrderResponseError::Malformed(e.to_string()))?;
    raw.into_iter().map(OrderReport::try_from).collect()
}

#[cfg(test)]
mod tests {
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
        assert_eq!(r.fills_qty(), Decimal::ZERO);
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
        assert_eq!(r.fills_qty(), d("10"));
        assert_eq!(r.state.as_ref().unwrap().executed_qty, d("10"));
        // The docs' example is not self-consistent: its fills are worth 39983 USDT while its
        // cummulativeQuoteQty says 10. Both are reported as given.
        assert_eq!(r.fills_quote_qty(), d("39983"));
        assert_eq!(r.state.as_ref().unwrap().cumulative_quote_qty, d("10"));
        assert_eq!(r.commissions(), vec![("USDT".to_owned(), d("39.983"))]);
    }

    #[test]
    fn full_limit_new_ccxt_fixture() {
        let r =
            parse_order_response(&fixture("order_new_response_full_limit_new_ccxt.json")).unwrap();
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
}
