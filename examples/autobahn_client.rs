//! A client for the Autobahn TestSuite in the client role: asks the fuzzing
//! server how many cases it has, runs each one by echoing every message until
//! the connection ends, then asks it to write its reports.
//!
//! Run `kosoku -m fuzzingserver 127.0.0.1:9001`, then
//! `cargo run --release --example autobahn_client -- 9001`
//! (`.ci/autobahn.sh` does both). Every message is compressed
//! (permessage-deflate with no threshold); a second argument
//! `--no-context-takeover` adds `client_no_context_takeover` to the offer,
//! which the 13.* cases' servers want to see before they ask for it.
use wsock::{Builder, Deflate, Message, MessageWebSocket};

const AGENT: &str = "wsock";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = match std::env::args().nth(1) {
        Some(arg) => arg.parse()?,
        None => 9001,
    };
    let base = format!("ws://127.0.0.1:{port}");
    let no_context = std::env::args().nth(2).as_deref() == Some("--no-context-takeover");
    let deflate = Deflate::default()
        .threshold(0)
        .client_no_context_takeover(no_context);
    let builder = || -> Builder<MessageWebSocket> {
        MessageWebSocket::builder().compression(deflate.clone())
    };

    let ws = MessageWebSocket::connect(&format!("{base}/getCaseCount"))?;
    let count: u32 = match ws.recv()? {
        Message::Text(text) => text.trim().parse()?,
        other => return Err(format!("case count: expected text, got {other:?}").into()),
    };
    drop(ws);
    eprintln!("{count} cases");

    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={AGENT}");
        let ws = match builder().connect(&url) {
            Ok(ws) => ws,
            Err(e) => {
                eprintln!("case {case}: {e}");
                continue;
            }
        };
        while let Ok(message) = ws.recv() {
            if ws.send(message).is_err() {
                break;
            }
        }
    }

    let ws = MessageWebSocket::connect(&format!("{base}/updateReports?agent={AGENT}"))?;
    // The server closes once the reports are written.
    let _ = ws.recv();
    Ok(())
}
