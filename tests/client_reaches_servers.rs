//! The client against servers as they are: credentials (and never a secret
//! in an error, a log line or `Debug`), refusals with their status, headers
//! and body (HTTP/1.0 answers too, from Python's `http.server`), redirects,
//! and the 101's headers after connect.

mod support;

#[cfg(feature = "tls")]
#[path = "support/tls.rs"]
mod certs;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::thread;

use support::WAIT;
use wsock::{MessageWebSocket, Server, ServerBuilder, Status};

const PASSWORD: &str = "s3cr3t-pw";

/// Every log line wsock writes, at every level.
fn log_lines() -> &'static Mutex<Vec<String>> {
    static LINES: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    struct Capture;
    impl log::Log for Capture {
        fn enabled(&self, _: &log::Metadata) -> bool {
            true
        }
        fn log(&self, record: &log::Record) {
            if let Some(lines) = LINES.get() {
                let line = format!("{} {}: {}", record.level(), record.target(), record.args());
                lines.lock().unwrap().push(line);
            }
        }
        fn flush(&self) {}
    }
    let lines = LINES.get_or_init(|| Mutex::new(Vec::new()));
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        static CAPTURE: Capture = Capture;
        log::set_logger(&CAPTURE).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
    });
    lines
}

/// A server that lets in `Authorization: <allowed>` only (401 otherwise,
/// with the header it got echoed in the body), redirects `/old` to
/// `/new` (or to `redirect_to`), and echoes.
fn serve(builder: ServerBuilder, allowed: &'static str, redirect_to: Option<String>) -> String {
    let server = builder.http_requests(true).bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    thread::spawn(move || {
        for request in server.incoming() {
            let Ok(mut request) = request else { continue };
            if request.path() == "/old" {
                let to = redirect_to.clone().unwrap_or_else(|| "/new".into());
                let _ = request.respond(302, &[("Location", &to)], "");
                continue;
            }
            if request.path() == "/loop" {
                let _ = request.respond(307, &[("Location", "/loop")], "");
                continue;
            }
            if request.path() == "/members" {
                let _ = request.reject(403, "members only");
                continue;
            }
            let got = request.header("authorization").unwrap_or("").to_owned();
            if !allowed.is_empty() && got != allowed {
                let _ = request.respond(
                    401,
                    &[("WWW-Authenticate", "Basic realm=\"test\"")],
                    "who are you?",
                );
                continue;
            }
            request.response_header("Set-Cookie", "seen=1").unwrap();
            let path = request.path().to_owned();
            let Ok(ws) = request.accept_message() else {
                continue;
            };
            thread::spawn(move || {
                let _ = ws.send_text(format!("path {path}, auth {got:?}"));
                for m in ws.messages() {
                    let Ok(m) = m else { break };
                    let _ = ws.send(m);
                }
            });
        }
    });
    format!("127.0.0.1:{}", addr.port())
}

/// Basic credentials as a header value.
fn basic(user: &str, password: &str) -> String {
    let pair = format!("{user}:{password}");
    let out = Command::new("python3")
        .args([
            "-c",
            "import base64,sys; print(base64.b64encode(sys.argv[1].encode()).decode())",
            &pair,
        ])
        .output()
        .expect("python3");
    format!("Basic {}", String::from_utf8_lossy(&out.stdout).trim())
}

#[test]
fn no_secret_appears_in_an_error_a_log_line_or_debug() {
    let lines = log_lines();
    let addr = serve(Server::builder(), "Basic nobody-gets-in", None);
    let encoded = basic("alice", PASSWORD);
    let b64 = encoded.trim_start_matches("Basic ");
    let e = MessageWebSocket::connect(&format!("ws://alice:{PASSWORD}@{addr}/")).unwrap_err();
    assert_eq!(e.status(), Status::Unauthorized, "{e}");
    assert_eq!(e.header("www-authenticate"), Some("Basic realm=\"test\""));
    let shown = format!("{e} {e:?}");
    assert!(
        shown.contains("alice:***@"),
        "the URL is shown, its password hidden: {shown}"
    );
    // ... but neither the password nor its encoding shows anywhere.
    let builder = MessageWebSocket::builder()
        .basic_auth("bob", PASSWORD)
        .header("Authorization", format!("Bearer {PASSWORD}"))
        .header("Proxy-Authorization", encoded.clone())
        .proxy(None);
    let proxied = format!(
        "{:?}",
        MessageWebSocket::builder().proxy(&*format!("http://me:{PASSWORD}@127.0.0.1:1"))
    );
    // A password with a '/' ends the URL parser's authority early.
    let slashed =
        MessageWebSocket::connect(&format!("ws://alice:{PASSWORD}/x@{addr}/")).unwrap_err();
    let debug = format!("{builder:?}");
    let e2 = builder.connect(&format!("ws://{addr}/")).unwrap_err();
    let broken =
        MessageWebSocket::connect(&format!("ws://alice:{PASSWORD}@{addr}:99999/")).unwrap_err();
    let everything = [
        shown,
        debug,
        format!("{e2} {e2:?}"),
        format!("{broken} {broken:?}"),
        proxied,
        format!("{slashed} {slashed:?}"),
        lines.lock().unwrap().join("\n"),
    ];
    for text in &everything {
        assert!(!text.contains(PASSWORD), "the password leaked: {text}");
        assert!(
            !text.contains(b64),
            "the encoded credentials leaked: {text}"
        );
    }
}

#[test]
fn url_credentials_and_basic_auth_log_in() {
    let allowed: &'static str = Box::leak(basic("al ice", "p@ss:w/rd").into_boxed_str());
    let addr = serve(Server::builder(), allowed, None);
    // Percent-encoded in the URL, decoded in the header.
    let ws =
        MessageWebSocket::connect(&format!("ws://al%20ice:p%40ss%3Aw%2Frd@{addr}/in")).unwrap();
    assert!(ws
        .recv_timeout(WAIT)
        .unwrap()
        .as_text()
        .unwrap()
        .starts_with("path /in"));
    let ws = MessageWebSocket::builder()
        .basic_auth("al ice", "p@ss:w/rd")
        .connect(&format!("ws://{addr}/in"))
        .unwrap();
    assert!(ws.recv_timeout(WAIT).is_ok());
    // The 101's headers are there after connect.
    let cookie = ws
        .info()
        .response_headers
        .into_iter()
        .find(|(n, _)| n == "set-cookie");
    assert_eq!(cookie, Some(("set-cookie".into(), "seen=1".into())));
}

#[test]
fn bearer_auth_sends_its_token() {
    let addr = serve(Server::builder(), "Bearer t0ken", None);
    let ws = MessageWebSocket::builder()
        .bearer_auth("t0ken")
        .connect(&format!("ws://{addr}/"))
        .unwrap();
    assert!(ws
        .recv_timeout(WAIT)
        .unwrap()
        .as_text()
        .unwrap()
        .contains("Bearer t0ken"));
}

#[test]
fn a_refusal_brings_its_status_and_body() {
    let addr = serve(Server::builder(), "", None);
    let e = MessageWebSocket::connect(&format!("ws://{addr}/members")).unwrap_err();
    assert_eq!(e.status(), Status::UnexpectedStatusCode(403), "{e}");
    match &e {
        wsock::Error::UnexpectedStatus { body, .. } => {
            assert_eq!(body.as_deref(), Some("members only"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("members only"), "{e}");
}

#[test]
fn an_http_1_0_refusal_from_python_is_its_status() {
    let mut python = Command::new("python3")
        .args(["-u", "-m", "http.server", "0", "--bind", "127.0.0.1"])
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(python.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    // "Serving HTTP on 127.0.0.1 port 41234 (http://127.0.0.1:41234/) ..."
    let port = line
        .split_whitespace()
        .skip_while(|w| *w != "port")
        .nth(1)
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    let e = MessageWebSocket::builder()
        .connect_timeout(WAIT)
        .connect(&format!("ws://127.0.0.1:{port}/no-such-file"))
        .unwrap_err();
    let _ = python.kill();
    let _ = python.wait();
    assert_eq!(e.status(), Status::UnexpectedStatusCode(404), "{e}");
    assert!(e.to_string().contains("404"), "{e}");
}

#[test]
fn redirects_are_followed_within_the_limit() {
    let addr = serve(Server::builder(), "", None);
    let ws = MessageWebSocket::connect(&format!("ws://{addr}/old")).unwrap();
    assert!(ws
        .recv_timeout(WAIT)
        .unwrap()
        .as_text()
        .unwrap()
        .starts_with("path /new"));
    let e = MessageWebSocket::connect(&format!("ws://{addr}/loop")).unwrap_err();
    assert_eq!(e.status(), Status::TooManyRedirects, "{e}");
    let e = MessageWebSocket::builder()
        .max_redirects(1)
        .connect(&format!("ws://{addr}/loop"))
        .unwrap_err();
    assert_eq!(e.status(), Status::TooManyRedirects, "{e}");
}

/// With `max_redirects(0)` a redirect is not followed: it is the answer,
/// its code the status and its `Location` on the error.
#[test]
fn max_redirects_0_reports_the_redirect_itself() {
    let addr = serve(Server::builder(), "", None);
    let e = MessageWebSocket::builder()
        .max_redirects(0)
        .connect(&format!("ws://{addr}/old"))
        .unwrap_err();
    assert_eq!(e.status(), Status::UnexpectedStatusCode(302), "{e}");
    assert_eq!(e.header("location"), Some("/new"), "{e}");
    assert!(e.to_string().contains("302"), "{e}");
}

#[test]
fn credentials_do_not_follow_a_redirect_to_another_host() {
    // "localhost" and "127.0.0.1" are the same machine but not the same host.
    let target = serve(Server::builder(), "", None);
    let port = target.rsplit(':').next().unwrap();
    let elsewhere = format!("ws://localhost:{port}/new");
    let addr = serve(Server::builder(), "", Some(elsewhere));
    let ws = MessageWebSocket::builder()
        .basic_auth("alice", PASSWORD)
        .connect(&format!("ws://{addr}/old"))
        .unwrap();
    assert_eq!(
        ws.recv_timeout(WAIT).unwrap().as_text(),
        Some("path /new, auth \"\""),
        "the credentials went to another host"
    );
    // Nor does an Authorization header (a bearer token).
    let ws = MessageWebSocket::builder()
        .bearer_auth("t0ken")
        .connect(&format!("ws://{addr}/old"))
        .unwrap();
    assert_eq!(
        ws.recv_timeout(WAIT).unwrap().as_text(),
        Some("path /new, auth \"\""),
        "the token went to another host"
    );
    // To the same host they go along.
    let same = serve(Server::builder(), "", None);
    let ws = MessageWebSocket::builder()
        .basic_auth("alice", PASSWORD)
        .connect(&format!("ws://{same}/old"))
        .unwrap();
    let greeting = ws.recv_timeout(WAIT).unwrap();
    assert!(
        greeting.as_text().unwrap().contains("Basic "),
        "{greeting:?}"
    );
}

#[cfg(feature = "tls")]
#[test]
fn a_redirect_from_wss_to_ws_is_refused() {
    let pki = certs::pki();
    let plain = serve(Server::builder(), "", None);
    let secure = serve(
        Server::builder().tls_pem(
            pki.server.cert_pem.as_bytes(),
            pki.server.key_pem.as_bytes(),
        ),
        "",
        Some(format!("ws://{plain}/new")),
    );
    let port = secure.rsplit(':').next().unwrap();
    let e = MessageWebSocket::builder()
        .root_certificate_pem(pki.ca_pem.as_bytes())
        .connect(&format!("wss://localhost:{port}/old"))
        .unwrap_err();
    assert_eq!(e.status(), Status::HttpsToHttpOnRedirection, "{e}");
}

#[test]
fn reconnect_survives_a_server_restart_and_stops_at_a_refusal() {
    use std::io::Write as _;
    use std::net::TcpListener;
    let echo = |server: Server| {
        thread::spawn(move || {
            for request in server.incoming() {
                let Ok(ws) = request.and_then(|r| r.accept_message()) else {
                    continue;
                };
                let _ = ws.send_text("hello");
                let _ = ws.recv();
            }
        })
    };
    let server = Server::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let stop = server.shutdown_handle();
    echo(server);
    let mut sockets = MessageWebSocket::builder()
        .reconnect(&format!("ws://{addr}/feed"))
        .initial_delay(std::time::Duration::from_millis(20))
        .max_delay(std::time::Duration::from_millis(100));
    let first = sockets.next().unwrap().unwrap();
    assert_eq!(first.recv_timeout(WAIT).unwrap().as_text(), Some("hello"));
    // The server goes away; in its place something that hangs up on
    // every connection (a server restarting), so the next try fails.
    stop.shutdown_gracefully().unwrap();
    assert!(
        first.recv_timeout(WAIT).is_err(),
        "the first connection ended"
    );
    let restarting = TcpListener::bind(addr).unwrap();
    let reconnecting = thread::spawn(move || {
        let next = sockets.next().unwrap();
        (next, sockets)
    });
    let (mut hung_up, _) = restarting.accept().unwrap();
    let _ = hung_up.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
    drop((hung_up, restarting));
    // Back up on the same port.
    let server = Server::bind(addr).unwrap();
    echo(server);
    let (next, sockets) = reconnecting.join().unwrap();
    let second = next.expect("reconnected after the restart");
    assert_eq!(second.recv_timeout(WAIT).unwrap().as_text(), Some("hello"));
    assert!(sockets.last_error().is_none());

    // A refusal another try would not mend ends it.
    let refusing = serve(Server::builder(), "", None);
    let mut sockets = MessageWebSocket::builder()
        .reconnect(&format!("ws://{refusing}/members"))
        .initial_delay(std::time::Duration::from_millis(20));
    let e = sockets.next().unwrap().unwrap_err();
    assert_eq!(e.status(), Status::UnexpectedStatusCode(403), "{e}");
    assert!(sockets.next().is_none(), "it ended");
}
