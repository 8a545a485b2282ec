//! `engine --config PATH`: the Rust process of flashcrash. It keeps the venue's L2 book, publishes
//! market data, serves order commands (paper mode) and answers on the responses channel.

mod core;
mod venue;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use common::config::{self, Config, ExecutionMode};
use data_bridge::{commands, publisher, responses};
use execution_engine::paper::{Fees, FillRule};
use execution_engine::{Limits, PaperExecutor};
use feed_handler::{FeedOutputs, FeedState, FeedTask, SharedBook};
use tokio::sync::{mpsc, watch};
use tracing::{error, info};

/// Command-line arguments.
#[derive(Parser, Debug)]
#[command(
    name = "engine",
    about = "flashcrash engine: feed, book, execution, ZeroMQ bridge"
)]
struct Args {
    /// Configuration file; `local.toml` beside it is layered on top.
    #[arg(long, default_value = "config/config.toml")]
    config: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let cfg = match config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    common::logging::init(
        &cfg.monitoring.log_level,
        cfg.monitoring.log_format == "json",
    );
    if cfg.execution.mode == ExecutionMode::Real {
        eprintln!(
            "config error: [execution] mode = \"real\": the real Binance executor is not built yet; use \"paper\""
        );
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("engine: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e:#}");
            eprintln!("engine: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Turns SIGINT/SIGTERM into `true` on the returned channel.
fn signals() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        info!("signal received");
        let _ = tx.send(true);
    });
    rx
}

async fn run(cfg: Config) -> anyhow::Result<()> {
    use anyhow::Context;

    let mut signal = signals();
    let symbol = cfg.symbol.name.clone();
    info!(%symbol, mode = ?cfg.execution.mode, ws = %cfg.feed.ws_url, rest = %cfg.feed.rest_url, "engine starting");

    let data_socket = publisher::bind(&cfg.zmq.data_endpoint)
        .await
        .with_context(|| format!("[zmq] data_endpoint {}: cannot bind", cfg.zmq.data_endpoint))?;
    let command_socket = commands::bind(&cfg.zmq.command_endpoint)
        .await
        .with_context(|| {
            format!(
                "[zmq] command_endpoint {}: cannot bind",
                cfg.zmq.command_endpoint
            )
        })?;
    let response_socket = responses::bind(&cfg.zmq.response_endpoint)
        .await
        .with_context(|| {
            format!(
                "[zmq] response_endpoint {}: cannot bind",
                cfg.zmq.response_endpoint
            )
        })?;

    let Some(filters) = venue::fetch_filters(&cfg.feed.rest_url, &symbol, &mut signal).await else {
        info!("stopped before the venue answered");
        return Ok(());
    };
    info!(tick = %filters.tick_size, step = %filters.step_size, min_notional = %filters.min_notional, "symbol filters");

    let book = SharedBook::default();
    let (data_tx, data_rx) = mpsc::channel(65_536);
    let (trades_tx, trades_rx) = mpsc::channel(65_536);
    let (cmd_tx, cmd_rx) = mpsc::channel(1_024);
    let (resp_tx, resp_rx) = mpsc::channel(65_536);
    let (stop_tx, stop_rx) = watch::channel(false);

    let book_feed = publisher::BookFeed {
        book: book.clone(),
        symbol: symbol.clone(),
        levels: cfg.feed.publish_levels,
        max_hz: cfg.feed.max_publish_hz,
    };
    let health = Duration::from_millis(cfg.monitoring.health_interval_ms);
    let (feed_state_tx, feed_state_rx) = watch::channel(FeedState::Stopped);
    let outputs = FeedOutputs {
        data: data_tx.clone(),
        trades: trades_tx,
        book: book.clone(),
        state: feed_state_tx,
    };
    let feed = tokio::spawn(
        FeedTask::new(cfg.feed.clone(), &symbol, health, outputs).run(stop_rx.clone()),
    );
    let data_pub = tokio::spawn(publisher::run(data_socket, data_rx, book_feed.clone()));
    let resp_pub = tokio::spawn(responses::run(response_socket, resp_rx));
    let cmd_recv = tokio::spawn(commands::run(
        command_socket,
        cmd_tx,
        resp_tx.clone(),
        stop_rx.clone(),
    ));

    let executor = PaperExecutor::new(
        filters,
        Limits {
            max_order_notional: cfg.risk.max_order_notional,
            max_open_orders: cfg.risk.max_open_orders,
        },
        Fees {
            maker: cfg.fees.maker_rate,
            taker: cfg.fees.taker_rate,
        },
        FillRule::TradeThrough,
    );
    let core = core::Core {
        executor,
        feed: book_feed,
        commands: cmd_rx,
        trades: trades_rx,
        responses: resp_tx,
        data: data_tx,
        feed_state: feed_state_rx,
        halts: core::Halts::default(),
        position: Default::default(),
    };
    let exit = core.run(signal).await;
    info!(?exit, "stopping tasks");

    // Stop the feed first so it publishes its last state, then the sockets.
    let _ = stop_tx.send(true);
    let grace = Duration::from_secs(3);
    let _ = tokio::time::timeout(grace, feed).await;
    let malformed = tokio::time::timeout(grace, cmd_recv)
        .await
        .ok()
        .and_then(|r| r.ok())
        .unwrap_or(0);
    let stats = tokio::time::timeout(grace, data_pub)
        .await
        .ok()
        .and_then(|r| r.ok());
    let responses = tokio::time::timeout(grace, resp_pub)
        .await
        .ok()
        .and_then(|r| r.ok());
    info!(
        ?stats,
        ?responses,
        malformed_commands = malformed,
        "engine stopped"
    );
    Ok(())
}
