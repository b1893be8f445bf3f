//! Arbitrary bytes, as an upgrade request or as frames on an accepted
//! socket, never make wsock panic, and the server keeps serving.
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use wsock::{MessageWebSocket, Server};

static PANICS: AtomicUsize = AtomicUsize::new(0);

fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Random bytes, biased towards the shapes of frames and requests.
fn garbage(state: &mut u64) -> Vec<u8> {
    let len = (next(state) % 300) as usize;
    let mut bytes: Vec<u8> = (0..len).map(|_| next(state) as u8).collect();
    match next(state) % 4 {
        0 => bytes
            .splice(0..0, b"GET / HTTP/1.1\r\n".iter().copied())
            .for_each(drop),
        1 if !bytes.is_empty() => bytes[0] = 0x80 | (bytes[0] & 0x0f), // a FIN frame header
        _ => {}
    }
    bytes
}

#[test]
fn random_bytes_at_the_handshake_and_after_it() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        default_hook(info);
    }));
    let server = Server::builder()
        .handshake_timeout(Duration::from_secs(1))
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr().unwrap();
    // Accept everything and drain each connection until it ends.
    thread::spawn(move || {
        for request in server.incoming() {
            let Ok(ws) = request.and_then(|r| r.accept_message()) else {
                continue;
            };
            thread::spawn(move || while ws.recv_timeout(Duration::from_secs(5)).is_ok() {});
        }
    });
    let handshake = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let mut state = 0x1234_5678_9abc_def1u64;
    for round in 0..300 {
        let mut tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        if round % 2 == 1 {
            tcp.write_all(handshake.as_bytes()).unwrap();
        }
        let _ = tcp.write_all(&garbage(&mut state));
        let _ = tcp.shutdown(std::net::Shutdown::Write);
        // The server answers or closes; it never hangs (bounded by the timeout).
        let mut sink = Vec::new();
        if let Err(e) = tcp.read_to_end(&mut sink) {
            assert_eq!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset,
                "round {round}: {e}"
            );
        }
    }
    let ws = MessageWebSocket::builder()
        .connect_timeout(Duration::from_secs(5))
        .connect(&format!("ws://{addr}/"))
        .expect("the server still serves");
    ws.send_text("still here").unwrap();
    assert_eq!(
        PANICS.load(Ordering::SeqCst),
        0,
        "wsock panicked on garbage"
    );
}
