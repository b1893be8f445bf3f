//! The client through real proxies: `pproxy` (PyPI) serving HTTP CONNECT
//! and SOCKS5 on 127.0.0.1, with and without credentials, and refusing.
//!
//! Needs a Python with `pproxy` in `WSOCK_PYTHON`, so these tests are
//! ignored by default; `.ci/interop.sh` runs them with `--ignored`.

mod support;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use wsock::{MessageWebSocket, Server, Status};

const WAIT: Duration = Duration::from_secs(10);

/// A `pproxy` serving HTTP and SOCKS5 on one port (`#user:password` if
/// `auth`), killed on drop.
struct Pproxy {
    child: Child,
    port: u16,
}

impl Pproxy {
    fn start(auth: Option<&str>) -> Pproxy {
        let python = std::env::var("WSOCK_PYTHON")
            .expect("WSOCK_PYTHON: a python with pproxy (see .ci/interop.sh)");
        // A free port: bound, read, released (pproxy binds it next).
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut listen = format!("http+socks5://127.0.0.1:{port}");
        if let Some(a) = auth {
            listen.push('#');
            listen.push_str(a);
        }
        // `--auth 0`: ask for the credentials on every connection (pproxy
        // otherwise remembers an address that once logged in).
        let mut child = Command::new(python)
            .args(["-m", "pproxy", "-l", &listen, "--auth", "0", "-v"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pproxy");
        // It prints "Serving on ... by http,socks5" once it listens.
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let deadline = Instant::now() + WAIT;
        loop {
            assert!(Instant::now() < deadline, "pproxy did not start");
            match lines.next() {
                Some(Ok(l)) if l.contains("Serving on") => break,
                Some(Ok(_)) => {}
                _ => panic!("pproxy ended before it listened"),
            }
        }
        thread::spawn(move || for _ in lines {}); // keep its pipe drained
        Pproxy { child, port }
    }
}

impl Drop for Pproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An echo server; its URL.
fn echo_server() -> String {
    let server = Server::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "ws://127.0.0.1:{}/echo",
        server.local_addr().unwrap().port()
    );
    thread::spawn(move || {
        for request in server.incoming() {
            let Ok(ws) = request.and_then(|r| r.accept_message()) else {
                continue;
            };
            thread::spawn(move || {
                for m in ws.messages() {
                    let Ok(m) = m else { break };
                    let _ = ws.send(m);
                }
            });
        }
    });
    url
}

fn echo_through(proxy: &str, url: &str) -> wsock::Result<MessageWebSocket> {
    let ws = MessageWebSocket::builder()
        .connect_timeout(WAIT)
        .proxy(proxy)
        .connect(url)?;
    ws.send_text("through the proxy")?;
    assert_eq!(ws.recv_timeout(WAIT)?.as_text(), Some("through the proxy"));
    Ok(ws)
}

#[test]
#[ignore = "needs pproxy: .ci/interop.sh"]
fn http_connect_and_socks5_without_credentials() {
    let proxy = Pproxy::start(None);
    let url = echo_server();
    for scheme in ["http", "socks5", "socks5h"] {
        let via = format!("{scheme}://127.0.0.1:{}", proxy.port);
        let ws = echo_through(&via, &url).unwrap_or_else(|e| panic!("{scheme}: {e}"));
        let shown = ws.info().proxy.expect("info says which proxy");
        assert!(shown.starts_with(&via), "{scheme}: {shown}");
    }
}

#[test]
#[ignore = "needs pproxy: .ci/interop.sh"]
fn credentials_let_in_and_their_absence_is_the_proxys_refusal() {
    let proxy = Pproxy::start(Some("alice:pr0xy-pw"));
    let url = echo_server();
    let port = proxy.port;
    for scheme in ["http", "socks5h"] {
        let ws = echo_through(&format!("{scheme}://alice:pr0xy-pw@127.0.0.1:{port}"), &url)
            .unwrap_or_else(|e| panic!("{scheme} with credentials: {e}"));
        let shown = ws.info().proxy.unwrap();
        assert!(!shown.contains("pr0xy-pw"), "{shown}");
        for wrong in [String::new(), "alice:wrong@".into()] {
            let e = echo_through(&format!("{scheme}://{wrong}127.0.0.1:{port}"), &url)
                .expect_err("refused");
            assert_eq!(
                e.status(),
                Status::ProxyAuthenticationRequired,
                "{scheme} {wrong:?}: {e}"
            );
        }
    }
}

#[test]
#[ignore = "needs pproxy: .ci/interop.sh"]
fn a_target_the_proxy_cannot_reach_is_the_proxys_failure() {
    let proxy = Pproxy::start(None);
    // A port nobody listens on.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = echo_through(
        &format!("http://127.0.0.1:{}", proxy.port),
        &format!("ws://127.0.0.1:{closed}/"),
    )
    .expect_err("nothing listens there");
    assert_eq!(e.status(), Status::CannotConnectToProxy, "{e}");
    // pproxy's SOCKS5 answers "succeeded" before it connects, then hangs
    // up: the failure can only show during the upgrade.
    let e = echo_through(
        &format!("socks5://127.0.0.1:{}", proxy.port),
        &format!("ws://127.0.0.1:{closed}/"),
    )
    .expect_err("nothing listens there");
    assert_eq!(e.status(), Status::ConnectionReset, "{e}");
    // And a proxy nobody runs.
    let e = echo_through(&format!("http://127.0.0.1:{closed}"), "ws://127.0.0.1:1/")
        .expect_err("no proxy there");
    assert_eq!(e.status(), Status::CannotConnectToProxy, "{e}");
}

/// Python websockets' own server with `basic_auth`: the URL's credentials
/// let in, wrong ones are its 401 with `WWW-Authenticate`.
#[test]
#[ignore = "needs Python websockets: .ci/interop.sh"]
fn python_websockets_basic_auth_lets_url_credentials_in() {
    let python = std::env::var("WSOCK_PYTHON").expect("WSOCK_PYTHON");
    let script = r#"
import sys
from websockets.sync.server import serve, basic_auth
def echo(ws):
    for m in ws:
        ws.send(f"{ws.username}: {m}")
with serve(echo, "127.0.0.1", 0,
           process_request=basic_auth(realm="wsock test", credentials=("alice", "py-s3cret"))) as server:
    print(server.socket.getsockname()[1], flush=True)
    server.serve_forever()
"#;
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no port: {line:?}"));
    let outcome = std::panic::catch_unwind(|| {
        let ws = MessageWebSocket::connect(&format!("ws://alice:py-s3cret@127.0.0.1:{port}/"))
            .expect("the right credentials");
        ws.send_text("hello").unwrap();
        assert_eq!(
            ws.recv_timeout(WAIT).unwrap().as_text(),
            Some("alice: hello")
        );
        let e = MessageWebSocket::connect(&format!("ws://alice:wrong@127.0.0.1:{port}/"))
            .expect_err("wrong credentials");
        assert_eq!(e.status(), Status::Unauthorized, "{e}");
        let challenge = e.header("WWW-Authenticate").unwrap_or_default().to_owned();
        assert!(challenge.contains("wsock test"), "{challenge:?}");
        assert!(!e.to_string().contains("wrong"), "{e}");
    });
    let _ = child.kill();
    let _ = child.wait();
    outcome.unwrap();
}
