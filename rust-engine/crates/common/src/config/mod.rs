//! Configuration: `config.toml`, with `local.toml` from the same folder layered on top, checked
//! against `schema.toml` (type, range, allowed values of every key) and then read into [`Config`].
//!
//! Errors are one line naming the file or key and what is allowed, in the same words as the Python
//! strategy's loader (both pass `tests/config_cases/cases.json`).

pub mod diff;
pub mod model;
pub mod schema;

use std::path::{Path, PathBuf};

pub use model::*;
use schema::Fault;
pub use schema::{ConfigError, Schema};

/// Loads, layers, validates and types the configuration at `path`.
///
/// # Errors
/// [`ConfigError`] with one line naming the bad file, key or value.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_with_table(path).map(|(config, _)| config)
}

/// [`load`], also returning the layered table the configuration was read from (for
/// [`diff::diff`] and [`diff::fingerprint`] on a reload).
///
/// # Errors
/// [`ConfigError`] with one line naming the bad file, key or value.
pub fn load_with_table(path: &Path) -> Result<(Config, toml::Table), ConfigError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let schema = Schema::load(&schema_path(dir))?;
    let mut table = read_table(path, &schema)?;
    schema.check_layer(&table, &path.display().to_string())?;
    let local = dir.join("local.toml");
    if local.exists() {
        let overlay = read_table(&local, &schema)?;
        schema.check_layer(&overlay, &local.display().to_string())?;
        merge(&mut table, overlay);
    }
    schema.check_complete(&table)?;
    model::check_cross_fields(&table)?;
    let value = toml::Value::Table(table.clone());
    let config = value
        .try_into::<Config>()
        .map_err(|e| ConfigError(format!("config error: {}: {e}", path.display())))?;
    Ok((config, table))
}

/// `schema.toml` beside the config, or the repository's `config/schema.toml`.
fn schema_path(dir: &Path) -> PathBuf {
    let beside = dir.join("schema.toml");
    if beside.exists() {
        return beside;
    }
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../config/schema.toml"
    ))
}

/// One TOML file. A syntax error names the line and column of the fault (as the strategy's loader
/// does); a number too large for its type, on a `key = value` line under a `[section]` header, is
/// refused naming the key and what it allows, as the strategy's loader (which reads any integer)
/// refuses it.
fn read_table(path: &Path, schema: &Schema) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError(format!(
            "config error: {}: cannot read: {e}",
            path.display()
        ))
    })?;
    text.parse::<toml::Table>().map_err(|e| {
        let (line, column) = line_column(&text, e.span().map_or(0, |s| s.start));
        let msg = e.message();
        let out_of_range = msg.contains("too large") || msg.contains("out of range");
        if let Some((section, key, value)) = key_at(&text, line).filter(|_| out_of_range) {
            if let Some(refused) = schema.refusal(&section, &key, value) {
                return refused.into();
            }
        }
        Fault::Syntax {
            file: path.display().to_string(),
            message: msg.replace('\n', " ").trim().to_owned(),
            line,
            column,
        }
        .into()
    })
}

/// The 1-based line and column (in characters) of byte `offset` of `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

/// The section, key and value (underscores between digits dropped, as TOML reads them) of line
/// `line` (1-based) of `text`, when it is a plain `key = value` under a plain `[section]` header.
fn key_at(text: &str, line: usize) -> Option<(String, String, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let (key, value) = lines.get(line.checked_sub(1)?)?.split_once('=')?;
    let value = value.split('#').next()?.trim().replace('_', "");
    let section = lines[..line - 1].iter().rev().find_map(|l| {
        let header = l.trim().strip_prefix('[')?;
        (!header.starts_with('[')).then(|| header.split_once(']'))?
    })?;
    Some((section.0.trim().to_owned(), key.trim().to_owned(), value))
}

/// Layers `overlay` on `base`, section by section and key by key.
fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (section, value) in overlay {
        match (base.get_mut(&section), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => b.extend(o),
            (_, v) => {
                base.insert(section, v);
            }
        }
    }
}
