//! The engine's side of the three ZeroMQ channels (`docs/PROTOCOL.md`): the data publisher with book
//! conflation, the command receiver that drops and counts bad payloads, and the response publisher.

pub mod commands;
mod encoder;
pub mod publisher;
pub mod responses;

use bytes::Bytes;
use zeromq::ZmqMessage;

/// A two-frame message `[topic, payload]`.
pub(crate) fn framed(topic: Bytes, payload: Bytes) -> ZmqMessage {
    ZmqMessage::try_from(vec![topic, payload]).expect("two frames is not empty")
}
