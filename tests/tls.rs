//! `wss://` carries everything `ws://` does, full duplex and byte-exact, and
//! every TLS failure (an untrusted, expired or misnamed certificate, a missing
//! client certificate, a peer that drops the connection) is a prompt error,
//! never a hang, each certificate failure with its own status.
#![cfg(feature = "tls")]

#[path = "support/tls.rs"]
mod certs;
mod support;

use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use certs::{client_config_trusting_ca, pki, Identity};
use socket2::SockRef;
use support::{connect_in_thread, serve, WAIT};
use wsock::rustls;
use wsock::{
    Builder, CloseFrame, Message, MessageWebSocket, Request, Server, Status, StreamWebSocket,
    TlsInfo,
};

/// The bound on moving tens of MiB through TLS in a debug build.
const BIG: Duration = Duration::from_secs(120);
/// How long a failure that needs no timeout may take to be reported.
const NOTICED_WITHIN: Duration = Duration::from_secs(3);

fn close_frame(code: u16, reason: &str) -> CloseFrame {
    CloseFrame {
        code,
        reason: reason.to_owned(),
    }
}

fn data(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_add(seed).wrapping_mul(2654435761) >> 13) as u8)
        .collect()
}

/// A TLS server on 127.0.0.1 presenting `identity`, and its port.
fn tls_server(identity: &Identity) -> (Server, u16) {
    let server = Server::bind_tls(
        "127.0.0.1:0",
        identity.cert_pem.as_bytes(),
        identity.key_pem.as_bytes(),
    )
    .expect("bind_tls");
    let port = server.local_addr().unwrap().port();
    (server, port)
}

/// A client that trusts the test CA (beside the default roots).
fn trusting_client() -> Builder<MessageWebSocket> {
    MessageWebSocket::builder()
        .connect_timeout(WAIT)
        .root_certificate_pem(pki().ca_pem.as_bytes())
}

/// The next upgrade request that got through the TLS handshake, within
/// [`WAIT`]; failed handshakes on the way are skipped.
fn next_accepted(requests: &Receiver<wsock::Result<Request>>) -> Request {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match requests.recv_timeout(left) {
            Ok(Ok(request)) => return request,
            Ok(Err(_failed_handshake)) => continue,
            Err(_) => panic!("no upgrade request reached the server within {WAIT:?}"),
        }
    }
}

/// Connects `client` to `url` while the server accepts: (client, server side).
fn pair_over(
    requests: &Receiver<wsock::Result<Request>>,
    client: Builder<MessageWebSocket>,
    url: String,
) -> (MessageWebSocket, MessageWebSocket) {
    let client = connect_in_thread(client, url);
    let server_ws = next_accepted(requests)
        .accept_message()
        .expect("accept_message");
    let client = client
        .recv_timeout(WAIT)
        .expect("the client did not connect in time")
        .expect("connect");
    (client, server_ws)
}

/// A connected pair over TLS: the client trusts the test CA and connects
/// to `wss://{host}:port/`.
fn tls_pair(host: &str) -> (MessageWebSocket, MessageWebSocket) {
    let (server, port) = tls_server(&pki().server);
    let requests = serve(server);
    pair_over(
        &requests,
        trusting_client(),
        format!("wss://{host}:{port}/"),
    )
}

/// Echoes every message on `ws` until the connection ends; the returned
/// channel gets the error that ended it.
fn echo(ws: MessageWebSocket) -> Receiver<wsock::Error> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let end = loop {
            match ws.recv_timeout(BIG) {
                Ok(message) => {
                    if let Err(e) = ws.send(message) {
                        break e;
                    }
                }
                Err(e) => break e,
            }
        };
        let _ = tx.send(end);
    });
    rx
}

/// The error that ends `ws` within [`WAIT`]; panics on a message or a hang.
fn end_of(ws: &MessageWebSocket) -> wsock::Error {
    match ws.recv_timeout(WAIT) {
        Ok(m) => panic!("expected the end of the connection, got {m:?}"),
        Err(e) => {
            assert_ne!(e.status(), Status::Timeout, "no end within {WAIT:?}: {e}");
            e
        }
    }
}

fn tls_of(ws: &MessageWebSocket) -> TlsInfo {
    ws.info().tls.expect("info().tls is None on a TLS socket")
}

fn is_tls13(version: &str) -> bool {
    version.contains("1_3") || version.contains("1.3")
}

#[test]
fn wss_echoes_text_binary_4_mib_and_1000_small_messages_in_order() {
    let (client, server_ws) = tls_pair("localhost");
    let server_info = tls_of(&server_ws);
    let ended = echo(server_ws);

    let text = "héllo over TLS \u{1f980}";
    client.send_text(text).unwrap();
    assert_eq!(
        client.recv_timeout(WAIT).unwrap(),
        Message::Text(text.into())
    );

    let binary: Vec<u8> = (0..=255u8).collect();
    client.send_binary(&binary).unwrap();
    assert_eq!(
        client.recv_timeout(WAIT).unwrap(),
        Message::Binary(binary.into())
    );

    let big = data(4 << 20, 1);
    client.send_binary(&big).unwrap();
    let back = client.recv_timeout(BIG).unwrap();
    assert!(
        back.as_bytes() == &big[..] && back.is_binary(),
        "4 MiB came back as {} bytes, or changed",
        back.len()
    );

    for i in 0..1000 {
        client.send_text(format!("message {i}")).unwrap();
    }
    for i in 0..1000 {
        let got = client.recv_timeout(WAIT).unwrap();
        assert_eq!(got, Message::Text(format!("message {i}").into()));
    }

    let tls = tls_of(&client);
    assert!(is_tls13(&tls.version), "client version {:?}", tls.version);
    assert!(
        tls.cipher_suite.starts_with("TLS13_"),
        "client cipher suite {:?}",
        tls.cipher_suite
    );
    assert_eq!(tls.server_name.as_deref(), Some("localhost"));
    assert_eq!(
        tls.peer_certificates,
        vec![pki().server.cert_der.clone()],
        "the client's view of the server's chain"
    );
    // The server side sees the same session, the name the client asked
    // for (SNI), and no client certificate.
    assert_eq!(server_info.version, tls.version);
    assert_eq!(server_info.cipher_suite, tls.cipher_suite);
    assert_eq!(server_info.server_name.as_deref(), Some("localhost"));
    assert!(server_info.peer_certificates.is_empty());

    client.close(1000, "client done").unwrap();
    let end = ended
        .recv_timeout(WAIT)
        .expect("the server never saw the end");
    assert_eq!(
        end.close_frame(),
        Some(&close_frame(1000, "client done")),
        "{end}"
    );
    let reply = end_of(&client);
    assert_eq!(
        reply.close_frame(),
        Some(&close_frame(1000, "client done")),
        "{reply}"
    );
}

#[test]
fn wss_to_an_ip_address_checks_the_certificate_for_that_address() {
    let (client, server_ws) = tls_pair("127.0.0.1");
    client.send_text("by address").unwrap();
    assert_eq!(
        server_ws.recv_timeout(WAIT).unwrap(),
        Message::Text("by address".into())
    );
    assert_eq!(
        tls_of(&client).peer_certificates.first(),
        Some(&pki().server.cert_der)
    );
}

#[test]
fn a_tls_server_close_reaches_the_client_with_code_and_reason() {
    let (client, server_ws) = tls_pair("localhost");
    server_ws.close(4000, "server done").unwrap();

    let seen = end_of(&client);
    assert_eq!(seen.status(), Status::Closed, "{seen}");
    assert_eq!(seen.close_frame(), Some(&close_frame(4000, "server done")));
    let reply = end_of(&server_ws);
    assert_eq!(reply.close_frame(), Some(&close_frame(4000, "server done")));
}

#[test]
fn both_peers_send_16_mib_at_once_over_tls() {
    const SIZE: usize = 16 << 20;
    let started = Instant::now();
    let (client, server_ws) = tls_pair("localhost");
    let both_ready = Arc::new(Barrier::new(2));

    // Each side sends its 16 MiB on one thread while receiving the other's.
    let exchange = |ws: MessageWebSocket, seed: u32| {
        let (tx, rx) = mpsc::channel();
        let sender = ws.sender();
        let ready = both_ready.clone();
        thread::spawn(move || {
            let sending = thread::spawn(move || {
                let payload = data(SIZE, seed);
                ready.wait();
                sender.send_binary(payload)
            });
            let got = ws.recv_timeout(BIG);
            let sent = sending.join().unwrap();
            let _ = tx.send((got, sent, ws));
        });
        rx
    };
    let at_client = exchange(client, 1);
    let at_server = exchange(server_ws, 2);

    let (got, sent, client) = at_client
        .recv_timeout(BIG)
        .expect("the client's exchange did not finish: deadlock?");
    sent.expect("the client's 16 MiB send");
    let got = got.expect("the client's receive");
    assert!(
        got.is_binary() && got.as_bytes() == &data(SIZE, 2)[..],
        "the client got {} bytes, or the wrong ones",
        got.len()
    );
    let (got, sent, server_ws) = at_server
        .recv_timeout(BIG)
        .expect("the server's exchange did not finish: deadlock?");
    sent.expect("the server's 16 MiB send");
    let got = got.expect("the server's receive");
    assert!(
        got.is_binary() && got.as_bytes() == &data(SIZE, 1)[..],
        "the server got {} bytes, or the wrong ones",
        got.len()
    );

    client.close(1000, "done").unwrap();
    assert_eq!(end_of(&server_ws).close_frame().map(|f| f.code), Some(1000));
    eprintln!("16 MiB each way at once over TLS: {:?}", started.elapsed());
}

/// Serves `identity` over TLS, runs `connect` against `wss://{host}:port/`
/// and returns its error, which must come promptly and name the host.
/// Then checks that the refused handshake did not wedge the server: a
/// client that accepts any certificate still gets through.
fn refused(
    identity: &Identity,
    host: &str,
    connect: impl FnOnce(&str) -> wsock::Result<MessageWebSocket> + Send + 'static,
) -> wsock::Error {
    let (server, port) = tls_server(identity);
    let url = format!("wss://{host}:{port}/");
    let requests = serve(server);

    let started = Instant::now();
    let (tx, rx) = mpsc::channel();
    let target = url.clone();
    thread::spawn(move || {
        let _ = tx.send(connect(&target));
    });
    let error = rx
        .recv_timeout(WAIT)
        .expect("connect did not return")
        .expect_err("connected to a server whose certificate must be refused");
    let took = started.elapsed();
    assert!(
        took < NOTICED_WITHIN,
        "refused only after {took:?}: {error}"
    );
    assert!(
        error.to_string().contains(host),
        "the error does not name the host {host}: {error}"
    );

    let lenient = MessageWebSocket::builder()
        .connect_timeout(WAIT)
        .danger_accept_invalid_certs(true);
    let (client, server_ws) = pair_over(&requests, lenient, url);
    client.send_text("accepted anyway").unwrap();
    assert_eq!(
        server_ws.recv_timeout(WAIT).unwrap(),
        Message::Text("accepted anyway".into())
    );
    error
}

#[test]
fn a_certificate_from_an_unknown_ca_is_certificate_unknown_issuer() {
    // No options at all: the webpki roots do not include the test CA.
    let e = refused(&pki().server, "localhost", |url| {
        MessageWebSocket::connect(url)
    });
    assert_eq!(e.status(), Status::CertificateUnknownIssuer, "{e}");
}

#[test]
fn an_expired_certificate_is_certificate_expired() {
    let e = refused(&pki().expired, "localhost", |url| {
        trusting_client().connect(url)
    });
    assert_eq!(e.status(), Status::CertificateExpired, "{e}");
}

#[test]
fn a_certificate_for_another_name_is_certificate_common_name_is_incorrect() {
    let e = refused(&pki().other_name, "localhost", |url| {
        trusting_client().connect(url)
    });
    assert_eq!(e.status(), Status::CertificateCommonNameIsIncorrect, "{e}");
    // The same for an address the certificate does not list.
    let e = refused(&pki().other_name, "127.0.0.1", |url| {
        trusting_client().connect(url)
    });
    assert_eq!(e.status(), Status::CertificateCommonNameIsIncorrect, "{e}");
}

#[test]
fn mutual_tls_admits_a_client_certificate_and_refuses_a_client_without() {
    let server = Server::builder()
        .tls_pem(
            pki().server.cert_pem.as_bytes(),
            pki().server.key_pem.as_bytes(),
        )
        .client_ca_pem(pki().ca_pem.as_bytes())
        .bind("127.0.0.1:0")
        .expect("bind with client_ca_pem");
    let port = server.local_addr().unwrap().port();
    let requests = serve(server);

    // Without a certificate: connect (or at the latest the first receive)
    // fails with an error, promptly.
    let started = Instant::now();
    let anonymous = connect_in_thread(
        trusting_client(),
        format!("wss://localhost:{port}/anonymous"),
    )
    .recv_timeout(WAIT * 2)
    .expect("connect without a client certificate did not return");
    let error = match anonymous {
        Err(e) => e,
        Ok(ws) => ws
            .recv_timeout(WAIT)
            .expect_err("a client without a certificate received a message"),
    };
    let took = started.elapsed();
    assert_ne!(error.status(), Status::Timeout, "{error}");
    assert!(
        took < NOTICED_WITHIN,
        "refused only after {took:?}: {error}"
    );

    // With one: admitted, and the server sees its certificate. The anonymous
    // client never became a request (the first one through is this one).
    let authenticated = trusting_client().client_certificate_pem(
        pki().client.cert_pem.as_bytes(),
        pki().client.key_pem.as_bytes(),
    );
    let client = connect_in_thread(
        authenticated,
        format!("wss://localhost:{port}/authenticated"),
    );
    let request = next_accepted(&requests);
    assert_eq!(request.path(), "/authenticated");
    let server_ws = request.accept_message().expect("accept_message");
    let client = client
        .recv_timeout(WAIT)
        .expect("the client did not connect in time")
        .expect("connect with a client certificate");
    assert_eq!(
        tls_of(&server_ws).peer_certificates,
        vec![pki().client.cert_der.clone()],
        "the server's view of the client's chain"
    );
    client.send_text("it is me").unwrap();
    assert_eq!(
        server_ws.recv_timeout(WAIT).unwrap(),
        Message::Text("it is me".into())
    );
}

#[test]
fn tls_configs_given_in_full_are_used_as_given() {
    // The client allows only TLS 1.2 and trusts only the test CA; the server
    // config is built by hand. Neither is wsock's default.
    let server = Server::builder()
        .tls_config(pki().server.server_config(rustls::ALL_VERSIONS))
        .bind("127.0.0.1:0")
        .expect("bind with tls_config");
    let port = server.local_addr().unwrap().port();
    let requests = serve(server);
    let client = MessageWebSocket::builder()
        .connect_timeout(WAIT)
        .tls_config(client_config_trusting_ca(&[&rustls::version::TLS12]));
    let (client, server_ws) = pair_over(&requests, client, format!("wss://localhost:{port}/"));

    for side in [&client, &server_ws] {
        let tls = tls_of(side);
        assert!(
            tls.version.contains("1_2") || tls.version.contains("1.2"),
            "{:?}",
            tls.version
        );
    }
    server_ws.send_text("over TLS 1.2").unwrap();
    assert_eq!(
        client.recv_timeout(WAIT).unwrap(),
        Message::Text("over TLS 1.2".into())
    );
}

#[test]
fn stream_mode_carries_32_mib_over_tls_byte_exact() {
    let sent = data(32 << 20, 3);
    let (server, port) = tls_server(&pki().server);
    let (tx, received) = mpsc::channel();
    thread::spawn(move || {
        let read = (|| -> io::Result<Vec<u8>> {
            let mut s = server.accept()?.accept_stream()?;
            s.set_read_timeout(Some(WAIT))?;
            let mut all = Vec::new();
            s.read_to_end(&mut all)?;
            Ok(all)
        })();
        let _ = tx.send(read);
    });

    let mut s = StreamWebSocket::builder()
        .connect_timeout(WAIT)
        .root_certificate_pem(pki().ca_pem.as_bytes())
        .connect(&format!("wss://localhost:{port}/"))
        .expect("connect");
    s.set_write_timeout(Some(BIG)).unwrap();
    let copied = io::copy(&mut &sent[..], &mut s).expect("io::copy into the stream");
    assert_eq!(copied, sent.len() as u64);
    s.close(1000, "all sent").expect("close");

    let got = received
        .recv_timeout(BIG)
        .expect("the server did not finish reading")
        .expect("the server's read");
    assert_eq!(got.len(), sent.len());
    assert!(got == sent, "32 MiB arrived changed");
}

/// Makes dropping the socket send a TCP reset instead of a FIN.
fn reset_on_drop(tcp: &std::net::TcpStream) {
    SockRef::from(tcp)
        .set_linger(Some(Duration::ZERO))
        .expect("SO_LINGER");
}

#[test]
fn a_tls_peer_that_drops_tcp_mid_message_without_close_notify_is_an_abnormal_close() {
    for reset in [false, true] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let config = pki().server.server_config(rustls::DEFAULT_VERSIONS);
        let (go, drop_now) = mpsc::channel::<()>();
        // A server that is rustls plus tungstenite, not wsock: it sends the
        // start of a 1 MiB binary frame, then closes TCP with no TLS
        // close_notify and no WebSocket close.
        let peer = thread::spawn(move || {
            let (tcp, _) = listener.accept().unwrap();
            tcp.set_read_timeout(Some(WAIT)).unwrap();
            tcp.set_write_timeout(Some(WAIT)).unwrap();
            if reset {
                reset_on_drop(&tcp);
            }
            let conn = rustls::ServerConnection::new(config).unwrap();
            let tls = rustls::StreamOwned::new(conn, tcp);
            let mut ws = tungstenite::accept(tls).expect("TLS and WebSocket handshake");
            let frame = support::frame(true, support::OP_BINARY, &data(1 << 20, 4), None);
            let tls = ws.get_mut();
            tls.write_all(&frame[..100_000]).unwrap();
            tls.flush().unwrap();
            drop_now.recv_timeout(WAIT).expect("the test never said go");
            drop(ws);
        });

        let client = trusting_client()
            .close_timeout(WAIT)
            .connect(&format!("wss://localhost:{port}/"))
            .expect("connect");
        let started = Instant::now();
        go.send(()).unwrap();
        let end = end_of(&client);
        let took = started.elapsed();
        peer.join().unwrap();

        let how = if reset { "a reset" } else { "a FIN" };
        assert_eq!(end.close_frame(), None, "after {how}: {end}");
        assert_eq!(end.status(), Status::ConnectionReset, "after {how}: {end}");
        assert!(took < NOTICED_WITHIN, "{how} was reported after {took:?}");
        if !reset {
            // Says what happened, in wsock's words (rustls' own text is a link).
            let text = end.to_string();
            assert!(text.contains("without a TLS close_notify"), "{text}");
        }
        // And it stays ended.
        assert_eq!(
            client.recv_timeout(WAIT).unwrap_err().status(),
            Status::ConnectionReset
        );
    }
}

#[test]
fn a_server_that_drops_the_tls_handshake_fails_connect_promptly() {
    for reset in [false, true] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // Reads the ClientHello's record (all of it, so that closing sends
        // a FIN rather than a reset for unread bytes), then hangs up.
        let peer = thread::spawn(move || {
            let (mut tcp, _) = listener.accept().unwrap();
            tcp.set_read_timeout(Some(WAIT)).unwrap();
            if reset {
                reset_on_drop(&tcp);
            }
            let mut head = [0u8; 5];
            tcp.read_exact(&mut head)
                .expect("the start of a ClientHello");
            assert_eq!(head[0], 22, "not a TLS handshake record: {head:?}");
            let mut body = vec![0u8; usize::from(u16::from_be_bytes([head[3], head[4]]))];
            tcp.read_exact(&mut body)
                .expect("the rest of the ClientHello");
        });

        let started = Instant::now();
        let error = connect_in_thread(trusting_client(), format!("wss://localhost:{port}/"))
            .recv_timeout(WAIT * 2)
            .expect("connect did not return")
            .expect_err("connected to a server that hung up");
        let took = started.elapsed();
        peer.join().unwrap();

        let how = if reset { "a reset" } else { "a FIN" };
        assert!(
            matches!(
                error.status(),
                Status::ConnectionReset | Status::CannotConnect
            ),
            "after {how}: {:?}: {error}",
            error.status()
        );
        assert!(took < NOTICED_WITHIN, "after {how}: took {took:?}");
    }
}

#[test]
fn a_plain_client_at_a_tls_server_fails_promptly() {
    let (server, port) = tls_server(&pki().server);
    let _requests = serve(server);
    let started = Instant::now();
    let error = connect_in_thread(
        MessageWebSocket::builder().connect_timeout(WAIT),
        format!("ws://127.0.0.1:{port}/"),
    )
    .recv_timeout(WAIT * 2)
    .expect("connect did not return")
    .expect_err("a plain client upgraded with a TLS server");
    let took = started.elapsed();
    assert_ne!(error.status(), Status::Timeout, "{error}");
    assert!(took < NOTICED_WITHIN, "took {took:?}: {error}");
}

#[test]
fn a_tls_client_at_a_plain_server_fails_promptly() {
    let server = Server::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let _requests = serve(server);
    let started = Instant::now();
    let error = connect_in_thread(trusting_client(), format!("wss://localhost:{port}/"))
        .recv_timeout(WAIT * 2)
        .expect("connect did not return")
        .expect_err("a TLS client upgraded with a plain server");
    let took = started.elapsed();
    assert_ne!(error.status(), Status::Timeout, "{error}");
    assert!(took < NOTICED_WITHIN, "took {took:?}: {error}");
}

/// The certificate `openssl req -x509 -subj /CN=localhost` makes: its own
/// CA. Trusted, webpki still refuses it as a server's certificate; the
/// error says what to make instead.
#[test]
fn a_ca_certificate_used_as_the_servers_own_gets_an_error_that_says_what_to_do() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let server = Server::builder()
        .tls_pem(cert.pem().as_bytes(), key.serialize_pem().as_bytes())
        .bind("127.0.0.1:0")
        .unwrap();
    let port = server.local_addr().unwrap().port();
    let _requests = serve(server);
    let e = MessageWebSocket::builder()
        .root_certificate_pem(cert.pem().as_bytes())
        .connect(&format!("wss://localhost:{port}/"))
        .unwrap_err();
    assert_eq!(e.status(), Status::CertificateIsInvalid, "{e}");
    let text = e.to_string();
    assert!(
        text.contains("CA:FALSE") && text.contains("subjectAltName"),
        "{text}"
    );
}
