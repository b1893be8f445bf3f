//! [`Request`]: a complete upgrade request to inspect, then accept (into a
//! message socket, a stream socket or a hub) or reject. Run by the program's
//! thread that took it from `incoming()`.

use super::*;

/// A client's upgrade request, complete and valid: inspect it, then
/// [`accept_message`](Request::accept_message) or [`reject`](Request::reject).
///
/// Dropping it undecided answers `503 Service Unavailable`.
pub struct Request {
    pub(super) http: http::Request<()>,
    pub(super) transport: Option<Transport>,
    /// Bytes the client sent after its request (its first frames).
    pub(super) tail: Vec<u8>,
    pub(super) peer: SocketAddr,
    pub(super) options: Arc<Options>,
    pub(super) protocol: Option<String>,
    /// This connection's place among the server's `max_connections`.
    pub(super) slot: Option<ConnectionSlot>,
}

/// A place among a server's `max_connections`; freed when dropped (by the
/// connection's reader thread when it ends, or with an undecided request).
#[derive(Debug)]
pub(super) struct ConnectionSlot(pub(super) Arc<AtomicUsize>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
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

    /// Completes the handshake (101 Switching Protocols) and returns the
    /// socket in message mode.
    pub fn accept_message(mut self) -> Result<MessageWebSocket> {
        let (tx, events) = mpsc::channel();
        let shared = self.upgrade(|_| Sink::Socket(tx))?;
        Ok(MessageWebSocket::from_engine(shared, events))
    }

    /// Completes the handshake (101 Switching Protocols) and returns the
    /// socket in stream mode.
    pub fn accept_stream(mut self) -> Result<StreamWebSocket> {
        let (tx, events) = mpsc::channel();
        let shared = self.upgrade(|_| Sink::Socket(tx))?;
        Ok(StreamWebSocket::from_engine(shared, events))
    }

    /// Completes the handshake and delivers the connection's messages and
    /// its end into `hub`, from any number of connections, for one thread to
    /// serve them all; see [`Hub`].
    pub fn accept_into(mut self, hub: &Hub) -> Result<Connection> {
        let mut attached = None;
        let path = self.path().to_owned();
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

    fn upgrade(
        &mut self,
        sink: impl FnOnce(&Arc<engine::Engine>) -> Sink,
    ) -> Result<Arc<engine::Engine>> {
        let transport = self.transport.take().expect("a request is decided once");
        let peer = self.peer;
        let mut response =
            create_response(&self.http).map_err(|e| bad_request(peer, &e.to_string()))?;
        if let Some(p) = &self.protocol {
            let value =
                HeaderValue::from_str(p).map_err(|e| Error::InvalidArgument(e.to_string()))?;
            response
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", value);
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
        let config = engine::protocol_config(&self.options);
        // Not `from_partially_read`: its read buffer has no reserved
        // capacity, which costs allocations on every frame.
        let ws = WebSocket::from_raw_socket(
            Pipe::memory(std::mem::take(&mut self.tail)),
            Role::Server,
            Some(config),
        );
        engine::start(
            transport,
            ws,
            Role::Server,
            Arc::clone(&self.options),
            peer.to_string(),
            self.protocol.clone(),
            sink,
            self.slot.take().map(|s| Box::new(s) as Box<dyn Send>),
        )
    }

    /// Refuses the upgrade with an HTTP `status` (not 101) and a plain-text `body`.
    pub fn reject(mut self, status: u16, body: &str) -> Result<()> {
        let code = StatusCode::from_u16(status)
            .ok()
            .filter(|c| !c.is_informational())
            .ok_or_else(|| {
                Error::InvalidArgument(format!("{status} is not an HTTP status to reject with"))
            })?;
        let transport = self.transport.take().expect("a request is decided once");
        refuse(
            &transport,
            code,
            body,
            Deadline::after(self.options.handshake_timeout),
        );
        Ok(())
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
