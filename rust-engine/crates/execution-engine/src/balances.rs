//! The account's balances as `QueryBalances` answers them: from the venue's `GET /api/v3/account`
//! (real mode; kept up to date by the user data stream's `outboundAccountPosition` events) or from
//! the paper account.

use common::message::AssetBalance;
use common::Dec;
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::binance_order::broken_amount_rule;
use crate::filters::SymbolFilters;

/// A balance the venue sent that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum BalanceError {
    /// Not the expected JSON (a missing field, a decimal that is not a plain decimal string:
    /// `NaN`, `1e3`, ...).
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// A negative free or locked amount.
    #[error("{asset} {field} is {value}: it must be {rule}")]
    Amount {
        /// The asset.
        asset: String,
        /// `free` or `locked`.
        field: &'static str,
        /// The amount sent.
        value: Decimal,
        /// What it must be.
        rule: &'static str,
    },
}

#[derive(Deserialize)]
struct Account {
    balances: Vec<RawBalance>,
}

#[derive(Deserialize)]
struct RawBalance {
    asset: String,
    free: Dec,
    locked: Dec,
}

/// One asset of an `outboundAccountPosition` (`{"a":..,"f":..,"l":..}`).
#[derive(Deserialize)]
struct PositionBalance {
    #[serde(rename = "a")]
    asset: String,
    #[serde(rename = "f")]
    free: Dec,
    #[serde(rename = "l")]
    locked: Dec,
}

#[derive(Deserialize)]
struct RawPosition {
    #[serde(rename = "E")]
    event_time_ms: u64,
    #[serde(rename = "u")]
    last_update_ms: u64,
    #[serde(rename = "B")]
    balances: Vec<PositionBalance>,
}

/// An `outboundAccountPosition` of the user data stream (PROTOCOL_NOTES §4.4): the absolute free
/// and locked amounts of the assets that changed.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountPosition {
    /// `E`: event time, ms.
    pub event_time_ms: u64,
    /// `u`: time of the last account update, ms (venue clock).
    pub last_update_ms: u64,
    /// `B`: the assets that changed.
    pub balances: Vec<AssetBalance>,
}

/// An asset's balance, both amounts zero or more.
fn asset_balance(asset: String, free: Dec, locked: Dec) -> Result<AssetBalance, BalanceError> {
    for (field, value) in [("free", free), ("locked", locked)] {
        if let Some(rule) = broken_amount_rule(value.0, false) {
            return Err(BalanceError::Amount {
                asset,
                field,
                value: value.0,
                rule,
            });
        }
    }
    Ok(AssetBalance {
        asset,
        free: Dec(free.0.normalize()),
        locked: Dec(locked.0.normalize()),
    })
}

/// The `balances` of a `GET /api/v3/account` body.
///
/// # Errors
/// [`BalanceError`] when the body is not an account or an amount is not a plain decimal of zero
/// or more.
pub fn parse_account(body: &str) -> Result<Vec<AssetBalance>, BalanceError> {
    let account: Account = serde_json::from_str(body)?;
    account
        .balances
        .into_iter()
        .map(|b| asset_balance(b.asset, b.free, b.locked))
        .collect()
}

/// Reads an `outboundAccountPosition` event (the inner object of a wrapped frame).
///
/// # Errors
/// [`BalanceError`] when a field is missing or of the wrong type, or an amount is not a plain
/// decimal of zero or more: the whole event is refused.
pub fn parse_account_position(event: serde_json::Value) -> Result<AccountPosition, BalanceError> {
    let raw: RawPosition = serde_json::from_value(event)?;
    Ok(AccountPosition {
        event_time_ms: raw.event_time_ms,
        last_update_ms: raw.last_update_ms,
        balances: raw
            .balances
            .into_iter()
            .map(|b| asset_balance(b.asset, b.free, b.locked))
            .collect::<Result<_, _>>()?,
    })
}

/// The symbol's base then quote asset (always, zero when absent), then every other non-zero
/// asset by name.
pub fn ordered(filters: &SymbolFilters, mut all: Vec<AssetBalance>) -> Vec<AssetBalance> {
    let mut take = |asset: &str| match all.iter().position(|b| b.asset == asset) {
        Some(i) => all.remove(i),
        None => AssetBalance {
            asset: asset.to_owned(),
            free: Dec(Decimal::ZERO),
            locked: Dec(Decimal::ZERO),
        },
    };
    let mut out = vec![take(&filters.base_asset), take(&filters.quote_asset)];
    all.retain(|b| !(b.free.0.is_zero() && b.locked.0.is_zero()));
    all.sort_by(|a, b| a.asset.cmp(&b.asset));
    out.extend(all);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::polusdt_filters as filters;

    #[test]
    fn account_body_base_quote_first_then_non_zero_others() {
        let body = r#"{"makerCommission":10,"balances":[
            {"asset":"BTC","free":"0.00000000","locked":"0.00000000"},
            {"asset":"USDT","free":"905.31120000","locked":"31.70000000"},
            {"asset":"ETH","free":"0.50000000","locked":"0.00000000"}],"accountType":"SPOT"}"#;
        let b = ordered(&filters(), parse_account(body).unwrap());
        let names: Vec<&str> = b.iter().map(|b| b.asset.as_str()).collect();
        assert_eq!(names, ["POL", "USDT", "ETH"]);
        assert_eq!(b[0].free, Dec(Decimal::ZERO));
        assert_eq!(b[1].free.to_string(), "905.3112");
        assert_eq!(b[1].locked.to_string(), "31.7");
    }

    #[test]
    fn not_an_account_is_an_error() {
        assert!(parse_account(r#"{"code":-2015,"msg":"no"}"#).is_err());
        assert!(parse_account("[]").is_err());
    }

    fn fixture(name: &str) -> serde_json::Value {
        let path = format!(
            "{}/../../../tests/fixtures/binance/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn account_position_of_the_fixture() {
        let p = parse_account_position(fixture("uds_outbound_account_position_raw.json")).unwrap();
        assert_eq!(p.event_time_ms, 1_564_034_571_105);
        assert_eq!(p.last_update_ms, 1_564_034_571_073);
        assert_eq!(p.balances.len(), 1);
        assert_eq!(p.balances[0].asset, "ETH");
        assert_eq!(p.balances[0].free.to_string(), "10000");
        assert_eq!(p.balances[0].locked, Dec(Decimal::ZERO));
    }

    /// A bad decimal (NaN, an exponent, a number instead of a string), a negative amount or a
    /// missing field refuses the whole event, naming the asset and field when an amount breaks
    /// its rule; the account answer is read as strictly.
    #[test]
    fn account_positions_and_accounts_with_bad_amounts_are_refused() {
        let good = fixture("uds_outbound_account_position_raw.json");
        for (key, value) in [
            ("f", serde_json::json!("NaN")),
            ("f", serde_json::json!("1e3")),
            ("l", serde_json::json!(1.5)),
            ("l", serde_json::json!("")),
            ("f", serde_json::json!("-0.1")),
            ("l", serde_json::json!("-1")),
        ] {
            let mut v = good.clone();
            v["B"][0][key] = value.clone();
            let e = parse_account_position(v).unwrap_err();
            if value.as_str().is_some_and(|s| s.starts_with('-')) {
                let field = if key == "f" { "free" } else { "locked" };
                assert!(
                    matches!(&e, BalanceError::Amount { asset, field: f, .. } if asset == "ETH" && *f == field),
                    "{key}={value}: {e}"
                );
            } else {
                assert!(matches!(e, BalanceError::Json(_)), "{key}={value}: {e}");
            }
        }
        for key in ["u", "B"] {
            let mut v = good.clone();
            v.as_object_mut().unwrap().remove(key);
            assert!(parse_account_position(v).is_err(), "without {key}");
        }
        let negative = r#"{"balances":[{"asset":"USDT","free":"-1.0","locked":"0"}]}"#;
        assert!(matches!(
            parse_account(negative),
            Err(BalanceError::Amount { field: "free", .. })
        ));
    }
}
