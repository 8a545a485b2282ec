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
use tracing::{error, info};

/// Time between the end of the replay and the exit with `--exit-at-end`.
const LINGER: Duration = Duration::from_secs(1);
/// The longest wait at exit for every connection to have sent its close frame and had its answer
/// (each waits [`exchange_sim::connection::CLOSE_GRACE`] for the client's): the wait ends as soon as
/// the last connection is gone; the headroom is for a loaded host, where the connections' tasks may
/// run late (CI once saw a connection cut before its close frame went out).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

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
    // Listening for the signals before saying so: a test that signals as soon as it reads the line
    // must get a clean exit, not the default action (killed by the signal).
    let mut signals = ShutdownSignals::new()?;
    say(&format!("exchange-sim listening on {}", running.addr));
    let signal = signals.recv();
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
    running.shutdown(SHUTDOWN_GRACE).await;
    Ok(())
}

/// SIGINT and SIGTERM, listened for from `new` on (tokio registers `ctrl_c()` only when first
/// polled, so a signal arriving before that would kill the process).
struct ShutdownSignals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn new() -> Result<Self, StartError> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let listen = |kind: SignalKind, name: &'static str| {
                signal(kind).map_err(|e| StartError::Signal(name, e))
            };
            Ok(Self {
                int: listen(SignalKind::interrupt(), "SIGINT")?,
                term: listen(SignalKind::terminate(), "SIGTERM")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// Resolves on SIGINT or SIGTERM.
    async fn recv(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.int.recv() => info!("SIGINT: exiting"),
            _ = self.term.recv() => info!("SIGTERM: exiting"),
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_ok() {
            info!("SIGINT: exiting");
        }
    }
}
