//! Fault settings as given on the command line or in a scenario file (TOML, `--scenario`), and
//! their validation into [`Faults`], [`OrderFaults`] and a [`Scheduled`] list. A key of the file is
//! the flag's name with `_` for `-` (`drop_depth` for `--drop-depth`); a flag given on the command
//! line wins over the file, and scheduled faults of both are kept. Each value is checked where it
//! is read, and a bad one is reported under the flag and the value typed (`--drop-depth "2"`), or
//! under the file and its key (`scenario FILE: drop_depth = 2`): the file is checked whole when
//! read, a value a flag overrides included. Example (`docs/EXCHANGE_SIM.md` has all keys):
//!
//! ```toml
//! drop_depth = 0.02
//! disconnect_every = 5.0
//! refuse_reconnects = 1.0
//!
//! [[schedule]]
//! at = 10.0
//! fault = "stall"
//! secs = 3.0
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::ConfigError;
use crate::faults::{Faults, OrderFaults, Scheduled, TimedFault, DEFAULT_SHUTDOWN_GRACE};

/// Fault settings as given; `None` means "not given".
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSettings {
    /// Fraction of depth events dropped.
    pub drop_depth: Option<f64>,
    /// Fraction of frames sent twice.
    pub duplicate: Option<f64>,
    /// Fraction of frames cut in half.
    pub malformed: Option<f64>,
    /// Fraction of trades with a NaN or negative price.
    pub bad_price: Option<f64>,
    /// Fraction of frames held back behind later ones.
    pub reorder: Option<f64>,
    /// Most later frames a held-back frame waits behind.
    pub reorder_window: Option<u32>,
    /// Delivery delay of every frame, ms.
    pub latency_ms: Option<f64>,
    /// Seconds after which every connection is closed.
    pub disconnect_every: Option<f64>,
    /// Seconds during which reconnects are refused after the venue hangs up.
    pub refuse_reconnects: Option<f64>,
    /// Fraction of REST snapshots served from the past.
    pub stale_snapshot: Option<f64>,
    /// Updates a stale snapshot lags behind.
    pub stale_snapshot_updates: Option<u32>,
    /// Fraction of new orders executed but never answered.
    pub order_timeout: Option<f64>,
    /// Fraction of new orders executed, then answered 500 / -1007.
    pub order_reject: Option<f64>,
    /// Delay of every order request, ms.
    pub order_latency_ms: Option<f64>,
    /// Fraction of user data stream events never sent.
    pub drop_user_events: Option<f64>,
    /// A scenario file's faults at given times (the command line's are read by
    /// [`scheduled_flag`]).
    #[serde(default)]
    pub schedule: Vec<ScheduleEntry>,
}

/// One `[[schedule]]` entry of a scenario file, as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleEntry {
    /// Seconds after the replay starts.
    pub at: f64,
    /// `disconnect`, `stall`, `refuse` or `server_shutdown`.
    pub fault: String,
    /// How long a stall or a refusal lasts, or a `server_shutdown`'s grace before the venue closes
    /// the connections (default [`DEFAULT_SHUTDOWN_GRACE`]), seconds; a `disconnect` takes none.
    pub secs: Option<f64>,
}

/// The kind of a scheduled fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Every connection closed (`disconnect`).
    Disconnect,
    /// Nothing sent for a while (`stall`).
    Stall,
    /// New connections refused for a while (`refuse`).
    Refuse,
    /// `serverShutdown` sent, the connections closed after a grace (`server_shutdown`).
    ServerShutdown,
}

/// Why a scheduled fault's length (`secs`) is unusable.
enum BadSecs {
    /// Not a positive number of seconds, at most a day.
    OutOfRange(f64),
    /// A stall or a refusal without one.
    Missing,
    /// Given to a disconnect.
    Disconnect(f64),
}

impl FaultKind {
    /// The kind named `name` in a scenario file.
    fn named(name: &str) -> Option<Self> {
        match name {
            "disconnect" => Some(FaultKind::Disconnect),
            "stall" => Some(FaultKind::Stall),
            "refuse" => Some(FaultKind::Refuse),
            "server_shutdown" => Some(FaultKind::ServerShutdown),
            _ => None,
        }
    }

    /// The fault of this kind lasting `secs` (a server shutdown's grace).
    fn lasting(self, secs: Option<f64>) -> Result<TimedFault, BadSecs> {
        let length = || {
            secs.map(|s| positive_seconds(s).ok_or(BadSecs::OutOfRange(s)))
                .transpose()
        };
        Ok(match self {
            FaultKind::Disconnect => match secs {
                None => TimedFault::Disconnect,
                Some(s) => return Err(BadSecs::Disconnect(s)),
            },
            FaultKind::Stall => TimedFault::Stall(length()?.ok_or(BadSecs::Missing)?),
            FaultKind::Refuse => TimedFault::Refuse(length()?.ok_or(BadSecs::Missing)?),
            FaultKind::ServerShutdown => {
                TimedFault::ServerShutdown(length()?.unwrap_or(DEFAULT_SHUTDOWN_GRACE))
            }
        })
    }
}

/// A scheduled fault of `kind` given on the command line to `flag` (without dashes): `AT` (a
/// disconnect), `AT:SECS` (a stall or a refusal) or `AT[:GRACE]` (a server shutdown).
///
/// # Errors
/// [`ConfigError`] naming `flag` and `text`.
pub fn scheduled_flag(
    flag: &'static str,
    kind: FaultKind,
    text: &str,
) -> Result<Scheduled, ConfigError> {
    let bad = |why| ConfigError::invalid(flag, text, why);
    let syntax = || {
        bad(match kind {
            FaultKind::Disconnect => "expected AT, seconds after the replay starts (e.g. 10)",
            FaultKind::ServerShutdown => "expected AT or AT:GRACE, seconds (e.g. 10 or 10:1)",
            FaultKind::Stall | FaultKind::Refuse => "expected AT:SECS, seconds (e.g. 10:3)",
        })
    };
    let (at, secs) = match text.split_once(':') {
        Some((a, d)) => (a, Some(d.trim().parse::<f64>().map_err(|_| syntax())?)),
        None => (text, None),
    };
    let at = at.trim().parse().map_err(|_| syntax())?;
    let at =
        start(at).ok_or_else(|| bad("AT must be 0 to 86400 seconds after the replay starts"))?;
    let fault = kind.lasting(secs).map_err(|e| {
        bad(match e {
            BadSecs::OutOfRange(_) if kind == FaultKind::ServerShutdown => {
                "GRACE must be a positive number of seconds, at most 86400"
            }
            BadSecs::OutOfRange(_) => "SECS must be a positive number of seconds, at most 86400",
            BadSecs::Missing => "expected AT:SECS, the fault's length in seconds (e.g. 10:3)",
            BadSecs::Disconnect(_) => "expected AT alone: a disconnect takes no duration",
        })
    })?;
    Ok(Scheduled { at, fault })
}

impl ScheduleEntry {
    /// The scheduled fault, or what is wrong with it: the key and its value, or the key missing,
    /// and what was expected.
    fn build(&self) -> Result<Scheduled, String> {
        let at = start(self.at).ok_or_else(|| {
            format!(
                "at = {}: expected 0 to 86400 seconds after the replay starts",
                self.at
            )
        })?;
        let kind = FaultKind::named(&self.fault).ok_or_else(|| {
            format!(
                "fault = {:?}: expected disconnect, stall, refuse or server_shutdown",
                self.fault
            )
        })?;
        let fault = kind.lasting(self.secs).map_err(|e| match e {
            BadSecs::OutOfRange(s) => {
                format!("secs = {s}: expected a positive number of seconds, at most 86400")
            }
            BadSecs::Missing => format!(
                "no secs: a {} needs secs, its length in seconds",
                self.fault
            ),
            BadSecs::Disconnect(s) => format!("secs = {s}: a disconnect takes no secs"),
        })?;
        Ok(Scheduled { at, fault })
    }
}

/// A scenario file, every value in it checked when read ([`Scenario::load`]).
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The file.
    path: PathBuf,
    /// Its settings (its `[[schedule]]` entries as written).
    settings: FaultSettings,
    /// Its `[[schedule]]` entries, checked.
    schedule: Vec<Scheduled>,
}

impl Scenario {
    /// Reads the scenario file at `path` and checks every value in it, whether or not a flag
    /// overrides it.
    ///
    /// # Errors
    /// [`ConfigError::Scenario`] naming the file and what is wrong in it: a bad value by its key
    /// (or its `[[schedule]]` entry's number and key).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::scenario(path, e))?;
        Self::parse(path, &text)
    }

    /// [`Self::load`] of the file at `path` holding `text`.
    fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let settings: FaultSettings =
            toml::from_str(text).map_err(|e| ConfigError::scenario(path, e))?;
        let origin = Origin::File(path);
        settings.check_faults(origin)?;
        let schedule = (1..)
            .zip(&settings.schedule)
            .map(|(n, e)| {
                e.build().map_err(|why| {
                    ConfigError::scenario(path, format!("[[schedule]] entry {n}: {why}"))
                })
            })
            .collect::<Result<_, _>>()?;
        settings.check_orders(origin)?;
        Ok(Scenario {
            path: path.to_owned(),
            settings,
            schedule,
        })
    }
}

/// Where settings were given, which their errors name.
#[derive(Debug, Clone, Copy)]
enum Origin<'a> {
    /// On the command line: the flag and the value ([`ConfigError::Invalid`]).
    Flags,
    /// In the scenario file at this path: the file, the key and its value
    /// ([`ConfigError::Scenario`]).
    File(&'a Path),
}

impl Origin<'_> {
    /// The error of `value`, unusable for the setting of `flag` (without dashes; its key in a
    /// scenario file has `_` for `-`).
    fn bad(self, flag: &'static str, value: f64, why: &'static str) -> ConfigError {
        match self {
            Origin::Flags => ConfigError::invalid(flag, value, why),
            Origin::File(path) => {
                ConfigError::scenario(path, format!("{} = {value}: {why}", flag.replace('-', "_")))
            }
        }
    }

    /// Checks each `(flag, value, rule)` given, in order.
    fn check<const N: usize>(
        self,
        values: [(&'static str, Option<f64>, Rule); N],
    ) -> Result<(), ConfigError> {
        for (flag, value, (ok, why)) in values {
            if let Some(v) = value.filter(|&v| !ok(v)) {
                return Err(self.bad(flag, v, why));
            }
        }
        Ok(())
    }
}

/// What a value must be, and what its error says is expected.
type Rule = (fn(f64) -> bool, &'static str);

const FRACTION: Rule = (
    |v| (0.0..=1.0).contains(&v),
    "expected a fraction from 0 to 1",
);
/// A held frame goes out behind later frames that are not held: with every frame held, nothing
/// would ever be sent.
const BELOW_ONE: Rule = (
    |v| v < 1.0,
    "expected a fraction from 0 to below 1 (a held frame waits for frames that are not held)",
);
const ONE_OR_MORE: Rule = (|n| n >= 1.0, "expected 1 or more");
const MILLISECONDS: Rule = (
    |ms| ms.is_finite() && (0.0..=3_600_000.0).contains(&ms),
    "expected 0 to 3600000 milliseconds",
);
const SECONDS: Rule = (
    |s| positive_seconds(s).is_some(),
    "expected a positive number of seconds, at most 86400",
);

impl FaultSettings {
    /// Checks the per-connection faults' values, each error naming the value as given (`origin`).
    fn check_faults(&self, origin: Origin) -> Result<(), ConfigError> {
        let count = |n: Option<u32>| n.map(f64::from);
        origin.check([
            ("drop-depth", self.drop_depth, FRACTION),
            ("duplicate", self.duplicate, FRACTION),
            ("malformed", self.malformed, FRACTION),
            ("bad-price", self.bad_price, FRACTION),
            ("reorder", self.reorder, FRACTION),
            ("reorder", self.reorder, BELOW_ONE),
            ("reorder-window", count(self.reorder_window), ONE_OR_MORE),
            ("latency-ms", self.latency_ms, MILLISECONDS),
            ("disconnect-every", self.disconnect_every, SECONDS),
            ("refuse-reconnects", self.refuse_reconnects, SECONDS),
            ("stale-snapshot", self.stale_snapshot, FRACTION),
            (
                "stale-snapshot-updates",
                count(self.stale_snapshot_updates),
                ONE_OR_MORE,
            ),
        ])
    }

    /// Checks the order faults' values and, when both are given, `order_timeout` plus
    /// `order_reject`, each error naming the value as given (`origin`).
    fn check_orders(&self, origin: Origin) -> Result<(), ConfigError> {
        origin.check([
            ("order-timeout", self.order_timeout, FRACTION),
            ("order-reject", self.order_reject, FRACTION),
            ("order-latency-ms", self.order_latency_ms, MILLISECONDS),
            ("drop-user-events", self.drop_user_events, FRACTION),
        ])?;
        match (self.order_timeout, self.order_reject) {
            (Some(timeout), Some(reject)) if timeout + reject > 1.0 => Err(origin.bad(
                "order-reject",
                reject,
                match origin {
                    Origin::Flags => "--order-timeout plus --order-reject must be at most 1",
                    Origin::File(_) => "order_timeout plus order_reject must be at most 1",
                },
            )),
            _ => Ok(()),
        }
    }

    /// The faults of the command line's settings (`self`) and scheduled faults (`schedule`, read
    /// by [`scheduled_flag`]) over those of the scenario file, if any ([`Scenario::load`]): a flag
    /// wins over the file's key, and the file's scheduled faults come first.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first bad flag and its value, or, for `order_timeout` plus
    /// `order_reject` above 1 with one of them from each, the file, its key and the flag.
    pub fn resolve(
        self,
        schedule: Vec<Scheduled>,
        file: Option<Scenario>,
    ) -> Result<(Faults, Vec<Scheduled>, OrderFaults), ConfigError> {
        self.check_faults(Origin::Flags)?;
        self.check_orders(Origin::Flags)?;
        let none = FaultSettings::default();
        let (faults, orders) = self.over(file.as_ref().map_or(&none, |f| &f.settings));
        let Some(file) = file else {
            return Ok((faults, schedule, orders));
        };
        // Each side's own sum was checked: here one of the two is a flag, the other a key.
        if orders.timeout + orders.reject > 1.0 {
            let (key, in_file, flag, typed) = match self.order_timeout {
                Some(t) => ("order_reject", orders.reject, "order-timeout", t),
                None => (
                    "order_timeout",
                    orders.timeout,
                    "order-reject",
                    orders.reject,
                ),
            };
            return Err(ConfigError::scenario(
                &file.path,
                format!(
                    "{key} = {in_file} with --{flag} {:?}: order_timeout plus order_reject \
                     (--order-timeout plus --order-reject) must be at most 1",
                    typed.to_string()
                ),
            ));
        }
        Ok((faults, [file.schedule, schedule].concat(), orders))
    }

    /// The faults of `self`'s values, `under`'s where `self` gives none; both checked.
    fn over(&self, under: &FaultSettings) -> (Faults, OrderFaults) {
        let d = Faults::default();
        let ms =
            |v: Option<f64>| v.map_or(Duration::ZERO, |ms| Duration::from_secs_f64(ms / 1000.0));
        let secs = |v: Option<f64>| v.map(Duration::from_secs_f64);
        let faults = Faults {
            drop_depth: self.drop_depth.or(under.drop_depth).unwrap_or(0.0),
            duplicate: self.duplicate.or(under.duplicate).unwrap_or(0.0),
            malformed: self.malformed.or(under.malformed).unwrap_or(0.0),
            bad_price: self.bad_price.or(under.bad_price).unwrap_or(0.0),
            reorder: self.reorder.or(under.reorder).unwrap_or(0.0),
            reorder_window: self
                .reorder_window
                .or(under.reorder_window)
                .unwrap_or(d.reorder_window),
            latency: ms(self.latency_ms.or(under.latency_ms)),
            disconnect_every: secs(self.disconnect_every.or(under.disconnect_every)),
            refuse_reconnects: secs(self.refuse_reconnects.or(under.refuse_reconnects)),
            stale_snapshot: self.stale_snapshot.or(under.stale_snapshot).unwrap_or(0.0),
            stale_snapshot_updates: self
                .stale_snapshot_updates
                .or(under.stale_snapshot_updates)
                .unwrap_or(d.stale_snapshot_updates),
        };
        let orders = OrderFaults {
            timeout: self.order_timeout.or(under.order_timeout).unwrap_or(0.0),
            reject: self.order_reject.or(under.order_reject).unwrap_or(0.0),
            latency: ms(self.order_latency_ms.or(under.order_latency_ms)),
            drop_user_events: self
                .drop_user_events
                .or(under.drop_user_events)
                .unwrap_or(0.0),
        };
        (faults, orders)
    }
}

/// `s` seconds after the replay starts, if 0 to a day.
fn start(s: f64) -> Option<Duration> {
    match s {
        0.0 => Some(Duration::ZERO),
        s => positive_seconds(s),
    }
}

/// `s` seconds if above 0 and at most a day.
fn positive_seconds(s: f64) -> Option<Duration> {
    (s.is_finite() && s > 0.0 && s <= 86_400.0).then(|| Duration::from_secs_f64(s))
}

#[cfg(test)]
#[path = "scenario_tests.rs"]
mod tests;
