//! Logging set-up for the binaries: `tracing` to stderr, text for people (colours on a terminal) or
//! one JSON object per line (the event's fields at the top level, e.g. `command_id` and
//! `client_order_id` on every order event), with a level that a config reload can change.

use tracing_subscriber::{fmt, layer::SubscriberExt, reload, util::SubscriberInitExt, EnvFilter};

/// Changes the log level of the running process (see [`set_level`]).
pub type LevelHandle = reload::Handle<EnvFilter, tracing_subscriber::Registry>;

/// Installs the global subscriber. `RUST_LOG`, when set, overrides `level` at start. Returns the
/// handle that changes the level later, or `None` when a subscriber was already installed (tests).
pub fn init(level: &str, json: bool) -> Option<LevelHandle> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let (filter, handle) = reload::Layer::new(filter);
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let layer = fmt::layer().with_writer(std::io::stderr).with_ansi(ansi);
    let registry = tracing_subscriber::registry().with(filter);
    let installed = if json {
        registry
            .with(layer.json().flatten_event(true).with_current_span(false))
            .try_init()
    } else {
        registry.with(layer.with_target(false)).try_init()
    };
    installed.ok().map(|()| handle)
}

/// Sets the level (`trace`, `debug`, `info`, `warn`, `error`, or any `EnvFilter` directive).
///
/// # Errors
/// The directive does not parse, or the subscriber is gone.
pub fn set_level(handle: &LevelHandle, level: &str) -> Result<(), String> {
    let filter = EnvFilter::try_new(level).map_err(|e| e.to_string())?;
    handle.reload(filter).map_err(|e| e.to_string())
}
