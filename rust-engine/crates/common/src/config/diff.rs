//! What a config reload changes: the keys whose values differ between two layered tables, the
//! fingerprint of a table, and the key an error message names.

/// One changed key: `section.key`, old value, new value (TOML spelling; `(none)` when absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// `section.key`.
    pub key: String,
    /// Old value.
    pub old: String,
    /// New value.
    pub new: String,
}

fn show(v: Option<&toml::Value>) -> String {
    v.map_or_else(|| "(none)".to_owned(), ToString::to_string)
}

/// The keys that differ between `old` and `new`, sorted by section then key.
pub fn diff(old: &toml::Table, new: &toml::Table) -> Vec<Change> {
    let mut keys: Vec<(String, String)> = Vec::new();
    for t in [old, new] {
        for (section, value) in t {
            if let Some(table) = value.as_table() {
                keys.extend(table.keys().map(|k| (section.clone(), k.clone())));
            }
        }
    }
    keys.sort();
    keys.dedup();
    let get = |t: &toml::Table, s: &str, k: &str| t.get(s).and_then(|x| x.get(k)).cloned();
    keys.into_iter()
        .filter_map(|(s, k)| {
            let (a, b) = (get(old, &s, &k), get(new, &s, &k));
            (a != b).then(|| Change {
                key: format!("{s}.{k}"),
                old: show(a.as_ref()),
                new: show(b.as_ref()),
            })
        })
        .collect()
}

/// A short fingerprint of a table: 16 hex digits of FNV-1a 64 over its canonical TOML text (keys
/// sorted), the same in every process.
pub fn fingerprint(table: &toml::Table) -> String {
    let text = toml::Value::Table(table.clone()).to_string();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The `section.key` a config error names (`[section] key`), if it names one.
pub fn error_key(message: &str) -> Option<String> {
    let open = message.find('[')?;
    let rest = &message[open + 1..];
    let close = rest.find(']')?;
    let section = &rest[..close];
    let key: String = rest[close + 1..]
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!section.is_empty() && !key.is_empty()).then(|| format!("{section}.{key}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(s: &str) -> toml::Table {
        s.parse().unwrap()
    }

    #[test]
    fn diff_lists_changed_added_and_removed_keys() {
        let a =
            table("[risk]\nmax_open_orders = 5\nmax_positions = 3\n[feed]\nws_url = \"wss://a\"\n");
        let b = table("[risk]\nmax_open_orders = 4\nmax_positions = 3\nnew_key = 1\n[feed]\nws_url = \"wss://a\"\n");
        let d = diff(&a, &b);
        assert_eq!(
            d,
            vec![
                Change {
                    key: "risk.max_open_orders".into(),
                    old: "5".into(),
                    new: "4".into()
                },
                Change {
                    key: "risk.new_key".into(),
                    old: "(none)".into(),
                    new: "1".into()
                },
            ]
        );
        // The other way round, the key is removed.
        assert_eq!(
            diff(&b, &a)[1],
            Change {
                key: "risk.new_key".into(),
                old: "1".into(),
                new: "(none)".into()
            }
        );
        assert!(diff(&a, &a).is_empty());
    }

    #[test]
    fn fingerprint_is_stable_and_changes_with_a_value() {
        let a = table("[risk]\nmax_open_orders = 5\n");
        let b = table("[risk]\nmax_open_orders = 6\n");
        assert_eq!(fingerprint(&a), fingerprint(&a.clone()));
        assert_eq!(fingerprint(&a).len(), 16);
        assert_ne!(fingerprint(&a), fingerprint(&b));
    }

    #[test]
    fn error_key_finds_the_named_key() {
        struct Case {
            input: &'static str,
            expected: Option<&'static str>,
        }
        for c in [
            Case {
                input:
                    "config error: [risk] max_open_orders = 0: expected an integer from 1 to 100",
                expected: Some("risk.max_open_orders"),
            },
            Case {
                input: "config error: missing key [feed] heartbeat_timeout_ms (expected ...)",
                expected: Some("feed.heartbeat_timeout_ms"),
            },
            Case {
                input: "config error: x.toml: invalid TOML: expected `=`",
                expected: None,
            },
        ] {
            assert_eq!(error_key(c.input).as_deref(), c.expected, "{}", c.input);
        }
    }
}
