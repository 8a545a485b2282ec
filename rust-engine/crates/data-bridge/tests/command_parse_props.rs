//! Property tests of the command decoder at the engine's door (`commands::parse`) against the golden
//! vectors shared with Python (`tests/golden/`: the commands and every other message), damaged at
//! random: cut short, bytes changed, inserted or removed. Whatever arrives, `parse` returns (no panic, no abort on a huge declared
//! length); a refusal is answered with `MALFORMED` and the payload's own `command_id` when it can be
//! read; and what is accepted is a command that encodes and parses back to itself.

use std::path::PathBuf;
use std::sync::LazyLock;

use common::message::{encode, ErrorCode, Response};
use data_bridge::commands::{parse, Refused};
use proptest::prelude::*;

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../tests/golden")
}

/// Every golden vector (data, commands, responses): what a confused or broken peer could send.
static VECTORS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .expect("tests/golden")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "msgpack"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read(p).expect("vector"))
        .collect()
});

fn golden(name: &str) -> Vec<u8> {
    let path = golden_dir().join(format!("{name}.msgpack"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What `parse` gives must be one of the promised outcomes.
fn check(payload: &[u8]) -> Result<(), TestCaseError> {
    match parse(payload) {
        Ok(cmd) => {
            prop_assert!(!cmd.command_id().is_empty());
            let again = parse(&encode(&cmd).expect("every command encodes"));
            prop_assert_eq!(again, Ok(cmd));
        }
        Err(refused) => match refused.answer() {
            None => prop_assert!(
                matches!(
                    refused,
                    Refused::Undecodable {
                        command_id: None,
                        ..
                    } | Refused::TooLong { .. }
                ),
                "{refused:?} has a command id but no answer"
            ),
            Some(Response::Error(e)) => {
                prop_assert_eq!(e.code, ErrorCode::Malformed);
                prop_assert!(!e.message.is_empty());
                match &refused {
                    Refused::Undecodable { command_id, .. } => {
                        prop_assert!(command_id.as_deref().is_some_and(|id| !id.is_empty()));
                        prop_assert_eq!(&e.command_id, command_id);
                    }
                    Refused::EmptyCommandId => {
                        prop_assert_eq!(e.field.as_deref(), Some("command_id"));
                    }
                    Refused::TooLong { .. } => prop_assert!(false, "a payload too long answered"),
                }
            }
            Some(other) => prop_assert!(false, "refusal answered with {other:?}"),
        },
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum Damage {
    Truncate(prop::sample::Index),
    Set(prop::sample::Index, u8),
    Insert(prop::sample::Index, u8),
    Remove(prop::sample::Index),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        any::<prop::sample::Index>().prop_map(Damage::Truncate),
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Damage::Set(i, b)),
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Damage::Insert(i, b)),
        any::<prop::sample::Index>().prop_map(Damage::Remove),
    ]
}

fn apply(mut bytes: Vec<u8>, damages: &[Damage]) -> Vec<u8> {
    for d in damages {
        if bytes.is_empty() {
            break;
        }
        match d {
            Damage::Truncate(i) => bytes.truncate(i.index(bytes.len())),
            Damage::Set(i, b) => {
                let i = i.index(bytes.len());
                bytes[i] = *b;
            }
            Damage::Insert(i, b) => {
                let i = i.index(bytes.len() + 1);
                bytes.insert(i, *b);
            }
            Damage::Remove(i) => {
                let i = i.index(bytes.len());
                bytes.remove(i);
            }
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn damaged_golden_vectors_are_parsed_or_refused(
        which in any::<prop::sample::Index>(),
        damages in prop::collection::vec(damage(), 1..4),
    ) {
        check(&apply(VECTORS[which.index(VECTORS.len())].clone(), &damages))?;
    }

    #[test]
    fn random_bytes_are_parsed_or_refused(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        check(&bytes)?;
    }
}

#[test]
fn the_golden_vectors_of_commands_parse_and_the_others_are_refused() {
    for v in VECTORS.iter() {
        check(v).unwrap();
    }
    let commands = VECTORS.iter().filter(|v| parse(v).is_ok()).count();
    assert_eq!(
        commands, 10,
        "the 10 commands of docs/PROTOCOL.md, and no other message"
    );
}

/// Declared lengths far beyond the payload (a map, an array, a string, binary data of 4 G entries)
/// are refused without reserving memory for them.
#[test]
fn huge_declared_lengths_are_refused() {
    let place = golden("PlaceOrder");
    for head in [
        &[0xdf, 0xff, 0xff, 0xff, 0xff][..], // map 32
        &[0xdd, 0xff, 0xff, 0xff, 0xff],     // array 32
        &[0xdb, 0xff, 0xff, 0xff, 0xff],     // str 32
        &[0xc6, 0xff, 0xff, 0xff, 0xff],     // bin 32
    ] {
        let mut payload = head.to_vec();
        payload.extend_from_slice(&place);
        assert!(parse(&payload).is_err(), "{head:x?} accepted");
    }
    // The PlaceOrder itself, its map claiming 2^32 - 1 entries: the real ones are read, then the
    // payload ends.
    let mut payload = vec![0xdf, 0xff, 0xff, 0xff, 0xff];
    payload.extend_from_slice(&place[1..]);
    let refused = parse(&payload).unwrap_err();
    assert!(
        matches!(refused, Refused::Undecodable { .. }),
        "{refused:?}"
    );
}
