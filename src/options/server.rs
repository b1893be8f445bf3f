//! The server's Control: [`ServerBuilder`], the options set before binding.

use super::*;

/// Options set before binding a [`Server`](crate::Server).
///
/// ```
/// use std::time::Duration;
/// let server = wsock::Server::builder()
///     .handshake_timeout(Duration::from_secs(2))
///     .bind("127.0.0.1:0")?;
/// # Ok::<(), wsock::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "a builder does nothing until bind() is called"]
pub struct ServerBuilder {
    pub(crate) options: Options,
}

impl ServerBuilder {
    connection_setters!();

    /// A client must finish its upgrade request within this time or it is
    /// dropped. Defaults to 10 s.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.options.handshake_timeout = self.options.timeout("handshake_timeout", timeout);
        self
    }

    /// How many connections may be open at once; beyond it a client's
    /// upgrade request is answered `503 Service Unavailable` and the server
    /// keeps serving the others. Defaults to what the process's limits allow
    /// (open descriptors, and `vm.max_map_count` for threads), less a margin.
    pub fn max_connections(mut self, count: usize) -> Self {
        if count == 0 {
            self.options
                .invalid("max_connections must be at least 1".into());
        }
        self.options.max_connections = Some(count);
        self
    }

    /// How many opening handshakes may be in progress at once; further
    /// connections wait in the listen backlog. Defaults to 256.
    pub fn max_pending_handshakes(mut self, count: usize) -> Self {
        if count == 0 {
            self.options
                .invalid("max_pending_handshakes must be at least 1".into());
        }
        self.options.max_pending_handshakes = count;
        self
    }

    /// Passes requests that are not WebSocket upgrades (a browser fetching
    /// a page, a health check) to [`incoming`](crate::Server::incoming), to
    /// answer with [`Request::respond`](crate::Request::respond); see
    /// [`Request::is_upgrade`](crate::Request::is_upgrade). Off by default:
    /// such requests are answered `400 Bad Request` before `incoming`, so a
    /// loop that only accepts WebSockets never sees them. The request size
    /// and handshake time limits hold for both kinds.
    pub fn http_requests(mut self, on: bool) -> Self {
        self.options.http_requests = on;
        self
    }

    /// Accepts WebSocket upgrades only from pages of these origins: the
    /// browsers' defence against cross-site WebSocket hijacking (a page of
    /// another site opening a socket with the user's cookies). Use it for
    /// any server that browsers reach. Others are refused `403 Forbidden`
    /// before [`incoming`](crate::Server::incoming).
    ///
    /// A pattern is a whole origin (`https://chat.example.org`), a host
    /// with an optional port under any scheme (`example.org`,
    /// `localhost:8080`), `*.example.org` for every subdomain (not
    /// `example.org` itself), or `*`. Case does not matter. A request
    /// without an `Origin` header is allowed: browsers always send one, and
    /// other clients (scripts, other servers) need not.
    ///
    /// ```
    /// let server = wsock::Server::builder()
    ///     .allowed_origins(["https://chat.example.org", "localhost:8080"])
    ///     .bind("127.0.0.1:0")?;
    /// # Ok::<(), wsock::Error>(())
    /// ```
    pub fn allowed_origins<I, S>(mut self, patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let patterns: Vec<String> = patterns.into_iter().map(Into::into).collect();
        if let Some(bad) = patterns
            .iter()
            .find(|p| p.is_empty() || p.contains(char::is_whitespace))
        {
            self.options
                .invalid(format!("allowed_origins: {bad:?} is not an origin pattern"));
        }
        self.options.allowed_origins = Some(patterns);
        self
    }

    /// Serves `wss://` with this certificate chain and private key (PEM).
    #[cfg(feature = "tls")]
    pub fn tls_pem(mut self, cert_chain_pem: &[u8], key_pem: &[u8]) -> Self {
        let chain = crate::tls::parse_certificates(cert_chain_pem, "tls_pem");
        let key = crate::tls::parse_key(key_pem, "tls_pem");
        match (chain, key) {
            (Ok(chain), Ok(key)) => self.options.server_tls.identity = Some(Arc::new((chain, key))),
            (Err(why), _) | (_, Err(why)) => self.options.invalid(why),
        }
        self
    }

    /// Requires every client to present a certificate signed by one of the
    /// CA certificates in `pem` (mutual TLS). Needs [`tls_pem`](Self::tls_pem).
    #[cfg(feature = "tls")]
    pub fn client_ca_pem(mut self, pem: &[u8]) -> Self {
        match crate::tls::parse_certificates(pem, "client_ca_pem") {
            Ok(certs) => self.options.server_tls.client_roots.extend(certs),
            Err(why) => self.options.invalid(why),
        }
        self
    }

    /// Serves `wss://` with this rustls configuration, used as it is.
    #[cfg(feature = "tls")]
    pub fn tls_config(mut self, config: Arc<rustls::ServerConfig>) -> Self {
        self.options.server_tls.config = Some(config);
        self
    }

    /// Binds the listener and starts accepting.
    pub fn bind(self, addr: impl ToSocketAddrs) -> Result<crate::Server> {
        crate::server::Server::bind_with(addr, self.options.validated()?)
    }
}
