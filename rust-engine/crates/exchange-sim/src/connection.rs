//! One market-data WebSocket connection: reads the venue's ring at its own pace, forwards the frames
//! of its streams (wrapped for combined streams), answers pings with pongs carrying the same payload
//! (done by the WebSocket layer while reading), and hangs up on a client that cannot keep up — one
//! that falls a whole ring behind, or whose socket accepts nothing for [`SEND_TIMEOUT`].
//!
//! Keepalive as Binance spot's: a ping frame every 20 s ([`Keepalive::ping_every`]), each with its
//! own payload (its number), and the connection is closed when a ping has no pong carrying its
//! payload (or a later ping's) within a minute ([`Keepalive::pong_within`]); an unsolicited pong
//! does not keep a connection open. [`Pings`] keeps that count for every connection of the venue,
//! the user data streams' too ([`crate::user_stream`]).

use std::borrow::Cow;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{timeout, Instant};
use tracing::{debug, info, warn};

use crate::faults::{Action, FaultCounts, Injector, Outbox};
use crate::stream::{StreamKind, Subscriptions};
use crate::venue::{Frame, Venue};
use crate::wire;

/// The server's pings and how long it waits for their pongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Interval of the ping frames (Binance spot: 20 s).
    pub ping_every: Duration,
    /// A ping without its pong after this long closes the connection (Binance spot: 1 minute).
    pub pong_within: Duration,
}

impl Default for Keepalive {
    fn default() -> Self {
        Keepalive {
            ping_every: Duration::from_secs(20),
            pong_within: Duration::from_secs(60),
        }
    }
}

/// The number a ping carries as its payload (8 bytes, big-endian), read back from a pong.
fn ping_number(payload: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(payload.try_into().ok()?))
}

/// One connection's keepalive: its pings, each carrying its number, and the oldest one not
/// answered yet.
#[derive(Debug)]
pub struct Pings {
    keepalive: Keepalive,
    timer: tokio::time::Interval,
    sent: u64,
    /// The oldest ping not answered yet: its number, and when the connection is closed without it.
    unanswered: Option<(u64, Instant)>,
}

/// What a connection's keepalive wants done next.
#[derive(Debug)]
pub enum KeepaliveDue {
    /// Send this ping frame.
    Ping(Message),
    /// A ping has had no pong within [`Keepalive::pong_within`]: close the connection
    /// (`close_for_no_pong`).
    NoPong,
}

impl Pings {
    /// A new connection's: its first ping one [`Keepalive::ping_every`] from now.
    pub fn new(keepalive: Keepalive) -> Self {
        Pings {
            keepalive,
            timer: tokio::time::interval_at(
                Instant::now() + keepalive.ping_every,
                keepalive.ping_every,
            ),
            sent: 0,
            unanswered: None,
        }
    }

    /// Waits for what is due next: the next ping (none while `paused`: a stalled connection
    /// sends nothing), or the end of a connection whose oldest ping went unanswered too long.
    pub async fn due(&mut self, paused: bool) -> KeepaliveDue {
        let deadline = self.unanswered.map(|(_, due)| due);
        tokio::select! {
            () = sleep_until_opt(deadline) => KeepaliveDue::NoPong,
            _ = self.timer.tick(), if !paused => {
                self.sent += 1;
                let due = Instant::now() + self.keepalive.pong_within;
                self.unanswered.get_or_insert((self.sent, due));
                KeepaliveDue::Ping(Message::Ping(self.sent.to_be_bytes().to_vec()))
            }
        }
    }

    /// A pong from the client: it answers its ping and every one before it.
    pub fn on_pong(&mut self, payload: &[u8]) {
        if let (Some((oldest, _)), Some(n)) = (self.unanswered, ping_number(payload)) {
            if (oldest..=self.sent).contains(&n) {
                self.unanswered = None;
            }
        }
    }
}

/// Ends a connection whose ping went unanswered: counted in `pong_timeouts`, closed with code 1008
/// "no pong".
pub(crate) async fn close_for_no_pong(socket: &mut WebSocket, venue: &Venue) {
    venue.stats.pong_timeouts.fetch_add(1, Ordering::Relaxed);
    info!(
        within_ms = u64::try_from(venue.keepalive.pong_within.as_millis()).unwrap_or(u64::MAX),
        "no pong to a ping in time: disconnecting"
    );
    close(socket, close_code::POLICY, "no pong").await;
}

/// Ends a connection because the venue closes (`--exit-at-end`, shutdown): close code 1000
/// "replay finished", the market-data connections' and the user data streams' alike.
pub(crate) async fn close_for_venue_end(socket: &mut WebSocket) {
    close(socket, close_code::NORMAL, "replay finished").await;
}

/// A send that takes longer than this means the client stopped reading: it is disconnected.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait for the client's close frame after sending ours.
pub const CLOSE_GRACE: Duration = Duration::from_millis(500);

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// The client closed or the socket failed.
    Client,
    /// The venue is shutting down or the replay is over.
    Venue,
    /// Fault injection closed it.
    Fault,
    /// The grace after a scheduled `serverShutdown` ran out before the client left.
    ServerShutdown,
    /// The client could not keep up.
    Slow,
    /// The client did not answer a ping in time.
    NoPong,
}

/// Serves one connection until it ends.
pub async fn serve(mut socket: WebSocket, venue: Arc<Venue>, subs: Subscriptions, combined: bool) {
    // Subscribe before anything else, so no event after this point is missed.
    let mut rx = venue.subscribe();
    let clients = venue.stats.clients.fetch_add(1, Ordering::Relaxed) + 1;
    venue.client_seen.send_replace(true);
    let conn = venue.connections.fetch_add(1, Ordering::Relaxed);
    info!(conn, clients, streams = ?subs.names().collect::<Vec<_>>(), combined, "client connected");
    let mut inject = Injector::new(venue.faults, venue.seed, conn);
    if venue.faults.any() {
        info!(conn, faults = ?venue.faults, "injecting faults into this connection");
    }
    let mut outbox = Outbox::new(venue.faults.latency);
    let mut control = venue.control.subscribe();
    let (kicks, mut stalled_until, mut shutdowns) = {
        let c = control.borrow_and_update();
        (c.kicks, c.stalled_until, c.shutdowns)
    };
    let close_at = inject.lifetime().map(|d| Instant::now() + d);
    // Set when this connection's `serverShutdown` event is written to it: it is closed then.
    let mut shutdown_close_at: Option<Instant> = None;
    let mut pings = Pings::new(venue.keepalive);
    let ending = loop {
        let stalled = stalled_until.is_some_and(|t| Instant::now() < t);
        tokio::select! {
            frame = rx.recv(), if !stalled => {
                let frame = match frame {
                    Ok(f) => f,
                    Err(RecvError::Lagged(missed)) => {
                        warn!(conn, missed, capacity = venue.queue_capacity, "client too slow (queue overflow): disconnecting");
                        break Ending::Slow;
                    }
                    Err(RecvError::Closed) => break Ending::Venue,
                };
                let Some(text) = frame_text(&frame, &subs, combined) else {
                    if *frame == Frame::End {
                        // Every frame the replay emitted reaches the client, each at its delayed
                        // time (`--latency-ms`, `--reorder`), before the close.
                        outbox.release_held(Instant::now());
                        break match drain(&mut socket, &mut outbox, &venue, conn, &mut shutdown_close_at).await {
                            Ok(()) => Ending::Venue,
                            Err(e) => e,
                        };
                    }
                    continue;
                };
                let is_depth = matches!(&*frame, Frame::Depth100ms(_) | Frame::Depth1s(_));
                let is_trade = matches!(&*frame, Frame::AggTrade(_) | Frame::Trade(_));
                let Action::Send { text, twice, hold } = inject.apply(text, is_depth, is_trade, &venue.fault_counts) else {
                    continue;
                };
                let now = Instant::now();
                if twice {
                    outbox.push(text.clone(), None, now);
                }
                outbox.push(text, hold, now);
                if let Err(e) = flush(&mut socket, &mut outbox, &venue, conn, &mut shutdown_close_at).await {
                    break e;
                }
            }
            _ = sleep_until_opt(outbox.next_due()), if !stalled => {
                if let Err(e) = flush(&mut socket, &mut outbox, &venue, conn, &mut shutdown_close_at).await {
                    break e;
                }
            }
            _ = sleep_until_opt(stalled_until), if stalled => {
                info!(conn, "fault: stall over");
            }
            changed = control.changed() => {
                if changed.is_err() {
                    break Ending::Venue;
                }
                let c = *control.borrow_and_update();
                if c.kicks != kicks {
                    venue.fault_counts.disconnects.fetch_add(1, Ordering::Relaxed);
                    info!(conn, "fault: scheduled disconnect");
                    break Ending::Fault;
                }
                if c.stalled_until != stalled_until {
                    stalled_until = c.stalled_until;
                    info!(conn, "fault: stalling");
                }
                if c.shutdowns != shutdowns {
                    shutdowns = c.shutdowns;
                    info!(conn, grace_secs = c.shutdown_grace.as_secs_f64(), "fault: serverShutdown queued");
                    // Behind the frames already on their way (a server sends in order), past the
                    // per-frame faults: the event is never dropped, broken or duplicated. It is
                    // counted, and its grace starts, when it is written ([`flush`]).
                    let event = wire::server_shutdown(venue.event_time_ms(), combined);
                    outbox.push_server_shutdown(event, c.shutdown_grace, Instant::now());
                }
            }
            _ = sleep_until_opt(shutdown_close_at) => {
                venue.fault_counts.disconnects.fetch_add(1, Ordering::Relaxed);
                info!(conn, "fault: closing the connection after serverShutdown");
                break Ending::ServerShutdown;
            }
            _ = sleep_until_opt(close_at) => {
                venue.fault_counts.disconnects.fetch_add(1, Ordering::Relaxed);
                info!(conn, "fault: closing the connection");
                if let Some(d) = venue.faults.refuse_reconnects {
                    venue.refuse_for(d);
                }
                break Ending::Fault;
            }
            due = pings.due(stalled) => match due {
                KeepaliveDue::Ping(ping) => {
                    if let Err(e) = send(&mut socket, ping).await {
                        break e;
                    }
                }
                KeepaliveDue::NoPong => break Ending::NoPong,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break Ending::Client,
                Some(Ok(Message::Ping(p))) => debug!(conn, len = p.len(), "ping from client (pong sent by the WebSocket layer)"),
                Some(Ok(Message::Pong(p))) => pings.on_pong(&p),
                Some(Ok(_)) => {}
            },
        }
    };
    match ending {
        Ending::Venue => close_for_venue_end(&mut socket).await,
        Ending::Fault => close(&mut socket, close_code::NORMAL, "fault injection").await,
        Ending::ServerShutdown => close(&mut socket, close_code::AWAY, "server shutdown").await,
        Ending::Slow => {
            venue.stats.clients_dropped.fetch_add(1, Ordering::Relaxed);
            // Best effort only: the client is not reading.
            let _ = timeout(
                CLOSE_GRACE,
                socket.send(Message::Close(Some(CloseFrame {
                    code: close_code::POLICY,
                    reason: Cow::Borrowed("too slow"),
                }))),
            )
            .await;
        }
        Ending::NoPong => close_for_no_pong(&mut socket, &venue).await,
        Ending::Client => {}
    }
    let clients = venue.stats.clients.fetch_sub(1, Ordering::Relaxed) - 1;
    info!(conn, clients, ?ending, "client disconnected");
}

/// The text to send for `frame` on this connection, if it carries one of its streams.
fn frame_text(frame: &Frame, subs: &Subscriptions, combined: bool) -> Option<String> {
    let (kind, payload) = match frame {
        Frame::Depth100ms(p) => (StreamKind::Depth100ms, p),
        Frame::Depth1s(p) => (StreamKind::Depth1s, p),
        Frame::AggTrade(p) => (StreamKind::AggTrade, p),
        Frame::Trade(p) => (StreamKind::Trade, p),
        Frame::End => return None,
    };
    let name = subs.name_of(kind)?;
    Some(if combined {
        wire::combined(name, payload)
    } else {
        payload.clone()
    })
}

/// Sends every frame of `outbox` that is due. A `serverShutdown` event is counted, and its grace
/// starts, once it is written ([`shutdown_sent`]).
async fn flush(
    socket: &mut WebSocket,
    outbox: &mut Outbox,
    venue: &Venue,
    conn: u64,
    shutdown_close_at: &mut Option<Instant>,
) -> Result<(), Ending> {
    while let Some(frame) = outbox.pop_ready(Instant::now()) {
        send(socket, Message::Text(frame.text)).await?;
        if let Some(grace) = frame.shutdown_grace {
            shutdown_sent(
                shutdown_close_at,
                Instant::now(),
                grace,
                &venue.fault_counts,
            );
            info!(
                conn,
                grace_secs = grace.as_secs_f64(),
                "fault: serverShutdown sent"
            );
        }
    }
    Ok(())
}

/// A `serverShutdown` event went out at `now`: counted, and the connection is to be closed `grace`
/// later (or at the close an earlier event set, if sooner).
fn shutdown_sent(
    close_at: &mut Option<Instant>,
    now: Instant,
    grace: Duration,
    counts: &FaultCounts,
) {
    let due = now + grace;
    *close_at = Some(close_at.map_or(due, |t| t.min(due)));
    counts.server_shutdowns.fetch_add(1, Ordering::Relaxed);
}

/// Sends every frame of `outbox`, each when it is due (see [`flush`]).
async fn drain(
    socket: &mut WebSocket,
    outbox: &mut Outbox,
    venue: &Venue,
    conn: u64,
    shutdown_close_at: &mut Option<Instant>,
) -> Result<(), Ending> {
    while let Some(at) = outbox.next_due() {
        tokio::time::sleep_until(at).await;
        flush(socket, outbox, venue, conn, shutdown_close_at).await?;
    }
    Ok(())
}

async fn send(socket: &mut WebSocket, msg: Message) -> Result<(), Ending> {
    match timeout(SEND_TIMEOUT, socket.send(msg)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Ending::Client),
        Err(_) => Err(Ending::Slow),
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Sends a close frame and waits briefly for the client's, so the close is clean on both sides.
pub(crate) async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: Cow::Borrowed(reason),
    };
    if send(socket, Message::Close(Some(frame))).await.is_err() {
        return;
    }
    let _ = timeout(CLOSE_GRACE, async {
        while let Some(Ok(msg)) = socket.recv().await {
            if matches!(msg, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_filtered_and_wrapped() {
        let subs = Subscriptions::parse(["polusdt@aggTrade", "polusdt@depth"], "polusdt").unwrap();
        let agg = Frame::AggTrade("{\"a\":1}".into());
        assert_eq!(frame_text(&agg, &subs, false).as_deref(), Some("{\"a\":1}"));
        assert_eq!(
            frame_text(&agg, &subs, true).as_deref(),
            Some("{\"stream\":\"polusdt@aggTrade\",\"data\":{\"a\":1}}")
        );
        assert_eq!(frame_text(&Frame::Trade("{}".into()), &subs, true), None);
        assert_eq!(
            frame_text(&Frame::Depth100ms("{}".into()), &subs, true),
            None
        );
        assert!(frame_text(&Frame::Depth1s("{}".into()), &subs, true).is_some());
        assert_eq!(frame_text(&Frame::End, &subs, true), None);
    }

    /// Each `serverShutdown` event written counts once; the close is its grace after it was
    /// written, or an earlier event's close if sooner.
    #[test]
    fn a_server_shutdown_sent_counts_and_sets_the_close() {
        let counts = FaultCounts::default();
        let t0 = Instant::now();
        let mut close_at = None;
        shutdown_sent(&mut close_at, t0, Duration::from_secs(2), &counts);
        assert_eq!(close_at, Some(t0 + Duration::from_secs(2)));
        let t1 = t0 + Duration::from_millis(500);
        shutdown_sent(&mut close_at, t1, Duration::from_millis(500), &counts);
        assert_eq!(close_at, Some(t1 + Duration::from_millis(500)));
        shutdown_sent(&mut close_at, t1, Duration::from_secs(5), &counts);
        assert_eq!(close_at, Some(t1 + Duration::from_millis(500)));
        assert_eq!(counts.server_shutdowns.load(Ordering::Relaxed), 3);
    }
}
