//! The server: a listener whose acceptor thread hands each new connection
//! to a short-lived handshake thread (bounded in number and in time), so a
//! client that never finishes its upgrade request holds up no one. Complete
//! requests reach [`Server::incoming`] as [`Request`]s to inspect, then
//! accept or reject.
//!
//! Here: the listener and its acceptor thread. `handshake.rs`: reading and
//! checking one upgrade request (a `wsock-handshake` thread each).
//! `request.rs`: the [`Request`] the program decides on.

mod handshake;
mod request;
mod shutdown;

use handshake::*;
pub use request::Request;
pub use shutdown::ShutdownHandle;
use shutdown::{ConnectionSlot, Served};

use std::fmt;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use log::{debug, warn};
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tungstenite::handshake::server::{create_response, write_response};
use tungstenite::http::{self, HeaderValue, StatusCode};
use tungstenite::protocol::Role;

use crate::engine::{self, Sink};
use crate::error::{Error, Result, Status};
use crate::hub::{Connection, Hub};
use crate::info::TlsInfo;
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
/// Dropping the server stops accepting; connections already accepted live
/// on. To stop it from another thread, and to close what it accepted, see
/// [`shutdown_handle`](Server::shutdown_handle).
pub struct Server {
    local_addr: SocketAddr,
    served: Arc<Served>,
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
            (None, Some((a, e))) => return Err(bind_error(a, e)),
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
        let waker = listener
            .try_clone()
            .map_err(|e| Error::io(local_addr, "binding", e))?;
        let served = Arc::new(Served::new(waker, (tx.clone(), rx), options.close_timeout));
        let shared = Arc::clone(&served);
        let acceptor = std::thread::Builder::new()
            .name("wsock-acceptor".into())
            .stack_size(128 << 10)
            .spawn(move || accept_loop(accepting, options, tls, tx, shared))
            .map_err(|e| Error::Resource {
                what: "cannot start the acceptor thread".into(),
                reason: e.to_string(),
            })?;
        drop(listener);
        Ok(Server {
            local_addr,
            served,
            acceptor: Some(acceptor),
        })
    }

    /// The address the server listens on (with the real port after binding port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local_addr)
    }

    /// Blocks until the next client has sent a complete, valid upgrade
    /// request. After a [`shutdown`](ShutdownHandle::shutdown), an error
    /// with [`Status::ServerShutDown`].
    pub fn accept(&self) -> Result<Request> {
        self.served.next_request()
    }

    /// A handle that stops this server from any thread (and can close the
    /// connections it accepted).
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            served: Arc::clone(&self.served),
        }
    }

    /// Iterates over incoming upgrade requests, until the server is shut
    /// down ([`shutdown_handle`](Server::shutdown_handle)).
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
        self.served.shutdown();
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        // Requests no one took are answered 503 now.
        self.served.drain_requests();
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
        match self.server.served.next_request() {
            Err(Error::ServerShutDown) => None,
            Err(Error::Resource { .. }) => None, // the acceptor ended
            next => Some(next),
        }
    }
}

/// Why `bind` failed, with a status of its own for the usual causes.
fn bind_error(addr: SocketAddr, e: io::Error) -> Error {
    let status = match e.kind() {
        io::ErrorKind::AddrInUse => Status::AddressInUse,
        io::ErrorKind::PermissionDenied => Status::PermissionDenied,
        io::ErrorKind::AddrNotAvailable => Status::AddressNotAvailable,
        _ => crate::error::io_status(&e),
    };
    Error::Io {
        peer: addr.to_string(),
        what: "binding".into(),
        status,
        source: Arc::new(e),
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
    served: Arc<Served>,
) {
    /// However the acceptor ends (a panic too), `incoming()` sees the end.
    struct EndsIncoming(Arc<Served>);
    impl Drop for EndsIncoming {
        fn drop(&mut self) {
            self.0.shutdown();
        }
    }
    let _ends = EndsIncoming(Arc::clone(&served));
    let slots = Arc::new(Slots::default());
    loop {
        slots.take(options.max_pending_handshakes);
        let accepted = listener.accept();
        if served.is_shut() {
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
        let (tls, served) = (tls.clone(), Arc::clone(&served));
        let spawned = std::thread::Builder::new()
            .name("wsock-handshake".into())
            .stack_size(128 << 10)
            .spawn(move || {
                match read_request(tcp, peer, options, tls, &served) {
                    // After a shutdown no one takes it: answered 503 here.
                    Ok(request) if served.is_shut() => drop(request),
                    Ok(request) => {
                        let _ = requests.send(Ok(request));
                        // A shutdown that came meanwhile may have emptied the
                        // queue already: nothing may stay in it (a request
                        // there would keep the server's state alive).
                        if served.is_shut() {
                            served.drain_requests();
                        }
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
