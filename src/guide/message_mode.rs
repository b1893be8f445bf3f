//! Message mode: how to exchange whole text and binary messages with a
//! [`MessageWebSocket`](crate::MessageWebSocket) (chat, games, tickers, RPC).
//!
//! # Connect
//!
//! [`MessageWebSocket::connect`](crate::MessageWebSocket::connect) takes a
//! `ws://` or `wss://` URL and returns once the upgrade is done. For
//! settings, start from [`MessageWebSocket::builder`](crate::MessageWebSocket::builder):
//! subprotocols ([`protocols`](crate::Builder::protocols)), headers
//! ([`header`](crate::Builder::header)), credentials
//! ([`basic_auth`](crate::Builder::basic_auth)), a proxy
//! ([`proxy`](crate::Builder::proxy)), the timeouts and the size limits.
//! A bad setting never panics: `connect` returns
//! [`Status::InvalidArgument`](crate::Status::InvalidArgument). A server
//! gets the same socket type from
//! [`Request::accept_message`](crate::Request::accept_message).
//!
//! # Send
//!
//! - [`send_text`](crate::MessageWebSocket::send_text),
//!   [`send_binary`](crate::MessageWebSocket::send_binary) and
//!   [`send`](crate::MessageWebSocket::send) take `&self` and return once
//!   the message is written to the socket. A send that cannot finish within
//!   the send timeout (30 s) fails, and so does the connection.
//! - Any number of threads may send at once, through `&self` or through
//!   [`Sender`](crate::Sender) handles from
//!   [`sender`](crate::MessageWebSocket::sender) (`Clone + Send + Sync`).
//!   Each message leaves whole; messages never interleave.
//! - [`send_all`](crate::MessageWebSocket::send_all) sends a batch, many
//!   frames per system call, within one send timeout.
//! - [`try_send`](crate::MessageWebSocket::try_send) queues without waiting
//!   and gives the message back in [`TrySendError::Full`](crate::TrySendError::Full)
//!   when the peer is too far behind (`outbound_queue_limit`, 16 MiB).
//!
//! # Receive
//!
//! | call | returns |
//! |---|---|
//! | [`recv`](crate::MessageWebSocket::recv) | the next whole message; waits as long as the connection lives |
//! | [`recv_timeout(d)`](crate::MessageWebSocket::recv_timeout) | the next message, or an error of status [`Timeout`](crate::Status::Timeout) after `d` (the connection lives on) |
//! | [`recv_for(d)`](crate::MessageWebSocket::recv_for) | `Ok(Some(message))`, `Ok(None)` after `d`, `Err` only at the end |
//! | [`try_recv`](crate::MessageWebSocket::try_recv) | `Ok(None)` at once when nothing is queued |
//! | [`messages`](crate::MessageWebSocket::messages) | an iterator: ends (`None`) after a normal close, yields one `Err` after any other end |
//!
//! A [`Message`](crate::Message) has exactly two variants, `Text` and
//! `Binary`, so a `match` on it is exhaustive: pings, pongs and close frames
//! are answered by the socket, never handed to the program.
//! [`as_text`](crate::Message::as_text) and
//! [`as_bytes`](crate::Message::as_bytes) borrow the payload; `From<&str>`,
//! `From<String>`, `From<Vec<u8>>` and `From<&[u8]>` build one.
//!
//! A message larger than [`max_message_size`](crate::Builder::max_message_size)
//! (64 MiB) closes the connection with 1009, and `recv` fails with
//! [`Status::MessageTooBig`](crate::Status::MessageTooBig). While received
//! messages that no one has taken hold more than
//! [`receive_queue_limit`](crate::Builder::receive_queue_limit) (8 MiB),
//! the socket stops reading, so a fast peer meets TCP flow control instead
//! of growing the heap.
//!
//! # Close
//!
//! [`close(code, reason)`](crate::MessageWebSocket::close) sends a close
//! frame and waits up to the close timeout (5 s) for the peer's. It is `Ok`
//! once the peer's close frame arrived; otherwise it returns what ended the
//! connection. Dropping the socket starts the same handshake (1000 from a
//! client, 1001 from a server) without waiting.
//!
//! After the end, every receive call returns the same error. After a close
//! handshake its [`close_frame`](crate::Error::close_frame) is the peer's
//! code and reason (the Closed event); after an abnormal end it is `None`
//! and [`status`](crate::Error::status) says why.
//! [`MessageWebSocket::close_frame`](crate::MessageWebSocket::close_frame)
//! gives the same frame after a `messages()` loop, which ends without an
//! error on codes 1000, 1001 and 1005.
//!
//! # A whole exchange
//!
//! A client sends text and binary, a second thread sends through a
//! [`Sender`](crate::Sender) while the first receives, and the close ends it.
//!
//! ```
//! use std::time::Duration;
//! use wsock::{Message, MessageWebSocket, Server};
//!
//! const WAIT: Duration = Duration::from_secs(10);
//!
//! // An echo server on a free port of this machine.
//! let server = Server::bind("127.0.0.1:0")?;
//! let url = format!("ws://{}/echo", server.local_addr()?);
//! std::thread::spawn(move || -> wsock::Result<()> {
//!     let ws = server.accept()?.accept_message()?;
//!     for message in ws.messages() {
//!         ws.send(message?)?;
//!     }
//!     Ok(())
//! });
//!
//! let ws = MessageWebSocket::connect(&url)?;
//! ws.send_text("hello")?;
//! ws.send_binary([1u8, 2, 3])?;
//!
//! // Another thread sends while this one receives.
//! let tx = ws.sender();
//! let other = std::thread::spawn(move || tx.send(Message::from("from another thread")));
//!
//! assert_eq!(ws.recv_timeout(WAIT)?.as_text(), Some("hello"));
//! assert_eq!(ws.recv_timeout(WAIT)?.as_bytes(), &[1, 2, 3]);
//! match ws.recv_timeout(WAIT)? {
//!     Message::Text(text) => assert_eq!(text.as_str(), "from another thread"),
//!     Message::Binary(bytes) => panic!("{} bytes", bytes.len()),
//! }
//! other.join().unwrap()?;
//!
//! // Nothing more is coming: `recv_for` says so, and the connection lives on.
//! assert_eq!(ws.recv_for(Duration::from_millis(20))?, None);
//!
//! ws.close(1000, "done")?; // waits for the server's close frame
//! let end = ws.recv().unwrap_err(); // the end is queued: no wait
//! assert_eq!(end.close_frame().map(|f| f.code), Some(1000));
//! # Ok::<(), wsock::Error>(())
//! ```
//!
//! # Messages in parts
//!
//! A message too large to hold, or made piece by piece, goes in parts (the
//! Windows `PartialMessage` mode):
//!
//! - [`send_writer(kind)`](crate::MessageWebSocket::send_writer) returns a
//!   [`MessageWriter`](crate::MessageWriter): an `io::Write` that sends one
//!   frame per `write`, and the final frame on
//!   [`finish`](crate::MessageWriter::finish) (or drop). Until then other
//!   senders on the connection wait, so write the parts promptly, and never
//!   send on the same thread while the writer lives. A text writer accepts
//!   UTF-8 split anywhere and refuses bytes that are not UTF-8.
//! - [`recv_reader`](crate::MessageWebSocket::recv_reader) waits for the
//!   next message and returns a [`MessageReader`](crate::MessageReader): an
//!   `io::Read` over its payload as the frames arrive, `Ok(0)` at its end.
//!   `max_message_size` does not apply; each frame is bounded by
//!   [`max_frame_size`](crate::Builder::max_frame_size) (64 MiB) instead.
//!   Other receiving calls wait until the reader is dropped; a reader
//!   dropped early skips the rest of its message.
//!
//! Either side may use parts while the other sends or receives whole
//! messages: the peer sees the same message.
//!
//! ```
//! use std::io::{Read, Write};
//! use wsock::{MessageKind, MessageWebSocket, Server};
//!
//! # let server = Server::bind("127.0.0.1:0")?;
//! # let url = format!("ws://{}/", server.local_addr()?);
//! # std::thread::spawn(move || -> wsock::Result<()> {
//! #     let ws = server.accept()?.accept_message()?;
//! #     for message in ws.messages() {
//! #         ws.send(message?)?;
//! #     }
//! #     Ok(())
//! # });
//! // `url` is an echo server's, as above.
//! let ws = MessageWebSocket::connect(&url)?;
//!
//! // Out: one message in three frames.
//! let mut writer = ws.send_writer(MessageKind::Text)?;
//! for part in ["one message, ", "three ", "frames"] {
//!     writer.write_all(part.as_bytes())?;
//! }
//! writer.finish()?;
//!
//! // In: its echo, read as it arrives.
//! let mut reader = ws.recv_reader()?;
//! assert_eq!(reader.kind(), MessageKind::Text);
//! let mut text = String::new();
//! reader.read_to_string(&mut text)?;
//! assert_eq!(text, "one message, three frames");
//! drop(reader); // receiving calls wait while a reader lives
//!
//! ws.close(1000, "done")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Compression and information
//!
//! permessage-deflate is on by default: a client offers it, a server
//! accepts it, and data messages of 128 bytes or more go compressed
//! ([`Deflate`](crate::Deflate) has the settings;
//! [`compression(None)`](crate::Builder::compression) turns it off).
//! [`info`](crate::MessageWebSocket::info) returns the
//! [`Info`](crate::Info): addresses, the agreed subprotocol and compression,
//! bytes and messages each way, the last ping's round trip, the bytes
//! waiting in the send queue, and the TLS session.
//!
//! See also: [Threads and blocking](super::threads_and_blocking) for how
//! long each call may take, [Errors](super::errors) for every way a
//! connection ends.
