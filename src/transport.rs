//! The byte pipe under a WebSocket: a TCP connection, optionally inside TLS,
//! that one reader thread reads and one writer at a time writes, all
//! through `&self`.
//!
//! Only this module touches sockets. For TLS, one rustls connection serves
//! both directions behind a mutex that is never held while blocked on the
//! socket: the reader reads ciphertext without the lock, then locks to feed
//! it and take plaintext out; a writer locks to [`seal`](Transport::seal)
//! plaintext into ciphertext, unlocks, then writes the ciphertext. Sealing
//! happens only under the engine's `wire` lock, the same lock that orders
//! socket writes, so records reach the socket in the order rustls made them.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;
#[cfg(feature = "tls")]
use std::time::Instant;

use bytes::BytesMut;

use crate::info::TlsInfo;

mod nonblocking;
use self::nonblocking::NonBlocking;
use crate::time::Deadline;

#[cfg(feature = "tls")]
use std::sync::Mutex;

/// Longest single blocking write; deadlines are checked between slices.
pub(crate) const WRITE_SLICE: Duration = Duration::from_millis(250);
/// Plaintext sealed into TLS records at a time (four full records).
#[cfg(feature = "tls")]
const SEAL_CHUNK: usize = 64 << 10;

#[derive(Debug)]
pub(crate) struct Transport {
    tcp: TcpStream,
    /// The read timeout last set, in microseconds (0: none), so a TLS read
    /// can bound itself without asking the kernel.
    read_timeout_micros: AtomicU64,
    local: SocketAddr,
    peer: SocketAddr,
    #[cfg(feature = "tls")]
    tls: Option<Tls>,
}

#[cfg(feature = "tls")]
#[derive(Debug)]
struct Tls {
    conn: Mutex<rustls::Connection>,
    /// Ciphertext read from the socket (used by the reader thread only).
    incoming: Mutex<Incoming>,
    server_name: Option<String>,
}

/// Ciphertext read and not yet fed to rustls: `bytes[start..end]`.
#[cfg(feature = "tls")]
#[derive(Debug, Default)]
struct Incoming {
    bytes: Vec<u8>,
    start: usize,
    end: usize,
}

#[cfg(feature = "tls")]
use crate::sync::lock;

impl Transport {
    pub(crate) fn plain(tcp: TcpStream) -> io::Result<Transport> {
        let local = tcp.local_addr()?;
        let peer = tcp.peer_addr()?;
        tcp.set_write_timeout(Some(WRITE_SLICE))?;
        Ok(Transport {
            tcp,
            read_timeout_micros: AtomicU64::new(0),
            local,
            peer,
            #[cfg(feature = "tls")]
            tls: None,
        })
    }

    /// Runs the TLS handshake on `tcp` (whose read and write timeouts are
    /// short slices) until it completes or `deadline` passes.
    #[cfg(feature = "tls")]
    pub(crate) fn tls(
        tcp: TcpStream,
        mut conn: rustls::Connection,
        server_name: Option<String>,
        deadline: Deadline,
    ) -> io::Result<Transport> {
        conn.set_buffer_limit(None);
        let mut io = &tcp;
        while conn.is_handshaking() {
            match conn.complete_io(&mut io) {
                Ok(_) => {}
                Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {
                    if deadline.has_passed() {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "the TLS handshake did not finish in time",
                        ));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        let server_name = server_name.or_else(|| match &conn {
            rustls::Connection::Server(s) => s.server_name().map(str::to_owned),
            rustls::Connection::Client(_) => None,
        });
        let mut transport = Transport::plain(tcp)?;
        transport.tls = Some(Tls {
            conn: Mutex::new(conn),
            incoming: Mutex::new(Incoming::default()),
            server_name,
        });
        // Whatever the handshake left to send (a TLS 1.3 server's tickets).
        let mut wire = Vec::new();
        transport.seal(&mut Vec::new(), &mut wire);
        write_all_by(&transport.tcp, &wire, deadline)?;
        Ok(transport)
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub(crate) fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// The TLS session's facts, if this is TLS.
    pub(crate) fn tls_info(&self) -> Option<TlsInfo> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            let conn = lock(&tls.conn);
            return Some(TlsInfo {
                version: conn
                    .protocol_version()
                    .map(|v| format!("{v:?}"))
                    .unwrap_or_default(),
                cipher_suite: conn
                    .negotiated_cipher_suite()
                    .map(|s| format!("{:?}", s.suite()))
                    .unwrap_or_default(),
                server_name: tls.server_name.clone(),
                peer_certificates: conn
                    .peer_certificates()
                    .map(|c| c.iter().map(|c| c.to_vec()).collect())
                    .unwrap_or_default(),
            });
        }
        None
    }

    /// Reads plaintext. Blocks until bytes arrive, the read timeout passes
    /// (`WouldBlock` or `TimedOut`), or the peer closes (`Ok(0)`).
    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            let want = buf.len();
            return self.read_tls(tls, want, |plaintext| plaintext.read(buf));
        }
        (&self.tcp).read(buf)
    }

    /// [`read`](Self::read) onto the end of `buf` (emptied first), at most
    /// `max` bytes. Over TLS the plaintext is appended as rustls holds it,
    /// without first zero-filling room for it.
    pub(crate) fn read_into(&self, buf: &mut BytesMut, max: usize) -> io::Result<usize> {
        buf.clear();
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return self.read_tls(tls, max, |plaintext| {
                append_plaintext(plaintext, max, |chunk| buf.extend_from_slice(chunk))
            });
        }
        buf.resize(max, 0);
        let n = (&self.tcp).read(buf)?;
        buf.truncate(n);
        Ok(n)
    }

    /// [`read`](Self::read) onto the end of `buf` as it is (a message
    /// being assembled), at most `max` bytes: a large frame's payload goes
    /// straight where it belongs, not through the read buffer.
    pub(crate) fn read_onto(&self, buf: &mut Vec<u8>, max: usize) -> io::Result<usize> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return self.read_tls(tls, max, |plaintext| {
                append_plaintext(plaintext, max, |chunk| buf.extend_from_slice(chunk))
            });
        }
        let start = buf.len();
        buf.resize(start + max, 0);
        let read = (&self.tcp).read(&mut buf[start..]);
        buf.truncate(start + *read.as_ref().unwrap_or(&0));
        read
    }

    /// Reads plaintext with `take`, which takes what rustls holds (`Ok(0)`
    /// at the peer's close_notify, `WouldBlock` if it holds none), reading
    /// and feeding ciphertext (about `want` bytes a read) until there is some.
    #[cfg(feature = "tls")]
    fn read_tls(
        &self,
        tls: &Tls,
        want: usize,
        mut take: impl FnMut(&mut rustls::Reader<'_>) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let mut incoming = lock(&tls.incoming);
        // A record that trickles in must not hold the caller past its
        // read timeout: the timeout bounds the whole call.
        let mut first_socket_read: Option<Instant> = None;
        loop {
            {
                let mut conn = lock(&tls.conn);
                match take(&mut conn.reader()) {
                    Ok(n) => return Ok(n), // 0: the peer's close_notify
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    // rustls' own text for this points to its manual; say what happened.
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the peer closed TCP without a TLS close_notify (the stream may be cut short)",
                        ));
                    }
                    Err(e) => return Err(e),
                }
                // Ciphertext already read: one read_tls at a time, so the
                // plaintext rustls holds stays within its limit.
                if incoming.start < incoming.end {
                    let Incoming { bytes, start, end } = &mut *incoming;
                    *start += conn.read_tls(&mut &bytes[*start..*end])?;
                    conn.process_new_packets()
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                    continue;
                }
            }
            // More ciphertext off the socket, without the TLS lock.
            match first_socket_read {
                None => first_socket_read = Some(Instant::now()),
                Some(t)
                    if self
                        .read_timeout()
                        .is_some_and(|limit| t.elapsed() >= limit) =>
                {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                Some(_) => {}
            }
            let want = want.clamp(4096, 64 << 10);
            if incoming.bytes.len() < want {
                incoming.bytes.resize(want, 0);
            }
            let n = (&self.tcp).read(&mut incoming.bytes)?;
            (incoming.start, incoming.end) = (0, n);
            if n == 0 {
                // Tell rustls the stream ended; its reader then says how.
                let mut conn = lock(&tls.conn);
                conn.read_tls(&mut &[][..])?;
                conn.process_new_packets()
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            }
        }
    }

    /// Moves `plain` (cleared) onto the end of `wire` as the bytes to put on
    /// the socket: as they are, or sealed into TLS records (with any records
    /// rustls has queued itself, such as alerts). Called only by the holder
    /// of the engine's `wire` lock, which keeps records in order.
    ///
    /// Over TLS, while `wire` is empty (nothing sealed earlier waits), the
    /// records go straight to the socket as far as it takes them without
    /// blocking, rather than through a copy in `wire`. Returns how many
    /// bytes went straight to the socket.
    pub(crate) fn seal(&self, plain: &mut Vec<u8>, wire: &mut Vec<u8>) -> usize {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            let mut conn = lock(&tls.conn);
            let mut written = 0;
            // A few records at a time: rustls allocates each record it
            // seals and frees it once written out, and a quarter MiB of
            // them freed at once made glibc give the memory back and fault
            // it in again on every piece (a fresh process sent 30% slower).
            let mut records_out = |conn: &mut rustls::Connection| {
                while wire.is_empty() && conn.wants_write() {
                    match conn.write_tls(&mut NonBlocking(&self.tcp)) {
                        Ok(n) if n > 0 => written += n,
                        _ => break, // the socket is full (or failed: the next write says)
                    }
                }
                while conn.wants_write() {
                    if conn.write_tls(wire).is_err() {
                        break;
                    }
                }
            };
            for chunk in plain.chunks(SEAL_CHUNK) {
                // Unlimited buffer: the whole write is taken.
                let _ = conn.writer().write_all(chunk);
                records_out(&mut conn);
            }
            records_out(&mut conn); // rustls's own, with no plaintext
            plain.clear();
            return written;
        }
        if wire.is_empty() {
            std::mem::swap(plain, wire);
        } else {
            wire.append(plain);
        }
        0
    }

    /// True for a TLS connection.
    pub(crate) fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            return true;
        }
        false
    }

    /// True if TLS has records of its own waiting to be sealed out.
    pub(crate) fn has_tls_output(&self) -> bool {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return lock(&tls.conn).wants_write();
        }
        false
    }

    /// Queues a TLS close_notify (taken out by the next `seal`).
    pub(crate) fn queue_close_notify(&self) {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            lock(&tls.conn).send_close_notify();
        }
    }

    /// The read timeout last set.
    #[cfg(feature = "tls")]
    fn read_timeout(&self) -> Option<Duration> {
        let micros = self.read_timeout_micros.load(Relaxed);
        (micros > 0).then(|| Duration::from_micros(micros))
    }

    /// Sets the timeout of the next blocking `read`; `None` blocks until data.
    pub(crate) fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp.set_read_timeout(timeout)?;
        let micros = timeout.map_or(0, |t| {
            u64::try_from(t.as_micros()).unwrap_or(u64::MAX).max(1)
        });
        self.read_timeout_micros.store(micros, Relaxed);
        Ok(())
    }

    /// Writes some wire bytes, blocking at most [`WRITE_SLICE`].
    pub(crate) fn write_raw(&self, buf: &[u8]) -> io::Result<usize> {
        (&self.tcp).write(buf)
    }

    /// Writes what fits in the socket buffer now, never blocking
    /// (`WouldBlock` when nothing fits).
    pub(crate) fn write_raw_nonblocking(&self, buf: &[u8]) -> io::Result<usize> {
        NonBlocking(&self.tcp).write(buf)
    }

    /// Writes all of `plain` (sealed, for TLS) by `deadline`; for the
    /// opening handshake, before the engine runs.
    pub(crate) fn write_all_by(&self, plain: &[u8], deadline: Deadline) -> io::Result<()> {
        let mut wire = Vec::new();
        self.seal(&mut plain.to_vec(), &mut wire);
        write_all_by(&self.tcp, &wire, deadline)
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

pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn write_all_by(tcp: &TcpStream, mut bytes: &[u8], deadline: Deadline) -> io::Result<()> {
    while !bytes.is_empty() {
        match (&*tcp).write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {
                if deadline.has_passed() {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the peer took nothing in time",
                    ));
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Hands what `plaintext` holds to `put`, chunk by chunk, at most `max`
/// bytes in all, and says how many: the taking of
/// [`read_into`](Transport::read_into) and [`read_onto`](Transport::read_onto),
/// with no buffer zero-filled for it.
#[cfg(feature = "tls")]
fn append_plaintext(
    plaintext: &mut rustls::Reader<'_>,
    max: usize,
    mut put: impl FnMut(&[u8]),
) -> io::Result<usize> {
    use std::io::BufRead;
    let mut taken = 0;
    loop {
        let chunk = match plaintext.fill_buf() {
            Ok(chunk) => chunk,
            // What was taken first; the end or the error comes next time.
            Err(_) if taken > 0 => return Ok(taken),
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(taken); // 0: the peer's close_notify
        }
        let n = chunk.len().min(max - taken);
        put(&chunk[..n]);
        plaintext.consume(n);
        taken += n;
        if taken == max {
            return Ok(max);
        }
    }
}

/// The pipe during the opening handshake: blocking plaintext reads and
/// writes (sealed for TLS), with the socket's slice timeouts.
impl Read for &Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Transport::read(self, buf)
    }
}

impl Write for &Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Sealed bytes cannot be taken back: write them all (bounded).
        self.write_all_by(buf, Deadline::after(Duration::from_secs(10)))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
