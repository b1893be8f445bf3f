//! Threads and blocking: which calls block, for how long at most, and from
//! which threads each may be called.
//!
//! # The reader thread
//!
//! Each socket owns one reader thread (`wsock-reader`). It reads the
//! connection, decodes frames, answers pings and close frames, runs the
//! deadlines (keepalive, the receive and close timeouts), and hands whole
//! messages to the receiving side over a std `mpsc` channel. Sending
//! happens on the caller's thread, and the reader thread never waits for a
//! socket write, so two peers sending large messages at each other cannot
//! deadlock. While a thread keeps waiting in `recv`, the reader thread
//! stands aside and that thread reads the socket itself (no hand-over
//! between threads per message); the reader thread takes over again
//! shortly after no one is receiving (50 ms, up to about a second), and at
//! once for a close or a failure. The reader thread ends when the
//! connection does, within the close timeout of a close or a drop.
//! Besides it: one `wsock-timer` thread per process while a deadline is
//! pending, and for a server one `wsock-acceptor` thread and a
//! `wsock-handshake` thread per upgrade in progress.
//!
//! # What may be called from where
//!
//! | type | thread safety | how to use it from several threads |
//! |---|---|---|
//! | [`MessageWebSocket`](crate::MessageWebSocket) | `Send + Sync`; every method takes `&self` | share it (`&` in scoped threads, or an `Arc`), or hand out [`Sender`](crate::Sender)s |
//! | [`Sender`](crate::Sender), [`Connection`](crate::Connection) | `Clone + Send + Sync` | one clone per thread |
//! | [`StreamWebSocket`](crate::StreamWebSocket) | `Send`, not `Sync`; `read`/`write` take `&mut self` | [`split`](crate::StreamWebSocket::split) it: a [`StreamReader`](crate::StreamReader) for one thread, a [`StreamWriter`](crate::StreamWriter) for another (both `Send`) |
//! | [`MessageReader`](crate::MessageReader), [`MessageWriter`](crate::MessageWriter) | not `Send`: they borrow the socket | use each on the thread that made it |
//! | [`Server`](crate::Server), [`Request`](crate::Request) | `Send + Sync` | move a `Request` to a worker thread to decide on it there |
//! | [`Hub`](crate::Hub), [`ShutdownHandle`](crate::ShutdownHandle) | `Clone + Send + Sync` | one clone per thread |
//!
//! # Every call that can block
//!
//! "At most" is the bound with the default settings; each bound is a
//! setting of the [`Builder`](crate::Builder) or the
//! [`ServerBuilder`](crate::ServerBuilder). A keepalive failure
//! ([`ping_interval`](crate::Builder::ping_interval) 20 s, then
//! [`pong_timeout`](crate::Builder::pong_timeout) 20 s) ends any wait on a
//! peer that went silent, so "no bound" below means "as long as the peer
//! is alive and quiet".
//!
//! **Connecting**
//!
//! | call | waits for | at most |
//! |---|---|---|
//! | [`MessageWebSocket::connect`](crate::MessageWebSocket::connect), [`StreamWebSocket::connect`](crate::StreamWebSocket::connect), [`Builder::connect`](crate::Builder::connect) | DNS, TCP (up to 5 addresses), proxy, TLS, the upgrade, redirects | [`connect_timeout`](crate::Builder::connect_timeout): 60 s for all of it |
//! | [`Reconnect`](crate::Reconnect)`::next` | a backoff wait (1 s doubling to 60 s), then a connect | no bound: it tries again until a connect succeeds or a failure would only repeat |
//!
//! **Sending** (on [`MessageWebSocket`](crate::MessageWebSocket),
//! [`Sender`](crate::Sender) and [`Connection`](crate::Connection))
//!
//! | call | waits for | at most |
//! |---|---|---|
//! | [`send`](crate::MessageWebSocket::send), [`send_text`](crate::MessageWebSocket::send_text), [`send_binary`](crate::MessageWebSocket::send_binary) | its turn to write, then the message on the wire | [`send_timeout`](crate::Builder::send_timeout): 30 s per message, then the connection fails; behind a live `MessageWriter` it waits until that writer finishes |
//! | [`send_all`](crate::MessageWebSocket::send_all) | the whole batch on the wire | one send timeout for the batch |
//! | [`ping`](crate::MessageWebSocket::ping) | the ping on the wire | the send timeout |
//! | [`round_trip(t)`](crate::MessageWebSocket::round_trip) | the peer's pong | `t`; a `Timeout` leaves the connection open |
//! | [`send_writer`](crate::MessageWebSocket::send_writer), then `write` and [`finish`](crate::MessageWriter::finish) | its turn to write; each frame on the wire | the send timeout per frame; the writer keeps every other sender waiting until it is finished or dropped |
//! | [`try_send`](crate::MessageWebSocket::try_send), [`Hub::broadcast`](crate::Hub::broadcast), [`broadcast`](crate::broadcast) | nothing | never wait: a full queue is [`TrySendError::Full`](crate::TrySendError::Full) (or a skipped connection) |
//!
//! **Receiving** (on [`MessageWebSocket`](crate::MessageWebSocket))
//!
//! | call | waits for | at most |
//! |---|---|---|
//! | [`recv`](crate::MessageWebSocket::recv), [`messages`](crate::MessageWebSocket::messages)`().next()` | the next whole message, or the end | no bound while idle; once a message has begun, [`receive_timeout`](crate::Builder::receive_timeout): 30 s for the rest, then the connection fails |
//! | [`recv_timeout(d)`](crate::MessageWebSocket::recv_timeout), [`recv_for(d)`](crate::MessageWebSocket::recv_for) | the same | `d`, counted once no other thread is receiving |
//! | [`try_recv`](crate::MessageWebSocket::try_recv) | nothing from the network | no wait, unless another thread is receiving: then until it is done |
//! | [`recv_reader`](crate::MessageWebSocket::recv_reader), then [`MessageReader`](crate::MessageReader)`::read` | the next message's first frame; then its next frame | as `recv`: no bound for the first frame, the receive timeout within the message |
//!
//! **Closing**
//!
//! | call | waits for | at most |
//! |---|---|---|
//! | [`MessageWebSocket::close`](crate::MessageWebSocket::close), [`Sender::close`](crate::Sender::close) | the peer's close frame | [`close_timeout`](crate::Builder::close_timeout): 5 s, then the connection is cut and up to 2 s more for its end to be reported |
//! | [`StreamWebSocket::close`](crate::StreamWebSocket::close), [`StreamWriter::close`](crate::StreamWriter::close) | a flush, then the same | the write timeout (default: the send timeout), then as above |
//! | [`Connection::close`](crate::Connection::close) | nothing | no wait; the hub's `Closed` event follows |
//! | dropping a `MessageWebSocket` | nothing | no wait: the close handshake finishes in the background, cut at the close timeout |
//! | dropping a `StreamWebSocket` or `StreamWriter` | a flush of what is buffered | the write timeout, then no wait |
//!
//! **Stream mode** (`&mut self`)
//!
//! | call | waits for | at most |
//! |---|---|---|
//! | `read` | data, or the end | [`set_read_timeout`](crate::StreamWebSocket::set_read_timeout) (none by default); within a message, the receive timeout |
//! | `write`, `flush` | a write that fills the buffer, or a flush, waits for the wire | [`set_write_timeout`](crate::StreamWebSocket::set_write_timeout), by default the send timeout (30 s); then the connection fails |
//!
//! **Server**
//!
//! | call | waits for | at most |
//! |---|---|---|
//! | [`Server::bind`](crate::Server::bind) | nothing from the network | no wait |
//! | [`accept`](crate::Server::accept), [`incoming`](crate::Server::incoming)`().next()` | a client's complete upgrade request | no bound; ends at [`shutdown`](crate::ShutdownHandle::shutdown) |
//! | [`accept_message`](crate::Request::accept_message), [`accept_stream`](crate::Request::accept_stream), [`accept_into`](crate::Request::accept_into) | the 101 answer on the wire | [`handshake_timeout`](crate::ServerBuilder::handshake_timeout): 10 s |
//! | [`reject`](crate::Request::reject), [`respond`](crate::Request::respond) | the answer on the wire | the handshake timeout, plus up to 1 s reading a request body to discard |
//! | dropping a `Request` | a 503 on the wire | 250 ms |
//! | dropping the `Server` | its acceptor thread to stop | brief; up to the handshake timeout while [`max_pending_handshakes`](crate::ServerBuilder::max_pending_handshakes) (256) handshakes are in progress |
//! | [`ShutdownHandle::shutdown`](crate::ShutdownHandle::shutdown) | nothing | no wait |
//! | [`ShutdownHandle::shutdown_gracefully`](crate::ShutdownHandle::shutdown_gracefully) | every accepted connection to end | the close timeout plus 2 s |
//!
//! **Hub**
//!
//! | call | waits for | at most |
//! |---|---|---|
//! | [`Hub::recv`](crate::Hub::recv) | an event from any connection | no bound |
//! | [`Hub::recv_timeout(d)`](crate::Hub::recv_timeout) | the same | `d`, counted once no other thread is receiving from the hub |
//! | [`Hub::try_recv`](crate::Hub::try_recv) | nothing | no wait, unless another thread is receiving from the hub |
//!
//! Calls not listed ([`info`](crate::MessageWebSocket::info),
//! [`sender`](crate::MessageWebSocket::sender),
//! [`close_frame`](crate::MessageWebSocket::close_frame),
//! [`Hub::connections`](crate::Hub::connections), the builders) do not
//! block.
//!
//! # Receive on one thread, send from many
//!
//! ```
//! use std::time::Duration;
//! use wsock::{MessageWebSocket, Server};
//!
//! fn shared_between_threads<T: Send + Sync>(_: &T) {}
//! # // The table above, checked.
//! # fn send<T: Send>() {}
//! # fn send_sync<T: Send + Sync>() {}
//! # fn clone_send_sync<T: Clone + Send + Sync>() {}
//! # clone_send_sync::<wsock::Sender>();
//! # clone_send_sync::<wsock::Connection>();
//! # clone_send_sync::<wsock::Hub>();
//! # clone_send_sync::<wsock::ShutdownHandle>();
//! # send::<wsock::StreamWebSocket>();
//! # send::<wsock::StreamReader>();
//! # send::<wsock::StreamWriter>();
//! # send_sync::<wsock::Server>();
//! # send_sync::<wsock::Request>();
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
//! // `url` is an echo server's.
//! let ws = MessageWebSocket::connect(&url)?;
//! shared_between_threads(&ws);
//!
//! std::thread::scope(|s| -> wsock::Result<()> {
//!     for n in 0..2 {
//!         let ws = &ws; // &self is enough to send
//!         s.spawn(move || {
//!             for i in 0..50 {
//!                 ws.send_text(format!("{n}:{i}"))?;
//!             }
//!             Ok::<(), wsock::Error>(())
//!         });
//!     }
//!     // Meanwhile this thread receives all hundred echoes.
//!     for _ in 0..100 {
//!         ws.recv_timeout(Duration::from_secs(10))?;
//!     }
//!     Ok(())
//! })?;
//! ws.close(1000, "done")?;
//! # Ok::<(), wsock::Error>(())
//! ```
//!
//! # What not to do
//!
//! - **Receiving on two threads at once.** One thread receives at a time;
//!   the others wait for it. A `try_recv` or `recv_timeout(d)` on a second
//!   thread waits as long as the first one's `recv`, whatever `d`. Receive
//!   on one thread and hand the messages on.
//! - **Holding a [`MessageReader`](crate::MessageReader) while another
//!   thread is to receive.** The reader holds the receiving side until it
//!   is dropped: read it to `Ok(0)`, or drop it, first.
//! - **Sending on the thread that holds a
//!   [`MessageWriter`](crate::MessageWriter).** The send waits for the
//!   writer, and the writer for the send: it never returns. Finish the
//!   writer first. Holding a writer for long also holds back other
//!   threads' sends and the close frame, and pongs go out only with its
//!   next frame.
//! - **Not receiving at all.** Received messages wait in memory up to
//!   [`receive_queue_limit`](crate::Builder::receive_queue_limit) (8 MiB);
//!   then the socket stops reading, and while it does it answers no pings,
//!   so the peer's keepalive may end the connection. A program that only
//!   sends should still drain `recv` on some thread.
//! - **Using `recv_timeout` as a clock.** It bounds one wait for a
//!   message; an idle connection is not an error. To notice a dead peer,
//!   rely on keepalive (on by default), or measure with
//!   [`round_trip`](crate::MessageWebSocket::round_trip).
//! - **Blocking sends to many peers from one thread.** One slow peer holds
//!   the loop for up to the send timeout. Use
//!   [`try_send`](crate::MessageWebSocket::try_send) or
//!   [`Hub::broadcast`](crate::Hub::broadcast), which never wait.
//!
//! See also: [Errors](super::errors) for what each timeout returns.
