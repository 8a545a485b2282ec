//! The recorded-L2 source (`--format capture`): raw Binance WebSocket captures, one message a line as
//! `<receive time, ns> <JSON>`, gzip or plain (the hftbacktest format described in
//! `/work/shared/data/SOURCES.md`). Combined-stream messages carry `depthUpdate` diffs and `trade`
//! events; one line is a raw REST depth snapshot (`{"lastUpdateId":..,"bids":..,"asks":..}`).
//!
//! The replay starts at the first snapshot: the venue's initial book is that snapshot, diffs with
//! `u` ≤ its `lastUpdateId` are dropped, and every later diff is applied to the authoritative book
//! and re-emitted. Spot diffs keep their recorded ids (`U`, `u`); USD-M futures diffs (they carry
//! `pu`, and their `U` may skip) are renumbered the venue's way, since a spot client requires
//! `U` = previous `u` + 1. Trades are re-emitted as `trade` and `aggTrade`. Event times are the
//! recorded `E` (diffs) and `T` (trades). Events before `--from` only move the initial book forward;
//! the replay stops at `--to`. `bookTicker` and other messages are ignored. A line that does not
//! parse is skipped, counted and logged with its line number.

use std::io::BufRead;
use std::path::Path;

use serde_json::Value;
use tracing::warn;

use crate::book::{Book, Diff, Level};
use crate::error::LoadError;
use crate::input::{self, Line, LineReader};
use crate::source::{DepthChange, EventSource, SourceEvent, UpdateIds};
use crate::trades_csv::{TradeRow, MAX_LOGGED_BAD_ROWS};
use crate::units::parse_units;

/// Longest line accepted (a 5000-level snapshot is about 300 kB).
pub const MAX_CAPTURE_LINE: usize = 4 << 20;

/// What reading a capture found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CaptureStats {
    /// Lines read.
    pub lines: u64,
    /// Lines that do not parse.
    pub bad_lines: u64,
    /// Lines before the first snapshot.
    pub before_snapshot: u64,
    /// Diffs already in the snapshot (`u` ≤ its id), dropped.
    pub stale_diffs: u64,
    /// Reading stopped early on an I/O or decompression error.
    pub truncated: bool,
}

/// A capture, parsed and positioned at the start of the replay window.
#[derive(Debug)]
pub struct CaptureSource {
    initial: Book,
    events: std::vec::IntoIter<SourceEvent>,
    first_us: Option<i64>,
    count: usize,
    /// Counts.
    pub stats: CaptureStats,
}

/// Diffs kept from before the snapshot (Binance's procedure buffers them; the one that straddles the
/// snapshot is usually received before it).
pub const MAX_PENDING: usize = 10_000;

/// A recorded `depthUpdate`.
struct DepthMsg {
    ts_us: i64,
    first: u64,
    last: u64,
    /// USD-M futures (has `pu`): ids are renumbered.
    futures: bool,
    diff: Diff,
}

/// One parsed message.
enum Message {
    Snapshot(Book),
    Depth(DepthMsg),
    Trade(TradeRow),
    Other,
}

fn levels(v: &Value) -> Option<Vec<Level>> {
    v.as_array()?
        .iter()
        .map(|l| {
            Some((
                parse_units(l.get(0)?.as_str()?)?,
                parse_units(l.get(1)?.as_str()?)?,
            ))
        })
        .collect()
}

fn parse_message(json: &str, symbol: &str) -> Option<Message> {
    let v: Value = serde_json::from_str(json).ok()?;
    if let Some(id) = v.get("lastUpdateId") {
        let mut book = Book::empty(id.as_u64()?);
        book.bids = levels(&v["bids"])?
            .into_iter()
            .filter(|l| l.1 > 0)
            .collect();
        book.asks = levels(&v["asks"])?
            .into_iter()
            .filter(|l| l.1 > 0)
            .collect();
        return Some(Message::Snapshot(book));
    }
    let data = v.get("data").unwrap_or(&v);
    if data.get("s").and_then(Value::as_str) != Some(symbol) {
        return Some(Message::Other);
    }
    match data.get("e").and_then(Value::as_str) {
        Some("depthUpdate") => {
            let mut diff = Diff {
                bids: levels(&data["b"])?,
                asks: levels(&data["a"])?,
            };
            diff.bids.sort_by_key(|l| std::cmp::Reverse(l.0));
            diff.asks.sort_by_key(|l| l.0);
            Some(Message::Depth(DepthMsg {
                ts_us: data["E"].as_i64()?.checked_mul(1000)?,
                first: data["U"].as_u64()?,
                last: data["u"].as_u64()?,
                futures: data.get("pu").is_some(),
                diff,
            }))
        }
        Some("trade") => {
            let price = parse_units(data["p"].as_str()?).filter(|&p| p > 0)?;
            let qty = parse_units(data["q"].as_str()?).filter(|&q| q > 0)?;
            Some(Message::Trade(TradeRow {
                ts_us: data["T"].as_i64()?.checked_mul(1000)?,
                id: data["t"].as_u64()?,
                price,
                qty,
                taker_sell: data["m"].as_bool()?,
            }))
        }
        _ => Some(Message::Other),
    }
}

impl CaptureSource {
    /// Reads a capture file for `symbol`, replaying `[from_us, to_us)`.
    ///
    /// # Errors
    /// [`LoadError::Open`] when the file cannot be opened; [`LoadError::Empty`] when it holds no
    /// snapshot for the symbol or no event in the window.
    pub fn load(
        path: &Path,
        symbol: &str,
        from_us: Option<i64>,
        to_us: Option<i64>,
    ) -> Result<Self, LoadError> {
        let src = Self::read(input::open(path)?, symbol, from_us, to_us);
        if src.count == 0 {
            return Err(LoadError::Empty {
                path: path.to_owned(),
                symbol: symbol.to_owned(),
                bad_rows: src.stats.bad_lines,
            });
        }
        Ok(src)
    }

    /// Reads a capture from any line source; see [`CaptureSource::load`].
    pub fn read(
        reader: impl BufRead,
        symbol: &str,
        from_us: Option<i64>,
        to_us: Option<i64>,
    ) -> Self {
        let mut lines = LineReader::new(reader, MAX_CAPTURE_LINE);
        let mut b = Builder {
            from_us,
            to_us,
            ..Builder::default()
        };
        loop {
            let line = match lines.next_line() {
                Ok(Some(l)) => l,
                Ok(None) => break,
                Err(e) => {
                    b.stats.truncated = true;
                    warn!(line = b.stats.lines + 1, error = %e, "read error: keeping the lines read so far");
                    break;
                }
            };
            b.stats.lines += 1;
            let msg = match line {
                Line::Text(bytes) => std::str::from_utf8(bytes)
                    .ok()
                    .and_then(|t| t.split_once(' '))
                    .filter(|(ns, _)| ns.parse::<u64>().is_ok())
                    .and_then(|(_, json)| parse_message(json, symbol)),
                Line::TooLong => None,
            };
            let go_on = match msg {
                None => {
                    b.stats.bad_lines += 1;
                    if b.stats.bad_lines <= MAX_LOGGED_BAD_ROWS {
                        warn!(line = b.stats.lines, "bad capture line skipped");
                    }
                    true
                }
                Some(Message::Snapshot(s)) => {
                    b.on_snapshot(s);
                    true
                }
                Some(Message::Depth(d)) => b.on_depth(d),
                Some(Message::Trade(t)) => b.on_trade(t),
                Some(Message::Other) => true,
            };
            if !go_on {
                break;
            }
        }
        let first_us = b.events.first().map(SourceEvent::ts_us);
        CaptureSource {
            initial: b.book.unwrap_or_default(),
            count: b.events.len(),
            events: b.events.into_iter(),
            first_us,
            stats: b.stats,
        }
    }
}

/// Builds the replay from messages in file order.
#[derive(Default)]
struct Builder {
    from_us: Option<i64>,
    to_us: Option<i64>,
    /// The book being moved forward to the start of the window (`None` before the snapshot).
    book: Option<Book>,
    pending: std::collections::VecDeque<DepthMsg>,
    events: Vec<SourceEvent>,
    last_trade_id: u64,
    stats: CaptureStats,
}

impl Builder {
    /// The first snapshot starts the replay, with the diffs buffered before it; later ones are
    /// ignored (the venue's own book is authoritative).
    fn on_snapshot(&mut self, snap: Book) {
        if self.book.is_some() {
            return;
        }
        self.book = Some(snap);
        for d in std::mem::take(&mut self.pending) {
            self.stats.before_snapshot -= 1;
            if !self.on_depth(d) {
                return;
            }
        }
    }

    /// False once the window is over.
    fn on_depth(&mut self, d: DepthMsg) -> bool {
        let Some(book) = self.book.as_mut() else {
            self.stats.before_snapshot += 1;
            if self.pending.len() == MAX_PENDING {
                self.pending.pop_front();
            }
            self.pending.push_back(d);
            return true;
        };
        if self.to_us.is_some_and(|t| d.ts_us >= t) {
            return false;
        }
        // Spot drops `u` <= the book's id; futures drops `u` < it.
        if d.last < book.update_id || (!d.futures && d.last == book.update_id) {
            self.stats.stale_diffs += 1;
            return true;
        }
        if self.from_us.is_some_and(|f| d.ts_us < f) {
            book.apply(&d.diff, d.last);
            return true;
        }
        let ids = if d.futures {
            UpdateIds::Assign
        } else {
            UpdateIds::Recorded {
                first: d.first,
                last: d.last,
            }
        };
        self.events.push(SourceEvent::Depth(DepthChange {
            ts_us: d.ts_us,
            diff: d.diff,
            ids,
        }));
        true
    }

    /// False once the window is over.
    fn on_trade(&mut self, t: TradeRow) -> bool {
        if self.book.is_none() {
            self.stats.before_snapshot += 1;
            return true;
        }
        if self.to_us.is_some_and(|e| t.ts_us >= e) {
            return false;
        }
        // Captures can hold a message twice; a trade id never goes back.
        if t.id > self.last_trade_id && self.from_us.is_none_or(|f| t.ts_us >= f) {
            self.events.push(SourceEvent::Trade(t));
        }
        self.last_trade_id = self.last_trade_id.max(t.id);
        true
    }
}

impl EventSource for CaptureSource {
    fn initial_book(&self) -> Book {
        self.initial.clone()
    }

    fn first_time_us(&self) -> Option<i64> {
        self.first_us
    }

    fn next_event(&mut self) -> Option<SourceEvent> {
        self.events.next()
    }

    fn describe(&self) -> String {
        format!("{} recorded L2 events from a WebSocket capture", self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPOT: &str = r#"1 {"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1000,"s":"BTCUSDT","U":95,"u":98,"b":[["10.00","7"]],"a":[]}}
2 {"lastUpdateId":100,"bids":[["10.00","1"],["9.99","2"]],"asks":[["10.01","1"],["10.02","3"]]}
3 {"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1100,"s":"BTCUSDT","U":99,"u":100,"b":[["10.00","9"]],"a":[]}}
4 {"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1200,"s":"BTCUSDT","U":101,"u":103,"b":[["10.00","1.5"],["9.99","0"]],"a":[]}}
5 {"stream":"btcusdt@bookTicker","data":{"u":103,"s":"BTCUSDT","b":"10.00","B":"1.5","a":"10.01","A":"1"}}
6 {"stream":"btcusdt@trade","data":{"e":"trade","E":1250,"s":"BTCUSDT","t":7,"p":"10.01","q":"0.5","T":1249,"m":false,"M":true}}
7 {"stream":"btcusdt@trade","data":{"e":"trade","E":1250,"s":"BTCUSDT","t":7,"p":"10.01","q":"0.5","T":1249,"m":false,"M":true}}
not a capture line
8 {"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1300,"s":"BTCUSDT","U":104,"u":104,"b":[],"a":[["10.01","0"],["10.04","2"]]}}
"#;

    fn drain(mut src: CaptureSource) -> (Book, Vec<SourceEvent>) {
        let initial = src.initial_book();
        let mut out = Vec::new();
        while let Some(e) = src.next_event() {
            out.push(e);
        }
        (initial, out)
    }

    #[test]
    fn starts_at_the_snapshot_and_keeps_spot_ids() {
        let src = CaptureSource::read(SPOT.as_bytes(), "BTCUSDT", None, None);
        assert_eq!(
            src.stats,
            CaptureStats {
                lines: 9,
                bad_lines: 1,
                before_snapshot: 0,
                stale_diffs: 2,
                truncated: false
            }
        );
        assert_eq!(src.first_time_us(), Some(1_200_000));
        let (initial, events) = drain(src);
        assert_eq!(initial.update_id, 100);
        assert_eq!(initial.bids.len(), 2);
        let kinds: Vec<String> = events
            .iter()
            .map(|e| match e {
                SourceEvent::Depth(d) => format!("{:?}", d.ids),
                SourceEvent::Trade(t) => format!("trade {}", t.id),
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                "Recorded { first: 101, last: 103 }",
                "trade 7",
                "Recorded { first: 104, last: 104 }"
            ]
        );
        let SourceEvent::Trade(t) = &events[1] else {
            unreachable!()
        };
        assert_eq!(
            (t.ts_us, t.price, t.qty, t.taker_sell),
            (1_249_000, 1_001_000_000, 50_000_000, false)
        );
    }

    #[test]
    fn from_moves_the_initial_book_forward_and_to_stops() {
        let src = CaptureSource::read(SPOT.as_bytes(), "BTCUSDT", Some(1_250_000), Some(1_300_000));
        let (initial, events) = drain(src);
        assert_eq!(initial.update_id, 103);
        assert_eq!(initial.bids.get(&1_000_000_000), Some(&150_000_000));
        assert!(!initial.bids.contains_key(&999_000_000));
        assert_eq!(
            events.len(),
            0,
            "the trade at 1249 ms is before --from, the diff at 1300 ms at --to"
        );
    }

    #[test]
    fn a_diff_received_before_the_snapshot_that_straddles_it_is_kept() {
        let text = r#"1 {"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":90,"u":105,"b":[["10.0","2"]],"a":[]}}
2 {"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":3,"p":"10.1","q":"1","T":1,"m":true,"M":true}}
3 {"lastUpdateId":100,"bids":[["10.0","1"]],"asks":[["10.1","1"]]}
4 {"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":2,"s":"BTCUSDT","U":106,"u":106,"b":[],"a":[["10.1","3"]]}}
"#;
        let src = CaptureSource::read(text.as_bytes(), "BTCUSDT", None, None);
        assert_eq!((src.stats.before_snapshot, src.stats.stale_diffs), (1, 0));
        let (_, events) = drain(src);
        let ids: Vec<UpdateIds> = events
            .iter()
            .filter_map(|e| match e {
                SourceEvent::Depth(d) => Some(d.ids),
                SourceEvent::Trade(_) => None,
            })
            .collect();
        assert_eq!(
            ids,
            vec![
                UpdateIds::Recorded {
                    first: 90,
                    last: 105
                },
                UpdateIds::Recorded {
                    first: 106,
                    last: 106
                }
            ]
        );
        assert_eq!(
            events.len(),
            2,
            "the trade before the snapshot is not replayed"
        );
    }

    #[test]
    fn futures_diffs_are_renumbered() {
        let text = r#"1 {"lastUpdateId":50,"E":1,"T":1,"bids":[["10.0","1"]],"asks":[["10.1","1"]]}
2 {"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate","E":2,"T":2,"s":"BTCUSDT","U":40,"u":55,"pu":39,"b":[["10.0","2"]],"a":[]}}
3 {"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate","E":3,"T":3,"s":"BTCUSDT","U":60,"u":70,"pu":55,"b":[],"a":[["10.1","0"]]}}
"#;
        let (initial, events) = drain(CaptureSource::read(text.as_bytes(), "BTCUSDT", None, None));
        assert_eq!(initial.update_id, 50);
        assert_eq!(events.len(), 2);
        assert!(events
            .iter()
            .all(|e| matches!(e, SourceEvent::Depth(d) if d.ids == UpdateIds::Assign)));
    }

    #[test]
    fn no_snapshot_no_replay() {
        let text = "1 {\"stream\":\"btcusdt@trade\",\"data\":{}}\n";
        let src = CaptureSource::read(text.as_bytes(), "BTCUSDT", None, None);
        assert_eq!(src.initial_book().update_id, 0);
        assert_eq!(src.first_time_us(), None);
    }

    #[test]
    fn the_bundled_spot_capture_replays_without_gaps() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../data/binance_spot_capture_BTCUSDT_20240808.gz"
        ));
        let src = CaptureSource::load(path, "BTCUSDT", None, None).unwrap();
        assert_eq!(src.stats.bad_lines, 0);
        let (initial, events) = drain(src);
        assert_eq!(initial.update_id, 50_093_239_218);
        let mut book = initial;
        let mut depth = 0;
        for e in events {
            if let SourceEvent::Depth(d) = e {
                let UpdateIds::Recorded { first, last } = d.ids else {
                    panic!("spot ids are kept")
                };
                assert!(first <= book.update_id + 1, "gap before {first}");
                book.apply(&d.diff, last);
                assert!(!book.is_crossed(), "crossed at {last}");
                depth += 1;
            }
        }
        assert!(depth > 3000, "{depth}");
    }
}
