//! The engine's Prometheus metrics (`flashcrash_engine_*`) and the tiny HTTP endpoint that serves
//! them, with the feed's (`feed_handler::metrics`), on `http://127.0.0.1:<engine_metrics_port>/metrics`.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::message::{Command, Response};

use execution_engine::breaker::BreakerState;
use execution_engine::rate_limit::RateLimit;
use execution_engine::real::StreamStats;
use prometheus::{
    register_gauge, register_histogram_vec, register_int_counter, register_int_counter_vec,
    register_int_gauge, register_int_gauge_vec, Encoder, Gauge, HistogramVec, IntCounter,
    IntCounterVec, IntGauge, IntGaugeVec, TextEncoder,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, info};

/// Round-trip buckets, seconds: 0.1 ms to 10 s.
const ROUND_TRIP_BUCKETS: [f64; 15] = [
    0.000_1, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
];

/// The engine's own metrics (the feed's are in `feed_handler::metrics`).
pub struct EngineMetrics {
    /// Command received → its first answer (`OrderPlaced`, `OrderCanceled`, `Error`, …), by command.
    pub round_trip: HistogramVec,
    /// Tokens used in the current window of each venue rate limit (real mode).
    pub rate_limit_used: IntGaugeVec,
    /// Each venue rate limit (real mode).
    pub rate_limit_limit: IntGaugeVec,
    /// The REST client's circuit breaker: 1 for the current state (real mode).
    pub breaker_state: IntGaugeVec,
    /// The user data stream's counts since start, by kind (real mode).
    pub user_stream: IntGaugeVec,
    /// 1 while the engine refuses new orders.
    pub halted: IntGauge,
    /// Time since the last feed message, seconds (watchdog).
    pub feed_staleness: Gauge,
    /// Resident memory, bytes (watchdog).
    pub rss: IntGauge,
    /// Resident memory growth over the watchdog's first reading, bytes.
    pub rss_growth: IntGauge,
    /// Venue server time minus local time, seconds (watchdog).
    pub clock_drift: Gauge,
    /// 1 while a watchdog finding stands, by finding.
    pub watchdog_finding: IntGaugeVec,
    /// `ReloadConfig` outcomes: `applied`, `unchanged`, `invalid`, `restart_required`.
    pub config_reloads: IntCounterVec,
    /// Writes of the net position (or the paper account) to its file that failed.
    pub position_file_errors: IntCounter,
}

impl EngineMetrics {
    /// The process-wide metrics, registered in the default registry on first use.
    ///
    /// # Panics
    /// Never in practice: the names are constant and registered once.
    pub fn global() -> &'static EngineMetrics {
        static METRICS: OnceLock<EngineMetrics> = OnceLock::new();
        METRICS.get_or_init(|| EngineMetrics {
            round_trip: register_histogram_vec!(
                "flashcrash_engine_order_round_trip_seconds",
                "Order command received to its first answer sent (paper: inline; real: venue REST round trip included)",
                &["command"],
                ROUND_TRIP_BUCKETS.to_vec()
            )
            .expect("metric"),
            rate_limit_used: register_int_gauge_vec!(
                "flashcrash_engine_rate_limit_used",
                "Tokens used in the current window of each venue rate limit",
                &["kind", "interval"]
            )
            .expect("metric"),
            rate_limit_limit: register_int_gauge_vec!(
                "flashcrash_engine_rate_limit_limit",
                "Venue rate limit per window",
                &["kind", "interval"]
            )
            .expect("metric"),
            breaker_state: register_int_gauge_vec!(
                "flashcrash_engine_circuit_breaker_state",
                "Venue circuit breaker: 1 for the current state (closed, open, half_open)",
                &["state"]
            )
            .expect("metric"),
            user_stream: register_int_gauge_vec!(
                "flashcrash_engine_user_stream_events",
                "User data stream since start: subscriptions, execution_reports applied, unreadable frames dropped, other_symbol events of other symbols ignored",
                &["kind"]
            )
            .expect("metric"),
            halted: register_int_gauge!(
                "flashcrash_engine_halted",
                "1 while the engine refuses new orders (feed down, emergency halt, venue ban, watchdog)"
            )
            .expect("metric"),
            feed_staleness: register_gauge!(
                "flashcrash_engine_watchdog_feed_staleness_seconds",
                "Time since the last feed message"
            )
            .expect("metric"),
            rss: register_int_gauge!(
                "flashcrash_engine_watchdog_rss_bytes",
                "Resident memory of the engine"
            )
            .expect("metric"),
            rss_growth: register_int_gauge!(
                "flashcrash_engine_watchdog_rss_growth_bytes",
                "Resident memory growth over the watchdog's first reading"
            )
            .expect("metric"),
            clock_drift: register_gauge!(
                "flashcrash_engine_watchdog_clock_drift_seconds",
                "Venue server time minus local time"
            )
            .expect("metric"),
            watchdog_finding: register_int_gauge_vec!(
                "flashcrash_engine_watchdog_finding",
                "1 while a watchdog finding stands (feed_stale, memory_growth, clock_drift)",
                &["finding"]
            )
            .expect("metric"),
            config_reloads: register_int_counter_vec!(
                "flashcrash_engine_config_reloads_total",
                "ReloadConfig commands by outcome (applied, unchanged, invalid, restart_required)",
                &["outcome"]
            )
            .expect("metric"),
            position_file_errors: register_int_counter!(
                "flashcrash_engine_position_file_errors_total",
                "Writes of the net position (real mode) or the paper account (paper mode) to its file in [persistence] engine_position_dir that failed"
            )
            .expect("metric"),
        })
    }

    /// Sets the rate-limit gauges from the client's usage.
    pub fn set_rate_limits(&self, usage: &[(RateLimit, u64)]) {
        for (limit, used) in usage {
            let labels = [limit.kind.as_str(), &limit.suffix()];
            self.rate_limit_used
                .with_label_values(&labels)
                .set(i64::try_from(*used).unwrap_or(i64::MAX));
            self.rate_limit_limit
                .with_label_values(&labels)
                .set(i64::try_from(limit.limit).unwrap_or(i64::MAX));
        }
    }

    /// Sets the user data stream gauges from its counters.
    pub fn set_user_stream(&self, stats: &StreamStats) {
        for (kind, n) in [
            ("subscriptions", &stats.subscriptions),
            ("execution_reports", &stats.execution_reports),
            ("unreadable", &stats.unreadable),
            ("other_symbol", &stats.other_symbol),
        ] {
            let n = i64::try_from(n.load(Ordering::SeqCst)).unwrap_or(i64::MAX);
            self.user_stream.with_label_values(&[kind]).set(n);
        }
    }

    /// Sets the one-hot breaker gauge.
    pub fn set_breaker(&self, state: BreakerState) {
        for name in ["closed", "open", "half_open"] {
            self.breaker_state
                .with_label_values(&[name])
                .set(i64::from(name == state.name()));
        }
    }
}

/// Order commands waiting for their first answer, for the round-trip histogram.
#[derive(Debug, Default)]
pub struct RoundTrips {
    pending: HashMap<String, (Instant, &'static str)>,
}

/// Pending commands kept at most; older ones are dropped when it is reached (never answered).
const MAX_PENDING: usize = 10_000;

impl RoundTrips {
    /// `cmd` arrived now.
    pub fn start(&mut self, cmd: &Command) {
        let kind = match cmd {
            Command::PlaceOrder(_) => "PlaceOrder",
            Command::CancelOrder(_) => "CancelOrder",
            Command::QueryOrder(_) => "QueryOrder",
            _ => return,
        };
        if self.pending.len() >= MAX_PENDING {
            let cutoff = Instant::now() - Duration::from_secs(60);
            self.pending.retain(|_, (t, _)| *t > cutoff);
        }
        self.pending
            .insert(cmd.command_id().to_owned(), (Instant::now(), kind));
    }

    /// `r` is being sent: the first answer to a pending command ends its round trip
    /// (`OrderExecution`s never do).
    pub fn finish(&mut self, r: &Response) {
        let id = match r {
            Response::OrderPlaced(x) => x.command_id.as_deref(),
            Response::OrderCanceled(x) => x.command_id.as_deref(),
            Response::OrderStatus(x) => x.command_id.as_deref(),
            Response::Error(x) => x.command_id.as_deref(),
            _ => None,
        };
        if let Some((started, kind)) = id.and_then(|id| self.pending.remove(id)) {
            EngineMetrics::global()
                .round_trip
                .with_label_values(&[kind])
                .observe(started.elapsed().as_secs_f64());
        }
    }
}

/// Every registered metric in the Prometheus text format.
pub fn render() -> Vec<u8> {
    let mut out = Vec::new();
    // Encoding into a Vec only fails on invalid metric names, which are constants here.
    let _ = TextEncoder::new().encode(&prometheus::gather(), &mut out);
    out
}

/// Serves `GET /metrics` on `listener` until the runtime stops (one short-lived task per
/// connection; anything else gets `404`).
pub async fn serve(listener: TcpListener) {
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "metrics served on http://{addr}/metrics");
    }
    // Register the engine's and the feed's metrics before the first scrape.
    EngineMetrics::global();
    feed_handler::metrics::FeedMetrics::global();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            if let Err(e) = tokio::time::timeout(Duration::from_secs(5), answer(stream)).await {
                debug!(error = %e, "metrics request timed out");
            }
        });
    }
}

/// Reads one request head and answers it.
async fn answer(mut stream: TcpStream) {
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    while len < buf.len() {
        match stream.read(&mut buf[len..]).await {
            Ok(0) | Err(_) => break,
            Ok(n) => len += n,
        }
        if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let head = String::from_utf8_lossy(&buf[..len]);
    let mut parts = head.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, ctype, body) =
        if method == "GET" && (path == "/metrics" || path.starts_with("/metrics?")) {
            (
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                render(),
            )
        } else {
            (
                "404 Not Found",
                "text/plain; charset=utf-8",
                b"not found: GET /metrics\n".to_vec(),
            )
        };
    let header = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(header.as_bytes()).await;
    let _ = stream.write_all(&body).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_metrics_and_404s_the_rest() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener));
        EngineMetrics::global().halted.set(1);
        let get = |path: &'static str| async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        };
        let ok = get("/metrics").await;
        assert!(ok.starts_with("HTTP/1.1 200 OK"), "{ok}");
        assert!(ok.contains("flashcrash_engine_halted 1"), "{ok}");
        assert!(ok.contains("flashcrash_engine_feed_gaps_total"), "{ok}");
        let stats = StreamStats::default();
        stats.subscriptions.store(2, Ordering::SeqCst);
        stats.unreadable.store(3, Ordering::SeqCst);
        stats.other_symbol.store(4, Ordering::SeqCst);
        EngineMetrics::global().set_user_stream(&stats);
        let ok = get("/metrics").await;
        for line in [
            "flashcrash_engine_user_stream_events{kind=\"subscriptions\"} 2",
            "flashcrash_engine_user_stream_events{kind=\"execution_reports\"} 0",
            "flashcrash_engine_user_stream_events{kind=\"unreadable\"} 3",
            "flashcrash_engine_user_stream_events{kind=\"other_symbol\"} 4",
        ] {
            assert!(ok.contains(line), "{line} not in {ok}");
        }
        let missing = get("/").await;
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    }
}
