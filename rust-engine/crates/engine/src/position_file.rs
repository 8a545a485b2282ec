//! The engine's net position on disk (`[persistence] engine_state_path`), in real mode: rewritten
//! after each batch of fills that moved it and read back at start, so an engine killed and started
//! again flattens, and counts `[risk] max_positions` and `max_position_notional` from, what it holds
//! at the venue rather than from zero. A write goes to a temporary file beside it, is synced, then
//! renamed over it: a kill leaves the old file or the new one, never part of one. The file holds
//! one position per symbol (JSON, decimals as strings), so an engine started on another symbol keeps
//! the first one's.
//!
//! Paper mode neither reads nor writes it: the paper venue lives in the engine and a restarted one
//! starts with no position.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use common::Dec;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// What the file holds.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Saved {
    /// Net base position per symbol.
    positions: BTreeMap<String, Dec>,
    /// When it was last written, ns since the epoch.
    updated_ts_ns: u64,
}

/// A file that could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PositionFileError {
    /// Reading or writing failed.
    #[error("engine state {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// The file is not what this module writes.
    #[error("engine state {path} is not valid ({reason}); it holds the engine's net position at the venue: repair it, or delete it to start from no position")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// The position file of one symbol.
#[derive(Debug, Clone)]
pub struct PositionFile {
    path: PathBuf,
    symbol: String,
}

impl PositionFile {
    /// The file at `path` (its folder is made at the first write), for `symbol`.
    pub fn new(path: impl Into<PathBuf>, symbol: &str) -> Self {
        PositionFile {
            path: path.into(),
            symbol: symbol.to_owned(),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: io::Error) -> PositionFileError {
        PositionFileError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn read(&self) -> Result<Saved, PositionFileError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Saved::default()),
            Err(e) => return Err(self.io(e)),
        };
        serde_json::from_str(&text).map_err(|e| PositionFileError::Malformed {
            path: self.path.clone(),
            reason: e.to_string(),
        })
    }

    /// The position saved for the symbol; zero when there is no file or no entry for it.
    ///
    /// # Errors
    /// The file cannot be read, or is not valid.
    pub fn load(&self) -> Result<Decimal, PositionFileError> {
        Ok(self
            .read()?
            .positions
            .get(&self.symbol)
            .map_or(Decimal::ZERO, |d| d.0))
    }

    /// Saves `position` for the symbol (the other symbols' entries kept), at `now_ns`.
    ///
    /// # Errors
    /// The folder, the temporary file or the rename failed, or the file holds something else.
    pub fn save(&self, position: Decimal, now_ns: u64) -> Result<(), PositionFileError> {
        let mut saved = self.read()?;
        saved.positions.insert(self.symbol.clone(), Dec(position));
        saved.updated_ts_ns = now_ns;
        let text = serde_json::to_string_pretty(&saved).map_err(|e| self.io(e.into()))?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        }
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let write = || -> io::Result<()> {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| self.io(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "flashcrash-position-file-{}-{}",
            std::process::id(),
            common::time::now_ns()
        ));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// No file: no position. A saved position reads back exactly; a second symbol's entry keeps
    /// the first's; the folder is made; no temporary file is left.
    #[test]
    fn a_saved_position_reads_back_per_symbol() {
        let root = dir();
        let path = root.join("state").join("engine_state.json");
        let pol = PositionFile::new(&path, "POLUSDT");
        assert_eq!(pol.load().unwrap(), Decimal::ZERO);
        pol.save(d("99.9"), 1).unwrap();
        assert_eq!(pol.load().unwrap(), d("99.9"));
        let btc = PositionFile::new(&path, "BTCUSDT");
        assert_eq!(btc.load().unwrap(), Decimal::ZERO);
        btc.save(d("-0.00012"), 2).unwrap();
        assert_eq!(pol.load().unwrap(), d("99.9"));
        assert_eq!(btc.load().unwrap(), d("-0.00012"));
        pol.save(Decimal::ZERO, 3).unwrap();
        assert_eq!(pol.load().unwrap(), Decimal::ZERO);
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["engine_state.json"]);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"POLUSDT\": \"0\""), "{text}");
        fs::remove_dir_all(root).unwrap();
    }

    /// A file that is not the engine's (damaged, edited, a number where a decimal string is
    /// expected) is an error naming it and saying what to do, for a load and a save alike: the
    /// position it should hold is never taken as zero, nor overwritten.
    #[test]
    fn a_damaged_file_is_an_error_naming_it() {
        let root = dir();
        let path = root.join("engine_state.json");
        let file = PositionFile::new(&path, "POLUSDT");
        for bad in [
            "{\"positions\": {\"POLUSDT\": \"99.9\"",
            "{\"positions\": {\"POLUSDT\": 99.9}, \"updated_ts_ns\": 1}",
            "{\"positions\": {\"POLUSDT\": \"NaN\"}, \"updated_ts_ns\": 1}",
            "",
        ] {
            fs::write(&path, bad).unwrap();
            let e = file.load().unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("engine state {} is not valid", path.display())),
                "{e}"
            );
            assert!(e.ends_with("delete it to start from no position"), "{e}");
            assert!(file.save(d("1"), 1).is_err());
            assert_eq!(fs::read_to_string(&path).unwrap(), bad);
        }
        fs::remove_dir_all(root).unwrap();
    }
}
