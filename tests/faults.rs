//! Every network fault (a dead peer, a peer that stops reading or never
//! answers a close, a reset or cut mid-message, slow or garbage clients)
//! ends in bounded time with a specific status, and keepalive is on by default.

#[cfg(feature = "tls")]
#[path = "support/tls.rs"]
mod certs;
#[path = "support/fault_proxy.rs"]
mod fault_proxy;
mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use fault_proxy::{Dir, Fault, FaultProxy, Link};
use support::{connect_in_thread, next_request, raw_server, serve, WAIT};
use wsock::{Builder, Message, MessageWebSocket, Request, Server, ServerBuilder, Status};

/// A wsock server (plain or TLS) behind a fault proxy.
struct Rig {
    proxy: FaultProxy,
    requests: Receiver<wsock::Result<Request>>,
    tls: bool,
}

impl Rig {
    fn new(server: ServerBuilder, tls: bool) -> Rig {
        // These faults need messages that fill the socket: uncompressed
        // (the test payloads are runs of one byte, which deflate to nothing).
        let server = server.compression(None);
        let server = if tls { with_identity(server) } else { server };
        let server = server.bind("127.0.0.1:0").expect("bind");
        let proxy = FaultProxy::start(server.local_addr().unwrap());
        Rig {
            proxy,
            requests: serve(server),
            tls,
        }
    }

    fn url(&self) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        format!("{scheme}://{}/", self.proxy.addr())
    }

    /// Connects `client` through the proxy: (client, server side, the
    /// proxied connection).
    fn pair(
        &self,
        client: Builder<MessageWebSocket>,
    ) -> (MessageWebSocket, MessageWebSocket, Link) {
        let client = if self.tls { trusting(client) } else { client };
        let client = connect_in_thread(client.connect_timeout(WAIT), self.url());
        let server_ws = next_request(&self.requests)
            .accept_message()
            .expect("accept_message");
        let client = client
            .recv_timeout(WAIT)
            .expect("the client did not connect in time")
            .expect("connect");
        let link = self.proxy.latest().expect("the proxy saw the connection");
        (client, server_ws, link)
    }
}

#[cfg(feature = "tls")]
fn with_identity(server: ServerBuilder) -> ServerBuilder {
    let id = &certs::pki().server;
    server.tls_pem(id.cert_pem.as_bytes(), id.key_pem.as_bytes())
}

#[cfg(feature = "tls")]
fn trusting(client: Builder<MessageWebSocket>) -> Builder<MessageWebSocket> {
    client.root_certificate_pem(certs::pki().ca_pem.as_bytes())
}

#[cfg(not(feature = "tls"))]
fn with_identity(_: ServerBuilder) -> ServerBuilder {
    unreachable!("no TLS in this build")
}

#[cfg(not(feature = "tls"))]
fn trusting(_: Builder<MessageWebSocket>) -> Builder<MessageWebSocket> {
    unreachable!("no TLS in this build")
}

/// Both transports, or only `ws` in a build without TLS.
fn transports() -> &'static [bool] {
    if cfg!(feature = "tls") {
        &[false, true]
    } else {
        &[false]
    }
}

fn scheme(tls: bool) -> &'static str {
    if tls {
        "wss"
    } else {
        "ws"
    }
}

/// Runs `f` on a thread; the channel gets its result and how long it took.
fn timed<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Receiver<(T, Duration)> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let started = Instant::now();
        let result = f();
        let _ = tx.send((result, started.elapsed()));
    });
    rx
}

/// The error that ends `ws`, within `within`; panics on a message or a hang.
fn end_of(ws: &MessageWebSocket, within: Duration) -> wsock::Error {
    match ws.recv_timeout(within) {
        Ok(m) => panic!(
            "expected the end of the connection, got a message of {} bytes",
            m.len()
        ),
        Err(e) => {
            assert!(
                !(e.status() == Status::Timeout && e.to_string().contains("waiting for a message")),
                "the connection did not end within {within:?}"
            );
            e
        }
    }
}

/// Polls (no event exists for it) until `done` holds, at most [`WAIT`].
fn poll_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {WAIT:?}");
        thread::sleep(Duration::from_millis(1));
    }
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

const SEND_TIMEOUT: Duration = Duration::from_secs(1);
const CLOSE_TIMEOUT: Duration = Duration::from_millis(500);
/// What a deadline may overrun by on two loaded cores in a debug build.
const MARGIN: Duration = Duration::from_millis(500);

#[test]
fn a_peer_that_stops_reading_fails_every_sender_at_the_send_timeout() {
    let rig = Rig::new(Server::builder().ping_interval(None), false);
    let client = MessageWebSocket::builder()
        .ping_interval(None)
        .send_timeout(SEND_TIMEOUT)
        .close_timeout(CLOSE_TIMEOUT);
    let (client, _server_ws, link) = rig.pair(client);
    link.pause(Dir::ToServer);

    let big = start_big_send(&client, 64 << 20);
    // Another thread sends while the big message holds the socket.
    let small = client.sender();
    let other = timed(move || small.send_text("behind the big one"));

    let (sent, took) = big.recv_timeout(WAIT).expect("the 64 MiB send hung");
    let e = sent.expect_err("64 MiB went into a peer that reads nothing");
    eprintln!(
        "peer stops reading: 64 MiB send failed after {} ms: {e}",
        ms(took)
    );
    assert_eq!(e.status(), Status::Timeout, "{e}");
    assert!(
        took >= SEND_TIMEOUT,
        "gave up after {took:?}, before the send timeout"
    );
    assert!(
        took < SEND_TIMEOUT + Duration::from_secs(2),
        "failed only after {took:?}"
    );

    let (sent, took) = other.recv_timeout(WAIT).expect("the other sender hung");
    let e = sent.expect_err("a send after the connection failed succeeded");
    eprintln!(
        "  the concurrent small send failed after {} ms: {e}",
        ms(took)
    );
    assert!(
        took < SEND_TIMEOUT + Duration::from_secs(2),
        "after {took:?}"
    );

    let started = Instant::now();
    let closed = client.close(1000, "bye");
    let took = started.elapsed();
    eprintln!(
        "  close() afterwards returned {closed:?} after {} ms",
        ms(took)
    );
    assert!(took < CLOSE_TIMEOUT + MARGIN, "close() took {took:?}");
    let end = end_of(&client, WAIT);
    assert_eq!(end.status(), Status::Timeout, "{end}");
    assert_eq!(end.close_frame(), None);
}

/// Starts sending `len` bytes in one message on a thread, and returns once
/// that send holds the socket (its first bytes are written).
fn start_big_send(ws: &MessageWebSocket, len: usize) -> Receiver<(wsock::Result<()>, Duration)> {
    let before = ws.info().bytes_sent;
    let tx = ws.sender();
    let big = Message::Binary(vec![0x5a; len].into());
    let sending = timed(move || tx.send(big));
    poll_until("the big send writing", || ws.info().bytes_sent > before);
    sending
}

/// The send timeout is ten times the close timeout: only the close timeout
/// can end a close or a drop early.
fn stuck_sender_builder() -> Builder<MessageWebSocket> {
    MessageWebSocket::builder()
        .ping_interval(None)
        .send_timeout(Duration::from_secs(5))
        .close_timeout(CLOSE_TIMEOUT)
}

#[test]
fn close_while_a_send_is_stuck_is_bounded_by_the_close_timeout() {
    let rig = Rig::new(Server::builder().ping_interval(None), false);
    let (client, _server_ws, link) = rig.pair(stuck_sender_builder());
    link.pause(Dir::ToServer);
    let big = start_big_send(&client, 64 << 20);
    let started = Instant::now();
    let closing = client.sender();
    let closed = timed(move || closing.close(1000, "bye"));
    let (closed, took) = closed.recv_timeout(WAIT).expect("close() hung");
    eprintln!(
        "close() during a stuck send returned {closed:?} after {} ms",
        ms(took)
    );
    let (sent, _) = big.recv_timeout(WAIT).expect("the stuck send hung");
    let since_close = started.elapsed();
    eprintln!(
        "  the stuck send ended {} ms after close() began: {sent:?}",
        ms(since_close)
    );
    assert!(took < CLOSE_TIMEOUT + MARGIN, "close() took {took:?}");
    let e = closed.expect_err("the peer never answered");
    assert_eq!(e.status(), Status::Timeout, "{e}");
    assert!(sent.is_err(), "64 MiB went into a peer that reads nothing");
    assert!(
        since_close < CLOSE_TIMEOUT + MARGIN,
        "the stuck send ended {since_close:?} after close() began"
    );
}

#[test]
fn drop_while_a_send_is_stuck_is_bounded_by_the_close_timeout() {
    let rig = Rig::new(Server::builder().ping_interval(None), false);
    let (client, _server_ws, link) = rig.pair(stuck_sender_builder());
    link.pause(Dir::ToServer);
    let big = start_big_send(&client, 64 << 20);
    let started = Instant::now();
    drop(client);
    let dropped = started.elapsed();
    let (sent, _) = big.recv_timeout(WAIT).expect("the stuck send hung");
    let since_drop = started.elapsed();
    eprintln!(
        "drop during a stuck send took {} ms; the send ended {} ms after it: {sent:?}",
        ms(dropped),
        ms(since_drop)
    );
    assert!(dropped < MARGIN, "drop blocked for {dropped:?}");
    assert!(sent.is_err(), "64 MiB went into a peer that reads nothing");
    assert!(
        since_drop >= CLOSE_TIMEOUT,
        "the send ended {since_drop:?} after the drop"
    );
    assert!(
        since_drop < CLOSE_TIMEOUT + MARGIN,
        "the stuck send ended {since_drop:?} after the drop"
    );
}

#[test]
fn a_peer_that_never_answers_our_close_times_out_at_the_close_timeout() {
    let rig = Rig::new(
        Server::builder()
            .ping_interval(None)
            .close_timeout(CLOSE_TIMEOUT),
        false,
    );
    let client = || {
        MessageWebSocket::builder()
            .ping_interval(None)
            .close_timeout(CLOSE_TIMEOUT)
    };
    for closer in ["client", "server"] {
        let (client, server_ws, link) = rig.pair(client());
        link.discard(Dir::Both);
        let (ws, other) = if closer == "client" {
            (client, server_ws)
        } else {
            (server_ws, client)
        };
        let started = Instant::now();
        let closed = ws.close(1000, "bye");
        let took = started.elapsed();
        eprintln!(
            "close never answered ({closer} closes): {closed:?} after {} ms",
            ms(took)
        );
        let e = closed.expect_err("close() returned Ok though the peer never answered");
        assert_eq!(e.status(), Status::Timeout, "{e}");
        assert!(
            took >= CLOSE_TIMEOUT,
            "gave up after {took:?}, before the close timeout"
        );
        assert!(took < CLOSE_TIMEOUT + MARGIN, "close() took {took:?}");
        let end = end_of(&ws, WAIT);
        assert_eq!(end.status(), Status::Timeout, "{end}");
        assert_eq!(end.close_frame(), None, "{end}");
        drop(other);
    }
}

#[test]
fn a_reset_or_cut_mid_message_is_connection_reset_both_ways_over_ws_and_wss() {
    const LEN: usize = 4 << 20;
    for &tls in transports() {
        let rig = Rig::new(Server::builder().ping_interval(None), tls);
        let client = || {
            MessageWebSocket::builder()
                .ping_interval(None)
                .send_timeout(Duration::from_secs(5))
        };
        for receiver in ["client", "server"] {
            for fault in [Fault::ResetAfter(100_000), Fault::CutAfter(100_000)] {
                let (client, server_ws, link) = rig.pair(client());
                let (sender, receiver_ws, dir) = if receiver == "client" {
                    (server_ws, client, Dir::ToClient)
                } else {
                    (client, server_ws, Dir::ToServer)
                };
                // The next bytes that way are the message: the fault lands mid-frame.
                link.inject(dir, fault);
                let started = Instant::now();
                let tx = sender.sender();
                let sent = timed(move || tx.send(Message::Binary(vec![1u8; LEN].into())));
                let end = end_of(&receiver_ws, WAIT);
                let took = started.elapsed();
                let what = format!("{fault:?} over {}, {receiver} receiving", scheme(tls));
                eprintln!("{what}: {:?} after {} ms: {end}", end.status(), ms(took));
                assert_eq!(end.status(), Status::ConnectionReset, "{what}: {end}");
                assert_eq!(end.close_frame(), None, "{what}");
                assert!(
                    took < Duration::from_secs(3),
                    "{what}: reported after {took:?}"
                );
                // The sending side learns of it too, and stays ended.
                let (sent, _) = sent.recv_timeout(WAIT).expect("the sender hung");
                let sender_end = end_of(&sender, WAIT);
                eprintln!(
                    "  sender: send {:?}; recv {:?}",
                    sent.err().map(|e| e.status()),
                    sender_end.status()
                );
                assert_eq!(sender_end.close_frame(), None, "{what}: {sender_end}");
                assert!(
                    matches!(
                        sender_end.status(),
                        Status::ConnectionReset | Status::ConnectionAborted
                    ),
                    "{what}: the sender ended with {sender_end}"
                );
                assert_eq!(
                    receiver_ws.recv_timeout(WAIT).unwrap_err().status(),
                    Status::ConnectionReset
                );
            }
        }
    }
}

#[test]
fn a_dead_peer_fails_recv_within_ping_interval_plus_pong_timeout() {
    let ping = Duration::from_millis(200);
    let pong = Duration::from_millis(500);
    for &tls in transports() {
        let rig = Rig::new(Server::builder().ping_interval(None), tls);
        let client = MessageWebSocket::builder()
            .ping_interval(Some(ping))
            .pong_timeout(Some(pong));
        let (client, _server_ws, link) = rig.pair(client);
        let started = Instant::now();
        link.discard(Dir::Both);
        let end = end_of(&client, WAIT);
        let took = started.elapsed();
        eprintln!(
            "dead peer over {}: {:?} after {} ms: {end}",
            scheme(tls),
            end.status(),
            ms(took)
        );
        assert_eq!(end.status(), Status::Timeout, "{end}");
        assert!(end.to_string().contains("pong"), "{end}");
        assert!(
            took >= pong,
            "failed after {took:?}, before the pong timeout"
        );
        assert!(
            took < ping + pong + Duration::from_secs(1),
            "failed after {took:?}"
        );
        assert!(took < Duration::from_secs(2));
    }
}

#[test]
fn a_sender_stuck_on_a_dead_peer_does_not_starve_keepalive() {
    // The peer stops reading and sends nothing: the keepalive ping cannot
    // leave (a 64 MiB message holds the socket), but the pong deadline runs.
    let ping = Duration::from_millis(200);
    let pong = Duration::from_millis(500);
    let rig = Rig::new(Server::builder().ping_interval(None), false);
    let client = MessageWebSocket::builder()
        .ping_interval(Some(ping))
        .pong_timeout(Some(pong))
        .send_timeout(Duration::from_secs(20));
    let (client, _server_ws, link) = rig.pair(client);
    link.pause(Dir::ToServer);
    let started = Instant::now();
    let big = start_big_send(&client, 64 << 20);
    let end = end_of(&client, WAIT);
    let took = started.elapsed();
    let (sent, send_took) = big.recv_timeout(WAIT).expect("the stuck send hung");
    eprintln!(
        "dead peer under a stuck sender: recv {:?} after {} ms; the send failed after {} ms",
        end.status(),
        ms(took),
        ms(send_took)
    );
    assert_eq!(end.status(), Status::Timeout, "{end}");
    assert!(end.to_string().contains("pong"), "{end}");
    assert!(
        took < ping + pong + Duration::from_secs(1),
        "failed after {took:?}"
    );
    assert_eq!(
        sent.expect_err("64 MiB went into a dead peer").status(),
        Status::Timeout
    );
    assert!(
        send_took < ping + pong + Duration::from_secs(1),
        "after {send_took:?}"
    );
}

#[test]
fn a_slow_but_live_peer_is_not_a_dead_one() {
    // 150 ms each way: each ping is answered within the 500 ms pong timeout.
    let rig = Rig::new(Server::builder().ping_interval(None), false);
    let client = MessageWebSocket::builder()
        .ping_interval(Some(Duration::from_millis(200)))
        .pong_timeout(Some(Duration::from_millis(500)));
    let (client, server_ws, link) = rig.pair(client);
    link.inject(Dir::Both, Fault::Delay(Duration::from_millis(150)));
    let idle = client.recv_timeout(Duration::from_secs(2)).unwrap_err();
    assert_eq!(idle.status(), Status::Timeout);
    assert!(idle.to_string().contains("waiting for a message"), "{idle}");
    let rtt = client
        .info()
        .rtt
        .expect("a keepalive round trip was measured");
    eprintln!(
        "a 150 ms delay each way: still up after 2 s idle, rtt {} ms",
        ms(rtt)
    );
    assert!(rtt >= Duration::from_millis(300), "{rtt:?}");
    client.send_text("still there?").unwrap();
    assert_eq!(
        server_ws.recv_timeout(WAIT).unwrap().as_text(),
        Some("still there?")
    );
}

#[test]
fn a_message_trickling_in_fails_at_the_receive_timeout() {
    // A peer that sends a byte of a message every fifth of a millisecond
    // never lets a read time out (the shortest read timeout is 1 ms); the
    // receive timeout must still end the message (and the connection) when
    // it runs out, not when the peer stops.
    const LIMIT: Duration = Duration::from_millis(400);
    const TRICKLE_FOR: Duration = Duration::from_secs(6);
    let (url, upgraded) = raw_server();
    let ws = MessageWebSocket::builder()
        .ping_interval(None)
        .receive_timeout(LIMIT)
        .max_message_size(32 << 20)
        .connect(&url)
        .unwrap();
    let mut tcp = upgraded.recv_timeout(WAIT).unwrap();
    let trickler = thread::spawn(move || {
        // A binary frame of 16 MiB (unmasked: we are the server).
        tcp.set_nodelay(true).unwrap();
        tcp.write_all(&[0x82, 127, 0, 0, 0, 0, 1, 0, 0, 0]).unwrap();
        let started = Instant::now();
        while started.elapsed() < TRICKLE_FOR {
            if tcp.write_all(b"x").is_err() {
                return; // the client gave up on us
            }
            thread::sleep(Duration::from_micros(200)); // the fault: a slow peer
        }
    });
    let started = Instant::now();
    let err = ws.recv_timeout(TRICKLE_FOR * 2).unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.status(), Status::Timeout, "{err}");
    assert!(
        took >= LIMIT - Duration::from_millis(50) && took < Duration::from_secs(3),
        "the trickled message failed after {} ms (receive timeout {} ms)",
        ms(took),
        ms(LIMIT)
    );
    drop(ws);
    trickler.join().unwrap();
}

/// Reads frames (for at most `within`) until a ping; returns when it came.
fn wait_for_ping(tcp: &mut TcpStream, started: Instant, within: Duration) -> Duration {
    tcp.set_read_timeout(Some(within)).unwrap();
    loop {
        let (opcode, _) = support::read_frame(tcp).expect("no ping came");
        let at = started.elapsed();
        assert!(at < within, "no ping within {within:?}");
        if opcode == 0x9 {
            return at;
        }
    }
}

#[test]
fn keepalive_is_on_by_default() {
    // ping_interval: a client and a server with default options ping an idle
    // peer after 20 s. pong_timeout: a client with only a short ping interval
    // fails 20 s after an unanswered ping. All three at once (~21 s).
    let defaults = Duration::from_secs(20);
    let client_pings = thread::spawn(move || {
        let (url, peer) = raw_server();
        let ws = MessageWebSocket::connect(&url).expect("connect");
        let started = Instant::now();
        let mut tcp = peer.recv_timeout(WAIT).unwrap();
        let at = wait_for_ping(&mut tcp, started, defaults + Duration::from_secs(5));
        assert!(ws.try_recv().unwrap().is_none(), "the connection ended");
        at
    });
    let server_pings = thread::spawn(move || {
        let server = Server::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let requests = serve(server);
        let accepted = timed(move || next_request(&requests).accept_message());
        let mut tcp = support::raw_client(addr);
        let ws = accepted.recv_timeout(WAIT).unwrap().0.expect("accept");
        let started = Instant::now();
        let at = wait_for_ping(&mut tcp, started, defaults + Duration::from_secs(5));
        assert!(ws.try_recv().unwrap().is_none(), "the connection ended");
        at
    });
    let pong_deadline = thread::spawn(move || {
        let (url, peer) = raw_server();
        let ws = MessageWebSocket::builder()
            .ping_interval(Some(Duration::from_millis(100)))
            .connect(&url)
            .expect("connect");
        let started = Instant::now();
        let _silent = peer.recv_timeout(WAIT).unwrap();
        let end = end_of(&ws, defaults + Duration::from_secs(5));
        (end, started.elapsed())
    });
    let client_at = client_pings.join().unwrap();
    let server_at = server_pings.join().unwrap();
    let (end, failed_at) = pong_deadline.join().unwrap();
    eprintln!(
        "defaults: client pinged after {} ms, server after {} ms; an unanswered ping failed after {} ms: {end}",
        ms(client_at),
        ms(server_at),
        ms(failed_at)
    );
    // Within a second of the deadline: deadlines are wsock's, not the
    // kernel's (which rounds a 20 s socket timeout up by up to 2 s).
    let second = Duration::from_secs(1);
    for at in [client_at, server_at] {
        assert!(
            at >= defaults,
            "pinged after {at:?}, before the default 20 s"
        );
        assert!(at < defaults + second, "pinged after {at:?}");
    }
    assert_eq!(end.status(), Status::Timeout, "{end}");
    assert!(end.to_string().contains("pong"), "{end}");
    let deadline = Duration::from_millis(100) + defaults;
    assert!(failed_at >= deadline, "failed after {failed_at:?}");
    assert!(failed_at < deadline + second, "failed after {failed_at:?}");
}

#[test]
fn slowloris_clients_do_not_stop_a_normal_one_and_are_dropped_at_the_handshake_timeout() {
    const SLOW: usize = 200;
    let handshake_timeout = Duration::from_secs(2);
    let server = Server::builder()
        .handshake_timeout(handshake_timeout)
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr().unwrap();
    let requests = serve(server);
    let echo = thread::spawn(move || {
        let ws = next_request(&requests).accept_message().expect("accept");
        let m = ws.recv_timeout(WAIT)?;
        ws.send(m)
    });

    let request = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n");
    let request = request.as_bytes();
    let mut slow: Vec<(TcpStream, Instant, Option<Duration>)> = (0..SLOW)
        .map(|_| {
            let tcp = TcpStream::connect(addr).unwrap();
            let opened = Instant::now();
            (&tcp).write_all(&request[..1]).unwrap();
            tcp.set_nonblocking(true).unwrap();
            (tcp, opened, None)
        })
        .collect();

    let started = Instant::now();
    let ws = MessageWebSocket::builder()
        .connect_timeout(Duration::from_secs(1))
        .connect(&format!("ws://{addr}/"))
        .expect("a normal client could not connect past 200 slow ones");
    let connected = started.elapsed();
    ws.send_text("still here").unwrap();
    assert_eq!(
        ws.recv_timeout(WAIT).unwrap(),
        Message::Text("still here".into())
    );
    echo.join().unwrap().unwrap();
    eprintln!(
        "slowloris: a normal client connected in {} ms past {SLOW} slow ones",
        ms(connected)
    );

    // One header byte per second each, until the server drops them (EOF, or
    // a reset if a byte crossed the server's close); polled, as no event exists.
    let give_up = Instant::now() + handshake_timeout + Duration::from_secs(5);
    let mut sent = 1;
    let mut next_byte = Instant::now() + Duration::from_secs(1);
    while slow.iter().any(|(_, _, dropped)| dropped.is_none()) {
        assert!(Instant::now() < give_up, "slow clients still connected");
        let tick = Instant::now() >= next_byte;
        for (tcp, opened, dropped) in slow.iter_mut().filter(|s| s.2.is_none()) {
            let mut byte = [0u8; 1];
            let gone = match (&*tcp).read(&mut byte) {
                Ok(0) => true,
                Ok(_) => panic!("the server answered a request it has not got"),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    tick && (&*tcp).write(&request[sent..sent + 1]).is_err()
                }
                Err(e) if e.kind() == ErrorKind::ConnectionReset => true,
                Err(e) => panic!("{e}"),
            };
            if gone {
                *dropped = Some(opened.elapsed());
            }
        }
        if tick {
            sent += 1;
            next_byte += Duration::from_secs(1);
        }
        thread::sleep(Duration::from_millis(20));
    }
    let times: Vec<Duration> = slow.iter().filter_map(|s| s.2).collect();
    let first = *times.iter().min().unwrap();
    let last = *times.iter().max().unwrap();
    eprintln!(
        "  all {SLOW} dropped between {} and {} ms after they connected ({sent} bytes sent each)",
        ms(first),
        ms(last)
    );
    assert!(
        first >= handshake_timeout,
        "one was dropped after {first:?}"
    );
    assert!(
        last < handshake_timeout + Duration::from_secs(2),
        "one was dropped after {last:?}"
    );
}

#[test]
fn garbage_instead_of_a_request_gets_400_and_the_server_keeps_serving() {
    let server = Server::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let requests = serve(server);
    let garbage: [&[u8]; 4] = [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        b"HELLO\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost \x01\xff\r\n\r\n",
        b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
    ];
    for junk in garbage {
        let mut tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        tcp.write_all(junk).unwrap();
        let mut response = Vec::new();
        // The server answers and closes; a reset after the answer is fine.
        let _ = tcp.read_to_end(&mut response);
        let response = String::from_utf8_lossy(&response);
        assert!(
            response.starts_with("HTTP/1.1 400"),
            "{junk:?} got {response:?}"
        );
    }
    let served = thread::spawn(move || {
        let ws = next_request(&requests).accept_message().expect("accept");
        let m = ws.recv_timeout(WAIT)?;
        ws.send(m)
    });
    let ws = MessageWebSocket::builder()
        .connect_timeout(WAIT)
        .connect(&format!("ws://{addr}/"))
        .expect("the server stopped serving after garbage");
    ws.send_text("after the garbage").unwrap();
    assert_eq!(
        ws.recv_timeout(WAIT).unwrap().as_text(),
        Some("after the garbage")
    );
    served.join().unwrap().unwrap();
}
