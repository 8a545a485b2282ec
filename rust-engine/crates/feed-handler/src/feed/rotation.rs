//! Rotation: Binance closes a stream connection at its 24-hour mark ("expect to be disconnected"),
//! and a reconnection then costs a resync (a REST snapshot and the seconds it takes) at whatever
//! moment that falls, a crash's included. Before that, after `[feed] rotate_after_secs`, the feed
//! opens a second connection to the same streams beside the first and hands the book over to it
//! without a resync.
//!
//! The new connection's frames are held while the old one goes on. Once the old one's book holds
//! the new one's first depth event (its `u`) and its trades reach the new one's first trade (Binance
//! does not document an order between the streams of a combined stream), the new connection's
//! reader is stopped, the old connection closed, and the held frames handled in order: the depth
//! events the book already holds are dropped ([`crate::sync::BookSync::hand_over`]); the first one
//! past it must continue it, or the book is resynced; the trades the old connection delivered are
//! dropped by their ids ([`crate::trade_ids::TradeIds::handed_over`]). A trade missed all the same shows as a
//! jump of the trade ids (`trades_missed`).
//!
//! A new connection that cannot connect, fails, or has not caught up within [`HANDOVER_TIMEOUT`] is
//! closed, and the rotation is tried again [`RETRY_AFTER`] later; the old connection goes on
//! meanwhile (if it ends first, the feed reconnects as after any drop).

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::Duration;

use common::time::now_ns;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, Sleep};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tracing::{info, warn};

use super::{Ended, FeedTask};
use crate::binance::{parse_frame_for, MarketEvent};

/// A market-data connection as the feed dials it.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a dial may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the new connection has, from its dial, to catch up with the old one.
pub const HANDOVER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long after a rotation that failed (or that could not start: a book not live) it is tried
/// again.
pub const RETRY_AFTER: Duration = Duration::from_secs(60);
/// Most frames the new connection may hold before the switch; more and the rotation is given up.
pub const MAX_HELD: usize = 100_000;
/// How long the old connection's close, and the new connection's reader stopping, may take.
pub const CLOSE_GRACE: Duration = Duration::from_millis(500);

/// Dials `url`, honouring Nagle off (pongs and close frames leave at once).
pub async fn dial(url: &str) -> Result<Ws, String> {
    match tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio_tungstenite::connect_async_with_config(url, None, true),
    )
    .await
    {
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(e)) => Err(format!("connect failed: {e}")),
        Err(_) => Err("connect timed out".into()),
    }
}

/// A frame of the new connection and when it was received (ns, local clock).
#[derive(Debug)]
pub struct Held {
    /// The frame's text.
    pub text: String,
    /// Its receipt time.
    pub local_ns: u64,
}

/// The new connection and its frames so far, once it has taken over.
#[derive(Debug)]
pub struct Handover {
    /// The connection, read on from where its reader stopped.
    pub ws: Ws,
    /// Its frames received before the switch, in order.
    pub held: VecDeque<Held>,
}

/// The connection that is to take over, opened beside the current one.
pub struct Standby {
    frames: mpsc::UnboundedReceiver<Held>,
    held: VecDeque<Held>,
    /// `u` of its first depth event.
    first_final_id: Option<u64>,
    /// Id of its first trade.
    first_trade_id: Option<u64>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<Ws, String>>,
    /// When it is given up unless it has taken over.
    pub deadline: Instant,
}

impl Standby {
    /// Dials `url` in a task of its own that reads its frames (answering pings) until told to stop.
    pub fn open(url: &str) -> Self {
        let (tx, frames) = mpsc::unbounded_channel();
        let (stop, stop_rx) = oneshot::channel();
        let url = url.to_owned();
        let task = tokio::spawn(async move { read_until_stopped(&url, tx, stop_rx).await });
        Standby {
            frames,
            held: VecDeque::new(),
            first_final_id: None,
            first_trade_id: None,
            stop: Some(stop),
            task,
            deadline: Instant::now() + HANDOVER_TIMEOUT,
        }
    }

    /// The next frame it received; `None` once its reader has ended (the connection failed).
    pub async fn next(&mut self) -> Option<Held> {
        self.frames.recv().await
    }

    /// Holds `frame`; notes the ids of its first depth event and its first trade for `symbol`.
    pub fn hold(&mut self, frame: Held, symbol: &str) {
        if self.first_final_id.is_none() || self.first_trade_id.is_none() {
            match parse_frame_for(&frame.text, symbol) {
                Ok(MarketEvent::Depth(d)) if self.first_final_id.is_none() => {
                    self.first_final_id = Some(d.final_id);
                }
                Ok(MarketEvent::Trade(t)) if self.first_trade_id.is_none() => {
                    self.first_trade_id = Some(t.trade_id);
                }
                _ => {}
            }
        }
        self.held.push_back(frame);
    }

    /// Frames held.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// True when the old connection's book, at `book_id`, holds the first depth event, and its
    /// last trade (`last_trade`) reaches the trade before the first trade: the switch is due.
    pub fn caught_up(&self, book_id: u64, last_trade: Option<u64>) -> bool {
        let trades = self
            .first_trade_id
            .is_none_or(|first| last_trade.is_some_and(|last| last.saturating_add(1) >= first));
        trades && self.first_final_id.is_some_and(|u| book_id >= u)
    }

    /// Stops its reader and takes the connection with every frame it received.
    ///
    /// # Errors
    /// Why the connection failed, when it did before it was stopped.
    pub async fn take_over(mut self) -> Result<Handover, String> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // A reader stuck on a socket that takes nothing (its pong) is not waited for.
        let ws = tokio::time::timeout(CLOSE_GRACE, &mut self.task)
            .await
            .map_err(|_| "its reader did not stop".to_owned())?
            .map_err(|e| format!("reader task failed: {e}"))??;
        // The reader sent every frame it read before it returned.
        while let Ok(frame) = self.frames.try_recv() {
            self.held.push_back(frame);
        }
        Ok(Handover {
            ws,
            held: std::mem::take(&mut self.held),
        })
    }

    /// Why its reader ended, once it has (after [`Standby::next`] returned `None`).
    pub async fn failure(mut self) -> String {
        match (&mut self.task).await {
            Ok(Ok(_)) => "reader stopped".into(),
            Ok(Err(reason)) => reason,
            Err(e) => format!("reader task failed: {e}"),
        }
    }
}

/// Gives the rotation up (`why`: what the new connection did): it is closed, and tried again
/// [`RETRY_AFTER`] from now.
pub fn give_up(standby: &mut Option<Standby>, why: &str, rotate: Pin<&mut Sleep>) {
    *standby = None;
    warn!(reason = %why, retry_secs = RETRY_AFTER.as_secs(), "rotation: the new connection is given up");
    rotate.reset(Instant::now() + RETRY_AFTER);
}

impl Drop for Standby {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The standby's reader: every text frame to `tx` with its receipt time, pings answered, until
/// `stop`; then the connection is handed back, unread frames still in it.
async fn read_until_stopped(
    url: &str,
    tx: mpsc::UnboundedSender<Held>,
    mut stop: oneshot::Receiver<()>,
) -> Result<Ws, String> {
    let mut ws = tokio::select! {
        biased;
        _ = &mut stop => return Err("stopped before it connected".into()),
        ws = dial(url) => ws?,
    };
    loop {
        tokio::select! {
            biased;
            _ = &mut stop => return Ok(ws),
            msg = ws.next() => match msg {
                None => return Err("stream closed".into()),
                Some(Err(e)) => return Err(format!("websocket error: {e}")),
                Some(Ok(Message::Text(text))) => {
                    let local_ns = now_ns();
                    if tx.send(Held { text, local_ns }).is_err() {
                        return Err("the feed stopped listening".into());
                    }
                }
                // tungstenite queues the pong; flushing sends it now.
                Some(Ok(Message::Ping(_))) => {
                    ws.flush().await.map_err(|e| format!("pong failed: {e}"))?;
                }
                Some(Ok(Message::Close(frame))) => return Err(format!("closed by venue: {frame:?}")),
                Some(Ok(_)) => {}
            },
        }
    }
}

impl FeedTask {
    /// Hands the stream over to `standby` once this connection's book and trades hold its first
    /// events: `Some` when it took over (this connection is then closed). A standby that failed
    /// meanwhile is given up, and this connection goes on.
    pub(super) async fn try_switch<S>(
        &mut self,
        standby: &mut Option<Standby>,
        old: &mut S,
        rotate: Pin<&mut Sleep>,
    ) -> Option<Ended>
    where
        S: futures_util::Sink<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
    {
        // No standby (every frame but a rotation's): nothing to read, the book's lock untouched.
        let pending = standby.as_ref()?;
        let book_id = self.out.book.read().book.update_id();
        if !(self.sync.is_live() && pending.caught_up(book_id, self.trade_ids.last())) {
            return None;
        }
        match standby.take()?.take_over().await {
            Ok(handover) => {
                let _ = tokio::time::timeout(CLOSE_GRACE, old.close()).await;
                self.counters.rotations += 1;
                info!(
                    held = handover.held.len(),
                    book_id, "rotation: the new connection takes over"
                );
                Some(Ended::Rotated(Box::new(handover)))
            }
            Err(why) => {
                give_up(standby, &why, rotate);
                None
            }
        }
    }
}
