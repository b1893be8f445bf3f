//! Connection::path agrees with Request::path + Request::query for
//! every request-target form the server accepts.
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use wsock::{Hub, HubEvent, Server};

const WAIT: Duration = Duration::from_secs(10);

fn path_for(target: &str) -> (String, String) {
    let server = Server::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let hub = Hub::new();
    let h = hub.clone();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let request = server.accept().unwrap();
        let expected = match request.query() {
            Some(q) => format!("{}?{q}", request.path()),
            None => request.path().to_owned(),
        };
        tx.send(expected).unwrap();
        let _ = request.accept_into(&h);
    });
    let mut tcp = TcpStream::connect(addr).unwrap();
    write!(
        tcp,
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut head = [0u8; 12];
    tcp.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 101", "not upgraded");
    let expected = rx.recv_timeout(WAIT).unwrap();
    match hub.recv_timeout(WAIT) {
        Some(HubEvent::Opened(c)) => (c.path().to_owned(), expected),
        other => panic!("{other:?}"),
    }
}

#[test]
fn origin_form_keeps_its_query() {
    let (got, expected) = path_for("/room?nick=ann");
    assert_eq!(got, "/room?nick=ann");
    assert_eq!(got, expected);
}

#[test]
fn absolute_form_without_a_path_keeps_the_leading_slash() {
    let (got, expected) = path_for("http://example.com?nick=ann");
    assert_eq!(got, expected, "Connection::path vs Request::path + query");
}
