//! The orders a paper executor knows: every open one, and the latest finished ones (at most
//! [`FINISHED_IN_MEMORY`], so a session of any length holds a bounded number), each found by its
//! client order id.

use std::collections::{HashMap, VecDeque};

use crate::order::Order;

/// Finished orders kept in memory: they still answer `QueryOrder`, and their client order ids are
/// still refused as duplicates (a strategy retries within seconds; Binance itself refuses only the
/// id of an open order). An older one is forgotten: queried, it is unknown.
pub const FINISHED_IN_MEMORY: usize = 1_000;

/// An order and its place in the order of placing (oldest first).
#[derive(Debug, Clone)]
pub(crate) struct Placed {
    pub seq: u64,
    pub order: Order,
}

/// The open orders (in the order they were placed) and the latest finished ones (in the order
/// they finished).
#[derive(Debug, Default)]
pub(crate) struct OrderList {
    pub open: Vec<Placed>,
    finished: VecDeque<Placed>,
    /// Every client order id above: true while its order is open.
    ids: HashMap<String, bool>,
    next_seq: u64,
}

impl OrderList {
    /// The list of `orders` (oldest first); `Err` names a client order id found twice.
    pub fn of(orders: Vec<Order>) -> Result<Self, String> {
        let mut list = OrderList::default();
        for o in orders {
            if list.ids.contains_key(&o.info.client_order_id) {
                return Err(o.info.client_order_id);
            }
            list.push(o);
        }
        Ok(list)
    }

    /// True when an order with this client order id is known.
    pub fn knows(&self, client_order_id: &str) -> bool {
        self.ids.contains_key(client_order_id)
    }

    /// The order with this client order id.
    pub fn get(&self, client_order_id: &str) -> Option<&Order> {
        let open = *self.ids.get(client_order_id)?;
        let found = if open {
            self.open
                .iter()
                .find(|p| p.order.info.client_order_id == client_order_id)
        } else {
            self.finished
                .iter()
                .rev()
                .find(|p| p.order.info.client_order_id == client_order_id)
        };
        found.map(|p| &p.order)
    }

    /// Adds a new order, open or finished.
    pub fn push(&mut self, order: Order) {
        let placed = Placed {
            seq: self.next_seq,
            order,
        };
        self.next_seq += 1;
        if placed.order.is_open() {
            self.ids
                .insert(placed.order.info.client_order_id.clone(), true);
            self.open.push(placed);
        } else {
            self.ids
                .insert(placed.order.info.client_order_id.clone(), false);
            self.finish(placed);
        }
    }

    /// Moves the open order at `index` of [`Self::open`] to the finished ones.
    pub fn close(&mut self, index: usize) -> &Order {
        let placed = self.open.remove(index);
        self.finish(placed);
        &self.finished.back().expect("just pushed").order
    }

    /// Files an order taken out of [`Self::open`] that is no longer open.
    pub fn finish(&mut self, placed: Placed) {
        if let Some(open) = self.ids.get_mut(&placed.order.info.client_order_id) {
            *open = false;
        }
        self.finished.push_back(placed);
        if self.finished.len() > FINISHED_IN_MEMORY {
            if let Some(old) = self.finished.pop_front() {
                self.ids.remove(&old.order.info.client_order_id);
            }
        }
    }

    /// The open orders and the latest `finished` finished ones, in the order they were placed.
    pub fn latest(&self, finished: usize) -> Vec<Order> {
        let mut keep: Vec<&Placed> = self.open.iter().collect();
        keep.extend(self.finished.iter().rev().take(finished));
        keep.sort_unstable_by_key(|p| p.seq);
        keep.into_iter().map(|p| p.order.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::message::OrderStatus;

    fn order(id: &str, status: OrderStatus) -> Order {
        let mut info: common::message::OrderInfo = serde_json::from_value(serde_json::json!({
            "client_order_id": id, "exchange_order_id": "x", "symbol": "POLUSDT", "side": "BUY",
            "order_type": "LIMIT", "time_in_force": "GTC", "quantity": "1", "price": "0.1",
            "filled_quantity": "0", "quote_filled": "0", "status": "NEW",
            "created_ts_ns": 0, "updated_ts_ns": 0
        }))
        .unwrap();
        info.status = status;
        Order::from_info(info)
    }

    /// However many orders finish, only the latest [`FINISHED_IN_MEMORY`] are kept and known; the
    /// open ones are always kept, whatever their age.
    #[test]
    fn finished_orders_are_bounded_open_ones_are_not() {
        let mut list = OrderList::default();
        list.push(order("oldest-open", OrderStatus::New));
        for i in 0..FINISHED_IN_MEMORY + 10 {
            list.push(order(&format!("f{i}"), OrderStatus::Filled));
        }
        assert_eq!(list.finished.len(), FINISHED_IN_MEMORY);
        assert_eq!(list.ids.len(), FINISHED_IN_MEMORY + 1);
        assert!(list.knows("oldest-open") && list.get("oldest-open").is_some());
        assert!(!list.knows("f9") && list.get("f9").is_none());
        assert!(list.knows("f10") && list.get("f10").is_some());
        // Closing the open order keeps the bound.
        assert_eq!(
            list.close(0).info.client_order_id,
            "oldest-open".to_string()
        );
        assert_eq!(list.finished.len(), FINISHED_IN_MEMORY);
        assert!(!list.knows("f10") && list.knows("oldest-open"));
        let latest = list.latest(2);
        let ids: Vec<_> = latest.iter().map(|o| &o.info.client_order_id).collect();
        // Placed order, not the order they finished in.
        assert_eq!(
            ids,
            [
                &"oldest-open".to_string(),
                &format!("f{}", FINISHED_IN_MEMORY + 9)
            ]
        );
    }

    #[test]
    fn a_client_order_id_twice_is_named() {
        let r = OrderList::of(vec![
            order("a", OrderStatus::Filled),
            order("a", OrderStatus::New),
        ]);
        assert_eq!(r.err(), Some("a".to_string()));
    }
}
