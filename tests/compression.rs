//! permessage-deflate (RFC 7692) between wsock peers and against hand-made
//! ones: on by default and agreed by both sides, messages whole and in
//! parts, every negotiation parameter in both roles, answers the client did
//! not allow, and the frames a peer may not send.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use flate2::{Compress, Compression, FlushCompress};
use support::{masked, raw_client_with, read_close, read_http_head, WAIT};
use wsock::{
    Builder, Deflate, Message, MessageKind, MessageWebSocket, Server, ServerBuilder, Status,
};

/// A client and the server side of its connection, with these builders.
fn pair(
    server: ServerBuilder,
    client: Builder<MessageWebSocket>,
) -> (MessageWebSocket, MessageWebSocket) {
    support::pair_with(server, client)
}

/// JSON-like text: repetitive as real JSON is, different in every line.
fn json(lines: usize) -> String {
    (0..lines)
        .map(|i| {
            format!(
                "{{\"id\": {i}, \"symbol\": \"ACME\", \"price\": {}.{:02}, \"side\": \"{}\"}}\n",
                100 + i % 37,
                i % 100,
                if i % 3 == 0 { "buy" } else { "sell" }
            )
        })
        .collect()
}

/// Bytes that deflate cannot shrink.
fn noise(len: usize) -> Vec<u8> {
    support::noise(len, 0x2545_f491_4f6c_dd1d)
}

fn echo_each(from: &MessageWebSocket, to: &MessageWebSocket, messages: &[Message]) {
    for m in messages {
        from.send(m.clone()).unwrap();
    }
    for (i, m) in messages.iter().enumerate() {
        let got = to.recv_timeout(WAIT).unwrap();
        assert!(
            got == *m,
            "message {i}: {} bytes, expected {}",
            got.len(),
            m.len()
        );
    }
}

#[test]
fn wsock_peers_compress_by_default_both_ways() {
    let (client, server) = pair(Server::builder(), MessageWebSocket::builder());
    assert_eq!(
        client.info().compression.as_deref(),
        Some("permessage-deflate")
    );
    assert_eq!(
        server.info().compression.as_deref(),
        Some("permessage-deflate")
    );
    let text = json(20_000); // about 1.2 MiB: sent in frames of 256 KiB
    let mut messages = vec![
        Message::Text(text.clone().into()),
        Message::Text("".into()),
        Message::Binary(vec![].into()),
        Message::Text("short".into()),
        Message::Binary(noise(300 << 10).into()),
        Message::Text(json(3).into()),
    ];
    messages.extend((0..1000).map(|i| Message::Text(json(2 + i % 5).into())));
    let total: usize = messages.iter().map(Message::len).sum();
    echo_each(&client, &server, &messages);
    echo_each(&server, &client, &messages);
    // The text shrinks; the noise goes as it is: well under the payload.
    let wire = server.info().bytes_received as usize;
    assert!(
        wire < total / 2,
        "{wire} bytes on the wire for {total} of payload"
    );
    assert!(wire > 300 << 10, "the noise cannot shrink: {wire}");
    let _ = client.close(1000, "");
}

#[test]
fn either_side_can_turn_it_off() {
    for (server, client) in [
        (
            Server::builder().compression(None),
            MessageWebSocket::builder(),
        ),
        (
            Server::builder(),
            MessageWebSocket::builder().compression(None),
        ),
    ] {
        let (client, server) = pair(server, client);
        assert_eq!(client.info().compression, None);
        assert_eq!(server.info().compression, None);
        let text = json(1000);
        echo_each(&client, &server, &[Message::Text(text.clone().into())]);
        assert!(server.info().bytes_received as usize > text.len());
    }
}

#[test]
fn messages_in_parts_are_compressed_too() {
    let (client, server) = pair(
        Server::builder(),
        MessageWebSocket::builder().compression(Deflate::default().threshold(0)),
    );
    // 200 parts of about 1.3 KiB (each a frame, with a sync flush), the
    // "é" that ends every 7th split between two writes.
    let mut want = String::new();
    let mut writer = client.send_writer(MessageKind::Text).unwrap();
    for i in 0..200 {
        let piece = format!("{}{{\"n\": {i}, \"name\": \"caf\u{e9}\"}}", json(20));
        let bytes = piece.as_bytes();
        let cut = if i % 7 == 0 {
            bytes.len() - 3
        } else {
            bytes.len()
        };
        writer.write_all(&bytes[..cut]).unwrap();
        writer.write_all(&bytes[cut..]).unwrap();
        want.push_str(&piece);
    }
    writer.finish().unwrap();
    let mut reader = server.recv_reader().unwrap();
    assert_eq!(reader.kind(), MessageKind::Text);
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = reader.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    drop(reader);
    assert!(
        got == want.as_bytes(),
        "{} bytes of {}",
        got.len(),
        want.len()
    );
    assert!((server.info().bytes_received as usize) < want.len() / 3);
    // An empty message in parts, then whole ones: the context carries on.
    client
        .send_writer(MessageKind::Binary)
        .unwrap()
        .finish()
        .unwrap();
    assert_eq!(
        server.recv_timeout(WAIT).unwrap(),
        Message::Binary(vec![].into())
    );
    echo_each(&client, &server, &[Message::Text(want.into())]);
}

#[test]
fn every_parameter_is_agreed_and_honoured_in_both_roles() {
    let cases = [
        (
            Deflate::default(),
            Deflate::default()
                .server_no_context_takeover(true)
                .server_max_window_bits(10),
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10",
        ),
        (
            Deflate::default()
                .client_no_context_takeover(true)
                .client_max_window_bits(9),
            Deflate::default(),
            "permessage-deflate; client_no_context_takeover; client_max_window_bits=9",
        ),
        (
            Deflate::default(),
            Deflate::default().client_no_context_takeover(true),
            "permessage-deflate; client_no_context_takeover",
        ),
        (
            Deflate::default().server_max_window_bits(12).level(1),
            Deflate::default().server_max_window_bits(9).level(9),
            "permessage-deflate; server_max_window_bits=9",
        ),
    ];
    for (server_side, client_side, agreed) in cases {
        let (client, server) = pair(
            Server::builder().compression(server_side.threshold(0)),
            MessageWebSocket::builder().compression(client_side.threshold(0)),
        );
        assert_eq!(client.info().compression.as_deref(), Some(agreed));
        assert_eq!(server.info().compression.as_deref(), Some(agreed));
        let mut messages: Vec<Message> =
            (0..50).map(|i| Message::Text(json(1 + i).into())).collect();
        messages.push(Message::Binary(noise(70_000).into()));
        messages.push(Message::Text(json(5000).into()));
        echo_each(&client, &server, &messages);
        echo_each(&server, &client, &messages);
    }
}

/// A hand-made server that answers the upgrade with `extensions`; the
/// client's error (or `None` if it connected).
fn connect_to_answer(extensions: &str, client: Builder<MessageWebSocket>) -> Option<wsock::Error> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let answer = extensions.to_owned();
    let peer = thread::spawn(move || {
        let (mut tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        let request = read_http_head(&mut tcp).unwrap();
        let key = request
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| value.trim().to_owned())
            })
            .unwrap();
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Extensions: {answer}\r\n\r\n"
        );
        tcp.write_all(response.as_bytes()).unwrap();
        let mut rest = Vec::new();
        let _ = tcp.read_to_end(&mut rest);
        request
    });
    let result = client.connect_timeout(WAIT).connect(&url);
    let error = result.err();
    let request = peer.join().unwrap();
    assert!(
        request.contains("permessage-deflate") || error.is_some(),
        "{request}"
    );
    error
}

#[test]
fn answers_the_offer_did_not_allow_fail_the_handshake_and_say_why() {
    let asking =
        || MessageWebSocket::builder().compression(Deflate::default().server_max_window_bits(10));
    let cases: [(&str, Builder<MessageWebSocket>, &str); 5] = [
        (
            "permessage-deflate; mystery",
            MessageWebSocket::builder(),
            "unknown parameter mystery",
        ),
        (
            "x-webkit-deflate-frame",
            MessageWebSocket::builder(),
            "did not offer",
        ),
        (
            "permessage-deflate",
            MessageWebSocket::builder().compression(None),
            "did not offer",
        ),
        (
            "permessage-deflate",
            asking(),
            "leaves out server_max_window_bits",
        ),
        (
            "permessage-deflate; server_max_window_bits=12",
            asking(),
            "over the 10 we asked for",
        ),
    ];
    for (answer, client, why) in cases {
        let e = connect_to_answer(answer, client).expect("connected");
        assert_eq!(e.status(), Status::InvalidServerResponse, "{answer}: {e}");
        assert!(e.to_string().contains(why), "{answer}: {e}");
    }
    // A server may limit its own window without being asked. (The
    // hand-made server never answers our close: a short close timeout.)
    let client = MessageWebSocket::builder().close_timeout(Duration::from_millis(100));
    let e = connect_to_answer("permessage-deflate; server_max_window_bits=11", client);
    assert!(e.is_none(), "{e:?}");
}

/// A message compressed as a peer would send it (sync flush, trailer off).
fn deflated(data: &[u8]) -> Vec<u8> {
    let mut c = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(data.len() + 1024);
    c.compress_vec(data, &mut out, FlushCompress::Sync).unwrap();
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

/// A hand-made client that offers permessage-deflate (if `offer`) and
/// sends `frame`; the close code the server answered and its error.
fn raw_sends(offer: bool, frame: &[u8]) -> (u16, wsock::Error) {
    let server = Server::builder().bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let accepted = thread::spawn(move || server.accept().unwrap().accept_message().unwrap());
    let extra = if offer {
        "Sec-WebSocket-Extensions: permessage-deflate\r\n"
    } else {
        ""
    };
    let (mut tcp, head): (TcpStream, String) = raw_client_with(addr, extra);
    assert_eq!(head.contains("permessage-deflate"), offer, "{head}");
    let ws = accepted.join().unwrap();
    tcp.write_all(frame).unwrap();
    let error = ws.recv_timeout(WAIT).expect_err("a message");
    (read_close(&mut tcp).0, error)
}

/// `frame` with RSV1 set.
fn rsv1(mut frame: Vec<u8>) -> Vec<u8> {
    frame[0] |= 0x40;
    frame
}

#[test]
fn a_compressed_message_from_a_hand_made_peer_arrives() {
    let server = Server::builder().bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let accepted = thread::spawn(move || server.accept().unwrap().accept_message().unwrap());
    let (mut tcp, _) = raw_client_with(addr, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
    let ws = accepted.join().unwrap();
    let text = json(100);
    let packed = deflated(text.as_bytes());
    // In three frames: RSV1 on the first only.
    let (a, rest) = packed.split_at(packed.len() / 3);
    let (b, c) = rest.split_at(rest.len() / 2);
    tcp.write_all(&rsv1(masked(false, 0x1, a))).unwrap();
    tcp.write_all(&masked(false, 0x0, b)).unwrap();
    tcp.write_all(&masked(true, 0x0, c)).unwrap();
    assert_eq!(ws.recv_timeout(WAIT).unwrap(), Message::Text(text.into()));
}

#[test]
fn frames_a_peer_may_not_send_get_1002_or_1007() {
    let cases: Vec<(bool, Vec<u8>, u16, Status)> = vec![
        // RSV1 without the extension agreed.
        (
            false,
            rsv1(masked(true, 0x1, &deflated(b"hello"))),
            1002,
            Status::ProtocolError,
        ),
        // RSV1 on a continuation frame.
        (
            true,
            [masked(false, 0x1, b"he"), rsv1(masked(true, 0x0, b"llo"))].concat(),
            1002,
            Status::ProtocolError,
        ),
        // RSV1 on a ping.
        (
            true,
            rsv1(masked(true, 0x9, b"")),
            1002,
            Status::ProtocolError,
        ),
        // Not deflate at all.
        (
            true,
            rsv1(masked(true, 0x2, &[0xff; 16])),
            1002,
            Status::ProtocolError,
        ),
        // Deflate of bytes that are not UTF-8, as text.
        (
            true,
            rsv1(masked(true, 0x1, &deflated(&[0xc3, 0x28]))),
            1007,
            Status::InvalidUtf8,
        ),
    ];
    for (i, (offer, frame, code, status)) in cases.into_iter().enumerate() {
        let (got, error) = raw_sends(offer, &frame);
        assert_eq!((got, error.status()), (code, status), "case {i}: {error}");
    }
}

#[test]
fn a_second_extensions_line_in_the_answer_is_read_too() {
    for (answer, why) in [
        (
            "permessage-deflate\r\nSec-WebSocket-Extensions: x-unknown-extension",
            "several extensions",
        ),
        (
            "permessage-deflate\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover",
            "several extensions",
        ),
    ] {
        let e = connect_to_answer(answer, MessageWebSocket::builder()).expect("connected");
        assert_eq!(e.status(), Status::InvalidServerResponse, "{answer}: {e}");
        assert!(e.to_string().contains(why), "{answer}: {e}");
    }
}

/// A hand-made client whose offer the server accepted; the server's socket
/// and the client's TCP connection.
fn raw_pair() -> (MessageWebSocket, TcpStream) {
    raw_pair_with(Server::builder())
}

/// [`raw_pair`] with this server.
fn raw_pair_with(server: ServerBuilder) -> (MessageWebSocket, TcpStream) {
    let server = server.bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let accepted = thread::spawn(move || server.accept().unwrap().accept_message().unwrap());
    let (tcp, head) = raw_client_with(addr, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
    assert!(head.contains("permessage-deflate"), "{head}");
    (accepted.join().unwrap(), tcp)
}

#[test]
fn an_empty_compressed_payload_is_an_empty_message_and_the_next_one_arrives() {
    let (ws, mut tcp) = raw_pair();
    let text = "the next message, properly compressed ".repeat(10);
    tcp.write_all(&rsv1(masked(true, 0x1, b""))).unwrap();
    tcp.write_all(&rsv1(masked(true, 0x1, &deflated(text.as_bytes()))))
        .unwrap();
    assert_eq!(ws.recv_timeout(WAIT).unwrap(), Message::Text("".into()));
    assert_eq!(ws.recv_timeout(WAIT).unwrap(), Message::Text(text.into()));
}

#[test]
fn what_follows_a_final_block_in_a_message_is_ignored_however_it_is_cut() {
    // "Hello, " as a finished deflate stream, then more deflate data in
    // the same message, in one frame and spread over three.
    let mut c = Compress::new(Compression::default(), false);
    let mut payload = Vec::with_capacity(1024);
    c.compress_vec(b"Hello, ", &mut payload, FlushCompress::Finish)
        .unwrap();
    payload.extend(deflated(b"World"));
    let (ws, mut tcp) = raw_pair();
    tcp.write_all(&rsv1(masked(true, 0x1, &payload))).unwrap();
    let (a, rest) = payload.split_at(3);
    let (b, c) = rest.split_at(rest.len() / 2);
    tcp.write_all(&rsv1(masked(false, 0x1, a))).unwrap();
    tcp.write_all(&masked(false, 0x0, b)).unwrap();
    tcp.write_all(&masked(true, 0x0, c)).unwrap();
    for cut in ["one frame", "three frames"] {
        let got = ws.recv_timeout(WAIT).unwrap();
        assert_eq!(got, Message::Text("Hello, ".into()), "{cut}");
    }
}

#[test]
fn the_context_carries_on_after_a_connection_was_idle() {
    // An idle connection lets its compression state go (after a second
    // with nothing received) and makes it again from the history it kept:
    // a message that repeats an earlier one still costs only references.
    let (client, server) = pair(Server::builder(), MessageWebSocket::builder());
    let text = json(40);
    echo_each(&client, &server, &[Message::Text(text.clone().into())]);
    echo_each(&server, &client, &[Message::Text(text.clone().into())]);
    // Nothing comes for longer than the idle time (a bounded wait).
    let quiet = server.recv_timeout(Duration::from_millis(1500));
    assert_eq!(quiet.map_err(|e| e.status()), Err(Status::Timeout));
    let before = (server.info().bytes_received, client.info().bytes_received);
    echo_each(&client, &server, &[Message::Text(text.clone().into())]);
    echo_each(&server, &client, &[Message::Text(text.clone().into())]);
    let grew = (
        server.info().bytes_received - before.0,
        client.info().bytes_received - before.1,
    );
    // A fresh context would take hundreds of bytes for this text.
    assert!(
        grew.0 < 64 && grew.1 < 64,
        "{grew:?} bytes for {} of text",
        text.len()
    );
}

#[test]
fn a_connection_idle_after_a_message_that_paused_decoding_is_not_timed_out() {
    // One message in two frames, in one write: the first inflates to 2 MiB,
    // past what one decoding pass takes (so the pass pauses between the
    // frames), the second (empty) ends it. Then nothing is under way, and
    // an idle connection is never a receive timeout.
    let (ws, mut tcp) = raw_pair_with(
        Server::builder()
            .receive_timeout(Duration::from_secs(1))
            .ping_interval(None)
            .max_message_size(8 << 20),
    );
    let mut wire = rsv1(masked(false, 0x2, &deflated(&vec![0u8; 2 << 20])));
    wire.extend_from_slice(&masked(true, 0x0, &[]));
    tcp.write_all(&wire).unwrap();
    assert_eq!(ws.recv_timeout(WAIT).unwrap().len(), 2 << 20);
    // Idle for longer than the receive timeout (a bounded wait): nothing
    // comes, and the connection lives on.
    let quiet = ws.recv_for(Duration::from_millis(2500));
    assert!(
        matches!(quiet, Ok(None)),
        "the idle connection failed: {quiet:?}"
    );
    tcp.write_all(&masked(true, 0x1, b"still here")).unwrap();
    assert_eq!(
        ws.recv_timeout(WAIT).unwrap(),
        Message::Text("still here".into())
    );
}
