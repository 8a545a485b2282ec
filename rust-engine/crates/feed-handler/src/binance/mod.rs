//! Binance spot (and USD-M) market-data messages: parsing a WebSocket frame, raw or wrapped in the
//! combined-stream envelope `{"stream":..,"data":..}`, into a validated event.
//!
//! Source: binance-spot-api-docs `web-socket-streams.md` ("Detailed Stream information").

pub mod depth;
mod scan;
pub mod snapshot;
pub mod trade;

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

pub use depth::DepthUpdate;
pub use snapshot::Snapshot;
pub use trade::TradeEvent;

/// A validated market-data event.
#[derive(Debug, Clone, PartialEq)]
pub enum MarketEvent {
    /// Order-book diff.
    Depth(DepthUpdate),
    /// Trade.
    Trade(TradeEvent),
    /// A message the feed expects but does not use: a subscription answer (`result`, no event
    /// type) or `serverShutdown`. Any other event type, or a frame without one, is malformed.
    Other,
}

/// Why a frame was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not JSON, not the shape of a known event, an event type the feed does not subscribe to, or
    /// no event type (other than a subscription answer).
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// A known event with an invalid value (NaN, Inf, zero or negative price, negative quantity).
    #[error("rejected {field}: {value:?}")]
    Rejected {
        /// Which field.
        field: &'static str,
        /// The value as received.
        value: String,
    },
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    stream: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    e: Option<&'a str>,
}

#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(borrow, default)]
    e: Option<&'a str>,
}

/// How far an event's time (`E`, and a trade's `T`) may be ahead of the local receive clock: 60 s.
/// Binance's server clock is within about a second of a synced local clock, so a stamp further
/// ahead is corrupt; passed on, it would be the newest time downstream (the detector) and every
/// genuine event after it would look older.
pub const MAX_AHEAD_MS: u64 = 60_000;

/// Refuses event times too far in the future ([`MAX_AHEAD_MS`]) for one feed.
///
/// The reference is the later of the local receive clock and the time of the event offered just
/// before (refused or not). A lone far-future stamp is refused and the events after it, on time,
/// pass. A stream whose times run ahead of the local clock but follow on from each other (an
/// exchange-sim replay faster than real time, its event times rebased to start at the wall clock)
/// passes; after a jump of more than the tolerance (a recording gap in such a replay) one event
/// is refused and the stream is followed from it. So a run of far-future stamps that follow on
/// from each other is refused at its first event only: it is taken as a venue clock running ahead.
#[derive(Debug, Clone, Default)]
pub struct EventClock {
    /// The latest stamp of the event offered before, ms.
    previous_ms: Option<u64>,
}

impl EventClock {
    /// Checks the stamps of `event`, received at `local_ms` (ms since the epoch).
    ///
    /// # Errors
    /// [`ParseError::Rejected`] naming the stamp (`E` or `T`), with its value and how far ahead
    /// it is.
    pub fn check(&mut self, event: &MarketEvent, local_ms: u64) -> Result<(), ParseError> {
        let (event_ms, trade_ms) = match event {
            MarketEvent::Depth(d) => (d.event_ms, None),
            MarketEvent::Trade(t) => (t.event_ms, Some(t.trade_ms)),
            MarketEvent::Other => return Ok(()),
        };
        let reference = local_ms.max(self.previous_ms.unwrap_or(0));
        self.previous_ms = Some(event_ms.max(trade_ms.unwrap_or(0)));
        let stamps = std::iter::once(("E", event_ms)).chain(trade_ms.map(|ms| ("T", ms)));
        for (field, ms) in stamps {
            if ms.saturating_sub(reference) > MAX_AHEAD_MS {
                return Err(ParseError::Rejected {
                    field,
                    value: format!(
                        "{ms} ms is {} ms ahead of the local clock ({local_ms} ms); at most {MAX_AHEAD_MS} ms",
                        ms - local_ms
                    ),
                });
            }
        }
        Ok(())
    }
}

fn malformed(e: impl std::fmt::Display) -> ParseError {
    ParseError::Malformed(e.to_string())
}

/// Parses one text frame, whatever symbol its event is for.
///
/// # Errors
/// [`ParseError`] for a frame to drop and count.
pub fn parse_frame(text: &str) -> Result<MarketEvent, ParseError> {
    parse_frame_of(text, None)
}

/// Parses one text frame of `symbol`'s streams: a depth or trade event of another symbol (by its
/// `s`, or by the symbol of its combined stream's name, `<symbol>@...`; compared ignoring case, as
/// stream names are lower case) is rejected. An event without `s`, in a raw frame, is taken.
///
/// # Errors
/// [`ParseError`] for a frame to drop and count; [`ParseError::Rejected`] naming `s` or `stream`
/// for another symbol's event.
pub fn parse_frame_for(text: &str, symbol: &str) -> Result<MarketEvent, ParseError> {
    parse_frame_of(text, Some(symbol))
}

fn parse_frame_of(text: &str, symbol: Option<&str>) -> Result<MarketEvent, ParseError> {
    if let Some(event) = parse_combined_fast(text, symbol) {
        return Ok(event);
    }
    parse_frame_general(text, symbol)
}

/// Whether a stream name (`<symbol>@<kind>...`) is one of `symbol`'s streams (ignoring case).
fn stream_of(stream: &str, symbol: &str) -> bool {
    stream
        .split('@')
        .next()
        .is_some_and(|s| s.eq_ignore_ascii_case(symbol))
}

/// Refuses an event's symbol `s` (when given) other than `expected` (ignoring case).
pub(crate) fn check_symbol(s: Option<&str>, expected: Option<&str>) -> Result<(), ParseError> {
    match (s, expected) {
        (Some(s), Some(want)) if !s.eq_ignore_ascii_case(want) => Err(ParseError::Rejected {
            field: "s",
            value: format!("{s} (this feed is {want})"),
        }),
        _ => Ok(()),
    }
}

/// The stream name and payload of a combined-stream frame written as Binance writes it,
/// `{"stream":"<name>","data":<payload>}` with no whitespace and a plain stream name; `None` for
/// any other shape.
fn combined_payload(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix("{\"stream\":\"")?;
    let end = rest.find('"')?;
    if !rest.as_bytes()[..end]
        .iter()
        .all(|&b| b >= 0x20 && b != b'\\')
    {
        return None;
    }
    let payload = rest[end..]
        .strip_prefix("\",\"data\":")?
        .strip_suffix('}')?;
    Some((&rest[..end], payload))
}

/// One pass over a depth or trade event in a combined-stream frame of the usual shape (the event
/// type first), where [`parse_frame_general`] reads the frame three times (envelope, event type,
/// event). `None` when the frame is not of that shape or does not parse: the general path then
/// decides, so every frame this accepts is one the general path accepts with the same result (the
/// envelope's structure is checked here and the payload is one JSON value, or the event parse
/// fails; the event structs refuse a second `e` as the general path's type peek does).
fn parse_combined_fast(text: &str, symbol: Option<&str>) -> Option<MarketEvent> {
    let (stream, payload) = combined_payload(text)?;
    // Another symbol's stream: left to the general path, which rejects it.
    if symbol.is_some_and(|want| !stream_of(stream, want)) {
        return None;
    }
    if payload.starts_with("{\"e\":\"depthUpdate\",") {
        depth::parse_direct(payload, symbol).map(MarketEvent::Depth)
    } else if payload.starts_with("{\"e\":\"aggTrade\",")
        || payload.starts_with("{\"e\":\"trade\",")
    {
        trade::parse(payload, symbol).ok().map(MarketEvent::Trade)
    } else {
        None
    }
}

/// Whether `text` is the venue's `serverShutdown` event (raw or in the combined-stream envelope),
/// after which it asks for a new connection as soon as possible.
pub fn is_server_shutdown(text: &str) -> bool {
    let Ok(env) = serde_json::from_str::<Envelope>(text) else {
        return false;
    };
    let kind = match env.data {
        Some(raw) => serde_json::from_str::<Peek>(raw.get())
            .ok()
            .and_then(|p| p.e),
        None => env.e,
    };
    kind == Some("serverShutdown")
}

/// Any frame: raw or in the combined-stream envelope, fields in any order; with `symbol`, a depth
/// or trade event of another symbol's stream is rejected.
fn parse_frame_general(text: &str, symbol: Option<&str>) -> Result<MarketEvent, ParseError> {
    let env: Envelope = serde_json::from_str(text).map_err(malformed)?;
    let (payload, kind) = match env.data {
        Some(raw) => {
            let peek: Peek = serde_json::from_str(raw.get()).map_err(malformed)?;
            (raw.get(), peek.e)
        }
        None => (text, env.e),
    };
    let event = match kind {
        Some("depthUpdate") => depth::parse(payload, symbol).map(MarketEvent::Depth)?,
        Some("aggTrade") | Some("trade") => {
            trade::parse(payload, symbol).map(MarketEvent::Trade)?
        }
        Some("serverShutdown") => return Ok(MarketEvent::Other),
        Some(other) => {
            return Err(ParseError::Malformed(format!(
                "unknown event type {other:?}"
            )))
        }
        None if payload.contains("\"result\"") => return Ok(MarketEvent::Other),
        None => return Err(ParseError::Malformed("no event type".into())),
    };
    if let (Some(stream), Some(want)) = (env.stream.as_deref(), symbol) {
        if env.data.is_some() && !stream_of(stream, want) {
            return Err(ParseError::Rejected {
                field: "stream",
                value: format!("{stream} (this feed is {want})"),
            });
        }
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/../../../tests/fixtures/binance/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn parses_documented_fixtures() {
        match parse_frame(&fixture("spot_ws_depth_update.json")).unwrap() {
            MarketEvent::Depth(d) => {
                assert_eq!((d.first_id, d.final_id), (157, 160));
                assert_eq!(d.bids.len(), 1);
            }
            other => panic!("{other:?}"),
        }
        match parse_frame(&fixture("spot_ws_depth_update_combined.json")).unwrap() {
            MarketEvent::Depth(d) => assert_eq!(d.final_id, 160),
            other => panic!("{other:?}"),
        }
        match parse_frame(&fixture("spot_ws_aggtrade_combined_nautilus.json")).unwrap() {
            MarketEvent::Trade(t) => {
                assert_eq!(t.trade_id, 226532);
                assert_eq!(t.price, 163_246_000_000);
            }
            other => panic!("{other:?}"),
        }
        match parse_frame(&fixture("futures_ws_depth_update.json")).unwrap() {
            MarketEvent::Depth(d) => assert_eq!(d.prev_final_id, Some(149)),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse_frame(&fixture("spot_ws_server_shutdown_combined.json")).unwrap(),
            MarketEvent::Other
        );
        assert_eq!(
            parse_frame(&fixture("spot_ws_subscribe_response.json")).unwrap(),
            MarketEvent::Other
        );
        assert!(is_server_shutdown(&fixture(
            "spot_ws_server_shutdown_combined.json"
        )));
        assert!(!is_server_shutdown(&fixture(
            "spot_ws_subscribe_response.json"
        )));
    }

    #[test]
    fn one_pass_path_agrees_with_the_general_path() {
        let depth = r#"{"e":"depthUpdate","E":17,"s":"POLUSDT","U":5,"u":7,"b":[["0.15830000","12.5"],["0.1582","0"]],"a":[["0.15840000","3"]]}"#;
        let trade = r#"{"e":"aggTrade","E":1,"s":"X","a":9,"p":"0.1583","q":"2","f":1,"l":1,"T":1,"m":true,"M":true}"#;
        let usual = [
            format!(r#"{{"stream":"polusdt@depth@100ms","data":{depth}}}"#),
            format!(r#"{{"stream":"polusdt@aggTrade","data":{trade}}}"#),
            format!(
                r#"{{"stream":"polusdt@trade","data":{}}}"#,
                trade
                    .replace("aggTrade", "trade")
                    .replace(r#""a":9"#, r#""t":9"#)
            ),
            fixture("spot_ws_depth_update_combined.json")
                .trim()
                .to_owned(),
            fixture("spot_ws_aggtrade_combined_nautilus.json")
                .trim()
                .to_owned(),
        ];
        for frame in &usual {
            if frame.starts_with(r#"{"stream":""#) && !frame.contains(": ") {
                assert!(parse_combined_fast(frame, None).is_some(), "{frame}");
            }
            assert_eq!(
                parse_frame(frame),
                parse_frame_general(frame, None),
                "{frame}"
            );
        }
        // Frames the one-pass path must leave to the general path (or agree on).
        let unusual = [
            // a second event type
            format!(r#"{{"stream":"s","data":{}}}"#, depth.replacen(r#""E":17"#, r#""E":17,"e":"x""#, 1)),
            // escapes or a control character in the stream name
            format!(r#"{{"stream":"a"b","data":{depth}}}"#),
            format!("{{\"stream\":\"a{}b\",\"data\":{depth}}}", '\u{1}'),
            // whitespace, other order, more keys, trailing bytes
            format!(r#"{{ "stream":"s","data":{depth}}}"#),
            format!(r#"{{"data":{depth},"stream":"s"}}"#),
            format!(r#"{{"stream":"s","data":{depth},"x":1}}"#),
            format!(r#"{{"stream":"s","data":{depth}}}}}"#),
            format!(r#"{{"stream":"s","data":{depth} }}"#),
            // invalid values, broken payloads
            format!(r#"{{"stream":"s","data":{}}}"#, depth.replace("0.15840000", "-1")),
            format!(r#"{{"stream":"s","data":{}}}"#, trade.replace(r#""q":"2""#, r#""q":"0""#)),
            format!(r#"{{"stream":"s","data":{}}}"#, &depth[..depth.len() - 1]),
            format!(r#"{{"stream":"s","data":{}}}"#, depth.replace(r#""U":5"#, r#""U":9"#)),
            r#"{"stream":"s","data":{"e":"depthUpdate",}}"#.to_owned(),
            r#"{"stream":"s","data":{"e":"depthUpdate","E":1,"U":1,"u":2,"b":[["1","x"]],"a":[]}}"#.to_owned(),
            r#"{"stream":"s","data":{"e":"depthUpdate","E":1,"U":1,"u":2,"b":[["1"]],"a":[]}}"#.to_owned(),
            r#"{"stream":"s","data":{"e":"depthUpdate","E":1,"U":1,"u":2,"b":"x","a":[]}}"#.to_owned(),
            r#"{"stream":"s","data":{"e":"depthUpdate","E":1,"U":1,"u":2,"b":[["0","1"]],"a":[]}}"#.to_owned(),
            r#"{"stream":"s","data":{"e":"depthUpdate","E":1,"U":1,"u":2,"b":[["1","1","2"]],"a":[]}}"#.to_owned(),
            r#"{"stream":"s","data":{"e":"depthUpdate","E":1,"U":1,"u":2,"pu":0,"b":[],"a":[["2","0"]]}}"#.to_owned(),
            // a key twice
            format!(r#"{{"stream":"s","data":{}}}"#, depth.replacen(r#""U":5"#, r#""U":5,"U":5"#, 1)),
            format!(r#"{{"stream":"s","data":{}}}"#, depth.replacen(r#""u":7"#, r#""u":7,"u":7"#, 1)),
            format!(r#"{{"stream":"s","data":{}}}"#, depth.replacen(r#""E":17"#, r#""E":17,"E":17"#, 1)),
            format!(r#"{{"stream":"s","data":{}}}"#, depth.replacen(r#""u":7"#, r#""u":7,"pu":4,"pu":4"#, 1)),
            format!(r#"{{"stream":"s","data":{}}}"#, depth.replacen(r#""u":7"#, r#""u":7,"b":[]"#, 1)),
            format!(r#"{{"stream":"s","data":{}}}"#, depth.replacen(r#""u":7"#, r#""u":7,"a":[]"#, 1)),
            format!(r#"{{"stream":"s","data":{}}}"#, depth.replacen(r#""u":7"#, r#""u":7,"s":"X""#, 1)),
            format!(r#"{{"stream":"s","data":{}}}"#, depth.replacen(r#""u":7"#, r#""u":7,"T":1,"T":1"#, 1)),
            r#"{"stream":"s","data":{"e":"kline","k":{}}}"#.to_owned(),
            r#"{"stream":"s","data":"#.to_owned(),
        ];
        for frame in &unusual {
            assert_eq!(
                parse_frame(frame),
                parse_frame_general(frame, None),
                "{frame}"
            );
        }
    }

    mod props {
        use super::*;
        use proptest::prelude::*;
        use proptest::sample::select;

        fn decimal() -> impl Strategy<Value = String> {
            let odd = [
                "0", "-1", "NaN", "1e5", ".", "", "1.2.3", "\\u0031", "Infinity", "00.1", "1.",
            ];
            prop_oneof![
                4 => (0u64..100_000_000_000_000).prop_map(crate::fixed::to_string),
                2 => "[0-9]{1,6}(\\.[0-9]{0,9})?",
                1 => select(odd.to_vec()).prop_map(String::from),
            ]
        }

        fn integer() -> impl Strategy<Value = String> {
            let odd = [
                "0",
                "01",
                "1.0",
                "1e3",
                "-1",
                "null",
                "\"1\"",
                "18446744073709551616",
            ];
            prop_oneof![
                4 => any::<u64>().prop_map(|v| v.to_string()),
                1 => select(odd.to_vec()).prop_map(String::from),
            ]
        }

        fn levels() -> impl Strategy<Value = String> {
            prop::collection::vec((decimal(), decimal()), 0..4).prop_map(|v| {
                let pairs: Vec<String> =
                    v.iter().map(|(p, q)| format!(r#"["{p}","{q}"]"#)).collect();
                format!("[{}]", pairs.join(","))
            })
        }

        /// A depth event of the spot or futures shape, its keys after `e` in any order, some left
        /// out or repeated, with valid and invalid values; then maybe one byte inserted or removed.
        fn frame() -> impl Strategy<Value = String> {
            let fields = (
                integer(),
                integer(),
                integer(),
                integer(),
                integer(),
                levels(),
                levels(),
            );
            let optional = prop::collection::vec(any::<bool>(), 8);
            let edit = prop::option::of((
                any::<prop::sample::Index>(),
                select(&b"{}[],:\" 0.-e"[..]),
                any::<bool>(),
            ));
            (fields, optional, edit)
                .prop_flat_map(|((e_ms, t, first, last, pu, b, a), keep, edit)| {
                    let mut pairs = vec![
                        (r#""E""#, e_ms.clone()),
                        (r#""U""#, first),
                        (r#""u""#, last),
                        (r#""b""#, b),
                        (r#""a""#, a),
                        (r#""s""#, r#""POLUSDT""#.to_owned()),
                        (r#""T""#, t),
                        (r#""pu""#, pu),
                        (r#""x""#, "1".to_owned()),
                        (r#""E""#, e_ms),
                        (r#""e""#, r#""depthUpdate""#.to_owned()),
                    ];
                    // The first five always; the others each when `keep` says so.
                    let mut i = 0;
                    pairs.retain(|_| {
                        i += 1;
                        i <= 5 || keep[i - 6]
                    });
                    (Just(pairs).prop_shuffle(), Just(edit))
                })
                .prop_map(|(pairs, edit)| {
                    let body: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                    let mut payload = format!(r#"{{"e":"depthUpdate",{}}}"#, body.join(","));
                    if let Some((at, byte, insert)) = edit {
                        let i = at.index(payload.len());
                        if insert {
                            payload.insert(i, char::from(byte));
                        } else {
                            payload.remove(i);
                        }
                    }
                    format!(r#"{{"stream":"polusdt@depth@100ms","data":{payload}}}"#)
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2_000))]
            /// The one-pass path reads a depth event exactly as the general path does, or leaves it
            /// to it.
            #[test]
            fn the_one_pass_path_agrees_with_the_general_path(frame in frame()) {
                prop_assert_eq!(parse_frame(&frame), parse_frame_general(&frame, None), "{}", frame);
                // Also when the feed's symbol is checked: its own, in either case, or another.
                for symbol in ["POLUSDT", "polusdt", "ETHUSDT"] {
                    prop_assert_eq!(
                        parse_frame_for(&frame, symbol),
                        parse_frame_general(&frame, Some(symbol)),
                        "{} {}", frame, symbol
                    );
                }
            }
        }

        #[test]
        fn the_one_pass_path_takes_binance_shaped_events() {
            for payload in [
                r#"{"e":"depthUpdate","E":1,"s":"X","U":2,"u":3,"b":[["1.5","2"]],"a":[]}"#,
                r#"{"e":"depthUpdate","E":1,"T":1,"s":"X","U":2,"u":3,"pu":1,"b":[],"a":[["2.00000000","0.00000000"]]}"#,
            ] {
                let frame = format!(r#"{{"stream":"x@depth","data":{payload}}}"#);
                let fast = parse_combined_fast(&frame, None);
                assert!(fast.is_some(), "{frame}");
                assert_eq!(fast, parse_frame_general(&frame, None).ok(), "{frame}");
            }
        }
    }

    fn depth_at(event_ms: u64) -> MarketEvent {
        MarketEvent::Depth(DepthUpdate {
            event_ms,
            first_id: 1,
            final_id: 1,
            prev_final_id: None,
            bids: Vec::new(),
            asks: Vec::new(),
        })
    }

    fn trade_at(event_ms: u64, trade_ms: u64) -> MarketEvent {
        MarketEvent::Trade(TradeEvent {
            trade_ms,
            event_ms,
            trade_id: 1,
            price: 1,
            qty: 1,
            aggressor: common::message::Aggressor::Buy,
        })
    }

    /// An event stamped more than [`MAX_AHEAD_MS`] ahead of the local clock is refused naming the
    /// stamp and its value; up to the tolerance passes; the events on time after a refused one
    /// pass.
    #[test]
    fn a_far_future_stamp_is_refused() {
        let local = 1_760_130_000_000;
        let far = 4_102_444_800_000; // 2100-01-01
        let mut clock = EventClock::default();
        assert_eq!(clock.check(&depth_at(local + MAX_AHEAD_MS), local), Ok(()));
        let mut clock = EventClock::default();
        assert_eq!(
            clock.check(&depth_at(local + MAX_AHEAD_MS + 1), local),
            Err(ParseError::Rejected {
                field: "E",
                value: format!(
                    "{} ms is 60001 ms ahead of the local clock ({local} ms); at most 60000 ms",
                    local + MAX_AHEAD_MS + 1
                ),
            })
        );
        let mut clock = EventClock::default();
        for (event, field) in [
            (trade_at(far, local - 5), "E"),
            (trade_at(local, far), "T"),
            (depth_at(far), "E"),
        ] {
            match clock.check(&event, local) {
                Err(ParseError::Rejected { field: f, value }) => {
                    assert_eq!(f, field, "{event:?}");
                    assert!(value.starts_with(&format!("{far} ms is ")), "{value}");
                }
                other => panic!("{event:?}: {other:?}"),
            }
            // The next event on time passes.
            assert_eq!(clock.check(&trade_at(local + 1, local), local + 2), Ok(()));
        }
        assert_eq!(clock.check(&MarketEvent::Other, 0), Ok(()));
    }

    /// A stream running ahead of the local clock (a replay faster than real time) passes while
    /// its events follow on; after a jump past the tolerance one event is refused, then the
    /// stream is followed.
    #[test]
    fn a_stream_running_ahead_is_followed() {
        let local = 1_760_130_000_000;
        let mut clock = EventClock::default();
        // 30 times real time: 3 s of wall clock, 90 s of event time, an event each 30 ms.
        for i in 0..=100u64 {
            let event_ms = local + i * 900;
            assert_eq!(
                clock.check(&trade_at(event_ms, event_ms), local + i * 30),
                Ok(()),
                "{i}"
            );
        }
        let gap = local + 90_000 + 180_000;
        let at = local + 3_100;
        assert!(clock.check(&depth_at(gap), at).is_err());
        assert_eq!(clock.check(&depth_at(gap + 100), at), Ok(()));
        assert_eq!(clock.check(&trade_at(gap + 200, gap + 150), at), Ok(()));
    }

    /// A frame of an event type the feed does not subscribe to, or without an event type (a book
    /// ticker's `u` included), is malformed, naming what it is; a subscription answer and
    /// `serverShutdown` are expected and ignored.
    #[test]
    fn unknown_events_are_malformed() {
        for (frame, why) in [
            (
                r#"{"stream":"s","data":{"e":"kline","E":1,"k":{}}}"#,
                r#"unknown event type "kline""#,
            ),
            (
                r#"{"e":"24hrTicker","E":1}"#,
                r#"unknown event type "24hrTicker""#,
            ),
            (
                r#"{"stream":"btcusdt@bookTicker","data":{"u":103,"s":"BTCUSDT","b":"10.00","B":"1.5","a":"10.01","A":"1"}}"#,
                "no event type",
            ),
            (r#"{"u":103,"s":"BTCUSDT"}"#, "no event type"),
        ] {
            assert_eq!(
                parse_frame(frame),
                Err(ParseError::Malformed(why.into())),
                "{frame}"
            );
        }
        for frame in [
            r#"{"result":null,"id":1}"#,
            r#"{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":1}}"#,
        ] {
            assert_eq!(parse_frame(frame), Ok(MarketEvent::Other), "{frame}");
        }
    }

    /// With the feed's symbol, a depth or trade event of another symbol is rejected, by its `s`
    /// (field `s`) or by its combined stream's name (field `stream`), on the one-pass path and the
    /// general one alike; the symbol is compared ignoring case; an event without `s` in a raw
    /// frame, and frames that are not events, are taken as before.
    #[test]
    fn another_symbols_events_are_rejected() {
        let depth =
            r#"{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":2,"u":3,"b":[["1.5","2"]],"a":[]}"#;
        let trade = r#"{"e":"aggTrade","E":1,"s":"BTCUSDT","a":9,"p":"1","q":"2","f":1,"l":1,"T":1,"m":true,"M":true}"#;
        let field = |frame: &str| match parse_frame_for(frame, "BTCUSDT") {
            Err(ParseError::Rejected { field, .. }) => Some(field),
            Ok(_) => None,
            Err(e) => panic!("{frame}: {e:?}"),
        };
        for (payload, stream) in [(depth, "depth@100ms"), (trade, "aggTrade")] {
            let eth = payload.replace("BTCUSDT", "ETHUSDT");
            for (frame, rejected) in [
                (
                    format!(r#"{{"stream":"btcusdt@{stream}","data":{payload}}}"#),
                    None,
                ),
                (
                    format!(r#"{{"stream":"BTCUSDT@{stream}","data":{payload}}}"#),
                    None,
                ),
                (
                    format!(
                        r#"{{"stream":"btcusdt@{stream}","data":{}}}"#,
                        payload.replace("BTCUSDT", "btcusdt")
                    ),
                    None,
                ),
                (payload.to_owned(), None),
                (payload.replace(r#""s":"BTCUSDT","#, ""), None),
                (
                    format!(r#"{{"stream":"ethusdt@{stream}","data":{payload}}}"#),
                    Some("stream"),
                ),
                (
                    format!(r#"{{"stream":"btcusdt@{stream}","data":{eth}}}"#),
                    Some("s"),
                ),
                (
                    format!(r#"{{"stream":"ethusdt@{stream}","data":{eth}}}"#),
                    Some("s"),
                ),
                (
                    format!(r#"{{"data":{eth},"stream":"btcusdt@{stream}"}}"#),
                    Some("s"),
                ),
                (eth.clone(), Some("s")),
            ] {
                assert_eq!(field(&frame), rejected, "{frame}");
                assert_eq!(
                    parse_frame_for(&frame, "BTCUSDT"),
                    parse_frame_general(&frame, Some("BTCUSDT")),
                    "{frame}"
                );
                // Without a symbol to check, every one of them parses.
                assert!(parse_frame(&frame).is_ok(), "{frame}");
            }
        }
        for frame in [
            r#"{"result":null,"id":1}"#,
            r#"{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":1}}"#,
        ] {
            assert_eq!(parse_frame_for(frame, "BTCUSDT"), Ok(MarketEvent::Other));
        }
    }

    #[test]
    fn bad_frames_are_errors_not_panics() {
        for frame in [
            "",
            "{",
            "[]",
            "null",
            "{\"e\":\"depthUpdate\"}",
            "{\"stream\":\"x\",\"data\":5}",
            "{\"e\":\"aggTrade\",\"E\":1,\"s\":\"X\",\"a\":1,\"p\":\"1\",\"q\":\"1\",\"T\":1}",
        ] {
            assert!(
                matches!(parse_frame(frame), Err(ParseError::Malformed(_))),
                "{frame}"
            );
        }
        for (frame, field) in [
            (
                r#"{"e":"aggTrade","E":1,"s":"X","a":1,"p":"NaN","q":"1","f":1,"l":1,"T":1,"m":true,"M":true}"#,
                "price",
            ),
            (
                r#"{"e":"aggTrade","E":1,"s":"X","a":1,"p":"0","q":"1","f":1,"l":1,"T":1,"m":true,"M":true}"#,
                "price",
            ),
            (
                r#"{"e":"aggTrade","E":1,"s":"X","a":1,"p":"1","q":"-1","f":1,"l":1,"T":1,"m":true,"M":true}"#,
                "quantity",
            ),
            (
                r#"{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"b":[["-1","1"]],"a":[]}"#,
                "price",
            ),
            (
                r#"{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"b":[],"a":[["1","Infinity"]]}"#,
                "quantity",
            ),
            (
                r#"{"e":"depthUpdate","E":1,"s":"X","U":3,"u":2,"b":[],"a":[]}"#,
                "U",
            ),
            (
                r#"{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"b":[["0","1"]],"a":[]}"#,
                "price",
            ),
            (
                r#"{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"b":[],"a":[["0.00000000","1"]]}"#,
                "price",
            ),
            (
                r#"{"stream":"x@depth","data":{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"b":[["0.00000000","1"]],"a":[]}}"#,
                "price",
            ),
            (
                r#"{"e":"aggTrade","E":1,"s":"X","a":1,"p":"1","q":"0","f":1,"l":1,"T":1,"m":true,"M":true}"#,
                "quantity",
            ),
            (
                r#"{"stream":"x@trade","data":{"e":"trade","E":1,"s":"X","t":1,"p":"1","q":"0.00000000","T":1,"m":true,"M":true}}"#,
                "quantity",
            ),
        ] {
            match parse_frame(frame) {
                Err(ParseError::Rejected { field: f, .. }) => assert_eq!(f, field, "{frame}"),
                other => panic!("{frame}: {other:?}"),
            }
        }
    }
}
