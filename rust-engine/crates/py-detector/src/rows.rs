//! Blocks of events as arrays, handed to the detector a run at a time by the backtest: its synthetic
//! books (`BookRows`) and its trades (`TradeRows`). A row is checked by the detector's guard as the
//! same event one at a time would be.

use detector::detector::Levels;
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// A block of books as arrays (the backtest's synthetic books, built a few thousand at a time in
/// numpy): row `i` is the book at `times[i]`, its `nbids[i]` bids (best first) in the first
/// `levels` columns of `prices`/`qty` and its `levels` asks in the next. Each is checked level by
/// level as an unproven book is (a few dozen comparisons, cheaper than proving it in numpy).
#[derive(Default)]
pub(crate) struct BookRows {
    pub(crate) times: Vec<i64>,
    prices: Vec<f64>,
    qty: Vec<f64>,
    pub(crate) nbids: Vec<i64>,
    pub(crate) levels: usize,
}

/// `buf` copied into `out`, whose allocation is kept from one block to the next (a block is a few
/// megabytes: fresh pages each time cost more than the copy).
fn copy_into<T: pyo3::buffer::Element + Copy + Default>(
    py: Python<'_>,
    buf: &PyBuffer<T>,
    out: &mut Vec<T>,
) -> PyResult<()> {
    out.clear();
    out.resize(buf.item_count(), T::default());
    buf.copy_to_slice(py, out)
}

impl BookRows {
    /// The arrays copied in place of the block before, their shapes checked (on an error the block
    /// is empty).
    pub(crate) fn set(
        &mut self,
        py: Python<'_>,
        times: PyBuffer<i64>,
        prices: PyBuffer<f64>,
        qty: PyBuffer<f64>,
        nbids: PyBuffer<i64>,
    ) -> PyResult<()> {
        self.times.clear();
        copy_into(py, &prices, &mut self.prices)?;
        copy_into(py, &qty, &mut self.qty)?;
        copy_into(py, &nbids, &mut self.nbids)?;
        let n = times.item_count();
        let levels = if n == 0 {
            0
        } else {
            self.prices.len() / (2 * n)
        };
        if self.prices.len() != n * 2 * levels
            || self.qty.len() != self.prices.len()
            || self.nbids.len() != n
        {
            return Err(PyValueError::new_err(format!(
                "book rows: {n} times need rows of 2 x levels prices and quantities ({} and {} given), \
                 and {n} bid counts ({} given)",
                self.prices.len(),
                self.qty.len(),
                self.nbids.len()
            )));
        }
        if let Some(bad) = self.nbids.iter().find(|&&b| b < 0 || b as usize > levels) {
            return Err(PyValueError::new_err(format!(
                "book rows: {bad} bids in a book of {levels} levels a side"
            )));
        }
        copy_into(py, &times, &mut self.times)?;
        self.levels = levels;
        Ok(())
    }

    /// `n` levels of row `row` from column `from`, into `out`.
    pub(crate) fn side(&self, row: usize, from: usize, n: usize, out: &mut Levels) {
        let at = row * 2 * self.levels + from;
        out.extend(
            self.prices[at..at + n]
                .iter()
                .copied()
                .zip(self.qty[at..at + n].iter().copied()),
        );
    }
}

/// A block of trades as arrays (the backtest's trades, validated when they were loaded): row `i` is
/// the trade at `times[i]` of `qty[i]` at `prices[i]`, bought by the taker when `buy[i]` is not 0.
#[derive(Default)]
pub(crate) struct TradeRows {
    pub(crate) times: Vec<i64>,
    pub(crate) prices: Vec<f64>,
    pub(crate) qty: Vec<f64>,
    pub(crate) buy: Vec<u8>,
}

impl TradeRows {
    /// The arrays copied, their lengths checked.
    pub(crate) fn new(
        py: Python<'_>,
        times: PyBuffer<i64>,
        prices: PyBuffer<f64>,
        qty: PyBuffer<f64>,
        buy: PyBuffer<u8>,
    ) -> PyResult<Self> {
        let rows = Self {
            times: times.to_vec(py)?,
            prices: prices.to_vec(py)?,
            qty: qty.to_vec(py)?,
            buy: buy.to_vec(py)?,
        };
        let n = rows.times.len();
        if rows.prices.len() != n || rows.qty.len() != n || rows.buy.len() != n {
            return Err(PyValueError::new_err(format!(
                "trade rows: {n} times need as many prices, quantities and sides ({}, {} and {} given)",
                rows.prices.len(),
                rows.qty.len(),
                rows.buy.len()
            )));
        }
        Ok(rows)
    }
}

/// `start..end` as rows of a block of `len`, or the error naming them.
pub(crate) fn check_range(what: &str, start: usize, end: usize, len: usize) -> PyResult<()> {
    if start > end || end > len {
        return Err(PyValueError::new_err(format!(
            "{what} rows {start}..{end} of a block of {len}"
        )));
    }
    Ok(())
}
