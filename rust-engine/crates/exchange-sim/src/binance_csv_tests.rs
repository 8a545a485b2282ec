use std::io::Write;

use proptest::prelude::*;

use super::*;
use crate::log_capture::LogBuf;
use crate::trades_csv::{self, LoadStats};
use crate::units::format_units;

const SPOT_AGG_US: &str = "1,0.22580000,47.80000000,10,12,1760129100101296,False,True";
const FUT_AGG_HEADER: &str =
    "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker";
const FUT_TRADES_HEADER: &str = "id,price,qty,quote_qty,time,is_buyer_maker";

fn row(ts_us: i64, id: u64, price: u64, qty: u64, taker_sell: bool) -> TradeRow {
    TradeRow {
        ts_us,
        id,
        price,
        qty,
        taker_sell,
    }
}

fn ids(tape: &TradeTape) -> Vec<u64> {
    tape.trades.iter().map(|t| t.id).collect()
}

/// A fresh directory for one test's files.
fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sim-binance-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// Runs `f` and returns its result with the `(line, why)` of every "bad row skipped" logged.
fn with_bad_rows_logged<T>(f: impl FnOnce() -> T) -> (T, Vec<(u64, String)>) {
    let logs = LogBuf::default();
    let out = tracing::subscriber::with_default(logs.subscriber(), f);
    let logged = logs
        .lines_with("bad row skipped")
        .iter()
        .map(|l| {
            let at = l.find("line=").unwrap() + 5;
            let digits: String = l[at..].chars().take_while(char::is_ascii_digit).collect();
            let why = l[l.find("why=").unwrap() + 4..].to_owned();
            (digits.parse().unwrap(), why)
        })
        .collect();
    (out, logged)
}

struct TestCase {
    input: &'static str,
    layout: Layout,
    expected: Result<TradeRow, RowError>,
}

#[test]
fn parses_each_layout_and_names_the_bad_field() {
    use Layout::*;
    let pol = |ts_us, id, taker_sell| row(ts_us, id, 22_580_000, 4_780_000_000, taker_sell);
    let cases = [
        TestCase {
            input: SPOT_AGG_US,
            layout: SpotAggTrades,
            expected: Ok(pol(1_760_129_100_101_296, 1, false)),
        },
        TestCase {
            input: "7,0.2258,47.8,10,10,1760129100101,true",
            layout: FuturesAggTrades,
            expected: Ok(pol(1_760_129_100_101_000, 7, true)),
        },
        TestCase {
            input: "8,0.22580000,47.80000000,10.79324000,1760129100101296,True,True",
            layout: SpotTrades,
            expected: Ok(pol(1_760_129_100_101_296, 8, true)),
        },
        TestCase {
            input: "9,0.2258,47.8,10.79324,1760129100101,false",
            layout: FuturesTrades,
            expected: Ok(pol(1_760_129_100_101_000, 9, false)),
        },
        TestCase {
            input: "1,0.2258,47.8,10,12,1760129100101,False",
            layout: SpotAggTrades,
            expected: Err(RowError::LayoutColumns {
                expected: 8,
                found: 7,
            }),
        },
        TestCase {
            input: "-1,0.2258,47.8,10,12,1760129100101,false",
            layout: FuturesAggTrades,
            expected: Err(RowError::Id),
        },
        TestCase {
            input: "+1,0.2258,47.8,10,12,1760129100101,false",
            layout: FuturesAggTrades,
            expected: Err(RowError::Id),
        },
        TestCase {
            input: "1,NaN,47.8,10,12,1760129100101,false",
            layout: FuturesAggTrades,
            expected: Err(RowError::Price),
        },
        TestCase {
            input: "1,inf,47.8,10,12,1760129100101,false",
            layout: FuturesAggTrades,
            expected: Err(RowError::Price),
        },
        TestCase {
            input: "1,-1,47.8,10,12,1760129100101,false",
            layout: FuturesAggTrades,
            expected: Err(RowError::Price),
        },
        TestCase {
            input: "1,0,47.8,10,12,1760129100101,false",
            layout: FuturesAggTrades,
            expected: Err(RowError::Price),
        },
        TestCase {
            input: "1,0.2258,0,10,12,1760129100101,false",
            layout: FuturesAggTrades,
            expected: Err(RowError::Quantity),
        },
        TestCase {
            input: "1,0.2258,-47.8,10,12,1760129100101,false",
            layout: FuturesAggTrades,
            expected: Err(RowError::Quantity),
        },
        TestCase {
            input: "1,0.2258,0.000000001,10,12,1760129100101,false",
            layout: FuturesAggTrades,
            expected: Err(RowError::Quantity),
        },
        TestCase {
            input: "1,0.2258,47.8,12,10,1760129100101,false",
            layout: FuturesAggTrades,
            expected: Err(RowError::TradeIds),
        },
        TestCase {
            input: "1,0.2258,47.8,x,10,1760129100101,false",
            layout: FuturesAggTrades,
            expected: Err(RowError::TradeIds),
        },
        TestCase {
            input: "1,0.2258,47.8,10,12,0,false",
            layout: FuturesAggTrades,
            expected: Err(RowError::Time),
        },
        TestCase {
            input: "1,0.2258,47.8,10,12,1760129100101.5,false",
            layout: FuturesAggTrades,
            expected: Err(RowError::Time),
        },
        TestCase {
            input: "1,0.2258,47.8,10,12,99999999999999999999,false",
            layout: FuturesAggTrades,
            expected: Err(RowError::Time),
        },
        TestCase {
            input: "1,0.2258,47.8,10,12,1760129100101,yes",
            layout: FuturesAggTrades,
            expected: Err(RowError::Boolean("is_buyer_maker")),
        },
        TestCase {
            input: "1,0.2258,47.8,10,12,1760129100101,False,1",
            layout: SpotAggTrades,
            expected: Err(RowError::Boolean("is_best_match")),
        },
        TestCase {
            input: "9,0.2258,47.8,NaN,1760129100101,false",
            layout: FuturesTrades,
            expected: Err(RowError::QuoteQty),
        },
        TestCase {
            input: "9,0.2258,47.8,-3,1760129100101,false",
            layout: FuturesTrades,
            expected: Err(RowError::QuoteQty),
        },
    ];
    for c in cases {
        assert_eq!(parse_row(c.input, c.layout), c.expected, "{}", c.input);
    }
}

#[test]
fn time_unit_is_decided_per_value() {
    assert_eq!(time_to_us(MICROS_FROM - 1), (MICROS_FROM - 1) * 1000);
    assert_eq!(time_to_us(MICROS_FROM), MICROS_FROM);
    assert_eq!(time_to_us(1_760_129_100_101), 1_760_129_100_101_000);
    assert_eq!(time_to_us(1_760_129_100_101_296), 1_760_129_100_101_296);
    // Old (ms) and new (µs) rows in one file both land in µs.
    let text = "1,0.1,1,1,1,1735689599999,False,True\n2,0.1,1,2,2,1735689600000000,True,True\n";
    let tape = read(text.as_bytes(), None, None);
    assert_eq!(
        tape.trades.iter().map(|t| t.ts_us).collect::<Vec<_>>(),
        vec![1_735_689_599_999_000, 1_735_689_600_000_000]
    );
}

/// A byte-order mark is ignored also before a file without header: the first row is a trade,
/// not taken for a header (its first field would not start with a digit if the mark were kept).
#[test]
fn a_byte_order_mark_before_the_first_row_of_a_header_less_file_is_ignored() {
    let text = "\u{feff}1,0.22580000,47.80000000,10,12,1760129100101296,False,True\n\
                2,0.22590000,1.00000000,13,13,1760129100101297,True,True\n";
    let tape = read(text.as_bytes(), None, None);
    assert_eq!(
        tape.trades,
        vec![
            row(1_760_129_100_101_296, 1, 22_580_000, 4_780_000_000, false),
            row(1_760_129_100_101_297, 2, 22_590_000, 100_000_000, true),
        ]
    );
    assert_eq!(tape.stats.bad_rows, 0);
}

#[test]
fn detects_the_layout_of_each_kind_of_file() {
    let cases: [(&str, Vec<TradeRow>); 6] = [
        (
            // spot aggTrades, µs, no header
            "1,0.22580000,47.80000000,10,12,1760129100101296,False,True\n\
             2,0.22590000,1.00000000,13,13,1760129100101296,True,True\n",
            vec![
                row(1_760_129_100_101_296, 1, 22_580_000, 4_780_000_000, false),
                row(1_760_129_100_101_296, 2, 22_590_000, 100_000_000, true),
            ],
        ),
        (
            // futures aggTrades, ms, header
            "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n\
             5,0.2258,47.8,10,12,1760129100101,true\n\
             6,0.2259,1,13,20,1760129100102,false\n",
            vec![
                row(1_760_129_100_101_000, 5, 22_580_000, 4_780_000_000, true),
                row(1_760_129_100_102_000, 6, 22_590_000, 100_000_000, false),
            ],
        ),
        (
            // spot trades, ms (before 2025), no header, CRLF
            "3,0.22580000,47.80000000,10.79324000,1704067200000,True,True\r\n\
             4,0.22590000,1.00000000,0.22590000,1704067200001,False,True\r\n",
            vec![
                row(1_704_067_200_000_000, 3, 22_580_000, 4_780_000_000, true),
                row(1_704_067_200_001_000, 4, 22_590_000, 100_000_000, false),
            ],
        ),
        (
            // spot trades, µs, with a header and a byte-order mark
            "\u{feff}id,price,qty,quoteQty,time,isBuyerMaker,isBestMatch\n\
             3,0.22580000,47.80000000,10.79324000,1760129100101296,True,True\n",
            vec![row(1_760_129_100_101_296, 3, 22_580_000, 4_780_000_000, true)],
        ),
        (
            // futures trades, ms, header
            "id,price,qty,quote_qty,time,is_buyer_maker\n\
             100,0.2258,47.8,10.79324,1760129100101,false\n",
            vec![row(1_760_129_100_101_000, 100, 22_580_000, 4_780_000_000, false)],
        ),
        (
            // futures trades, no header
            "100,0.2258,47.8,10.79324,1760129100101,false\n",
            vec![row(1_760_129_100_101_000, 100, 22_580_000, 4_780_000_000, false)],
        ),
    ];
    for (text, expected) in cases {
        let tape = read(text.as_bytes(), None, None);
        assert_eq!(tape.trades, expected, "{text}");
        assert_eq!(tape.stats.bad_rows, 0, "{text}");
        assert_eq!(tape.stats.lines, text.lines().count() as u64, "{text}");
    }
}

#[test]
fn skips_counts_and_logs_bad_rows_with_their_line_numbers() {
    let mut text = format!(
        "{FUT_AGG_HEADER}\n\
         1,0.2258,47.8,10,12,1760129100101,true\n\
         2,NaN,1,13,13,1760129100102,true\n\
         3,inf,1,14,14,1760129100102,true\n\
         4,-1,1,15,15,1760129100102,true\n\
         5,0.2258,0,16,16,1760129100102,true\n\
         6,0.2258,1,17,17,1760129100102\n\
         7,0.2258,1,18,18,1760129100102,yes\n\
         1,0.2258,1,19,19,1760129100102,true\n\
         8,0.2258,1,20,20,1760129100100,true\n\
         9,0.2258,2,21,21,1760129100103,false\n"
    )
    .into_bytes();
    text.extend_from_slice(b"10,0.2258,1,22,22,1760129100104,\xff\xfe\n");
    text.extend_from_slice(format!("{}\n", "1".repeat(MAX_LINE + 1)).as_bytes());
    text.extend_from_slice(b"11,0.2258,1,30,23,1760129100104,true\n");
    text.extend_from_slice(b"\n");
    text.extend_from_slice(b"12,0.2258,1,31,31,1760129100105,true,True\n");
    text.extend_from_slice(b"13,0.2258,1,32,32,1760129100106,true\n");
    let (tape, logged) = with_bad_rows_logged(|| read(&text[..], None, None));
    assert_eq!(ids(&tape), vec![1, 9, 13]);
    assert_eq!(
        tape.stats,
        LoadStats {
            lines: 17,
            bad_rows: 13,
            other_symbol: 0,
            outside_window: 0,
            truncated: false,
        }
    );
    let expected: Vec<(u64, String)> = [
        (3, RowError::Price),
        (4, RowError::Price),
        (5, RowError::Price),
        (6, RowError::Quantity),
        (
            7,
            RowError::LayoutColumns {
                expected: 7,
                found: 6,
            },
        ),
        (8, RowError::Boolean("is_buyer_maker")),
        (9, RowError::OutOfOrder),
        (10, RowError::OutOfOrder),
        (12, RowError::NotUtf8),
        (13, RowError::TooLong),
        (14, RowError::TradeIds),
        (
            15,
            RowError::LayoutColumns {
                expected: 7,
                found: 1,
            },
        ),
        (
            16,
            RowError::LayoutColumns {
                expected: 7,
                found: 8,
            },
        ),
    ]
    .into_iter()
    .map(|(n, e)| (n, e.to_string()))
    .collect();
    assert_eq!(logged, expected);
}

#[test]
fn a_bad_first_row_does_not_fix_the_layout() {
    let text = "garbage-free,but,5,columns,x\n\
                1,1,1,1,1,1,1,1,1\n\
                2,0.2258,47.8,10.79324,1760129100101,false\n";
    let (tape, logged) = with_bad_rows_logged(|| read(text.as_bytes(), None, None));
    // Line 1 is a header (not numeric); line 2 has 9 columns.
    assert_eq!(ids(&tape), vec![2]);
    assert_eq!(logged, vec![(2, RowError::Columns(9).to_string())]);
    let text = "1,NaN,1,1,1,1760129100101,False,True\n\
                2,0.2258,47.8,10.79324,1760129100101,false\n";
    assert_eq!(ids(&read(text.as_bytes(), None, None)), vec![2]);
}

#[test]
fn filters_to_the_half_open_window() {
    let text = "1,0.1,1,1,1,1000,false\n2,0.1,1,2,2,2000,false\n3,0.1,1,3,3,3000,false\n";
    let tape = read(text.as_bytes(), Some(2_000_000), Some(3_000_000));
    assert_eq!(ids(&tape), vec![2]);
    assert_eq!(tape.stats.outside_window, 2);
}

/// The first trades of the bundled Tardis file written in each Binance layout: Binance rows in
/// the file's `(layout, header, µs)`.
fn to_binance(trades: &[TradeRow], layout: Layout, header: bool, micros: bool) -> String {
    let spot = matches!(layout, Layout::SpotAggTrades | Layout::SpotTrades);
    let dec = |u: u64| {
        let s = format_units(u);
        if spot {
            s
        } else {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        }
    };
    let boolean = |b: bool| match (spot, b) {
        (true, true) => "True",
        (true, false) => "False",
        (false, true) => "true",
        (false, false) => "false",
    };
    let mut out = String::new();
    if header {
        out.push_str(match layout {
            Layout::SpotAggTrades => "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker,is_best_match",
            Layout::FuturesAggTrades => FUT_AGG_HEADER,
            Layout::SpotTrades => "id,price,qty,quoteQty,time,isBuyerMaker,isBestMatch",
            Layout::FuturesTrades => FUT_TRADES_HEADER,
        });
        out.push('\n');
    }
    for t in trades {
        let time = if micros { t.ts_us } else { t.ts_us / 1000 };
        let (id, p, q, m) = (t.id, dec(t.price), dec(t.qty), boolean(t.taker_sell));
        let quote = u128::from(t.price) * u128::from(t.qty);
        let quote = format!("{}.{:016}", quote / 10u128.pow(16), quote % 10u128.pow(16));
        let line = match layout {
            Layout::SpotAggTrades => format!("{id},{p},{q},{id},{id},{time},{m},True"),
            Layout::FuturesAggTrades => format!("{id},{p},{q},{id},{id},{time},{m}"),
            Layout::SpotTrades => format!("{id},{p},{q},{quote},{time},{m},True"),
            Layout::FuturesTrades => format!("{id},{p},{q},{quote},{time},{m}"),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn bundled_first_trades(n: usize) -> Vec<TradeRow> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../data/binance_trades_2025-10-10_POLUSDT_2045-2145.csv.gz");
    let mut tape = trades_csv::load(&path, "POLUSDT", None, None).unwrap();
    tape.trades.truncate(n);
    assert_eq!(tape.trades.len(), n);
    tape.trades
}

#[test]
fn real_trades_in_every_layout_load_as_the_tardis_file_does() {
    let tardis = bundled_first_trades(1000);
    let in_ms: Vec<TradeRow> = tardis
        .iter()
        .map(|t| TradeRow {
            ts_us: t.ts_us / 1000 * 1000,
            ..*t
        })
        .collect();
    for layout in [
        Layout::SpotAggTrades,
        Layout::FuturesAggTrades,
        Layout::SpotTrades,
        Layout::FuturesTrades,
    ] {
        for header in [false, true] {
            for micros in [false, true] {
                let text = to_binance(&tardis, layout, header, micros);
                let tape = read(text.as_bytes(), None, None);
                let case = format!("{layout:?} header={header} µs={micros}");
                assert_eq!(tape.stats.bad_rows, 0, "{case}");
                assert_eq!(tape.stats.lines, 1000 + u64::from(header), "{case}");
                let expected = if micros { &tardis } else { &in_ms };
                assert_eq!(&tape.trades, expected, "{case}");
            }
        }
    }
}

#[test]
fn loads_zip_gzip_and_plain_files_by_their_magic_bytes() {
    let dir = temp_dir("formats");
    let trades = bundled_first_trades(1000);
    let csv = to_binance(&trades, Layout::SpotAggTrades, false, true);
    let csv = csv.as_bytes();
    // Names that lie about the content: only the magic bytes count.
    let files = [
        (
            "POLUSDT-aggTrades-2025-10-10.csv",
            zip_of(&[("POLUSDT-aggTrades-2025-10-10.csv", csv)]),
        ),
        ("POLUSDT-aggTrades-2025-10-10.zip", gzip(csv)),
        ("POLUSDT-aggTrades-2025-10-10.csv.gz", csv.to_vec()),
        (
            "two-entries.zip",
            zip_of(&[
                ("POLUSDT-aggTrades-2025-10-10.CHECKSUM", b"abc".as_slice()),
                ("POLUSDT-aggTrades-2025-10-10.csv", csv),
            ]),
        ),
    ];
    for (name, bytes) in files {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let tape = load(&path, "POLUSDT", None, None).unwrap();
        assert_eq!(tape.trades, trades, "{name}");
        assert_eq!(tape.stats.bad_rows, 0, "{name}");
        assert!(!tape.stats.truncated, "{name}");
    }
    let window = load(
        &dir.join("POLUSDT-aggTrades-2025-10-10.csv"),
        "POLUSDT",
        Some(trades[100].ts_us),
        None,
    )
    .unwrap();
    assert!(window.stats.outside_window >= 100);
    assert_eq!(
        window.trades.len() as u64 + window.stats.outside_window,
        1000
    );

    let ambiguous = dir.join("ambiguous.zip");
    std::fs::write(&ambiguous, zip_of(&[("a.csv", csv), ("b.csv", csv)])).unwrap();
    assert!(matches!(
        load(&ambiguous, "POLUSDT", None, None),
        Err(LoadError::Open { .. })
    ));
    assert!(matches!(
        load(&dir.join("missing.zip"), "POLUSDT", None, None),
        Err(LoadError::Open { .. })
    ));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn truncated_zip_and_gzip_keep_the_rows_before_the_damage() {
    let dir = temp_dir("truncated");
    let mut csv = String::from(FUT_AGG_HEADER);
    csv.push('\n');
    for i in 1..=20_000u64 {
        csv.push_str(&format!(
            "{i},0.2{},{i},{i},{i},{},false\n",
            i % 7,
            1_760_000_000_000 + i
        ));
    }
    for (name, whole) in [
        ("t.zip", zip_of(&[("t.csv", csv.as_bytes())])),
        ("t.gz", gzip(csv.as_bytes())),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, &whole[..whole.len() / 2]).unwrap();
        let tape = load(&path, "POLUSDT", None, None).unwrap();
        assert!(tape.stats.truncated, "{name}");
        assert!(
            !tape.trades.is_empty() && tape.trades.len() < 20_000,
            "{name}"
        );
        assert_eq!(tape.stats.bad_rows, 0, "{name}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_binance_format_is_launched_with_this_loader() {
    use crate::config::{DataFormat, SimConfig};
    assert_eq!(
        "binance".parse::<DataFormat>(),
        Ok(DataFormat::BinanceTrades)
    );
    let dir = temp_dir("launch");
    let path = dir.join("POLUSDT-trades-2025-10-10.zip");
    let csv = to_binance(
        &bundled_first_trades(100),
        Layout::FuturesTrades,
        true,
        false,
    );
    std::fs::write(
        &path,
        zip_of(&[("POLUSDT-trades-2025-10-10.csv", csv.as_bytes())]),
    )
    .unwrap();
    let mut cfg = SimConfig::new(&path);
    cfg.format = DataFormat::BinanceTrades;
    assert!(crate::launch::load_source(&cfg).is_ok());
    // The Tardis loader finds no valid row in the same file.
    cfg.format = DataFormat::Trades;
    assert!(matches!(
        crate::launch::load_source(&cfg),
        Err(LoadError::Empty { .. })
    ));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn reads_the_symbol_in_binance_file_names() {
    assert_eq!(
        symbol_in_name("/d/POLUSDT-aggTrades-2025-10-10.zip"),
        Some("POLUSDT")
    );
    assert_eq!(
        symbol_in_name("BTCUSDT-trades-2025-01.csv"),
        Some("BTCUSDT")
    );
    assert_eq!(
        symbol_in_name("binance_trades_2025-10-10_POLUSDT.csv.gz"),
        None
    );
}

fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{0,20}",
        "-?[0-9]{0,6}\\.[0-9]{0,12}",
        Just("True".to_owned()),
        Just("false".to_owned()),
        "(NaN|inf|-inf|1e-9|1e30|-0|\\+1|\u{feff}1)",
        "[ -~]{0,8}",
    ]
}

fn line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => proptest::collection::vec(field(), 0..10).prop_map(|f| f.join(",").into_bytes()),
        1 => proptest::collection::vec(any::<u8>(), 0..80)
            .prop_map(|b| b.into_iter().filter(|&c| c != b'\n').collect()),
    ]
}

proptest! {
    #[test]
    fn random_lines_never_panic(lines in proptest::collection::vec(line(), 0..40)) {
        let mut text = Vec::new();
        for l in &lines {
            text.extend_from_slice(l);
            text.push(b'\n');
        }
        let tape = read(&text[..], None, None);
        prop_assert_eq!(tape.stats.lines, lines.len() as u64);
        prop_assert!(tape.trades.len() as u64 + tape.stats.bad_rows <= tape.stats.lines);
        prop_assert!(tape.trades.windows(2).all(|w| w[0].ts_us <= w[1].ts_us && w[0].id < w[1].id));
        prop_assert!(tape.trades.iter().all(|t| t.price > 0 && t.qty > 0 && t.ts_us > 0));
    }
}
