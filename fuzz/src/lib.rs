//! The harness shared by the fuzz targets.
//!
//! One wsock [`Server`] on 127.0.0.1 serves the whole fuzzing process: a
//! thread accepts every upgrade request (`accept_message`) and, for each
//! socket, a thread calls `recv` until it fails. Each fuzz input is one TCP
//! connection to it: the bytes are written, the client shuts down its
//! writing half and reads the answer until the server closes.
//!
//! Only wsock's public API is used, so what is fuzzed is exactly what a
//! peer on the network can reach: the HTTP request parsing and checks, the
//! frame decoding of the reader thread, its replies and its close.
//!
//! Properties checked, beyond "no panic in any thread" (libfuzzer-sys
//! installs a panic hook that aborts the process, whichever thread panics):
//! - wsock ends every connection soon after the client's end of stream: the
//!   server's answer must reach EOF within [`HANG_LIMIT`], and the `recv`
//!   loop of an accepted socket must end within it too;
//! - a valid upgrade request is always answered `101`.
//!
//! A breach of either panics here, on the fuzzing thread, so libFuzzer saves
//! the input that caused it.

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use wsock::Server;

/// A valid upgrade request (the key is RFC 6455's example).
pub const REQUEST: &[u8] = b"GET /fuzz HTTP/1.1\r\n\
    Host: 127.0.0.1\r\n\
    Upgrade: websocket\r\n\
    Connection: Upgrade\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

/// How long wsock may take to end a connection once the client has sent
/// everything and shut down its writing half. With the server's timeouts
/// below (1 s), anything near this is a hang.
pub const HANG_LIMIT: Duration = Duration::from_secs(10);
/// Longest single blocking read or write of the client.
const IO_SLICE: Duration = Duration::from_secs(1);

/// The process-wide server and what its connection threads report.
struct Fixture {
    addr: SocketAddr,
    /// Peers whose accepted socket's `recv` loop has ended (or whose accept
    /// failed). An entry is removed by the client that waits for it, or when
    /// a later connection from the same port starts: at most one per
    /// ephemeral port, so the set stays bounded.
    finished: Mutex<HashSet<SocketAddr>>,
    finished_changed: Condvar,
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

fn fixture() -> &'static Fixture {
    FIXTURE.get_or_init(start)
}

/// Starts the server (once per process); the fuzz targets call it from
/// libFuzzer's init so the first input is not slower than the others.
pub fn init() {
    fixture();
}

fn start() -> Fixture {
    let server = Server::builder()
        .handshake_timeout(Duration::from_secs(1))
        .close_timeout(Duration::from_secs(1))
        .receive_timeout(Duration::from_secs(1))
        .bind("127.0.0.1:0")
        .expect("bind the fuzzing server on 127.0.0.1");
    let addr = server.local_addr().expect("the server's address");
    std::thread::Builder::new()
        .name("fuzz-accept".into())
        .spawn(move || accept_all(server))
        .expect("start the accepting thread");
    Fixture {
        addr,
        finished: Mutex::new(HashSet::new()),
        finished_changed: Condvar::new(),
    }
}

/// Accepts every request and drains every socket on a thread of its own.
/// `incoming` never ends while the server lives (it lives as long as the
/// process), and yields only complete, valid requests.
fn accept_all(server: Server) {
    for request in server.incoming() {
        let Ok(request) = request else { continue };
        let peer = request.peer_addr();
        let Ok(ws) = request.accept_message() else {
            mark_finished(peer);
            continue;
        };
        let spawned = std::thread::Builder::new()
            .name("fuzz-recv".into())
            .stack_size(64 << 10)
            .spawn(move || {
                // Ends at the first error: the connection's end (close frame,
                // protocol violation, EOF, timeout). wsock bounds it; the
                // client's wait for `finished` checks that it does.
                while ws.recv().is_ok() {}
                drop(ws);
                mark_finished(peer);
            });
        if spawned.is_err() {
            // The socket was dropped with the closure: wsock closes it.
            mark_finished(peer);
        }
    }
}

fn mark_finished(peer: SocketAddr) {
    let fixture = fixture();
    lock(&fixture.finished).insert(peer);
    fixture.finished_changed.notify_all();
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One client connection to the fuzzing server.
pub struct Client {
    tcp: TcpStream,
    local: SocketAddr,
    /// Everything the server sent so far.
    answer: Vec<u8>,
    /// The server stopped taking our bytes (it answered and closed); later
    /// writes are skipped.
    write_failed: bool,
}

impl Client {
    pub fn connect() -> Client {
        let fixture = fixture();
        let tcp = TcpStream::connect(fixture.addr).expect("connect to the fuzzing server");
        tcp.set_nodelay(true).expect("TCP_NODELAY");
        tcp.set_read_timeout(Some(IO_SLICE)).expect("read timeout");
        tcp.set_write_timeout(Some(IO_SLICE)).expect("write timeout");
        let local = tcp.local_addr().expect("the client's address");
        // A stale mark from an earlier connection on this port (one whose
        // 101 never reached its client) must not count for this one. The
        // server cannot have marked this connection yet: it has no request.
        lock(&fixture.finished).remove(&local);
        Client {
            tcp,
            local,
            answer: Vec::new(),
            write_failed: false,
        }
    }

    /// Writes all of `bytes` as one `write_all` (one segment when it fits:
    /// TCP_NODELAY is on). Errors are expected (the server may have answered
    /// and closed already); they only stop further writes.
    pub fn write(&mut self, bytes: &[u8]) {
        if self.write_failed || bytes.is_empty() {
            return;
        }
        let deadline = Instant::now() + HANG_LIMIT;
        let mut rest = bytes;
        while !rest.is_empty() {
            match self.tcp.write(rest) {
                Ok(0) => break,
                Ok(n) => rest = &rest[n..],
                Err(e) if is_transient(&e) && Instant::now() < deadline => {}
                Err(e) if is_transient(&e) => {
                    panic!(
                        "hang: wsock has read none of our bytes for {HANG_LIMIT:?} \
                         ({} of {} still to write)",
                        rest.len(),
                        bytes.len()
                    )
                }
                Err(_) => break,
            }
        }
        self.write_failed = !rest.is_empty();
    }

    /// Reads until the server's answer holds a complete HTTP response head
    /// and checks that it is `101 Switching Protocols`.
    pub fn expect_101(&mut self) {
        let deadline = Instant::now() + HANG_LIMIT;
        let mut chunk = [0u8; 4096];
        while !self.answer.windows(4).any(|w| w == b"\r\n\r\n") {
            match self.tcp.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => self.answer.extend_from_slice(&chunk[..n]),
                Err(e) if is_transient(&e) && Instant::now() < deadline => {}
                Err(_) => break,
            }
        }
        assert!(
            self.answer.starts_with(b"HTTP/1.1 101 "),
            "a valid upgrade request was answered {:?}",
            String::from_utf8_lossy(&self.answer)
        );
    }

    /// Shuts down writing, reads the server's answer until it closes, and
    /// (if the server accepted the upgrade) waits until the accepted
    /// socket's `recv` loop has ended, so that the server's work for this
    /// input is over before the next input starts. Panics if wsock takes
    /// longer than [`HANG_LIMIT`] for either.
    pub fn finish(mut self) -> Vec<u8> {
        let _ = self.tcp.shutdown(Shutdown::Write);
        let deadline = Instant::now() + HANG_LIMIT;
        let mut chunk = [0u8; 16 << 10];
        loop {
            match self.tcp.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => self.answer.extend_from_slice(&chunk[..n]),
                Err(e) if is_transient(&e) => {
                    assert!(
                        Instant::now() < deadline,
                        "hang: wsock did not close the connection within {HANG_LIMIT:?} \
                         of the client's end of stream ({} bytes answered: {:?})",
                        self.answer.len(),
                        String::from_utf8_lossy(&self.answer[..self.answer.len().min(200)])
                    );
                }
                // Reset: the server closed with our bytes unread (after an
                // HTTP error answer, or a close frame with data after it).
                Err(_) => break,
            }
        }
        // Close with a reset rather than a FIN: the answer is complete, and a
        // FIN would leave this side in TIME_WAIT for a minute; at thousands
        // of connections a second that would exhaust the ephemeral ports.
        let _ = socket2::SockRef::from(&self.tcp).set_linger(Some(Duration::ZERO));
        if show_answers() {
            eprintln!(
                "wsock answered {} bytes: {}",
                self.answer.len(),
                self.answer.escape_ascii()
            );
        }
        if self.answer.starts_with(b"HTTP/1.1 101 ") {
            let fixture = fixture();
            let mut finished = lock(&fixture.finished);
            while !finished.remove(&self.local) {
                let now = Instant::now();
                assert!(
                    now < deadline,
                    "hang: the recv loop of an accepted socket did not end within \
                     {HANG_LIMIT:?} of the client's end of stream"
                );
                finished = fixture
                    .finished_changed
                    .wait_timeout(finished, deadline - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        }
        self.answer
    }
}

/// `WSOCK_FUZZ_SHOW=1` prints each answer of the server to stderr (to look
/// at what one input does: `target/debug/frames some-input`).
fn show_answers() -> bool {
    static SHOW: OnceLock<bool> = OnceLock::new();
    *SHOW.get_or_init(|| std::env::var_os("WSOCK_FUZZ_SHOW").is_some_and(|v| v == "1"))
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// Target `handshake`: the input is everything the client sends, starting
/// with what should be its upgrade request.
pub fn handshake(input: &[u8]) {
    let mut client = Client::connect();
    client.write(input);
    client.finish();
}

/// Target `frames`: a valid upgrade request, the 101 read back, then the
/// input as the frame stream, in one write.
pub fn frames(input: &[u8]) {
    let mut client = Client::connect();
    client.write(REQUEST);
    client.expect_101();
    client.write(input);
    client.finish();
}

/// Target `frames_split`: the frame stream in up to four writes, the first
/// sent together with the upgrade request (so wsock finds frames already
/// read with the request), without waiting for the 101. The first three
/// input bytes choose where the rest is cut (each a fraction of its length
/// in 255ths); the rest is the frame stream.
///
/// How the writes reach wsock's reads depends on timing (TCP_NODELAY makes
/// each write a segment of its own, and the reader thread usually wakes for
/// each), so this target is less reproducible than `frames`.
pub fn frames_split(input: &[u8]) {
    let (cuts, data) = input.split_at(input.len().min(3));
    let mut at: Vec<usize> = cuts
        .iter()
        .map(|&c| usize::from(c) * data.len() / 255)
        .collect();
    at.sort_unstable();
    let mut chunks = Vec::with_capacity(4);
    let mut start = 0;
    for end in at.into_iter().chain([data.len()]) {
        chunks.push(&data[start..end]);
        start = end;
    }
    let mut client = Client::connect();
    let mut first = REQUEST.to_vec();
    first.extend_from_slice(chunks[0]);
    client.write(&first);
    for chunk in &chunks[1..] {
        client.write(chunk);
    }
    client.finish();
}
