//! A zip bomb: a small compressed message (permessage-deflate) that
//! inflates to far more than `max_message_size`. The server refuses it with
//! 1009 once the inflated bytes pass the limit, without inflating the rest,
//! so its memory stays bounded. Alone in its binary: it reads the
//! process's peak RSS.

mod support;

use std::io::Write;
use std::thread;

use flate2::{Compress, Compression, FlushCompress};
use support::{masked, raw_client_with, read_close, WAIT};
use wsock::{Server, Status};

/// Inflated size of the bomb, and the server's limit.
const BOMB: usize = 1 << 30;
const LIMIT: usize = 16 << 20;

/// The process's peak resident set (VmHWM), in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// 1 GiB of zeros, compressed 1 MiB at a time (the input never all in
/// memory), sync-flushed, the trailer off: about 1 MiB.
fn bomb() -> Vec<u8> {
    let mut c = Compress::new(Compression::new(9), false);
    let zeros = vec![0u8; 1 << 20];
    let mut out = Vec::with_capacity(2 << 20);
    for _ in 0..BOMB / zeros.len() {
        let before = c.total_in();
        c.compress_vec(&zeros, &mut out, FlushCompress::None)
            .unwrap();
        assert_eq!(c.total_in() - before, zeros.len() as u64);
    }
    c.compress_vec(&[], &mut out, FlushCompress::Sync).unwrap();
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

#[test]
#[cfg(target_os = "linux")]
fn a_zip_bomb_gets_1009_before_it_is_inflated() {
    let packed = bomb();
    assert!(packed.len() < 2 << 20, "{} bytes", packed.len());
    let server = Server::builder()
        .max_message_size(LIMIT)
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr().unwrap();
    let accepted = thread::spawn(move || server.accept().unwrap().accept_message().unwrap());
    let (mut tcp, head) = raw_client_with(addr, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
    assert!(head.contains("permessage-deflate"), "{head}");
    let ws = accepted.join().unwrap();

    let before = peak_rss_kib();
    let mut frame = masked(true, 0x2, &packed);
    frame[0] |= 0x40; // RSV1: compressed
                      // The server may close before it has read all of it.
    let _ = tcp.write_all(&frame);
    let error = ws
        .recv_timeout(WAIT)
        .expect_err("the bomb arrived as a message");
    assert_eq!(error.status(), Status::MessageTooBig, "{error}");
    assert!(
        error.to_string().contains("inflates past the limit"),
        "{error}"
    );
    assert_eq!(read_close(&mut tcp).0, 1009);
    let grew_mib = (peak_rss_kib().saturating_sub(before)) / 1024;
    eprintln!(
        "peak RSS grew by {grew_mib} MiB inflating a bomb of {} KiB",
        packed.len() >> 10
    );
    // The limit (16 MiB, the message assembled so far) and buffers; 1 GiB
    // if it were inflated whole.
    assert!(grew_mib < 64, "peak RSS grew by {grew_mib} MiB");
}
