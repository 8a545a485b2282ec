//! `exchange-sim`: serves a Binance-compatible venue on loopback replaying recorded trades.
//! Prints `exchange-sim listening on HOST:PORT` on stdout once bound, and
//! `exchange-sim replay finished: ...` when the replay ends; logs go to stderr.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use exchange_sim::book::{ModelParams, SCALE};
use exchange_sim::data::{self, units};
use exchange_sim::faults::Faults;
use exchange_sim::json::SymbolSpec;
use exchange_sim::replay::{Frame, Replay, Speed};
use exchange_sim::{server, time};
use tracing::{error, info, warn};

/// Command-line arguments.
#[derive(Parser, Debug)]
#[command(
    name = "exchange-sim",
    about = "Binance-compatible replay venue on loopback"
)]
struct Args {
    /// Trade file (Tardis-style CSV, gzip or plain).
    #[arg(long)]
    data: PathBuf,
    /// Symbol, upper case.
    #[arg(long, default_value = "POLUSDT")]
    symbol: String,
    /// First trade replayed (UTC), e.g. 2025-10-10T21:00:00Z.
    #[arg(long)]
    from: Option<String>,
    /// End of the replay (UTC, exclusive).
    #[arg(long)]
    to: Option<String>,
    /// Address to bind; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:9443")]
    listen: String,
    /// Replay speed: a factor (30 = thirty times real time) or `max`.
    #[arg(long, default_value = "1")]
    speed: Speed,
    /// Start the replay when the first market-data client connects.
    #[arg(long)]
    wait_for_client: bool,
    /// Exit about a second after the replay ends.
    #[arg(long)]
    exit_at_end: bool,
    /// `rebased`: event times shifted so the replay starts now; `original`: recorded times.
    #[arg(long, default_value = "rebased", value_parser = ["rebased", "original"])]
    timestamps: String,
    /// Tick size of the symbol.
    #[arg(long, default_value = "0.0001")]
    tick_size: String,
    /// Step size of the symbol.
    #[arg(long, default_value = "0.1")]
    step_size: String,
    /// Minimum notional.
    #[arg(long, default_value = "5")]
    min_notional: String,
    /// Levels per side of the synthetic book.
    #[arg(long, default_value_t = 100)]
    book_levels: usize,
    /// Seed of the book's noise and of the fault draws.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Fault: drop this fraction of depth events (gaps), 0 to 1.
    #[arg(long, default_value_t = 0.0)]
    drop_depth: f64,
    /// Fault: send this fraction of frames twice.
    #[arg(long, default_value_t = 0.0)]
    duplicate: f64,
    /// Fault: break the JSON of this fraction of frames.
    #[arg(long, default_value_t = 0.0)]
    malformed: f64,
    /// Fault: give this fraction of trades a NaN or negative price.
    #[arg(long, default_value_t = 0.0)]
    bad_price: f64,
    /// Fault: close every connection after this many seconds.
    #[arg(long)]
    disconnect_every: Option<f64>,
}

fn fraction(name: &str, v: f64) -> Result<f64, String> {
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("--{name} {v}: expected a fraction from 0 to 1"))
    }
}

fn positive_units(name: &str, v: &str) -> Result<u64, String> {
    units(v)
        .filter(|&u| u > 0)
        .ok_or_else(|| format!("--{name} {v:?}: expected a positive decimal"))
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e:#}");
            eprintln!("exchange-sim: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let tick = positive_units("tick-size", &args.tick_size).map_err(anyhow::Error::msg)?;
    let step = positive_units("step-size", &args.step_size).map_err(anyhow::Error::msg)?;
    let min_notional =
        positive_units("min-notional", &args.min_notional).map_err(anyhow::Error::msg)?;
    let from = args
        .from
        .as_deref()
        .map(time::parse_utc_us)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let to = args
        .to
        .as_deref()
        .map(time::parse_utc_us)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let loaded = data::load(&args.data, &args.symbol, from, to)
        .map_err(|e| anyhow::anyhow!("--data {}: {e}", args.data.display()))?;
    if loaded.trades.is_empty() {
        anyhow::bail!(
            "--data {}: no {} trades in the chosen window",
            args.data.display(),
            args.symbol
        );
    }
    if loaded.bad_rows > 0 {
        warn!(bad_rows = loaded.bad_rows, "rows skipped while loading");
    }
    let mut sizes: Vec<u64> = loaded.trades.iter().map(|t| t.qty).collect();
    let mid = sizes.len() / 2;
    let median = *sizes.select_nth_unstable(mid).1;
    let params = ModelParams {
        tick,
        step,
        levels: args.book_levels.max(1),
        base_qty: median.saturating_mul(5).max(step),
        seed: args.seed,
    };
    info!(
        trades = loaded.trades.len(),
        median_qty = median as f64 / SCALE as f64,
        "data loaded"
    );

    let spec = SymbolSpec::new(&args.symbol, tick, step, min_notional);
    let replay = Replay::new(
        spec,
        loaded.trades,
        params,
        args.speed,
        args.timestamps == "rebased",
    );
    let faults = Faults {
        drop_depth: fraction("drop-depth", args.drop_depth).map_err(anyhow::Error::msg)?,
        duplicate: fraction("duplicate", args.duplicate).map_err(anyhow::Error::msg)?,
        malformed: fraction("malformed", args.malformed).map_err(anyhow::Error::msg)?,
        bad_price: fraction("bad-price", args.bad_price).map_err(anyhow::Error::msg)?,
        disconnect_every: match args.disconnect_every {
            Some(s) if s.is_finite() && s > 0.0 => Some(Duration::from_secs_f64(s)),
            Some(s) => {
                anyhow::bail!("--disconnect-every {s}: expected a positive number of seconds")
            }
            None => None,
        },
    };
    if faults.any() {
        warn!(?faults, "fault injection on");
    }
    let shared = Arc::clone(&replay.shared);
    *shared.faults.write().unwrap_or_else(|e| e.into_inner()) = faults;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| anyhow::anyhow!("--listen {}: {e}", args.listen))?;
    let addr = listener.local_addr()?;
    println!("exchange-sim listening on {addr}");
    std::io::stdout().flush()?;

    let (done_tx, mut done_rx) = tokio::sync::watch::channel(false);
    let exit_at_end = args.exit_at_end;
    let wait = args.wait_for_client;
    let ender = Arc::clone(&shared);
    tokio::spawn(async move {
        let (trades, depth, last) = replay.run(wait).await;
        println!("exchange-sim replay finished: trades={trades} depth_updates={depth} last_update_id={last}");
        let _ = std::io::stdout().flush();
        if exit_at_end {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let _ = ender.events.send(Arc::new(Frame::End));
            tokio::time::sleep(Duration::from_millis(200)).await;
            let _ = done_tx.send(true);
        }
    });
    let shutdown = async move {
        #[cfg(unix)]
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        #[cfg(unix)]
        let terminated = term.recv();
        #[cfg(not(unix))]
        let terminated = std::future::pending::<Option<()>>();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => info!("interrupted"),
            _ = terminated => info!("terminated"),
            _ = done_rx.wait_for(|d| *d) => info!("replay over, exiting"),
        }
    };
    axum::serve(listener, server::router(shared))
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
