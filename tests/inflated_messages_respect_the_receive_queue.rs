//! Compressed messages received are held within the receive queue limit
//! (invariant 6) however far they inflate: a 64 KiB read of small
//! compressed messages (1 MiB of zeros each, about 1 KiB on the wire) would
//! be 64 MiB if it were inflated whole at once. Alone in its binary: it
//! reads the process's peak RSS.

mod support;

use std::io::Write;
use std::thread;

use flate2::{Compress, Compression, FlushCompress};
use support::{masked, raw_client_with};
use wsock::Server;

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
#[cfg(target_os = "linux")]
fn a_read_of_compressed_messages_is_bounded_by_the_receive_queue_limit() {
    let server = Server::builder()
        .receive_queue_limit(1 << 20)
        .max_message_size(2 << 20)
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr().unwrap();
    let accepted = thread::spawn(move || server.accept().unwrap().accept_message().unwrap());
    let (mut tcp, _) = raw_client_with(addr, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
    let ws = accepted.join().unwrap();

    let zeros = vec![0u8; 1 << 20];
    let mut c = Compress::new(Compression::new(9), false);
    let mut wire = Vec::new();
    for _ in 0..300 {
        let mut out = Vec::with_capacity(8 << 10);
        c.compress_vec(&zeros, &mut out, FlushCompress::Sync)
            .unwrap();
        assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
        out.truncate(out.len() - 4);
        let mut f = masked(true, 0x2, &out);
        f[0] |= 0x40;
        wire.extend_from_slice(&f);
    }
    eprintln!("{} compressed bytes for 300 MiB", wire.len());
    let before = peak_rss_kib();
    tcp.write_all(&wire).unwrap();
    // The program receives (and drops) every message as it comes.
    for i in 0..300 {
        let m = ws
            .recv_timeout(support::WAIT)
            .unwrap_or_else(|e| panic!("{i}: {e}"));
        assert_eq!(m.len(), 1 << 20);
    }
    let grew = peak_rss_kib().saturating_sub(before);
    eprintln!("peak RSS grew by {} MiB", grew >> 10);
    assert!(
        grew < 16 << 10,
        "peak RSS grew by {} MiB (receive_queue_limit 1 MiB)",
        grew >> 10
    );
    drop(ws);
}
