//! The opening handshake, server side: one client's upgrade request read
//! and checked within the handshake timeout (after the TLS handshake for
//! `wss://`), and HTTP refusals. Run by a `wsock-handshake` thread per
//! pending connection; takes no lock.

use super::*;

/// Reads and checks one upgrade request (after the TLS handshake, for
/// `wss://`), within the handshake timeout.
pub(super) fn read_request(
    tcp: TcpStream,
    peer: SocketAddr,
    options: Arc<Options>,
    tls: TlsConfig,
    live: Arc<AtomicUsize>,
) -> Result<Request> {
    let deadline = Deadline::after(options.handshake_timeout);
    let transport = open_transport(tcp, peer, &options, tls, deadline)?;
    let (mut buf, used, http) = read_head(&transport, peer, &options, deadline)?;
    check_upgrade(&transport, &http, peer, deadline)?;
    let slot = take_slot(&transport, peer, &options, live, deadline)?;
    let tail = buf.split_off(used);
    Ok(Request {
        http,
        transport: Some(transport),
        tail,
        peer,
        options,
        protocol: None,
        slot: Some(slot),
    })
}

/// Sets the socket up and, for TLS, does the TLS handshake.
#[cfg_attr(not(feature = "tls"), allow(unused_variables))] // `deadline`: the TLS handshake's
fn open_transport(
    tcp: TcpStream,
    peer: SocketAddr,
    options: &Options,
    tls: TlsConfig,
    deadline: Deadline,
) -> Result<Transport> {
    let io_err = |e: io::Error| Error::io(peer, "reading the upgrade request", e);
    tcp.set_nodelay(options.no_delay).map_err(io_err)?;
    tcp.set_read_timeout(Some(HANDSHAKE_SLICE))
        .map_err(io_err)?;
    Ok(match tls {
        #[cfg(feature = "tls")]
        Some(config) => {
            let conn = rustls::ServerConnection::new(config)
                .map_err(|e| Error::InvalidArgument(format!("TLS configuration: {e}")))?;
            Transport::tls(tcp, rustls::Connection::Server(conn), None, deadline).map_err(|e| {
                crate::tls::tls_error(&peer.to_string(), e, options.handshake_timeout)
            })?
        }
        #[cfg(not(feature = "tls"))]
        Some(never) => match *never {},
        None => Transport::plain(tcp).map_err(io_err)?,
    })
}

/// Reads until the request's head is complete (bounded by
/// [`MAX_REQUEST`] and the deadline); returns the bytes read, how many of
/// them the head used, and the parsed head. A malformed or oversized head
/// is answered (400, 431) before the error returns.
fn read_head(
    transport: &Transport,
    peer: SocketAddr,
    options: &Options,
    deadline: Deadline,
) -> Result<(Vec<u8>, usize, http::Request<()>)> {
    let io_err = |e: io::Error| Error::io(peer, "reading the upgrade request", e);
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        if deadline.has_passed() {
            return Err(Error::Timeout {
                what: format!("the upgrade request of {peer}"),
                after: options.handshake_timeout,
            });
        }
        match transport.read(&mut chunk) {
            Ok(0) => {
                let e = io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed before its request was complete",
                );
                return Err(io_err(e));
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(e)),
        }
        match http::Request::<()>::try_parse(&buf) {
            Ok(Some((used, http))) => return Ok((buf, used, http)),
            Ok(None) if buf.len() > MAX_REQUEST => {
                refuse(
                    transport,
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    "the request is too large",
                    deadline,
                );
                return Err(bad_request(peer, "the request is larger than 16 KiB"));
            }
            Ok(None) => {}
            Err(e) => {
                refuse(transport, StatusCode::BAD_REQUEST, &e.to_string(), deadline);
                return Err(bad_request(peer, &e.to_string()));
            }
        }
    }
}

/// Refuses (400, or 426 without a version) a request that is not a valid
/// WebSocket upgrade.
fn check_upgrade(
    transport: &Transport,
    http: &http::Request<()>,
    peer: SocketAddr,
    deadline: Deadline,
) -> Result<()> {
    let Err(e) = create_response(http) else {
        return Ok(());
    };
    let mut status = StatusCode::BAD_REQUEST;
    if matches!(
        e,
        tungstenite::Error::Protocol(
            tungstenite::error::ProtocolError::MissingSecWebSocketVersionHeader
        )
    ) {
        status = StatusCode::UPGRADE_REQUIRED;
    }
    refuse(
        transport,
        status,
        &format!("not a WebSocket upgrade request: {e}"),
        deadline,
    );
    Err(bad_request(peer, &e.to_string()))
}

/// Takes one of the server's connection slots, or answers 503.
fn take_slot(
    transport: &Transport,
    peer: SocketAddr,
    options: &Options,
    live: Arc<AtomicUsize>,
    deadline: Deadline,
) -> Result<ConnectionSlot> {
    let max = options
        .max_connections
        .unwrap_or_else(default_max_connections);
    if live.fetch_add(1, Ordering::SeqCst) >= max {
        live.fetch_sub(1, Ordering::SeqCst);
        refuse(
            transport,
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is at its connection limit",
            deadline,
        );
        return Err(Error::Resource {
            what: format!("accepting {peer}"),
            reason: format!("the server has {max} connections (max_connections); answered 503"),
        });
    }
    Ok(ConnectionSlot(live))
}

pub(super) fn bad_request(peer: SocketAddr, reason: &str) -> Error {
    Error::Handshake {
        peer: peer.to_string(),
        status: Status::InvalidRequest,
        reason: reason.to_owned(),
    }
}

/// Answers with an HTTP error and closes; failures are only logged.
pub(super) fn refuse(transport: &Transport, status: StatusCode, body: &str, deadline: Deadline) {
    let mut response = http::Response::new(());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        "Content-Type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert("Content-Length", HeaderValue::from(body.len()));
    headers.insert("Connection", HeaderValue::from_static("close"));
    if status == StatusCode::UPGRADE_REQUIRED {
        headers.insert("Sec-WebSocket-Version", HeaderValue::from_static("13"));
    }
    let mut bytes = Vec::new();
    if write_response(&mut bytes, &response).is_ok() {
        bytes.extend_from_slice(body.as_bytes());
        transport.queue_close_notify();
        if let Err(e) = transport.write_all_by(&bytes, deadline) {
            debug!("cannot send HTTP {status}: {e}");
        }
    }
    let _ = transport.shutdown_write();
}
