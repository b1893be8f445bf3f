//! A real browser (Chromium, driven by playwright-core) fetches a page from
//! the server's own port over plain HTTP, and the page's script opens a
//! WebSocket to the same port and gets its echo; a server that does not
//! allow the page's origin refuses the same socket with 403. Chromium
//! always offers permessage-deflate: a second page sends 1 MB of JSON-like
//! text, 1,000 small messages and 4 MiB of binary, compressed both ways,
//! and checks every echo.
//!
//! And the `browser_chat` example works in a browser: two pages chat
//! through it.
//!
//! Needs Node with `playwright-core` in `WSOCK_NODE_DIR/node_modules` and a
//! Chromium (`WSOCK_CHROMIUM`, default `/usr/bin/chromium`), so these tests
//! are ignored by default; `.ci/browser.sh` runs them with `--ignored`.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

mod support;

use support::{example, Running};
use wsock::{Server, ServerBuilder};

const PAGE: &str = r#"<!doctype html>
<title>wsock echo</title>
<script>
  const ws = new WebSocket(`ws://${location.host}/echo`);
  ws.onopen = () => ws.send("hello from the browser");
  ws.onmessage = (e) => { window.wsockResult = "echo: " + e.data; ws.close(1000, "done"); };
  ws.onclose = (e) => { if (!window.wsockResult) window.wsockResult = "closed: " + e.code; };
</script>
"#;

const PAGE_MANY: &str = r#"<!doctype html>
<title>wsock compressed echo</title>
<script>
  const ws = new WebSocket(`ws://${location.host}/echo`);
  ws.binaryType = "arraybuffer";
  const texts = [Array.from({ length: 30000 }, (_, i) => `{"id": ${i}, "price": ${i % 97}.5}`).join("\n")];
  for (let i = 0; i < 1000; i++) texts.push(`message ${i}`);
  const bin = new Uint8Array(4 << 20).map((_, i) => (i * 7) % 251);
  let got = 0, bad = null;
  ws.onopen = () => { for (const t of texts) ws.send(t); ws.send(bin); };
  ws.onmessage = (e) => {
    if (got < texts.length) {
      if (e.data !== texts[got]) bad = bad || `text ${got} differs`;
    } else {
      const a = new Uint8Array(e.data);
      if (a.length !== bin.length || a.some((v, i) => v !== bin[i])) bad = bad || "the binary differs";
    }
    got++;
    if (got === texts.length + 1) { window.wsockResult = bad || `echoed ${got}`; ws.close(1000, "done"); }
  };
  ws.onclose = (e) => { if (!window.wsockResult) window.wsockResult = "closed: " + e.code; };
</script>
"#;

/// Serves `PAGE` on `/` and echoes WebSockets; returns its URL and a
/// channel that gets the path of every upgrade that reached `incoming()`,
/// and what compression its socket agreed (if it was accepted).
fn serve(builder: ServerBuilder) -> (String, mpsc::Receiver<(String, Option<String>)>) {
    let server = builder.http_requests(true).bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", server.local_addr().unwrap());
    let (upgrades, seen) = mpsc::channel();
    thread::spawn(move || {
        for request in server.incoming() {
            let Ok(request) = request else { continue };
            if !request.is_upgrade() {
                let page = [("Content-Type", "text/html; charset=utf-8")];
                let _ = match request.path() {
                    "/" => request.respond(200, &page, PAGE),
                    "/many" => request.respond(200, &page, PAGE_MANY),
                    _ => request.respond(404, &[], "not here"),
                };
                continue;
            }
            let path = request.path().to_owned();
            let Ok(ws) = request.accept_message() else {
                let _ = upgrades.send((path, None));
                continue;
            };
            let _ = upgrades.send((path, ws.info().compression));
            thread::spawn(move || {
                for m in ws.messages() {
                    let Ok(m) = m else { break };
                    let _ = ws.send(m);
                }
            });
        }
    });
    (url, seen)
}

/// Everything a child writes to `out`, once it closes it, on a channel.
fn read_all(out: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut text = String::new();
        let _ = BufReader::new(out).read_to_string(&mut text);
        let _ = tx.send(text);
    });
    rx
}

/// Runs a script of `.ci/interop/node` with these arguments and returns
/// what it printed; it must exit 0 within 90 s (its own waits are shorter).
fn node(script: &str, args: &[&str]) -> String {
    let node_dir =
        PathBuf::from(std::env::var("WSOCK_NODE_DIR").expect(
            "WSOCK_NODE_DIR: a folder with node_modules/playwright-core (see .ci/browser.sh)",
        ));
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(".ci/interop/node")
        .join(script);
    let mut child = Command::new("node")
        .arg(&script)
        .args(args)
        .env("NODE_PATH", node_dir.join("node_modules"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map(Running)
        .expect("node");
    let (out, err) = (
        read_all(child.0.stdout.take().unwrap()),
        read_all(child.0.stderr.take().unwrap()),
    );
    let limit = Duration::from_secs(90);
    let out = out
        .recv_timeout(limit)
        .expect("node did not finish in time");
    let err = err
        .recv_timeout(limit)
        .expect("node did not finish in time");
    // Both pipes are closed: node is exiting.
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{} failed: {err}", script.display());
    out.trim().to_owned()
}

/// What the page reported, as `browser.js` printed it.
fn open_in_browser(url: &str) -> String {
    node("browser.js", &[url, "20000"])
}

#[test]
#[ignore = "needs Chromium and playwright-core: .ci/browser.sh"]
fn a_browser_page_from_the_same_port_gets_its_echo() {
    // The page's origin is http://127.0.0.1:PORT: allowed.
    let (url, upgrades) = serve(Server::builder().allowed_origins(["127.0.0.1"]));
    assert_eq!(open_in_browser(&url), "echo: hello from the browser");
    assert_eq!(
        upgrades.recv_timeout(Duration::from_secs(5)).unwrap().0,
        "/echo"
    );
}

#[test]
#[ignore = "needs Chromium and playwright-core: .ci/browser.sh"]
fn a_browser_and_our_server_compress_both_ways() {
    let (url, upgrades) = serve(Server::builder().allowed_origins(["127.0.0.1"]));
    assert_eq!(open_in_browser(&format!("{url}many")), "echoed 1002");
    let (path, compression) = upgrades.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(path, "/echo");
    assert_eq!(compression.as_deref(), Some("permessage-deflate"));
}

#[test]
#[ignore = "needs Chromium and playwright-core: .ci/browser.sh"]
fn a_page_of_an_origin_not_allowed_is_refused() {
    let (url, upgrades) = serve(Server::builder().allowed_origins(["https://chat.example.org"]));
    // The browser sees the refusal as a failed connection (1006).
    assert_eq!(open_in_browser(&url), "closed: 1006");
    assert!(
        upgrades.try_recv().is_err(),
        "the refused upgrade reached incoming()"
    );
}

#[test]
#[ignore = "needs Chromium and playwright-core: .ci/browser.sh"]
fn two_browser_pages_chat_through_the_browser_chat_example() {
    let mut chat = Running::spawn(
        example("browser_chat")
            .args(["--port", "0", "--exit-after", "2"])
            .stdout(Stdio::piped()),
    );
    let (tx, lines) = mpsc::channel();
    let out = chat.0.stdout.take().unwrap();
    thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let wait = Duration::from_secs(20);
    let first = lines
        .recv_timeout(wait)
        .expect("browser_chat printed no URL");
    let url = first
        .strip_prefix("open ")
        .and_then(|rest| rest.strip_suffix(" in a browser"))
        .unwrap_or_else(|| panic!("not the URL line: {first:?}"));

    // Both pages see both joins, each other's line and their own, and the
    // server's close once it has relayed 2 messages.
    assert_eq!(
        node("browser_chat.js", &[url, "20000"]),
        concat!(
            r#"{"ann":["ann joined","bob joined","ann: hello from ann","bob: hello from bob","(closed: 1001)"],"#,
            r#""bob":["bob joined","ann: hello from ann","bob: hello from bob","(closed: 1001)"]}"#
        )
    );
    assert_eq!(
        lines.recv_timeout(wait).as_deref(),
        Ok("relayed 2 messages")
    );
    // Its stdout closes: it exits by itself, and with success.
    assert_eq!(
        lines.recv_timeout(wait),
        Err(RecvTimeoutError::Disconnected)
    );
    assert!(chat.0.wait().unwrap().success());
}
