//! The command line (clap), turned into a validated [`SimConfig`].

use std::path::PathBuf;

use clap::Parser;

use crate::clock::{Speed, TimeBase};
use crate::config::SimConfig;
use crate::error::ConfigError;
use crate::matching::AccountSettings;
use crate::rate_limit::RateLimits;
use crate::replay::Start;
use crate::scenario::{scheduled_flag, FaultKind, FaultSettings, Scenario};
use crate::signing::{
    default_ed25519_key, ed25519_public_key_from_pem, DEFAULT_API_KEY, DEFAULT_API_SECRET,
    DEFAULT_ED25519_API_KEY,
};
use crate::time::parse_utc_us;
use crate::trading::TradingOptions;
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
    /// A silence of the trades longer than this many seconds is a recording gap, replayed as a
    /// venue outage once it has lasted this long (no book change from then until the trades
    /// resume; clients time out); 0: never.
    #[arg(long, default_value_t = 300)]
    pub data_gap_secs: u32,
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
    /// Fault: hold back this fraction (below 1) of frames behind up to --reorder-window later ones.
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
    /// Fault: send every market-data connection Binance's `serverShutdown` event at AT seconds
    /// after the replay starts, and close those still open GRACE seconds later (`AT[:GRACE]`,
    /// GRACE default 1, comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub server_shutdown_at: Vec<String>,
    /// API key of the account (else env SIM_API_KEY, else the documented test key).
    #[arg(long)]
    pub api_key: Option<String>,
    /// API secret of the account (else env SIM_API_SECRET, else the documented test secret).
    #[arg(long)]
    pub api_secret: Option<String>,
    /// API key of the account's Ed25519 key pair (WebSocket API `session.logon`, Ed25519-signed
    /// REST requests; else env SIM_ED25519_API_KEY, else the docs' Ed25519 example key
    /// 4yNzx3yW...R8WNO).
    #[arg(long)]
    pub ed25519_api_key: Option<String>,
    /// PEM file with the Ed25519 public key (-----BEGIN PUBLIC KEY-----; else env
    /// SIM_ED25519_PUBLIC_KEY, else the RFC 8032 TEST 1 public key d75a9801...07511a).
    #[arg(long, value_name = "PEM-PATH")]
    pub ed25519_public_key: Option<PathBuf>,
    /// Starting balances, e.g. "USDT=10000,POL=0" (default: 10000 of the quote asset).
    #[arg(long)]
    pub balances: Option<String>,
    /// Maker commission rate.
    #[arg(long, default_value = "0.001")]
    pub maker_fee: String,
    /// Taker commission rate.
    #[arg(long, default_value = "0.001")]
    pub taker_fee: String,
    /// REQUEST_WEIGHT limit per minute.
    #[arg(long, default_value_t = 6000)]
    pub weight_limit: u64,
    /// ORDERS limit per 10 seconds.
    #[arg(long, default_value_t = 50)]
    pub order_limit_10s: u64,
    /// ORDERS limit per day.
    #[arg(long, default_value_t = 160_000)]
    pub order_limit_1d: u64,
    /// IP ban (HTTP 418) at this many weighted requests sent while a weight 429's Retry-After still
    /// runs (0: never banned).
    #[arg(long, default_value_t = 3)]
    pub ban_after: u64,
    /// Length of the first ban, seconds; each later ban is twice the one before, at most 3 days.
    #[arg(long, default_value_t = 120)]
    pub ban_secs: u64,
    /// Order fault: this fraction of new orders is executed but never answered (client times out).
    #[arg(long)]
    pub order_timeout: Option<f64>,
    /// Order fault: this fraction of new orders is executed, then answered HTTP 500 / -1007.
    #[arg(long)]
    pub order_reject: Option<f64>,
    /// Order fault: delay every order request this many milliseconds.
    #[arg(long)]
    pub order_latency_ms: Option<f64>,
    /// User data stream fault: never send this fraction of its events, 0 to 1.
    #[arg(long)]
    pub drop_user_events: Option<f64>,
}

/// Parses `--balances`: `ASSET=AMOUNT` pairs separated by commas.
///
/// # Errors
/// [`ConfigError`] naming `--balances`.
pub fn parse_balances(text: &str) -> Result<Vec<(String, u64)>, ConfigError> {
    let bad = || {
        ConfigError::invalid(
            "balances",
            text,
            "expected ASSET=AMOUNT pairs separated by commas, e.g. USDT=10000,POL=0",
        )
    };
    text.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let (a, v) = pair.split_once('=').ok_or_else(bad)?;
            let a = a.trim().to_ascii_uppercase();
            if a.is_empty() || !a.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(bad());
            }
            Ok((a, parse_units(v.trim()).ok_or_else(bad)?))
        })
        .collect()
}

fn fee(flag: &'static str, text: &str) -> Result<u64, ConfigError> {
    parse_units(text)
        .filter(|&f| f <= crate::units::SCALE)
        .ok_or_else(|| ConfigError::invalid(flag, text, "expected a rate from 0 to 1, e.g. 0.001"))
}

fn key_or_env(
    flag: &'static str,
    given: Option<String>,
    env: &str,
    default: &str,
) -> Result<String, ConfigError> {
    let k = given
        .or_else(|| std::env::var(env).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| default.to_owned());
    if k.is_empty() || k.len() > 256 || !k.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ConfigError::invalid(
            flag,
            "<hidden>",
            "expected printable ASCII without spaces",
        ));
    }
    Ok(k)
}

/// The Ed25519 public key: the PEM file given, else the one named by `SIM_ED25519_PUBLIC_KEY`,
/// else the RFC 8032 TEST 1 key.
fn ed25519_public_key(given: Option<PathBuf>) -> Result<ed25519_dalek::VerifyingKey, ConfigError> {
    const FLAG: &str = "ed25519-public-key";
    let path = given.or_else(|| {
        std::env::var_os("SIM_ED25519_PUBLIC_KEY")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    let Some(path) = path else {
        return Ok(default_ed25519_key());
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|_| ConfigError::invalid(FLAG, path.display(), "cannot read the file"))?;
    ed25519_public_key_from_pem(&text).map_err(|_| {
        ConfigError::invalid(
            FLAG,
            path.display(),
            "expected an Ed25519 public key in PEM (-----BEGIN PUBLIC KEY-----)",
        )
    })
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
        // Checked whole when read: its errors name the file and the key.
        let file = self.scenario.as_deref().map(Scenario::load).transpose()?;
        let mut schedule = Vec::new();
        for (flag, kind, texts) in [
            ("disconnect-at", FaultKind::Disconnect, &self.disconnect_at),
            ("stall-at", FaultKind::Stall, &self.stall_at),
            ("refuse-at", FaultKind::Refuse, &self.refuse_at),
            (
                "server-shutdown-at",
                FaultKind::ServerShutdown,
                &self.server_shutdown_at,
            ),
        ] {
            for t in texts {
                schedule.push(scheduled_flag(flag, kind, t)?);
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
            order_timeout: self.order_timeout,
            order_reject: self.order_reject,
            order_latency_ms: self.order_latency_ms,
            drop_user_events: self.drop_user_events,
            schedule: Vec::new(),
        };
        let (faults, schedule, order_faults) = flags.resolve(schedule, file)?;
        let symbol = self.symbol.to_ascii_uppercase();
        let balances = match &self.balances {
            Some(b) => parse_balances(b)?,
            None => {
                let quote = crate::exchange_info::QUOTE_ASSETS
                    .into_iter()
                    .find(|q| symbol.len() > q.len() && symbol.ends_with(q))
                    .unwrap_or("USDT");
                vec![(quote.to_owned(), 10_000 * crate::units::SCALE)]
            }
        };
        for (flag, v) in [
            ("weight-limit", self.weight_limit),
            ("order-limit-10s", self.order_limit_10s),
            ("order-limit-1d", self.order_limit_1d),
            ("ban-secs", self.ban_secs),
        ] {
            if v == 0 {
                return Err(ConfigError::invalid(flag, v, "expected 1 or more"));
            }
        }
        let api_key = key_or_env("api-key", self.api_key, "SIM_API_KEY", DEFAULT_API_KEY)?;
        let ed25519_api_key = key_or_env(
            "ed25519-api-key",
            self.ed25519_api_key,
            "SIM_ED25519_API_KEY",
            DEFAULT_ED25519_API_KEY,
        )?;
        if ed25519_api_key == api_key {
            return Err(ConfigError::invalid(
                "ed25519-api-key",
                "<hidden>",
                "must differ from the HMAC API key (--api-key)",
            ));
        }
        let trading = TradingOptions {
            api_key,
            api_secret: key_or_env(
                "api-secret",
                self.api_secret,
                "SIM_API_SECRET",
                DEFAULT_API_SECRET,
            )?,
            ed25519_api_key,
            ed25519_public_key: ed25519_public_key(self.ed25519_public_key)?,
            account: AccountSettings {
                balances,
                maker_fee: fee("maker-fee", &self.maker_fee)?,
                taker_fee: fee("taker-fee", &self.taker_fee)?,
            },
            rate_limits: RateLimits {
                weight_per_minute: self.weight_limit,
                orders_per_10s: self.order_limit_10s,
                orders_per_day: self.order_limit_1d,
                ban_after: self.ban_after,
                ban_secs: self.ban_secs.min(crate::rate_limit::MAX_BAN_SECS),
            },
            faults: order_faults,
        };
        Ok(SimConfig {
            format: self.format.parse()?,
            symbol,
            trading,
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
            data_gap_us: i64::from(self.data_gap_secs) * 1_000_000,
            seed: self.seed,
            faults,
            schedule,
            ..SimConfig::new(self.data)
        })
    }
}

#[cfg(test)]
#[path = "cli_tests.rs"]
mod tests;
