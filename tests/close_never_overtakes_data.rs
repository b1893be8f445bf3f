//! A close frame is the last frame a socket sends: threads that keep sending
//! while another one closes either get their message out before the close
//! frame or get an error, and no data frame ever follows the close frame.

mod support;

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use support::{masked, raw_client, read_frame, serve, OP_BINARY, OP_CLOSE, WAIT};
use wsock::Server;

const ROUNDS: usize = 50;
const SENDERS: usize = 4;

#[test]
fn no_data_frame_follows_the_close_frame() {
    let server = Server::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let requests = serve(server);
    for round in 0..ROUNDS {
        // The server answers the handshake once accepted: connect meanwhile.
        let client = thread::spawn(move || raw_client(addr));
        let ws = support::next_request(&requests)
            .accept_message()
            .expect("accept");
        let mut tcp = client.join().unwrap();
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
