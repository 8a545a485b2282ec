//! Order enumerations, spelled as Binance spells them.

use serde::{Deserialize, Serialize};

/// Order side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Side {
    /// Buy the base asset.
    Buy,
    /// Sell the base asset.
    Sell,
}

impl Side {
    /// The opposite side.
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }

    /// Binance spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }
}

/// Order type (the subset the engine serves).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderType {
    /// Limit order with a time in force.
    Limit,
    /// Market order: walks the book.
    Market,
    /// Post-only limit order: rejected if it would trade on arrival.
    LimitMaker,
}

/// Time in force of a limit order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TimeInForce {
    /// Good till canceled.
    Gtc,
    /// Immediate or cancel.
    Ioc,
    /// Fill or kill.
    Fok,
}

/// Order status (Binance's `X`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Accepted, nothing filled.
    New,
    /// Some quantity filled, still working.
    PartiallyFilled,
    /// Completely filled.
    Filled,
    /// Canceled by request.
    Canceled,
    /// Rejected by the venue.
    Rejected,
    /// Expired (IOC/FOK remainder, or canceled by the engine).
    Expired,
}

impl OrderStatus {
    /// True once the order can no longer change.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OrderStatus::Filled
                | OrderStatus::Canceled
                | OrderStatus::Rejected
                | OrderStatus::Expired
        )
    }
}

/// Whether a fill added or took liquidity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Liquidity {
    /// The order was resting on the book.
    Maker,
    /// The order crossed the spread.
    Taker,
}

/// Aggressor (taker) side of a market trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Aggressor {
    /// The taker bought (lifted the ask).
    Buy,
    /// The taker sold (hit the bid).
    Sell,
}
