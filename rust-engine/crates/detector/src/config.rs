//! `[event_detection]` of `config/config.toml`, as the Python strategy's `EventDetectionConfig` hands
//! it over (units and meaning in `config/config.toml`; the strategy's loader validated every value).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

/// The detector's configuration: the fields of `[event_detection]`, none optional.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorConfig {
    pub jitter_buffer_ms: u64,
    pub baseline_secs: usize,
    pub warmup_secs: usize,
    pub volatility_window_secs: usize,
    pub volatility_ratio: f64,
    pub volatility_floor_bps: f64,
    pub acceleration_span_secs: usize,
    pub acceleration_bps_per_s2: f64,
    pub obi_levels: usize,
    pub obi_threshold: f64,
    pub spread_ratio: f64,
    pub volume_delta_window_secs: usize,
    pub volume_delta_z: f64,
    pub velocity_window_secs: usize,
    pub velocity_ratio: f64,
    pub velocity_min_per_sec: f64,
    pub velocity_touch_only: bool,
    pub pattern_min_candles: usize,
    pub pattern_max_candles: usize,
    pub exhaustion_wick_pct: f64,
    pub exhaustion_wick_growth_pct: f64,
    pub climax_wick_pct: f64,
    pub climax_volume_ratio: f64,
    pub depth_levels: usize,
    pub liquidity_min_usd: f64,
    pub extreme_imbalance: f64,
    pub wall_ratio: f64,
    pub core_quorum: usize,
    pub core_quorum_velocity: usize,
    pub quorum_needs_price: bool,
    pub price_move_sigmas: f64,
    pub quorum_release_ratio: f64,
    pub active_confirm_secs: f64,
    pub active_hold_secs: u64,
    pub recovery_confirm_secs: u64,
}

/// A configuration the detector cannot take.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("[event_detection] {key} = {value}: {source}")]
    Field {
        key: String,
        value: Value,
        source: serde_json::Error,
    },
    #[error("[event_detection]: {0}")]
    Malformed(serde_json::Error),
}

impl DetectorConfig {
    /// The configuration from a JSON object of every field.
    ///
    /// # Errors
    /// `ConfigError::Field` naming the first key whose value is refused (wrong type, out of range,
    /// unknown key), else `Malformed` (not a JSON object, a key missing).
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        serde_json::from_str(json).map_err(|e| {
            let Ok(Value::Object(map)) = serde_json::from_str::<Value>(json) else {
                return ConfigError::Malformed(e);
            };
            let defaults = serde_json::to_value(Self::default()).expect("the defaults serialise");
            for (key, value) in map {
                let mut one = defaults.clone();
                one[key.as_str()] = value.clone();
                if let Err(source) = serde_json::from_value::<Self>(one) {
                    return ConfigError::Field { key, value, source };
                }
            }
            ConfigError::Malformed(e)
        })
    }
}

impl Default for DetectorConfig {
    /// The defaults of the Python `EventDetectionConfig` (what the tests start from).
    fn default() -> Self {
        Self {
            jitter_buffer_ms: 1500,
            baseline_secs: 300,
            warmup_secs: 60,
            volatility_window_secs: 10,
            volatility_ratio: 5.0,
            volatility_floor_bps: 20.0,
            acceleration_span_secs: 3,
            acceleration_bps_per_s2: 8.0,
            obi_levels: 10,
            obi_threshold: 0.5,
            spread_ratio: 4.0,
            volume_delta_window_secs: 10,
            volume_delta_z: 4.0,
            velocity_window_secs: 5,
            velocity_ratio: 3.0,
            velocity_min_per_sec: 10.0,
            velocity_touch_only: true,
            pattern_min_candles: 3,
            pattern_max_candles: 5,
            exhaustion_wick_pct: 20.0,
            exhaustion_wick_growth_pct: 10.0,
            climax_wick_pct: 20.0,
            climax_volume_ratio: 1.5,
            depth_levels: 20,
            liquidity_min_usd: 100_000.0,
            extreme_imbalance: 0.7,
            wall_ratio: 3.0,
            core_quorum: 3,
            core_quorum_velocity: 2,
            quorum_needs_price: false,
            price_move_sigmas: 4.5,
            quorum_release_ratio: 0.9,
            active_confirm_secs: 2.0,
            active_hold_secs: 5,
            recovery_confirm_secs: 30,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_value_is_named_with_its_key() {
        let mut v = serde_json::to_value(DetectorConfig::default()).unwrap();
        assert_eq!(
            DetectorConfig::from_json(&v.to_string()).unwrap(),
            DetectorConfig::default()
        );
        v["jitter_buffer_ms"] = Value::from(-1);
        let e = DetectorConfig::from_json(&v.to_string())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("[event_detection] jitter_buffer_ms = -1: "),
            "{e}"
        );
        v["jitter_buffer_ms"] = Value::from(1500);
        v["no_such_key"] = Value::from(1);
        let e = DetectorConfig::from_json(&v.to_string())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("[event_detection] no_such_key = 1: unknown field"),
            "{e}"
        );
        let e = DetectorConfig::from_json("{}").unwrap_err().to_string();
        assert!(e.contains("missing field"), "{e}");
        assert!(matches!(
            DetectorConfig::from_json("[1]"),
            Err(ConfigError::Malformed(_))
        ));
    }
}
