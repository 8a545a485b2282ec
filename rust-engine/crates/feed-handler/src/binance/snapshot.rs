//! REST depth snapshot: `GET /api/v3/depth?symbol=..&limit=..` → `{"lastUpdateId", "bids", "asks"}`.

use serde::Deserialize;

use super::{depth::levels, ParseError};
use crate::book::Level;

/// A validated snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// `lastUpdateId`.
    pub last_update_id: u64,
    /// Bid levels.
    pub bids: Vec<Level>,
    /// Ask levels.
    pub asks: Vec<Level>,
}

#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(rename = "lastUpdateId")]
    last_update_id: u64,
    #[serde(borrow)]
    bids: Vec<(&'a str, &'a str)>,
    #[serde(borrow)]
    asks: Vec<(&'a str, &'a str)>,
}

/// Parses the body of a depth snapshot.
///
/// # Errors
/// [`ParseError`] for a body that is not a valid snapshot.
pub fn parse(body: &str) -> Result<Snapshot, ParseError> {
    let w: Wire = serde_json::from_str(body).map_err(super::malformed)?;
    let mut bids = levels(&w.bids)?;
    let mut asks = levels(&w.asks)?;
    // Best first, whatever order the body used.
    bids.sort_unstable_by_key(|l| std::cmp::Reverse(l.price));
    asks.sort_unstable_by_key(|l| l.price);
    Ok(Snapshot {
        last_update_id: w.last_update_id,
        bids,
        asks,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_documented_snapshot() {
        let path = format!(
            "{}/../../../tests/fixtures/binance/spot_rest_depth_snapshot_btcusdt_nautilus.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let s = super::parse(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(s.last_update_id, 14527958487);
        assert_eq!(s.bids.len(), 10);
    }

    /// Levels come out best first whatever order the body used (the snapshot check compares them
    /// in that order).
    #[test]
    fn sorts_best_first() {
        let s = super::parse(
            r#"{"lastUpdateId":5,"bids":[["1.0","1"],["3.0","1"],["2.0","1"]],"asks":[["6.0","1"],["4.0","1"],["5.0","1"]]}"#,
        )
        .unwrap();
        let prices = |l: &[crate::book::Level]| {
            l.iter()
                .map(|l| l.price / crate::fixed::SCALE)
                .collect::<Vec<_>>()
        };
        assert_eq!(prices(&s.bids), [3, 2, 1]);
        assert_eq!(prices(&s.asks), [4, 5, 6]);
    }

    /// A level with a zero, negative or non-numeric price, or an invalid quantity, refuses the
    /// whole snapshot.
    #[test]
    fn refuses_invalid_levels() {
        for (levels, field) in [
            (r#"[["0","1"]]"#, "price"),
            (r#"[["0.00000000","1"]]"#, "price"),
            (r#"[["-1","1"]]"#, "price"),
            (r#"[["NaN","1"]]"#, "price"),
            (r#"[["1","-1"]]"#, "quantity"),
            (r#"[["1","Infinity"]]"#, "quantity"),
        ] {
            let body = format!(r#"{{"lastUpdateId":5,"bids":{levels},"asks":[["2","1"]]}}"#);
            match super::parse(&body) {
                Err(super::ParseError::Rejected { field: f, .. }) => assert_eq!(f, field, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
    }
}
