//! The byte pipe under a WebSocket: a TCP connection that one reader thread
//! reads and one writer at a time writes, both through `&self`.
//!
//! Only this module touches sockets. TLS, when it arrives, becomes a second
//! variant here; the engine above sees the same `read`/`write` calls.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

/// Longest single blocking write; deadlines are checked between slices.
pub(crate) const WRITE_SLICE: Duration = Duration::from_millis(250);

#[derive(Debug)]
pub(crate) struct Transport {
    tcp: TcpStream,
    local: SocketAddr,
    peer: SocketAddr,
}

impl Transport {
    pub(crate) fn plain(tcp: TcpStream) -> io::Result<Transport> {
        let local = tcp.local_addr()?;
        let peer = tcp.peer_addr()?;
        tcp.set_write_timeout(Some(WRITE_SLICE))?;
        Ok(Transport { tcp, local, peer })
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub(crate) fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// Blocks until bytes arrive, the read timeout passes (`WouldBlock` or
    /// `TimedOut`), or the peer closes (`Ok(0)`).
    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.tcp).read(buf)
    }

    /// Sets the timeout of the next blocking `read`; `None` blocks until data.
    pub(crate) fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp.set_read_timeout(timeout)
    }

    /// Writes some bytes, blocking at most [`WRITE_SLICE`].
    pub(crate) fn write(&self, buf: &[u8]) -> io::Result<usize> {
        (&self.tcp).write(buf)
    }

    /// Writes what fits in the socket buffer now, never blocking
    /// (`WouldBlock` when nothing fits).
    pub(crate) fn write_nonblocking(&self, buf: &[u8]) -> io::Result<usize> {
        #[cfg(unix)]
        {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
            #[cfg(not(any(target_os = "linux", target_os = "android")))]
            let flags = libc::MSG_DONTWAIT;
            socket2::SockRef::from(&self.tcp).send_with_flags(buf, flags)
        }
        #[cfg(not(unix))]
        {
            // No per-call non-blocking send here: leave the bytes for the next writer.
            let _ = buf;
            Err(io::ErrorKind::WouldBlock.into())
        }
    }

    /// Sends FIN after the bytes already written; reading goes on.
    pub(crate) fn shutdown_write(&self) -> io::Result<()> {
        self.tcp.shutdown(Shutdown::Write)
    }

    /// Ends the connection both ways; a blocked `read` returns at once.
    pub(crate) fn shutdown(&self) {
        let _ = self.tcp.shutdown(Shutdown::Both);
    }
}
