//! Whatever the fault (a dead peer, a reset, a cut, a peer gone silent), a
//! connection's threads end and its descriptors close: thread and
//! descriptor counts return to their baseline (a binary of its own, so
//! that the counts are this file's alone).

#[path = "support/fault_proxy.rs"]
mod fault_proxy;
mod support;

use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use fault_proxy::{Dir, Fault, FaultProxy};
use support::{connect_in_thread, WAIT};
use wsock::{Message, MessageWebSocket, Server, Status};

/// One test, its parts in sequence: the test harness runs each test on a
/// thread of its own, which would be counted by the others.
#[test]
fn faults_leave_no_thread_or_descriptor_behind() {
    if !have_proc() {
        eprintln!("skipped: no /proc");
        return;
    }
    let quiet = counts();
    the_proxy_itself_leaves_nothing_behind(quiet);
    a_dead_peer_ends_the_reader_thread_within_ping_interval_plus_pong_timeout(quiet);
    two_thousand_sockets_with_faults_leave_no_thread_or_descriptor_behind(quiet);
}

/// (threads, descriptors) of this process.
fn counts() -> (usize, usize) {
    (threads(), descriptors())
}

/// Waits until the counts are back at `quiet`, the test's baseline: a
/// thread of an earlier part may still be on its way out.
fn quiet_start(quiet: (usize, usize)) -> (usize, usize) {
    let now = settle(quiet, WAIT, counts);
    assert_eq!(
        now, quiet,
        "(threads, descriptors) left over from an earlier part"
    );
    now
}

fn have_proc() -> bool {
    std::path::Path::new("/proc/self/task").exists()
}

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

fn threads() -> usize {
    count("/proc/self/task")
}

fn descriptors() -> usize {
    count("/proc/self/fd")
}

/// Threads named `name` (as /proc shows it, at most 15 bytes).
fn threads_named(name: &str) -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == name)
        .count()
}

/// Waits (bounded polling: no event exists) until `now()` equals `baseline`;
/// returns the last value seen.
fn settle<T: PartialEq + Copy>(baseline: T, within: Duration, now: impl Fn() -> T) -> T {
    let deadline = Instant::now() + within;
    loop {
        let value = now();
        if value == baseline || Instant::now() >= deadline {
            return value;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

fn a_dead_peer_ends_the_reader_thread_within_ping_interval_plus_pong_timeout(
    quiet: (usize, usize),
) {
    quiet_start(quiet);
    let ping = Duration::from_millis(200);
    let pong = Duration::from_millis(500);
    let server = Server::builder()
        // Faults that need the socket full: uncompressed.
        .compression(None)
        .ping_interval(None)
        .bind("127.0.0.1:0")
        .unwrap();
    let proxy = FaultProxy::start(server.local_addr().unwrap());
    let baseline = threads();

    let client = MessageWebSocket::builder()
        .connect_timeout(WAIT)
        .ping_interval(Some(ping))
        .pong_timeout(Some(pong));
    let client = connect_in_thread(client, format!("ws://{}/", proxy.addr()));
    let served = server.accept().unwrap().accept_message().unwrap();
    let client = client.recv_timeout(WAIT).unwrap().expect("connect");
    // A new thread takes its name once it runs: poll for both readers.
    assert_eq!(settle(2, WAIT, || threads_named("wsock-reader")), 2);

    let started = Instant::now();
    proxy.inject(fault_proxy::Scope::Latest, Dir::Both, Fault::Discard);
    let end = client.recv_timeout(WAIT).unwrap_err();
    let took = started.elapsed();
    assert_eq!(end.status(), Status::Timeout, "{end}");
    assert!(end.to_string().contains("pong"), "{end}");
    assert!(
        took < ping + pong + Duration::from_secs(1),
        "failed after {took:?}"
    );

    // Both sockets are still held: their reader threads end all the same
    // (the server's sees the client's side of TCP close).
    let readers = settle(0, WAIT, || threads_named("wsock-reader"));
    let after = settle(baseline, WAIT, threads);
    let ended = started.elapsed();
    eprintln!(
        "dead peer: recv failed after {} ms; threads back to {after} (baseline {baseline}) after {} ms",
        took.as_millis(),
        ended.as_millis()
    );
    assert_eq!(readers, 0, "reader threads still running");
    assert_eq!(after, baseline, "threads still running");
    let served_end = served.recv_timeout(WAIT).unwrap_err();
    assert_eq!(served_end.status(), Status::ConnectionReset, "{served_end}");
    drop((client, served, proxy, server));
    assert_eq!(settle(quiet, WAIT, counts), quiet, "after dropping all");
}

const SOCKETS: usize = 2000;

/// Accepts `count` connections and echoes on each, one thread per
/// connection, until it ends; returns the server when all were accepted.
fn echo_server(server: Server, count: usize) -> thread::JoinHandle<Server> {
    thread::spawn(move || {
        for _ in 0..count {
            let ws = server.accept().unwrap().accept_message().unwrap();
            thread::spawn(move || {
                while let Ok(m) = ws.recv_timeout(WAIT) {
                    if ws.send(m).is_err() {
                        break;
                    }
                }
            });
        }
        server
    })
}

fn connect(addr: SocketAddr) -> MessageWebSocket {
    MessageWebSocket::builder()
        .connect_timeout(WAIT)
        .close_timeout(Duration::from_millis(300))
        .connect(&format!("ws://{addr}/"))
        .expect("connect")
}

fn echo(ws: &MessageWebSocket, i: usize) {
    ws.send_text(format!("hello {i}")).unwrap();
    assert_eq!(
        ws.recv_timeout(WAIT).unwrap(),
        Message::Text(format!("hello {i}").into())
    );
}

/// The end of `ws`, expected to be abnormal (no close handshake).
fn abnormal_end(ws: &MessageWebSocket, i: usize) {
    let end = ws.recv_timeout(WAIT).unwrap_err();
    assert!(
        matches!(
            end.status(),
            Status::ConnectionReset | Status::ConnectionAborted
        ),
        "socket {i}: {end}"
    );
}

fn two_thousand_sockets_with_faults_leave_no_thread_or_descriptor_behind(quiet: (usize, usize)) {
    let started = Instant::now();
    let baseline = quiet_start(quiet);
    let server = Server::builder()
        // Faults that need the socket full: uncompressed.
        .compression(None)
        .close_timeout(Duration::from_millis(300))
        .bind("127.0.0.1:0")
        .unwrap();
    let direct = server.local_addr().unwrap();
    let proxy = FaultProxy::start(direct);
    let via_proxy = proxy.addr();
    let acceptor = echo_server(server, SOCKETS);

    let mut peak = (0, 0);
    for i in 0..SOCKETS {
        let addr = if i % 8 < 2 { direct } else { via_proxy };
        let ws = connect(addr);
        echo(&ws, i);
        let link = || proxy.latest().expect("the proxy saw the connection");
        match i % 8 {
            // Clean ends, direct and through the proxy.
            0 | 2 => ws.close(1000, "bye").unwrap(),
            1 | 3 => drop(ws),
            // Reset, cut, and a reset in the middle of a message.
            4 => {
                link().reset();
                abnormal_end(&ws, i);
            }
            5 => {
                link().cut();
                abnormal_end(&ws, i);
            }
            6 => {
                link().inject(Dir::ToClient, Fault::ResetAfter(1000));
                ws.send_binary(vec![3u8; 64 << 10]).unwrap();
                abnormal_end(&ws, i);
            }
            // A peer gone silent: dropped, the close timeout ends it.
            _ => {
                link().discard(Dir::Both);
                drop(ws);
            }
        }
        if i % 100 == 0 {
            let now = (threads(), descriptors());
            peak = (peak.0.max(now.0), peak.1.max(now.1));
        }
    }
    let server = acceptor.join().unwrap();
    drop(server);
    let idle = proxy.wait_idle(WAIT);
    drop(proxy);
    let after = settle(baseline, Duration::from_secs(20), counts);
    eprintln!(
        "{SOCKETS} sockets in {} ms: (threads, descriptors) baseline {baseline:?}, \
         peak seen {peak:?}, after {after:?}",
        started.elapsed().as_millis()
    );
    assert!(idle, "proxied connections still open");
    assert_eq!(after, baseline, "(threads, descriptors) back to baseline");
}

fn the_proxy_itself_leaves_nothing_behind(quiet: (usize, usize)) {
    // Guards the other parts' baselines: the fault proxy's own threads and
    // sockets end when its connections close and when it is dropped.
    let baseline = quiet_start(quiet);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = FaultProxy::start(listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    let target = thread::spawn(move || {
        for _ in 0..3 {
            let (tcp, _) = listener.accept().unwrap();
            tx.send(tcp).unwrap();
        }
    });
    let clients: Vec<_> = (0..3)
        .map(|_| std::net::TcpStream::connect(proxy.addr()).unwrap())
        .collect();
    let targets: Vec<_> = (0..3).map(|_| rx.recv_timeout(WAIT).unwrap()).collect();
    target.join().unwrap();
    let deadline = Instant::now() + WAIT;
    while proxy.accepted() < 3 {
        assert!(
            Instant::now() < deadline,
            "the proxy did not take 3 connections"
        );
        thread::sleep(Duration::from_millis(1));
    }
    let links = proxy.open();
    assert_eq!(links.len(), 3);
    links[0].reset();
    links[1].cut();
    // The third is left open: dropping the proxy cuts it.
    drop(proxy);
    drop((clients, targets));
    let after = settle(baseline, WAIT, counts);
    assert_eq!(after, baseline);
}
