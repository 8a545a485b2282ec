//! Data PUB: trades, health and state changes as they come, and the book conflated to at most
//! `max_hz` snapshots a second: a book change is published at once unless one went out less than
//! 1/`max_hz` ago, in which case the newest book goes out when that interval ends. A slow subscriber
//! never slows the engine: what its TCP connection does not take at once waits in its send buffer
//! (user space, the size given to [`bind`], `[zmq] data_send_buffer_kib`), and a message that finds
//! that buffer holding its size or more is dropped for it (ZeroMQ's rule; the kernel's socket
//! buffers hold more before it). Each drop is counted ([`PublishStats::dropped`]) and logged (at the
//! first, on doubling, at most every [`DROP_LOG_EVERY`] while they go on); the strategy sees a
//! dropped trade as a gap in the trade ids.
//! A subscriber holding more than `zeromq::MAX_SUBSCRIPTIONS_PER_PEER` subscriptions (a repeated
//! one counts once) or `zeromq::MAX_SUBSCRIPTION_BYTES_PER_PEER` bytes of them is disconnected by
//! the socket; each is counted ([`PublishStats::peers_refused`]) and logged as drops are.

use std::time::Duration;

use common::message::{trade_topic, DataMessage, OrderBookSnapshot};
use common::time::now_ns;
use feed_handler::SharedBook;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{info, warn};
use zeromq::{PubSocket, Socket, SocketSend};

use crate::encoder::DataEncoder;

/// Binds the data PUB socket, each subscriber's send buffer `send_buffer_bytes`: what waits for a
/// subscriber in user space before a message for it is dropped.
///
/// # Errors
/// The endpoint cannot be bound.
pub async fn bind(endpoint: &str, send_buffer_bytes: usize) -> zeromq::ZmqResult<PubSocket> {
    let mut socket = PubSocket::new();
    // Before the bind: every subscriber gets it from its first message.
    socket.set_send_buffer_bytes(send_buffer_bytes);
    socket.bind(endpoint).await?;
    Ok(socket)
}

/// How often [`wait_for_subscriber`] looks at the socket's subscribers.
const SUBSCRIBER_POLL: Duration = Duration::from_millis(5);

/// Waits, at most `within`, until a subscriber of `symbol`'s trades has joined `socket`: its
/// subscription has reached the engine, so a trade published from then on reaches it (ZeroMQ
/// delivers only to subscribers already joined). How long it took, or `None` when none joined.
pub async fn wait_for_subscriber(
    socket: &PubSocket,
    symbol: &str,
    within: Duration,
) -> Option<Duration> {
    let topic = trade_topic(symbol);
    let started = Instant::now();
    loop {
        if socket.has_subscriber(topic.as_bytes()) {
            return Some(started.elapsed());
        }
        if started.elapsed() >= within {
            return None;
        }
        tokio::time::sleep(SUBSCRIBER_POLL).await;
    }
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
    /// Messages dropped for a subscriber whose queue was full (one per subscriber that missed one).
    pub dropped: u64,
    /// Subscribers disconnected for subscribing past `zeromq::MAX_SUBSCRIPTIONS_PER_PEER` or
    /// `zeromq::MAX_SUBSCRIPTION_BYTES_PER_PEER`.
    pub peers_refused: u64,
}

/// Drops are logged at most this often, unless their total doubled since the last line.
pub const DROP_LOG_EVERY: Duration = Duration::from_secs(10);

/// When to log the data messages dropped for full subscribers: at the first drop, when the total
/// has doubled since the last line, or at most every [`DROP_LOG_EVERY`] while drops go on (a new
/// stall after an early burst is told at once, a long one does not flood the log).
#[derive(Debug, Default)]
pub(crate) struct DropLog {
    logged_total: u64,
    logged_at: Option<Instant>,
}

impl DropLog {
    /// Whether the drops, now `total`, are logged at `now` (remembered when they are).
    pub(crate) fn due(&mut self, total: u64, now: Instant) -> bool {
        let due = match self.logged_at {
            None => total > 0,
            Some(at) => {
                total > self.logged_total
                    && (total >= self.logged_total.saturating_mul(2)
                        || now.duration_since(at) >= DROP_LOG_EVERY)
            }
        };
        if due {
            self.logged_total = total;
            self.logged_at = Some(now);
        }
        due
    }
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
    let mut drops = DropLog::default();
    let mut refusals = DropLog::default();
    // One book message, refilled in place for each snapshot.
    let mut book = DataMessage::OrderBookSnapshot(empty_snapshot(&feed));
    loop {
        let deadline = last_book + min_gap;
        tokio::select! {
            biased;
            msg = rx.recv() => match msg {
                Some(m) => {
                    // A book sent on the channel (a `RequestSnapshot`'s) was read before the ones
                    // published from the shared book since: one not newer than the last published
                    // would reach the strategy after a newer one.
                    if let DataMessage::OrderBookSnapshot(b) = &m {
                        if last_id.is_some_and(|last| b.update_id <= last) {
                            continue;
                        }
                        last_id = Some(b.update_id);
                    }
                    if send(&mut socket, &mut encoder, &m, &mut stats, &mut drops).await {
                        note_refused_peers(&socket, &mut stats, &mut refusals);
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
                if send(&mut socket, &mut encoder, &book, &mut stats, &mut drops).await {
                    note_refused_peers(&socket, &mut stats, &mut refusals);
                    probe.published(&book);
                }
            }
        }
    }
    tokio::time::sleep(LINGER).await;
    info!(
        books = stats.books,
        messages = stats.messages,
        dropped = stats.dropped,
        peers_refused = stats.peers_refused,
        at_ns = now_ns(),
        "data publisher stopped"
    );
    let _ = socket.close().await;
    stats
}

/// Counts the subscribers the socket disconnected for subscribing past its caps, logged as drops
/// are (at the first, on doubling, at most every [`DROP_LOG_EVERY`]).
fn note_refused_peers(socket: &PubSocket, stats: &mut PublishStats, log: &mut DropLog) {
    let refused = socket.refused_peers();
    if refused > stats.peers_refused {
        if log.due(refused, Instant::now()) {
            warn!(
                peers_refused = refused,
                max_subscriptions = zeromq::MAX_SUBSCRIPTIONS_PER_PEER,
                max_subscription_bytes = zeromq::MAX_SUBSCRIPTION_BYTES_PER_PEER,
                "a data subscriber subscribed past the caps: disconnected"
            );
        }
        stats.peers_refused = refused;
    }
}

/// Publishes one message; true when the socket took it.
async fn send(
    socket: &mut PubSocket,
    encoder: &mut DataEncoder,
    msg: &DataMessage,
    stats: &mut PublishStats,
    drops: &mut DropLog,
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
    let dropped = socket.dropped();
    if dropped > stats.dropped {
        if drops.due(dropped, Instant::now()) {
            warn!(
                dropped,
                topic = %msg.topic(),
                send_buffer_bytes = socket.send_buffer_bytes(),
                "a subscriber's queue was full: data messages dropped for it ([zmq] data_send_buffer_kib)"
            );
        }
        stats.dropped = dropped;
    }
    match msg {
        DataMessage::OrderBookSnapshot(_) => stats.books += 1,
        _ => stats.messages += 1,
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::message::{decode, StateChange};
    use feed_handler::book::{BookSide, Level};
    use zeromq::{SocketRecv, SubSocket};

    const MAX_HZ: u32 = 5;

    fn lv(price: u64, qty: u64) -> Level {
        Level { price, qty }
    }

    fn state(n: u64) -> DataMessage {
        DataMessage::StateChange(StateChange {
            ts_ns: n,
            component: "feed".into(),
            previous: "syncing".into(),
            current: "live".into(),
            reason: "test".into(),
        })
    }

    async fn next(sub: &mut SubSocket, within: Duration) -> Option<DataMessage> {
        let msg = tokio::time::timeout(within, sub.recv()).await.ok()?.ok()?;
        Some(decode(msg.get(1).expect("two frames")).expect("a data message"))
    }

    /// A publisher of `feed` on a loopback port and a subscriber to it, once its subscription has
    /// reached the publisher (a state change got through); the sender of its channel and its task.
    async fn publishing(
        feed: BookFeed,
    ) -> (
        SubSocket,
        mpsc::Sender<DataMessage>,
        tokio::task::JoinHandle<PublishStats>,
    ) {
        let mut socket = PubSocket::new();
        let endpoint = socket.bind("tcp://127.0.0.1:0").await.unwrap();
        let mut sub = SubSocket::new();
        sub.subscribe("").await.unwrap();
        sub.connect(&endpoint.to_string()).await.unwrap();
        let (tx, rx) = mpsc::channel(64);
        let publisher = tokio::spawn(run(socket, rx, feed));
        let mut n = 0;
        loop {
            n += 1;
            assert!(n < 100, "the subscriber never received anything");
            tx.send(state(n)).await.unwrap();
            if next(&mut sub, Duration::from_millis(50)).await.is_some() {
                return (sub, tx, publisher);
            }
        }
    }

    /// The wait for a subscriber of the trades: none while nobody subscribed or the only subscriber
    /// takes books alone; over as soon as one subscribes to the symbol's trades (or to everything),
    /// and a trade published then reaches it.
    #[tokio::test]
    async fn the_wait_ends_when_a_subscriber_of_the_trades_joins() {
        let mut socket = PubSocket::new();
        let endpoint = socket.bind("tcp://127.0.0.1:0").await.unwrap().to_string();
        let short = Duration::from_millis(30);
        assert_eq!(wait_for_subscriber(&socket, "POLUSDT", short).await, None);

        let mut books_only = SubSocket::new();
        books_only.subscribe("book.POLUSDT").await.unwrap();
        books_only.connect(&endpoint).await.unwrap();
        let mut other_symbol = SubSocket::new();
        other_symbol.subscribe("trade.BTCUSDT").await.unwrap();
        other_symbol.connect(&endpoint).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await; // both subscriptions have arrived
        assert_eq!(wait_for_subscriber(&socket, "POLUSDT", short).await, None);

        let mut trades = SubSocket::new();
        trades.subscribe("trade.POLUSDT").await.unwrap();
        trades.connect(&endpoint).await.unwrap();
        let waited = wait_for_subscriber(&socket, "POLUSDT", Duration::from_secs(10)).await;
        assert!(
            waited.is_some(),
            "the subscriber of the trades was never seen"
        );
        let trade = DataMessage::Trade(common::message::Trade {
            symbol: "POLUSDT".into(),
            exchange_ts_ns: 1,
            local_ts_ns: 2,
            trade_id: 7,
            price: 0.2,
            quantity: 10.0,
            aggressor: common::message::Aggressor::Sell,
        });
        let mut encoder = DataEncoder::new("POLUSDT");
        socket.send(encoder.message(&trade).unwrap()).await.unwrap();
        match next(&mut trades, Duration::from_secs(5)).await {
            Some(DataMessage::Trade(t)) => assert_eq!(t.trade_id, 7),
            other => panic!("the first trade published after the wait was not received: {other:?}"),
        }
    }

    /// The books received within `within`, other messages skipped.
    async fn books(sub: &mut SubSocket, within: Duration) -> Vec<OrderBookSnapshot> {
        let end = Instant::now() + within;
        let mut out = Vec::new();
        while let Some(m) = next(sub, end.saturating_duration_since(Instant::now())).await {
            if let DataMessage::OrderBookSnapshot(b) = m {
                out.push(b);
            }
        }
        out
    }

    /// Over loopback: no book while the shared book is out of sync; once in sync, 50 updates in about
    /// half a second go out as at most `MAX_HZ` a second plus one, each the top `levels` of the book,
    /// ids increasing, and the newest update always reaches the subscriber.
    #[tokio::test]
    async fn books_only_in_sync_top_levels_conflated_to_max_hz_newest_last() {
        let shared = SharedBook::default();
        let feed = BookFeed {
            book: shared.clone(),
            symbol: "POLUSDT".into(),
            levels: 2,
            max_hz: MAX_HZ,
        };
        let (mut sub, tx, publisher) = publishing(feed).await;
        let _ = books(&mut sub, Duration::from_millis(100)).await; // late copies of the handshake

        // Out of sync (resyncing): changes are notified, nothing is published.
        {
            let mut st = shared.write();
            st.book.reset(
                7,
                &[lv(100, 1), lv(99, 1), lv(98, 1)],
                &[lv(101, 1), lv(102, 1), lv(103, 1)],
            );
            st.synced = false;
        }
        for _ in 0..10 {
            shared.notify();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(books(&mut sub, Duration::from_millis(400)).await.is_empty());

        // In sync: 50 updates, 10 ms apart.
        shared.write().synced = true;
        let started = Instant::now();
        for id in 8..58u64 {
            {
                let mut st = shared.write();
                st.book.set(BookSide::Bid, 100, id);
                st.book.set_update_id(id);
            }
            shared.notify();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let updating = started.elapsed().as_secs_f64();
        let got = books(&mut sub, Duration::from_millis(600)).await;
        let ids: Vec<u64> = got.iter().map(|b| b.update_id).collect();
        assert!(!got.is_empty(), "no book published");
        // At most MAX_HZ a second over the time the updates took, the first at once and the newest
        // after the last interval (not one book per update: 50).
        let most = 2.0 + updating * f64::from(MAX_HZ);
        assert!(
            got.len() as f64 <= most,
            "{} books in {updating:.2} s: {ids:?}",
            got.len()
        );
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        assert_eq!(
            ids.last(),
            Some(&57),
            "the newest book must go out: {ids:?}"
        );
        for b in &got {
            assert_eq!((b.bids.len(), b.asks.len()), (2, 2), "top 2 levels: {b:?}");
        }
        // The newest book's best bid carries the last update's quantity (57 units).
        let last = got.last().unwrap();
        assert_eq!((last.bids[0][1] * 1e8).round(), 57.0, "{last:?}");
        drop(tx);
        tokio::time::timeout(Duration::from_secs(2), publisher)
            .await
            .unwrap()
            .unwrap();
    }

    /// A book sent on the channel (a `RequestSnapshot`'s, read before the shared book moved on) goes
    /// out only if newer than the last book published: the subscriber never gets a book older than
    /// one it already has.
    #[tokio::test]
    async fn a_requested_book_older_than_the_last_published_is_not_sent() {
        let shared = SharedBook::default();
        let feed = BookFeed {
            book: shared.clone(),
            symbol: "POLUSDT".into(),
            levels: 2,
            max_hz: 1000,
        };
        let (mut sub, tx, publisher) = publishing(feed.clone()).await;
        let set = |id: u64| {
            let mut st = shared.write();
            st.book.reset(id, &[lv(100, id)], &[lv(101, 1)]);
            st.synced = true;
        };
        set(10);
        let requested = snapshot_of(&feed).expect("in sync"); // read at id 10
        set(20);
        shared.notify();
        let got = books(&mut sub, Duration::from_millis(200)).await;
        assert_eq!(got.iter().map(|b| b.update_id).collect::<Vec<_>>(), [20]);
        tx.send(DataMessage::OrderBookSnapshot(requested))
            .await
            .unwrap();
        set(30);
        let newer = snapshot_of(&feed).expect("in sync");
        tx.send(DataMessage::OrderBookSnapshot(newer))
            .await
            .unwrap();
        let got = books(&mut sub, Duration::from_millis(200)).await;
        assert_eq!(got.iter().map(|b| b.update_id).collect::<Vec<_>>(), [30]);
        drop(tx);
        tokio::time::timeout(Duration::from_secs(2), publisher)
            .await
            .unwrap()
            .unwrap();
    }

    /// Drops are logged at the first, when their total doubles, and at most every
    /// `DROP_LOG_EVERY` while they go on: a new stall after an early burst is told at once.
    #[test]
    fn drops_are_logged_at_the_first_on_doubling_and_every_interval() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut log = DropLog::default();
        assert!(!log.due(0, at(0)));
        assert!(log.due(1, at(0)));
        assert!(!log.due(1, at(1))); // nothing new
        assert!(log.due(2, at(1))); // doubled
        assert!(!log.due(3, at(2)));
        assert!(log.due(4, at(2)));
        assert!(log.due(1_000, at(3))); // more than doubled
        assert!(!log.due(1_001, at(5)));
        assert!(log.due(1_002, at(14))); // an interval since the last line
        assert!(!log.due(1_002, at(40))); // no new drop: nothing to tell
    }

    /// A snapshot carries the shared book's top levels with its venue (`exchange_ts_ns`) and
    /// local (`local_ts_ns`) timestamps each under its own field, and there is none while the
    /// book is out of sync.
    #[test]
    fn snapshot_of_reads_levels_ids_and_both_timestamps() {
        let shared = SharedBook::default();
        let feed = BookFeed {
            book: shared.clone(),
            symbol: "POLUSDT".into(),
            levels: 2,
            max_hz: MAX_HZ,
        };
        {
            let mut st = shared.write();
            st.book.reset(
                42,
                &[lv(100, 1), lv(99, 2), lv(98, 3)],
                &[lv(101, 4), lv(102, 5), lv(103, 6)],
            );
            st.exchange_ts_ns = 1_000;
            st.local_ts_ns = 2_000;
            st.synced = false;
        }
        assert!(snapshot_of(&feed).is_none());
        shared.write().synced = true;
        let snap = snapshot_of(&feed).unwrap();
        assert_eq!(snap.symbol, "POLUSDT");
        assert_eq!((snap.exchange_ts_ns, snap.local_ts_ns), (1_000, 2_000));
        assert_eq!(snap.update_id, 42);
        assert_eq!((snap.bids.len(), snap.asks.len()), (2, 2));
        assert!(snap.bids[0][0] > snap.bids[1][0], "{snap:?}");
        assert!(snap.asks[0][0] < snap.asks[1][0], "{snap:?}");
    }
}
