//! The account's balances as `QueryBalances` answers them: from the venue's `GET /api/v3/account`
//! (real mode) or from the paper account.

use common::message::AssetBalance;
use common::Dec;
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::filters::SymbolFilters;

#[derive(Deserialize)]
struct Account {
    balances: Vec<RawBalance>,
}

#[derive(Deserialize)]
struct RawBalance {
    asset: String,
    free: Decimal,
    locked: Decimal,
}

/// The `balances` of a `GET /api/v3/account` body.
///
/// # Errors
/// The JSON error when the body is not an account.
pub fn parse_account(body: &str) -> Result<Vec<AssetBalance>, serde_json::Error> {
    let account: Account = serde_json::from_str(body)?;
    Ok(account
        .balances
        .into_iter()
        .map(|b| AssetBalance {
            asset: b.asset,
            free: Dec(b.free.normalize()),
            locked: Dec(b.locked.normalize()),
        })
        .collect())
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
}
