//! The account's balances as the user data stream keeps them, so that `QueryBalances` needs no
//! REST request (`GET /api/v3/account` weighs 20; the notes' `-1003`: "Please use the websocket
//! for live updates to avoid polling the API").
//!
//! A `GET /api/v3/account` answer seeds them; every `outboundAccountPosition` then overwrites the
//! assets it carries. An event whose `u` (the time of the account update, venue clock) is before
//! the venue-clock time the seeding request was sent at is ignored: the answer already holds it.
//! Events that come while the seeding request is out are kept and applied over its answer. The
//! balances are trusted only while the stream stays subscribed: its end (a broken connection,
//! `eventStreamTerminated`) and every new subscription drop them, and while it is not subscribed
//! nothing is seeded (an event could be missed between the answer and the subscription). Every
//! reconcile (each `[execution] reconcile_secs`) drops them too, so an event the venue never
//! delivered (the reconcile's reason to be) leaves them wrong for that long at most.

use std::collections::BTreeMap;

use common::message::AssetBalance;

use crate::balances::AccountPosition;

/// A seeding request, from [`BalanceCache::start_seed`] to [`BalanceCache::finish_seed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seed {
    id: u64,
}

/// What became of an `outboundAccountPosition`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applied {
    /// Written over the balances (or kept for the seeding request's answer).
    Written,
    /// Its `u` is before the seeding request: the balances hold it already.
    BeforeSeed,
    /// Nothing is held nor seeding: the next seeding request's answer holds it.
    NotSeeded,
}

#[derive(Debug, Default)]
enum State {
    /// Nothing trusted.
    #[default]
    Empty,
    /// Seeding request `id` sent at `since_ms` (venue clock) is out; `later` holds the newest
    /// streamed balance of each asset since then.
    Seeding {
        id: u64,
        since_ms: u64,
        later: BTreeMap<String, AssetBalance>,
    },
    /// The account's balances, by asset, seeded by a request sent at `since_ms`.
    Seeded {
        since_ms: u64,
        balances: BTreeMap<String, AssetBalance>,
    },
}

/// The account's balances kept by the user data stream (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct BalanceCache {
    state: State,
    subscribed: bool,
    seeds: u64,
}

impl BalanceCache {
    /// The stream subscribed (again): what was held is dropped, seeding may start.
    pub(crate) fn stream_subscribed(&mut self) {
        self.state = State::Empty;
        self.subscribed = true;
    }

    /// The stream's subscription ended: what was held is dropped, and nothing is seeded until it
    /// subscribes again.
    pub(crate) fn stream_ended(&mut self) {
        self.state = State::Empty;
        self.subscribed = false;
    }

    /// The balances, when seeded and trusted.
    pub(crate) fn balances(&self) -> Option<Vec<AssetBalance>> {
        match &self.state {
            State::Seeded { balances, .. } => Some(balances.values().cloned().collect()),
            _ => None,
        }
    }

    /// Starts seeding with a request sent at `since_ms` (venue clock), replacing one under way;
    /// `None` while the stream is not subscribed.
    pub(crate) fn start_seed(&mut self, since_ms: u64) -> Option<Seed> {
        if !self.subscribed {
            return None;
        }
        self.seeds += 1;
        self.state = State::Seeding {
            id: self.seeds,
            since_ms,
            later: BTreeMap::new(),
        };
        Some(Seed { id: self.seeds })
    }

    /// Seeds the balances with `seed`'s answer, `account`, and the events kept since it was sent.
    /// False (nothing changes) when the seeding was dropped or replaced meanwhile.
    pub(crate) fn finish_seed(&mut self, seed: Seed, account: Vec<AssetBalance>) -> bool {
        let State::Seeding {
            id,
            since_ms,
            later,
        } = std::mem::take(&mut self.state)
        else {
            return false;
        };
        if id != seed.id {
            self.state = State::Seeding {
                id,
                since_ms,
                later,
            };
            return false;
        }
        let mut balances: BTreeMap<String, AssetBalance> =
            account.into_iter().map(|b| (b.asset.clone(), b)).collect();
        balances.extend(later);
        self.state = State::Seeded { since_ms, balances };
        true
    }

    /// Drops the balances held, so the next query seeds them again (a reconcile: the stream may
    /// have lost an event); a seeding request under way is left to finish, its answer as fresh.
    pub(crate) fn refresh(&mut self) {
        if matches!(self.state, State::Seeded { .. }) {
            self.state = State::Empty;
        }
    }

    /// Forgets `seed` when it is still the one under way (its request failed).
    pub(crate) fn abandon_seed(&mut self, seed: Seed) {
        if matches!(self.state, State::Seeding { id, .. } if id == seed.id) {
            self.state = State::Empty;
        }
    }

    /// Writes an `outboundAccountPosition` over the balances it carries.
    pub(crate) fn apply(&mut self, event: &AccountPosition) -> Applied {
        let (since_ms, balances) = match &mut self.state {
            State::Empty => return Applied::NotSeeded,
            State::Seeding {
                since_ms, later, ..
            } => (*since_ms, later),
            State::Seeded { since_ms, balances } => (*since_ms, balances),
        };
        if event.last_update_ms < since_ms {
            return Applied::BeforeSeed;
        }
        for b in &event.balances {
            balances.insert(b.asset.clone(), b.clone());
        }
        Applied::Written
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::Dec;

    fn bal(asset: &str, free: &str, locked: &str) -> AssetBalance {
        AssetBalance {
            asset: asset.into(),
            free: free.parse().unwrap(),
            locked: locked.parse().unwrap(),
        }
    }

    fn event(u: u64, balances: &[AssetBalance]) -> AccountPosition {
        AccountPosition {
            event_time_ms: u + 5,
            last_update_ms: u,
            balances: balances.to_vec(),
        }
    }

    fn free(c: &BalanceCache, asset: &str) -> Option<Dec> {
        c.balances()?
            .into_iter()
            .find(|b| b.asset == asset)
            .map(|b| b.free)
    }

    #[test]
    fn seeded_then_overwritten_by_later_events_only() {
        let mut c = BalanceCache::default();
        c.stream_subscribed();
        let seed = c.start_seed(1_000).unwrap();
        assert_eq!(c.balances(), None);
        assert!(c.finish_seed(seed, vec![bal("USDT", "100", "0"), bal("POL", "5", "0")]));
        assert_eq!(
            c.apply(&event(1_200, &[bal("USDT", "90", "10")])),
            Applied::Written
        );
        assert_eq!(
            c.apply(&event(999, &[bal("USDT", "1", "0")])),
            Applied::BeforeSeed
        );
        let all = c.balances().unwrap();
        assert_eq!(all, vec![bal("POL", "5", "0"), bal("USDT", "90", "10")]);
    }

    /// A refresh (a reconcile) drops what was seeded, and the next seeding installs again; a
    /// seeding under way is left to finish.
    #[test]
    fn a_refresh_drops_the_seeded_balances_not_a_seeding_under_way() {
        let mut c = BalanceCache::default();
        c.stream_subscribed();
        let seed = c.start_seed(1_000).unwrap();
        c.refresh();
        assert!(c.finish_seed(seed, vec![bal("USDT", "100", "0")]));
        assert_eq!(free(&c, "USDT"), Some("100".parse().unwrap()));
        c.refresh();
        assert_eq!(c.balances(), None);
        let seed = c.start_seed(2_000).unwrap();
        assert!(c.finish_seed(seed, vec![bal("USDT", "90", "0")]));
        assert_eq!(free(&c, "USDT"), Some("90".parse().unwrap()));
    }

    /// Events during the seeding request are applied over its answer (those sent before it are
    /// not); a seeding replaced, or dropped by the stream's end, is not installed.
    #[test]
    fn events_while_seeding_and_seeds_dropped_or_replaced() {
        let mut c = BalanceCache::default();
        assert_eq!(c.start_seed(1_000), None, "not subscribed");
        c.stream_subscribed();
        let first = c.start_seed(1_000).unwrap();
        assert_eq!(
            c.apply(&event(1_100, &[bal("USDT", "7", "0")])),
            Applied::Written
        );
        assert_eq!(
            c.apply(&event(900, &[bal("POL", "1", "0")])),
            Applied::BeforeSeed
        );
        assert!(c.finish_seed(first, vec![bal("USDT", "100", "0"), bal("POL", "5", "0")]));
        assert_eq!(free(&c, "USDT"), Some("7".parse().unwrap()));
        assert_eq!(free(&c, "POL"), Some("5".parse().unwrap()));

        c.stream_ended();
        assert_eq!(c.balances(), None);
        assert_eq!(
            c.apply(&event(2_000, &[bal("USDT", "1", "0")])),
            Applied::NotSeeded
        );
        c.stream_subscribed();
        let old = c.start_seed(3_000).unwrap();
        let new = c.start_seed(3_001).unwrap();
        assert!(!c.finish_seed(old, vec![bal("USDT", "1", "0")]));
        assert!(c.finish_seed(new, vec![bal("USDT", "2", "0")]));
        let dropped = c.start_seed(4_000).unwrap();
        c.stream_subscribed();
        assert!(!c.finish_seed(dropped, vec![bal("USDT", "3", "0")]));
        assert_eq!(c.balances(), None);
        let failed = c.start_seed(5_000).unwrap();
        c.abandon_seed(failed);
        assert_eq!(
            c.apply(&event(6_000, &[bal("USDT", "1", "0")])),
            Applied::NotSeeded
        );
    }
}
