//! Every thread wsock starts ends, and every descriptor it opens is closed,
//! once its sockets are closed or dropped (invariant 3).
use std::time::{Duration, Instant};

use wsock::{Message, MessageWebSocket, Server};

const SOCKETS: usize = 300;

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

fn threads() -> usize {
    count("/proc/self/task")
}

fn descriptors() -> usize {
    count("/proc/self/fd")
}

/// Waits (bounded) until both counts are back at the baseline.
fn settle(baseline: (usize, usize)) -> (usize, usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = (threads(), descriptors());
        if now == baseline || Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn threads_and_descriptors_return_to_baseline() {
    if !std::path::Path::new("/proc/self/task").exists() {
        eprintln!("skipped: no /proc");
        return;
    }
    let server = Server::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", server.local_addr().unwrap());
    let baseline = (threads(), descriptors());

    // The server accepts on its own thread: a client's connect returns only
    // once the server has accepted its request.
    let (accepted_tx, accepted) = std::sync::mpsc::channel();
    let acceptor = std::thread::spawn(move || {
        for _ in 0..SOCKETS {
            let ws = server.accept().unwrap().accept_message().unwrap();
            accepted_tx.send(ws).unwrap();
        }
        server
    });
    let mut pairs = Vec::new();
    for i in 0..SOCKETS {
        let client = MessageWebSocket::connect(&url).unwrap();
        let served = accepted.recv_timeout(Duration::from_secs(10)).unwrap();
        client.send_text(format!("hello {i}")).unwrap();
        let m = served.recv_timeout(Duration::from_secs(10)).unwrap();
        served.send(m).unwrap();
        assert_eq!(
            client.recv_timeout(Duration::from_secs(10)).unwrap(),
            Message::Text(format!("hello {i}").into())
        );
        pairs.push((client, served));
    }
    let server = acceptor.join().unwrap();
    let busy = (threads(), descriptors());
    eprintln!("baseline {baseline:?} (threads, fds); with {SOCKETS} connections {busy:?}");
    // Handshake threads may still be on their way out: threads is a lower bound.
    assert!(
        busy.0 >= baseline.0 + 2 * SOCKETS,
        "one reader thread per socket: {busy:?}"
    );
    assert_eq!(
        busy.1,
        baseline.1 + 2 * SOCKETS,
        "one descriptor per socket"
    );

    for (i, (client, served)) in pairs.into_iter().enumerate() {
        match i % 4 {
            0 => {
                client.close(1000, "closing").unwrap();
                drop(served);
            }
            1 => {
                drop(client);
                let end = served.recv_timeout(Duration::from_secs(10)).unwrap_err();
                assert_eq!(end.close_frame().map(|f| f.code), Some(1000));
            }
            2 => {
                served.close(1000, "server closing").unwrap();
                drop(client);
            }
            _ => {
                drop(served);
                let end = client.recv_timeout(Duration::from_secs(10)).unwrap_err();
                assert_eq!(end.close_frame().map(|f| f.code), Some(1001));
            }
        }
    }
    let after = settle(baseline);
    eprintln!("after closing and dropping all: {after:?}");
    assert_eq!(after, baseline, "(threads, descriptors) back to baseline");
    drop(server);
}
