use super::command::ZmqCommand;
use super::error::CodecError;
use super::greeting::ZmqGreeting;
use super::Message;
use crate::ZmqMessage;

use asynchronous_codec::{Decoder, Encoder};
use bytes::{Buf, BufMut, Bytes, BytesMut};

use std::convert::TryFrom;

#[derive(Debug, Clone, Copy)]
struct Frame {
    command: bool,
    long: bool,
    more: bool,
}

#[derive(Debug)]
enum DecoderState {
    Greeting,
    FrameHeader,
    FrameLen(Frame),
    Frame(Frame),
}

#[derive(Debug)]
pub struct ZmqCodec {
    state: DecoderState,
    waiting_for: usize, // Number of bytes needed to decode frame
    // Needed to store incoming multipart message
    // This allows to encapsulate its processing inside codec and not expose
    // internal details to higher levels
    buffered_message: Option<ZmqMessage>,
    // flashcrash patch: the bytes of `buffered_message` so far (its frames are counted by its len).
    buffered_len: usize,
}

impl ZmqCodec {
    pub fn new() -> Self {
        Self {
            state: DecoderState::Greeting,
            waiting_for: 64, // len of the greeting frame
            buffered_message: None,
            buffered_len: 0,
        }
    }
}

impl Default for ZmqCodec {
    fn default() -> Self {
        Self::new()
    }
}

/// flashcrash patch: the most bytes a received message (all its frames) or command may hold: a
/// peer declaring a frame that would take its message past this is disconnected at the frame's
/// header, before anything is buffered (it was 16 MiB per frame, each buffered in full).
pub const MAX_MESSAGE_LEN: usize = 1024 * 1024;

/// flashcrash patch: the most frames a received message may have: a peer sending more (MORE set on
/// frame after frame, each buffered) is disconnected.
pub const MAX_MESSAGE_FRAMES: usize = 256;

impl Decoder for ZmqCodec {
    type Error = CodecError;
    type Item = Message;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        if src.len() < self.waiting_for {
            src.reserve(self.waiting_for - src.len());
            return Ok(None);
        }
        match self.state {
            DecoderState::Greeting => {
                if src[0] != 0xff {
                    return Err(CodecError::Decode("Bad first byte of greeting"));
                }
                self.state = DecoderState::FrameHeader;
                self.waiting_for = 1;
                Ok(Some(Message::Greeting(ZmqGreeting::try_from(
                    src.split_to(64).freeze(),
                )?)))
            }
            DecoderState::FrameHeader => {
                let flags = src.get_u8();

                let frame = Frame {
                    command: (flags & 0b0000_0100) != 0,
                    long: (flags & 0b0000_0010) != 0,
                    more: (flags & 0b0000_0001) != 0,
                };
                self.state = DecoderState::FrameLen(frame);
                self.waiting_for = if frame.long { 8 } else { 1 };
                self.decode(src)
            }
            DecoderState::FrameLen(frame) => {
                let len = if frame.long {
                    src.get_u64()
                } else {
                    u64::from(src.get_u8())
                };
                // flashcrash patch: a peer's declared length is not trusted with an allocation,
                // and the frames of one message together stay within MAX_MESSAGE_LEN.
                let budget = if frame.command {
                    MAX_MESSAGE_LEN
                } else {
                    MAX_MESSAGE_LEN - self.buffered_len
                };
                if len > budget as u64 {
                    return Err(CodecError::Decode(
                        "message longer than the largest accepted",
                    ));
                }
                self.state = DecoderState::Frame(frame);
                self.waiting_for = len as usize;
                self.decode(src)
            }
            DecoderState::Frame(frame) => {
                let data = src.split_to(self.waiting_for);
                self.state = DecoderState::FrameHeader;
                self.waiting_for = 1;
                if frame.command {
                    return Ok(Some(Message::Command(ZmqCommand::try_from(data.freeze())?)));
                }

                // process incoming message frame
                // flashcrash patch: bytes and frames of the message so far, each capped.
                self.buffered_len += data.len();
                let frames = match &mut self.buffered_message {
                    Some(v) => {
                        v.push_back(data.freeze());
                        v.len()
                    }
                    None => {
                        self.buffered_message = Some(ZmqMessage::from(data.freeze()));
                        1
                    }
                };

                if frame.more {
                    if frames >= MAX_MESSAGE_FRAMES {
                        return Err(CodecError::Decode("message with more frames than accepted"));
                    }
                    self.decode(src)
                } else {
                    // Quoth the Raven “Nevermore.”
                    self.buffered_len = 0; // flashcrash patch
                    Ok(Some(Message::Message(
                        self.buffered_message
                            .take()
                            .expect("Corrupted decoder state"),
                    )))
                }
            }
        }
    }
}

impl ZmqCodec {
    fn _encode_frame(&mut self, frame: &Bytes, dst: &mut BytesMut, more: bool) {
        let mut flags: u8 = 0;
        if more {
            flags |= 0b0000_0001;
        }
        let len = frame.len();
        if len > 255 {
            flags |= 0b0000_0010;
            dst.reserve(len + 9);
        } else {
            dst.reserve(len + 2);
        }
        dst.put_u8(flags);
        if len > 255 {
            dst.put_u64(len as u64);
        } else {
            dst.put_u8(len as u8);
        }
        dst.extend_from_slice(frame.as_ref());
    }
}

impl Encoder for ZmqCodec {
    type Error = CodecError;
    type Item<'a> = Message;

    fn encode(&mut self, message: Self::Item<'_>, dst: &mut BytesMut) -> Result<(), Self::Error> {
        match message {
            Message::Greeting(payload) => dst.unsplit(payload.into()),
            Message::Command(command) => dst.unsplit(command.into()),
            Message::Message(message) => {
                let last_element = message.len() - 1;
                for (idx, part) in message.iter().enumerate() {
                    self._encode_frame(part, dst, idx != last_element);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    // flashcrash patch: the caps on a received message's frames and bytes.
    fn decoding_codec() -> ZmqCodec {
        let mut codec = ZmqCodec::new();
        codec.waiting_for = 1;
        codec.state = DecoderState::FrameHeader;
        codec
    }

    #[test]
    pub fn a_message_of_too_many_frames_is_an_error() {
        let mut codec = decoding_codec();
        let mut ok = BytesMut::new();
        for _ in 0..MAX_MESSAGE_FRAMES - 1 {
            ok.extend_from_slice(&[0x01, 0x00]);
        }
        ok.extend_from_slice(&[0x00, 0x00]);
        match codec.decode(&mut ok) {
            Ok(Some(Message::Message(m))) => assert_eq!(m.len(), MAX_MESSAGE_FRAMES),
            other => panic!("{other:?}"),
        }
        let mut codec = decoding_codec();
        let mut more = BytesMut::new();
        for _ in 0..MAX_MESSAGE_FRAMES {
            more.extend_from_slice(&[0x01, 0x00]);
        }
        assert!(codec.decode(&mut more).is_err());
    }

    #[test]
    pub fn a_message_longer_than_the_cap_is_refused_at_its_header() {
        // One long frame declaring one byte more than the cap: refused with nothing buffered.
        let mut codec = decoding_codec();
        let mut long = BytesMut::new();
        long.extend_from_slice(&[0x02]);
        long.extend_from_slice(&(MAX_MESSAGE_LEN as u64 + 1).to_be_bytes());
        assert!(codec.decode(&mut long).is_err());
        // Frames that reach the cap only together: the one that passes it is refused.
        let mut codec = decoding_codec();
        let half = MAX_MESSAGE_LEN / 2;
        let mut two = BytesMut::new();
        two.extend_from_slice(&[0x03]);
        two.extend_from_slice(&(half as u64).to_be_bytes());
        two.extend_from_slice(&vec![0u8; half]);
        two.extend_from_slice(&[0x02]);
        two.extend_from_slice(&(half as u64 + 1).to_be_bytes());
        assert!(codec.decode(&mut two).is_err());
        // Exactly the cap over two frames is a message.
        let mut codec = decoding_codec();
        let mut exact = BytesMut::new();
        exact.extend_from_slice(&[0x03]);
        exact.extend_from_slice(&(half as u64).to_be_bytes());
        exact.extend_from_slice(&vec![0u8; half]);
        exact.extend_from_slice(&[0x02]);
        exact.extend_from_slice(&((MAX_MESSAGE_LEN - half) as u64).to_be_bytes());
        exact.extend_from_slice(&vec![0u8; MAX_MESSAGE_LEN - half]);
        match codec.decode(&mut exact) {
            Ok(Some(Message::Message(m))) => assert_eq!(m.len(), 2),
            other => panic!("{other:?}"),
        }
        // The count starts again with the next message.
        exact.extend_from_slice(&[0x02]);
        exact.extend_from_slice(&(MAX_MESSAGE_LEN as u64).to_be_bytes());
        exact.extend_from_slice(&vec![0u8; MAX_MESSAGE_LEN]);
        assert!(matches!(
            codec.decode(&mut exact),
            Ok(Some(Message::Message(_)))
        ));
    }

    #[test]
    pub fn test_message_decode_1() {
        let data = "01093c4944537c4d53473e01403239386166316563653932306635373637656132393438376261363164643436613534636334313262653032303339316139653831636535633234383039653001cb7b226d73675f6964223a2236356336396230312d636634622d343563322d616165612d323263306365326531316533222c2273657373696f6e223a2230326462356631642d386535632d346464612d383064342d303337363835343465616138222c22757365726e616d65223a223c544f444f3e222c2264617465223a22323032312d31322d32395430343a35393a33392e3539333533372b30303a3030222c226d73675f74797065223a22657865637574655f7265706c79222c2276657273696f6e223a22352e33227d01c07b226d73675f6964223a223965303336313036373262393433393961343432316539373330333330326162222c2273657373696f6e223a226231323139393364663235613432643839376135653163383362306337616665222c22757365726e616d65223a22757365726e616d65222c2264617465223a22313937302d30312d30315430303a30303a30302b30303a3030222c226d73675f74797065223a22657865637574655f72657175657374222c2276657273696f6e223a22352e32227d01027b7d00467b22737461747573223a226f6b222c22657865637574696f6e5f636f756e74223a312c227061796c6f6164223a5b5d2c22757365725f65787072657373696f6e73223a7b7d7d";
        let hex_data = hex::decode(data).unwrap();
        let mut bytes = BytesMut::from(hex_data.as_slice());
        let mut codec = ZmqCodec::new();
        codec.waiting_for = 1;
        codec.state = DecoderState::FrameHeader;

        let message = codec
            .decode(&mut bytes)
            .expect("decode success")
            .expect("single message");
        dbg!(&message);
        match message {
            Message::Message(m) => {
                assert_eq!(6, m.into_vecdeque().len());
            }
            _ => panic!("wrong message type"),
        }
        assert_eq!(bytes.len(), 0);
    }

    #[test]
    pub fn test_message_decode_2() {
        let data = "01093c4944537c4d53473e01406139346435366530343438353335303831316561623063663730623464356366373933653431653838616330666339646263346562326238616136643635306601cb7b226d73675f6964223a2263383466623933372d333162662d346335622d386430392d386535633230633434333636222c2273657373696f6e223a2230326462356631642d386535632d346464612d383064342d303337363835343465616138222c22757365726e616d65223a223c544f444f3e222c2264617465223a22323032312d31322d32395430343a35393a34332e3037343831332b30303a3030222c226d73675f74797065223a22657865637574655f7265706c79222c2276657273696f6e223a22352e33227d01c07b226d73675f6964223a223238646635316334303933313433643339393131346664333439643530396634222c2273657373696f6e223a226231323139393364663235613432643839376135653163383362306337616665222c22757365726e616d65223a22757365726e616d65222c2264617465223a22313937302d30312d30315430303a30303a30302b30303a3030222c226d73675f74797065223a22657865637574655f72657175657374222c2276657273696f6e223a22352e32227d01027b7d00467b22737461747573223a226f6b222c22657865637574696f6e5f636f756e74223a322c227061796c6f6164223a5b5d2c22757365725f65787072657373696f6e73223a7b7d7d";
        let hex_data = hex::decode(data).unwrap();
        let mut bytes = BytesMut::from(hex_data.as_slice());
        let mut codec = ZmqCodec::new();
        codec.waiting_for = 1;
        codec.state = DecoderState::FrameHeader;

        let message = codec
            .decode(&mut bytes)
            .expect("decode success")
            .expect("single message");
        dbg!(&message);
        assert_eq!(bytes.len(), 0);
        match message {
            Message::Message(m) => {
                assert_eq!(6, m.into_vecdeque().len());
            }
            _ => panic!("wrong message type"),
        }
    }
}
