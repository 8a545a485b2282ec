//! Recorded trades in the Tardis-style CSV (`exchange,symbol,timestamp,local_timestamp,id,side,price,amount`;
//! `timestamp` in µs since the epoch, `side` the taker side, `amount` in base units), gzip or plain,
//! with or without the header.
//!
//! Every row is validated. A bad row (wrong column count, unparsable number, NaN, Inf, zero or
//! negative price or amount, unknown side, not UTF-8, over-long, or time or id going backwards) is
//! skipped, counted, and logged at `warn` with its line number; it never reaches the replay and never
//! stops the load. A read error part-way (a truncated gzip file) ends the load with the rows read so
//! far, logged. Rows of other symbols are ignored.

use std::io::BufRead;
use std::path::Path;

use tracing::warn;

use crate::error::LoadError;
use crate::input::{self, Line, LineReader};
use crate::units::parse_units;

/// Longest line accepted (a valid row is under 100 bytes).
pub const MAX_LINE: usize = 4096;
/// Bad rows logged one by one; the rest are only counted.
pub const MAX_LOGGED_BAD_ROWS: u64 = 100;

/// One trade, prices and quantities in 10⁻⁸ units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TradeRow {
    /// Exchange trade time, µs since the epoch.
    pub ts_us: i64,
    /// Exchange trade id.
    pub id: u64,
    /// Price, units.
    pub price: u64,
    /// Base quantity, units.
    pub qty: u64,
    /// The taker sold (Binance `m = true`: the buyer was the maker).
    pub taker_sell: bool,
}

/// Why a row was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    /// Not valid UTF-8.
    #[error("not UTF-8")]
    NotUtf8,
    /// Longer than [`MAX_LINE`].
    #[error("line longer than {MAX_LINE} bytes")]
    TooLong,
    /// Not 8 comma-separated columns.
    #[error("expected 8 columns, found {0}")]
    Columns(usize),
    /// `timestamp` is not a positive integer.
    #[error("timestamp is not a positive integer")]
    Timestamp,
    /// `id` is not an unsigned integer.
    #[error("id is not an unsigned integer")]
    Id,
    /// `side` is neither `buy` nor `sell`.
    #[error("side is neither buy nor sell")]
    Side,
    /// `price` is not a positive finite decimal.
    #[error("price is not a positive finite decimal")]
    Price,
    /// `amount` is not a positive finite decimal.
    #[error("amount is not a positive finite decimal")]
    Amount,
    /// Time earlier than the previous row's, or id not above it.
    #[error("time or id goes backwards")]
    OutOfOrder,
}

/// What loading found besides the trades.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LoadStats {
    /// Lines read, header included.
    pub lines: u64,
    /// Rows skipped as invalid.
    pub bad_rows: u64,
    /// Valid rows of other symbols.
    pub other_symbol: u64,
    /// Valid rows outside the replay window.
    pub outside_window: u64,
    /// Reading stopped early on an I/O or decompression error.
    pub truncated: bool,
}

/// The trades of one symbol inside the replay window, in time order.
#[derive(Debug, Default, Clone)]
pub struct TradeTape {
    /// Valid trades, time and id increasing.
    pub trades: Vec<TradeRow>,
    /// Counts.
    pub stats: LoadStats,
}

/// Parses one data row: `Ok(None)` for a valid row of another symbol.
///
/// # Errors
/// [`RowError`] naming the first bad field.
pub fn parse_row(line: &str, symbol: &str) -> Result<Option<TradeRow>, RowError> {
    let f: Vec<&str> = line.split(',').collect();
    if f.len() != 8 {
        return Err(RowError::Columns(f.len()));
    }
    let ts_us = f[2]
        .parse::<i64>()
        .ok()
        .filter(|&t| t > 0)
        .ok_or(RowError::Timestamp)?;
    let id = f[4].parse::<u64>().map_err(|_| RowError::Id)?;
    let taker_sell = match f[5] {
        "sell" => true,
        "buy" => false,
        _ => return Err(RowError::Side),
    };
    let price = parse_units(f[6])
        .filter(|&p| p > 0)
        .ok_or(RowError::Price)?;
    let qty = parse_units(f[7])
        .filter(|&q| q > 0)
        .ok_or(RowError::Amount)?;
    if !f[1].eq_ignore_ascii_case(symbol) {
        return Ok(None);
    }
    Ok(Some(TradeRow {
        ts_us,
        id,
        price,
        qty,
        taker_sell,
    }))
}

/// Loads the trades of `symbol` in `[from_us, to_us)` from a file, gzip or plain.
///
/// # Errors
/// [`LoadError::Open`] when the file cannot be opened. Bad rows are not errors.
pub fn load(
    path: &Path,
    symbol: &str,
    from_us: Option<i64>,
    to_us: Option<i64>,
) -> Result<TradeTape, LoadError> {
    Ok(read(input::open(path)?, symbol, from_us, to_us))
}

/// Reads trades from any line source; see [`load`].
pub fn read(
    reader: impl BufRead,
    symbol: &str,
    from_us: Option<i64>,
    to_us: Option<i64>,
) -> TradeTape {
    read_rows(reader, from_us, to_us, |n, text| {
        if n == 1 && text.starts_with("exchange,") {
            return Ok(Row::Header);
        }
        parse_row(text, symbol).map(|t| t.map_or(Row::OtherSymbol, Row::Trade))
    })
}

/// Faults of a line that the shared loop ([`read_rows`]) finds itself, whatever the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineFault {
    /// Not valid UTF-8.
    NotUtf8,
    /// Longer than [`MAX_LINE`].
    TooLong,
    /// Time earlier than the previous valid row's, or id not above it.
    OutOfOrder,
}

impl From<LineFault> for RowError {
    fn from(f: LineFault) -> Self {
        match f {
            LineFault::NotUtf8 => RowError::NotUtf8,
            LineFault::TooLong => RowError::TooLong,
            LineFault::OutOfOrder => RowError::OutOfOrder,
        }
    }
}

/// What a row parser made of one valid line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Row {
    /// A header line: skipped, not counted as bad.
    Header,
    /// A valid trade of the symbol.
    Trade(TradeRow),
    /// A valid row of another symbol.
    OtherSymbol,
}

/// The loop shared by the trade loaders: reads lines of at most [`MAX_LINE`] bytes, hands each
/// UTF-8 line with its number (from 1) to `parse`, rejects a trade whose time is earlier than (or
/// whose id is not above) the previous valid trade's, keeps the trades in `[from_us, to_us)`, and
/// counts, and logs with their line numbers, the rows skipped. A read error ends the load with the
/// rows read so far.
pub(crate) fn read_rows<E>(
    reader: impl BufRead,
    from_us: Option<i64>,
    to_us: Option<i64>,
    mut parse: impl FnMut(u64, &str) -> Result<Row, E>,
) -> TradeTape
where
    E: From<LineFault> + std::fmt::Display,
{
    let mut lines = LineReader::new(reader, MAX_LINE);
    let mut tape = TradeTape::default();
    let mut last: Option<(i64, u64)> = None;
    let mut n: u64 = 0;
    loop {
        let line = match lines.next_line() {
            Ok(Some(l)) => l,
            Ok(None) => break,
            Err(e) => {
                tape.stats.truncated = true;
                warn!(line = n + 1, error = %e, "read error: keeping the rows read so far");
                break;
            }
        };
        n += 1;
        let parsed = match line {
            Line::TooLong => Err(E::from(LineFault::TooLong)),
            Line::Text(bytes) => match std::str::from_utf8(bytes) {
                Err(_) => Err(E::from(LineFault::NotUtf8)),
                Ok(text) => parse(n, text),
            },
        };
        let row = match parsed {
            Ok(Row::Trade(t)) if last.is_some_and(|(ts, id)| t.ts_us < ts || t.id <= id) => {
                Err(E::from(LineFault::OutOfOrder))
            }
            other => other,
        };
        match row {
            Ok(Row::Header) => {}
            Ok(Row::Trade(t)) => {
                last = Some((t.ts_us, t.id));
                if from_us.is_some_and(|f| t.ts_us < f) || to_us.is_some_and(|e| t.ts_us >= e) {
                    tape.stats.outside_window += 1;
                } else {
                    tape.trades.push(t);
                }
            }
            Ok(Row::OtherSymbol) => tape.stats.other_symbol += 1,
            Err(why) => {
                tape.stats.bad_rows += 1;
                if tape.stats.bad_rows <= MAX_LOGGED_BAD_ROWS {
                    warn!(line = n, %why, "bad row skipped");
                }
            }
        }
    }
    tape.stats.lines = n;
    if tape.stats.bad_rows > MAX_LOGGED_BAD_ROWS {
        warn!(
            bad_rows = tape.stats.bad_rows,
            logged = MAX_LOGGED_BAD_ROWS,
            "more bad rows skipped than logged"
        );
    }
    tape
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "binance,POLUSDT,1760129100101296,1760129100105073,34903745,buy,0.2258,47.8";

    struct TestCase {
        input: &'static str,
        expected: Result<Option<TradeRow>, RowError>,
    }

    #[test]
    fn parses_rows_and_names_the_bad_field() {
        let cases = [
            TestCase {
                input: GOOD,
                expected: Ok(Some(TradeRow {
                    ts_us: 1_760_129_100_101_296,
                    id: 34_903_745,
                    price: 22_580_000,
                    qty: 4_780_000_000,
                    taker_sell: false,
                })),
            },
            TestCase {
                input: "binance,POLUSDT,5,5,9,sell,0.1,0.1",
                expected: Ok(Some(TradeRow {
                    ts_us: 5,
                    id: 9,
                    price: 10_000_000,
                    qty: 10_000_000,
                    taker_sell: true,
                })),
            },
            TestCase {
                input: "binance,BTCUSDT,1,1,1,buy,1,1",
                expected: Ok(None),
            },
            TestCase {
                input: "binance,POLUSDT,x,1,1,buy,0.2,1",
                expected: Err(RowError::Timestamp),
            },
            TestCase {
                input: "binance,POLUSDT,-5,1,1,buy,0.2,1",
                expected: Err(RowError::Timestamp),
            },
            TestCase {
                input: "binance,POLUSDT,1,1,-1,buy,0.2,1",
                expected: Err(RowError::Id),
            },
            TestCase {
                input: "binance,POLUSDT,1,1,1,hold,0.2,1",
                expected: Err(RowError::Side),
            },
            TestCase {
                input: "binance,POLUSDT,1,1,1,buy,NaN,1",
                expected: Err(RowError::Price),
            },
            TestCase {
                input: "binance,POLUSDT,1,1,1,buy,inf,1",
                expected: Err(RowError::Price),
            },
            TestCase {
                input: "binance,POLUSDT,1,1,1,buy,-0.2,1",
                expected: Err(RowError::Price),
            },
            TestCase {
                input: "binance,POLUSDT,1,1,1,buy,0,1",
                expected: Err(RowError::Price),
            },
            TestCase {
                input: "binance,POLUSDT,1,1,1,buy,0.2,-1",
                expected: Err(RowError::Amount),
            },
            TestCase {
                input: "binance,POLUSDT,1,1,1,buy,0.2,0",
                expected: Err(RowError::Amount),
            },
            TestCase {
                input: "binance,POLUSDT,1,1,1,buy,0.2,NaN",
                expected: Err(RowError::Amount),
            },
            TestCase {
                input: "binance,POLUSDT,1,1",
                expected: Err(RowError::Columns(4)),
            },
            TestCase {
                input: "",
                expected: Err(RowError::Columns(1)),
            },
        ];
        for c in cases {
            assert_eq!(parse_row(c.input, "POLUSDT"), c.expected, "{}", c.input);
        }
    }

    #[test]
    fn skips_and_counts_bad_rows_without_stopping() {
        let mut text = b"exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n\
            binance,POLUSDT,1000,1,1,buy,0.2,1\n\
            binance,POLUSDT,2000,1,2,sell,NaN,1\n\
            binance,POLUSDT,500,1,3,sell,0.2,1\n\
            garbage\n\
            binance,BTCUSDT,2500,1,7,sell,1,1\n"
            .to_vec();
        text.extend_from_slice(b"binance,POLUSDT,2600,1,8,sell,0.2,\xff\xfe\n");
        text.extend_from_slice(format!("{}\n", "x".repeat(MAX_LINE + 10)).as_bytes());
        text.extend_from_slice(b"binance,POLUSDT,3000,1,4,sell,0.1999,2\n");
        text.extend_from_slice(b"binance,POLUSDT,3000,1,4,sell,0.1999,2\n"); // duplicate id
        let tape = read(&text[..], "POLUSDT", None, None);
        assert_eq!(
            tape.trades.iter().map(|t| t.id).collect::<Vec<_>>(),
            vec![1, 4]
        );
        assert_eq!(
            tape.stats,
            LoadStats {
                lines: 10,
                bad_rows: 6,
                other_symbol: 1,
                outside_window: 0,
                truncated: false
            }
        );
    }

    /// Only the first line may be the header: the header again further down (two files joined)
    /// is a bad row like any other, counted, and the rows around it are kept.
    #[test]
    fn a_header_after_the_first_line_is_a_bad_row() {
        let header = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount";
        let text = format!(
            "{header}\nbinance,POLUSDT,1000,1,1,buy,0.2,1\n{header}\nbinance,POLUSDT,2000,1,2,buy,0.2,1\n"
        );
        let tape = read(text.as_bytes(), "POLUSDT", None, None);
        assert_eq!(
            tape.trades.iter().map(|t| t.id).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!((tape.stats.lines, tape.stats.bad_rows), (4, 1));
    }

    #[test]
    fn filters_to_the_half_open_window() {
        let text = "binance,POLUSDT,1000,1,1,buy,0.2,1\n\
            binance,POLUSDT,2000,1,2,buy,0.2,1\n\
            binance,POLUSDT,3000,1,3,buy,0.2,1\n";
        let tape = read(text.as_bytes(), "POLUSDT", Some(2000), Some(3000));
        assert_eq!(
            tape.trades.iter().map(|t| t.id).collect::<Vec<_>>(),
            vec![2]
        );
        assert_eq!(tape.stats.outside_window, 2);
    }

    #[test]
    fn truncated_gzip_keeps_the_rows_before_the_damage() {
        let mut text = String::new();
        for i in 1..=2000 {
            text.push_str(&format!("binance,POLUSDT,{i}000,1,{i},buy,0.2,1\n"));
        }
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, text.as_bytes()).unwrap();
        let gz = enc.finish().unwrap();
        let cut = &gz[..gz.len() / 2];
        let reader = std::io::BufReader::new(flate2::bufread::MultiGzDecoder::new(cut));
        let tape = read(reader, "POLUSDT", None, None);
        assert!(tape.stats.truncated);
        assert!(!tape.trades.is_empty() && tape.trades.len() < 2000);
    }

    #[test]
    fn loads_the_bundled_real_data() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../data/binance_trades_2025-10-10_POLUSDT_2045-2145.csv.gz");
        let tape = load(&path, "POLUSDT", None, None).unwrap();
        assert_eq!(tape.trades.len(), 96_855);
        assert_eq!(tape.stats.bad_rows, 0);
    }
}
