//! The book as other tasks see it: the feed task writes it under a short lock after each applied
//! update and wakes the publisher; the paper executor reads it to fill orders.

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tokio::sync::Notify;

use crate::book::OrderBook;

/// Book plus the facts a reader needs to trust it.
#[derive(Debug, Default)]
pub struct BookState {
    /// The book.
    pub book: OrderBook,
    /// False while (re)syncing: nothing may be published or filled against it.
    pub synced: bool,
    /// Event time of the last applied update, ns.
    pub exchange_ts_ns: u64,
    /// Receive time of the last applied update, ns.
    pub local_ts_ns: u64,
}

/// Shared handle on the book.
#[derive(Debug, Clone, Default)]
pub struct SharedBook {
    inner: Arc<RwLock<BookState>>,
    changed: Arc<Notify>,
}

impl SharedBook {
    /// Reads the book. A poisoned lock (a panicking writer) still yields the data.
    pub fn read(&self) -> RwLockReadGuard<'_, BookState> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the book.
    pub fn write(&self) -> RwLockWriteGuard<'_, BookState> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes whoever waits in [`changed`](Self::changed).
    pub fn notify(&self) {
        self.changed.notify_one();
    }

    /// Waits for the next change.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }
}
