//! The command line (clap), turned into a validated [`SimConfig`].

use std::path::PathBuf;

use clap::Parser;

use crate::clock::{Speed, TimeBase};
use crate::config::SimConfig;
use crate::error::ConfigError;
use crate::replay::Start;
use crate::scenario::{FaultSettings, ScheduleEntry};
use crate::time::parse_utc_us;
use crate::units::parse_units;

/// Most levels a side of the synthetic book.
pub const MAX_BOOK_LEVELS: usize = 5000;

/// A Binance-compatible venue on loopback that replays recorded real market data.
///
/// Prints `exchange-sim listening on HOST:PORT` on stdout once bound and
/// `exchange-sim replay finished: trades=N depth_updates=M last_update_id=X` when the replay ends;
/// logs go to stderr (`RUST_LOG` sets the level).
#[derive(Parser, Debug, Clone)]
#[command(name = "exchange-sim", version, about, long_about = None)]
pub struct Args {
    /// Data file, plain, gzip or (for `--format binance`) ZIP: Tardis-style trade CSV, Binance public
    /// `aggTrades`/`trades` CSV with `--format binance`, or a raw WebSocket capture with `--format capture`.
    #[arg(long)]
    pub data: PathBuf,
    /// `trades` (Tardis-style trade CSV, synthetic book), `binance` (Binance public aggTrades/trades
    /// CSV, synthetic book) or `capture` (recorded Binance WebSocket messages, real L2).
    #[arg(long, default_value = "trades")]
    pub format: String,
    /// Symbol, e.g. POLUSDT.
    #[arg(long, default_value = "POLUSDT")]
    pub symbol: String,
    /// First event replayed (UTC, inclusive), e.g. 2025-10-10T21:00:00Z.
    #[arg(long)]
    pub from: Option<String>,
    /// End of the replay (UTC, exclusive), e.g. 2025-10-10T21:30:00Z.
    #[arg(long)]
    pub to: Option<String>,
    /// Address to bind; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
    /// Replay speed: a factor (30 = thirty times real time) or `max`.
    #[arg(long, default_value = "1")]
    pub speed: String,
    /// Start the replay clock when the first WebSocket client connects.
    #[arg(long)]
    pub wait_for_client: bool,
    /// Exit (status 0) about a second after the replay ends, closing WebSockets with a close frame.
    #[arg(long)]
    pub exit_at_end: bool,
    /// `rebased`: event times shifted so the first event is "now"; `original`: recorded times.
    #[arg(long, default_value = "rebased")]
    pub timestamps: String,
    /// Tick size of the symbol.
    #[arg(long, default_value = "0.0001")]
    pub tick_size: String,
    /// Step size of the symbol.
    #[arg(long, default_value = "0.1")]
    pub step_size: String,
    /// Minimum notional of the symbol.
    #[arg(long, default_value = "5")]
    pub min_notional: String,
    /// Levels per side of the synthetic book.
    #[arg(long, default_value_t = 200)]
    pub book_levels: usize,
    /// Seed of the book's noise and of the fault draws.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Fault scenario file (TOML); flags given here win over its values.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Fault: drop this fraction of depth events (clients see gaps), 0 to 1.
    #[arg(long)]
    pub drop_depth: Option<f64>,
    /// Fault: send this fraction of frames twice.
    #[arg(long)]
    pub duplicate: Option<f64>,
    /// Fault: cut this fraction of frames in half (invalid JSON).
    #[arg(long)]
    pub malformed: Option<f64>,
    /// Fault: give this fraction of trades the price NaN or -1.
    #[arg(long)]
    pub bad_price: Option<f64>,
    /// Fault: hold back this fraction of frames behind up to --reorder-window later ones.
    #[arg(long)]
    pub reorder: Option<f64>,
    /// Most later frames a reordered frame waits behind (default 3).
    #[arg(long)]
    pub reorder_window: Option<u32>,
    /// Fault: deliver every frame this many milliseconds late (feed latency).
    #[arg(long)]
    pub latency_ms: Option<f64>,
    /// Fault: close every connection this many seconds after it opened.
    #[arg(long)]
    pub disconnect_every: Option<f64>,
    /// Fault: after the venue hangs up on purpose, refuse reconnects for this many seconds.
    #[arg(long)]
    pub refuse_reconnects: Option<f64>,
    /// Fault: serve this fraction of REST snapshots from the past (older than the stream).
    #[arg(long)]
    pub stale_snapshot: Option<f64>,
    /// Updates a stale snapshot lags behind (default 50).
    #[arg(long)]
    pub stale_snapshot_updates: Option<u32>,
    /// Fault: close every connection at these seconds after the replay starts (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub disconnect_at: Vec<String>,
    /// Fault: stop sending at AT seconds after the replay starts for SECS seconds (`AT:SECS`, comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub stall_at: Vec<String>,
    /// Fault: refuse new connections at AT seconds after the replay starts for SECS seconds (`AT:SECS`, comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub refuse_at: Vec<String>,
}

fn positive_units(flag: &'static str, text: &str) -> Result<u64, ConfigError> {
    parse_units(text).filter(|&u| u > 0).ok_or_else(|| {
        ConfigError::invalid(
            flag,
            text,
            "expected a positive decimal with at most 8 decimals",
        )
    })
}

fn utc(flag: &'static str, text: Option<&str>) -> Result<Option<i64>, ConfigError> {
    text.map(|t| {
        parse_utc_us(t).map_err(|_| {
            ConfigError::invalid(flag, t, "expected a UTC time like 2025-10-10T21:00:00Z")
        })
    })
    .transpose()
}

impl Args {
    /// The validated configuration.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first unusable flag.
    pub fn into_config(self) -> Result<SimConfig, ConfigError> {
        let from_us = utc("from", self.from.as_deref())?;
        let to_us = utc("to", self.to.as_deref())?;
        if let (Some(f), Some(t)) = (from_us, to_us) {
            if f >= t {
                return Err(ConfigError::invalid(
                    "to",
                    self.to.unwrap_or_default(),
                    "must be after --from",
                ));
            }
        }
        if self.book_levels == 0 || self.book_levels > MAX_BOOK_LEVELS {
            return Err(ConfigError::invalid(
                "book-levels",
                self.book_levels,
                "expected 1 to 5000",
            ));
        }
        let file = match &self.scenario {
            Some(path) => FaultSettings::load(path)?,
            None => FaultSettings::default(),
        };
        let mut schedule = Vec::new();
        for (flag, fault, texts) in [
            ("disconnect-at", "disconnect", &self.disconnect_at),
            ("stall-at", "stall", &self.stall_at),
            ("refuse-at", "refuse", &self.refuse_at),
        ] {
            for t in texts {
                schedule.push(ScheduleEntry::parse_flag(flag, fault, t)?);
            }
        }
        let flags = FaultSettings {
            drop_depth: self.drop_depth,
            duplicate: self.duplicate,
            malformed: self.malformed,
            bad_price: self.bad_price,
            reorder: self.reorder,
            reorder_window: self.reorder_window,
            latency_ms: self.latency_ms,
            disconnect_every: self.disconnect_every,
            refuse_reconnects: self.refuse_reconnects,
            stale_snapshot: self.stale_snapshot,
            stale_snapshot_updates: self.stale_snapshot_updates,
            schedule,
        };
        let (faults, schedule) = file.overlay(flags).build()?;
        Ok(SimConfig {
            format: self.format.parse()?,
            symbol: self.symbol.to_ascii_uppercase(),
            from_us,
            to_us,
            listen: self.listen,
            speed: self.speed.parse::<Speed>()?,
            start: if self.wait_for_client {
                Start::OnFirstClient
            } else {
                Start::Immediately
            },
            exit_at_end: self.exit_at_end,
            time_base: self.timestamps.parse::<TimeBase>()?,
            tick: positive_units("tick-size", &self.tick_size)?,
            step: positive_units("step-size", &self.step_size)?,
            min_notional: positive_units("min-notional", &self.min_notional)?,
            book_levels: self.book_levels,
            seed: self.seed,
            faults,
            schedule,
            ..SimConfig::new(self.data)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DataFormat;
    use crate::faults::TimedFault;
    use crate::units::SCALE;
    use std::time::Duration;

    fn parse(extra: &[&str]) -> Result<SimConfig, ConfigError> {
        let argv = ["exchange-sim", "--data", "x.csv.gz"].iter().chain(extra);
        Args::try_parse_from(argv).unwrap().into_config()
    }

    #[test]
    fn defaults() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.symbol, "POLUSDT");
        assert_eq!(c.listen, "127.0.0.1:0");
        assert_eq!(c.speed, Speed::Factor(1.0));
        assert_eq!(c.start, Start::Immediately);
        assert_eq!(c.time_base, TimeBase::Rebased);
        assert_eq!(
            (c.tick, c.step, c.min_notional),
            (10_000, SCALE / 10, 5 * SCALE)
        );
        assert_eq!((c.book_levels, c.seed), (200, 7));
        assert!(!c.exit_at_end && !c.faults.any());
        assert_eq!((c.from_us, c.to_us), (None, None));
        assert_eq!(c.format, DataFormat::Trades);
        assert_eq!(
            parse(&["--format", "capture"]).unwrap().format,
            DataFormat::Capture
        );
    }

    #[test]
    fn every_flag() {
        let c = parse(&[
            "--symbol",
            "polusdt",
            "--from",
            "2025-10-10T21:00:00Z",
            "--to",
            "2025-10-10T21:30:00Z",
            "--listen",
            "127.0.0.1:9443",
            "--speed",
            "max",
            "--wait-for-client",
            "--exit-at-end",
            "--timestamps",
            "original",
            "--tick-size",
            "0.01",
            "--step-size",
            "0.001",
            "--min-notional",
            "10",
            "--book-levels",
            "50",
            "--seed",
            "3",
            "--drop-depth",
            "0.1",
            "--disconnect-every",
            "2.5",
        ])
        .unwrap();
        assert_eq!(c.symbol, "POLUSDT");
        assert_eq!(c.from_us, Some(1_760_130_000_000_000));
        assert_eq!(c.to_us, Some(1_760_131_800_000_000));
        assert_eq!(c.speed, Speed::Max);
        assert_eq!(c.start, Start::OnFirstClient);
        assert!(c.exit_at_end);
        assert_eq!(c.time_base, TimeBase::Original);
        assert_eq!(
            (c.tick, c.step, c.min_notional),
            (SCALE / 100, SCALE / 1000, 10 * SCALE)
        );
        assert_eq!((c.book_levels, c.seed), (50, 3));
        assert_eq!(c.faults.drop_depth, 0.1);
        assert_eq!(c.faults.disconnect_every, Some(Duration::from_millis(2500)));
    }

    #[test]
    fn new_faults_and_schedule() {
        let c = parse(&[
            "--reorder",
            "0.05",
            "--reorder-window",
            "4",
            "--latency-ms",
            "600",
            "--refuse-reconnects",
            "1.5",
            "--stale-snapshot",
            "0.5",
            "--disconnect-at",
            "3,9",
            "--stall-at",
            "5:2",
            "--refuse-at",
            "7:1",
        ])
        .unwrap();
        assert_eq!((c.faults.reorder, c.faults.reorder_window), (0.05, 4));
        assert_eq!(c.faults.latency, Duration::from_millis(600));
        assert_eq!(
            c.faults.refuse_reconnects,
            Some(Duration::from_millis(1500))
        );
        assert_eq!(c.faults.stale_snapshot, 0.5);
        let kinds: Vec<TimedFault> = c.schedule.iter().map(|s| s.fault).collect();
        assert_eq!(
            kinds,
            [
                TimedFault::Disconnect,
                TimedFault::Disconnect,
                TimedFault::Stall(Duration::from_secs(2)),
                TimedFault::Refuse(Duration::from_secs(1)),
            ]
        );
    }

    #[test]
    fn refuses_bad_values() {
        for bad in [
            &["--speed", "0"][..],
            &["--speed", "NaN"],
            &["--timestamps", "utc"],
            &["--tick-size", "0"],
            &["--tick-size=-0.1"],
            &["--speed=-2"],
            &["--step-size", "abc"],
            &["--min-notional", "inf"],
            &["--book-levels", "0"],
            &["--from", "yesterday"],
            &[
                "--from",
                "2025-10-10T21:30:00Z",
                "--to",
                "2025-10-10T21:00:00Z",
            ],
            &["--drop-depth", "1.5"],
            &["--disconnect-every", "0"],
            &["--format", "parquet"],
            &["--reorder=-0.1"],
            &["--latency-ms", "NaN"],
            &["--stall-at", "5"],
            &["--refuse-at", "x:1"],
            &["--disconnect-at=-3"],
            &["--scenario", "/nonexistent.toml"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
