//! Clients that never finish their upgrade request hold up no one else's
//! handshake, and are dropped after the server's handshake timeout.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use support::{next_request, serve, WAIT};
use wsock::{Message, MessageWebSocket, Server};

#[test]
fn fifty_silent_clients_do_not_stop_a_normal_one() {
    let server = Server::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let requests = serve(server);
    let (echoed_tx, echoed) = mpsc::channel();
    thread::spawn(move || {
        let ws = next_request(&requests).accept_message().expect("accept");
        let _ = echoed_tx.send(ws.recv_timeout(WAIT).and_then(|m| ws.send(m)));
    });

    // Open TCP and say nothing; kept open until the end of the test.
    let silent: Vec<TcpStream> = (0..50).map(|_| TcpStream::connect(addr).unwrap()).collect();

    let ws = MessageWebSocket::builder()
        .connect_timeout(Duration::from_secs(1))
        .connect(&format!("ws://{addr}/"))
        .expect("a normal client could not connect past 50 silent ones");
    ws.send_text("still here").unwrap();
    assert_eq!(
        ws.recv_timeout(WAIT).unwrap(),
        Message::Text("still here".into())
    );
    echoed.recv_timeout(WAIT).unwrap().unwrap();
    drop(silent);
}

#[test]
fn a_stalled_request_is_dropped_after_the_handshake_timeout() {
    let timeout = Duration::from_secs(1);
    let server = Server::builder()
        .handshake_timeout(timeout)
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr().unwrap();

    let started = Instant::now();
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.write_all(format!("GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n").as_bytes())
        .unwrap();

    // Poll in short slices (long socket timeouts are rounded up by the kernel).
    tcp.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let give_up = started + timeout + Duration::from_secs(3);
    let mut buf = [0u8; 256];
    let outcome = loop {
        match tcp.read(&mut buf) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if Instant::now() >= give_up {
                    break None;
                }
            }
            other => break Some(other.map_err(|e| e.kind())),
        }
    };
    let took = started.elapsed();
    drop(server);

    match outcome {
        None => panic!("the stalled client was still connected after {took:?}"),
        Some(Ok(0)) => {}
        Some(other) => panic!("expected EOF, got {other:?}"),
    }
    assert!(
        took >= timeout,
        "dropped after {took:?}, before the handshake timeout"
    );
}
