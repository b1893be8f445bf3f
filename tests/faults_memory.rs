//! A program that does not `recv` while its peer sends 1 GiB in 64 KiB
//! messages holds the peer back through TCP flow control: with the default
//! settings the process's peak RSS stays under 16 MiB above its baseline,
//! and once the program reads, every message arrives, in order.

mod support;

use std::io::Write;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use support::WAIT;
use wsock::{Message, MessageWebSocket};

const MESSAGE: usize = 64 << 10;
const COUNT: u64 = (1 << 30) / MESSAGE as u64;

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A raw WebSocket server that, once told to, writes `COUNT` binary
/// messages of 64 KiB, each starting and ending with its sequence number,
/// with plain blocking writes; `written` counts the messages written whole.
fn flooding_peer(written: Arc<AtomicU64>) -> (String, mpsc::Sender<()>, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let (go_tx, go) = mpsc::channel::<()>();
    let peer = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        let mut tcp = tungstenite::accept(tcp).expect("handshake").into_inner();
        // Blocked while the program does not read: bounded all the same.
        tcp.set_write_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        go.recv_timeout(WAIT).expect("the test never said go");
        let mut frame = support::frame(true, support::OP_BINARY, &[0x5a; MESSAGE], None);
        let header = frame.len() - MESSAGE;
        let end = frame.len();
        for seq in 0..COUNT {
            let seq_bytes = seq.to_le_bytes();
            frame[header..header + 8].copy_from_slice(&seq_bytes);
            frame[end - 8..].copy_from_slice(&seq_bytes);
            tcp.write_all(&frame).expect("the flood was cut short");
            written.store(seq + 1, Ordering::SeqCst);
        }
        // Then a clean close: answer the program's close frame.
        let (code, _) = support::read_close(&mut tcp);
        let reply = support::frame(true, support::OP_CLOSE, &code.to_be_bytes(), None);
        tcp.write_all(&reply).expect("answering the close");
    });
    (url, go_tx, peer)
}

#[test]
fn a_program_that_does_not_read_holds_a_1_gib_flood_back_with_bounded_memory() {
    let Some(baseline) = peak_rss_kib() else {
        eprintln!("skipped: no VmHWM in /proc/self/status");
        return;
    };
    let started = Instant::now();
    let written = Arc::new(AtomicU64::new(0));
    let (url, go, peer) = flooding_peer(Arc::clone(&written));
    let ws = MessageWebSocket::connect(&url).expect("connect");
    go.send(()).unwrap();

    // The program does not read. The peer writes until flow control stops
    // it: wait (polling, as no event exists) until it has been stuck for 1 s.
    let give_up = Instant::now() + Duration::from_secs(30);
    let mut last = (0, Instant::now());
    loop {
        assert!(Instant::now() < give_up, "the peer was never held back");
        thread::sleep(Duration::from_millis(50));
        let now = written.load(Ordering::SeqCst);
        if now != last.0 {
            last = (now, Instant::now());
        } else if now > 0 && last.1.elapsed() >= Duration::from_secs(1) {
            break;
        }
    }
    let held = last.0;
    let queued_at_hold = ws.info().bytes_received;
    let rss_held = peak_rss_kib().unwrap();
    eprintln!(
        "held back after {} MiB written ({held} messages); wsock read {} MiB of it; \
         peak RSS {} MiB above the baseline of {} MiB",
        (held * MESSAGE as u64) >> 20,
        queued_at_hold >> 20,
        rss_held.saturating_sub(baseline) >> 10,
        baseline >> 10
    );
    assert!(
        held * (MESSAGE as u64) < 64 << 20,
        "{held} messages went into a program that reads nothing"
    );

    // Now the program reads: all of it arrives, in order.
    for seq in 0..COUNT {
        let m = ws
            .recv_timeout(WAIT)
            .unwrap_or_else(|e| panic!("message {seq}: {e}"));
        let Message::Binary(b) = m else {
            panic!("message {seq} is not binary")
        };
        assert_eq!(b.len(), MESSAGE, "message {seq}");
        let first = u64::from_le_bytes(b[..8].try_into().unwrap());
        let last = u64::from_le_bytes(b[MESSAGE - 8..].try_into().unwrap());
        assert_eq!((first, last), (seq, seq), "message {seq} out of order");
        assert_eq!(b[MESSAGE / 2], 0x5a, "message {seq} corrupt");
    }
    assert!(
        ws.try_recv().unwrap().is_none(),
        "more than was sent arrived"
    );
    ws.close(1000, "done").unwrap();
    peer.join().unwrap();

    let peak = peak_rss_kib().unwrap();
    let above = peak.saturating_sub(baseline);
    eprintln!(
        "1 GiB in {} ms; peak RSS {} KiB above the baseline ({} MiB -> {} MiB)",
        started.elapsed().as_millis(),
        above,
        baseline >> 10,
        peak >> 10
    );
    assert!(
        above < 16 << 10,
        "peak RSS grew by {above} KiB, over 16 MiB"
    );
}
