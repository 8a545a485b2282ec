//! Data messages as ZeroMQ `[topic, payload]` messages, reusing what it can from one message to the
//! next: the MessagePack encode buffer and the `book.<SYMBOL>` / `trade.<SYMBOL>` topic frames. The
//! bytes are those of [`common::message::encode`] under [`DataMessage::topic`].

use bytes::{BufMut, Bytes, BytesMut};
use common::message::{trade_topic, DataMessage};
use serde::Serialize;
use zeromq::ZmqMessage;

/// Room reserved before each encode: a 20-level book is about 800 bytes.
const PAYLOAD_HINT: usize = 1024;

/// Encodes the data channel's messages for one symbol.
#[derive(Debug)]
pub(crate) struct DataEncoder {
    symbol: String,
    book_topic: Bytes,
    trade_topic: Bytes,
    /// Each payload is split off this buffer and handed to the socket; once the socket has copied it
    /// and dropped it, the next `reserve` takes the same allocation back.
    buf: BytesMut,
}

impl DataEncoder {
    /// An encoder whose cached topics are those of `symbol`.
    pub(crate) fn new(symbol: &str) -> Self {
        DataEncoder {
            symbol: symbol.to_owned(),
            book_topic: Bytes::from(format!("book.{symbol}")),
            trade_topic: Bytes::from(trade_topic(symbol)),
            buf: BytesMut::with_capacity(PAYLOAD_HINT),
        }
    }

    /// `msg` as `[topic, payload]`.
    ///
    /// # Errors
    /// The message cannot be encoded (MessagePack).
    pub(crate) fn message(
        &mut self,
        msg: &DataMessage,
    ) -> Result<ZmqMessage, rmp_serde::encode::Error> {
        let payload = self.payload(msg)?;
        Ok(crate::framed(self.topic(msg), payload))
    }

    fn topic(&self, msg: &DataMessage) -> Bytes {
        match msg {
            DataMessage::OrderBookSnapshot(b) if b.symbol == self.symbol => self.book_topic.clone(),
            DataMessage::Trade(t) if t.symbol == self.symbol => self.trade_topic.clone(),
            other => Bytes::from(other.topic()),
        }
    }

    /// The MessagePack payload, as `common::message::encode` writes it (named fields).
    fn payload(&mut self, msg: &DataMessage) -> Result<Bytes, rmp_serde::encode::Error> {
        self.buf.clear();
        self.buf.reserve(PAYLOAD_HINT);
        let mut ser = rmp_serde::Serializer::new((&mut self.buf).writer()).with_struct_map();
        match msg.serialize(&mut ser) {
            Ok(()) => Ok(self.buf.split().freeze()),
            Err(e) => {
                self.buf.clear();
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use common::message::{encode, OrderBookSnapshot, StateChange, Trade};

    use super::*;

    fn book(symbol: &str, update_id: u64, levels: usize) -> DataMessage {
        let side = |sign: f64| {
            (0..levels)
                .map(|i| [0.2 + sign * 0.0001 * i as f64, 10.0 + i as f64])
                .collect()
        };
        DataMessage::OrderBookSnapshot(OrderBookSnapshot {
            symbol: symbol.into(),
            exchange_ts_ns: 1_760_130_000_000_000_000,
            local_ts_ns: 1_760_130_000_000_500_000,
            update_id,
            bids: side(-1.0),
            asks: side(1.0),
        })
    }

    fn trade(symbol: &str, trade_id: u64) -> DataMessage {
        DataMessage::Trade(Trade {
            symbol: symbol.into(),
            exchange_ts_ns: 1_760_130_000_000_000_000,
            local_ts_ns: 1_760_130_000_000_400_000,
            trade_id,
            price: 0.1987,
            quantity: 1234.5,
            aggressor: common::message::Aggressor::Sell,
        })
    }

    fn state() -> DataMessage {
        DataMessage::StateChange(StateChange {
            ts_ns: 1,
            component: "feed".into(),
            previous: "syncing".into(),
            current: "live".into(),
            reason: "book in sync at update 7".into(),
        })
    }

    /// The frames as the publisher built them before the encoder: `[topic(), encode()]`.
    fn reference(msg: &DataMessage) -> Vec<Bytes> {
        vec![Bytes::from(msg.topic()), Bytes::from(encode(msg).unwrap())]
    }

    #[test]
    fn frames_equal_topic_and_encode() {
        struct Case {
            name: &'static str,
            msg: DataMessage,
        }
        let cases = [
            Case {
                name: "book",
                msg: book("POLUSDT", 7, 20),
            },
            Case {
                name: "empty book",
                msg: book("POLUSDT", 8, 0),
            },
            Case {
                name: "book larger than the hint",
                msg: book("POLUSDT", 9, 200),
            },
            Case {
                name: "trade",
                msg: trade("POLUSDT", 11),
            },
            Case {
                name: "book of another symbol",
                msg: book("BTCUSDT", 7, 5),
            },
            Case {
                name: "trade of another symbol",
                msg: trade("BTCUSDT", 12),
            },
            Case {
                name: "state change",
                msg: state(),
            },
            Case {
                name: "book after the others",
                msg: book("POLUSDT", 10, 20),
            },
        ];
        let mut enc = DataEncoder::new("POLUSDT");
        for c in cases {
            let got = enc.message(&c.msg).unwrap().into_vec();
            assert_eq!(got, reference(&c.msg), "{}", c.name);
        }
    }

    #[test]
    fn the_payload_allocation_is_reused_once_the_socket_let_go() {
        let mut enc = DataEncoder::new("POLUSDT");
        let first = enc.message(&book("POLUSDT", 1, 20)).unwrap();
        let at = first.get(1).unwrap().as_ptr();
        drop(first);
        let second = enc.message(&book("POLUSDT", 2, 20)).unwrap();
        assert_eq!(second.get(1).unwrap().as_ptr(), at);
    }

    #[test]
    fn a_message_still_held_is_not_overwritten_by_the_next() {
        let mut enc = DataEncoder::new("POLUSDT");
        let first = enc.message(&book("POLUSDT", 1, 20)).unwrap();
        let second = enc.message(&book("POLUSDT", 2, 20)).unwrap();
        assert_eq!(first.into_vec(), reference(&book("POLUSDT", 1, 20)));
        assert_eq!(second.into_vec(), reference(&book("POLUSDT", 2, 20)));
    }
}
