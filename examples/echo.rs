//! The whole round trip on one machine, no network and no setup: starts a
//! wsock `Server` on 127.0.0.1 in a thread, connects a `MessageWebSocket`,
//! sends "Hello, World!", prints the echo and the close code.
//!
//! Run it with `cargo run --example echo`.
use wsock::{MessageWebSocket, Server};

fn main() -> Result<(), wsock::Error> {
    let server = Server::bind("127.0.0.1:0")?;
    let url = format!("ws://{}/echo", server.local_addr()?);
    std::thread::spawn(move || -> Result<(), wsock::Error> {
        let ws = server.accept()?.accept_message()?;
        for message in ws.messages() {
            ws.send(message?)?;
        }
        Ok(())
    });

    let ws = MessageWebSocket::connect(&url)?;
    println!("connected to {url}");
    ws.send_text("Hello, World!")?;
    let reply = ws.recv()?;
    println!("received: {}", reply.as_text().unwrap_or("<binary>"));
    ws.close(1000, "done")?;
    match ws.recv() {
        Err(e) if e.close_frame().is_some() => {
            let frame = e.close_frame().unwrap();
            println!("closed: code {} {:?}", frame.code, frame.reason);
        }
        other => println!("unexpected: {other:?}"),
    }
    Ok(())
}
