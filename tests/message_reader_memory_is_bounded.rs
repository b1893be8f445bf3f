//! A 1 GiB message, sent as 64 KiB frames by `send_writer`, passes through
//! `recv_reader` and a 64 KiB buffer byte for byte, while the process's peak
//! RSS stays under 64 MiB: memory is bounded by a frame and the receive
//! queue limit, not by the message (and `max_message_size` does not apply).
//! Its own test binary, so no other test's memory counts.

mod support;

use std::io::{Read, Write};
use std::thread;

use wsock::{MessageKind, MessageWebSocket, Server};

const FRAME: usize = 64 << 10;
const FRAMES: usize = 16 << 10; // 1 GiB

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Frame `i`'s bytes: its number, then a fixed pseudo-random block, so a
/// lost, doubled or reordered byte shows (copies, not byte loops: tests
/// run unoptimised).
fn fill(frame: &mut [u8], block: &[u8], i: usize) {
    frame.copy_from_slice(block);
    frame[..8].copy_from_slice(&(i as u64).to_le_bytes());
}

fn block() -> Vec<u8> {
    support::noise(FRAME, 0x9E37_79B9_7F4A_7C15)
}

#[test]
fn a_1_gib_message_read_in_parts_with_bounded_memory() {
    let server = Server::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", server.local_addr().unwrap());
    let sender = thread::spawn(move || -> wsock::Result<()> {
        let ws = server.accept()?.accept_message()?;
        // The client turns parts on with its first reader (this message).
        ws.send_text("start")?;
        assert_eq!(ws.recv()?.as_text(), Some("ready"));
        let mut w = ws.send_writer(MessageKind::Binary)?;
        let (block, mut frame) = (block(), vec![0u8; FRAME]);
        for i in 0..FRAMES {
            fill(&mut frame, &block, i);
            w.write_all(&frame)
                .map_err(|e| wsock::Error::InvalidArgument(e.to_string()))?;
        }
        w.finish()?;
        let _ = ws.recv(); // the client's close
        Ok(())
    });
    let ws = MessageWebSocket::builder()
        .max_message_size(1 << 20)
        .connect(&url)
        .unwrap();
    let mut first = String::new();
    ws.recv_reader()
        .unwrap()
        .read_to_string(&mut first)
        .unwrap();
    assert_eq!(first, "start");
    ws.send_text("ready").unwrap();

    let mut reader = ws.recv_reader().unwrap();
    let mut buf = vec![0u8; FRAME];
    let (block, mut expected, mut filled) = (block(), vec![0u8; FRAME], None);
    let mut total = 0usize;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(n) => n,
            Err(e) => panic!("after {total} bytes: {e}; the sender: {:?}", sender.join()),
        };
        if n == 0 {
            break;
        }
        let mut k = 0;
        while k < n {
            let at = total + k;
            let (i, j) = (at / FRAME, at % FRAME);
            if filled != Some(i) {
                fill(&mut expected, &block, i);
                filled = Some(i);
            }
            let m = (FRAME - j).min(n - k);
            assert!(
                buf[k..k + m] == expected[j..j + m],
                "bytes {at}..{}",
                at + m
            );
            k += m;
        }
        total += n;
    }
    assert_eq!(total, FRAME * FRAMES);
    drop(reader);
    ws.close(1000, "done").unwrap();
    sender.join().unwrap().unwrap();
    let peak = peak_rss_kib().expect("VmHWM in /proc/self/status");
    eprintln!("peak RSS {peak} KiB");
    assert!(peak < 64 << 10, "peak RSS {peak} KiB, over 64 MiB");
}
