//! numpy's rounding and median, bit for bit (what the model's quantities and base go through).

/// `x` rounded to an integer, half to even (C's `rint`, numpy's `np.round(x)`): exact for every
/// `f64`, and without the library call that `f64::round_ties_even` costs on baseline x86-64.
pub fn rint(x: f64) -> f64 {
    const TWO_52: f64 = 4_503_599_627_370_496.0;
    let a = x.abs();
    if a < TWO_52 {
        // Adding 2^52 leaves no fraction bits: the sum is rounded (half to even) to an integer.
        ((a + TWO_52) - TWO_52).copysign(x)
    } else {
        x // already an integer, or infinite, or NaN
    }
}

/// `np.round(x, 8)`: numpy scales by 10^8, rounds half to even and scales back
/// (`rint(x × 1e8) / 1e8`; not Python's correctly rounded `round(x, 8)`).
pub fn round8(x: f64) -> f64 {
    rint(x * 1e8) / 1e8
}

/// `np.maximum(1.0, x)`: 1 below 1, NaN stays NaN.
fn at_least_one(x: f64) -> f64 {
    if x >= 1.0 || x.is_nan() {
        x
    } else {
        1.0
    }
}

/// A level's quantity: `depth × noise` in whole `step`s (half to even, at least one), rounded again
/// to 8 decimals so that a float like 468.90000000000003 does not reach a fill.
pub fn quantity(depth: f64, noise: f64, step: f64) -> f64 {
    round8(at_least_one(rint(depth * noise / step)) * step)
}

/// `np.median` of `xs`: the middle value, or the mean `(a + b) / 2` of the two middle values for an
/// even length; NaN when a value is NaN or `xs` is empty. `scratch` is working space.
pub fn median(xs: &[f64], scratch: &mut Vec<i64>) -> f64 {
    if xs.is_empty() || xs.iter().any(|x| x.is_nan()) {
        return f64::NAN;
    }
    // Selected as integers: `f64::total_cmp`'s key, which orders the floats as `<` does (-0 before
    // +0, a difference of sign only numpy does not make).
    let key = |bits: i64| bits ^ (((bits >> 63) as u64) >> 1) as i64;
    scratch.clear();
    scratch.extend(xs.iter().map(|x| key(x.to_bits() as i64)));
    let half = xs.len() / 2;
    let (below, &mut hi, _) = scratch.select_nth_unstable(half);
    let value = |k: i64| f64::from_bits(key(k) as u64);
    if xs.len() % 2 == 1 {
        return value(hi);
    }
    let lo = below.iter().copied().max().map_or(f64::NAN, value);
    (lo + value(hi)) / 2.0
}
