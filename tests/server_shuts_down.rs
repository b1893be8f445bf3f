//! A server stops from another thread: `incoming()` ends, the listener
//! closes, a graceful shutdown closes every connection with 1001, and no
//! thread or descriptor is left. One test in this binary, so the counts of
//! threads and descriptors are this test's alone.

use std::net::TcpStream;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use wsock::{MessageWebSocket, Server, Status};

const WAIT: Duration = Duration::from_secs(10);
const CONNECTIONS: usize = 100;

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// Threads and descriptors of this process.
fn counts() -> (usize, usize) {
    (count("/proc/self/task"), count("/proc/self/fd"))
}

/// Waits (bounded) until both counts are back at `baseline`.
fn settle(baseline: (usize, usize)) -> (usize, usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = counts();
        if now == baseline || Instant::now() > deadline {
            return now;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn shutdown_ends_incoming_closes_every_connection_and_leaves_nothing() {
    let proc_fs = std::path::Path::new("/proc/self/task").exists();
    let baseline = counts();

    // A plain shutdown: the thread blocked in incoming() sees its end.
    let server = Server::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let stop = server.shutdown_handle();
    let (ended_tx, ended) = mpsc::channel();
    let serving = thread::spawn(move || {
        let mut taken = 0;
        for request in server.incoming() {
            let _ = request.and_then(|r| r.accept_message());
            taken += 1;
        }
        ended_tx.send(Instant::now()).unwrap();
        let after = server.accept().expect_err("accept after shutdown");
        (taken, after.status())
    });
    // Make sure it is blocked in incoming() with nothing queued.
    MessageWebSocket::connect(&format!("ws://{addr}/")).unwrap();
    let asked = Instant::now();
    stop.shutdown();
    let returned = ended.recv_timeout(WAIT).expect("incoming() never ended");
    let (taken, after) = serving.join().unwrap();
    eprintln!(
        "incoming() ended {:?} after shutdown()",
        returned.saturating_duration_since(asked)
    );
    assert_eq!(taken, 1);
    assert_eq!(after, Status::ServerShutDown);
    assert!(stop.is_shut_down());
    // Nobody listens any more.
    let refused = TcpStream::connect(addr).expect_err("still listening after shutdown");
    assert_eq!(
        refused.kind(),
        std::io::ErrorKind::ConnectionRefused,
        "{refused}"
    );

    // A graceful shutdown with live connections: every client sees 1001.
    let server = Server::builder()
        .close_timeout(Duration::from_secs(2))
        .bind("127.0.0.1:0")
        .unwrap();
    let url = format!("ws://{}/", server.local_addr().unwrap());
    let stop = server.shutdown_handle();
    let serving = thread::spawn(move || {
        let mut echoers = Vec::new();
        for request in server.incoming() {
            let Ok(ws) = request.and_then(|r| r.accept_message()) else {
                continue;
            };
            echoers.push(thread::spawn(move || {
                for m in ws.messages() {
                    let Ok(m) = m else { break };
                    if ws.send(m).is_err() {
                        break;
                    }
                }
            }));
        }
        for e in echoers {
            e.join().unwrap();
        }
    });
    let clients: Vec<MessageWebSocket> = (0..CONNECTIONS)
        .map(|i| {
            let c = MessageWebSocket::connect(&url).unwrap();
            c.send_text(format!("{i}")).unwrap();
            assert_eq!(
                c.recv_timeout(WAIT).unwrap().as_text(),
                Some(&*i.to_string())
            );
            c
        })
        .collect();
    stop.shutdown_gracefully()
        .expect("every connection closed in time");
    for (i, c) in clients.iter().enumerate() {
        let end = c.recv_timeout(WAIT).expect_err("the server closed it");
        assert_eq!(
            end.close_frame().map(|f| f.code),
            Some(1001),
            "client {i}: {end}"
        );
    }
    drop(clients);
    serving.join().unwrap();

    // A request undecided during a graceful shutdown is not waited for,
    // and accepting it afterwards closes it with 1001 at once.
    let server = Server::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", server.local_addr().unwrap());
    let stop = server.shutdown_handle();
    let connecting = thread::spawn(move || MessageWebSocket::connect(&url));
    let undecided = server.accept().unwrap();
    stop.shutdown_gracefully()
        .expect("an undecided request is not waited for");
    let late = undecided
        .accept_message()
        .expect("accepting it still works");
    let client = connecting.join().unwrap().unwrap();
    let end = client.recv_timeout(WAIT).expect_err("closed at once");
    assert_eq!(end.close_frame().map(|f| f.code), Some(1001), "{end}");
    drop((late, client, server));

    if proc_fs {
        // The timer thread may have started meanwhile and stays.
        let (threads, fds) = settle(baseline);
        assert!(
            threads <= baseline.0 + 1,
            "threads: {} at the start, {threads} after shutdown",
            baseline.0
        );
        assert_eq!(fds, baseline.1, "descriptors left after shutdown");
    }
}
