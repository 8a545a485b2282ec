//! `common::message::decode` takes one MessagePack map and nothing else: not an array (serde's
//! tagged enums took one as the fields in their declared order, so a sender with another order
//! swapped price and quantity), not a map followed by more bytes (ignored before), and no bin or
//! ext value (a bin was taken as a string). The golden vectors still decode (`golden.rs` decodes
//! each through it).

use std::path::PathBuf;

use common::message::{decode, Command};

fn golden(name: &str) -> Vec<u8> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../tests/golden");
    std::fs::read(dir.join(format!("{name}.msgpack"))).unwrap()
}

/// `bytes` with the first `from` replaced by `to`.
fn replaced(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .unwrap_or_else(|| panic!("{from:?} not in the payload"));
    [&bytes[..at], to, &bytes[at + from.len()..]].concat()
}

/// The same map under a map16 or map32 header decodes to the same command.
#[test]
fn map16_and_map32_headers_are_maps() {
    let bytes = golden("PlaceOrder");
    assert_eq!(bytes[0], 0x8a, "a fixmap of 10");
    let want: Command = decode(&bytes).unwrap();
    for header in [&[0xde, 0, 10][..], &[0xdf, 0, 0, 0, 10]] {
        let long = [header, &bytes[1..]].concat();
        assert_eq!(decode::<Command>(&long).unwrap(), want);
    }
}

/// A PlaceOrder as an array of its values in declared order: serde alone takes it (fields by
/// position); `decode` refuses it.
#[test]
fn an_array_is_not_a_command() {
    let json: serde_json::Value = serde_json::from_str(
        r#"["PlaceOrder", "k5", 1, "ck5", "POLUSDT", "BUY", "LIMIT", "GTC", "30", "0.0100"]"#,
    )
    .unwrap();
    let array = rmp_serde::to_vec(&json).unwrap();
    assert_eq!(array[0], 0x9a);
    let err = decode::<Command>(&array).unwrap_err();
    assert!(err.to_string().contains("not a map"), "{err}");
}

/// A valid command followed by more bytes is refused (they were ignored).
#[test]
fn bytes_after_the_map_are_refused() {
    let bytes = golden("PlaceOrder");
    for tail in [&b"\xc1\xc1garbage"[..], b"\x00", b"\x80"] {
        let err = decode::<Command>(&[&bytes[..], tail].concat()).unwrap_err();
        assert!(err.to_string().contains("after the map"), "{err}");
    }
}

/// A bin (8, 16 or 32) where a string is expected, or an ext (fixext or ext 8/16/32) anywhere, is
/// refused (a bin was taken as the string it held).
#[test]
fn bin_and_ext_values_are_refused() {
    let bytes = golden("PlaceOrder");
    let symbol = b"\xa7POLUSDT";
    for bin in [
        &b"\xc4\x07POLUSDT"[..],
        b"\xc5\x00\x07POLUSDT",
        b"\xc6\x00\x00\x00\x07POLUSDT",
    ] {
        let payload = replaced(&bytes, symbol, bin);
        let err = decode::<Command>(&payload).unwrap_err();
        assert!(err.to_string().contains("bin"), "{err}");
    }
    let price = b"\xa6\x30\x2e\x31\x35\x38\x35"; // "0.1585"
    for ext in [
        &b"\xd6\x05\x30\x2e\x30\x31"[..], // fixext 4
        b"\xc7\x04\x05\x30\x2e\x30\x31",  // ext 8
        b"\xd4\x05\x00",                  // fixext 1
    ] {
        let payload = replaced(&bytes, price, ext);
        let err = decode::<Command>(&payload).unwrap_err();
        assert!(err.to_string().contains("ext"), "{err}");
    }
    // A timestamp ext as ts_ns.
    let ts = b"\xcf\x18\x6d\x3d\x79\x2b\x63\x58\x00";
    let payload = replaced(&bytes, ts, b"\xd6\xff\x00\x00\x00\x01");
    assert!(decode::<Command>(&payload).is_err());
}

/// Cut anywhere, a command is an error (never a panic).
#[test]
fn a_command_cut_at_any_byte_is_an_error() {
    let bytes = golden("PlaceOrder");
    for cut in 0..bytes.len() {
        assert!(decode::<Command>(&bytes[..cut]).is_err(), "cut at {cut}");
    }
}

/// A map declaring more entries than the payload could hold ends at the payload's end.
#[test]
fn huge_declared_counts_are_cut_short_not_walked() {
    for payload in [
        &b"\xdf\xff\xff\xff\xff"[..],
        b"\x81\xa1a\xdd\xff\xff\xff\xff",
        b"\x81\xa1a\xdb\xff\xff\xff\xff",
    ] {
        let err = decode::<Command>(payload).unwrap_err();
        assert!(err.to_string().contains("cut short"), "{err}");
    }
}

/// A key repeated in the map, with the same value or another, is refused (serde's "duplicate
/// field"), as the strategy's decoding refuses it: the map is malformed, whichever value won.
#[test]
fn a_repeated_key_is_refused() {
    let bytes = golden("PlaceOrder");
    assert_eq!(bytes[0], 0x8a, "a fixmap of 10");
    for (key, value) in [
        (&b"\xa6symbol"[..], &b"\xa7POLUSDT"[..]),
        (b"\xa8quantity", b"\xa3999"),
        (b"\xa4type", b"\xaaPlaceOrder"),
    ] {
        let repeated = [&[0x8b][..], &bytes[1..], key, value].concat();
        let err = decode::<Command>(&repeated).unwrap_err();
        assert!(err.to_string().contains("duplicate"), "{key:?}: {err}");
    }
}

/// Every key is sent, nil when absent: a command missing one is refused, an optional one too
/// (serde alone read a `PlaceOrder` without `price` as a market order's nil price). The same keys
/// present as nil still decode.
#[test]
fn a_missing_key_is_refused_an_optional_one_too() {
    let json = |text: &str| -> Vec<u8> {
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        rmp_serde::to_vec_named(&v).unwrap()
    };
    let order = r#""type": "PlaceOrder", "command_id": "k", "ts_ns": 1, "client_order_id": "c", "symbol": "POLUSDT", "side": "BUY", "order_type": "MARKET""#;
    let cases = [
        (
            format!(r#"{{{order}, "time_in_force": null, "quantity": "30", "price": null}}"#),
            None,
        ),
        (
            format!(r#"{{{order}, "time_in_force": null, "quantity": "30"}}"#),
            Some("price"),
        ),
        (
            format!(r#"{{{order}, "quantity": "30", "price": null}}"#),
            Some("time_in_force"),
        ),
        (
            format!(r#"{{{order}, "time_in_force": null, "price": null}}"#),
            Some("quantity"),
        ),
        (
            r#"{"type": "QueryOpenOrders", "command_id": "q", "ts_ns": 1, "symbol": null}"#
                .to_owned(),
            None,
        ),
        (
            r#"{"type": "QueryOpenOrders", "command_id": "q", "ts_ns": 1}"#.to_owned(),
            Some("symbol"),
        ),
    ];
    for (text, missing) in cases {
        let got = decode::<Command>(&json(&text));
        match missing {
            None => assert!(got.is_ok(), "{text}: {got:?}"),
            Some(key) => {
                let err = got.unwrap_err().to_string();
                assert!(
                    err.contains(&format!("missing field `{key}`")),
                    "{text}: {err}"
                );
            }
        }
    }
}
