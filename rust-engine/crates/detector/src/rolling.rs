//! Rolling windows over per-second samples, with O(1) amortised work per sample.
//!
//! `RecentAndBaseline` keeps the last `recent` samples and, behind them, the `baseline` samples before
//! those: the baseline never contains the recent window, so a sudden change is measured against the
//! market as it was before the change. While `learn` is false (see `StateMachine::learns`), samples
//! leaving the recent window are not learnt: the baseline stays the market before the event.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// The correctly rounded sum of `xs`, as Python's `math.fsum` (Shewchuk's algorithm, with its
/// half-even correction across partials), so the windows re-sum to the same bits as the Python
/// detector's. A non-finite value makes the plain IEEE sum.
pub fn fsum(xs: impl IntoIterator<Item = f64>) -> f64 {
    let mut partials: Vec<f64> = Vec::with_capacity(8);
    let mut special = 0.0;
    let mut finite = true;
    for mut x in xs {
        if !x.is_finite() {
            finite = false;
            special += x;
            continue;
        }
        let mut i = 0;
        for j in 0..partials.len() {
            let mut y = partials[j];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let lo = y - (hi - x);
            if lo != 0.0 {
                partials[i] = lo;
                i += 1;
            }
            x = hi;
        }
        partials.truncate(i);
        if x != 0.0 {
            partials.push(x);
        }
    }
    if !finite {
        return special;
    }
    let Some(mut n) = partials.len().checked_sub(1) else {
        return 0.0;
    };
    let mut hi = partials[n];
    let mut lo = 0.0;
    while n > 0 {
        let x = hi;
        n -= 1;
        let y = partials[n];
        hi = x + y;
        let yr = hi - x;
        lo = y - yr;
        if lo != 0.0 {
            break;
        }
    }
    // Half-even rounding across several partials (as CPython's `math_fsum_impl`).
    if n > 0 && ((lo < 0.0 && partials[n - 1] < 0.0) || (lo > 0.0 && partials[n - 1] > 0.0)) {
        let y = lo * 2.0;
        let x = hi + y;
        if y == x - hi {
            hi = x;
        }
    }
    hi
}

/// Count, sum and sum of squares of the last `size` samples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub size: usize,
    pub items: VecDeque<f64>,
    pub total: f64,
    pub squares: f64,
    pushes: usize,
}

impl Window {
    pub fn new(size: usize) -> Self {
        Self {
            size,
            items: VecDeque::with_capacity(size + 1),
            total: 0.0,
            squares: 0.0,
            pushes: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Adds `x`; returns the sample that left the window, if one did.
    pub fn push(&mut self, x: f64) -> Option<f64> {
        self.items.push_back(x);
        self.total += x;
        self.squares += x * x;
        let mut out = None;
        if self.items.len() > self.size {
            let o = self
                .items
                .pop_front()
                .expect("a window over its size is not empty");
            self.total -= o;
            self.squares -= o * o;
            out = Some(o);
        }
        self.pushes += 1;
        if self.pushes >= self.size {
            // Re-summed now and then: no floating drift, still O(1) amortised.
            self.pushes = 0;
            self.total = fsum(self.items.iter().copied());
            self.squares = fsum(self.items.iter().map(|v| v * v));
        }
        out
    }

    /// The mean (NaN when empty).
    pub fn mean(&self) -> f64 {
        if self.items.is_empty() {
            f64::NAN
        } else {
            self.total / self.items.len() as f64
        }
    }

    /// Population standard deviation (NaN when empty).
    pub fn std(&self) -> f64 {
        let n = self.items.len();
        if n == 0 {
            return f64::NAN;
        }
        let n = n as f64;
        let m = self.total / n;
        let var = self.squares / n - m * m;
        // Python's `max(var, 0.0)`: `var` unless 0.0 is greater (a NaN or a -0.0 stays).
        (if 0.0 > var { 0.0 } else { var }).sqrt()
    }
}

/// The last `recent` samples, and the `baseline` samples that came before them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecentAndBaseline {
    pub recent: Window,
    pub baseline: Window,
}

impl RecentAndBaseline {
    pub fn new(recent: usize, baseline: usize) -> Self {
        Self {
            recent: Window::new(recent),
            baseline: Window::new(baseline),
        }
    }

    pub fn push(&mut self, x: f64, learn: bool) {
        if let Some(out) = self.recent.push(x) {
            if learn {
                self.baseline.push(out);
            }
        }
    }

    pub fn baseline_ready(&self, min_samples: usize) -> bool {
        self.baseline.len() >= min_samples && self.recent.len() >= self.recent.size
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fsum_is_exact_where_the_plain_sum_is_not() {
        struct Case {
            xs: Vec<f64>,
            expected: f64,
        }
        let cases = [
            Case {
                xs: vec![],
                expected: 0.0,
            },
            Case {
                xs: vec![0.1; 10],
                expected: 1.0,
            },
            Case {
                xs: vec![1e100, 1.0, -1e100, 1e-100, 1e50, -1.0, -1e50],
                expected: 1e-100,
            },
            Case {
                xs: vec![1.0, 1e-16, 1e-16],
                expected: 1.0000000000000002,
            },
            // Half-even across partials (CPython's test_math.testFsum).
            Case {
                xs: vec![1.0, -(2f64.powi(-53)), -(2f64.powi(-105))],
                expected: 1.0 - 2f64.powi(-53),
            },
            Case {
                xs: vec![f64::NAN, 1.0],
                expected: f64::NAN,
            },
        ];
        for c in cases {
            let got = fsum(c.xs.iter().copied());
            assert!(
                got == c.expected || (got.is_nan() && c.expected.is_nan()),
                "{:?}: {got}",
                c.xs
            );
        }
    }

    /// Python `test_window_and_baseline_keep_the_recent_out_of_the_baseline` (test_indicators.py).
    #[test]
    fn window_keeps_its_last_items_and_their_mean_and_population_std() {
        let mut w = Window::new(3);
        assert!(w.mean().is_nan() && w.std().is_nan());
        for x in [1.0, 2.0, 3.0, 4.0] {
            w.push(x);
        }
        assert_eq!(w.items, [2.0, 3.0, 4.0]);
        assert_eq!(w.mean(), 3.0);
        let expected = (2.0f64 / 3.0).sqrt();
        assert!((w.std() - expected).abs() <= 1e-9 * expected, "{}", w.std());
        let mut rb = RecentAndBaseline::new(2, 3);
        for x in [1.0, 2.0, 3.0, 4.0, 5.0] {
            rb.push(x, true);
        }
        assert_eq!(rb.recent.items, [4.0, 5.0]);
        assert_eq!(rb.baseline.items, [1.0, 2.0, 3.0]);
        rb.push(6.0, false); // 4.0 leaves the recent window and is not learnt
        assert_eq!(rb.recent.items, [5.0, 6.0]);
        assert_eq!(rb.baseline.items, [1.0, 2.0, 3.0]);
    }

    #[test]
    fn the_baseline_holds_only_what_left_the_recent_window_while_learning() {
        let mut w = RecentAndBaseline::new(2, 3);
        for (x, learn) in [
            (1.0, true),
            (2.0, true),
            (3.0, true),
            (4.0, false),
            (5.0, true),
        ] {
            w.push(x, learn);
        }
        assert_eq!(w.recent.items, [4.0, 5.0]);
        assert_eq!(w.baseline.items, [1.0, 3.0]); // 2.0 left while not learning
        assert!(!w.baseline_ready(3) && w.baseline_ready(2));
    }

    proptest! {
        /// An integer-valued window's sums are exact: the running sums equal a fresh sum at every step.
        #[test]
        fn window_sums_follow_its_items(xs in proptest::collection::vec(-1000i32..1000, 1..200), size in 1usize..20) {
            let mut w = Window::new(size);
            for x in xs {
                w.push(f64::from(x));
                prop_assert!(w.len() <= size);
                prop_assert_eq!(w.total, w.items.iter().sum::<f64>());
                prop_assert_eq!(w.squares, w.items.iter().map(|v| v * v).sum::<f64>());
            }
        }
    }
}
