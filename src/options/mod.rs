//! The Control: every setting of a connection, with its default, and the
//! builders that set them before connecting or binding.

use std::marker::PhantomData;
use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result, Status};

/// Every setting of a connection. One `impl Default` holds every default.
/// (`pub` only so the sealed builder trait can name it; not reachable outside.)
#[derive(Debug, Clone)]
pub struct Options {
    pub no_delay: bool,
    pub connect_timeout: Duration,
    pub max_addresses: usize,
    pub send_timeout: Duration,
    pub receive_timeout: Duration,
    pub max_message_size: usize,
    pub max_frame_size: usize,
    pub close_timeout: Duration,
    pub handshake_timeout: Duration,
    pub protocols: Vec<String>,
    pub headers: Headers,
    /// Basic credentials for the upgrade request (`basic_auth`; the URL's
    /// userinfo takes their place when it has some).
    pub credentials: Option<Credentials>,
    pub max_redirects: usize,
    pub(crate) proxy: ProxyChoice,
    /// Messages are handed on in parts from the first byte (stream mode).
    pub(crate) in_parts: bool,
    pub reader_stack_size: usize,
    pub max_pending_handshakes: usize,
    pub receive_queue_limit: usize,
    pub outbound_queue_limit: usize,
    pub http_requests: bool,
    pub allowed_origins: Option<Vec<String>>,
    pub max_connections: Option<usize>,
    pub ping_interval: Option<Duration>,
    pub pong_timeout: Option<Duration>,
    pub unsolicited_pong_interval: Option<Duration>,
    pub stream_write_buffer: usize,
    pub compression: Option<crate::Deflate>,
    #[cfg(feature = "tls")]
    pub(crate) client_tls: crate::tls::ClientTls,
    #[cfg(feature = "tls")]
    pub(crate) server_tls: crate::tls::ServerTls,
    /// The first invalid value a setter was given, reported by `connect`/`bind`.
    pub invalid: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            no_delay: true,
            connect_timeout: Duration::from_secs(60),
            max_addresses: 5,
            send_timeout: Duration::from_secs(30),
            receive_timeout: Duration::from_secs(30),
            max_message_size: 64 << 20,
            max_frame_size: 64 << 20,
            close_timeout: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(10),
            protocols: Vec::new(),
            headers: Headers::default(),
            credentials: None,
            max_redirects: 3,
            proxy: Default::default(),
            in_parts: false,
            reader_stack_size: 256 << 10,
            max_pending_handshakes: 256,
            receive_queue_limit: 8 << 20,
            outbound_queue_limit: 16 << 20,
            http_requests: false,
            allowed_origins: None,
            max_connections: None,
            ping_interval: Some(Duration::from_secs(20)),
            pong_timeout: Some(Duration::from_secs(20)),
            unsolicited_pong_interval: None,
            stream_write_buffer: 256 << 10,
            compression: Some(crate::Deflate::default()),
            #[cfg(feature = "tls")]
            client_tls: Default::default(),
            #[cfg(feature = "tls")]
            server_tls: Default::default(),
            invalid: None,
        }
    }
}

impl Options {
    fn invalid(&mut self, why: String) {
        self.invalid.get_or_insert(why);
    }

    fn timeout(&mut self, name: &str, value: Duration) -> Duration {
        if value.is_zero() {
            self.invalid(format!("{name} must be greater than zero"));
        }
        value
    }

    /// Checks the settings, returning them shared.
    pub(crate) fn validated(self) -> Result<Arc<Options>> {
        match &self.invalid {
            Some(why) => Err(Error::InvalidArgument(why.clone())),
            None => Ok(Arc::new(self)),
        }
    }
}

/// Options set before connecting: the Control of a client socket.
///
/// Get one from [`MessageWebSocket::builder`](crate::MessageWebSocket::builder);
/// setters chain, and [`connect`](Builder::connect) opens the socket. A bad
/// value never panics: `connect` returns [`Status::InvalidArgument`](crate::Status::InvalidArgument).
///
/// ```no_run
/// use std::time::Duration;
/// use wsock::MessageWebSocket;
/// let ws = MessageWebSocket::builder()
///     .connect_timeout(Duration::from_secs(5))
///     .protocols(["chat.v1"])
///     .header("Authorization", "Bearer t")
///     .connect("ws://127.0.0.1:9001/chat")?;
/// # Ok::<(), wsock::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "a builder does nothing until connect() is called"]
pub struct Builder<S> {
    pub(crate) options: Options,
    socket: PhantomData<fn() -> S>,
}

impl<S> Clone for Builder<S> {
    fn clone(&self) -> Self {
        Builder {
            options: self.options.clone(),
            socket: PhantomData,
        }
    }
}

/// A socket type a [`Builder`] can open: [`MessageWebSocket`](crate::MessageWebSocket)
/// or [`StreamWebSocket`](crate::StreamWebSocket).
pub trait Connect: Sized + sealed::Sealed {}

pub(crate) mod sealed {
    use std::sync::Arc;

    /// Keeps [`Connect`](crate::Connect) implementable only by wsock's
    /// sockets, and carries the constructor the builder calls.
    pub trait Sealed: Sized {
        fn connect_with(url: &str, options: Arc<super::Options>) -> crate::Result<Self>;
    }
}

impl<S: Connect> Builder<S> {
    pub(crate) fn new() -> Self {
        Builder {
            options: Options::default(),
            socket: PhantomData,
        }
    }

    /// Opens the connection: resolves the host, connects TCP within the
    /// connect timeout, and performs the WebSocket upgrade.
    pub fn connect(self, url: &str) -> Result<S> {
        S::connect_with(url, self.options.validated()?)
    }
}

/// Setters shared by the client [`Builder`] and the [`ServerBuilder`].
macro_rules! connection_setters {
    () => {
        /// Disables Nagle's algorithm (`TCP_NODELAY`) when true, so small
        /// messages leave at once. Defaults to `true`, as on Windows.
        pub fn no_delay(mut self, on: bool) -> Self {
            self.options.no_delay = on;
            self
        }

        /// The deadline for sending one whole message (not one system call);
        /// when it passes the connection fails with
        /// [`Status::Timeout`](crate::Status::Timeout). Defaults to 30 s.
        pub fn send_timeout(mut self, timeout: Duration) -> Self {
            self.options.send_timeout = self.options.timeout("send_timeout", timeout);
            self
        }

        /// How long the rest of a message may take once its first byte has
        /// arrived (a slow-peer guard); an idle connection between messages
        /// never times out. Only the peer's time counts: while the receive
        /// queue is full (the program is not receiving) the clock stops.
        /// A message read in parts, and stream mode, get this long for
        /// each frame. Defaults to 30 s.
        pub fn receive_timeout(mut self, timeout: Duration) -> Self {
            self.options.receive_timeout = self.options.timeout("receive_timeout", timeout);
            self
        }

        /// The largest message accepted from the peer whole (`recv`,
        /// `messages`); a larger one closes the connection with 1009.
        /// Defaults to 64 MiB. A message read in parts
        /// (`MessageWebSocket::recv_reader`, stream mode) has no size
        /// limit: [`max_frame_size`](Self::max_frame_size) bounds each of
        /// its frames instead.
        pub fn max_message_size(mut self, bytes: usize) -> Self {
            if bytes == 0 {
                self.options
                    .invalid("max_message_size must be greater than zero".into());
            }
            self.options.max_message_size = bytes;
            self
        }

        /// The largest frame accepted in a message read in parts
        /// (`MessageWebSocket::recv_reader`, stream mode); a larger one
        /// closes the connection with 1009. Memory for such a message is
        /// bounded by this and the receive queue limit, not by the
        /// message. Defaults to 64 MiB.
        pub fn max_frame_size(mut self, bytes: usize) -> Self {
            if bytes == 0 {
                self.options
                    .invalid("max_frame_size must be greater than zero".into());
            }
            self.options.max_frame_size = bytes;
            self
        }

        /// permessage-deflate (RFC 7692): on by default, with the
        /// [`Deflate`](crate::Deflate) defaults; `None` turns it off. A client
        /// offers it; a server accepts a client's offer.
        /// [`Info::compression`](crate::Info::compression) says what was
        /// agreed. The size limits count inflated bytes.
        ///
        /// ```
        /// use wsock::{Deflate, MessageWebSocket, Server};
        /// let server = Server::builder().compression(None).bind("127.0.0.1:0")?;
        /// let client = MessageWebSocket::builder().compression(Deflate::default().level(1));
        /// # drop((server, client));
        /// # Ok::<(), wsock::Error>(())
        /// ```
        pub fn compression(mut self, deflate: impl Into<Option<crate::Deflate>>) -> Self {
            self.options.compression = deflate.into();
            self
        }

        /// How long `close` (or a drop) waits for the peer's close frame
        /// before the connection is cut. `Duration::MAX` waits as long as
        /// the peer takes (a silent peer then holds `close` until keepalive
        /// fails the connection, if it is on). Defaults to 5 s.
        pub fn close_timeout(mut self, timeout: Duration) -> Self {
            self.options.close_timeout = self.options.timeout("close_timeout", timeout);
            self
        }

        /// Backpressure: while messages received and not yet taken by
        /// `recv`/`read` hold more than this many bytes, the reader thread
        /// stops reading the socket, so a fast peer meets TCP flow control
        /// instead of growing the heap. One message may exceed it. Defaults
        /// to 8 MiB.
        pub fn receive_queue_limit(mut self, bytes: usize) -> Self {
            self.options.receive_queue_limit = bytes;
            self
        }

        /// The send queue's limit: how many bytes of queued frames
        /// (`try_send`, `Hub::broadcast`, pongs) may wait for a peer that
        /// reads slowly before `try_send` says the queue is full. A message
        /// is always accepted into an empty queue, so one message may
        /// exceed it. The blocking sends wait for the wire instead and are
        /// not limited by it. `info().queued_bytes` is what waits now.
        /// Defaults to 16 MiB.
        pub fn outbound_queue_limit(mut self, bytes: usize) -> Self {
            self.options.outbound_queue_limit = bytes;
            self
        }

        /// Keepalive: after this long without a byte from the peer, send a
        /// ping; `None` sends none. Defaults to 20 s.
        pub fn ping_interval(mut self, interval: Option<Duration>) -> Self {
            if interval == Some(Duration::ZERO) {
                self.options
                    .invalid("ping_interval must be greater than zero".into());
            }
            self.options.ping_interval = interval;
            self
        }

        /// Keepalive: after a ping, the peer must send something (its pong)
        /// within this time, or the connection fails with
        /// [`Status::Timeout`](crate::Status::Timeout) and `recv` reports it;
        /// `None` never fails. A dead peer therefore never leaves `recv`
        /// blocked forever. Defaults to 20 s.
        pub fn pong_timeout(mut self, timeout: Option<Duration>) -> Self {
            if timeout == Some(Duration::ZERO) {
                self.options
                    .invalid("pong_timeout must be greater than zero".into());
            }
            self.options.pong_timeout = timeout;
            self
        }

        /// Sends an unsolicited pong (a one-way heartbeat, RFC 6455 5.5.3)
        /// this often, for peers that drop connections they think idle; the
        /// Windows `DesiredUnsolicitedPongInterval`. Defaults to `None` (off).
        pub fn unsolicited_pong_interval(mut self, interval: Option<Duration>) -> Self {
            if interval == Some(Duration::ZERO) {
                self.options
                    .invalid("unsolicited_pong_interval must be greater than zero".into());
            }
            self.options.unsolicited_pong_interval = interval;
            self
        }

        /// Stream mode: how many bytes small writes are gathered into before
        /// they leave as one binary message (`flush` sends them sooner).
        /// Defaults to 256 KiB: on loopback, 64 KiB writes gathered into
        /// 256 KiB messages ran at 2.8-4.8 GB/s, against 1.3-1.6 GB/s as
        /// 64 KiB messages (each message is a system call, and each call can
        /// cost the receiver a wake-up).
        pub fn stream_write_buffer(mut self, bytes: usize) -> Self {
            if bytes == 0 {
                self.options
                    .invalid("stream_write_buffer must be at least 1 byte".into());
            }
            self.options.stream_write_buffer = bytes;
            self
        }

        /// Stack size of the reader thread each socket owns. Defaults to 256 KiB.
        pub fn reader_stack_size(mut self, bytes: usize) -> Self {
            if bytes < 32 << 10 {
                self.options
                    .invalid("reader_stack_size must be at least 32 KiB".into());
            }
            self.options.reader_stack_size = bytes;
            self
        }
    };
}

impl<S> Builder<S> {
    connection_setters!();

    /// The total budget for resolving, connecting (across all addresses
    /// tried) and the opening handshake. Defaults to 60 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.options.connect_timeout = self.options.timeout("connect_timeout", timeout);
        self
    }

    /// How many resolved addresses are tried, within the connect timeout.
    /// They are raced (Happy Eyeballs, RFC 8305): IPv6 and IPv4 take
    /// turns, the resolver's first family first; the next address starts 250 ms after the one
    /// before it, or at once when one fails; the first TCP connection wins
    /// and the others are closed. Each address tried at once costs a
    /// short-lived thread. Defaults to 5.
    pub fn max_addresses(mut self, count: usize) -> Self {
        if count == 0 {
            self.options
                .invalid("max_addresses must be at least 1".into());
        }
        self.options.max_addresses = count;
        self
    }

    /// Subprotocols to offer (`Sec-WebSocket-Protocol`), in order of
    /// preference; the one the server chose is in [`Info::protocol`](crate::Info::protocol).
    /// Defaults to none.
    pub fn protocols<I, P>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        for p in protocols {
            let p = p.into();
            if !is_token(&p) {
                self.options
                    .invalid(format!("subprotocol {p:?} is not an HTTP token"));
            }
            self.options.protocols.push(p);
        }
        self
    }

    /// Adds a header to the upgrade request (for example `Authorization`).
    /// Defaults to none. The headers wsock writes itself are refused
    /// (`connect` then fails with [`Error::InvalidArgument`](crate::Error::InvalidArgument)):
    /// `Host`, `Upgrade`, `Connection`, `Sec-WebSocket-Key`,
    /// `-Version`, `-Accept`, `-Extensions` (set by
    /// [`compression`](Self::compression)) and `-Protocol` (set by
    /// [`protocols`](Self::protocols)).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let (name, value) = (name.into(), value.into());
        if !is_token(&name) {
            self.options
                .invalid(format!("header name {name:?} is not an HTTP token"));
        }
        if let Some(why) = client::handshake_header(&name) {
            self.options.invalid(format!(
                "header {name:?}: wsock writes it itself{why}, so it cannot be added"
            ));
        }
        if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            self.options
                .invalid(format!("header {name:?} has a line break in its value"));
        }
        self.options.headers.0.push((name, value));
        self
    }
}

#[cfg(feature = "tls")]
impl<S> Builder<S> {
    /// Trusts the CA certificates in `pem` for `wss://`, beside the
    /// webpki-roots defaults (for a private CA or a self-signed server).
    pub fn root_certificate_pem(mut self, pem: &[u8]) -> Self {
        match crate::tls::parse_certificates(pem, "root_certificate_pem") {
            Ok(certs) => self.options.client_tls.extra_roots.extend(certs),
            Err(why) => self.options.invalid(why),
        }
        self
    }

    /// Also trusts the platform's root certificates for `wss://` (the
    /// system's trust store, read by rustls-native-certs; `SSL_CERT_FILE`
    /// and `SSL_CERT_DIR` point it elsewhere), beside the webpki-roots
    /// defaults and any [`root_certificate_pem`](Self::root_certificate_pem).
    /// They are loaded once per process, at the first connect that asks for
    /// them; a certificate or a file that cannot be loaded is logged as a
    /// warning and skipped. Ignored with [`tls_config`](Self::tls_config)
    /// and [`danger_accept_invalid_certs`](Self::danger_accept_invalid_certs).
    /// Needs the `native-roots` cargo feature. Defaults to false.
    #[cfg(feature = "native-roots")]
    pub fn native_roots(mut self, on: bool) -> Self {
        self.options.client_tls.native_roots = on;
        self
    }

    /// Presents this certificate chain and key (PEM) when the server asks
    /// for a client certificate (mutual TLS).
    pub fn client_certificate_pem(mut self, cert_chain_pem: &[u8], key_pem: &[u8]) -> Self {
        let chain = crate::tls::parse_certificates(cert_chain_pem, "client_certificate_pem");
        let key = crate::tls::parse_key(key_pem, "client_certificate_pem");
        match (chain, key) {
            (Ok(chain), Ok(key)) => {
                self.options.client_tls.client_auth = Some(Arc::new((chain, key)))
            }
            (Err(why), _) | (_, Err(why)) => self.options.invalid(why),
        }
        self
    }

    /// Full control of TLS (custom verifiers, client certificates, ALPN):
    /// this configuration is used as it is, and the other TLS options are
    /// ignored.
    pub fn tls_config(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.options.client_tls.config = Some(config);
        self
    }

    /// **For development only:** accepts any server certificate (expired,
    /// self-signed, for another name). Anyone on the path can read and
    /// change the traffic. Logs a warning at every connect. Defaults to false.
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.options.client_tls.accept_invalid_certs = accept;
        self
    }
}

/// RFC 7230 token characters: what header names and subprotocols may contain.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

// After `connection_setters`, which it uses.
mod server;
pub use server::ServerBuilder;

// After `connection_setters`, which it uses.
mod client;
mod reconnect;
pub(crate) use client::{is_secret_header, redact_raw, ProxyChoice};
pub use client::{Credentials, Headers};
pub use reconnect::Reconnect;
