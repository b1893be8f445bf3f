//! Coming from Windows: where each member of `MessageWebSocket` and
//! `StreamWebSocket` (`Windows.Networking.Sockets`) went in wsock, and
//! which have no counterpart.
//!
//! wsock follows the same model: a message socket and a stream socket,
//! settings made before connecting (the Control), read-only facts about a
//! live socket (the Information), a Closed event with a code and a reason,
//! and an error status to `match` on. The differences come from blocking
//! calls on plain threads instead of `IAsyncAction`s and events:
//!
//! - `ConnectAsync` and the send calls are blocking calls with a timeout.
//! - The `MessageReceived` and `Closed` events become a loop on a thread of
//!   yours: `recv` returns each message, then the end.
//! - There is no `DataReader`, `DataWriter` or `IBuffer`: messages are
//!   [`Message`](crate::Message)s (text or bytes); streams are
//!   `std::io::Read` and `std::io::Write`.
//! - `Windows.Networking.Sockets` has no WebSocket server; wsock has one
//!   ([The server](super::server)).
//!
//! # The socket
//!
//! | Windows | wsock |
//! |---|---|
//! | `new MessageWebSocket()`, then `Control.*`, then `ConnectAsync(uri)` | [`MessageWebSocket::builder()`](crate::MessageWebSocket::builder)`.setting(..).connect(url)`, or [`MessageWebSocket::connect(url)`](crate::MessageWebSocket::connect); bounded by [`connect_timeout`](crate::Builder::connect_timeout) (60 s) |
//! | `new StreamWebSocket()`, `ConnectAsync(uri)` | [`StreamWebSocket::builder()`](crate::StreamWebSocket::builder), [`StreamWebSocket::connect(url)`](crate::StreamWebSocket::connect) |
//! | `SetRequestHeader(name, value)` | [`Builder::header(name, value)`](crate::Builder::header) |
//! | `OutputStream` (message mode: each write a message of `Control.MessageType`) | [`send_text`](crate::MessageWebSocket::send_text), [`send_binary`](crate::MessageWebSocket::send_binary), [`send`](crate::MessageWebSocket::send); from other threads through a [`Sender`](crate::Sender) |
//! | `SendNonfinalFrameAsync(buffer)` | `write` on a [`MessageWriter`](crate::MessageWriter) from [`send_writer(kind)`](crate::MessageWebSocket::send_writer): one frame per write |
//! | `SendFinalFrameAsync(buffer)` | [`MessageWriter::finish`](crate::MessageWriter::finish) (after a last `write` with the buffer) |
//! | `MessageReceived` event | a loop on a thread: [`recv`](crate::MessageWebSocket::recv) or `for message in ws.messages()`; for many sockets on one thread, [`Hub::recv`](crate::Hub::recv) |
//! | `MessageWebSocketMessageReceivedEventArgs.MessageType` | the variant: [`Message::Text`](crate::Message::Text) (`Utf8`) or [`Message::Binary`](crate::Message::Binary) |
//! | `GetDataReader()`, `GetDataStream()` | the payload: [`as_text`](crate::Message::as_text), [`as_bytes`](crate::Message::as_bytes); as a stream, [`recv_reader`](crate::MessageWebSocket::recv_reader) |
//! | `IsMessageComplete` (with `ReceiveMode = PartialMessage`) | [`MessageReader`](crate::MessageReader)`::read` returning `Ok(0)` |
//! | `StreamWebSocket.InputStream`, `OutputStream` | `Read` and `Write` on [`StreamWebSocket`](crate::StreamWebSocket); [`split`](crate::StreamWebSocket::split) for two threads |
//! | `Close(code, reason)` | [`close(code, reason)`](crate::MessageWebSocket::close): blocks until the peer's close frame, up to the [`close_timeout`](crate::Builder::close_timeout) (5 s) |
//! | `Close()`, `Dispose()` | dropping the socket: a clean close (1000 from a client, 1001 from a server) that does not wait |
//! | `Closed` event (`WebSocketClosedEventArgs.Code`, `.Reason`) | after the end, `recv` returns an error whose [`close_frame()`](crate::Error::close_frame) is the [`CloseFrame`](crate::CloseFrame) (`code`, `reason`); after a `messages()` loop, [`MessageWebSocket::close_frame`](crate::MessageWebSocket::close_frame); with a hub, [`HubEvent::Closed`](crate::HubEvent::Closed). An abnormal end has no frame: its [`status`](crate::Error::status) says why |
//! | `ServerCustomValidationRequested` event | a custom rustls certificate verifier in [`Builder::tls_config`](crate::Builder::tls_config); for a private CA, [`root_certificate_pem`](crate::Builder::root_certificate_pem) is enough |
//! | `WebSocketError.GetStatus(hresult)` | [`Error::status`](crate::Error::status) |
//!
//! # Control
//!
//! | Windows (`MessageWebSocketControl`, `StreamWebSocketControl`) | wsock ([`Builder`](crate::Builder)) |
//! |---|---|
//! | `MessageType` (`Utf8`, `Binary`) | no setting: the call chooses ([`send_text`](crate::MessageWebSocket::send_text) or [`send_binary`](crate::MessageWebSocket::send_binary); [`MessageKind`](crate::MessageKind) for [`send_writer`](crate::MessageWebSocket::send_writer)). Stream mode always sends binary |
//! | `ReceiveMode = FullMessage` | [`recv`](crate::MessageWebSocket::recv) and its kin |
//! | `ReceiveMode = PartialMessage` | [`recv_reader`](crate::MessageWebSocket::recv_reader), per message: no setting |
//! | `MaxMessageSize` | [`max_message_size`](crate::Builder::max_message_size) (64 MiB; larger messages close with 1009); [`max_frame_size`](crate::Builder::max_frame_size) for messages read in parts |
//! | `OutboundBufferSizeInBytes` | closest: [`outbound_queue_limit`](crate::Builder::outbound_queue_limit) (16 MiB), the send queue of [`try_send`](crate::MessageWebSocket::try_send) and broadcasts; in stream mode, [`stream_write_buffer`](crate::Builder::stream_write_buffer) (256 KiB) |
//! | `SupportedProtocols` | [`protocols`](crate::Builder::protocols) |
//! | `ServerCredential` | [`basic_auth`](crate::Builder::basic_auth), or `user:password@` in the URL; [`bearer_auth`](crate::Builder::bearer_auth) for a token |
//! | `ProxyCredential` | `user:password@` in the URL given to [`proxy`](crate::Builder::proxy) |
//! | `NoDelay` (`StreamWebSocketControl`) | [`no_delay`](crate::Builder::no_delay) (true), for both modes |
//! | `IgnorableServerCertificateErrors` | none that ignores chosen errors: [`root_certificate_pem`](crate::Builder::root_certificate_pem) trusts a private CA; [`danger_accept_invalid_certs`](crate::Builder::danger_accept_invalid_certs) ignores every error (development only) |
//! | `ClientCertificate` | [`client_certificate_pem`](crate::Builder::client_certificate_pem) |
//! | `DesiredUnsolicitedPongInterval` | [`unsolicited_pong_interval`](crate::Builder::unsolicited_pong_interval) (off) |
//! | `ActualUnsolicitedPongInterval` | none: the interval set is the one used |
//! | none | keepalive pings: [`ping_interval`](crate::Builder::ping_interval) (20 s), [`pong_timeout`](crate::Builder::pong_timeout) (20 s) |
//! | none | [`send_timeout`](crate::Builder::send_timeout), [`receive_timeout`](crate::Builder::receive_timeout) (30 s each), [`connect_timeout`](crate::Builder::connect_timeout), [`close_timeout`](crate::Builder::close_timeout) |
//! | none | [`compression`](crate::Builder::compression) (permessage-deflate, on by default), [`proxy`](crate::Builder::proxy) choice, [`max_redirects`](crate::Builder::max_redirects), [`receive_queue_limit`](crate::Builder::receive_queue_limit) |
//!
//! # Information
//!
//! | Windows (`MessageWebSocketInformation`, `StreamWebSocketInformation`) | wsock ([`info()`](crate::MessageWebSocket::info) returns an [`Info`](crate::Info)) |
//! |---|---|
//! | `LocalAddress` | [`Info::local_addr`](crate::Info::local_addr) (a `SocketAddr`, with the port); [`Info::peer_addr`](crate::Info::peer_addr) beside it |
//! | `Protocol` | [`Info::protocol`](crate::Info::protocol) |
//! | `BandwidthStatistics` | none: [`bytes_sent`](crate::Info::bytes_sent), [`bytes_received`](crate::Info::bytes_received), [`messages_sent`](crate::Info::messages_sent), [`messages_received`](crate::Info::messages_received) are counters to sample, and [`rtt`](crate::Info::rtt) the last ping's round trip |
//! | `ServerCertificate` | [`Info::tls`](crate::Info::tls)`.peer_certificates[0]` (DER) |
//! | `ServerIntermediateCertificates` | the rest of [`TlsInfo::peer_certificates`](crate::TlsInfo::peer_certificates) |
//! | `ServerCertificateErrors`, `ServerCertificateErrorSeverity` | none: a certificate error fails `connect` with a `Certificate*` status |
//! | none | [`queued_bytes`](crate::Info::queued_bytes), [`compression`](crate::Info::compression), [`response_headers`](crate::Info::response_headers), [`proxy`](crate::Info::proxy), the TLS version and cipher suite |
//!
//! # WebErrorStatus
//!
//! [`Status`](crate::Status) keeps the Windows names where the meaning is
//! the same. [Errors](super::errors) says when each happens.
//!
//! | `WebErrorStatus` | [`Status`](crate::Status) |
//! |---|---|
//! | `Unknown` | [`Unknown`](crate::Status::Unknown) |
//! | `CertificateCommonNameIsIncorrect` | [`CertificateCommonNameIsIncorrect`](crate::Status::CertificateCommonNameIsIncorrect) |
//! | `CertificateExpired` | [`CertificateExpired`](crate::Status::CertificateExpired) (also not valid yet) |
//! | `CertificateContainsErrors`, `CertificateIsInvalid` | [`CertificateIsInvalid`](crate::Status::CertificateIsInvalid); an unknown issuer has its own, [`CertificateUnknownIssuer`](crate::Status::CertificateUnknownIssuer) |
//! | `CertificateRevoked` | [`CertificateRevoked`](crate::Status::CertificateRevoked) |
//! | `ServerUnreachable`, `CannotConnect` | [`CannotConnect`](crate::Status::CannotConnect) |
//! | `HostNameNotResolved` | [`HostNameNotResolved`](crate::Status::HostNameNotResolved) |
//! | `Timeout` | [`Timeout`](crate::Status::Timeout) |
//! | `ErrorHttpInvalidServerResponse` | [`InvalidServerResponse`](crate::Status::InvalidServerResponse) |
//! | `ConnectionAborted` | [`ConnectionAborted`](crate::Status::ConnectionAborted) |
//! | `ConnectionReset`, `Disconnected` | [`ConnectionReset`](crate::Status::ConnectionReset) (a reset, or TCP closed without a close frame) |
//! | `HttpsToHttpOnRedirection` | [`HttpsToHttpOnRedirection`](crate::Status::HttpsToHttpOnRedirection) |
//! | `HttpToHttpsOnRedirection` | none: a redirect from `ws://` to `wss://` is followed |
//! | `RedirectFailed`, `UnexpectedRedirection` | [`TooManyRedirects`](crate::Status::TooManyRedirects) (beyond [`max_redirects`](crate::Builder::max_redirects); with 0, any redirect), or [`InvalidServerResponse`](crate::Status::InvalidServerResponse) (a `Location` that is not a URL) |
//! | `UnexpectedStatusCode`, `UnexpectedClientError`, `UnexpectedServerError`, and the HTTP statuses (`NotFound`, `Forbidden`, `ServiceUnavailable`, ...) | [`UnexpectedStatusCode(code)`](crate::Status::UnexpectedStatusCode), the code included |
//! | `Unauthorized` | [`Unauthorized`](crate::Status::Unauthorized) |
//! | `ProxyAuthenticationRequired` | [`ProxyAuthenticationRequired`](crate::Status::ProxyAuthenticationRequired) (from the proxy; a server's 407 is `UnexpectedStatusCode(407)`) |
//! | `OperationCanceled` | none: calls are not cancelled; they are bounded by timeouts, and a `recv` blocked on one thread returns once another thread's [`close`](crate::Sender::close) has ended the connection |
//! | none | [`Closed`](crate::Status::Closed) (the Closed event as an error), [`ProtocolError`](crate::Status::ProtocolError), [`InvalidUtf8`](crate::Status::InvalidUtf8), [`MessageTooBig`](crate::Status::MessageTooBig), [`CannotConnectToProxy`](crate::Status::CannotConnectToProxy), [`QueueFull`](crate::Status::QueueFull), [`FeatureDisabled`](crate::Status::FeatureDisabled), [`ResourceExhausted`](crate::Status::ResourceExhausted), [`InvalidUrl`](crate::Status::InvalidUrl), [`InvalidArgument`](crate::Status::InvalidArgument), and the server's [`InvalidRequest`](crate::Status::InvalidRequest), [`AddressInUse`](crate::Status::AddressInUse), [`PermissionDenied`](crate::Status::PermissionDenied), [`AddressNotAvailable`](crate::Status::AddressNotAvailable), [`ServerShutDown`](crate::Status::ServerShutDown) |
//!
//! # The events as a thread
//!
//! A `MessageReceived` handler and a `Closed` handler become one loop on a
//! thread of yours; other threads send through a [`Sender`](crate::Sender)
//! meanwhile.
//!
//! ```
//! use std::time::Duration;
//! use wsock::{MessageWebSocket, Server};
//!
//! # let server = Server::bind("127.0.0.1:0")?;
//! # let url = format!("ws://{}/", server.local_addr()?);
//! # std::thread::spawn(move || -> wsock::Result<()> {
//! #     let ws = server.accept()?.accept_message()?;
//! #     let message = ws.recv_timeout(Duration::from_secs(10))?;
//! #     ws.send(message)?;
//! #     ws.close(1000, "bye")
//! # });
//! // `url` is a server's that echoes one message, then closes with 1000 "bye".
//! let ws = MessageWebSocket::connect(&url)?;
//! let tx = ws.sender(); // sends from any thread (OutputStream, SendFinalFrameAsync)
//!
//! let events = std::thread::spawn(move || {
//!     let mut received = Vec::new();
//!     for message in ws.messages() {
//!         match message {
//!             Ok(message) => received.push(message), // MessageReceived
//!             Err(e) => return Err(e),               // an abnormal end: e.status()
//!         }
//!     }
//!     Ok((received, ws.close_frame())) // Closed: code and reason
//! });
//!
//! tx.send_text("hello")?;
//! let (received, closed) = events.join().unwrap()?;
//! assert_eq!(received[0].as_text(), Some("hello"));
//! let closed = closed.expect("a close handshake");
//! assert_eq!((closed.code, closed.reason.as_str()), (1000, "bye"));
//! # Ok::<(), wsock::Error>(())
//! ```
