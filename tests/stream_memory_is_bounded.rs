//! A 256 MiB stream each way at once, through `io::copy` with readers and
//! writers on their own threads, arrives byte for byte, and backpressure
//! keeps the process's peak RSS under 64 MiB (invariant 6).
use std::io::{self, Read, Write};
use std::thread;
use std::time::{Duration, Instant};

use wsock::{Server, StreamWebSocket};

const SIZE: u64 = 256 << 20;

/// A deterministic byte stream of `left` bytes.
struct Pattern {
    state: u64,
    left: u64,
}

impl Pattern {
    fn new(seed: u64) -> Pattern {
        Pattern {
            state: seed | 1,
            left: SIZE,
        }
    }
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (buf.len() as u64).min(self.left) as usize / 8 * 8;
        let n = if n == 0 {
            (buf.len() as u64).min(self.left) as usize
        } else {
            n
        };
        for chunk in buf[..n].chunks_mut(8) {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            chunk.copy_from_slice(&self.state.to_le_bytes()[..chunk.len()]);
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Checks that what is written is exactly the pattern of `seed`.
struct Verify {
    expected: Pattern,
    buf: Vec<u8>,
    pending: Vec<u8>,
    seen: u64,
}

impl Verify {
    fn new(seed: u64) -> Verify {
        Verify {
            expected: Pattern::new(seed),
            buf: Vec::new(),
            pending: Vec::new(),
            seen: 0,
        }
    }
}

impl Write for Verify {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        // Compare in whole 8-byte words: keep a tail for the next write.
        self.pending.extend_from_slice(data);
        let whole = self.pending.len() / 8 * 8;
        self.buf.resize(whole, 0);
        let mut filled = 0;
        while filled < whole {
            filled += self.expected.read(&mut self.buf[filled..whole])?;
        }
        if self.pending[..whole] != self.buf[..] {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("corrupt after {} bytes", self.seen),
            ));
        }
        self.seen += whole as u64;
        self.pending.drain(..whole);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Sends the pattern of `send_seed` while verifying the pattern of
/// `recv_seed`, on two threads; returns the bytes verified.
fn both_ways(s: StreamWebSocket, send_seed: u64, recv_seed: u64) -> (u64, wsock::StreamWriter) {
    let (mut reader, mut writer) = s.split();
    reader
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let sending = thread::spawn(move || {
        let sent = io::copy(&mut Pattern::new(send_seed), &mut writer).unwrap();
        writer.flush().unwrap();
        assert_eq!(sent, SIZE);
        writer
    });
    let mut verify = Verify::new(recv_seed);
    let mut limited = (&mut reader).take(SIZE);
    let got = io::copy(&mut limited, &mut verify).unwrap();
    (got, sending.join().unwrap())
}

#[test]
fn stream_256_mib_each_way_with_bounded_memory() {
    let started = Instant::now();
    let server = Server::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", server.local_addr().unwrap());
    let server_side = thread::spawn(move || {
        let s = server.accept().unwrap().accept_stream().unwrap();
        let (got, writer) = both_ways(s, 2, 1);
        (got, writer)
    });
    let client = StreamWebSocket::connect(&url).unwrap();
    let (got_at_client, mut writer) = both_ways(client, 1, 2);
    let (got_at_server, server_writer) = server_side.join().unwrap();
    writer.close(1000, "done").unwrap();
    drop(server_writer);
    assert_eq!(got_at_client, SIZE);
    assert_eq!(got_at_server, SIZE);
    let elapsed = started.elapsed();
    match peak_rss_kib() {
        Some(kib) => {
            eprintln!(
                "256 MiB each way in {elapsed:?} ({:.0} MB/s each way); peak RSS {} MiB",
                SIZE as f64 / 1e6 / elapsed.as_secs_f64(),
                kib / 1024
            );
            assert!(kib < 64 * 1024, "peak RSS {kib} KiB is over 64 MiB");
        }
        None => eprintln!("no /proc/self/status: peak RSS not checked"),
    }
}
