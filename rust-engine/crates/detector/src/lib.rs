//! The strategy's event detector, compiled (a port of the Python `flashcrash.event_detector`, result
//! for result: the same float operations in the same order, so a replay gives the same readings,
//! transitions and reasons). The Python strategy drives it in every mode through the
//! `flashcrash_native` extension module (crate `py-detector`).

/// 1-second OHLCV candles from trades, closed by event time.
pub mod candles;
/// `[event_detection]`, as the strategy hands it over.
pub mod config;
/// The detector: guard → jitter buffer → indicators → state machine, one second at a time.
pub mod detector;
/// Validation in front of the detector: bad values, bad books, times too far back and lone times far
/// ahead are dropped and counted.
pub mod guard;
/// The eight microstructure indicators (seven here; the pattern one is patterns.rs).
pub mod indicators;
/// The jitter buffer: events wait a delay of event time, then leave in time order.
pub mod jitter;
/// The SLEEP/ALERT/ACTIVE/RECOVERY state machine and its transitions.
pub mod machine;
/// Candle patterns: selling exhaustion and buying climax.
pub mod patterns;
/// Python's `g` float formatting (`f"{x:g}"`, `f"{x:.3g}"`), for the transition reasons.
pub mod pyfmt;
/// What the detector publishes: one reading per indicator.
pub mod readings;
/// Rolling windows over per-second samples (and Python's `math.fsum`).
pub mod rolling;
/// Serde for floats that may be NaN or infinite (non-finite values as strings).
pub mod serde_float;

pub use config::DetectorConfig;
pub use detector::Detector;
pub use readings::{Indicator, Pattern, Reading, Readings};
