//! Recorded trades: Tardis-style CSV (`exchange,symbol,timestamp,local_timestamp,id,side,price,amount`,
//! timestamps in µs, `side` the taker side), gzip-compressed or plain (told apart by the magic bytes).
//! Every bad row is skipped, counted and logged with its line number; none reaches the replay.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use tracing::warn;

/// One trade in integer units of 10⁻⁸.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TradeRow {
    /// Trade time, µs since the epoch.
    pub ts_us: i64,
    /// Trade id.
    pub id: u64,
    /// Price, 10⁻⁸ units.
    pub price: u64,
    /// Quantity, 10⁻⁸ units.
    pub qty: u64,
    /// Taker sold (Binance `m = true`).
    pub taker_sell: bool,
}

/// What loading found.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Valid trades in file order.
    pub trades: Vec<TradeRow>,
    /// Rows skipped.
    pub bad_rows: u64,
}

/// Parses a non-negative decimal into 10⁻⁸ units (`None` for anything else, NaN and Inf included).
pub fn units(s: &str) -> Option<u64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty()
        || frac.len() > 8
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let f: u64 = if frac.is_empty() {
        0
    } else {
        frac.parse::<u64>().ok()? * 10u64.pow(8 - frac.len() as u32)
    };
    int.parse::<u64>()
        .ok()?
        .checked_mul(100_000_000)?
        .checked_add(f)
}

fn parse_row(line: &str, symbol: &str) -> Result<Option<TradeRow>, &'static str> {
    let f: Vec<&str> = line.trim_end().split(',').collect();
    if f.len() != 8 {
        return Err("expected 8 columns");
    }
    if !f[1].eq_ignore_ascii_case(symbol) {
        return Ok(None);
    }
    let ts_us = f[2].parse::<i64>().map_err(|_| "bad timestamp")?;
    let id = f[4].parse::<u64>().map_err(|_| "bad id")?;
    let taker_sell = match f[5] {
        "sell" => true,
        "buy" => false,
        _ => return Err("side is not buy or sell"),
    };
    let price = units(f[6])
        .filter(|&p| p > 0)
        .ok_or("price is not a positive decimal")?;
    let qty = units(f[7])
        .filter(|&q| q > 0)
        .ok_or("amount is not a positive decimal")?;
    Ok(Some(TradeRow {
        ts_us,
        id,
        price,
        qty,
        taker_sell,
    }))
}

/// Loads the trades of `symbol` inside `[from_us, to_us)`.
///
/// # Errors
/// The file cannot be opened or read.
pub fn load(
    path: &Path,
    symbol: &str,
    from_us: Option<i64>,
    to_us: Option<i64>,
) -> std::io::Result<Loaded> {
    let mut file = std::fs::File::open(path)?;
    let mut magic = [0u8; 2];
    let n = file.read(&mut magic)?;
    let file = std::fs::File::open(path)?;
    let reader: Box<dyn BufRead> = if n == 2 && magic == [0x1f, 0x8b] {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(file)))
    } else {
        Box::new(BufReader::new(file))
    };
    let mut out = Loaded::default();
    let mut last: Option<(i64, u64)> = None;
    for (i, line) in reader.lines().enumerate() {
        let line = line?;
        if i == 0 && line.starts_with("exchange,") {
            continue;
        }
        match parse_row(&line, symbol) {
            Ok(Some(t)) => {
                if last.is_some_and(|(ts, id)| t.ts_us < ts || t.id <= id) {
                    out.bad_rows += 1;
                    warn!(
                        line = i + 1,
                        "trade out of order (time or id going back): skipped"
                    );
                    continue;
                }
                last = Some((t.ts_us, t.id));
                if from_us.is_some_and(|f| t.ts_us < f) || to_us.is_some_and(|e| t.ts_us >= e) {
                    continue;
                }
                out.trades.push(t);
            }
            Ok(None) => {}
            Err(why) => {
                out.bad_rows += 1;
                if out.bad_rows <= 20 {
                    warn!(line = i + 1, why, "bad row skipped");
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows() {
        let ok = "binance,POLUSDT,1760129100101296,1760129100105073,34903745,buy,0.2258,47.8";
        assert_eq!(
            parse_row(ok, "POLUSDT"),
            Ok(Some(TradeRow {
                ts_us: 1760129100101296,
                id: 34903745,
                price: 22_580_000,
                qty: 4_780_000_000,
                taker_sell: false
            }))
        );
        for bad in [
            "binance,POLUSDT,x,1,1,buy,0.2,1",
            "binance,POLUSDT,1,1,1,hold,0.2,1",
            "binance,POLUSDT,1,1,1,buy,NaN,1",
            "binance,POLUSDT,1,1,1,buy,inf,1",
            "binance,POLUSDT,1,1,1,buy,-0.2,1",
            "binance,POLUSDT,1,1,1,buy,0,1",
            "binance,POLUSDT,1,1,1,buy,0.2,-1",
            "binance,POLUSDT,1,1",
        ] {
            assert!(parse_row(bad, "POLUSDT").is_err(), "{bad}");
        }
        assert_eq!(
            parse_row("binance,BTCUSDT,1,1,1,buy,1,1", "POLUSDT"),
            Ok(None)
        );
    }

    #[test]
    fn loads_gzip_and_plain_and_skips_bad_rows() {
        let dir = std::env::temp_dir().join(format!("sim-data-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n\
            binance,POLUSDT,1000,1,1,buy,0.2,1\n\
            binance,POLUSDT,2000,1,2,sell,NaN,1\n\
            binance,POLUSDT,500,1,3,sell,0.2,1\n\
            binance,POLUSDT,3000,1,4,sell,0.1999,2\n";
        let plain = dir.join("t.csv");
        std::fs::write(&plain, text).unwrap();
        let gz = dir.join("t.csv.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, text.as_bytes()).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        for p in [&plain, &gz] {
            let l = load(p, "POLUSDT", None, None).unwrap();
            assert_eq!(
                l.trades.iter().map(|t| t.id).collect::<Vec<_>>(),
                vec![1, 4]
            );
            assert_eq!(l.bad_rows, 2);
        }
        let l = load(&plain, "POLUSDT", Some(2000), None).unwrap();
        assert_eq!(l.trades.len(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
