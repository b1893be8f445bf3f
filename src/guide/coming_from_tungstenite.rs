//! Coming from tungstenite: the same small program written with blocking
//! tungstenite and with wsock, and what differs between the two.
//!
//! The program connects, lets a second thread produce messages to send,
//! receives the server's replies on the first thread meanwhile, and
//! closes. Both versions run here against a wsock echo server (the hidden
//! lines), so both are tested.
//!
//! # With tungstenite
//!
//! `WebSocket::read` and `WebSocket::send` both take `&mut self`, so one
//! thread owns the socket and does both. The other thread hands its
//! messages over a channel, and the owner polls: a short read timeout on
//! the `TcpStream` makes `read` return now and then to send what is
//! queued. Closing means queueing a close frame and reading until
//! `ConnectionClosed`. Every bound is the program's to write.
//!
//! ```
//! use std::io::ErrorKind::{TimedOut, WouldBlock};
//! use std::sync::mpsc;
//! use std::time::{Duration, Instant};
//! use tungstenite::{stream::MaybeTlsStream, Error, Message};
//!
//! # let server = wsock::Server::bind("127.0.0.1:0")?;
//! # let url = format!("ws://{}/echo", server.local_addr()?);
//! # std::thread::spawn(move || -> wsock::Result<()> {
//! #     let ws = server.accept()?.accept_message()?;
//! #     for message in ws.messages() {
//! #         ws.send(message?)?;
//! #     }
//! #     Ok(())
//! # });
//! let (mut ws, _response) = tungstenite::connect(url.as_str())?;
//! // Poll: `read` must return now and then so that queued messages go out.
//! if let MaybeTlsStream::Plain(tcp) = ws.get_mut() {
//!     tcp.set_read_timeout(Some(Duration::from_millis(20)))?;
//! }
//!
//! let (tx, outgoing) = mpsc::channel::<String>();
//! let producer = std::thread::spawn(move || {
//!     for i in 0..3 {
//!         tx.send(format!("update {i}")).unwrap(); // not to the socket: to its owner
//!     }
//! });
//!
//! let deadline = Instant::now() + Duration::from_secs(10);
//! let mut replies = Vec::new();
//! while replies.len() < 3 && Instant::now() < deadline {
//!     for text in outgoing.try_iter() {
//!         ws.send(Message::text(text))?;
//!     }
//!     match ws.read() {
//!         Ok(Message::Text(text)) => replies.push(text.as_str().to_owned()),
//!         Ok(_) => {} // pings, pongs, binary
//!         Err(Error::Io(e)) if matches!(e.kind(), WouldBlock | TimedOut) => {}
//!         Err(e) => return Err(e.into()),
//!     }
//! }
//! producer.join().unwrap();
//! assert_eq!(replies, ["update 0", "update 1", "update 2"]);
//!
//! // Close: queue our close frame, then read until the handshake is over.
//! ws.close(None)?;
//! loop {
//!     match ws.read() {
//!         Err(Error::ConnectionClosed) => break,
//!         Err(Error::Io(e)) if matches!(e.kind(), WouldBlock | TimedOut) => {}
//!         Err(e) => return Err(e.into()),
//!         Ok(_) => {}
//!     }
//!     assert!(Instant::now() < deadline, "no close frame came back");
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # With wsock
//!
//! `recv` and `send` take `&self`, and a [`Sender`](crate::Sender) goes to
//! the other thread, which sends on the socket itself while this thread
//! waits in `recv`. No channel, no polling; the timeouts are built in.
//!
//! ```
//! use std::time::Duration;
//! use wsock::MessageWebSocket;
//!
//! # let server = wsock::Server::bind("127.0.0.1:0")?;
//! # let url = format!("ws://{}/echo", server.local_addr()?);
//! # std::thread::spawn(move || -> wsock::Result<()> {
//! #     let ws = server.accept()?.accept_message()?;
//! #     for message in ws.messages() {
//! #         ws.send(message?)?;
//! #     }
//! #     Ok(())
//! # });
//! let ws = MessageWebSocket::connect(&url)?;
//!
//! let tx = ws.sender();
//! let producer = std::thread::spawn(move || -> wsock::Result<()> {
//!     for i in 0..3 {
//!         tx.send_text(format!("update {i}"))?; // straight to the socket
//!     }
//!     Ok(())
//! });
//!
//! let mut replies = Vec::new();
//! for _ in 0..3 {
//!     let reply = ws.recv_timeout(Duration::from_secs(10))?;
//!     replies.push(reply.as_text().unwrap_or_default().to_owned());
//! }
//! producer.join().unwrap()?;
//! assert_eq!(replies, ["update 0", "update 1", "update 2"]);
//!
//! ws.close(1000, "done")?; // waits for the server's close frame (at most 5 s)
//! # Ok::<(), wsock::Error>(())
//! ```
//!
//! # What differs
//!
//! | | blocking tungstenite 0.30 (`WebSocket<TcpStream>`) | wsock |
//! |---|---|---|
//! | Full duplex | `read` and `send` take `&mut self`: one thread does both; other threads go through a channel, and `read` must be made to return (a read timeout, or a non-blocking socket) | `recv` and `send` take `&self`; [`Sender`](crate::Sender) is `Clone + Send + Sync`; one thread receives while any number send ([Threads and blocking](super::threads_and_blocking)) |
//! | Threads | none of its own | one reader thread per socket, which answers pings and runs the deadlines even while the program is busy |
//! | Connect timeout | none built in: each address is tried with `TcpStream::connect` and the system's timeout | [`connect_timeout`](crate::Builder::connect_timeout): 60 s for DNS, TCP, proxy, TLS and the upgrade together |
//! | Send and receive timeouts | what the program sets on the `TcpStream`; a timed-out write leaves the rest of the frame buffered, to be flushed later | [`send_timeout`](crate::Builder::send_timeout) per message (then the connection fails); [`receive_timeout`](crate::Builder::receive_timeout) for a message once begun; an idle connection never times out |
//! | Keepalive | none: pongs are answered when the program calls `read`; noticing a dead peer is the program's job | pings after 20 s of silence, failure 20 s later without an answer ([`ping_interval`](crate::Builder::ping_interval), [`pong_timeout`](crate::Builder::pong_timeout)) |
//! | Close | `close(None)` queues the frame; the program reads until `Error::ConnectionClosed`; dropping the socket sends nothing | [`close(code, reason)`](crate::MessageWebSocket::close) waits for the peer's close frame, at most the close timeout (5 s); dropping starts a clean close |
//! | The end | `Error::ConnectionClosed`, `AlreadyClosed`, `Io(..)`, `Protocol(..)`, ...; the peer's code arrives as `Message::Close(frame)` | one [`Error`](crate::Error): [`close_frame()`](crate::Error::close_frame) after a close handshake, else a [`Status`](crate::Status) that says why ([Errors](super::errors)) |
//! | Messages | `Text`, `Binary`, `Ping`, `Pong`, `Close`, `Frame` | [`Message`](crate::Message) is `Text` or `Binary`; control frames are handled inside |
//! | Compression | none | permessage-deflate, on by default ([`Deflate`](crate::Deflate)) |
//! | Proxies | none | HTTP `CONNECT` and SOCKS5, from [`proxy`](crate::Builder::proxy) or the environment (`https_proxy`, `all_proxy`, `no_proxy`, ...) |
//! | Redirects | `connect` follows up to 3 | up to [`max_redirects`](crate::Builder::max_redirects) (3), never from `wss://` to `ws://` |
//! | TLS | a feature to choose (`native-tls` or `rustls-tls-*`) | rustls with webpki-roots by default (the `tls` feature) |
//! | Size limits | 64 MiB per message, 16 MiB per frame | 64 MiB per message, 64 MiB per frame; beyond them the connection closes with 1009 |
//! | Large messages | whole messages only | in parts: [`recv_reader`](crate::MessageWebSocket::recv_reader), [`send_writer`](crate::MessageWebSocket::send_writer); or stream mode ([`StreamWebSocket`](crate::StreamWebSocket)) |
//! | Server | `tungstenite::accept` on a `TcpStream` the program accepted | [`Server`](crate::Server): handshakes on their own threads within a timeout, requests to inspect, plain HTTP answers, origins, shutdown ([The server](super::server)) |
//! | Many peers, one thread | non-blocking sockets and a poll loop of your own | [`Hub`](crate::Hub), with [`broadcast`](crate::Hub::broadcast) that never waits for a slow peer |
//!
//! wsock uses tungstenite itself, for the opening handshakes and the frame
//! header layer; it decodes and assembles messages on its own.
