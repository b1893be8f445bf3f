//! An echo server for the Autobahn TestSuite in the server role: every text
//! and binary message comes back unchanged, one thread per connection.
//!
//! Run it with `cargo run --release --example autobahn_server -- 9001`, then
//! `kosoku -m fuzzingclient ws://127.0.0.1:9001`
//! (`.ci/autobahn.sh` does both). Port 0 picks a free port; the first stdout
//! line always says `listening on PORT`. It accepts permessage-deflate and
//! compresses every message it sends (no threshold).
use std::io::Write;
use std::thread;

use wsock::{Deflate, Server};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = match std::env::args().nth(1) {
        Some(arg) => arg.parse()?,
        None => 9001,
    };
    let server = Server::builder()
        .compression(Deflate::default().threshold(0))
        .bind(("127.0.0.1", port))?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on {}", server.local_addr()?.port())?;
    stdout.flush()?;

    for request in server.incoming() {
        let request = match request {
            Ok(request) => request,
            Err(e) => {
                eprintln!("handshake: {e}");
                continue;
            }
        };
        thread::spawn(move || {
            let ws = match request.accept_message() {
                Ok(ws) => ws,
                Err(e) => return eprintln!("accept: {e}"),
            };
            while let Ok(message) = ws.recv() {
                if ws.send(message).is_err() {
                    break;
                }
            }
        });
    }
    Ok(())
}
