//! Errors: every [`Status`](crate::Status), when it happens, and what a
//! program should do about it.
//!
//! # One error type
//!
//! Every fallible call returns a [`wsock::Error`](crate::Error). Its
//! `Display` says what happened and to what (the URL or the address);
//! [`status`](crate::Error::status) classifies it for a `match`;
//! [`close_frame`](crate::Error::close_frame) is the peer's code and reason
//! after a close handshake; [`header`](crate::Error::header) reads the HTTP
//! answer that refused an upgrade (`WWW-Authenticate`, `Retry-After`,
//! `Location`). The error is `Clone`: once a connection has ended, every
//! later call on it returns the same error.
//!
//! Stream mode wraps it in an `io::Error` (`get_ref()` and a downcast give
//! it back); [`TrySendError`](crate::TrySendError) carries it in its
//! `Closed` variant. [`Status`](crate::Status) is `#[non_exhaustive]`: new
//! variants may come in minor releases, so a `match` needs a `_` arm.
//!
//! # The end of a connection
//!
//! A connection ends in one of two ways, and `recv` (or a stream `read`)
//! reports it:
//!
//! - **A close handshake**, started by either side: status
//!   [`Closed`](crate::Status::Closed), and `close_frame()` is the peer's
//!   code and reason. This is the normal end, whatever the code;
//!   [`messages`](crate::MessageWebSocket::messages) ends without an error
//!   on 1000, 1001 and 1005, and a stream `read` returns `Ok(0)`.
//! - **An abnormal end** (what other APIs call 1006): `close_frame()` is
//!   `None`, and the status says why: [`ConnectionReset`](crate::Status::ConnectionReset),
//!   [`Timeout`](crate::Status::Timeout), [`ProtocolError`](crate::Status::ProtocolError),
//!   ... Messages that arrived before the end are all received first.
//!
//! # Every status
//!
//! "Close code" is the code wsock sends to the peer, if it sends one.
//! "Retry" means another attempt may succeed (what
//! [`Reconnect`](crate::Reconnect) retries); "fix" means it will fail the
//! same way until something changes.
//!
//! **Before a connection exists: the URL and the arguments**
//!
//! | status | when | close code | what to do |
//! |---|---|---|---|
//! | [`InvalidUrl`](crate::Status::InvalidUrl) | `connect` got a URL that is not `ws://` or `wss://` (another scheme, a `#fragment`, no host, a host that is not a TLS server name) | — | fix the URL |
//! | [`InvalidArgument`](crate::Status::InvalidArgument) | a builder setting out of range (reported by `connect` or `bind`: setters never panic); a close code that may not be sent or a reason over 123 bytes; a ping payload over 125 bytes; [`select_protocol`](crate::Request::select_protocol) with a subprotocol the client did not offer; a bad header or status for [`respond`](crate::Request::respond); an address `bind` cannot parse; a proxy URL that is not one; a TLS configuration rustls refuses; [`MessageWriter::finish`](crate::MessageWriter::finish) inside a UTF-8 character | — | fix the program |
//! | [`FeatureDisabled`](crate::Status::FeatureDisabled) | a `wss://` URL in a build without the `tls` feature | — | build with the `tls` feature (on by default) |
//!
//! **Connecting: DNS, TCP, proxy, TLS, the upgrade** (client side)
//!
//! | status | when | close code | what to do |
//! |---|---|---|---|
//! | [`HostNameNotResolved`](crate::Status::HostNameNotResolved) | DNS gave no address for the host | — | check the name; retry (DNS may be down) |
//! | [`CannotConnect`](crate::Status::CannotConnect) | every address tried refused the TCP connection or was unreachable; or a TLS handshake failed for a reason other than a certificate | — | retry later: the server may be down or restarting |
//! | [`Timeout`](crate::Status::Timeout) | the connect timeout (60 s) passed: resolving, TCP, the proxy, TLS or the upgrade | — | retry later; raise [`connect_timeout`](crate::Builder::connect_timeout) for a slow network |
//! | [`CannotConnectToProxy`](crate::Status::CannotConnectToProxy) | the proxy could not be reached, or refused the tunnel (an answer other than 200 or 407 to CONNECT, a SOCKS5 failure code) | — | retry later, or check the proxy (see [`proxy`](crate::Builder::proxy); by default the environment chooses it) |
//! | [`ProxyAuthenticationRequired`](crate::Status::ProxyAuthenticationRequired) | the proxy answered 407, or refused the SOCKS5 credentials | — | fix the credentials in the proxy URL |
//! | [`Unauthorized`](crate::Status::Unauthorized) | the server answered the upgrade 401 | — | send credentials: [`basic_auth`](crate::Builder::basic_auth), [`bearer_auth`](crate::Builder::bearer_auth) or a [`header`](crate::Builder::header); `error.header("WWW-Authenticate")` says which kind |
//! | [`UnexpectedStatusCode(n)`](crate::Status::UnexpectedStatusCode) | the server answered the upgrade with HTTP `n` instead of 101: 404 (no such path), 403 (an origin refused), 400 or 426 (not a valid upgrade), 503 (at its connection limit, or it dropped the request), ... The error's `Display` includes the start of the body. | — | 5xx, 408 and 429: retry later (`error.header("Retry-After")`); other codes: fix the URL or the request |
//! | [`TooManyRedirects`](crate::Status::TooManyRedirects) | more redirects than [`max_redirects`](crate::Builder::max_redirects) (3; with 0, any redirect) | — | connect to the final URL, or allow more |
//! | [`HttpsToHttpOnRedirection`](crate::Status::HttpsToHttpOnRedirection) | a redirect from `wss://` to `ws://`, which is not followed | — | fix the server or the URL: following it would drop TLS |
//! | [`InvalidServerResponse`](crate::Status::InvalidServerResponse) | a 101 answer that is not a valid upgrade (wrong accept key, missing headers, a subprotocol or compression parameters not offered), or a redirect to something that is not a URL | — | fix: the URL probably does not lead to a WebSocket server |
//!
//! **TLS certificates** (either side of a TLS handshake)
//!
//! | status | when | close code | what to do |
//! |---|---|---|---|
//! | [`CertificateUnknownIssuer`](crate::Status::CertificateUnknownIssuer) | the certificate is not signed by a trusted root (a private CA, a self-signed certificate), or the peer said so of ours | — | trust the CA with [`root_certificate_pem`](crate::Builder::root_certificate_pem) |
//! | [`CertificateExpired`](crate::Status::CertificateExpired) | the certificate has expired or is not valid yet (check the clock) | — | renew the certificate |
//! | [`CertificateCommonNameIsIncorrect`](crate::Status::CertificateCommonNameIsIncorrect) | the certificate is not for the host name in the URL | — | connect by the name in the certificate |
//! | [`CertificateRevoked`](crate::Status::CertificateRevoked) | the certificate was revoked | — | replace the certificate |
//! | [`CertificateIsInvalid`](crate::Status::CertificateIsInvalid) | any other certificate fault (bad encoding, wrong usage, a CA certificate used as a server's own); a client certificate missing or refused where one is required | — | fix the certificate; see the error's message |
//!
//! **A live connection**
//!
//! | status | when | close code | what to do |
//! |---|---|---|---|
//! | [`Closed`](crate::Status::Closed) | the close handshake is done: `recv` after it, a send after a close (ours or the peer's) or after the socket was dropped | the peer's code is in `close_frame()` | a normal end: stop, or reconnect if the program still needs the connection |
//! | [`Timeout`](crate::Status::Timeout) | **ends the connection:** a send not on the wire within the send timeout (30 s); a message begun and not finished within the receive timeout (30 s); no pong within [`pong_timeout`](crate::Builder::pong_timeout) (20 s) of a keepalive ping; no close frame within the close timeout (5 s), returned by `close`. **Leaves it open:** [`recv_timeout`](crate::MessageWebSocket::recv_timeout), [`round_trip`](crate::MessageWebSocket::round_trip), a stream read past its [`read timeout`](crate::StreamWebSocket::set_read_timeout). | none: the connection is cut | an end: reconnect. Not an end: go on. [`recv_for`](crate::MessageWebSocket::recv_for) tells the two apart by shape (`Ok(None)` is "nothing yet") |
//! | [`ConnectionReset`](crate::Status::ConnectionReset) | the peer reset TCP, or closed it without a close frame (its process died, a middlebox dropped the connection) | none | reconnect |
//! | [`ConnectionAborted`](crate::Status::ConnectionAborted) | the operating system reported the connection aborted or not connected on this side | none | reconnect |
//! | [`ProtocolError`](crate::Status::ProtocolError) | the peer broke RFC 6455: a frame masked the wrong way, a reserved opcode or bit, a fragmented or oversize control frame, a continuation that continues nothing, a close code that may not be sent, compressed data it did not agree to or that does not inflate | 1002 | a bug in the peer: log it; reconnecting may meet it again |
//! | [`InvalidUtf8`](crate::Status::InvalidUtf8) | the peer sent a text message that is not UTF-8 | 1007 | a bug in the peer: log it |
//! | [`MessageTooBig`](crate::Status::MessageTooBig) | the peer sent a message over [`max_message_size`](crate::Builder::max_message_size) (64 MiB), or, read in parts, a frame over [`max_frame_size`](crate::Builder::max_frame_size) (64 MiB); counted after decompression | 1009 | raise the limit, or read such messages with [`recv_reader`](crate::MessageWebSocket::recv_reader) |
//! | [`QueueFull`](crate::Status::QueueFull) | [`try_send`](crate::MessageWebSocket::try_send) found the send queue over [`outbound_queue_limit`](crate::Builder::outbound_queue_limit) (16 MiB): [`TrySendError::Full`](crate::TrySendError::Full), or [`Error::QueueFull`](crate::Error::QueueFull) after `?` | — | not an end: drop the message (the next update replaces it) or try again later |
//! | [`ResourceExhausted`](crate::Status::ResourceExhausted) | a thread could not be started (a socket's reader thread, the resolver's, the server's acceptor); a thread reading for `recv` panicked | — | retry later; raise the process's thread and descriptor limits |
//! | [`Unknown`](crate::Status::Unknown) | an I/O error of any other kind | — | read the message; retrying may help |
//!
//! **The server**
//!
//! | status | when | close code | what to do |
//! |---|---|---|---|
//! | [`AddressInUse`](crate::Status::AddressInUse) | `bind`: another socket has the address | — | pick another port, or stop the other server |
//! | [`PermissionDenied`](crate::Status::PermissionDenied) | `bind`: not allowed (a port below 1024 without the privilege) | — | use a higher port |
//! | [`AddressNotAvailable`](crate::Status::AddressNotAvailable) | `bind`: no interface of this machine has the address | — | fix the address (`0.0.0.0` for all interfaces) |
//! | [`InvalidRequest`](crate::Status::InvalidRequest) | accepting a plain HTTP request as a WebSocket (with [`http_requests(true)`](crate::ServerBuilder::http_requests); it is answered 426) | — | check [`is_upgrade`](crate::Request::is_upgrade) and [`respond`](crate::Request::respond) to the others |
//! | [`ServerShutDown`](crate::Status::ServerShutDown) | [`accept`](crate::Server::accept) after [`shutdown`](crate::ShutdownHandle::shutdown) (`incoming()` ends with `None` instead) | — | a normal end: stop accepting |
//!
//! Requests a server refuses on its own (invalid upgrades, origins not
//! allowed, a client over the connection limit or too slow to send its
//! request) never reach the program: they are answered, logged at `debug`,
//! and the client sees [`UnexpectedStatusCode`](crate::Status::UnexpectedStatusCode).
//!
//! # Matching on the status
//!
//! ```
//! use std::time::Duration;
//! use wsock::{Error, MessageWebSocket, Server, Status};
//!
//! const WAIT: Duration = Duration::from_secs(10);
//!
//! /// What a client does when a connection attempt or a connection ends.
//! fn advice(e: &Error) -> &'static str {
//!     match e.status() {
//!         Status::Closed => "a normal end", // e.close_frame() has the code
//!         Status::CannotConnect
//!         | Status::HostNameNotResolved
//!         | Status::Timeout
//!         | Status::ConnectionReset
//!         | Status::ConnectionAborted => "retry later",
//!         Status::UnexpectedStatusCode(code) if code >= 500 || code == 429 => "retry later",
//!         Status::UnexpectedStatusCode(_) | Status::Unauthorized => "fix the request",
//!         Status::ProtocolError | Status::InvalidUtf8 | Status::MessageTooBig => "the peer misbehaved",
//!         Status::InvalidUrl | Status::InvalidArgument => "fix the program",
//!         _ => "log it", // Status is non_exhaustive
//!     }
//! }
//!
//! // Not a WebSocket URL.
//! let e = MessageWebSocket::connect("http://127.0.0.1/").unwrap_err();
//! assert_eq!(advice(&e), "fix the program");
//!
//! // Nothing listens on that port.
//! let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
//! let e = MessageWebSocket::connect(&format!("ws://127.0.0.1:{port}/")).unwrap_err();
//! assert_eq!(e.status(), Status::CannotConnect);
//!
//! // A server that refuses one path and takes at most 16-byte messages.
//! let server = Server::builder().max_message_size(16).bind("127.0.0.1:0")?;
//! let url = format!("ws://{}", server.local_addr()?);
//! let serving = std::thread::spawn(move || -> wsock::Result<Error> {
//!     server.accept()?.reject(404, "no such path")?;
//!     let ws = server.accept()?.accept_message()?;
//!     Ok(ws.recv_timeout(WAIT).unwrap_err())
//! });
//!
//! let e = MessageWebSocket::connect(&format!("{url}/large")).unwrap_err();
//! assert_eq!(e.status(), Status::UnexpectedStatusCode(404));
//! assert_eq!(advice(&e), "fix the request");
//!
//! let ws = MessageWebSocket::connect(&format!("{url}/small"))?;
//! // Nothing came in time: a Timeout that leaves the connection open.
//! let e = ws.recv_timeout(Duration::from_millis(20)).unwrap_err();
//! assert_eq!(e.status(), Status::Timeout);
//!
//! ws.send_text("x".repeat(100))?;
//! // The server refused it: its side ends with MessageTooBig ...
//! let theirs = serving.join().unwrap()?;
//! assert_eq!(theirs.status(), Status::MessageTooBig);
//! assert_eq!(advice(&theirs), "the peer misbehaved");
//! // ... and this side with the close handshake that followed, code 1009.
//! let ours = ws.recv_timeout(WAIT).unwrap_err();
//! assert_eq!(ours.status(), Status::Closed);
//! assert_eq!(ours.close_frame().map(|f| f.code), Some(1009));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! See also: [Threads and blocking](super::threads_and_blocking) for the
//! timeouts behind each [`Timeout`](crate::Status::Timeout).
