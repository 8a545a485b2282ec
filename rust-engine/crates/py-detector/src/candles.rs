//! `flashcrash_native.CandleBuilder`: the detector's candle builder (crate `detector`, `candles.rs`)
//! as the runner calls it, through `flashcrash.event_detector.candles.CandleBuilder`, which turns a
//! closed candle's tuple into a `Candle`. The runner's candles and the detector's are the same code.

use detector::candles::{Candle, CandleBuilder};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// A closed candle as (start_ns, open, high, low, close, volume, buy_volume, trades), the fields of
/// the Python `Candle` in order.
pub(crate) type CandleTuple = (i64, f64, f64, f64, f64, f64, f64, u64);

pub(crate) fn candle_tuple(c: Candle) -> CandleTuple {
    (
        c.start_ns,
        c.open,
        c.high,
        c.low,
        c.close,
        c.volume,
        c.buy_volume,
        c.trades,
    )
}

/// Candles of `interval_ns` from trades in event-time order.
#[pyclass(module = "flashcrash_native", name = "CandleBuilder")]
pub struct PyCandleBuilder {
    pub(crate) inner: CandleBuilder,
}

#[pymethods]
impl PyCandleBuilder {
    /// `interval_ns` must be positive.
    #[new]
    #[pyo3(signature = (interval_ns = detector::candles::NS))]
    fn new(interval_ns: i64) -> PyResult<Self> {
        if interval_ns <= 0 {
            return Err(PyValueError::new_err(format!(
                "candle interval_ns must be positive, got {interval_ns}"
            )));
        }
        Ok(Self {
            inner: CandleBuilder::new(interval_ns),
        })
    }

    #[getter]
    fn interval_ns(&self) -> i64 {
        self.inner.interval_ns
    }

    #[getter]
    fn late_trades(&self) -> u64 {
        self.inner.late_trades
    }

    fn open_end_ns(&self) -> Option<i64> {
        self.inner.open_end_ns()
    }

    fn advance(&mut self, ts_ns: i64) -> Option<CandleTuple> {
        self.inner.advance(ts_ns).map(candle_tuple)
    }

    fn on_trade(&mut self, ts_ns: i64, price: f64, qty: f64, buy: bool) -> Option<CandleTuple> {
        self.inner
            .on_trade(ts_ns, price, qty, buy)
            .map(candle_tuple)
    }
}
