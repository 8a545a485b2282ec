//! `flashcrash_native`: the compiled event detector (crate `detector`) as the Python strategy calls
//! it. `flashcrash.event_detector.Detector` wraps the `Detector` class here and turns what it hands
//! back (plain tuples, strings and numbers) into the strategy's types; the runner's candles come
//! from the detector's candle builder (`candles`), the backtest's synthetic book from `book` and its
//! venue's order rules from `rules` (the engine's own).
//!
//! Inputs are checked as the Python guard checks them: a price or quantity that is not a Python
//! float, a time that is not an int (a bool is not one), a level that is not a pair, is read as an
//! invalid value, so the guard drops the event and counts it under the reason the Python guard gave.
//!
//! An event whose time jumps far ahead is held until the next event decides on it (the `detector`
//! crate's `guard`, "Jumps ahead"); the held events a call released are the caller's to take
//! (`take_released`), before that call's own event.

mod book;
mod candles;
mod paper;
mod rows;
mod rules;

use candles::{candle_tuple, CandleTuple, PyCandleBuilder};
use detector::detector::{Levels, Released, SnapshotError};
use detector::machine::{State, Transition};
use detector::rolling;
use detector::{Detector, DetectorConfig, Readings};
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyTuple};
use rows::{check_range, BookRows, TradeRows};

/// A float argument's value; NaN (invalid for the guard) for anything but a Python float.
fn float_or_nan(v: &Bound<'_, PyAny>) -> f64 {
    v.cast::<PyFloat>().map_or(f64::NAN, |f| f.value())
}

/// A time argument's value; 0 (invalid for the guard) for anything but an int that fits 64 bits.
fn time_or_zero(v: &Bound<'_, PyAny>) -> i64 {
    if v.is_instance_of::<PyBool>() {
        return 0;
    }
    v.cast::<PyInt>()
        .ok()
        .and_then(|i| i.extract::<i64>().ok())
        .unwrap_or(0)
}

/// One (price, quantity) level: a pair (tuple or list) of floats, else NaN where it is not.
fn level(lv: &Bound<'_, PyAny>) -> (f64, f64) {
    let pair = |a: Bound<'_, PyAny>, b: Bound<'_, PyAny>| (float_or_nan(&a), float_or_nan(&b));
    if let Ok(t) = lv.cast::<PyTuple>() {
        if t.len() == 2 {
            if let (Ok(a), Ok(b)) = (t.get_item(0), t.get_item(1)) {
                return pair(a, b);
            }
        }
    } else if let Ok(l) = lv.cast::<PyList>() {
        if l.len() == 2 {
            if let (Ok(a), Ok(b)) = (l.get_item(0), l.get_item(1)) {
                return pair(a, b);
            }
        }
    }
    (f64::NAN, f64::NAN)
}

/// A book side, best first, into `out` (nothing when it is not iterable).
fn side(obj: &Bound<'_, PyAny>, out: &mut Levels) {
    if let Ok(it) = obj.try_iter() {
        out.extend(it.map(|lv| lv.map_or((f64::NAN, f64::NAN), |lv| level(&lv))));
    }
}

fn state_named(name: &str) -> PyResult<State> {
    State::ALL
        .into_iter()
        .find(|s| s.as_str() == name)
        .ok_or_else(|| PyValueError::new_err(format!("unknown detector state {name:?}")))
}

type TransitionTuple = (i64, &'static str, &'static str, String);

fn transition_tuple(t: &Transition) -> TransitionTuple {
    (
        t.ts_ns,
        t.previous.as_str(),
        t.current.as_str(),
        t.reason.clone(),
    )
}

/// One reading as (value, threshold, fired, strength, ready).
type ReadingTuple = (f64, f64, bool, f64, bool);

/// The readings as (ts_ns, eight readings in `Indicator` order, pattern, spread ratio, liquidity,
/// depth imbalance, extreme imbalance, bid walls, ask walls).
type ReadingsTuple = (
    i64,
    Vec<ReadingTuple>,
    &'static str,
    f64,
    f64,
    f64,
    bool,
    Vec<f64>,
    Vec<f64>,
    f64,
);

fn readings_tuple(r: &Readings) -> ReadingsTuple {
    let by = r
        .by_indicator
        .iter()
        .map(|x| (x.value, x.threshold, x.fired, x.strength, x.ready))
        .collect();
    (
        r.ts_ns,
        by,
        r.pattern.as_str(),
        r.spread_ratio,
        r.liquidity_usd,
        r.depth_imbalance,
        r.extreme_imbalance,
        r.bid_walls.clone(),
        r.ask_walls.clone(),
        r.price_move,
    )
}

/// Book row `row` of `rows` into the detector, as an unproven book: None for a row without a bid
/// (no book), else whether the guard accepted it.
fn book_row(inner: &mut Detector, rows: &BookRows, row: usize) -> Option<bool> {
    let nb = rows.nbids[row] as usize;
    if nb == 0 {
        return None;
    }
    let (mut bids, mut asks) = inner.book_sides();
    rows.side(row, 0, nb, &mut bids);
    rows.side(row, rows.levels, rows.levels, &mut asks);
    Some(inner.on_book(rows.times[row], bids, asks, false))
}

/// A candle a run of rows closed (`on_rows` through the states it is given): the candle, the time of
/// the event that closed it, and the detector's state, spread ratio and liquidity just after it.
type ClosedTuple = (CandleTuple, i64, &'static str, f64, f64);

/// What `on_rows` returns (see there).
type RowRunTuple = (usize, usize, usize, i64, i64, f64, Vec<ClosedTuple>);

/// A released held event as Python takes it: (ts_ns, price, qty, is_buy), price None for a book.
type ReleasedTuple = (i64, Option<f64>, f64, bool);

fn released_tuple(r: &Released) -> ReleasedTuple {
    match *r {
        Released::Trade {
            ts_ns,
            price,
            qty,
            is_buy,
        } => (ts_ns, Some(price), qty, is_buy),
        Released::Book { ts_ns } => (ts_ns, None, 0.0, false),
    }
}

/// What `on_trade` and `on_book` return: 1 when the event was taken, plus 2 when the call released
/// held events (`take_released`).
const TAKEN: u8 = 1;
const RELEASED: u8 = 2;

/// The compiled detector. See `flashcrash.event_detector.Detector` for what each method means.
#[pyclass(module = "flashcrash_native", name = "Detector")]
struct PyDetector {
    inner: Detector,
    books: BookRows,
    trades: TradeRows,
    /// The held events the last call released, in order (`take_released`).
    released: Vec<Released>,
}

impl PyDetector {
    /// After one event into `inner`: what it released joins `released`.
    fn collect_released(&mut self) {
        self.released.extend_from_slice(self.inner.released());
    }

    /// `on_trade`'s and `on_book`'s answer for an event `taken` or not.
    fn verdict(&self, taken: bool) -> u8 {
        let released = if self.released.is_empty() {
            0
        } else {
            RELEASED
        };
        u8::from(taken) * TAKEN + released
    }
}

#[pymethods]
impl PyDetector {
    /// `config_json`: every field of `[event_detection]` as a JSON object.
    #[new]
    fn new(config_json: &str) -> PyResult<Self> {
        let cfg = DetectorConfig::from_json(config_json)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Self {
            inner: Detector::new(cfg),
            books: BookRows::default(),
            trades: TradeRows::default(),
            released: Vec::new(),
        })
    }

    /// A reload's configuration (`config_json` as for the constructor).
    fn reconfigure(&mut self, config_json: &str) -> PyResult<()> {
        let cfg = DetectorConfig::from_json(config_json)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        self.inner.reconfigure(cfg);
        Ok(())
    }

    /// 1 (`TAKEN`) when the trade was taken, plus 2 (`RELEASED`) when the call released held events.
    fn on_trade(
        &mut self,
        ts_ns: &Bound<'_, PyAny>,
        price: &Bound<'_, PyAny>,
        qty: &Bound<'_, PyAny>,
        is_buy: &Bound<'_, PyAny>,
    ) -> PyResult<u8> {
        let buy = is_buy.is_truthy()?;
        self.released.clear();
        let taken = self.inner.on_trade(
            time_or_zero(ts_ns),
            float_or_nan(price),
            float_or_nan(qty),
            buy,
        );
        self.collect_released();
        Ok(self.verdict(taken))
    }

    /// As `on_trade`.
    fn on_book(
        &mut self,
        ts_ns: &Bound<'_, PyAny>,
        bids: &Bound<'_, PyAny>,
        asks: &Bound<'_, PyAny>,
        proven: bool,
    ) -> u8 {
        self.released.clear();
        let (mut b, mut a) = self.inner.book_sides();
        side(bids, &mut b);
        side(asks, &mut a);
        let taken = self.inner.on_book(time_or_zero(ts_ns), b, a, proven);
        self.collect_released();
        self.verdict(taken)
    }

    /// The held events the last call (`on_trade`, `on_book`, `on_book_rows`) released, in order,
    /// as (ts_ns, price, qty, is_buy) (price None for a book); emptied.
    fn take_released(&mut self) -> Vec<ReleasedTuple> {
        self.released
            .drain(..)
            .map(|r| released_tuple(&r))
            .collect()
    }

    /// Whether an event at `ts_ns` would be taken or dropped at once, releasing nothing.
    fn plain(&self, ts_ns: i64) -> bool {
        self.inner.plain(ts_ns)
    }

    /// Takes a block of books (see `BookRows`: `prices` and `qty` are rows of 2 x levels) for
    /// `on_book_rows`; the arrays are copied.
    fn set_book_rows(
        &mut self,
        py: Python<'_>,
        times: PyBuffer<i64>,
        prices: PyBuffer<f64>,
        qty: PyBuffer<f64>,
        nbids: PyBuffer<i64>,
    ) -> PyResult<()> {
        self.books.set(py, times, prices, qty, nbids)
    }

    /// Rows `start..end` of the block, each as `on_book` takes a book; a row without a bid is no book
    /// (skipped). Returns (books handed over, time of the last one the guard accepted (a held book
    /// released counts) or -1, how many held events the rows released: `take_released`).
    fn on_book_rows(&mut self, start: usize, end: usize) -> PyResult<(usize, i64, usize)> {
        check_range("book", start, end, self.books.times.len())?;
        self.released.clear();
        let (mut handed, mut last) = (0, -1);
        for row in start..end {
            if let Some(accepted) = book_row(&mut self.inner, &self.books, row) {
                handed += 1;
                for r in self.inner.released() {
                    if let Released::Book { ts_ns } = *r {
                        last = ts_ns;
                    }
                }
                self.collect_released();
                if accepted {
                    last = self.books.times[row];
                }
            }
        }
        Ok((handed, last, self.released.len()))
    }

    /// Takes a block of trades (see `TradeRows`) for `on_rows`; the arrays are copied.
    fn set_trade_rows(
        &mut self,
        py: Python<'_>,
        times: PyBuffer<i64>,
        prices: PyBuffer<f64>,
        qty: PyBuffer<f64>,
        buy: PyBuffer<u8>,
    ) -> PyResult<()> {
        self.trades = TradeRows::new(py, times, prices, qty, buy)?;
        Ok(())
    }

    /// The rows of both blocks, trades `trades.0..trades.1` and books `books.0..books.1`, merged in
    /// time order (a book before a trade only when it is strictly earlier, as the replay publishes
    /// them): each trade as `on_trade` takes it and, when the guard accepts it, into `candles` (the
    /// runner's) as the runner adds it; each book as `on_book_rows` takes it, and when accepted
    /// `book_lag_ns` behind it into `candles` (the runner's books close a candle that much later).
    /// Up to the first event that the guard would hold or that would release a held one (`plain`),
    /// left to the runner one at a time; and up to the first that would close the open candle (a
    /// trade at or after its end, a book `book_lag_ns` after it), left to the runner too (its
    /// candle is for the strategy), unless the detector is in one of the states `through` names
    /// (those in which a strategy holding nothing sends nothing): then that event is taken, the
    /// candle it closes listed (`ClosedTuple`: the detector's state and stop figures just after
    /// it), and the run goes on, to the event after a close that left the detector in another
    /// state at the latest. Returns (the next trade row, the next book row, books handed over, the
    /// time of the last book accepted or -1, the time and price of the last trade accepted or -1
    /// and NaN, the candles closed).
    #[pyo3(signature = (trades, books, candles, book_lag_ns, through = Vec::new()))]
    fn on_rows(
        &mut self,
        trades: (usize, usize),
        books: (usize, usize),
        mut candles: PyRefMut<'_, PyCandleBuilder>,
        book_lag_ns: i64,
        through: Vec<String>,
    ) -> PyResult<RowRunTuple> {
        let through = through
            .iter()
            .map(|name| state_named(name))
            .collect::<PyResult<Vec<State>>>()?;
        check_range("trade", trades.0, trades.1, self.trades.times.len())?;
        check_range("book", books.0, books.1, self.books.times.len())?;
        let ((mut t, t_end), (mut b, b_end)) = (trades, books);
        let (mut handed, mut book_ts, mut trade_ts, mut price) = (0, -1, -1, f64::NAN);
        let mut closed_out = Vec::new();
        let closes = |candles: &PyCandleBuilder, ts: i64| {
            candles.inner.open_end_ns().is_some_and(|end| ts >= end)
        };
        self.released.clear();
        while t < t_end || b < b_end {
            let book_next = b < b_end && (t == t_end || self.books.times[b] < self.trades.times[t]);
            let ts = if book_next {
                self.books.times[b]
            } else {
                self.trades.times[t]
            };
            if !self.inner.plain(ts) {
                break;
            }
            let closing = closes(
                &candles,
                ts.saturating_sub(if book_next { book_lag_ns } else { 0 }),
            );
            if closing && !through.contains(&self.inner.state()) {
                break;
            }
            let mut closed = None;
            if book_next {
                if let Some(accepted) = book_row(&mut self.inner, &self.books, b) {
                    handed += 1;
                    if accepted {
                        book_ts = ts;
                        if closing {
                            closed = candles.inner.advance(ts.saturating_sub(book_lag_ns));
                        }
                    }
                }
                b += 1;
            } else {
                let rows = &self.trades;
                let (p, qty, buy) = (rows.prices[t], rows.qty[t], rows.buy[t] != 0);
                if self.inner.on_trade(ts, p, qty, buy) {
                    (trade_ts, price) = (ts, p);
                    closed = candles.inner.on_trade(ts, p, qty, buy);
                    debug_assert!(
                        closing || closed.is_none(),
                        "a trade before the candle's end closed it"
                    );
                }
                t += 1;
            }
            if let Some(c) = closed {
                // As the runner's candle clock reads the detector at a close (`Detector.on_candle`).
                self.inner.take_transition();
                let state = self.inner.state();
                let r = self.inner.readings();
                closed_out.push((
                    candle_tuple(c),
                    ts,
                    state.as_str(),
                    r.spread_ratio,
                    r.liquidity_usd,
                ));
                if !through.contains(&state) {
                    break;
                }
            }
        }
        Ok((t, b, handed, book_ts, trade_ts, price, closed_out))
    }

    fn on_feed_lost(&mut self) {
        self.inner.on_feed_lost();
    }

    fn flush(&mut self) {
        self.released.clear();
        self.inner.flush();
    }

    #[getter]
    fn state(&self) -> &'static str {
        self.inner.state().as_str()
    }

    /// Seconds closed so far (each made new readings).
    #[getter]
    fn closes(&self) -> u64 {
        self.inner.closes()
    }

    #[getter]
    fn applied(&self) -> u64 {
        self.inner.applied()
    }

    #[getter]
    fn newest_ns(&self) -> i64 {
        self.inner.guard().newest_ns
    }

    #[getter]
    fn buffered(&self) -> usize {
        self.inner.buffered()
    }

    /// Events held (jumps ahead waiting for the next event).
    #[getter]
    fn held(&self) -> usize {
        self.inner.held()
    }

    /// The guard's drop counts by reason (reasons never seen are left out).
    fn dropped<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (reason, n) in self.inner.guard().dropped() {
            d.set_item(reason.as_str(), n)?;
        }
        Ok(d)
    }

    fn readings(&self) -> ReadingsTuple {
        readings_tuple(self.inner.readings())
    }

    /// The transitions from index `start` on, as (ts_ns, previous, current, reason).
    fn transitions(&self, start: usize) -> Vec<TransitionTuple> {
        self.inner
            .transitions()
            .iter()
            .skip(start)
            .map(transition_tuple)
            .collect()
    }

    #[getter]
    fn transition_count(&self) -> usize {
        self.inner.transitions().len()
    }

    /// The newest transition since the previous call, if any.
    fn take_transition(&mut self) -> Option<TransitionTuple> {
        self.inner.take_transition().map(transition_tuple)
    }

    fn shutdown(&mut self, ts_ns: i64, reason: String) -> TransitionTuple {
        transition_tuple(&self.inner.shutdown(ts_ns, reason))
    }

    fn set_history(&mut self, transitions: Vec<(i64, String, String, String)>) -> PyResult<()> {
        let ts = transitions
            .into_iter()
            .map(|(ts_ns, prev, cur, reason)| {
                Ok(Transition {
                    ts_ns,
                    previous: state_named(&prev)?,
                    current: state_named(&cur)?,
                    reason,
                })
            })
            .collect::<PyResult<Vec<_>>>()?;
        self.inner.set_history(ts);
        Ok(())
    }

    fn snapshot(&mut self) -> String {
        self.inner.snapshot()
    }

    fn restore(&mut self, json: &str) -> PyResult<()> {
        self.released.clear();
        self.inner
            .restore(json)
            .map_err(|e: SnapshotError| PyValueError::new_err(e.to_string()))
    }
}

/// Python's `math.fsum`, as the detector's windows re-sum (for the tests that hold the two equal).
#[pyfunction]
fn fsum(xs: Vec<f64>) -> f64 {
    rolling::fsum(xs)
}

#[pymodule]
fn flashcrash_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyDetector>()?;
    m.add_class::<book::PySyntheticBook>()?;
    m.add_class::<PyCandleBuilder>()?;
    m.add_class::<rules::PyOrderRules>()?;
    m.add_class::<paper::PyPaperVenue>()?;
    m.add_function(wrap_pyfunction!(fsum, m)?)?;
    Ok(())
}
