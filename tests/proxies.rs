//! The client through real proxies: `pproxy` (PyPI) serving HTTP CONNECT
//! and SOCKS5 on 127.0.0.1, and HTTP CONNECT over TLS (`https://`
//! proxies, with a certificate of a throwaway CA), with and without
//! credentials, and refusing.
//!
//! Needs a Python with `pproxy` in `WSOCK_PYTHON`, so these tests are
//! ignored by default; `.ci/interop.sh` runs them with `--ignored`.

mod support;

#[cfg(feature = "tls")]
#[path = "support/tls.rs"]
mod certs;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use wsock::{MessageWebSocket, Server, Status};

const WAIT: Duration = Duration::from_secs(10);

/// A `pproxy` serving HTTP and SOCKS5 on one port (`#user:password` if
/// `auth`), or HTTP over TLS, killed on drop.
struct Pproxy {
    child: Child,
    port: u16,
    /// The TLS proxy's certificate and key files, removed on drop.
    files: Option<PathBuf>,
}

impl Pproxy {
    fn start(auth: Option<&str>) -> Pproxy {
        Pproxy::start_as("http+socks5", auth, None)
    }

    /// An HTTP CONNECT proxy speaking TLS, with `identity` (PEM
    /// certificate, PEM key).
    fn start_tls(auth: Option<&str>, identity: (&str, &str)) -> Pproxy {
        Pproxy::start_as("http+ssl", auth, Some(identity))
    }

    fn start_as(protocols: &str, auth: Option<&str>, identity: Option<(&str, &str)>) -> Pproxy {
        let python = std::env::var("WSOCK_PYTHON")
            .expect("WSOCK_PYTHON: a python with pproxy (see .ci/interop.sh)");
        // A free port: bound, read, released (pproxy binds it next).
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut listen = format!("{protocols}://127.0.0.1:{port}");
        if let Some(a) = auth {
            listen.push('#');
            listen.push_str(a);
        }
        // `--auth 0`: ask for the credentials on every connection (pproxy
        // otherwise remembers an address that once logged in).
        let mut args = vec!["-m", "pproxy", "-l", &listen, "--auth", "0", "-v"];
        let files = identity.map(|(cert, key)| {
            let dir =
                std::env::temp_dir().join(format!("wsock-proxies-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("cert.pem"), cert).unwrap();
            std::fs::write(dir.join("key.pem"), key).unwrap();
            dir
        });
        let ssl = files.as_ref().map(|dir| {
            format!(
                "{},{}",
                dir.join("cert.pem").display(),
                dir.join("key.pem").display()
            )
        });
        if let Some(ssl) = &ssl {
            args.extend(["--ssl", ssl]);
        }
        let mut child = Command::new(python)
            .args(&args)
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
        Pproxy { child, port, files }
    }
}

impl Drop for Pproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.files {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// An echo server; its URL.
fn echo_server() -> String {
    serve_echo(Server::builder(), "ws")
}

/// An echo server built by `builder`; its URL with `scheme`.
fn serve_echo(builder: wsock::ServerBuilder, scheme: &str) -> String {
    let server = builder.bind("127.0.0.1:0").unwrap();
    let url = format!(
        "{scheme}://localhost:{}/echo",
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

/// The threads of the relays behind `https://` proxies now running.
fn relay_threads() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("wsock-relay"))
        .count()
}

/// Descriptors of this process open on TCP sockets with `port` at either
/// end (the listing of /proc/net/tcp{,6} matched to /proc/self/fd).
fn sockets_on(ports: &[u16]) -> usize {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let port = |col: &str| {
                let hex = col.rsplit(':').next().unwrap_or("");
                u16::from_str_radix(hex, 16).ok()
            };
            let ends = [port(cols[1]), port(cols[2])];
            if ends.iter().any(|p| p.is_some_and(|p| ports.contains(&p))) {
                inodes.push(format!("socket:[{}]", cols[9]));
            }
        }
    }
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
        return 0;
    };
    fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter(|link| inodes.iter().any(|i| link.to_str() == Some(i)))
        .count()
}

/// Waits (bounded) until `f()` is 0; its last value.
fn settles(f: impl Fn() -> usize) -> usize {
    let deadline = Instant::now() + WAIT;
    loop {
        let n = f();
        if n == 0 || Instant::now() > deadline {
            return n;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// `ws://` and `wss://` (TLS inside the proxy's TLS) through an
/// `https://` proxy, with and without credentials: a message each way,
/// the close handshake, and then no relay thread and no socket left.
#[cfg(feature = "tls")]
#[test]
#[ignore = "needs pproxy: .ci/interop.sh"]
fn https_proxies_carry_ws_and_wss_and_leave_nothing_behind() {
    let pki = certs::pki();
    let identity = (pki.server.cert_pem.as_str(), pki.server.key_pem.as_str());
    let open = Pproxy::start_tls(None, identity);
    let guarded = Pproxy::start_tls(Some("alice:pr0xy-pw"), identity);
    let ws_url = echo_server();
    let wss_url = serve_echo(
        Server::builder().tls_pem(identity.0.as_bytes(), identity.1.as_bytes()),
        "wss",
    );
    let cases = [
        (format!("https://localhost:{}", open.port), &ws_url),
        (format!("https://127.0.0.1:{}", open.port), &wss_url),
        (
            format!("https://alice:pr0xy-pw@localhost:{}", guarded.port),
            &ws_url,
        ),
        (
            format!("https://alice:pr0xy-pw@127.0.0.1:{}", guarded.port),
            &wss_url,
        ),
    ];
    for (via, url) in &cases {
        let proxy_port = via.rsplit(':').next().unwrap().parse::<u16>().unwrap();
        let ws = MessageWebSocket::builder()
            .connect_timeout(WAIT)
            .root_certificate_pem(pki.ca_pem.as_bytes())
            .proxy(via.as_str())
            .connect(url)
            .unwrap_or_else(|e| panic!("{via} to {url}: {e}"));
        let info = ws.info();
        let shown = info.proxy.clone().expect("info says which proxy");
        assert!(shown.starts_with("https://"), "{shown}");
        assert!(!shown.contains("pr0xy-pw"), "{shown}");
        // The target's TLS, not the proxy's.
        let tls = info.tls.as_ref().map(|t| t.server_name.clone());
        let expected = url
            .starts_with("wss:")
            .then(|| Some("localhost".to_owned()));
        assert_eq!(tls, expected, "{via} to {url}");
        assert_eq!(relay_threads(), 2, "two relay threads while open");
        assert_eq!(sockets_on(&[proxy_port]), 1, "one connection to the proxy");
        let relay_end = info.peer_addr.port();
        let engine_end = info.local_addr.port();
        ws.send_text("through TLS").unwrap();
        assert_eq!(
            ws.recv_timeout(WAIT).unwrap().as_text(),
            Some("through TLS"),
            "{via} to {url}"
        );
        // Ok only once the peer's close frame came back through the relay.
        ws.close(1000, "done")
            .unwrap_or_else(|e| panic!("{via} to {url}: {e}"));
        drop(ws);
        assert_eq!(
            settles(relay_threads),
            0,
            "relay threads left: {via} to {url}"
        );
        let left = settles(|| sockets_on(&[proxy_port, relay_end, engine_end]));
        assert_eq!(left, 0, "sockets left: {via} to {url}");
    }
}

/// An `https://` proxy's refusals: no or wrong credentials (its 407), a
/// certificate nobody trusts (a TLS error naming the proxy); no relay is
/// left running after any of them.
#[cfg(feature = "tls")]
#[test]
#[ignore = "needs pproxy: .ci/interop.sh"]
fn https_proxy_refusals_are_the_proxys_and_leave_no_relay() {
    let pki = certs::pki();
    let identity = (pki.server.cert_pem.as_str(), pki.server.key_pem.as_str());
    let guarded = Pproxy::start_tls(Some("alice:pr0xy-pw"), identity);
    let url = echo_server();
    let port = guarded.port;
    let connect = |via: &str, trust: bool| {
        let mut builder = MessageWebSocket::builder().connect_timeout(WAIT).proxy(via);
        if trust {
            builder = builder.root_certificate_pem(pki.ca_pem.as_bytes());
        }
        builder.connect(&url).map(drop)
    };
    for wrong in ["", "alice:wrong@"] {
        let e = connect(&format!("https://{wrong}127.0.0.1:{port}"), true).expect_err("refused");
        assert_eq!(
            e.status(),
            Status::ProxyAuthenticationRequired,
            "{wrong:?}: {e}"
        );
    }
    let e = connect(&format!("https://alice:pr0xy-pw@127.0.0.1:{port}"), false)
        .expect_err("the proxy's certificate is not trusted");
    assert_eq!(e.status(), Status::CertificateUnknownIssuer, "{e}");
    assert!(
        e.to_string().contains(&port.to_string()),
        "names the proxy: {e}"
    );
    assert!(!e.to_string().contains("pr0xy-pw"), "{e}");
    assert_eq!(settles(relay_threads), 0, "no relay thread left");
    assert_eq!(settles(|| sockets_on(&[port])), 0, "no socket left");
}
