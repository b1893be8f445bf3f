//! A peer that sends bad frames gets the right close code and the local side
//! a clear error, never a panic (invalid UTF-8 → 1007, too big → 1009,
//! protocol violation → 1002), while good frames that arrive in the same
//! packet as the handshake are delivered.

mod support;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;

use support::{
    masked, raw_client, read_close, read_http_head, serve, OP_BINARY, OP_CONTINUATION, OP_TEXT,
    WAIT,
};
use wsock::{Message, MessageWebSocket, Server, ServerBuilder, Status};

/// Text that is not UTF-8 (an overlong encoding of '/').
const NOT_UTF8: &[u8] = b"abc\xc0\xafdef";

/// Sends `bytes` from a hand-made client to a wsock server built by
/// `server`, and returns the close frame the server answered with and the
/// error the server-side `recv` gave.
fn server_receives(server: ServerBuilder, bytes: &[u8]) -> ((u16, String), wsock::Error) {
    let server = server.bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let requests = serve(server);
    let (received_tx, received) = mpsc::channel();
    thread::spawn(move || {
        let ws = support::next_request(&requests)
            .accept_message()
            .expect("accept");
        let _ = received_tx.send(ws.recv_timeout(WAIT));
    });

    let mut tcp = raw_client(addr);
    tcp.write_all(bytes).unwrap();
    let close = read_close(&mut tcp);
    let received = received
        .recv_timeout(WAIT)
        .expect("the server thread ended without a result (did it panic?)");
    let error = received.expect_err("the server's recv returned a message");
    (close, error)
}

#[test]
fn invalid_utf8_from_a_client_closes_with_1007() {
    let ((code, _), error) = server_receives(Server::builder(), &masked(true, OP_TEXT, NOT_UTF8));
    assert_eq!(code, 1007);
    assert_eq!(error.status(), Status::InvalidUtf8, "{error}");
}

#[test]
fn an_oversize_frame_from_a_client_closes_with_1009() {
    let frame = masked(true, OP_BINARY, &[7u8; 2048]);
    let ((code, _), error) = server_receives(Server::builder().max_message_size(1024), &frame);
    assert_eq!(code, 1009);
    assert_eq!(error.status(), Status::MessageTooBig, "{error}");
}

#[test]
fn an_oversize_message_in_small_frames_closes_with_1009() {
    // Each frame fits in the limit; the message they make does not.
    let mut bytes = masked(false, OP_BINARY, &[1u8; 800]);
    bytes.extend(masked(true, OP_CONTINUATION, &[2u8; 800]));
    let ((code, _), error) = server_receives(Server::builder().max_message_size(1024), &bytes);
    assert_eq!(code, 1009);
    assert_eq!(error.status(), Status::MessageTooBig, "{error}");
}

#[test]
fn an_unmasked_client_frame_closes_with_1002() {
    let frame = support::frame(true, OP_TEXT, b"hello", None);
    let ((code, _), error) = server_receives(Server::builder(), &frame);
    assert_eq!(code, 1002);
    assert_eq!(error.status(), Status::ProtocolError, "{error}");
}

/// A listener for a hand-made server, and its `ws://` URL.
fn raw_listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    (listener, url)
}

fn connect(url: &str) -> MessageWebSocket {
    MessageWebSocket::builder()
        .connect_timeout(WAIT)
        .connect(url)
        .expect("connect")
}

#[test]
fn invalid_utf8_from_a_server_closes_with_1007() {
    let (listener, url) = raw_listener();
    let peer = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        let mut ws = tungstenite::accept(tcp).expect("server handshake");
        ws.get_mut()
            .write_all(&support::frame(true, OP_TEXT, NOT_UTF8, None))
            .unwrap();
        // tungstenite unmasks and parses the client's answer.
        match ws.read() {
            Ok(tungstenite::Message::Close(Some(frame))) => u16::from(frame.code),
            other => panic!("expected a close frame from the client, got {other:?}"),
        }
    });

    let client = connect(&url);
    let error = client
        .recv_timeout(WAIT)
        .expect_err("recv returned a message");
    assert_eq!(error.status(), Status::InvalidUtf8, "{error}");
    assert_eq!(error.close_frame(), None);
    assert_eq!(peer.join().expect("the raw server panicked"), 1007);
}

#[test]
fn frames_in_the_same_packet_as_the_101_response_are_delivered() {
    let (listener, url) = raw_listener();
    let (done, finished) = mpsc::channel::<()>();
    let peer = thread::spawn(move || {
        let (mut tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        tcp.set_nodelay(true).unwrap();
        let request = read_http_head(&mut tcp).expect("reading the upgrade request");
        let key = request
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| value.trim().to_owned())
            })
            .expect("no Sec-WebSocket-Key");
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        let mut packet = format!(
            "HTTP/1.1 101 Switching Protocols\r\n\
             Upgrade: websocket\r\n\
             Connection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n\r\n"
        )
        .into_bytes();
        packet.extend(support::frame(true, OP_TEXT, b"first", None));
        packet.extend(support::frame(true, OP_BINARY, &[1, 2, 3], None));
        tcp.write_all(&packet).unwrap(); // one write: response and frames together
        let _ = finished.recv_timeout(WAIT);
    });

    let client = connect(&url);
    let first = client.recv_timeout(WAIT).expect("the first frame was lost");
    let second = client
        .recv_timeout(WAIT)
        .expect("the second frame was lost");
    done.send(()).unwrap();
    peer.join().unwrap();
    assert_eq!(first, Message::Text("first".into()));
    assert_eq!(second, Message::Binary(vec![1u8, 2, 3].into()));
}

/// A raw client handshake that sends its first frame in the same write as
/// its upgrade request: the server must not lose it either.
#[test]
fn frames_sent_with_the_upgrade_request_are_delivered() {
    let server = Server::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let requests = serve(server);
    let (received_tx, received) = mpsc::channel();
    thread::spawn(move || {
        let ws = support::next_request(&requests)
            .accept_message()
            .expect("accept");
        let _ = received_tx.send(ws.recv_timeout(WAIT));
    });

    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let mut packet = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes();
    packet.extend(masked(true, OP_TEXT, b"early"));
    tcp.write_all(&packet).unwrap();
    let head = read_http_head(&mut tcp).unwrap();
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");

    let got = received
        .recv_timeout(WAIT)
        .expect("server thread ended without a result");
    assert_eq!(
        got.expect("the early frame was lost"),
        Message::Text("early".into())
    );
}
