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
    let s =
        "order_timeout = 0.2\norder_reject = 0.1\norder_latency_ms = 50\ndrop_user_events = 0.5";
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
    let file =
        scenario("drop_depth = 0.1\nduplicate = 0.2\n[[schedule]]\nat = 1\nfault = \"disconnect\"")
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
