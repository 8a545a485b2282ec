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

/// A guard whose newest time is `newest` (as after events up to it).
fn trusted(jitter: i64, newest: i64) -> InputGuard {
    let mut g = InputGuard::new(jitter);
    g.newest_ns = newest;
    g
}

/// `admit(ts)`, with the held events it decides on as (time, released).
fn admit(g: &mut InputGuard, ts: i64) -> (Admit, Vec<(i64, bool)>) {
    let mut left = Vec::new();
    let verdict = g.admit(ts, |l| left.push((l.ts_ns, l.released)));
    (verdict, left)
}

/// Whether `admit(ts)` keeps the time at once (and decides on nothing held).
fn time_ok(g: &mut InputGuard, ts: i64) -> bool {
    let (verdict, left) = admit(g, ts);
    assert!(left.is_empty(), "{ts}: {left:?}");
    verdict == Admit::Keep
}

/// The guard's book check, level by level, as the Python test `slow_book_ok` writes it (the
/// check before its book-wide fast path).
fn slow_book_ok(g: &mut InputGuard, bids: &[(f64, f64)], asks: &[(f64, f64)]) -> bool {
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
    true
}

fn matches_slow(bids: &[(f64, f64)], asks: &[(f64, f64)]) -> (bool, Vec<(&'static str, u64)>) {
    let (mut fast, mut slow) = (InputGuard::default(), InputGuard::default());
    let ok = fast.book_values_ok(bids, asks, false);
    assert_eq!(ok, slow_book_ok(&mut slow, bids, asks), "{bids:?} {asks:?}");
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
            "time_ahead",
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
        assert!(!g.trade_values_ok(price, qty), "{price} {qty}");
        assert_eq!(dropped(&g), [(reason, 1)], "{price} {qty}");
        assert_eq!(g.total_dropped(), 1);
        assert_eq!(g.newest_ns, 0);
    }
}

#[test]
fn keeps_zero_and_negative_zero_quantities() {
    let mut g = InputGuard::default();
    assert!(
        g.trade_values_ok(1.0, 0.0)
            && g.trade_values_ok(1.0, -0.0)
            && g.trade_values_ok(f64::MIN_POSITIVE, f64::MAX)
    );
    assert_eq!(g.total_dropped(), 0);
}

#[test]
fn drops_times_not_positive() {
    let mut g = InputGuard::default();
    for ts in [0, -1, i64::MIN] {
        assert_eq!(admit(&mut g, ts), (Admit::Drop, vec![]));
    }
    assert_eq!(dropped(&g), [("bad_time", 3)]);
    assert_eq!((g.newest_ns, g.held().len()), (0, 0)); // a bad time is not held
}

/// Python `test_guard_keeps_jitter_and_drops_time_going_back`.
#[test]
fn keeps_jitter_and_drops_time_going_back() {
    let mut g = trusted(S, 10 * S);
    assert!(time_ok(&mut g, 10 * S - S / 2)); // inside the buffer
    assert_eq!(g.newest_ns, 10 * S); // an older event does not move it back
    assert!(time_ok(&mut g, 9 * S)); // exactly the window: kept
    assert!(!time_ok(&mut g, 9 * S - 1));
    assert!(!time_ok(&mut g, 8 * S));
    assert_eq!(dropped(&g), [("time_backwards", 2)]);
    assert!(time_ok(&mut g, 11 * S) && g.newest_ns == 11 * S);
}

#[test]
fn time_window_is_exact_at_the_extremes() {
    // Python's integers never overflow: newest - jitter and newest + ahead are computed exactly.
    let mut g = trusted(i64::MAX, MAX_TS_NS);
    assert!(time_ok(&mut g, 1));
    let mut g = trusted(i64::MAX, 1);
    assert!(time_ok(&mut g, MAX_TS_NS)); // within newest + jitter + 2 s
    let mut g = trusted(0, MAX_TS_NS);
    assert!(time_ok(&mut g, MAX_TS_NS) && !time_ok(&mut g, MAX_TS_NS - 1));
    assert_eq!(dropped(&g), [("time_backwards", 1)]);
    let mut g = trusted(0, 1);
    assert!(time_ok(&mut g, 1 + AHEAD_MARGIN_NS));
    assert_eq!(
        admit(&mut g, 2 + 2 * AHEAD_MARGIN_NS),
        (Admit::Hold, vec![])
    );
}

/// Python `test_a_proven_book_is_an_ordinary_snapshot_whose_time_is_still_checked` (its guard
/// part): the guard skips a proven book's levels; its time is `admit`'s, as every event's.
#[test]
fn proven_book_skips_the_levels() {
    let (bids, asks) = (&[(1.0, 2.0), (0.9, 1.0)], &[(1.5, 0.0)]);
    let mut g = InputGuard::new(S);
    assert!(g.book_values_ok(bids, asks, true));
    // What `proven` promises is not checked again.
    assert!(g.book_values_ok(&[], &[(NAN, -1.0)], true));
    assert!(!g.book_values_ok(&[], &[(NAN, -1.0)], false));
    assert_eq!(dropped(&g), [("book_side_empty", 1)]);
}

/// Python `test_book_guard_rejects_bad_books` (test_indicators.py).
#[test]
fn rejects_bad_books() {
    let mut g = InputGuard::default();
    assert!(g.book_values_ok(&[(10.0, 1.0)], &[(10.1, 1.0)], false));
    assert!(!g.book_values_ok(&[(10.2, 1.0)], &[(10.1, 1.0)], false)); // crossed
    assert!(!g.book_values_ok(&[(10.0, NAN)], &[(10.1, 1.0)], false));
    assert!(!g.book_values_ok(&[(10.0, 1.0)], &[(INF, 1.0)], false));
    assert!(!g.book_values_ok(&[(10.0, 1.0), (10.05, 1.0)], &[(10.1, 1.0)], false)); // unsorted
    assert!(!g.book_values_ok(&[], &[(10.1, 1.0)], false));
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
        assert!(!g.book_values_ok(bids, asks, false), "{bids:?} {asks:?}");
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
    let mut g = trusted(700_000_000, 4 * S);
    assert!(time_ok(&mut g, 5 * S));
    assert!(!g.trade_values_ok(NAN, 1.0));
    assert!(!g.book_values_ok(&[], &[], false));
    assert!(!g.book_values_ok(&[], &[], false));
    let json = serde_json::to_string(&g).unwrap();
    assert_eq!(
        json,
        r#"{"jitter_ns":700000000,"newest_ns":5000000000,"counts":{"bad_price":1,"book_side_empty":2}}"#
    );
    let back: InputGuard = serde_json::from_str(&json).unwrap();
    assert_eq!(back, g);
    // A held time is kept too (and only then written).
    assert_eq!(admit(&mut g, 500 * S), (Admit::Hold, vec![]));
    let json = serde_json::to_string(&g).unwrap();
    assert!(json.contains(r#""held":[500000000000]"#), "{json}");
    let mut back: InputGuard = serde_json::from_str(&json).unwrap();
    assert_eq!(back, g);
    assert_eq!(
        admit(&mut back, 6 * S),
        (Admit::Keep, vec![(500 * S, false)])
    );
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

    /// Every event is kept, held or dropped and counted (a held one leaves the hold once, kept or
    /// dropped); what is handed on (kept, or released) is never older than what was handed on
    /// before by more than the jitter window (what the jitter buffer's order relies on); the
    /// newest time is the newest handed on; bad values and bad times decide nothing held.
    #[test]
    fn events_are_kept_held_or_counted(
        events in prop::collection::vec((-S..30 * S, float(), float()), 0..60),
        jitter in 0..3 * S,
    ) {
        let mut g = InputGuard::new(jitter);
        let (mut handed, mut newest) = (0u64, 0i64);
        for &(ts, p, q) in &events {
            let mut out = Vec::new();
            let verdict = if g.trade_values_ok(p, q) {
                g.admit(ts, |l| {
                    if l.released {
                        out.push(l.ts_ns);
                    }
                })
            } else {
                Admit::Drop
            };
            let valid = p.is_finite() && p > 0.0 && q.is_finite() && q >= 0.0 && ts > 0;
            prop_assert!(valid || (verdict == Admit::Drop && out.is_empty()));
            if verdict == Admit::Keep {
                out.push(ts);
            }
            for t in out {
                prop_assert!(t >= newest - jitter, "{t} handed on after {newest}");
                newest = newest.max(t);
                handed += 1;
            }
            prop_assert_eq!(g.newest_ns, newest);
            let most = if newest > 0 { 1 } else { 2 };
            prop_assert!(g.held().len() <= most);
        }
        let held = g.held().len() as u64;
        prop_assert_eq!(g.total_dropped() + handed + held, events.len() as u64);
        // The end: what is held is taken, in order.
        let mut out = Vec::new();
        g.take_held(|l| {
            if l.released {
                out.push(l.ts_ns);
            }
        });
        for t in out {
            prop_assert!(t >= newest - jitter, "{t} taken after {newest}");
            newest = newest.max(t);
            handed += 1;
        }
        prop_assert_eq!(g.total_dropped() + handed, events.len() as u64);
        prop_assert_eq!((g.held().len(), g.newest_ns), (0, newest));
    }

    /// One far-future time (a trade stamped at twice the epoch, or years ahead) at any place in an
    /// ordered stream (with feed jitter, quiet gaps and real gaps of up to 1,000 s), or one far-past
    /// time anywhere but first: it is dropped (`time_ahead`, `time_backwards`; a far-future time
    /// last is still held, waiting), and every genuine time is handed on, once. Fails before the
    /// hold: after a far-future time, every genuine one was dropped as `time_backwards`.
    #[test]
    fn one_outlier_never_blocks_the_stream(
        (times, jitter) in (0..3 * S).prop_flat_map(|j| (genuine(j), Just(j))),
        future in any::<bool>(),
        place in any::<prop::sample::Index>(),
        far in any::<prop::sample::Index>(),
    ) {
        let outlier = if future {
            let lo = T0 + 10 * DAY;
            lo + far.index((MAX_TS_NS - lo) as usize) as i64 // up to the year 2116
        } else {
            1 + far.index((T0 - 10 * DAY) as usize) as i64 // back to 1970
        };
        let at = if future { place.index(times.len() + 1) } else { 1 + place.index(times.len()) };
        let mut stream: Vec<(i64, bool)> = times.iter().map(|&t| (t, true)).collect();
        stream.insert(at, (outlier, false));
        let mut g = InputGuard::new(jitter);
        let mut handed: Vec<i64> = Vec::new();
        for &(ts, _) in &stream {
            let mut out = Vec::new();
            if g.admit(ts, |l| if l.released { out.push(l.ts_ns) }) == Admit::Keep {
                out.push(ts);
            }
            handed.extend(out);
        }
        let reason = if future { "time_ahead" } else { "time_backwards" };
        if future && at == times.len() {
            prop_assert_eq!(g.held().collect::<Vec<_>>(), vec![outlier]);
            prop_assert_eq!(g.total_dropped(), 0);
        } else {
            prop_assert_eq!(g.held().len(), 0);
            prop_assert_eq!(dropped(&g), vec![(reason, 1)], "{:?}", stream);
        }
        let mut want = times.clone();
        want.sort_unstable();
        handed.sort_unstable();
        prop_assert_eq!(handed, want, "{:?}", stream);
    }
}

const T0: i64 = 1_760_054_400 * S; // 2025-10-10 00:00 UTC
const DAY: i64 = 86_400 * S;

/// An ordered stream of genuine times from `T0`: steps of up to 300 ms, now and then a quiet one of
/// 1 to 4 s or a real gap of 3 to 1,000 s (past the bound `jitter` + 2 s or not), each time moved
/// back by up to half the jitter window (feed jitter), and a last time just after the one before
/// (the feed goes on: its last jump is decided).
fn genuine(jitter: i64) -> impl Strategy<Value = Vec<i64>> {
    let step = prop_oneof![
        6 => 0..300_000_000i64,
        1 => S..4 * S,
        1 => 3 * S..1_000 * S,
    ];
    prop::collection::vec((step, 0..=jitter / 2), 1..40).prop_map(|steps| {
        let mut t = T0;
        let mut out: Vec<i64> = steps
            .into_iter()
            .map(|(step, back)| {
                t += step;
                t - back
            })
            .collect();
        out.push(t + 1);
        out
    })
}

/// One step of a `jumps` case: a time, the verdict, and the held times it decides on (time,
/// released), in order.
type Step = (i64, Admit, &'static [(i64, bool)]);

struct JumpCase {
    name: &'static str,
    /// The newest time to start from (0: a fresh guard).
    newest: i64,
    steps: &'static [Step],
    dropped: &'static [(&'static str, u64)],
}

use Admit::{Drop as D, Hold as H, Keep as K};

/// Jumps ahead with the default 1.5-s jitter window (bound: 3.5 s past the newest).
#[test]
fn jumps_ahead_wait_for_the_next_event() {
    const N: i64 = 100 * S;
    const FAR: i64 = 2 * T0; // a trade stamped at twice the epoch
    let cases = [
        JumpCase {
            name: "within the bound: kept at once",
            newest: N,
            steps: &[(N + 3_500_000_000, K, &[]), (N + 7_000_000_001, H, &[])],
            dropped: &[],
        },
        JumpCase {
            name: "an outlier: the next event comes back to the newest",
            newest: N,
            steps: &[
                (FAR, H, &[]),
                (N + S / 10, K, &[(FAR, false)]),
                (N + S / 5, K, &[]),
            ],
            dropped: &[("time_ahead", 1)],
        },
        JumpCase {
            name: "a real gap (820 s): the next event lands after it, which goes first",
            newest: N,
            steps: &[
                (N + 820 * S, H, &[]),
                (N + 820 * S + 100, K, &[(N + 820 * S, true)]),
            ],
            dropped: &[],
        },
        JumpCase {
            name: "confirmed by an event up to the jitter window before it",
            newest: N,
            steps: &[
                (N + 60 * S, H, &[]),
                (N + 58_500_000_000, K, &[(N + 60 * S, true)]),
            ],
            dropped: &[],
        },
        JumpCase {
            name: "an event older than the newest decides nothing",
            newest: N,
            steps: &[
                (N + 60 * S, H, &[]),
                (N - 2 * S, D, &[]),
                (N + 60 * S, K, &[(N + 60 * S, true)]),
            ],
            dropped: &[("time_backwards", 1)],
        },
        JumpCase {
            name: "a gap after a gap (a quiet trades-only market): each confirmed by the next",
            newest: N,
            steps: &[
                (N + 10 * S, H, &[]),
                (N + 20 * S, H, &[(N + 10 * S, true)]),
                (N + 20 * S + 1, K, &[(N + 20 * S, true)]),
            ],
            dropped: &[],
        },
        JumpCase {
            name: "an outlier, then a real gap: the gap is held in its place",
            newest: N,
            steps: &[
                (FAR, H, &[]),
                (N + 300 * S, H, &[(FAR, false)]),
                (N + 301 * S, K, &[(N + 300 * S, true)]),
            ],
            dropped: &[("time_ahead", 1)],
        },
        JumpCase {
            name: "a real gap, then an outlier",
            newest: N,
            steps: &[
                (N + 300 * S, H, &[]),
                (FAR, H, &[(N + 300 * S, true)]),
                (N + 300 * S + 1, K, &[(FAR, false)]),
            ],
            dropped: &[("time_ahead", 1)],
        },
        JumpCase {
            name: "the start: the first event waits for a second near it",
            newest: 0,
            steps: &[(N, H, &[]), (N - S, K, &[(N, true)]), (N + S, K, &[])],
            dropped: &[],
        },
        JumpCase {
            name: "the start: an outlier first",
            newest: 0,
            steps: &[
                (FAR, H, &[]),
                (N, H, &[]),
                (N + S, K, &[(FAR, false), (N, true)]),
            ],
            dropped: &[("time_ahead", 1)],
        },
        JumpCase {
            name: "the start: an outlier second",
            newest: 0,
            steps: &[
                (N, H, &[]),
                (FAR, H, &[]),
                (N + S, K, &[(N, true), (FAR, false)]),
            ],
            dropped: &[("time_ahead", 1)],
        },
        JumpCase {
            name: "the start: a far-past outlier second",
            newest: 0,
            steps: &[
                (N, H, &[]),
                (S, H, &[]),
                (N + S, K, &[(N, true), (S, false)]),
            ],
            dropped: &[("time_backwards", 1)],
        },
        JumpCase {
            name: "the start: a quiet one, times going on in order, loses nothing",
            newest: 0,
            steps: &[
                (N, H, &[]),
                (N + 10 * S, H, &[]),
                (N + 20 * S, H, &[(N, true), (N + 10 * S, true)]),
                (N + 20 * S + 1, K, &[(N + 20 * S, true)]),
            ],
            dropped: &[],
        },
        JumpCase {
            name: "the start: a quiet one with an outlier second",
            newest: 0,
            steps: &[
                (N, H, &[]),
                (FAR, H, &[]),
                (N + 10 * S, H, &[(FAR, false)]),
                (N + 20 * S, H, &[(N, true), (N + 10 * S, true)]),
            ],
            dropped: &[("time_ahead", 1)],
        },
        JumpCase {
            name: "the start: a quiet one with an outlier first",
            newest: 0,
            steps: &[
                (FAR, H, &[]),
                (N, H, &[]),
                (N + 10 * S, H, &[(FAR, false)]),
                (N + 10 * S + 1, K, &[(N, true), (N + 10 * S, true)]),
            ],
            dropped: &[("time_ahead", 1)],
        },
    ];
    for case in cases {
        let mut g = trusted(1_500_000_000, case.newest);
        for &(ts, verdict, left) in case.steps {
            assert_eq!(
                admit(&mut g, ts),
                (verdict, left.to_vec()),
                "{}: {ts}",
                case.name
            );
        }
        assert_eq!(dropped(&g), case.dropped, "{}", case.name);
    }
}

#[test]
fn is_plain_says_when_nothing_is_held_or_released() {
    let mut g = InputGuard::default();
    assert!(!g.is_plain(S)); // a fresh guard holds its first event
    assert_eq!(admit(&mut g, 10 * S), (H, vec![]));
    assert!(!g.is_plain(10 * S)); // something is held
    assert_eq!(admit(&mut g, 10 * S + 1).0, K);
    assert!(g.is_plain(10 * S + 1) && g.is_plain(S) && g.is_plain(13_500_000_001));
    assert!(!g.is_plain(13_500_000_002)); // a jump ahead would be held
    assert!(g.is_plain(0) && g.is_plain(i64::MAX)); // bad times are dropped at once
}

#[test]
fn the_end_of_a_replay_takes_what_is_held_in_order() {
    let take = |g: &mut InputGuard| {
        let mut left = Vec::new();
        g.take_held(|l| left.push((l.index, l.ts_ns, l.released)));
        left
    };
    let mut g = trusted(1_500_000_000, 100 * S);
    assert_eq!(admit(&mut g, 1_000 * S), (H, vec![]));
    assert_eq!(take(&mut g), [(0, 1_000 * S, true)]);
    assert_eq!((g.newest_ns, g.total_dropped()), (1_000 * S, 0));
    // The start's two held times: the first, then the second unless it is before it.
    let mut g = InputGuard::default();
    assert_eq!(admit(&mut g, 100 * S), (H, vec![]));
    assert_eq!(admit(&mut g, 200 * S), (H, vec![]));
    assert_eq!(take(&mut g), [(0, 100 * S, true), (0, 200 * S, true)]);
    let mut g = InputGuard::default();
    assert_eq!(admit(&mut g, 200 * S), (H, vec![]));
    assert_eq!(admit(&mut g, 100 * S), (H, vec![]));
    assert_eq!(take(&mut g), [(0, 200 * S, true), (0, 100 * S, false)]);
    assert_eq!(dropped(&g), [("time_backwards", 1)]);
}

#[test]
fn a_time_past_the_latest_the_detector_can_count_is_bad() {
    let mut g = trusted(1_500_000_000, MAX_TS_NS - 1);
    assert!(time_ok(&mut g, MAX_TS_NS));
    assert!(!time_ok(&mut g, MAX_TS_NS + 1) && !time_ok(&mut g, i64::MAX));
    assert_eq!(g.dropped_for(DropReason::BadTime), 2);
}
