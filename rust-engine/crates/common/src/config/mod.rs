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
    let mut table = read_table(path)?;
    schema.check_layer(&table, &path.display().to_string())?;
    let local = dir.join("local.toml");
    if local.exists() {
        let overlay = read_table(&local)?;
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

fn read_table(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError(format!(
            "config error: {}: cannot read: {e}",
            path.display()
        ))
    })?;
    text.parse::<toml::Table>().map_err(|e| {
        let msg = e.message().replace('\n', " ");
        ConfigError(format!(
            "config error: {}: invalid TOML: {}",
            path.display(),
            msg.trim()
        ))
    })
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
