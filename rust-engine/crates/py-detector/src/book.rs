//! `flashcrash_native.SyntheticBook`: the backtest's synthetic book (crate `synthetic-book`) as
//! `flashcrash.backtest.book.SyntheticBook` calls it. Arrays come in through the buffer protocol
//! (numpy arrays, copied) and go back as `bytearray`s of native-endian values, which Python views
//! with `np.frombuffer` (writable, no copy).

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyByteArray;
use synthetic_book::{Params, SyntheticBook, Trades};

/// What `batch` returns: level ticks (int64), quantities (float64) and bid counts (int64), each a
/// `bytearray` of native-endian values.
type BatchBytes<'py> = (
    Bound<'py, PyByteArray>,
    Bound<'py, PyByteArray>,
    Bound<'py, PyByteArray>,
);

/// `values` written at `at` into `out` as native-endian bytes.
fn put<const N: usize, T: Copy>(
    out: &mut [u8],
    at: usize,
    values: &[T],
    bytes: impl Fn(T) -> [u8; N],
) {
    let out = &mut out[at * N..(at + values.len()) * N];
    for (chunk, &v) in out.chunks_exact_mut(N).zip(values) {
        chunk.copy_from_slice(&bytes(v));
    }
}

/// The synthetic book of a trade array (see `flashcrash.backtest.book.SyntheticBook`).
#[pyclass(module = "flashcrash_native", name = "SyntheticBook")]
pub struct PySyntheticBook {
    inner: SyntheticBook,
}

#[pymethods]
impl PySyntheticBook {
    /// The trades as four arrays (times in ns, prices in ticks, quantities, aggressor bought as
    /// uint8), time-sorted; `step`, `levels` and `seed` as `BookParams`.
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        ts_ns: PyBuffer<i64>,
        ticks: PyBuffer<i64>,
        qty: PyBuffer<f64>,
        buy: PyBuffer<u8>,
        step: f64,
        levels: usize,
        seed: u64,
    ) -> PyResult<Self> {
        let trades = Trades {
            ts_ns: ts_ns.to_vec(py)?,
            ticks: ticks.to_vec(py)?,
            qty: qty.to_vec(py)?,
            buy: buy.to_vec(py)?.into_iter().map(|b| b != 0).collect(),
        };
        let inner = SyntheticBook::new(trades, Params { step, levels, seed })
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Self { inner })
    }

    /// `BASE_MULTIPLE` x the median quantity of the last 1,000 trades before `n` rounded down to a
    /// multiple of 100 (`n` itself below 100); memoised.
    fn base(&mut self, n: usize) -> f64 {
        self.inner.base(n)
    }

    /// The books at the times `t_ns` (int64) from the first `n[j]` trades each (int64, 1 to the
    /// trades held), as (level ticks, quantities, bid counts): `bytearray`s of rows × 2·levels
    /// int64, rows × 2·levels float64 and rows int64.
    fn batch<'py>(
        &mut self,
        py: Python<'py>,
        t_ns: PyBuffer<i64>,
        n: PyBuffer<i64>,
    ) -> PyResult<BatchBytes<'py>> {
        let (t_ns, n) = (t_ns.to_vec(py)?, n.to_vec(py)?);
        let (rows, width) = (t_ns.len(), 2 * self.inner.params().levels);
        let book = &mut self.inner;
        let (mut qty, mut nbids) = (None, None);
        // Three bytearrays, written book by book as the model hands them out.
        let ticks = PyByteArray::new_with(py, rows * width * 8, |ticks| {
            qty = Some(PyByteArray::new_with(py, rows * width * 8, |qty| {
                nbids = Some(PyByteArray::new_with(py, rows * 8, |nbids| {
                    book.batch_rows(&t_ns, &n, |j, t, q, b| {
                        put(ticks, j * width, t, i64::to_ne_bytes);
                        put(qty, j * width, q, f64::to_ne_bytes);
                        put(nbids, j, &[b], i64::to_ne_bytes);
                    })
                    .map_err(|e| PyValueError::new_err(e.to_string()))
                })?);
                Ok(())
            })?);
            Ok(())
        })?;
        match (qty, nbids) {
            (Some(qty), Some(nbids)) => Ok((ticks, qty, nbids)),
            _ => unreachable!("the bytearrays are made before `ticks` is"),
        }
    }
}
