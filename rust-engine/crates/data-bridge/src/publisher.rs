//! Data PUB: trades, health and state changes as they come, and the book conflated to at most
//! `max_hz` snapshots a second: a book change is published at once unless one went out less than
//! 1/`max_hz` ago, in which case the newest book goes out when that interval ends. A slow subscriber
//! never slows the engine: the PUB socket drops for it (ZeroMQ's rule).

use std::time::Duration;

use common::message::{DataMessage, OrderBookSnapshot};
use common::time::now_ns;
use feed_handler::SharedBook;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{info, warn};
use zeromq::{PubSocket, Socket, SocketSend};

use crate::encoder::DataEncoder;

/// Binds the data PUB socket.
///
/// # Errors
/// The endpoint cannot be bound.
pub async fn bind(endpoint: &str) -> zeromq::ZmqResult<PubSocket> {
    let mut socket = PubSocket::new();
    socket.bind(endpoint).await?;
    Ok(socket)
}

/// What the publisher needs to build book snapshots.
#[derive(Debug, Clone)]
pub struct BookFeed {
    /// The shared book.
    pub book: SharedBook,
    /// Symbol of the book.
    pub symbol: String,
    /// Levels per side.
    pub levels: usize,
    /// Most snapshots per second.
    pub max_hz: u32,
}

/// Reads the shared book into a snapshot message, `None` while it is not in sync.
pub fn snapshot_of(feed: &BookFeed) -> Option<OrderBookSnapshot> {
    let mut snap = empty_snapshot(feed);
    read_snapshot(feed, &mut snap).then_some(snap)
}

/// A snapshot of `feed`'s symbol with room for its levels and nothing in it yet.
fn empty_snapshot(feed: &BookFeed) -> OrderBookSnapshot {
    OrderBookSnapshot {
        symbol: feed.symbol.clone(),
        exchange_ts_ns: 0,
        local_ts_ns: 0,
        update_id: 0,
        bids: Vec::with_capacity(feed.levels),
        asks: Vec::with_capacity(feed.levels),
    }
}

/// Refills `snap` (symbol kept, vectors reused) from the shared book; false, and `snap` untouched,
/// while the book is not in sync.
fn read_snapshot(feed: &BookFeed, snap: &mut OrderBookSnapshot) -> bool {
    let st = feed.book.read();
    if !st.synced {
        return false;
    }
    st.book
        .top_into(feed.levels, &mut snap.bids, &mut snap.asks);
    snap.exchange_ts_ns = st.exchange_ts_ns;
    snap.local_ts_ns = st.local_ts_ns;
    snap.update_id = st.book.update_id();
    true
}

/// Counts of what the publisher sent.
#[derive(Debug, Default, Clone, Copy)]
pub struct PublishStats {
    /// Book snapshots.
    pub books: u64,
    /// Other data messages.
    pub messages: u64,
}

/// How long queued frames get to leave before the socket closes (ZeroMQ's linger).
pub const LINGER: Duration = Duration::from_millis(200);

/// Sees each data message right after the PUB socket took it: a measurement hook (the feed-path
/// bench stamps the time there). The engine passes `()`, which compiles to nothing.
///
/// What "took it" means, with the `zeromq` 0.4 crate: `PubSocket::send` encodes the message into each
/// matching subscriber's write buffer and writes that buffer to the subscriber's TCP socket with a
/// non-blocking `write` before it returns (no other task is involved), so the bytes are in the
/// kernel's send buffer (`TCP_NODELAY` is set on every connection). Only when that buffer is full
/// does a remainder stay in user space until the next send (the crate does not flush it otherwise).
pub trait PublishProbe {
    /// `msg` was handed to the socket (`send` returned without error).
    fn published(&mut self, msg: &DataMessage);
}

impl PublishProbe for () {
    #[inline(always)]
    fn published(&mut self, _msg: &DataMessage) {}
}

impl<P: PublishProbe> PublishProbe for &mut P {
    fn published(&mut self, msg: &DataMessage) {
        (**self).published(msg);
    }
}

/// Runs the data publisher until every sender of `rx` is gone (so the last state changes go out).
pub async fn run(
    socket: PubSocket,
    rx: mpsc::Receiver<DataMessage>,
    feed: BookFeed,
) -> PublishStats {
    run_probed(socket, rx, feed, ()).await
}

/// [`run`], calling `probe` after each message the socket took.
pub async fn run_probed<P: PublishProbe>(
    mut socket: PubSocket,
    mut rx: mpsc::Receiver<DataMessage>,
    feed: BookFeed,
    mut probe: P,
) -> PublishStats {
    let min_gap = Duration::from_secs_f64(1.0 / f64::from(feed.max_hz.max(1)));
    let mut last_book = Instant::now() - min_gap;
    let mut last_id = None;
    let mut pending = false;
    let mut stats = PublishStats::default();
    let mut encoder = DataEncoder::new(&feed.symbol);
    // One book message, refilled in place for each snapshot.
    let mut book = DataMessage::OrderBookSnapshot(empty_snapshot(&feed));
    loop {
        let deadline = last_book + min_gap;
        tokio::select! {
            biased;
            msg = rx.recv() => match msg {
                Some(m) => {
                    if send(&mut socket, &mut encoder, &m, &mut stats).await {
                        probe.published(&m);
                    }
                }
                None => break,
            },
            _ = feed.book.changed() => pending = true,
            _ = tokio::time::sleep_until(deadline), if pending => {}
        }
        if pending && Instant::now() >= last_book + min_gap {
            pending = false;
            let DataMessage::OrderBookSnapshot(snap) = &mut book else {
                unreachable!("built as a book")
            };
            if read_snapshot(&feed, snap) && last_id != Some(snap.update_id) {
                last_id = Some(snap.update_id);
                last_book = Instant::now();
                if send(&mut socket, &mut encoder, &book, &mut stats).await {
                    probe.published(&book);
                }
            }
        }
    }
    tokio::time::sleep(LINGER).await;
    info!(
        books = stats.books,
        messages = stats.messages,
        at_ns = now_ns(),
        "data publisher stopped"
    );
    let _ = socket.close().await;
    stats
}

/// Publishes one message; true when the socket took it.
async fn send(
    socket: &mut PubSocket,
    encoder: &mut DataEncoder,
    msg: &DataMessage,
    stats: &mut PublishStats,
) -> bool {
    let frames = match encoder.message(msg) {
        Ok(f) => f,
        Err(e) => {
            warn!(error = %e, "data message not encodable");
            return false;
        }
    };
    if let Err(e) = socket.send(frames).await {
        warn!(error = %e, "data publish failed");
        return false;
    }
    match msg {
        DataMessage::OrderBookSnapshot(_) => stats.books += 1,
        _ => stats.messages += 1,
    }
    true
}
