//! Both peers sending 32 MiB messages at each other at the same time, while
//! pinging, never deadlock, and everything arrives intact (invariant 1).
use std::thread;
use std::time::{Duration, Instant};

use wsock::{Message, MessageWebSocket, Server};

const SIZE: usize = 32 << 20;
const BOUND: Duration = Duration::from_secs(120);

fn pattern(seed: u8) -> Vec<u8> {
    (0..SIZE)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Sends one big message while a second thread pings; returns the message received.
fn exchange(ws: &MessageWebSocket, seed: u8) -> Message {
    let tx = ws.sender();
    let pinger = ws.sender();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop = done.clone();
    let pings = thread::spawn(move || {
        let mut sent = 0u32;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) && sent < 10_000 {
            pinger.ping(sent.to_be_bytes()).expect("ping");
            sent += 1;
        }
        sent
    });
    let sender = thread::spawn(move || tx.send_binary(pattern(seed)).expect("send 32 MiB"));
    let got = ws.recv_timeout(BOUND).expect("receive 32 MiB");
    sender.join().unwrap();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(pings.join().unwrap() > 0);
    got
}

#[test]
fn both_peers_send_32_mib_at_once() {
    let started = Instant::now();
    // Uncompressed, so that both sockets fill up.
    let server = Server::builder()
        .compression(None)
        .bind("127.0.0.1:0")
        .unwrap();
    let url = format!("ws://{}/", server.local_addr().unwrap());
    let server_side = thread::spawn(move || {
        let ws = server.accept().unwrap().accept_message().unwrap();
        let got = exchange(&ws, 2);
        // Wait for the client's close so the echo of our message is not cut.
        let end = ws.recv_timeout(BOUND).unwrap_err();
        assert_eq!(end.close_frame().map(|f| f.code), Some(1000));
        got
    });
    let ws = MessageWebSocket::connect(&url).unwrap();
    let at_client = exchange(&ws, 1);
    ws.close(1000, "done").unwrap();
    let at_server = server_side.join().unwrap();
    assert!(
        at_client == Message::Binary(pattern(2).into()),
        "client got the server's bytes"
    );
    assert!(
        at_server == Message::Binary(pattern(1).into()),
        "server got the client's bytes"
    );
    let info = ws.info();
    assert!(
        info.bytes_sent > SIZE as u64 && info.bytes_received > SIZE as u64,
        "{info:?}"
    );
    eprintln!(
        "32 MiB each way at once, with pings: {:?}",
        started.elapsed()
    );
}
