//! Stream mode: how to move bytes through a
//! [`StreamWebSocket`](crate::StreamWebSocket), a byte pipe with
//! `std::io::Read` and `std::io::Write` (files, video, `io::copy`, codecs).
//!
//! # What a stream is
//!
//! Writes become binary messages; reads return the payload bytes of
//! incoming messages in order, across message boundaries, into buffers of
//! any size. Message boundaries are invisible: read as from a `TcpStream`.
//! A peer in message mode may talk to a stream: its binary and text
//! messages arrive as bytes (text as its UTF-8), and it receives the
//! stream's writes as binary messages.
//!
//! Connect with [`StreamWebSocket::connect`](crate::StreamWebSocket::connect)
//! or [`StreamWebSocket::builder`](crate::StreamWebSocket::builder) (the
//! same settings as message mode); a server accepts one with
//! [`Request::accept_stream`](crate::Request::accept_stream).
//!
//! # Writing
//!
//! - Small writes are gathered in a buffer of
//!   [`stream_write_buffer`](crate::Builder::stream_write_buffer) bytes
//!   (256 KiB) and leave as one message when it fills.
//!   [`flush`](std::io::Write::flush) sends what is buffered: **flush when
//!   the peer must see the bytes now** (a request waiting for its answer).
//! - A write of at least the buffer's size, arriving with the buffer empty,
//!   goes out from the caller's memory as messages of at most 1 MiB.
//! - Each `write` or `flush` that sends must be on the wire within the send
//!   timeout (30 s), or within
//!   [`set_write_timeout`](crate::StreamWebSocket::set_write_timeout) when
//!   set. When it passes the connection fails: part of a message cannot be
//!   taken back.
//! - Every byte written arrives, in order, exactly once.
//!
//! # Reading
//!
//! - `read` waits for data; `Ok(0)` means the connection ended with a
//!   close handshake (started by either side), after all the data. An
//!   abnormal end is an error.
//! - [`set_read_timeout`](crate::StreamWebSocket::set_read_timeout) bounds
//!   each `read` (none by default); a read that times out fails with
//!   `io::ErrorKind::TimedOut` and the stream lives on.
//! - A message's frames are handed on as they arrive, so
//!   [`max_message_size`](crate::Builder::max_message_size) does not apply;
//!   [`max_frame_size`](crate::Builder::max_frame_size) (64 MiB) bounds each
//!   frame, and a reader that falls behind stops the peer through TCP flow
//!   control ([`receive_queue_limit`](crate::Builder::receive_queue_limit),
//!   8 MiB).
//!
//! # Errors
//!
//! `read` and `write` return `io::Error`s that carry a
//! [`wsock::Error`](crate::Error): `get_ref()` and a downcast give it back,
//! with its [`status`](crate::Error::status). The `io::ErrorKind` follows
//! the status (`TimedOut`, `ConnectionReset`, `InvalidData` for a protocol
//! violation, ...).
//!
//! ```
//! fn status_of(e: &std::io::Error) -> Option<wsock::Status> {
//!     let inner = e.get_ref()?.downcast_ref::<wsock::Error>()?;
//!     Some(inner.status())
//! }
//! # let e = std::io::Error::from(wsock::Error::QueueFull);
//! # assert_eq!(status_of(&e), Some(wsock::Status::QueueFull));
//! ```
//!
//! # Closing
//!
//! [`close(code, reason)`](crate::StreamWebSocket::close) flushes, then
//! performs the close handshake (up to the close timeout, 5 s); the peer's
//! `read` returns `Ok(0)` after all the data. WebSocket has no half-close:
//! a close ends both directions, so close once the bytes you expect back
//! have arrived. Dropping the stream (or its writer half) flushes (which
//! waits as a write does) and starts a clean close without waiting for the
//! peer's answer.
//!
//! # Upload: one direction
//!
//! ```
//! use std::io::{Read, Write};
//! use wsock::{Server, StreamWebSocket};
//!
//! let server = Server::bind("127.0.0.1:0")?;
//! let url = format!("ws://{}/upload", server.local_addr()?);
//! let receiver = std::thread::spawn(move || -> std::io::Result<Vec<u8>> {
//!     let mut s = server.accept()?.accept_stream()?;
//!     s.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
//!     let mut all = Vec::new();
//!     s.read_to_end(&mut all)?; // until the client's close
//!     Ok(all)
//! });
//!
//! let data: Vec<u8> = (0..3_000_000u32).map(|i| i as u8).collect();
//! let mut s = StreamWebSocket::connect(&url)?;
//! std::io::copy(&mut &data[..], &mut s)?; // any Read: a file, a pipe, a slice
//! s.close(1000, "done")?; // flushes first
//! assert_eq!(receiver.join().unwrap()?, data);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Both directions on two threads
//!
//! [`split`](crate::StreamWebSocket::split) gives a
//! [`StreamReader`](crate::StreamReader) and a
//! [`StreamWriter`](crate::StreamWriter), both `Send`: one thread writes
//! while another reads, as with `TcpStream::try_clone`. Here the server
//! echoes what it reads; note its `flush` after each write, without which
//! the last bytes would wait in its buffer.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::time::Duration;
//! use wsock::{Server, StreamWebSocket};
//!
//! let server = Server::bind("127.0.0.1:0")?;
//! let url = format!("ws://{}/echo", server.local_addr()?);
//! std::thread::spawn(move || -> std::io::Result<()> {
//!     let (mut from, mut to) = server.accept()?.accept_stream()?.split();
//!     let mut buf = vec![0u8; 64 << 10];
//!     loop {
//!         let n = from.read(&mut buf)?;
//!         if n == 0 {
//!             return Ok(()); // the client closed
//!         }
//!         to.write_all(&buf[..n])?;
//!         to.flush()?; // send it now, not when 256 KiB have gathered
//!     }
//! });
//!
//! let (mut reader, mut writer) = StreamWebSocket::connect(&url)?.split();
//! reader.set_read_timeout(Some(Duration::from_secs(10)))?;
//! let sent: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
//! let to_send = sent.clone();
//! let writing = std::thread::spawn(move || -> std::io::Result<_> {
//!     writer.write_all(&to_send)?;
//!     writer.flush()?;
//!     Ok(writer) // handed back, to close once the echo is in
//! });
//! let mut echoed = vec![0u8; sent.len()];
//! reader.read_exact(&mut echoed)?; // while the other thread writes
//! assert_eq!(echoed, sent);
//! let mut writer = writing.join().unwrap()?;
//! writer.close(1000, "done")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Information
//!
//! [`info`](crate::StreamWebSocket::info) returns the same
//! [`Info`](crate::Info) as message mode: addresses, subprotocol,
//! compression, bytes each way, TLS.
//!
//! See also: [Threads and blocking](super::threads_and_blocking),
//! [Errors](super::errors), and `examples/sendfile.rs`.
