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
        let exact = case["error"].as_str();
        match (&result, expected.is_empty() && exact.is_none()) {
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
                if let Some(exact) = exact {
                    assert_eq!(line, exact, "case {name:?}");
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
