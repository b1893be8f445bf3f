//! The server a small service needs: plain HTTP on the WebSocket's port
//! (read back by curl and Python's urllib), headers on every response,
//! `respond` to upgrades too, allowed origins, and statuses for `bind`.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::thread;

use support::{read_http_head, WAIT};
use wsock::{MessageWebSocket, Server, ServerBuilder, Status};

/// A server that answers plain HTTP on `/` and `/health`, refuses
/// upgrades to `/private` with 401, and echoes WebSockets elsewhere,
/// setting a cookie on each.
fn serve(builder: ServerBuilder) -> SocketAddr {
    let server = builder.bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    thread::spawn(move || {
        for request in server.incoming() {
            let Ok(mut request) = request else { continue };
            request
                .response_header("X-Served-By", "wsock-test")
                .unwrap();
            if !request.is_upgrade() {
                let body = format!(
                    "{} {} {}",
                    request.method(),
                    request.path(),
                    request.version()
                );
                let _ = match request.path() {
                    "/health" => request.respond(204, &[], ""),
                    _ => request.respond(200, &[("Content-Type", "text/html")], body),
                };
                continue;
            }
            if request.path() == "/private" {
                let _ = request.respond(
                    401,
                    &[("WWW-Authenticate", "Basic realm=\"members\"")],
                    "members only",
                );
                continue;
            }
            request
                .response_header("Set-Cookie", "seen=1; HttpOnly")
                .unwrap();
            let Ok(ws) = request.accept_message() else {
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
    addr
}

fn http_server() -> SocketAddr {
    serve(Server::builder().http_requests(true))
}

/// `curl -si URL` (with extra arguments), or `None` if curl is missing.
fn curl(args: &[&str]) -> Option<String> {
    let out = Command::new("curl")
        .args(["-si", "--max-time", "10"])
        .args(args)
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n"))
}

/// Sends `request` on a fresh connection and reads the whole answer.
fn exchange(addr: SocketAddr, request: &str) -> String {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    tcp.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).replace("\r\n", "\n")
}

fn upgrade_request(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

#[test]
fn plain_http_and_websockets_share_a_port() {
    let addr = http_server();
    let Some(page) = curl(&[&format!("http://{addr}/index")]) else {
        panic!("curl is missing: .ci/run installs it");
    };
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(
        page.contains("content-type: text/html") || page.contains("Content-Type: text/html"),
        "{page}"
    );
    assert!(
        page.to_ascii_lowercase()
            .contains("x-served-by: wsock-test"),
        "{page}"
    );
    assert!(page.ends_with("GET /index HTTP/1.1"), "{page}");
    let health = curl(&[&format!("http://{addr}/health")]).unwrap();
    assert!(health.starts_with("HTTP/1.1 204"), "{health}");
    // HEAD: the headers, no body.
    let head = exchange(addr, "HEAD /index HTTP/1.0\r\nHost: x\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("content-length: 20"),
        "{head}"
    );
    assert!(head.ends_with("\n\n"), "a body after a HEAD: {head}");
    // Python's standard library reads the same page.
    let python = Command::new("python3")
        .args([
            "-c",
            "import sys, urllib.request as u; r = u.urlopen(sys.argv[1], timeout=10); \
             print(r.status, r.headers['X-Served-By'], r.read().decode())",
            &format!("http://{addr}/py"),
        ])
        .output()
        .expect("python3");
    assert_eq!(
        String::from_utf8_lossy(&python.stdout).trim(),
        "200 wsock-test GET /py HTTP/1.1",
        "{}",
        String::from_utf8_lossy(&python.stderr)
    );
    // And a WebSocket on the same port.
    let ws = MessageWebSocket::connect(&format!("ws://{addr}/chat")).unwrap();
    ws.send_text("hello").unwrap();
    assert_eq!(ws.recv_timeout(WAIT).unwrap().as_text(), Some("hello"));
}

#[test]
fn the_101_carries_the_headers_added_before_accepting() {
    let addr = http_server();
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    tcp.write_all(upgrade_request("/chat", "").as_bytes())
        .unwrap();
    let head = read_http_head(&mut tcp).unwrap().to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("set-cookie: seen=1; httponly"), "{head}");
    assert!(head.contains("x-served-by: wsock-test"), "{head}");
}

#[test]
fn respond_answers_an_upgrade_with_any_status_and_headers() {
    let addr = http_server();
    let e = MessageWebSocket::connect(&format!("ws://{addr}/private")).unwrap_err();
    assert_eq!(e.status(), Status::Unauthorized, "{e}");
    assert_eq!(
        e.header("WWW-Authenticate"),
        Some("Basic realm=\"members\"")
    );
    let answer = exchange(addr, &upgrade_request("/private", ""));
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(
        answer.contains("www-authenticate: Basic realm=\"members\""),
        "{answer}"
    );
    assert!(answer.ends_with("members only"), "{answer}");
    if let Some(seen) = curl(&[
        "-H",
        "Upgrade: websocket",
        "-H",
        "Connection: Upgrade",
        "-H",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "-H",
        "Sec-WebSocket-Version: 13",
        &format!("http://{addr}/private"),
    ]) {
        assert!(seen.starts_with("HTTP/1.1 401"), "{seen}");
        assert!(
            seen.to_ascii_lowercase()
                .contains("www-authenticate: basic"),
            "{seen}"
        );
    }
}

#[test]
fn without_http_requests_a_plain_request_gets_400_before_incoming() {
    let addr = serve(Server::builder());
    let answer = exchange(addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
}

#[test]
fn accepting_a_plain_request_answers_426() {
    let server = Server::builder()
        .http_requests(true)
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr().unwrap();
    let asking = thread::spawn(move || exchange(addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    let request = server.accept().unwrap();
    assert!(!request.is_upgrade());
    let e = request.accept_message().expect_err("not an upgrade");
    assert_eq!(e.status(), Status::InvalidRequest, "{e}");
    let answer = asking.join().unwrap();
    assert!(answer.starts_with("HTTP/1.1 426"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("upgrade: websocket"),
        "{answer}"
    );
}

#[test]
fn only_allowed_origins_may_open_a_websocket() {
    let addr =
        serve(Server::builder().allowed_origins(["https://chat.example.org", "*.example.net"]));
    for allowed in ["https://chat.example.org", "https://a.example.net", ""] {
        let origin = if allowed.is_empty() {
            String::new()
        } else {
            format!("Origin: {allowed}\r\n")
        };
        let answer = exchange_head(addr, &upgrade_request("/chat", &origin));
        assert!(answer.starts_with("HTTP/1.1 101"), "{allowed:?}: {answer}");
    }
    for refused in [
        "https://evil.example.com",
        "http://chat.example.org",
        "https://example.net",
        "null",
    ] {
        let answer = exchange(
            addr,
            &upgrade_request("/chat", &format!("Origin: {refused}\r\n")),
        );
        assert!(answer.starts_with("HTTP/1.1 403"), "{refused}: {answer}");
    }
}

/// Sends an upgrade request and reads the response head only.
fn exchange_head(addr: SocketAddr, request: &str) -> String {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    tcp.write_all(request.as_bytes()).unwrap();
    read_http_head(&mut tcp).unwrap()
}

#[test]
fn bind_errors_have_statuses_of_their_own() {
    let taken = Server::bind("127.0.0.1:0").unwrap();
    let e = Server::bind(taken.local_addr().unwrap()).unwrap_err();
    assert_eq!(e.status(), Status::AddressInUse, "{e}");
    // 192.0.2.0/24 is for documentation: no interface has it.
    let e = Server::bind("192.0.2.1:0").unwrap_err();
    assert_eq!(e.status(), Status::AddressNotAvailable, "{e}");
    let root = std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(true);
    if root {
        eprintln!("running as root: a low port is allowed, PermissionDenied not tested");
    } else {
        let e = Server::bind("127.0.0.1:1").unwrap_err();
        assert_eq!(e.status(), Status::PermissionDenied, "{e}");
    }
}

#[test]
fn an_unread_request_body_does_not_cost_the_client_its_answer() {
    let server = Server::builder()
        .http_requests(true)
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr().unwrap();
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let body = vec![b'x'; 256 << 10];
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    tcp.write_all(head.as_bytes()).unwrap();
    tcp.write_all(&body).unwrap();
    // The server answers without reading the body, and its socket is
    // closed when `respond` returns. Only then does the client read: had
    // the close left the body unread, the kernel would have reset the
    // connection, and the client would lose the answer with it.
    let request = server.accept().unwrap();
    request.respond(200, &[], "got it").unwrap();
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer)
        .expect("the answer, then a clean close (not a reset)");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("got it"), "{answer}");
}

#[test]
fn response_headers_must_be_visible_ascii_and_204_has_no_length() {
    let server = Server::builder()
        .http_requests(true)
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr().unwrap();
    let asking = thread::spawn(move || exchange(addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    let mut request = server.accept().unwrap();
    let e = request
        .response_header("Content-Disposition", "attachment; filename=résumé.pdf")
        .expect_err("not ASCII");
    assert_eq!(e.status(), Status::InvalidArgument, "{e}");
    request
        .respond(204, &[("Transfer-Encoding", "chunked")], "")
        .unwrap();
    let answer = asking.join().unwrap().to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 204"), "{answer}");
    assert!(!answer.contains("content-length"), "{answer}");
    assert!(!answer.contains("transfer-encoding"), "{answer}");
}
