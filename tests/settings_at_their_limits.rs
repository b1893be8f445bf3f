//! Every duration setting accepts `Duration::MAX` (a wait no clock reaches)
//! without a panic, and refuses `Duration::ZERO` with an error, never a panic.

mod support;

use std::time::Duration;

use support::{pair_with, WAIT};
use wsock::{Message, MessageWebSocket, Server, Status, StreamWebSocket};

#[test]
fn every_duration_at_its_maximum_connects_sends_and_closes() {
    let max = Duration::MAX;
    let server = Server::builder()
        .send_timeout(max)
        .receive_timeout(max)
        .close_timeout(max)
        .handshake_timeout(max)
        .ping_interval(Some(max))
        .pong_timeout(Some(max))
        .unsolicited_pong_interval(Some(max));
    let client = MessageWebSocket::builder()
        .connect_timeout(max)
        .send_timeout(max)
        .receive_timeout(max)
        .close_timeout(max)
        .ping_interval(Some(max))
        .pong_timeout(Some(max))
        .unsolicited_pong_interval(Some(max));
    let (client, server) = pair_with(server, client);
    client.send_text("to the server").unwrap();
    assert_eq!(
        server.recv_timeout(max).unwrap(),
        Message::Text("to the server".into())
    );
    server.send_binary([1u8, 2, 3]).unwrap();
    assert_eq!(client.recv_timeout(max).unwrap().as_bytes(), &[1, 2, 3]);
    assert_eq!(client.try_recv().unwrap(), None);
    client.close(1000, "done").unwrap();
    let end = server.recv_timeout(WAIT).unwrap_err();
    assert_eq!(end.close_frame().map(|f| f.code), Some(1000), "{end}");
}

#[test]
fn a_stream_read_timeout_of_max_waits_for_data() {
    use std::io::{Read, Write};
    let server = Server::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", server.local_addr().unwrap());
    let writer = std::thread::spawn(move || {
        let mut s = server.accept().unwrap().accept_stream().unwrap();
        s.write_all(b"bytes").unwrap();
        s.close(1000, "").unwrap();
    });
    let mut s = StreamWebSocket::builder()
        .connect_timeout(Duration::MAX)
        .connect(&url)
        .unwrap();
    s.set_read_timeout(Some(Duration::MAX)).unwrap();
    s.set_write_timeout(Some(Duration::MAX)).unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"bytes");
    writer.join().unwrap();
}

#[test]
fn every_duration_at_zero_is_refused_with_an_error() {
    const ZERO: Duration = Duration::ZERO;
    let url = "ws://127.0.0.1:9/"; // never reached: the options are refused first
    type Set = fn(wsock::Builder<MessageWebSocket>) -> wsock::Builder<MessageWebSocket>;
    let setters: [(&str, Set); 7] = [
        ("connect_timeout", |b| b.connect_timeout(ZERO)),
        ("send_timeout", |b| b.send_timeout(ZERO)),
        ("receive_timeout", |b| b.receive_timeout(ZERO)),
        ("close_timeout", |b| b.close_timeout(ZERO)),
        ("ping_interval", |b| b.ping_interval(Some(ZERO))),
        ("pong_timeout", |b| b.pong_timeout(Some(ZERO))),
        ("unsolicited_pong_interval", |b| {
            b.unsolicited_pong_interval(Some(ZERO))
        }),
    ];
    for (name, set) in setters {
        let e = set(MessageWebSocket::builder()).connect(url).unwrap_err();
        assert_eq!(e.status(), Status::InvalidArgument, "{name}: {e}");
        assert!(e.to_string().contains(name), "{name}: {e}");
    }
    let e = Server::builder()
        .handshake_timeout(ZERO)
        .bind("127.0.0.1:0")
        .unwrap_err();
    assert_eq!(e.status(), Status::InvalidArgument, "{e}");
}
