//! Starting a venue from a [`SimConfig`]: load and validate the data, build the source and the
//! replay, bind the listener and serve. Used by the binary and, in-process, by the tests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tracing::info;

use crate::binance_csv;
use crate::capture::CaptureSource;
use crate::config::{DataFormat, SimConfig};
use crate::error::{LoadError, StartError};
use crate::exchange_info::SymbolSpec;
use crate::model::ModelParams;
use crate::replay::{Replay, ReplaySummary};
use crate::server;
use crate::source::EventSource;
use crate::synthetic::SyntheticSource;
use crate::trades_csv;
use crate::venue::{Venue, VenueOptions, INITIAL_UPDATE_ID};

/// A venue that is listening and replaying.
pub struct RunningVenue {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its shared state (book, history, counters).
    pub venue: Arc<Venue>,
    /// The replay; resolves with its summary when the replay ends.
    pub replay: JoinHandle<ReplaySummary>,
    server: JoinHandle<()>,
}

impl RunningVenue {
    /// Closes every WebSocket (market data and user data streams) with a close frame, waits up to
    /// `grace` for the clients to go, then stops serving and the replay.
    pub async fn shutdown(self, grace: Duration) {
        self.venue.close_all();
        let venue = Arc::clone(&self.venue);
        let _ = tokio::time::timeout(grace, async move {
            while venue.open_connections() > 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        self.server.abort();
        self.replay.abort();
    }
}

/// Loads the data, binds `cfg.listen` and starts serving and replaying.
///
/// # Errors
/// [`StartError`] when the symbol, the data or the address is unusable.
pub async fn launch(cfg: &SimConfig) -> Result<RunningVenue, StartError> {
    let spec = SymbolSpec::new_checked(&cfg.symbol, cfg.tick, cfg.step, cfg.min_notional)?;
    let for_loader = cfg.clone();
    let source = tokio::task::spawn_blocking(move || load_source(&for_loader))
        .await
        .map_err(|e| LoadError::Open {
            path: cfg.data.clone(),
            source: std::io::Error::other(e),
        })??;
    let opts = VenueOptions {
        time_base: cfg.time_base,
        queue_capacity: cfg.queue_capacity,
        keepalive: cfg.keepalive,
        history: cfg.history,
        faults: cfg.faults,
        seed: cfg.seed,
        trading: cfg.trading.clone(),
        ..VenueOptions::new(spec)
    };
    let replay = Replay::new(opts, source, cfg.speed);
    let venue = Arc::clone(replay.venue());
    let listener = tokio::net::TcpListener::bind(&cfg.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: cfg.listen.clone(),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: cfg.listen.clone(),
        source,
    })?;
    let app = server::router(Arc::clone(&venue));
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).tcp_nodelay(true).await {
            tracing::error!(error = %e, "server stopped");
        }
    });
    tokio::spawn(crate::faults::run_schedule(
        Arc::clone(&venue),
        cfg.schedule.clone(),
    ));
    let replay = tokio::spawn(replay.run(cfg.start));
    Ok(RunningVenue {
        addr,
        venue,
        replay,
        server,
    })
}

/// Reads and validates the data file into an event source (blocking).
///
/// # Errors
/// [`LoadError`] when the file cannot be opened or holds nothing to replay.
pub fn load_source(cfg: &SimConfig) -> Result<Box<dyn EventSource>, LoadError> {
    let (path, symbol) = (cfg.data.as_path(), cfg.symbol.as_str());
    if cfg.format == DataFormat::Capture {
        let src = CaptureSource::load(path, symbol, cfg.from_us, cfg.to_us)?;
        info!(stats = ?src.stats, events = %src.describe(), "capture loaded");
        return Ok(Box::new(src));
    }
    let tape = match cfg.format {
        DataFormat::BinanceTrades => binance_csv::load(path, symbol, cfg.from_us, cfg.to_us)?,
        _ => trades_csv::load(path, symbol, cfg.from_us, cfg.to_us)?,
    };
    if tape.trades.is_empty() {
        return Err(LoadError::Empty {
            path: cfg.data.clone(),
            symbol: cfg.symbol.clone(),
            bad_rows: tape.stats.bad_rows,
        });
    }
    let params = ModelParams {
        tick: cfg.tick,
        step: cfg.step,
        levels: cfg.book_levels,
        seed: cfg.seed,
    };
    info!(
        trades = tape.trades.len(),
        bad_rows = tape.stats.bad_rows,
        other_symbol = tape.stats.other_symbol,
        outside_window = tape.stats.outside_window,
        truncated = tape.stats.truncated,
        "trades loaded"
    );
    Ok(Box::new(
        SyntheticSource::new(tape.trades, params, INITIAL_UPDATE_ID).with_data_gap(cfg.data_gap_us),
    ))
}
