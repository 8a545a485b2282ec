//! The engine's watchdog: every `[monitoring] watchdog_interval_secs` it measures feed staleness
//! (time since the last feed message against `[feed] heartbeat_timeout_ms`), resident memory growth
//! over its first reading (against `watchdog_memory_growth_mib`) and clock drift against the venue's
//! `GET /api/v3/time` (against `watchdog_clock_drift_ms`). Each is a metric; a finding raised or
//! cleared goes to the core loop, which publishes a `StateChange` (component `watchdog`) and, with
//! `watchdog_action = "halt"`, halts the engine as an `EmergencyHalt` does.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::config::Config;
use common::time::now_ns;
use execution_engine::real::RestClient;
use feed_handler::rest::{IpPause, RestError};
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

use crate::metrics::EngineMetrics;

/// The watchdog's thresholds (reloadable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchdogConfig {
    /// Time between checks.
    pub interval: Duration,
    /// Feed silence that counts as stale, ms (`[feed] heartbeat_timeout_ms`).
    pub stale_ms: u64,
    /// Resident memory growth that raises a finding, bytes.
    pub memory_growth_bytes: u64,
    /// Clock drift that raises a finding, ms.
    pub clock_drift_ms: u64,
    /// A finding also halts the engine.
    pub halt: bool,
}

impl WatchdogConfig {
    /// The thresholds of `cfg`.
    pub fn from_config(cfg: &Config) -> Self {
        let m = &cfg.monitoring;
        WatchdogConfig {
            interval: Duration::from_secs(m.watchdog_interval_secs.max(1)),
            stale_ms: cfg.feed.heartbeat_timeout_ms,
            memory_growth_bytes: m.watchdog_memory_growth_mib.saturating_mul(1 << 20),
            clock_drift_ms: m.watchdog_clock_drift_ms,
            halt: m.watchdog_action == "halt",
        }
    }
}

/// What the watchdog can find.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Finding {
    /// No feed message for longer than the heartbeat.
    FeedStale,
    /// Resident memory grew past the threshold (leak suspicion).
    MemoryGrowth,
    /// The local clock is off the venue's by more than the threshold.
    ClockDrift,
}

impl Finding {
    /// The `StateChange.current` spelling.
    pub fn name(self) -> &'static str {
        match self {
            Finding::FeedStale => "feed_stale",
            Finding::MemoryGrowth => "memory_growth",
            Finding::ClockDrift => "clock_drift",
        }
    }
}

/// One round of measurements; `None` for what could not be measured this time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Readings {
    /// Time since the last feed message, ms.
    pub staleness_ms: Option<u64>,
    /// Resident memory minus the first reading, bytes.
    pub rss_growth_bytes: Option<i64>,
    /// Venue time minus local time, ms.
    pub clock_drift_ms: Option<i64>,
}

/// The verdict on one measured check: `Some(reason)` past its threshold.
pub type Verdict = (Finding, Option<String>);

/// Judges the readings against the thresholds (only the measured checks).
pub fn assess(r: &Readings, c: &WatchdogConfig) -> Vec<Verdict> {
    let mut out = Vec::with_capacity(3);
    if let Some(ms) = r.staleness_ms {
        out.push((
            Finding::FeedStale,
            (ms > c.stale_ms)
                .then(|| format!("no feed message for {ms} ms (limit {} ms)", c.stale_ms)),
        ));
    }
    if let Some(bytes) = r.rss_growth_bytes {
        let mib = |b: i64| b as f64 / f64::from(1u32 << 20);
        out.push((
            Finding::MemoryGrowth,
            (bytes > 0 && bytes.unsigned_abs() > c.memory_growth_bytes).then(|| {
                format!(
                    "resident memory grew {:.1} MiB over its first reading (limit {:.0} MiB)",
                    mib(bytes),
                    mib(i64::try_from(c.memory_growth_bytes).unwrap_or(i64::MAX))
                )
            }),
        ));
    }
    if let Some(ms) = r.clock_drift_ms {
        out.push((
            Finding::ClockDrift,
            (ms.unsigned_abs() > c.clock_drift_ms).then(|| {
                format!(
                    "venue clock minus local clock {ms} ms (limit {} ms)",
                    c.clock_drift_ms
                )
            }),
        ));
    }
    out
}

/// A finding raised or cleared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// What.
    pub finding: Finding,
    /// True when raised, false when cleared.
    pub raised: bool,
    /// The figures.
    pub reason: String,
    /// `watchdog_action = "halt"` was in force when it was raised.
    pub halt: bool,
}

/// The findings that stand; turns verdicts into raise/clear events.
#[derive(Debug, Default)]
pub struct Standing {
    standing: BTreeMap<Finding, String>,
}

impl Standing {
    /// Events for the verdicts that change what stands (an unmeasured check keeps its state).
    pub fn update(&mut self, verdicts: Vec<Verdict>, halt: bool) -> Vec<Event> {
        let mut events = Vec::new();
        for (finding, over) in verdicts {
            match (self.standing.contains_key(&finding), over) {
                (false, Some(reason)) => {
                    self.standing.insert(finding, reason.clone());
                    events.push(Event {
                        finding,
                        raised: true,
                        reason,
                        halt,
                    });
                }
                (true, None) => {
                    let was = self.standing.remove(&finding).unwrap_or_default();
                    events.push(Event {
                        finding,
                        raised: false,
                        reason: format!("cleared (was: {was})"),
                        halt: false,
                    });
                }
                _ => {}
            }
        }
        events
    }
}

/// Resident set size of this process, bytes (`VmRSS` of `/proc/self/status`; `None` elsewhere).
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_rss(&status)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Where the venue's time comes from.
pub enum VenueClock {
    /// `GET <rest_url>/api/v3/time` (paper mode: the feed's REST URL), never while the venue's
    /// per-IP pause stands (a `429`/`418` answered to the feed, or to this check, which starts one).
    Http {
        /// HTTP client.
        http: reqwest::Client,
        /// REST base URL.
        rest_url: String,
        /// The pause shared with the feed.
        ip_pause: Arc<IpPause>,
    },
    /// The real executor's signed client (its clock sync, within its rate limits).
    Client(Arc<RestClient>),
}

#[derive(serde::Deserialize)]
struct ServerTime {
    #[serde(rename = "serverTime")]
    server_time: i64,
}

impl VenueClock {
    /// Venue time minus local time, ms (the local time taken at the middle of the round trip).
    async fn drift_ms(&self) -> Option<i64> {
        match self {
            VenueClock::Client(c) => c.sync_clock().await.ok(),
            VenueClock::Http {
                http,
                rest_url,
                ip_pause,
            } => {
                if ip_pause.remaining(ip_pause.now_ms()).is_some() {
                    return None;
                }
                let url = format!("{}/api/v3/time", rest_url.trim_end_matches('/'));
                let sent = (now_ns() / 1_000_000) as i64;
                let body = match feed_handler::rest::get(http, &url).await {
                    Ok(body) => body,
                    Err(e) => {
                        if let RestError::RateLimited {
                            status,
                            retry_after,
                            ..
                        } = e
                        {
                            warn!(status, retry_after_s = retry_after.as_secs(), "watchdog: the venue's time check was rate limited: REST requests paused");
                            ip_pause.pause(status, retry_after, ip_pause.now_ms());
                        }
                        return None;
                    }
                };
                let received = (now_ns() / 1_000_000) as i64;
                let t: ServerTime = serde_json::from_str(&body).ok()?;
                Some(t.server_time.saturating_sub((sent + received) / 2))
            }
        }
    }
}

/// Runs the checks until `stop` turns true or the core is gone.
pub async fn run(
    mut config: watch::Receiver<WatchdogConfig>,
    clock: VenueClock,
    events: mpsc::Sender<Event>,
    mut stop: watch::Receiver<bool>,
) {
    let metrics = EngineMetrics::global();
    let started_ns = now_ns();
    let first_rss = rss_bytes();
    let mut standing = Standing::default();
    loop {
        let cfg = config.borrow_and_update().clone();
        tokio::select! {
            _ = tokio::time::sleep(cfg.interval) => {}
            _ = stop.changed() => return,
        }
        let now = now_ns();
        let last = feed_handler::metrics::last_message_ns().unwrap_or(started_ns);
        let staleness_ms = now.saturating_sub(last) / 1_000_000;
        let rss = rss_bytes();
        let growth = rss.zip(first_rss).map(|(r, f)| r as i64 - f as i64);
        let drift = clock.drift_ms().await;
        if drift.is_none() {
            debug!("watchdog: venue time unavailable this round");
        }
        metrics.feed_staleness.set(staleness_ms as f64 / 1e3);
        if let Some(r) = rss {
            metrics.rss.set(i64::try_from(r).unwrap_or(i64::MAX));
        }
        if let Some(g) = growth {
            metrics.rss_growth.set(g);
        }
        if let Some(d) = drift {
            metrics.clock_drift.set(d as f64 / 1e3);
        }
        let readings = Readings {
            staleness_ms: Some(staleness_ms),
            rss_growth_bytes: growth,
            clock_drift_ms: drift,
        };
        for event in standing.update(assess(&readings, &cfg), cfg.halt) {
            metrics
                .watchdog_finding
                .with_label_values(&[event.finding.name()])
                .set(i64::from(event.raised));
            if event.raised {
                warn!(finding = event.finding.name(), reason = %event.reason, halt = event.halt, "watchdog finding");
            }
            if events.send(event).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> WatchdogConfig {
        WatchdogConfig {
            interval: Duration::from_secs(10),
            stale_ms: 1_000,
            memory_growth_bytes: 256 << 20,
            clock_drift_ms: 1_000,
            halt: false,
        }
    }

    #[test]
    fn assess_judges_each_measured_check() {
        struct Case {
            input: Readings,
            expected: Vec<(Finding, bool)>,
        }
        let cases = [
            Case {
                input: Readings {
                    staleness_ms: Some(1_000),
                    rss_growth_bytes: Some(256 << 20),
                    clock_drift_ms: Some(-1_000),
                },
                expected: vec![
                    (Finding::FeedStale, false),
                    (Finding::MemoryGrowth, false),
                    (Finding::ClockDrift, false),
                ],
            },
            Case {
                input: Readings {
                    staleness_ms: Some(1_001),
                    rss_growth_bytes: Some((256 << 20) + 1),
                    clock_drift_ms: Some(-1_001),
                },
                expected: vec![
                    (Finding::FeedStale, true),
                    (Finding::MemoryGrowth, true),
                    (Finding::ClockDrift, true),
                ],
            },
            Case {
                // Shrinking memory is no leak; an unmeasured drift is no verdict.
                input: Readings {
                    staleness_ms: Some(0),
                    rss_growth_bytes: Some(-(512 << 20)),
                    clock_drift_ms: None,
                },
                expected: vec![(Finding::FeedStale, false), (Finding::MemoryGrowth, false)],
            },
        ];
        for c in cases {
            let got: Vec<(Finding, bool)> = assess(&c.input, &cfg())
                .into_iter()
                .map(|(f, over)| (f, over.is_some()))
                .collect();
            assert_eq!(got, c.expected, "{:?}", c.input);
        }
    }

    #[test]
    fn reasons_carry_the_figures() {
        let r = Readings {
            staleness_ms: Some(3_200),
            rss_growth_bytes: None,
            clock_drift_ms: Some(1_500),
        };
        let v = assess(&r, &cfg());
        assert_eq!(
            v[0].1.as_deref(),
            Some("no feed message for 3200 ms (limit 1000 ms)")
        );
        assert_eq!(
            v[1].1.as_deref(),
            Some("venue clock minus local clock 1500 ms (limit 1000 ms)")
        );
    }

    #[test]
    fn standing_raises_once_and_clears_once() {
        let mut s = Standing::default();
        let stale = |over: bool| vec![(Finding::FeedStale, over.then(|| "stale".to_owned()))];
        let ev = s.update(stale(true), true);
        assert_eq!(ev.len(), 1);
        assert!(ev[0].raised && ev[0].halt);
        assert!(s.update(stale(true), true).is_empty(), "raised once");
        // An unmeasured check keeps its state.
        assert!(s.update(Vec::new(), true).is_empty());
        let ev = s.update(stale(false), true);
        assert_eq!(ev.len(), 1);
        assert!(!ev[0].raised && !ev[0].halt);
        assert_eq!(ev[0].reason, "cleared (was: stale)");
        assert!(s.update(stale(false), true).is_empty());
    }

    /// Paper mode's time check: a `429` with `Retry-After: 7` pauses the REST requests (the feed's
    /// too) for 7 s and gives no reading; while the pause stands the venue is not asked again.
    #[tokio::test]
    async fn a_rate_limited_time_check_pauses_and_waits_out_the_pause() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let asked = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&asked);
        let app = axum::Router::new().fallback(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async {
                (
                    axum::http::StatusCode::TOO_MANY_REQUESTS,
                    [("Retry-After", "7")],
                    "{\"code\":-1003,\"msg\":\"Too many requests.\"}",
                )
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let ip_pause = Arc::new(IpPause::default());
        let clock = VenueClock::Http {
            http: reqwest::Client::new(),
            rest_url: url,
            ip_pause: Arc::clone(&ip_pause),
        };
        assert_eq!(clock.drift_ms().await, None);
        let (left, status) = ip_pause.remaining(ip_pause.now_ms()).expect("a pause");
        assert_eq!(status, 429);
        assert!(
            left > Duration::from_secs(6) && left <= Duration::from_secs(7),
            "{left:?}"
        );
        assert_eq!(clock.drift_ms().await, None);
        assert_eq!(
            asked.load(Ordering::SeqCst),
            1,
            "asked again during the pause"
        );
    }

    #[test]
    fn reads_vm_rss() {
        let status = "Name:\tengine\nVmPeak:\t  2000 kB\nVmRSS:\t    1234 kB\nThreads:\t4\n";
        assert_eq!(parse_vm_rss(status), Some(1234 * 1024));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
        assert!(rss_bytes().is_some_and(|b| b > 0));
    }

    #[test]
    fn thresholds_come_from_the_config() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../config/config.toml");
        let c = common::config::load(&path).unwrap();
        let w = WatchdogConfig::from_config(&c);
        assert_eq!(
            w.interval,
            Duration::from_secs(c.monitoring.watchdog_interval_secs)
        );
        assert_eq!(w.stale_ms, c.feed.heartbeat_timeout_ms);
        assert_eq!(
            w.memory_growth_bytes,
            c.monitoring.watchdog_memory_growth_mib << 20
        );
        assert_eq!(w.halt, c.monitoring.watchdog_action == "halt");
    }
}
