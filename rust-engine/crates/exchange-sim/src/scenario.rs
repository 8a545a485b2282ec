//! Fault settings as given on the command line or in a scenario file (TOML, `--scenario`), and
//! their validation into [`Faults`] and a [`Scheduled`] list. A key of the file is the flag's name
//! with `_` for `-` (`drop_depth` for `--drop-depth`); a flag given on the command line wins over
//! the file, and scheduled faults of both are kept. Example (`docs/EXCHANGE_SIM.md` has all keys):
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
    /// the connections (default [`DEFAULT_SHUTDOWN_GRACE`]), seconds.
    pub secs: Option<f64>,
}

impl ScheduleEntry {
    /// Parses `AT` (a disconnect) or `AT:SECS` (a stall or a refusal; for a server shutdown,
    /// optional: its grace) as given on the command line.
    ///
    /// # Errors
    /// [`ConfigError`] naming `flag`.
    pub fn parse_flag(flag: &'static str, fault: &str, text: &str) -> Result<Self, ConfigError> {
        let bad = || ConfigError::invalid(flag, text, "expected SECONDS or SECONDS:DURATION");
        let (at, secs) = match text.split_once(':') {
            Some((a, d)) => (a, Some(d.trim().parse::<f64>().map_err(|_| bad())?)),
            None => (text, None),
        };
        Ok(ScheduleEntry {
            at: at.trim().parse().map_err(|_| bad())?,
            fault: fault.to_owned(),
            secs,
        })
    }
}

impl FaultSettings {
    /// Reads a scenario file.
    ///
    /// # Errors
    /// [`ConfigError::Scenario`] naming the file and what is wrong in it.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Scenario {
            path: path.to_owned(),
            why: e.to_string(),
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Scenario {
            path: path.to_owned(),
            why: e.to_string(),
        })
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
    /// [`ConfigError`] naming the first bad setting by its flag.
    pub fn build(&self) -> Result<(Faults, Vec<Scheduled>), ConfigError> {
        let d = Faults::default();
        let faults = Faults {
            drop_depth: fraction("drop-depth", self.drop_depth)?,
            duplicate: fraction("duplicate", self.duplicate)?,
            malformed: fraction("malformed", self.malformed)?,
            bad_price: fraction("bad-price", self.bad_price)?,
            reorder: match fraction("reorder", self.reorder)? {
                // A held frame goes out behind later frames that are not held: with every frame
                // held, nothing would ever be sent.
                r if r >= 1.0 => {
                    return Err(ConfigError::invalid(
                        "reorder",
                        r,
                        "expected a fraction from 0 to below 1 (a held frame waits for frames that are not held)",
                    ))
                }
                r => r,
            },
            reorder_window: match self.reorder_window {
                Some(0) => {
                    return Err(ConfigError::invalid(
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
                    return Err(ConfigError::invalid(
                        "latency-ms",
                        ms,
                        "expected 0 to 3600000 milliseconds",
                    ))
                }
            },
            disconnect_every: seconds("disconnect-every", self.disconnect_every)?,
            refuse_reconnects: seconds("refuse-reconnects", self.refuse_reconnects)?,
            stale_snapshot: fraction("stale-snapshot", self.stale_snapshot)?,
            stale_snapshot_updates: match self.stale_snapshot_updates {
                Some(0) => {
                    return Err(ConfigError::invalid(
                        "stale-snapshot-updates",
                        0,
                        "expected 1 or more",
                    ))
                }
                n => n.unwrap_or(d.stale_snapshot_updates),
            },
        };
        let schedule = self
            .schedule
            .iter()
            .map(ScheduleEntry::build)
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
        let f = OrderFaults {
            timeout: fraction("order-timeout", self.order_timeout)?,
            reject: fraction("order-reject", self.order_reject)?,
            latency: milliseconds("order-latency-ms", self.order_latency_ms)?,
            drop_user_events: fraction("drop-user-events", self.drop_user_events)?,
        };
        if f.timeout + f.reject > 1.0 {
            return Err(ConfigError::invalid(
                "order-reject",
                f.reject,
                "--order-timeout plus --order-reject must be at most 1",
            ));
        }
        Ok(f)
    }
}

fn milliseconds(flag: &'static str, v: Option<f64>) -> Result<Duration, ConfigError> {
    match v {
        None => Ok(Duration::ZERO),
        Some(ms) if ms.is_finite() && (0.0..=3_600_000.0).contains(&ms) => {
            Ok(Duration::from_secs_f64(ms / 1000.0))
        }
        Some(ms) => Err(ConfigError::invalid(
            flag,
            ms,
            "expected 0 to 3600000 milliseconds",
        )),
    }
}

impl ScheduleEntry {
    fn build(&self) -> Result<Scheduled, ConfigError> {
        let at = seconds_or_zero("schedule.at", self.at)?;
        let secs = || {
            seconds("schedule.secs", self.secs)?.ok_or_else(|| {
                ConfigError::invalid(
                    "schedule.secs",
                    &self.fault,
                    "a stall or refusal needs secs",
                )
            })
        };
        let fault = match self.fault.as_str() {
            "disconnect" => TimedFault::Disconnect,
            "stall" => TimedFault::Stall(secs()?),
            "refuse" => TimedFault::Refuse(secs()?),
            "server_shutdown" => TimedFault::ServerShutdown(
                seconds("schedule.secs", self.secs)?.unwrap_or(DEFAULT_SHUTDOWN_GRACE),
            ),
            other => {
                return Err(ConfigError::invalid(
                    "schedule.fault",
                    other,
                    "expected disconnect, stall, refuse or server_shutdown",
                ))
            }
        };
        Ok(Scheduled { at, fault })
    }
}

fn fraction(flag: &'static str, v: Option<f64>) -> Result<f64, ConfigError> {
    match v {
        None => Ok(0.0),
        Some(v) if (0.0..=1.0).contains(&v) => Ok(v),
        Some(v) => Err(ConfigError::invalid(
            flag,
            v,
            "expected a fraction from 0 to 1",
        )),
    }
}

fn seconds(flag: &'static str, v: Option<f64>) -> Result<Option<Duration>, ConfigError> {
    match v {
        None => Ok(None),
        Some(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => {
            Ok(Some(Duration::from_secs_f64(s)))
        }
        Some(s) => Err(ConfigError::invalid(
            flag,
            s,
            "expected a positive number of seconds, at most 86400",
        )),
    }
}

fn seconds_or_zero(flag: &'static str, s: f64) -> Result<Duration, ConfigError> {
    if s == 0.0 {
        return Ok(Duration::ZERO);
    }
    Ok(seconds(flag, Some(s))?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<(Faults, Vec<Scheduled>), String> {
        toml::from_str::<FaultSettings>(text)
            .map_err(|e| e.to_string())?
            .build()
            .map_err(|e| e.to_string())
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

    #[test]
    fn errors_name_the_setting() {
        for (text, names) in [
            ("drop_depth = 1.5", "--drop-depth"),
            ("latency_ms = -1", "--latency-ms"),
            ("reorder_window = 0", "--reorder-window"),
            ("reorder = 1.0", "--reorder"),
            ("disconnect_every = 0", "--disconnect-every"),
            ("stale_snapshot_updates = 0", "--stale-snapshot-updates"),
            ("drop_dept = 0.1", "drop_dept"),
            ("[[schedule]]\nat = 1\nfault = \"melt\"", "--schedule.fault"),
            ("[[schedule]]\nat = 1\nfault = \"stall\"", "--schedule.secs"),
            (
                "[[schedule]]\nat = 1\nfault = \"server_shutdown\"\nsecs = 0",
                "--schedule.secs",
            ),
            (
                "[[schedule]]\nat = -1\nfault = \"disconnect\"",
                "--schedule.at",
            ),
            ("duplicate = \"lots\"", "duplicate"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(names), "{text}: {e}");
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
                e.build().unwrap(),
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
