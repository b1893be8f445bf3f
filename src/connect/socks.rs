//! SOCKS5 (RFC 1928) with a user and password (RFC 1929): the greeting,
//! the authentication and the CONNECT, over a TCP connection to the proxy,
//! to each of the target's addresses in turn when they are resolved here,
//! within the connect budget. Run by the connecting thread.

use std::net::IpAddr;

use super::proxy::{read_exact_by, write_by, Proxy};
use super::*;

/// One exchange with the proxy: its connection, the budget, the settings.
struct Exchange<'a> {
    tcp: &'a TcpStream,
    proxy: &'a Proxy,
    options: &'a Options,
    deadline: Deadline,
}

impl Exchange<'_> {
    fn send(&self, bytes: &[u8]) -> Result<()> {
        write_by(self.tcp, bytes, self.deadline, self.proxy, self.options)
    }

    fn receive(&self, n: usize) -> Result<Vec<u8>> {
        read_exact_by(self.tcp, n, self.deadline, self.proxy, self.options)
    }

    fn refused(&self, status: Status, reason: impl Into<String>) -> Error {
        Error::Handshake {
            peer: self.proxy.shown.clone(),
            status,
            reason: reason.into(),
        }
    }

    /// [`receive`](Self::receive), where the proxy hanging up means `why`
    /// (some proxies hang up instead of answering a refusal).
    fn receive_or(&self, n: usize, why: &str) -> Result<Vec<u8>> {
        self.receive(n).map_err(|e| match e.status() {
            Status::CannotConnectToProxy => self.refused(Status::ProxyAuthenticationRequired, why),
            _ => e,
        })
    }
}

/// Where the proxy is asked to connect: an address, or the target's name
/// (`socks5h://`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Address {
    Ip(IpAddr),
    Name,
}

/// A tunnel to `target` through the SOCKS5 `proxy`, a connection to it
/// opened by `open`. The name is resolved by the proxy if `remote_dns`
/// (`socks5h://`); else here, and each of its addresses (at most
/// `max_addresses`, IPv6 and IPv4 taking turns) is tried in order until
/// the proxy connects to one, each on a new connection to the proxy (a
/// SOCKS5 proxy hangs up after a failure), all within the budget.
pub(super) fn tunnel(
    proxy: &Proxy,
    target: &Target,
    remote_dns: bool,
    options: &Options,
    deadline: Deadline,
    open: &dyn Fn() -> Result<TcpStream>,
) -> Result<TcpStream> {
    let addresses = match target.host.parse::<IpAddr>() {
        Ok(ip) => vec![Address::Ip(ip)],
        Err(_) if remote_dns => vec![Address::Name],
        Err(_) => resolve(
            &target.host,
            target.port,
            options.max_addresses,
            options,
            deadline,
        )?
        .iter()
        .map(|a| Address::Ip(a.ip()))
        .collect(),
    };
    through(proxy, target, &addresses, options, deadline, open)
}

/// [`tunnel`] to each of `addresses` in turn.
pub(super) fn through(
    proxy: &Proxy,
    target: &Target,
    addresses: &[Address],
    options: &Options,
    deadline: Deadline,
    open: &dyn Fn() -> Result<TcpStream>,
) -> Result<TcpStream> {
    let mut failures = Vec::new();
    for &address in addresses {
        if !failures.is_empty() && deadline.has_passed() {
            break;
        }
        let tcp = open()?;
        let x = Exchange {
            tcp: &tcp,
            proxy,
            options,
            deadline,
        };
        match connect(&x, target, address)? {
            0 => return Ok(tcp),
            code => {
                log::debug!(
                    "the SOCKS5 proxy {} could not connect to {address:?} for {}: {} (code {code})",
                    proxy.shown,
                    target.shown,
                    failure(code)
                );
                failures.push((address, code));
            }
        }
    }
    let what = |code: u8| format!("{} (code {code})", failure(code));
    let reason = match failures.as_slice() {
        [(_, code)] => format!(
            "the SOCKS5 proxy could not connect to {}: {}",
            target.shown,
            what(*code)
        ),
        all => format!(
            "the SOCKS5 proxy could not connect to {} at any of the addresses tried: {}",
            target.shown,
            all.iter()
                .map(|(a, code)| match a {
                    Address::Ip(ip) => format!("{ip}: {}", what(*code)),
                    Address::Name => what(*code),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Err(Error::Handshake {
        peer: proxy.shown.clone(),
        status: Status::CannotConnectToProxy,
        reason,
    })
}

/// The SOCKS5 greeting, authentication and CONNECT to `address`: the
/// proxy's reply code (0: connected).
fn connect(x: &Exchange, target: &Target, address: Address) -> Result<u8> {
    greet(x)?;
    let mut request = vec![5, 1, 0];
    push_address(&mut request, target, address)?;
    request.extend_from_slice(&target.port.to_be_bytes());
    x.send(&request)?;
    let reply = x.receive(4)?;
    if reply[0] != 5 {
        return Err(x.refused(
            Status::CannotConnectToProxy,
            format!("not a SOCKS5 reply (version {})", reply[0]),
        ));
    }
    if reply[1] != 0 {
        return Ok(reply[1]);
    }
    // The address the proxy bound, which we do not need.
    let rest = match reply[3] {
        1 => 4 + 2,
        4 => 16 + 2,
        3 => x.receive(1)?[0] as usize + 2,
        t => {
            return Err(x.refused(
                Status::CannotConnectToProxy,
                format!("a SOCKS5 reply with address type {t}"),
            ))
        }
    };
    x.receive(rest)?;
    Ok(0)
}

/// Offers the methods we can do and authenticates as the proxy chose.
fn greet(x: &Exchange) -> Result<()> {
    let credentials = x.proxy.credentials.as_ref();
    let methods: &[u8] = if credentials.is_some() {
        &[0x00, 0x02]
    } else {
        &[0x00]
    };
    let mut greeting = vec![5, methods.len() as u8];
    greeting.extend_from_slice(methods);
    x.send(&greeting)?;
    let reply = match credentials {
        None => x.receive_or(2, "the SOCKS5 proxy hung up on our greeting without a user and password: it probably wants them")?,
        Some(_) => x.receive(2)?,
    };
    match (reply[0], reply[1], credentials) {
        (5, 0x00, _) => Ok(()),
        (5, 0x02, Some(c)) => authenticate(x, c),
        (5, 0x02 | 0xff, None) => Err(x.refused(
            Status::ProxyAuthenticationRequired,
            "the SOCKS5 proxy wants a user and password",
        )),
        (5, 0xff, Some(_)) => Err(x.refused(
            Status::ProxyAuthenticationRequired,
            "the SOCKS5 proxy accepts neither no authentication nor a user and password",
        )),
        (5, m, _) => Err(x.refused(
            Status::CannotConnectToProxy,
            format!("the SOCKS5 proxy chose method {m:#04x}, which we did not offer"),
        )),
        (v, _, _) => Err(x.refused(
            Status::CannotConnectToProxy,
            format!("not a SOCKS5 proxy (it answered version {v})"),
        )),
    }
}

/// RFC 1929: the user and password.
fn authenticate(x: &Exchange, c: &Credentials) -> Result<()> {
    let (user, password) = (c.user.as_bytes(), c.password.as_bytes());
    if user.len() > 255 || password.len() > 255 {
        return Err(Error::InvalidArgument(
            "a SOCKS5 user or password is at most 255 bytes".into(),
        ));
    }
    let mut auth = vec![1, user.len() as u8];
    auth.extend_from_slice(user);
    auth.push(password.len() as u8);
    auth.extend_from_slice(password);
    x.send(&auth)?;
    let why = "the SOCKS5 proxy refused the user and password";
    let status = x.receive_or(2, why)?;
    if status[1] != 0 {
        return Err(x.refused(Status::ProxyAuthenticationRequired, why));
    }
    Ok(())
}

/// The target's address as SOCKS5 writes it: an IP, or the name.
fn push_address(out: &mut Vec<u8>, target: &Target, address: Address) -> Result<()> {
    match address {
        Address::Name => {
            let name = target.host.as_bytes();
            if name.len() > 255 {
                return Err(Error::InvalidArgument(
                    "a host name for SOCKS5 is at most 255 bytes".into(),
                ));
            }
            out.push(3);
            out.push(name.len() as u8);
            out.extend_from_slice(name);
        }
        Address::Ip(IpAddr::V4(a)) => {
            out.push(1);
            out.extend_from_slice(&a.octets());
        }
        Address::Ip(IpAddr::V6(a)) => {
            out.push(4);
            out.extend_from_slice(&a.octets());
        }
    }
    Ok(())
}

/// RFC 1928's reply codes.
fn failure(code: u8) -> &'static str {
    match code {
        1 => "general failure",
        2 => "not allowed by its rules",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "an unknown failure",
    }
}
