//! The server: a listener whose acceptor thread hands each new connection
//! to a short-lived handshake thread (bounded in number and in time), so a
//! client that never finishes its upgrade request holds up no one. Complete
//! requests reach [`Server::incoming`] as [`Request`]s to inspect, then
//! accept or reject.

use std::fmt;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use log::{debug, warn};
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tungstenite::handshake::machine::TryParse;
use tungstenite::handshake::server::{create_response, write_response};
use tungstenite::http::{self, HeaderValue, StatusCode};
use tungstenite::protocol::{Role, WebSocket};

use crate::engine::{self, Pipe, Sink};
use crate::error::{Error, Result, Status};
use crate::hub::{Connection, Hub};
use crate::message_socket::MessageWebSocket;
use crate::options::{Options, ServerBuilder};
use crate::stream::StreamWebSocket;
use crate::time::Deadline;
use crate::transport::{is_timeout, Transport};

/// The largest upgrade request accepted (request line and headers).
const MAX_REQUEST: usize = 16 << 10;
/// Longest single blocking read or write during a handshake.
const HANDSHAKE_SLICE: Duration = Duration::from_millis(250);
const LISTEN_BACKLOG: i32 = 1024;

/// A WebSocket server: listens, performs opening handshakes off the accept
/// loop, and yields each upgrade request for the program to decide on.
///
/// ```
/// use wsock::Server;
/// let server = Server::bind("127.0.0.1:0")?;
/// println!("listening on {}", server.local_addr()?);
/// # Ok::<(), wsock::Error>(())
/// ```
///
/// Dropping the server stops accepting; connections already accepted live on.
pub struct Server {
    local_addr: SocketAddr,
    requests: Mutex<mpsc::Receiver<Result<Request>>>,
    listener: TcpListener,
    stopping: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .finish()
    }
}

impl Server {
    /// Binds with the default options and starts accepting.
    pub fn bind(addr: impl ToSocketAddrs) -> Result<Server> {
        Server::builder().bind(addr)
    }

    /// Binds a `wss://` server with this certificate chain and private key
    /// (PEM) and the default options.
    #[cfg(feature = "tls")]
    pub fn bind_tls(
        addr: impl ToSocketAddrs,
        cert_chain_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<Server> {
        Server::builder()
            .tls_pem(cert_chain_pem, key_pem)
            .bind(addr)
    }

    /// Options for the server and the connections it accepts.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    pub(crate) fn bind_with(addr: impl ToSocketAddrs, options: Arc<Options>) -> Result<Server> {
        let addrs: Vec<SocketAddr> = addr
            .to_socket_addrs()
            .map_err(|e| Error::InvalidArgument(format!("cannot bind: bad address: {e}")))?
            .collect();
        let mut last = None;
        let listener = addrs.iter().find_map(|a| match listen(*a) {
            Ok(l) => Some(l),
            Err(e) => {
                last = Some((*a, e));
                None
            }
        });
        let listener = match (listener, last) {
            (Some(l), _) => l,
            (None, Some((a, e))) => return Err(Error::io(a, "binding", e)),
            (None, None) => {
                return Err(Error::InvalidArgument(
                    "cannot bind: no address given".into(),
                ))
            }
        };
        let mut settled = Options::clone(&options);
        settled
            .max_connections
            .get_or_insert_with(default_max_connections);
        let options = Arc::new(settled);
        #[cfg(feature = "tls")]
        let tls = crate::tls::server_config(&options.server_tls)?;
        #[cfg(not(feature = "tls"))]
        let tls = None;
        let local_addr = listener
            .local_addr()
            .map_err(|e| Error::io("listener", "binding", e))?;
        let accepting = listener
            .try_clone()
            .map_err(|e| Error::io(local_addr, "binding", e))?;
        let (tx, rx) = mpsc::channel();
        let stopping = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&stopping);
        let acceptor = std::thread::Builder::new()
            .name("wsock-acceptor".into())
            .stack_size(128 << 10)
            .spawn(move || accept_loop(accepting, options, tls, tx, stop))
            .map_err(|e| Error::Resource {
                what: "cannot start the acceptor thread".into(),
                reason: e.to_string(),
            })?;
        Ok(Server {
            local_addr,
            requests: Mutex::new(rx),
            listener,
            stopping,
            acceptor: Some(acceptor),
        })
    }

    /// The address the server listens on (with the real port after binding port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local_addr)
    }

    /// Blocks until the next client has sent a complete, valid upgrade request.
    pub fn accept(&self) -> Result<Request> {
        let requests = crate::sync::lock(&self.requests);
        requests.recv().unwrap_or_else(|_| {
            Err(Error::Resource {
                what: "accepting".into(),
                reason: "the acceptor thread ended".into(),
            })
        })
    }

    /// Iterates over incoming upgrade requests, forever.
    ///
    /// A client whose request is invalid gets `400 Bad Request`, and one that
    /// does not finish it within the handshake timeout is dropped; both are
    /// logged, never returned here, so `let request = request?;` in a loop
    /// does not end the server because of one bad client.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { server: self }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wakes the acceptor's blocked accept() (Linux returns EINVAL).
        let _ = SockRef::from(&self.listener).shutdown(Shutdown::Both);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// The iterator of [`Server::incoming`].
#[derive(Debug)]
pub struct Incoming<'a> {
    server: &'a Server,
}

impl Iterator for Incoming<'_> {
    type Item = Result<Request>;

    fn next(&mut self) -> Option<Result<Request>> {
        let requests = crate::sync::lock(&self.server.requests);
        requests.recv().ok()
    }
}

fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// Counts handshakes in progress and makes the acceptor wait at the limit.
#[derive(Default)]
struct Slots {
    busy: Mutex<usize>,
    freed: Condvar,
}

impl Slots {
    fn take(&self, max: usize) {
        let mut busy = crate::sync::lock(&self.busy);
        while *busy >= max {
            busy = self.freed.wait(busy).unwrap_or_else(|e| e.into_inner());
        }
        *busy += 1;
    }

    fn give(&self) {
        *crate::sync::lock(&self.busy) -= 1;
        self.freed.notify_one();
    }
}

/// The TLS configuration of a `wss://` server.
#[cfg(feature = "tls")]
type TlsConfig = Option<Arc<rustls::ServerConfig>>;
#[cfg(not(feature = "tls"))]
type TlsConfig = Option<Arc<std::convert::Infallible>>;

fn accept_loop(
    listener: TcpListener,
    options: Arc<Options>,
    tls: TlsConfig,
    requests: mpsc::Sender<Result<Request>>,
    stopping: Arc<AtomicBool>,
) {
    let slots = Arc::new(Slots::default());
    let live = Arc::new(AtomicUsize::new(0));
    loop {
        slots.take(options.max_pending_handshakes);
        let accepted = listener.accept();
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        let (tcp, peer) = match accepted {
            Ok(c) => c,
            Err(e) => {
                slots.give();
                match e.kind() {
                    io::ErrorKind::ConnectionAborted | io::ErrorKind::Interrupted => {}
                    _ => {
                        // Out of descriptors or memory: back off instead of spinning.
                        warn!("accept failed: {e}");
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
                continue;
            }
        };
        let (options, requests, done) =
            (Arc::clone(&options), requests.clone(), Arc::clone(&slots));
        let (tls, live) = (tls.clone(), Arc::clone(&live));
        let spawned = std::thread::Builder::new()
            .name("wsock-handshake".into())
            .stack_size(128 << 10)
            .spawn(move || {
                match read_request(tcp, peer, options, tls, live) {
                    Ok(request) => {
                        let _ = requests.send(Ok(request));
                    }
                    Err(e) => debug!("handshake with {peer} failed: {e}"),
                }
                done.give();
            });
        if let Err(e) = spawned {
            warn!("cannot start a handshake thread for {peer}: {e}");
            slots.give();
        }
    }
}

/// Reads and checks one upgrade request (after the TLS handshake, for
/// `wss://`), within the handshake timeout.
fn read_request(
    tcp: TcpStream,
    peer: SocketAddr,
    options: Arc<Options>,
    tls: TlsConfig,
    live: Arc<AtomicUsize>,
) -> Result<Request> {
    let deadline = Deadline::after(options.handshake_timeout);
    let io_err = |e: io::Error| Error::io(peer, "reading the upgrade request", e);
    tcp.set_nodelay(options.no_delay).map_err(io_err)?;
    tcp.set_read_timeout(Some(HANDSHAKE_SLICE))
        .map_err(io_err)?;
    let transport = match tls {
        #[cfg(feature = "tls")]
        Some(config) => {
            let conn = rustls::ServerConnection::new(config)
                .map_err(|e| Error::InvalidArgument(format!("TLS configuration: {e}")))?;
            Transport::tls(tcp, rustls::Connection::Server(conn), None, deadline).map_err(|e| {
                crate::tls::tls_error(&peer.to_string(), e, options.handshake_timeout)
            })?
        }
        #[cfg(not(feature = "tls"))]
        Some(never) => match *never {},
        None => Transport::plain(tcp).map_err(io_err)?,
    };
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    let (used, http) = loop {
        if deadline.has_passed() {
            return Err(Error::Timeout {
                what: format!("the upgrade request of {peer}"),
                after: options.handshake_timeout,
            });
        }
        match transport.read(&mut chunk) {
            Ok(0) => {
                let e = io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed before its request was complete",
                );
                return Err(io_err(e));
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(e)),
        }
        match http::Request::<()>::try_parse(&buf) {
            Ok(Some(parsed)) => break parsed,
            Ok(None) if buf.len() > MAX_REQUEST => {
                refuse(
                    &transport,
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    "the request is too large",
                    deadline,
                );
                return Err(bad_request(peer, "the request is larger than 16 KiB"));
            }
            Ok(None) => {}
            Err(e) => {
                refuse(
                    &transport,
                    StatusCode::BAD_REQUEST,
                    &e.to_string(),
                    deadline,
                );
                return Err(bad_request(peer, &e.to_string()));
            }
        }
    };
    if let Err(e) = create_response(&http) {
        let mut status = StatusCode::BAD_REQUEST;
        if matches!(
            e,
            tungstenite::Error::Protocol(
                tungstenite::error::ProtocolError::MissingSecWebSocketVersionHeader
            )
        ) {
            status = StatusCode::UPGRADE_REQUIRED;
        }
        refuse(
            &transport,
            status,
            &format!("not a WebSocket upgrade request: {e}"),
            deadline,
        );
        return Err(bad_request(peer, &e.to_string()));
    }
    let max = options
        .max_connections
        .unwrap_or_else(default_max_connections);
    if live.fetch_add(1, Ordering::SeqCst) >= max {
        live.fetch_sub(1, Ordering::SeqCst);
        refuse(
            &transport,
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is at its connection limit",
            deadline,
        );
        return Err(Error::Resource {
            what: format!("accepting {peer}"),
            reason: format!("the server has {max} connections (max_connections); answered 503"),
        });
    }
    let tail = buf.split_off(used);
    Ok(Request {
        http,
        transport: Some(transport),
        tail,
        peer,
        options,
        protocol: None,
        slot: Some(ConnectionSlot(live)),
    })
}

fn bad_request(peer: SocketAddr, reason: &str) -> Error {
    Error::Handshake {
        peer: peer.to_string(),
        status: Status::InvalidRequest,
        reason: reason.to_owned(),
    }
}

/// Answers with an HTTP error and closes; failures are only logged.
fn refuse(transport: &Transport, status: StatusCode, body: &str, deadline: Deadline) {
    let mut response = http::Response::new(());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        "Content-Type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert("Content-Length", HeaderValue::from(body.len()));
    headers.insert("Connection", HeaderValue::from_static("close"));
    if status == StatusCode::UPGRADE_REQUIRED {
        headers.insert("Sec-WebSocket-Version", HeaderValue::from_static("13"));
    }
    let mut bytes = Vec::new();
    if write_response(&mut bytes, &response).is_ok() {
        bytes.extend_from_slice(body.as_bytes());
        transport.queue_close_notify();
        if let Err(e) = transport.write_all_by(&bytes, deadline) {
            debug!("cannot send HTTP {status}: {e}");
        }
    }
    let _ = transport.shutdown_write();
}

/// A client's upgrade request, complete and valid: inspect it, then
/// [`accept_message`](Request::accept_message) or [`reject`](Request::reject).
///
/// Dropping it undecided answers `503 Service Unavailable`.
pub struct Request {
    http: http::Request<()>,
    transport: Option<Transport>,
    /// Bytes the client sent after its request (its first frames).
    tail: Vec<u8>,
    peer: SocketAddr,
    options: Arc<Options>,
    protocol: Option<String>,
    /// This connection's place among the server's `max_connections`.
    slot: Option<ConnectionSlot>,
}

/// A place among a server's `max_connections`; freed when dropped (by the
/// connection's reader thread when it ends, or with an undecided request).
#[derive(Debug)]
struct ConnectionSlot(Arc<AtomicUsize>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The default `max_connections`: what this process's limits allow, with
/// room to spare. Each connection needs a descriptor and a reader thread,
/// and each thread about four memory mappings (`vm.max_map_count`).
pub(crate) fn default_max_connections() -> usize {
    let read_number = |path: &str, pick: &dyn Fn(&str) -> Option<usize>| {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|text| pick(&text))
    };
    let descriptors = read_number("/proc/self/limits", &|text| {
        let line = text.lines().find(|l| l.starts_with("Max open files"))?;
        line.split_whitespace().nth(3)?.parse().ok()
    });
    let threads = read_number("/proc/sys/vm/max_map_count", &|text| {
        text.trim().parse::<usize>().ok().map(|maps| maps / 4)
    });
    let limit = match (descriptors, threads) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b).unwrap_or(10_000),
    };
    limit.saturating_sub(64).max(16)
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("peer", &self.peer)
            .field("uri", &self.http.uri())
            .field("protocols", &self.protocols())
            .finish()
    }
}

impl Request {
    /// The request path, e.g. `/chat`.
    pub fn path(&self) -> &str {
        self.http.uri().path()
    }

    /// The query string after `?`, if any.
    pub fn query(&self) -> Option<&str> {
        self.http.uri().query()
    }

    /// A header's value (names are case-insensitive); `None` if absent or
    /// not visible ASCII. For a repeated header, the first.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.http.headers().get(name).and_then(|v| v.to_str().ok())
    }

    /// Every header as (lower-case name, value), skipping values that are
    /// not visible ASCII.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.http
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
    }

    /// The subprotocols the client offered, in its order of preference.
    pub fn protocols(&self) -> Vec<&str> {
        self.http
            .headers()
            .get_all("Sec-WebSocket-Protocol")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect()
    }

    /// Chooses the subprotocol to answer with; it must be one the client
    /// offered, else [`Status::InvalidArgument`].
    pub fn select_protocol(&mut self, protocol: &str) -> Result<()> {
        let offered = self.protocols();
        if !offered.contains(&protocol) {
            return Err(Error::InvalidArgument(format!(
                "subprotocol {protocol:?} was not offered by {} (it offered {offered:?})",
                self.peer
            )));
        }
        self.protocol = Some(protocol.to_owned());
        Ok(())
    }

    /// The client's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// Completes the handshake (101 Switching Protocols) and returns the
    /// socket in message mode.
    pub fn accept_message(mut self) -> Result<MessageWebSocket> {
        let (tx, events) = mpsc::channel();
        let shared = self.upgrade(|_| Sink::Socket(tx))?;
        Ok(MessageWebSocket::from_engine(shared, events))
    }

    /// Completes the handshake (101 Switching Protocols) and returns the
    /// socket in stream mode.
    pub fn accept_stream(mut self) -> Result<StreamWebSocket> {
        let (tx, events) = mpsc::channel();
        let shared = self.upgrade(|_| Sink::Socket(tx))?;
        Ok(StreamWebSocket::from_engine(shared, events))
    }

    /// Completes the handshake and delivers the connection's messages and
    /// its end into `hub`, from any number of connections, for one thread to
    /// serve them all; see [`Hub`].
    pub fn accept_into(mut self, hub: &Hub) -> Result<Connection> {
        let mut attached = None;
        let upgraded = self.upgrade(|shared| {
            let (connection, sink) = hub.attach(shared);
            attached = Some(connection);
            sink
        });
        match (upgraded, attached) {
            (Ok(_), Some(connection)) => Ok(connection),
            (Err(e), attached) => {
                if let Some(connection) = attached {
                    hub.detach(connection.id());
                }
                Err(e)
            }
            (Ok(_), None) => unreachable!("the engine asks for its sink before it starts"),
        }
    }

    fn upgrade(
        &mut self,
        sink: impl FnOnce(&Arc<engine::Shared>) -> Sink,
    ) -> Result<Arc<engine::Shared>> {
        let transport = self.transport.take().expect("a request is decided once");
        let peer = self.peer;
        let mut response =
            create_response(&self.http).map_err(|e| bad_request(peer, &e.to_string()))?;
        if let Some(p) = &self.protocol {
            let value =
                HeaderValue::from_str(p).map_err(|e| Error::InvalidArgument(e.to_string()))?;
            response
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", value);
        }
        let mut bytes = Vec::with_capacity(256);
        write_response(&mut bytes, &response).map_err(|e| bad_request(peer, &e.to_string()))?;
        let deadline = Deadline::after(self.options.handshake_timeout);
        transport
            .write_all_by(&bytes, deadline)
            .map_err(|e| Error::io(peer, "sending the 101 response", e))?;
        transport
            .set_read_timeout(None)
            .map_err(|e| Error::io(peer, "preparing the socket", e))?;
        let config = engine::protocol_config(&self.options);
        // Not `from_partially_read`: its read buffer has no reserved
        // capacity, which costs allocations on every frame.
        let ws = WebSocket::from_raw_socket(
            Pipe::memory(std::mem::take(&mut self.tail)),
            Role::Server,
            Some(config),
        );
        engine::start(
            transport,
            ws,
            Role::Server,
            Arc::clone(&self.options),
            peer.to_string(),
            self.protocol.clone(),
            sink,
            self.slot.take().map(|s| Box::new(s) as Box<dyn Send>),
        )
    }

    /// Refuses the upgrade with an HTTP `status` (not 101) and a plain-text `body`.
    pub fn reject(mut self, status: u16, body: &str) -> Result<()> {
        let code = StatusCode::from_u16(status)
            .ok()
            .filter(|c| !c.is_informational())
            .ok_or_else(|| {
                Error::InvalidArgument(format!("{status} is not an HTTP status to reject with"))
            })?;
        let transport = self.transport.take().expect("a request is decided once");
        refuse(
            &transport,
            code,
            body,
            Deadline::after(self.options.handshake_timeout),
        );
        Ok(())
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        if let Some(transport) = self.transport.take() {
            let deadline = Deadline::after(HANDSHAKE_SLICE);
            refuse(
                &transport,
                StatusCode::SERVICE_UNAVAILABLE,
                "the server dropped the request",
                deadline,
            );
        }
    }
}
