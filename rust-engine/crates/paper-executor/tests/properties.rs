//! Property tests of the paper executor, the venue of paper trading and of backtests: over random
//! books, orders of every type, cancels and market trades, whatever it answers holds together.
//!
//! * no order fills more than its quantity, a fill is never empty, a resting order fills (maker) at
//!   its own price and only on a trade through it, a taker never pays past its limit (slippage
//!   aside), a `LIMIT_MAKER` never takes;
//! * one market trade fills at most its own quantity, in all;
//! * `MARKET` and `IOC` never rest, `FOK` fills whole or not at all;
//! * each fee is the rate of its liquidity on what the venue charges (a buy's coins, a sell's
//!   notional), rounded down to 8 decimals;
//! * the account moves by exactly the fills reported, and the open orders are those reported open.

use std::collections::HashMap;

use common::message::{
    Aggressor, CancelOrder, Liquidity, OrderStatus, OrderType, PlaceOrder, Response, Side,
    TimeInForce, Trade,
};
use common::Dec;
use order_rules::fixtures::polusdt_filters;
use order_rules::Limits;
use paper_executor::paper::{Depth, Level};
use paper_executor::{Fees, FillRule, PaperExecutor};
use proptest::prelude::*;
use rust_decimal::{Decimal, RoundingStrategy};

const TICK: u64 = 10_000; // 0.0001 in 10⁻⁸ units
const STEP: u64 = 10_000_000; // 0.1
const MID_TICKS: i64 = 2_000; // 0.2000

/// A book handed over as it is (levels of no quantity included: the executor must skip them).
#[derive(Debug)]
struct Book {
    bids: Vec<Level>,
    asks: Vec<Level>,
}

impl Depth for Book {
    fn synced(&self) -> bool {
        true
    }

    fn levels(&self, side: Side) -> impl Iterator<Item = Level> + Clone + '_ {
        match side {
            Side::Buy => self.bids.iter(),
            Side::Sell => self.asks.iter(),
        }
        .copied()
    }
}

#[derive(Debug, Clone)]
enum Step {
    Place {
        side: Side,
        kind: u8,
        steps: u64,
        ticks_from_mid: i64,
    },
    Cancel(usize),
    Trade {
        ticks_from_mid: i64,
        steps: u64,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (any::<bool>(), 0u8..5, 1u64..3_000, -15i64..15).prop_map(|(buy, kind, steps, t)| {
            Step::Place {
                side: if buy { Side::Buy } else { Side::Sell },
                kind,
                steps,
                ticks_from_mid: t,
            }
        }),
        1 => (0usize..64).prop_map(Step::Cancel),
        4 => (-20i64..20, 0u64..2_000).prop_map(|(t, steps)| Step::Trade { ticks_from_mid: t, steps }),
    ]
}

/// Bids from one tick under the middle down, asks from one tick over it up, some levels empty.
fn book() -> impl Strategy<Value = Book> {
    let side = prop::collection::vec(0u64..400, 1..8);
    (side.clone(), side).prop_map(|(bq, aq)| {
        let level = |ticks: i64, steps: u64| Level {
            price: u64::try_from(ticks).unwrap() * TICK,
            qty: steps * STEP,
        };
        Book {
            bids: (1..)
                .zip(&bq)
                .map(|(i, &q)| level(MID_TICKS - i, q))
                .collect(),
            asks: (1..)
                .zip(&aq)
                .map(|(i, &q)| level(MID_TICKS + i, q))
                .collect(),
        }
    })
}

fn price(ticks_from_mid: i64) -> Dec {
    Dec(Decimal::new(MID_TICKS + ticks_from_mid, 4))
}

fn qty(steps: u64) -> Dec {
    Dec(Decimal::new(i64::try_from(steps).unwrap(), 1))
}

/// What the responses said of an order.
struct Seen {
    cmd: PlaceOrder,
    status: OrderStatus,
    filled: Decimal,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn what_the_executor_answers_holds_together(
        book in book(),
        steps in prop::collection::vec(step(), 1..40),
        touch in any::<bool>(),
        slippage_bps in prop_oneof![Just(0i64), 1i64..50],
    ) {
        let rates = (Decimal::new(1, 3), Decimal::new(2, 3)); // maker 0.001, taker 0.002
        let mut x = PaperExecutor::new(
            polusdt_filters(),
            Limits { max_order_notional: Dec(Decimal::from(1_000_000)), max_open_orders: 1_000 },
            Fees { maker: Dec(rates.0), taker: Dec(rates.1) },
            if touch { FillRule::Touch } else { FillRule::TradeThrough },
        )
        .with_taker_slippage_bps(Decimal::from(slippage_bps))
        .with_quote_balance(Decimal::from(10_000));
        let slip = Decimal::from(slippage_bps) / Decimal::from(10_000);
        let (mut base, mut quote) = (Decimal::ZERO, Decimal::from(10_000));
        let mut orders: HashMap<String, Seen> = HashMap::new();
        let mut ids: Vec<String> = Vec::new();
        for (n, s) in steps.into_iter().enumerate() {
            let now = n as u64 + 1;
            let (out, trade) = match s {
                Step::Place { side, kind, steps, ticks_from_mid } => {
                    let (order_type, tif) = match kind {
                        0 => (OrderType::Market, None),
                        1 => (OrderType::Limit, Some(TimeInForce::Gtc)),
                        2 => (OrderType::Limit, Some(TimeInForce::Ioc)),
                        3 => (OrderType::Limit, Some(TimeInForce::Fok)),
                        _ => (OrderType::LimitMaker, None),
                    };
                    let id = format!("o{n}");
                    let cmd = PlaceOrder {
                        command_id: format!("c{n}"),
                        ts_ns: now,
                        client_order_id: id.clone(),
                        symbol: "POLUSDT".into(),
                        side,
                        order_type,
                        time_in_force: tif,
                        quantity: qty(steps),
                        price: (order_type != OrderType::Market).then(|| price(ticks_from_mid)),
                    };
                    let out = x.place(&cmd, &book, now);
                    if let Some(Response::OrderPlaced(p)) = out.first() {
                        prop_assert_eq!(&p.client_order_id, &id);
                        orders.insert(id.clone(), Seen { cmd, status: p.status, filled: Decimal::ZERO });
                        ids.push(id);
                    } else {
                        prop_assert!(matches!(out.as_slice(), [Response::Error(_)]), "{:?}", out);
                    }
                    (out, None)
                }
                Step::Cancel(i) => {
                    let Some(id) = ids.get(i % ids.len().max(1)).cloned() else { continue };
                    let cmd = CancelOrder {
                        command_id: format!("x{n}"),
                        ts_ns: now,
                        symbol: "POLUSDT".into(),
                        client_order_id: id,
                    };
                    (x.cancel(&cmd, now), None)
                }
                Step::Trade { ticks_from_mid, steps } => {
                    let t = Trade {
                        symbol: "POLUSDT".into(),
                        exchange_ts_ns: now,
                        local_ts_ns: now,
                        trade_id: now,
                        price: (MID_TICKS + ticks_from_mid) as f64 / 10_000.0,
                        quantity: steps as f64 / 10.0,
                        aggressor: Aggressor::Sell,
                    };
                    let out = x.on_trade(&t, now);
                    (out, Some((price(ticks_from_mid).0, qty(steps).0)))
                }
            };
            let mut traded = Decimal::ZERO;
            for r in &out {
                match r {
                    Response::OrderExecution(e) => {
                        let seen = orders.get_mut(&e.client_order_id).expect("a fill of an order placed");
                        let (q, p) = (e.last_quantity.0, e.last_price.0);
                        prop_assert!(q > Decimal::ZERO && p > Decimal::ZERO, "{:?}", e);
                        seen.filled += q;
                        prop_assert!(seen.filled <= seen.cmd.quantity.0, "overfilled: {:?}", e);
                        prop_assert_eq!(e.cumulative_quantity.0, seen.filled);
                        let limit = seen.cmd.price.map(|l| l.0);
                        match e.liquidity {
                            Liquidity::Maker => {
                                let (tp, _) = trade.expect("a maker fill comes from a trade");
                                prop_assert_eq!(Some(p), limit);
                                let through = match (e.side, touch) {
                                    (Side::Buy, false) => tp < p,
                                    (Side::Buy, true) => tp <= p,
                                    (Side::Sell, false) => tp > p,
                                    (Side::Sell, true) => tp >= p,
                                };
                                prop_assert!(through, "maker fill at {} on a trade at {}", p, tp);
                                traded += q;
                            }
                            Liquidity::Taker => {
                                prop_assert!(trade.is_none(), "a trade made a taker fill");
                                prop_assert!(seen.cmd.order_type != OrderType::LimitMaker);
                                if let Some(l) = limit {
                                    let worst = match e.side {
                                        Side::Buy => (l * (Decimal::ONE + slip)).round_dp(8),
                                        Side::Sell => (l * (Decimal::ONE - slip)).round_dp(8),
                                    };
                                    let ok = match e.side {
                                        Side::Buy => p <= worst,
                                        Side::Sell => p >= worst,
                                    };
                                    prop_assert!(ok, "taker {:?} at {} past its limit {}", e.side, p, l);
                                }
                            }
                        }
                        let rate = if e.liquidity == Liquidity::Maker { rates.0 } else { rates.1 };
                        let charged = if e.side == Side::Buy { q } else { p * q };
                        let fee = (charged * rate).round_dp_with_strategy(8, RoundingStrategy::ToZero);
                        prop_assert_eq!(e.fee.0, fee);
                        match e.side {
                            Side::Buy => {
                                prop_assert_eq!(e.fee_asset.as_str(), "POL");
                                base += q - fee;
                                quote -= p * q;
                            }
                            Side::Sell => {
                                prop_assert_eq!(e.fee_asset.as_str(), "USDT");
                                base -= q;
                                quote += p * q - fee;
                            }
                        }
                        seen.status = e.status;
                    }
                    Response::OrderCanceled(c) => {
                        orders.get_mut(&c.client_order_id).expect("placed").status = OrderStatus::Canceled;
                    }
                    _ => {}
                }
            }
            if let Some((_, tq)) = trade {
                prop_assert!(traded <= tq, "a trade of {} filled {}", tq, traded);
            }
            // After placement (its status is the order's after the fills that follow it): MARKET and
            // IOC never rest, FOK is whole or nothing.
            if let Some(Response::OrderPlaced(p)) = out.first() {
                let seen = orders.get_mut(&p.client_order_id).expect("placed");
                seen.status = p.status;
                let cmd = &seen.cmd;
                if cmd.order_type == OrderType::Market
                    || matches!(cmd.time_in_force, Some(TimeInForce::Ioc | TimeInForce::Fok))
                {
                    prop_assert!(seen.status.is_terminal(), "{:?} rests", cmd);
                }
                if cmd.time_in_force == Some(TimeInForce::Fok) {
                    prop_assert!(
                        seen.filled.is_zero() || seen.filled == cmd.quantity.0,
                        "FOK filled {} of {}", seen.filled, cmd.quantity
                    );
                }
            }
            let open = orders.values().filter(|o| !o.status.is_terminal()).count();
            prop_assert_eq!(x.open_count(), open);
        }
        prop_assert_eq!(x.totals(), (base, quote));
    }
}
