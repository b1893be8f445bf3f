//! A chat server in one accept loop and one thread: every connection is
//! accepted into a `Hub`, and one thread relays each message to everyone
//! with `Hub::broadcast`, which never waits for a slow member: a member
//! whose send queue fills (it stopped reading) is closed with 1008, and the
//! room goes on. The nickname is the path: `ws://127.0.0.1:9002/ann`.
//! Connect with `chat_client` or any WebSocket client, e.g.
//! `python -m websockets ws://127.0.0.1:9002/ann`.
//!
//! Run it with `cargo run --example chat_server [PORT]` (default 9002).
use wsock::{Hub, HubEvent, Server, WhenFull};

fn main() -> Result<(), wsock::Error> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(9002);
    let server = Server::bind(("127.0.0.1", port))?;
    println!("chat on ws://{}/yourname", server.local_addr()?);
    // In a chat every message matters: a member too slow for them leaves.
    let hub = Hub::new().when_full(WhenFull::Close);

    let accepting = hub.clone();
    std::thread::spawn(move || {
        for request in server.incoming() {
            if let Err(e) = request.and_then(|r| r.accept_into(&accepting)) {
                eprintln!("not accepted: {e}");
            }
        }
    });

    let nick = |c: &wsock::Connection| c.path().trim_start_matches('/').to_owned();
    loop {
        match hub.recv() {
            HubEvent::Opened(who) => {
                hub.broadcast(&format!("{} joined", nick(&who)).into());
            }
            HubEvent::Message(from, message) => {
                if let Some(text) = message.as_text() {
                    hub.broadcast(&format!("{}: {text}", nick(&from)).into());
                }
            }
            HubEvent::Closed(who, why) => {
                println!("{} left: {why}", nick(&who));
                hub.broadcast(&format!("{} left", nick(&who)).into());
            }
            _ => {}
        }
    }
}
