//! Every way a connection ends is reported to `recv`: a close handshake with
//! the peer's code and reason, an abnormal end with its cause, never a hang.

mod support;

use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use socket2::SockRef;
use support::{pair, WAIT};
use wsock::{CloseFrame, MessageWebSocket, Server, Status};

fn frame(code: u16, reason: &str) -> CloseFrame {
    CloseFrame {
        code,
        reason: reason.to_owned(),
    }
}

/// The error that ends `ws`, within [`WAIT`]; panics on a message or a hang.
fn end_of(ws: &MessageWebSocket) -> wsock::Error {
    let started = Instant::now();
    match ws.recv_timeout(WAIT) {
        Ok(m) => panic!("expected the end of the connection, got a message {m:?}"),
        Err(e) => {
            assert!(
                started.elapsed() < WAIT,
                "the connection did not end within {WAIT:?}: {e}"
            );
            e
        }
    }
}

#[test]
fn client_close_reaches_the_server_with_code_and_reason() {
    let (client, server) = pair();
    client.close(4000, "client says bye").expect("close");

    let seen = end_of(&server);
    assert_eq!(seen.status(), Status::Closed, "{seen}");
    assert_eq!(seen.close_frame(), Some(&frame(4000, "client says bye")));

    // The closer's recv reports the peer's reply (tungstenite echoes the frame).
    let reply = end_of(&client);
    assert_eq!(reply.status(), Status::Closed, "{reply}");
    assert_eq!(reply.close_frame(), Some(&frame(4000, "client says bye")));
    // And keeps reporting it.
    assert_eq!(
        client.recv().unwrap_err().close_frame(),
        Some(&frame(4000, "client says bye"))
    );
}

#[test]
fn server_close_reaches_the_client_with_code_and_reason() {
    let (client, server) = pair();
    server.close(4001, "server says bye").expect("close");

    let seen = end_of(&client);
    assert_eq!(seen.status(), Status::Closed, "{seen}");
    assert_eq!(seen.close_frame(), Some(&frame(4001, "server says bye")));

    let reply = end_of(&server);
    assert_eq!(reply.status(), Status::Closed, "{reply}");
    assert_eq!(reply.close_frame(), Some(&frame(4001, "server says bye")));
}

#[test]
fn dropping_a_client_closes_with_1000() {
    let (client, server) = pair();
    drop(client);
    let seen = end_of(&server);
    assert_eq!(seen.close_frame().map(|f| f.code), Some(1000), "{seen}");
}

#[test]
fn dropping_a_server_socket_closes_with_1001() {
    let (client, server) = pair();
    drop(server);
    let seen = end_of(&client);
    assert_eq!(seen.close_frame().map(|f| f.code), Some(1001), "{seen}");
}

/// Makes dropping `tcp` send a TCP reset instead of a FIN.
fn reset_on_drop(tcp: &TcpStream) {
    SockRef::from(tcp)
        .set_linger(Some(Duration::ZERO))
        .expect("SO_LINGER");
}

/// How long an abnormal end may take to be noticed: well within the close
/// timeout the sockets are given.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);
const NOTICED_WITHIN: Duration = Duration::from_secs(3);

#[test]
fn a_server_peer_that_resets_is_an_abnormal_close() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let (go, reset_now) = mpsc::channel::<()>();
    let peer = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let ws = tungstenite::accept(tcp).expect("server handshake");
        reset_on_drop(ws.get_ref());
        reset_now
            .recv_timeout(WAIT)
            .expect("the test never said go");
        drop(ws);
    });

    let client = MessageWebSocket::builder()
        .connect_timeout(WAIT)
        .close_timeout(CLOSE_TIMEOUT)
        .connect(&url)
        .expect("connect");
    let started = Instant::now();
    go.send(()).unwrap();
    let end = end_of(&client);
    let took = started.elapsed();
    peer.join().unwrap();

    assert_eq!(end.status(), Status::ConnectionReset, "{end}");
    assert_eq!(end.close_frame(), None);
    assert!(
        took < NOTICED_WITHIN,
        "the reset was reported after {took:?}"
    );
}

#[test]
fn a_client_peer_that_resets_is_an_abnormal_close() {
    let server = Server::builder()
        .close_timeout(CLOSE_TIMEOUT)
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr().unwrap();
    let requests = support::serve(server);
    let (peer_tx, peer_rx) = mpsc::channel();
    thread::spawn(move || {
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        let url = format!("ws://{addr}/");
        let _ = peer_tx.send(tungstenite::client(url.as_str(), tcp).map(|(ws, _)| ws));
    });
    let server_ws = support::next_request(&requests)
        .accept_message()
        .expect("accept");
    let peer = peer_rx
        .recv_timeout(WAIT)
        .unwrap()
        .expect("client handshake");

    reset_on_drop(peer.get_ref());
    let started = Instant::now();
    drop(peer);
    let end = end_of(&server_ws);
    let took = started.elapsed();

    assert_eq!(end.status(), Status::ConnectionReset, "{end}");
    assert_eq!(end.close_frame(), None);
    assert!(
        took < NOTICED_WITHIN,
        "the reset was reported after {took:?}"
    );
}

#[test]
fn a_peer_that_never_answers_our_close_times_out() {
    let close_timeout = Duration::from_secs(1);
    let (done, finished) = mpsc::channel::<()>();
    let (url, peer) = silent_peer(finished);

    let client = MessageWebSocket::builder()
        .connect_timeout(WAIT)
        .close_timeout(close_timeout)
        .connect(&url)
        .expect("connect");
    let started = Instant::now();
    let closed = client.close(1000, "bye");
    let took = started.elapsed();
    done.send(()).unwrap();
    peer.join().unwrap();

    let e = closed.expect_err("close() returned Ok though the peer never answered");
    assert_eq!(e.status(), Status::Timeout, "{e}");
    assert!(
        took >= close_timeout,
        "close() gave up after {took:?}, before the close timeout"
    );
    assert!(
        took < close_timeout + Duration::from_secs(3),
        "close() took {took:?}"
    );
    // The connection is over, abnormally.
    let end = end_of(&client);
    assert_eq!(end.close_frame(), None, "{end}");
    assert_eq!(end.status(), Status::Timeout, "{end}");
}

/// A peer that completes the handshake, then neither reads nor writes
/// until `finished` says so; returns its URL.
fn silent_peer(finished: mpsc::Receiver<()>) -> (String, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let peer = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let ws = tungstenite::accept(tcp).expect("server handshake");
        let _ = finished.recv_timeout(WAIT);
        drop(ws);
    });
    (url, peer)
}

#[test]
fn close_is_an_error_when_keepalive_ends_the_connection_first() {
    // Keepalive gives up (0.2 s + 0.5 s) before the close timeout (2 s):
    // close() must report that failure, not Ok.
    let (done, finished) = mpsc::channel::<()>();
    let (url, peer) = silent_peer(finished);
    let client = MessageWebSocket::builder()
        .connect_timeout(WAIT)
        .ping_interval(Some(Duration::from_millis(200)))
        .pong_timeout(Some(Duration::from_millis(500)))
        .close_timeout(Duration::from_secs(2))
        .connect(&url)
        .expect("connect");
    let closed = client.close(1000, "bye");
    done.send(()).unwrap();
    peer.join().unwrap();

    let e = closed.expect_err("close() returned Ok though no close frame came back");
    assert_eq!(e.status(), Status::Timeout, "{e}");
    assert_eq!(e.close_frame(), None, "{e}");
    // recv reports the same end.
    let end = end_of(&client);
    assert_eq!(end.to_string(), e.to_string());
}

#[test]
fn after_close_returns_every_receive_call_reports_the_end() {
    // Run a few times: the end once reached the channel after close()
    // returned, and try_recv saw nothing queued.
    for round in 0..5 {
        let (done, finished) = mpsc::channel::<()>();
        let (url, peer) = silent_peer(finished);
        let client = MessageWebSocket::builder()
            .connect_timeout(WAIT)
            .close_timeout(Duration::from_millis(300))
            .connect(&url)
            .expect("connect");
        let closed = client.close(1000, "bye");
        let first = client.try_recv();
        done.send(()).unwrap();
        peer.join().unwrap();
        let e = closed.expect_err("the silent peer never answered");
        assert_eq!(e.status(), Status::Timeout, "round {round}: {e}");
        let end = first.expect_err("try_recv after close() found no end");
        assert_eq!(end.status(), Status::Timeout, "round {round}: {end}");
    }
    // And after a clean close: the peer's reply is there at once.
    let (client, server) = support::pair();
    let echo = thread::spawn(move || server.recv_timeout(WAIT).map(drop));
    client.close(1000, "bye").expect("close");
    let end = client
        .try_recv()
        .expect_err("try_recv after close() found no end");
    assert_eq!(end.close_frame(), Some(&frame(1000, "bye")), "{end}");
    let _ = echo.join().unwrap();
}

/// A peer that completes the handshake and then runs `act` on its socket.
fn acting_peer(
    act: impl FnOnce(&mut TcpStream) + Send + 'static,
) -> (String, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let peer = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let mut ws = tungstenite::accept(tcp).expect("server handshake");
        act(ws.get_mut());
    });
    (url, peer)
}

#[test]
fn close_reports_a_protocol_violation_that_ended_the_connection() {
    let (done, finished) = mpsc::channel::<()>();
    let (go, ready) = mpsc::channel::<()>();
    let (url, peer) = acting_peer(move |tcp| {
        use std::io::Write;
        // After the handshake (not with it, so the client counts its
        // bytes): a text frame that is not UTF-8; then never answer the close.
        ready.recv_timeout(WAIT).unwrap();
        tcp.write_all(&[0x81, 0x02, 0xff, 0xfe]).unwrap();
        let _ = finished.recv_timeout(WAIT);
    });
    let client = MessageWebSocket::builder()
        .connect_timeout(WAIT)
        .close_timeout(Duration::from_secs(2))
        .connect(&url)
        .expect("connect");
    go.send(()).unwrap();
    // Close once the bad frame is in (the reader has it, or is decoding it).
    let arrived = Instant::now();
    while client.info().bytes_received < 4 {
        assert!(arrived.elapsed() < WAIT, "the bad frame never came");
        thread::yield_now();
    }
    let closed = client.close(1000, "");
    done.send(()).unwrap();
    peer.join().unwrap();
    let e = closed.expect_err("no close frame came back");
    assert_eq!(e.status(), Status::InvalidUtf8, "{e}");
    assert_eq!(end_of(&client).status(), Status::InvalidUtf8);
}

#[test]
fn close_ends_the_connection_with_a_peer_that_keeps_sending() {
    // The peer ignores our close frame and sends a message every
    // millisecond, so no read of ours ever times out.
    let (done, finished) = mpsc::channel::<()>();
    let (url, peer) = acting_peer(move |tcp| {
        use std::io::Write;
        let mut frame = vec![0x82, 126, 0x04, 0x00];
        frame.resize(4 + 1024, 7);
        while finished.try_recv().is_err() {
            if tcp.write_all(&frame).is_err() {
                break;
            }
            let _ = finished.recv_timeout(Duration::from_millis(1));
        }
    });
    let client = MessageWebSocket::builder()
        .connect_timeout(WAIT)
        .close_timeout(Duration::from_millis(300))
        .connect(&url)
        .expect("connect");
    let started = Instant::now();
    let closed = client.close(1000, "bye");
    let took = started.elapsed();
    let e = closed.expect_err("the peer never answered our close");
    assert_eq!(e.status(), Status::Timeout, "{e}");
    assert!(took < Duration::from_secs(3), "close() took {took:?}");
    // The end is queued: messages that came before it, then the end, and
    // never an empty queue.
    let mut messages = 0;
    let end = loop {
        match client.try_recv() {
            Ok(Some(_)) => messages += 1,
            Ok(None) => panic!("the queue ran empty after {messages} messages, without the end"),
            Err(e) => break e,
        }
        assert!(messages < 1_000_000, "messages without end");
    };
    assert_eq!(end.status(), Status::Timeout, "{end}");
    let _ = done.send(());
    peer.join().unwrap();
}

#[test]
fn recv_for_tells_nothing_yet_from_a_keepalive_end() {
    // A silent peer: nothing comes, then keepalive (0.2 s + 0.5 s) ends it.
    // recv_timeout says Timeout both times; recv_for says None, then Err.
    let (done, finished) = mpsc::channel::<()>();
    let (url, peer) = silent_peer(finished);
    let client = MessageWebSocket::builder()
        .ping_interval(Some(Duration::from_millis(200)))
        .pong_timeout(Some(Duration::from_millis(500)))
        .connect(&url)
        .expect("connect");
    assert!(
        client
            .recv_for(Duration::from_millis(50))
            .unwrap()
            .is_none(),
        "nothing yet is Ok(None)"
    );
    let deadline = Instant::now() + WAIT;
    let end = loop {
        assert!(Instant::now() < deadline, "keepalive never ended it");
        match client.recv_for(Duration::from_millis(100)) {
            Ok(None) => {}
            Ok(Some(m)) => panic!("a silent peer sent {m:?}"),
            Err(e) => break e,
        }
    };
    assert_eq!(end.status(), Status::Timeout, "{end}");
    assert!(end.to_string().contains("pong"), "{end}");
    // And it stays the end.
    assert!(client.recv_for(Duration::from_millis(10)).is_err());
    done.send(()).unwrap();
    peer.join().unwrap();
}
