//! Stream mode: [`StreamWebSocket`], a byte pipe with `std::io::Read` and
//! `std::io::Write` over binary messages.

use std::fmt;
use std::io::{self, Read, Write};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use tungstenite::protocol::Role;
use tungstenite::Bytes;

use crate::engine::{Engine, Event, Incoming};
use crate::error::{Error, Result};
use crate::inbox::{Inbox, Next, Wait};
use crate::info::{ByteCounter, Info};
use crate::options::{Builder, Connect, Options};

/// Largest binary message one `write` sends; bigger writes become several.
const MAX_CHUNK: usize = 1 << 20;

/// A WebSocket in stream mode: a byte pipe that implements
/// [`Read`] and [`Write`], for large transfers (`io::copy`, files, codecs).
///
/// **Reading** returns the payload bytes of incoming messages in order,
/// across message boundaries, into buffers of any size; `Ok(0)` after the
/// peer's close frame. Text messages are delivered as their UTF-8 bytes.
/// **Writing** coalesces small writes in a buffer (256 KiB by default, see
/// [`stream_write_buffer`](crate::Builder::stream_write_buffer)), sent as
/// one binary message when full; a write at least as large as the buffer,
/// arriving with the buffer empty, goes out straight from the caller's
/// memory as binary messages of at most 1 MiB. [`flush`](Write::flush) sends
/// what is buffered. Every byte written arrives, in order, exactly once.
///
/// Errors are `io::Error`s that carry a [`wsock::Error`](crate::Error):
/// `e.get_ref().and_then(|e| e.downcast_ref::<wsock::Error>())` gives its
/// [`status`](crate::Error::status) back.
///
/// [`split`](Self::split) gives a reader half and a writer half for two
/// threads. WebSocket has no half-close: `close` ends both directions (a
/// peer that receives the close frame answers it and can send no more), so
/// close once the data you expect back has arrived. Dropping the socket
/// (or its writer half) flushes and starts a clean close.
///
/// ```
/// use std::io::{Read, Write};
/// use wsock::{Server, StreamWebSocket};
///
/// let server = Server::bind("127.0.0.1:0")?;
/// let url = format!("ws://{}/upload", server.local_addr()?);
/// let receiver = std::thread::spawn(move || -> std::io::Result<Vec<u8>> {
///     let mut s = server.accept()?.accept_stream()?;
///     let mut all = Vec::new();
///     s.read_to_end(&mut all)?; // until the client's close
///     Ok(all)
/// });
/// let mut s = StreamWebSocket::connect(&url)?;
/// s.write_all(b"a byte pipe")?;
/// s.close(1000, "done")?;
/// assert_eq!(receiver.join().unwrap()?, b"a byte pipe");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct StreamWebSocket {
    reader: StreamReader,
    writer: StreamWriter,
}

impl fmt::Debug for StreamWebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamWebSocket")
            .field("local_addr", &self.writer.shared.local_addr())
            .field("peer_addr", &self.writer.shared.peer_addr())
            .finish()
    }
}

impl StreamWebSocket {
    /// Connects to a `ws://` URL with the default options.
    pub fn connect(url: &str) -> Result<StreamWebSocket> {
        Self::builder().connect(url)
    }

    /// The Control: options to set before connecting (the same as message mode).
    pub fn builder() -> Builder<StreamWebSocket> {
        Builder::new()
    }

    pub(crate) fn from_engine(shared: Arc<Engine>, events: mpsc::Receiver<Event>) -> Self {
        let capacity = shared.options.stream_write_buffer;
        // A stream reads frame payloads as they come, whatever the size of
        // the messages they are in (the frame size limit holds). Its
        // options asked for that before the reader started; this covers
        // any other way in.
        shared.want_parts();
        StreamWebSocket {
            reader: StreamReader {
                shared: Arc::clone(&shared),
                events: Inbox::new(events, Arc::clone(&shared)),
                current: Bytes::new(),
                end: None,
                timeout: None,
                read: ByteCounter::default(),
            },
            writer: StreamWriter {
                shared,
                buffer: Vec::with_capacity(capacity),
                capacity,
                timeout: None,
                written: ByteCounter::default(),
            },
        }
    }

    /// Splits into a reader half and a writer half, both `Send`, for full
    /// duplex on two threads (the analog of `TcpStream::try_clone`).
    pub fn split(self) -> (StreamReader, StreamWriter) {
        (self.reader, self.writer)
    }

    /// Flushes, then performs the close handshake (waits up to the close
    /// timeout for the peer's close frame). The peer's `read` returns
    /// `Ok(0)` after all the data.
    pub fn close(&mut self, code: u16, reason: &str) -> Result<()> {
        self.writer.close(code, reason)
    }

    /// Sets how long a `read` may wait; `None` (the default) waits until data
    /// or the end. A read that times out fails with `io::ErrorKind::TimedOut`.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.reader.set_read_timeout(timeout)
    }

    /// Sets how long one `write` or `flush` may take to put its bytes on the
    /// wire; `None` uses the send timeout. When it passes, the connection
    /// fails (a partial message cannot be taken back) with
    /// `io::ErrorKind::TimedOut`.
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.writer.set_write_timeout(timeout)
    }

    /// The Information: addresses, subprotocol, traffic counters.
    pub fn info(&self) -> Info {
        self.writer.shared.info()
    }

    /// See [`StreamWriter::bytes_written`].
    pub fn bytes_written(&self) -> u64 {
        self.writer.bytes_written()
    }

    /// See [`StreamReader::bytes_read`].
    pub fn bytes_read(&self) -> u64 {
        self.reader.bytes_read()
    }

    /// See [`StreamWriter::bytes_written_counter`] (a progress bar's).
    pub fn bytes_written_counter(&self) -> ByteCounter {
        self.writer.bytes_written_counter()
    }

    /// See [`StreamReader::bytes_read_counter`].
    pub fn bytes_read_counter(&self) -> ByteCounter {
        self.reader.bytes_read_counter()
    }
}

impl Read for StreamWebSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read(buf)
    }
}

impl Write for StreamWebSocket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

impl Connect for StreamWebSocket {}

impl crate::options::sealed::Sealed for StreamWebSocket {
    fn connect_with(url: &str, mut options: Arc<Options>) -> Result<Self> {
        // Frame payloads as they arrive, from the first one on.
        Arc::make_mut(&mut options).in_parts = true;
        let (shared, events) = crate::connect::connect(url, options)?;
        Ok(StreamWebSocket::from_engine(shared, events))
    }
}

/// The reading half of a [`StreamWebSocket`]; implements [`Read`].
pub struct StreamReader {
    shared: Arc<Engine>,
    events: Inbox,
    /// The unread rest of the current message.
    current: Bytes,
    /// How the stream ended: `None` while open; `Some(None)` after a close
    /// handshake (reads return 0); `Some(Some(e))` after a failure.
    end: Option<Option<Error>>,
    timeout: Option<Duration>,
    /// Payload bytes returned by `read`.
    read: ByteCounter,
}

impl fmt::Debug for StreamReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamReader")
            .field("peer_addr", &self.shared.peer_addr())
            .finish()
    }
}

impl StreamReader {
    /// See [`StreamWebSocket::set_read_timeout`].
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        if timeout == Some(Duration::ZERO) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a zero read timeout",
            ));
        }
        self.timeout = timeout;
        Ok(())
    }

    /// Payload bytes that [`read`](Read::read) has returned so far (of
    /// messages, not frames: for those see
    /// [`Info::bytes_received`](crate::Info::bytes_received)).
    pub fn bytes_read(&self) -> u64 {
        self.read.get()
    }

    /// A handle on the [`bytes_read`](Self::bytes_read) counter for
    /// another thread while this half reads; see
    /// [`StreamWriter::bytes_written_counter`].
    pub fn bytes_read_counter(&self) -> ByteCounter {
        self.read.clone()
    }

    /// Waits for the next message; false at the end of the stream.
    fn refill(&mut self) -> io::Result<bool> {
        loop {
            match &self.end {
                Some(None) => return Ok(false),
                Some(Some(e)) => return Err(e.clone().into_io()),
                None => {}
            }
            let wait = match self.timeout {
                None => Wait::Forever,
                Some(d) => Wait::For(d),
            };
            match self.events.next(wait) {
                Next::Item(item) => {
                    // Frame payloads as they arrive: no message assembly.
                    self.current = payload(item);
                    if !self.current.is_empty() {
                        return Ok(true);
                    }
                }
                Next::Empty => {
                    let d = self.timeout.unwrap_or_default();
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        Error::Timeout {
                            what: format!("reading from {}", self.shared.peer_addr()),
                            after: d,
                        },
                    ));
                }
                Next::End(e) => {
                    self.end = Some(e.close_frame().is_none().then_some(e));
                }
                Next::Gone => self.end = Some(None),
            }
        }
    }
}

impl Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.current.is_empty() && !self.refill()? {
            return Ok(0);
        }
        let mut n = 0;
        loop {
            let m = (buf.len() - n).min(self.current.len());
            buf[n..n + m].copy_from_slice(&self.current[..m]);
            bytes_advance(&mut self.current, m);
            n += m;
            // Frames come one by one: a large read also takes those that
            // have already arrived, without waiting for more.
            if n == buf.len() || !self.take_arrived() {
                self.read.add(n);
                return Ok(n);
            }
        }
    }
}

impl StreamReader {
    /// Takes the next payload if one has arrived; false if none has (an
    /// end that has arrived is kept for the next read).
    fn take_arrived(&mut self) -> bool {
        if self.end.is_some() {
            return false;
        }
        match self.events.next(Wait::No) {
            Next::Item(item) => {
                self.current = payload(item);
                true
            }
            Next::Empty => false,
            Next::End(e) => {
                self.end = Some(e.close_frame().is_none().then_some(e));
                false
            }
            Next::Gone => {
                self.end = Some(None);
                false
            }
        }
    }
}

/// The bytes of a message or part: no message assembly in a stream.
fn payload(item: Incoming) -> Bytes {
    match item {
        Incoming::Message(m) => m.into_payload(),
        Incoming::Part(p) => p.data,
    }
}

fn bytes_advance(b: &mut Bytes, n: usize) {
    let rest = b.slice(n..);
    *b = rest;
}

/// The writing half of a [`StreamWebSocket`]; implements [`Write`].
/// Dropping it flushes and starts a clean close.
pub struct StreamWriter {
    shared: Arc<Engine>,
    buffer: Vec<u8>,
    capacity: usize,
    timeout: Option<Duration>,
    /// Payload bytes taken by `write`.
    written: ByteCounter,
}

impl fmt::Debug for StreamWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamWriter")
            .field("peer_addr", &self.shared.peer_addr())
            .field("buffered", &self.buffer.len())
            .finish()
    }
}

impl StreamWriter {
    /// See [`StreamWebSocket::set_write_timeout`].
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        if timeout == Some(Duration::ZERO) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a zero write timeout",
            ));
        }
        self.timeout = timeout;
        Ok(())
    }

    /// Payload bytes that [`write`](Write::write) has taken so far: what
    /// the program wrote, not the frames on the wire (for those see
    /// [`Info::bytes_sent`](crate::Info::bytes_sent)). Bytes still in the
    /// write buffer are counted; [`flush`](Write::flush) sends them.
    pub fn bytes_written(&self) -> u64 {
        self.written.get()
    }

    /// A handle on the [`bytes_written`](Self::bytes_written) counter that
    /// another thread can read while this half writes: a progress bar
    /// needs no wrapper around the writer.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use wsock::{Server, StreamWebSocket};
    ///
    /// let server = Server::bind("127.0.0.1:0")?;
    /// let url = format!("ws://{}/", server.local_addr()?);
    /// let receiver = std::thread::spawn(move || -> std::io::Result<u64> {
    ///     let mut stream = server.accept()?.accept_stream()?;
    ///     stream.read_to_end(&mut Vec::new())?;
    ///     Ok(stream.bytes_read())
    /// });
    /// let mut stream = StreamWebSocket::connect(&url)?;
    /// let written = stream.bytes_written_counter();
    /// let watcher = std::thread::spawn(move || written.get()); // any thread, any time
    /// stream.write_all(&[0; 3 << 20])?;
    /// assert!(watcher.join().unwrap() <= 3 << 20);
    /// assert_eq!(stream.bytes_written(), 3 << 20);
    /// stream.close(1000, "done")?;
    /// assert_eq!(receiver.join().unwrap()?, 3 << 20);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bytes_written_counter(&self) -> ByteCounter {
        self.written.clone()
    }

    fn send(&self, data: &[u8]) -> io::Result<()> {
        let timeout = self.timeout.unwrap_or(self.shared.options.send_timeout);
        self.shared
            .send_data(false, data, timeout)
            .map_err(Error::into_io)
    }

    /// Counts `n` bytes as written; returns `n`.
    fn took(&self, n: usize) -> usize {
        self.written.add(n);
        n
    }

    /// Flushes, then performs the close handshake.
    pub fn close(&mut self, code: u16, reason: &str) -> Result<()> {
        if let Err(e) = self.flush() {
            if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<Error>()) {
                return Err(inner.clone());
            }
            return Err(Error::from(e));
        }
        self.shared.close(code, reason, true)
    }
}

impl Write for StreamWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buffer.len() + data.len() < self.capacity {
            self.buffer.extend_from_slice(data);
            return Ok(self.took(data.len()));
        }
        if !self.buffer.is_empty() {
            // Fill the buffer up and send it: a message of the full size.
            let n = self
                .capacity
                .saturating_sub(self.buffer.len())
                .min(data.len());
            self.buffer.extend_from_slice(&data[..n]);
            self.flush()?;
            return Ok(self.took(n));
        }
        // Writes of at least the buffer's size go out from the caller's
        // buffer, without a copy here.
        let n = data.len().min(MAX_CHUNK);
        self.send(&data[..n])?;
        Ok(self.took(n))
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let result = self.send(&self.buffer);
        // Sent, or failed for good (the connection is then failed): either
        // way these bytes are done with.
        self.buffer.clear();
        result
    }
}

impl Drop for StreamWriter {
    fn drop(&mut self) {
        let _ = self.flush();
        let code = if self.shared.role() == Role::Server {
            1001
        } else {
            1000
        };
        let _ = self.shared.close(code, "", false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Server;

    #[test]
    fn the_byte_counters_count_payload_bytes_and_outlive_the_stream() {
        let server = Server::bind("127.0.0.1:0").unwrap();
        let url = format!("ws://{}/", server.local_addr().unwrap());
        let (counter_tx, counter_rx) = mpsc::channel();
        let receiver = std::thread::spawn(move || {
            let (mut reader, _writer) = server.accept().unwrap().accept_stream().unwrap().split();
            counter_tx.send(reader.bytes_read_counter()).unwrap();
            let mut all = Vec::new();
            reader.read_to_end(&mut all).unwrap();
            assert_eq!(reader.bytes_read(), all.len() as u64);
            all.len() as u64
        });
        let mut stream = StreamWebSocket::connect(&url).unwrap();
        let written = stream.bytes_written_counter();
        // Small writes (buffered) and large ones (sent straight away).
        let mut total = 0u64;
        for size in [1, 100, 300 << 10, 7, 3 << 20, 64 << 10] {
            stream.write_all(&vec![b'x'; size]).unwrap();
            total += size as u64;
            assert_eq!(stream.bytes_written(), total);
        }
        assert_eq!(stream.bytes_read(), 0);
        stream.close(1000, "done").unwrap();
        drop(stream);
        assert_eq!(receiver.join().unwrap(), total);
        assert_eq!(written.get(), total);
        let read = counter_rx.recv().unwrap();
        assert_eq!(read.get(), total);
    }
}
