//! Fault settings as given on the command line or in a scenario file (TOML, `--scenario`), and
//! their validation into [`Faults`] and a [`Scheduled`] list. A key of the file is the flag's name
//! with `_` for `-` (`drop_depth` for `--drop-depth`); a flag given on the command line wins over
//! the file, and scheduled faults of both are kept. A bad value is reported under the flag and the
//! value typed (`--drop-depth "2"`), or under the file and its key (`scenario FILE: drop_depth =
//! 2`): the file is checked whole when read, a value a flag overrides included. Example (`docs/EXCHANGE_SIM.md` has all keys):
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

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::error::ConfigError;
use crate::faults::{Faults, OrderFaults, Scheduled, TimedFault, DEFAULT_SHUTDOWN_GRACE};

/// Fault settings before validation; `None` means "not given".
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
    /// Faults at given times.
    #[serde(default)]
    pub schedule: Vec<ScheduleEntry>,
}

/// One scheduled fault as written.
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
    /// For an entry given on the command line, the flag (without dashes) and the value given to
    /// it, which its errors name; `None` for an entry of a scenario file (its errors name the
    /// entry's number and key). Not a key of the file.
    #[serde(skip)]
    pub flag: Option<(&'static str, String)>,
}

impl ScheduleEntry {
    /// Parses `AT` (a disconnect), `AT:SECS` (a stall or a refusal) or `AT[:GRACE]` (a server
    /// shutdown) as given on the command line. Only the numbers are read here: their ranges, and
    /// whether the fault takes a duration, are checked with the rest of the settings
    /// ([`FaultSettings::build`]), whose errors name `flag` and `text` too.
    ///
    /// # Errors
    /// [`ConfigError`] naming `flag` and `text`.
    pub fn parse_flag(flag: &'static str, fault: &str, text: &str) -> Result<Self, ConfigError> {
        let bad = || ConfigError::invalid(flag, text, flag_syntax(fault));
        let (at, secs) = match text.split_once(':') {
            Some((a, d)) => (a, Some(d.trim().parse::<f64>().map_err(|_| bad())?)),
            None => (text, None),
        };
        Ok(ScheduleEntry {
            at: at.trim().parse().map_err(|_| bad())?,
            fault: fault.to_owned(),
            secs,
            flag: Some((flag, text.to_owned())),
        })
    }
}

/// Where a setting was given, which its errors name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Given {
    /// On the command line: the flag and the value as typed ([`ConfigError::Invalid`]).
    Flag,
    /// In a scenario file: the key and its value ([`ConfigError::ScenarioKey`]).
    File,
}

impl Given {
    /// The error of `value`, unusable for the setting of `flag` (without dashes; its key in a
    /// scenario file has `_` for `-`).
    fn bad(self, flag: &'static str, value: impl ToString, why: &'static str) -> ConfigError {
        match self {
            Given::Flag => ConfigError::invalid(flag, value, why),
            Given::File => ConfigError::ScenarioKey {
                key: key_of(flag),
                value: value.to_string(),
                why: why.to_owned(),
            },
        }
    }
}

/// The scenario file's key of the setting of `flag` (without dashes): `drop_depth` for
/// `drop-depth`.
fn key_of(flag: &str) -> String {
    flag.replace('-', "_")
}

/// What a scheduled fault's flag takes, for its errors.
fn flag_syntax(fault: &str) -> &'static str {
    match fault {
        "disconnect" => "expected AT, seconds after the replay starts (e.g. 10)",
        "server_shutdown" => "expected AT or AT:GRACE, seconds (e.g. 10 or 10:1)",
        _ => "expected AT:SECS, seconds (e.g. 10:3)",
    }
}

impl FaultSettings {
    /// Reads a scenario file and checks every value in it ([`Self::check_file`]).
    ///
    /// # Errors
    /// [`ConfigError::Scenario`] naming the file and what is wrong in it: a bad value by its key
    /// (or its `[[schedule]]` entry's number and key).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Scenario {
            path: path.to_owned(),
            why: e.to_string(),
        })?;
        let settings: FaultSettings = toml::from_str(&text).map_err(|e| ConfigError::Scenario {
            path: path.to_owned(),
            why: e.to_string(),
        })?;
        settings.check_file().map_err(|e| e.in_scenario(path))?;
        Ok(settings)
    }

    /// Checks every value as one of a scenario file, whether or not a flag overrides it.
    ///
    /// # Errors
    /// [`ConfigError::ScenarioKey`] naming the first bad key and its value, or
    /// [`ConfigError::ScheduleEntry`] (the file unnamed: [`ConfigError::in_scenario`] names it).
    pub fn check_file(&self) -> Result<(), ConfigError> {
        self.build_as(Given::File)?;
        self.build_orders_as(Given::File)?;
        Ok(())
    }

    /// The faults of the command line's settings (`self`) over those of the scenario file, if
    /// any, as read by [`Self::load`] from the path given with it: each value is reported under
    /// the flag or the file's key it came from.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first bad flag (as [`Self::build`] and [`Self::build_orders`]
    /// do), or, for `order_timeout` plus `order_reject` above 1 with one of them from each, the
    /// file, its key and the flag.
    pub fn resolve(
        self,
        file: Option<(&Path, FaultSettings)>,
    ) -> Result<(Faults, Vec<Scheduled>, OrderFaults), ConfigError> {
        let Some((path, file)) = file else {
            let (faults, schedule) = self.build()?;
            return Ok((faults, schedule, self.build_orders()?));
        };
        // The command line's values checked alone; the file's were when it was read.
        self.build()?;
        self.build_orders()?;
        let (timeout_flag, reject_flag) = (self.order_timeout, self.order_reject);
        let settings = file.overlay(self);
        // Each value was checked on its side: only the two order faults' sum can fail here.
        let (faults, schedule) = settings.build().map_err(|e| e.in_scenario(path))?;
        let orders = settings.order_faults(Given::Flag)?;
        if orders.timeout + orders.reject > 1.0 {
            let (key, in_file, flag, typed) = match timeout_flag {
                Some(t) => ("order_reject", orders.reject, "order-timeout", t),
                None => (
                    "order_timeout",
                    orders.timeout,
                    "order-reject",
                    reject_flag.unwrap_or(orders.reject),
                ),
            };
            return Err(ConfigError::Scenario {
                path: path.to_owned(),
                why: format!(
                    "{key} = {in_file} with --{flag} {:?}: order_timeout plus order_reject \
                     (--order-timeout plus --order-reject) must be at most 1",
                    typed.to_string()
                ),
            });
        }
        Ok((faults, schedule, orders))
    }

    /// `self` with every value given in `over` replaced, and `over`'s schedule added.
    pub fn overlay(self, over: FaultSettings) -> FaultSettings {
        let mut schedule = self.schedule;
        schedule.extend(over.schedule);
        FaultSettings {
            drop_depth: over.drop_depth.or(self.drop_depth),
            duplicate: over.duplicate.or(self.duplicate),
            malformed: over.malformed.or(self.malformed),
            bad_price: over.bad_price.or(self.bad_price),
            reorder: over.reorder.or(self.reorder),
            reorder_window: over.reorder_window.or(self.reorder_window),
            latency_ms: over.latency_ms.or(self.latency_ms),
            disconnect_every: over.disconnect_every.or(self.disconnect_every),
            refuse_reconnects: over.refuse_reconnects.or(self.refuse_reconnects),
            stale_snapshot: over.stale_snapshot.or(self.stale_snapshot),
            stale_snapshot_updates: over.stale_snapshot_updates.or(self.stale_snapshot_updates),
            order_timeout: over.order_timeout.or(self.order_timeout),
            order_reject: over.order_reject.or(self.order_reject),
            order_latency_ms: over.order_latency_ms.or(self.order_latency_ms),
            drop_user_events: over.drop_user_events.or(self.drop_user_events),
            schedule,
        }
    }

    /// Validates into per-connection faults and the schedule.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first bad setting by its flag; a bad scheduled fault by the flag
    /// and the value given to it, or, for an entry of a scenario file, by its number among the
    /// file's `[[schedule]]` entries and its key ([`ConfigError::ScheduleEntry`]).
    pub fn build(&self) -> Result<(Faults, Vec<Scheduled>), ConfigError> {
        self.build_as(Given::Flag)
    }

    /// [`Self::build`], the errors of a bad setting naming it as it was `given`.
    fn build_as(&self, given: Given) -> Result<(Faults, Vec<Scheduled>), ConfigError> {
        let d = Faults::default();
        let fraction = |flag, v| fraction(given, flag, v);
        let faults = Faults {
            drop_depth: fraction("drop-depth", self.drop_depth)?,
            duplicate: fraction("duplicate", self.duplicate)?,
            malformed: fraction("malformed", self.malformed)?,
            bad_price: fraction("bad-price", self.bad_price)?,
            reorder: match fraction("reorder", self.reorder)? {
                // A held frame goes out behind later frames that are not held: with every frame
                // held, nothing would ever be sent.
                r if r >= 1.0 => {
                    return Err(given.bad(
                        "reorder",
                        r,
                        "expected a fraction from 0 to below 1 (a held frame waits for frames that are not held)",
                    ))
                }
                r => r,
            },
            reorder_window: match self.reorder_window {
                Some(0) => {
                    return Err(given.bad(
                        "reorder-window",
                        0,
                        "expected 1 or more",
                    ))
                }
                w => w.unwrap_or(d.reorder_window),
            },
            latency: match self.latency_ms {
                None => Duration::ZERO,
                Some(ms) if ms.is_finite() && (0.0..=3_600_000.0).contains(&ms) => {
                    Duration::from_secs_f64(ms / 1000.0)
                }
                Some(ms) => {
                    return Err(given.bad(
                        "latency-ms",
                        ms,
                        "expected 0 to 3600000 milliseconds",
                    ))
                }
            },
            disconnect_every: seconds(given, "disconnect-every", self.disconnect_every)?,
            refuse_reconnects: seconds(given, "refuse-reconnects", self.refuse_reconnects)?,
            stale_snapshot: fraction("stale-snapshot", self.stale_snapshot)?,
            stale_snapshot_updates: match self.stale_snapshot_updates {
                Some(0) => {
                    return Err(given.bad(
                        "stale-snapshot-updates",
                        0,
                        "expected 1 or more",
                    ))
                }
                n => n.unwrap_or(d.stale_snapshot_updates),
            },
        };
        // The file's entries are numbered in the file's order; the command line's are skipped.
        let mut in_file = 0;
        let schedule = self
            .schedule
            .iter()
            .map(|e| {
                if e.flag.is_none() {
                    in_file += 1;
                }
                e.build(in_file)
            })
            .collect::<Result<_, _>>()?;
        Ok((faults, schedule))
    }
}

impl FaultSettings {
    /// Validates the order faults.
    ///
    /// # Errors
    /// [`ConfigError`] naming the bad setting by its flag.
    pub fn build_orders(&self) -> Result<OrderFaults, ConfigError> {
        self.build_orders_as(Given::Flag)
    }

    /// [`Self::build_orders`], the errors of a bad setting naming it as it was `given`.
    fn build_orders_as(&self, given: Given) -> Result<OrderFaults, ConfigError> {
        let f = self.order_faults(given)?;
        if f.timeout + f.reject > 1.0 {
            return Err(match given {
                Given::Flag => ConfigError::invalid(
                    "order-reject",
                    f.reject,
                    "--order-timeout plus --order-reject must be at most 1",
                ),
                Given::File => given.bad(
                    "order-reject",
                    f.reject,
                    "order_timeout plus order_reject must be at most 1",
                ),
            });
        }
        Ok(f)
    }

    /// The order faults, each checked alone.
    fn order_faults(&self, given: Given) -> Result<OrderFaults, ConfigError> {
        Ok(OrderFaults {
            timeout: fraction(given, "order-timeout", self.order_timeout)?,
            reject: fraction(given, "order-reject", self.order_reject)?,
            latency: milliseconds(given, "order-latency-ms", self.order_latency_ms)?,
            drop_user_events: fraction(given, "drop-user-events", self.drop_user_events)?,
        })
    }
}

fn milliseconds(given: Given, flag: &'static str, v: Option<f64>) -> Result<Duration, ConfigError> {
    match v {
        None => Ok(Duration::ZERO),
        Some(ms) if ms.is_finite() && (0.0..=3_600_000.0).contains(&ms) => {
            Ok(Duration::from_secs_f64(ms / 1000.0))
        }
        Some(ms) => Err(given.bad(flag, ms, "expected 0 to 3600000 milliseconds")),
    }
}

impl ScheduleEntry {
    /// Validates the entry; `entry` is its number among the scenario file's `[[schedule]]`
    /// entries (from 1), which the errors of an entry of the file name.
    fn build(&self, entry: usize) -> Result<Scheduled, ConfigError> {
        // An entry of the command line is reported as typed there, one of the file by its key.
        let bad = |flag_why: &'static str, file_why: String| match &self.flag {
            Some((flag, text)) => ConfigError::invalid(flag, text, flag_why),
            None => ConfigError::ScheduleEntry {
                entry,
                why: file_why,
            },
        };
        const LENGTH: &str = "expected a positive number of seconds, at most 86400";
        let at = match self.at {
            0.0 => Duration::ZERO,
            s => positive_seconds(s).ok_or_else(|| {
                bad(
                    "AT must be 0 to 86400 seconds after the replay starts",
                    format!("at = {s}: expected 0 to 86400 seconds after the replay starts"),
                )
            })?,
        };
        let secs = |flag_why: &'static str| {
            self.secs
                .map(|s| {
                    positive_seconds(s)
                        .ok_or_else(|| bad(flag_why, format!("secs = {s}: {LENGTH}")))
                })
                .transpose()
        };
        let length = || {
            secs("SECS must be a positive number of seconds, at most 86400")?.ok_or_else(|| {
                bad(
                    "expected AT:SECS, the fault's length in seconds (e.g. 10:3)",
                    format!(
                        "no secs: a {} needs secs, its length in seconds",
                        self.fault
                    ),
                )
            })
        };
        let fault = match self.fault.as_str() {
            "disconnect" => match self.secs {
                None => TimedFault::Disconnect,
                Some(s) => {
                    return Err(bad(
                        "expected AT alone: a disconnect takes no duration",
                        format!("secs = {s}: a disconnect takes no secs"),
                    ))
                }
            },
            "stall" => TimedFault::Stall(length()?),
            "refuse" => TimedFault::Refuse(length()?),
            "server_shutdown" => TimedFault::ServerShutdown(
                secs("GRACE must be a positive number of seconds, at most 86400")?
                    .unwrap_or(DEFAULT_SHUTDOWN_GRACE),
            ),
            other => {
                return Err(bad(
                    "expected disconnect, stall, refuse or server_shutdown",
                    format!(
                        "fault = {other:?}: expected disconnect, stall, refuse or server_shutdown"
                    ),
                ))
            }
        };
        Ok(Scheduled { at, fault })
    }
}

fn fraction(given: Given, flag: &'static str, v: Option<f64>) -> Result<f64, ConfigError> {
    match v {
        None => Ok(0.0),
        Some(v) if (0.0..=1.0).contains(&v) => Ok(v),
        Some(v) => Err(given.bad(flag, v, "expected a fraction from 0 to 1")),
    }
}

fn seconds(
    given: Given,
    flag: &'static str,
    v: Option<f64>,
) -> Result<Option<Duration>, ConfigError> {
    v.map(|s| {
        positive_seconds(s).ok_or_else(|| {
            given.bad(
                flag,
                s,
                "expected a positive number of seconds, at most 86400",
            )
        })
    })
    .transpose()
}

/// `s` seconds if above 0 and at most a day.
fn positive_seconds(s: f64) -> Option<Duration> {
    (s.is_finite() && s > 0.0 && s <= 86_400.0).then(|| Duration::from_secs_f64(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The faults of a scenario file's `text`, checked as the file's ([`FaultSettings::load`]).
    fn parse(text: &str) -> Result<(Faults, Vec<Scheduled>), String> {
        let s = toml::from_str::<FaultSettings>(text).map_err(|e| e.to_string())?;
        s.check_file().map_err(|e| e.to_string())?;
        s.build().map_err(|e| e.to_string())
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
        let s: FaultSettings =
            toml::from_str("order_timeout = 0.2\norder_reject = 0.1\norder_latency_ms = 50\ndrop_user_events = 0.5")
                .unwrap();
        let f = s.build_orders().unwrap();
        assert_eq!((f.timeout, f.reject), (0.2, 0.1));
        assert_eq!(f.drop_user_events, 0.5);
        assert_eq!(f.latency, Duration::from_millis(50));
        let over = FaultSettings {
            order_reject: Some(0.5),
            ..FaultSettings::default()
        };
        assert_eq!(s.clone().overlay(over).build_orders().unwrap().reject, 0.5);
        for bad in [
            "order_timeout = 2",
            "order_latency_ms = -1",
            "drop_user_events = 1.5",
            "order_timeout = 0.6\norder_reject = 0.6",
        ] {
            let s: FaultSettings = toml::from_str(bad).unwrap();
            assert!(s.build_orders().is_err(), "{bad}");
        }
        assert!(!FaultSettings::default().build_orders().unwrap().any());
    }

    #[test]
    fn empty_means_no_fault() {
        let (f, s) = parse("").unwrap();
        assert!(!f.any() && s.is_empty());
    }

    /// A bad value of a file is named by its key and value, never by a flag.
    #[test]
    fn errors_name_the_setting() {
        for (text, names) in [
            (
                "drop_depth = 1.5",
                "scenario drop_depth = 1.5: expected a fraction",
            ),
            (
                "latency_ms = -1",
                "scenario latency_ms = -1: expected 0 to 3600000",
            ),
            (
                "reorder_window = 0",
                "scenario reorder_window = 0: expected 1 or more",
            ),
            (
                "reorder = 1.0",
                "scenario reorder = 1: expected a fraction from 0 to below 1",
            ),
            (
                "disconnect_every = 0",
                "scenario disconnect_every = 0: expected a positive",
            ),
            (
                "stale_snapshot_updates = 0",
                "scenario stale_snapshot_updates = 0: expected 1",
            ),
            (
                "order_latency_ms = 1e9",
                "scenario order_latency_ms = 1000000000: expected 0",
            ),
            (
                "drop_user_events = 2",
                "scenario drop_user_events = 2: expected a fraction",
            ),
            (
                "order_timeout = 0.5\norder_reject = 0.6",
                "scenario order_reject = 0.6: order_timeout plus order_reject must be at most 1",
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
            let e = settings
                .build()
                .and_then(|_| settings.build_orders())
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(names), "{e}");
        }
    }

    /// A file's bad key turned into the file's error by `in_scenario` names the file, the key and
    /// its value.
    #[test]
    fn a_bad_key_of_a_file_names_the_file() {
        let s: FaultSettings = toml::from_str("stale_snapshot = 1.5").unwrap();
        let e = s.check_file().unwrap_err();
        assert_eq!(
            e,
            ConfigError::ScenarioKey {
                key: "stale_snapshot".into(),
                value: "1.5".into(),
                why: "expected a fraction from 0 to 1".into(),
            }
        );
        assert_eq!(
            e.in_scenario(Path::new("chaos.toml")).to_string(),
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
        for (flag, fault, text, why) in [
            ("stall-at", "stall", "5:x", "expected AT:SECS"),
            ("stall-at", "stall", "5:0", "SECS must be"),
            ("stall-at", "stall", "5", "expected AT:SECS"),
            ("refuse-at", "refuse", "-1:2", "AT must be"),
            (
                "server-shutdown-at",
                "server_shutdown",
                "5:0",
                "GRACE must be",
            ),
            (
                "disconnect-at",
                "disconnect",
                "5:3",
                "a disconnect takes no duration",
            ),
        ] {
            let e = ScheduleEntry::parse_flag(flag, fault, text)
                .and_then(|e| {
                    FaultSettings {
                        schedule: vec![e],
                        ..FaultSettings::default()
                    }
                    .build()
                })
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(&format!("--{flag} {text:?}: ")), "{e}");
            assert!(e.contains(why), "{e}");
        }
    }

    #[test]
    fn command_line_wins_and_schedules_add_up() {
        let file: FaultSettings = toml::from_str(
            "drop_depth = 0.1\nduplicate = 0.2\n[[schedule]]\nat = 1\nfault = \"disconnect\"",
        )
        .unwrap();
        let flags = FaultSettings {
            drop_depth: Some(0.3),
            schedule: vec![ScheduleEntry::parse_flag("stall-at", "stall", "5:2").unwrap()],
            ..FaultSettings::default()
        };
        let (f, s) = file.overlay(flags).build().unwrap();
        assert_eq!((f.drop_depth, f.duplicate), (0.3, 0.2));
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].fault, TimedFault::Stall(Duration::from_secs(2)));
        assert!(ScheduleEntry::parse_flag("stall-at", "stall", "x:2").is_err());
        // A server shutdown's grace is optional on the command line too.
        for (text, grace) in [
            ("4", DEFAULT_SHUTDOWN_GRACE),
            ("4:0.5", Duration::from_millis(500)),
        ] {
            let e =
                ScheduleEntry::parse_flag("server-shutdown-at", "server_shutdown", text).unwrap();
            assert_eq!(
                e.build(0).unwrap(),
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
        let file: FaultSettings = toml::from_str(
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
        let (f, _) = file.clone().overlay(flags.clone()).build().unwrap();
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
        let o = file.clone().overlay(flags).build_orders().unwrap();
        assert_eq!(
            o,
            OrderFaults {
                timeout: 0.2,
                reject: 0.3,
                latency: ms(40),
                drop_user_events: 0.8,
            }
        );
        let (f, _) = file
            .clone()
            .overlay(FaultSettings::default())
            .build()
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
        let e = FaultSettings::load(Path::new("/nonexistent/scenario.toml")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/scenario.toml"), "{e}");
    }
}
