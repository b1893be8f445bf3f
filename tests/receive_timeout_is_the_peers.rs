//! The receive timeout bounds how long the peer takes to send a message,
//! and only that: time the program spends not receiving (the reader held
//! back by the receive queue limit) does not count, and a peer that sends
//! messages back to back for longer than the timeout is not late. (The
//! other side, a peer that trickles a message in, is in `faults.rs`.)
use std::io::{Read, Write};
use std::thread;
use std::time::Duration;

mod support;

use support::{raw_server, WAIT};
use wsock::{MessageWebSocket, StreamWebSocket};

const LIMIT: Duration = Duration::from_millis(300);
/// How long the program is busy elsewhere (the fault: a slow program, not a slow peer).
const BUSY: Duration = Duration::from_millis(1000);

/// An unmasked binary frame (we are the server).
fn frame(payload: &[u8]) -> Vec<u8> {
    support::frame(true, support::OP_BINARY, payload, None)
}

/// A client of `url` with this receive queue limit, the short receive
/// timeout, and nothing else going on (no pings, no compression).
fn client(url: &str, queue_limit: usize) -> MessageWebSocket {
    MessageWebSocket::builder()
        .ping_interval(None)
        .compression(None)
        .receive_timeout(LIMIT)
        .receive_queue_limit(queue_limit)
        .connect(url)
        .unwrap()
}

#[test]
fn a_message_sent_at_once_survives_a_slow_program_under_backpressure() {
    let (url, upgraded) = raw_server();
    let ws = client(&url, 512);
    let mut tcp = upgraded.recv_timeout(WAIT).unwrap();
    let small = vec![1u8; 1024];
    let large = vec![2u8; 1 << 20];
    // Everything at once: the small message and the large one's first bytes
    // in one segment, the rest right after. The peer is never late.
    let mut bytes = frame(&small);
    bytes.extend_from_slice(&frame(&large));
    let writer = thread::spawn(move || {
        tcp.write_all(&bytes).unwrap();
        tcp
    });
    // The program is busy: the reader stops at the queue limit (the small
    // message) with the large one under way.
    thread::sleep(BUSY);
    let first = ws.recv_timeout(WAIT).expect("the small message");
    assert_eq!(first.as_bytes(), &small[..]);
    let second = ws.recv_timeout(WAIT);
    let _tcp = writer.join().unwrap();
    let second = second.expect("the large message, sent in full long before its deadline");
    assert_eq!(second.as_bytes().len(), large.len());
}

#[test]
fn a_stream_read_slowly_survives_backpressure() {
    let (url, upgraded) = raw_server();
    let mut s = StreamWebSocket::builder()
        .ping_interval(None)
        .compression(None)
        .receive_timeout(LIMIT)
        .receive_queue_limit(64 << 10)
        .connect(&url)
        .unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut tcp = upgraded.recv_timeout(WAIT).unwrap();
    let sent = vec![3u8; 4 << 20];
    let bytes = frame(&sent);
    let writer = thread::spawn(move || {
        tcp.write_all(&bytes).unwrap();
        tcp
    });
    let mut got = vec![0u8; sent.len()];
    s.read_exact(&mut got[..1024]).unwrap();
    // A consumer that stops to process what it has (writes it to disk, say).
    thread::sleep(BUSY);
    let rest = s.read_exact(&mut got[1024..]);
    let _tcp = writer.join().unwrap();
    rest.expect("the rest of a frame the peer sent at once");
    assert!(got == sent);
}

#[test]
fn a_message_completed_by_the_first_read_after_a_busy_spell_is_delivered() {
    let (url, upgraded) = raw_server();
    let ws = client(&url, 512);
    let mut tcp = upgraded.recv_timeout(WAIT).unwrap();
    let small = vec![1u8; 1024];
    let next = vec![2u8; 2048];
    let mut first = frame(&small);
    let second = frame(&next);
    first.extend_from_slice(&second[..100]);
    let first_len = first.len() as u64;
    tcp.write_all(&first).unwrap();
    // Until the client's reader has taken those bytes (bounded).
    let waited = std::time::Instant::now();
    while ws.info().bytes_received < first_len {
        assert!(waited.elapsed() < WAIT, "the client read nothing");
        thread::yield_now();
    }
    // The rest of the second message at once, well within its deadline.
    tcp.write_all(&second[100..]).unwrap();
    // The program is busy; the reader is held at the queue limit.
    thread::sleep(BUSY);
    assert_eq!(ws.recv_timeout(WAIT).unwrap().as_bytes(), &small[..]);
    let got = ws
        .recv_timeout(WAIT)
        .expect("the second message, whose last bytes came long before its deadline");
    assert_eq!(got.as_bytes(), &next[..]);
}

#[test]
fn messages_streamed_back_to_back_outlast_the_receive_timeout() {
    // Each message takes microseconds to arrive; the peer sends them without
    // a pause for longer than the receive timeout. Reads end mid-message
    // (the writes are not cut at message boundaries).
    const STREAM_FOR: Duration = Duration::from_millis(1500);
    let (url, upgraded) = raw_server();
    let ws = client(&url, 64 << 20);
    let mut tcp = upgraded.recv_timeout(WAIT).unwrap();
    tcp.set_write_timeout(Some(WAIT)).unwrap();
    let one = frame(&[5u8; 1000]);
    let mut block = Vec::new();
    for _ in 0..97 {
        block.extend_from_slice(&one);
    }
    let writer = thread::spawn(move || {
        let started = std::time::Instant::now();
        let mut sent = 0u64;
        while started.elapsed() < STREAM_FOR {
            // 97 frames in 10 writes of uneven size.
            for piece in block.chunks(9_733) {
                if tcp.write_all(piece).is_err() {
                    return (sent, tcp);
                }
            }
            sent += 97;
        }
        let _ = tcp.write_all(&[0x81, 3, b'e', b'n', b'd']);
        (sent, tcp)
    });
    let started = std::time::Instant::now();
    let mut received = 0u64;
    let outcome = loop {
        match ws.recv_timeout(WAIT) {
            Ok(m) if m.is_text() => break Ok(()),
            Ok(_) => received += 1,
            Err(e) => break Err(e),
        }
    };
    drop(ws);
    let (sent, _tcp) = writer.join().unwrap();
    if let Err(e) = outcome {
        panic!(
            "failed after {} ms, {received} of {sent} messages received: {e}",
            started.elapsed().as_millis()
        );
    }
    assert_eq!(received, sent);
}
