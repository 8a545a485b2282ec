//! The engine's net position on disk, in real mode: `<[persistence] engine_position_dir>/
//! engine-position-<SYMBOL>.json`, rewritten after each batch of fills that moved it and read back
//! at start, so an engine killed and started again flattens, and counts `[risk] max_positions` and
//! `max_position_notional` from, what it holds at the venue rather than from zero. A write goes to a
//! temporary file beside it, is synced, then renamed over it: a kill leaves the old file or the new
//! one, never part of one. One file per symbol: engines of different symbols sharing the folder
//! never write each other's.
//!
//! Paper mode neither reads nor writes it: the paper venue lives in the engine and a restarted one
//! starts with no position.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use common::Dec;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// What the file holds.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Saved {
    /// The symbol (a file renamed to another symbol's name is refused).
    symbol: String,
    /// Net base position.
    position: Dec,
    /// When it was written, ns since the epoch.
    updated_ts_ns: u64,
}

/// A file that could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PositionFileError {
    /// Reading or writing failed.
    #[error("engine position {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// The file is not what this module writes.
    #[error("engine position {path} is not valid ({reason}); it holds the engine's net position at the venue: repair it, or delete it to start from no position")]
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
    /// The file of `symbol` in `dir` (made at the first write).
    pub fn new(dir: impl AsRef<Path>, symbol: &str) -> Self {
        PositionFile {
            path: dir.as_ref().join(format!("engine-position-{symbol}.json")),
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

    /// The position saved; zero when there is no file.
    ///
    /// # Errors
    /// The file cannot be read, is not valid, or is another symbol's.
    pub fn load(&self) -> Result<Decimal, PositionFileError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Decimal::ZERO),
            Err(e) => return Err(self.io(e)),
        };
        let malformed = |reason: String| PositionFileError::Malformed {
            path: self.path.clone(),
            reason,
        };
        let saved: Saved = serde_json::from_str(&text).map_err(|e| malformed(e.to_string()))?;
        if saved.symbol != self.symbol {
            return Err(malformed(format!(
                "it is {}'s, not {}'s",
                saved.symbol, self.symbol
            )));
        }
        Ok(saved.position.0)
    }

    /// Saves `position` at `now_ns`.
    ///
    /// # Errors
    /// The folder, the temporary file or the rename failed.
    pub fn save(&self, position: Decimal, now_ns: u64) -> Result<(), PositionFileError> {
        let saved = Saved {
            symbol: self.symbol.clone(),
            position: Dec(position),
            updated_ts_ns: now_ns,
        };
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

    /// No file: no position. A saved position reads back exactly, in a file of its own per
    /// symbol; the folder is made; no temporary file is left.
    #[test]
    fn a_saved_position_reads_back_per_symbol() {
        let root = dir();
        let folder = root.join("state");
        let pol = PositionFile::new(&folder, "POLUSDT");
        assert_eq!(pol.load().unwrap(), Decimal::ZERO);
        pol.save(d("99.9"), 1).unwrap();
        assert_eq!(pol.load().unwrap(), d("99.9"));
        let btc = PositionFile::new(&folder, "BTCUSDT");
        assert_eq!(btc.load().unwrap(), Decimal::ZERO);
        btc.save(d("-0.00012"), 2).unwrap();
        assert_eq!(
            (pol.load().unwrap(), btc.load().unwrap()),
            (d("99.9"), d("-0.00012"))
        );
        pol.save(Decimal::ZERO, 3).unwrap();
        assert_eq!(pol.load().unwrap(), Decimal::ZERO);
        let mut names: Vec<_> = fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "engine-position-BTCUSDT.json",
                "engine-position-POLUSDT.json"
            ]
        );
        let text = fs::read_to_string(pol.path()).unwrap();
        assert!(text.contains("\"position\": \"0\""), "{text}");
        fs::remove_dir_all(root).unwrap();
    }

    /// A file that is not the engine's (damaged, edited, a number where a decimal string is
    /// expected, another symbol's) is an error naming it and saying what to do: the position it
    /// should hold is never taken as zero.
    #[test]
    fn a_damaged_file_is_an_error_naming_it() {
        let root = dir();
        let file = PositionFile::new(&root, "POLUSDT");
        for bad in [
            "{\"symbol\": \"POLUSDT\", \"position\": \"99.9\"",
            "{\"symbol\": \"POLUSDT\", \"position\": 99.9, \"updated_ts_ns\": 1}",
            "{\"symbol\": \"POLUSDT\", \"position\": \"NaN\", \"updated_ts_ns\": 1}",
            "{\"symbol\": \"BTCUSDT\", \"position\": \"1\", \"updated_ts_ns\": 1}",
            "",
        ] {
            fs::write(file.path(), bad).unwrap();
            let e = file.load().unwrap_err().to_string();
            assert!(
                e.starts_with(&format!(
                    "engine position {} is not valid",
                    file.path().display()
                )),
                "{e}"
            );
            assert!(e.ends_with("delete it to start from no position"), "{e}");
        }
        fs::remove_dir_all(root).unwrap();
    }
}
