//! `https://` proxies: TLS to the proxy, `CONNECT` inside it, then a relay
//! between that TLS pipe and one end of a loopback TCP pair, so that the
//! engine runs over the other end exactly as over a direct TCP connection
//! (plain for `ws://`, its own TLS for `wss://`: TLS inside TLS).
//!
//! Why a relay: the engine needs a real socket (socket options,
//! `MSG_DONTWAIT` writes, shutdown), and a [`Transport`] wraps one
//! `TcpStream`. The cost: two threads per connection (`wsock-relay-in`,
//! proxy to engine; `wsock-relay-out`, engine to proxy) and one more copy
//! of every byte through the loopback pair.
//!
//! Ends: when the engine's reader thread ends, it drops the [`Relay`]
//! (the engine's guard), which shuts down both the proxy connection and
//! the relay's end of the pair: both threads wake and end at once. Before
//! that, each side's end is passed on: the proxy ending (EOF, an error)
//! becomes EOF on the engine's socket; the engine shutting its socket
//! down becomes a TLS `close_notify` and FIN to the proxy. A connect that
//! fails before the engine starts drops the `Relay` the same way.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use super::*;

/// The longest single blocking step of a relay thread; the stop flag is
/// checked between (shutdown wakes them sooner on the platforms we know).
const RELAY_SLICE: Duration = Duration::from_secs(1);
/// Bytes moved per read.
const RELAY_BUFFER: usize = 16 << 10;

/// A running relay; dropping it ends both of its threads (bounded: each
/// wakes from its blocking call at once, or within [`RELAY_SLICE`]).
pub(crate) struct Relay {
    proxy: Arc<Transport>,
    near: Arc<TcpStream>,
    stop: Arc<AtomicBool>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        self.proxy.shutdown();
        let _ = self.near.shutdown(Shutdown::Both);
    }
}

/// The TLS handshake with the proxy, verified with the client's own TLS
/// settings (roots, client certificate), the proxy's host as server name.
pub(super) fn tls_to_proxy(
    tcp: TcpStream,
    proxy: &proxy::Proxy,
    options: &Options,
    deadline: Deadline,
) -> Result<Transport> {
    slice_timeouts(&tcp, deadline);
    let config = crate::tls::client_config(&options.client_tls)?;
    let accept_invalid =
        options.client_tls.accept_invalid_certs && options.client_tls.config.is_none();
    let conn = crate::tls::client_connection(config, &proxy.host, accept_invalid)?;
    Transport::tls(tcp, conn, Some(proxy.host.clone()), deadline)
        .map_err(|e| crate::tls::tls_error(&proxy.shown, e, options.connect_timeout))
}

/// Starts relaying between `proxy` (a tunnel already open) and a new
/// loopback TCP pair; returns the engine's end of the pair and the relay.
pub(super) fn start(
    proxy: Transport,
    shown: &str,
    options: &Options,
    deadline: Deadline,
) -> Result<(TcpStream, Relay)> {
    let io = |what: &str, e: io::Error| Error::Resource {
        what: format!("cannot {what} for the https proxy {shown}"),
        reason: e.to_string(),
    };
    let (engine_end, near) = loopback_pair(deadline).map_err(|e| io("make a loopback pair", e))?;
    let _ = near.set_nodelay(true);
    let relay = Relay {
        proxy: Arc::new(proxy),
        near: Arc::new(near),
        stop: Arc::new(AtomicBool::new(false)),
    };
    let close_timeout = options.close_timeout;
    let spawn = |name: &str, body: fn(&Transport, &TcpStream, &AtomicBool, Duration)| {
        let (proxy, near, stop) = (relay.proxy.clone(), relay.near.clone(), relay.stop.clone());
        std::thread::Builder::new()
            .name(name.into())
            .stack_size(64 << 10)
            .spawn(move || body(&proxy, &near, &stop, close_timeout))
            .map(drop)
            .map_err(|e| io("start a relay thread", e))
    };
    // If the second fails, dropping `relay` ends the first.
    spawn("wsock-relay-in", proxy_to_engine)?;
    spawn("wsock-relay-out", engine_to_proxy)?;
    Ok((engine_end, relay))
}

/// A connected loopback TCP pair: (ours, the relay's). The listener takes
/// only the connection we made (anyone on this machine could connect to
/// it meanwhile: those are dropped), and is closed before this returns.
fn loopback_pair(deadline: Deadline) -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let to = listener.local_addr()?;
    let ours = TcpStream::connect_timeout(&to, deadline.left().max(Duration::from_millis(1)))?;
    let me = ours.local_addr()?;
    listener.set_nonblocking(true)?;
    loop {
        match listener.accept() {
            Ok((theirs, from)) if from == me => {
                theirs.set_nonblocking(false)?;
                return Ok((ours, theirs));
            }
            Ok(_) => {} // a stranger: dropped
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // Ours is queued once its connect returned on most systems;
                // where it is not yet, it is within moments.
                if deadline.has_passed() {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the loopback connection was not accepted in time",
                    ));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// `wsock-relay-in`: plaintext from the proxy's TLS to the engine's socket.
fn proxy_to_engine(proxy: &Transport, near: &TcpStream, stop: &AtomicBool, _: Duration) {
    let mut buf = vec![0u8; RELAY_BUFFER];
    let _ = proxy.set_read_timeout(Some(RELAY_SLICE));
    let _ = near.set_write_timeout(Some(RELAY_SLICE));
    while !stop.load(Relaxed) {
        match proxy.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if !write_all(near, &buf[..n], stop) {
                    // The engine's socket is gone: so is the connection.
                    stop.store(true, Relaxed);
                    proxy.shutdown();
                    break;
                }
            }
            Err(e) if is_pause(&e) => {}
            Err(_) => break,
        }
    }
    // The engine reads the end after everything that came before it.
    let _ = near.shutdown(Shutdown::Write);
}

/// `wsock-relay-out`: bytes from the engine's socket into the proxy's TLS.
fn engine_to_proxy(proxy: &Transport, near: &TcpStream, stop: &AtomicBool, close: Duration) {
    let mut buf = vec![0u8; RELAY_BUFFER];
    let _ = near.set_read_timeout(Some(RELAY_SLICE));
    let mut reader = near;
    while !stop.load(Relaxed) {
        match reader.read(&mut buf) {
            Ok(0) => {
                // The engine shut its socket down: pass the end on, and
                // let the other thread read what the proxy still sends.
                proxy.queue_close_notify();
                let _ = proxy.write_all_by(&[], Deadline::after(close));
                let _ = proxy.shutdown_write();
                return;
            }
            // No deadline of its own: a proxy may rightly stall for as
            // long as its peer does; the relay's drop (shutdown) ends it.
            Ok(n) => {
                if proxy.write_all_by(&buf[..n], Deadline::Never).is_err() {
                    break;
                }
            }
            Err(e) if is_pause(&e) => {}
            Err(_) => break,
        }
    }
    stop.store(true, Relaxed);
    proxy.shutdown();
    let _ = near.shutdown(Shutdown::Both);
}

/// Writes all of `bytes`, in slices, until done, an error, or `stop`.
fn write_all(near: &TcpStream, mut bytes: &[u8], stop: &AtomicBool) -> bool {
    let mut writer = near;
    while !bytes.is_empty() {
        match writer.write(bytes) {
            Ok(0) => return false,
            Ok(n) => bytes = &bytes[n..],
            Err(e) if is_pause(&e) && !stop.load(Relaxed) => {}
            Err(_) => return false,
        }
    }
    true
}

fn is_pause(e: &io::Error) -> bool {
    crate::transport::is_timeout(e) || e.kind() == io::ErrorKind::Interrupted
}
