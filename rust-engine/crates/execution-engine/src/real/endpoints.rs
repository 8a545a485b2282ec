//! The typed Binance endpoints of the [`RestClient`]: each builds its request (path, parameters,
//! weight, signed or not), sends it through the client's gate ([`RestClient::send`]) and decodes the
//! answer.

use std::fmt;
use std::time::Instant;

use common::message::PlaceOrder;
use reqwest::Method;

use crate::binance_order::{
    new_order_params, parse_open_orders, parse_order_response, OrderReport, OPEN_ORDERS_PATH,
    ORDER_PATH,
};
use crate::filters::SymbolFilters;
use crate::real::client::{
    weight, RestClient, RestError, RestRequest, ACCOUNT_PATH, EXCHANGE_INFO_PATH, MY_TRADES_PATH,
};
use crate::real::mapping::{parse_my_trades, Fill};

impl RestClient {
    fn decode<T>(path: &str, r: Result<T, impl fmt::Display>) -> Result<T, RestError> {
        r.map_err(|e| RestError::Decode {
            path: path.to_owned(),
            detail: e.to_string(),
        })
    }

    /// `POST /api/v3/order` for `cmd` (`newClientOrderId` = its client order id,
    /// `newOrderRespType=FULL`). Sent once; an unknown outcome comes back as an error for which
    /// [`RestError::is_unknown_outcome`] holds.
    ///
    /// # Errors
    /// [`RestError`].
    pub async fn new_order(
        &self,
        cmd: &PlaceOrder,
        filters: &SymbolFilters,
        deadline: Option<Instant>,
    ) -> Result<OrderReport, RestError> {
        let params = new_order_params(cmd, filters).map_err(|e| RestError::Build(e.to_string()))?;
        let req = RestRequest {
            method: Method::POST,
            path: ORDER_PATH.into(),
            params: params.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            signed: true,
            weight: weight::NEW_ORDER,
            is_order: true,
            deadline,
        };
        let answer = self.send(&req).await?;
        Self::decode(ORDER_PATH, parse_order_response(&answer.body))
    }

    /// `GET /api/v3/order` by client order id.
    ///
    /// # Errors
    /// [`RestError`]; [`RestError::is_unknown_order`] when the venue has no such order.
    pub async fn query_order(
        &self,
        symbol: &str,
        client_order_id: &str,
    ) -> Result<OrderReport, RestError> {
        let req = RestRequest::new(
            Method::GET,
            ORDER_PATH,
            &[("symbol", symbol), ("origClientOrderId", client_order_id)],
            true,
            weight::QUERY_ORDER,
        );
        let answer = self.send(&req).await?;
        Self::decode(ORDER_PATH, parse_order_response(&answer.body))
    }

    /// `DELETE /api/v3/order` by client order id.
    ///
    /// # Errors
    /// [`RestError`].
    pub async fn cancel_order(
        &self,
        symbol: &str,
        client_order_id: &str,
    ) -> Result<OrderReport, RestError> {
        let req = RestRequest::new(
            Method::DELETE,
            ORDER_PATH,
            &[("symbol", symbol), ("origClientOrderId", client_order_id)],
            true,
            weight::CANCEL,
        );
        let answer = self.send(&req).await?;
        Self::decode(ORDER_PATH, parse_order_response(&answer.body))
    }

    /// `GET /api/v3/openOrders` for `symbol` (every symbol when `None`: weight 80).
    ///
    /// # Errors
    /// [`RestError`].
    pub async fn open_orders(&self, symbol: Option<&str>) -> Result<Vec<OrderReport>, RestError> {
        let req = match symbol {
            Some(s) => RestRequest::new(
                Method::GET,
                OPEN_ORDERS_PATH,
                &[("symbol", s)],
                true,
                weight::OPEN_ORDERS_SYMBOL,
            ),
            None => RestRequest::new(
                Method::GET,
                OPEN_ORDERS_PATH,
                &[],
                true,
                weight::OPEN_ORDERS_ALL,
            ),
        };
        let answer = self.send(&req).await?;
        Self::decode(OPEN_ORDERS_PATH, parse_open_orders(&answer.body))
    }

    /// `GET /api/v3/account`: every balance (`omitZeroBalances` is not sent; the caller filters).
    ///
    /// # Errors
    /// [`RestError`].
    pub async fn account(&self) -> Result<Vec<common::message::AssetBalance>, RestError> {
        let req = RestRequest::new(Method::GET, ACCOUNT_PATH, &[], true, weight::ACCOUNT);
        let answer = self.send(&req).await?;
        Self::decode(ACCOUNT_PATH, crate::balances::parse_account(&answer.body))
    }

    /// `DELETE /api/v3/openOrders` for `symbol`: the canceled orders (order-list entries are
    /// skipped; "no open orders" is an empty list).
    ///
    /// # Errors
    /// [`RestError`].
    pub async fn cancel_open_orders(&self, symbol: &str) -> Result<Vec<OrderReport>, RestError> {
        let req = RestRequest::new(
            Method::DELETE,
            OPEN_ORDERS_PATH,
            &[("symbol", symbol)],
            true,
            weight::CANCEL,
        );
        let answer = match self.send(&req).await {
            Ok(a) => a,
            Err(e) if e.is_unknown_order() => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let items: Vec<serde_json::Value> =
            Self::decode(OPEN_ORDERS_PATH, serde_json::from_str(&answer.body))?;
        items
            .into_iter()
            .filter(|v| v.get("orderId").is_some())
            .map(|v| Self::decode(OPEN_ORDERS_PATH, parse_order_response(&v.to_string())))
            .collect()
    }

    /// `GET /api/v3/myTrades` of one order, oldest first.
    ///
    /// # Errors
    /// [`RestError`].
    pub async fn my_trades(&self, symbol: &str, order_id: u64) -> Result<Vec<Fill>, RestError> {
        let id = order_id.to_string();
        let req = RestRequest::new(
            Method::GET,
            MY_TRADES_PATH,
            &[("symbol", symbol), ("orderId", &id)],
            true,
            weight::MY_TRADES,
        );
        let answer = self.send(&req).await?;
        Self::decode(MY_TRADES_PATH, parse_my_trades(&answer.body, order_id))
    }

    /// `GET /api/v3/exchangeInfo?symbol=`: the body, for [`SymbolFilters::from_exchange_info`]
    /// and [`crate::rate_limit::RateLimiter::from_exchange_info`].
    ///
    /// # Errors
    /// [`RestError`].
    pub async fn exchange_info(&self, symbol: &str) -> Result<String, RestError> {
        let req = RestRequest::new(
            Method::GET,
            EXCHANGE_INFO_PATH,
            &[("symbol", symbol)],
            false,
            weight::EXCHANGE_INFO,
        );
        Ok(self.send(&req).await?.body)
    }
}
