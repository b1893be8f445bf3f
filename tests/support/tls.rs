//! Certificates made at test time (a throwaway CA and the certificates it
//! signs), and rustls configurations for peers that are not wsock.
#![allow(dead_code)] // each test file uses a different subset

use std::sync::{Arc, OnceLock};

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, CertifiedIssuer, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use wsock::rustls;
use wsock::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A certificate (its chain is just itself: the CA is the root) and its key.
pub struct Identity {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: Vec<u8>,
    key_der: Vec<u8>,
}

/// Everything the TLS tests need, made once per test binary.
pub struct Pki {
    /// The throwaway CA that signs the others; no client trusts it by default.
    pub ca_pem: String,
    /// For `localhost` and 127.0.0.1, valid now.
    pub server: Identity,
    /// For `localhost` and 127.0.0.1, valid only during 2000.
    pub expired: Identity,
    /// For `other.example` only, valid now.
    pub other_name: Identity,
    /// A client certificate for mutual TLS.
    pub client: Identity,
}

/// The certificates, made on first use.
pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(make_pki)
}

fn make_pki() -> Pki {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "wsock test CA (throwaway)");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();

    let leaf = |names: &[&str], purpose: ExtendedKeyUsagePurpose, expired: bool| {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names.clone()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, &names[0]);
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![purpose];
        if expired {
            params.not_before = date_time_ymd(2000, 1, 1);
            params.not_after = date_time_ymd(2001, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        Identity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
            key_der: key.serialize_der(),
        }
    };
    let server_auth = || ExtendedKeyUsagePurpose::ServerAuth;
    Pki {
        server: leaf(&["localhost", "127.0.0.1"], server_auth(), false),
        expired: leaf(&["localhost", "127.0.0.1"], server_auth(), true),
        other_name: leaf(&["other.example"], server_auth(), false),
        client: leaf(
            &["wsock-test-client"],
            ExtendedKeyUsagePurpose::ClientAuth,
            false,
        ),
        ca_pem: ca.pem(),
    }
}

fn ring() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl Identity {
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        vec![CertificateDer::from(self.cert_der.clone())]
    }

    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }

    /// A rustls server configuration presenting this certificate, with
    /// the given protocol versions and no client authentication.
    pub fn server_config(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Arc<rustls::ServerConfig> {
        let config = rustls::ServerConfig::builder_with_provider(ring())
            .with_protocol_versions(versions)
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(self.chain(), self.key())
            .unwrap();
        Arc::new(config)
    }
}

/// A rustls client configuration that trusts only the test CA.
pub fn client_config_trusting_ca(
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let ca = rustls::pki_types::pem::PemObject::from_pem_slice(pki().ca_pem.as_bytes()).unwrap();
    roots.add(ca).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(ring())
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}
