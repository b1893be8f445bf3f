//! The socket as a writer that never blocks: what the engine writes
//! without waiting, and TLS records written from rustls' buffers.

use std::io::{self, Write};
use std::net::TcpStream;

/// The socket as a writer that never blocks (`WouldBlock` when it has no
/// room): the engine's writes that must not wait, and TLS records written
/// from rustls's buffers without a copy.
pub(super) struct NonBlocking<'a>(pub(super) &'a TcpStream);

/// A send that returns at once when the socket is full, and never raises
/// SIGPIPE.
#[cfg(any(target_os = "linux", target_os = "android"))]
const NON_BLOCKING: libc::c_int = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
#[cfg(all(unix, not(any(target_os = "linux", target_os = "android"))))]
const NON_BLOCKING: libc::c_int = libc::MSG_DONTWAIT;

impl Write for NonBlocking<'_> {
    /// One buffer: `send(2)`, cheaper than `sendmsg(2)` with one slice
    /// (no message header to copy in: about 0.1 µs of a broadcast's 3.2
    /// per connection).
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        #[cfg(unix)]
        {
            socket2::SockRef::from(self.0).send_with_flags(buf, NON_BLOCKING)
        }
        #[cfg(not(unix))]
        {
            self.write_vectored(&[io::IoSlice::new(buf)])
        }
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        #[cfg(unix)]
        {
            socket2::SockRef::from(self.0).send_vectored_with_flags(bufs, NON_BLOCKING)
        }
        #[cfg(not(unix))]
        {
            // No per-call non-blocking send here: leave the bytes for the
            // next writer (or, sealed, in `wire`).
            let _ = bufs;
            Err(io::ErrorKind::WouldBlock.into())
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
