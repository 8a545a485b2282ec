//! `schema.toml`: for each `[section.key]` a type and its allowed values, and the checks it drives.

use std::collections::BTreeMap;
use std::path::Path;

use rust_decimal::Decimal;

use crate::Dec;

/// A configuration that cannot be used: one line naming the file or key and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The faults whose line is built from their parts, in the words of the strategy's loader.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum Fault {
    /// A file that is not valid TOML, with the 1-based line and column of the fault.
    #[error("config error: {file}: invalid TOML: {message} (at line {line}, column {column})")]
    Syntax {
        /// The file.
        file: String,
        /// What the TOML parser said, on one line.
        message: String,
        /// Line of the fault, from 1.
        line: usize,
        /// Column of the fault (characters), from 1.
        column: usize,
    },
    /// A value the schema does not allow for its key.
    #[error("config error: [{section}] {key} = {value}: expected {allowed}")]
    Value {
        /// Section of the key.
        section: String,
        /// The key.
        key: String,
        /// The value as written in TOML.
        value: String,
        /// What the schema allows.
        allowed: String,
    },
    /// A key whose value is above another's that bounds it.
    #[error(
        "config error: [{}] {} = {low_value} must not exceed [{}] {} = {high_value}{}",
        .rule.low.0, .rule.low.1, .rule.high.0, .rule.high.1, .rule.because()
    )]
    Exceeds {
        /// The rule broken.
        rule: &'static NotAbove,
        /// The lower key's value as written in TOML.
        low_value: String,
        /// The upper key's value as written in TOML.
        high_value: String,
    },
}

impl From<Fault> for ConfigError {
    fn from(fault: Fault) -> Self {
        ConfigError(fault.to_string())
    }
}

/// Two keys, `(section, key)` each, the first of which must not exceed the second.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct NotAbove {
    /// The lower key.
    pub(super) low: (&'static str, &'static str),
    /// The upper key.
    pub(super) high: (&'static str, &'static str),
    /// Why the rule holds (empty: it goes without saying).
    pub(super) why: &'static str,
}

impl NotAbove {
    /// `" (why)"`, or empty.
    fn because(&self) -> String {
        if self.why.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.why)
        }
    }
}

/// What a key may hold.
#[derive(Debug, Clone, PartialEq)]
enum Rule {
    Bool,
    Int { min: i64, max: i64 },
    Float { min: f64, max: f64 },
    Decimal { min: String, max: String },
    Enum { values: Vec<String> },
    Url { schemes: Vec<String>, empty: bool },
    Endpoint,
    Symbol,
    Str,
}

impl Rule {
    fn allowed(&self) -> String {
        match self {
            Rule::Bool => "true or false".into(),
            Rule::Int { min, max } => format!("an integer from {min} to {max}"),
            Rule::Float { min, max } => format!("a number from {min} to {max}"),
            Rule::Decimal { min, max } => format!("a decimal string from {min} to {max}"),
            Rule::Enum { values } => format!("one of: {}", values.join(", ")),
            Rule::Url { schemes, empty } => format!(
                "a URL with scheme {}{}",
                schemes.join(", "),
                if *empty { ", or \"\" for none" } else { "" }
            ),
            Rule::Endpoint => {
                "tcp://HOST:PORT with HOST a name or address (not *) and PORT 1-65535".into()
            }
            Rule::Symbol => "an upper-case symbol of 2 to 20 letters and digits".into(),
            Rule::Str => "a non-empty string".into(),
        }
    }

    fn accepts(&self, v: &toml::Value) -> bool {
        use toml::Value as V;
        match (self, v) {
            (Rule::Bool, V::Boolean(_)) => true,
            (Rule::Int { min, max }, V::Integer(i)) => min <= i && i <= max,
            (Rule::Float { min, max }, V::Float(f)) => f.is_finite() && *min <= *f && *f <= *max,
            (Rule::Float { min, max }, V::Integer(i)) => *min <= *i as f64 && *i as f64 <= *max,
            (Rule::Decimal { min, max }, V::String(s)) => match s.parse::<Dec>() {
                Ok(d) => dec(min) <= d.0 && d.0 <= dec(max),
                Err(_) => false,
            },
            (Rule::Enum { values }, V::String(s)) => values.iter().any(|x| x == s),
            (Rule::Url { schemes, empty }, V::String(s)) => {
                (*empty && s.is_empty()) || url_ok(s, schemes)
            }
            (Rule::Endpoint, V::String(s)) => endpoint_ok(s),
            (Rule::Symbol, V::String(s)) => {
                (2..=20).contains(&s.len())
                    && s.bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            }
            (Rule::Str, V::String(s)) => !s.is_empty(),
            _ => false,
        }
    }
}

fn dec(s: &str) -> Decimal {
    s.parse::<Dec>().map(|d| d.0).unwrap_or_default()
}

fn host_port_ok(rest: &str, need_port: bool) -> bool {
    let authority = rest.split('/').next().unwrap_or("");
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    let port_ok = match port {
        // Digits only: `parse` alone takes a leading `+`, which the strategy's loader refuses.
        Some(p) => {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p))
        }
        None => !need_port,
    };
    !host.is_empty() && port_ok
}

fn url_ok(s: &str, schemes: &[String]) -> bool {
    match s.split_once("://") {
        Some((scheme, rest)) => schemes.iter().any(|x| x == scheme) && host_port_ok(rest, false),
        None => false,
    }
}

/// `tcp://HOST:PORT` with a concrete host: the engine binds the endpoint and the strategy connects
/// to it, and a wildcard (`*`) can be bound but not connected to.
fn endpoint_ok(s: &str) -> bool {
    s.strip_prefix("tcp://").is_some_and(|rest| {
        !rest.contains('/')
            && host_port_ok(rest, true)
            && rest.rsplit_once(':').is_some_and(|(host, _)| host != "*")
    })
}

/// Shows a value as TOML writes it, on one line (strings quoted, their control characters escaped,
/// as the strategy's loader shows them), so an error naming it stays one line.
pub(super) fn show(v: &toml::Value) -> String {
    match v {
        toml::Value::Table(_) => "a table".into(),
        toml::Value::String(s) => toml_string(s),
        other => other.to_string(),
    }
}

fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The schema: section → key → rule.
#[derive(Debug, Clone)]
pub struct Schema {
    sections: BTreeMap<String, BTreeMap<String, Rule>>,
}

impl Schema {
    /// Reads `schema.toml`.
    ///
    /// # Errors
    /// A schema that cannot be read or has an entry of an unknown type.
    pub fn load(path: &Path) -> Result<Schema, ConfigError> {
        let bad = |what: String| ConfigError(format!("schema error: {}: {what}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read: {e}")))?;
        let table: toml::Table = text
            .parse()
            .map_err(|e| bad(format!("invalid TOML: {e}")))?;
        let mut sections = BTreeMap::new();
        for (section, keys) in table {
            let keys = keys
                .as_table()
                .ok_or_else(|| bad(format!("[{section}] is not a table")))?;
            let mut rules = BTreeMap::new();
            for (key, spec) in keys {
                let rule = parse_rule(spec).map_err(|e| bad(format!("[{section}.{key}] {e}")))?;
                rules.insert(key.clone(), rule);
            }
            sections.insert(section, rules);
        }
        Ok(Schema { sections })
    }

    /// Checks one file (the base or an overlay): known sections and keys, values of the right kind.
    ///
    /// # Errors
    /// The first offending section, key or value.
    pub fn check_layer(&self, table: &toml::Table, file: &str) -> Result<(), ConfigError> {
        for (section, value) in table {
            let Some(rules) = self.sections.get(section) else {
                let allowed: Vec<&str> = self.sections.keys().map(String::as_str).collect();
                return Err(ConfigError(format!(
                    "config error: {file}: unknown section [{section}]; allowed sections: {}",
                    allowed.join(", ")
                )));
            };
            let Some(keys) = value.as_table() else {
                return Err(ConfigError(format!(
                    "config error: {file}: [{section}] must be a table"
                )));
            };
            for (key, v) in keys {
                let Some(rule) = rules.get(key) else {
                    let allowed: Vec<&str> = rules.keys().map(String::as_str).collect();
                    return Err(ConfigError(format!(
                        "config error: {file}: unknown key [{section}] {key}; allowed keys: {}",
                        allowed.join(", ")
                    )));
                };
                if !rule.accepts(v) {
                    return Err(Fault::Value {
                        section: section.clone(),
                        key: key.clone(),
                        value: show(v),
                        allowed: rule.allowed(),
                    }
                    .into());
                }
            }
        }
        Ok(())
    }

    /// The refusal of `value` (as written in TOML) for `[section] key`, naming what the schema
    /// allows; `None` for a key the schema does not know.
    pub(super) fn refusal(&self, section: &str, key: &str, value: String) -> Option<Fault> {
        let rule = self.sections.get(section)?.get(key)?;
        Some(Fault::Value {
            section: section.into(),
            key: key.into(),
            value,
            allowed: rule.allowed(),
        })
    }

    /// Checks that the layered configuration has every key of the schema.
    ///
    /// # Errors
    /// The first missing key.
    pub fn check_complete(&self, table: &toml::Table) -> Result<(), ConfigError> {
        for (section, rules) in &self.sections {
            for (key, rule) in rules {
                let present = table
                    .get(section)
                    .and_then(|s| s.as_table())
                    .is_some_and(|s| s.contains_key(key));
                if !present {
                    return Err(ConfigError(format!(
                        "config error: missing key [{section}] {key} (expected {})",
                        rule.allowed()
                    )));
                }
            }
        }
        Ok(())
    }
}

fn parse_rule(spec: &toml::Value) -> Result<Rule, String> {
    let t = spec.as_table().ok_or("is not a table")?;
    let kind = t
        .get("type")
        .and_then(|v| v.as_str())
        .ok_or("has no type")?;
    let int = |k: &str| {
        t.get(k)
            .and_then(|v| v.as_integer())
            .ok_or(format!("needs integer {k}"))
    };
    let float = |k: &str| {
        t.get(k)
            .and_then(|v| v.as_float().or(v.as_integer().map(|i| i as f64)))
            .ok_or(format!("needs number {k}"))
    };
    let string = |k: &str| {
        t.get(k)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or(format!("needs string {k}"))
    };
    let strings = |k: &str| -> Result<Vec<String>, String> {
        t.get(k)
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .ok_or(format!("needs a list {k}"))
    };
    Ok(match kind {
        "bool" => Rule::Bool,
        "int" => Rule::Int {
            min: int("min")?,
            max: int("max")?,
        },
        "float" => Rule::Float {
            min: float("min")?,
            max: float("max")?,
        },
        "decimal" => Rule::Decimal {
            min: string("min")?,
            max: string("max")?,
        },
        "enum" => Rule::Enum {
            values: strings("values")?,
        },
        "url" => Rule::Url {
            schemes: strings("schemes")?,
            empty: t.get("empty").and_then(|v| v.as_bool()).unwrap_or(false),
        },
        "endpoint" => Rule::Endpoint,
        "symbol" => Rule::Symbol,
        "string" => Rule::Str,
        other => return Err(format!("unknown type {other:?}")),
    })
}
