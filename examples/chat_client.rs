//! The client half of `chat_server`: each line you type goes to the room,
//! and everything the room says is printed. The nickname travels as the
//! URL's path, which the server reads from `Connection::path`.
//!
//! Run the server, then two of these in other terminals:
//!
//! ```text
//! cargo run --example chat_server
//! cargo run --example chat_client -- ws://127.0.0.1:9002/ ann
//! cargo run --example chat_client -- ws://127.0.0.1:9002/ bob
//! ```
//!
//! The end of input (Ctrl-D) leaves the room with a clean close.
use std::io::BufRead;

use wsock::MessageWebSocket;

fn main() -> Result<(), wsock::Error> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "ws://127.0.0.1:9002/".into());
    let nick = args.next().unwrap_or_else(|| "guest".into());
    let ws = MessageWebSocket::connect(&format!("{}/{nick}", url.trim_end_matches('/')))?;
    println!("connected as {nick}");

    // Typing and reading at once: a Sender handle on another thread.
    let tx = ws.sender();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if tx.send_text(line).is_err() {
                return; // the connection ended; the main thread says why
            }
        }
        let _ = tx.close(1000, "bye");
    });

    for message in ws.messages() {
        if let Some(text) = message?.as_text() {
            println!("{text}");
        }
    }
    if let Some(closed) = ws.close_frame() {
        println!("left the room ({} {})", closed.code, closed.reason);
    }
    Ok(())
}
