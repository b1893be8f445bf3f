//! Stream mode is a byte pipe: every byte written arrives once, in order,
//! whatever the read and write sizes, and the end of the stream is the
//! close handshake.
use std::io::{self, Read, Write};
use std::thread;
use std::time::Duration;

use wsock::{MessageWebSocket, Server, Status, StreamWebSocket};

const WAIT: Duration = Duration::from_secs(30);

fn data(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2654435761).rotate_left(7) as u8)
        .collect()
}

/// A server thread that accepts one stream and reads it to the end with
/// `chunk`-byte reads; returns what it read.
fn reading_server(chunk: usize) -> (String, thread::JoinHandle<io::Result<Vec<u8>>>) {
    let server = Server::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", server.local_addr().unwrap());
    let handle = thread::spawn(move || {
        let mut s = server.accept()?.accept_stream()?;
        s.set_read_timeout(Some(WAIT))?;
        let mut all = Vec::new();
        let mut buf = vec![0u8; chunk];
        loop {
            match s.read(&mut buf)? {
                0 => return Ok(all),
                n => {
                    assert!(n <= chunk);
                    all.extend_from_slice(&buf[..n]);
                }
            }
        }
    });
    (url, handle)
}

#[test]
fn reads_of_any_size_reassemble_the_same_bytes() {
    let sent = data(3 << 20);
    for chunk in [1usize, 7, 1 << 20] {
        let (url, server) = reading_server(chunk);
        let mut s = StreamWebSocket::connect(&url).unwrap();
        // Writes of mixed sizes: coalesced small ones and direct large ones.
        let mut rest = &sent[..];
        let mut size = 1;
        while !rest.is_empty() {
            let n = size.min(rest.len());
            s.write_all(&rest[..n]).unwrap();
            rest = &rest[n..];
            size = (size * 3) % 300_000 + 1;
        }
        s.close(1000, "done").unwrap();
        let got = server.join().unwrap().unwrap();
        assert_eq!(got.len(), sent.len(), "{chunk}-byte reads");
        assert!(
            got == sent,
            "{chunk}-byte reads reassembled different bytes"
        );
    }
}

#[test]
fn large_reads_get_what_has_arrived_in_order() {
    let server = Server::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", server.local_addr().unwrap());
    let peer = thread::spawn(move || {
        let ws = server.accept().unwrap().accept_message().unwrap();
        ws.send_binary(data(40_000)).unwrap();
        ws.send_binary(data(30_000)).unwrap();
        ws.recv_timeout(WAIT).unwrap_err()
    });
    let mut s = StreamWebSocket::connect(&url).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = vec![0u8; 128 << 10];
    s.read_exact(&mut buf[..1]).unwrap();
    // The rest comes in reads as large as what has arrived (frame payloads
    // are handed on as they come: how many reads depends on timing).
    let mut total = 1;
    while total < 70_000 {
        let n = s.read(&mut buf[total..]).unwrap();
        assert!(n > 0, "the stream ended early");
        total += n;
    }
    assert_eq!(&buf[..40_000], &data(40_000)[..]);
    assert_eq!(&buf[40_000..70_000], &data(30_000)[..]);
    s.close(1000, "").unwrap();
    assert_eq!(peer.join().unwrap().close_frame().unwrap().code, 1000);
}

#[test]
fn text_messages_are_read_as_their_utf8_bytes() {
    let server = Server::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", server.local_addr().unwrap());
    let peer = thread::spawn(move || {
        let mut s = server.accept().unwrap().accept_stream().unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text
    });
    let ws = MessageWebSocket::connect(&url).unwrap();
    ws.send_text("héllo, ").unwrap();
    ws.send_binary(b"world").unwrap();
    ws.close(1000, "").unwrap();
    assert_eq!(peer.join().unwrap(), "héllo, world");
}

#[test]
fn split_halves_carry_full_duplex_on_two_threads() {
    let server = Server::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", server.local_addr().unwrap());
    // The server echoes what it reads, flushing after each read (writes
    // are buffered, as with a BufWriter).
    let echo = thread::spawn(move || {
        let s = server.accept().unwrap().accept_stream().unwrap();
        let (mut r, mut w) = s.split();
        let mut buf = vec![0u8; 100_000];
        loop {
            match r.read(&mut buf).unwrap() {
                0 => return,
                n => {
                    w.write_all(&buf[..n]).unwrap();
                    w.flush().unwrap();
                }
            }
        }
    });
    let s = StreamWebSocket::connect(&url).unwrap();
    let (mut r, mut w) = s.split();
    let sent = data(8 << 20);
    let to_send = sent.clone();
    let writer = thread::spawn(move || {
        w.write_all(&to_send).unwrap();
        w.flush().unwrap();
        w // closed once everything came back: WebSocket has no half-close
    });
    r.set_read_timeout(Some(WAIT)).unwrap();
    let mut got = vec![0u8; sent.len()];
    r.read_exact(&mut got).unwrap();
    let mut w = writer.join().unwrap();
    w.close(1000, "all echoed").unwrap();
    echo.join().unwrap();
    assert!(got == sent, "echoed {} bytes of {}", got.len(), sent.len());
}

#[test]
fn a_read_timeout_is_timed_out_and_errors_carry_the_status() {
    let server = Server::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", server.local_addr().unwrap());
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let peer = thread::spawn(move || {
        let ws = server.accept().unwrap().accept_message().unwrap();
        let _ = wait.recv_timeout(WAIT);
        drop(ws);
    });
    let mut s = StreamWebSocket::connect(&url).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let e = s.read(&mut [0u8; 16]).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    let inner = e
        .get_ref()
        .and_then(|i| i.downcast_ref::<wsock::Error>())
        .expect("a wsock::Error inside");
    assert_eq!(inner.status(), Status::Timeout);
    // The stream still works after a read timeout; the server's drop ends it.
    release.send(()).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    assert_eq!(
        s.read(&mut [0u8; 16]).unwrap(),
        0,
        "the peer's close is the end of the stream"
    );
    peer.join().unwrap();
}

#[test]
fn messages_of_random_sizes_read_as_one_stream() {
    let server = Server::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", server.local_addr().unwrap());
    let sent = data(4 << 20);
    let to_send = sent.clone();
    // A message-mode peer cuts the bytes into messages of random sizes.
    let peer = thread::spawn(move || {
        let ws = server.accept().unwrap().accept_message().unwrap();
        let (mut state, mut rest) = (0x2545_f491u64, &to_send[..]);
        while !rest.is_empty() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let n = ((state % 70_000) as usize).min(rest.len());
            ws.send_binary(&rest[..n]).unwrap(); // empty messages included
            rest = &rest[n..];
        }
        ws.close(1000, "all sent").unwrap();
    });
    let mut s = StreamWebSocket::connect(&url).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    peer.join().unwrap();
    assert!(got == sent, "read {} bytes of {}", got.len(), sent.len());
}

#[test]
fn a_slow_reader_holds_the_writer_back_until_the_write_timeout() {
    let server = Server::builder()
        // Uncompressed: the socket's buffers would hold a long run of
        // compressed ones.
        .compression(None)
        .receive_queue_limit(1 << 20)
        .bind("127.0.0.1:0")
        .unwrap();
    let url = format!("ws://{}/", server.local_addr().unwrap());
    let (accepted_tx, accepted) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let _ = accepted_tx.send(server.accept().unwrap().accept_stream().unwrap());
    });
    let mut s = StreamWebSocket::connect(&url).unwrap();
    let _reader_that_never_reads = accepted.recv_timeout(WAIT).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
    let chunk = vec![1u8; 1 << 20];
    let mut written = 0usize;
    let error = loop {
        match s.write_all(&chunk) {
            Ok(()) => written += 1,
            Err(e) => break e,
        }
        assert!(written < 256, "256 MiB went into a peer that reads nothing");
    };
    assert_eq!(error.kind(), io::ErrorKind::TimedOut, "{error}");
    assert!(
        written < 64,
        "{written} MiB accepted before the writer was held back"
    );
}

#[test]
fn closing_mid_transfer_ends_the_other_side_cleanly_or_with_a_status() {
    // The reader closes while the writer is still sending.
    let server = Server::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", server.local_addr().unwrap());
    let writer = thread::spawn(move || {
        let mut s = server.accept().unwrap().accept_stream().unwrap();
        let chunk = vec![3u8; 1 << 20];
        for _ in 0..1024 {
            if let Err(e) = s.write_all(&chunk) {
                let inner = e
                    .get_ref()
                    .and_then(|i| i.downcast_ref::<wsock::Error>())
                    .map(|e| e.status());
                return inner;
            }
        }
        None
    });
    let mut s = StreamWebSocket::connect(&url).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    s.read_exact(&mut buf).unwrap();
    s.close(1000, "enough").unwrap();
    // The writer learns of the close by an error with a status, not a hang.
    assert_eq!(writer.join().unwrap(), Some(Status::Closed));

    // The writer closes mid-transfer: the reader sees the end of the stream.
    let server = Server::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", server.local_addr().unwrap());
    let sender = thread::spawn(move || {
        let mut s = server.accept().unwrap().accept_stream().unwrap();
        s.write_all(&data(300_000)).unwrap();
        s.close(1001, "going away").unwrap();
    });
    let mut s = StreamWebSocket::connect(&url).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    sender.join().unwrap();
    assert_eq!(got, data(300_000));
}

#[test]
fn writes_become_messages_of_the_buffer_size_and_large_writes_go_whole() {
    let server = Server::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", server.local_addr().unwrap());
    let peer = thread::spawn(move || {
        let ws = server.accept().unwrap().accept_message().unwrap();
        let mut sizes = Vec::new();
        let mut all = Vec::new();
        loop {
            match ws.recv_timeout(WAIT) {
                Ok(m) => {
                    sizes.push(m.len());
                    all.extend_from_slice(m.as_bytes());
                }
                Err(e) if e.close_frame().is_some() => return (sizes, all),
                Err(e) => panic!("the stream ended abnormally: {e}"),
            }
        }
    });
    let mut s = StreamWebSocket::builder()
        .stream_write_buffer(64 << 10)
        .connect(&url)
        .unwrap();
    let bytes = data(10 * 1000 + 60_000 + (2 << 20) + 5 + 100);
    let (small, rest) = bytes.split_at(10 * 1000);
    let (medium, rest) = rest.split_at(60_000);
    let (large, tail) = rest.split_at((2 << 20) + 5);
    for piece in small.chunks(1000) {
        s.write_all(piece).unwrap();
    }
    s.write_all(medium).unwrap(); // fills the buffer: one 64 KiB message
    s.write_all(large).unwrap(); // tops the rest up, then 1 MiB messages
    s.write_all(tail).unwrap();
    s.close(1000, "").unwrap(); // flushes the last 100 bytes first
    let (sizes, all) = peer.join().unwrap();
    assert!(all == bytes, "the bytes arrived changed or out of order");
    assert_eq!(sizes, [65_536, 65_536, 1 << 20, 987_509, 100]);
}
