//! Recorded trades in Binance's public data files (data.binance.vision), read into the same
//! [`TradeTape`] as the Tardis-style CSV of [`crate::trades_csv`].
//!
//! Four layouts, told apart by the rows themselves (the [`Layout`] of a file is fixed by its first
//! valid row; a later row with another column count is bad):
//!
//! | file | columns |
//! |---|---|
//! | spot `aggTrades` | `agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker,is_best_match` |
//! | futures `aggTrades` | `agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker` |
//! | spot `trades` | `id,price,qty,quoteQty,time,isBuyerMaker,isBestMatch` |
//! | futures `trades` | `id,price,qty,quote_qty,time,is_buyer_maker` |
//!
//! The two 7-column layouts differ in the 6th column: a boolean in spot `trades`, a time in futures
//! `aggTrades`.
//!
//! * **Header**: optional; the first line is a header when its first field is not a number (it does
//!   not start with an ASCII digit). A UTF-8 byte-order mark is ignored.
//! * **Booleans**: `true`/`false` in any letter case (spot writes `True`/`False`, futures
//!   `true`/`false`). `is_buyer_maker = true` means the taker sold ([`TradeRow::taker_sell`]).
//! * **Times**: Binance writes milliseconds (futures, and spot before 2025) or microseconds (spot
//!   from 2025-01-01). The unit is decided per value: a time ≥ [`MICROS_FROM`] (10¹⁴) is in µs,
//!   a smaller one in ms and is multiplied by 1000. (10¹⁴ ms is the year 5138 and 10¹⁴ µs is
//!   1973, so no real trade time is ambiguous.)
//! * **Ids**: [`TradeRow::id`] is the row's first column, the aggregate trade id of an `aggTrades`
//!   file (so the venue's `a` matches the recorded one) or the trade id of a `trades` file.
//! * **Symbol**: the files have no symbol column; the caller names the symbol.
//! * **Compression**: plain, gzip or a ZIP archive (as Binance distributes them) holding one CSV,
//!   all told apart by their magic bytes, never by the file name.
//!
//! Every row is validated as in [`crate::trades_csv`]: a row with the wrong column count, an id or
//! time that is not an unsigned integer (or a zero time), a price or quantity that is not a
//! positive finite decimal with at most 8 decimals, a quote quantity that is not a plain decimal,
//! a boolean other than `true`/`false`, `first_trade_id` > `last_trade_id`, invalid UTF-8, more than
//! [`MAX_LINE`] bytes, or a time earlier than (or an id not above) the previous valid row's is
//! skipped, counted in [`LoadStats::bad_rows`] and logged at `warn` with its line number. A read
//! error part-way (a truncated gzip or zip file) keeps the rows read so far.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use tracing::{debug, warn};

use crate::error::LoadError;
use crate::input;
use crate::trades_csv::{read_rows, LineFault, Row, TradeRow, TradeTape, MAX_LINE};
use crate::units::parse_units;

#[cfg(doc)]
use crate::trades_csv::LoadStats;

/// The four bytes a ZIP archive starts with (a local file header).
pub const ZIP_MAGIC: [u8; 4] = *b"PK\x03\x04";

/// Times at or above this value (10¹⁴) are microseconds; below it, milliseconds.
pub const MICROS_FROM: i64 = 100_000_000_000_000;

/// The layout of a Binance trade file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Spot `aggTrades`: 8 columns, with `is_best_match`.
    SpotAggTrades,
    /// USD-M / COIN-M futures `aggTrades`: 7 columns.
    FuturesAggTrades,
    /// Spot `trades`: 7 columns, with `quoteQty` and `isBestMatch`.
    SpotTrades,
    /// USD-M / COIN-M futures `trades`: 6 columns, with `quote_qty`.
    FuturesTrades,
}

impl Layout {
    /// Number of columns of a row.
    pub fn columns(self) -> usize {
        match self {
            Layout::SpotAggTrades => 8,
            Layout::FuturesAggTrades | Layout::SpotTrades => 7,
            Layout::FuturesTrades => 6,
        }
    }

    /// The layout a row's fields suggest: by column count, and for 7 columns by whether the 6th
    /// is a boolean (spot `trades`) or not (futures `aggTrades`). `None` for another count.
    pub fn of_fields(fields: &[&str]) -> Option<Layout> {
        match fields.len() {
            8 => Some(Layout::SpotAggTrades),
            7 if parse_bool(fields[5]).is_some() => Some(Layout::SpotTrades),
            7 => Some(Layout::FuturesAggTrades),
            6 => Some(Layout::FuturesTrades),
            _ => None,
        }
    }

    fn is_agg(self) -> bool {
        matches!(self, Layout::SpotAggTrades | Layout::FuturesAggTrades)
    }
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
    /// Not 6, 7 or 8 comma-separated columns (before the layout is known).
    #[error("expected 6, 7 or 8 columns, found {0}")]
    Columns(usize),
    /// Not the column count of the file's layout.
    #[error("expected {expected} columns like the rows before, found {found}")]
    LayoutColumns {
        /// Columns of the file's layout.
        expected: usize,
        /// Columns of the row.
        found: usize,
    },
    /// The id is not an unsigned integer.
    #[error("id is not an unsigned integer")]
    Id,
    /// `first_trade_id` or `last_trade_id` is not an unsigned integer, or first > last.
    #[error("first_trade_id and last_trade_id are not unsigned integers with first <= last")]
    TradeIds,
    /// The time is not a positive integer.
    #[error("time is not a positive integer")]
    Time,
    /// The price is not a positive finite decimal.
    #[error("price is not a positive finite decimal")]
    Price,
    /// The quantity is not a positive finite decimal.
    #[error("quantity is not a positive finite decimal")]
    Quantity,
    /// The quote quantity is not a non-negative decimal.
    #[error("quote quantity is not a non-negative decimal")]
    QuoteQty,
    /// A boolean column (named) is neither `true` nor `false`.
    #[error("{0} is neither true nor false")]
    Boolean(&'static str),
    /// Time earlier than the previous row's, or id not above it.
    #[error("time or id goes backwards")]
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

/// A Binance time (ms or µs, see [`MICROS_FROM`]) in µs.
pub fn time_to_us(t: i64) -> i64 {
    if t >= MICROS_FROM {
        t
    } else {
        t.saturating_mul(1000)
    }
}

/// `true`/`false` in any letter case.
fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Digits only (no sign, unlike `str::parse`).
fn parse_uint(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A plain non-negative decimal, any number of decimals (`quoteQty` is not used, only checked).
fn is_plain_decimal(s: &str) -> bool {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    !int.is_empty() && int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
}

/// Parses one data row of a known layout.
///
/// # Errors
/// [`RowError`] naming the first bad field.
pub fn parse_row(line: &str, layout: Layout) -> Result<TradeRow, RowError> {
    let fields: Vec<&str> = line.split(',').collect();
    parse_fields(&fields, layout)
}

fn parse_fields(f: &[&str], layout: Layout) -> Result<TradeRow, RowError> {
    if f.len() != layout.columns() {
        return Err(RowError::LayoutColumns {
            expected: layout.columns(),
            found: f.len(),
        });
    }
    let id = parse_uint(f[0]).ok_or(RowError::Id)?;
    let price = parse_units(f[1])
        .filter(|&p| p > 0)
        .ok_or(RowError::Price)?;
    let qty = parse_units(f[2])
        .filter(|&q| q > 0)
        .ok_or(RowError::Quantity)?;
    let (time, maker, best_match) = if layout.is_agg() {
        let first = parse_uint(f[3]);
        let last = parse_uint(f[4]);
        if !matches!((first, last), (Some(a), Some(b)) if a <= b) {
            return Err(RowError::TradeIds);
        }
        (f[5], f[6], f.get(7))
    } else {
        if !is_plain_decimal(f[3]) {
            return Err(RowError::QuoteQty);
        }
        (f[4], f[5], f.get(6))
    };
    let time = parse_uint(time)
        .and_then(|t| i64::try_from(t).ok())
        .filter(|&t| t > 0)
        .ok_or(RowError::Time)?;
    let taker_sell = parse_bool(maker).ok_or(RowError::Boolean("is_buyer_maker"))?;
    if let Some(b) = best_match {
        parse_bool(b).ok_or(RowError::Boolean("is_best_match"))?;
    }
    Ok(TradeRow {
        ts_us: time_to_us(time),
        id,
        price,
        qty,
        taker_sell,
    })
}

/// Parses the lines of one file, fixing its layout at the first valid row.
#[derive(Debug, Default)]
struct FileParser {
    layout: Option<Layout>,
}

impl FileParser {
    fn parse(&mut self, n: u64, text: &str) -> Result<Row, RowError> {
        let text = if n == 1 {
            text.strip_prefix('\u{feff}').unwrap_or(text)
        } else {
            text
        };
        let fields: Vec<&str> = text.split(',').collect();
        if n == 1 && !fields[0].starts_with(|c: char| c.is_ascii_digit()) {
            debug!(header = text, "header line skipped");
            return Ok(Row::Header);
        }
        let layout = match self.layout {
            Some(l) => l,
            None => Layout::of_fields(&fields).ok_or(RowError::Columns(fields.len()))?,
        };
        let row = parse_fields(&fields, layout)?;
        if self.layout.is_none() {
            debug!(?layout, line = n, "layout detected");
            self.layout = Some(layout);
        }
        Ok(Row::Trade(row))
    }
}

/// Reads trades from any line source (plain text; see [`load`] for compressed files), keeping
/// those in `[from_us, to_us)`.
pub fn read(reader: impl BufRead, from_us: Option<i64>, to_us: Option<i64>) -> TradeTape {
    let mut parser = FileParser::default();
    read_rows(reader, from_us, to_us, |n, text| parser.parse(n, text))
}

/// The symbol a Binance file name starts with (`POLUSDT-aggTrades-2025-10-10.zip` → `POLUSDT`),
/// when the name has Binance's shape.
fn symbol_in_name(name: &str) -> Option<&str> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let (symbol, rest) = base.split_once('-')?;
    (rest.starts_with("aggTrades-") || rest.starts_with("trades-")).then_some(symbol)
}

/// Warns when a file name says it holds another symbol than the one replayed.
fn check_name(name: &str, symbol: &str) {
    if let Some(s) = symbol_in_name(name).filter(|s| !s.eq_ignore_ascii_case(symbol)) {
        warn!(
            file = name,
            file_symbol = s,
            symbol,
            "the file name names another symbol than the one replayed"
        );
    }
}

/// Loads the trades in `[from_us, to_us)` from a Binance trade file, plain, gzip or zip. The file
/// has no symbol column: every row is taken as `symbol`'s (a file name of Binance's shape naming
/// another symbol is only warned about).
///
/// A zip archive must hold one file, or else one `.csv` file among others. When its central
/// directory cannot be read (a truncated download), the first entry is read from its local header
/// and the tape is marked [`truncated`](LoadStats::truncated).
///
/// # Errors
/// [`LoadError::Open`] when the file cannot be opened or is a zip archive that cannot be read.
/// Bad rows are not errors.
pub fn load(
    path: &Path,
    symbol: &str,
    from_us: Option<i64>,
    to_us: Option<i64>,
) -> Result<TradeTape, LoadError> {
    let open_err = |source| LoadError::Open {
        path: path.to_owned(),
        source,
    };
    let zip_err = |e: zip::result::ZipError| open_err(std::io::Error::other(e));
    check_name(&path.to_string_lossy(), symbol);
    let mut file = BufReader::new(File::open(path).map_err(open_err)?);
    if !file.fill_buf().map_err(open_err)?.starts_with(&ZIP_MAGIC) {
        drop(file);
        return Ok(read(input::open(path)?, from_us, to_us));
    }
    match zip::ZipArchive::new(file) {
        Ok(mut archive) => {
            let index = pick_entry(&archive).map_err(open_err)?;
            let entry = archive.by_index(index).map_err(zip_err)?;
            check_name(entry.name(), symbol);
            debug!(entry = entry.name(), "reading zip entry");
            Ok(read(BufReader::new(entry), from_us, to_us))
        }
        Err(e) => {
            warn!(
                error = %e,
                "zip central directory unreadable (truncated file?): reading the first entry from its local header"
            );
            let mut file = BufReader::new(File::open(path).map_err(open_err)?);
            let entry = zip::read::read_zipfile_from_stream(&mut file)
                .map_err(zip_err)?
                .ok_or_else(|| zip_err(e))?;
            check_name(entry.name(), symbol);
            let mut tape = read(BufReader::new(entry), from_us, to_us);
            tape.stats.truncated = true;
            Ok(tape)
        }
    }
}

/// The entry to read: the only file, or else the only `.csv` file.
fn pick_entry<R: std::io::Read + std::io::Seek>(
    archive: &zip::ZipArchive<R>,
) -> std::io::Result<usize> {
    let files: Vec<&str> = archive.file_names().filter(|n| !n.ends_with('/')).collect();
    let csv: Vec<&str> = files
        .iter()
        .copied()
        .filter(|n| n.to_ascii_lowercase().ends_with(".csv"))
        .collect();
    let name = match (files.as_slice(), csv.as_slice()) {
        ([one], _) | (_, [one]) => *one,
        _ => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "zip archive holds {} files ({} .csv); expected one CSV",
                    files.len(),
                    csv.len()
                ),
            ))
        }
    };
    archive
        .index_for_name(name)
        .ok_or_else(|| std::io::Error::other("zip entry vanished"))
}

#[cfg(test)]
#[path = "binance_csv_tests.rs"]
mod tests;
