//! Binance spot's JSON, field for field and in Binance's field order (binance-spot-api-docs
//! `web-socket-streams.md` "Detailed Stream information", `rest-api.md` "Order book"): prices and
//! quantities are strings with 8 decimals, ids and times (ms) integers.

use serde::Serialize;

use crate::book::{Book, Level};
use crate::trades_csv::TradeRow;
use crate::units::Units;

/// Levels serialised as `[["price","qty"], ...]`.
struct Levels<'a>(&'a [Level]);

impl Serialize for Levels<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|&(p, q)| (Units(p), Units(q))))
    }
}

#[derive(Serialize)]
struct DepthUpdate<'a> {
    e: &'static str,
    #[serde(rename = "E")]
    event_time: i64,
    s: &'a str,
    #[serde(rename = "U")]
    first: u64,
    u: u64,
    b: Levels<'a>,
    a: Levels<'a>,
}

#[derive(Serialize)]
struct AggTrade<'a> {
    e: &'static str,
    #[serde(rename = "E")]
    event_time: i64,
    s: &'a str,
    a: u64,
    p: Units,
    q: Units,
    f: u64,
    l: u64,
    #[serde(rename = "T")]
    trade_time: i64,
    m: bool,
    #[serde(rename = "M")]
    ignore: bool,
}

#[derive(Serialize)]
struct Trade<'a> {
    e: &'static str,
    #[serde(rename = "E")]
    event_time: i64,
    s: &'a str,
    t: u64,
    p: Units,
    q: Units,
    #[serde(rename = "T")]
    trade_time: i64,
    m: bool,
    #[serde(rename = "M")]
    ignore: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DepthSnapshot<'a> {
    last_update_id: u64,
    bids: Levels<'a>,
    asks: Levels<'a>,
}

fn to_json(v: &impl Serialize) -> String {
    // Serialising these plain structs cannot fail; an empty object is the harmless fallback.
    serde_json::to_string(v).unwrap_or_else(|_| "{}".to_owned())
}

/// A `depthUpdate` event (`<symbol>@depth` / `<symbol>@depth@100ms`).
pub fn depth_update(
    symbol: &str,
    event_ms: i64,
    first: u64,
    last: u64,
    bids: &[Level],
    asks: &[Level],
) -> String {
    to_json(&DepthUpdate {
        e: "depthUpdate",
        event_time: event_ms,
        s: symbol,
        first,
        u: last,
        b: Levels(bids),
        a: Levels(asks),
    })
}

/// An `aggTrade` event for one recorded trade: aggregate id `agg_id`, `f` = `l` = the trade id,
/// `m` = the taker sold (the buyer was the maker).
pub fn agg_trade(symbol: &str, event_ms: i64, agg_id: u64, t: &TradeRow, trade_ms: i64) -> String {
    to_json(&AggTrade {
        e: "aggTrade",
        event_time: event_ms,
        s: symbol,
        a: agg_id,
        p: Units(t.price),
        q: Units(t.qty),
        f: t.id,
        l: t.id,
        trade_time: trade_ms,
        m: t.taker_sell,
        ignore: true,
    })
}

/// A `trade` event.
pub fn trade(symbol: &str, event_ms: i64, t: &TradeRow, trade_ms: i64) -> String {
    to_json(&Trade {
        e: "trade",
        event_time: event_ms,
        s: symbol,
        t: t.id,
        p: Units(t.price),
        q: Units(t.qty),
        trade_time: trade_ms,
        m: t.taker_sell,
        ignore: true,
    })
}

/// The `GET /api/v3/depth` answer: the top `limit` levels a side of `book`.
pub fn depth_snapshot(book: &Book, limit: usize) -> String {
    let (bids, asks) = book.top(limit);
    to_json(&DepthSnapshot {
        last_update_id: book.update_id,
        bids: Levels(&bids),
        asks: Levels(&asks),
    })
}

/// A payload wrapped for a combined stream: `{"stream":"<name>","data":<payload>}`.
pub fn combined(stream: &str, payload: &str) -> String {
    let mut s = String::with_capacity(payload.len() + stream.len() + 21);
    s.push_str("{\"stream\":");
    s.push_str(&serde_json::to_string(stream).unwrap_or_else(|_| "\"\"".to_owned()));
    s.push_str(",\"data\":");
    s.push_str(payload);
    s.push('}');
    s
}

/// The stream name a combined-stream connection's `serverShutdown` event is wrapped with.
pub const SERVER_SHUTDOWN_STREAM: &str = "!serverShutdown";

/// The `serverShutdown` event (`web-socket-streams.md`): the server is about to shut down and
/// disconnect; clients reconnect. `{"e":"serverShutdown","E":<ms>}` on a raw stream, wrapped
/// `{"stream":"!serverShutdown","data":{...}}` on a combined one.
pub fn server_shutdown(event_ms: i64, combined_stream: bool) -> String {
    let raw = format!("{{\"e\":\"serverShutdown\",\"E\":{event_ms}}}");
    if combined_stream {
        combined(SERVER_SHUTDOWN_STREAM, &raw)
    } else {
        raw
    }
}

/// A Binance error body, `{"code":-1121,"msg":"Invalid symbol."}`.
pub fn error(code: i64, msg: &str) -> String {
    serde_json::json!({"code": code, "msg": msg}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_fixtures::{fixture, keys};
    use crate::units::SCALE;
    use serde_json::Value;

    /// Same keys, and the same JSON type under each key.
    fn same_shape(ours: &Value, theirs: &Value) {
        assert_eq!(keys(ours), keys(theirs), "{ours} vs {theirs}");
        for k in keys(theirs) {
            let kind = |v: &Value| std::mem::discriminant(v);
            assert_eq!(kind(&ours[&k]), kind(&theirs[&k]), "type of {k}");
        }
    }

    fn row() -> TradeRow {
        TradeRow {
            ts_us: 1_675_759_520_847_000,
            id: 228_423,
            price: 163_246_000_000,
            qty: 34_305_000,
            taker_sell: false,
        }
    }

    #[test]
    fn agg_trade_matches_binance_exactly() {
        let ours: Value = serde_json::from_str(&agg_trade(
            "ETHUSDT",
            1_675_759_520_848,
            226_532,
            &row(),
            1_675_759_520_847,
        ))
        .unwrap();
        let theirs = fixture("spot_ws_aggtrade_combined_nautilus.json");
        assert_eq!(ours, theirs["data"]);
        same_shape(&ours, &fixture("spot_ws_aggtrade.json"));
    }

    #[test]
    fn trade_and_depth_shapes_match_the_fixtures() {
        let t: Value = serde_json::from_str(&trade("POLUSDT", 1, &row(), 1)).unwrap();
        same_shape(&t, &fixture("spot_ws_trade.json"));
        assert_eq!(t["p"], "1632.46000000");
        let d: Value = serde_json::from_str(&depth_update(
            "POLUSDT",
            1,
            2,
            3,
            &[(15_830_000, 0)],
            &[(15_840_000, 5 * SCALE)],
        ))
        .unwrap();
        same_shape(&d, &fixture("spot_ws_depth_update.json"));
        assert_eq!(d["b"], serde_json::json!([["0.15830000", "0.00000000"]]));
        assert_eq!(d["a"], serde_json::json!([["0.15840000", "5.00000000"]]));
        let mut book = Book::empty(1_027_024);
        book.bids.insert(400_000_000, 431 * SCALE);
        book.asks.insert(400_000_200, 12 * SCALE);
        let s: Value = serde_json::from_str(&depth_snapshot(&book, 100)).unwrap();
        assert_eq!(s, fixture("spot_rest_depth_snapshot.json"));
    }

    #[test]
    fn field_order_is_binances() {
        let text = depth_update("POLUSDT", 1, 2, 3, &[], &[]);
        assert_eq!(
            text,
            r#"{"e":"depthUpdate","E":1,"s":"POLUSDT","U":2,"u":3,"b":[],"a":[]}"#
        );
    }

    #[test]
    fn combined_wrapping_matches_the_fixture() {
        let fx = fixture("spot_ws_depth_update_combined.json");
        let payload = fx["data"].to_string();
        let ours: Value = serde_json::from_str(&combined("bnbbtc@depth", &payload)).unwrap();
        assert_eq!(ours, fx);
    }

    /// `serverShutdown` as the notes give it, raw and in the combined-stream envelope.
    #[test]
    fn server_shutdown_matches_the_fixtures() {
        for (combined_stream, name) in [
            (false, "spot_ws_server_shutdown_raw.json"),
            (true, "spot_ws_server_shutdown_combined.json"),
        ] {
            let ours: Value =
                serde_json::from_str(&server_shutdown(1_770_123_456_789, combined_stream)).unwrap();
            assert_eq!(ours, fixture(name), "{name}");
        }
        assert_eq!(server_shutdown(5, false), r#"{"e":"serverShutdown","E":5}"#);
    }

    #[test]
    fn error_body() {
        let ours: Value = serde_json::from_str(&error(-1121, "Invalid symbol.")).unwrap();
        assert_eq!(ours, fixture("errors.json")["generic_example"]["body"]);
    }
}
