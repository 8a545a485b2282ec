//! An order as the real executor tracks it (its phase against the venue's answer, the trades
//! already reported, the stream events held), and how a venue report or a stream event changes
//! it and what the strategy is told.

use std::collections::{HashMap, HashSet};

use common::message::{OrderStatus, OrderStatusReport, Response};
use common::time::ms_to_ns;
use common::Dec;
use rust_decimal::Decimal;

use crate::binance_order::OrderReport;
use crate::order::Order;
use crate::real::mapping::{execution, ExecutionReport, Fill, FillContext};

/// Where an order stands with respect to the venue's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// The new-order request is out.
    InFlight,
    /// Its outcome is unknown and the queries did not settle it.
    Unresolved,
    /// The venue's answer is in.
    Known,
}

/// Where a `CancelOrder` of a tracked order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CancelRequest {
    /// None is at the venue.
    Idle,
    /// One is at the venue: its answer reports the cancel, not the stream.
    Out,
    /// One is at the venue, and the stream reported the order canceled meanwhile (not reported
    /// then): the cancel is answered `OrderCanceled` whatever the venue answers.
    OutCanceledMeanwhile,
}

/// An order the executor tracks.
#[derive(Debug, Clone)]
pub(super) struct Tracked {
    pub(super) order: Order,
    pub(super) phase: Phase,
    /// Its `CancelOrder` at the venue, if any.
    pub(super) cancel: CancelRequest,
    /// Trade ids already reported as `OrderExecution`s.
    pub(super) trade_ids: HashSet<u64>,
    /// The quantity those executions add up to: where the venue says more is filled (its
    /// `executedQty`, a stream event's cumulative quantity), fills are missing (an event lost, a
    /// `myTrades` that failed), and the next reconcile or query asks `myTrades` for them.
    pub(super) reported: Decimal,
    /// Stream events that arrived while the new-order answer was out, applied after it.
    pub(super) held: Vec<ExecutionReport>,
}

impl Tracked {
    /// `order` in `phase`, nothing reported yet.
    pub(super) fn new(order: Order, phase: Phase) -> Self {
        Tracked {
            order,
            phase,
            cancel: CancelRequest::Idle,
            trade_ids: HashSet::new(),
            reported: Decimal::ZERO,
            held: Vec::new(),
        }
    }

    /// The venue has filled more of it than was reported.
    pub(super) fn unreported(&self) -> bool {
        self.order.info.filled_quantity.0 > self.reported
    }

    /// Counted as open: working, or its outcome not known yet.
    pub(super) fn counts_as_open(&self) -> bool {
        self.phase != Phase::Known || self.order.is_open()
    }
}

/// Every order the executor tracks, by client order id.
#[derive(Debug, Default)]
pub(super) struct Orders {
    pub(super) by_client: HashMap<String, Tracked>,
    /// Client order ids used by orders the venue never took after an unknown outcome.
    pub(super) absent: HashSet<String>,
}

impl Orders {
    /// Orders of `symbol` counted as open.
    pub(super) fn open_count(&self, symbol: &str) -> usize {
        self.by_client
            .values()
            .filter(|t| t.order.info.symbol == symbol && t.counts_as_open())
            .count()
    }
}

pub(super) fn fill_ctx(order: &Order) -> FillContext<'_> {
    FillContext {
        command_id: order.command_id.as_deref(),
        client_order_id: &order.info.client_order_id,
        exchange_order_id: &order.info.exchange_order_id,
        symbol: &order.info.symbol,
        side: order.info.side,
        order_quantity: order.info.quantity,
    }
}

pub(super) fn status_report(order: &Order, now: u64) -> Response {
    Response::OrderStatus(OrderStatusReport {
        command_id: None,
        ts_ns: now,
        order: order.info.clone(),
    })
}

/// Applies the venue's view of an order (`report`) to the tracked order.
pub(super) fn absorb_report(order: &mut Order, report: &OrderReport, now: u64) {
    if order.info.exchange_order_id.is_empty() {
        order.info.exchange_order_id = report.order_id.to_string();
    }
    if let Some(state) = &report.state {
        if state.executed_qty >= order.info.filled_quantity.0 {
            order.info.filled_quantity = Dec(state.executed_qty.normalize());
            order.info.quote_filled = Dec(state.cumulative_quote_qty.normalize());
        }
        let status = state.status.to_order_status(state.executed_qty);
        if !order.info.status.is_terminal() {
            order.info.status = status;
        }
    }
    order.info.updated_ts_ns = now;
}

/// Executions for the `fills` of the tracked order `t` not yet reported (by trade id); the
/// cumulative quantity runs over every fill. A fill that would take it past the largest decimal (no
/// venue reports that) is refused with the rest, and logged.
pub(super) fn new_executions(t: &mut Tracked, fills: &[Fill], now: u64) -> Vec<Response> {
    let Tracked {
        order,
        trade_ids,
        reported,
        ..
    } = t;
    let ctx = fill_ctx(order);
    let mut cumulative = Decimal::ZERO;
    let mut out = Vec::new();
    for f in fills {
        let Some(next) = cumulative.checked_add(f.qty) else {
            tracing::warn!(
                client_order_id = %order.info.client_order_id,
                trade_id = f.trade_id,
                qty = %f.qty,
                cumulative = %cumulative,
                "venue fill too large to add up: it and the fills after it are not reported"
            );
            break;
        };
        cumulative = next;
        if trade_ids.insert(f.trade_id) {
            *reported += f.qty;
            out.push(execution(&ctx, f, cumulative, now));
        }
    }
    out
}

/// Applies one stream event to a tracked order: its fill (once per trade id) and its status
/// change (`OrderCanceled`, or `OrderStatus` for expiry and rejection). A cancel that comes while
/// the order's `CancelOrder` is out is left to that request's answer.
pub(super) fn apply_event(t: &mut Tracked, r: &ExecutionReport, now: u64) -> Vec<Response> {
    let mut out = Vec::new();
    if t.order.info.exchange_order_id.is_empty() {
        t.order.info.exchange_order_id = r.order_id.to_string();
    }
    if let Some(fill) = r.fill() {
        if t.trade_ids.insert(fill.trade_id) {
            t.reported += fill.qty;
            out.push(execution(
                &fill_ctx(&t.order),
                &fill,
                r.cumulative_qty.0,
                ms_to_ns(r.transaction_time_ms),
            ));
        }
    }
    if r.cumulative_qty.0 > t.order.info.filled_quantity.0 {
        t.order.info.filled_quantity = Dec(r.cumulative_qty.0.normalize());
        t.order.info.quote_filled = Dec(r.cumulative_quote_qty.0.normalize());
    }
    t.order.info.updated_ts_ns = now;
    if let Some(status) = r.order_status() {
        if status != t.order.info.status && !t.order.info.status.is_terminal() {
            t.order.info.status = status;
            match status {
                OrderStatus::Canceled if t.cancel == CancelRequest::Idle => {
                    out.push(t.order.canceled(None, now))
                }
                OrderStatus::Canceled => t.cancel = CancelRequest::OutCanceledMeanwhile,
                OrderStatus::Expired | OrderStatus::Rejected => {
                    out.push(status_report(&t.order, now));
                }
                _ => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binance_order::parse_order_response;
    use common::message::{OrderInfo, OrderType, Side};

    fn report(status: &str, executed: &str) -> OrderReport {
        let path = format!(
            "{}/../../../tests/fixtures/binance/order_query_response.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        v["status"] = serde_json::json!(status);
        v["executedQty"] = serde_json::json!(executed);
        parse_order_response(&v.to_string()).unwrap()
    }

    fn order(status: OrderStatus) -> Order {
        Order::from_info(OrderInfo {
            client_order_id: "myOrder1".into(),
            exchange_order_id: "1".into(),
            symbol: "LTCBTC".into(),
            side: Side::Buy,
            order_type: OrderType::Limit,
            time_in_force: None,
            quantity: "1.0".parse().unwrap(),
            price: None,
            filled_quantity: "0".parse().unwrap(),
            quote_filled: "0".parse().unwrap(),
            status,
            created_ts_ns: 0,
            updated_ts_ns: 0,
        })
    }

    /// Fills whose cumulative quantity would pass the largest decimal are not reported (nor
    /// marked reported), never a panic; the fills before them are.
    #[test]
    fn fills_too_large_to_add_up_are_not_reported() {
        use crate::real::mapping::Fill;
        use common::message::Liquidity;
        let fill = |trade_id, qty: Decimal| Fill {
            trade_id,
            price: Decimal::ONE,
            qty,
            commission: Decimal::ZERO,
            commission_asset: "LTC".into(),
            liquidity: Liquidity::Taker,
        };
        let fills = [
            fill(1, Decimal::ONE),
            fill(2, Decimal::MAX),
            fill(3, Decimal::ONE),
        ];
        let mut t = Tracked::new(order(OrderStatus::New), Phase::Known);
        let out = new_executions(&mut t, &fills, 5);
        let reported: Vec<u64> = out
            .iter()
            .map(|r| match r {
                Response::OrderExecution(e) => e.trade_id,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(reported, [1]);
        assert_eq!(
            (t.trade_ids, t.reported),
            (HashSet::from([1]), Decimal::ONE)
        );
    }

    /// A venue report moves a working order's status and fills forward, but never brings an
    /// order back from a terminal status (a stale `NEW` answer after the cancel is ignored).
    #[test]
    fn a_report_never_reopens_a_terminal_order() {
        let mut working = order(OrderStatus::New);
        absorb_report(&mut working, &report("PARTIALLY_FILLED", "0.4"), 5);
        assert_eq!(working.info.status, OrderStatus::PartiallyFilled);
        assert_eq!(working.info.filled_quantity, "0.4".parse().unwrap());
        for terminal in [
            OrderStatus::Canceled,
            OrderStatus::Filled,
            OrderStatus::Expired,
        ] {
            let mut done = order(terminal);
            absorb_report(&mut done, &report("NEW", "0.0"), 5);
            assert_eq!(done.info.status, terminal);
            assert!(!done.is_open(), "{terminal:?}");
        }
    }
}
