//! The `engine` binary against exchange-sim on loopback: `ReloadConfig` applies a changed limit,
//! refuses an invalid file (old values kept) and an address change; `/metrics` serves the engine's
//! figures; the watchdog reports a stale feed and halts with `watchdog_action = "halt"`; a config
//! grid the venue's exchangeInfo refuses stops the engine at start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::message::{
    decode, encode, Command, DataMessage, PlaceOrder, ReloadConfig, Response, Shutdown, StateChange,
};
use common::message::{OrderType, Side, TimeInForce};
use exchange_sim::clock::Speed;
use exchange_sim::{launch, time, RunningVenue, SimConfig, Start};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command as Process};
use zeromq::{PushSocket, Socket, SocketRecv, SocketSend, SubSocket};

const BIN: &str = env!("CARGO_BIN_EXE_engine");
const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../data/binance_trades_2025-10-10_POLUSDT_2045-2145.csv.gz"
);

async fn start_sim() -> RunningVenue {
    let mut cfg = SimConfig {
        from_us: Some(time::parse_utc_us("2025-10-10T21:00:00Z").unwrap()),
        to_us: Some(time::parse_utc_us("2025-10-10T21:05:00Z").unwrap()),
        speed: Speed::Factor(1.0),
        start: Start::OnFirstClient,
        book_levels: 50,
        seed: 11,
        ..SimConfig::new(DATA)
    };
    cfg.trading.rate_limits.weight_per_minute = 10_000_000;
    launch(&cfg).await.unwrap()
}

/// A port free right now, taken below Linux's ephemeral range (32768 up): a port from that range
/// can go to any outgoing connection on the host before the engine binds it. Each call of this
/// process gets another port; the start differs per process.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 10_000;
    const SPAN: u32 = 22_000;
    static CALLS: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(7_919);
    loop {
        let n = CALLS.fetch_add(1, Ordering::Relaxed);
        let port = (LOW + start.wrapping_add(n.wrapping_mul(104_729)) % SPAN) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Replaces `key = <old>` in `[section]` of the file at `path` by `key = value`.
fn set_key(path: &Path, section: &str, key: &str, value: &str) {
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

struct Engine {
    child: Child,
    config: PathBuf,
    commands: PushSocket,
    data: SubSocket,
    responses: SubSocket,
    metrics: SocketAddr,
    next_id: u64,
}

/// Ports of an engine's config.
struct Ports {
    data: u16,
    cmd: u16,
    resp: u16,
    metrics: u16,
}

/// A copy of `config/config.toml` pointed at `ws`, the simulator's REST API and free ports.
fn engine_config(name: &str, ws: &str, sim: SocketAddr) -> (PathBuf, Ports) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../config");
    let dir = std::env::temp_dir().join(format!(
        "flashcrash-monitoring-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.toml");
    std::fs::copy(repo.join("config.toml"), &config).unwrap();
    std::fs::copy(repo.join("schema.toml"), dir.join("schema.toml")).unwrap();
    let (data, cmd, resp, metrics) = (free_port(), free_port(), free_port(), free_port());
    set_key(&config, "feed", "ws_url", &format!("\"{ws}\""));
    set_key(&config, "feed", "rest_url", &format!("\"http://{sim}\""));
    set_key(&config, "feed", "snapshot_refresh_secs", "0");
    for (key, port) in [
        ("data_endpoint", data),
        ("command_endpoint", cmd),
        ("response_endpoint", resp),
    ] {
        set_key(&config, "zmq", key, &format!("\"tcp://127.0.0.1:{port}\""));
    }
    set_key(
        &config,
        "monitoring",
        "engine_metrics_port",
        &metrics.to_string(),
    );
    set_key(&config, "monitoring", "watchdog_interval_secs", "2");
    // The paper account's file in the test's own folder (not `reports/` under the crate: a later
    // run would restore this run's orders).
    set_key(
        &config,
        "persistence",
        "engine_position_dir",
        &format!("\"{}\"", dir.display()),
    );
    let ports = Ports {
        data,
        cmd,
        resp,
        metrics,
    };
    (config, ports)
}

/// Starts the engine on [`engine_config`] after `tweak` edits it.
async fn start_engine(name: &str, ws: String, sim: SocketAddr, tweak: impl Fn(&Path)) -> Engine {
    let (
        config,
        Ports {
            data,
            cmd,
            resp,
            metrics,
        },
    ) = engine_config(name, &ws, sim);
    tweak(&config);
    let child = Process::new(BIN)
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut data_sub = SubSocket::new();
    let mut resp_sub = SubSocket::new();
    let mut push = PushSocket::new();
    data_sub.subscribe("").await.unwrap();
    resp_sub.subscribe("resp").await.unwrap();
    // The engine binds data, commands, responses in that order once it has read the config:
    // wait (plain TCP, which fails fast) until the last is there.
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", resp)).is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    resp_sub
        .connect(&format!("tcp://127.0.0.1:{resp}"))
        .await
        .unwrap();
    data_sub
        .connect(&format!("tcp://127.0.0.1:{data}"))
        .await
        .unwrap();
    push.connect(&format!("tcp://127.0.0.1:{cmd}"))
        .await
        .unwrap();
    Engine {
        child,
        config,
        commands: push,
        data: data_sub,
        responses: resp_sub,
        metrics: SocketAddr::from(([127, 0, 0, 1], metrics)),
        next_id: 0,
    }
}

impl Engine {
    fn id(&mut self) -> String {
        self.next_id += 1;
        format!("cmd-{}", self.next_id)
    }

    async fn send(&mut self, cmd: Command) {
        self.commands
            .send(encode(&cmd).unwrap().into())
            .await
            .unwrap();
    }

    /// The first response to `command_id`.
    async fn answer(&mut self, command_id: &str) -> Response {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let msg = self.responses.recv().await.unwrap();
                let r: Response = decode(msg.iter().last().unwrap()).unwrap();
                let id = match &r {
                    Response::Success(x) => x.command_id.clone(),
                    Response::Error(x) => x.command_id.clone(),
                    Response::OrderPlaced(x) => x.command_id.clone(),
                    _ => None,
                };
                if id.as_deref() == Some(command_id) {
                    return r;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no answer to {command_id}"))
    }

    async fn reload(&mut self) -> Response {
        let id = self.id();
        self.send(Command::ReloadConfig(ReloadConfig {
            command_id: id.clone(),
            ts_ns: 1,
        }))
        .await;
        self.answer(&id).await
    }

    /// The first data message `pick` accepts, within `secs`.
    async fn data_until<T>(
        &mut self,
        secs: u64,
        mut pick: impl FnMut(DataMessage) -> Option<T>,
    ) -> T {
        tokio::time::timeout(Duration::from_secs(secs), async {
            loop {
                let msg = self.data.recv().await.unwrap();
                let m: DataMessage = decode(msg.iter().last().unwrap()).unwrap();
                if let Some(t) = pick(m) {
                    return t;
                }
            }
        })
        .await
        .expect("data message not seen in time")
    }

    async fn state_change(&mut self, component: &str, current: &str, secs: u64) -> StateChange {
        let (component, current) = (component.to_owned(), current.to_owned());
        self.data_until(secs, move |m| match m {
            DataMessage::StateChange(s) if s.component == component && s.current == current => {
                Some(s)
            }
            _ => None,
        })
        .await
    }

    async fn scrape(&self) -> String {
        let mut s = tokio::net::TcpStream::connect(self.metrics).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    async fn stop(mut self) {
        let id = self.id();
        self.send(Command::Shutdown(Shutdown {
            command_id: id,
            ts_ns: 1,
            reason: "test over".into(),
        }))
        .await;
        let status = tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .expect("engine did not stop")
            .unwrap();
        assert!(status.success(), "{status:?}");
        if let Some(dir) = self.config.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn place(id: &str, coid: &str, price: &str) -> Command {
    Command::PlaceOrder(PlaceOrder {
        command_id: id.into(),
        ts_ns: 1,
        client_order_id: coid.into(),
        symbol: "POLUSDT".into(),
        side: Side::Buy,
        order_type: OrderType::Limit,
        time_in_force: Some(TimeInForce::Gtc),
        quantity: "100".parse().unwrap(),
        price: Some(price.parse().unwrap()),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_config_applies_refuses_and_metrics_are_served() {
    let sim = start_sim().await;
    let ws = format!("ws://{}", sim.addr);
    let mut e = start_engine("reload", ws, sim.addr, |_| {}).await;
    let bid = e
        .data_until(30, |m| match m {
            DataMessage::OrderBookSnapshot(b) => b.bids.first().map(|l| l[0]),
            _ => None,
        })
        .await;
    let price = format!("{:.4}", bid * 0.9);

    let Response::Success(s) = e.reload().await else {
        panic!("unchanged reload refused")
    };
    assert_eq!(s.message, "unchanged");

    // A changed limit is applied at once and announced: an order of 100 (about 19 USDT) accepted
    // under the shipped 1000 is refused under 10.
    let config = e.config.clone();
    let id = e.id();
    e.send(place(&id, "mon-1", &price)).await;
    assert!(matches!(e.answer(&id).await, Response::OrderPlaced(_)));
    set_key(&config, "risk", "max_order_notional", "\"10\"");
    let Response::Success(s) = e.reload().await else {
        panic!("reload refused")
    };
    assert_eq!(s.message, "reloaded: risk.max_order_notional");
    let sc = e
        .data_until(5, |m| match m {
            DataMessage::StateChange(s) if s.component == "config" => Some(s),
            _ => None,
        })
        .await;
    assert_eq!(sc.reason, "reloaded: risk.max_order_notional");
    assert_eq!(sc.previous.len(), 16);
    assert_ne!(sc.previous, sc.current);
    let id = e.id();
    e.send(place(&id, "mon-2", &price)).await;
    let Response::Error(err) = e.answer(&id).await else {
        panic!("second order accepted")
    };
    assert!(
        err.message.contains("max_order_notional 10"),
        "{}",
        err.message
    );

    // An invalid value is refused naming the key; the old values stay.
    set_key(&config, "risk", "max_open_orders", "-1");
    let Response::Error(err) = e.reload().await else {
        panic!("invalid reload applied")
    };
    assert_eq!(
        err.field.as_deref(),
        Some("risk.max_open_orders"),
        "{}",
        err.message
    );
    set_key(&config, "risk", "max_open_orders", "5");
    let Response::Success(s) = e.reload().await else {
        panic!("reload refused")
    };
    assert_eq!(
        s.message, "unchanged",
        "the refused file must not have been applied"
    );

    // An address change needs a restart: nothing applied.
    set_key(&config, "zmq", "strategy_endpoint", "\"tcp://127.0.0.1:1\"");
    set_key(&config, "risk", "max_open_orders", "5");
    let Response::Error(err) = e.reload().await else {
        panic!("address change applied")
    };
    assert_eq!(err.field.as_deref(), Some("zmq.strategy_endpoint"));
    assert!(err.message.contains("restart required"), "{}", err.message);

    let page = e.scrape().await;
    assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
    for needle in [
        "flashcrash_engine_config_reloads_total{outcome=\"applied\"} 1",
        "flashcrash_engine_config_reloads_total{outcome=\"invalid\"} 1",
        "flashcrash_engine_config_reloads_total{outcome=\"restart_required\"} 1",
        "flashcrash_engine_feed_latency_seconds_bucket",
        "flashcrash_engine_feed_state{state=\"live\"} 1",
        "flashcrash_engine_order_round_trip_seconds_count{command=\"PlaceOrder\"} 2",
        "flashcrash_engine_book_levels{side=\"bid\"}",
        "flashcrash_engine_feed_invalid_messages_total{reason=\"malformed\"}",
        "flashcrash_engine_watchdog_rss_bytes",
        "flashcrash_engine_halted 0",
    ] {
        assert!(page.contains(needle), "{needle} missing from:\n{page}");
    }
    e.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchdog_reports_a_stale_feed_and_halts() {
    let sim = start_sim().await;
    // The feed's WebSocket goes nowhere; exchangeInfo and the venue's time come from the simulator.
    let dead = format!("ws://127.0.0.1:{}", free_port());
    let mut e = start_engine("watchdog", dead, sim.addr, |c| {
        set_key(c, "monitoring", "watchdog_action", "\"halt\"");
    })
    .await;
    let sc = e.state_change("watchdog", "feed_stale", 20).await;
    assert_eq!(sc.previous, "ok");
    assert!(
        sc.reason.starts_with("no feed message for "),
        "{}",
        sc.reason
    );
    let halted = e.state_change("engine", "halted", 5).await;
    assert!(
        halted.reason.starts_with("watchdog: feed_stale"),
        "{}",
        halted.reason
    );
    let page = e.scrape().await;
    assert!(
        page.contains("flashcrash_engine_watchdog_finding{finding=\"feed_stale\"} 1"),
        "{page}"
    );
    assert!(page.contains("flashcrash_engine_halted 1"), "{page}");
    e.stop().await;
}

/// The engine started against exchange-sim with `key` (section, key, TOML value) set, which it must
/// refuse: it stops within `secs` with exit code 2. Its stderr and the venue's address.
async fn refused_start(
    name: &str,
    (section, key, value): (&str, &str, &str),
    rust_log: &str,
    secs: u64,
) -> (String, std::net::SocketAddr) {
    let sim = start_sim().await;
    let dead = format!("ws://127.0.0.1:{}", free_port());
    let (config, _) = engine_config(name, &dead, sim.addr);
    set_key(&config, section, key, value);
    let run = Process::new(BIN)
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", rust_log)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(secs), run)
        .await
        .unwrap_or_else(|_| panic!("the engine did not stop within {secs} s"))
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    (stderr, sim.addr)
}

/// A config grid the venue does not accept (`[symbol] quantity_step` 0.05 where exchangeInfo says
/// 0.1): the engine refuses to start, exit code 2, naming the key, its value and the venue's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_refuses_a_quantity_step_off_the_venues() {
    let (stderr, _) =
        refused_start("grid", ("symbol", "quantity_step", "\"0.05\""), "warn", 30).await;
    assert!(
        stderr.contains(
            "[symbol] quantity_step = 0.05 is not a multiple of POLUSDT's LOT_SIZE stepSize 0.1"
        ),
        "{stderr}"
    );
}

/// A symbol the venue does not list (`[symbol] name = "BTCUSDT"` against a venue replaying
/// POLUSDT, which answers `-1121` "Invalid symbol."): the engine stops at once, exit code 2, with
/// one line naming the key and its value (before: it retried exchangeInfo for ever).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_refuses_a_symbol_the_venue_does_not_list() {
    let (stderr, venue) =
        refused_start("symbol", ("symbol", "name", "\"BTCUSDT\""), "off", 10).await;
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        [format!(
            "engine: config error: [symbol] name = \"BTCUSDT\": the venue at http://{} does not \
             list this symbol (exchangeInfo answered HTTP 400, code -1121 \"Invalid symbol.\")",
            venue
        )],
        "{stderr}"
    );
}
