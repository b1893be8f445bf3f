//! A peer that pings without reading gets its answer once it reads again,
//! even if nothing else happens on the connection, and cannot make wsock's
//! memory grow: a pong still waiting to be sent is replaced by the answer
//! to a later ping (RFC 6455, 5.5.3), so the peer gets pongs in order and
//! always the one for its latest ping.

mod support;

use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use support::{masked, read_frame, RawServer, WAIT};
use wsock::Server;

const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;
/// 125-byte pings (the most a ping carries): 26 MB of them, far more than
/// the socket buffers on both sides hold.
const PINGS: u64 = 200_000;
const PINGS_PER_WRITE: u64 = 1_000;

fn payload(i: u64) -> Vec<u8> {
    let mut p = i.to_be_bytes().to_vec();
    p.resize(125, 0x5a);
    p
}

/// This process's resident memory, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Pings without reading, then reads: returns the pongs answering pings,
/// checking that they come in order and end with the latest ping's, and how
/// much resident memory grew while the peer was not reading.
fn flood_then_read(server: wsock::ServerBuilder, before_reading: Duration) -> (u64, u64) {
    let (ws, mut tcp) = RawServer::start(server).connect();
    let before = rss_kib();

    // Ping without reading. The pongs fill the peer's receive buffer and
    // wsock's send buffer; what wsock cannot send waits in its outbox.
    for first in (0..PINGS).step_by(PINGS_PER_WRITE as usize) {
        let pings: Vec<u8> = (first..first + PINGS_PER_WRITE)
            .flat_map(|i| masked(true, OP_PING, &payload(i)))
            .collect();
        tcp.write_all(&pings)
            .expect("wsock's reader takes every ping");
    }
    // The last message tells when the reader has decoded every ping.
    tcp.write_all(&masked(true, support::OP_TEXT, b"done"))
        .unwrap();
    assert_eq!(
        ws.recv_timeout(WAIT).expect("the marker").as_text(),
        Some("done")
    );
    let grown = rss_kib().saturating_sub(before);
    // Time for wsock's own timers (unsolicited pongs) to act meanwhile.
    thread::sleep(before_reading);

    // Now read: pongs come in order, up to the one for the latest ping,
    // though the peer sends nothing more.
    let mut answers = 0;
    let mut last = None;
    let deadline = Instant::now() + WAIT;
    while last != Some(PINGS - 1) {
        assert!(
            Instant::now() < deadline,
            "no answer to the latest ping within {WAIT:?}; the last to ping {last:?}"
        );
        let (opcode, pong) = read_frame(&mut tcp)
            .unwrap_or_else(|e| panic!("after {answers} answers, the last to ping {last:?}: {e}"));
        assert_eq!(opcode, OP_PONG);
        if pong.is_empty() {
            continue; // an unsolicited pong
        }
        let i = u64::from_be_bytes(pong[..8].try_into().unwrap());
        assert_eq!(pong, payload(i));
        assert!(last.is_none_or(|l| i > l), "pong {i} after pong {last:?}");
        last = Some(i);
        answers += 1;
    }
    (answers, grown)
}

#[test]
fn the_latest_ping_is_answered_once_the_peer_reads_again() {
    let (answers, grown) = flood_then_read(Server::builder(), Duration::ZERO);
    assert!(
        grown < 16 << 10,
        "resident memory grew by {grown} KiB while the peer pinged without reading"
    );
    eprintln!("{answers} pongs answered {PINGS} pings; memory grew by {grown} KiB");
}

#[test]
fn unsolicited_pongs_never_take_the_place_of_an_answer() {
    let server = Server::builder()
        .ping_interval(None)
        .unsolicited_pong_interval(Some(Duration::from_millis(100)));
    // Several unsolicited pongs fall due while the peer is not reading.
    let (answers, _) = flood_then_read(server, Duration::from_millis(350));
    eprintln!("{answers} pongs answered {PINGS} pings");
}
