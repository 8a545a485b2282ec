use crate::codec::*;
use crate::endpoint::Endpoint;
use crate::error::ZmqResult;
use crate::message::*;
use crate::transport::AcceptStopHandle;
use crate::util::PeerIdentity;
use crate::{async_rt, CaptureSocket, SocketOptions};
use crate::{
    MultiPeerBackend, Socket, SocketBackend, SocketEvent, SocketSend, SocketType, ZmqError,
};

use async_trait::async_trait;
use dashmap::DashMap;
use futures_channel::{mpsc, oneshot};
use futures_util::{select, FutureExt, StreamExt};
use parking_lot::Mutex;

use std::collections::HashMap;
use std::io::ErrorKind;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// flashcrash patch: the most subscriptions one subscriber may hold (each is matched against every
/// message published): a peer subscribing to more is disconnected. A duplicate is not counted.
pub const MAX_SUBSCRIPTIONS_PER_PEER: usize = 64;

/// flashcrash patch: the most bytes one subscriber's subscriptions may hold together: a peer
/// subscribing past it is disconnected.
pub const MAX_SUBSCRIPTION_BYTES_PER_PEER: usize = 8 * 1024;

/// flashcrash patch: a subscriber's send buffer until `PubSocket::set_send_buffer_bytes`:
/// asynchronous-codec's default send high-water mark.
pub const DEFAULT_SEND_BUFFER_BYTES: usize = 128 * 1024;

pub(crate) struct Subscriber {
    pub(crate) subscriptions: Vec<Vec<u8>>,
    // flashcrash patch: the bytes of `subscriptions`, and the connection this entry belongs to.
    subscription_bytes: usize,
    conn: u64,
    pub(crate) send_queue: Pin<Box<ZmqFramedWrite>>,
    _subscription_coro_stop: oneshot::Sender<()>,
}

pub(crate) struct PubSocketBackend {
    subscribers: DashMap<PeerIdentity, Subscriber>,
    socket_monitor: Mutex<Option<mpsc::Sender<SocketEvent>>>,
    socket_options: SocketOptions,
    // flashcrash patch: a number for each connection, and the peers refused for subscribing past
    // the caps.
    next_conn: AtomicU64,
    refused_peers: AtomicU64,
    // flashcrash patch: each subscriber's send buffer, bytes (its FramedWrite's high-water mark).
    send_buffer_bytes: AtomicUsize,
}

/// flashcrash patch: what a subscriber's message did.
enum Received {
    Fine,
    OverCap,
}

impl PubSocketBackend {
    // flashcrash patch: no unwrap on the peer's entry (it may be gone: ignored), a subscription
    // applies only to the connection that sent it, duplicates are ignored, and a subscription past
    // the caps is refused (the caller disconnects the peer).
    fn message_received(&self, peer_id: &PeerIdentity, conn: u64, message: Message) -> Received {
        let message = match message {
            Message::Message(m) => m,
            _ => return Received::Fine,
        };
        // flashcrash patch: a subscriber's multi-frame message is ignored, not a panic.
        if message.len() != 1 {
            return Received::Fine;
        }
        let data = match message.get(0) {
            Some(d) if !d.is_empty() => d,
            _ => return Received::Fine,
        };
        let mut subscriber = match self.subscribers.get_mut(peer_id) {
            Some(s) if s.conn == conn => s,
            _ => return Received::Fine,
        };
        let topic = &data[1..];
        let known = subscriber
            .subscriptions
            .iter()
            .position(|s| s.as_slice() == topic);
        match (data[0], known) {
            // Subscribe
            (1, Some(_)) => {}
            (1, None) => {
                if subscriber.subscriptions.len() >= MAX_SUBSCRIPTIONS_PER_PEER
                    || subscriber.subscription_bytes + topic.len() > MAX_SUBSCRIPTION_BYTES_PER_PEER
                {
                    return Received::OverCap;
                }
                subscriber.subscription_bytes += topic.len();
                subscriber.subscriptions.push(topic.to_vec());
            }
            // Unsubscribe
            (0, Some(index)) => {
                subscriber.subscription_bytes -= topic.len();
                subscriber.subscriptions.swap_remove(index);
            }
            _ => {}
        }
        Received::Fine
    }

    /// flashcrash patch: removes the peer's entry only while it is still this connection's.
    fn connection_ended(&self, peer_id: &PeerIdentity, conn: u64) {
        log::info!("Client disconnected {:?}", peer_id);
        self.subscribers.remove_if(peer_id, |_, s| s.conn == conn);
    }
}

impl SocketBackend for PubSocketBackend {
    fn socket_type(&self) -> SocketType {
        SocketType::PUB
    }

    fn socket_options(&self) -> &SocketOptions {
        &self.socket_options
    }

    fn shutdown(&self) {
        self.subscribers.clear();
    }

    fn monitor(&self) -> &Mutex<Option<mpsc::Sender<SocketEvent>>> {
        &self.socket_monitor
    }
}

#[async_trait]
impl MultiPeerBackend for PubSocketBackend {
    async fn peer_connected(self: Arc<Self>, peer_id: &PeerIdentity, io: FramedIo) {
        let (mut recv_queue, mut send_queue) = io.into_parts();
        // TODO provide handling for recv_queue
        let (sender, stop_receiver) = oneshot::channel();
        // flashcrash patch: this connection's number, kept in its entry and by its task.
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        // flashcrash patch: the socket's send buffer for this subscriber.
        send_queue.set_send_high_water_mark(self.send_buffer_bytes.load(Ordering::Relaxed));
        self.subscribers.insert(
            peer_id.clone(),
            Subscriber {
                subscriptions: vec![],
                subscription_bytes: 0,
                conn,
                send_queue: Box::pin(send_queue),
                _subscription_coro_stop: sender,
            },
        );
        let backend = self;
        let peer_id = peer_id.clone();
        async_rt::task::spawn(async move {
            let mut stop_receiver = stop_receiver.fuse();
            loop {
                select! {
                     _ = stop_receiver => {
                         break;
                     },
                     message = recv_queue.next().fuse() => {
                        // flashcrash patch: the task ends only its own connection's entry; a peer
                        // subscribing past the caps is counted and disconnected; no dbg!.
                        match message {
                            Some(Ok(m)) => match backend.message_received(&peer_id, conn, m) {
                                Received::Fine => {}
                                Received::OverCap => {
                                    backend.refused_peers.fetch_add(1, Ordering::Relaxed);
                                    log::warn!(
                                        "subscriber {:?} disconnected: more than {} subscriptions or {} bytes of them",
                                        peer_id,
                                        MAX_SUBSCRIPTIONS_PER_PEER,
                                        MAX_SUBSCRIPTION_BYTES_PER_PEER
                                    );
                                    backend.connection_ended(&peer_id, conn);
                                    break;
                                }
                            },
                            Some(Err(e)) => {
                                log::debug!("subscriber {:?} sent bad bytes: {}", peer_id, e);
                                backend.connection_ended(&peer_id, conn);
                                break;
                            }
                            None => {
                                backend.connection_ended(&peer_id, conn);
                                break
                            }
                        }

                     }
                }
            }
        });
    }

    fn peer_disconnected(&self, peer_id: &PeerIdentity) {
        log::info!("Client disconnected {:?}", peer_id);
        self.subscribers.remove(peer_id);
    }
}

pub struct PubSocket {
    pub(crate) backend: Arc<PubSocketBackend>,
    binds: HashMap<Endpoint, AcceptStopHandle>,
    // flashcrash patch: messages dropped for a subscriber whose queue was full, counted.
    dropped: u64,
    // flashcrash patch: whether a write error other than a broken pipe was logged.
    write_error_logged: bool,
    // flashcrash patch: messages queued for a subscriber, counted.
    queued: u64,
}

// flashcrash patch: the count of silent drops, so the publisher can report them.
impl PubSocket {
    /// Messages dropped since the socket was made because a matching subscriber's send queue was
    /// full, or its connection failed a write other than with a broken pipe (one per subscriber
    /// that missed it).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Messages queued since the socket was made (one per subscriber that got it): what `send`
    /// returning `Ok` does not tell.
    pub fn queued(&self) -> u64 {
        self.queued
    }

    /// flashcrash patch: whether a connected subscriber holds a subscription that `topic` matches
    /// (a prefix of it): a message on `topic` sent now reaches at least one subscriber.
    pub fn has_subscriber(&self, topic: &[u8]) -> bool {
        self.backend.subscribers.iter().any(|s| {
            s.subscriptions
                .iter()
                .any(|f| topic.starts_with(f.as_slice()))
        })
    }

    /// Subscribers disconnected since the socket was made for subscribing past
    /// [`MAX_SUBSCRIPTIONS_PER_PEER`] or [`MAX_SUBSCRIPTION_BYTES_PER_PEER`].
    pub fn refused_peers(&self) -> u64 {
        self.backend.refused_peers.load(Ordering::Relaxed)
    }

    /// flashcrash patch: the most bytes queued in user space for one subscriber (the kernel's
    /// socket buffers aside) before a message for it is dropped: its send buffer, for subscribers
    /// connected now and later. [`DEFAULT_SEND_BUFFER_BYTES`] until set.
    pub fn set_send_buffer_bytes(&mut self, bytes: usize) {
        self.backend
            .send_buffer_bytes
            .store(bytes, Ordering::Relaxed);
        for mut subscriber in self.backend.subscribers.iter_mut() {
            subscriber.send_queue.set_send_high_water_mark(bytes);
        }
    }

    /// flashcrash patch: the send buffer of each subscriber, bytes (see `set_send_buffer_bytes`).
    pub fn send_buffer_bytes(&self) -> usize {
        self.backend.send_buffer_bytes.load(Ordering::Relaxed)
    }
}

impl Drop for PubSocket {
    fn drop(&mut self) {
        self.backend.shutdown();
    }
}

#[async_trait]
impl SocketSend for PubSocket {
    async fn send(&mut self, message: ZmqMessage) -> ZmqResult<()> {
        let mut dead_peers = Vec::new();
        for mut subscriber in self.backend.subscribers.iter_mut() {
            for sub_filter in &subscriber.subscriptions {
                if sub_filter.len() <= message.get(0).unwrap().len()
                    && sub_filter.as_slice() == &message.get(0).unwrap()[0..sub_filter.len()]
                {
                    let res = subscriber
                        .send_queue
                        .as_mut()
                        .try_send(Message::Message(message.clone()));
                    match res {
                        Ok(()) => self.queued += 1, // flashcrash patch
                        Err(ZmqError::Codec(CodecError::Io(e))) => {
                            if e.kind() == ErrorKind::BrokenPipe {
                                dead_peers.push((subscriber.key().clone(), subscriber.conn));
                            } else {
                                // flashcrash patch: the message is lost for this subscriber:
                                // counted as dropped, and logged once (not dbg! per message).
                                self.dropped += 1;
                                if !self.write_error_logged {
                                    self.write_error_logged = true;
                                    log::warn!(
                                        "write to subscriber {:?} failed ({}): messages dropped for it (logged once)",
                                        subscriber.key(),
                                        e
                                    );
                                }
                            }
                        }
                        Err(ZmqError::BufferFull(_)) => {
                            // ignore silently. https://rfc.zeromq.org/spec/29/ says:
                            // For processing outgoing messages:
                            //   SHALL silently drop the message if the queue for a subscriber is full.
                            // flashcrash patch: ... and counted.
                            self.dropped += 1;
                        }
                        // flashcrash patch: any other send error drops that subscriber, not a panic.
                        Err(_) => dead_peers.push((subscriber.key().clone(), subscriber.conn)),
                    }
                    break;
                }
            }
        }
        // flashcrash patch: each entry removed only while it is still that connection's.
        for (peer, conn) in dead_peers {
            self.backend.connection_ended(&peer, conn);
        }
        Ok(())
    }
}

impl CaptureSocket for PubSocket {}

#[async_trait]
impl Socket for PubSocket {
    fn with_options(options: SocketOptions) -> Self {
        Self {
            backend: Arc::new(PubSocketBackend {
                subscribers: DashMap::new(),
                socket_monitor: Mutex::new(None),
                socket_options: options,
                next_conn: AtomicU64::new(0),
                refused_peers: AtomicU64::new(0),
                send_buffer_bytes: AtomicUsize::new(DEFAULT_SEND_BUFFER_BYTES),
            }),
            binds: HashMap::new(),
            dropped: 0,
            write_error_logged: false,
            queued: 0,
        }
    }

    fn backend(&self) -> Arc<dyn MultiPeerBackend> {
        self.backend.clone()
    }

    fn binds(&mut self) -> &mut HashMap<Endpoint, AcceptStopHandle> {
        &mut self.binds
    }

    fn monitor(&mut self) -> mpsc::Receiver<SocketEvent> {
        let (sender, receiver) = mpsc::channel(1024);
        self.backend.socket_monitor.lock().replace(sender);
        receiver
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::tests::{
        test_bind_to_any_port_helper, test_bind_to_unspecified_interface_helper,
    };
    use crate::ZmqResult;
    use std::net::IpAddr;

    #[async_rt::test]
    async fn test_bind_to_any_port() -> ZmqResult<()> {
        let s = PubSocket::new();
        test_bind_to_any_port_helper(s).await
    }

    #[async_rt::test]
    async fn test_bind_to_any_ipv4_interface() -> ZmqResult<()> {
        let any_ipv4: IpAddr = "0.0.0.0".parse().unwrap();
        let s = PubSocket::new();
        test_bind_to_unspecified_interface_helper(any_ipv4, s, 4000).await
    }

    #[async_rt::test]
    async fn test_bind_to_any_ipv6_interface() -> ZmqResult<()> {
        let any_ipv6: IpAddr = "::".parse().unwrap();
        let s = PubSocket::new();
        test_bind_to_unspecified_interface_helper(any_ipv6, s, 4010).await
    }
}
