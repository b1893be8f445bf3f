//! Keepalive: an idle connection to a live peer stays up (and measures the
//! round trip), and a peer that stops answering fails the connection with
//! a Timeout instead of leaving `recv` blocked forever.
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use wsock::{MessageWebSocket, Server, Status};

const QUICK: Option<Duration> = Some(Duration::from_millis(300));

#[test]
fn a_peer_that_never_answers_pings_fails_the_connection() {
    // A raw peer that completes the handshake, then neither reads nor writes.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let (release, hold) = mpsc::channel::<()>();
    let peer = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let ws = tungstenite::accept(tcp).unwrap();
        let _ = hold.recv_timeout(Duration::from_secs(30));
        drop(ws);
    });
    let ws = MessageWebSocket::builder()
        .ping_interval(QUICK)
        .pong_timeout(QUICK)
        .connect(&url)
        .unwrap();
    let started = Instant::now();
    let (done_tx, done) = mpsc::channel();
    thread::spawn(move || {
        let _ = done_tx.send(ws.recv());
    });
    let ended = done
        .recv_timeout(Duration::from_secs(10))
        .expect("recv stayed blocked on a dead peer");
    let error = ended.expect_err("a message from a silent peer");
    let waited = started.elapsed();
    assert_eq!(error.status(), Status::Timeout, "{error}");
    assert!(error.close_frame().is_none());
    assert!(error.to_string().contains("pong"), "{error}");
    assert!(
        waited >= Duration::from_millis(600),
        "failed after {waited:?}, before ping + pong timeout"
    );
    release.send(()).unwrap();
    peer.join().unwrap();
}

#[test]
fn an_idle_connection_to_a_live_peer_stays_up() {
    let server = Server::builder()
        .ping_interval(None)
        .bind("127.0.0.1:0")
        .unwrap();
    let url = format!("ws://{}/", server.local_addr().unwrap());
    let echo = thread::spawn(move || {
        let ws = server.accept().unwrap().accept_message().unwrap();
        for m in ws.messages() {
            let Ok(m) = m else { break };
            ws.send(m).unwrap();
        }
    });
    let ws = MessageWebSocket::builder()
        .ping_interval(QUICK)
        .pong_timeout(QUICK)
        .connect(&url)
        .unwrap();
    // Idle for several ping intervals: only recv_timeout's own timeout ends it.
    let idle = ws.recv_timeout(Duration::from_millis(1500)).unwrap_err();
    assert_eq!(idle.status(), Status::Timeout);
    assert!(!idle.to_string().contains("pong"), "{idle}");
    ws.send_text("still there?").unwrap();
    assert_eq!(
        ws.recv_timeout(Duration::from_secs(5)).unwrap().as_text(),
        Some("still there?")
    );
    let rtt = ws.info().rtt.expect("a keepalive round trip was measured");
    assert!(rtt < Duration::from_secs(1), "{rtt:?}");
    ws.close(1000, "").unwrap();
    echo.join().unwrap();
}

#[test]
fn unsolicited_pongs_go_out_at_their_interval() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let peer = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut ws = tungstenite::accept(tcp).unwrap();
        let started = Instant::now();
        let mut pongs = 0;
        while pongs < 3 {
            match ws.read().expect("a frame within 5 s") {
                tungstenite::Message::Pong(_) => pongs += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        started.elapsed()
    });
    let ws = MessageWebSocket::builder()
        .ping_interval(None)
        .unsolicited_pong_interval(Some(Duration::from_millis(200)))
        .connect(&url)
        .unwrap();
    let three = peer.join().unwrap();
    assert!(
        three >= Duration::from_millis(400),
        "3 pongs in {three:?}: faster than every 200 ms"
    );
    drop(ws);
}
