//! The server: how to listen, decide on each client's request, serve the
//! connections, and stop, with [`Server`](crate::Server).
//!
//! # Bind
//!
//! [`Server::bind`](crate::Server::bind) listens on an address (port 0
//! picks a free one; [`local_addr`](crate::Server::local_addr) says which)
//! and starts accepting at once. [`Server::builder`](crate::Server::builder)
//! returns a [`ServerBuilder`](crate::ServerBuilder) with the server's own
//! settings and the connection settings of message mode (timeouts, size
//! limits, keepalive, compression), which apply to every connection it
//! accepts. `bind` fails with
//! [`AddressInUse`](crate::Status::AddressInUse),
//! [`PermissionDenied`](crate::Status::PermissionDenied) or
//! [`AddressNotAvailable`](crate::Status::AddressNotAvailable).
//!
//! # How requests arrive
//!
//! An acceptor thread accepts TCP connections and hands each to a
//! short-lived handshake thread, which reads the upgrade request within the
//! [`handshake_timeout`](crate::ServerBuilder::handshake_timeout) (10 s).
//! At most [`max_pending_handshakes`](crate::ServerBuilder::max_pending_handshakes)
//! (256) run at once; further clients wait in the listen backlog. So a
//! client that connects and never sends its request holds up no one.
//!
//! Requests that cannot be served are answered before the program sees
//! them, and only logged: a request that is not a valid upgrade (400, or
//! 426 without a WebSocket version), one larger than 16 KiB (431), an
//! `Origin` that [`allowed_origins`](crate::ServerBuilder::allowed_origins)
//! refuses (403), a client beyond
//! [`max_connections`](crate::ServerBuilder::max_connections) (503; by
//! default what the process's descriptor and thread limits allow), a
//! client too slow to send its request (dropped). So a loop that ends on
//! `let request = request?;` never ends because of one bad client.
//!
//! The rest reach [`incoming`](crate::Server::incoming) (or
//! [`accept`](crate::Server::accept)) as [`Request`](crate::Request)s.
//!
//! # Deciding on a request
//!
//! Inspect: [`path`](crate::Request::path), [`query`](crate::Request::query),
//! [`header`](crate::Request::header), [`headers`](crate::Request::headers),
//! [`protocols`](crate::Request::protocols) (the client's subprotocols),
//! [`peer_addr`](crate::Request::peer_addr), [`tls`](crate::Request::tls).
//! Then decide, once:
//!
//! | call | answer | you get |
//! |---|---|---|
//! | [`accept_message`](crate::Request::accept_message) | 101 | a [`MessageWebSocket`](crate::MessageWebSocket) |
//! | [`accept_stream`](crate::Request::accept_stream) | 101 | a [`StreamWebSocket`](crate::StreamWebSocket) |
//! | [`accept_into(&hub)`](crate::Request::accept_into) | 101 | a [`Connection`](crate::Connection); its messages go to the [`Hub`](crate::Hub) |
//! | [`reject(status, body)`](crate::Request::reject) | that status, a text body | nothing: the connection closes |
//! | [`respond(status, headers, body)`](crate::Request::respond) | any status, headers and body | nothing: the connection closes |
//! | dropping the request | 503 | nothing |
//!
//! Before accepting, [`select_protocol`](crate::Request::select_protocol)
//! picks one of the client's subprotocols (one it did not offer is
//! [`InvalidArgument`](crate::Status::InvalidArgument)), and
//! [`response_header`](crate::Request::response_header) adds a header to
//! whichever answer follows (a cookie, a server name).
//!
//! A socket the server accepted is the same type a client has. Serve each
//! on a thread of its own, or all of them on one thread through a
//! [`Hub`](crate::Hub) (below). Dropping a server-side socket closes it
//! with 1001.
//!
//! ```
//! use std::time::Duration;
//! use wsock::{MessageWebSocket, Server, Status};
//!
//! const WAIT: Duration = Duration::from_secs(10);
//!
//! let server = Server::bind("127.0.0.1:0")?;
//! let url = format!("ws://{}", server.local_addr()?);
//! let stop = server.shutdown_handle();
//! let serving = std::thread::spawn(move || -> wsock::Result<()> {
//!     for request in server.incoming() {
//!         let mut request = request?;
//!         if request.path() != "/chat" {
//!             request.reject(404, "no such room")?;
//!             continue;
//!         }
//!         if request.protocols().contains(&"chat.v1") {
//!             request.select_protocol("chat.v1")?;
//!         }
//!         let ws = request.accept_message()?;
//!         std::thread::spawn(move || {
//!             for message in ws.messages() {
//!                 let Ok(message) = message else { break };
//!                 let _ = ws.send(message);
//!             }
//!         });
//!     }
//!     Ok(()) // incoming() ended: the server was shut down
//! });
//!
//! let refused = MessageWebSocket::connect(&format!("{url}/lobby")).unwrap_err();
//! assert_eq!(refused.status(), Status::UnexpectedStatusCode(404));
//!
//! let ws = MessageWebSocket::builder()
//!     .protocols(["chat.v2", "chat.v1"])
//!     .connect(&format!("{url}/chat"))?;
//! assert_eq!(ws.info().protocol.as_deref(), Some("chat.v1"));
//! ws.send_text("hi")?;
//! assert_eq!(ws.recv_timeout(WAIT)?.as_text(), Some("hi"));
//!
//! stop.shutdown(); // from any thread: incoming() ends
//! serving.join().unwrap()?;
//!
//! // Connections already accepted live on.
//! ws.send_text("still here")?;
//! assert_eq!(ws.recv_timeout(WAIT)?.as_text(), Some("still here"));
//! ws.close(1000, "bye")?;
//! # Ok::<(), wsock::Error>(())
//! ```
//!
//! # Plain HTTP and origins
//!
//! With [`http_requests(true)`](crate::ServerBuilder::http_requests),
//! requests that are not upgrades (a page, a health check) reach
//! `incoming()` too: [`is_upgrade`](crate::Request::is_upgrade) is false,
//! and [`respond`](crate::Request::respond) or `reject` answers them
//! (accepting one answers 426 and returns
//! [`InvalidRequest`](crate::Status::InvalidRequest)). Off by default: they
//! are answered 400.
//!
//! [`allowed_origins`](crate::ServerBuilder::allowed_origins) refuses
//! upgrades from pages of other sites (403), the defence against
//! cross-site WebSocket hijacking. Use it on any server a browser reaches.
//! A request without an `Origin` header (not from a browser) is allowed.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::net::TcpStream;
//! use std::time::Duration;
//! use wsock::{MessageWebSocket, Server, Status};
//!
//! const WAIT: Duration = Duration::from_secs(10);
//!
//! let server = Server::builder()
//!     .http_requests(true)
//!     .allowed_origins(["https://chat.example.org"])
//!     .bind("127.0.0.1:0")?;
//! let addr = server.local_addr()?;
//! let url = format!("ws://{addr}/");
//! let stop = server.shutdown_handle();
//! let serving = std::thread::spawn(move || -> wsock::Result<()> {
//!     for request in server.incoming() {
//!         let request = request?;
//!         if !request.is_upgrade() {
//!             request.respond(200, &[], "ok")?;
//!             continue;
//!         }
//!         let ws = request.accept_message()?;
//!         std::thread::spawn(move || ws.messages().for_each(drop));
//!     }
//!     Ok(())
//! });
//!
//! // A health check: plain HTTP on the same port.
//! let mut http = TcpStream::connect(addr)?;
//! http.set_read_timeout(Some(WAIT))?;
//! http.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")?;
//! let mut answer = String::new();
//! http.read_to_string(&mut answer)?;
//! assert!(answer.starts_with("HTTP/1.1 200"));
//! assert!(answer.ends_with("ok"));
//!
//! // A page of another site is refused before incoming().
//! let other_site = MessageWebSocket::builder()
//!     .header("Origin", "https://evil.example")
//!     .connect(&url)
//!     .unwrap_err();
//! assert_eq!(other_site.status(), Status::UnexpectedStatusCode(403));
//!
//! let ws = MessageWebSocket::builder()
//!     .header("Origin", "https://chat.example.org")
//!     .connect(&url)?;
//!
//! // Stop, close what was accepted with 1001, wait for it to end.
//! stop.shutdown_gracefully()?;
//! serving.join().unwrap()?;
//! let end = ws.recv_timeout(WAIT).unwrap_err();
//! assert_eq!(end.close_frame().map(|f| f.code), Some(1001));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Many connections, one thread: the hub
//!
//! [`accept_into(&hub)`](crate::Request::accept_into) delivers a
//! connection's messages and its end into a [`Hub`](crate::Hub), so one
//! thread serves them all: [`Hub::recv`](crate::Hub::recv) returns
//! [`HubEvent`](crate::HubEvent)s, `Opened` first, then `Message`s, then
//! `Closed` (with the error that ended it). Each connection's reader
//! thread still reads its socket; only the delivery is shared.
//!
//! - Answer one connection through its [`Connection`](crate::Connection)
//!   handle (`Clone + Send + Sync`), which sends like a
//!   [`Sender`](crate::Sender). [`Connection::close`](crate::Connection::close)
//!   does not wait: the `Closed` event follows.
//! - [`Hub::broadcast`](crate::Hub::broadcast) queues one message on every
//!   live connection without waiting for any, encoded once. A connection
//!   whose send queue is full (`outbound_queue_limit`, 16 MiB) is skipped,
//!   or closed with 1008 with [`WhenFull::Close`](crate::WhenFull::Close).
//!   [`broadcast`](crate::broadcast) does the same over any
//!   [`Sender`](crate::Sender)s.
//! - A hub connection lives until either side closes it: dropping handles
//!   does not close it.
//!
//! The [crate root](crate) has a hub example; `examples/chat_server.rs` is
//! a whole chat room.
//!
//! # TLS
//!
//! [`Server::bind_tls`](crate::Server::bind_tls) (or
//! [`tls_pem`](crate::ServerBuilder::tls_pem) on the builder) serves
//! `wss://` with a certificate chain and key in PEM;
//! [`client_ca_pem`](crate::ServerBuilder::client_ca_pem) requires client
//! certificates (mutual TLS); [`tls_config`](crate::ServerBuilder::tls_config)
//! takes a whole `rustls::ServerConfig`. The TLS handshake runs on the
//! handshake thread, within the handshake timeout; everything after it
//! works as over `ws://`. `examples/tls_echo.rs` makes a certificate at
//! start.
//!
//! # Stopping
//!
//! - Dropping the [`Server`](crate::Server) stops accepting; connections
//!   already accepted live on.
//! - [`shutdown_handle`](crate::Server::shutdown_handle) returns a
//!   [`ShutdownHandle`](crate::ShutdownHandle) (`Clone + Send + Sync`) for
//!   another thread. [`shutdown`](crate::ShutdownHandle::shutdown) stops
//!   listening: `incoming()` ends (`None`), `accept()` fails with
//!   [`ServerShutDown`](crate::Status::ServerShutDown), requests not yet
//!   taken are answered 503. A request whose `accept_*` call is still
//!   under way is closed with 1001 as soon as it is accepted, even though
//!   its client may already have the 101.
//! - [`shutdown_gracefully`](crate::ShutdownHandle::shutdown_gracefully)
//!   also closes every accepted connection with 1001 and waits for them to
//!   end: within the close timeout plus 2 s, else a
//!   [`Timeout`](crate::Status::Timeout) saying how many are left.
//!
//! See also: [Threads and blocking](super::threads_and_blocking) for which
//! server calls block, [Errors](super::errors) for what the client sees.
