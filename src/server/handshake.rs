//! The opening handshake, server side: one client's upgrade request read
//! and checked within the handshake timeout (after the TLS handshake for
//! `wss://`), and HTTP refusals. Run by a `wsock-handshake` thread per
//! pending connection; takes no lock.

use super::*;

/// Reads and checks one upgrade request (after the TLS handshake, for
/// `wss://`), within the handshake timeout.
/// The most headers a request may have.
const MAX_HEADERS: usize = 124; // as tungstenite's parser

/// Parses a request head of any method (HTTP/1.0 or 1.1): `None` while
/// incomplete.
fn parse_head(buf: &[u8]) -> std::result::Result<Option<(usize, http::Request<()>)>, String> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut raw = httparse::Request::new(&mut headers);
    let used = match raw.parse(buf).map_err(|e| e.to_string())? {
        httparse::Status::Partial => return Ok(None),
        httparse::Status::Complete(n) => n,
    };
    let mut request = http::Request::builder()
        .method(raw.method.unwrap_or("GET"))
        .uri(raw.path.unwrap_or("/"))
        .version(match raw.version {
            Some(0) => http::Version::HTTP_10,
            _ => http::Version::HTTP_11,
        });
    for h in raw.headers.iter() {
        request = request.header(h.name, h.value);
    }
    let request = request.body(()).map_err(|e| e.to_string())?;
    Ok(Some((used, request)))
}

pub(super) fn read_request(
    tcp: TcpStream,
    peer: SocketAddr,
    options: Arc<Options>,
    tls: TlsConfig,
    served: &Arc<Served>,
) -> Result<Request> {
    let deadline = Deadline::after(options.handshake_timeout);
    let transport = open_transport(tcp, peer, &options, tls, deadline)?;
    let (mut buf, used, http) = read_head(&transport, peer, &options, deadline)?;
    let upgrade = wants_upgrade(&http);
    if upgrade || !options.http_requests {
        check_upgrade(&transport, &http, peer, deadline)?;
        check_origin(&transport, &http, &options, peer, deadline)?;
    }
    let slot = take_slot(&transport, peer, &options, served, deadline)?;
    let tail = buf.split_off(used);
    Ok(Request {
        http,
        upgrade,
        transport: Some(transport),
        tail,
        peer,
        options,
        protocol: None,
        response_headers: Vec::new(),
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
        match parse_head(&buf) {
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

/// The request asks for a WebSocket (`Upgrade: websocket`), valid or not.
pub(super) fn wants_upgrade(http: &http::Request<()>) -> bool {
    http.headers()
        .get_all("Upgrade")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("websocket"))
}

/// Refuses (403) an upgrade whose `Origin` the server does not allow.
fn check_origin(
    transport: &Transport,
    http: &http::Request<()>,
    options: &Options,
    peer: SocketAddr,
    deadline: Deadline,
) -> Result<()> {
    let Some(allowed) = &options.allowed_origins else {
        return Ok(());
    };
    // Browsers always send Origin; other clients need not (see the option).
    let Some(origin) = http.headers().get("Origin") else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("");
    if allowed
        .iter()
        .any(|pattern| origin_matches(pattern, origin))
    {
        return Ok(());
    }
    refuse(
        transport,
        StatusCode::FORBIDDEN,
        "this origin may not open a WebSocket here",
        deadline,
    );
    Err(Error::Handshake {
        peer: peer.to_string(),
        status: Status::InvalidRequest,
        reason: format!("origin {origin:?} is not allowed (allowed_origins); answered 403"),
    })
}

/// Whether `origin` (`scheme://host[:port]`) matches an `allowed_origins`
/// pattern: a whole origin (`https://chat.example.org`), a host with an
/// optional port matched under any scheme (`example.org`,
/// `localhost:8080`), `*.example.org` for every subdomain (not the bare
/// domain), or `*` for all. Case does not matter.
pub(super) fn origin_matches(pattern: &str, origin: &str) -> bool {
    let (pattern, origin) = (pattern.to_ascii_lowercase(), origin.to_ascii_lowercase());
    if pattern == "*" {
        return true;
    }
    if pattern.contains("://") {
        return pattern.trim_end_matches('/') == origin;
    }
    let Some((_, authority)) = origin.split_once("://") else {
        return false; // "null" (a sandboxed page or a file), or garbage
    };
    let (host, port) = split_port(authority);
    let (wildcard, wanted) = match pattern.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, pattern.as_str()),
    };
    let (wanted_host, wanted_port) = split_port(wanted);
    let host_ok = if wildcard {
        host.len() > wanted_host.len() + 1
            && host.ends_with(wanted_host)
            && host.as_bytes()[host.len() - wanted_host.len() - 1] == b'.'
    } else {
        host == wanted_host
    };
    host_ok && wanted_port.is_none_or(|p| Some(p) == port)
}

/// `host[:port]` into its host and port (`[::1]:80` keeps its brackets).
fn split_port(authority: &str) -> (&str, Option<&str>) {
    match authority.rsplit_once(':') {
        Some((host, port))
            if !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && (!host.contains(':') || host.ends_with(']')) =>
        {
            (host, Some(port))
        }
        _ => (authority, None),
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
    served: &Arc<Served>,
    deadline: Deadline,
) -> Result<ConnectionSlot> {
    let max = options
        .max_connections
        .unwrap_or_else(default_max_connections);
    let Some(slot) = served.take_slot(max) else {
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
    };
    Ok(slot)
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
    if let Err(e) = answer(
        transport,
        status,
        &[],
        body.as_bytes(),
        true,
        false,
        deadline,
    ) {
        debug!("cannot send HTTP {status}: {e}");
    }
}

/// Sends an HTTP response (`headers` beside `Content-Length`,
/// `Connection: close` and a default `Content-Type`; `body` unless
/// `with_body` is false, as for `HEAD`, or the status has none), then
/// closes the sending half. With `linger`, it then reads and discards
/// what the client still sends (a request body), briefly, so that closing
/// with unread bytes does not reset the connection and lose the response.
pub(super) fn answer(
    transport: &Transport,
    status: StatusCode,
    headers: &[(http::HeaderName, HeaderValue)],
    body: &[u8],
    with_body: bool,
    linger: bool,
    deadline: Deadline,
) -> io::Result<()> {
    let mut response = http::Response::new(());
    *response.status_mut() = status;
    let all = response.headers_mut();
    for (name, value) in headers {
        all.append(name, value.clone());
    }
    // The body is always sent whole, with its length.
    all.remove(http::header::TRANSFER_ENCODING);
    let bodiless = status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
    if !bodiless && !all.contains_key(http::header::CONTENT_TYPE) {
        all.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    if bodiless {
        all.remove(http::header::CONTENT_LENGTH);
    } else {
        all.insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    let with_body = with_body && !bodiless;
    all.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    if status == StatusCode::UPGRADE_REQUIRED {
        all.insert("Sec-WebSocket-Version", HeaderValue::from_static("13"));
    }
    let mut bytes = Vec::new();
    write_response(&mut bytes, &response).map_err(io::Error::other)?;
    if with_body {
        bytes.extend_from_slice(body);
    }
    // The answer, then (TLS) close_notify: rustls sends no data after it.
    let written = transport.write_all_by(&bytes, deadline).and_then(|()| {
        transport.queue_close_notify();
        transport.write_all_by(&[], deadline)
    });
    let _ = transport.shutdown_write();
    if linger && written.is_ok() {
        discard_until_closed(transport);
    }
    written
}

/// How long, and how much, a lingering close reads before it gives up.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 1 << 20;

/// Reads and drops what the client sends until it closes (bounded).
fn discard_until_closed(transport: &Transport) {
    let deadline = Deadline::after(LINGER);
    let mut buf = [0u8; 4096];
    let mut read = 0;
    while read < LINGER_BYTES && !deadline.has_passed() {
        match transport.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => read += n,
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_match_whole_hosts_and_subdomains() {
        let yes = [
            ("https://chat.example.org", "https://chat.example.org"),
            ("https://chat.example.org/", "https://CHAT.example.org"),
            ("example.org", "http://example.org"),
            ("example.org", "https://example.org:8443"),
            ("localhost:8080", "http://localhost:8080"),
            ("*.example.org", "https://a.example.org"),
            ("*.example.org", "https://a.b.example.org:444"),
            ("*.example.org:444", "https://a.example.org:444"),
            ("[::1]", "http://[::1]:8000"),
            ("*", "null"),
        ];
        for (pattern, origin) in yes {
            assert!(
                origin_matches(pattern, origin),
                "{pattern} should allow {origin}"
            );
        }
        let no = [
            ("https://chat.example.org", "http://chat.example.org"),
            ("https://chat.example.org", "https://chat.example.org:444"),
            ("example.org", "https://evil-example.org"),
            ("example.org", "https://example.org.evil.net"),
            ("localhost:8080", "http://localhost:9090"),
            ("*.example.org", "https://example.org"),
            ("*.example.org", "https://badexample.org"),
            ("*.example.org:444", "https://a.example.org:443"),
            ("example.org", "null"),
        ];
        for (pattern, origin) in no {
            assert!(
                !origin_matches(pattern, origin),
                "{pattern} should refuse {origin}"
            );
        }
    }

    #[test]
    fn heads_of_any_method_parse() {
        let head = b"POST /form?a=1 HTTP/1.0\r\nHost: x\r\n\r\nbody";
        let (used, r) = parse_head(head).unwrap().unwrap();
        assert_eq!(&head[used..], b"body");
        assert_eq!(r.method(), "POST");
        assert_eq!(r.version(), http::Version::HTTP_10);
        assert_eq!(r.uri().path(), "/form");
        assert!(parse_head(b"GET / HTTP/1.1\r\nHost:").unwrap().is_none());
        assert!(parse_head(b"\x00\x01 garbage\r\n\r\n").is_err());
        assert!(!wants_upgrade(&r));
    }
}
