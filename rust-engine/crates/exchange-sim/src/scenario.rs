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
mod tests {
    use super::*;

    /// The scenario file `s.toml` holding `text`, read as [`Scenario::load`] reads it.
    fn scenario(text: &str) -> Result<Scenario, ConfigError> {
        Scenario::parse(Path::new("s.toml"), text)
    }

    /// The faults of the command line's `flags` over the scenario file `s.toml` holding `text`.
    fn resolve(
        flags: FaultSettings,
        text: &str,
    ) -> Result<(Faults, Vec<Scheduled>, OrderFaults), String> {
        scenario(text)
            .and_then(|file| flags.resolve(vec![], Some(file)))
            .map_err(|e| e.to_string())
    }

    /// The faults of the scenario file `s.toml` holding `text`.
    fn parse(text: &str) -> Result<(Faults, Vec<Scheduled>), String> {
        resolve(FaultSettings::default(), text).map(|(f, s, _)| (f, s))
    }

    #[test]
    fn a_full_scenario() {
        let (f, s) = parse(
            r#"
            drop_depth = 0.02
            duplicate = 0.01
            malformed = 0.005
            bad_price = 0.005
            reorder = 0.03
            reorder_window = 5
            latency_ms = 250
            disconnect_every = 7.5
            refuse_reconnects = 2
            stale_snapshot = 0.5
            stale_snapshot_updates = 20
            [[schedule]]
            at = 10
            fault = "disconnect"
            [[schedule]]
            at = 12.5
            fault = "stall"
            secs = 3
            [[schedule]]
            at = 20
            fault = "refuse"
            secs = 4
            [[schedule]]
            at = 25
            fault = "server_shutdown"
            secs = 2.5
            [[schedule]]
            at = 30
            fault = "server_shutdown"
            "#,
        )
        .unwrap();
        assert_eq!(
            (
                f.drop_depth,
                f.duplicate,
                f.malformed,
                f.bad_price,
                f.reorder
            ),
            (0.02, 0.01, 0.005, 0.005, 0.03)
        );
        assert_eq!(f.reorder_window, 5);
        assert_eq!(f.latency, Duration::from_millis(250));
        assert_eq!(f.disconnect_every, Some(Duration::from_millis(7500)));
        assert_eq!(f.refuse_reconnects, Some(Duration::from_secs(2)));
        assert_eq!((f.stale_snapshot, f.stale_snapshot_updates), (0.5, 20));
        assert_eq!(
            s,
            [
                Scheduled {
                    at: Duration::from_secs(10),
                    fault: TimedFault::Disconnect
                },
                Scheduled {
                    at: Duration::from_millis(12_500),
                    fault: TimedFault::Stall(Duration::from_secs(3))
                },
                Scheduled {
                    at: Duration::from_secs(20),
                    fault: TimedFault::Refuse(Duration::from_secs(4))
                },
                Scheduled {
                    at: Duration::from_secs(25),
                    fault: TimedFault::ServerShutdown(Duration::from_millis(2500))
                },
                Scheduled {
                    at: Duration::from_secs(30),
                    fault: TimedFault::ServerShutdown(DEFAULT_SHUTDOWN_GRACE)
                },
            ]
        );
    }

    #[test]
    fn order_faults() {
        let orders = |flags, text| resolve(flags, text).map(|(_, _, o)| o);
        let s = "order_timeout = 0.2\norder_reject = 0.1\norder_latency_ms = 50\ndrop_user_events = 0.5";
        let f = orders(FaultSettings::default(), s).unwrap();
        assert_eq!((f.timeout, f.reject), (0.2, 0.1));
        assert_eq!(f.drop_user_events, 0.5);
        assert_eq!(f.latency, Duration::from_millis(50));
        let over = FaultSettings {
            order_reject: Some(0.5),
            ..FaultSettings::default()
        };
        assert_eq!(orders(over, s).unwrap().reject, 0.5);
        for bad in [
            "order_timeout = 2",
            "order_latency_ms = -1",
            "drop_user_events = 1.5",
            "order_timeout = 0.6\norder_reject = 0.6",
        ] {
            assert!(orders(FaultSettings::default(), bad).is_err(), "{bad}");
        }
        assert!(!orders(FaultSettings::default(), "").unwrap().any());
    }

    #[test]
    fn empty_means_no_fault() {
        let (f, s) = parse("").unwrap();
        assert!(!f.any() && s.is_empty());
    }

    /// A bad value of a file is named by the file, its key and value, never by a flag.
    #[test]
    fn errors_name_the_setting() {
        for (text, names) in [
            (
                "drop_depth = 1.5",
                "scenario s.toml: drop_depth = 1.5: expected a fraction",
            ),
            (
                "latency_ms = -1",
                "scenario s.toml: latency_ms = -1: expected 0 to 3600000",
            ),
            (
                "reorder_window = 0",
                "scenario s.toml: reorder_window = 0: expected 1 or more",
            ),
            (
                "reorder = 1.0",
                "scenario s.toml: reorder = 1: expected a fraction from 0 to below 1",
            ),
            (
                "disconnect_every = 0",
                "scenario s.toml: disconnect_every = 0: expected a positive",
            ),
            (
                "stale_snapshot_updates = 0",
                "scenario s.toml: stale_snapshot_updates = 0: expected 1",
            ),
            (
                "order_latency_ms = 1e9",
                "scenario s.toml: order_latency_ms = 1000000000: expected 0",
            ),
            (
                "drop_user_events = 2",
                "scenario s.toml: drop_user_events = 2: expected a fraction",
            ),
            (
                "order_timeout = 0.5\norder_reject = 0.6",
                "scenario s.toml: order_reject = 0.6: order_timeout plus order_reject must be at most 1",
            ),
            ("drop_dept = 0.1", "drop_dept"),
            (
                "[[schedule]]\nat = 1\nfault = \"melt\"",
                "[[schedule]] entry 1: fault = \"melt\"",
            ),
            (
                "[[schedule]]\nat = 1\nfault = \"stall\"",
                "[[schedule]] entry 1: no secs",
            ),
            (
                "[[schedule]]\nat = 1\nfault = \"server_shutdown\"\nsecs = 0",
                "[[schedule]] entry 1: secs = 0",
            ),
            (
                "[[schedule]]\nat = -1\nfault = \"disconnect\"",
                "[[schedule]] entry 1: at = -1",
            ),
            ("duplicate = \"lots\"", "duplicate"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(names), "{text}: {e}");
            assert!(!e.contains("--"), "{text}: {e}");
        }
    }

    /// The same values given on the command line are named by the flag and the value typed.
    #[test]
    fn errors_of_the_command_line_name_the_flag() {
        for (settings, names) in [
            (
                FaultSettings {
                    drop_depth: Some(1.5),
                    ..FaultSettings::default()
                },
                "--drop-depth \"1.5\": expected a fraction",
            ),
            (
                FaultSettings {
                    reorder_window: Some(0),
                    ..FaultSettings::default()
                },
                "--reorder-window \"0\": expected 1 or more",
            ),
            (
                FaultSettings {
                    drop_user_events: Some(2.0),
                    ..FaultSettings::default()
                },
                "--drop-user-events \"2\": expected a fraction",
            ),
            (
                FaultSettings {
                    order_timeout: Some(0.5),
                    order_reject: Some(0.6),
                    ..FaultSettings::default()
                },
                "--order-reject \"0.6\": --order-timeout plus --order-reject must be at most 1",
            ),
        ] {
            let e = settings.resolve(vec![], None).unwrap_err().to_string();
            assert!(e.starts_with(names), "{e}");
        }
    }

    /// A file's bad key is reported under the file, the key and its value.
    #[test]
    fn a_bad_key_of_a_file_names_the_file() {
        let e = Scenario::parse(Path::new("chaos.toml"), "stale_snapshot = 1.5").unwrap_err();
        assert_eq!(
            e,
            ConfigError::Scenario {
                path: "chaos.toml".into(),
                why: "stale_snapshot = 1.5: expected a fraction from 0 to 1".into(),
            }
        );
        assert_eq!(
            e.to_string(),
            "scenario chaos.toml: stale_snapshot = 1.5: expected a fraction from 0 to 1"
        );
    }

    /// A bad `[[schedule]]` entry is named by its number in the file and its key; `secs` on a
    /// fault that takes none is refused.
    #[test]
    fn schedule_errors_name_the_entry_and_its_key() {
        let first = "[[schedule]]\nat = 1\nfault = \"stall\"\nsecs = 1\n[[schedule]]\n";
        for (second, names) in [
            (
                "at = 2\nfault = \"stall\"\nsecs = 0",
                "[[schedule]] entry 2: secs = 0",
            ),
            ("at = 2\nfault = \"stall\"", "[[schedule]] entry 2: no secs"),
            (
                "at = 2\nfault = \"refuse\"\nsecs = inf",
                "[[schedule]] entry 2: secs = inf",
            ),
            (
                "at = -1\nfault = \"disconnect\"",
                "[[schedule]] entry 2: at = -1",
            ),
            (
                "at = 2\nfault = \"melt\"",
                "[[schedule]] entry 2: fault = \"melt\"",
            ),
            (
                "at = 2\nfault = \"disconnect\"\nsecs = 3",
                "[[schedule]] entry 2: secs = 3: a disconnect takes no secs",
            ),
        ] {
            let e = parse(&format!("{first}{second}")).unwrap_err();
            assert!(e.contains(names), "{second}: {e}");
            assert!(!e.contains("--"), "{second}: {e}");
        }
    }

    /// A scheduled fault given on the command line is reported under its flag and the value typed.
    #[test]
    fn schedule_errors_of_a_flag_name_the_flag() {
        for (flag, kind, text, why) in [
            ("stall-at", FaultKind::Stall, "5:x", "expected AT:SECS"),
            ("stall-at", FaultKind::Stall, "5:0", "SECS must be"),
            ("stall-at", FaultKind::Stall, "5", "expected AT:SECS"),
            ("refuse-at", FaultKind::Refuse, "-1:2", "AT must be"),
            (
                "server-shutdown-at",
                FaultKind::ServerShutdown,
                "5:0",
                "GRACE must be",
            ),
            (
                "disconnect-at",
                FaultKind::Disconnect,
                "5:3",
                "a disconnect takes no duration",
            ),
        ] {
            let e = scheduled_flag(flag, kind, text).unwrap_err().to_string();
            assert!(e.starts_with(&format!("--{flag} {text:?}: ")), "{e}");
            assert!(e.contains(why), "{e}");
        }
    }

    #[test]
    fn command_line_wins_and_schedules_add_up() {
        let file = scenario(
            "drop_depth = 0.1\nduplicate = 0.2\n[[schedule]]\nat = 1\nfault = \"disconnect\"",
        )
        .unwrap();
        let flags = FaultSettings {
            drop_depth: Some(0.3),
            ..FaultSettings::default()
        };
        let stall = scheduled_flag("stall-at", FaultKind::Stall, "5:2").unwrap();
        let (f, s, _) = flags.resolve(vec![stall], Some(file)).unwrap();
        assert_eq!((f.drop_depth, f.duplicate), (0.3, 0.2));
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].fault, TimedFault::Stall(Duration::from_secs(2)));
        assert!(scheduled_flag("stall-at", FaultKind::Stall, "x:2").is_err());
        // A server shutdown's grace is optional on the command line too.
        for (text, grace) in [
            ("4", DEFAULT_SHUTDOWN_GRACE),
            ("4:0.5", Duration::from_millis(500)),
        ] {
            assert_eq!(
                scheduled_flag("server-shutdown-at", FaultKind::ServerShutdown, text).unwrap(),
                Scheduled {
                    at: Duration::from_secs(4),
                    fault: TimedFault::ServerShutdown(grace)
                }
            );
        }
    }

    /// Every key given on the command line wins over the file's, and every key the command line
    /// leaves out keeps the file's value.
    #[test]
    fn every_key_of_the_command_line_wins_and_the_file_fills_the_rest() {
        let file = scenario(
            "drop_depth = 0.1\nduplicate = 0.1\nmalformed = 0.1\nbad_price = 0.1\nreorder = 0.1\n\
             reorder_window = 2\nlatency_ms = 10\ndisconnect_every = 1\nrefuse_reconnects = 1\n\
             stale_snapshot = 0.1\nstale_snapshot_updates = 2\norder_timeout = 0.1\n\
             order_reject = 0.1\norder_latency_ms = 10\ndrop_user_events = 0.1",
        )
        .unwrap();
        let flags = FaultSettings {
            drop_depth: Some(0.2),
            duplicate: Some(0.3),
            malformed: Some(0.4),
            bad_price: Some(0.5),
            reorder: Some(0.6),
            reorder_window: Some(7),
            latency_ms: Some(20.0),
            disconnect_every: Some(2.0),
            refuse_reconnects: Some(3.0),
            stale_snapshot: Some(0.7),
            stale_snapshot_updates: Some(8),
            order_timeout: Some(0.2),
            order_reject: Some(0.3),
            order_latency_ms: Some(40.0),
            drop_user_events: Some(0.8),
            schedule: vec![],
        };
        let ms = Duration::from_millis;
        let (f, _, o) = flags.resolve(vec![], Some(file.clone())).unwrap();
        assert_eq!(
            f,
            Faults {
                drop_depth: 0.2,
                duplicate: 0.3,
                malformed: 0.4,
                bad_price: 0.5,
                reorder: 0.6,
                reorder_window: 7,
                latency: ms(20),
                disconnect_every: Some(ms(2000)),
                refuse_reconnects: Some(ms(3000)),
                stale_snapshot: 0.7,
                stale_snapshot_updates: 8,
            }
        );
        assert_eq!(
            o,
            OrderFaults {
                timeout: 0.2,
                reject: 0.3,
                latency: ms(40),
                drop_user_events: 0.8,
            }
        );
        let (f, _, _) = FaultSettings::default()
            .resolve(vec![], Some(file))
            .unwrap();
        assert_eq!(
            f,
            Faults {
                drop_depth: 0.1,
                duplicate: 0.1,
                malformed: 0.1,
                bad_price: 0.1,
                reorder: 0.1,
                reorder_window: 2,
                latency: ms(10),
                disconnect_every: Some(ms(1000)),
                refuse_reconnects: Some(ms(1000)),
                stale_snapshot: 0.1,
                stale_snapshot_updates: 2,
            }
        );
    }

    #[test]
    fn a_missing_file_names_it() {
        let e = Scenario::load(Path::new("/nonexistent/scenario.toml")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/scenario.toml"), "{e}");
    }
}
