//! How the real executor answers `QueryBalances`: from the balances the user data stream keeps
//! ([`BalanceCache`]), seeded by `GET /api/v3/account`, and how the stream's events and its
//! subscriptions reach them.

use common::message::{Balances, QueryBalances, Response};
use common::time::now_ns;

use crate::balances::AccountPosition;
use crate::real::balance_cache::Applied;
#[cfg(doc)]
use crate::real::balance_cache::BalanceCache;
use crate::real::error_response::error_response;
use crate::real::executor::RealExecutor;

impl RealExecutor {
    /// The account's balances: the symbol's base and quote, then any other non-zero asset. From
    /// the balances the user data stream keeps when they are trusted (no request); else from
    /// `GET /api/v3/account`, whose answer seeds them while the stream is subscribed.
    pub async fn balances(&self, cmd: &QueryBalances) -> Response {
        let answer = |all| {
            Response::Balances(Balances {
                command_id: Some(cmd.command_id.clone()),
                ts_ns: now_ns(),
                balances: crate::balances::ordered(&self.config().filters, all),
            })
        };
        let seed = {
            let mut cache = self.balance_cache();
            if let Some(all) = cache.balances() {
                return answer(all);
            }
            cache.start_seed(self.client().earliest_server_now_ms())
        };
        match self.client().account().await {
            Ok(all) => {
                if let Some(seed) = seed {
                    let mut cache = self.balance_cache();
                    if cache.finish_seed(seed, all.clone()) {
                        tracing::debug!("balances seeded from GET /api/v3/account");
                        if let Some(kept) = cache.balances() {
                            return answer(kept);
                        }
                    }
                }
                answer(all)
            }
            Err(e) => {
                if let Some(seed) = seed {
                    self.balance_cache().abandon_seed(seed);
                }
                error_response(Some(&cmd.command_id), &e, now_ns())
            }
        }
    }

    /// Applies a user data stream `outboundAccountPosition` to the balances kept for
    /// [`Self::balances`] (ignored when its `u` is before their seeding request, or none is
    /// kept).
    pub fn on_account_position(&self, event: &AccountPosition) {
        let applied = self.balance_cache().apply(event);
        if applied != Applied::Written {
            tracing::debug!(
                last_update_ms = event.last_update_ms,
                ?applied,
                "outboundAccountPosition not applied"
            );
        }
    }

    /// A reconcile: the balances kept are dropped (the stream may have lost an event), and the
    /// next [`Self::balances`] seeds them again.
    pub(super) fn refresh_balances(&self) {
        self.balance_cache().refresh();
    }

    /// The user data stream subscribed: the balances kept are dropped (events may have been
    /// missed), and the next [`Self::balances`] seeds them again.
    pub(super) fn stream_subscribed(&self) {
        self.balance_cache().stream_subscribed();
    }

    /// The user data stream's subscription ended: the balances kept are dropped, and
    /// [`Self::balances`] asks the venue until it subscribes again.
    pub(super) fn stream_ended(&self) {
        self.balance_cache().stream_ended();
    }
}
