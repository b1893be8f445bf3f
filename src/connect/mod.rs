//! Connecting a client: URL → addresses → TCP (socket2) → HTTP upgrade
//! (tungstenite's client handshake), all within one connect budget.

use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::ClientHandshake;
use tungstenite::handshake::HandshakeError;
use tungstenite::http::HeaderValue;
use tungstenite::protocol::Role;
use url::Url;

use crate::engine::{self, Engine, Event, Pipe, Sink};
use crate::error::{Error, Result, Status};
use crate::options::Options;
use crate::time::Deadline;
use crate::transport::Transport;

/// Longest single blocking step of the handshake; the budget is checked between.
const HANDSHAKE_SLICE: Duration = Duration::from_millis(250);

/// A `ws://` URL taken apart.
#[derive(Debug)]
pub(crate) struct Target {
    pub url: Url,
    pub secure: bool,
    pub host: String,
    pub port: u16,
}

pub(crate) fn parse_url(raw: &str) -> Result<Target> {
    let invalid = |reason: &str| Error::InvalidUrl {
        url: raw.to_owned(),
        reason: reason.to_owned(),
    };
    let url = Url::parse(raw).map_err(|e| invalid(&e.to_string()))?;
    let secure = match url.scheme() {
        "ws" => false,
        "wss" if cfg!(feature = "tls") => true,
        "wss" => {
            return Err(Error::Unsupported {
                url: raw.to_owned(),
                reason: "wss:// needs TLS: build wsock with its `tls` feature (on by default)"
                    .into(),
            })
        }
        other => {
            return Err(invalid(&format!(
                "the scheme is {other}:, but a WebSocket URL starts with ws:// or wss://"
            )))
        }
    };
    if url.fragment().is_some() {
        return Err(invalid("a WebSocket URL has no #fragment"));
    }
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_owned(),
        Some(url::Host::Ipv4(a)) => a.to_string(),
        Some(url::Host::Ipv6(a)) => a.to_string(),
        None => return Err(invalid("the URL has no host")),
    };
    let port = url
        .port_or_known_default()
        .ok_or_else(|| invalid("the URL has no port"))?;
    Ok(Target {
        url,
        secure,
        host,
        port,
    })
}

/// Opens a client connection and starts its engine.
pub(crate) fn connect(
    raw_url: &str,
    options: Arc<Options>,
) -> Result<(Arc<Engine>, mpsc::Receiver<Event>)> {
    let target = parse_url(raw_url)?;
    let deadline = Deadline::after(options.connect_timeout);
    let url = target.url.as_str().to_owned();
    let addrs = resolve(&target.host, target.port, options.max_addresses)?;
    let tcp = connect_tcp(&addrs, deadline, &url, options.connect_timeout)?;
    tcp.set_nodelay(options.no_delay)
        .map_err(|e| Error::io(&url, "setting TCP_NODELAY", e))?;
    let transport = if target.secure {
        secure(tcp, &target.host, &options, deadline, &url)?
    } else {
        Transport::plain(tcp).map_err(|e| Error::io(&url, "preparing the socket", e))?
    };

    let request = upgrade_request(raw_url, &url, &options)?;
    let config = engine::protocol_config(&options);
    let mut mid = ClientHandshake::start(Pipe::direct(transport), request, Some(config))
        .map_err(|e| handshake_error(&url, e))?;
    let (ws, response) = loop {
        match mid.handshake() {
            Ok(done) => break done,
            Err(HandshakeError::Interrupted(m)) => {
                if deadline.has_passed() {
                    return Err(Error::Timeout {
                        what: format!("the opening handshake with {url}"),
                        after: options.connect_timeout,
                    });
                }
                mid = m;
            }
            Err(HandshakeError::Failure(e)) => return Err(handshake_error(&url, e)),
        }
    };
    let protocol = response
        .headers()
        .get("Sec-WebSocket-Protocol")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (ws, transport) = engine::after_client_handshake(ws, config);
    let transport = transport.expect("the handshake ran over the transport");
    let _ = transport.set_read_timeout(None);
    let (tx, rx) = mpsc::channel();
    let shared = engine::start(
        transport,
        ws,
        Role::Client,
        options,
        url,
        protocol,
        |_| Sink::Socket(tx),
        None,
    )?;
    Ok((shared, rx))
}

/// The addresses of `host` (at most `max`), or why there are none.
fn resolve(host: &str, port: u16, max: usize) -> Result<Vec<SocketAddr>> {
    let resolve_error = |source: io::Error| Error::Resolve {
        host: host.to_owned(),
        source: Arc::new(source),
    };
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(resolve_error)?
        .take(max)
        .collect();
    if addrs.is_empty() {
        return Err(resolve_error(io::Error::new(
            io::ErrorKind::NotFound,
            "no addresses",
        )));
    }
    Ok(addrs)
}

/// The upgrade request: tungstenite's, with the subprotocols offered and
/// the caller's headers.
fn upgrade_request(
    raw_url: &str,
    url: &str,
    options: &Options,
) -> Result<tungstenite::handshake::client::Request> {
    let mut request = url.into_client_request().map_err(|e| Error::InvalidUrl {
        url: raw_url.to_owned(),
        reason: e.to_string(),
    })?;
    let headers = request.headers_mut();
    if !options.protocols.is_empty() {
        let offered = options.protocols.join(", ");
        let value = HeaderValue::from_str(&offered)
            .map_err(|e| Error::InvalidArgument(format!("subprotocols {offered:?}: {e}")))?;
        headers.insert("Sec-WebSocket-Protocol", value);
    }
    for (name, value) in &options.headers {
        let name = tungstenite::http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| Error::InvalidArgument(format!("header name {name:?}: {e}")))?;
        let value = HeaderValue::from_str(value)
            .map_err(|e| Error::InvalidArgument(format!("header {name}: {e}")))?;
        headers.append(name, value);
    }

    Ok(request)
}

/// The TLS handshake of a `wss://` connection.
#[cfg(feature = "tls")]
fn secure(
    tcp: TcpStream,
    host: &str,
    options: &Options,
    deadline: Deadline,
    url: &str,
) -> Result<Transport> {
    let config = crate::tls::client_config(&options.client_tls)?;
    let accept_invalid =
        options.client_tls.accept_invalid_certs && options.client_tls.config.is_none();
    let conn = crate::tls::client_connection(config, host, accept_invalid)?;
    Transport::tls(tcp, conn, Some(host.to_owned()), deadline)
        .map_err(|e| crate::tls::tls_error(url, e, options.connect_timeout))
}

#[cfg(not(feature = "tls"))]
fn secure(_: TcpStream, _: &str, _: &Options, _: Deadline, _: &str) -> Result<Transport> {
    unreachable!("parse_url refuses wss:// without the tls feature")
}

/// Tries each address in order until one connects, within one budget.
fn connect_tcp(
    addrs: &[SocketAddr],
    deadline: Deadline,
    url: &str,
    budget: Duration,
) -> Result<TcpStream> {
    let mut tried = Vec::new();
    let mut last: Option<io::Error> = None;
    for addr in addrs {
        if deadline.has_passed() {
            break;
        }
        let attempt = Socket::new(
            Domain::for_address(*addr),
            Type::STREAM,
            Some(Protocol::TCP),
        )
        .and_then(|s| {
            s.connect_timeout(
                &(*addr).into(),
                deadline.left().max(Duration::from_millis(1)),
            )
            .map(|()| s)
        });
        match attempt {
            Ok(socket) => {
                let tcp: TcpStream = socket.into();
                // The handshake reads and writes in slices so the budget is kept.
                let slice = Some(
                    deadline
                        .slice(HANDSHAKE_SLICE)
                        .max(Duration::from_millis(1)),
                );
                let _ = tcp.set_read_timeout(slice);
                let _ = tcp.set_write_timeout(slice);
                return Ok(tcp);
            }
            Err(e) => {
                tried.push(format!("{addr}: {e}"));
                last = Some(e);
            }
        }
    }
    let timed_out = deadline.has_passed()
        || last.as_ref().is_some_and(|e| {
            matches!(
                e.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            )
        });
    let status = if timed_out {
        Status::Timeout
    } else {
        Status::CannotConnect
    };
    let mut detail = if tried.is_empty() {
        "no address was tried".to_owned()
    } else {
        tried.join("; ")
    };
    if timed_out {
        detail = format!("no connection within {budget:?} ({detail})");
    }
    Err(Error::Connect {
        url: url.to_owned(),
        status,
        detail,
        source: last.map(Arc::new),
    })
}

/// Classifies a failed client handshake.
fn handshake_error(url: &str, e: tungstenite::Error) -> Error {
    match e {
        tungstenite::Error::Http(response) => {
            let body = response.body().as_ref().map(|b| {
                let text = String::from_utf8_lossy(&b[..b.len().min(200)]);
                text.trim().to_owned()
            });
            Error::UnexpectedStatus {
                url: url.to_owned(),
                code: response.status().as_u16(),
                body,
            }
        }
        tungstenite::Error::Io(e) => Error::io(url, "during the opening handshake", e),
        tungstenite::Error::Url(e) => Error::InvalidUrl {
            url: url.to_owned(),
            reason: e.to_string(),
        },
        tungstenite::Error::ConnectionClosed
        | tungstenite::Error::AlreadyClosed
        | tungstenite::Error::Protocol(tungstenite::error::ProtocolError::HandshakeIncomplete) => {
            Error::Io {
                peer: url.to_owned(),
                what: "during the opening handshake".into(),
                status: Status::ConnectionReset,
                source: Arc::new(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "the server closed the connection",
                )),
            }
        }
        other => Error::Handshake {
            peer: url.to_owned(),
            status: Status::InvalidServerResponse,
            reason: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(raw: &str) -> String {
        match parse_url(raw) {
            Err(Error::InvalidUrl { reason, .. }) => reason,
            other => panic!("{raw}: expected InvalidUrl, got {other:?}"),
        }
    }

    #[test]
    fn ports_default_by_scheme() {
        let t = parse_url("ws://example.org/chat?room=1").expect("valid");
        assert_eq!(
            (t.host.as_str(), t.port, t.secure),
            ("example.org", 80, false)
        );
        let t = parse_url("ws://127.0.0.1:9001").expect("valid");
        assert_eq!((t.host.as_str(), t.port), ("127.0.0.1", 9001));
        #[cfg(feature = "tls")]
        {
            let t = parse_url("wss://example.org").expect("valid");
            assert_eq!((t.port, t.secure), (443, true));
        }
    }

    #[test]
    fn ipv6_hosts_lose_their_brackets() {
        let t = parse_url("ws://[::1]:8080/").expect("valid");
        assert_eq!((t.host.as_str(), t.port), ("::1", 8080));
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        assert!(reason("http://example.org/").contains("ws:// or wss://"));
        assert!(reason("ws://example.org/#top").contains("fragment"));
        assert!(!reason("not a url").is_empty());
        assert!(!reason("ws://").is_empty());
    }
}
