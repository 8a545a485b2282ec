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

    /// Sum of the fills' quantities (`None` when it is past the largest decimal).
    pub fn fills_qty(&self) -> Option<Decimal> {
        self.fills
            .iter()
            .flatten()
            .try_fold(Decimal::ZERO, |sum, f| sum.checked_add(f.qty))
    }

    /// Sum of the fills' price × quantity (`None` when it is past the largest decimal).
    pub fn fills_quote_qty(&self) -> Option<Decimal> {
        self.fills
            .iter()
            .flatten()
            .try_fold(Decimal::ZERO, |sum, f| {
                sum.checked_add(f.price.checked_mul(f.qty)?)
            })
    }

    /// Commission per asset, in order of first appearance (`None` when a total is past the largest
    /// decimal).
    pub fn commissions(&self) -> Option<Vec<(String, Decimal)>> {
        let mut out: Vec<(String, Decimal)> = Vec::new();
        for f in self.fills.iter().flatten() {
            match out.iter_mut().find(|(a, _)| *a == f.commission_asset) {
                Some((_, total)) => *total = total.checked_add(f.commission)?,
                None => out.push((f.commission_asset.clone(), f.commission)),
            }
        }
        Some(out)
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
    /// An amount the venue never sends: negative, or a fill's price or quantity of zero.
    #[error("order answer field {field} is {value}: it must be {rule}")]
    OutOfRange {
        /// Field.
        field: &'static str,
        /// Value.
        value: Decimal,
        /// What it must be.
        rule: &'static str,
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

/// The rule an amount from the venue breaks, if any: no amount is negative, and a fill's price and
/// quantity (`positive`) are more than zero. Order answers, `myTrades` and the user data stream's
/// `executionReport`s are all held to it.
pub(crate) fn broken_amount_rule(d: Decimal, positive: bool) -> Option<&'static str> {
    match positive {
        true if d <= Decimal::ZERO => Some("more than zero"),
        false if d < Decimal::ZERO => Some("zero or more"),
        _ => None,
    }
}

/// A plain decimal string that keeps its amount rule ([`broken_amount_rule`]).
fn amount(field: &'static str, value: &str, positive: bool) -> Result<Decimal, OrderResponseError> {
    let d = value
        .parse::<Dec>()
        .map(|d| d.0)
        .map_err(|_| OrderResponseError::Decimal {
            field,
            value: value.to_owned(),
        })?;
    match broken_amount_rule(d, positive) {
        Some(rule) => Err(OrderResponseError::OutOfRange {
            field,
            value: d,
            rule,
        }),
        None => Ok(d),
    }
}

/// Every amount of an order answer: zero or more.
fn decimal(field: &'static str, value: &str) -> Result<Decimal, OrderResponseError> {
    amount(field, value, false)
}

/// A fill's price or quantity: more than zero.
fn positive(field: &'static str, value: &str) -> Result<Decimal, OrderResponseError> {
    amount(field, value, true)
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
                            price: positive("fills.price", &f.price)?,
                            qty: positive("fills.qty", &f.qty)?,
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
#[path = "binance_order_tests.rs"]
mod tests;
