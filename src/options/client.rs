//! The client's own settings: credentials, redirects, the proxy, and the
//! types that keep secrets out of `Debug`.

use super::*;

impl<S> Builder<S> {
    /// Sends these credentials with the upgrade request (HTTP Basic, the
    /// Windows `ServerCredential`). Credentials in the URL
    /// (`ws://user:password@host/`, percent-encoded) do the same and take
    /// their place. They are sent to the URL's host only: a redirect to
    /// another host goes without them. Neither the password nor any
    /// `Authorization` value appears in an error, a log line or `Debug`.
    pub fn basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        let (user, password) = (user.into(), password.into());
        if user.contains(':') {
            self.options
                .invalid("basic_auth: a user name cannot contain ':'".into());
        }
        self.options.credentials = Some(Credentials { user, password });
        self
    }

    /// Sends `Authorization: Bearer <token>` with the upgrade request.
    pub fn bearer_auth(self, token: impl Into<String>) -> Self {
        let token = token.into();
        self.header("Authorization", format!("Bearer {token}"))
    }

    /// The proxy to connect through: `http://[user:password@]host:port`
    /// (HTTP `CONNECT`), `https://` (HTTP `CONNECT` inside TLS to the
    /// proxy), `socks5://` (the name resolved here) or `socks5h://`
    /// (resolved by the proxy), with Basic or SOCKS5 credentials from the
    /// URL; `None` for no proxy. By default the
    /// conventional environment decides, as curl and Python websockets
    /// read it: `wss_proxy`/`https_proxy` for `wss://`, `ws_proxy`/
    /// `http_proxy` for `ws://`, then `all_proxy` (lower case, then upper
    /// case), except for the hosts `no_proxy` lists (`*`, a host and its
    /// subdomains, an address, `host:port`) and this machine (`localhost`,
    /// loopback addresses). The connect timeout covers the exchange with
    /// the proxy; [`Info::proxy`](crate::Info::proxy) says which one was
    /// used. A proxy's refusal has a status that says it was the proxy
    /// ([`ProxyAuthenticationRequired`](crate::Status::ProxyAuthenticationRequired),
    /// [`CannotConnectToProxy`](crate::Status::CannotConnectToProxy)).
    ///
    /// An `https://` proxy's certificate is checked as a `wss://`
    /// server's is, with the same settings (the roots, including
    /// [`root_certificate_pem`](Self::root_certificate_pem), a client
    /// certificate), for the proxy's host name. Such a connection costs two
    /// more threads (`wsock-relay-in` and `wsock-relay-out`, which end
    /// with it) and one more copy of every byte: the engine runs over one
    /// end of a loopback TCP pair and the relay carries the bytes between
    /// the other end and the TLS to the proxy (so a `wss://` target's TLS
    /// runs inside the proxy's). [`Info::peer_addr`](crate::Info::peer_addr)
    /// and `local_addr` are then the loopback pair's; [`Info::proxy`](crate::Info::proxy)
    /// names the proxy and [`Info::tls`](crate::Info::tls) is the
    /// target's TLS (`None` for `ws://`), not the proxy's.
    ///
    /// ```no_run
    /// let ws = wsock::MessageWebSocket::builder()
    ///     .proxy("http://me:secret@proxy.example.org:3128")
    ///     .connect("wss://echo.example.org/")?;
    /// # Ok::<(), wsock::Error>(())
    /// ```
    pub fn proxy<'a>(mut self, url: impl Into<Option<&'a str>>) -> Self {
        self.options.proxy = match url.into() {
            None => ProxyChoice::None,
            Some(raw) => ProxyChoice::Url(raw.to_owned()),
        };
        self
    }

    /// How many redirects (301, 302, 303, 307, 308) of the upgrade request
    /// are followed, within the connect timeout. One more than `count` is
    /// [`Status::TooManyRedirects`](crate::Status::TooManyRedirects); with
    /// 0, none is followed and a redirect is an answer like any other:
    /// [`Error::UnexpectedStatus`](crate::Error::UnexpectedStatus) with
    /// its code ([`Status::UnexpectedStatusCode`](crate::Status::UnexpectedStatusCode)`(302)`)
    /// and its `Location` in [`Error::header`](crate::Error::header). A
    /// redirect from `wss://` to `ws://` is refused
    /// ([`Status::HttpsToHttpOnRedirection`](crate::Status::HttpsToHttpOnRedirection)).
    /// Defaults to 3.
    pub fn max_redirects(mut self, count: usize) -> Self {
        self.options.max_redirects = count;
        self
    }
}

/// For a header of the opening handshake, which wsock writes itself: the
/// setting that writes it, if any (`Some("")` for none).
pub(super) fn handshake_header(name: &str) -> Option<&'static str> {
    const OWN: [(&str, &str); 8] = [
        ("host", " (from the URL)"),
        ("upgrade", ""),
        ("connection", ""),
        ("sec-websocket-key", ""),
        ("sec-websocket-version", ""),
        ("sec-websocket-accept", ""),
        ("sec-websocket-extensions", " (set compression() instead)"),
        ("sec-websocket-protocol", " (set protocols() instead)"),
    ];
    OWN.iter()
        .find(|(own, _)| name.eq_ignore_ascii_case(own))
        .map(|(_, why)| *why)
}

/// What the `proxy` option says.
#[derive(Clone, Default)]
pub(crate) enum ProxyChoice {
    /// The conventional environment variables (the default).
    #[default]
    Environment,
    None,
    /// This proxy URL (checked when connecting).
    Url(String),
}

impl std::fmt::Debug for ProxyChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProxyChoice::Environment => f.write_str("Environment"),
            ProxyChoice::None => f.write_str("None"),
            // The URL may carry a password.
            ProxyChoice::Url(raw) => {
                let with_scheme = if raw.contains("://") {
                    raw.clone()
                } else {
                    format!("http://{raw}")
                };
                write!(f, "Url({:?})", redact_raw(&with_scheme))
            }
        }
    }
}

/// `raw` with whatever sits between `scheme://user:` and the last `@` as
/// `***`, for a URL too broken to parse (a password with a `/` in it ends
/// the parser's idea of the authority early, so the last `@` of the whole
/// text counts; a path with an `@` is then hidden too, which is harmless).
pub(crate) fn redact_raw(raw: &str) -> String {
    let Some(start) = raw.find("://").map(|i| i + 3) else {
        return raw.to_owned();
    };
    let Some(at) = raw[start..].rfind('@').map(|i| start + i) else {
        return raw.to_owned();
    };
    match raw[start..at].split_once(':') {
        Some((user, _)) => format!("{}{user}:***{}", &raw[..start], &raw[at..]),
        None => raw.to_owned(),
    }
}

/// The caller's extra request headers; `Debug` hides the values of those
/// that carry secrets.
#[derive(Clone, Default)]
pub struct Headers(pub Vec<(String, String)>);

/// Header names whose values are secrets: never printed.
pub(crate) fn is_secret_header(name: &str) -> bool {
    ["authorization", "proxy-authorization", "cookie"]
        .iter()
        .any(|s| name.eq_ignore_ascii_case(s))
}

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(name, value)| {
                let shown = if is_secret_header(name) {
                    "***"
                } else {
                    value.as_str()
                };
                format!("{name}: {shown}")
            }))
            .finish()
    }
}

/// A user name and password (HTTP Basic); `Debug` hides the password.
#[derive(Clone)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:***", self.user)
    }
}
