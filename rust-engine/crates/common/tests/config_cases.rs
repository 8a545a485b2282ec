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
