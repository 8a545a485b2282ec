//! What the detector tells the trading engine: one reading per indicator, at one instant (the
//! Python `flashcrash.event_detector.readings`). The first five indicators (`CORE`) vote for ACTIVE.

use serde::{Deserialize, Serialize};

/// The eight indicators, in the order of `Readings::by_indicator`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Indicator {
    Volatility,
    Acceleration,
    Obi,
    Spread,
    VolumeDelta,
    MessageVelocity,
    Pattern,
    Liquidity,
}

impl Indicator {
    /// Every indicator, in index order.
    pub const ALL: [Indicator; 8] = [
        Indicator::Volatility,
        Indicator::Acceleration,
        Indicator::Obi,
        Indicator::Spread,
        Indicator::VolumeDelta,
        Indicator::MessageVelocity,
        Indicator::Pattern,
        Indicator::Liquidity,
    ];

    /// The name the Python side and the configuration use (`volume_delta`...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Indicator::Volatility => "volatility",
            Indicator::Acceleration => "acceleration",
            Indicator::Obi => "obi",
            Indicator::Spread => "spread",
            Indicator::VolumeDelta => "volume_delta",
            Indicator::MessageVelocity => "message_velocity",
            Indicator::Pattern => "pattern",
            Indicator::Liquidity => "liquidity",
        }
    }

    /// Whether the indicator is read from the price path alone (volatility, acceleration): with
    /// `quorum_needs_price` a quorum counts only when one of them is in it.
    pub const fn is_price(self) -> bool {
        matches!(self, Indicator::Volatility | Indicator::Acceleration)
    }
}

/// The five core indicators, which vote for ACTIVE.
pub const CORE: [Indicator; 5] = [
    Indicator::Volatility,
    Indicator::Acceleration,
    Indicator::Obi,
    Indicator::Spread,
    Indicator::VolumeDelta,
];

/// A candle pattern of the last closed candles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pattern {
    None,
    SellingExhaustion,
    BuyingClimax,
}

impl Pattern {
    /// The Python `Pattern` value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Pattern::None => "none",
            Pattern::SellingExhaustion => "selling_exhaustion",
            Pattern::BuyingClimax => "buying_climax",
        }
    }
}

/// One indicator at one instant. `value` is in the indicator's own unit, `threshold` the value at
/// which it fires, `strength` in [0, 1] the share of its entry-score weight it earns (1 when fired,
/// `|value| / threshold` capped under 1 when not); `ready` is false while its baseline warms up (then
/// it is not fired and its strength is 0).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    pub indicator: Indicator,
    #[serde(with = "crate::serde_float")]
    pub value: f64,
    pub threshold: f64,
    pub fired: bool,
    pub strength: f64,
    pub ready: bool,
}

/// All eight readings at `ts_ns` (event time), plus what the risk checks need from the book.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Readings {
    pub ts_ns: i64,
    /// Indexed by `Indicator as usize`.
    pub by_indicator: [Reading; 8],
    pub pattern: Pattern,
    /// Relative spread over its baseline (NaN until ready).
    #[serde(with = "crate::serde_float")]
    pub spread_ratio: f64,
    /// Bid + ask notional of the top levels (NaN without a fresh book).
    #[serde(with = "crate::serde_float")]
    pub liquidity_usd: f64,
    /// (bid - ask) / (bid + ask) notional of the top levels (NaN without a fresh book).
    #[serde(with = "crate::serde_float")]
    pub depth_imbalance: f64,
    pub extreme_imbalance: bool,
    /// Prices of the bid levels over `wall_ratio` times the side's median quantity.
    pub bid_walls: Vec<f64>,
    pub ask_walls: Vec<f64>,
    /// The price's move over the volatility window in baseline sigmas
    /// ([`Volatility::move_sigmas`](crate::indicators::volatility::Volatility::move_sigmas); NaN
    /// until its baseline is warm). With `quorum_needs_price`, a move of `price_move_sigmas` is
    /// the price evidence a quorum needs when neither volatility nor acceleration fires. (Absent
    /// from snapshots written before it: NaN.)
    #[serde(default = "nan", with = "crate::serde_float")]
    pub price_move: f64,
}

fn nan() -> f64 {
    f64::NAN
}

impl Readings {
    /// Readings without a fresh book: its figures NaN, no walls.
    pub fn without_book(
        ts_ns: i64,
        by_indicator: [Reading; 8],
        pattern: Pattern,
        spread_ratio: f64,
    ) -> Self {
        Readings {
            ts_ns,
            by_indicator,
            pattern,
            spread_ratio,
            liquidity_usd: f64::NAN,
            depth_imbalance: f64::NAN,
            extreme_imbalance: false,
            bid_walls: Vec::new(),
            ask_walls: Vec::new(),
            price_move: f64::NAN,
        }
    }

    /// The reading of one indicator.
    pub fn get(&self, ind: Indicator) -> &Reading {
        &self.by_indicator[ind as usize]
    }

    /// How many core indicators fired.
    pub fn core_fired(&self) -> usize {
        CORE.iter().filter(|i| self.get(**i).fired).count()
    }
}

/// Largest strength of an indicator that does not fire.
pub const BELOW_THRESHOLD_MAX: f64 = 0.99;

/// 1 when fired; else `|value| / threshold`, capped at `BELOW_THRESHOLD_MAX` (0 for NaN or infinite
/// values, or a threshold that is not positive).
pub fn strength(value: f64, threshold: f64, fired: bool) -> f64 {
    if fired {
        return 1.0;
    }
    if threshold.is_nan() || threshold <= 0.0 || !value.is_finite() {
        return 0.0;
    }
    BELOW_THRESHOLD_MAX.min(value.abs() / threshold)
}

/// A reading whose strength follows `value`; not fired (strength 0) unless ready.
pub fn measure(
    indicator: Indicator,
    value: f64,
    threshold: f64,
    fired: bool,
    ready: bool,
) -> Reading {
    if !ready {
        return Reading {
            indicator,
            value,
            threshold,
            fired: false,
            strength: 0.0,
            ready: false,
        };
    }
    Reading {
        indicator,
        value,
        threshold,
        fired,
        strength: strength(value, threshold, fired),
        ready: true,
    }
}

/// A reading not ready yet (NaN value).
pub fn not_ready(indicator: Indicator, threshold: f64) -> Reading {
    measure(indicator, f64::NAN, threshold, false, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strength_follows_the_value_below_the_threshold_and_is_one_when_fired() {
        struct Case {
            value: f64,
            threshold: f64,
            fired: bool,
            expected: f64,
        }
        let cases = [
            Case {
                value: 2.0,
                threshold: 4.0,
                fired: false,
                expected: 0.5,
            },
            Case {
                value: -2.0,
                threshold: 4.0,
                fired: false,
                expected: 0.5,
            },
            Case {
                value: 5.0,
                threshold: 4.0,
                fired: false,
                expected: BELOW_THRESHOLD_MAX,
            },
            Case {
                value: 0.1,
                threshold: 4.0,
                fired: true,
                expected: 1.0,
            },
            Case {
                value: f64::NAN,
                threshold: 4.0,
                fired: false,
                expected: 0.0,
            },
            Case {
                value: f64::INFINITY,
                threshold: 4.0,
                fired: false,
                expected: 0.0,
            },
            Case {
                value: 1.0,
                threshold: 0.0,
                fired: false,
                expected: 0.0,
            },
            Case {
                value: 1.0,
                threshold: f64::NAN,
                fired: false,
                expected: 0.0,
            },
        ];
        for c in cases {
            assert_eq!(
                strength(c.value, c.threshold, c.fired),
                c.expected,
                "{}/{}",
                c.value,
                c.threshold
            );
        }
    }

    #[test]
    fn a_reading_not_ready_never_fires() {
        let r = measure(Indicator::Spread, 9.0, 4.0, true, false);
        assert!(!r.fired && !r.ready && r.strength == 0.0);
        assert!(not_ready(Indicator::Obi, 0.5).value.is_nan());
    }

    #[test]
    fn readings_of_a_snapshot_without_the_price_move_read_it_as_nan() {
        let by = Indicator::ALL.map(|i| not_ready(i, 1.0));
        let r = Readings {
            price_move: 5.5,
            ..Readings::without_book(7, by, Pattern::None, f64::NAN)
        };
        let mut json: serde_json::Value = serde_json::to_value(&r).unwrap();
        assert_eq!(json["price_move"], 5.5);
        let back: Readings = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back.price_move, 5.5);
        json.as_object_mut().unwrap().remove("price_move");
        let old: Readings = serde_json::from_value(json).unwrap();
        assert!(old.price_move.is_nan() && old.ts_ns == 7);
    }

    #[test]
    fn names_are_the_python_values() {
        let names: Vec<_> = Indicator::ALL.iter().map(|i| i.as_str()).collect();
        assert_eq!(
            names,
            [
                "volatility",
                "acceleration",
                "obi",
                "spread",
                "volume_delta",
                "message_velocity",
                "pattern",
                "liquidity"
            ]
        );
        for (i, ind) in Indicator::ALL.iter().enumerate() {
            assert_eq!(*ind as usize, i);
        }
    }
}
