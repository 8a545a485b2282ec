//! The `exchange-sim` binary as the launcher runs it: exactly one `listening` line on stdout, the
//! replay starts with the first client, one `replay finished` line at the end, WebSockets closed
//! with a close frame, exit 0 about a second later; SIGTERM exits 0 promptly; bad input exits
//! non-zero with a message and never panics.

use std::process::Stdio;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

const BIN: &str = env!("CARGO_BIN_EXE_exchange-sim");
const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../data/binance_trades_2025-10-10_POLUSDT_2045-2145.csv.gz"
);
const WAIT: Duration = Duration::from_secs(30);

fn spawn(args: &[&str]) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut child = Command::new(BIN)
        .args(["--data", DATA, "--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn exchange-sim");
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, lines)
}

async fn line(lines: &mut Lines<BufReader<ChildStdout>>) -> Option<String> {
    timeout(WAIT, lines.next_line())
        .await
        .expect("a stdout line in time")
        .unwrap()
}

async fn listening_port(lines: &mut Lines<BufReader<ChildStdout>>) -> u16 {
    let first = line(lines).await.expect("listening line");
    let addr = first
        .strip_prefix("exchange-sim listening on 127.0.0.1:")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
    addr.parse().expect("a port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_prints_two_lines_closes_cleanly_and_exits_zero() {
    let (mut child, mut lines) = spawn(&[
        "--from",
        "2025-10-10T21:10:00Z",
        "--to",
        "2025-10-10T21:10:20Z",
        "--speed",
        "max",
        "--wait-for-client",
        "--exit-at-end",
    ]);
    let port = listening_port(&mut lines).await;
    let url = format!("ws://127.0.0.1:{port}/stream?streams=polusdt@aggTrade/polusdt@depth@100ms");
    let (mut ws, _) = timeout(WAIT, tokio_tungstenite::connect_async(url))
        .await
        .unwrap()
        .unwrap();
    let (mut trades, mut last_u) = (0u64, 0u64);
    let close = timeout(WAIT, async {
        loop {
            match ws.next().await.expect("stream open").expect("frame") {
                Message::Text(t) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    match v["stream"].as_str().unwrap() {
                        "polusdt@aggTrade" => trades += 1,
                        _ => last_u = v["data"]["u"].as_u64().unwrap(),
                    }
                }
                Message::Close(frame) => return frame,
                _ => {}
            }
        }
    })
    .await
    .expect("close frame in time");
    assert_eq!(close.map(|f| u16::from(f.code)), Some(1000));
    let finished = line(&mut lines).await.expect("finished line");
    let rest = finished
        .strip_prefix("exchange-sim replay finished: ")
        .unwrap_or_else(|| panic!("{finished:?}"));
    let fields: Vec<(&str, u64)> = rest
        .split(' ')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k, v.parse().unwrap())
        })
        .collect();
    assert_eq!(fields[0], ("trades", trades));
    assert_eq!(fields[1].0, "depth_updates");
    assert!(fields[1].1 >= 190, "{finished}");
    assert_eq!(fields[2], ("last_update_id", last_u));
    let status = timeout(WAIT, child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status}");
    assert_eq!(line(&mut lines).await, None, "nothing else on stdout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_and_sigint_exit_zero_promptly() {
    for signal in ["-TERM", "-INT"] {
        let (mut child, mut lines) = spawn(&[
            "--from",
            "2025-10-10T21:10:00Z",
            "--to",
            "2025-10-10T21:11:00Z",
        ]);
        let port = listening_port(&mut lines).await;
        // A market-data connection and a user data stream one (the WebSocket API).
        let mut sockets = Vec::new();
        for path in ["/ws/polusdt@trade", "/ws-api/v3"] {
            let url = format!("ws://127.0.0.1:{port}{path}");
            let (ws, _) = timeout(WAIT, tokio_tungstenite::connect_async(url))
                .await
                .unwrap()
                .unwrap();
            sockets.push((path, ws));
        }
        let pid = child.id().unwrap().to_string();
        let sent = Instant::now();
        let kill = Command::new("kill")
            .args([signal, &pid])
            .status()
            .await
            .unwrap();
        assert!(kill.success());
        let status = timeout(Duration::from_secs(5), child.wait())
            .await
            .expect("prompt exit")
            .unwrap();
        assert!(status.success(), "{signal}: {status}");
        assert!(
            sent.elapsed() < Duration::from_secs(3),
            "{signal}: {:?}",
            sent.elapsed()
        );
        // Each client was told with a close frame before the process went
        // (`RunningVenue::shutdown`).
        for (path, ws) in &mut sockets {
            let end = timeout(WAIT, async {
                loop {
                    match ws.next().await {
                        Some(Ok(Message::Close(frame))) => return Ok(frame),
                        None | Some(Err(_)) => {
                            return Err("the stream ended without a close frame")
                        }
                        Some(Ok(_)) => {}
                    }
                }
            })
            .await
            .expect("the stream ends");
            assert!(end.is_ok(), "{signal} {path}: {end:?}");
        }
    }
}

/// The bundled scenario file drives the faults: a client sees them, `/sim/stats` counts them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_file_faults_reach_the_client() {
    let scenario = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../config/scenarios/chaos.toml"
    );
    let (_child, mut lines) = spawn(&[
        "--from",
        "2025-10-10T21:12:00Z",
        "--speed",
        "4",
        "--wait-for-client",
        "--scenario",
        scenario,
    ]);
    let port = listening_port(&mut lines).await;
    let url = format!("ws://127.0.0.1:{port}/stream?streams=polusdt@aggTrade/polusdt@depth@100ms");
    let (mut ws, _) = timeout(WAIT, tokio_tungstenite::connect_async(url))
        .await
        .unwrap()
        .unwrap();
    // Scheduled hang-up 5 s after the replay starts.
    let closed = timeout(Duration::from_secs(10), async {
        while let Some(Ok(msg)) = ws.next().await {
            if let Message::Close(frame) = msg {
                return frame.map(|f| f.reason.to_string());
            }
        }
        None
    })
    .await
    .expect("closed by the scheduled fault");
    assert_eq!(closed.as_deref(), Some("fault injection"));
    let stats: Value = reqwest::get(format!("http://127.0.0.1:{port}/sim/stats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let f = &stats["faults"];
    for key in ["dropped", "duplicated", "reordered", "disconnects"] {
        assert!(f[key].as_u64().unwrap() > 0, "{key}: {f}");
    }
    // Reconnects are refused for a second after the hang-up.
    let url = format!("ws://127.0.0.1:{port}/ws/polusdt@aggTrade");
    assert!(tokio_tungstenite::connect_async(url).await.is_err());
}

#[tokio::test]
async fn bad_arguments_and_unusable_data_exit_non_zero() {
    let dir = std::env::temp_dir().join(format!("sim-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let garbage = dir.join("garbage.csv");
    std::fs::write(
        &garbage,
        b"exchange,symbol\n\xff\xfe\nbinance,POLUSDT,1,1,1,buy,NaN,1\n",
    )
    .unwrap();
    let bad_scenario = dir.join("bad.toml");
    std::fs::write(&bad_scenario, "drop_depth = 2.0\n").unwrap();
    let cases: Vec<Vec<String>> = vec![
        vec!["--data".into(), garbage.display().to_string()],
        vec![
            "--data".into(),
            dir.join("missing.csv").display().to_string(),
        ],
        vec!["--data".into(), DATA.into(), "--speed".into(), "0".into()],
        vec![
            "--data".into(),
            DATA.into(),
            "--symbol".into(),
            "POLEUR".into(),
        ],
        vec![
            "--data".into(),
            DATA.into(),
            "--from".into(),
            "2030-01-01T00:00:00Z".into(),
        ],
        vec![
            "--data".into(),
            DATA.into(),
            "--listen".into(),
            "256.0.0.1:1".into(),
        ],
        vec![
            "--data".into(),
            DATA.into(),
            "--scenario".into(),
            bad_scenario.display().to_string(),
        ],
    ];
    for args in cases {
        let out = timeout(WAIT, Command::new(BIN).args(&args).output())
            .await
            .unwrap()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert_ne!(out.status.code(), Some(101), "panicked: {args:?}");
        assert!(
            out.stdout.is_empty(),
            "{args:?}: {:?}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}
