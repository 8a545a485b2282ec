//! `engine --config PATH [--confirm-real]`: the Rust process of flashcrash. It keeps the venue's
//! L2 book, publishes market data, serves order commands (paper, or real against the venue's signed
//! API) and answers on the responses channel.

mod core;
mod executor;
mod flatten;
mod metrics;
mod position_file;
mod reload;
mod venue;
mod watchdog;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use common::config::{Config, ExecutionMode};
use data_bridge::{commands, publisher, responses};
use execution_engine::rate_limit::RateLimiter;
use execution_engine::real::{
    Credentials, ExecutorConfig, RealExecutor, RestClient, RestConfig, StreamStats, UserStream,
    UserStreamConfig, API_KEY_VAR, API_SECRET_VAR,
};
use execution_engine::signing::RecvWindow;
use execution_engine::{Limits, PaperExecutor};
use feed_handler::rest::IpPause;
use feed_handler::{FeedOutputs, FeedState, FeedTask, SharedBook};
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use crate::executor::Executor;
use crate::metrics::EngineMetrics;
use crate::position_file::{BackgroundSave, Held, PositionFile, PositionStore, Restored};

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
    /// Confirms `[execution] mode = "real"`: orders go to the venue (same as `confirm_real = true`).
    #[arg(long)]
    confirm_real: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let loaded = match reload::Loaded::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let cfg = loaded.config.clone();
    let log = common::logging::init(
        &cfg.monitoring.log_level,
        cfg.monitoring.log_format == "json",
    );
    // The metrics port is bound before anything starts: a port in use is a config error.
    let metrics_listener = match cfg.monitoring.engine_metrics_port {
        0 => None,
        port => match std::net::TcpListener::bind(("127.0.0.1", port)) {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!(
                    "config error: [monitoring] engine_metrics_port = {port}: cannot listen on 127.0.0.1:{port}: {e}"
                );
                return ExitCode::from(2);
            }
        },
    };
    if cfg.execution.mode == ExecutionMode::Real {
        if let Err(refusal) = check_real_mode(&cfg, args.confirm_real) {
            eprintln!("{refusal}");
            return ExitCode::from(2);
        }
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
    let started = Started {
        loaded,
        log,
        metrics_listener,
    };
    match runtime.block_on(run(cfg, started)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e:#}");
            eprintln!("engine: {e:#}");
            // A config the venue refuses is a config error, as one the schema refuses.
            if venue::refuses_config(&e) {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Real mode starts only with the keys in the environment and an explicit confirmation. Prints
/// what it will trade and its limits (never a key or a secret); the error says what is missing.
fn check_real_mode(cfg: &Config, confirmed_by_flag: bool) -> Result<(), String> {
    let e = &cfg.execution;
    eprintln!(
        "REAL MODE: orders go to {} (user data stream {}/ws-api/v3)\n  symbol {}, order quantity {}, max order notional {}, max open orders {}, recvWindow {} ms\n  keys from the environment: {API_KEY_VAR}, {API_SECRET_VAR} (never logged)",
        e.rest_url,
        e.ws_api_url.trim_end_matches('/'),
        cfg.symbol.name,
        cfg.symbol.order_quantity,
        cfg.risk.max_order_notional,
        cfg.risk.max_open_orders,
        e.recv_window_ms,
    );
    Credentials::from_env().map_err(|err| format!("real mode refused: {err}"))?;
    if !(confirmed_by_flag || e.confirm_real) {
        return Err(
            "real mode refused: not confirmed; pass --confirm-real or set [execution] confirm_real = true"
                .into(),
        );
    }
    Ok(())
}

/// The feed task and the data publisher run on an OS thread of their own, on a single-threaded
/// runtime: the publisher wakes on the feed's book change without a wake-up across threads, and
/// neither waits behind the executor, the command channel or the watchdog on the shared runtime.
struct FeedThread {
    handle: tokio::runtime::Handle,
    release: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl FeedThread {
    fn start() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("feed".into())
            .spawn(move || {
                // Runs the spawned tasks until released (or the engine's side is dropped).
                runtime.block_on(async move {
                    let _ = released.await;
                });
            })?;
        Ok(FeedThread {
            handle,
            release,
            thread,
        })
    }

    fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(task)
    }

    /// Ends the thread (tasks still running there are dropped) and waits for it.
    async fn stop(self) {
        let _ = self.release.send(());
        let thread = self.thread;
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
}

/// Turns SIGINT/SIGTERM into `true` on the returned channel. The handlers are installed here, before
/// the task runs (tokio's `ctrl_c()` would install its own only when first polled, and a signal
/// arriving before that would kill the process instead of stopping it cleanly).
fn signals() -> anyhow::Result<watch::Receiver<bool>> {
    let (tx, rx) = watch::channel(false);
    #[cfg(unix)]
    {
        use anyhow::Context;
        use tokio::signal::unix::{signal, SignalKind};
        let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
        let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        tokio::spawn(async move {
            tokio::select! {
                _ = int.recv() => info!("SIGINT received"),
                _ = term.recv() => info!("SIGTERM received"),
            }
            let _ = tx.send(true);
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        info!("signal received");
        let _ = tx.send(true);
    });
    Ok(rx)
}

/// The real executor: signed REST client (rate limits from `exchangeInfo`, clock synced with the
/// venue), its worker, and the user data stream (which reconciles open orders on every connect).
async fn start_real(
    cfg: &Config,
    venue: venue::VenueInfo,
    limits: Limits,
    book: SharedBook,
    results: mpsc::UnboundedSender<common::message::Response>,
    banned: watch::Sender<Option<String>>,
    ip_pause: Arc<IpPause>,
) -> anyhow::Result<executor::Real> {
    let mut rest = RestConfig::new(cfg.execution.rest_url.clone());
    rest.recv_window = RecvWindow::new(cfg.execution.recv_window_ms)?;
    let client = RestClient::from_env(rest, RateLimiter::new(&[], 0))?.with_ip_pause(ip_pause);
    match client.sync_clock().await {
        Ok(offset) => info!(offset_ms = offset, "venue clock synced"),
        Err(e) => warn!(error = %e, "venue clock not synced yet; retried before the first order"),
    }
    // The limits count in the venue's windows: set them once its clock is known.
    client.set_rate_limits(&venue.rate_limits);
    let executor = Arc::new(
        RealExecutor::new(Arc::new(client), ExecutorConfig::new(venue.filters, limits))
            .with_book(book),
    );
    let stream = UserStream::spawn(
        Arc::clone(&executor),
        UserStreamConfig::new(cfg.execution.ws_api_url.clone()),
        results.clone(),
    );
    info!(rest = %cfg.execution.rest_url, ws_api = %cfg.execution.ws_api_url, rate_limits = venue.rate_limits.len(), "real executor ready");
    Ok(executor::Real::start(
        executor,
        stream,
        results,
        banned,
        Duration::from_millis(cfg.risk.max_entry_delay_ms),
        Duration::from_secs(cfg.execution.reconcile_secs),
    ))
}

/// What `main` prepared before the runtime: the configuration's file and table (for
/// `ReloadConfig`), the log level handle, the metrics listener.
struct Started {
    loaded: reload::Loaded,
    log: Option<common::logging::LevelHandle>,
    metrics_listener: Option<std::net::TcpListener>,
}

/// Sets the venue's rate-limit usage, breaker state and user data stream gauges every second
/// (real mode).
async fn poll_client_metrics(
    client: Arc<RestClient>,
    stream: Option<Arc<StreamStats>>,
    mut stop: watch::Receiver<bool>,
) {
    let metrics = metrics::EngineMetrics::global();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        metrics.set_rate_limits(&client.rate_limit_usage());
        metrics.set_breaker(client.breaker_state());
        if let Some(stats) = &stream {
            metrics.set_user_stream(stats);
        }
    }
}

async fn run(cfg: Config, started: Started) -> anyhow::Result<()> {
    use anyhow::Context;

    if let Some(listener) = started.metrics_listener {
        listener
            .set_nonblocking(true)
            .context("[monitoring] engine_metrics_port")?;
        let listener = tokio::net::TcpListener::from_std(listener)
            .context("[monitoring] engine_metrics_port")?;
        tokio::spawn(metrics::serve(listener));
    }

    let mut signal = signals()?;
    let symbol = cfg.symbol.name.clone();
    info!(%symbol, mode = ?cfg.execution.mode, ws = %cfg.feed.ws_url, rest = %cfg.feed.rest_url, "engine starting");
    // The net position the engine held when it stopped, and in paper mode its paper account (a
    // damaged file stops it here, before the ZeroMQ sockets are bound or the venue is reached).
    let dir = &cfg.persistence.engine_position_dir;
    let file = match cfg.execution.mode {
        ExecutionMode::Real => PositionFile::new(dir, &symbol, &cfg.execution.rest_url),
        ExecutionMode::Paper => PositionFile::paper(dir, &symbol, &cfg.feed.rest_url),
    };
    let (held, paper_account, halt) = match file.load()? {
        Some(Restored { held, paper, halt }) => {
            info!(position = %held.position, paper_orders = paper.as_ref().map_or(0, |a| a.orders.len()), halt = ?halt, flatten_orders = held.flattens.len(), path = %file.path().display(), "net position restored");
            (held, paper, halt)
        }
        None => {
            info!(path = %file.path().display(), "no net position file: starting from no position");
            (Held::default(), None, None)
        }
    };
    let position_file = Some(match cfg.execution.mode {
        ExecutionMode::Real => PositionStore::Now(file),
        ExecutionMode::Paper => PositionStore::Background(
            BackgroundSave::start(file.unsynced(), |e| {
                EngineMetrics::global().position_file_errors.inc();
                error!(error = %e, "paper account not saved");
            })
            .context("cannot start the position file's writer")?,
        ),
    });

    let send_buffer_bytes = usize::try_from(cfg.zmq.data_send_buffer_kib * 1024)
        .context("[zmq] data_send_buffer_kib: too large for this machine")?;
    let data_socket = publisher::bind(&cfg.zmq.data_endpoint, send_buffer_bytes)
        .await
        .with_context(|| format!("[zmq] data_endpoint {}: cannot bind", cfg.zmq.data_endpoint))?;
    info!(endpoint = %cfg.zmq.data_endpoint, send_buffer_kib = cfg.zmq.data_send_buffer_kib, "data PUB bound: a subscriber's messages are dropped once this much waits for it ([zmq] data_send_buffer_kib)");
    let response_socket = responses::bind(&cfg.zmq.response_endpoint)
        .await
        .with_context(|| {
            format!(
                "[zmq] response_endpoint {}: cannot bind",
                cfg.zmq.response_endpoint
            )
        })?;

    let info_url = match cfg.execution.mode {
        ExecutionMode::Paper => &cfg.feed.rest_url,
        ExecutionMode::Real => &cfg.execution.rest_url,
    };
    let http = venue::rest_client().context("cannot build the HTTP client for the venue")?;
    // A symbol the venue does not list stops the engine here (exit code 2, as a grid it refuses).
    let Some(venue) = venue::fetch_info(&http, info_url, &symbol, &mut signal).await? else {
        info!("stopped before the venue answered");
        return Ok(());
    };
    let filters = venue.filters.clone();
    info!(tick = %filters.tick_size, step = %filters.step_size, min_notional = %filters.min_notional, "symbol filters");
    venue::check_grid(&cfg.symbol, cfg.strategy.price_tick, &filters)?;

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
    let (feed_cfg_tx, feed_cfg_rx) = watch::channel(cfg.feed.clone());
    // The venue's REST limits count per IP: a 429 or 418 answered to the feed or the executor
    // pauses both, when both go to the same venue.
    let ip_pause = Arc::new(IpPause::default());
    let executor_pause = if feed_handler::rest::same_limits(
        &cfg.feed.rest_url,
        &cfg.execution.rest_url,
    ) {
        Arc::clone(&ip_pause)
    } else {
        info!(feed = %cfg.feed.rest_url, execution = %cfg.execution.rest_url, "feed and executor use different venues: their REST pauses are their own");
        Arc::new(IpPause::default())
    };
    let wait = Duration::from_millis(cfg.zmq.subscriber_wait_ms);
    if !wait.is_zero() {
        info!(symbol = %symbol, wait_ms = cfg.zmq.subscriber_wait_ms, "waiting for a subscriber of the trades before opening the feed");
        tokio::select! {
            joined = publisher::wait_for_subscriber(&data_socket, &symbol, wait) => match joined {
                Some(after) => info!(after_ms = after.as_millis(), "a subscriber of the trades joined: opening the feed"),
                None => warn!(wait_ms = cfg.zmq.subscriber_wait_ms, "no subscriber of the trades joined: opening the feed; what it publishes before one joins is not received ([zmq] subscriber_wait_ms)"),
            },
            _ = signal.wait_for(|stop| *stop) => {
                info!("stopped while waiting for a subscriber");
                return Ok(());
            }
        }
    }
    let feed_thread = FeedThread::start().context("cannot start the feed thread")?;
    let feed = feed_thread.spawn(
        FeedTask::new(cfg.feed.clone(), &symbol, health, outputs)
            .with_ip_pause(Arc::clone(&ip_pause))
            .with_updates(feed_cfg_rx)
            .run(stop_rx.clone()),
    );
    let data_pub = feed_thread.spawn(publisher::run(data_socket, data_rx, book_feed.clone()));
    let resp_pub = tokio::spawn(responses::run(response_socket, resp_rx));
    // Bound only now that it is read: a command sent while the engine waited for the venue or a
    // subscriber finds no engine (its sender is told so) instead of waiting, queued, to be acted on
    // seconds later (a halt or a resume its sender was told had no answer).
    let command_socket = commands::bind(&cfg.zmq.command_endpoint)
        .await
        .with_context(|| {
            format!(
                "[zmq] command_endpoint {}: cannot bind",
                cfg.zmq.command_endpoint
            )
        })?;
    let cmd_recv = tokio::spawn(commands::run(
        command_socket,
        cmd_tx,
        resp_tx.clone(),
        stop_rx.clone(),
    ));

    let (limits, fees, fill_rule) = core::executor_settings(&cfg);
    let (results_tx, results_rx) = mpsc::unbounded_channel();
    let (banned_tx, banned_rx) = watch::channel(None);
    let executor = match cfg.execution.mode {
        ExecutionMode::Paper => {
            let paper = PaperExecutor::new(filters, limits, fees, fill_rule)
                .with_quote_balance(cfg.backtest.initial_capital.0)
                .with_funds_checked();
            let paper = match paper_account {
                Some(account) => {
                    // The account restored keeps its own coins: [backtest] initial_capital starts a
                    // new one only.
                    info!(quote = %account.quote_total, base = %account.base_total, initial_capital = %cfg.backtest.initial_capital, "paper account restored (its own balances, not initial_capital)");
                    paper.restore(account).with_context(|| {
                        format!(
                            "paper account in {}: repair it, or delete it to start afresh",
                            cfg.persistence.engine_position_dir
                        )
                    })?
                }
                None => paper,
            };
            Executor::Paper(Box::new(paper))
        }
        ExecutionMode::Real => {
            let real = start_real(
                &cfg,
                venue,
                limits,
                book.clone(),
                results_tx,
                banned_tx,
                executor_pause,
            )
            .await
            .context("[execution] mode = \"real\"")?;
            Executor::Real(real)
        }
    };
    let (watchdog_cfg_tx, watchdog_cfg_rx) =
        watch::channel(watchdog::WatchdogConfig::from_config(&cfg));
    let (watchdog_tx, watchdog_rx) = mpsc::channel(16);
    let clock = match executor.client() {
        Some(client) => {
            tokio::spawn(poll_client_metrics(
                Arc::clone(&client),
                executor.stream_stats(),
                stop_rx.clone(),
            ));
            watchdog::VenueClock::Client(client)
        }
        None => watchdog::VenueClock::Http {
            http,
            rest_url: cfg.feed.rest_url.clone(),
            ip_pause: Arc::clone(&ip_pause),
        },
    };
    tokio::spawn(watchdog::run(
        watchdog_cfg_rx,
        clock,
        watchdog_tx,
        stop_rx.clone(),
    ));
    let core = core::Core {
        executor,
        results: results_rx,
        banned: banned_rx,
        flatten_on_halt: cfg.execution.flatten_on_halt,
        position_limits: core::PositionLimits::from_config(&cfg),
        feed: book_feed,
        commands: cmd_rx,
        trades: trades_rx,
        responses: resp_tx,
        data: data_tx,
        feed_state: feed_state_rx,
        // An emergency halt in force when the engine stopped holds until `Resume`.
        halts: core::Halts {
            emergency: halt,
            ..core::Halts::default()
        },
        held,
        position_file,
        watchdog: watchdog_rx,
        reload: core::Reloadable {
            loaded: started.loaded,
            feed: feed_cfg_tx,
            watchdog: watchdog_cfg_tx,
            log: started.log,
        },
        round_trips: Default::default(),
        pending_flatten: None,
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
    feed_thread.stop().await;
    info!(
        ?stats,
        ?responses,
        malformed_commands = malformed,
        "engine stopped"
    );
    Ok(())
}
