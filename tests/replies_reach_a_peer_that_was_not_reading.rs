//! Pongs (and close frames) that the reader thread queues while the peer is
//! not reading wait in wsock's buffers, never block the reader, and all go
//! out once the peer reads again, even if nothing else happens on the
//! connection.

mod support;

use std::io::Write;

use support::{masked, read_frame, RawServer, WAIT};
use wsock::Server;

const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;
/// 125-byte pings (the most a ping carries): ~12.5 MB of pongs, more than
/// the socket buffers on both sides hold.
const PINGS: usize = 100_000;

#[test]
fn every_pong_arrives_once_the_peer_reads_again() {
    let (ws, mut tcp) = RawServer::start(Server::builder()).connect();

    // Ping without reading: the pongs fill the peer's receive buffer and
    // wsock's send buffer, and the rest waits in wsock's outbox.
    let ping = masked(true, OP_PING, &[0x5a; 125]);
    let pings: Vec<u8> = ping
        .iter()
        .copied()
        .cycle()
        .take(ping.len() * PINGS)
        .collect();
    tcp.write_all(&pings)
        .expect("wsock's reader takes every ping");
    // The last message tells when the reader has decoded every ping.
    tcp.write_all(&masked(true, support::OP_TEXT, b"done"))
        .unwrap();
    assert_eq!(
        ws.recv_timeout(WAIT).expect("the marker").as_text(),
        Some("done")
    );

    // Now read: every pong must come, though the peer sends nothing more.
    let mut pongs = 0;
    while pongs < PINGS {
        let (opcode, payload) =
            read_frame(&mut tcp).unwrap_or_else(|e| panic!("after {pongs} of {PINGS} pongs: {e}"));
        assert_eq!(opcode, OP_PONG);
        assert_eq!(payload, [0x5a; 125]);
        pongs += 1;
    }
}
