//! What the decoder yields (data messages, their parts, control frames)
//! through an [`Emit`] sink, and the rules a peer can break, each with its
//! status and close code.

use tungstenite::Bytes;

use crate::codec::close_code_allowed;
use crate::error::{CloseFrame, Status};
use crate::message::Message;

/// One thing decoded.
#[derive(Debug)]
pub(crate) enum Item {
    /// A whole data message.
    Message(Message),
    /// A piece of a data message handed on as it arrives (parts mode).
    Part(Part),
    Ping(Bytes),
    Pong(Bytes),
    /// The peer's close frame (1005 if it had no code). Decoding stops.
    Close(CloseFrame),
}

/// Where the decoder puts what it decodes. A closure will do; the engine's
/// own sink inlines its `item`, so that a message moves straight into the
/// batch (through a call, its bytes were stored and at once loaded again
/// from the stack: 12% of a 64 B receive).
pub(crate) trait Emit {
    fn item(&mut self, item: Item);
}

impl<F: FnMut(Item)> Emit for F {
    fn item(&mut self, item: Item) {
        self(item)
    }
}

/// A piece of one data message: the payload bytes that arrived together.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    pub(crate) text: bool,
    /// The first piece of its message.
    pub(crate) first: bool,
    /// The last piece of its message.
    pub(crate) fin: bool,
    pub(crate) data: Bytes,
}

/// A rule the peer broke: the status, the close code owed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Violation {
    pub(crate) status: Status,
    pub(crate) code: u16,
    pub(crate) reason: String,
}

pub(super) fn protocol(reason: impl Into<String>) -> Violation {
    Violation {
        status: Status::ProtocolError,
        code: 1002,
        reason: format!("the peer broke the WebSocket protocol: {}", reason.into()),
    }
}

pub(super) fn bad_utf8() -> Violation {
    Violation {
        status: Status::InvalidUtf8,
        code: 1007,
        reason: "the peer sent text that is not valid UTF-8".into(),
    }
}

pub(super) fn too_big(what: &str, size: u64, limit: usize) -> Violation {
    Violation {
        status: Status::MessageTooBig,
        code: 1009,
        reason: format!("the peer sent a {what} of {size} bytes, over the limit of {limit}"),
    }
}

/// The peer's close frame from its payload (RFC 6455 5.5.1, 7.4).
pub(super) fn close_frame(payload: &[u8]) -> Result<CloseFrame, Violation> {
    match payload {
        [] => Ok(CloseFrame {
            code: 1005,
            reason: String::new(),
        }),
        [_] => Err(protocol("a close frame of one byte")),
        [a, b, reason @ ..] => {
            let code = u16::from_be_bytes([*a, *b]);
            if !close_code_allowed(code) {
                return Err(protocol(format!("close code {code} may not be sent")));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| bad_utf8())?;
            Ok(CloseFrame {
                code,
                reason: reason.to_owned(),
            })
        }
    }
}

/// A whole message from its unmasked payload.
#[inline]
pub(super) fn whole(text: bool, payload: Bytes) -> Result<Message, Violation> {
    Message::from_payload(text, payload).ok_or_else(bad_utf8)
}
