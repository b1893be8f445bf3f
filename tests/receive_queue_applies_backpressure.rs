//! A peer that sends faster than the program reads meets TCP flow control:
//! the reader thread stops reading above the receive queue limit, so the
//! queue (and the heap) stays bounded, and nothing is lost (invariant 6).
use std::thread;
use std::time::Duration;

use wsock::{MessageWebSocket, Server, Status};

#[test]
fn a_sender_to_a_program_that_does_not_read_is_held_back() {
    let server = Server::builder()
        // Uncompressed: the socket's buffers would hold a long run of
        // compressed sevens.
        .compression(None)
        .receive_queue_limit(1 << 20)
        .bind("127.0.0.1:0")
        .unwrap();
    let url = format!("ws://{}/", server.local_addr().unwrap());
    let (accepted_tx, accepted) = std::sync::mpsc::channel();
    thread::spawn(move || accepted_tx.send(server.accept().unwrap().accept_message().unwrap()));
    let client = MessageWebSocket::builder()
        .send_timeout(Duration::from_secs(1))
        .connect(&url)
        .unwrap();
    let served = accepted.recv_timeout(Duration::from_secs(10)).unwrap();

    // 256 MiB offered; with no backpressure the server's queue would take it all.
    let chunk = vec![7u8; 1 << 20];
    let mut sent = 0usize;
    let error = loop {
        match client.send_binary(&chunk) {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
        assert!(sent < 256, "256 MiB went into a peer that reads nothing");
    };
    assert_eq!(error.status(), Status::Timeout, "{error}");
    let received = served.info().bytes_received;
    eprintln!(
        "held back after {sent} MiB sent; the server's reader took {} KiB",
        received >> 10
    );
    // The queue limit (1 MiB) plus what the kernel buffers: far below what was offered.
    assert!(
        sent < 64,
        "{sent} MiB were accepted before the sender was held back"
    );

    // Everything the server's reader took is still delivered, whole.
    let mut delivered = 0;
    while let Ok(m) = served.recv_timeout(Duration::from_secs(5)) {
        assert_eq!(m.as_bytes(), &chunk[..]);
        delivered += 1;
    }
    assert!(
        delivered >= 1 && delivered <= sent,
        "{delivered} of {sent} delivered"
    );
}
