//! Golden MessagePack vectors shared with the Python tests (`tests/golden/`): each `.msgpack` decodes
//! into the typed message equal to its `.json`, and re-encodes byte for byte.

use std::path::PathBuf;

use common::message::{encode, Command, DataMessage, ErrorCode, Response};
use serde::{de::DeserializeOwned, Serialize};

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../tests/golden")
}

fn check<T>(name: &str) -> T
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    let dir = golden_dir();
    let bytes = std::fs::read(dir.join(format!("{name}.msgpack")))
        .unwrap_or_else(|e| panic!("{name}.msgpack: {e} (run tests/golden/generate.py)"));
    let json = std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap();
    let from_msgpack: T = rmp_serde::from_slice(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    let from_json: T = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        from_msgpack, from_json,
        "{name}: fields differ from the JSON"
    );
    // The receivers' own decoding (one map, nothing after it, no bin or ext) takes it too.
    let strict: T = common::message::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(strict, from_msgpack, "{name}: decode differs");
    assert_eq!(
        encode(&from_msgpack).unwrap(),
        bytes,
        "{name}: re-encoding differs"
    );
    from_msgpack
}

const DATA: [&str; 4] = ["OrderBookSnapshot", "Trade", "HealthMetrics", "StateChange"];
const COMMANDS: [&str; 10] = [
    "PlaceOrder",
    "CancelOrder",
    "QueryOrder",
    "QueryOpenOrders",
    "QueryBalances",
    "RequestSnapshot",
    "Shutdown",
    "EmergencyHalt",
    "Resume",
    "ReloadConfig",
];
const RESPONSES: [&str; 8] = [
    "OrderPlaced",
    "OrderCanceled",
    "OrderStatus",
    "OpenOrders",
    "Balances",
    "OrderExecution",
    "Error",
    "Success",
];

#[test]
fn data_vectors() {
    for name in DATA {
        let msg: DataMessage = check(name);
        let tag = format!("{msg:?}");
        assert!(tag.starts_with(name), "{name} decoded as {tag}");
    }
}

#[test]
fn command_vectors() {
    for name in COMMANDS {
        let msg: Command = check(name);
        assert!(format!("{msg:?}").starts_with(name));
    }
}

#[test]
fn response_vectors() {
    for name in RESPONSES {
        let msg: Response = check(name);
        assert!(format!("{msg:?}").starts_with(name));
    }
}

#[test]
fn every_vector_is_checked() {
    let mut names: Vec<String> = std::fs::read_dir(golden_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".json")
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    let mut checked: Vec<String> = DATA
        .iter()
        .chain(&COMMANDS)
        .chain(&RESPONSES)
        .map(|n| n.to_string())
        .collect();
    checked.sort();
    assert_eq!(names, checked);
}

#[test]
fn a_changed_field_fails() {
    let bytes = std::fs::read(golden_dir().join("PlaceOrder.msgpack")).unwrap();
    let Command::PlaceOrder(mut p) = rmp_serde::from_slice(&bytes).unwrap() else {
        panic!("not a PlaceOrder");
    };
    p.quantity = "200.00".parse().unwrap();
    assert_ne!(encode(&Command::PlaceOrder(p)).unwrap(), bytes);
}

#[test]
fn malformed_payloads_are_errors() {
    for payload in [
        &b""[..],
        b"\xc1",
        b"\x93\x01\x02\x03",
        b"\x81\xa4type\xa3Foo",
    ] {
        assert!(common::message::decode::<Command>(payload).is_err());
    }
    // A PlaceOrder with a quantity in exponent form is rejected.
    let mut v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(golden_dir().join("PlaceOrder.json")).unwrap(),
    )
    .unwrap();
    v["quantity"] = "1e3".into();
    let bytes = rmp_serde::to_vec_named(&v).unwrap();
    assert!(common::message::decode::<Command>(&bytes).is_err());
}

/// Every `Error.code` of the engine, by its wire name, is the list the Python tests check their
/// decoder against (`tests/golden/enums/ErrorCode.json`): a code added on one side only fails here
/// or there.
#[test]
fn error_codes_are_the_shared_list() {
    use ErrorCode as C;
    let all = [
        C::Malformed,
        C::Validation,
        C::UnknownOrder,
        C::DuplicateOrder,
        C::NotSynced,
        C::Halted,
        C::Venue,
        C::UnknownOutcome,
    ];
    // A new variant does not compile here until it is in `all` (and the list).
    for c in all {
        match c {
            C::Malformed
            | C::Validation
            | C::UnknownOrder
            | C::DuplicateOrder
            | C::NotSynced
            | C::Halted
            | C::Venue
            | C::UnknownOutcome => {}
        }
    }
    let names: Vec<String> = all
        .iter()
        .map(|c| {
            serde_json::to_value(c)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let listed: Vec<String> = serde_json::from_str(
        &std::fs::read_to_string(golden_dir().join("enums/ErrorCode.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(names, listed);
}
