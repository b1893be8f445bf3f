//! [`Request`]: a complete upgrade request to inspect, then accept (into a
//! message socket, a stream socket or a hub) or reject. Run by the program's
//! thread that took it from `incoming()`.

use super::*;

/// A client's request, complete: inspect it, then
/// [`accept_message`](Request::accept_message), [`reject`](Request::reject)
/// or [`respond`](Request::respond).
///
/// It is a valid WebSocket upgrade, unless the server was built with
/// [`http_requests(true)`](crate::ServerBuilder::http_requests): then it may
/// also be a plain HTTP request ([`is_upgrade`](Request::is_upgrade) false),
/// which only `respond` and `reject` answer.
///
/// Dropping it undecided answers `503 Service Unavailable`.
pub struct Request {
    pub(super) http: http::Request<()>,
    /// A WebSocket upgrade (else a plain HTTP request).
    pub(super) upgrade: bool,
    /// Headers for the response, whichever it is.
    pub(super) response_headers: Vec<(http::HeaderName, HeaderValue)>,
    pub(super) transport: Option<Transport>,
    /// Bytes the client sent after its request (its first frames).
    pub(super) tail: Vec<u8>,
    pub(super) peer: SocketAddr,
    pub(super) options: Arc<Options>,
    pub(super) protocol: Option<String>,
    /// This connection's place among the server's `max_connections`.
    pub(super) slot: Option<ConnectionSlot>,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("peer", &self.peer)
            .field("uri", &self.http.uri())
            .field("protocols", &self.protocols())
            .finish()
    }
}

impl Request {
    /// The request path, e.g. `/chat`.
    pub fn path(&self) -> &str {
        self.http.uri().path()
    }

    /// The query string after `?`, if any.
    pub fn query(&self) -> Option<&str> {
        self.http.uri().query()
    }

    /// A header's value (names are case-insensitive); `None` if absent or
    /// not visible ASCII. For a repeated header, the first.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.http.headers().get(name).and_then(|v| v.to_str().ok())
    }

    /// Every header as (lower-case name, value), skipping values that are
    /// not visible ASCII.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.http
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
    }

    /// The subprotocols the client offered, in its order of preference.
    pub fn protocols(&self) -> Vec<&str> {
        self.http
            .headers()
            .get_all("Sec-WebSocket-Protocol")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect()
    }

    /// Chooses the subprotocol to answer with; it must be one the client
    /// offered, else [`Status::InvalidArgument`].
    pub fn select_protocol(&mut self, protocol: &str) -> Result<()> {
        let offered = self.protocols();
        if !offered.contains(&protocol) {
            return Err(Error::InvalidArgument(format!(
                "subprotocol {protocol:?} was not offered by {} (it offered {offered:?})",
                self.peer
            )));
        }
        self.protocol = Some(protocol.to_owned());
        Ok(())
    }

    /// The client's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// True for a WebSocket upgrade; false for a plain HTTP request (only
    /// with [`http_requests(true)`](crate::ServerBuilder::http_requests)).
    pub fn is_upgrade(&self) -> bool {
        self.upgrade
    }

    /// The request method: `GET` for every upgrade.
    pub fn method(&self) -> &str {
        self.http.method().as_str()
    }

    /// The HTTP version: `HTTP/1.1` (every upgrade) or `HTTP/1.0`.
    pub fn version(&self) -> &'static str {
        match self.http.version() {
            http::Version::HTTP_10 => "HTTP/1.0",
            _ => "HTTP/1.1",
        }
    }

    /// The TLS session of a `wss://` (or `https://`) request: the SNI
    /// name the client asked for, and its certificate chain if it sent one
    /// (see [`client_ca_pem`](crate::ServerBuilder::client_ca_pem)).
    pub fn tls(&self) -> Option<TlsInfo> {
        self.transport.as_ref()?.tls_info()
    }

    /// The SNI name the client asked for, on TLS.
    pub fn server_name(&self) -> Option<String> {
        self.tls()?.server_name
    }

    /// Adds a header to the response, whichever it will be (the 101 of an
    /// accept, a reject, a respond): a cookie, a server name. Repeat to add
    /// several; the name may repeat too.
    ///
    /// ```no_run
    /// # let server = wsock::Server::bind("127.0.0.1:0")?;
    /// let mut request = server.accept()?;
    /// request.response_header("Set-Cookie", "session=abc; HttpOnly")?;
    /// let ws = request.accept_message()?;
    /// # Ok::<(), wsock::Error>(())
    /// ```
    pub fn response_header(&mut self, name: &str, value: &str) -> Result<&mut Request> {
        let header = parse_header(name, value)?;
        self.response_headers.push(header);
        Ok(self)
    }

    /// Answers with any HTTP `status` (not 1xx), these headers beside the
    /// ones added with [`response_header`](Request::response_header), and
    /// `body` (not sent for a `HEAD` request); then closes the connection.
    /// For plain HTTP requests (a page, a health check: see
    /// [`http_requests`](crate::ServerBuilder::http_requests)) and for
    /// upgrades alike (a 401 with `WWW-Authenticate`, a 302 with
    /// `Location`). `Content-Length` is set from the body, and
    /// `Content-Type` to `text/plain; charset=utf-8` unless given. A
    /// request body is not read: it is discarded (for up to a second) so
    /// that closing does not reset the connection.
    ///
    /// `Err` only for an invalid status or header; a client that went away
    /// before the answer reached it is logged, not an error, so a loop
    /// that answers with `?` does not end because of one client.
    ///
    /// ```no_run
    /// let server = wsock::Server::builder().http_requests(true).bind("127.0.0.1:8080")?;
    /// for request in server.incoming() {
    ///     let request = request?;
    ///     if !request.is_upgrade() {
    ///         request.respond(200, &[("Content-Type", "text/html")], "<h1>hello</h1>")?;
    ///         continue;
    ///     }
    ///     let ws = request.accept_message()?;
    ///     // ...
    /// }
    /// # Ok::<(), wsock::Error>(())
    /// ```
    pub fn respond(
        mut self,
        status: u16,
        headers: &[(&str, &str)],
        body: impl AsRef<[u8]>,
    ) -> Result<()> {
        let code = final_status(status)?;
        let mut all = std::mem::take(&mut self.response_headers);
        for (name, value) in headers {
            all.push(parse_header(name, value)?);
        }
        let with_body = self.http.method() != http::Method::HEAD;
        let linger = self.has_body();
        let transport = self.transport.take().expect("a request is decided once");
        let deadline = Deadline::after(self.options.handshake_timeout);
        if let Err(e) = answer(
            &transport,
            code,
            &all,
            body.as_ref(),
            with_body,
            linger,
            deadline,
        ) {
            debug!("cannot send HTTP {status} to {}: {e}", self.peer);
        }
        Ok(())
    }

    /// The client sent (or announced) more than the request's head.
    fn has_body(&self) -> bool {
        let headers = self.http.headers();
        !self.tail.is_empty()
            || headers.contains_key(http::header::TRANSFER_ENCODING)
            || headers
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
                .is_some_and(|n| n > 0)
    }

    /// Completes the handshake (101 Switching Protocols) and returns the
    /// socket in message mode. A plain HTTP request (not an upgrade) is
    /// answered `426 Upgrade Required` and gives an error.
    pub fn accept_message(mut self) -> Result<MessageWebSocket> {
        let (tx, events) = mpsc::channel();
        let shared = self.upgrade(|_| Sink::Socket(tx))?;
        Ok(MessageWebSocket::from_engine(shared, events))
    }

    /// Completes the handshake (101 Switching Protocols) and returns the
    /// socket in stream mode.
    pub fn accept_stream(mut self) -> Result<StreamWebSocket> {
        // Frame payloads as they arrive, from the first one on.
        Arc::make_mut(&mut self.options).in_parts = true;
        let (tx, events) = mpsc::channel();
        let shared = self.upgrade(|_| Sink::Socket(tx))?;
        Ok(StreamWebSocket::from_engine(shared, events))
    }

    /// Completes the handshake and delivers the connection's messages and
    /// its end into `hub`, from any number of connections, for one thread to
    /// serve them all; see [`Hub`].
    pub fn accept_into(mut self, hub: &Hub) -> Result<Connection> {
        let mut attached = None;
        // With its query, as Connection::path says.
        let path = match self.query() {
            Some(query) => format!("{}?{query}", self.path()),
            None => self.path().to_owned(),
        };
        let upgraded = self.upgrade(|shared| {
            let (connection, sink) = hub.attach(shared, &path);
            attached = Some(connection);
            sink
        });
        match (upgraded, attached) {
            (Ok(_), Some(connection)) => Ok(connection),
            (Err(e), attached) => {
                if let Some(connection) = attached {
                    hub.failed_to_start(connection, e.clone());
                }
                Err(e)
            }
            (Ok(_), None) => unreachable!("the engine asks for its sink before it starts"),
        }
    }

    /// Answers a plain HTTP request that was to be accepted: 426.
    fn upgrade_required(&mut self) -> Error {
        let transport = self.transport.take().expect("a request is decided once");
        let deadline = Deadline::after(self.options.handshake_timeout);
        let body = "this is a WebSocket endpoint";
        let mut headers = std::mem::take(&mut self.response_headers);
        headers.push((http::header::UPGRADE, HeaderValue::from_static("websocket")));
        let with_body = self.http.method() != http::Method::HEAD;
        let status = StatusCode::UPGRADE_REQUIRED;
        let (body, linger) = (body.as_bytes(), self.has_body());
        let _ = answer(
            &transport, status, &headers, body, with_body, linger, deadline,
        );
        bad_request(self.peer, "not a WebSocket upgrade request (answered 426)")
    }

    fn upgrade(
        &mut self,
        sink: impl FnOnce(&Arc<engine::Engine>) -> Sink,
    ) -> Result<Arc<engine::Engine>> {
        let peer = self.peer;
        if !self.upgrade {
            return Err(self.upgrade_required());
        }
        let transport = self.transport.take().expect("a request is decided once");
        let mut response =
            create_response(&self.http).map_err(|e| bad_request(peer, &e.to_string()))?;
        for (name, value) in std::mem::take(&mut self.response_headers) {
            // The handshake's own headers are wsock's to set.
            let own = name == http::header::CONNECTION
                || name == http::header::UPGRADE
                || name.as_str().starts_with("sec-websocket-");
            if own {
                debug!("not adding {name} to the 101 for {peer}: the handshake sets it");
                continue;
            }
            response.headers_mut().append(name, value);
        }
        if let Some(p) = &self.protocol {
            let value =
                HeaderValue::from_str(p).map_err(|e| Error::InvalidArgument(e.to_string()))?;
            response
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", value);
        }
        let deflate = self.options.compression.as_ref().and_then(|d| {
            let offers = self.http.headers().get_all("sec-websocket-extensions");
            let offers: Vec<&str> = offers.iter().filter_map(|v| v.to_str().ok()).collect();
            d.answer(&offers)
        });
        if let Some(agreed) = &deflate {
            let value = HeaderValue::from_str(&agreed.extension)
                .map_err(|e| Error::InvalidArgument(e.to_string()))?;
            response
                .headers_mut()
                .insert("Sec-WebSocket-Extensions", value);
        }
        let mut bytes = Vec::with_capacity(256);
        write_response(&mut bytes, &response).map_err(|e| bad_request(peer, &e.to_string()))?;
        let deadline = Deadline::after(self.options.handshake_timeout);
        transport
            .write_all_by(&bytes, deadline)
            .map_err(|e| Error::io(peer, "sending the 101 response", e))?;
        transport
            .set_read_timeout(None)
            .map_err(|e| Error::io(peer, "preparing the socket", e))?;
        let served = self.slot.as_mut().map(|s| {
            s.connected();
            Arc::clone(s.served())
        });
        let engine = engine::start(
            transport,
            std::mem::take(&mut self.tail),
            Role::Server,
            Arc::clone(&self.options),
            peer.to_string(),
            engine::Negotiated {
                protocol: self.protocol.clone(),
                deflate,
            },
            sink,
            self.slot.take().map(|s| Box::new(s) as Box<dyn Send>),
        )?;
        if let Some(served) = served {
            served.accepted(&engine);
        }
        Ok(engine)
    }

    /// Refuses the upgrade with an HTTP `status` (not 1xx) and a
    /// plain-text `body`, with the headers added by
    /// [`response_header`](Request::response_header).
    pub fn reject(self, status: u16, body: &str) -> Result<()> {
        self.respond(status, &[], body)
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        if let Some(transport) = self.transport.take() {
            let deadline = Deadline::after(HANDSHAKE_SLICE);
            refuse(
                &transport,
                StatusCode::SERVICE_UNAVAILABLE,
                "the server dropped the request",
                deadline,
            );
        }
    }
}

/// A status to answer with: any but 1xx.
fn final_status(status: u16) -> Result<StatusCode> {
    StatusCode::from_u16(status)
        .ok()
        .filter(|c| !c.is_informational())
        .ok_or_else(|| {
            Error::InvalidArgument(format!("{status} is not an HTTP status to answer with"))
        })
}

fn parse_header(name: &str, value: &str) -> Result<(http::HeaderName, HeaderValue)> {
    let header_name = http::HeaderName::from_bytes(name.as_bytes())
        .map_err(|e| Error::InvalidArgument(format!("header name {name:?}: {e}")))?;
    // Visible ASCII only: what HTTP/1.1 responses are written with.
    if !value
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
    {
        return Err(Error::InvalidArgument(format!(
            "header {name}: the value must be visible ASCII (percent-encode the rest)"
        )));
    }
    let header_value = HeaderValue::from_str(value)
        .map_err(|e| Error::InvalidArgument(format!("header {name}: {e}")))?;
    Ok((header_name, header_value))
}
