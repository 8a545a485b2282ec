//! Bytes a local peer sends to the command socket before or instead of a ZMTP conversation: a
//! frame declaring a terabyte, a command frame shorter than its name, a command after the
//! handshake. The peer is dropped and the socket goes on receiving; nothing panics (the release
//! engine aborts on a panic) and nothing allocates what a peer declared. And a subscriber of the
//! data PUB that stops reading: the publisher goes on, dropping for it, and counts each drop; one
//! that stops reading for 6 MB loses nothing within its send buffer (`[zmq] data_send_buffer_kib`).
//! And the auditor's peers (`/tmp/audit_bridge`): a READY cut short at every byte, a command after
//! the handshake with a short body, two connections claiming one identity, a subscriber sending
//! thousands of subscriptions, a message of endless frames or of a declared megabytes, a stalled
//! response subscriber, commands that are arrays, carry trailing bytes or bin strings.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::Duration;

use common::message::{Command, DataMessage, StateChange};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use zeromq::{PubSocket, PullSocket, PushSocket, Socket, SocketSend, ZmqMessage};

const SAFETY: Duration = Duration::from_secs(10);

/// Panics anywhere in this test binary (the sockets' tasks included): none may happen.
static PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            default(info);
        }));
    });
}

fn assert_no_panic() {
    assert_eq!(
        PANICS.load(Ordering::SeqCst),
        0,
        "a peer's bytes made a socket panic"
    );
}

/// A ZMTP 3.0 greeting with the NULL mechanism, as a client.
fn greeting() -> Vec<u8> {
    let mut g = vec![0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 3, 0];
    let mut mechanism = b"NULL".to_vec();
    mechanism.resize(20, 0);
    g.extend(mechanism);
    g.push(0); // as-server
    g.resize(64, 0);
    g
}

/// A READY command frame with no properties.
fn ready() -> Vec<u8> {
    ready_with(&[])
}

/// A READY command frame with these (name, value) properties.
fn ready_with(properties: &[(&str, &str)]) -> Vec<u8> {
    let mut body = vec![5];
    body.extend(b"READY");
    for (name, value) in properties {
        body.push(name.len() as u8);
        body.extend(name.as_bytes());
        body.extend((value.len() as u32).to_be_bytes());
        body.extend(value.as_bytes());
    }
    let mut frame = vec![0x04, body.len() as u8];
    frame.extend(body);
    frame
}

fn query(command_id: &str) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Query<'a> {
        r#type: &'a str,
        command_id: &'a str,
        ts_ns: u64,
        symbol: &'a str,
    }
    rmp_serde::to_vec_named(&Query {
        r#type: "QueryOpenOrders",
        command_id,
        ts_ns: 1,
        symbol: "POLUSDT",
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bytes_drop_their_peer_and_the_socket_goes_on() {
    count_panics();

    let mut pull = PullSocket::new();
    let endpoint = pull.bind("tcp://127.0.0.1:0").await.unwrap();
    let addr = endpoint.to_string().trim_start_matches("tcp://").to_owned();
    let (cmd_tx, mut cmd_rx) = mpsc::channel::<Command>(8);
    let (resp_tx, _resp_rx) = mpsc::channel(8);
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(data_bridge::commands::run(pull, cmd_tx, resp_tx, stop_rx));

    let long_frame = [vec![0x02], (1u64 << 40).to_be_bytes().to_vec()].concat();
    let short_command = vec![0x04, 0x01, 0xff];
    let second_ready = [ready(), ready()].concat();
    for junk in [long_frame, short_command, second_ready] {
        let mut peer = TcpStream::connect(&addr).await.unwrap();
        peer.write_all(&greeting()).await.unwrap();
        let mut theirs = [0u8; 64];
        tokio::time::timeout(SAFETY, peer.read_exact(&mut theirs))
            .await
            .unwrap()
            .unwrap();
        peer.write_all(&junk).await.unwrap();
        let mut rest = Vec::new();
        // The socket hangs up on the peer (or, for a second READY, ignores it).
        let _ = tokio::time::timeout(Duration::from_millis(500), peer.read_to_end(&mut rest)).await;
    }

    let mut push = PushSocket::new();
    push.connect(&endpoint.to_string()).await.unwrap();
    push.send(ZmqMessage::from(query("after"))).await.unwrap();
    let cmd = tokio::time::timeout(SAFETY, cmd_rx.recv())
        .await
        .expect("the command socket stopped receiving")
        .unwrap();
    assert_eq!(cmd.command_id(), "after");
    stop_tx.send(true).unwrap();
    tokio::time::timeout(SAFETY, task).await.unwrap().unwrap();
    assert_no_panic();
}

/// A peer connects to the data PUB by hand, subscribes to everything, reads until the first message
/// arrives, then reads no more. Megabytes later its queue is full: the publisher neither blocks nor
/// fails; every message is still handed to the socket, and the ones lost for the stalled peer are
/// counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_stops_reading_gets_drops_that_are_counted() {
    let mut socket = PubSocket::new();
    let endpoint = socket.bind("tcp://127.0.0.1:0").await.unwrap();
    let addr = endpoint.to_string().trim_start_matches("tcp://").to_owned();
    let (tx, rx) = mpsc::channel(1024);
    let feed = data_bridge::publisher::BookFeed {
        book: feed_handler::SharedBook::default(),
        symbol: "POLUSDT".into(),
        levels: 5,
        max_hz: 10,
    };
    let publisher = tokio::spawn(data_bridge::publisher::run(socket, rx, feed));

    let mut peer = TcpStream::connect(&addr).await.unwrap();
    peer.write_all(&greeting()).await.unwrap();
    peer.write_all(&ready_with(&[("Socket-Type", "SUB")]))
        .await
        .unwrap();
    peer.write_all(&[0x00, 0x01, 0x01]).await.unwrap(); // a message frame: subscribe to ""
    let state = |n: u64| {
        DataMessage::StateChange(StateChange {
            ts_ns: n,
            component: "feed".into(),
            previous: "live".into(),
            current: "live".into(),
            reason: "x".repeat(1_000),
        })
    };
    // Until the subscription has reached the publisher: its greeting and READY, then a message.
    let mut seen = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    let mut sent = 0u64;
    while seen <= 64 + 64 {
        sent += 1;
        assert!(sent < 1_000, "the subscriber never received a message");
        tx.send(state(sent)).await.unwrap();
        if let Ok(n) = tokio::time::timeout(Duration::from_millis(20), peer.read(&mut buf)).await {
            seen += n.unwrap();
        }
    }
    // 40 MB for a peer that reads nothing: more than the kernel's buffers and the socket's queue.
    for n in 0..40_000 {
        tx.send(state(sent + n)).await.unwrap();
    }
    sent += 40_000;
    drop(tx);
    let stats = tokio::time::timeout(SAFETY * 3, publisher)
        .await
        .expect("the publisher blocked on a stalled subscriber")
        .unwrap();
    assert_eq!(stats.messages, sent, "{stats:?}");
    assert!(stats.dropped > 0, "nothing counted as dropped: {stats:?}");
    assert!(stats.dropped < sent, "{stats:?}");
    drop(peer);
}

// ---- A subscriber that stalls: what its send buffer holds ---------------------------------------

/// Trades published while the subscriber reads nothing: 151 bytes each on the wire (ids past 2^31,
/// as the venue's are), 6.0 MB in all: less than 8 MiB, and more than 128 KiB and the kernel's
/// buffers hold together (the subscriber's receive buffer a few KiB, the sender's at most
/// `net.ipv4.tcp_wmem`'s maximum, 4 MiB by default).
const STALL_TRADES: u64 = 40_000;
const FIRST_ID: u64 = 3_000_000_000;
const EIGHT_MIB: usize = 8 * 1024 * 1024;
const STALL_SAFETY: Duration = Duration::from_secs(30);

/// Trade `id` as the data PUB sends it: `[trade.POLUSDT, payload]`.
fn trade(id: u64) -> ZmqMessage {
    let t = DataMessage::Trade(common::message::Trade {
        symbol: "POLUSDT".into(),
        exchange_ts_ns: 1_765_000_000_000_000_000 + id,
        local_ts_ns: 1_765_000_000_001_000_000 + id,
        trade_id: id,
        price: 0.1234,
        quantity: 1234.5,
        aggressor: common::message::Aggressor::Sell,
    });
    let payload = common::message::encode(&t).unwrap();
    ZmqMessage::try_from(vec![
        bytes::Bytes::from(t.topic()),
        bytes::Bytes::from(payload),
    ])
    .unwrap()
}

/// A subscriber of `topic` by hand, its receive buffer set to 4 KiB before it connects (so the
/// kernel takes little for it), through the handshake and subscribed once the socket has seen its
/// subscription.
async fn raw_subscriber(socket: &mut PubSocket, topic: &str) -> TcpStream {
    let addr = addr_of(&bound(socket)).parse().unwrap();
    let tcp = tokio::net::TcpSocket::new_v4().unwrap();
    tcp.set_recv_buffer_size(4096).unwrap();
    let mut peer = tcp.connect(addr).await.unwrap();
    peer.write_all(&greeting()).await.unwrap();
    peer.write_all(&ready_with(&[("Socket-Type", "SUB")]))
        .await
        .unwrap();
    peer.write_all(&subscribe(topic.as_bytes())).await.unwrap();
    let mut theirs = [0u8; 64];
    tokio::time::timeout(STALL_SAFETY, peer.read_exact(&mut theirs))
        .await
        .expect("no greeting")
        .unwrap();
    let (flags, body) = tokio::time::timeout(STALL_SAFETY, read_frame(&mut peer))
        .await
        .expect("no READY")
        .unwrap();
    assert_eq!((flags & 0x04, &body[..6]), (0x04, &b"\x05READY"[..]));
    let symbol = topic.trim_start_matches("trade.");
    assert!(
        data_bridge::publisher::wait_for_subscriber(socket, symbol, STALL_SAFETY)
            .await
            .is_some(),
        "the subscription never reached the socket"
    );
    peer
}

/// `STALL_TRADES` trades published to a subscriber that reads none of them, on a data PUB bound
/// with `send_buffer_bytes` (then set to `later`, once the subscriber has joined): the socket and
/// the subscriber.
async fn stalled(send_buffer_bytes: usize, later: Option<usize>) -> (PubSocket, TcpStream) {
    let mut socket = data_bridge::publisher::bind("tcp://127.0.0.1:0", send_buffer_bytes)
        .await
        .unwrap();
    assert_eq!(socket.send_buffer_bytes(), send_buffer_bytes);
    let peer = raw_subscriber(&mut socket, "trade.POLUSDT").await;
    if let Some(bytes) = later {
        socket.set_send_buffer_bytes(bytes);
    }
    for id in FIRST_ID..FIRST_ID + STALL_TRADES {
        socket.send(trade(id)).await.unwrap();
    }
    (socket, peer)
}

/// The first whole ZMTP frame in `buf`: (flags, body, bytes it takes), `None` while it is not all
/// there.
fn whole_frame(buf: &[u8]) -> Option<(u8, &[u8], usize)> {
    let (&flags, rest) = buf.split_first()?;
    let (len, head) = if flags & 0x02 != 0 {
        let len = u64::from_be_bytes(rest.get(..8)?.try_into().unwrap());
        (usize::try_from(len).unwrap(), 9)
    } else {
        (usize::from(*rest.first()?), 2)
    };
    assert!(len < 1 << 20, "not a frame of this feed: {len} bytes");
    let body = buf.get(head..head + len)?;
    Some((flags, body, head + len))
}

/// Reads the subscriber's trades until the last stalled one; each time nothing comes for 50 ms it
/// publishes one more trade (the socket writes what waits for a subscriber only when it sends to
/// it): the trade ids received, in order.
async fn read_back(socket: &mut PubSocket, peer: &mut TcpStream) -> Vec<u64> {
    let last = FIRST_ID + STALL_TRADES - 1;
    let mut next_id = last + 1;
    let mut ids = Vec::new();
    let mut bytes = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let end = tokio::time::Instant::now() + STALL_SAFETY;
    while ids.last().is_none_or(|&id| id < last) {
        assert!(
            tokio::time::Instant::now() < end,
            "{} trades read back in {STALL_SAFETY:?}",
            ids.len()
        );
        // `read` is cancel-safe: a timeout loses no byte.
        match tokio::time::timeout(Duration::from_millis(50), peer.read(&mut chunk)).await {
            Ok(n) => {
                let n = n.unwrap();
                assert!(n > 0, "the socket hung up");
                bytes.extend_from_slice(&chunk[..n]);
            }
            Err(_) => {
                socket.send(trade(next_id)).await.unwrap();
                next_id += 1;
            }
        }
        let mut at = 0;
        while let Some((flags, topic, taken)) = whole_frame(&bytes[at..]) {
            let Some((_, body, taken_too)) = whole_frame(&bytes[at + taken..]) else {
                break;
            };
            assert_eq!((flags, topic), (0x01, &b"trade.POLUSDT"[..]));
            match common::message::decode(body).unwrap() {
                DataMessage::Trade(t) => ids.push(t.trade_id),
                other => panic!("not a trade: {other:?}"),
            }
            at += taken + taken_too;
        }
        bytes.drain(..at);
    }
    ids
}

/// A subscriber that reads nothing while 6.0 MB of trades (40,000, about 0.8 s of a 50,000 msg/s
/// feed) are published loses none with an 8 MiB send buffer: nothing dropped, and once it reads,
/// every trade arrives, in order.
#[tokio::test]
async fn a_stalled_subscriber_loses_nothing_within_its_send_buffer() {
    let (mut socket, mut peer) = stalled(EIGHT_MIB, None).await;
    assert_eq!(socket.dropped(), 0, "dropped with an 8 MiB send buffer");
    assert_eq!(socket.queued(), STALL_TRADES);
    let ids = read_back(&mut socket, &mut peer).await;
    assert_eq!(socket.dropped(), 0);
    let expected: Vec<u64> = (FIRST_ID..FIRST_ID + ids.len() as u64).collect();
    assert!(ids == expected, "trades missing or out of order");
}

/// The same stall with ZeroMQ's (asynchronous-codec's) 128 KiB: trades are dropped.
#[tokio::test]
async fn a_stalled_subscriber_loses_trades_past_128_kib() {
    let (socket, _peer) = stalled(zeromq::DEFAULT_SEND_BUFFER_BYTES, None).await;
    assert_eq!(zeromq::DEFAULT_SEND_BUFFER_BYTES, 128 * 1024);
    assert!(
        socket.dropped() > 0,
        "nothing dropped with 128 KiB: the kernel took 6 MB for a subscriber reading nothing"
    );
    assert_eq!(socket.dropped() + socket.queued(), STALL_TRADES);
}

/// A send buffer set while a subscriber is connected applies to it: bound with 128 KiB, set to
/// 8 MiB once the subscriber joined, the stall loses nothing.
#[tokio::test]
async fn a_send_buffer_set_later_applies_to_a_connected_subscriber() {
    let (mut socket, mut peer) = stalled(zeromq::DEFAULT_SEND_BUFFER_BYTES, Some(EIGHT_MIB)).await;
    assert_eq!(
        socket.dropped(),
        0,
        "dropped after the buffer was set to 8 MiB"
    );
    let ids = read_back(&mut socket, &mut peer).await;
    assert_eq!(ids.first(), Some(&FIRST_ID));
    assert!(
        ids.windows(2).all(|w| w[1] == w[0] + 1),
        "trades missing or out of order"
    );
}

// ---- The auditor's peers ------------------------------------------------------------------------

fn addr_of(endpoint: &zeromq::Endpoint) -> String {
    endpoint.to_string().trim_start_matches("tcp://").to_owned()
}

/// A READY command body (name and properties, no frame header).
fn ready_body(properties: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = vec![5];
    body.extend(b"READY");
    for (name, value) in properties {
        body.push(name.len() as u8);
        body.extend(name.as_bytes());
        body.extend((value.len() as u32).to_be_bytes());
        body.extend(*value);
    }
    body
}

/// A short command frame around `body`.
fn command_frame(body: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x04, body.len() as u8];
    frame.extend(body);
    frame
}

/// Greeting exchanged: the socket's greeting read.
async fn greeted(addr: &str) -> TcpStream {
    let mut peer = TcpStream::connect(addr).await.unwrap();
    peer.write_all(&greeting()).await.unwrap();
    let mut theirs = [0u8; 64];
    tokio::time::timeout(SAFETY, peer.read_exact(&mut theirs))
        .await
        .expect("no greeting")
        .unwrap();
    peer
}

/// Reads one frame: (flags, body).
async fn read_frame(peer: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
    let flags = peer.read_u8().await?;
    let len = if flags & 0x02 != 0 {
        peer.read_u64().await? as usize
    } else {
        peer.read_u8().await? as usize
    };
    let mut body = vec![0; len];
    peer.read_exact(&mut body).await?;
    Ok((flags, body))
}

/// A peer through the handshake as `socket_type`, claiming `identity` if any; the socket's READY read.
async fn handshaken(addr: &str, socket_type: &str, identity: Option<&str>) -> TcpStream {
    let mut peer = greeted(addr).await;
    let mut props: Vec<(&str, &[u8])> = vec![("Socket-Type", socket_type.as_bytes())];
    if let Some(id) = identity {
        props.push(("Identity", id.as_bytes()));
    }
    peer.write_all(&command_frame(&ready_body(&props)))
        .await
        .unwrap();
    let (flags, body) = tokio::time::timeout(SAFETY, read_frame(&mut peer))
        .await
        .expect("no READY")
        .unwrap();
    assert_eq!(flags & 0x04, 0x04, "a command");
    assert_eq!(&body[..6], b"\x05READY");
    peer
}

/// A one-frame message.
fn message_frame(body: &[u8]) -> Vec<u8> {
    let mut frame = if body.len() > 255 {
        let mut f = vec![0x02];
        f.extend((body.len() as u64).to_be_bytes());
        f
    } else {
        vec![0x00, body.len() as u8]
    };
    frame.extend(body);
    frame
}

/// A subscription message for `topic`.
fn subscribe(topic: &[u8]) -> Vec<u8> {
    message_frame(&[&[1u8][..], topic].concat())
}

/// Whether the socket hangs up on `peer` within `within` (reading and discarding what comes).
async fn hung_up(peer: &mut TcpStream, within: Duration) -> bool {
    let mut buf = vec![0u8; 64 * 1024];
    let end = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(end, peer.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// The command PULL run by `data_bridge::commands::run`, and its channels.
struct Commands {
    addr: String,
    endpoint: String,
    commands: mpsc::Receiver<Command>,
    responses: mpsc::Receiver<common::message::Response>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<u64>,
}

async fn command_socket() -> Commands {
    let mut pull = data_bridge::commands::bind("tcp://127.0.0.1:0")
        .await
        .unwrap();
    let endpoint = bound(&mut pull);
    let (cmd_tx, commands) = mpsc::channel::<Command>(64);
    let (resp_tx, responses) = mpsc::channel(64);
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(data_bridge::commands::run(pull, cmd_tx, resp_tx, stop_rx));
    Commands {
        addr: addr_of(&endpoint),
        endpoint: endpoint.to_string(),
        commands,
        responses,
        stop,
        task,
    }
}

/// The endpoint a socket bound once is bound to.
fn bound(socket: &mut impl Socket) -> zeromq::Endpoint {
    socket.binds().keys().next().expect("bound").clone()
}

impl Commands {
    /// Sends a good command from a real PUSH socket and waits for it.
    async fn still_receives(&mut self, id: &str) {
        let mut push = PushSocket::new();
        push.connect(&self.endpoint).await.unwrap();
        push.send(ZmqMessage::from(query(id))).await.unwrap();
        let cmd = self
            .next(SAFETY, "the command socket stopped receiving")
            .await;
        assert_eq!(cmd.command_id(), id);
    }

    /// The next command received, `within` (else the test fails with `lost`).
    async fn next(&mut self, within: Duration, lost: &str) -> Command {
        tokio::time::timeout(within, self.commands.recv())
            .await
            .unwrap_or_else(|_| panic!("{lost}"))
            .unwrap()
    }

    async fn stop(self) -> u64 {
        self.stop.send(true).unwrap();
        tokio::time::timeout(SAFETY, self.task)
            .await
            .unwrap()
            .unwrap()
    }
}

fn feed() -> data_bridge::publisher::BookFeed {
    data_bridge::publisher::BookFeed {
        book: feed_handler::SharedBook::default(),
        symbol: "POLUSDT".into(),
        levels: 5,
        max_hz: 10,
    }
}

fn state_msg(n: u64) -> DataMessage {
    DataMessage::StateChange(StateChange {
        ts_ns: n,
        component: "feed".into(),
        previous: "live".into(),
        current: "live".into(),
        reason: "x".into(),
    })
}

/// The data PUB run by `data_bridge::publisher::run`: its address, its channel, its task.
async fn data_socket() -> (
    String,
    mpsc::Sender<DataMessage>,
    tokio::task::JoinHandle<data_bridge::publisher::PublishStats>,
) {
    let mut socket =
        data_bridge::publisher::bind("tcp://127.0.0.1:0", zeromq::DEFAULT_SEND_BUFFER_BYTES)
            .await
            .unwrap();
    let addr = addr_of(&bound(&mut socket));
    let (tx, rx) = mpsc::channel(1024);
    let task = tokio::spawn(data_bridge::publisher::run(socket, rx, feed()));
    (addr, tx, task)
}

/// The data PUB stopped (its channel closed): what it counted.
async fn stopped(
    tx: mpsc::Sender<DataMessage>,
    publisher: tokio::task::JoinHandle<data_bridge::publisher::PublishStats>,
) -> data_bridge::publisher::PublishStats {
    drop(tx);
    tokio::time::timeout(SAFETY, publisher)
        .await
        .unwrap()
        .unwrap()
}

/// Whether a subscriber (of everything or of `state`) receives a data message within a few
/// seconds, state changes being published meanwhile.
async fn receives_data(peer: &mut TcpStream, tx: &mpsc::Sender<DataMessage>) -> bool {
    for n in 0..200 {
        tx.send(state_msg(n)).await.unwrap();
        match tokio::time::timeout(Duration::from_millis(25), read_frame(peer)).await {
            Ok(Ok((_, topic))) => return topic.starts_with(b"state"),
            Ok(Err(_)) => return false,
            Err(_) => {}
        }
    }
    false
}

/// Finding 1: a READY whose properties run past the frame's end (cut at every byte after the
/// name; a property name declared 200 bytes long with 3 left), to the command PULL and the data
/// PUB, and after the handshake a command frame whose value length is cut short (`\x05READY\x01X\x00`).
/// Each such peer is hung up on; nothing panics; both sockets go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ready_cut_anywhere_drops_its_peer_not_the_engine() {
    count_panics();
    let mut cmds = command_socket().await;
    let (data_addr, tx, publisher) = data_socket().await;
    for (addr, st) in [(cmds.addr.clone(), "PUSH"), (data_addr.clone(), "SUB")] {
        let body = ready_body(&[("Socket-Type", st.as_bytes()), ("Identity", b"abc")]);
        let whole = ready_body(&[("Socket-Type", st.as_bytes())]).len();
        let mut cuts: Vec<Vec<u8>> = (6..body.len())
            .filter(|cut| *cut != whole)
            .map(|cut| body[..cut].to_vec())
            .collect();
        cuts.push(
            [
                &ready_body(&[("Socket-Type", st.as_bytes())])[..],
                b"\xc8abc",
            ]
            .concat(),
        );
        for cut in cuts {
            let mut peer = greeted(&addr).await;
            peer.write_all(&command_frame(&cut)).await.unwrap();
            assert!(
                hung_up(&mut peer, SAFETY).await,
                "{st}: a READY cut to {} bytes was not refused",
                cut.len()
            );
        }
        let mut peer = handshaken(&addr, st, None).await;
        peer.write_all(&command_frame(b"\x05READY\x01X\x00"))
            .await
            .unwrap();
        assert!(
            hung_up(&mut peer, SAFETY).await,
            "{st}: short command after the handshake"
        );
    }
    cmds.still_receives("after-ready").await;
    let mut good = handshaken(&data_addr, "SUB", None).await;
    good.write_all(&subscribe(b"")).await.unwrap();
    assert!(receives_data(&mut good, &tx).await, "the data PUB stopped");
    stopped(tx, publisher).await;
    cmds.stop().await;
    assert_no_panic();
}

/// Finding 2: two connections claiming the same Identity. On the data PUB, the first one leaving
/// removed the second's entry, whose next subscription panicked (`unwrap` on a missing peer) and
/// which never received again; on the command PULL, the second replaced the first, whose commands
/// were lost. Each connection is now its own peer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_claiming_one_identity_are_each_their_own_peer() {
    count_panics();
    let (data_addr, tx, publisher) = data_socket().await;
    for i in 0..5 {
        let id = format!("ID{i}");
        let mut a = handshaken(&data_addr, "SUB", Some(&id)).await;
        a.write_all(&subscribe(b"")).await.unwrap();
        let mut b = handshaken(&data_addr, "SUB", Some(&id)).await;
        b.write_all(&subscribe(b"")).await.unwrap();
        assert!(
            receives_data(&mut a, &tx).await,
            "{id}: the first never received"
        );
        drop(a);
        tokio::time::sleep(Duration::from_millis(100)).await;
        for _ in 0..50 {
            b.write_all(&subscribe(b"t")).await.unwrap();
        }
        assert!(
            receives_data(&mut b, &tx).await,
            "{id}: the second lost its entry"
        );
    }
    stopped(tx, publisher).await;

    let mut cmds = command_socket().await;
    let mut a = handshaken(&cmds.addr, "PUSH", Some("X")).await;
    let mut b = handshaken(&cmds.addr, "PUSH", Some("X")).await;
    for (peer, id) in [(&mut a, "from-a"), (&mut b, "from-b")] {
        peer.write_all(&message_frame(&query(id))).await.unwrap();
        assert_eq!(
            cmds.next(Duration::from_secs(3), &format!("{id} was lost"))
                .await
                .command_id(),
            id
        );
    }
    drop(a);
    tokio::time::sleep(Duration::from_millis(100)).await;
    b.write_all(&message_frame(&query("from-b-again")))
        .await
        .unwrap();
    let cmd = cmds
        .next(
            Duration::from_secs(3),
            "the second connection lost its stream when the first left",
        )
        .await;
    assert_eq!(cmd.command_id(), "from-b-again");
    cmds.stop().await;
    assert_no_panic();
}

/// Finding 3: a subscriber sending 10,000 distinct subscriptions (each one scanned on every
/// publish), or subscriptions of 10 KB together, is disconnected and counted; one repeating a
/// subscription a thousand times holds it once and stays; other subscribers are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_past_the_subscription_caps_is_disconnected_and_counted() {
    count_panics();
    let (data_addr, tx, publisher) = data_socket().await;
    let mut good = handshaken(&data_addr, "SUB", None).await;
    good.write_all(&subscribe(b"state")).await.unwrap();

    let mut repeats = handshaken(&data_addr, "SUB", None).await;
    let same: Vec<u8> = (0..1_000).flat_map(|_| subscribe(b"state")).collect();
    repeats.write_all(&same).await.unwrap();

    let mut many = handshaken(&data_addr, "SUB", None).await;
    let distinct: Vec<u8> = (0..10_000)
        .flat_map(|i| subscribe(format!("zz{i:07}").as_bytes()))
        .collect();
    let _ = many.write_all(&distinct).await;
    assert!(
        hung_up(&mut many, SAFETY).await,
        "10,000 subscriptions kept"
    );

    let mut long = handshaken(&data_addr, "SUB", None).await;
    let big: Vec<u8> = (0..40u8)
        .flat_map(|i| subscribe(&[b'a' + (i % 26), i].repeat(125)))
        .collect();
    let _ = long.write_all(&big).await;
    assert!(
        hung_up(&mut long, SAFETY).await,
        "10 KB of subscriptions kept"
    );

    assert!(
        receives_data(&mut good, &tx).await,
        "a good subscriber starved"
    );
    assert!(
        receives_data(&mut repeats, &tx).await,
        "a repeated subscription was refused"
    );
    let stats = stopped(tx, publisher).await;
    assert_eq!(stats.peers_refused, 2, "{stats:?}");
    assert_no_panic();
}

/// Finding 4: a message of endless empty frames (MORE set on each, every one buffered), or one
/// frame declaring more than `zeromq::MAX_MESSAGE_LEN`, hangs the peer up before it is buffered;
/// a command payload over `MAX_COMMAND_LEN` is refused undecoded (counted malformed, not
/// answered), and the command after it is received.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_frames_and_huge_messages_are_refused_before_they_are_buffered() {
    count_panics();
    let mut cmds = command_socket().await;
    let mut frames = handshaken(&cmds.addr, "PUSH", None).await;
    let endless: Vec<u8> = [0x01u8, 0x00].repeat(zeromq::MAX_MESSAGE_FRAMES + 10);
    let _ = frames.write_all(&endless).await;
    assert!(hung_up(&mut frames, SAFETY).await, "endless frames kept");

    let mut huge = handshaken(&cmds.addr, "PUSH", None).await;
    let mut header = vec![0x02];
    header.extend((zeromq::MAX_MESSAGE_LEN as u64 + 1).to_be_bytes());
    huge.write_all(&header).await.unwrap();
    assert!(
        hung_up(&mut huge, SAFETY).await,
        "a frame over the cap was waited for"
    );

    // The auditor's wide command: its id readable, then an array of 64 KiB.
    let mut wide = query("w1");
    wide[0] += 1;
    wide.extend(b"\xa4junk\xdd");
    wide.extend((data_bridge::commands::MAX_COMMAND_LEN as u32).to_be_bytes());
    wide.resize(wide.len() + data_bridge::commands::MAX_COMMAND_LEN, 0);
    let mut push = PushSocket::new();
    push.connect(&cmds.endpoint).await.unwrap();
    push.send(ZmqMessage::from(wide)).await.unwrap();
    push.send(ZmqMessage::from(query("after-wide")))
        .await
        .unwrap();
    let cmd = tokio::time::timeout(SAFETY, cmds.commands.recv())
        .await
        .expect("the command after the wide one never arrived")
        .unwrap();
    assert_eq!(cmd.command_id(), "after-wide");
    assert!(
        cmds.responses.try_recv().is_err(),
        "the wide command was decoded and answered"
    );
    assert_eq!(cmds.stop().await, 1, "the wide command counted malformed");
    assert_no_panic();
}

/// Finding 5: a response subscriber that stops reading. `PubSocket::send` is `Ok` when it drops
/// for a full subscriber: `sent` counts only the responses queued, the others are counted dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_response_subscriber_gets_drops_that_are_counted() {
    use common::message::{ErrorCode, ErrorResponse, Response};
    count_panics();
    let mut socket = data_bridge::responses::bind("tcp://127.0.0.1:0")
        .await
        .unwrap();
    let addr = addr_of(&bound(&mut socket));
    let (tx, rx) = mpsc::channel(1024);
    let task = tokio::spawn(data_bridge::responses::run_counted(socket, rx));
    let response = |n: u64| {
        Response::Error(ErrorResponse {
            command_id: Some(format!("c-{n}")),
            ts_ns: n,
            code: ErrorCode::Malformed,
            field: None,
            message: "x".repeat(1_000),
        })
    };
    let mut peer = handshaken(&addr, "SUB", None).await;
    peer.write_all(&subscribe(b"resp")).await.unwrap();
    let mut total = 0u64;
    loop {
        total += 1;
        assert!(total < 200, "the subscriber never received a response");
        tx.send(response(total)).await.unwrap();
        if let Ok(r) = tokio::time::timeout(Duration::from_millis(25), read_frame(&mut peer)).await
        {
            r.unwrap();
            break;
        }
    }
    for n in 0..40_000 {
        tx.send(response(total + n)).await.unwrap();
    }
    total += 40_000;
    drop(tx);
    let stats = tokio::time::timeout(SAFETY * 3, task)
        .await
        .unwrap()
        .unwrap();
    assert!(stats.dropped > 0, "no drop counted: {stats:?}");
    assert!(stats.sent < total, "every response counted sent: {stats:?}");
    assert_eq!(
        stats.sent + stats.dropped + stats.unheard,
        total,
        "{stats:?}"
    );
    drop(peer);
    assert_no_panic();
}

/// A `PlaceOrder` map, keys in the protocol's order.
fn place_order(command_id: &str) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct PlaceOrder<'a> {
        r#type: &'a str,
        command_id: &'a str,
        ts_ns: u64,
        client_order_id: &'a str,
        symbol: &'a str,
        side: &'a str,
        order_type: &'a str,
        time_in_force: &'a str,
        quantity: &'a str,
        price: &'a str,
    }
    let coid = format!("c{command_id}");
    rmp_serde::to_vec_named(&PlaceOrder {
        r#type: "PlaceOrder",
        command_id,
        ts_ns: 1,
        client_order_id: &coid,
        symbol: "POLUSDT",
        side: "BUY",
        order_type: "LIMIT",
        time_in_force: "GTC",
        quantity: "30",
        price: "0.0100",
    })
    .unwrap()
}

/// Finding 6: a `PlaceOrder` as an array (fields by position: another order swaps price and
/// quantity), one followed by trailing bytes, one whose strings are bin: each is refused as
/// malformed, and the command after them is the first one received.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_not_a_lone_map_of_strings_are_refused() {
    count_panics();
    let mut cmds = command_socket().await;
    let good = place_order("k1");
    assert!(data_bridge::commands::parse(&good).is_ok());
    let array = rmp_serde::to_vec(&(
        "PlaceOrder",
        "k5",
        1u64,
        "ck5",
        "POLUSDT",
        "BUY",
        "LIMIT",
        "GTC",
        "30",
        "0.0100",
    ))
    .unwrap();
    let trailing = [&place_order("k6")[..], b"\xc1\xc1garbage"].concat();
    let with_bin = {
        let p = place_order("k7");
        let at = p.windows(8).position(|w| w == b"\xa7POLUSDT").unwrap();
        [&p[..at], b"\xc4\x07POLUSDT", &p[at + 8..]].concat()
    };
    let mut push = PushSocket::new();
    push.connect(&cmds.endpoint).await.unwrap();
    for payload in [array, trailing, with_bin] {
        push.send(ZmqMessage::from(payload)).await.unwrap();
    }
    push.send(ZmqMessage::from(query("after-strict")))
        .await
        .unwrap();
    let cmd = tokio::time::timeout(SAFETY, cmds.commands.recv())
        .await
        .expect("the command after the refused ones never arrived")
        .unwrap();
    assert_eq!(cmd.command_id(), "after-strict", "{cmd:?} was accepted");
    assert_eq!(cmds.stop().await, 3);
    assert_no_panic();
}
