//! Everything the venue needs to start, validated ([`crate::cli::Args`] builds it from the command
//! line; tests build it directly).

use std::path::PathBuf;

use crate::clock::{Speed, TimeBase};
use crate::connection::Keepalive;
use crate::faults::{Faults, Scheduled};
use crate::history::DEFAULT_HISTORY;
use crate::replay::Start;
use crate::trading::TradingOptions;
use crate::units::SCALE;
use crate::venue::DEFAULT_QUEUE_CAPACITY;

/// What the data file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DataFormat {
    /// Tardis-style trade CSV; the book is synthetic.
    #[default]
    Trades,
    /// Binance public trade files (`aggTrades` or `trades`, spot or futures; plain, gzip or zip);
    /// the book is synthetic.
    BinanceTrades,
    /// Raw Binance WebSocket captures (`<recv_ns> <json>` lines) with a REST snapshot; real L2.
    Capture,
}

impl std::str::FromStr for DataFormat {
    type Err = crate::error::ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "trades" => Ok(DataFormat::Trades),
            "binance" => Ok(DataFormat::BinanceTrades),
            "capture" => Ok(DataFormat::Capture),
            _ => Err(crate::error::ConfigError::invalid(
                "format",
                s,
                "expected 'trades', 'binance' or 'capture'",
            )),
        }
    }
}

/// The venue's configuration.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The recorded data.
    pub data: PathBuf,
    /// What the data file holds.
    pub format: DataFormat,
    /// Symbol, upper case.
    pub symbol: String,
    /// First event replayed, µs since the epoch (inclusive).
    pub from_us: Option<i64>,
    /// End of the replay, µs since the epoch (exclusive).
    pub to_us: Option<i64>,
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: String,
    /// Replay speed.
    pub speed: Speed,
    /// When the replay clock starts.
    pub start: Start,
    /// Exit about a second after the replay ends.
    pub exit_at_end: bool,
    /// Time base of emitted event times.
    pub time_base: TimeBase,
    /// Tick size, units.
    pub tick: u64,
    /// Step size, units.
    pub step: u64,
    /// Minimum notional, units.
    pub min_notional: u64,
    /// Levels per side of the synthetic book.
    pub book_levels: usize,
    /// A silence of the trades longer than this (µs) is a recording gap, replayed as a venue outage
    /// once it has lasted this long (no book change from then until the trades resume); 0: never.
    /// Trade files only.
    pub data_gap_us: i64,
    /// Seed of the book's noise and of the fault draws.
    pub seed: u64,
    /// Faults injected into every connection.
    pub faults: Faults,
    /// Faults applied to every connection at given times.
    pub schedule: Vec<Scheduled>,
    /// Frames queued per connection before it is disconnected.
    pub queue_capacity: usize,
    /// Ping frames and the pong deadline of every connection (Binance's: 20 s, 1 minute).
    pub keepalive: Keepalive,
    /// Book updates remembered for `/sim/book?update_id=`.
    pub history: usize,
    /// The account, its key pair, rate limits and order faults.
    pub trading: TradingOptions,
}

impl SimConfig {
    /// The defaults of the command line for `data`.
    pub fn new(data: impl Into<PathBuf>) -> Self {
        SimConfig {
            data: data.into(),
            format: DataFormat::Trades,
            symbol: "POLUSDT".to_owned(),
            from_us: None,
            to_us: None,
            listen: "127.0.0.1:0".to_owned(),
            speed: Speed::Factor(1.0),
            start: Start::Immediately,
            exit_at_end: false,
            time_base: TimeBase::Rebased,
            tick: SCALE / 10_000,
            step: SCALE / 10,
            min_notional: 5 * SCALE,
            book_levels: 200,
            data_gap_us: 300_000_000,
            seed: 7,
            faults: Faults::default(),
            schedule: Vec::new(),
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            keepalive: Keepalive::default(),
            history: DEFAULT_HISTORY,
            trading: TradingOptions::default(),
        }
    }
}
