//! Blocking, full-duplex WebSockets for programs built on plain std threads.
//!
//! wsock speaks RFC 6455 as client and server with no async runtime: a
//! socket is as easy as a `TcpStream`, one thread can block in `recv` while
//! others send, and every failure ends in bounded time with a [`Status`].
//!
//! ```
//! use wsock::{Message, MessageWebSocket, Server};
//!
//! // An echo server on a free local port, in a thread.
//! let server = Server::bind("127.0.0.1:0")?;
//! let url = format!("ws://{}/echo", server.local_addr()?);
//! std::thread::spawn(move || {
//!     for request in server.incoming() {
//!         let ws = request?.accept_message()?;
//!         std::thread::spawn(move || {
//!             for m in ws.messages() {
//!                 let Ok(m) = m else { break };
//!                 let _ = ws.send(m);
//!             }
//!         });
//!     }
//!     Ok::<(), wsock::Error>(())
//! });
//!
//! // A client: send, receive the echo, close.
//! let ws = MessageWebSocket::connect(&url)?;
//! ws.send_text("Hello, World!")?;
//! assert_eq!(ws.recv()?, Message::Text("Hello, World!".into()));
//! ws.close(1000, "bye")?;
//! let closed = ws.recv().unwrap_err();
//! assert_eq!(closed.close_frame().map(|f| f.code), Some(1000));
//! # Ok::<(), wsock::Error>(())
//! ```
//!
//! # Threads and blocking
//!
//! Each socket owns one reader thread. It reads the connection, answers
//! pings and close frames, and queues whole messages for
//! [`recv`](MessageWebSocket::recv) over a std `mpsc` channel. While a
//! thread keeps calling `recv`, the reader thread stands aside and that
//! thread reads the socket itself, so a request/response loop costs no
//! hand-over between threads; the reader thread takes over again as soon
//! as no one is receiving (within about a second at most), so pings are
//! answered and deadlines kept whatever the program does. Sending
//! happens on the caller's thread: `send` returns once the message is
//! written to the socket, or fails after the send timeout. Any number of
//! threads may send at once through `&self` or [`Sender`] handles; each
//! message leaves whole, never interleaved with another. The reader never
//! blocks on a socket write, so two peers sending large messages at each
//! other cannot deadlock.
//!
//! # Sending to many: queues that never wait
//!
//! A server that pushes to many clients (chat, tickers, dashboards) must
//! not wait for one that stopped reading. Besides the blocking sends, each
//! connection has a send queue with a byte limit (`outbound_queue_limit`,
//! 16 MiB): [`try_send`](MessageWebSocket::try_send) queues a message and
//! returns at once, or gives it back in [`TrySendError::Full`] when that
//! peer is too far behind; [`Hub::broadcast`] (and [`broadcast`] over any
//! [`Sender`]s) queues one message on every connection, encoded once, and
//! skips or closes the slow ones as [`WhenFull`] says.
//! [`send_all`](MessageWebSocket::send_all) sends a batch many frames per
//! system call. [`Info::queued_bytes`] is what waits;
//! [`round_trip`](MessageWebSocket::round_trip) times a ping.
//!
//! ```
//! use wsock::{Hub, HubEvent, MessageWebSocket, Server};
//!
//! let server = Server::bind("127.0.0.1:0")?;
//! let url = format!("ws://{}/prices", server.local_addr()?);
//! let hub = Hub::new();
//! let accepting = hub.clone();
//! std::thread::spawn(move || {
//!     for request in server.incoming() {
//!         let _ = request.and_then(|r| r.accept_into(&accepting));
//!     }
//! });
//! let subscriber = MessageWebSocket::connect(&url)?;
//! // Wait until the hub has it, then push a price to every subscriber.
//! while !matches!(hub.recv(), HubEvent::Opened(_)) {}
//! assert_eq!(hub.broadcast(&"EURUSD 1.0842".into()), 1);
//! assert_eq!(subscriber.recv()?.as_text(), Some("EURUSD 1.0842"));
//! # Ok::<(), wsock::Error>(())
//! ```
//!
//! Every wait is bounded: connecting by the connect timeout (60 s, one budget
//! across all addresses), a message in progress by the receive timeout
//! (30 s), a send by the send timeout (30 s), a close by the close timeout
//! (5 s), a server-side handshake by the handshake timeout (10 s). An idle
//! connection between messages never times out.
//!
//! # Closing
//!
//! [`close`](MessageWebSocket::close) sends a close frame and waits for the
//! peer's. Dropping a socket starts the same handshake (1000 from a client,
//! 1001 from a server) without blocking; a stream's writer first sends what
//! it buffered (bounded by the send timeout), so no written byte is lost.
//! After the end, `recv` returns an [`Error`]: [`close_frame`](Error::close_frame) gives the peer's code and
//! reason after a close handshake (the Closed event), and is `None` after an
//! abnormal end, whose [`status`](Error::status) says why.
//!
//! # Compression
//!
//! permessage-deflate (RFC 7692) is on by default in both roles: a client
//! offers it, a server accepts it, and data messages of 128 bytes or more
//! go compressed. [`Deflate`] sets the level, the windows, context
//! takeover and that threshold; `compression(None)` on either builder
//! turns it off, and [`Info::compression`] says what was agreed. The size
//! limits count inflated bytes (a zip bomb gets 1009 before it is
//! inflated). A connection allocates its compression state on the first
//! compressed message, so an idle one holds none.
//!
//! # Errors
//!
//! One [`Error`] type; its `Display` names what failed and where, and
//! [`Error::status`] classifies it ([`Status::CannotConnect`],
//! [`Status::HostNameNotResolved`], [`Status::Timeout`],
//! [`Status::UnexpectedStatusCode`], ...). Bad input from a peer never
//! panics: invalid UTF-8 closes with 1007, an oversize message with 1009,
//! a protocol violation with 1002.
//!
//! # Logging
//!
//! wsock logs through the `log` crate: failures at `warn` and `debug`,
//! frames at `trace` (from tungstenite).
//!
//! # MSRV
//!
//! Rust 1.85.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod codec;
mod connect;
mod deflate;
mod engine;
mod error;
/// The guide: one page per topic (message mode, stream mode, the server,
/// threads and blocking, errors, coming from Windows or from tungstenite).
pub mod guide;
mod hub;
mod inbox;
mod info;
mod message;
mod message_socket;
mod options;
mod parts;
mod server;
mod stream;
mod sync;
mod time;
mod timer;
#[cfg(feature = "tls")]
mod tls;
mod transport;

pub use deflate::Deflate;
pub use error::{CloseFrame, Error, Result, Status};
pub use hub::{broadcast, Connection, Hub, HubEvent, WhenFull};
pub use info::{ByteCounter, Info, TlsInfo};
pub use message::{Message, MessageKind, TrySendError};
pub use message_socket::{MessageWebSocket, Messages, Sender};
pub use options::{Builder, Connect, Reconnect, ServerBuilder};
pub use parts::{MessageReader, MessageWriter};
/// The rustls crate, for [`Builder::tls_config`] and [`ServerBuilder::tls_config`].
#[cfg(feature = "tls")]
pub use rustls;
pub use server::{Incoming, Request, Server, ShutdownHandle};
pub use stream::{StreamReader, StreamWebSocket, StreamWriter};
/// The payload types of [`Message`] (re-exported from tungstenite).
pub use tungstenite::{Bytes, Utf8Bytes};

/// The README's examples, compiled by `cargo test`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
