//! Every way connecting can fail gives its own `Status`, in bounded time.

mod support;

#[cfg(feature = "native-roots")]
#[path = "support/tls.rs"]
mod certs;

use std::io::Write;
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use support::{connect_in_thread, next_request, read_http_head, serve, WAIT};
use wsock::{Message, MessageWebSocket, Server, Status};

/// Connects to `url` (in a thread, so a hang fails the test instead of
/// blocking it) and returns the error.
fn connect_error(url: &str, connect_timeout: Duration) -> wsock::Error {
    let builder = MessageWebSocket::builder().connect_timeout(connect_timeout);
    connect_in_thread(builder, url.to_owned())
        .recv_timeout(connect_timeout + WAIT)
        .expect("connect did not return")
        .expect_err("connect succeeded")
}

#[test]
fn a_refused_connection_is_cannot_connect() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("ws://127.0.0.1:{port}/");
    let e = connect_error(&url, WAIT);
    assert_eq!(e.status(), Status::CannotConnect, "{e}");
    assert!(
        e.to_string().contains(&port.to_string()),
        "the error does not name the address: {e}"
    );
}

#[test]
fn an_unresolvable_host_is_host_name_not_resolved() {
    let e = connect_error("ws://nonexistent.invalid/", WAIT);
    assert_eq!(e.status(), Status::HostNameNotResolved, "{e}");
    assert!(
        e.to_string().contains("nonexistent.invalid"),
        "the error does not name the host: {e}"
    );
}

#[test]
fn a_silent_listener_times_out_within_the_budget() {
    // The kernel completes the TCP handshake from the backlog; nobody ever
    // accepts, so the upgrade request is never answered.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let budget = Duration::from_secs(1);
    let started = Instant::now();
    let e = connect_error(&url, budget);
    let took = started.elapsed();
    drop(listener);
    assert_eq!(e.status(), Status::Timeout, "{e}");
    assert!(
        took >= budget,
        "gave up after {took:?}, before the budget of {budget:?}"
    );
    assert!(
        took < Duration::from_secs(3),
        "took {took:?} for a budget of {budget:?}"
    );
}

#[test]
fn an_http_404_is_unexpected_status_code() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/missing", listener.local_addr().unwrap());
    let http = thread::spawn(move || {
        let (mut tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        read_http_head(&mut tcp).expect("reading the request");
        let body = "no such page";
        let response = format!(
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        tcp.write_all(response.as_bytes()).unwrap();
    });
    let e = connect_error(&url, WAIT);
    http.join().unwrap();
    assert_eq!(e.status(), Status::UnexpectedStatusCode(404), "{e}");
    assert!(
        e.to_string().contains("404"),
        "the error does not mention 404: {e}"
    );
}

#[test]
fn a_rejected_request_is_unexpected_status_code() {
    let server = Server::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/private", server.local_addr().unwrap());
    let requests = serve(server);
    let client = connect_in_thread(MessageWebSocket::builder().connect_timeout(WAIT), url);
    next_request(&requests)
        .reject(403, "go away")
        .expect("reject");
    let e = client
        .recv_timeout(WAIT)
        .expect("connect did not return")
        .expect_err("connect succeeded after a reject");
    assert_eq!(e.status(), Status::UnexpectedStatusCode(403), "{e}");
    assert!(
        e.to_string().contains("403"),
        "the error does not mention 403: {e}"
    );
}

/// A refusal with no `Content-Length` (not chunked) whose server keeps
/// the connection open: its body is what came before a short pause, not
/// what came within the whole connect budget.
#[test]
fn a_refusal_of_unsaid_length_on_an_open_connection_does_not_take_the_budget() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let (done_tx, done) = mpsc::channel::<()>();
    let http = thread::spawn(move || {
        let (mut tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        read_http_head(&mut tcp).expect("reading the request");
        tcp.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nno entry")
            .unwrap();
        // Open until the client has its error.
        let _ = done.recv_timeout(WAIT);
    });
    let budget = Duration::from_secs(8);
    let started = Instant::now();
    let e = connect_error(&url, budget);
    let took = started.elapsed();
    done_tx.send(()).unwrap();
    http.join().unwrap();
    assert_eq!(e.status(), Status::UnexpectedStatusCode(403), "{e}");
    assert!(e.to_string().contains("no entry"), "the body: {e}");
    assert!(took < budget / 2, "waited {took:?} of a {budget:?} budget");
}

/// The headers wsock writes itself cannot be added: `connect` says which
/// and why, before any connection.
#[test]
fn handshake_headers_are_refused_at_build_time() {
    for name in [
        "Host",
        "upgrade",
        "Connection",
        "Sec-WebSocket-Key",
        "sec-websocket-version",
        "Sec-WebSocket-Accept",
        "Sec-WebSocket-Extensions",
        "Sec-WebSocket-Protocol",
    ] {
        // Nothing listens on port 1: a refusal there would mean it tried.
        let e = MessageWebSocket::builder()
            .header(name, "x")
            .connect("ws://127.0.0.1:1/")
            .expect_err(name);
        assert_eq!(e.status(), Status::InvalidArgument, "{name}: {e}");
        assert!(e.to_string().contains(name), "{name}: {e}");
    }
    let e = MessageWebSocket::builder()
        .header("Sec-WebSocket-Protocol", "chat")
        .connect("ws://127.0.0.1:1/")
        .unwrap_err();
    assert!(e.to_string().contains("protocols()"), "{e}");
    // Others still go.
    let server = Server::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", server.local_addr().unwrap());
    let requests = serve(server);
    let client = connect_in_thread(
        MessageWebSocket::builder().header("X-Upgrade-Note", "fine"),
        url,
    );
    let request = next_request(&requests);
    assert_eq!(request.header("x-upgrade-note"), Some("fine"));
    let _ws = request.accept_message().unwrap();
    client.recv_timeout(WAIT).unwrap().unwrap();
}

#[test]
fn an_http_url_is_invalid() {
    let e = MessageWebSocket::connect("http://127.0.0.1:1/").unwrap_err();
    assert_eq!(e.status(), Status::InvalidUrl, "{e}");
}

#[test]
fn an_ipv6_literal_url_connects() {
    let server = match Server::bind("[::1]:0") {
        Ok(server) => server,
        Err(e) => {
            println!("skipped: IPv6 loopback is not available here ({e})");
            return;
        }
    };
    let addr = server.local_addr().unwrap();
    let url = format!("ws://[::1]:{}/v6", addr.port());
    let requests = serve(server);
    let (echoed_tx, echoed) = mpsc::channel();
    thread::spawn(move || {
        let ws = next_request(&requests).accept_message().expect("accept");
        let _ = echoed_tx.send(ws.recv_timeout(WAIT).and_then(|m| ws.send(m)));
    });

    let ws = MessageWebSocket::builder()
        .connect_timeout(WAIT)
        .connect(&url)
        .expect("connect");
    assert_eq!(ws.info().peer_addr, addr);
    ws.send_text("over IPv6").unwrap();
    assert_eq!(
        ws.recv_timeout(WAIT).unwrap(),
        Message::Text("over IPv6".into())
    );
    echoed.recv_timeout(WAIT).unwrap().unwrap();
}

#[cfg(feature = "native-roots")]
#[test]
fn native_roots_do_not_trust_a_private_ca_and_added_roots_still_do() {
    let pki = certs::pki();
    let server = Server::bind_tls(
        "127.0.0.1:0",
        pki.server.cert_pem.as_bytes(),
        pki.server.key_pem.as_bytes(),
    )
    .expect("bind_tls");
    let url = format!("wss://localhost:{}/", server.local_addr().unwrap().port());
    let requests = serve(server);
    let builder = MessageWebSocket::builder()
        .connect_timeout(WAIT)
        .native_roots(true);

    // The throwaway test CA is in no platform's store.
    let e = connect_in_thread(builder.clone(), url.clone())
        .recv_timeout(WAIT + WAIT)
        .expect("connect did not return")
        .expect_err("trusted a CA that no store holds");
    assert_eq!(e.status(), Status::CertificateUnknownIssuer, "{e}");
    assert!(
        e.to_string().contains("localhost"),
        "the host is not named: {e}"
    );

    // Beside the platform's roots, an added root is trusted as before.
    let client = connect_in_thread(builder.root_certificate_pem(pki.ca_pem.as_bytes()), url);
    let request = loop {
        match requests
            .recv_timeout(WAIT)
            .expect("no upgrade request came")
        {
            Ok(request) => break request,
            Err(_refused_handshake) => continue,
        }
    };
    let server_ws = request.accept_message().expect("accept");
    let ws = client
        .recv_timeout(WAIT + WAIT)
        .expect("connect did not return")
        .expect("connect with the test CA added");
    ws.send_text("trusted").unwrap();
    assert_eq!(
        server_ws.recv_timeout(WAIT).unwrap(),
        Message::Text("trusted".into())
    );
}
