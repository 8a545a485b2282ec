//! Runs the shared configuration cases (`tests/config_cases/cases.json`), which the Python loader
//! runs too, so that both processes accept and reject the same files with the same words.

use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../..")
}

#[test]
fn shared_config_cases() {
    let cases: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("tests/config_cases/cases.json")).unwrap(),
    )
    .unwrap();
    let cases = cases["cases"].as_array().unwrap();
    assert!(cases.len() > 10);
    for (i, case) in cases.iter().enumerate() {
        let name = case["name"].as_str().unwrap();
        let dir = std::env::temp_dir().join(format!("fc-config-{}-{i}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["config.toml", "schema.toml"] {
            std::fs::copy(repo().join("config").join(f), dir.join(f)).unwrap();
        }
        let overlay = case["overlay"].as_str().unwrap();
        if !overlay.is_empty() {
            std::fs::write(dir.join("local.toml"), overlay).unwrap();
        }
        let result = common::config::load(&dir.join("config.toml"));
        let expected: Vec<&str> = case["error_contains"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        match (&result, expected.is_empty()) {
            (Ok(_), true) => {}
            (Ok(_), false) => {
                panic!("case {name:?}: accepted, expected an error with {expected:?}")
            }
            (Err(e), true) => panic!("case {name:?}: rejected: {e}"),
            (Err(e), false) => {
                let line = e.to_string();
                assert!(!line.contains('\n'), "case {name:?}: not one line: {line}");
                for want in expected {
                    assert!(
                        line.contains(want),
                        "case {name:?}: {line:?} lacks {want:?}"
                    );
                }
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn shipped_config_types() {
    let cfg = common::config::load(&repo().join("config/config.toml")).unwrap();
    assert_eq!(cfg.symbol.name, "POLUSDT");
    assert_eq!(cfg.execution.mode, common::config::ExecutionMode::Paper);
    assert_eq!(cfg.feed.publish_levels, 20);
}

/// `config/config.toml` with `overlay` as its `local.toml`, loaded in a folder of its own (`tag`).
fn load_with(
    overlay: &str,
    tag: &str,
) -> Result<common::config::Config, common::config::ConfigError> {
    let dir = std::env::temp_dir().join(format!("fc-cross-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["config.toml", "schema.toml"] {
        std::fs::copy(repo().join("config").join(f), dir.join(f)).unwrap();
    }
    std::fs::write(dir.join("local.toml"), overlay).unwrap();
    let result = common::config::load(&dir.join("config.toml"));
    std::fs::remove_dir_all(&dir).unwrap();
    result
}

const ZERO_WEIGHTS: &str = "[strategy]\nweight_volatility = 0.0\nweight_acceleration = 0.0\n\
    weight_obi = 0.0\nweight_spread = 0.0\nweight_volume_delta = 0.0\n\
    weight_message_velocity = 0.0\nweight_pattern = 0.0\nweight_liquidity = 0\n";

/// Keys that contradict each other are refused with one line naming both keys and values (the same
/// lines as `python-strategy/tests/unit/test_config.py`); the edges (equal bounds) are accepted.
#[test]
fn contradictory_keys_are_refused() {
    let refused = [
        (
            "[strategy]\nentry_fraction = 0.9\nexit_fraction = 0.1\n",
            "config error: [strategy] entry_fraction = 0.9 must be below [strategy] exit_fraction = 0.1 (the target would not be above the entry)",
        ),
        (
            "[strategy]\nentry_fraction = 0.5\nexit_fraction = 0.5\n",
            "config error: [strategy] entry_fraction = 0.5 must be below [strategy] exit_fraction = 0.5 (the target would not be above the entry)",
        ),
        (
            "[strategy]\nrange_min_samples = 1001\n",
            "config error: [strategy] range_min_samples = 1001 must not exceed [strategy] range_samples = 1000",
        ),
        (
            "[event_detection]\npattern_min_candles = 6\n",
            "config error: [event_detection] pattern_min_candles = 6 must not exceed [event_detection] pattern_max_candles = 5",
        ),
        (
            "[strategy]\nscore_good = 90.0\n",
            "config error: [strategy] score_good = 90.0 must not exceed [strategy] score_excellent = 55.0",
        ),
        (
            "[event_detection]\nwarmup_secs = 301\n",
            "config error: [event_detection] warmup_secs = 301 must not exceed [event_detection] baseline_secs = 300",
        ),
        (
            ZERO_WEIGHTS,
            "config error: [strategy] weight_volatility = 0.0, weight_acceleration = 0.0, weight_obi = 0.0, weight_spread = 0.0, weight_volume_delta = 0.0, weight_message_velocity = 0.0, weight_pattern = 0.0, weight_liquidity = 0: at least one entry score weight must be above 0",
        ),
        (
            "[risk]\nmax_order_notional = \"4.99\"\n",
            "config error: [symbol] min_notional = \"5\" must not exceed [risk] max_order_notional = \"4.99\" (no order could trade, and a flatten's orders would be under the minimum notional)",
        ),
        (
            "[risk]\nmax_position_notional = \"999.99\"\n",
            "config error: [risk] max_order_notional = \"1000\" must not exceed [risk] max_position_notional = \"999.99\"",
        ),
        (
            "[risk]\nmax_open_orders = 2\n",
            "config error: [risk] max_positions = 3 must not exceed [risk] max_open_orders = 2",
        ),
        (
            "[feed]\npublish_levels = 15\n",
            "config error: [event_detection] depth_levels = 20 must not exceed [feed] publish_levels = 15 (the detector sees only the published levels)",
        ),
        (
            "[event_detection]\nobi_levels = 21\n",
            "config error: [event_detection] obi_levels = 21 must not exceed [feed] publish_levels = 20 (the detector sees only the published levels)",
        ),
    ];
    for (i, (overlay, want)) in refused.iter().enumerate() {
        let err = load_with(overlay, &format!("r{i}")).unwrap_err();
        assert_eq!(err.to_string(), *want, "overlay {overlay:?}");
    }
    let accepted = [
        "[strategy]\nentry_fraction = 0.0\nexit_fraction = 0.01\nrange_min_samples = 1000\n",
        "[event_detection]\npattern_min_candles = 5\nwarmup_secs = 300\n",
        "[strategy]\nscore_good = 55.0\n",
        "[risk]\nmax_order_notional = \"5\"\nmax_position_notional = \"5\"\nmax_open_orders = 3\n",
        "[feed]\npublish_levels = 10\n[event_detection]\ndepth_levels = 10\n",
        &ZERO_WEIGHTS.replace("weight_pattern = 0.0", "weight_pattern = 0.5"),
    ];
    for (i, overlay) in accepted.iter().enumerate() {
        if let Err(e) = load_with(overlay, &format!("a{i}")) {
            panic!("overlay {overlay:?} refused: {e}");
        }
    }
}

/// A TOML syntax error names the file, the line and the column (as the strategy's loader does); a
/// number too large for the engine's integers names its key and what it allows.
#[test]
fn syntax_errors_name_the_line_and_column() {
    let err = load_with("[feed]\n# a comment\npublish_levels 5\n", "syntax").unwrap_err();
    assert!(err.to_string().ends_with("(at line 3, column 16)"), "{err}");
    let err = load_with("[feed]\nws_url = \"ws://é\" x\n", "syntax-chars").unwrap_err();
    assert!(err.to_string().ends_with("(at line 2, column 19)"), "{err}");
    let err = load_with(
        "[strategy]\nstop_loss_pct = 1_0000_0000_0000_0000_0000 # big\n",
        "big",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "config error: [strategy] stop_loss_pct = 100000000000000000000: expected a number from 0.01 to 100"
    );
}

/// The engine's decimals hold at most 28 digits after the point and all the digits under 2^96: the
/// strategy's loader refuses the same (`test_decimals_are_those_the_engine_can_hold`).
#[test]
fn decimal_limits_match_the_strategys() {
    let ones = format!("0.{}", "1".repeat(28));
    let zeros = format!("0.{}", "0".repeat(29));
    for (s, ok) in [
        (ones.as_str(), true),
        ("-79228162514264337593543950335", true),
        (zeros.as_str(), false),
        ("79228162514264337593543950336", false),
        ("7.9228162514264337593543950336", false),
        ("7.922816251426433759354395033", true),
    ] {
        assert_eq!(s.parse::<common::Dec>().is_ok(), ok, "{s}");
    }
}
