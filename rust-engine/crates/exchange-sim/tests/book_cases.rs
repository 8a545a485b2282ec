//! The shared synthetic-book cases (`tests/book_cases/cases.json`): books computed by the backtest's
//! Python model (`flashcrash.backtest.book`, written by `tests/book_cases/generate.py`), which the
//! simulator's model must reproduce level for level, prices and quantities. The Python side checks
//! that the file is still what its model computes (`tests/unit/test_synthetic_book.py`), so the two
//! models agree.

use std::path::PathBuf;

use exchange_sim::book::Book;
use exchange_sim::model::{BookModel, ModelParams};
use exchange_sim::units::{format_units, parse_units};
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../..")
}

fn units(v: &Value) -> u64 {
    let text = v.as_str().expect("a decimal string");
    parse_units(text).unwrap_or_else(|| panic!("not a decimal: {text}"))
}

/// `[[price, qty], …]` as written in the file (bids best first, asks best first).
fn levels(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .expect("a list of levels")
        .iter()
        .map(|l| (l[0].as_str().unwrap().into(), l[1].as_str().unwrap().into()))
        .collect()
}

fn side<'a>(it: impl Iterator<Item = (&'a u64, &'a u64)>) -> Vec<(String, String)> {
    it.map(|(&p, &q)| (format_units(p), format_units(q)))
        .collect()
}

fn check(book: &Book, expected: &Value, what: &str) {
    assert_eq!(
        side(book.bids.iter().rev()),
        levels(&expected["bids"]),
        "{what}: bids"
    );
    assert_eq!(
        side(book.asks.iter()),
        levels(&expected["asks"]),
        "{what}: asks"
    );
}

#[test]
fn the_simulator_model_gives_the_backtest_books() {
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("tests/book_cases/cases.json")).unwrap(),
    )
    .unwrap();
    let cases = file["cases"].as_array().unwrap();
    assert!(cases.len() >= 5);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let mut model = BookModel::new(ModelParams {
            tick: units(&case["tick"]),
            step: units(&case["step"]),
            levels: case["levels"].as_u64().unwrap() as usize,
            seed: case["seed"].as_u64().unwrap(),
        });
        // Every trade has this quantity: the median is it in both models.
        let qty = units(&case["trade_qty"]);
        let trades = case["trades"].as_array().unwrap();
        let mut next = 0;
        for expected in case["books"].as_array().unwrap() {
            let at = expected["at_us"].as_i64().unwrap();
            while let Some(t) = trades.get(next).filter(|t| t[0].as_i64().unwrap() <= at) {
                model.on_trade(t[0].as_i64().unwrap(), units(&t[1]), qty, t[2] == "sell");
                next += 1;
            }
            check(&model.target(at), expected, &format!("{name} at {at} µs"));
        }
    }
}

/// Trade quantities that change over the replay (small for the first 1,200 trades, then five times
/// larger, with noise): the simulator's books are the backtest's model's (`synthetic_book`, bit for
/// bit the numpy code the backtest replaced), level for level, at every boundary, through the
/// change. The base of both is 5 × the median quantity of the last 1,000 trades on the grid of
/// trade counts, from past trades only; until 2026-12-06 the simulator took the median of the whole
/// window (here about 250: 400 % of the first books' depth), and a paper session met other books,
/// another liquidity stop and other fill prices than a backtest of the same trades.
#[test]
fn the_simulator_takes_the_backtest_base_from_the_past_trades() {
    use exchange_sim::units::SCALE;
    use synthetic_book::{mix, Params, SyntheticBook, Trades};
    const TICK: u64 = 10_000; // 0.0001
    const LEVELS: usize = 10;
    let n = 2_500usize;
    let mut trades = Trades::default();
    let mut rows = Vec::new(); // (µs, price units, qty units, taker sell)
    let mut tick = 2_142i64;
    for k in 0..n {
        let r = mix(k as u64);
        tick = (tick + (r % 5) as i64 - 2).max(50);
        let tenths = if k < 1_200 {
            200 + r % 400
        } else {
            1_000 + r % 2_000
        };
        let us = k as i64 * 37_000;
        let sell = r % 3 != 0;
        trades.ts_ns.push(us * 1_000);
        trades.ticks.push(tick);
        trades.qty.push(tenths as f64 / 10.0);
        trades.buy.push(!sell);
        rows.push((us, tick as u64 * TICK, tenths * (SCALE / 10), sell));
    }
    let params = Params {
        step: 0.1,
        levels: LEVELS,
        seed: 3,
    };
    let mut backtest = SyntheticBook::new(trades, params).unwrap();
    let mut model = BookModel::new(ModelParams {
        tick: TICK,
        step: SCALE / 10,
        levels: LEVELS,
        seed: 3,
    });
    let mut next = 0;
    let mut boundaries = 0;
    let end = rows.last().unwrap().0;
    let mut at = 100_000i64;
    while at <= end {
        while let Some(&(us, price, qty, sell)) = rows.get(next).filter(|r| r.0 <= at) {
            model.on_trade(us, price, qty, sell);
            next += 1;
        }
        let want = backtest.batch(&[at * 1_000], &[next as i64]).unwrap();
        let got = model.target(at);
        let nbids = want.nbids[0] as usize;
        let level = |i: usize| {
            let price = format_units(want.ticks[i] as u64 * TICK);
            let qty = format_units((want.qty[i] * SCALE as f64).round() as u64);
            (price, qty)
        };
        let bids: Vec<_> = (0..nbids).map(level).collect();
        let asks: Vec<_> = (LEVELS..2 * LEVELS).map(level).collect();
        assert_eq!(
            side(got.bids.iter().rev()),
            bids,
            "bids at {at} µs, {next} trades"
        );
        assert_eq!(
            side(got.asks.iter()),
            asks,
            "asks at {at} µs, {next} trades"
        );
        boundaries += 1;
        at += 100_000;
    }
    assert!(boundaries > 900, "{boundaries}");
}
