//! A chat in the browser, all on one port: a plain HTTP request gets the
//! page (`http_requests(true)` and `Request::respond`), the page's
//! WebSocket upgrade is accepted into a `Hub`, and one thread relays each
//! message to everyone. The page asks for a nickname (or takes `?nick=ann`)
//! and puts it in the socket's path: `ws://HOST/ann`.
//!
//! Run it with `cargo run --example browser_chat` and open the URL it
//! prints in two tabs. `--port P` picks the port (default 9003; 0: any
//! free one); `--exit-after N` ends the chat after N messages.
use wsock::{Hub, HubEvent, Server};

const PAGE: &str = r#"<!doctype html><meta charset="utf-8"><title>wsock chat</title>
<pre id="log"></pre>
<form id="say"><input id="text" autocomplete="off" autofocus> <button>send</button></form>
<script>
  const [log, say, text] = ["log", "say", "text"].map((id) => document.getElementById(id));
  const asked = new URLSearchParams(location.search).get("nick") || prompt("Your nickname?") || "";
  const nick = asked.replace(/[^\w-]/g, "") || "guest"; // letters, digits, _ and - in the path
  const ws = new WebSocket(`ws://${location.host}/${nick}`);
  ws.onmessage = (e) => { log.textContent += e.data + "\n"; };
  ws.onclose = (e) => { log.textContent += `(closed: ${e.code})\n`; };
  say.onsubmit = (e) => { e.preventDefault(); ws.send(text.value); text.value = ""; };
</script>"#;

/// The number after `name` on the command line.
fn flag(name: &str) -> Option<u64> {
    let value = std::env::args().skip_while(|a| a != name).nth(1)?;
    Some(value.parse().expect("a number after the flag"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = u16::try_from(flag("--port").unwrap_or(9003))?;
    let server = Server::builder()
        .http_requests(true) // the page comes from the same port
        .allowed_origins(["127.0.0.1", "localhost"]) // pages of other sites may not connect
        .bind(("127.0.0.1", port))?;
    println!("open http://{}/ in a browser", server.local_addr()?);
    let stop = server.shutdown_handle();

    let hub = Hub::new();
    let accepting = hub.clone();
    std::thread::spawn(move || {
        for request in server.incoming().flatten() {
            let _ = if request.is_upgrade() {
                request.accept_into(&accepting).map(drop)
            } else {
                request.respond(200, &[("Content-Type", "text/html; charset=utf-8")], PAGE)
            };
        }
    });

    let nick = |c: &wsock::Connection| c.path().trim_start_matches('/').to_owned();
    let (mut relayed, exit_after) = (0, flag("--exit-after").unwrap_or(u64::MAX));
    while relayed < exit_after {
        let line = match hub.recv() {
            HubEvent::Opened(who) => format!("{} joined", nick(&who)),
            HubEvent::Message(from, message) => {
                relayed += 1;
                let text = message.as_text().unwrap_or("(binary)");
                format!("{}: {text}", nick(&from))
            }
            HubEvent::Closed(who, _) => format!("{} left", nick(&who)),
            _ => continue,
        };
        hub.broadcast(&line.into());
    }
    // Stops listening, closes each socket with 1001 (after the messages
    // queued on it) and waits for them to end.
    stop.shutdown_gracefully()?;
    println!("relayed {relayed} messages");
    Ok(())
}
