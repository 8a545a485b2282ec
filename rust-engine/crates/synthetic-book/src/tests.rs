//! The model's unit and property tests.
use super::*;
use proptest::prelude::*;

/// The numpy code's arithmetic for one level, without the cache.
fn naive_noise(seed: u64, tick: i64, bucket: u64) -> f64 {
    let t = tick as u64;
    let phase = mix(t ^ seed.rotate_left(17)) % NOISE_PERIOD;
    let period = bucket.wrapping_add(phase) / NOISE_PERIOD;
    let draw = mix(seed ^ t.wrapping_mul(TICK_MUL) ^ mix(period)) % DRAWS;
    NOISE_MIN + NOISE_SPAN * draw as f64 / 10_000.0
}

/// One book as the numpy code builds it, level for level, from a naive scan of the trades.
fn naive_book(b: &mut SyntheticBook, t: i64, n: usize) -> (Vec<i64>, Vec<f64>) {
    let tr = b.trades.clone();
    let (last, buy) = (tr.ticks[n - 1], tr.buy[n - 1]);
    let window: Vec<i64> = (0..n)
        .filter(|&k| tr.ts_ns[k] > t - VOL_WINDOW_NS)
        .map(|k| tr.ticks[k])
        .collect();
    let range = match (window.iter().max(), window.iter().min()) {
        (Some(h), Some(l)) => h - l,
        _ => 0,
    };
    let spread = spread_ticks(range, last);
    let (bid, ask) = if buy {
        (last - spread, last)
    } else {
        (last, last + spread)
    };
    let liquidity = 1.0 / (1.0 + LIQUIDITY_K * range as f64 / last as f64);
    let base = b.base(n);
    let levels = b.p.levels;
    let bucket = t.div_euclid(BOUNDARY_NS) as u64;
    let mut ticks = vec![0; 2 * levels];
    let mut qty = vec![0.0; 2 * levels];
    for i in 0..levels {
        let depth = (1.0 + DEPTH_SLOPE * i as f64) * liquidity * base;
        for (col, tick) in [(i, bid - i as i64), (levels + i, ask + i as i64)] {
            ticks[col] = tick;
            let noise = naive_noise(b.p.seed, tick, bucket);
            let steps = (depth * noise / b.p.step).round_ties_even().max(1.0);
            qty[col] = (steps * b.p.step * 1e8).round_ties_even() / 1e8;
        }
    }
    (ticks, qty)
}

fn book(ticks: Vec<i64>, qty: Vec<f64>, buy: Vec<bool>, every_ns: i64, p: Params) -> SyntheticBook {
    let ts_ns = (0..ticks.len() as i64).map(|k| k * every_ns).collect();
    SyntheticBook::new(
        Trades {
            ts_ns,
            ticks,
            qty,
            buy,
        },
        p,
    )
    .unwrap()
}

#[test]
fn mix_is_splitmix64() {
    // splitmix64's first outputs from seed 0 are mix(k × golden) for k = 0, 1, ...: reference
    // values of the published generator.
    assert_eq!(mix(0), 0xe220_a839_7b1d_cdaf);
    assert_eq!(mix(0x9e37_79b9_7f4a_7c15), 0x6e78_9e6a_a1b9_65f4);
}

#[test]
fn spread_table() {
    for (range, last, want) in [
        (0, 2142, 1),
        (7, 2142, 1),
        (8, 2142, 2),
        (160, 2142, 21),
        (168, 2142, 22),
        (10_000, 2142, 22),
        (10_000, 1999, 20),
        (10_000, 50, 2),
        (10_000, 1, 2),
        (2_000, 11_400_000, 251),
        (2_000_000, 11_400_000, 114_001),
    ] {
        assert_eq!(spread_ticks(range, last), want, "range {range} last {last}");
    }
}

#[test]
fn rint_rounds_half_to_even_as_c() {
    let cases: [(f64, f64); 10] = [
        (0.5, 0.0),
        (1.5, 2.0),
        (2.5, 2.0),
        (-0.5, -0.0),
        (-2.5, -2.0),
        (0.49999999999999994, 0.0),
        (4_503_599_627_370_495.5, 4_503_599_627_370_496.0),
        (2_251_799_813_685_247.5, 2_251_799_813_685_248.0),
        (1e300, 1e300),
        (-7.0, -7.0),
    ];
    for (x, want) in cases {
        assert_eq!(rint(x).to_bits(), want.to_bits(), "rint({x})");
    }
    assert!(rint(f64::NAN).is_nan());
    assert_eq!(rint(f64::INFINITY), f64::INFINITY);
    assert_eq!(rint(-0.3).to_bits(), (-0.0f64).to_bits());
}

#[test]
fn round8_scales_rounds_and_scales_back() {
    // np.round(x, 8) for these (numpy 2.x): not always Python's round(x, 8).
    for (x, want) in [
        (468.90000000000003f64, 468.9f64),
        (0.1 + 0.2, 0.3),
        (1.000000005, 1.0),
        (2.5e-8, 2e-8),
        (3.5e-8, 4e-8),
        (123_456.123_456_785, 123_456.123_456_78),
    ] {
        assert_eq!(round8(x).to_bits(), want.to_bits(), "round8({x})");
    }
}

#[test]
fn median_as_numpy() {
    let mut s = Vec::new();
    assert_eq!(median(&[3.0], &mut s), 3.0);
    assert_eq!(median(&[3.0, 1.0], &mut s), 2.0);
    assert_eq!(median(&[5.0, 1.0, 3.0], &mut s), 3.0);
    assert_eq!(median(&[0.1, 0.2, 0.7, 0.4], &mut s), (0.2 + 0.4) / 2.0);
    assert!(median(&[1.0, f64::NAN, 2.0], &mut s).is_nan());
    assert!(median(&[], &mut s).is_nan());
}

#[test]
fn base_is_memoised_on_a_grid_of_trade_counts() {
    let qty: Vec<f64> = (0..2500).map(|k| (k % 7) as f64 + 1.0).collect();
    let n = qty.len();
    let mut b = book(
        vec![100; n],
        qty.clone(),
        vec![true; n],
        1,
        Params {
            step: 0.1,
            levels: 2,
            seed: 1,
        },
    );
    let mut s = Vec::new();
    assert_eq!(b.base(57), 5.0 * median(&qty[..57], &mut s));
    assert_eq!(b.base(1999), 5.0 * median(&qty[900..1900], &mut s));
    assert_eq!(b.base(1900), b.base(1999));
    assert_eq!(b.base(2500), 5.0 * median(&qty[1500..2500], &mut s));
    assert!(b.base(0).is_nan());
}

#[test]
fn touch_follows_the_aggressor_and_bids_below_tick_one_are_counted_out() {
    let p = Params {
        step: 1.0,
        levels: 5,
        seed: 9,
    };
    // Two taker sells at 12 and 3 ticks, 400 ms apart: the range is 9, spread 2 (cap 1 tick).
    let mut b = book(vec![12, 3], vec![2000.0; 2], vec![false; 2], 400_000_000, p);
    let rows = b.batch(&[500_000_000], &[2]).unwrap();
    assert_eq!(rows.ticks, vec![3, 2, 1, 0, -1, 5, 6, 7, 8, 9]);
    assert_eq!(rows.nbids, vec![3]);
    // A taker buy at 3 ticks: the best ask there, the bid a spread below.
    let mut b = book(
        vec![12, 3],
        vec![2000.0; 2],
        vec![false, true],
        400_000_000,
        p,
    );
    let rows = b.batch(&[500_000_000], &[2]).unwrap();
    assert_eq!(rows.ticks, vec![1, 0, -1, -2, -3, 3, 4, 5, 6, 7]);
    assert_eq!(rows.nbids, vec![1]);
}

#[test]
fn bad_arguments_are_errors() {
    let p = Params {
        step: 1.0,
        levels: 2,
        seed: 1,
    };
    let mut b = book(vec![5, 6], vec![1.0; 2], vec![true; 2], 1, p);
    assert_eq!(b.batch(&[10], &[0]), Err(Error::Count { n: 0, trades: 2 }));
    assert_eq!(b.batch(&[10], &[3]), Err(Error::Count { n: 3, trades: 2 }));
    assert_eq!(
        b.batch(&[10, 11], &[1]),
        Err(Error::Rows {
            times: 2,
            counts: 1
        })
    );
    let (mut t, mut q, mut nb) = (vec![0; 4], vec![0.0; 3], vec![0; 1]);
    assert!(matches!(
        b.batch_into(&[10], &[1], &mut t, &mut q, &mut nb),
        Err(Error::Output {
            name: "qty",
            expected: 4,
            got: 3
        })
    ));
    let trades = Trades {
        ts_ns: vec![1],
        ticks: vec![],
        qty: vec![1.0],
        buy: vec![true],
    };
    assert_eq!(
        SyntheticBook::new(trades, p).err(),
        Some(Error::Columns([1, 0, 1, 1]))
    );
}

#[test]
fn noise_stays_in_its_band_and_redraws_once_a_period() {
    let b = book(
        vec![1],
        vec![1.0],
        vec![true],
        1,
        Params {
            step: 1.0,
            levels: 1,
            seed: 3,
        },
    );
    let mut changes = 0;
    for tick in 1000..1200 {
        let draws: Vec<f64> = (0..30).map(|k| b.noise(tick, k)).collect();
        assert!(draws
            .iter()
            .all(|x| (NOISE_MIN..=2.0 - NOISE_MIN).contains(x)));
        changes += draws.windows(2).filter(|w| w[0] != w[1]).count();
    }
    assert!((400..800).contains(&changes), "{changes}");
}

/// Random trades: prices wandering by a few ticks, times a few ms to seconds apart.
fn trades() -> impl Strategy<Value = (Vec<i64>, Vec<i64>, Vec<f64>, Vec<bool>)> {
    prop::collection::vec(
        (0i64..3_000_000_000, -40i64..=40, 1u32..5000, any::<bool>()),
        1..400,
    )
    .prop_map(|steps| {
        let (mut t, mut k) = (0i64, 500i64);
        let mut out = (vec![], vec![], vec![], vec![]);
        for (dt, dk, q, buy) in steps {
            t += dt / (1 + (dt % 7) * 100); // many trades close together, some far apart
            k = (k + dk).max(1);
            out.0.push(t);
            out.1.push(k);
            out.2.push(f64::from(q) / 10.0);
            out.3.push(buy);
        }
        out
    })
}

proptest! {
    #[test]
    fn rint_is_round_ties_even(x in any::<f64>(), scale in -60i32..60) {
        let x = x * 2f64.powi(scale);
        prop_assert_eq!(rint(x).to_bits(), x.round_ties_even().to_bits());
        prop_assert!(rint(f64::NAN).is_nan());
    }

    /// The median is the sorted values' middle one, or the mean of the middle two.
    #[test]
    fn median_is_the_middle_of_the_sorted_values(
        xs in prop::collection::vec(prop_oneof![-1e6f64..1e6, (0u32..50).prop_map(f64::from)], 1..300)
    ) {
        let mut sorted = xs.clone();
        sorted.sort_by(f64::total_cmp);
        let h = xs.len() / 2;
        let want = if xs.len() % 2 == 1 { sorted[h] } else { (sorted[h - 1] + sorted[h]) / 2.0 };
        prop_assert_eq!(median(&xs, &mut Vec::new()).to_bits(), want.to_bits());
    }

    /// The books of every boundary, in chunks as the replay asks for them (and again out of
    /// order, through a warm cache), are the naive model's, bit for bit: range, spread, touch,
    /// ticks and quantities.
    #[test]
    fn batches_are_the_naive_model((ts, ticks, qty, buy) in trades(), seed in any::<u64>(),
                                   levels in 1usize..6, step in prop::sample::select(vec![0.1, 1.0, 0.01, 1e-8, 0.3]),
                                   chunk in 1usize..50) {
        let p = Params { step, levels, seed };
        let mut b = SyntheticBook::new(Trades { ts_ns: ts.clone(), ticks, qty, buy }, p).unwrap();
        let first = ts[0].div_euclid(BOUNDARY_NS) * BOUNDARY_NS + BOUNDARY_NS;
        let times: Vec<i64> = (first..=ts[ts.len() - 1]).step_by(BOUNDARY_NS as usize).collect();
        let counts: Vec<i64> = times.iter().map(|&t| ts.partition_point(|&x| x <= t) as i64).collect();
        let keep: Vec<usize> = (0..times.len()).filter(|&j| counts[j] > 0).collect();
        let (times, counts): (Vec<i64>, Vec<i64>) = keep.iter().map(|&j| (times[j], counts[j])).unzip();
        let mut all = Rows::default();
        for (t, n) in times.chunks(chunk).zip(counts.chunks(chunk)) {
            let rows = b.batch(t, n).unwrap();
            all.ticks.extend(rows.ticks);
            all.qty.extend(rows.qty);
            all.nbids.extend(rows.nbids);
        }
        let w = 2 * levels;
        for (j, (&t, &n)) in times.iter().zip(&counts).enumerate() {
            let (want_ticks, want_qty) = naive_book(&mut b, t, n as usize);
            prop_assert_eq!(&all.ticks[j * w..(j + 1) * w], &want_ticks[..]);
            let bits = |q: &[f64]| q.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            prop_assert_eq!(bits(&all.qty[j * w..(j + 1) * w]), bits(&want_qty));
            prop_assert_eq!(all.nbids[j], want_ticks[..levels].iter().filter(|&&k| k > 0).count() as i64);
        }
        let rev: Vec<usize> = (0..times.len()).rev().collect();
        let t: Vec<i64> = rev.iter().map(|&j| times[j]).collect();
        let n: Vec<i64> = rev.iter().map(|&j| counts[j]).collect();
        let back = b.batch(&t, &n).unwrap();
        for (r, &j) in rev.iter().enumerate() {
            prop_assert_eq!(&back.ticks[r * w..(r + 1) * w], &all.ticks[j * w..(j + 1) * w]);
            prop_assert_eq!(&back.qty[r * w..(r + 1) * w], &all.qty[j * w..(j + 1) * w]);
        }
    }
}
