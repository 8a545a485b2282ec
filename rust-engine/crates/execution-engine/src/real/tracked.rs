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

/// A fill the venue reported that no order can have: no venue fills more than the order, and a
/// venue's figures never add up past the largest decimal. The event or fill is refused whole:
/// nothing of it is applied to the order nor reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ImpossibleFill {
    /// A fill's quantity (an event's `l`, a trade's `qty`) is above the order's quantity.
    #[error("trade {trade_id}: last quantity {last} is above the order's quantity {order}")]
    LastAboveOrder {
        /// Trade id.
        trade_id: u64,
        /// The fill's quantity.
        last: Decimal,
        /// The order's quantity.
        order: Decimal,
    },
    /// The order's cumulative filled quantity (an event's `z`, the running sum of a `myTrades`
    /// answer's fills) is above its quantity.
    #[error("cumulative quantity {cumulative} is above the order's quantity {order}")]
    CumulativeAboveOrder {
        /// The cumulative filled quantity.
        cumulative: Decimal,
        /// The order's quantity.
        order: Decimal,
    },
    /// The fills reported of the order, with this one (each trade once, whatever reported it),
    /// add up past its quantity: each fill was within it, but not all of them together.
    #[error("trade {trade_id}: the order's fills reported with it add up to {reported}, above its quantity {order}")]
    ReportedAboveOrder {
        /// Trade id.
        trade_id: u64,
        /// The quantity reported with this fill.
        reported: Decimal,
        /// The order's quantity.
        order: Decimal,
    },
    /// A fill's quantity added to a sum (the quantity reported, the running cumulative quantity)
    /// passes the largest decimal.
    #[error("trade {trade_id}: quantity {qty} added to {sum} passes the largest decimal")]
    TooLargeToAddUp {
        /// Trade id.
        trade_id: u64,
        /// The fill's quantity.
        qty: Decimal,
        /// What it was added to.
        sum: Decimal,
    },
}

/// Refuses a fill (trade `trade_id` of `qty`) above the order's `quantity`.
fn last_within(trade_id: u64, qty: Decimal, quantity: Decimal) -> Result<(), ImpossibleFill> {
    if qty > quantity {
        return Err(ImpossibleFill::LastAboveOrder {
            trade_id,
            last: qty,
            order: quantity,
        });
    }
    Ok(())
}

/// Refuses a cumulative filled quantity above the order's `quantity`.
fn cumulative_within(cumulative: Decimal, quantity: Decimal) -> Result<(), ImpossibleFill> {
    if cumulative > quantity {
        return Err(ImpossibleFill::CumulativeAboveOrder {
            cumulative,
            order: quantity,
        });
    }
    Ok(())
}

/// `sum` + the fill's `qty` (trade `trade_id`), refused past the largest decimal.
fn add_fill(trade_id: u64, sum: Decimal, qty: Decimal) -> Result<Decimal, ImpossibleFill> {
    sum.checked_add(qty)
        .ok_or(ImpossibleFill::TooLargeToAddUp { trade_id, qty, sum })
}

/// The quantity reported with the fill `qty` (trade `trade_id`) added to the `reported` sum,
/// refused past the largest decimal or past the order's `quantity`.
fn report_fill(
    trade_id: u64,
    reported: Decimal,
    qty: Decimal,
    quantity: Decimal,
) -> Result<Decimal, ImpossibleFill> {
    let reported = add_fill(trade_id, reported, qty)?;
    if reported > quantity {
        return Err(ImpossibleFill::ReportedAboveOrder {
            trade_id,
            reported,
            order: quantity,
        });
    }
    Ok(reported)
}

/// Checks the fill `f` of an order of `quantity`, the fills before it in its answer adding up to
/// `cumulative`: returns the cumulative quantity after it and, when it is not reported yet
/// (`reported` is `Some` quantity reported), the quantity reported with it.
fn check_fill(
    f: &Fill,
    quantity: Decimal,
    cumulative: Decimal,
    reported: Option<Decimal>,
) -> Result<(Decimal, Option<Decimal>), ImpossibleFill> {
    last_within(f.trade_id, f.qty, quantity)?;
    let cumulative = add_fill(f.trade_id, cumulative, f.qty)?;
    cumulative_within(cumulative, quantity)?;
    let reported = reported
        .map(|sum| report_fill(f.trade_id, sum, f.qty, quantity))
        .transpose()?;
    Ok((cumulative, reported))
}

/// Executions for the `fills` of the tracked order `t` not yet reported (by trade id); the
/// cumulative quantity runs over every fill. A fill no order can have ([`ImpossibleFill`]: above
/// the order's quantity, alone, with the fills before it in the answer or with the fills reported
/// before it, or adding up past the largest decimal)
/// is refused with the rest, and logged.
pub(super) fn new_executions(t: &mut Tracked, fills: &[Fill], now: u64) -> Vec<Response> {
    let Tracked {
        order,
        trade_ids,
        reported,
        ..
    } = t;
    let ctx = fill_ctx(order);
    let quantity = order.info.quantity.0;
    let mut cumulative = Decimal::ZERO;
    let mut out = Vec::new();
    for f in fills {
        let new = !trade_ids.contains(&f.trade_id);
        let (next, with_it) = match check_fill(f, quantity, cumulative, new.then_some(*reported)) {
            Ok(checked) => checked,
            Err(e) => {
                tracing::warn!(
                    client_order_id = %order.info.client_order_id,
                    error = %e,
                    "venue fill refused: it and the fills after it are not reported"
                );
                break;
            }
        };
        cumulative = next;
        if let Some(with_it) = with_it {
            trade_ids.insert(f.trade_id);
            *reported = with_it;
            out.push(execution(&ctx, f, cumulative, now));
        }
    }
    out
}

/// Checks a stream event against the tracked order `t` before anything of it is applied: its
/// fill (`l`) and the cumulative quantity it reports (`z`) are within the order's quantity, and
/// its fill, when not reported yet, adds to the quantity reported within it. Returns the quantity reported
/// with that fill (`None` when the event has no fill not reported yet).
///
/// # Errors
/// [`ImpossibleFill`] when the event reports a fill no order can have: the event is refused whole.
pub(super) fn check_event(
    t: &Tracked,
    r: &ExecutionReport,
) -> Result<Option<Decimal>, ImpossibleFill> {
    let quantity = t.order.info.quantity.0;
    let trade_id = r.fill_trade_id();
    if let Some(trade_id) = trade_id {
        last_within(trade_id, r.last_qty.0, quantity)?;
    }
    cumulative_within(r.cumulative_qty.0, quantity)?;
    match trade_id {
        Some(trade_id) if !t.trade_ids.contains(&trade_id) => {
            report_fill(trade_id, t.reported, r.last_qty.0, quantity).map(Some)
        }
        _ => Ok(None),
    }
}

/// Applies one stream event to a tracked order: its fill (once per trade id) and its status
/// change (`OrderCanceled`, or `OrderStatus` for expiry and rejection). A cancel that comes while
/// the order's `CancelOrder` is out is left to that request's answer.
///
/// # Errors
/// [`ImpossibleFill`] ([`check_event`]): nothing of the event is applied.
pub(super) fn apply_event(
    t: &mut Tracked,
    r: &ExecutionReport,
    now: u64,
) -> Result<Vec<Response>, ImpossibleFill> {
    let with_fill = check_event(t, r)?;
    let mut out = Vec::new();
    if t.order.info.exchange_order_id.is_empty() {
        t.order.info.exchange_order_id = r.order_id.to_string();
    }
    if let Some(reported) = with_fill {
        if let Some(fill) = r.fill() {
            t.trade_ids.insert(fill.trade_id);
            t.reported = reported;
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
    Ok(out)
}

/// Applies the stream events held while the order's answer was out ([`apply_event`]), their
/// responses to `out`. Each was checked when it came ([`check_event`]); one refused now (its fill
/// added to the fills reported since passes the largest decimal) is dropped and logged.
pub(super) fn apply_held(t: &mut Tracked, now: u64, out: &mut Vec<Response>) {
    for r in std::mem::take(&mut t.held) {
        match apply_event(t, &r, now) {
            Ok(rs) => out.extend(rs),
            Err(e) => tracing::warn!(
                client_order_id = %t.order.info.client_order_id,
                error = %e,
                "held executionReport refused: dropped (the next reconcile asks the venue)"
            ),
        }
    }
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
        order_of("1.0".parse().unwrap(), status)
    }

    /// An order of `quantity` in `status`, nothing filled.
    fn order_of(quantity: Dec, status: OrderStatus) -> Order {
        Order::from_info(OrderInfo {
            client_order_id: "myOrder1".into(),
            exchange_order_id: "1".into(),
            symbol: "LTCBTC".into(),
            side: Side::Buy,
            order_type: OrderType::Limit,
            time_in_force: None,
            quantity,
            price: None,
            filled_quantity: "0".parse().unwrap(),
            quote_filled: "0".parse().unwrap(),
            status,
            created_ts_ns: 0,
            updated_ts_ns: 0,
        })
    }

    fn fill(trade_id: u64, qty: Decimal) -> Fill {
        Fill {
            trade_id,
            price: Decimal::ONE,
            qty,
            commission: Decimal::ZERO,
            commission_asset: "LTC".into(),
            liquidity: common::message::Liquidity::Taker,
        }
    }

    /// The trade ids of the `OrderExecution`s of `out` (every response must be one).
    fn trade_ids(out: &[Response]) -> Vec<u64> {
        out.iter()
            .map(|r| match r {
                Response::OrderExecution(e) => e.trade_id,
                other => panic!("{other:?}"),
            })
            .collect()
    }

    /// A stream event of `myOrder1` (`x`, `X`, `l`, `z`, `t`) that passes
    /// [`ExecutionReport::check`], as every event the stream hands over does.
    fn event(
        x: &str,
        status: &str,
        last: &str,
        cumulative: &str,
        trade_id: i64,
    ) -> ExecutionReport {
        let path = format!(
            "{}/../../../tests/fixtures/binance/uds_execution_report_trade_partial_nautilus.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        v["c"] = "myOrder1".into();
        v["x"] = x.into();
        v["X"] = status.into();
        v["l"] = last.into();
        v["z"] = cumulative.into();
        v["t"] = trade_id.into();
        let r: ExecutionReport = serde_json::from_value(v).unwrap();
        r.check().unwrap();
        r
    }

    /// Fills whose cumulative quantity would pass the largest decimal are not reported (nor
    /// marked reported), never a panic; the fills before them are.
    #[test]
    fn fills_too_large_to_add_up_are_not_reported() {
        let fills = [
            fill(1, Decimal::ONE),
            fill(2, Decimal::MAX),
            fill(3, Decimal::ONE),
        ];
        let mut t = Tracked::new(order_of(Dec(Decimal::MAX), OrderStatus::New), Phase::Known);
        let out = new_executions(&mut t, &fills, 5);
        assert_eq!(trade_ids(&out), [1]);
        assert_eq!(
            (t.trade_ids, t.reported),
            (HashSet::from([1]), Decimal::ONE)
        );
    }

    /// A `myTrades` (or `FULL`) fill above the order's quantity, alone or with the fills before
    /// it, is not reported, nor the fills after it; one whose quantity added to the quantity
    /// already reported passes the largest decimal neither (it panicked).
    #[test]
    fn fills_above_the_order_or_the_reported_sum_are_not_reported() {
        let tenths = |n| Decimal::new(n, 1);
        let fills = [fill(1, tenths(6)), fill(2, tenths(6)), fill(3, tenths(1))];
        let mut t = Tracked::new(order(OrderStatus::New), Phase::Known);
        assert_eq!(trade_ids(&new_executions(&mut t, &fills, 5)), [1]);
        assert_eq!((t.trade_ids.len(), t.reported), (1, tenths(6)));

        let mut t = Tracked::new(order(OrderStatus::New), Phase::Known);
        assert!(new_executions(&mut t, &[fill(1, tenths(15))], 5).is_empty());
        assert_eq!((t.trade_ids.len(), t.reported), (0, Decimal::ZERO));

        let mut t = Tracked::new(order_of(Dec(Decimal::MAX), OrderStatus::New), Phase::Known);
        t.reported = Decimal::MAX;
        assert!(new_executions(&mut t, &[fill(1, Decimal::ONE)], 5).is_empty());
        assert_eq!((t.trade_ids.len(), t.reported), (0, Decimal::MAX));
    }

    /// Fills each within the order's quantity whose trades add up past it (the venue's figures
    /// disagree with each other: two trades under different ids, a `z` that misses a trade) are
    /// refused from the one that passes it, by the stream and by a `myTrades` answer alike.
    #[test]
    fn fills_reported_past_the_order_quantity_are_refused() {
        let mut t = Tracked::new(order(OrderStatus::New), Phase::Known);
        let first = event("TRADE", "PARTIALLY_FILLED", "0.6", "0.6", 1);
        assert_eq!(trade_ids(&apply_event(&mut t, &first, 5).unwrap()), [1]);
        let second = event("TRADE", "PARTIALLY_FILLED", "0.6", "0.6", 2);
        let refused = apply_event(&mut t, &second, 6).unwrap_err();
        assert!(
            matches!(
                refused,
                ImpossibleFill::ReportedAboveOrder { trade_id: 2, .. }
            ),
            "{refused}"
        );
        assert_eq!(
            (t.trade_ids.clone(), t.reported),
            (HashSet::from([1]), Decimal::new(6, 1))
        );
        assert_eq!(t.order.info.updated_ts_ns, 5);

        let answer = [fill(7, Decimal::new(6, 1))];
        assert!(new_executions(&mut t, &answer, 7).is_empty());
        assert_eq!(
            (t.trade_ids, t.reported),
            (HashSet::from([1]), Decimal::new(6, 1))
        );
    }

    /// Two stream fills of 5e28 (trades 1 and 2) pass the event check, and are refused, never a
    /// panic: on an order of 1, both are above its quantity; on an order of 5e28 (as large as they
    /// are), the first is reported and the second, whose quantity added to the first's passes the
    /// largest decimal, refused, the order left as the first made it.
    #[test]
    fn stream_fills_too_large_to_add_up_are_refused_not_a_panic() {
        let huge = "50000000000000000000000000000";
        let first = event("TRADE", "PARTIALLY_FILLED", huge, huge, 1);
        let second = event("TRADE", "PARTIALLY_FILLED", huge, huge, 2);

        let mut t = Tracked::new(order(OrderStatus::New), Phase::Known);
        for r in [&first, &second] {
            assert!(matches!(
                apply_event(&mut t, r, 5),
                Err(ImpossibleFill::LastAboveOrder { .. })
            ));
        }
        assert_eq!((t.trade_ids.len(), t.reported), (0, Decimal::ZERO));
        assert_eq!(t.order.info.filled_quantity, "0".parse().unwrap());

        let mut t = Tracked::new(
            order_of(huge.parse().unwrap(), OrderStatus::New),
            Phase::Known,
        );
        assert_eq!(trade_ids(&apply_event(&mut t, &first, 5).unwrap()), [1]);
        let refused = apply_event(&mut t, &second, 6).unwrap_err();
        assert!(
            matches!(refused, ImpossibleFill::TooLargeToAddUp { trade_id: 2, .. }),
            "{refused}"
        );
        assert_eq!(t.trade_ids, HashSet::from([1]));
        assert_eq!(t.reported, huge.parse::<Decimal>().unwrap());
        assert_eq!(t.order.info.updated_ts_ns, 5);
    }

    /// A stream event whose fill (`l`) or cumulative quantity (`z`) is above the order's quantity
    /// is refused whole: no execution, its trade id not taken, the order's fills and status as
    /// before (a cancel reporting such a `z` too). The same trade within the order is reported.
    #[test]
    fn stream_events_above_the_order_quantity_are_refused_whole() {
        let mut t = Tracked::new(order(OrderStatus::New), Phase::Known);
        let refused = [
            event("TRADE", "PARTIALLY_FILLED", "1.5", "0.5", 7),
            event("TRADE", "FILLED", "0.5", "1.5", 7),
            event("CANCELED", "CANCELED", "0", "1.5", -1),
        ];
        for r in &refused {
            let e = apply_event(&mut t, r, 5).unwrap_err();
            assert!(
                matches!(
                    e,
                    ImpossibleFill::LastAboveOrder { trade_id: 7, .. }
                        | ImpossibleFill::CumulativeAboveOrder { .. }
                ),
                "{e}"
            );
            assert_eq!(check_event(&t, r), Err(e));
        }
        assert!(t.trade_ids.is_empty());
        assert_eq!(t.reported, Decimal::ZERO);
        assert_eq!(t.order.info.filled_quantity, "0".parse().unwrap());
        assert_eq!(
            (t.order.info.status, t.order.info.updated_ts_ns),
            (OrderStatus::New, 0)
        );
        let out = apply_event(&mut t, &event("TRADE", "FILLED", "1", "1", 7), 6).unwrap();
        assert_eq!(trade_ids(&out), [7]);
        assert_eq!(t.order.info.status, OrderStatus::Filled);
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
