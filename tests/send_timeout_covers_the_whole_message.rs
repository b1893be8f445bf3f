//! The send timeout is a deadline for the whole message: a peer that reads,
//! but too slowly, cannot keep a send going past it (a socket write timeout
//! alone never fires then: each write moves a few bytes).

mod support;

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use support::RawServer;
use wsock::{Server, Status};

#[test]
fn a_peer_that_reads_slowly_cannot_stretch_a_send_past_its_timeout() {
    let server = RawServer::start(Server::builder().send_timeout(Duration::from_secs(1)));
    let (ws, mut tcp) = server.connect();
    // The peer: 32 KiB every 50 ms (about 0.6 MB/s), for at most 20 s.
    let done = Arc::new(AtomicBool::new(false));
    let peer_done = Arc::clone(&done);
    let peer = thread::spawn(move || {
        let mut buf = vec![0u8; 32 << 10];
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) && !peer_done.load(Ordering::Relaxed) {
            match tcp.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => thread::sleep(Duration::from_millis(50)),
            }
        }
    });
    let started = Instant::now();
    let sent = ws.send_binary(vec![0u8; 8 << 20]); // 13 s at the peer's pace
    let took = started.elapsed();
    let e = sent.expect_err("8 MiB cannot reach a 0.6 MB/s peer within 1 s");
    assert_eq!(e.status(), Status::Timeout, "{e}");
    assert!(
        took < Duration::from_secs(3),
        "the send gave up after {took:?}"
    );
    done.store(true, Ordering::Relaxed);
    drop(ws);
    peer.join().unwrap();
}
