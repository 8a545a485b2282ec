use super::*;
use crate::config::DataFormat;
use crate::faults::TimedFault;
use crate::units::SCALE;
use std::time::Duration;

fn parse(extra: &[&str]) -> Result<SimConfig, ConfigError> {
    let argv = ["exchange-sim", "--data", "x.csv.gz"].iter().chain(extra);
    Args::try_parse_from(argv).unwrap().into_config()
}

#[test]
fn defaults() {
    let c = parse(&[]).unwrap();
    assert_eq!(c.symbol, "POLUSDT");
    assert_eq!(c.listen, "127.0.0.1:0");
    assert_eq!(c.speed, Speed::Factor(1.0));
    assert_eq!(c.start, Start::Immediately);
    assert_eq!(c.time_base, TimeBase::Rebased);
    assert_eq!(
        (c.tick, c.step, c.min_notional),
        (10_000, SCALE / 10, 5 * SCALE)
    );
    assert_eq!(
        (c.book_levels, c.seed, c.data_gap_us),
        (200, 7, 300_000_000)
    );
    assert!(!c.exit_at_end && !c.faults.any());
    assert_eq!((c.from_us, c.to_us), (None, None));
    assert_eq!(c.format, DataFormat::Trades);
    assert_eq!(
        parse(&["--format", "capture"]).unwrap().format,
        DataFormat::Capture
    );
}

#[test]
fn every_flag() {
    let c = parse(&[
        "--symbol",
        "polusdt",
        "--from",
        "2025-10-10T21:00:00Z",
        "--to",
        "2025-10-10T21:30:00Z",
        "--listen",
        "127.0.0.1:9443",
        "--speed",
        "max",
        "--wait-for-client",
        "--exit-at-end",
        "--timestamps",
        "original",
        "--tick-size",
        "0.01",
        "--step-size",
        "0.001",
        "--min-notional",
        "10",
        "--book-levels",
        "50",
        "--seed",
        "3",
        "--data-gap-secs",
        "0",
        "--drop-depth",
        "0.1",
        "--disconnect-every",
        "2.5",
    ])
    .unwrap();
    assert_eq!(c.symbol, "POLUSDT");
    assert_eq!(c.from_us, Some(1_760_130_000_000_000));
    assert_eq!(c.to_us, Some(1_760_131_800_000_000));
    assert_eq!(c.speed, Speed::Max);
    assert_eq!(c.start, Start::OnFirstClient);
    assert!(c.exit_at_end);
    assert_eq!(c.time_base, TimeBase::Original);
    assert_eq!(
        (c.tick, c.step, c.min_notional),
        (SCALE / 100, SCALE / 1000, 10 * SCALE)
    );
    assert_eq!((c.book_levels, c.seed, c.data_gap_us), (50, 3, 0));
    assert_eq!(c.faults.drop_depth, 0.1);
    assert_eq!(c.faults.disconnect_every, Some(Duration::from_millis(2500)));
}

#[test]
fn new_faults_and_schedule() {
    let c = parse(&[
        "--reorder",
        "0.05",
        "--reorder-window",
        "4",
        "--latency-ms",
        "600",
        "--refuse-reconnects",
        "1.5",
        "--stale-snapshot",
        "0.5",
        "--disconnect-at",
        "3,9",
        "--stall-at",
        "5:2",
        "--refuse-at",
        "7:1",
        "--server-shutdown-at",
        "11,12:0.25",
    ])
    .unwrap();
    assert_eq!((c.faults.reorder, c.faults.reorder_window), (0.05, 4));
    assert_eq!(c.faults.latency, Duration::from_millis(600));
    assert_eq!(
        c.faults.refuse_reconnects,
        Some(Duration::from_millis(1500))
    );
    assert_eq!(c.faults.stale_snapshot, 0.5);
    let kinds: Vec<TimedFault> = c.schedule.iter().map(|s| s.fault).collect();
    assert_eq!(
        kinds,
        [
            TimedFault::Disconnect,
            TimedFault::Disconnect,
            TimedFault::Stall(Duration::from_secs(2)),
            TimedFault::Refuse(Duration::from_secs(1)),
            TimedFault::ServerShutdown(crate::faults::DEFAULT_SHUTDOWN_GRACE),
            TimedFault::ServerShutdown(Duration::from_millis(250)),
        ]
    );
}

/// Every per-connection fault flag reaches the venue's faults (each with its own value, so a
/// flag wired to another's field shows), and a scenario file fills what the flags leave out.
#[test]
fn every_fault_flag_and_the_scenario_file() {
    let flags = [
        "--drop-depth",
        "0.11",
        "--duplicate",
        "0.12",
        "--malformed",
        "0.13",
        "--bad-price",
        "0.14",
        "--reorder",
        "0.15",
        "--reorder-window",
        "6",
        "--latency-ms",
        "70",
        "--disconnect-every",
        "8",
        "--refuse-reconnects",
        "9",
        "--stale-snapshot",
        "0.16",
        "--stale-snapshot-updates",
        "17",
    ];
    let ms = Duration::from_millis;
    let expected = crate::faults::Faults {
        drop_depth: 0.11,
        duplicate: 0.12,
        malformed: 0.13,
        bad_price: 0.14,
        reorder: 0.15,
        reorder_window: 6,
        latency: ms(70),
        disconnect_every: Some(ms(8000)),
        refuse_reconnects: Some(ms(9000)),
        stale_snapshot: 0.16,
        stale_snapshot_updates: 17,
    };
    assert_eq!(parse(&flags).unwrap().faults, expected);
    let stamp = format!("{}-{:?}", std::process::id(), std::thread::current().id());
    let path = std::env::temp_dir().join(format!("sim-scenario-{stamp}.toml"));
    std::fs::write(
        &path,
        "duplicate = 0.5\nstale_snapshot_updates = 3\n[[schedule]]\nat = 4\nfault = \"disconnect\"\n",
    )
    .unwrap();
    let scenario = path.to_str().unwrap();
    let c = parse(&["--scenario", scenario, "--bad-price", "0.2"]).unwrap();
    assert_eq!(
        (
            c.faults.duplicate,
            c.faults.stale_snapshot_updates,
            c.faults.bad_price
        ),
        (0.5, 3, 0.2)
    );
    assert_eq!(c.schedule.len(), 1);
    let c = parse(&["--scenario", scenario, "--duplicate", "0.25"]).unwrap();
    assert_eq!(c.faults.duplicate, 0.25);
    let _ = std::fs::remove_file(path);
}

#[test]
fn trading_flags() {
    let c = parse(&[]).unwrap();
    assert_eq!(c.trading.api_key, DEFAULT_API_KEY);
    assert_eq!(
        c.trading.account.balances,
        vec![("USDT".to_owned(), 10_000 * SCALE)]
    );
    assert_eq!(
        (c.trading.account.maker_fee, c.trading.account.taker_fee),
        (SCALE / 1000, SCALE / 1000)
    );
    assert!(!c.trading.faults.any());
    let c = parse(&[
        "--api-key",
        "k1",
        "--api-secret",
        "s1",
        "--balances",
        "USDT=500.5,pol=20",
        "--maker-fee",
        "0",
        "--taker-fee",
        "0.00075",
        "--order-timeout",
        "0.1",
        "--order-reject",
        "0.2",
        "--order-latency-ms",
        "30",
        "--drop-user-events",
        "0.25",
        "--order-limit-10s",
        "5",
        "--ban-after",
        "0",
        "--ban-secs",
        "999999",
    ])
    .unwrap();
    let t = &c.trading;
    assert_eq!((t.api_key.as_str(), t.api_secret.as_str()), ("k1", "s1"));
    assert_eq!(t.ed25519_api_key, DEFAULT_ED25519_API_KEY);
    assert_eq!(t.ed25519_public_key, default_ed25519_key());
    assert_eq!(
        t.account.balances,
        vec![
            ("USDT".to_owned(), 50_050_000_000),
            ("POL".to_owned(), 20 * SCALE)
        ]
    );
    assert_eq!((t.account.maker_fee, t.account.taker_fee), (0, 75_000));
    assert_eq!((t.faults.timeout, t.faults.reject), (0.1, 0.2));
    assert_eq!(t.faults.latency, Duration::from_millis(30));
    assert_eq!(t.faults.drop_user_events, 0.25);
    assert_eq!(t.rate_limits.orders_per_10s, 5);
    // No bans; a ban's length capped at 3 days.
    assert_eq!(
        (t.rate_limits.ban_after, t.rate_limits.ban_secs),
        (0, 259_200)
    );
    for bad in [
        &["--balances", "USDT"][..],
        &["--balances", "USDT=-1"],
        &["--maker-fee", "2"],
        &["--order-timeout", "1.5"],
        &["--drop-user-events", "1.5"],
        &["--order-limit-10s", "0"],
        &["--ban-secs", "0"],
        &["--api-key", "has space"],
        &["--ed25519-api-key", "has space"],
        &["--ed25519-api-key", DEFAULT_API_KEY],
        &["--ed25519-public-key", "/nonexistent/ed25519.pem"],
    ] {
        assert!(parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn ed25519_flags() {
    use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
    use ed25519_dalek::pkcs8::EncodePublicKey;
    use ed25519_dalek::SigningKey;
    let other = SigningKey::from_bytes(&[3; 32]).verifying_key();
    let dir = std::env::temp_dir();
    let stamp = format!("{}-{:?}", std::process::id(), std::thread::current().id());
    let pem_path = dir.join(format!("sim-ed25519-{stamp}.pem"));
    std::fs::write(&pem_path, other.to_public_key_pem(LineEnding::LF).unwrap()).unwrap();
    let bad_path = dir.join(format!("sim-ed25519-bad-{stamp}.pem"));
    std::fs::write(&bad_path, "not a key").unwrap();
    let c = parse(&[
        "--ed25519-api-key",
        "edkey",
        "--ed25519-public-key",
        pem_path.to_str().unwrap(),
    ])
    .unwrap();
    assert_eq!(c.trading.ed25519_api_key, "edkey");
    assert_eq!(c.trading.ed25519_public_key, other);
    let e = parse(&["--ed25519-public-key", bad_path.to_str().unwrap()]).unwrap_err();
    assert!(e.to_string().contains("BEGIN PUBLIC KEY"), "{e}");
    let _ = std::fs::remove_file(pem_path);
    let _ = std::fs::remove_file(bad_path);
}

#[test]
fn refuses_bad_values() {
    for bad in [
        &["--speed", "0"][..],
        &["--speed", "NaN"],
        &["--timestamps", "utc"],
        &["--tick-size", "0"],
        &["--tick-size=-0.1"],
        &["--speed=-2"],
        &["--step-size", "abc"],
        &["--min-notional", "inf"],
        &["--book-levels", "0"],
        &["--from", "yesterday"],
        &[
            "--from",
            "2025-10-10T21:30:00Z",
            "--to",
            "2025-10-10T21:00:00Z",
        ],
        &["--drop-depth", "1.5"],
        &["--disconnect-every", "0"],
        &["--format", "parquet"],
        &["--reorder=-0.1"],
        &["--latency-ms", "NaN"],
        &["--stall-at", "5"],
        &["--refuse-at", "x:1"],
        &["--disconnect-at=-3"],
        &["--server-shutdown-at", "x"],
        &["--server-shutdown-at", "4:0"],
        &["--scenario", "/nonexistent.toml"],
    ] {
        assert!(parse(bad).is_err(), "{bad:?}");
    }
}

/// A bad scheduled fault on the command line is reported under the flag the user typed, with the
/// value as typed (not the scenario file's `schedule.secs`), and a duration given to a fault that
/// takes none is refused.
#[test]
fn scheduled_fault_errors_name_the_flag_and_its_value() {
    for (args, names) in [
        (&["--stall-at", "5:x"][..], r#"--stall-at "5:x""#),
        (&["--stall-at", "5:0"], r#"--stall-at "5:0""#),
        (&["--stall-at", "5:2,7:0"], r#"--stall-at "7:0""#),
        (&["--stall-at", "5:nan"], r#"--stall-at "5:nan""#),
        (&["--stall-at", "5"], r#"--stall-at "5""#),
        (&["--stall-at=-1:2"], r#"--stall-at "-1:2""#),
        (&["--refuse-at", "5:-3"], r#"--refuse-at "5:-3""#),
        (&["--refuse-at", "5"], r#"--refuse-at "5""#),
        (
            &["--server-shutdown-at", "5:0"],
            r#"--server-shutdown-at "5:0""#,
        ),
        (
            &["--server-shutdown-at", "5:inf"],
            r#"--server-shutdown-at "5:inf""#,
        ),
        (&["--disconnect-at=-2"], r#"--disconnect-at "-2""#),
        (
            &["--disconnect-at", "100000"],
            r#"--disconnect-at "100000""#,
        ),
        (&["--disconnect-at", "5:3"], r#"--disconnect-at "5:3""#),
    ] {
        let e = parse(args).unwrap_err().to_string();
        assert!(e.contains(names), "{args:?}: {e}");
        assert!(!e.contains("schedule"), "{args:?}: {e}");
    }
    let e = parse(&["--disconnect-at", "5:3"]).unwrap_err().to_string();
    assert!(e.contains("takes no"), "{e}");
    // A server shutdown's grace stays optional, a stall's and a refusal's length required.
    assert!(parse(&["--server-shutdown-at", "5"]).is_ok());
    let e = parse(&["--refuse-at", "5"]).unwrap_err().to_string();
    assert!(e.contains("AT:SECS"), "{e}");
}

/// A bad `[[schedule]]` entry of a scenario file is reported under the file, the entry's number
/// and its key, never under a flag; `secs` on a disconnect is refused, not ignored.
#[test]
fn scheduled_fault_errors_of_a_scenario_file_name_the_file_entry_and_key() {
    let stamp = format!("{}-{:?}", std::process::id(), std::thread::current().id());
    let path = std::env::temp_dir().join(format!("sim-bad-schedule-{stamp}.toml"));
    let first = "[[schedule]]\nat = 1\nfault = \"disconnect\"\n";
    for (second, names) in [
        ("at = 2\nfault = \"stall\"\nsecs = 0", "secs = 0"),
        ("at = 2\nfault = \"refuse\"", "secs"),
        ("at = -2\nfault = \"refuse\"\nsecs = 1", "at = -2"),
        (
            "at = 2\nfault = \"server_shutdown\"\nsecs = -1",
            "secs = -1",
        ),
        ("at = 2\nfault = \"melt\"", "fault = \"melt\""),
        ("at = 2\nfault = \"disconnect\"\nsecs = 3", "secs = 3"),
    ] {
        std::fs::write(&path, format!("{first}[[schedule]]\n{second}\n")).unwrap();
        // The command line's own entries do not shift the file's numbering.
        let e = parse(&["--stall-at", "1:1", "--scenario", path.to_str().unwrap()])
            .unwrap_err()
            .to_string();
        assert!(e.contains(path.to_str().unwrap()), "{second}: {e}");
        assert!(e.contains("[[schedule]] entry 2"), "{second}: {e}");
        assert!(e.contains(names), "{second}: {e}");
        assert!(!e.contains("--"), "{second}: {e}");
    }
    let _ = std::fs::remove_file(path);
}

/// Every fault setting with a bad value, as (key, value, what the error says is expected); the
/// flag is the key with `-` for `_`.
const BAD_FAULT_VALUES: [(&str, &str, &str); 15] = [
    ("drop_depth", "1.5", "expected a fraction from 0 to 1"),
    ("duplicate", "-1", "expected a fraction from 0 to 1"),
    ("malformed", "2", "expected a fraction from 0 to 1"),
    ("bad_price", "1.5", "expected a fraction from 0 to 1"),
    ("reorder", "1", "expected a fraction from 0 to below 1"),
    ("reorder_window", "0", "expected 1 or more"),
    ("latency_ms", "-1", "expected 0 to 3600000 milliseconds"),
    (
        "disconnect_every",
        "0",
        "expected a positive number of seconds",
    ),
    (
        "refuse_reconnects",
        "-1",
        "expected a positive number of seconds",
    ),
    ("stale_snapshot", "2", "expected a fraction from 0 to 1"),
    ("stale_snapshot_updates", "0", "expected 1 or more"),
    ("order_timeout", "1.5", "expected a fraction from 0 to 1"),
    ("order_reject", "-1", "expected a fraction from 0 to 1"),
    (
        "order_latency_ms",
        "-1",
        "expected 0 to 3600000 milliseconds",
    ),
    ("drop_user_events", "2", "expected a fraction from 0 to 1"),
];

/// A scenario file of `text` in the temp folder, removed when dropped.
struct ScenarioFile(std::path::PathBuf);

impl ScenarioFile {
    fn new(name: &str, text: &str) -> Self {
        let stamp = format!("{}-{:?}", std::process::id(), std::thread::current().id());
        let path = std::env::temp_dir().join(format!("sim-{name}-{stamp}.toml"));
        std::fs::write(&path, text).unwrap();
        ScenarioFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for ScenarioFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A bad value in a scenario file is reported under the file and its key, whichever key (before,
/// a per-connection or order fault's was reported under the flag, which was not given); the same
/// value on the command line keeps naming the flag, with or without a scenario file.
#[test]
fn bad_values_of_a_scenario_file_name_the_file_and_key() {
    for (key, value, why) in BAD_FAULT_VALUES {
        let file = ScenarioFile::new("bad-key", &format!("{key} = {value}\n"));
        let e = parse(&["--scenario", file.path()]).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("scenario {}: {key} = {value}: {why}", file.path())),
            "{key}: {e}"
        );
        assert!(!e.contains("--"), "{key}: {e}");
        let flag = format!("--{}={value}", key.replace('_', "-"));
        let quoted = format!("--{} {value:?}: {why}", key.replace('_', "-"));
        let e = parse(&[&flag]).unwrap_err().to_string();
        assert!(e.starts_with(&quoted), "{flag}: {e}");
        let good = ScenarioFile::new("good-key", "[[schedule]]\nat = 1\nfault = \"disconnect\"\n");
        let e = parse(&["--scenario", good.path(), &flag])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with(&quoted), "{flag} with a scenario: {e}");
    }
}

/// The file is checked whole when read: a bad value a flag overrides is still reported under the
/// file and its key; a good file value under a bad flag is reported under the flag.
#[test]
fn a_bad_file_value_a_flag_overrides_is_still_reported() {
    let file = ScenarioFile::new("overridden", "duplicate = 0.1\ndrop_depth = 2\n");
    let e = parse(&["--scenario", file.path(), "--drop-depth", "0.1"])
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        format!(
            "scenario {}: drop_depth = 2: expected a fraction from 0 to 1",
            file.path()
        )
    );
    let file = ScenarioFile::new("overridden-good", "drop_depth = 0.1\n");
    let e = parse(&["--scenario", file.path(), "--drop-depth", "3"])
        .unwrap_err()
        .to_string();
    assert_eq!(e, "--drop-depth \"3\": expected a fraction from 0 to 1");
}

/// `order_timeout` plus `order_reject` above 1: both in the file, the file and key; both flags,
/// the flag; one of each, the file, its key and the flag.
#[test]
fn order_fault_sum_errors_name_where_each_value_came_from() {
    let both = ScenarioFile::new("sum-both", "order_timeout = 0.6\norder_reject = 0.6\n");
    let e = parse(&["--scenario", both.path()]).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "scenario {}: order_reject = 0.6: order_timeout plus order_reject must be at most 1",
            both.path()
        )
    );
    let e = parse(&["--order-timeout", "0.6", "--order-reject", "0.6"])
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "--order-reject \"0.6\": --order-timeout plus --order-reject must be at most 1"
    );
    let timeout = ScenarioFile::new("sum-timeout", "order_timeout = 0.7\n");
    let e = parse(&["--scenario", timeout.path(), "--order-reject", "0.4"])
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!(
            "scenario {}: order_timeout = 0.7 with --order-reject \"0.4\": ",
            timeout.path()
        )),
        "{e}"
    );
    let reject = ScenarioFile::new("sum-reject", "order_reject = 0.7\n");
    let e = parse(&["--scenario", reject.path(), "--order-timeout", "0.4"])
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!(
            "scenario {}: order_reject = 0.7 with --order-timeout \"0.4\": ",
            reject.path()
        )),
        "{e}"
    );
    assert!(e.ends_with("must be at most 1"), "{e}");
    // A sum of 1 is fine.
    let c = parse(&["--scenario", timeout.path(), "--order-reject", "0.3"]).unwrap();
    assert_eq!(
        (c.trading.faults.timeout, c.trading.faults.reject),
        (0.7, 0.3)
    );
}
