//! `guard`'s unit and property tests.
use super::*;
use proptest::prelude::*;

const S: i64 = 1_000_000_000;
const NAN: f64 = f64::NAN;
const INF: f64 = f64::INFINITY;
const GOOD_BIDS: &[(f64, f64)] = &[(10.0, 1.0), (9.9, 2.0)];
const GOOD_ASKS: &[(f64, f64)] = &[(10.1, 1.0), (10.2, 2.0)];

fn dropped(g: &InputGuard) -> Vec<(&'static str, u64)> {
    g.dropped().map(|(r, n)| (r.as_str(), n)).collect()
}

/// The guard's book check, level by level, as the Python test `slow_book_ok` writes it (the
/// check before its book-wide fast path).
fn slow_book_ok(g: &mut InputGuard, ts: i64, bids: &[(f64, f64)], asks: &[(f64, f64)]) -> bool {
    if bids.is_empty() || asks.is_empty() {
        g.count(DropReason::BookSideEmpty);
        return false;
    }
    let ok_p = |p: f64| p.is_finite() && p > 0.0;
    let ok_q = |q: f64| q.is_finite() && q >= 0.0;
    for side in [bids, asks] {
        for &(p, q) in side {
            if !ok_p(p) {
                g.count(DropReason::BookBadPrice);
                return false;
            }
            if !ok_q(q) {
                g.count(DropReason::BookBadQuantity);
                return false;
            }
        }
    }
    if (0..bids.len() - 1).any(|i| bids[i].0 <= bids[i + 1].0)
        || (0..asks.len() - 1).any(|i| asks[i].0 >= asks[i + 1].0)
    {
        g.count(DropReason::BookUnsorted);
        return false;
    }
    if bids[0].0 >= asks[0].0 {
        g.count(DropReason::BookCrossed);
        return false;
    }
    g.time_ok(ts)
}

fn matches_slow(bids: &[(f64, f64)], asks: &[(f64, f64)]) -> (bool, Vec<(&'static str, u64)>) {
    let (mut fast, mut slow) = (InputGuard::default(), InputGuard::default());
    let ok = fast.book_ok(S, bids, asks, false);
    assert_eq!(
        ok,
        slow_book_ok(&mut slow, S, bids, asks),
        "{bids:?} {asks:?}"
    );
    assert_eq!(fast, slow, "{bids:?} {asks:?}");
    (ok, dropped(&fast))
}

#[test]
fn reasons_have_the_python_keys() {
    let keys: Vec<_> = DropReason::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(
        keys,
        [
            "bad_price",
            "bad_quantity",
            "bad_time",
            "time_backwards",
            "book_side_empty",
            "book_bad_price",
            "book_bad_quantity",
            "book_unsorted",
            "book_crossed"
        ]
    );
    for (i, r) in DropReason::ALL.into_iter().enumerate() {
        assert_eq!(r.index(), i);
        assert_eq!(DropReason::from_name(r.as_str()), Some(r));
        assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{r}\""));
    }
    assert_eq!(DropReason::from_name("bad"), None);
}

/// Python `test_guard_drops_and_counts_bad_values`.
#[test]
fn drops_and_counts_bad_values() {
    for (price, qty, reason) in [
        (NAN, 1.0, "bad_price"),
        (INF, 1.0, "bad_price"),
        (-1.0, 1.0, "bad_price"),
        (0.0, 1.0, "bad_price"),
        (-INF, 1.0, "bad_price"),
        (1.0, -1.0, "bad_quantity"),
        (1.0, NAN, "bad_quantity"),
        (1.0, INF, "bad_quantity"),
        (NAN, -1.0, "bad_price"), // the price is checked (and counted) first
    ] {
        let mut g = InputGuard::default();
        assert!(!g.trade_ok(S, price, qty), "{price} {qty}");
        assert_eq!(dropped(&g), [(reason, 1)], "{price} {qty}");
        assert_eq!(g.total_dropped(), 1);
        assert_eq!(g.newest_ns, 0);
    }
}

#[test]
fn keeps_zero_and_negative_zero_quantities() {
    let mut g = InputGuard::default();
    assert!(
        g.trade_ok(S, 1.0, 0.0)
            && g.trade_ok(S, 1.0, -0.0)
            && g.trade_ok(S, f64::MIN_POSITIVE, f64::MAX)
    );
    assert_eq!(g.total_dropped(), 0);
}

#[test]
fn drops_times_not_positive() {
    let mut g = InputGuard::default();
    for ts in [0, -1, i64::MIN] {
        assert!(!g.trade_ok(ts, 1.0, 1.0));
        assert!(!g.book_ok(ts, GOOD_BIDS, GOOD_ASKS, false));
        assert!(!g.book_ok(ts, GOOD_BIDS, GOOD_ASKS, true));
    }
    assert_eq!(dropped(&g), [("bad_time", 9)]);
    assert_eq!(g.newest_ns, 0);
}

/// Python `test_guard_keeps_jitter_and_drops_time_going_back`.
#[test]
fn keeps_jitter_and_drops_time_going_back() {
    let mut g = InputGuard::new(S);
    assert!(g.trade_ok(10 * S, 1.0, 1.0));
    assert!(g.trade_ok(10 * S - S / 2, 1.0, 1.0)); // inside the buffer
    assert_eq!(g.newest_ns, 10 * S); // an older event does not move it back
    assert!(g.trade_ok(9 * S, 1.0, 1.0)); // exactly the window: kept
    assert!(!g.trade_ok(9 * S - 1, 1.0, 1.0));
    assert!(!g.trade_ok(8 * S, 1.0, 1.0));
    assert_eq!(dropped(&g), [("time_backwards", 2)]);
    assert!(g.time_ok(11 * S) && g.newest_ns == 11 * S);
}

#[test]
fn time_window_is_exact_at_the_extremes() {
    // Python's integers never overflow: newest - jitter is computed exactly.
    let mut g = InputGuard::new(i64::MIN);
    g.newest_ns = i64::MAX;
    assert!(!g.time_ok(MAX_TS_NS)); // MAX_TS_NS < i64::MAX - i64::MIN
    assert_eq!(dropped(&g), [("time_backwards", 1)]);
    let mut g = InputGuard::new(i64::MAX);
    g.newest_ns = i64::MAX;
    assert!(g.time_ok(1));
    let mut g = InputGuard::new(-1);
    assert!(!g.time_ok(0) && g.time_ok(1) && !g.time_ok(1) && g.time_ok(2));
    assert_eq!(dropped(&g), [("bad_time", 1), ("time_backwards", 1)]);
}

/// Python `test_a_proven_book_is_an_ordinary_snapshot_whose_time_is_still_checked` (its guard
/// part): the guard skips a proven book's levels, never its time.
#[test]
fn proven_book_skips_the_levels_not_the_time() {
    let (bids, asks) = (&[(1.0, 2.0), (0.9, 1.0)], &[(1.5, 0.0)]);
    let mut g = InputGuard::new(S);
    assert!(g.book_ok(5 * S, bids, asks, true));
    assert!(!g.book_ok(3 * S, bids, asks, true));
    assert_eq!(dropped(&g), [("time_backwards", 1)]);
    // What `proven` promises is not checked again.
    assert!(g.book_ok(5 * S, &[], &[(NAN, -1.0)], true));
    assert_eq!(g.total_dropped(), 1);
}

/// Python `test_book_guard_rejects_bad_books` (test_indicators.py).
#[test]
fn rejects_bad_books() {
    let mut g = InputGuard::default();
    assert!(g.book_ok(S, &[(10.0, 1.0)], &[(10.1, 1.0)], false));
    assert!(!g.book_ok(S, &[(10.2, 1.0)], &[(10.1, 1.0)], false)); // crossed
    assert!(!g.book_ok(S, &[(10.0, NAN)], &[(10.1, 1.0)], false));
    assert!(!g.book_ok(S, &[(10.0, 1.0)], &[(INF, 1.0)], false));
    assert!(!g.book_ok(S, &[(10.0, 1.0), (10.05, 1.0)], &[(10.1, 1.0)], false)); // unsorted
    assert!(!g.book_ok(S, &[], &[(10.1, 1.0)], false));
    let mut got = dropped(&g);
    got.sort_unstable();
    assert_eq!(
        got,
        [
            ("book_bad_price", 1),
            ("book_bad_quantity", 1),
            ("book_crossed", 1),
            ("book_side_empty", 1),
            ("book_unsorted", 1)
        ]
    );
}

/// Python `test_guard_reasons_keep_their_order` (its typed cases; an int quantity and a level
/// of three are the binding's to count), with more cases of the same order.
#[test]
fn reasons_keep_their_order() {
    type Case = (&'static [(f64, f64)], &'static [(f64, f64)], &'static str);
    let cases: &[Case] = &[
        (
            &[(10.0, 1.0), (10.5, 1.0)],
            &[(10.1, -1.0)],
            "book_bad_quantity",
        ), // levels before order
        (&[(10.0, 1.0), (10.5, 1.0)], &[(10.1, 1.0)], "book_unsorted"),
        (
            &[(10.0, 1.0), (-10.5, 1.0)],
            &[(10.1, 1.0)],
            "book_bad_price",
        ), // bad price beats unsorted
        (&[], &[], "book_side_empty"),
        (&[(NAN, NAN)], &[], "book_side_empty"), // an empty side beats bad levels
        (
            &[(10.0, -1.0), (NAN, 1.0)],
            &[(10.1, 1.0)],
            "book_bad_quantity",
        ), // level by level
        (
            &[(10.0, 1.0)],
            &[(NAN, 1.0), (10.1, -1.0)],
            "book_bad_price",
        ),
        (&[(10.0, -1.0)], &[(NAN, 1.0)], "book_bad_quantity"), // bids first
        (&[(10.0, 1.0)], &[(10.2, 1.0), (10.1, 1.0)], "book_unsorted"),
        (&[(10.0, 1.0)], &[(10.1, 1.0), (10.1, 1.0)], "book_unsorted"),
        (&[(10.0, 1.0), (11.0, 1.0)], &[(9.0, 1.0)], "book_unsorted"), // unsorted beats crossed
        (&[(10.0, 1.0)], &[(10.0, 1.0)], "book_crossed"),
        (&[(10.0, 1.0)], &[(9.0, 1.0)], "book_crossed"),
    ];
    for &(bids, asks, reason) in cases {
        let mut g = InputGuard::default();
        assert!(!g.book_ok(S, bids, asks, false), "{bids:?} {asks:?}");
        assert_eq!(dropped(&g), [(reason, 1)], "{bids:?} {asks:?}");
        assert_eq!(matches_slow(bids, asks), (false, vec![(reason, 1)]));
    }
}

/// Python `test_guard_fast_book_check_matches_on_edge_books` (its typed cases), with the
/// expected outcome written out.
#[test]
fn edge_books_match_the_level_by_level_check() {
    type Case = (
        &'static [(f64, f64)],
        &'static [(f64, f64)],
        Option<&'static str>,
    );
    let cases: &[Case] = &[
        (GOOD_BIDS, GOOD_ASKS, None),
        (
            GOOD_BIDS,
            &[(10.1, 1.0), (INF, 2.0)],
            Some("book_bad_price"),
        ), // the chain rises to infinity
        (&[(INF, 1.0), (9.9, 2.0)], GOOD_ASKS, Some("book_bad_price")),
        (
            &[(10.0, 1.0), (0.0, 2.0)],
            GOOD_ASKS,
            Some("book_bad_price"),
        ),
        (
            &[(10.0, 1.0), (-0.0, 2.0)],
            GOOD_ASKS,
            Some("book_bad_price"),
        ),
        (
            GOOD_BIDS,
            &[(10.1, 1.0), (10.2, NAN)],
            Some("book_bad_quantity"),
        ), // NaN after a number
        (
            GOOD_BIDS,
            &[(10.1, NAN), (10.2, 1.0)],
            Some("book_bad_quantity"),
        ),
        (
            GOOD_BIDS,
            &[(10.1, 1.0), (10.2, INF)],
            Some("book_bad_quantity"),
        ),
        (&[(10.0, 1.7e308), (9.9, 1.7e308)], GOOD_ASKS, None), // finite quantities whose sum overflows
        (&[(10.0, -0.0), (9.9, 0.0)], GOOD_ASKS, None),
        (
            &[(10.0, 1.0), (9.9, -1e-300)],
            GOOD_ASKS,
            Some("book_bad_quantity"),
        ),
        (
            GOOD_BIDS,
            &[(10.1, 1.0), (NAN, 2.0)],
            Some("book_bad_price"),
        ),
        (
            &[(10.0, 1.0), (10.0, 2.0)],
            GOOD_ASKS,
            Some("book_unsorted"),
        ), // equal prices are not sorted
        (&[(10.1, 1.0), (9.9, 2.0)], GOOD_ASKS, Some("book_crossed")), // best bid on best ask
        (&[(10.0, 1.0)], &[(f64::MAX, 0.0)], None),
        (
            &[(f64::MIN_POSITIVE, 0.0)],
            &[(f64::MIN_POSITIVE * 2.0, 0.0)],
            None,
        ),
    ];
    for &(bids, asks, reason) in cases {
        let expected = reason.map(|r| vec![(r, 1)]).unwrap_or_default();
        assert_eq!(
            matches_slow(bids, asks),
            (reason.is_none(), expected),
            "{bids:?} {asks:?}"
        );
        assert_eq!(
            book_levels_ok(bids, asks),
            reason.is_none(),
            "{bids:?} {asks:?}"
        );
    }
}

#[test]
fn count_and_dropped_list_the_nonzero_reasons_in_order() {
    let mut g = InputGuard::default();
    assert_eq!(g.dropped().count(), 0);
    g.count(DropReason::BookCrossed);
    g.count(DropReason::BadPrice);
    g.count(DropReason::BookCrossed);
    assert_eq!(
        g.dropped().collect::<Vec<_>>(),
        [(DropReason::BadPrice, 1), (DropReason::BookCrossed, 2)]
    );
    assert_eq!(g.dropped_for(DropReason::BookCrossed), 2);
    assert_eq!(g.dropped_for(DropReason::BadTime), 0);
    assert_eq!(g.total_dropped(), 3);
}

#[test]
fn snapshot_round_trips_through_json() {
    let mut g = InputGuard::new(700_000_000);
    assert!(g.trade_ok(5 * S, 1.0, 1.0));
    assert!(!g.trade_ok(5 * S, NAN, 1.0));
    assert!(!g.book_ok(5 * S, &[], &[], false));
    assert!(!g.book_ok(5 * S, &[], &[], false));
    let json = serde_json::to_string(&g).unwrap();
    assert_eq!(
        json,
        r#"{"jitter_ns":700000000,"newest_ns":5000000000,"counts":{"bad_price":1,"book_side_empty":2}}"#
    );
    let back: InputGuard = serde_json::from_str(&json).unwrap();
    assert_eq!(back, g);
    assert!(serde_json::from_str::<InputGuard>(
        r#"{"jitter_ns":1,"newest_ns":0,"counts":{"no_such_reason":1}}"#
    )
    .is_err());
}

/// A float as the Python tests draw them: ordinary values and the ones the checks tell apart.
fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => 1e-8..1e9f64,
        1 => prop::sample::select(vec![0.0, -0.0, -1.0, NAN, INF, -INF, 1e308, -1e-9, 1.7e308]),
    ]
}

/// One side of a book.
type Levels = Vec<(f64, f64)>;

fn levels() -> impl Strategy<Value = Levels> {
    prop::collection::vec((float(), float()), 0..5)
}

/// Python `near_valid_books`: a valid book (distinct prices: the lower ones bids, best first,
/// the upper ones asks), often with one thing wrong: a price or a quantity replaced by an odd
/// value, two neighbours swapped, or the best ask moved onto the best bid.
fn near_valid_book() -> impl Strategy<Value = (Levels, Levels)> {
    let odd = prop::sample::select(vec![0.0, -0.0, -1.0, NAN, INF, -INF, 1e308, -1e-9, 1.7e308]);
    (
        prop::collection::btree_set(1u64..1_000_000_000_000_000, 2..12),
        prop::collection::vec(0.0..1e9f64, 12),
        any::<prop::sample::Index>(),
        any::<bool>(),
        any::<prop::sample::Index>(),
        0..5u8,
        odd,
    )
        .prop_map(|(set, qs, k, on_bids, i, fault, odd)| {
            let prices: Vec<f64> = set.into_iter().map(|p| p as f64 * 1e-8).collect();
            let k = 1 + k.index(prices.len() - 1);
            let mut bids: Vec<_> = prices[..k]
                .iter()
                .rev()
                .zip(&qs)
                .map(|(&p, &q)| (p, q))
                .collect();
            let mut asks: Vec<_> = prices[k..]
                .iter()
                .zip(&qs[k..])
                .map(|(&p, &q)| (p, q))
                .collect();
            let side = if on_bids { &mut bids } else { &mut asks };
            let i = i.index(side.len());
            match fault {
                1 => side[i].0 = odd,
                2 => side[i].1 = odd,
                3 if i > 0 => side.swap(i - 1, i),
                4 => asks[0].0 = bids[0].0,
                _ => {}
            }
            (bids, asks)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Python `test_guard_fast_book_check_matches_the_level_by_level_one`.
    #[test]
    fn book_check_matches_the_level_by_level_one(bids in levels(), asks in levels()) {
        matches_slow(&bids, &asks);
    }

    /// Python `test_guard_fast_book_check_matches_on_near_valid_books`; `proven` books pass
    /// exactly when `book_levels_ok` holds.
    #[test]
    fn book_check_matches_on_near_valid_books((bids, asks) in near_valid_book()) {
        let (ok, _) = matches_slow(&bids, &asks);
        prop_assert_eq!(ok, book_levels_ok(&bids, &asks));
    }

    /// A trade is kept exactly when its values are good and its time positive and within the
    /// window, and each drop is counted once.
    #[test]
    fn trades_are_kept_or_counted(
        events in prop::collection::vec((-S..30 * S, float(), float()), 0..60),
        jitter in 0..3 * S,
    ) {
        let mut g = InputGuard::new(jitter);
        let mut kept = 0u64;
        for (i, &(ts, p, q)) in events.iter().enumerate() {
            let newest = g.newest_ns;
            let good = p.is_finite() && p > 0.0 && q.is_finite() && q >= 0.0;
            let ok = g.trade_ok(ts, p, q);
            prop_assert_eq!(ok, good && ts > 0 && ts >= newest - jitter);
            prop_assert_eq!(g.newest_ns, if ok { newest.max(ts) } else { newest });
            kept += u64::from(ok);
            prop_assert_eq!(g.total_dropped(), i as u64 + 1 - kept);
        }
    }
}

#[test]
fn a_time_past_the_latest_the_detector_can_count_is_bad() {
    let mut g = InputGuard::new(1_500_000_000);
    assert!(g.trade_ok(MAX_TS_NS, 1.0, 1.0));
    assert!(!g.trade_ok(MAX_TS_NS + 1, 1.0, 1.0) && !g.trade_ok(i64::MAX, 1.0, 1.0));
    assert_eq!(g.dropped_for(DropReason::BadTime), 2);
}
