//! A price ticker: a server pushes a price every 100 ms to every
//! subscriber with `Hub::broadcast`, which never waits for anyone. Three
//! subscribers run in this program too; one of them reads slowly, and with
//! a tiny send queue (`outbound_queue_limit`) it misses prices instead of
//! holding up the others (`WhenFull::Skip`, the default).
//!
//! Run it with `cargo run --example ticker` (`-- --ticks N` to stop after
//! N prices; default 30).
use std::time::Duration;

use wsock::{Hub, HubEvent, MessageWebSocket, Server};

fn main() -> Result<(), wsock::Error> {
    let ticks: usize = std::env::args()
        .skip_while(|a| a != "--ticks")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(30);
    let server = Server::builder()
        .outbound_queue_limit(4 << 10)
        .bind("127.0.0.1:0")?;
    let url = format!("ws://{}/prices", server.local_addr()?);
    let hub = Hub::new();
    let accepting = hub.clone();
    std::thread::spawn(move || {
        for request in server.incoming() {
            let _ = request.and_then(|r| r.accept_into(&accepting));
        }
    });

    let subscribers: Vec<_> = [("fast", 0), ("also fast", 0), ("slow", 200)]
        .into_iter()
        .map(|(name, pause_ms)| {
            let ws = MessageWebSocket::builder()
                .receive_queue_limit(4 << 10)
                .connect(&url)?;
            Ok(std::thread::spawn(move || {
                let mut seen = 0;
                for message in ws.messages() {
                    let Ok(message) = message else { break };
                    seen += 1;
                    if seen % 10 == 0 || pause_ms > 0 {
                        let price = message.as_text().unwrap_or("?").split(" |").next();
                        println!("{name:>9} got {}", price.unwrap_or("?"));
                    }
                    std::thread::sleep(Duration::from_millis(pause_ms));
                }
                (name, seen)
            }))
        })
        .collect::<Result<_, wsock::Error>>()?;
    for _ in 0..subscribers.len() {
        while !matches!(hub.recv(), HubEvent::Opened(_)) {}
    }

    for tick in 1..=ticks {
        let price = format!(
            "tick {tick}: EURUSD {:.4}",
            1.08 + (tick as f64 * 0.7).sin() / 100.0
        );
        // Padding makes each price big enough to fill the slow one's queue.
        let sent = hub.broadcast(&format!("{price} |{}", ".".repeat(1 << 20)).into());
        println!("tick {tick}: queued for {sent} of {}", hub.len());
        std::thread::sleep(Duration::from_millis(100));
    }
    for connection in hub.connections() {
        let _ = connection.close(1000, "market closed");
    }
    for s in subscribers {
        let (name, seen) = s.join().expect("a subscriber panicked");
        println!("{name} saw {seen} of {ticks} prices");
    }
    Ok(())
}
