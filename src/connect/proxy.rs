//! Proxies: which one (the `proxy` option, or the conventional environment
//! with `no_proxy`), and the tunnel through it: HTTP `CONNECT` (RFC 9110
//! 9.3.6), in the clear or inside TLS to the proxy (`https://`, relayed:
//! `relay.rs`), or SOCKS5 (RFC 1928, with the user and password of RFC
//! 1929), inside the connect budget.
//!
//! The SOCKS5 exchange (`socks.rs`) is written here rather than taken from
//! the `socks` crate: that crate connects with its own blocking calls and
//! timeouts, so the connect budget could not cover the exchange, and its
//! errors would not say which step the proxy refused.
//!
//! Run by the connecting thread.

use std::io::{Read, Write};

use super::handshake::{basic, read_head_with, Head};
use super::*;
use crate::options::ProxyChoice;

/// A proxy to go through.
#[derive(Debug, Clone)]
pub(crate) struct Proxy {
    pub kind: Kind,
    pub host: String,
    pub port: u16,
    pub credentials: Option<Credentials>,
    /// The proxy URL as shown: its password as `***`.
    pub shown: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// HTTP `CONNECT`.
    Http,
    /// HTTP `CONNECT` inside TLS to the proxy.
    Https,
    /// SOCKS5; `remote_dns`: the proxy resolves the name (`socks5h://`).
    Socks5 { remote_dns: bool },
}

/// Parses a proxy URL (`http://`, `https://`, `socks5://`, `socks5h://`;
/// a bare `host:port` is `http://`).
pub(crate) fn parse(raw: &str) -> Result<Proxy> {
    let with_scheme = if raw.contains("://") {
        raw.to_owned()
    } else {
        format!("http://{raw}")
    };
    let invalid = |reason: &str| {
        Error::InvalidArgument(format!("proxy {}: {reason}", redact_raw(&with_scheme)))
    };
    let url = Url::parse(&with_scheme).map_err(|e| invalid(&e.to_string()))?;
    let (kind, default_port) =
        match url.scheme() {
            "http" => (Kind::Http, 80),
            "socks5" => (Kind::Socks5 { remote_dns: false }, 1080),
            "socks5h" => (Kind::Socks5 { remote_dns: true }, 1080),
            "https" if cfg!(feature = "tls") => (Kind::Https, 443),
            "https" => return Err(invalid(
                "an https:// proxy needs TLS: build wsock with its `tls` feature (on by default)",
            )),
            other => {
                return Err(invalid(&format!(
                    "the scheme {other}: is not http, https, socks5 or socks5h"
                )))
            }
        };
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_owned(),
        Some(url::Host::Ipv4(a)) => a.to_string(),
        Some(url::Host::Ipv6(a)) => a.to_string(),
        None => return Err(invalid("no host")),
    };
    // A proxy URL with a password but no user gets no credentials.
    let (credentials, shown) = userinfo(&url);
    let credentials = credentials.filter(|c| !c.user.is_empty());
    Ok(Proxy {
        kind,
        host,
        port: url.port().unwrap_or(default_port),
        credentials,
        shown,
    })
}

/// The proxy for `target`: the option's, or the environment's.
pub(crate) fn choose(target: &Target, options: &Options) -> Result<Option<Proxy>> {
    match &options.proxy {
        ProxyChoice::None => Ok(None),
        ProxyChoice::Url(raw) => parse(raw).map(Some),
        ProxyChoice::Environment => from_environment(target, &|name| std::env::var(name).ok())
            .map(|raw| parse(&raw))
            .transpose(),
    }
}

/// The proxy URL the environment gives for `target`, as Python websockets
/// and curl read it: `wss_proxy` then `https_proxy` for `wss://`,
/// `ws_proxy` then `http_proxy` for `ws://`, then `all_proxy`; each in
/// lower case, then upper case; none if `no_proxy` covers the host, or
/// the host is this machine (`localhost`, a loopback address).
pub(crate) fn from_environment(
    target: &Target,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    let get = |name: &str| {
        env(name)
            .or_else(|| env(&name.to_ascii_uppercase()))
            .filter(|v| !v.trim().is_empty())
    };
    let names: &[&str] = if target.secure {
        &["wss_proxy", "https_proxy", "all_proxy"]
    } else {
        &["ws_proxy", "http_proxy", "all_proxy"]
    };
    let proxy = names.iter().find_map(|n| get(n))?;
    if is_loopback(&target.host) {
        return None;
    }
    if let Some(list) = get("no_proxy") {
        if bypassed(&list, &target.host, target.port) {
            return None;
        }
    }
    Some(proxy)
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether a `no_proxy` list covers `host:port`: `*` covers all; an entry
/// covers its host and every subdomain (`example.org`, `.example.org`),
/// an IP address only itself, and with `:port` only that port.
pub(crate) fn bypassed(list: &str, host: &str, port: u16) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    list.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            let entry = entry.to_ascii_lowercase();
            let (name, entry_port) = match entry.rsplit_once(':') {
                Some((n, p)) if !n.contains(':') || n.ends_with(']') => {
                    (n.to_owned(), p.parse::<u16>().ok())
                }
                _ => (entry.clone(), None),
            };
            if entry_port.is_some_and(|p| p != port) {
                return false;
            }
            let name = name.trim_start_matches("*.").trim_start_matches('.');
            let name = name.trim_start_matches('[').trim_end_matches(']');
            host == name || host.ends_with(&format!(".{name}"))
        })
}

/// The relay behind an `https://` proxy's tunnel (none without TLS).
#[cfg(feature = "tls")]
pub(crate) use super::relay::Relay;
#[cfg(not(feature = "tls"))]
pub(crate) enum Relay {}

/// Opens a TCP connection to `target` through `proxy`, within the budget;
/// for an `https://` proxy, the engine's end of a loopback pair and the
/// relay behind it.
pub(crate) fn tunnel(
    proxy: &Proxy,
    target: &Target,
    options: &Options,
    deadline: Deadline,
) -> Result<(TcpStream, Option<Relay>)> {
    let unreachable = |e: Error| Error::Connect {
        url: target.shown.clone(),
        status: if e.status() == Status::Timeout {
            Status::Timeout
        } else {
            Status::CannotConnectToProxy
        },
        detail: format!("cannot reach the proxy {}: {e}", proxy.shown),
        source: None,
    };
    let open = || {
        let addrs = resolve(
            &proxy.host,
            proxy.port,
            options.max_addresses,
            options,
            deadline,
        )
        .map_err(unreachable)?;
        let tcp = connect_tcp(&addrs, deadline, &proxy.shown, options.connect_timeout)
            .map_err(unreachable)?;
        tcp.set_nodelay(options.no_delay)
            .map_err(|e| Error::io(&proxy.shown, "setting TCP_NODELAY", e))?;
        Ok(tcp)
    };
    let tcp = match proxy.kind {
        Kind::Http => {
            let tcp = open()?;
            http_connect(&Pipe::Tcp(&tcp), proxy, target, options, deadline)?;
            tcp
        }
        Kind::Https => return https_tunnel(open()?, proxy, target, options, deadline),
        Kind::Socks5 { remote_dns } => {
            socks::tunnel(proxy, target, remote_dns, options, deadline, &open)?
        }
    };
    // Short slices again for what follows (the TLS handshake checks the
    // budget between them), as `connect_tcp` leaves a socket.
    slice_timeouts(&tcp, deadline);
    Ok((tcp, None))
}

/// TLS to the proxy, `CONNECT` inside it, and the relay to a loopback pair.
#[cfg(feature = "tls")]
fn https_tunnel(
    tcp: TcpStream,
    proxy: &Proxy,
    target: &Target,
    options: &Options,
    deadline: Deadline,
) -> Result<(TcpStream, Option<Relay>)> {
    let tls = super::relay::tls_to_proxy(tcp, proxy, options, deadline)?;
    http_connect(&Pipe::Tls(&tls), proxy, target, options, deadline)?;
    let (tcp, relay) = super::relay::start(tls, &proxy.shown, options, deadline)?;
    slice_timeouts(&tcp, deadline);
    Ok((tcp, Some(relay)))
}

#[cfg(not(feature = "tls"))]
fn https_tunnel(
    _: TcpStream,
    _: &Proxy,
    _: &Target,
    _: &Options,
    _: Deadline,
) -> Result<(TcpStream, Option<Relay>)> {
    unreachable!("parse refuses https:// proxies without the tls feature")
}

/// Where `CONNECT` goes: the TCP connection to the proxy, or TLS inside it.
enum Pipe<'a> {
    Tcp(&'a TcpStream),
    #[cfg(feature = "tls")]
    Tls(&'a Transport),
}

impl Pipe<'_> {
    fn write(
        &self,
        bytes: &[u8],
        deadline: Deadline,
        proxy: &Proxy,
        options: &Options,
    ) -> Result<()> {
        match self {
            Pipe::Tcp(tcp) => write_by(tcp, bytes, deadline, proxy, options),
            #[cfg(feature = "tls")]
            Pipe::Tls(tls) => tls.write_all_by(bytes, deadline).map_err(|e| {
                handshake::io_or_timeout(&proxy.shown, "talking to the proxy", e, options)
            }),
        }
    }

    fn read(&self, buf: &mut [u8], wait: Duration) -> io::Result<usize> {
        match self {
            Pipe::Tcp(tcp) => {
                tcp.set_read_timeout(Some(wait))?;
                let mut reader = *tcp;
                reader.read(buf)
            }
            #[cfg(feature = "tls")]
            Pipe::Tls(tls) => {
                tls.set_read_timeout(Some(wait))?;
                tls.read(buf)
            }
        }
    }
}

/// `CONNECT host:port`, answered 2xx; a proxy that hangs up instead is
/// [`Status::CannotConnectToProxy`].
fn http_connect(
    pipe: &Pipe,
    proxy: &Proxy,
    target: &Target,
    options: &Options,
    deadline: Deadline,
) -> Result<()> {
    let authority = if target.host.contains(':') {
        format!("[{}]:{}", target.host, target.port)
    } else {
        format!("{}:{}", target.host, target.port)
    };
    // A proxy that cannot open the tunnel may just hang up.
    let hung_up = |e: Error| match e.status() {
        Status::ConnectionReset | Status::ConnectionAborted => Error::Handshake {
            peer: proxy.shown.clone(),
            status: Status::CannotConnectToProxy,
            reason: format!(
                "the proxy closed the connection instead of answering CONNECT {authority}"
            ),
        },
        _ => e,
    };
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(c) = &proxy.credentials {
        request.push_str(&format!("Proxy-Authorization: {}\r\n", basic(c)));
    }
    request.push_str("\r\n");
    pipe.write(request.as_bytes(), deadline, proxy, options)
        .map_err(hung_up)?;
    let (head, buf, used): (Head, Vec<u8>, usize) = read_head_with(
        &mut |buf: &mut [u8], wait: Duration| pipe.read(buf, wait),
        &proxy.shown,
        options,
        deadline,
    )
    .map_err(hung_up)?;
    if (200..300).contains(&head.code) {
        if buf.len() > used {
            return Err(Error::Handshake {
                peer: proxy.shown.clone(),
                status: Status::CannotConnectToProxy,
                reason: "the proxy sent bytes after its answer to CONNECT".into(),
            });
        }
        return Ok(());
    }
    // The body is what came with the head: a tunnel's refusal is not
    // waited on for more.
    let body = String::from_utf8_lossy(&buf[used..]).into_owned();
    Err(Error::UnexpectedStatus {
        url: proxy.shown.clone(),
        code: head.code,
        body: Some(body),
        headers: head.headers,
        proxy: true,
    })
}

pub(super) fn write_by(
    tcp: &TcpStream,
    bytes: &[u8],
    deadline: Deadline,
    proxy: &Proxy,
    options: &Options,
) -> Result<()> {
    let mut writer = tcp;
    let _ = tcp.set_write_timeout(Some(
        deadline
            .slice(options.connect_timeout)
            .max(Duration::from_millis(1)),
    ));
    writer
        .write_all(bytes)
        .map_err(|e| handshake::io_or_timeout(&proxy.shown, "talking to the proxy", e, options))
}

pub(super) fn read_exact_by(
    tcp: &TcpStream,
    n: usize,
    deadline: Deadline,
    proxy: &Proxy,
    options: &Options,
) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    let mut got = 0;
    let mut reader = tcp;
    while got < n {
        if deadline.has_passed() {
            return Err(Error::Timeout {
                what: format!("the exchange with the proxy {}", proxy.shown),
                after: options.connect_timeout,
            });
        }
        let _ = tcp.set_read_timeout(Some(
            deadline
                .slice(HANDSHAKE_SLICE)
                .max(Duration::from_millis(1)),
        ));
        match reader.read(&mut buf[got..]) {
            Ok(0) => {
                let e = io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "the proxy closed the connection",
                );
                return Err(Error::Io {
                    peer: proxy.shown.clone(),
                    what: "talking to the proxy".into(),
                    status: Status::CannotConnectToProxy,
                    source: Arc::new(e),
                });
            }
            Ok(k) => got += k,
            Err(e)
                if crate::transport::is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(handshake::io_or_timeout(
                    &proxy.shown,
                    "talking to the proxy",
                    e,
                    options,
                ))
            }
        }
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Target {
        parse_url(url).unwrap()
    }

    #[test]
    fn the_environment_is_read_as_curl_and_python_read_it() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let plain = target("ws://example.org/");
        let secure = target("wss://example.org/");
        let e = env(&[("http_proxy", "http://p:1"), ("HTTPS_PROXY", "http://s:2")]);
        assert_eq!(from_environment(&plain, &e).as_deref(), Some("http://p:1"));
        assert_eq!(from_environment(&secure, &e).as_deref(), Some("http://s:2"));
        let e = env(&[("ws_proxy", "http://w:3"), ("http_proxy", "http://p:1")]);
        assert_eq!(from_environment(&plain, &e).as_deref(), Some("http://w:3"));
        let e = env(&[("all_proxy", "socks5h://a:4")]);
        assert_eq!(
            from_environment(&secure, &e).as_deref(),
            Some("socks5h://a:4")
        );
        let e = env(&[
            ("all_proxy", "socks5h://a:4"),
            ("no_proxy", "other.net, .example.org"),
        ]);
        assert_eq!(from_environment(&plain, &e), None);
        // This machine is never proxied from the environment.
        let e = env(&[("all_proxy", "http://a:4")]);
        assert_eq!(from_environment(&target("ws://127.0.0.1:9/"), &e), None);
        assert_eq!(from_environment(&target("ws://localhost:9/"), &e), None);
        assert_eq!(from_environment(&plain, &env(&[])), None);
    }

    #[test]
    fn no_proxy_covers_hosts_subdomains_addresses_and_ports() {
        assert!(bypassed("*", "anything", 80));
        assert!(bypassed("example.org", "example.org", 80));
        assert!(bypassed("example.org", "chat.example.org", 80));
        assert!(bypassed(".example.org", "chat.example.org", 80));
        assert!(bypassed("*.example.org", "chat.example.org", 80));
        assert!(!bypassed("example.org", "badexample.org", 80));
        assert!(bypassed("10.0.0.1", "10.0.0.1", 80));
        assert!(!bypassed("10.0.0.1", "10.0.0.10", 80));
        assert!(bypassed("example.org:8080", "example.org", 8080));
        assert!(!bypassed("example.org:8080", "example.org", 80));
        assert!(bypassed(" a.net , EXAMPLE.org ", "example.org.", 80));
        assert!(bypassed("[::1]:80", "::1", 80));
    }

    #[test]
    fn proxy_urls_parse_and_hide_their_password() {
        let p = parse("http://al%20ice:s3cret@proxy.local:3128").unwrap();
        assert_eq!(
            (p.kind, p.host.as_str(), p.port),
            (Kind::Http, "proxy.local", 3128)
        );
        let c = p.credentials.unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("al ice", "s3cret"));
        assert!(!p.shown.contains("s3cret"), "{}", p.shown);
        assert_eq!(parse("proxy.local").unwrap().port, 80);
        assert_eq!(
            parse("socks5h://s").unwrap().kind,
            Kind::Socks5 { remote_dns: true }
        );
        assert_eq!(parse("socks5://s").unwrap().port, 1080);
        let e = parse("ftp://user:s3cret@x").unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
    }
}
