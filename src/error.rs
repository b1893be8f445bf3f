//! One error type for everything wsock does, and its [`Status`] classification.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// What went wrong, as a value a program can `match` on.
///
/// Modelled on the Windows `WebErrorStatus`. Get it from [`Error::status`].
/// New variants may be added in minor releases, so a `match` needs a `_` arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// The URL is not a valid `ws://` or `wss://` URL.
    InvalidUrl,
    /// An option or argument was invalid: a header name, a close code, a
    /// subprotocol the client did not offer, a zero timeout.
    InvalidArgument,
    /// The host name could not be resolved to any address.
    HostNameNotResolved,
    /// No TCP connection could be made (refused, unreachable).
    CannotConnect,
    /// A deadline passed: connect, send, receive, handshake, close or a
    /// `recv_timeout`.
    Timeout,
    /// The peer reset the connection, or closed it without a close handshake.
    ConnectionReset,
    /// The connection was aborted on this side (for example a local write
    /// failed, or the socket was shut down under a blocked call).
    ConnectionAborted,
    /// The server answered the upgrade request with this HTTP status instead
    /// of `101 Switching Protocols`.
    UnexpectedStatusCode(u16),
    /// The server answered the upgrade request `401 Unauthorized`: it wants
    /// credentials (see [`Error::header`] for its `WWW-Authenticate`).
    Unauthorized,
    /// The proxy answered `407 Proxy Authentication Required`: it wants
    /// (other) credentials in the proxy URL.
    ProxyAuthenticationRequired,
    /// The proxy could not be reached, or refused to open the tunnel (an
    /// HTTP answer other than 200 to CONNECT, a SOCKS failure code).
    CannotConnectToProxy,
    /// A redirect led from `wss://` to `ws://`, and was not followed.
    HttpsToHttpOnRedirection,
    /// More redirects than `max_redirects`.
    TooManyRedirects,
    /// The server's handshake response was not a valid WebSocket upgrade
    /// (wrong accept key, missing headers, a subprotocol not offered).
    InvalidServerResponse,
    /// A client's upgrade request was not a valid WebSocket upgrade (server side).
    InvalidRequest,
    /// The connection was closed by a close handshake; see [`Error::close_frame`].
    Closed,
    /// The peer broke the WebSocket protocol; the connection was closed with 1002.
    ProtocolError,
    /// The peer sent a text message that is not UTF-8; closed with 1007.
    InvalidUtf8,
    /// The peer sent a message larger than `max_message_size`; closed with 1009.
    MessageTooBig,
    /// The server's certificate is not signed by a trusted root.
    CertificateUnknownIssuer,
    /// The certificate has expired (or is not valid yet).
    CertificateExpired,
    /// The certificate is not valid for the host name connected to.
    CertificateCommonNameIsIncorrect,
    /// The certificate has been revoked.
    CertificateRevoked,
    /// The certificate is invalid for another reason (bad encoding, wrong
    /// usage, none presented where one is required).
    CertificateIsInvalid,
    /// The URL asks for something this build lacks (`wss://` without the
    /// `tls` feature).
    FeatureDisabled,
    /// A resource ran out: a thread could not be started, or a server limit was hit.
    ResourceExhausted,
    /// A server cannot listen on this address: another socket has it.
    AddressInUse,
    /// A server may not listen on this address (a port below 1024 without
    /// the privilege, for example).
    PermissionDenied,
    /// A server cannot listen on this address: no interface of this machine
    /// has it.
    AddressNotAvailable,
    /// The server was shut down ([`ShutdownHandle`](crate::ShutdownHandle)):
    /// it accepts no more.
    ServerShutDown,
    /// The send queue is full (`outbound_queue_limit`): the peer reads
    /// more slowly than this side sends. Not fatal: the connection lives on.
    QueueFull,
    /// Anything not covered above; the error's message says what happened.
    Unknown,
}

/// The Closed event: the code and reason of a close frame.
///
/// `recv` returns an [`Error`] whose [`close_frame`](Error::close_frame) is
/// this after a close handshake. A close frame without a code is reported as
/// code 1005 (no status received), as RFC 6455 prescribes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CloseFrame {
    /// The close code (1000 normal, 1001 going away, 1002 protocol error, ...).
    pub code: u16,
    /// The reason the peer gave; may be empty.
    pub reason: String,
}

impl fmt::Display for CloseFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reason.is_empty() {
            write!(f, "code {}", self.code)
        } else {
            write!(f, "code {} {:?}", self.code, self.reason)
        }
    }
}

/// The error type of every fallible wsock call.
///
/// Its `Display` says what happened and to what (URL or address);
/// [`status`](Error::status) classifies it. The wrapped `std::io::Error`s are
/// shared (`Arc`) so that the error is `Clone`: the first fatal error of a
/// connection is returned again by every later call. Stream adapters turn it
/// into an `io::Error` with [`Error::into_io`] (or `From`); `get_ref()` on
/// that `io::Error` and a downcast give this error back.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL could not be used.
    #[error("invalid WebSocket URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// The URL asks for something this build of wsock lacks.
    #[error("cannot use {url:?}: {reason}")]
    Unsupported {
        /// The URL as given.
        url: String,
        /// What is missing.
        reason: String,
    },
    /// An option or argument was invalid.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The host name did not resolve.
    #[error("cannot resolve host {host:?}: {source}")]
    Resolve {
        /// The host name.
        host: String,
        /// The resolver's error (not part of the stable API).
        #[source]
        source: Arc<io::Error>,
    },
    /// No TCP connection could be made to any address of the host.
    #[error("cannot connect to {url}: {detail}")]
    Connect {
        /// The URL being connected to.
        url: String,
        /// [`Status::CannotConnect`], [`Status::CannotConnectToProxy`] or
        /// [`Status::Timeout`].
        status: Status,
        /// Each address tried and what happened.
        detail: String,
        /// The last address's error (not part of the stable API).
        #[source]
        source: Option<Arc<io::Error>>,
    },
    /// A deadline passed.
    #[error("{what} timed out after {after:?}")]
    Timeout {
        /// What was being waited for, and on what.
        what: String,
        /// The budget that ran out.
        after: Duration,
    },
    /// The server answered the upgrade request with a status other than 101.
    #[error("{url}: {} answered HTTP {code} instead of {}{}", if *.proxy { "the proxy" } else { "the server" }, if *.proxy { "200 to CONNECT" } else { "101 Switching Protocols" }, body_suffix(.body))]
    UnexpectedStatus {
        /// The URL being connected to.
        url: String,
        /// The HTTP status code.
        code: u16,
        /// The response body (up to 64 KiB, as text), if it had one.
        body: Option<String>,
        /// The response's headers, as (lower-case name, value).
        headers: Vec<(String, String)>,
        /// The answer came from the proxy (to CONNECT), not the server.
        proxy: bool,
    },
    /// The opening handshake failed for a reason other than the status code.
    #[error("{peer}: WebSocket handshake failed: {reason}")]
    Handshake {
        /// The URL or address of the peer.
        peer: String,
        /// [`Status::InvalidServerResponse`] or [`Status::InvalidRequest`].
        status: Status,
        /// What was wrong.
        reason: String,
    },
    /// The connection ended with a close handshake (the Closed event).
    #[error("connection with {peer} closed: {frame}")]
    Closed {
        /// The peer's address.
        peer: String,
        /// The peer's close frame (or, if we closed, the peer's reply).
        frame: CloseFrame,
    },
    /// The peer broke the protocol; wsock sent a close frame with `code`.
    #[error("connection with {peer} failed: {reason} (sent close code {code})")]
    Protocol {
        /// The peer's address.
        peer: String,
        /// [`Status::ProtocolError`], [`Status::InvalidUtf8`] or [`Status::MessageTooBig`].
        status: Status,
        /// The close code sent to the peer.
        code: u16,
        /// What the peer did wrong.
        reason: String,
    },
    /// The transport failed (reset, aborted, or another I/O error).
    #[error("connection with {peer} failed: {what}: {source}")]
    Io {
        /// The peer's address or the URL.
        peer: String,
        /// What was being done.
        what: String,
        /// The classification of the I/O error.
        status: Status,
        /// The I/O error (not part of the stable API).
        #[source]
        source: Arc<io::Error>,
    },
    /// The TLS handshake failed (certificate problems have their own statuses).
    #[error("TLS handshake with {peer} failed: {reason}")]
    Tls {
        /// The URL or address of the peer.
        peer: String,
        /// A `Certificate*` status, or [`Status::CannotConnect`].
        status: Status,
        /// What rustls reported.
        reason: String,
    },
    /// An I/O error from outside a connection (converted with `?` from
    /// `std::io::Error`, e.g. from [`Server::local_addr`](crate::Server::local_addr)).
    #[error("I/O error: {0}")]
    Other(#[source] Arc<io::Error>),
    /// `try_send` found the send queue full: what a [`TrySendError::Full`]
    /// becomes with `?`. The connection lives on.
    ///
    /// [`TrySendError::Full`]: crate::TrySendError::Full
    #[error("the send queue is full (outbound_queue_limit); the message was not sent")]
    QueueFull,
    /// The server was shut down: it accepts nothing more.
    #[error("the server was shut down")]
    ServerShutDown,
    /// A thread could not be started, or a configured limit was reached.
    #[error("{what}: {reason}")]
    Resource {
        /// What could not be done.
        what: String,
        /// Why.
        reason: String,
    },
}

fn body_suffix(body: &Option<String>) -> String {
    match body.as_deref().map(str::trim) {
        Some(b) if !b.is_empty() => {
            let mut end = b.len().min(200);
            while !b.is_char_boundary(end) {
                end -= 1;
            }
            let more = if end < b.len() { "..." } else { "" };
            format!(": {:?}{more}", &b[..end])
        }
        _ => String::new(),
    }
}

impl Error {
    /// What went wrong, for a `match`.
    ///
    /// ```
    /// use wsock::{MessageWebSocket, Status};
    /// let err = MessageWebSocket::connect("http://127.0.0.1/").unwrap_err();
    /// assert_eq!(err.status(), Status::InvalidUrl);
    /// ```
    pub fn status(&self) -> Status {
        match self {
            Error::InvalidUrl { .. } => Status::InvalidUrl,
            Error::InvalidArgument(_) => Status::InvalidArgument,
            Error::Unsupported { .. } => Status::FeatureDisabled,
            Error::Resolve { .. } => Status::HostNameNotResolved,
            Error::Connect { status, .. } => *status,
            Error::Timeout { .. } => Status::Timeout,
            Error::UnexpectedStatus {
                code: 407,
                proxy: true,
                ..
            } => Status::ProxyAuthenticationRequired,
            Error::UnexpectedStatus { proxy: true, .. } => Status::CannotConnectToProxy,
            Error::UnexpectedStatus { code: 401, .. } => Status::Unauthorized,
            Error::UnexpectedStatus { code, .. } => Status::UnexpectedStatusCode(*code),
            Error::Handshake { status, .. } => *status,
            Error::Closed { .. } => Status::Closed,
            Error::Protocol { status, .. } => *status,
            Error::Io { status, .. } => *status,
            Error::Tls { status, .. } => *status,
            Error::Other(e) => io_status(e),
            Error::Resource { .. } => Status::ResourceExhausted,
            Error::QueueFull => Status::QueueFull,
            Error::ServerShutDown => Status::ServerShutDown,
        }
    }

    /// A header of the HTTP answer that refused the upgrade (names are
    /// case-insensitive): `WWW-Authenticate` after a 401, `Location`,
    /// `Retry-After`. `None` for other errors.
    pub fn header(&self, name: &str) -> Option<&str> {
        match self {
            Error::UnexpectedStatus { headers, .. } => headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str()),
            _ => None,
        }
    }

    /// The close code and reason after a close handshake (the Closed event);
    /// `None` for every other error, including an abnormal end (1006).
    pub fn close_frame(&self) -> Option<&CloseFrame> {
        match self {
            Error::Closed { frame, .. } => Some(frame),
            _ => None,
        }
    }

    /// This error as an `io::Error` (for the `Read`/`Write` adapters): the
    /// kind follows the status, and `get_ref()` plus a downcast to
    /// `wsock::Error` gives the original back.
    pub fn into_io(self) -> io::Error {
        let kind = match self.status() {
            Status::Timeout => io::ErrorKind::TimedOut,
            Status::ConnectionReset => io::ErrorKind::ConnectionReset,
            Status::ConnectionAborted | Status::Closed => io::ErrorKind::ConnectionAborted,
            Status::InvalidArgument | Status::InvalidUrl => io::ErrorKind::InvalidInput,
            Status::ProtocolError | Status::InvalidUtf8 | Status::MessageTooBig => {
                io::ErrorKind::InvalidData
            }
            Status::CannotConnect => io::ErrorKind::ConnectionRefused,
            Status::QueueFull => io::ErrorKind::WouldBlock,
            Status::AddressInUse => io::ErrorKind::AddrInUse,
            Status::PermissionDenied => io::ErrorKind::PermissionDenied,
            Status::AddressNotAvailable => io::ErrorKind::AddrNotAvailable,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, self)
    }

    /// An I/O failure on a live connection, classified by its kind.
    pub(crate) fn io(peer: impl fmt::Display, what: impl Into<String>, err: io::Error) -> Error {
        Error::Io {
            peer: peer.to_string(),
            what: what.into(),
            status: io_status(&err),
            source: Arc::new(err),
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Other(Arc::new(e))
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        e.into_io()
    }
}

/// The status an I/O error on an established connection stands for.
pub(crate) fn io_status(err: &io::Error) -> Status {
    use io::ErrorKind::*;
    #[cfg(feature = "tls")]
    if let Some((status, _)) = classify(err) {
        return status;
    }
    match err.kind() {
        ConnectionReset | BrokenPipe | UnexpectedEof => Status::ConnectionReset,
        ConnectionAborted | NotConnected => Status::ConnectionAborted,
        TimedOut | WouldBlock => Status::Timeout,
        ConnectionRefused => Status::CannotConnect,
        _ => Status::Unknown,
    }
}

/// `Result` with wsock's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The status a failed TLS handshake stands for, and a sentence for it.
#[cfg(feature = "tls")]
pub(crate) fn classify(e: &io::Error) -> Option<(Status, String)> {
    let tls = e.get_ref()?.downcast_ref::<rustls::Error>()?;
    use rustls::CertificateError as C;
    let status = match tls {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => Status::CertificateUnknownIssuer,
            C::Expired
            | C::ExpiredContext { .. }
            | C::NotValidYet
            | C::NotValidYetContext { .. } => Status::CertificateExpired,
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                Status::CertificateCommonNameIsIncorrect
            }
            C::Revoked => Status::CertificateRevoked,
            _ => Status::CertificateIsInvalid,
        },
        rustls::Error::NoCertificatesPresented => Status::CertificateIsInvalid,
        // The peer refused our certificate (or our lack of one).
        rustls::Error::AlertReceived(alert) => {
            use rustls::AlertDescription as A;
            match alert {
                A::UnknownCA => Status::CertificateUnknownIssuer,
                A::CertificateExpired => Status::CertificateExpired,
                A::CertificateRevoked => Status::CertificateRevoked,
                A::BadCertificate
                | A::UnsupportedCertificate
                | A::CertificateUnknown
                | A::CertificateRequired
                | A::AccessDenied => Status::CertificateIsInvalid,
                _ => Status::CannotConnect,
            }
        }
        _ => Status::CannotConnect,
    };
    let text = tls.to_string();
    if text.contains("CaUsedAsEndEntity") {
        // What `openssl req -x509 -subj /CN=localhost` makes: trusted or
        // not, webpki refuses a CA certificate as the server's own.
        return Some((
            status,
            format!(
                "{text}: the server presents a CA certificate as its own (what \
                 `openssl req -x509` makes by default). Give it a leaf certificate: \
                 CA:FALSE and a subjectAltName for its name, e.g. `openssl req -x509 \
                 -newkey rsa:2048 -nodes -subj /CN=localhost -addext \
                 basicConstraints=critical,CA:FALSE -addext subjectAltName=DNS:localhost \
                 -keyout key.pem -out cert.pem`, or make one with the rcgen crate"
            ),
        ));
    }
    Some((status, text))
}
