//! Messages from many threads sharing one socket never interleave: each
//! arrives whole, and each thread's messages arrive in the order it sent
//! them (invariant 2), in both directions, with messages large enough to go
//! out in pieces and control frames (the receiver's pings, and the pongs
//! they cost the sender) crossing them all the time.
use std::thread;
use std::time::Duration;

use wsock::{MessageWebSocket, Server};

const THREADS: u8 = 8;
const PER_THREAD: u32 = 250;
const MAX_SIZE: usize = (1 << 20) + 7;
/// The receiving side pings the sending side after every this many messages.
const PING_EVERY: u32 = 7;

/// xorshift: deterministic sizes without a dependency.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// A size from 9 B to 1 MiB + 7, spread evenly over the powers of two.
fn size(state: &mut u64) -> usize {
    let bits = 1 + next(state) % 21; // 2^1 .. 2^21
    let size = (next(state) % (1u64 << bits)) as usize;
    size.clamp(9, MAX_SIZE)
}

/// `[thread][seq: u32 BE][bytes derived from both]`.
fn message(thread: u8, seq: u32, len: usize) -> Vec<u8> {
    let mut m = Vec::with_capacity(len);
    m.push(thread);
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend(
        (5..len).map(|i| (i as u32).wrapping_mul(2654435761).wrapping_add(seq) as u8 ^ thread),
    );
    m
}

/// Receives every thread's messages on `ws`, checking each, pinging the
/// sender as it goes; returns the bytes received.
fn receive_all(ws: &MessageWebSocket) -> u64 {
    let mut next_seq = [0u32; THREADS as usize];
    let mut total = 0u64;
    for i in 0..u32::from(THREADS) * PER_THREAD {
        if i % PING_EVERY == 0 {
            ws.sender().ping(i.to_be_bytes()).expect("ping");
        }
        let m = ws.recv_timeout(Duration::from_secs(60)).expect("a message");
        let bytes = m.as_bytes();
        assert!(
            bytes.len() >= 5,
            "a message lost its header: {} bytes",
            bytes.len()
        );
        let t = bytes[0];
        let seq = u32::from_be_bytes(bytes[1..5].try_into().unwrap());
        assert!(t < THREADS, "bad thread id {t}");
        assert_eq!(
            seq, next_seq[t as usize],
            "thread {t}'s messages out of order"
        );
        assert!(
            bytes == &message(t, seq, bytes.len())[..],
            "thread {t} message {seq} corrupted"
        );
        next_seq[t as usize] += 1;
        total += bytes.len() as u64;
    }
    total
}

/// Sends every thread's messages through `sender()` handles of `ws`;
/// returns the bytes sent.
fn send_all(ws: &MessageWebSocket) -> u64 {
    let senders: Vec<_> = (0..THREADS)
        .map(|t| {
            let tx = ws.sender();
            thread::spawn(move || {
                let mut state = 0x9E37_79B9_7F4A_7C15 ^ u64::from(t + 1);
                let mut sent = 0u64;
                for seq in 0..PER_THREAD {
                    let m = message(t, seq, size(&mut state));
                    sent += m.len() as u64;
                    tx.send_binary(&m).expect("send");
                }
                sent
            })
        })
        .collect();
    let sent = senders.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(
        ws.info().messages_sent,
        u64::from(THREADS) * u64::from(PER_THREAD)
    );
    sent
}

#[test]
fn eight_client_threads_sending_on_one_socket() {
    let server = Server::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", server.local_addr().unwrap());
    let receiver = thread::spawn(move || {
        let ws = server.accept().unwrap().accept_message().unwrap();
        receive_all(&ws)
    });
    let ws = MessageWebSocket::connect(&url).unwrap();
    let sent = send_all(&ws);
    assert_eq!(sent, receiver.join().unwrap());
    eprintln!("client to server: {sent} bytes, intact and in order");
}

#[test]
fn eight_server_threads_sending_on_one_socket() {
    let server = Server::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", server.local_addr().unwrap());
    let sender = thread::spawn(move || {
        let ws = server.accept().unwrap().accept_message().unwrap();
        // Kept open (returned) until the receiver is done pinging it.
        (send_all(&ws), ws)
    });
    let ws = MessageWebSocket::connect(&url).unwrap();
    let received = receive_all(&ws);
    let (sent, _open) = sender.join().unwrap();
    assert_eq!(sent, received);
    eprintln!("server to client: {received} bytes, intact and in order");
}
