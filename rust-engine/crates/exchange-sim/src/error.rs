//! The simulator's errors. All of them are start-up errors: once the venue listens, bad input is
//! skipped and counted, never fatal.

use std::path::{Path, PathBuf};

/// Why the recorded data could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file cannot be opened.
    #[error("cannot open {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Nothing in the file falls in the replay window for the symbol.
    #[error("{path}: no valid {symbol} events in the chosen window ({bad_rows} bad rows skipped)")]
    Empty {
        /// The file.
        path: PathBuf,
        /// The symbol asked for.
        symbol: String,
        /// Rows skipped as invalid.
        bad_rows: u64,
    },
}

/// A command-line value the simulator cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A value is malformed or out of range.
    #[error("--{flag} {value:?}: {why}")]
    Invalid {
        /// The flag, without dashes.
        flag: &'static str,
        /// The value given.
        value: String,
        /// What was expected.
        why: &'static str,
    },
    /// The scenario file cannot be read or parsed, or a value in it is unusable (`why` names its
    /// key, or its `[[schedule]]` entry's number and key).
    #[error("scenario {path}: {why}")]
    Scenario {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

impl ConfigError {
    /// Shorthand for [`ConfigError::Invalid`].
    pub fn invalid(flag: &'static str, value: impl ToString, why: &'static str) -> Self {
        ConfigError::Invalid {
            flag,
            value: value.to_string(),
            why,
        }
    }

    /// Shorthand for [`ConfigError::Scenario`].
    pub fn scenario(path: &Path, why: impl ToString) -> Self {
        ConfigError::Scenario {
            path: path.to_owned(),
            why: why.to_string(),
        }
    }
}

/// Why the venue could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Bad or missing data.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A shutdown signal (SIGINT or SIGTERM, named) cannot be listened for.
    #[error("cannot listen for {0}: {1}")]
    Signal(&'static str, std::io::Error),
}
