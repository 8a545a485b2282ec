//! `ReloadConfig`: re-read the config file the engine was started with (and `local.toml` beside
//! it), validate it as at start, refuse a change to an address, key, symbol or mode (those need a
//! restart), and otherwise hand the new thresholds and limits to the core, which applies them at
//! once. See `docs/PROTOCOL.md`.

use std::path::{Path, PathBuf};

use common::config::{self, diff, Config, FeedConfig};
use common::message::{ErrorCode, ErrorResponse, Response, Success};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::core::{executor_settings, Core, PositionLimits};
use crate::metrics::EngineMetrics;
use crate::watchdog::WatchdogConfig;

/// Keys only a restart applies: addresses, keys, the symbol, its quantity grid and minimum notional
/// (checked against the venue at start), the mode, listening ports and the shape of what is published. A reload that
/// changes one is refused whole.
pub const RESTART_KEYS: [&str; 23] = [
    "execution.mode",
    "execution.rest_url",
    "execution.ws_api_url",
    "execution.recv_window_ms",
    "execution.confirm_real",
    "symbol.name",
    "symbol.quantity_step",
    "symbol.min_notional",
    "feed.ws_url",
    "feed.backup_ws_url",
    "feed.rest_url",
    "feed.snapshot_limit",
    "feed.publish_levels",
    "zmq.data_endpoint",
    "zmq.command_endpoint",
    "zmq.response_endpoint",
    "zmq.strategy_endpoint",
    "monitoring.engine_metrics_port",
    "monitoring.strategy_metrics_port",
    "monitoring.log_format",
    "monitoring.health_interval_ms",
    "persistence.db_path",
    "persistence.engine_position_dir",
];

/// Keys the engine reads only at start: a reload accepts them (the strategy may use them) and says
/// they take effect in the engine at its next start.
pub const ENGINE_AT_RESTART: [&str; 8] = [
    "feed.max_publish_hz",
    "feed.reconnect_initial_ms",
    "feed.reconnect_max_ms",
    "execution.reconcile_secs",
    "backtest.initial_capital",
    "risk.max_entry_delay_ms",
    "zmq.subscriber_wait_ms",
    "zmq.data_send_buffer_kib",
];

/// The configuration in force and where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The file the engine was started with.
    pub path: PathBuf,
    /// The layered table it was read from.
    pub table: toml::Table,
    /// Typed.
    pub config: Config,
}

impl Loaded {
    /// Loads `path` as at start.
    ///
    /// # Errors
    /// The loader's one-line error.
    pub fn load(path: &Path) -> Result<Self, config::ConfigError> {
        let (config, table) = config::load_with_table(path)?;
        Ok(Loaded {
            path: path.to_owned(),
            table,
            config,
        })
    }

    /// 16 hex digits identifying this configuration.
    pub fn fingerprint(&self) -> String {
        diff::fingerprint(&self.table)
    }
}

/// What a reload would do.
#[derive(Debug)]
pub enum Plan {
    /// The file is invalid: nothing applied.
    Invalid {
        /// The key the error names (`section.key`), if it names one.
        field: Option<String>,
        /// The loader's error.
        message: String,
    },
    /// Keys that need a restart changed: nothing applied.
    RestartRequired {
        /// Those keys.
        keys: Vec<String>,
    },
    /// Nothing changed.
    Unchanged,
    /// Apply `next`.
    Apply {
        /// Every changed key, old → new.
        changes: Vec<diff::Change>,
        /// Changed keys the engine itself applies only at its next start.
        at_restart: Vec<String>,
        /// The new configuration.
        next: Box<Loaded>,
    },
}

/// Re-reads `current.path` and decides.
pub fn plan(current: &Loaded) -> Plan {
    let next = match Loaded::load(&current.path) {
        Ok(n) => n,
        Err(e) => {
            return Plan::Invalid {
                field: diff::error_key(&e.0),
                message: e.0,
            }
        }
    };
    let changes = diff::diff(&current.table, &next.table);
    if changes.is_empty() {
        return Plan::Unchanged;
    }
    let restart: Vec<String> = changes
        .iter()
        .filter(|c| RESTART_KEYS.contains(&c.key.as_str()))
        .map(|c| c.key.clone())
        .collect();
    if !restart.is_empty() {
        return Plan::RestartRequired { keys: restart };
    }
    let at_restart = changes
        .iter()
        .filter(|c| ENGINE_AT_RESTART.contains(&c.key.as_str()))
        .map(|c| c.key.clone())
        .collect();
    Plan::Apply {
        changes,
        at_restart,
        next: Box::new(next),
    }
}

/// The configuration in force and the tasks that take new settings from a `ReloadConfig`.
pub struct Reloadable {
    /// The configuration in force and its file.
    pub loaded: Loaded,
    /// New `[feed]` settings to the feed task.
    pub feed: watch::Sender<FeedConfig>,
    /// New thresholds to the watchdog.
    pub watchdog: watch::Sender<WatchdogConfig>,
    /// The log level (none when the subscriber was installed elsewhere).
    pub log: Option<common::logging::LevelHandle>,
}

impl Core {
    /// `ReloadConfig`: re-read, validate, refuse restart-only changes, apply the rest at once.
    pub(crate) async fn reload_config(&mut self, command_id: &str, now: u64) -> Response {
        let metrics = &EngineMetrics::global().config_reloads;
        let error = |field: Option<String>, message: String| {
            Response::Error(ErrorResponse {
                command_id: Some(command_id.to_owned()),
                ts_ns: now,
                code: ErrorCode::Validation,
                field,
                message,
            })
        };
        let success = |message: String| {
            Response::Success(Success {
                command_id: Some(command_id.to_owned()),
                ts_ns: now,
                message,
            })
        };
        let mut plan = plan(&self.reload.loaded);
        if let Plan::Apply { next, .. } = &plan {
            // Checked against the venue's filters as at start (only `[strategy] price_tick` of
            // them can change without a restart).
            if let Err(e) = crate::venue::check_grid(
                &next.config.symbol,
                next.config.strategy.price_tick,
                self.executor.filters(),
            ) {
                plan = Plan::Invalid {
                    field: Some(e.key().to_owned()),
                    message: e.to_string(),
                };
            }
        }
        match plan {
            Plan::Invalid { field, message } => {
                metrics.with_label_values(&["invalid"]).inc();
                warn!(command_id, ?field, %message, "config reload refused: invalid; old values kept");
                error(field, format!("reload refused, old values kept: {message}"))
            }
            Plan::RestartRequired { keys } => {
                metrics.with_label_values(&["restart_required"]).inc();
                warn!(command_id, keys = %keys.join(", "), "config reload refused: restart required");
                error(
                    keys.first().cloned(),
                    format!(
                        "reload refused, nothing applied: restart required for: {}",
                        keys.join(", ")
                    ),
                )
            }
            Plan::Unchanged => {
                metrics.with_label_values(&["unchanged"]).inc();
                info!(command_id, "config reload: unchanged");
                success("unchanged".into())
            }
            Plan::Apply {
                changes,
                at_restart,
                next,
            } => {
                metrics.with_label_values(&["applied"]).inc();
                let old_fp = self.reload.loaded.fingerprint();
                let new_fp = next.fingerprint();
                self.apply_config(&next.config);
                for c in &changes {
                    info!(command_id, key = %c.key, old = %c.old, new = %c.new, "config reloaded");
                }
                let keys: Vec<&str> = changes.iter().map(|c| c.key.as_str()).collect();
                let mut message = format!("reloaded: {}", keys.join(", "));
                if !at_restart.is_empty() {
                    message.push_str(&format!(
                        "; the engine applies at its next start: {}",
                        at_restart.join(", ")
                    ));
                }
                self.reload.loaded = *next;
                self.state_change(
                    "config",
                    &old_fp,
                    &new_fp,
                    &format!("reloaded: {}", keys.join(", ")),
                )
                .await;
                success(message)
            }
        }
    }

    /// Applies the thresholds and limits of `cfg` (the addresses are known to be unchanged).
    fn apply_config(&mut self, cfg: &Config) {
        let (limits, fees, fill) = executor_settings(cfg);
        self.executor.reconfigure(limits, fees, fill);
        self.position_limits = PositionLimits::from_config(cfg);
        self.flatten_on_halt = cfg.execution.flatten_on_halt;
        self.reload.feed.send_replace(cfg.feed.clone());
        self.reload
            .watchdog
            .send_replace(WatchdogConfig::from_config(cfg));
        if cfg.monitoring.log_level != self.reload.loaded.config.monitoring.log_level {
            if let Some(handle) = &self.reload.log {
                if let Err(e) = common::logging::set_level(handle, &cfg.monitoring.log_level) {
                    warn!(error = %e, "log level not changed");
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The `config.toml` of a folder holding a copy of the repository's config (no `local.toml`),
    /// unique per test; the folder is removed when this is dropped.
    pub(crate) struct TempConfig(PathBuf);

    impl std::ops::Deref for TempConfig {
        type Target = Path;
        fn deref(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempConfig {
        fn drop(&mut self) {
            if let Some(dir) = self.0.parent() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }

    pub(crate) fn temp_config(name: &str) -> TempConfig {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../config");
        let dir =
            std::env::temp_dir().join(format!("flashcrash-reload-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(repo.join("config.toml"), dir.join("config.toml")).unwrap();
        std::fs::copy(repo.join("schema.toml"), dir.join("schema.toml")).unwrap();
        TempConfig(dir.join("config.toml"))
    }

    /// Replaces `key = <old>` in `[section]` of the file at `path` by `key = value`.
    pub(crate) fn set_key(path: &Path, section: &str, key: &str, value: &str) {
        let text = std::fs::read_to_string(path).unwrap();
        let mut in_section = false;
        let mut done = false;
        let out: Vec<String> = text
            .lines()
            .map(|l| {
                if l.starts_with('[') {
                    in_section = l.trim() == format!("[{section}]");
                }
                if in_section && !done && l.starts_with(&format!("{key} =")) {
                    done = true;
                    return format!("{key} = {value}");
                }
                l.to_owned()
            })
            .collect();
        assert!(done, "[{section}] {key} not found");
        std::fs::write(path, out.join("\n") + "\n").unwrap();
    }

    #[test]
    fn unchanged_file_changes_nothing() {
        let path = temp_config("unchanged");
        let cur = Loaded::load(&path).unwrap();
        assert!(matches!(plan(&cur), Plan::Unchanged));
    }

    #[test]
    fn a_changed_threshold_is_planned() {
        let path = temp_config("threshold");
        let cur = Loaded::load(&path).unwrap();
        set_key(&path, "risk", "max_open_orders", "4");
        set_key(&path, "feed", "reconnect_max_ms", "30000");
        let Plan::Apply {
            changes,
            at_restart,
            next,
        } = plan(&cur)
        else {
            panic!("expected Apply");
        };
        let keys: Vec<&str> = changes.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["feed.reconnect_max_ms", "risk.max_open_orders"]);
        assert_eq!(changes[1].old, "5");
        assert_eq!(changes[1].new, "4");
        assert_eq!(at_restart, ["feed.reconnect_max_ms"]);
        assert_eq!(next.config.risk.max_open_orders, 4);
        assert_ne!(next.fingerprint(), cur.fingerprint());
    }

    #[test]
    fn an_invalid_value_is_refused_naming_the_key() {
        let path = temp_config("invalid");
        let cur = Loaded::load(&path).unwrap();
        set_key(&path, "risk", "max_open_orders", "-1");
        let Plan::Invalid { field, message } = plan(&cur) else {
            panic!("expected Invalid");
        };
        assert_eq!(field.as_deref(), Some("risk.max_open_orders"), "{message}");
    }

    #[test]
    fn an_address_change_needs_a_restart() {
        let path = temp_config("address");
        let cur = Loaded::load(&path).unwrap();
        set_key(&path, "zmq", "data_endpoint", "\"tcp://127.0.0.1:6555\"");
        set_key(&path, "risk", "max_open_orders", "4");
        let Plan::RestartRequired { keys } = plan(&cur) else {
            panic!("expected RestartRequired");
        };
        assert_eq!(keys, ["zmq.data_endpoint"]);
    }

    /// `[zmq] data_send_buffer_kib`: 0, past its maximum or a string is refused naming it; a good
    /// change is accepted and said to take effect in the engine at its next start.
    #[test]
    fn the_data_send_buffer_is_checked_and_taken_at_the_next_start() {
        let path = temp_config("send-buffer");
        let cur = Loaded::load(&path).unwrap();
        for wrong in ["0", "127", "65537", "\"8192\"", "8192.0"] {
            set_key(&path, "zmq", "data_send_buffer_kib", wrong);
            let Plan::Invalid { field, message } = plan(&cur) else {
                panic!("{wrong} accepted");
            };
            assert_eq!(
                field.as_deref(),
                Some("zmq.data_send_buffer_kib"),
                "{message}"
            );
            assert!(
                message.contains("[zmq] data_send_buffer_kib")
                    && message.contains("integer from 128 to 65536"),
                "{message}"
            );
        }
        set_key(&path, "zmq", "data_send_buffer_kib", "16384");
        let Plan::Apply {
            at_restart, next, ..
        } = plan(&cur)
        else {
            panic!("expected Apply");
        };
        assert_eq!(at_restart, ["zmq.data_send_buffer_kib"]);
        assert_eq!(next.config.zmq.data_send_buffer_kib, 16384);
        assert_eq!(cur.config.zmq.data_send_buffer_kib, 8192);
    }
}
