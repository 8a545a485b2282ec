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
            // Every trade has this quantity: the median is it in both models.
            base_qty: 5 * units(&case["trade_qty"]),
            seed: case["seed"].as_u64().unwrap(),
        });
        let trades = case["trades"].as_array().unwrap();
        let mut next = 0;
        for expected in case["books"].as_array().unwrap() {
            let at = expected["at_us"].as_i64().unwrap();
            while let Some(t) = trades.get(next).filter(|t| t[0].as_i64().unwrap() <= at) {
                model.on_trade(t[0].as_i64().unwrap(), units(&t[1]), t[2] == "sell");
                next += 1;
            }
            check(&model.target(at), expected, &format!("{name} at {at} µs"));
        }
    }
}
