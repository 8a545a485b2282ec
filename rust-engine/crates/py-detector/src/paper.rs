//! `flashcrash_native.PaperVenue`: the engine's paper executor (crate `paper-executor`) as the
//! backtest's simulated venue (`flashcrash.backtest.venue.SimVenue`) fills with it, behind the engine
//! core's position limits (crate `order-rules`): a backtest's orders are refused, placed, filled on
//! arrival and filled by the market's trades by the code that does it in paper trading, and answered
//! with the same wire responses (MessagePack, as the engine publishes them).

use common::message::{codec, Command, ErrorCode, PlaceOrder, Response, Side, Trade};
use common::Dec;
use order_rules::exposure::PositionLimits;
use paper_executor::order::error;
use paper_executor::paper::{units_to_dec, Depth, Level};
use paper_executor::{Fees, FillRule, PaperExecutor};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::rules::{decimal, PyOrderRules};

/// The book an order meets: (price, quantity) levels of each side, best first, at one instant
/// (its version: the orders of one instant meet what those before them left).
struct Sides {
    bids: Vec<Level>,
    asks: Vec<Level>,
    at_ns: u64,
}

impl Depth for Sides {
    /// A book with an empty side is none yet (the synthetic book before the first trade).
    fn synced(&self) -> bool {
        !self.bids.is_empty() && !self.asks.is_empty()
    }

    fn levels(&self, side: Side) -> impl Iterator<Item = Level> + Clone + '_ {
        match side {
            Side::Buy => self.bids.iter(),
            Side::Sell => self.asks.iter(),
        }
        .copied()
    }

    fn version(&self) -> Option<u64> {
        Some(self.at_ns)
    }
}

/// 10⁻⁸ units of a level's price or quantity, or a `ValueError` naming the side.
fn units(side: &str, x: f64) -> PyResult<u64> {
    let u = (x * 1e8).round();
    if x.is_finite() && (0.0..=u64::MAX as f64).contains(&u) {
        Ok(u as u64)
    } else {
        Err(PyValueError::new_err(format!(
            "{side}: {x} is not a price or quantity"
        )))
    }
}

fn levels(side: &str, levels: Vec<(f64, f64)>) -> PyResult<Vec<Level>> {
    levels
        .into_iter()
        .map(|(p, q)| {
            Ok(Level {
                price: units(side, p)?,
                qty: units(side, q)?,
            })
        })
        .collect()
}

fn command(payload: &[u8]) -> PyResult<Command> {
    codec::decode::<Command>(payload).map_err(|e| PyValueError::new_err(format!("command: {e}")))
}

fn encoded<'py>(py: Python<'py>, out: &[Response]) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    out.iter()
        .map(|r| {
            codec::encode(r)
                .map(|b| PyBytes::new(py, &b))
                .map_err(|e| PyValueError::new_err(format!("response: {e}")))
        })
        .collect()
}

/// One symbol's paper venue and account for a backtest.
#[pyclass(module = "flashcrash_native", name = "PaperVenue")]
pub struct PyPaperVenue {
    executor: PaperExecutor,
    positions: PositionLimits,
    fees: Fees,
    fill_rule: FillRule,
}

impl PyPaperVenue {
    /// Why the engine's core would refuse `p` for `[risk] max_positions` or
    /// `max_position_notional` (a market order valued at the touch it takes from), as it answers.
    fn position_refusal(&self, p: &PlaceOrder, book: &Sides, now: u64) -> Option<Response> {
        let touch = || {
            let best = book
                .levels(p.side.opposite())
                .find(|l| l.price > 0 && l.qty > 0)?;
            Some(units_to_dec(best.price))
        };
        let r = self
            .positions
            .check_order(
                p,
                touch,
                self.executor.totals().0,
                self.executor.open_quantities(),
            )
            .err()?;
        Some(error(
            Some(&p.command_id),
            now,
            ErrorCode::Validation,
            Some(r.field),
            r.to_string(),
        ))
    }
}

#[pymethods]
impl PyPaperVenue {
    /// A venue trading under `rules` (`OrderRules`: the symbol's filters, `[risk]`'s limits) with
    /// `cash` of the quote asset and `base` of the base asset; fee rates, `touch` (the fill rule: a
    /// resting order also fills when a trade prints at its price) and the taker slippage in basis
    /// points as in `[fees]` and `[backtest]` (decimal strings). With `check_funds` a buy the free
    /// cash cannot pay for is refused, as a spot venue refuses it (`-2010`).
    #[new]
    #[pyo3(signature = (rules, base_asset, quote_asset, maker_rate, taker_rate, touch, slippage_bps, cash, base = "0", check_funds = false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        rules: PyRef<'_, PyOrderRules>,
        base_asset: String,
        quote_asset: String,
        maker_rate: &str,
        taker_rate: &str,
        touch: bool,
        slippage_bps: &str,
        cash: &str,
        base: &str,
        check_funds: bool,
    ) -> PyResult<Self> {
        let fees = Fees {
            maker: Dec(decimal("maker_rate", maker_rate)?),
            taker: Dec(decimal("taker_rate", taker_rate)?),
        };
        let fill_rule = if touch {
            FillRule::Touch
        } else {
            FillRule::TradeThrough
        };
        let mut filters = rules.filters.clone();
        filters.base_asset = base_asset;
        filters.quote_asset = quote_asset;
        let mut executor = PaperExecutor::new(filters, rules.limits.clone(), fees, fill_rule)
            .with_taker_slippage_bps(decimal("slippage_bps", slippage_bps)?)
            .with_quote_balance(decimal("cash", cash)?)
            .with_base_balance(decimal("base", base)?);
        if check_funds {
            executor = executor.with_funds_checked();
        }
        Ok(Self {
            executor,
            positions: rules.positions,
            fees,
            fill_rule,
        })
    }

    /// New `[risk]` limits (the position limits' lot, when entries are sized from equity); the
    /// symbol's filters stay.
    fn set_rules(&mut self, rules: PyRef<'_, PyOrderRules>) {
        self.positions = rules.positions;
        self.executor
            .reconfigure(rules.limits.clone(), self.fees, self.fill_rule);
    }

    /// Answers `order` (a `PlaceOrder` as the wire encodes it) on the book of this instant (levels
    /// best first, as (price, quantity)): the responses, encoded.
    fn place<'py>(
        &mut self,
        py: Python<'py>,
        order: &[u8],
        bids: Vec<(f64, f64)>,
        asks: Vec<(f64, f64)>,
        now: u64,
    ) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        let Command::PlaceOrder(p) = command(order)? else {
            return Err(PyValueError::new_err("order: not a PlaceOrder"));
        };
        let book = Sides {
            bids: levels("bids", bids)?,
            asks: levels("asks", asks)?,
            at_ns: now,
        };
        if let Some(refused) = self.position_refusal(&p, &book, now) {
            return encoded(py, &[refused]);
        }
        encoded(py, &self.executor.place(&p, &book, now))
    }

    /// Answers a `CancelOrder`, `QueryOrder`, `QueryOpenOrders` or `QueryBalances`; `None` for
    /// any other command (not the executor's).
    fn command<'py>(
        &mut self,
        py: Python<'py>,
        cmd: &[u8],
        now: u64,
    ) -> PyResult<Option<Vec<Bound<'py, PyBytes>>>> {
        let out = match command(cmd)? {
            Command::CancelOrder(c) => self.executor.cancel(&c, now),
            Command::QueryOrder(q) => vec![self.executor.query(&q, now)],
            Command::QueryOpenOrders(q) => vec![self.executor.open_orders(&q, now)],
            Command::QueryBalances(q) => vec![self.executor.balances(&q, now)],
            _ => return Ok(None),
        };
        encoded(py, &out).map(Some)
    }

    /// A market trade at `ts_ns`: the fills of the resting orders it prints through, encoded.
    fn on_trade<'py>(
        &mut self,
        py: Python<'py>,
        ts_ns: u64,
        price: f64,
        quantity: f64,
    ) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        let trade = Trade {
            symbol: self.executor.filters().symbol.clone(),
            exchange_ts_ns: ts_ns,
            local_ts_ns: ts_ns,
            trade_id: 0,
            price,
            quantity,
            aggressor: common::message::Aggressor::Sell,
        };
        encoded(py, &self.executor.on_trade(&trade, ts_ns))
    }

    /// Orders open.
    #[getter]
    fn open_count(&self) -> usize {
        self.executor.open_count()
    }

    /// The account's base asset held and quote cash (decimal strings), fees taken out.
    #[getter]
    fn account(&self) -> (String, String) {
        let (base, quote) = self.executor.totals();
        (base.normalize().to_string(), quote.normalize().to_string())
    }
}
