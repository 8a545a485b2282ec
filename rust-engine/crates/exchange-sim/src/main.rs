//! `exchange-sim`: a Binance-compatible venue on loopback replaying recorded real market data.
//! Prints `exchange-sim listening on HOST:PORT` on stdout once bound, and `exchange-sim replay
//! finished: trades=N depth_updates=M last_update_id=X` when the replay ends; logs go to stderr.
//! SIGINT and SIGTERM exit 0 after closing the WebSockets.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use exchange_sim::cli::Args;
use exchange_sim::config::SimConfig;
use exchange_sim::error::StartError;
use exchange_sim::launch::launch;
use tracing::{error, info, warn};

/// Time between the end of the replay and the exit with `--exit-at-end`.
const LINGER: Duration = Duration::from_secs(1);
/// How long clients get to answer our close frame.
const CLOSE_GRACE: Duration = Duration::from_millis(500);

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cfg = match Args::parse().into_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("exchange-sim: {e}");
            return ExitCode::from(2);
        }
    };
    match run(cfg).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("exchange-sim: {e}");
            ExitCode::from(1)
        }
    }
}

/// Prints one line on stdout and flushes it (stdout carries only these lines).
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

async fn run(cfg: SimConfig) -> Result<(), StartError> {
    let mut running = launch(&cfg).await?;
    say(&format!("exchange-sim listening on {}", running.addr));
    let signal = shutdown_signal();
    tokio::pin!(signal);
    let finished = tokio::select! {
        r = &mut running.replay => Some(r),
        () = &mut signal => None,
    };
    if let Some(result) = finished {
        match result {
            Ok(summary) => say(&format!("exchange-sim replay finished: {summary}")),
            Err(e) => error!(error = %e, "the replay task failed"),
        }
        if cfg.exit_at_end {
            tokio::select! {
                () = tokio::time::sleep(LINGER) => info!("replay over: exiting"),
                () = &mut signal => {}
            }
        } else {
            info!("replay over: serving the final book until SIGINT/SIGTERM");
            signal.await;
        }
    }
    running.shutdown(CLOSE_GRACE).await;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            warn!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => info!("SIGINT: exiting"),
        () = term => info!("SIGTERM: exiting"),
    }
}
