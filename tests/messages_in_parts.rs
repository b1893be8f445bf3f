//! Messages in parts: `recv_reader` reads a message as its frames arrive,
//! `send_writer` sends one frame per write, and `recv` still returns whole
//! messages (control frames between fragments answered, limits kept) over
//! real sockets, against a hand-made peer where the frames must be exact.

mod support;

use std::io::{Read, Write};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use support::{
    masked, pair, pair_with, read_frame, RawServer, OP_BINARY, OP_CONTINUATION, OP_TEXT, WAIT,
};
use wsock::{Message, MessageKind, MessageWebSocket, Server, Status, StreamWebSocket};

const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;
const OP_CLOSE: u8 = 0x8;

/// Reads frames from a hand-made peer's socket until one with `opcode`.
fn frame_with(tcp: &mut std::net::TcpStream, opcode: u8) -> Vec<u8> {
    for _ in 0..100 {
        let (op, payload) = read_frame(tcp).expect("a frame from wsock");
        if op == opcode {
            return payload;
        }
    }
    panic!("no frame with opcode {opcode} in 100 frames");
}

/// Turns parts on for `ws` (its first `recv_reader`, here over a small
/// whole message the hand-made peer sends), so that what the peer sends
/// next is handed on in parts for certain.
fn parts_on_raw(ws: &MessageWebSocket, tcp: &mut std::net::TcpStream) {
    tcp.write_all(&masked(true, OP_TEXT, b"hi")).unwrap();
    let mut r = ws.recv_reader().unwrap();
    let mut s = String::new();
    r.read_to_string(&mut s).unwrap();
    assert_eq!(s, "hi");
}

/// The same between two wsock sockets: `client`'s first `recv_reader`
/// reads "hi" from `server`, then the returned sender thread runs `then`.
fn parts_on<T: Send + 'static>(
    client: &MessageWebSocket,
    server: MessageWebSocket,
    then: impl FnOnce(&MessageWebSocket) -> T + Send + 'static,
) -> thread::JoinHandle<(MessageWebSocket, T)> {
    let (go_tx, go) = mpsc::channel::<()>();
    let t = thread::spawn(move || {
        server.send_text("hi").unwrap();
        go.recv_timeout(WAIT).unwrap();
        let r = then(&server);
        (server, r)
    });
    let mut r = client.recv_reader().unwrap();
    let mut s = String::new();
    r.read_to_string(&mut s).unwrap();
    assert_eq!(s, "hi");
    drop(r);
    go_tx.send(()).unwrap();
    t
}

#[test]
fn fragments_with_pings_between_them_arrive_whole_and_the_pings_answered() {
    let raw = RawServer::start(Server::builder());
    let (ws, mut tcp) = raw.connect();
    let mut bytes = masked(false, OP_TEXT, "frag".as_bytes());
    bytes.extend(masked(true, OP_PING, b"between"));
    bytes.extend(masked(false, OP_CONTINUATION, "mént".as_bytes()));
    bytes.extend(masked(true, OP_CONTINUATION, b"s"));
    // One byte per write: frame headers split anywhere.
    for b in &bytes {
        tcp.write_all(&[*b]).unwrap();
    }
    assert_eq!(
        ws.recv_timeout(WAIT).unwrap(),
        Message::Text("fragménts".into())
    );
    assert_eq!(frame_with(&mut tcp, OP_PONG), b"between");
}

#[test]
fn invalid_utf8_in_a_later_fragment_closes_with_1007_even_read_in_parts() {
    let raw = RawServer::start(Server::builder());
    let (ws, mut tcp) = raw.connect();
    parts_on_raw(&ws, &mut tcp);
    tcp.write_all(&masked(false, OP_TEXT, b"fine so far "))
        .unwrap();
    let mut reader = ws.recv_reader().expect("a reader");
    assert_eq!(reader.kind(), MessageKind::Text);
    let mut buf = [0u8; 64];
    let n = reader.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"fine so far ");
    // The message never finishes: its bad byte is enough.
    tcp.write_all(&masked(false, OP_CONTINUATION, b"\xff"))
        .unwrap();
    let err = reader.read(&mut buf).expect_err("invalid text");
    let inner = err.get_ref().and_then(|e| e.downcast_ref::<wsock::Error>());
    assert_eq!(
        inner.map(|e| e.status()),
        Some(Status::InvalidUtf8),
        "{err}"
    );
    drop(reader);
    let close = frame_with(&mut tcp, OP_CLOSE);
    assert_eq!(u16::from_be_bytes([close[0], close[1]]), 1007);
}

/// A 3 MiB binary message in 64 KiB frames, then "small", then 2 MiB of
/// text in one frame, from the server side.
fn send_three(server: &MessageWebSocket) {
    let mut w = server.send_writer(MessageKind::Binary).unwrap();
    for i in 0..48u8 {
        w.write_all(&[i; 64 << 10]).unwrap();
    }
    w.finish().unwrap();
    server.send_text("small").unwrap();
    server.send_text("t".repeat(2 << 20)).unwrap();
}

#[test]
fn a_reader_dropped_early_skips_the_rest_and_recv_assembles_what_follows() {
    let (client, server) = pair();
    let sender = parts_on(&client, server, send_three);
    let mut reader = client.recv_reader().unwrap();
    assert_eq!(reader.kind(), MessageKind::Binary);
    let mut first = vec![0u8; 100 << 10];
    reader.read_exact(&mut first).unwrap();
    assert!(first[..64 << 10].iter().all(|&b| b == 0));
    assert!(first[64 << 10..].iter().all(|&b| b == 1));
    drop(reader);
    assert_eq!(
        client.recv_timeout(WAIT).unwrap(),
        Message::Text("small".into())
    );
    let big = client.recv_timeout(WAIT).unwrap();
    assert_eq!(big.as_text().map(str::len), Some(2 << 20));
    assert!(big.as_text().unwrap().bytes().all(|b| b == b't'));
    let _server = sender.join().unwrap();
}

#[test]
fn a_reader_reads_a_whole_message_larger_than_max_message_size() {
    let (client, server) = pair_with(
        Server::builder(),
        MessageWebSocket::builder().max_message_size(1 << 20),
    );
    let sender = parts_on(&client, server, send_three);
    let mut reader = client.recv_reader().unwrap();
    let mut all = Vec::new();
    let mut buf = [0u8; 10_000];
    loop {
        let n = reader.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        all.extend_from_slice(&buf[..n]);
    }
    assert_eq!(all.len(), 3 << 20);
    for (i, chunk) in all.chunks(64 << 10).enumerate() {
        assert!(chunk.iter().all(|&b| b == i as u8), "frame {i}");
    }
    drop(reader);
    assert_eq!(
        client.recv_timeout(WAIT).unwrap(),
        Message::Text("small".into())
    );
    // Read whole, the 2 MiB message is over the limit: 1009, and an error.
    let err = client
        .recv_timeout(WAIT)
        .expect_err("over max_message_size");
    assert_eq!(err.status(), Status::MessageTooBig, "{err}");
    let (server, ()) = sender.join().unwrap();
    let end = loop {
        match server.recv_timeout(WAIT) {
            Ok(_) => {}
            Err(e) => break e,
        }
    };
    assert_eq!(end.close_frame().map(|f| f.code), Some(1009), "{end}");
}

#[test]
fn a_writer_sends_one_frame_per_write_and_nothing_comes_between() {
    let raw = RawServer::start(Server::builder());
    let (ws, mut tcp) = raw.connect();
    let other = ws.sender();
    let mut w = ws.send_writer(MessageKind::Text).unwrap();
    w.write_all("caf".as_bytes()).unwrap();
    // Another thread's message waits for the writer to finish.
    let (done_tx, done) = mpsc::channel();
    let t = thread::spawn(move || {
        let r = other.send_text("other");
        let _ = done_tx.send(());
        r
    });
    assert!(
        done.recv_timeout(Duration::from_millis(200)).is_err(),
        "sent during the writer"
    );
    // "é" split between two writes: held back until whole.
    w.write_all(&[0xc3]).unwrap();
    w.write_all(&[0xa9, b'!']).unwrap();
    let err = w.write(b"\xff").expect_err("not UTF-8");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    w.finish().unwrap();
    t.join().unwrap().unwrap();
    let frames: Vec<(u8, Vec<u8>)> = (0..4).map(|_| read_frame(&mut tcp).unwrap()).collect();
    assert_eq!(frames[0], (OP_TEXT, b"caf".to_vec()));
    assert_eq!(frames[1], (OP_CONTINUATION, "é!".as_bytes().to_vec()));
    assert_eq!(frames[2], (OP_CONTINUATION, Vec::new()));
    assert_eq!(frames[3], (OP_TEXT, b"other".to_vec()));
}

#[test]
fn a_dropped_writer_finishes_its_message_and_the_sender_has_one_too() {
    let (client, server) = pair();
    {
        let sender = client.sender();
        let mut w = sender.send_writer(MessageKind::Binary).unwrap();
        w.write_all(&[1, 2]).unwrap();
        w.write_all(&[3]).unwrap();
    }
    client.send_binary([4u8]).unwrap();
    assert_eq!(
        server.recv_timeout(WAIT).unwrap(),
        Message::Binary(vec![1u8, 2, 3].into())
    );
    assert_eq!(
        server.recv_timeout(WAIT).unwrap(),
        Message::Binary(vec![4u8].into())
    );
}

#[test]
fn a_stream_reads_messages_larger_than_max_message_size() {
    let server = Server::builder().bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", server.local_addr().unwrap());
    let requests = support::serve(server);
    let client = thread::spawn(move || {
        StreamWebSocket::builder()
            .max_message_size(1 << 20)
            .connect(&url)
            .unwrap()
    });
    let ws = support::next_request(&requests).accept_message().unwrap();
    let mut stream = client.join().unwrap();
    let sender = thread::spawn(move || {
        ws.send_binary(vec![9u8; 4 << 20]).unwrap();
        ws
    });
    let mut buf = vec![0u8; 4 << 20];
    stream.read_exact(&mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == 9));
    let _ws = sender.join().unwrap();
}

#[test]
fn binary_fragments_from_a_raw_peer_come_to_a_reader_as_they_arrive() {
    let raw = RawServer::start(Server::builder());
    let (ws, mut tcp) = raw.connect();
    parts_on_raw(&ws, &mut tcp);
    tcp.write_all(&masked(false, OP_BINARY, &[1; 10])).unwrap();
    let mut reader = ws.recv_reader().unwrap();
    let mut buf = [0u8; 100];
    // The first frame is readable before the message has ended.
    let n = reader.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], &[1; 10]);
    tcp.write_all(&masked(true, OP_CONTINUATION, &[2; 5]))
        .unwrap();
    let n = reader.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], &[2; 5]);
    assert_eq!(reader.read(&mut buf).unwrap(), 0);
}

#[test]
fn with_parts_on_a_message_that_came_whole_still_meets_max_message_size() {
    // (A helper's review found that the decoder hands such a message on
    // unchecked once parts are on.)
    let (client, server) = pair_with(
        Server::builder(),
        MessageWebSocket::builder().max_message_size(1024),
    );
    let sender = parts_on(&client, server, |s| s.send_binary(vec![5u8; 10_000]));
    let err = client.recv_timeout(WAIT).expect_err("over the limit");
    assert_eq!(err.status(), Status::MessageTooBig, "{err}");
    let (_server, sent) = sender.join().unwrap();
    sent.unwrap();
}

#[test]
fn try_recv_never_waits_for_another_thread_reading_in_parts() {
    let (client, server) = pair();
    client.send_text("first").unwrap();
    client.send_text("second").unwrap();
    // This thread reads the first message in parts; meanwhile another
    // thread's try_recv returns at once: the messages are this thread's.
    let reader = server.recv_reader().unwrap();
    let (done, returned) = mpsc::channel();
    thread::scope(|s| {
        s.spawn(|| {
            done.send(server.try_recv().map_err(|e| e.status()))
                .unwrap()
        });
        let got = returned.recv_timeout(WAIT);
        drop(reader);
        assert_eq!(got, Ok(Ok(None)), "try_recv waited for the reader");
    });
    assert_eq!(
        server.recv_timeout(WAIT).unwrap(),
        Message::Text("second".into())
    );
}
