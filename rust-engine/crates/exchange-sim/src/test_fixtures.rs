//! The repository's copy of the Binance fixtures (`tests/fixtures/binance/`), for unit tests.

use std::collections::BTreeSet;

use serde_json::Value;

/// A fixture, parsed.
pub(crate) fn fixture(name: &str) -> Value {
    let p = format!(
        "{}/../../../tests/fixtures/binance/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// The keys of a JSON object.
pub(crate) fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}
