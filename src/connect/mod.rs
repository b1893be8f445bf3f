//! Connecting a client: URL → addresses → TCP (raced: `eyeballs.rs`) →
//! TLS → the HTTP upgrade (`handshake.rs`), following redirects, all
//! within one connect budget. Run by the thread that calls `connect`.
//!
//! Secrets never leave: URLs are shown with their password as `***`
//! ([`Target::shown`]), and the credentials go only into the request.

mod eyeballs;
mod handshake;
mod proxy;
#[cfg(feature = "tls")]
mod relay;
mod socks;

use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use tungstenite::protocol::Role;
use url::Url;

use crate::engine::{self, Engine, Event, Negotiated, Sink};
use crate::error::{Error, Result, Status};
use crate::options::{redact_raw, Credentials, Options};
use crate::time::Deadline;
use crate::transport::Transport;
use eyeballs::connect_tcp;
use handshake::Answer;

/// Longest single blocking step of the handshake; the budget is checked between.
const HANDSHAKE_SLICE: Duration = Duration::from_millis(250);

/// A `ws://` URL taken apart.
#[derive(Debug)]
pub(crate) struct Target {
    pub url: Url,
    pub secure: bool,
    pub host: String,
    pub port: u16,
    /// The URL as errors and logs show it: its password as `***`.
    pub shown: String,
    /// The URL's userinfo, percent-decoded.
    pub credentials: Option<Credentials>,
}

pub(crate) fn parse_url(raw: &str) -> Result<Target> {
    let invalid = |reason: &str| Error::InvalidUrl {
        url: redact_raw(raw),
        reason: reason.to_owned(),
    };
    let url = Url::parse(raw).map_err(|e| invalid(&e.to_string()))?;
    let secure = match url.scheme() {
        "ws" => false,
        "wss" if cfg!(feature = "tls") => true,
        "wss" => {
            return Err(Error::Unsupported {
                url: redact_raw(raw),
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
    let (credentials, shown) = userinfo(&url);
    // Credentials go in a header, never in the request line.
    let mut url = url;
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Ok(Target {
        url,
        secure,
        host,
        port,
        shown,
        credentials,
    })
}

/// A URL's userinfo as credentials (percent-decoded; a user or a password
/// suffices), and the URL as shown: its password as `***`.
pub(super) fn userinfo(url: &Url) -> (Option<Credentials>, String) {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let credentials =
        (!url.username().is_empty() || url.password().is_some()).then(|| Credentials {
            user: decode(url.username()),
            password: url.password().map(decode).unwrap_or_default(),
        });
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("***"));
    }
    (credentials, shown.to_string())
}

/// Sets `tcp`'s timeouts to short slices of what is left of `deadline`,
/// so that every blocking step of a handshake checks the budget.
pub(super) fn slice_timeouts(tcp: &TcpStream, deadline: Deadline) {
    let slice = Some(
        deadline
            .slice(HANDSHAKE_SLICE)
            .max(Duration::from_millis(1)),
    );
    let _ = tcp.set_read_timeout(slice);
    let _ = tcp.set_write_timeout(slice);
}

/// Opens a client connection and starts its engine.
pub(crate) fn connect(
    raw_url: &str,
    options: Arc<Options>,
) -> Result<(Arc<Engine>, mpsc::Receiver<Event>)> {
    let deadline = Deadline::after(options.connect_timeout);
    let mut target = parse_url(raw_url)?;
    let mut credentials = target
        .credentials
        .clone()
        .or_else(|| options.credentials.clone());
    let mut redirects = 0;
    // Secret headers (Authorization, Cookie) go to the first host only.
    let mut other_host = false;
    let mut via = proxy::choose(&target, &options)?;
    let (transport, relay, head, negotiated, tail) = loop {
        let (transport, relay) = open(&target, via.as_ref(), &options, deadline)?;
        let answer = handshake::upgrade(
            &transport,
            &target,
            &options,
            credentials.as_ref(),
            other_host,
            deadline,
        )?;
        let location = match answer {
            Answer::Upgraded {
                head,
                negotiated,
                tail,
            } => break (transport, relay, head, negotiated, tail),
            Answer::Redirect(location) => location,
        };
        drop((transport, relay));
        redirects += 1;
        let next = redirect_target(&target, &location, redirects, &options)?;
        // Credentials go to the host they were given for, or come anew.
        if next.credentials.is_some() {
            credentials = next.credentials.clone();
        } else if (next.host.as_str(), next.port) != (target.host.as_str(), target.port) {
            credentials = None;
        }
        if (next.host.as_str(), next.port) != (target.host.as_str(), target.port) {
            other_host = true;
        }
        log::debug!("{} redirects to {}", target.shown, next.shown);
        target = next;
        via = proxy::choose(&target, &options)?;
    };
    let _ = transport.set_read_timeout(None);
    let (tx, rx) = mpsc::channel();
    let shared = engine::start(
        transport,
        tail,
        Role::Client,
        options,
        target.shown,
        negotiated,
        |_| Sink::Socket(tx),
        // An https proxy's relay ends with the reader thread.
        relay.map(|r| Box::new(r) as Box<dyn Send>),
    )?;
    shared.set_client_facts(head.headers, via.map(|p| p.shown));
    Ok((shared, rx))
}

/// Where a redirect leads: `location` resolved against the URL, `http`
/// and `https` read as `ws` and `wss`; refused from `wss` to `ws` and
/// beyond `max_redirects`.
fn redirect_target(
    from: &Target,
    location: &str,
    count: usize,
    options: &Options,
) -> Result<Target> {
    if count > options.max_redirects {
        return Err(Error::Handshake {
            peer: from.shown.clone(),
            status: Status::TooManyRedirects,
            reason: format!(
                "more than {} redirects (max_redirects); the last to {:?}",
                options.max_redirects,
                redact_raw(location)
            ),
        });
    }
    let mut next = from.url.join(location).map_err(|e| Error::Handshake {
        peer: from.shown.clone(),
        status: Status::InvalidServerResponse,
        reason: format!(
            "a redirect to {:?}, which is not a URL: {e}",
            redact_raw(location)
        ),
    })?;
    let scheme = match next.scheme() {
        "http" => Some("ws"),
        "https" => Some("wss"),
        _ => None,
    };
    if let Some(s) = scheme {
        let _ = next.set_scheme(s);
    }
    let next = parse_url(next.as_str())?;
    if from.secure && !next.secure {
        return Err(Error::Handshake {
            peer: from.shown.clone(),
            status: Status::HttpsToHttpOnRedirection,
            reason: format!("a redirect from wss:// to {}, not followed", next.shown),
        });
    }
    Ok(next)
}

/// Resolves, connects (through `proxy`, if one) and (for `wss://`) does
/// the TLS handshake; with an `https://` proxy, the relay behind the
/// connection too (dropping it ends the connection).
fn open(
    target: &Target,
    proxy: Option<&proxy::Proxy>,
    options: &Options,
    deadline: Deadline,
) -> Result<(Transport, Option<proxy::Relay>)> {
    let shown = &target.shown;
    let (tcp, relay) = match proxy {
        Some(p) => proxy::tunnel(p, target, options, deadline)?,
        None => {
            let addrs = resolve(
                &target.host,
                target.port,
                options.max_addresses,
                options,
                deadline,
            )?;
            let tcp = connect_tcp(&addrs, deadline, shown, options.connect_timeout)?;
            (tcp, None)
        }
    };
    tcp.set_nodelay(options.no_delay)
        .map_err(|e| Error::io(shown, "setting TCP_NODELAY", e))?;
    let transport = if target.secure {
        secure(tcp, &target.host, options, deadline, shown)?
    } else {
        Transport::plain(tcp).map_err(|e| Error::io(shown, "preparing the socket", e))?
    };
    Ok((transport, relay))
}

/// The addresses of `host` (at most `max`, IPv6 and IPv4 taking turns), or
/// why there are none, within the connect budget: the system resolver
/// cannot be cut short, so it runs on a thread of its own, which the
/// connect leaves behind at the deadline (it ends when the resolver gives
/// up).
pub(super) fn resolve(
    host: &str,
    port: u16,
    max: usize,
    options: &Options,
    deadline: Deadline,
) -> Result<Vec<SocketAddr>> {
    resolve_with(
        host,
        port,
        max,
        deadline,
        options.connect_timeout,
        |name, port| (name, port).to_socket_addrs().map(Iterator::collect),
    )
}

fn resolve_with(
    host: &str,
    port: u16,
    max: usize,
    deadline: Deadline,
    budget: Duration,
    lookup: impl FnOnce(&str, u16) -> io::Result<Vec<SocketAddr>> + Send + 'static,
) -> Result<Vec<SocketAddr>> {
    let resolve_error = |source: io::Error| Error::Resolve {
        host: host.to_owned(),
        source: Arc::new(source),
    };
    let found = if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        vec![SocketAddr::new(ip, port)] // nothing to look up
    } else {
        let (tx, rx) = mpsc::channel();
        let name = host.to_owned();
        std::thread::Builder::new()
            .name("wsock-resolve".into())
            .stack_size(256 << 10)
            .spawn(move || {
                let _ = tx.send(lookup(&name, port));
            })
            .map_err(|e| Error::Resource {
                what: format!("cannot start a thread to resolve {host}"),
                reason: e.to_string(),
            })?;
        let wait = deadline.left();
        match rx.recv_timeout(wait) {
            Ok(found) => found.map_err(resolve_error)?,
            Err(_) => {
                return Err(Error::Timeout {
                    what: format!("resolving {host}"),
                    after: budget,
                })
            }
        }
    };
    // Happy Eyeballs' order first, so that a long list of one family
    // does not crowd the other out.
    let addrs: Vec<SocketAddr> = eyeballs::interleave(found).into_iter().take(max).collect();
    if addrs.is_empty() {
        return Err(resolve_error(io::Error::new(
            io::ErrorKind::NotFound,
            "no addresses",
        )));
    }
    Ok(addrs)
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

#[cfg(test)]
mod tests;
