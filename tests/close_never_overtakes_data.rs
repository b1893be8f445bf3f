//! A close frame is the last frame a socket sends, and it is sent: threads
//! that keep sending (small messages, large ones, pings) while another one
//! closes either get their message out before the close frame or get an
//! error, no data frame ever follows the close frame, and the close frame
//! reaches the peer.

mod support;

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use support::{masked, read_frame, RawServer, OP_BINARY, OP_CLOSE, WAIT};
use wsock::Server;

const ROUNDS: usize = 50;
const SENDERS: usize = 4;

#[test]
fn no_data_frame_follows_the_close_frame() {
    let server = RawServer::start(Server::builder());
    for round in 0..ROUNDS {
        let (ws, mut tcp) = server.connect();
        // Senders run until their first error (the close makes them fail).
        let sent_ok = Arc::new(AtomicU64::new(0));
        let senders: Vec<_> = (0..SENDERS)
            .map(|i| {
                let tx = ws.sender();
                let sent_ok = Arc::clone(&sent_ok);
                thread::spawn(move || {
                    let payload = [i as u8; 100];
                    let deadline = Instant::now() + WAIT;
                    while Instant::now() < deadline && tx.send_binary(payload).is_ok() {
                        sent_ok.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        // Close once the senders are going, from another thread: close()
        // waits for our reply, which we send after reading the close frame.
        let data_before_close = {
            let mut data = 0u64;
            loop {
                let (opcode, _) = read_frame(&mut tcp).expect("a frame before the close");
                if opcode != OP_BINARY {
                    panic!("round {round}: unexpected opcode {opcode} before any close");
                }
                data += 1;
                if data == 50 {
                    break;
                }
            }
            data
        };
        let closer = {
            let tx = ws.sender();
            thread::spawn(move || tx.close(1000, "bye"))
        };
        let mut data = data_before_close;
        let (opcode, payload) = loop {
            let (opcode, payload) = read_frame(&mut tcp).expect("reading up to the close frame");
            if opcode == OP_BINARY {
                data += 1;
                continue;
            }
            break (opcode, payload);
        };
        assert_eq!(opcode, OP_CLOSE, "round {round}");
        assert_eq!(&payload[..2], &1000u16.to_be_bytes());
        // Our close reply; then nothing but the end of the stream may come.
        tcp.write_all(&masked(true, OP_CLOSE, &1000u16.to_be_bytes()))
            .unwrap();
        match read_frame(&mut tcp) {
            Err(_) => {} // EOF or reset: the server closed TCP
            Ok((opcode, _)) => panic!("round {round}: frame with opcode {opcode} after the close"),
        }
        closer.join().unwrap().expect("close completes");
        for s in senders {
            s.join().unwrap();
        }
        // Every send that returned Ok was a frame the peer read before the close.
        assert_eq!(
            sent_ok.load(Ordering::Relaxed),
            data,
            "round {round}: sends that succeeded vs data frames read"
        );
    }
}

/// Starts `senders` on a fresh connection, lets 20 frames through, then
/// closes from another thread: the close frame must reach the peer (within
/// the close timeout) whatever the senders were doing. Returns how many
/// rounds lost it.
fn close_frame_lost_while(rounds: usize, senders: fn(wsock::Sender, usize)) -> usize {
    let server = RawServer::start(Server::builder().close_timeout(Duration::from_secs(2)));
    let mut lost = 0;
    for round in 0..rounds {
        let (ws, mut tcp) = server.connect();
        tcp.set_read_timeout(Some(Duration::from_secs(4))).unwrap();
        let running: Vec<_> = (0..2)
            .map(|i| {
                let tx = ws.sender();
                thread::spawn(move || senders(tx, i))
            })
            .collect();
        for _ in 0..20 {
            read_frame(&mut tcp).expect("a frame before the close");
        }
        let closer = {
            let tx = ws.sender();
            thread::spawn(move || tx.close(1000, "bye"))
        };
        let got_close = loop {
            match read_frame(&mut tcp) {
                Ok((OP_CLOSE, _)) => break true,
                Ok(_) => continue,
                Err(_) => break false,
            }
        };
        if got_close {
            let _ = tcp.write_all(&masked(true, OP_CLOSE, &1000u16.to_be_bytes()));
        }
        let closed = closer.join().unwrap();
        for s in running {
            s.join().unwrap();
        }
        if !got_close || closed.is_err() {
            eprintln!("round {round}: close frame seen: {got_close}; close(): {closed:?}");
            lost += 1;
        }
    }
    lost
}

#[test]
fn the_close_frame_goes_out_while_a_large_message_is_sent() {
    // One thread sends 300 KiB messages (sent in pieces, holding the wire),
    // the other small ones.
    let lost = close_frame_lost_while(20, |tx, i| {
        let payload = vec![i as u8; if i == 0 { 300 << 10 } else { 10 }];
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline && tx.send_binary(&payload).is_ok() {}
    });
    assert_eq!(lost, 0, "{lost} of 20 rounds lost the close frame");
}

#[test]
fn the_close_frame_goes_out_while_pings_are_sent() {
    let lost = close_frame_lost_while(20, |tx, i| {
        let deadline = Instant::now() + WAIT;
        if i == 0 {
            while Instant::now() < deadline && tx.ping(b"p").is_ok() {}
        } else {
            while Instant::now() < deadline && tx.send_binary([2u8; 10]).is_ok() {}
        }
    });
    assert_eq!(lost, 0, "{lost} of 20 rounds lost the close frame");
}
