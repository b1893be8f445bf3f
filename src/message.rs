//! The [`Message`] type: one whole text or binary message.

use tungstenite::{Bytes, Utf8Bytes};

/// Text or binary: the kind of a message sent or received in parts
/// ([`MessageWebSocket::send_writer`](crate::MessageWebSocket::send_writer),
/// [`MessageWebSocket::recv_reader`](crate::MessageWebSocket::recv_reader)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// UTF-8 text.
    Text,
    /// Bytes.
    Binary,
}

/// A whole WebSocket message.
///
/// Exactly two variants, so a `match` on them is exhaustive: ping, pong and
/// close frames are the engine's business. The payloads are reference-counted
/// buffers (`Utf8Bytes` derefs to `&str`, `Bytes` to `&[u8]`), so a received
/// message is handed over without a copy and cloning is cheap.
///
/// Small messages that arrived in one socket read share that read's buffer
/// (up to 64 KiB): no allocation per message. A program that keeps a few
/// received messages for long (a history, a cache) and wants only their
/// own bytes kept should copy them (`Bytes::copy_from_slice`).
///
/// ```
/// use wsock::Message;
/// let m = Message::Text("hi".into());
/// assert_eq!(m.as_text(), Some("hi"));
/// let b = Message::Binary(vec![1u8, 2].into());
/// assert_eq!(b.as_bytes(), &[1, 2]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message (always valid UTF-8).
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
}

impl Message {
    /// The text, if this is a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(t) => Some(t.as_str()),
            Message::Binary(_) => None,
        }
    }

    /// The payload bytes (for text, its UTF-8 encoding).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(t) => t.as_bytes(),
            Message::Binary(b) => b,
        }
    }

    /// The payload length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// True if the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.as_bytes().is_empty()
    }

    /// True for a text message.
    pub fn is_text(&self) -> bool {
        matches!(self, Message::Text(_))
    }

    /// A text (`text`) or binary message from its payload; `None` if the
    /// text is not UTF-8.
    #[inline]
    pub(crate) fn from_payload(text: bool, payload: Bytes) -> Option<Message> {
        Some(if text {
            Message::Text(Utf8Bytes::try_from(payload).ok()?)
        } else {
            Message::Binary(payload)
        })
    }

    /// The payload, text or binary alike.
    pub(crate) fn into_payload(self) -> Bytes {
        match self {
            Message::Text(t) => Bytes::from(t),
            Message::Binary(b) => b,
        }
    }

    /// True for a binary message.
    pub fn is_binary(&self) -> bool {
        matches!(self, Message::Binary(_))
    }
}

impl From<&str> for Message {
    fn from(s: &str) -> Message {
        Message::Text(s.into())
    }
}

impl From<String> for Message {
    fn from(s: String) -> Message {
        Message::Text(s.into())
    }
}

impl From<Vec<u8>> for Message {
    fn from(v: Vec<u8>) -> Message {
        Message::Binary(v.into())
    }
}

impl From<&[u8]> for Message {
    fn from(v: &[u8]) -> Message {
        Message::Binary(Bytes::copy_from_slice(v))
    }
}

/// Why `try_send` did not queue a message; the message comes back, as with
/// [`std::sync::mpsc::TrySendError`].
///
/// ```
/// use wsock::{Message, TrySendError};
///
/// fn offer(tx: &wsock::Sender, update: Message) {
///     match tx.try_send(update) {
///         Ok(()) => {}
///         // The peer reads slowly: skip this update, the next one follows.
///         Err(TrySendError::Full(_skipped)) => {}
///         Err(TrySendError::Closed(_, why)) => eprintln!("gone: {why}"),
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub enum TrySendError {
    /// The send queue is full (`outbound_queue_limit`): the peer reads more
    /// slowly than this side sends. The connection lives on; try again
    /// later, or drop the message.
    Full(Message),
    /// The connection cannot send any more: the message, and why (its
    /// status says whether it was closed or failed).
    Closed(Message, crate::Error),
}

impl TrySendError {
    /// The message that was not queued.
    pub fn into_message(self) -> Message {
        match self {
            TrySendError::Full(m) | TrySendError::Closed(m, _) => m,
        }
    }

    /// [`Status::QueueFull`](crate::Status::QueueFull), or the status of
    /// the error that ended the connection.
    pub fn status(&self) -> crate::Status {
        match self {
            TrySendError::Full(_) => crate::Status::QueueFull,
            TrySendError::Closed(_, e) => e.status(),
        }
    }
}

impl std::fmt::Display for TrySendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("the send queue is full (outbound_queue_limit)"),
            TrySendError::Closed(_, e) => write!(f, "cannot send: {e}"),
        }
    }
}

impl std::error::Error for TrySendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TrySendError::Full(_) => None,
            TrySendError::Closed(_, e) => Some(e),
        }
    }
}

/// For `?` in a function that returns [`wsock::Result`](crate::Result):
/// `Full` becomes [`Error::QueueFull`](crate::Error::QueueFull) (the
/// message is dropped), `Closed` its error.
impl From<TrySendError> for crate::Error {
    fn from(e: TrySendError) -> crate::Error {
        match e {
            TrySendError::Full(_) => crate::Error::QueueFull,
            TrySendError::Closed(_, e) => e,
        }
    }
}
