//! Keeping the executor's orders in line with the venue: user data stream events as they come,
//! and a reconciliation after a (re)start or a stream reconnect.

use std::collections::HashSet;

use common::message::{ErrorCode, OrderStatus, Response};
use common::time::now_ns;
use rust_decimal::Decimal;

use crate::binance_order::OrderReport;
use crate::order::{error, Order};
use crate::real::error_response::error_response;
use crate::real::executor::RealExecutor;
use crate::real::mapping::{order_info, ExecutionReport};
use crate::real::tracked::{
    absorb_report, apply_event, check_event, new_executions, status_report, ImpossibleFill, Phase,
    Tracked,
};

impl RealExecutor {
    /// Applies a user data stream `executionReport`: a fill not yet reported becomes an
    /// `OrderExecution`, a cancel an `OrderCanceled`, an expiry or rejection an `OrderStatus`;
    /// an order the executor did not know is tracked and reported with its fill, if the event has
    /// one, and `OrderStatus`, unless the event rejects it. Events
    /// for an order whose new-order answer is still out are held until it arrives. Events of
    /// another symbol (the stream is per account: a manual order on another pair) are ignored.
    ///
    /// A `REJECTED` report of an order the executor does not track is ignored: the notes (§4.4)
    /// document that execution type for a cancel-replace, "wherein the new order placement is
    /// rejected", not for a new order refused `-2010`, which its `Error` answers; an order that
    /// never rested has nothing to report, and its client order id stays free (§3.2
    /// `newClientOrderId`: "A unique id among open orders").
    ///
    /// # Errors
    /// [`ImpossibleFill`] when the event reports a fill no order can have (its `l` or `z` above
    /// the order's quantity, its fill adding up past the largest decimal): it is refused whole,
    /// neither applied, held nor reported, and an order it would start tracking is not tracked.
    /// The caller drops it (the user data stream counts it as an unreadable frame); the next
    /// reconcile asks the venue for the order.
    pub fn on_execution_report(
        &self,
        r: &ExecutionReport,
    ) -> Result<Vec<Response>, ImpossibleFill> {
        if !self.trades(&r.symbol) {
            tracing::debug!(
                symbol = %r.symbol,
                client_order_id = %r.order_client_id(),
                "executionReport of another symbol ignored"
            );
            return Ok(Vec::new());
        }
        let now = now_ns();
        let mut orders = self.orders();
        let coid = r.order_client_id().to_owned();
        match orders.by_client.get_mut(&coid) {
            Some(t) if t.phase != Phase::Known => {
                check_event(t, r)?;
                t.held.push(r.clone());
                Ok(Vec::new())
            }
            Some(t) => apply_event(t, r, now),
            None if r.order_status() == Some(OrderStatus::Rejected) => {
                tracing::info!(
                    client_order_id = %coid,
                    reject_reason = %r.reject_reason,
                    "REJECTED report of an order not tracked ignored"
                );
                Ok(Vec::new())
            }
            None => {
                let Some(info) = r.order_info() else {
                    return Ok(Vec::new());
                };
                // Its fill is reported as any other, with the order's cumulative quantity and
                // status (`z`, `X`); fills before it (`z` is above its `l`), at the next
                // reconcile, from `myTrades`.
                let mut t = Tracked::new(Order::from_info(info), Phase::Known);
                let mut out = apply_event(&mut t, r, now)?;
                out.push(status_report(&t.order, now));
                orders.by_client.insert(coid, t);
                Ok(out)
            }
        }
    }

    /// Seeds an order sent before a restart whose answer never came (the engine stopped while it
    /// was out): its outcome is unknown, so [`Self::reconcile`] looks it up by client order id.
    /// Found, it is answered as placed, with its fills (`myTrades`) and status; unknown to the
    /// venue, it is settled as never placed. Stream events of it before then are held, as for an
    /// order whose new-order answer is out. An order tracked already is left as it is.
    pub fn track_unresolved(&self, order: Order) {
        self.orders()
            .by_client
            .entry(order.info.client_order_id.clone())
            .or_insert_with(|| Tracked::new(order, Phase::Unresolved));
    }

    /// The trade ids of the fills reported of the order `client_order_id` once it is settled:
    /// its outcome known, final, and every fill the venue reported for it reported (none when the
    /// executor does not track it: refused, or unknown to the venue). `None` while it is not.
    pub fn settled_trades(&self, client_order_id: &str) -> Option<Vec<u64>> {
        let orders = self.orders();
        let Some(t) = orders.by_client.get(client_order_id) else {
            return Some(Vec::new());
        };
        let settled = t.phase == Phase::Known && !t.order.is_open() && !t.unreported();
        settled.then(|| t.trade_ids.iter().copied().collect())
    }

    /// Brings the strategy up to date after a (re)start or a stream reconnect:
    /// `GET /api/v3/openOrders` for the symbol, then `GET /api/v3/order` for every order the
    /// executor knew as open (or unresolved), or with fills not reported, that is no longer
    /// listed. Returns, per order:
    /// fills not yet reported (`myTrades`), `OrderCanceled` / `OrderStatus` for status changes,
    /// `OrderPlaced` for an unresolved order found, and `OrderStatus` for open orders the
    /// executor did not know.
    /// The balances the stream keeps are dropped first, to be seeded again by the next
    /// `QueryBalances`.
    pub async fn reconcile(&self) -> Vec<Response> {
        self.refresh_balances();
        let symbol = self.config().filters.symbol.clone();
        let mut out = Vec::new();
        let listed = match self.client().open_orders(Some(&symbol)).await {
            Ok(l) => l,
            Err(e) => {
                let mut r = error_response(None, &e, now_ns());
                if let Response::Error(err) = &mut r {
                    err.message = format!("reconcile: openOrders failed: {}", err.message);
                }
                return vec![r];
            }
        };
        let listed_ids: HashSet<String> = listed
            .iter()
            .map(|r| r.order_client_id().to_owned())
            .collect();
        for report in &listed {
            out.extend(self.sync(report).await);
        }
        let mut missing: Vec<String> = self
            .orders()
            .by_client
            .values()
            .filter(|t| t.order.info.symbol == symbol)
            .filter(|t| {
                t.phase == Phase::Unresolved
                    || (t.phase == Phase::Known && (t.order.is_open() || t.unreported()))
            })
            .map(|t| t.order.info.client_order_id.clone())
            .filter(|id| !listed_ids.contains(id))
            .collect();
        missing.sort();
        for coid in missing {
            match self.client().query_order(&symbol, &coid).await {
                Ok(report) => out.extend(self.sync(&report).await),
                Err(e) if e.is_unknown_order() => {
                    let unresolved = self
                        .orders()
                        .by_client
                        .get(&coid)
                        .is_some_and(|t| t.phase == Phase::Unresolved);
                    if unresolved {
                        // Events the user data stream held for it prove it placed, whatever the
                        // query says (`settle_not_found`); without any, it was not.
                        if let Some(placed) = self.settle_not_found(&coid).await {
                            out.extend(placed);
                            continue;
                        }
                        out.push(error(
                            None,
                            now_ns(),
                            ErrorCode::Venue,
                            Some("client_order_id"),
                            format!("unknown outcome of new order {coid} settled: the venue has no such order, it was not placed"),
                        ));
                    } else {
                        tracing::warn!(client_order_id = %coid, "order known as open is unknown to the venue");
                    }
                }
                Err(e) => {
                    let mut r = error_response(None, &e, now_ns());
                    if let Response::Error(err) = &mut r {
                        err.message = format!("reconcile: query of {coid} failed: {}", err.message);
                    }
                    out.push(r);
                }
            }
        }
        out
    }

    /// Tracks an order this executor did not know (placed before a restart, or by hand) from the
    /// venue's `report`, and returns the `OrderExecution`s of its fills so far, from `myTrades`
    /// with their real fees: a recovering strategy would otherwise make them up from the order's
    /// figures, with a fee in the wrong asset. Nothing when `myTrades` fails (the order's
    /// `OrderStatus` still tells what filled) or the order is of a type the engine does not serve.
    ///
    /// The user data stream may start tracking the order while `myTrades` is out (a fill of it):
    /// then the fills are checked against that entry, so the trades it reported are not reported
    /// again.
    pub(super) async fn adopt(&self, report: &OrderReport) -> Vec<Response> {
        let Some(info) = order_info(report) else {
            return Vec::new();
        };
        let fills = self.fills_of(report).await;
        let mut orders = self.orders();
        let t = orders
            .by_client
            .entry(info.client_order_id.clone())
            .or_insert_with(|| Tracked::new(Order::from_info(info), Phase::Known));
        new_executions(t, &fills, now_ns())
    }

    /// The `OrderExecution`s of a tracked order's fills not reported yet, when the venue's
    /// `report` says more is filled than was reported (fetched from `myTrades`).
    pub(super) async fn catch_up(&self, report: &OrderReport) -> Vec<Response> {
        let coid = report.order_client_id();
        let executed = report
            .state
            .as_ref()
            .map_or(Decimal::ZERO, |s| s.executed_qty);
        let behind = self
            .orders()
            .by_client
            .get(coid)
            .is_some_and(|t| executed > t.reported);
        if !behind {
            return Vec::new();
        }
        let fills = self.fills_of(report).await;
        let mut orders = self.orders();
        match orders.by_client.get_mut(coid) {
            Some(t) => new_executions(t, &fills, now_ns()),
            None => Vec::new(),
        }
    }

    /// Brings one tracked (or unknown) order in line with the venue's `report`.
    async fn sync(&self, report: &OrderReport) -> Vec<Response> {
        let coid = report.order_client_id().to_owned();
        let phase = self.orders().by_client.get(&coid).map(|t| t.phase);
        let now = now_ns();
        match phase {
            None => {
                let mut out = self.adopt(report).await;
                if let Some(t) = self.orders().by_client.get(&coid) {
                    out.push(status_report(&t.order, now));
                }
                out
            }
            Some(Phase::Unresolved) => {
                let fills = self.fills_of(report).await;
                self.answer_placed(&coid, report, &fills, now_ns())
            }
            Some(Phase::InFlight) => Vec::new(),
            Some(Phase::Known) => {
                let mut out = self.catch_up(report).await;
                let mut orders = self.orders();
                let Some(t) = orders.by_client.get_mut(&coid) else {
                    return out;
                };
                let before = t.order.info.status;
                let reported = out.len();
                absorb_report(&mut t.order, report, now);
                let after = t.order.info.status;
                if after != before {
                    match after {
                        OrderStatus::Canceled => out.push(t.order.canceled(None, now)),
                        OrderStatus::Expired | OrderStatus::Rejected => {
                            out.push(status_report(&t.order, now));
                        }
                        // Fills are reported by the executions; without them (myTrades
                        // failed), report the new state.
                        _ if reported == 0 => out.push(status_report(&t.order, now)),
                        _ => {}
                    }
                }
                out
            }
        }
    }
}
