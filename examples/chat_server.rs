//! A chat server in one accept loop and one thread: every connection is
//! accepted into a `Hub`, and one thread relays each message to everyone.
//! Connect with any WebSocket client, e.g. `python -m websockets ws://127.0.0.1:9002/`.
//!
//! Run it with `cargo run --example chat_server [PORT]` (default 9002).
use wsock::{Hub, HubEvent, Server};

fn main() -> Result<(), wsock::Error> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(9002);
    let server = Server::bind(("127.0.0.1", port))?;
    println!("chat on ws://{}/", server.local_addr()?);
    let hub = Hub::new();

    let accepting = hub.clone();
    std::thread::spawn(move || {
        for request in server.incoming() {
            match request.and_then(|r| r.accept_into(&accepting)) {
                Ok(connection) => println!("{} joined", connection.info().peer_addr),
                Err(e) => eprintln!("not accepted: {e}"),
            }
        }
    });

    loop {
        match hub.recv() {
            HubEvent::Message(from, message) => {
                for connection in hub.connections() {
                    if connection != from {
                        // A slow member fails its own send (send timeout), not the room.
                        let _ = connection.send(message.clone());
                    }
                }
            }
            HubEvent::Closed(who, why) => println!("{} left: {why}", who.info().peer_addr),
        }
    }
}
