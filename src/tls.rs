//! TLS settings: rustls configurations for clients and servers built from
//! the options (webpki roots plus added PEM roots and, with the
//! `native-roots` feature, the platform's; client certificates, the
//! development-only opt-out), and certificate errors mapped to statuses.

use std::io;
use std::sync::{Arc, OnceLock};

use log::warn;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};

use std::time::Duration;

use crate::error::{classify, Error, Status};

/// The client's TLS choices, collected by the builder.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClientTls {
    pub extra_roots: Vec<CertificateDer<'static>>,
    pub client_auth: Option<Arc<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>>,
    pub config: Option<Arc<ClientConfig>>,
    pub accept_invalid_certs: bool,
    /// Also trust the platform's roots (`native_roots`).
    #[cfg(feature = "native-roots")]
    pub native_roots: bool,
}

impl ClientTls {
    fn native_roots(&self) -> bool {
        #[cfg(feature = "native-roots")]
        return self.native_roots;
        #[cfg(not(feature = "native-roots"))]
        false
    }
}

/// The server's TLS choices, collected by the builder.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServerTls {
    pub identity: Option<Arc<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>>,
    pub client_roots: Vec<CertificateDer<'static>>,
    pub config: Option<Arc<ServerConfig>>,
}

fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(ring::default_provider()))
        .clone()
}

pub(crate) fn parse_certificates(
    pem: &[u8],
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{what}: not PEM certificates: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{what}: no CERTIFICATE in the PEM"));
    }
    Ok(certs)
}

pub(crate) fn parse_key(pem: &[u8], what: &str) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_slice(pem)
        .map_err(|e| format!("{what}: no private key in the PEM: {e}"))
}

fn invalid(e: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(format!("TLS configuration: {e}"))
}

/// The client configuration for these options (the default one is shared).
pub(crate) fn client_config(tls: &ClientTls) -> Result<Arc<ClientConfig>, Error> {
    if let Some(config) = &tls.config {
        return Ok(config.clone());
    }
    // The configurations of the plain choices (with the platform's roots
    // or not) are shared.
    static DEFAULT: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    static NATIVE: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    let plain =
        tls.extra_roots.is_empty() && tls.client_auth.is_none() && !tls.accept_invalid_certs;
    let shared = plain.then_some(if tls.native_roots() {
        &NATIVE
    } else {
        &DEFAULT
    });
    if let Some(config) = shared.and_then(|s| s.get()) {
        return Ok(config.clone());
    }
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    #[cfg(feature = "native-roots")]
    let native = (tls.native_roots && !tls.accept_invalid_certs).then(native_roots);
    #[cfg(feature = "native-roots")]
    if let Some(native) = native {
        roots.roots.extend_from_slice(&native.anchors);
    }
    for cert in &tls.extra_roots {
        roots.add(cert.clone()).map_err(invalid)?;
    }
    if roots.is_empty() && !tls.accept_invalid_certs {
        #[cfg(feature = "native-roots")]
        if let Some(native) = native {
            return Err(invalid(format!(
                "no trusted root certificate at all (native_roots: {})",
                native.problems
            )));
        }
        return Err(invalid("no trusted root certificate at all"));
    }
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(invalid)?;
    let builder = if tls.accept_invalid_certs {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider())))
    } else {
        builder.with_root_certificates(roots)
    };
    let config = match &tls.client_auth {
        Some(auth) => builder
            .with_client_auth_cert(auth.0.clone(), auth.1.clone_key())
            .map_err(invalid)?,
        None => builder.with_no_client_auth(),
    };
    let config = Arc::new(config);
    if let Some(shared) = shared {
        return Ok(shared.get_or_init(|| config).clone());
    }
    Ok(config)
}

/// The platform's root certificates, as trust anchors, and what went wrong
/// loading them.
#[cfg(feature = "native-roots")]
#[derive(Debug)]
struct NativeRoots {
    anchors: Vec<rustls::pki_types::TrustAnchor<'static>>,
    problems: String,
}

/// The platform's roots, loaded at the first connect that asks for them
/// (once per process: loading parses a file of some 300 KB).
#[cfg(feature = "native-roots")]
fn native_roots() -> &'static NativeRoots {
    static ROOTS: OnceLock<NativeRoots> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let loaded = rustls_native_certs::load_native_certs();
        let errors: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
        native_anchors(loaded.certs, &errors)
    })
}

/// Trust anchors from the platform's certificates. What could not be
/// loaded or parsed is logged and skipped: the webpki roots remain.
#[cfg(feature = "native-roots")]
fn native_anchors(certs: Vec<CertificateDer<'static>>, errors: &[String]) -> NativeRoots {
    let mut problems = errors.to_vec();
    let mut store = RootCertStore::empty();
    let (added, ignored) = store.add_parsable_certificates(certs);
    if ignored > 0 {
        problems.push(format!("{ignored} certificates could not be parsed"));
    }
    if added == 0 {
        problems.push("no root certificate found".into());
    }
    let problems = problems.join("; ");
    if problems.is_empty() {
        log::debug!("native_roots: {added} root certificates from the platform");
    } else {
        warn!("native_roots: {added} root certificates from the platform, skipped: {problems}");
    }
    NativeRoots {
        anchors: store.roots,
        problems,
    }
}

/// The server configuration for these options, if TLS was asked for.
pub(crate) fn server_config(tls: &ServerTls) -> Result<Option<Arc<ServerConfig>>, Error> {
    if let Some(config) = &tls.config {
        return Ok(Some(config.clone()));
    }
    let Some(identity) = &tls.identity else {
        if !tls.client_roots.is_empty() {
            return Err(invalid(
                "client_ca_pem needs a server certificate (tls_pem)",
            ));
        }
        return Ok(None);
    };
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(invalid)?;
    let builder = if tls.client_roots.is_empty() {
        builder.with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        for cert in &tls.client_roots {
            roots.add(cert.clone()).map_err(invalid)?;
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider(),
        )
        .build()
        .map_err(invalid)?;
        builder.with_client_cert_verifier(verifier)
    };
    let config = builder
        .with_single_cert(identity.0.clone(), identity.1.clone_key())
        .map_err(invalid)?;
    Ok(Some(Arc::new(config)))
}

/// A client connection to `host`.
pub(crate) fn client_connection(
    config: Arc<ClientConfig>,
    host: &str,
    accept_invalid: bool,
) -> Result<rustls::Connection, Error> {
    if accept_invalid {
        warn!("connecting to {host} WITHOUT checking its certificate (danger_accept_invalid_certs): for development only");
    }
    let name = ServerName::try_from(host.to_owned()).map_err(|e| Error::InvalidUrl {
        url: host.to_owned(),
        reason: format!("not a TLS server name: {e}"),
    })?;
    let conn = rustls::ClientConnection::new(config, name).map_err(invalid)?;
    Ok(rustls::Connection::Client(conn))
}

/// `danger_accept_invalid_certs`: checks signatures, not the certificate.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Classifies a failed TLS handshake: certificates by their fault, a peer
/// that went away as a reset, a deadline as a timeout.
pub(crate) fn tls_error(peer: &str, e: io::Error, budget: Duration) -> Error {
    if let Some((status, reason)) = classify(&e) {
        return Error::Tls {
            peer: peer.to_owned(),
            status,
            reason,
        };
    }
    if e.kind() == io::ErrorKind::TimedOut {
        return Error::Timeout {
            what: format!("the TLS handshake with {peer}"),
            after: budget,
        };
    }
    let mut error = Error::io(peer, "during the TLS handshake", e);
    if let Error::Io { status, .. } = &mut error {
        if *status == Status::Unknown {
            *status = Status::ConnectionReset;
        }
    }
    error
}

#[cfg(test)]
mod tests {
    #[cfg(feature = "native-roots")]
    #[test]
    fn native_roots_that_fail_to_load_are_skipped() {
        use super::*;
        let ca = rcgen::generate_simple_self_signed(vec!["ca.test".to_owned()]).unwrap();
        let certs = vec![
            ca.cert.der().clone(),
            CertificateDer::from(b"not a certificate".to_vec()),
        ];
        let errors = ["could not load /etc/ssl/broken.pem".to_owned()];
        let native = native_anchors(certs, &errors);
        assert_eq!(native.anchors.len(), 1, "the good one is kept");
        assert!(
            native.problems.contains("broken.pem"),
            "{}",
            native.problems
        );
        assert!(
            native.problems.contains("1 certificates"),
            "{}",
            native.problems
        );

        let none = native_anchors(Vec::new(), &[]);
        assert!(none.anchors.is_empty());
        assert!(none.problems.contains("no root"), "{}", none.problems);
        // Not fatal: the webpki roots remain.
        let tls = ClientTls {
            native_roots: true,
            ..Default::default()
        };
        assert!(client_config(&tls).is_ok());
    }
}
